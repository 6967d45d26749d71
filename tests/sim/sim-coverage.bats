#!/usr/bin/env bats
# sim-coverage.bats - every kernel of the tests/cuda programs has a C
# implementation in the sim device's table (tests/cuda/check-sim-coverage.sh).
# Skipped where there are neither built programs nor nvcc.

setup() {
	root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
}

@test "sim-kernels: every tests/cuda kernel has a sim implementation" {
	run sh "$root/tests/cuda/check-sim-coverage.sh"
	[ "$status" -ne 77 ] || skip "no built tests/cuda programs and no nvcc"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok zdtm:"* ]]
}

@test "sim-kernels: the coverage check fails when a kernel is missing" {
	grep -v '"_Z6zd_mix' "$root/proxy/server/sim-kernels.c" >"$BATS_TEST_TMPDIR/table.c"
	SIM_KERNELS_C="$BATS_TEST_TMPDIR/table.c" run sh "$root/tests/cuda/check-sim-coverage.sh"
	[ "$status" -ne 77 ] || skip "no built tests/cuda programs and no nvcc"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"FAIL zdtm: no sim kernel for: _Z6zd_mixPmmPKmim"* ]]
}
