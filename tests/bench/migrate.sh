#!/bin/bash
# migrate.sh BUILD [GIB...] - downtime and total time of xmig moves of a job
# holding GIB GiB of device memory (default 1 8 32), next to NVIDIA's driver
# checkpoint of a process holding the same, and next to the floor (one
# device-to-device copy of that size; and, for the application's view, that
# copy with the GPU's change from one process's context to another's, which
# every same-GPU move makes: tests/bench/handover_floor). Same GPU, same
# run. Markdown out.
#
# The job is tests/cuda/zdtm (self-checking): after its moves it must still
# print PASS, or the numbers are worthless and this script fails.
set -euo pipefail
B=$1
shift
sizes=${*:-1 8 32}
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-bench.XXXXXX)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$XMIG_RUNTIME_DIR"' EXIT
reps=${XMIG_BENCH_REPS:-3}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# shellcheck disable=SC2086
"$B/tests/bench/ckpt_bench" $sizes >"$tmp/ckpt"
# The floor of the whole path: the GPU going from one process's context to
# another's with the copy on the way (a move cannot pause the job for less).
# (A failure here costs its column only, "-".)
# shellcheck disable=SC2086
"$B/tests/bench/handover_floor" $sizes >"$tmp/handover" ||
	echo "migrate.sh: handover_floor failed; its floor shows as -" >&2

# Downtime, freeze to resumed: the job's pause by the proxies' clocks, from
# the old proxy taking no more calls to the new one serving. The command's
# own downtime adds its request's way to the proxies and the answer's back,
# while the job runs.
echo "| GiB | move | xmig downtime: the job paused, freeze to resumed (ms) | the command's downtime (ms) | xmig total (ms) | floor: D2D copy (ms) | paused / floor | driver checkpoint lock+ckpt+restore+unlock (ms) | checkpoint / command's downtime |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for g in $sizes; do
	job=bench$g
	"$XMIG" run --job $job -- "$B/tests/cuda/zdtm" --mib $((g * 1024)) --iters 1000000 \
		--sleep-ms 20 >"$tmp/$job.out" 2>"$tmp/$job.err" &
	app=$!
	for _ in $(seq 600); do
		st=$("$XMIG" ps --json --job $job | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["state"] if i else "")')
		[ "$st" = running ] && break
		sleep 0.1
	done
	sleep 1
	for mode in copy zero-copy; do
		flag=; [ $mode = zero-copy ] && flag=--zero-copy
		for _ in $(seq "$reps"); do
			if ! "$XMIG" migrate --job $job --to gpu0 $flag --json >"$tmp/move.json" \
				2>"$tmp/move.err"; then
				cat "$tmp/move.err" >&2
				grep -v '^iter' "$tmp/$job.err" | tail -40 >&2
				exit 1
			fi
			python3 -c 'import json,sys; m=json.load(sys.stdin)["items"][0]; p=m["phases_ms"]; print(m["downtime_ms"], m["total_ms"], p["quiesce"], p["transfer"], p["handover"], m.get("paused_ms") or 0)' \
				<"$tmp/move.json" >>"$tmp/$job.$mode"
			# XMIG_MOVE_TRACE=1: the command's own split of the downtime
			[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "downtime:" "$tmp/move.err" |
				sed "s/^/# $g GiB $mode: /" >&2 || true
			sleep 0.5
		done
		down=$(cut -d' ' -f1 "$tmp/$job.$mode" | median)
		total=$(cut -d' ' -f2 "$tmp/$job.$mode" | median)
		paused=$(cut -d' ' -f6 "$tmp/$job.$mode" | median)
		floor=$(awk -v g=$g '$1 == "d2d" && $2 == g { printf "%.3f", $3 * 1000 }' "$tmp/ckpt")
		ck=$(awk -v g=$g '$1 == "ckpt" && $2 == g { printf "%.0f", $7 * 1000 }' "$tmp/ckpt")
		if [ $mode = copy ]; then
			ratio=$(awk -v d="$paused" -v f="$floor" 'BEGIN { printf "%.2f", d / f }')
		else
			ratio="(no copy)"
		fi
		speedup=$(awk -v c="$ck" -v d="$down" 'BEGIN { printf "%.0fx", c / d }')
		printf '| %s | same GPU, %s | %.2f | %.2f | %.1f | %s | %s | %s | %s |\n' "$g" "$mode" \
			"$paused" "$down" "$total" "$floor" "$ratio" "$ck" "$speedup"
		# where the downtime goes (medians): freeze and drain, copy and restore, switch
		printf '%s GiB %s: quiesce %.2f ms, transfer %.2f ms, handover %.2f ms\n' "$g" "$mode" \
			"$(cut -d' ' -f3 "$tmp/$job.$mode" | median)" \
			"$(cut -d' ' -f4 "$tmp/$job.$mode" | median)" \
			"$(cut -d' ' -f5 "$tmp/$job.$mode" | median)" >>"$tmp/phases"
	done
	kill $app
	wait $app 2>/dev/null || true
	# XMIG_MOVE_TRACE=1: the new proxies' own split of each transfer, on stderr
	[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "receive:" "$tmp/$job.err" | sed "s/^/# $g GiB: /" >&2 || true
done

# Seen from the application: pause_probe calls the GPU without pause and
# prints each call over 0.1 ms with the times it ended. The move's pause is
# the call that was waiting when the new proxy began serving (the move's
# resumed_at_ns, on the probe's CLOCK_MONOTONIC): it waits from the old
# proxy's last answer to the new one's first. (The last call before the
# command returned is not always it: the command may hear "resumed" before
# the job's call has its answer.) The longest call from the command's
# start to 0.2 s after its end shows what the rest of the move (the new
# proxy's context, the old one exiting) costs the job. The command's
# downtime and the proxies' own clocks of the same moves next to them. The
# window is read on bash's own clock (EPOCHREALTIME, no process started):
# a python3 to read the time took 20-30 ms, long enough for a stall of the
# old proxy's exit to end in it and pass for the move's.
echo
echo "| GiB | move | command's downtime (ms) | job paused, proxies' clocks (ms) | application: the call through the pause (ms) | that call / D2D floor | floor: context change + D2D (ms) | that call / that floor | application: longest call, whole move (ms) |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for g in $sizes; do
	job=probe$g
	"$XMIG" run --job $job -- "$B/tests/bench/pause_probe" --mib $((g * 1024)) \
		>"$tmp/$job.out" 2>"$tmp/$job.err" &
	app=$!
	for _ in $(seq 600); do
		grep -q '^ready' "$tmp/$job.out" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.5
	for mode in copy zero-copy; do
		flag=; [ $mode = zero-copy ] && flag=--zero-copy
		: >"$tmp/$job.$mode"
		for _ in $(seq "$reps"); do
			t0=${EPOCHREALTIME//[.,]/}
			if ! "$XMIG" migrate --job $job --to gpu0 $flag --json >"$tmp/move.json" \
				2>"$tmp/move.err"; then
				cat "$tmp/move.err" "$tmp/$job.out" >&2
				exit 1
			fi
			t1=${EPOCHREALTIME//[.,]/}
			sleep 0.2
			read -r cmd_down paused resumed < <(python3 -c 'import json,sys; m=json.load(sys.stdin)["items"][0]; print(m["downtime_ms"], m.get("paused_ms") or 0, m.get("resumed_at_ns") or 0)' \
				<"$tmp/move.json")
			# (0: no call over the probe's 0.1 ms)
			stall=$(awk -v r="$resumed" '$1 == "stall" && $2 >= r && $2 - $3 * 1000 <= r { c = $3 }
				END { printf "%.3f", c / 1000 }' "$tmp/$job.out")
			worst=$(awk -v a=$t0 -v b=$t1 '$1 == "stall" && $4 >= a && $4 <= b + 200000 && $3 > m { m = $3 }
				END { printf "%.3f", m / 1000 }' "$tmp/$job.out")
			down="$cmd_down $paused"
			echo "$down $stall $worst" >>"$tmp/$job.$mode"
			[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "@" "$tmp/move.err" |
				sed "s/^/# probe $g GiB $mode: /" >&2 || true
			sleep 0.3
		done
		floor=$(awk -v g=$g '$1 == "d2d" && $2 == g { printf "%.3f", $3 * 1000 }' "$tmp/ckpt")
		stall=$(cut -d' ' -f3 "$tmp/$job.$mode" | median)
		if [ $mode = copy ]; then
			hfloor=$(awk -v g=$g '$1 == "handover" && $2 == g { printf "%.3f", $3 * 1000 }' "$tmp/handover")
			ratio=$(awk -v d="$stall" -v f="$floor" 'BEGIN { printf "%.2f", d / f }')
		else   # (no copy: the context change alone)
			hfloor=$(awk '$1 == "switch" { printf "%.3f", $2 * 1000 }' "$tmp/handover")
			ratio="(no copy)"
		fi
		hratio=$(awk -v d="$stall" -v f="$hfloor" 'BEGIN { if (f > 0) printf "%.2f", d / f }')
		hfloor=${hfloor:--} hratio=${hratio:--}
		printf '| %s | same GPU, %s | %.2f | %.2f | %.2f | %s | %s | %s | %.2f |\n' "$g" "$mode" \
			"$(cut -d' ' -f1 "$tmp/$job.$mode" | median)" \
			"$(cut -d' ' -f2 "$tmp/$job.$mode" | median)" "$stall" "$ratio" "$hfloor" "$hratio" \
			"$(cut -d' ' -f4 "$tmp/$job.$mode" | median)"
	done
	kill -TERM $app
	wait $app || { echo "pause_probe failed:" >&2; tail -5 "$tmp/$job.out" >&2; exit 1; }
	tail -1 "$tmp/$job.out" | grep -q '^PASS' || { tail -5 "$tmp/$job.out" >&2; exit 1; }
	[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "@" "$tmp/$job.err" | sed "s/^/# probe $g GiB: /" >&2 || true
	# (and the application's long calls on the same clock: END_NS as the trace's stamp)
	[ -n "${XMIG_MOVE_TRACE:-}" ] && awk -v g=$g '$1 == "stall" { printf "# probe %s GiB: pause_probe: @%.3f a call of %s us ended\n", g, ($2 % 1000000000000) / 1e6, $3 }' \
		"$tmp/$job.out" >&2 || true
done

echo
echo "Downtime by phase:"
sed 's/^/- /' "$tmp/phases"
echo
echo "Driver checkpoint phases (s): $(grep ckpt "$tmp/ckpt" | awk '{ printf "%s GiB: lock %s, checkpoint %s, restore %s, unlock %s; ", $2, $3, $4, $5, $6 }')"
