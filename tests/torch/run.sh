#!/bin/bash
# run.sh BUILD [CASE...] - PyTorch under xmig on a GPU machine (needs python3
# with a CUDA build of torch). Each check compares with a native run of the
# same program on the same GPU and the same libraries (those torch ships,
# which the client finds and hands to the proxy itself):
#   basic    tensors, reductions, mm, bmm and addmm;
#   sdpa     sdpa_cudnn.py: SDPA through cuDNN attention only (cuDNN's
#            backend API forwarded), bf16, forward and backward, undisturbed
#            and moved half-way (its cuDNN graphs and plans made again);
#   mlp      train_mlp.py, SGD and AdamW;
#   gpt      train_gpt.py: 6 layers, bf16 autocast, SDPA, AdamW, 300 steps;
#   async    mlp (AdamW) and gpt with PyTorch's cudaMallocAsync allocator
#            backend (stream-ordered allocation);
#   graphed  train_graphed.py: the MLP's whole step (forward, backward, AdamW)
#            captured once as a CUDA graph and replayed each step; then a
#            small convolutional network (cuDNN), run eagerly and captured;
#            then the MLP with its gradients all-reduced (NCCL, world size 1)
#            inside the graph;
#   compile  compile_probe.py (a torch.compile'd function: Triton kernels
#            through the driver API), undisturbed and moved twice; then the
#            same GPT under torch.compile;
#   cudagraphs the GPT under torch.compile's reduce-overhead mode (Inductor's
#            CUDA graph trees: Triton kernels and cuDNN attention captured);
#   hostreg  mlp with its batches copied (non_blocking) from host memory
#            PyTorch pinned with cudaHostRegister
#            (pinned_use_cuda_host_register);
#   cudacore cuda_core_job.py: a job written with cuda.core (kernels
#            compiled by NVRTC, the driver's library API, stream-ordered
#            memory, pinned copies), with and without a graph built by
#            stream capture; skipped where cuda.core is not installed;
#   ddp      the MLP and the GPT under DistributedDataParallel, nccl backend,
#            world size 1 (the all-reduce through Flexible CCL, its
#            communicator rebuilt by every new proxy);
# each training run undisturbed and while moved: 3 migrations (copy,
# zero-copy, copy) and a suspend/resume during training must leave the
# printed losses and final parameter checksum bit-identical to native.
# Prints each move's downtime (XMIG_TORCH_KEEP=DIR: every run's output and
# log kept there). Ends with "N passed, N failed".
set -u
B=$(cd "${1:?usage: run.sh BUILD [CASE...]}" && pwd)
shift
cases=${*:-basic sdpa mlp gpt async hostreg graphed compile cudagraphs cudacore ddp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-torch.XXXXXX)
export XMIG_DEVICE=cuda
D=$(mktemp -d)
. "$ROOT/tests/gpu/helpers.sh"
# (one line per process moved: torch.compile's workers are the job's too)
downtime() { python3 -c 'import json,sys
items=json.load(open(sys.argv[1]))["items"]
for k, m in enumerate(items):
	o=m.get("objects", {}); p=m.get("paused_ms"); r=m.get("run_ahead", {})
	print("# %s%s: %s, %d MiB, downtime %.1f ms, the job paused %s ms (objects: %s made ahead, %s kept, %s made frozen; run ahead: %s GEMM shapes, %s cuBLASLt matmuls, %s cuDNN plans)" % (sys.argv[2], " (process %d of %d)" % (k + 1, len(items)) if len(items) > 1 else "", m["mode"], m["moved_bytes"] >> 20, m["downtime_ms"], "%.1f" % p if p else "-", o.get("ahead"), o.get("kept"), o.get("made"), r.get("gemm_shapes"), r.get("blaslt_matmuls"), r.get("dnn_plans")))' "$@"; }

# train NAME SCRIPT ARGS...: native, xmig undisturbed, xmig moved about
train() {
	local name=$1 n port=$((29600 + RANDOM % 3000))
	shift
	# DDP's rendezvous: a port of its own for each run
	MASTER_PORT=$port python3 "$@" >"$D/$name.native" 2>"$D/$name.native.err"
	check "$name runs natively" grep -q '^PASS' "$D/$name.native"
	[ $? -eq 0 ] || tail -5 "$D/$name.native.err"
	MASTER_PORT=$((port + 1)) "$XMIG" run --job "$name-x" -- python3 "$@" \
		>"$D/$name.xmig" 2>"$D/$name.xmig.err"
	check "$name under xmig: the native losses and checksum" cmp "$D/$name.native" "$D/$name.xmig"
	cmp -s "$D/$name.native" "$D/$name.xmig" ||
		{ tail -5 "$D/$name.xmig.err"; diff "$D/$name.native" "$D/$name.xmig" | head -5; }

	MASTER_PORT=$((port + 2)) "$XMIG" run --job "$name-m" -- python3 "$@" \
		>"$D/$name.moved" 2>"$D/$name.moved.err" &
	local app=$! j=$name-m
	wait_steps "$D/$name.moved" 2
	"$XMIG" migrate --job $j --to gpu0 --json >"$D/$name.m1" 2>"$D/$name.m1.err"
	check "$name: moved to a fresh proxy mid-training (copy)" grep -q '"mode":"copy"' "$D/$name.m1"
	wait_steps "$D/$name.moved" 3
	"$XMIG" migrate --job $j --to gpu0 --zero-copy --json >"$D/$name.m2" 2>"$D/$name.m2.err"
	check "$name: ... again, zero-copy" grep -q '"mode":"zero-copy"' "$D/$name.m2"
	wait_steps "$D/$name.moved" 4
	"$XMIG" suspend --job $j -o "$D/$name.snap" >"$D/$name.s.err" 2>&1
	check "$name: ... suspended (the GPU released)" wait_state $j suspended 50
	sleep 1
	"$XMIG" resume --job $j >>"$D/$name.s.err" 2>&1
	check "$name: ... resumed from the snapshot" wait_state $j running 100
	wait_steps "$D/$name.moved" 6
	"$XMIG" migrate --job $j --to gpu0 --json >"$D/$name.m3" 2>"$D/$name.m3.err"
	check "$name: ... and moved once more (copy)" grep -q '"mode":"copy"' "$D/$name.m3"
	grep -q '"mode":"copy"' "$D/$name.m3" || {
		tail -5 "$D/$name.m3.err"; tail -3 "$D/$name.moved"
		grep 'xmig-proxy[^:]*: error' "$D/$name.moved.err" | tail -5   # (the new proxy's word)
	}
	wait $app
	check "$name moved: exactly the native losses and checksum" cmp "$D/$name.native" "$D/$name.moved"
	cmp -s "$D/$name.native" "$D/$name.moved" || {
		cat "$D/$name".m*.err "$D/$name.s.err"; tail -5 "$D/$name.moved.err"
		diff "$D/$name.native" "$D/$name.moved" | head -5
	}
	case " $* " in *" --ddp "*)
		n=$(grep -c 'communicator [0-9a-f]* rebuilt' "$D/$name.moved.err")
		check "$name: every new proxy rebuilt the communicator ($n of 4)" test "$n" -ge 4
		[ "$n" -ge 4 ] ||
			grep 'communicator\|NCCL\|xmig-proxy[^:]*: error' "$D/$name.moved.err" | head -20
		check "$name: no NCCL call failed" \
			test "$(grep -c 'NCCL .*failed\|is not supported' "$D/$name.moved.err")" -eq 0
	esac
	for n in 1 2 3; do
		[ -s "$D/$name.m$n" ] && downtime "$D/$name.m$n" "$name move $n"
	done
	# XMIG_MOVE_TRACE=1: where the new proxies spent their time
	[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "xmig-proxy[^:]*: @[0-9.]* \(send\|receive\|objects, each kind\)" "$D/$name.moved.err" | sed "s/^/# $name /"
	return 0
}

for c in $cases; do
	case $c in
	basic)
		basic='import torch
x = torch.ones(1024, device="cuda"); print("sum", (x * 2 + 1).sum().item())
torch.manual_seed(0); a = torch.randint(-4, 5, (96, 80), device="cuda").float()
b = torch.randint(-4, 5, (80, 72), device="cuda").float()
print("mm", (a @ b).double().sum().item(), (a @ b).cpu().equal(a.cpu() @ b.cpu()))
print("bmm", torch.bmm(a[None].repeat(3, 1, 1), b[None].repeat(3, 1, 1)).sum().item())
bias = torch.randint(-4, 5, (72,), device="cuda").float()
print("addmm", torch.addmm(bias, a, b).double().sum().item())
print("linear", torch.nn.functional.linear(a, b.t(), bias).double().sum().item())
print("relu", torch._addmm_activation(bias, a, b).double().sum().item())
print("gelu", torch._addmm_activation(bias, a, b, use_gelu=True).double().sum().item())
with torch.autocast("cuda", dtype=torch.bfloat16):
    y = torch.nn.functional.linear(a, b.t(), bias)
print("linear bf16", y.dtype, y.double().sum().item())'
		python3 -c "$basic" >"$D/basic.native" 2>&1
		"$XMIG" run --job tb -- python3 -c "$basic" >"$D/basic.xmig" 2>"$D/basic.err"
		check "tensors, reductions, mm, bmm, addmm and linear (cuBLASLt): as natively" \
			cmp "$D/basic.native" "$D/basic.xmig"
		cmp -s "$D/basic.native" "$D/basic.xmig" || cat "$D/basic.native" "$D/basic.xmig" "$D/basic.err"
		;;
	sdpa)
		sd=(--steps 40)
		python3 "$ROOT/tests/torch/sdpa_cudnn.py" "${sd[@]}" >"$D/sdpa.native" 2>"$D/sdpa.native.err"
		python3 "$ROOT/tests/torch/sdpa_cudnn.py" "${sd[@]}" >"$D/sdpa.native2" 2>/dev/null
		check "sdpa_cudnn runs natively (cuDNN attention, bf16, forward and backward)" \
			grep -q '^PASS' "$D/sdpa.native"
		grep -q '^PASS' "$D/sdpa.native" || tail -5 "$D/sdpa.native.err"
		# cuDNN's backward may not be bitwise reproducible: then only outputs count.
		cols='$1" "$2" "$3" "$4'
		if cmp -s "$D/sdpa.native" "$D/sdpa.native2"; then cols='$0'; else
			echo "# sdpa_cudnn: two native runs differ in their gradients; comparing outputs only"; fi
		same() { cmp <(awk "{print $cols}" "$1") <(awk "{print $cols}" "$2"); }
		"$XMIG" run --job ts -- python3 "$ROOT/tests/torch/sdpa_cudnn.py" "${sd[@]}" \
			>"$D/sdpa.xmig" 2>"$D/sdpa.xmig.err"
		check "sdpa_cudnn under xmig: the native checksums" same "$D/sdpa.native" "$D/sdpa.xmig"
		same "$D/sdpa.native" "$D/sdpa.xmig" ||
			{ tail -5 "$D/sdpa.xmig.err"; diff "$D/sdpa.native" "$D/sdpa.xmig" | head; }
		rm -f "$D/go"
		"$XMIG" run --job tsm -- python3 "$ROOT/tests/torch/sdpa_cudnn.py" "${sd[@]}" --pause-at 20 \
			--pause-file "$D/go" >"$D/sdpa.moved" 2>"$D/sdpa.moved.err" &
		app=$!
		for _ in $(seq 600); do grep -q '^paused' "$D/sdpa.moved.err" && break; sleep 0.1; done
		"$XMIG" migrate --job tsm --to gpu0 --json >"$D/sdpa.m" 2>"$D/sdpa.m.err"
		check "sdpa_cudnn moved half-way (its cuDNN graphs and plans made again)" \
			grep -q '"mode":"copy"' "$D/sdpa.m"
		touch "$D/go"
		wait $app
		check "... and went on with the native checksums" same "$D/sdpa.native" "$D/sdpa.moved"
		same "$D/sdpa.native" "$D/sdpa.moved" ||
			{ cat "$D/sdpa.m.err"; tail -5 "$D/sdpa.moved.err"; diff "$D/sdpa.native" "$D/sdpa.moved" | head; }
		;;
	mlp)
		train mlp-sgd "$ROOT/tests/torch/train_mlp.py" --steps 300 --sleep-ms 10
		train mlp-adamw "$ROOT/tests/torch/train_mlp.py" --steps 300 --sleep-ms 10 --optim adamw
		;;
	gpt)
		train gpt "$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10
		;;
	async)
		# PyTorch's cudaMallocAsync allocator backend: stream-ordered
		# allocations, their frees pending across every move
		PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync train mlp-async \
			"$ROOT/tests/torch/train_mlp.py" --steps 300 --sleep-ms 10 --optim adamw
		PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync train gpt-async \
			"$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10
		;;
	hostreg)
		# batches copied from pinned memory PyTorch pinned with
		# cudaHostRegister (its host-register allocator): the range
		# mapped by every new proxy at its address
		PYTORCH_CUDA_ALLOC_CONF=pinned_use_cuda_host_register:True XMIG_LOG=debug \
			train mlp-hostreg "$ROOT/tests/torch/train_mlp.py" --steps 300 --sleep-ms 10 \
			--pinned-batches
		# (PyTorch did register its pinned memory, not fall back to cudaHostAlloc)
		check "mlp-hostreg: PyTorch pinned its batches with cudaHostRegister" \
			grep -q "cudaHostRegister: [0-9]* bytes" "$D/mlp-hostreg.xmig.err"
		;;
	cudacore)
		if ! python3 -c 'import cuda.core' 2>/dev/null; then
			echo "# cudacore: cuda.core is not installed here: skipped"
			continue
		fi
		train cuda-core "$ROOT/tests/torch/cuda_core_job.py" --steps 600 --sleep-ms 10
		# one kernel of each step from a graph (GraphBuilder: driver-API capture)
		train cuda-core-graph "$ROOT/tests/torch/cuda_core_job.py" --steps 600 --sleep-ms 10 \
			--graph
		;;
	graphed)
		# the whole step one CUDA graph: every new proxy captures it again
		train graphed "$ROOT/tests/torch/train_graphed.py" --steps 300 --sleep-ms 10
		# cuDNN's convolutions: eagerly, then inside the graph (their plans
		# made again, then the graph captured again with them)
		train conv "$ROOT/tests/torch/train_graphed.py" --model conv --eager --steps 300 --sleep-ms 10
		train conv-graphed "$ROOT/tests/torch/train_graphed.py" --model conv --steps 300 \
			--sleep-ms 10
		# the gradients all-reduced inside the graph (NCCL, world size 1):
		# each new proxy rebuilds the communicator, then captures them
		# again on it, on events of its own (the process group's are gone);
		# 500 steps: its last move's prepare (NCCL's build ahead) ends well
		# before the job ends its process group
		train graphed-ddp "$ROOT/tests/torch/train_graphed.py" --steps 500 --sleep-ms 10 --ddp
		;;
	compile)
		cp=("$ROOT/tests/torch/compile_probe.py" --rounds 6)
		python3 "${cp[@]}" >"$D/compile.native" 2>"$D/compile.native.err"
		check "compile_probe runs natively" grep -q '^PASS compile_probe' "$D/compile.native"
		"$XMIG" run --job tc -- python3 "${cp[@]}" >"$D/compile.xmig" 2>"$D/compile.xmig.err"
		check "compile_probe under xmig: the native values" cmp "$D/compile.native" "$D/compile.xmig"
		cmp -s "$D/compile.native" "$D/compile.xmig" ||
			{ tail -20 "$D/compile.xmig.err"; diff "$D/compile.native" "$D/compile.xmig" | head; }
		"$XMIG" run --job tcm -- python3 "${cp[@]}" --sleep-ms 1500 \
			>"$D/compile.moved" 2>"$D/compile.moved.err" &
		app=$!
		for _ in $(seq 600); do grep -q '^round 0' "$D/compile.moved" 2>/dev/null && break; sleep 0.1; done
		check "compile_probe moved after its kernels were loaded (copy)" \
			"$XMIG" migrate --job tcm --to gpu0
		sleep 2
		check "... and again, zero-copy" "$XMIG" migrate --job tcm --to gpu0 --zero-copy
		wait $app
		check "... the moved run printed exactly the native values" \
			cmp "$D/compile.native" "$D/compile.moved"
		cmp -s "$D/compile.native" "$D/compile.moved" || tail -20 "$D/compile.moved.err"
		train gpt-compile "$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10 --compile
		;;
	cudagraphs)
		# mode reduce-overhead: Inductor's CUDA graph trees, captured again by each new proxy
		train gpt-cudagraphs "$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10 \
			--compile --compile-mode reduce-overhead
		;;
	ddp)
		train mlp-ddp "$ROOT/tests/torch/train_mlp.py" --steps 300 --sleep-ms 10 --ddp
		train gpt-ddp "$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10 --ddp
		;;
	*) echo "run.sh: unknown case $c" >&2; exit 2 ;;
	esac
done
# XMIG_MOVE_TRACE=1: what each standby ran or loaded ahead of the job's
# first uses, and the new proxies' calls of over 2 ms in their first 2 s
if [ -n "${XMIG_MOVE_TRACE:-}" ]; then
	for f in "$D"/*.moved.err; do
		[ -f "$f" ] || continue
		echo "# $(basename "$f" .moved.err):"
		grep -h "receive: prelude: [0-9]* of the job's\|worker [0-9]*: [A-Z_0-9]* took" "$f" |
			sed 's/^xmig-proxy\[[0-9]*\]: @[0-9.]* /#   /' | head -24
	done
fi
# XMIG_TORCH_KEEP=DIR: every run's output and log kept there
[ -n "${XMIG_TORCH_KEEP:-}" ] && mkdir -p "$XMIG_TORCH_KEEP" &&
	find "$D" -maxdepth 1 -type f -exec cp {} "$XMIG_TORCH_KEEP" \;
rm -rf "$D" "$XMIG_RUNTIME_DIR"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
