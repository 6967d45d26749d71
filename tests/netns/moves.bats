#!/usr/bin/env bats
# moves.bats - two nodes on one machine (network namespaces joined by a
# veth pair, each with its own runtime directory and sim GPUs): a running,
# self-checking workload moves between them and back; every fault before
# the switch leaves it where it was. Needs root (ip netns); skipped, and
# said so, without it.

load ../helpers

setup_file() {
	export TAG=t$$
	export NDIR=$(mktemp -d /tmp/xnet.XXXXXX)
	if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
		! XMIG_NODE_ENV="XMIG_DEVICE=sim XMIG_SIM_GPUS=2 XMIG_SIM_MEM=2GiB" \
			sh "$BATS_TEST_DIRNAME/netns.sh" up "$TAG" "$NDIR" 2>"$NDIR/why"; then
		export NETNS_SKIP="network namespaces unavailable (root and iproute2 needed): $(cat "$NDIR/why" 2>/dev/null)"
	fi
}

teardown_file() {
	pkill -9 -f "XMIG_RUNTIME_DIR=$NDIR" 2>/dev/null || true
	pkill -9 -f "xmig-proxy .*--keeper $NDIR" 2>/dev/null || true
	# Only this test's executors: those in its namespaces (others may be running).
	ip netns pids "xmig-$TAG-n2" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	sh "$BATS_TEST_DIRNAME/netns.sh" down "$TAG" "$NDIR"
	rm -rf "$NDIR"
}

setup() {
	[ -z "${NETNS_SKIP:-}" ] || skip "$NETNS_SKIP"
	xmig_setup
	need_program zdtm
	export XMIG_NODES="$NDIR/nodes.conf"
	EXPECTED="$ROOT/tests/cuda/expected/zdtm-m32-i150.out"
}

on() {   # on NODE CMD...: run on node n1 or n2, as its prefix does
	local node=$1
	shift
	ip netns exec "xmig-$TAG-$node" env XMIG_NODE="$node" XMIG_RUNTIME_DIR="$NDIR/$node" \
		XMIG_DEVICE=sim XMIG_SIM_GPUS=2 XMIG_SIM_MEM=2GiB XMIG_NODES="$XMIG_NODES" "$@"
}

start() {   # start JOB [SHARE [ZDTM-ARGS...]]: the workload on node n1, GPU 0
	local job=$1 share=${2:-}
	shift $(($# < 2 ? $# : 2))
	[ $# -gt 0 ] || set -- --mib 32 --iters 150 --sleep-ms 25
	on n1 "$XMIG" run --job "$job" ${share:+--share "$share"} -- "$CUDA_BIN/zdtm" "$@" \
		>"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	echo $! >"$BATS_TEST_TMPDIR/$job.pid"
	for _ in $(seq 200); do
		on n1 "$XMIG" ps --json --job "$job" | jq -e '.items[0].state == "running"' \
			>/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

finish() {
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/$1.pid")" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/$1.err" >&2
	diff -u "$EXPECTED" "$BATS_TEST_TMPDIR/$1.out"
}

where() {   # where JOB: "NODE:GPU@HOST" as `xmig ps --all` shows it
	on n1 "$XMIG" ps --all --json --job "$1" |
		jq -r '.items[0] | "\(.node):\(.gpu)@\(.host)"'
}

@test "netns: xmig nodes lists both nodes and their GPUs" {
	run on n1 "$XMIG" nodes --json
	assert_success
	echo "$output" | jq -e '[.nodes[].name] == ["n1","n2"] and all(.nodes[]; (.gpus | length) == 2)'
}

@test "netns: a workload moves to the other node and back, several times; ps --all follows it" {
	start x1
	assert_equal "$(where x1)" "n1:0@n1"
	for hop in n2:gpu1 n2:gpu0 n1:gpu1 n2:gpu1 n1:gpu0; do
		run on n1 "$XMIG" migrate --job x1 --to "$hop"
		assert_success
		assert_output --partial "to $hop"
		assert_equal "$(where x1)" "${hop%%:*}:${hop##*gpu}@n1"
	done
	finish x1
}

@test "netns: the move reports bytes and rate, in stream mode" {
	start x2
	run --separate-stderr on n1 "$XMIG" migrate --job x2 --to n2:gpu0 --json
	assert_success
	echo "$output" | jq -e '.items[0] | .mode == "stream" and .from.node == "n1" and
		.to.node == "n2" and .moved_bytes >= 33554432'
	[[ "$stderr" == *"transfer 100%"*"/s)"* ]]
	run on n1 "$XMIG" migrate --job x2 --to n1:gpu0
	assert_success
	finish x2
}

@test "netns: plan and apply pack jobs scattered over two nodes onto one, live" {
	start c1 0.4
	start c2 0.4
	run on n1 "$XMIG" migrate --job c2 --to n2:gpu1
	assert_success
	assert_equal "$(where c2)" "n2:1@n1"
	run --separate-stderr on n1 "$XMIG" plan --json -o "$BATS_TEST_TMPDIR/plan.json"
	assert_success
	jq -e '.summary.nodes_freed == 1 and (.moves | length) == 1 and .moves[0].kind == "inter-node"' \
		"$BATS_TEST_TMPDIR/plan.json"
	run --separate-stderr on n1 "$XMIG" apply "$BATS_TEST_TMPDIR/plan.json" --json
	assert_success
	echo "$output" | jq -e '.summary.moved == 1 and .moves[0].result.items[0].mode == "stream"'
	nodes=$(on n1 "$XMIG" ps --all --json | jq -c '[.items[] | select(.job == "c1" or .job == "c2") | .node] | unique')
	assert_equal "$nodes" "$(jq -c '[.moves[0].to.node]' "$BATS_TEST_TMPDIR/plan.json")"
	finish c1
	finish c2
}

# A library-holding program on n1 goes to n2, back, and to n2's other GPU,
# checked where it is after each move; it ends where it ended up. A move
# refused (4) while the job captures a CUDA graph is tried again, as an
# operator would (a loaded machine can put a job's capture at its start
# where the first move comes).
there_and_back() {   # there_and_back JOB PROGRAM ARGS...
	local job=$1 prog=$2
	shift 2
	need_program "$prog"
	on n1 "$XMIG" run --job "$job" -- "$CUDA_BIN/$prog" "$@" \
		>"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	pid=$!
	for _ in $(seq 200); do
		on n1 "$XMIG" ps --json --job "$job" | jq -e '.items[0].state == "running"' \
			>/dev/null 2>&1 && break
		sleep 0.05
	done
	sleep 0.3   # its library objects are made
	for to in n2:gpu0 n1:gpu0 n2:gpu1; do
		for _ in $(seq 100); do
			run on n1 "$XMIG" migrate --job "$job" --to "$to"
			[ "$status" -eq 4 ] && [[ "$output" == *"capturing a CUDA graph"* ]] || break
			sleep 0.02
		done
		assert_success
		assert_equal "$(where "$job")" "${to%%:*}:${to##*gpu}@n1"
	done
	run timeout 60 tail --pid="$pid" -f /dev/null
	cat "$BATS_TEST_TMPDIR/$job.err" >&2
}

# The program's expected output, with N rounds.
expected_rounds() {   # expected_rounds PROGRAM N
	sed "s/^rounds 1 checked\$/rounds $2 checked/" "$ROOT/tests/cuda/expected/$1.out"
}

@test "netns: a job holding a cuBLAS handle moves to the other node and back; its GEMMs stay exact" {
	# named to the executor; sim's cuBLAS never opens it
	: >"$BATS_TEST_TMPDIR/libcublas.so.13"
	export XMIG_CUBLAS="$BATS_TEST_TMPDIR/libcublas.so.13"
	there_and_back cb blas_gemm --iters 12 --sleep-ms 25
	diff -u <(expected_rounds blas_gemm 12) "$BATS_TEST_TMPDIR/cb.out"
}

@test "netns: the executor runs the job's libraries with the job's settings (CUBLAS_WORKSPACE_CONFIG), not its node's" {
	need_program blas_gemm
	on n1 env CUBLAS_WORKSPACE_CONFIG=:4096:8 NCCL_ALGO=Ring CUDA_VISIBLE_DEVICES=0 \
		"$XMIG" run --job ws -- "$CUDA_BIN/blas_gemm" --iters 16 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/ws.out" 2>"$BATS_TEST_TMPDIR/ws.err" &
	pid=$!
	for _ in $(seq 200); do
		on n1 "$XMIG" ps --json --job ws | jq -e '.items[0].state == "running"' >/dev/null 2>&1 &&
			break
		sleep 0.05
	done
	run on n1 "$XMIG" migrate --job ws --to n2:gpu0
	assert_success
	# its executor's log, on n2, while it serves the job
	run sh -c "cat '$NDIR'/n2/exec/*.log"
	assert_output --partial "the job's library settings: "
	assert_output --partial "CUBLAS_WORKSPACE_CONFIG"
	assert_output --partial "NCCL_ALGO"
	refute_output --partial "CUDA_VISIBLE_DEVICES"
	run on n1 "$XMIG" migrate --job ws --to n1:gpu0
	assert_success
	run timeout 60 tail --pid="$pid" -f /dev/null
	diff -u <(expected_rounds blas_gemm 16) "$BATS_TEST_TMPDIR/ws.out"
}

@test "netns: a job holding cuBLASLt handles moves to the other node and back; its matmuls stay exact" {
	there_and_back lt blaslt_matmul --iters 12 --sleep-ms 40
	diff -u <(expected_rounds blaslt_matmul 12) "$BATS_TEST_TMPDIR/lt.out"
}

@test "netns: a job holding a cuDNN graph and plan moves to the other node and back; it reads them back there" {
	# each round reads the graph's attributes back: after the moves, from the executor
	there_and_back dn dnn_graph --no-execute --iters 120 --sleep-ms 25
	assert_equal "$(tail -n 2 "$BATS_TEST_TMPDIR/dn.out")" "rounds 120 checked
PASS dnn_graph"
}

@test "netns: a job copying and filling rows (2D) moves to the other node and back; its copies stay exact" {
	there_and_back r2 rows_2d --iters 60 --sleep-ms 25
	diff -u <(sed 's/^rounds 3 checked$/rounds 60 checked/' "$ROOT/tests/cuda/expected/rows_2d.out") \
		"$BATS_TEST_TMPDIR/r2.out"
}

@test "netns: a CUDA graph built node by node moves to the other node and back; the executors there capture it again, its executable graph's nodes set anew there too" {
	# (a move that meets the client capturing the changed copy in the proxy is refused, 4: again)
	there_and_back gn graph_nodes --device-only --iters 60 --sleep-ms 25
	diff -u <("$XMIG" run -- "$CUDA_BIN/graph_nodes" --device-only --iters 60) "$BATS_TEST_TMPDIR/gn.out"
}

@test "netns: memory the program registered (cudaHostRegister) stays on its node; copies through it reach the executors there and back exactly" {
	there_and_back hr host_register --copies-only --iters 60 --sleep-ms 25
	diff -u <("$XMIG" run -- "$CUDA_BIN/host_register" --copies-only --iters 60) "$BATS_TEST_TMPDIR/hr.out"
}

@test "netns: a job running host functions on its streams moves to the other node and back; they run here, in stream order" {
	there_and_back hf host_func --no-graph --iters 60 --sleep-ms 25
	diff -u <(sed '/^nothing ran at capture/d; /^open ends/d; /^graph host node/d; /^user object/d; s/^rounds 3 checked$/rounds 60 checked/' \
		"$ROOT/tests/cuda/expected/host_func.out") "$BATS_TEST_TMPDIR/hf.out"
}

@test "netns: a job whose CUDA graph copies from pinned host memory is not moved to another node (4), but to another GPU of its own; it goes on" {
	need_program graphs
	on n1 "$XMIG" run --job gr -- "$CUDA_BIN/graphs" --rounds 40 --sleep-ms 60 \
		>"$BATS_TEST_TMPDIR/gr.out" 2>"$BATS_TEST_TMPDIR/gr.err" &
	pid=$!
	for _ in $(seq 200); do
		on n1 "$XMIG" ps --json --job gr | jq -e '.items[0].cuda_graphs_host_copies == 1' \
			>/dev/null 2>&1 && break
		sleep 0.05
	done
	run on n1 "$XMIG" ps
	assert_line 'gr rank 0: moves within its node only: its CUDA graphs copy to or from host memory or call host functions, which a GPU on another node cannot reach'
	run on n1 "$XMIG" migrate --job gr --to n2:gpu0
	assert_failure 4
	assert_output --partial "job gr rank 0: its CUDA graphs copy to or from host memory or call host functions, which a GPU on another node cannot reach (it moves to another GPU of its node)"
	run on n1 "$XMIG" migrate --job gr --to n1:gpu1
	assert_success
	assert_equal "$(where gr)" "n1:1@n1"
	run timeout 60 tail --pid="$pid" -f /dev/null
	cat "$BATS_TEST_TMPDIR/gr.err" >&2
	diff -u <("$XMIG" run -- "$CUDA_BIN/graphs" --rounds 40) "$BATS_TEST_TMPDIR/gr.out"
}

@test "netns: a job holding a captured cuBLAS GEMM moves to the other node and back; it computes as before" {
	: >"$BATS_TEST_TMPDIR/libcublas.so.13"
	export XMIG_CUBLAS="$BATS_TEST_TMPDIR/libcublas.so.13"
	there_and_back gb blas_gemm --capture --iters 100 --sleep-ms 50
	diff -u <("$XMIG" run -- "$CUDA_BIN/blas_gemm" --capture --iters 100) "$BATS_TEST_TMPDIR/gb.out"
}

@test "netns: a job updating its captured GEMM's graph every round (cudaGraphExecUpdate) moves to the other node and back; the executor there updates it" {
	: >"$BATS_TEST_TMPDIR/libcublas.so.13"
	export XMIG_CUBLAS="$BATS_TEST_TMPDIR/libcublas.so.13"
	# (each round captures: a move landing while a capture is open, or one
	# that began between its check and its freeze, is refused (4) and tried again)
	there_and_back gu blas_gemm --capture --update --iters 100 --sleep-ms 50
	diff -u <("$XMIG" run -- "$CUDA_BIN/blas_gemm" --capture --update --iters 100) "$BATS_TEST_TMPDIR/gu.out"
}

@test "netns: a job holding an NCCL communicator is not moved to another node (not forwarded there); it goes on" {
	need_program nccl_ops
	on n1 "$XMIG" run --job nc -- "$CUDA_BIN/nccl_ops" --iters 60 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/nc.out" 2>"$BATS_TEST_TMPDIR/nc.err" &
	pid=$!
	for _ in $(seq 200); do grep -q '^communicator' "$BATS_TEST_TMPDIR/nc.out" && break; sleep 0.05; done
	run on n1 "$XMIG" migrate --job nc --to n2:gpu0
	assert_failure 1
	assert_output --partial "NCCL is not forwarded to a remote device"
	assert_equal "$(where nc)" "n1:0@n1"
	run timeout 60 tail --pid="$pid" -f /dev/null
	diff -u <(expected_rounds nccl_ops 60) "$BATS_TEST_TMPDIR/nc.out"
}

@test "netns: the link cut mid-transfer: rolled back, the job goes on" {
	start x3
	on n1 env XMIG_FAULT=xfer-delay-ms=700 "$XMIG" migrate --job x3 --to n2:gpu0 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	for _ in $(seq 400); do
		on n1 "$XMIG" ps --json --job x3 | jq -e '.items[0].state == "frozen"' >/dev/null &&
			break
		sleep 0.02
	done
	sh "$BATS_TEST_DIRNAME/netns.sh" cut "$TAG" "$NDIR"
	st=0
	wait $mig || st=$?
	ip -n "xmig-$TAG-n1" link set "xv$TAG" up
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
	assert_equal "$st" 1
	assert_equal "$(where x3)" "n1:0@n1"
	finish x3
}

# The executors running on n2, a pid a line.
executors() {
	ip netns pids "xmig-$TAG-n2" | while read -r p; do
		if grep -qa -- --serve-remote "/proc/$p/cmdline" 2>/dev/null; then echo "$p"; fi
	done
}

# frozen_executor JOB BEFORE: once JOB is frozen for a move to n2, the pid of
# the executor serving it there, not one of BEFORE (executors of earlier
# tests may still be winding down); empty if none came
frozen_executor() {
	local exe
	for _ in $(seq 400); do
		exe=$(executors | grep -vxF -f <(printf '%s\n' $2 0) || true)
		[ -n "$exe" ] &&
			on n1 "$XMIG" ps --json --job "$1" | jq -e '.items[0].state == "frozen"' \
				>/dev/null && break
		sleep 0.02
	done
	echo "$exe"
}

@test "netns: the target node's executor killed mid-transfer: rolled back" {
	start x4
	before=$(executors)
	on n1 env XMIG_FAULT=xfer-delay-ms=500 "$XMIG" migrate --job x4 --to n2:gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	exe=$(frozen_executor x4 "$before")
	[ -n "$exe" ]
	# (each listed: the executor detaches by a fork, and its parent, which
	# exits at once, can be listed beside it; the move's failure says it died)
	for p in $exe; do kill -9 "$p" 2>/dev/null || true; done
	st=0
	wait $mig || st=$?
	assert_equal "$st" 1
	assert_equal "$(where x4)" "n1:0@n1"
	finish x4
}

# The bridge reads the old proxy's chunks ahead of what it sends on: here
# it has filled every buffer and waits for one when the executor dies.
@test "netns: the executor killed while the bridge reads ahead: rolled back, no hang" {
	start x7 "" --mib 192 --iters 400 --sleep-ms 25
	before=$(executors)
	on n1 env XMIG_FAULT=xfer-delay-ms=300 timeout 60 "$XMIG" migrate --job x7 --to n2:gpu0 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	exe=$(frozen_executor x7 "$before")
	[ -n "$exe" ]
	sleep 1.2   # past three chunks: the reader waits for a buffer
	# (each listed: the executor detaches by a fork, and its parent, which
	# exits at once, can be listed beside it; the move's failure says it died)
	for p in $exe; do kill -9 "$p" 2>/dev/null || true; done
	st=0
	wait $mig || st=$?
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
	assert_equal "$st" 1
	assert_equal "$(where x7)" "n1:0@n1"
	# nothing was left behind: the next move goes, and the job ends well
	run on n1 "$XMIG" migrate --job x7 --to n2:gpu0
	assert_success
	run on n1 "$XMIG" migrate --job x7 --to n1:gpu0
	assert_success
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/x7.pid")" -f /dev/null
	assert_success
	wait "$(cat "$BATS_TEST_TMPDIR/x7.pid")"
}

# Each copy over the link carries its checksum, checked where it lands:
# here the executor finds every one damaged (XMIG_FAULT reaches it through
# the prefix), makes none of them, and the move is rolled back.
@test "netns: memory damaged on the link is caught on the other node: rolled back" {
	start x8
	run on n1 env XMIG_FAULT=damage-link timeout 60 "$XMIG" migrate --job x8 --to n2:gpu0
	assert_equal "$status" 1
	assert_output --partial "writing the job's memory failed"
	# said by the bridge, whose messages go where the job's go
	grep -q "a copy to the GPU on the other node arrived damaged there" "$BATS_TEST_TMPDIR/x8.err"
	assert_equal "$(where x8)" "n1:0@n1"
	# undamaged, the same move goes there and back
	run on n1 "$XMIG" migrate --job x8 --to n2:gpu0
	assert_success
	run on n1 "$XMIG" migrate --job x8 --to n1:gpu0
	assert_success
	finish x8
}

@test "netns: an executor refuses a wrong token, and a used one finds nobody" {
	proxy="$B/libexec/xmig/xmig-proxy"
	good=0123456789abcdef0123456789abcdef
	out=$(echo "$good" | on n2 "$proxy" --serve-remote --gpu 0 --device sim \
		--listen "$(awk '$1 == "n2" { print $2 }' "$XMIG_NODES")")
	port=$(echo "$out" | awk '{ print $2 }')
	addr="$(awk '$1 == "n2" { print $2 }' "$XMIG_NODES"):$port"
	run on n1 env XMIG_REMOTE_TOKEN=ffffffffffffffffffffffffffffffff "$proxy" --probe-remote "$addr"
	assert_equal "$status" 4
	assert_output refused
	run on n1 env XMIG_REMOTE_TOKEN=$good "$proxy" --probe-remote "$addr"
	assert_success
	assert_output accepted
	sleep 0.3
	run on n1 env XMIG_REMOTE_TOKEN=$good "$proxy" --probe-remote "$addr"
	assert_equal "$status" 5
	assert_output unreachable
}

@test "netns: an unknown node, or one whose prefix fails, is refused and nothing moves" {
	start x5
	run on n1 "$XMIG" migrate --job x5 --to n9:gpu0
	assert_equal "$status" 3
	assert_output --partial "unknown node 'n9'"
	run on n1 "$XMIG" migrate --job x5 --to n2:gpu7
	assert_equal "$status" 3
	assert_output --partial "node n2 has no GPU 7"
	cp "$XMIG_NODES" "$BATS_TEST_TMPDIR/bad.conf"
	echo "n3 10.99.99.99 /bin/false" >>"$BATS_TEST_TMPDIR/bad.conf"
	run on n1 env XMIG_NODES="$BATS_TEST_TMPDIR/bad.conf" "$XMIG" migrate --job x5 --to n3:gpu0
	assert_equal "$status" 5
	assert_output --partial "node n3 cannot be reached"
	assert_equal "$(where x5)" "n1:0@n1"
	finish x5
}

@test "netns: RDMA (soft-RoCE) transport" {
	if ! rdma link add xmigrxe type rxe netdev lo 2>"$BATS_TEST_TMPDIR/rdma"; then
		skip "no soft-RoCE here ($(head -c 200 "$BATS_TEST_TMPDIR/rdma" | tr '\n' ' ')); moves use TCP"
	fi
	rdma link delete xmigrxe
	skip "soft-RoCE exists here, but xmig's streams are TCP only so far"
}
