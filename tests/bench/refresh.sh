#!/bin/bash
# refresh.sh BUILD - a move whose job first uses kernels while the new proxy
# prepares, with the prelude refreshed before the freeze (the default) and
# without (XMIG_PRELUDE_REFRESH=0), alternating, REPS times each
# (XMIG_BENCH_REPS, default 3); part of `make bench`.
#
# The job is tests/bench/late_kernels.py: an MLP trained step after step,
# which from the step after a file appears also runs a family of ops it never
# ran before (their fat binaries loaded at that first use). The new proxy
# is held 400 ms after its prelude (XMIG_FAULT=ahead-pause-ms, as a long
# prepare would be); the file appears in that window. Per move: the job's
# pause (paused_ms), what the freeze loaded and made (the new proxy's move
# trace: modules, and objects of every kind, with the time they took), and
# the refreshes. Every moved run must print the native losses and checksum
# and check its late ops against the CPU. Markdown out. XMIG_BENCH_KEEP=DIR:
# every run's output, log (the proxies' move traces) and move report kept there.
set -euo pipefail
B=$(cd "${1:?usage: refresh.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-bench.XXXXXX)
export XMIG_DEVICE=cuda
tmp=$(mktemp -d)
keep=${XMIG_BENCH_KEEP:-}
trap '[ -n "$keep" ] && mkdir -p "$keep" && cp -r "$tmp"/. "$keep"/; rm -rf "$tmp" "$XMIG_RUNTIME_DIR"' EXIT
reps=${XMIG_BENCH_REPS:-3}
LATE=("$ROOT/tests/bench/late_kernels.py" --steps 300 --sleep-ms 10)
. "$ROOT/tests/gpu/helpers.sh"

touch "$tmp/go-native"
python3 "${LATE[@]}" --go-file "$tmp/go-native" >"$tmp/native.out" 2>"$tmp/native.err" ||
	{ tail -5 "$tmp/native.err" >&2; exit 1; }

echo "| run | prelude refreshed | job paused (ms) | modules loaded frozen | their time (ms) | objects made frozen | refreshes | moved run as native |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$reps"); do
	for refresh in 1 0; do
		j=lk$r$refresh
		rm -f "$tmp/go"
		XMIG_MOVE_TRACE=1 "$XMIG" run --job $j -- python3 "${LATE[@]}" --go-file "$tmp/go" \
			>"$tmp/$j.out" 2>"$tmp/$j.err" &
		app=$!
		wait_steps "$tmp/$j.out" 20
		XMIG_PRELUDE_REFRESH=$refresh XMIG_FAULT=ahead-pause-ms=400 XMIG_MOVE_TRACE=1 \
			"$XMIG" migrate --job $j --to gpu0 --json >"$tmp/$j.m" 2>"$tmp/$j.merr" &
		mig=$!
		wait_prelude "$tmp/$j.err" 500
		touch "$tmp/go"
		st=0
		wait $mig || st=$?
		wait $app || { tail -5 "$tmp/$j.err" >&2; exit 1; }
		[ $st -eq 0 ] || { cat "$tmp/$j.merr" >&2; exit 1; }
		same=no
		cmp -s "$tmp/native.out" "$tmp/$j.out" && grep -q '^late kernels checked in [1-9]' \
			"$tmp/$j.err" && same=yes
		# the freeze's objects line: "modules N made X ms, kernels ... made Y ms, ..."
		objs=$(grep -h 'objects, each kind made and its time' "$tmp/$j.err" | tail -1)
		python3 - "$tmp/$j.m" "$objs" "$r" "$refresh" "$same" <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1]))["items"][0]
objs, r, refresh, same = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
mod = re.search(r"modules (\d+) made ([0-9.]+) ms", objs)
print("| %s | %s | %.2f | %s | %s | %d | %s | %s |" % (
    r, "yes" if refresh == "1" else "no (XMIG_PRELUDE_REFRESH=0)", m["paused_ms"],
    mod.group(1) if mod else "?", mod.group(2) if mod else "?", m["objects"]["made"],
    m["objects"].get("refreshes", "-"), same))
EOF
	done
done
