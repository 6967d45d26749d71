#!/bin/bash
# torch.sh BUILD - PyTorch training step time under xmig over native, and
# what xmig costs in memory, on this GPU (part of `make bench`).
#
# tests/torch/train_gpt.py (6 layers, width 512, bf16 autocast, SDPA, AdamW)
# at a realistic batch and at a tiny, launch-bound one: native and xmig
# runs alternate, REPS times each (XMIG_BENCH_REPS, default 3); a cell is
# the median over the runs of each run's median step (first 10 steps left
# out). Memory: the peak resident set (host) and the peak GPU memory
# (nvidia-smi, per process) of the native process, and under xmig of the
# application and of its proxy, sampled every 0.2 s during the realistic
# run. Markdown out.
set -euo pipefail
B=$(cd "${1:?usage: torch.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-bench.XXXXXX)
export XMIG_DEVICE=cuda
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$XMIG_RUNTIME_DIR"' EXIT
reps=${XMIG_BENCH_REPS:-3}
GPT=$ROOT/tests/torch/train_gpt.py
REAL=(--batch "${XMIG_BENCH_BATCH:-64}" --seq 512 --steps 60)
TINY=(--batch 1 --seq 64 --steps 200)

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
step_ms() { awk '/median step/ { print $3 }' "$1"; }

# sample PID... into FILE until the first PID exits: "rss_kib gpu_mib" per line
sample() {   # sample FILE PID...
	local f=$1 first=$2
	shift
	while kill -0 "$first" 2>/dev/null; do
		local rss=0 gpu=0 p
		for p in "$@"; do
			# an exiting process has no VmRSS line any more: count it as 0
			local v
			v=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null)
			rss=$((rss + ${v:-0}))
			gpu=$((gpu + $(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits |
				awk -F', ' -v p="$p" '$1 == p { print $2 }' | head -1 | grep . || echo 0)))
		done
		echo "$rss $gpu" >>"$f"
		sleep 0.2
	done
}
peak() { sort -n -k"$2" "$1" | tail -1 | cut -d' ' -f"$2"; }

for r in $(seq "$reps"); do
	for size in real tiny; do
		declare -n args=${size^^}
		python3 "$GPT" "${args[@]}" >"$tmp/n.$size.$r.out" 2>"$tmp/n.$size.$r.err" &
		app=$!
		[ "$r$size" = 1real ] && sample "$tmp/mem.native" $app &
		wait $app
		"$XMIG" run --job "b$size$r" -- python3 "$GPT" "${args[@]}" >"$tmp/x.$size.$r.out" \
			2>"$tmp/x.$size.$r.err" &
		app=$!
		if [ "$r$size" = 1real ]; then
			for _ in $(seq 300); do
				proxy=$("$XMIG" ps --json --job "b$size$r" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["proxy_pid"] if i else "")')
				[ -n "$proxy" ] && break
				sleep 0.1
			done
			sample "$tmp/mem.app" $app &
			sample "$tmp/mem.proxy" "$proxy" &
		fi
		wait $app || { tail -20 "$tmp/x.$size.$r.err" >&2; exit 1; }
		# Timing is the point here; the losses are reported, not required
		# (run.sh requires them): at some sizes even two native runs differ.
		if ! cmp -s "$tmp/n.$size.$r.out" "$tmp/x.$size.$r.out"; then
			echo "$size run $r: xmig's losses differ from native's:" >&2
			diff "$tmp/n.$size.$r.out" "$tmp/x.$size.$r.out" | head -4 >&2 || true
			echo "$size $r" >>"$tmp/differ"
		fi
		if [ "$r" -gt 1 ] && ! cmp -s "$tmp/n.$size.1.out" "$tmp/n.$size.$r.out"; then
			echo "$size $r" >>"$tmp/native-differ"
		fi
		step_ms "$tmp/n.$size.$r.err" >>"$tmp/n.$size"
		step_ms "$tmp/x.$size.$r.err" >>"$tmp/x.$size"
	done
done
wait

echo "| batch | native step (ms) | xmig step (ms) | xmig / native |"
echo "|---|---:|---:|---:|"
for size in real tiny; do
	declare -n args=${size^^}
	n=$(median <"$tmp/n.$size")
	x=$(median <"$tmp/x.$size")
	printf '| %s (%s) | %s | %s | %s |\n' "$size" "${args[*]}" "$n" "$x" \
		"$(awk -v n="$n" -v x="$x" 'BEGIN { printf "%.3f", x / n }')"
done
echo
echo "| process | peak host RSS (MiB) | peak GPU memory (MiB) |"
echo "|---|---:|---:|"
for p in native app proxy; do
	printf '| %s | %d | %s |\n' "$p" $(($(peak "$tmp/mem.$p" 1) / 1024)) "$(peak "$tmp/mem.$p" 2)"
done
echo
if [ ! -s "$tmp/differ" ]; then
	echo "Losses: every xmig run printed exactly the native run's losses and checksum."
else
	echo "Losses: $(wc -l <"$tmp/differ") of $((2 * reps)) xmig runs printed losses other than the native run next to it" \
		"($(sort -u "$tmp/differ" | cut -d' ' -f1 | sort -u | xargs) batch);" \
		"native runs differed from each other in $(cat "$tmp/native-differ" 2>/dev/null | wc -l) of $((2 * reps - 2)) comparisons."
fi
grep -h "UserWarning" "$tmp"/*.err 2>/dev/null | sed 's/^.*UserWarning: /Warning seen: /' | sort -u | head -5
