#!/bin/bash
# check.sh BUILD - the CUDA tests on a real GPU (run where nvidia-smi works):
# each test program natively must print tests/cuda/expected/<name>.out, and
# under xmig exactly what it printed natively; the static-runtime program is
# stopped; unsupported calls fail loudly; a killed proxy gives an error, not
# a hang; the facades export every symbol of the real libraries here.
# Needs only bash, coreutils, binutils (nm) and python3. Ends with
# "N passed, N failed".
set -u
B=$(cd "${1:?usage: check.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-gpu.XXXXXX)
export XMIG_DEVICE=cuda
tmp=$(mktemp -d)
. "$ROOT/tests/gpu/helpers.sh"

ps_field() {   # ps_field JOB FIELD
	"$XMIG" ps --json --job "$1" | python3 -c "import json,sys; d=json.load(sys.stdin)['items']; print(d[0]['$2'] if d else '')"
}

# moved_twice JOB PROGRAM ITERS SLEEP_MS: PROGRAM --iters ITERS natively,
# then under xmig with SLEEP_MS between rounds, moved to a fresh proxy and
# then zero-copy mid-run: it ends well and prints exactly the native output.
moved_twice() {
	local job=$1 p=$2 iters=$3 sleep_ms=$4 app st
	"$B/tests/cuda/$p" --iters "$iters" >"$tmp/$job.native" 2>/dev/null
	"$XMIG" run --job "$job" -- "$B/tests/cuda/$p" --iters "$iters" --sleep-ms "$sleep_ms" \
		>"$tmp/$job.xmig" 2>"$tmp/$job.err" &
	app=$!
	for _ in $(seq 100); do [ "$(ps_field "$job" state)" = running ] && break; sleep 0.1; done
	sleep 0.3
	check "$p: move to a fresh proxy mid-run" "$XMIG" migrate --job "$job" --to gpu0
	check "$p: zero-copy move mid-run" "$XMIG" migrate --job "$job" --to gpu0 --zero-copy
	wait $app
	st=$?
	check "$p moved twice ended well ($st)" test $st -eq 0
	check "... and printed exactly its native output" diff -u "$tmp/$job.native" "$tmp/$job.xmig"
}

declare -A ARGS=([zdtm]="--iters 20 --sleep-ms 0")
for p in vector_add streams_events threads struct_args device_globals pageable_big malloc_reuse malloc_async zdtm driver_entry blas_gemm blaslt_matmul driver_module driver_library driver_graph driver_graph_nodes driver_link graph_nodes host_func rows_2d volume_3d launch_ex device_misc nccl_ops graphs host_register; do
	# shellcheck disable=SC2086
	"$B/tests/cuda/$p" ${ARGS[$p]:-} >"$tmp/$p.native" 2>"$tmp/$p.native.err"
	check "native $p matches tests/cuda/expected/$p.out" \
		diff -u "$ROOT/tests/cuda/expected/$p.out" "$tmp/$p.native"
	# shellcheck disable=SC2086
	"$XMIG" run --job "t-$p" -- "$B/tests/cuda/$p" ${ARGS[$p]:-} >"$tmp/$p.xmig" 2>"$tmp/$p.xmig.err"
	st=$?
	[ $st -eq 0 ] || cat "$tmp/$p.xmig.err"
	check "xmig $p is byte-identical to native (status $st)" diff -u "$tmp/$p.native" "$tmp/$p.xmig"
done

# What misused graph calls return, natively and under xmig (but a node
# added to a captured graph: xmig fails that loudly).
"$B/tests/cuda/graph_nodes" --bad-input 2>/dev/null | grep -v "captured graph" >"$tmp/gn-bad.native"
"$XMIG" run --job t-gn-bad -- "$B/tests/cuda/graph_nodes" --bad-input 2>"$tmp/gn-bad.err" |
	grep -v "captured graph" >"$tmp/gn-bad.xmig"
check "graph_nodes --bad-input: misuse answered under xmig as natively" \
	diff -u "$tmp/gn-bad.native" "$tmp/gn-bad.xmig"

# The driver API with TMA descriptors (encoded by the proxy's driver), and a
# driver-API module moved between proxies mid-run.
"$B/tests/cuda/driver_module" --tma >"$tmp/dm-tma.native" 2>"$tmp/dm-tma.native.err"
check "native driver_module --tma passes" grep -q '^PASS driver_module' "$tmp/dm-tma.native"
"$XMIG" run --job t-dm-tma -- "$B/tests/cuda/driver_module" --tma >"$tmp/dm-tma.xmig" 2>"$tmp/dm-tma.xmig.err"
check "xmig driver_module --tma is byte-identical to native" cmp "$tmp/dm-tma.native" "$tmp/dm-tma.xmig"
moved_twice dm-mv driver_module 40 25

# The library API (cuda.core's way): a module global through it, and a
# library moved mid-run.
"$B/tests/cuda/driver_library" --globals >"$tmp/dl-g.native" 2>"$tmp/dl-g.native.err"
check "native driver_library --globals passes" grep -q '^PASS driver_library' "$tmp/dl-g.native"
"$XMIG" run --job t-dl-g -- "$B/tests/cuda/driver_library" --globals >"$tmp/dl-g.xmig" 2>"$tmp/dl-g.xmig.err"
check "xmig driver_library --globals is byte-identical to native" cmp "$tmp/dl-g.native" "$tmp/dl-g.xmig"
moved_twice dl-mv driver_library 40 25
# A graph captured by the driver API, launched across moves.
moved_twice dg-mv driver_graph 60 20
# Host functions on streams and a graph's host node, across moves; a CUDA
# call from a host function refused, no hang.
moved_twice hf-mv host_func 60 20
# A graph built node by node, moved around the time its executable graph's nodes are set anew
moved_twice gn-mv graph_nodes 30 40
moved_twice dn-mv driver_graph_nodes 40 25
# 2D copies and fills (the driver's cuMemcpy2DAsync in the proxy), and a graph of them, moved
moved_twice r2-mv rows_2d 60 20
"$XMIG" run --job t-hf-in -- "$B/tests/cuda/host_func" --cuda-inside >"$tmp/hf-in.xmig" 2>"$tmp/hf-in.err"
check "xmig host_func --cuda-inside: refused (cudaErrorNotPermitted)" \
	grep -q 'returned cudaErrorNotPermitted' "$tmp/hf-in.xmig"

# Stream-ordered allocation with frees pending across moves.
moved_twice ma-mv malloc_async 60 20
# Memory of the program's own, registered: mapped again by each new proxy at its address.
moved_twice hr-mv host_register 60 20

# A CUDA graph held while the job moves (copy, zero-copy, suspended and
# resumed): each new proxy captures it again.
"$B/tests/cuda/graphs" --rounds 40 >"$tmp/gr-mv.native" 2>/dev/null
"$XMIG" run --job gr-mv -- "$B/tests/cuda/graphs" --rounds 40 --sleep-ms 50 \
	>"$tmp/gr-mv.xmig" 2>"$tmp/gr-mv.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field gr-mv state)" = running ] && break; sleep 0.1; done
check "graphs: ps counts the executable graph" test "$(ps_field gr-mv cuda_graphs)" = 1
check "graphs: moved while holding its graph (copy)" "$XMIG" migrate --job gr-mv --to gpu0
check "graphs: ... zero-copy" "$XMIG" migrate --job gr-mv --to gpu0 --zero-copy
check "graphs: ... suspended" "$XMIG" suspend --job gr-mv -o "$tmp/gr-mv.snap"
check "graphs: ... resumed" "$XMIG" resume --job gr-mv
check "graphs: ... still holding it" test "$(ps_field gr-mv cuda_graphs)" = 1
wait $app
check "graphs moved and resumed ended well ($?)" test $? -eq 0
check "... and printed exactly its native output" cmp "$tmp/gr-mv.native" "$tmp/gr-mv.xmig"
cmp -s "$tmp/gr-mv.native" "$tmp/gr-mv.xmig" || { diff "$tmp/gr-mv.native" "$tmp/gr-mv.xmig" | head; tail -5 "$tmp/gr-mv.err"; }

# A captured cuBLAS GEMM (blas_gemm --capture), the handle elsewhere since:
# each new proxy captures it with the handle as it was, then sets it back.
"$B/tests/cuda/blas_gemm" --capture --iters 30 >"$tmp/bgc.native" 2>&1
check "native blas_gemm --capture passes" grep -q '^PASS blas_gemm' "$tmp/bgc.native"
"$XMIG" run --job bgc -- "$B/tests/cuda/blas_gemm" --capture --iters 30 --sleep-ms 40 \
	>"$tmp/bgc.xmig" 2>"$tmp/bgc.err" &
app=$!
# (its capture done: ps counts an open capture too, and the process's first
# GEMM, captured, holds it open for some 70 ms while cuBLAS sets itself up)
for _ in $(seq 100); do grep -q '^captured' "$tmp/bgc.xmig" && break; sleep 0.1; done
check "blas_gemm --capture: ps counts its executable graph" test "$(ps_field bgc cuda_graphs)" = 1
check "blas_gemm --capture: moved holding its GEMM's graph (copy)" "$XMIG" migrate --job bgc --to gpu0
check "... zero-copy" "$XMIG" migrate --job bgc --to gpu0 --zero-copy
wait $app
check "... the graph and the eager GEMMs ran on, exactly as natively" \
	cmp "$tmp/bgc.native" "$tmp/bgc.xmig"
cmp -s "$tmp/bgc.native" "$tmp/bgc.xmig" || tail -5 "$tmp/bgc.err"

# The same, its graph updated each round (cudaGraphExecUpdate) into another output.
"$B/tests/cuda/blas_gemm" --capture --update --iters 30 >"$tmp/bgu.native" 2>&1
check "native blas_gemm --capture --update passes" grep -q '^PASS blas_gemm' "$tmp/bgu.native"
"$XMIG" run --job bgu -- "$B/tests/cuda/blas_gemm" --capture --update --iters 30 --sleep-ms 40 \
	>"$tmp/bgu.xmig" 2>"$tmp/bgu.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field bgu cuda_graphs)" = 1 ] && break; sleep 0.1; done
# (each round captures: a move landing while a capture is open, or one that
# began between its check and its freeze, is refused (4), tried again)
for _ in $(seq 100); do
	"$XMIG" migrate --job bgu --to gpu0 >"$tmp/bgu.mv" 2>&1
	st=$?
	[ $st -eq 4 ] && grep -q 'capturing a CUDA graph' "$tmp/bgu.mv" || break
	sleep 0.02
done
check "blas_gemm --capture --update: moved while updating its graph (copy)" test $st -eq 0
wait $app
check "... updated each round, exactly as natively" cmp "$tmp/bgu.native" "$tmp/bgu.xmig"
cmp -s "$tmp/bgu.native" "$tmp/bgu.xmig" || tail -5 "$tmp/bgu.err"

# __device__ variables moved while they hold what host writes and kernels
# left (their bytes read at the freeze), then their address taken after the moves.
"$XMIG" run --job dg-mv -- "$B/tests/cuda/device_globals" --pause-ms 900 \
	>"$tmp/dg-mv.xmig" 2>"$tmp/dg-mv.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field dg-mv state)" = running ] && break; sleep 0.1; done
check "device_globals: moved while paused (copy)" "$XMIG" migrate --job dg-mv --to gpu0
sleep 0.9
check "device_globals: moved again (zero-copy)" "$XMIG" migrate --job dg-mv --to gpu0 --zero-copy
wait $app
check "device_globals moved twice printed exactly its native output" \
	cmp "$tmp/device_globals.native" "$tmp/dg-mv.xmig"

# NCCL: a one-rank communicator moved twice while it lives (rebuilt by each new
# proxy); 4 s of rounds, so that it outlives two moves with a cold NCCL each.
# With torch's NCCL when there is one (2.28.9 here, the system's may be older),
# natively and in the proxies alike.
nccl_dir=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
saved_env=$(export -p | grep -E '^declare -x (XMIG_NCCL|LD_LIBRARY_PATH)=')
if [ -n "$nccl_dir" ] && [ -e "$nccl_dir/libnccl.so.2" ]; then
	export XMIG_NCCL=$nccl_dir/libnccl.so.2 LD_LIBRARY_PATH=$nccl_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
"$B/tests/cuda/nccl_ops" --iters 160 --sleep-ms 25 >"$tmp/nccl.native" 2>&1
# (the three proxies say at debug level that their NCCL reads xmig's env
# plugin: NCCL's own line on it comes before NCCL's log is set up)
XMIG_LOG=debug NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,ENV NCCL_DEBUG_FILE="$tmp/nccl-log.%p" \
	"$XMIG" run --job nccl1 -- "$B/tests/cuda/nccl_ops" --iters 160 --sleep-ms 25 >"$tmp/nccl.xmig" 2>"$tmp/nccl.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field nccl1 state)" = running ] && break; sleep 0.1; done
# its communicator made (it says so), so that the first standby's prelude has it
for _ in $(seq 200); do grep -q '^communicator:' "$tmp/nccl.xmig" && break; sleep 0.05; done
sleep 0.5
# migrate's stderr apart: the job's own is not opened to append, so the
# proxies writing there at its offset could overwrite lines added here
XMIG_LOG=debug "$XMIG" migrate --job nccl1 --to gpu0 >/dev/null 2>"$tmp/nccl.m1.err"
sleep 0.3
XMIG_LOG=debug "$XMIG" migrate --job nccl1 --to gpu0 --zero-copy >/dev/null 2>"$tmp/nccl.m2.err"
wait $app
check "nccl_ops moved twice prints what it prints natively" cmp "$tmp/nccl.native" "$tmp/nccl.xmig"
check "... its communicator was rebuilt by both new proxies" \
	test "$(cat "$tmp"/nccl*.err | grep -c 'communicator [0-9a-f]* rebuilt')" -eq 2
nccl_v=$(cat "$tmp"/nccl*.err | sed -n 's/.*debug: NCCL \([0-9]*\) reads its cache variables.*/\1/p' | head -1)
echo "# the proxies' NCCL: ${nccl_v:-unknown} (${XMIG_NCCL:-found by the loader})"
if [ "${nccl_v:-0}" -ge 22807 ]; then
	check "... each proxy's NCCL $nccl_v took xmig's env plugin up" \
		test "$(cat "$tmp"/nccl*.err | grep -c "reads its cache variables through xmig's environment plugin")" -eq 3
else
	check "... each proxy's NCCL ${nccl_v:-?} (before 2.28.7) reads them from the environment" \
		test "$(cat "$tmp"/nccl*.err | grep -c "reads its cache variables from the process environment")" -eq 3
fi
check "... and dumped the node's topology to the cache through it" \
	sh -c 'test -s "$1"/ccl-cache/*/topo.xml' sh "$XMIG_RUNTIME_DIR"
check "... with NCCL's RAS off in the proxies (the job did not set NCCL_RAS_ENABLE)" \
	grep -q "NCCL_RAS_ENABLE set by environment to 0" "$tmp"/nccl-log.*
[ $fail -eq 0 ] || { cat "$tmp"/nccl*.err; grep -h "ENV\|plugin" "$tmp"/nccl-log.* | head -20; }

# An NCCL PreMulSum all-reduce held in a CUDA graph, and a split communicator:
# each new proxy re-links both and captures the graph again, making the op
# again for itself.
NG=(--iters 80 --sleep-ms 25 --graph-all --graph-premul --split)
"$B/tests/cuda/nccl_ops" "${NG[@]}" >"$tmp/ncg.native" 2>&1
check "native nccl_ops --graph-premul --split passes" grep -q '^PASS nccl_ops' "$tmp/ncg.native"
"$XMIG" run --job ncg -- "$B/tests/cuda/nccl_ops" "${NG[@]}" >"$tmp/ncg.xmig" 2>"$tmp/ncg.err" &
app=$!
for _ in $(seq 200); do [ "$(ps_field ncg cuda_graphs)" = 1 ] && break; sleep 0.05; done
check "nccl_ops --graph-premul: moved holding its graph (copy)" "$XMIG" migrate --job ncg --to gpu0
sleep 0.3
check "... zero-copy" "$XMIG" migrate --job ncg --to gpu0 --zero-copy
wait $app
check "... its graph and its split ran on, exactly as natively" cmp "$tmp/ncg.native" "$tmp/ncg.xmig"
cmp -s "$tmp/ncg.native" "$tmp/ncg.xmig" || tail -5 "$tmp/ncg.err"

# A job that ends its communicator between a move's prelude and its freeze
# (a process group destroyed near a job's end): the one the new proxy built
# ahead is retired, aborted after the handover, not ended in the pause.
touch "$tmp/ce-pause" "$tmp/ce-linger"
XMIG_LOG=debug "$XMIG" run --job ce -- "$B/tests/cuda/nccl_ops" --iters 4 \
	--pause-file "$tmp/ce-pause" --linger-file "$tmp/ce-linger" >"$tmp/ce.xmig" 2>"$tmp/ce.err" &
app=$!
for _ in $(seq 200); do grep -q '^paused after round 0' "$tmp/ce.xmig" && break; sleep 0.05; done
XMIG_FAULT=ahead-pause-ms=800 XMIG_MOVE_TRACE=1 XMIG_LOG=debug "$XMIG" migrate --job ce --to gpu0 \
	--json >"$tmp/ce.m" 2>"$tmp/ce.m.err" &
mig=$!
wait_prelude "$tmp/ce.err" 400
rm -f "$tmp/ce-pause"
for _ in $(seq 200); do grep -q '^communicators destroyed' "$tmp/ce.xmig" && break; sleep 0.02; done
wait $mig
check "nccl_ops ending its communicator mid-move: moved ($?)" grep -q '"mode":"copy"' "$tmp/ce.m"
check "... the one built ahead retired at the freeze" \
	grep -q 'communicator [0-9a-f]* built ahead, gone at the freeze: retired' "$tmp/ce.err"
echo "# $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["items"][0]; print("its move: downtime %.1f ms, the job paused %.1f ms" % (m["downtime_ms"], m["paused_ms"]))' "$tmp/ce.m" 2>/dev/null)"
grep 'objects, each kind' "$tmp/ce.err" | tail -1 | sed 's/^/# /'
rm -f "$tmp/ce-linger"
wait $app
check "... and the job ended well ($?)" grep -q '^PASS nccl_ops' "$tmp/ce.xmig"
# (an abort takes hundreds of ms, from the handover on: its line may come later)
for _ in $(seq 100); do
	grep -q 'old NCCL communicator [0-9a-f]* aborted in' "$tmp/ce.err" && break
	sleep 0.1
done
check "... its old communicator aborted off the critical path" \
	grep -q 'old NCCL communicator [0-9a-f]* aborted in .* off the critical path' "$tmp/ce.err"
grep 'old NCCL communicator\|retired' "$tmp/ce.err" | sed 's/^/# /'
grep -q '^PASS nccl_ops' "$tmp/ce.xmig" || tail -5 "$tmp/ce.err"
unset XMIG_NCCL LD_LIBRARY_PATH
eval "$saved_env"   # (as they were before the NCCL test)

"$B/tests/cuda-static/vector_add" >"$tmp/static.native" 2>&1
check "static-runtime vector_add runs natively" grep -q '^PASS vector_add' "$tmp/static.native"
"$XMIG" run -- "$B/tests/cuda-static/vector_add" >"$tmp/static.out" 2>"$tmp/static.err"
st=$?
check "static-runtime vector_add under xmig stops with status 7 ($st)" test $st -eq 7
check "... with the one-line rebuild hint" grep -qx "xmig: error: .*rebuild it with \`nvcc -cudart shared\` to run it under xmig" "$tmp/static.err"
check "... before printing anything" test ! -s "$tmp/static.out"

"$XMIG" run -- "$B/tests/unsupported" >"$tmp/uns.out" 2>"$tmp/uns.err"
check "unsupported calls return 801" test "$(cat "$tmp/uns.out")" = "cudaGraphAddMemAllocNode -> 801
cudaGraphAddMemAllocNode -> 801
cuGraphAddMemAllocNode -> 801"
check "... and log once each" test "$(cat "$tmp/uns.err")" = "xmig: error: cudaGraphAddMemAllocNode is not supported
xmig: error: cuGraphAddMemAllocNode is not supported"

# A killed proxy: the application's next call fails, it does not hang.
"$XMIG" run --job kill1 -- "$B/tests/cuda/zdtm" --mib 64 --iters 100000 --sleep-ms 5 \
	>"$tmp/kill.out" 2>"$tmp/kill.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field kill1 state)" = running ] && break; sleep 0.1; done
proxy=$(ps_field kill1 proxy_pid)
check "ps shows the job on GPU $(ps_field kill1 gpu) as cuda" test "$(ps_field kill1 device)" = cuda
kill -9 "$proxy"
timeout 20 tail --pid="$app" -f /dev/null
check "the application ended after its proxy was killed" test $? -eq 0
wait $app
check "... with a failure status" test $? -ne 0
check "... and the message" grep -q "is gone; CUDA calls fail from now on" "$tmp/kill.err"

# A self-checking workload moved about on the GPU: 3 moves, a freeze/thaw
# and a suspend/resume; it must print what it prints natively.
zargs="--mib 512 --iters 200 --sleep-ms 25"
# shellcheck disable=SC2086
"$B/tests/cuda/zdtm" $zargs >"$tmp/zm.native" 2>/dev/null
# shellcheck disable=SC2086
"$XMIG" run --job zm -- "$B/tests/cuda/zdtm" $zargs >"$tmp/zm.xmig" 2>"$tmp/zm.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field zm state)" = running ] && break; sleep 0.1; done
check "move 1: a fresh proxy on the same GPU (copy)" "$XMIG" migrate --job zm --to gpu0
check "freeze" "$XMIG" freeze --job zm
check "... shows frozen" test "$(ps_field zm state)" = frozen
sleep 0.3
check "thaw" "$XMIG" thaw --job zm
check "move 2: zero-copy" "$XMIG" migrate --job zm --to gpu0 --zero-copy
check "suspend" "$XMIG" suspend --job zm -o "$tmp/zm-snap"
check "... shows suspended" test "$(ps_field zm state)" = suspended
sleep 0.5
check "resume" "$XMIG" resume --job zm
check "move 3: copy again" "$XMIG" migrate --job zm --to gpu0
wait $app
check "the moved workload ended well" test $? -eq 0
check "... and printed exactly its native output" cmp "$tmp/zm.native" "$tmp/zm.xmig"

# Faults on the GPU: the target proxy killed mid-transfer; a corrupt snapshot.
"$XMIG" run --job zf -- "$B/tests/cuda/zdtm" $zargs >"$tmp/zf.xmig" 2>"$tmp/zf.err" &
app=$!
for _ in $(seq 100); do [ "$(ps_field zf state)" = running ] && break; sleep 0.1; done
XMIG_FAULT=xfer-delay-ms=300 "$XMIG" migrate --job zf --to gpu0 >"$tmp/zf.mig" 2>&1 &
mig=$!
for _ in $(seq 100); do
	standby=$(pgrep -f "xmig-proxy --standby .*--keeper $XMIG_RUNTIME_DIR" || true)
	[ -n "$standby" ] && [ "$(ps_field zf state)" = frozen ] && break
	sleep 0.05
done
sleep 0.2
kill -9 $standby 2>/dev/null
wait $mig
check "target proxy killed mid-transfer: migrate fails with status 1 ($?)" test $? -eq 1
check "... and the job runs on" test "$(ps_field zf state)" = running
"$XMIG" suspend --job zf -o "$tmp/zf-snap" >/dev/null
printf '\xff' | dd of="$tmp/zf-snap/memory.bin" bs=1 seek=4096 conv=notrunc status=none
"$XMIG" resume --job zf >/dev/null 2>"$tmp/zf.resume"
check "a corrupt snapshot is refused (status $?)" grep -q "checksum mismatch" "$tmp/zf.resume"
check "... the job stays suspended" test "$(ps_field zf state)" = suspended
kill $app 2>/dev/null; wait $app 2>/dev/null

# A fat binary first used between a move's prelude and its freeze, for
# either of late_module's two (module ids follow registration, not loading):
# natively, then moved with the new proxy waiting 800 ms after its prelude.
# The new proxy loads it in a refresh of the prelude, ahead of the freeze;
# with XMIG_PRELUDE_REFRESH=0 (the second run of a), at the freeze.
for late in a b a0; do
	refresh=1
	[ $late = a0 ] && { late=a; refresh=0; }
	j=lm$late$refresh
	rm -f "$tmp/go-$j"; touch "$tmp/go-native"
	"$B/tests/cuda/late_module" --late $late --go-file "$tmp/go-native" --rounds 50 --sleep-ms 0 \
		>"$tmp/lm$late.native" 2>&1
	check "late_module --late $late runs natively" grep -q '^PASS' "$tmp/lm$late.native"
	"$XMIG" run --job $j -- "$B/tests/cuda/late_module" --late $late --go-file "$tmp/go-$j" \
		--rounds 150 >"$tmp/$j.xmig" 2>"$tmp/$j.err" &
	app=$!
	for _ in $(seq 100); do [ "$(ps_field $j state)" = running ] && break; sleep 0.1; done
	XMIG_PRELUDE_REFRESH=$refresh XMIG_FAULT=ahead-pause-ms=800 XMIG_MOVE_TRACE=1 \
		"$XMIG" migrate --job $j --to gpu0 --json >"$tmp/$j.mig" 2>"$tmp/$j.migerr" &
	mig=$!
	wait_prelude "$tmp/$j.err"
	touch "$tmp/go-$j"
	wait $mig
	check "late_module --late $late (refresh $refresh): moved with the fat binary it first used after the prelude ($?)" \
		grep -q '"mode":"copy"' "$tmp/$j.mig"
	grep -q '"mode":"copy"' "$tmp/$j.mig" || grep error "$tmp/$j.migerr" "$tmp/$j.err"
	wait $app
	check "... and checked every round ($?)" grep -q '^PASS' "$tmp/$j.xmig"
	objs=$(grep -h 'objects, each kind made and its time' "$tmp/$j.err" | tail -1)
	echo "# $j: the job paused $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["paused_ms"])' "$tmp/$j.mig") ms; at the freeze: ${objs#*its time: }"
	check "... loaded at the freeze: $([ $refresh = 1 ] && echo none || echo that one)" \
		grep -q "modules $((1 - refresh)) made" <<<"$objs"
done

# cuDNN's backend API (dnn_graph): natively with the cuDNN it resolves to
# (else PyTorch's), under xmig with that same library in the proxy; then
# moved twice while it executes its plan round after round.
dnn_so=$(ldd "$B/tests/cuda/dnn_graph" | awk '$1 == "libcudnn.so.9" && $3 ~ /^\// {print $3}')
if [ -z "$dnn_so" ]; then
	dnn_so=$(python3 -c 'import nvidia.cudnn, os; print(os.path.join(nvidia.cudnn.__path__[0], "lib/libcudnn.so.9"))' 2>/dev/null)
fi
if [ -e "$dnn_so" ]; then
	export XMIG_CUDNN=$dnn_so
	LD_LIBRARY_PATH=$(dirname "$dnn_so")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		"$B/tests/cuda/dnn_graph" >"$tmp/dnn.native" 2>"$tmp/dnn.native.err"
	check "native dnn_graph matches tests/cuda/expected/dnn_graph.out" \
		diff -u "$ROOT/tests/cuda/expected/dnn_graph.out" "$tmp/dnn.native"
	"$XMIG" run --job t-dnn -- "$B/tests/cuda/dnn_graph" >"$tmp/dnn.xmig" 2>"$tmp/dnn.xmig.err"
	st=$?
	[ $st -eq 0 ] || cat "$tmp/dnn.xmig.err"
	check "xmig dnn_graph (cuDNN's backend API) is byte-identical to native (status $st)" \
		cmp "$tmp/dnn.native" "$tmp/dnn.xmig"
	LD_LIBRARY_PATH=$(dirname "$dnn_so")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		"$B/tests/cuda/dnn_graph" --iters 150 >"$tmp/dnn150.native" 2>&1
	"$XMIG" run --job dnnmv -- "$B/tests/cuda/dnn_graph" --iters 150 --sleep-ms 20 \
		>"$tmp/dnn150.xmig" 2>"$tmp/dnn150.err" &
	app=$!
	for _ in $(seq 100); do [ "$(ps_field dnnmv state)" = running ] && break; sleep 0.1; done
	sleep 1
	check "dnn_graph moved to a fresh proxy while executing" "$XMIG" migrate --job dnnmv --to gpu0
	sleep 0.5
	check "... and again, zero-copy" "$XMIG" migrate --job dnnmv --to gpu0 --zero-copy
	wait $app
	check "... its plan ran on, exactly as natively" cmp "$tmp/dnn150.native" "$tmp/dnn150.xmig"
	[ $fail -eq 0 ] || tail -5 "$tmp/dnn150.err"

	# The plan's Execute captured into a CUDA graph: every new proxy captures
	# it again, with the handle on the stream it had (copy, zero-copy,
	# suspended and resumed); then with the plan destroyed after the capture,
	# which no new proxy could capture again: moves are refused (status 4)
	# and the job runs on where it was.
	dnnrun() { LD_LIBRARY_PATH=$(dirname "$dnn_so")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }
	dnnrun "$B/tests/cuda/dnn_graph" --capture --iters 120 >"$tmp/dnncap.native" 2>&1
	check "native dnn_graph --capture passes" grep -q '^PASS dnn_graph' "$tmp/dnncap.native"
	"$XMIG" run --job dnncap -- "$B/tests/cuda/dnn_graph" --capture --iters 120 --sleep-ms 20 \
		>"$tmp/dnncap.xmig" 2>"$tmp/dnncap.err" &
	app=$!
	for _ in $(seq 100); do [ "$(ps_field dnncap cuda_graphs)" = 1 ] && break; sleep 0.1; done
	check "dnn_graph --capture: ps counts its graph, which can move" \
		test "$(ps_field dnncap cuda_graphs)/$(ps_field dnncap cuda_graphs_unmovable)" = 1/None
	check "dnn_graph --capture: moved holding the plan's graph (copy)" \
		"$XMIG" migrate --job dnncap --to gpu0
	check "... zero-copy" "$XMIG" migrate --job dnncap --to gpu0 --zero-copy
	check "... suspended" "$XMIG" suspend --job dnncap -o "$tmp/dnncap.snap"
	check "... resumed" "$XMIG" resume --job dnncap
	wait $app
	check "... its graph ran on, exactly as natively" cmp "$tmp/dnncap.native" "$tmp/dnncap.xmig"
	cmp -s "$tmp/dnncap.native" "$tmp/dnncap.xmig" || tail -5 "$tmp/dnncap.err"
	dnnrun "$B/tests/cuda/dnn_graph" --capture --drop-plan --iters 60 >"$tmp/dnndrop.native" 2>&1
	check "native dnn_graph --capture --drop-plan passes" \
		grep -q '^PASS dnn_graph' "$tmp/dnndrop.native"
	"$XMIG" run --job dnndrop -- "$B/tests/cuda/dnn_graph" --capture --drop-plan --iters 60 \
		--sleep-ms 20 >"$tmp/dnndrop.xmig" 2>"$tmp/dnndrop.err" &
	app=$!
	for _ in $(seq 100); do [ "$(ps_field dnndrop cuda_graphs)" = 1 ] && break; sleep 0.1; done
	sleep 0.2
	check "dnn_graph --drop-plan: ps says why its graph cannot move" \
		grep -q 'destroyed since' <<<"$(ps_field dnndrop cuda_graphs_unmovable)"
	"$XMIG" migrate --job dnndrop --to gpu0 >"$tmp/dnndrop.mig" 2>&1
	st=$?
	check "... a move is refused with status 4 ($st)" test $st -eq 4
	wait $app
	check "... the job ran on where it was, as natively" cmp "$tmp/dnndrop.native" "$tmp/dnndrop.xmig"
	unset XMIG_CUDNN
else
	notok "dnn_graph: no libcudnn.so.9 here (neither linked nor PyTorch's)"
fi

# Exports against the real libraries of this machine.
defined() { nm -D --defined-only "$1" | awk '{print $3}' | sed 's/@.*//' | grep -v '^lib.*\.so\.[0-9]*$' | LC_ALL=C sort -u; }
real_cuda=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
check "driver facade exports every symbol of $real_cuda" \
	test -z "$(LC_ALL=C comm -23 <(defined "$real_cuda") <(defined "$B/lib/xmig/facade/libcuda.so.1"))"
for lib in /usr/local/cuda/lib64/libcudart.so.13 \
	$(python3 -c 'import nvidia, os; print(os.path.join(os.path.dirname(nvidia.__path__[0]), "nvidia/cu13/lib/libcudart.so.13"))' 2>/dev/null); do
	[ -e "$lib" ] || continue
	check "runtime facade exports every symbol of $lib" \
		test -z "$(LC_ALL=C comm -23 <(defined "$lib") <(defined "$B/lib/xmig/facade/libcudart.so.13"))"
done
# ... and of the libraries PyTorch ships, which carry their own runtime.
site=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)
for so in cu13/lib/libcublas.so.13 cu13/lib/libcublasLt.so.13 cudnn/lib/libcudnn.so.9 nccl/lib/libnccl.so.2; do
	lib=$site/nvidia/$so
	[ -n "$site" ] && [ -e "$lib" ] || { echo "# no $so in the Python packages here"; continue; }
	check "facade exports every symbol of $lib" \
		test -z "$(LC_ALL=C comm -23 <(defined "$lib") <(defined "$B/lib/xmig/facade/${so##*/}"))"
done

rm -rf "$tmp" "$XMIG_RUNTIME_DIR"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
