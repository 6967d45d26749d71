#!/bin/bash
# run.sh BUILD - PyTorch under xmig on a GPU machine (needs python3 with a
# CUDA build of torch). Checks, each against a native run of the same
# program on the same GPU, with the same cuBLAS (the one torch ships, given
# to the proxy as XMIG_CUBLAS):
#   - tensors, reductions and a matmul;
#   - train_mlp.py prints exactly the native losses and final checksum,
#     undisturbed and while moved to a fresh proxy (copy) and zero-copy;
# then prints the median step time natively and under xmig (markdown).
# Ends with "N passed, N failed".
set -u
B=$(cd "${1:?usage: run.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-torch.XXXXXX)
export XMIG_DEVICE=cuda
# torch's addmm uses cuBLASLt for a fused bias, which xmig does not forward yet.
export DISABLE_ADDMM_CUDA_LT=1
site=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))')
export XMIG_CUBLAS=$site/nvidia/cu13/lib/libcublas.so.13
D=$(mktemp -d)
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $*"; }
notok() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n"; fi; }

basic='import torch
x = torch.ones(1024, device="cuda"); print("sum", (x * 2 + 1).sum().item())
torch.manual_seed(0); a = torch.randint(-4, 5, (96, 80), device="cuda").float()
b = torch.randint(-4, 5, (80, 72), device="cuda").float()
print("mm", (a @ b).double().sum().item(), (a @ b).cpu().equal(a.cpu() @ b.cpu()))
print("bmm", torch.bmm(a[None].repeat(3, 1, 1), b[None].repeat(3, 1, 1)).sum().item())'
python3 -c "$basic" >"$D/basic.native" 2>&1
"$XMIG" run --job tb -- python3 -c "$basic" >"$D/basic.xmig" 2>"$D/basic.err"
check "tensors, reductions, mm and bmm: as natively" cmp "$D/basic.native" "$D/basic.xmig"
[ $fail -eq 0 ] || { cat "$D/basic.native" "$D/basic.xmig" "$D/basic.err"; }

args=(--steps 300 --sleep-ms 10)
python3 "$ROOT/tests/torch/train_mlp.py" "${args[@]}" >"$D/train.native" 2>"$D/train.native.err"
check "train_mlp runs natively" grep -q '^PASS' "$D/train.native"
"$XMIG" run --job tt -- python3 "$ROOT/tests/torch/train_mlp.py" "${args[@]}" >"$D/train.xmig" 2>"$D/train.xmig.err"
check "train_mlp under xmig: the native losses and checksum" cmp "$D/train.native" "$D/train.xmig"
[ $fail -eq 0 ] || { tail -5 "$D/train.xmig.err"; diff "$D/train.native" "$D/train.xmig" | head; }

"$XMIG" run --job tm -- python3 "$ROOT/tests/torch/train_mlp.py" "${args[@]}" >"$D/train.moved" 2>"$D/train.moved.err" &
app=$!
for _ in $(seq 300); do
	"$XMIG" ps --json --job tm | grep -q '"state":"running"' && break
	sleep 0.1
done
sleep 2
"$XMIG" migrate --job tm --to gpu0 --json >"$D/move1.json" 2>"$D/move1.err"
check "moved mid-training to a fresh proxy (copy)" grep -q '"mode":"copy"' "$D/move1.json"
sleep 1
"$XMIG" migrate --job tm --to gpu0 --zero-copy --json >"$D/move2.json" 2>"$D/move2.err"
check "... and again, zero-copy" grep -q '"mode":"zero-copy"' "$D/move2.json"
wait $app
check "... the moved run printed exactly the native losses and checksum" cmp "$D/train.native" "$D/train.moved"
[ $fail -eq 0 ] || { cat "$D"/move*.err; tail -5 "$D/train.moved.err"; diff "$D/train.native" "$D/train.moved" | head; }
python3 -c 'import json,sys
for f in sys.argv[1:]:
    m = json.load(open(f))["items"][0]
    print("# move %s: %d MiB, downtime %.1f ms, total %.1f ms" % (m["mode"], m["moved_bytes"] >> 20, m["downtime_ms"], m["total_ms"]))' "$D/move1.json" "$D/move2.json"

# DDP (world size 1, nccl backend): NCCL runs in the proxy, the job's own
# (the wheel's libnccl.so.2, given as XMIG_NCCL); the gradients' all-reduce
# goes through a logical communicator whose NCCL communicator is rebuilt by
# each new proxy. Losses must stay bit-identical to native.
nccl_lib=$(ls "$site"/nvidia/nccl/lib/libnccl.so.2 "$site"/nvidia/cu13/lib/libnccl.so.2 2>/dev/null | head -1)
export XMIG_NCCL=${nccl_lib:-libnccl.so.2}
ddp() {   # ddp NAME SCRIPT PORT ARGS...: native, then under xmig moved twice
	local name=$1 script=$2 port=$3 app
	shift 3
	MASTER_PORT=$port python3 "$ROOT/tests/torch/$script" --ddp "$@" >"$D/$name.native" 2>"$D/$name.native.err"
	check "$name (DDP, nccl, world size 1) runs natively" grep -q '^PASS' "$D/$name.native"
	MASTER_PORT=$((port + 1)) "$XMIG" run --job "$name" -- python3 "$ROOT/tests/torch/$script" --ddp "$@" \
		>"$D/$name.xmig" 2>"$D/$name.xmig.err" &
	app=$!
	for _ in $(seq 300); do
		"$XMIG" ps --json --job "$name" | grep -q '"state":"running"' && break
		sleep 0.1
	done
	sleep 3
	"$XMIG" migrate --job "$name" --to gpu0 --json >"$D/$name.move1.json" 2>"$D/$name.move1.err"
	check "$name: moved while training (copy), its communicator rebuilt" grep -q '"mode":"copy"' "$D/$name.move1.json"
	sleep 1
	"$XMIG" migrate --job "$name" --to gpu0 --zero-copy --json >"$D/$name.move2.json" 2>"$D/$name.move2.err"
	check "$name: ... and again, zero-copy" grep -q '"mode":"zero-copy"' "$D/$name.move2.json"
	wait $app
	check "$name: the moved DDP run printed exactly the native losses and checksum" cmp "$D/$name.native" "$D/$name.xmig"
	check "$name: each new proxy rebuilt the communicator" \
		test "$(grep -c 'communicator [0-9a-f]* rebuilt' "$D/$name.xmig.err")" -ge 2
	check "$name: no NCCL call failed" test "$(grep -c 'NCCL .*failed\|is not supported' "$D/$name.xmig.err")" -eq 0
	[ $fail -eq 0 ] || { cat "$D/$name".move*.err; tail -20 "$D/$name.xmig.err"; diff "$D/$name.native" "$D/$name.xmig" | head; }
}
ddp ddp_mlp train_mlp.py 29600 --steps 300 --sleep-ms 10
# the GPT also needs cuBLASLt and cuDNN forwarded (bf16 autocast, SDPA)
ddp ddp_gpt train_gpt.py 29610 --steps 200 --sleep-ms 10

# step time, 500 steps without sleeps, each side twice
echo "| run | median step (ms) native | median step (ms) xmig |"
echo "|---|---:|---:|"
for r in 1 2; do
	python3 "$ROOT/tests/torch/train_mlp.py" --steps 500 >/dev/null 2>"$D/n$r"
	"$XMIG" run -- python3 "$ROOT/tests/torch/train_mlp.py" --steps 500 >/dev/null 2>"$D/x$r"
	echo "| $r | $(awk '/median step/{print $3}' "$D/n$r") | $(awk '/median step/{print $3}' "$D/x$r") |"
done
rm -rf "$D" "$XMIG_RUNTIME_DIR"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
