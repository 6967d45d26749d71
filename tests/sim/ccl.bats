#!/usr/bin/env bats
# ccl.bats - NCCL through xmig on the sim device: the facade's
# communicators and collectives, served by the proxy's Flexible CCL layer
# with the sim NCCL test double (ccl/nccl-sim.c) standing in for NCCL;
# a one-rank communicator rebuilt under the same logical handle when its
# process moves; two ranks meeting through the double.

load ../helpers

setup() {
	xmig_setup
	need_program nccl_ops
}
teardown() { xmig_teardown; }

@test "ccl: nccl_ops matches the native output" {
	run --separate-stderr "$XMIG" run -- "$CUDA_BIN/nccl_ops" --iters 3
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	diff -u <(sed 's/^rounds 1 checked$/rounds 3 checked/' "$ROOT/tests/cuda/expected/nccl_ops.out") \
		<(printf '%s\n' "$output")
}

@test "ccl: moved twice while its communicator lives, the results stay exact" {
	"$XMIG" run --job nc -- "$CUDA_BIN/nccl_ops" --iters 60 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/nc.out" 2>"$BATS_TEST_TMPDIR/nc.err" &
	app=$!
	wait_job nc
	sleep 0.3
	run "$XMIG" migrate --job nc --to gpu1
	assert_success
	sleep 0.3
	run "$XMIG" migrate --job nc --to gpu1 --zero-copy
	assert_success
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/nc.err" >&2
	diff -u <(sed 's/^rounds 1 checked$/rounds 60 checked/' "$ROOT/tests/cuda/expected/nccl_ops.out") \
		"$BATS_TEST_TMPDIR/nc.out"
	# each new proxy built a new physical communicator under the old handle
	[ "$(grep -c 'communicator [0-9a-f]* rebuilt' "$BATS_TEST_TMPDIR/nc.err")" -eq 2 ]
}

@test "ccl: two ranks, each under its own proxy, meet through the sim double" {
	"$XMIG" run --job pair --rank 0 -- "$CUDA_BIN/nccl_ops" --iters 4 --nranks 2 --rank 0 \
		--id-file "$BATS_TEST_TMPDIR/id" >"$BATS_TEST_TMPDIR/r0.out" 2>&1 &
	r0=$!
	run "$XMIG" run --job pair --rank 1 -- "$CUDA_BIN/nccl_ops" --iters 4 --nranks 2 --rank 1 \
		--id-file "$BATS_TEST_TMPDIR/id"
	assert_success
	assert_output --partial 'communicator: 2 ranks'
	assert_output --partial 'PASS nccl_ops'
	wait "$r0"
	grep -q 'PASS nccl_ops' "$BATS_TEST_TMPDIR/r0.out"
}

@test "ccl: an NCCL call xmig does not forward fails loudly, naming it" {
	cat >"$BATS_TEST_TMPDIR/memalloc.c" <<'C'
#include <stdio.h>
#include <nccl.h>
int main(void)
{
	void *p = 0;
	ncclResult_t r = ncclMemAlloc(&p, 4096);
	printf("ncclMemAlloc %d\n", (int)r);
	return r == ncclInvalidUsage ? 0 : 1;
}
C
	command -v gcc >/dev/null || skip "no gcc"
	gcc -I"${CUDA_HOME:-/usr/local/cuda}/include" -o "$BATS_TEST_TMPDIR/memalloc" \
		"$BATS_TEST_TMPDIR/memalloc.c" "$B/lib/xmig/facade/libnccl.so.2" || skip "cannot build"
	run --separate-stderr "$XMIG" run -- "$BATS_TEST_TMPDIR/memalloc"
	assert_success
	assert_output 'ncclMemAlloc 5'
	[[ "$stderr" == *ncclMemAlloc* ]]
}

@test "ccl: a rank of a two-rank communicator is not moved yet; the job goes on" {
	"$XMIG" run --job duo --rank 0 -- "$CUDA_BIN/nccl_ops" --iters 40 --sleep-ms 25 --nranks 2 \
		--rank 0 --id-file "$BATS_TEST_TMPDIR/id" >"$BATS_TEST_TMPDIR/d0.out" 2>&1 &
	r0=$!
	"$XMIG" run --job duo --rank 1 -- "$CUDA_BIN/nccl_ops" --iters 40 --sleep-ms 25 --nranks 2 \
		--rank 1 --id-file "$BATS_TEST_TMPDIR/id" >"$BATS_TEST_TMPDIR/d1.out" 2>&1 &
	r1=$!
	wait_job duo
	sleep 0.5
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_failure 1
	assert_output --partial 'NCCL communicator of 2 ranks'
	wait "$r0"
	wait "$r1"
	grep -q 'PASS nccl_ops' "$BATS_TEST_TMPDIR/d0.out"
	grep -q 'PASS nccl_ops' "$BATS_TEST_TMPDIR/d1.out"
}
