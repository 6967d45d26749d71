#!/bin/bash
# migrate.sh BUILD [GIB...] - downtime and total time of xmig moves of a job
# holding GIB GiB of device memory (default 1 8 32), next to NVIDIA's driver
# checkpoint of a process holding the same, and next to the floor (one
# device-to-device copy of that size). Same GPU, same run. Markdown out.
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

echo "| GiB | move | xmig downtime (ms) | xmig total (ms) | floor: D2D copy (ms) | downtime / floor | driver checkpoint lock+ckpt+restore+unlock (ms) | checkpoint / xmig downtime |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
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
			python3 -c 'import json,sys; m=json.load(sys.stdin)["items"][0]; p=m["phases_ms"]; print(m["downtime_ms"], m["total_ms"], p["quiesce"], p["transfer"], p["handover"])' \
				<"$tmp/move.json" >>"$tmp/$job.$mode"
			# XMIG_MOVE_TRACE=1: the command's own split of the downtime
			[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "downtime:" "$tmp/move.err" |
				sed "s/^/# $g GiB $mode: /" >&2 || true
			sleep 0.5
		done
		down=$(cut -d' ' -f1 "$tmp/$job.$mode" | median)
		total=$(cut -d' ' -f2 "$tmp/$job.$mode" | median)
		floor=$(awk -v g=$g '$1 == "d2d" && $2 == g { printf "%.1f", $3 * 1000 }' "$tmp/ckpt")
		ck=$(awk -v g=$g '$1 == "ckpt" && $2 == g { printf "%.0f", $7 * 1000 }' "$tmp/ckpt")
		if [ $mode = copy ]; then
			ratio=$(awk -v d="$down" -v f="$floor" 'BEGIN { printf "%.2f", d / f }')
		else
			ratio="(no copy)"
		fi
		speedup=$(awk -v c="$ck" -v d="$down" 'BEGIN { printf "%.0fx", c / d }')
		printf '| %s | same GPU, %s | %.1f | %.1f | %s | %s | %s | %s |\n' "$g" "$mode" "$down" \
			"$total" "$floor" "$ratio" "$ck" "$speedup"
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
echo
echo "Downtime by phase:"
sed 's/^/- /' "$tmp/phases"
echo
echo "Driver checkpoint phases (s): $(grep ckpt "$tmp/ckpt" | awk '{ printf "%s GiB: lock %s, checkpoint %s, restore %s, unlock %s; ", $2, $3, $4, $5, $6 }')"
