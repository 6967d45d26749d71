#!/usr/bin/env bats
# graphs.bats - CUDA graphs made by stream capture (tests/cuda/graphs) on
# the sim device: a graph the job holds moves with it (the new proxy
# captures its log again), and a capture in progress is refused a move
# with its reason while the job goes on.

load ../helpers

setup() {
	xmig_setup
	need_program graphs
}
teardown() { xmig_teardown; }

# graphs in the background, the rounds 100 ms apart: $app.
start_graphs() {   # start_graphs JOB ARGS...
	local job=$1
	shift
	"$XMIG" run --job "$job" -- "$CUDA_BIN/graphs" --sleep-ms 100 "$@" \
		>"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	app=$!
	wait_job "$job"
}

# Wait until the job (started with --open-capture-ms) holds its capture open.
wait_capture_open() {   # wait_capture_open JOB
	for _ in $(seq 100); do
		grep -q '^capture open' "$BATS_TEST_TMPDIR/$1.out" && return 0
		sleep 0.05
	done
	return 1
}

# Wait for it; it must print what an undisturbed run with ARGS prints.
finish_graphs() {   # finish_graphs JOB ARGS...
	local job=$1
	shift
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/$job.err" >&2
	"$XMIG" run -- "$CUDA_BIN/graphs" "$@" >"$BATS_TEST_TMPDIR/$job.want"
	diff -u "$BATS_TEST_TMPDIR/$job.want" "$BATS_TEST_TMPDIR/$job.out"
}

@test "graphs: an executable graph moves with its job (to another GPU, zero-copy, suspended and resumed) and computes as before" {
	start_graphs gm --rounds 40 --after-rounds 2
	run "$XMIG" ps --json --job gm
	echo "$output" | jq -e '.items[0].cuda_graphs == 1 and .items[0].cuda_graphs_unmovable == null'
	run "$XMIG" ps
	assert_line 'gm rank 0: moves within its node only: its CUDA graphs copy to or from host memory or call host functions, which a GPU on another node cannot reach'
	moved_about gm
	run "$XMIG" migrate --job gm --to gpu0
	assert_success
	# still in the graph's rounds after all that
	run "$XMIG" ps --json --job gm
	echo "$output" | jq -e '.items[0].cuda_graphs == 1'
	finish_graphs gm --rounds 40 --after-rounds 2
}

@test "graphs: a capture in progress is refused a move (4); the job goes on" {
	start_graphs gc --open-capture-ms 3000 --rounds 2 --after-rounds 2
	wait_capture_open gc
	run "$XMIG" ps
	assert_line --regexp '^gc rank 0: not movable now: the process is capturing a CUDA graph \(.*\)$'
	run "$XMIG" migrate --job gc --to gpu1
	assert_failure 4
	assert_output --partial "is capturing a CUDA graph"
	finish_graphs gc --open-capture-ms 3000 --rounds 2 --after-rounds 2
}

@test "graphs: a freeze, and a suspend refused, while a capture is open leave the capture whole (the GPU is not drained under it)" {
	# (a device-wide synchronise while a stream captures fails and
	# invalidates the capture: CUDA's rule, and the sim device's)
	start_graphs gz --open-capture-ms 3000 --rounds 2 --after-rounds 2
	wait_capture_open gz
	run "$XMIG" freeze --job gz
	assert_success
	run "$XMIG" thaw --job gz
	assert_success
	run "$XMIG" suspend --job gz -o "$BATS_TEST_TMPDIR/gz.snap"
	assert_failure 4
	assert_output --partial "is capturing a CUDA graph"
	finish_graphs gz --open-capture-ms 3000 --rounds 2 --after-rounds 2
	run grep "draining the GPU reported" "$BATS_TEST_TMPDIR/gz.err"
	assert_failure
}

@test "graphs: a capture that began between a move's check and its freeze calls the move off (4) at the freeze; the capture and the job go on" {
	XMIG_FAULT=graph-unseen-running start_graphs gf --open-capture-ms 3000 --rounds 2 \
		--after-rounds 2
	wait_capture_open gf
	run "$XMIG" migrate --job gf --to gpu1
	assert_failure 4
	assert_output --partial "began capturing a CUDA graph"
	run "$XMIG" ps --json --job gf
	echo "$output" | jq -e '.items[0].gpu == 0 and .items[0].state == "running"'
	finish_graphs gf --open-capture-ms 3000 --rounds 2 --after-rounds 2
	grep -q "not moved: the process is capturing a CUDA graph" "$BATS_TEST_TMPDIR/gf.err"
}

@test "graphs: a snapshot whose graph log was damaged is refused at resume (the job stays suspended); mended, it resumes and computes as before" {
	start_graphs gd --rounds 40 --after-rounds 2
	run "$XMIG" suspend --job gd -o "$BATS_TEST_TMPDIR/gd.snap"
	assert_success
	m="$BATS_TEST_TMPDIR/gd.snap/manifest.json"
	cp "$m" "$BATS_TEST_TMPDIR/good.json"
	# one hex digit of the capture's records changed: its name (hash) no longer matches
	jq -c '.graph_logs |= with_entries(.value.records |= (if .[0:1] == "0" then "1" else "0" end) + .[1:])' \
		"$BATS_TEST_TMPDIR/good.json" >"$m"
	run "$XMIG" resume --job gd
	assert_failure 1
	assert_output --partial "CUDA graphs"
	run "$XMIG" ps --json --job gd
	assert_output --partial '"state":"suspended"'
	cp "$BATS_TEST_TMPDIR/good.json" "$m"
	run "$XMIG" resume --job gd
	assert_success
	finish_graphs gd --rounds 40 --after-rounds 2
}

@test "graphs: a captured cuBLAS GEMM moves with its job; each new proxy captures it with the handle's stream and scalars of the capture, then sets the handle back" {
	need_program blas_gemm
	lib="$BATS_TEST_TMPDIR/libcublas.so.13"   # sim's cuBLAS never opens it
	: >"$lib"
	export XMIG_CUBLAS=$lib
	"$XMIG" run --job gg -- "$CUDA_BIN/blas_gemm" --capture --iters 40 --sleep-ms 60 \
		>"$BATS_TEST_TMPDIR/gg.out" 2>"$BATS_TEST_TMPDIR/gg.err" &
	app=$!
	wait_job gg
	for _ in $(seq 100); do
		grep -q '^graph round 1:' "$BATS_TEST_TMPDIR/gg.out" && break
		sleep 0.05
	done
	run "$XMIG" ps --json --job gg
	echo "$output" | jq -e '.items[0].cuda_graphs == 1 and .items[0].cuda_graphs_unmovable == null'
	moved_about gg
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/gg.err" >&2
	grep -q '^PASS blas_gemm' "$BATS_TEST_TMPDIR/gg.out"
	"$XMIG" run -- "$CUDA_BIN/blas_gemm" --capture --iters 40 >"$BATS_TEST_TMPDIR/gg.want"
	diff -u "$BATS_TEST_TMPDIR/gg.want" "$BATS_TEST_TMPDIR/gg.out"
}
