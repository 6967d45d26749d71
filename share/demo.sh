#!/bin/bash
# demo.sh BUILD - a real migration demo: a self-checking CUDA workload is
# moved about while it runs, and must end exactly as it ends undisturbed.
# On a GPU when nvidia-smi finds one, else on the sim test device.
set -euo pipefail
B=$(cd "${1:?usage: demo.sh BUILD}" && pwd)
XMIG=$B/bin/xmig
ZDTM=$B/tests/cuda/zdtm
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-demo.XXXXXX)
tmp=$(mktemp -d)
trap 'if [ -n "$app" ]; then kill $app 2>/dev/null; fi; rm -rf "$tmp" "$XMIG_RUNTIME_DIR"' EXIT
app=

if nvidia-smi -L >/dev/null 2>&1; then
	export XMIG_DEVICE=cuda
	ngpu=$(nvidia-smi -L | wc -l)
	echo "== on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) ($ngpu GPU(s))"
else
	export XMIG_DEVICE=sim XMIG_SIM_GPUS=2 XMIG_SIM_MEM=4GiB
	ngpu=2
	echo "== no GPU here: on the sim test device (2 simulated GPUs; a test double)"
fi
other=0
[ "$ngpu" -gt 1 ] && other=1
args=(--mib 256 --iters 250 --sleep-ms 20)

say() { printf '\n$ %s\n' "$*"; "$@"; }

echo "== the workload undisturbed (under xmig, for the reference checksum)"
"$XMIG" run -- "$ZDTM" "${args[@]}" | tee "$tmp/ref"

echo
echo "== the same workload, moved about while it runs"
"$XMIG" run --job demo -- "$ZDTM" "${args[@]}" >"$tmp/out" 2>"$tmp/err" &
app=$!
for _ in $(seq 100); do
	"$XMIG" ps --json --job demo | grep -q '"state":"running"' && break
	sleep 0.1
done
say "$XMIG" ps
say "$XMIG" migrate --job demo --to gpu$other
say "$XMIG" freeze --job demo
say "$XMIG" ps
sleep 0.5
say "$XMIG" thaw --job demo
say "$XMIG" migrate --job demo --to gpu$other --zero-copy
say "$XMIG" suspend --job demo -o "$tmp/snapshot"
say "$XMIG" ps
sleep 0.5
say "$XMIG" resume --job demo --to gpu0
say "$XMIG" migrate --job demo --to gpu0 --json
say "$XMIG" ps
wait $app
app=
echo
cat "$tmp/out"
if cmp -s "$tmp/ref" "$tmp/out"; then
	echo "== demo passed: after 3 moves, a freeze and a suspend the workload ended exactly as undisturbed"
else
	echo "== demo FAILED: the outputs differ" >&2
	diff "$tmp/ref" "$tmp/out" >&2 || true
	exit 1
fi
