#!/usr/bin/env bats
# consolidate.bats - xmig plan and xmig apply against live jobs: jobs
# scattered over the GPUs are packed onto fewer, and each workload still
# prints exactly its undisturbed output.

load ../helpers

setup() {
	xmig_setup
	need_program zdtm
	EXPECTED="$ROOT/tests/cuda/expected/zdtm-m32-i150.out"
}
teardown() { xmig_teardown; }

start() {   # start JOB GPU SHARE
	"$XMIG" run --job "$1" --gpu "$2" --share "$3" -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 \
		--sleep-ms 25 >"$BATS_TEST_TMPDIR/$1.out" 2>"$BATS_TEST_TMPDIR/$1.err" &
	echo $! >"$BATS_TEST_TMPDIR/$1.pid"
	wait_job "$1"
	wait_settled "$1"
}

finish() {   # finish JOB
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/$1.pid")" -f /dev/null
	assert_success
	diff -u "$EXPECTED" "$BATS_TEST_TMPDIR/$1.out"
}

gpus_used() { "$XMIG" ps --json | jq -c '[.items[].gpu] | unique'; }

@test "consolidate: plan frees a GPU of two half-used ones, apply moves the job live" {
	start a 0 0.4
	start b 1 0.4
	assert_equal "$(gpus_used)" "[0,1]"
	run --separate-stderr "$XMIG" plan --objective gpus --json -o "$BATS_TEST_TMPDIR/plan.json"
	assert_success
	jq -e '.summary.gpus_freed == 1 and (.moves | length) == 1 and .moves[0].device_bytes >= 33554432' \
		"$BATS_TEST_TMPDIR/plan.json"
	run "$XMIG" plan --check "$BATS_TEST_TMPDIR/plan.json"
	assert_success
	run --separate-stderr "$XMIG" apply "$BATS_TEST_TMPDIR/plan.json" --json
	assert_success
	echo "$output" | jq -e '.summary.moved == 1 and .summary.failed == 0 and
		.moves[0].result.items[0].mode == "copy"'
	assert_equal "$(gpus_used)" "$(jq -c '[.moves[0].to.gpus[0]]' "$BATS_TEST_TMPDIR/plan.json")"
	finish a
	finish b
}

@test "consolidate: nothing to free when the jobs fill their GPUs; apply of that plan moves nothing" {
	start a 0 0.7
	start b 1 0.7
	run --separate-stderr "$XMIG" plan --objective gpus --json -o "$BATS_TEST_TMPDIR/plan.json"
	assert_success
	jq -e '.summary.gpus_freed == 0 and (.moves | length) == 0' "$BATS_TEST_TMPDIR/plan.json"
	run --separate-stderr "$XMIG" apply "$BATS_TEST_TMPDIR/plan.json" --json
	assert_success
	echo "$output" | jq -e '.summary.moved == 0'
	assert_equal "$(gpus_used)" "[0,1]"
	finish a
	finish b
}

@test "consolidate: a plan gone stale (the job ended) is skipped with its reason, nothing breaks" {
	start a 0 0.4
	start b 1 0.4
	"$XMIG" plan --objective gpus --json -o "$BATS_TEST_TMPDIR/plan.json" 2>/dev/null
	job=$(jq -r '.moves[0].job' "$BATS_TEST_TMPDIR/plan.json")
	kill "$(cat "$BATS_TEST_TMPDIR/$job.pid")"
	run timeout 20 tail --pid="$(cat "$BATS_TEST_TMPDIR/$job.pid")" -f /dev/null
	for i in $(seq 50); do
		[ "$("$XMIG" ps --json --job "$job" | jq '.items | length')" = 0 ] && break
		sleep 0.1
	done
	run --separate-stderr "$XMIG" apply "$BATS_TEST_TMPDIR/plan.json" --json
	assert_success
	echo "$output" | jq -e '.summary.moved == 0 and .summary.skipped == 1 and .moves[0].status == "skipped"'
	echo "$output" | jq -r '.moves[0].reason'
	other=$([ "$job" = a ] && echo b || echo a)
	finish "$other"
}
