#!/usr/bin/env bats
# cli.bats - the command line: help, versions, usage errors and their
# documented exit statuses.

load ../helpers

setup() { xmig_setup; }
teardown() { xmig_teardown; }

@test "cli: --help lists the commands" {
	run "$XMIG" --help
	assert_success
	assert_output --partial "Usage: xmig"
	assert_output --partial "  run "
	assert_output --partial "  ps "
}

@test "cli: every command has --help" {
	for c in run ps version; do
		run "$XMIG" "$c" --help
		assert_success
		assert_output --partial "Usage: xmig $c"
	done
}

@test "cli: version, plain and JSON" {
	run "$XMIG" version
	assert_success
	assert_output --regexp '^xmig [0-9]+\.[0-9]+\.[0-9]+ \(control protocol [0-9]+\)$'
	run "$XMIG" version --json
	assert_success
	echo "$output" | jq -e '.version and (.protocol | type == "number")'
}

@test "cli: an unknown command or option is a usage error (2)" {
	run "$XMIG" frobnicate
	assert_equal "$status" 2
	assert_output --partial "'frobnicate' is not an xmig command"
	run "$XMIG" ps --bogus
	assert_equal "$status" 2
	run "$XMIG" --bogus ps
	assert_equal "$status" 2
	# the last --to would win and move the job somewhere not meant
	run "$XMIG" migrate --job j --to gpu0 --to gpu1
	assert_equal "$status" 2
	assert_output --partial "--to given twice"
	run "$XMIG" migrate --job j --to gpu1,
	assert_equal "$status" 2
	assert_output --partial "bad target ''"
}

@test "cli: migrate --json refused before it looks for the job still prints its result, with the error" {
	run --separate-stderr "$XMIG" migrate --job j --to gpu-1 --json
	assert_equal "$status" 2
	jq -e '.items == [] and .error.status == 2 and (.error.message | contains("bad target"))' <<<"$output"
	run --separate-stderr "$XMIG" migrate --job j --to nowhere:gpu0 --json
	assert_equal "$status" 3
	jq -e '.error.status == 3 and (.error.message | contains("unknown node"))' <<<"$output"
	run --separate-stderr "$XMIG" migrate --job j --rank 0 --to gpu0,gpu1 --json
	assert_equal "$status" 2
	jq -e '.error.status == 2' <<<"$output"
	run --separate-stderr "$XMIG" --nodes "$BATS_TEST_TMPDIR/none" migrate --job j --to gpu0 --json
	assert_equal "$status" 6
	jq -e '.error.status == 6' <<<"$output"
	# -o with no name is refused, not taken for the current directory
	for c in "snapshot --job j" "suspend --job j" plan; do
		run "$XMIG" $c -o ''
		assert_equal "$status" 2
		assert_output --partial "-o needs a"
	done
}

@test "cli: run needs a command, a valid job name and a valid GPU" {
	run "$XMIG" run
	assert_equal "$status" 2
	assert_output --partial "no command given"
	run "$XMIG" run --job ../etc -- true
	assert_equal "$status" 2
	assert_output --partial "invalid job name"
	run "$XMIG" run --gpu x -- true
	assert_equal "$status" 2
	run "$XMIG" run --share 1.5 -- true
	assert_equal "$status" 2
	run "$XMIG" run --device tpu -- true
	assert_equal "$status" 2
}

@test "cli: run execs the program: its status, 127 when missing, 126 when not executable" {
	run "$XMIG" run -- sh -c 'exit 42'
	assert_equal "$status" 42
	run -127 "$XMIG" run -- /nonexistent/program
	assert_output --partial "cannot run '/nonexistent/program'"
	touch "$BATS_TEST_TMPDIR/plain"
	run -126 "$XMIG" run -- "$BATS_TEST_TMPDIR/plain"
}

@test "cli: run passes the program's own options through" {
	run "$XMIG" run --job opts -- sh -c 'echo "$XMIG_JOB $*"' sh --gpu 3 -x
	assert_success
	assert_output "opts --gpu 3 -x"
}

@test "cli: run sets up the facades for the program" {
	run "$XMIG" run --job env -- sh -c 'echo "$LD_PRELOAD"; echo "$LD_LIBRARY_PATH"'
	assert_success
	assert_line --index 0 --regexp '^/[^:]*/lib/xmig/facade/libcudart\.so\.13:.*/libnccl\.so\.2$'
	assert_line --index 1 --regexp '/lib/xmig/facade(:|$)'
}

@test "cli: ps with no jobs prints a header, or empty items as JSON" {
	run "$XMIG" ps
	assert_success
	assert_output --regexp '^JOB +RANK +PID +NODE +GPU +STATE +DEVICE-MEM +UPTIME$'
	run "$XMIG" ps --json
	assert_success
	assert_output '{"items":[]}'
}

@test "cli: ps shows a running job with its fields" {
	need_program zdtm
	"$XMIG" run --job psjob --gpu 1 -- "$CUDA_BIN/zdtm" --mib 8 --iters 400 --sleep-ms 10 \
		>/dev/null 2>&1 &
	wait_job psjob
	run "$XMIG" ps
	assert_success
	assert_line --regexp '^psjob +0 +[0-9]+ +[^ ]+ +sim1 +running +[0-9.]+ MiB +[0-9]+s$'
	run "$XMIG" ps --json
	echo "$output" | jq -e '.items[0] | .job == "psjob" and .rank == 0 and .gpu == 1 and
		.device == "sim" and .state == "running" and .device_bytes >= 8388608 and
		(.pid | type == "number") and (.proxy_pid | type == "number") and
		(.node | type == "string") and (.uptime_s | type == "number")'
}

@test "cli: nodes: a malformed node list is refused (6), one naming no node is this node alone" {
	printf 'justaname\n' >"$BATS_TEST_TMPDIR/bad.conf"
	run --separate-stderr "$XMIG" --nodes "$BATS_TEST_TMPDIR/bad.conf" nodes --json
	assert_equal "$status" 6
	assert_output ""
	[[ "$stderr" == *"bad.conf:1: want NAME ADDRESS"* ]]
	printf 'n1 host1\n\n\n# spare\njustaname\n' >"$BATS_TEST_TMPDIR/bad5.conf"
	run --separate-stderr "$XMIG" --nodes "$BATS_TEST_TMPDIR/bad5.conf" nodes --json
	assert_equal "$status" 6
	[[ "$stderr" == *"bad5.conf:5: want NAME ADDRESS"* ]]
	printf '# nobody yet\n' >"$BATS_TEST_TMPDIR/empty.conf"
	run --separate-stderr "$XMIG" --nodes "$BATS_TEST_TMPDIR/empty.conf" nodes --json
	assert_success
	echo "$output" | jq -e '.nodes | length == 1'
	run "$XMIG" --nodes "$BATS_TEST_TMPDIR/missing.conf" nodes
	assert_equal "$status" 6
	# Endless input is refused, not read until memory runs out.
	run timeout 20 "$XMIG" --nodes /dev/zero nodes
	assert_equal "$status" 6
	assert_output --partial "cannot read the node list /dev/zero: File too large"
	# A NUL would hide the lines after it.
	printf 'n1 host1\n\0n2 host2\n' >"$BATS_TEST_TMPDIR/nul.conf"
	run "$XMIG" --nodes "$BATS_TEST_TMPDIR/nul.conf" nodes
	assert_equal "$status" 6
	assert_output --partial "holds a NUL byte"
	run "$XMIG" --nodes
	assert_equal "$status" 2
	assert_output --partial "--nodes needs a FILE"
}

@test "cli: nodes: a node without GPUs has a row of its own, and none in --json's gpus" {
	run env XMIG_SIM_GPUS=0 "$XMIG" nodes
	assert_success
	assert_line --regexp '^[^ ]+ +sim +- +\(no GPUs\) +- +- +0 +-$'
	run --separate-stderr env XMIG_SIM_GPUS=0 "$XMIG" nodes --json
	assert_success
	echo "$output" | jq -e '.nodes | length == 1 and (.[0].gpus | length) == 0'
}
