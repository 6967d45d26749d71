#!/usr/bin/env bats
# migrate.bats - moves of a running, self-checking workload on the sim
# device: it must print exactly what it prints undisturbed (and natively on
# a GPU: tests/cuda/expected/), whatever happens to it meanwhile. Every
# failure before the switch leaves it running where it was.

load ../helpers

setup() {
	xmig_setup
	need_program zdtm
	EXPECTED="$ROOT/tests/cuda/expected/zdtm-m32-i150.out"
}
teardown() { xmig_teardown; }

# A zdtm run long enough to be moved about: 150 iterations, 25 ms apart.
start() {   # start JOB [GPU]
	"$XMIG" run --job "$1" --gpu "${2:-0}" -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 \
		--sleep-ms 25 >"$BATS_TEST_TMPDIR/$1.out" 2>"$BATS_TEST_TMPDIR/$1.err" &
	echo $! >"$BATS_TEST_TMPDIR/$1.pid"
	wait_job "$1"
}

# Wait for the workload and check it printed the undisturbed output.
finish() {   # finish JOB
	local pid
	pid=$(cat "$BATS_TEST_TMPDIR/$1.pid")
	run timeout 60 tail --pid="$pid" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/$1.err" >&2
	diff -u "$EXPECTED" "$BATS_TEST_TMPDIR/$1.out"
}

# A move to GPU 1, slowed down (400 ms per allocation), in the background: $mig.
slow_move() {   # slow_move JOB
	XMIG_FAULT=xfer-delay-ms=400 "$XMIG" migrate --job "$1" --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
}

# Wait for it: its exit status in $st, what it said on stderr.
slow_move_done() {
	st=0
	wait "$mig" || st=$?
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
}

gpu_of() { "$XMIG" ps --json --job "$1" | jq -r '.items[0].gpu'; }

@test "migrate: 3 moves, a freeze/thaw and a suspend/resume; the checksum is unchanged" {
	start w1 0
	run "$XMIG" migrate --job w1 --to gpu1
	assert_success
	# (the old proxy's handover mark, read only by a failed move, is gone)
	! ls "$XMIG_RUNTIME_DIR"/jobs/w1/handover.* 2>/dev/null
	assert_output --regexp 'moved from [^:]+:gpu0 to [^:]+:gpu1 \(copy'
	assert_equal "$(gpu_of w1)" 1
	run "$XMIG" freeze --job w1
	assert_success
	run "$XMIG" ps --json --job w1
	assert_output --partial '"state":"frozen"'
	sleep 0.2
	run "$XMIG" thaw --job w1
	assert_success
	run --separate-stderr "$XMIG" migrate --job w1 --to gpu0 --json
	assert_success
	echo "$output" | jq -e '.items[0] | .from.gpu == 1 and .to.gpu == 0 and .mode == "copy" and
		.downtime_ms > 0 and .total_ms >= .downtime_ms and .moved_bytes >= 33554432 and
		.paused_ms > 0 and .paused_ms < .downtime_ms and .resumed_at_ns > 0'
	# its kernels, streams and events were made while it ran, and kept
	echo "$output" | jq -e '.items[0].objects | .ahead > 0 and .kept > 0 and .kept <= .ahead'
	run "$XMIG" suspend --job w1 -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	run "$XMIG" ps --json --job w1
	assert_output --partial '"state":"suspended"'
	[ -f "$BATS_TEST_TMPDIR/snap/manifest.json" ]
	sleep 0.3
	run "$XMIG" resume --job w1 --to gpu1
	assert_success
	assert_equal "$(gpu_of w1)" 1
	run "$XMIG" migrate --job w1 --to gpu1 --zero-copy
	assert_success
	assert_output --partial "zero-copy"
	finish w1
}

@test "run: the application counts one GPU (CUDA_VISIBLE_DEVICES=0, as NVML readers need); its proxy keeps the user's setting; ps counts as the command does" {
	CUDA_VISIBLE_DEVICES=1,0 start cvd 1
	app=$(cat "$BATS_TEST_TMPDIR/cvd.pid")
	proxy=$(proxy_pid cvd)
	run sh -c "tr '\\0' '\\n' </proc/$app/environ | grep '^CUDA_VISIBLE_DEVICES='"
	assert_output "CUDA_VISIBLE_DEVICES=0"
	run sh -c "tr '\\0' '\\n' </proc/$proxy/environ | grep '^CUDA_VISIBLE_DEVICES='"
	assert_output "CUDA_VISIBLE_DEVICES=1,0"
	# --gpu 1 counts among the user's GPUs: the machine's GPU 0. ps, nodes
	# and migrate --to count as this command does (no setting: the machine's).
	run "$XMIG" ps --json --job cvd
	echo "$output" | jq -e '.items[0] | .gpu == 0 and .proxy_gpu == 1 and
		.gpu_numbering.visible_devices == "1,0" and .gpu_uuid == ("SIM-" + .host + "-0")'
	run "$XMIG" nodes --json
	echo "$output" | jq -e '.nodes[0].gpus | .[0].memory_free_bytes < .[1].memory_free_bytes'
	# suspended, it is on the same GPU to ps; a resume finds that GPU by UUID
	run "$XMIG" suspend --job cvd
	assert_success
	run "$XMIG" ps --json --job cvd
	echo "$output" | jq -e '.items[0] | .state == "suspended" and .gpu == 0 and .proxy_gpu == 1'
	run env CUDA_VISIBLE_DEVICES=1 "$XMIG" resume --job cvd
	assert_failure 3
	assert_output --partial "is not among this command's GPUs"
	run "$XMIG" resume --job cvd
	assert_success
	assert_output --partial "resumed on GPU 0"
	assert_equal "$(gpu_of cvd)" 0
	run "$XMIG" migrate --job cvd --to gpu0 --zero-copy
	assert_success
	run "$XMIG" migrate --job cvd --to gpu1
	assert_success
	assert_output --regexp 'moved from [^:]+:gpu0 to [^:]+:gpu1'
	assert_equal "$(gpu_of cvd)" 1
	# a command that counts as the job did sees the job's numbers
	run env CUDA_VISIBLE_DEVICES=1,0 "$XMIG" ps --json --job cvd
	echo "$output" | jq -e '.items[0] | .gpu == 0 and .proxy_gpu == 1'
	# and one that does not see the GPU says null
	run env CUDA_VISIBLE_DEVICES=0 "$XMIG" ps --json --job cvd
	echo "$output" | jq -e '.items[0] | .gpu == null and .proxy_gpu == 1'
	finish cvd
	# without a setting of the user's, the proxy has none
	start cvd2 0
	proxy=$(proxy_pid cvd2)
	run sh -c "tr '\\0' '\\n' </proc/$proxy/environ | grep -c '^CUDA_VISIBLE_DEVICES='"
	assert_output 0
	finish cvd2
}

# What the libraries read (cuBLAS's workspace setting, NCCL's, CUDA's) must
# not change when the job moves: a new proxy runs in the job's environment,
# not in the one of the command (a cron script's, say), which only gives
# xmig's own settings and the GPU numbering.
proxy_env() {   # proxy_env JOB: the environment its proxy runs in, a line each
	tr '\0' '\n' <"/proc/$(proxy_pid "$1")/environ"
}

@test "migrate, suspend/resume: the new proxy runs in the job's environment; xmig's settings are the command's" {
	CUBLAS_WORKSPACE_CONFIG=:4096:8 XMIG_TEST_JOB_ONLY=1 start ev 0
	run proxy_env ev
	assert_line "CUBLAS_WORKSPACE_CONFIG=:4096:8"
	env -u CUBLAS_WORKSPACE_CONFIG XMIG_TEST_COMMAND=2 "$XMIG" migrate --job ev --to gpu1 >/dev/null
	run proxy_env ev
	assert_line "CUBLAS_WORKSPACE_CONFIG=:4096:8"
	assert_line "XMIG_TEST_COMMAND=2"
	refute_line "XMIG_TEST_JOB_ONLY=1"
	# from a proxy a move started, and through a suspend and a resume
	"$XMIG" migrate --job ev --to gpu0 >/dev/null
	run "$XMIG" suspend --job ev -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	assert_equal "$(stat -c %a "$BATS_TEST_TMPDIR/snap/environ")" 600
	run env -u CUBLAS_WORKSPACE_CONFIG "$XMIG" resume --job ev --to gpu1
	assert_success
	run proxy_env ev
	assert_line "CUBLAS_WORKSPACE_CONFIG=:4096:8"
	refute_line "XMIG_TEST_COMMAND=2"
	finish ev
}

@test "migrate: --dry-run moves nothing" {
	start w2 0
	run "$XMIG" migrate --job w2 --to gpu1 --dry-run
	assert_success
	assert_output --regexp "would move from [^:]+:gpu0 to [^:]+:gpu1"
	assert_equal "$(gpu_of w2)" 0
	finish w2
}

@test "migrate: an unknown job, rank or GPU is refused with status 3" {
	run "$XMIG" migrate --job nosuch --to gpu1
	assert_equal "$status" 3
	assert_output --partial "no job nosuch"
	start w3 0
	run "$XMIG" migrate --job w3 --to gpu7
	assert_equal "$status" 3
	assert_output --partial "no GPU 7"
	run "$XMIG" migrate --job w3 --rank 5 --to gpu1
	assert_equal "$status" 3
	run "$XMIG" migrate --job w3 --to node9:gpu1
	assert_equal "$status" 3
	run "$XMIG" migrate --job w3 --to banana
	assert_equal "$status" 2
	run "$XMIG" migrate --job w3 --to gpu1 --zero-copy
	assert_equal "$status" 4
	assert_equal "$(gpu_of w3)" 0
	finish w3
}

@test "migrate: a target GPU without enough free memory is refused at precheck" {
	export XMIG_SIM_MEM=64MiB   # each job maps 38 MiB: two do not fit on one GPU
	start w4 0
	start w5 1
	wait_settled w5   # running is not yet holding its memory on GPU 1
	run "$XMIG" migrate --job w4 --to gpu1
	assert_equal "$status" 4
	assert_output --regexp ":gpu1 has [0-9]+ MiB free"
	assert_output --partial "nothing was moved"
	assert_equal "$(gpu_of w4)" 0
	finish w4
	finish w5
}

@test "migrate: the target proxy killed mid-transfer: rolled back, the job goes on" {
	start w6 0
	slow_move w6
	kill_standby w6
	slow_move_done
	assert_equal "$st" 1
	run cat "$BATS_TEST_TMPDIR/mig.out"
	assert_output --regexp "not moved; it goes on on [^:]+:gpu0"
	assert_equal "$(gpu_of w6)" 0
	run "$XMIG" ps --json --job w6
	assert_output --partial '"state":"running"'
	finish w6
	# the killed standby's socket went with the job's directory, at its proxy's exit
	job_dir_gone w6
}

@test "migrate: one move at a time: a second one (or a suspend) meanwhile is refused, the first completes, the job runs" {
	start w11 0
	slow_move w11
	wait_job w11 frozen
	run "$XMIG" migrate --job w11 --to gpu1
	assert_failure 4
	assert_output --partial 'another command is moving this process or stopping it at a cut'
	# (where the job goes on is the first command's to say, not this one's)
	assert_output --partial 'not moved by this command'
	refute_output --partial 'it goes on on'
	run "$XMIG" suspend --job w11 -o "$BATS_TEST_TMPDIR/snap"
	assert_failure 4
	assert_output --partial 'another command is moving this process or stopping it at a cut'
	slow_move_done
	assert_equal "$st" 0
	assert_equal "$(gpu_of w11)" 1
	# running again: the refused command's freeze was not taken for a user's
	run "$XMIG" ps --json --job w11
	assert_output --partial '"state":"running"'
	finish w11
}

@test "migrate: a thaw while a move is under way ends the move; the job goes on where it was" {
	start w12 0
	slow_move w12
	wait_job w12 frozen
	run "$XMIG" thaw --job w12
	assert_success
	slow_move_done
	assert_equal "$st" 1
	assert_equal "$(gpu_of w12)" 0
	run "$XMIG" ps --json --job w12
	assert_output --partial '"state":"running"'
	finish w12
}

@test "migrate: the allocations kept from the prelude cross as one list; a bad entry rolls back" {
	start w8 0
	XMIG_MOVE_TRACE=1 "$XMIG" migrate --job w8 --to gpu1
	# (the new proxy's trace, on the job's stderr)
	grep -q "receive: allocations" "$BATS_TEST_TMPDIR/w8.err"
	# a copy's pause is short: the job's clients spin through it (ring spin_until_ns)
	grep -q "receive: the job's clients spin through the pause, [0-9.]* ms at most" \
		"$BATS_TEST_TMPDIR/w8.err"
	assert_equal "$(gpu_of w8)" 1
	first=$(proxy_pid w8)
	st=0
	XMIG_FAULT=xfer-keep-bad "$XMIG" migrate --job w8 --to gpu0 >"$BATS_TEST_TMPDIR/mig.out" \
		2>&1 || st=$?
	assert_equal "$st" 1
	run cat "$BATS_TEST_TMPDIR/mig.out"
	assert_output --partial "the memory prepared ahead could not be kept"
	grep -q "allocation [0-9]* is not the one announced" "$BATS_TEST_TMPDIR/w8.err"
	assert_output --regexp "not moved; it goes on on [^:]+:gpu1"
	assert_equal "$(gpu_of w8)" 1
	assert_equal "$(proxy_pid w8)" "$first"
	run "$XMIG" ps --json --job w8
	assert_output --partial '"state":"running"'
	finish w8
}

@test "migrate: the job frees memory while the old proxy exports its handles (after letting the job go on); both moves hold them and succeed" {
	# zdtm frees and allocates a scratch buffer every 25 ms; the old proxy
	# waits 300 ms between releasing the job and exporting the handles
	XMIG_FAULT=prelude-export-delay-ms=300 XMIG_MOVE_TRACE=1 "$XMIG" run --job ch -- \
		"$CUDA_BIN/zdtm" --mib 32 --iters 150 --sleep-ms 25 --churn-kib 256 \
		>"$BATS_TEST_TMPDIR/ch.out" 2>"$BATS_TEST_TMPDIR/ch.err" &
	echo $! >"$BATS_TEST_TMPDIR/ch.pid"
	wait_job ch
	# (a new proxy takes xmig's settings from the command: the next old one)
	XMIG_FAULT=prelude-export-delay-ms=300 XMIG_MOVE_TRACE=1 run "$XMIG" migrate --job ch --to gpu1
	assert_success
	XMIG_MOVE_TRACE=1 run "$XMIG" migrate --job ch --to gpu1 --zero-copy
	assert_success
	assert_equal "$(gpu_of ch)" 1
	# (the old proxies' trace, on the job's stderr: held briefly, exported after)
	run grep -c "send: prelude's tables read with the job held for [0-9.]* ms .*handles exported after, in [3-9][0-9][0-9]\.[0-9]* ms" \
		"$BATS_TEST_TMPDIR/ch.err"
	assert_output 2
	finish ch
}

@test "migrate: the job frees and allocates pinned memory between the prelude and the freeze; the new proxy maps what it has at the freeze" {
	# zdtm frees and allocates a pinned buffer every 25 ms and copies into
	# it; the new proxy waits 300 ms between its prelude and the freeze
	"$XMIG" run --job pn -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 --sleep-ms 25 \
		--churn-pinned-kib 64 >"$BATS_TEST_TMPDIR/pn.out" 2>"$BATS_TEST_TMPDIR/pn.err" &
	echo $! >"$BATS_TEST_TMPDIR/pn.pid"
	wait_job pn
	XMIG_FAULT=ahead-pause-ms=300 run "$XMIG" migrate --job pn --to gpu1
	assert_success
	XMIG_FAULT=ahead-pause-ms=300 run "$XMIG" migrate --job pn --to gpu1 --zero-copy
	assert_success
	assert_equal "$(gpu_of pn)" 1
	finish pn
}

@test "migrate: memory the job allocates while the new proxy prepares comes in a refresh of the prelude, ahead of the freeze (copy and zero-copy); the job verifies itself" {
	# zdtm frees and allocates a scratch buffer every 25 ms; the new proxy
	# waits 600 ms after its prelude (on a loaded machine the job, starved,
	# made no change in 300 ms), then refreshes it
	"$XMIG" run --job rf -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 --sleep-ms 25 --churn-kib 256 \
		>"$BATS_TEST_TMPDIR/rf.out" 2>"$BATS_TEST_TMPDIR/rf.err" &
	echo $! >"$BATS_TEST_TMPDIR/rf.pid"
	wait_job rf
	XMIG_FAULT=ahead-pause-ms=600 XMIG_MOVE_TRACE=1 run "$XMIG" migrate --job rf --to gpu1
	assert_success
	XMIG_FAULT=ahead-pause-ms=600 XMIG_MOVE_TRACE=1 run "$XMIG" migrate --job rf --to gpu1 --zero-copy
	assert_success
	assert_equal "$(gpu_of rf)" 1
	# (each new proxy's trace, on the job's stderr: each of the two
	# refreshed, its first refresh taking one handle at least; a later
	# round, which a loaded machine's slower prepare may add, can find
	# only memory freed since)
	first=$(grep "receive: prelude refreshed in" "$BATS_TEST_TMPDIR/rf.err" |
		awk 'match($0, /^xmig-proxy\[[0-9]*\]/) { p = substr($0, 1, RLENGTH); if (!(p in seen)) { seen[p] = 1; print } }')
	assert_equal "$(grep -c . <<<"$first")" 2
	assert_equal "$(grep -c "receive: prelude refreshed in [0-9.]* ms: 0 modules loaded, [1-9][0-9]* allocations' handles taken" <<<"$first")" 2
	finish rf
}

@test "migrate: a memory handle the prelude could not export is exported at the freeze, not counted as sent (copy and zero-copy); the job verifies itself" {
	# (the fault on run reaches the job's proxy, on migrate the new one: each move's old proxy has it)
	XMIG_FAULT=prelude-export-fail "$XMIG" run --job xf -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 \
		--sleep-ms 25 >"$BATS_TEST_TMPDIR/xf.out" 2>"$BATS_TEST_TMPDIR/xf.err" &
	echo $! >"$BATS_TEST_TMPDIR/xf.pid"
	wait_job xf
	XMIG_FAULT=prelude-export-fail run "$XMIG" migrate --job xf --to gpu1
	assert_success
	run "$XMIG" migrate --job xf --to gpu1 --zero-copy
	assert_success
	assert_equal "$(gpu_of xf)" 1
	run grep -c "XMIG_FAULT=prelude-export-fail: the prelude's first handle not exported" \
		"$BATS_TEST_TMPDIR/xf.err"
	assert_output 2
	finish xf
}

@test "migrate: a job that changed nothing worth it while the new proxy prepared: the old proxy says so, and the prelude is not sent again" {
	"$XMIG" run --job nr -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 --sleep-ms 25 --progress 5 \
		>"$BATS_TEST_TMPDIR/nr.out" 2>"$BATS_TEST_TMPDIR/nr.err" &
	echo $! >"$BATS_TEST_TMPDIR/nr.pid"
	wait_job nr
	# past its first iterations (its kernels' module is loaded at the first)
	for _ in $(seq 100); do grep -q '^iter 5$' "$BATS_TEST_TMPDIR/nr.err" && break; sleep 0.05; done
	XMIG_FAULT=ahead-pause-ms=300 XMIG_MOVE_TRACE=1 run --separate-stderr "$XMIG" migrate \
		--job nr --to gpu1 --json
	assert_success
	jq -e '.items[0].objects.refreshes == 0' <<<"$output"
	grep -q 'receive: prelude not refreshed: nothing worth it changed' "$BATS_TEST_TMPDIR/nr.err"
	! grep -q 'receive: prelude refreshed in' "$BATS_TEST_TMPDIR/nr.err"
	finish nr
}

@test "migrate: the old proxy hangs up when asked for a refresh of the prelude: the move fails (1), the job goes on where it was, no standby left" {
	# (the job's proxy hangs up on a refresh; the job allocates every 25 ms, so one is asked)
	XMIG_FAULT=refresh-hangup "$XMIG" run --job rh -- "$CUDA_BIN/zdtm" --mib 32 --iters 150 \
		--sleep-ms 25 --churn-kib 256 >"$BATS_TEST_TMPDIR/rh.out" 2>"$BATS_TEST_TMPDIR/rh.err" &
	echo $! >"$BATS_TEST_TMPDIR/rh.pid"
	wait_job rh
	first=$(proxy_pid rh)
	XMIG_FAULT=ahead-pause-ms=300 run "$XMIG" migrate --job rh --to gpu1
	assert_failure 1
	assert_output --partial "the old proxy sent no refresh of its prelude"
	assert_output --regexp "not moved; it goes on on [^:]+:gpu0"
	assert_equal "$(gpu_of rh)" 0
	assert_equal "$(proxy_pid rh)" "$first"
	run "$XMIG" ps --json --job rh
	assert_output --partial '"state":"running"'
	no_proxy_left --standby
	finish rh
}

@test "migrate: a job that ends during its move (the new proxy still preparing): said, exit 3, nothing moved" {
	"$XMIG" run --job ge -- "$CUDA_BIN/zdtm" --mib 32 --iters 30 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/ge.out" 2>"$BATS_TEST_TMPDIR/ge.err" &
	echo $! >"$BATS_TEST_TMPDIR/ge.pid"
	wait_job ge
	XMIG_FAULT=ahead-pause-ms=3000 run --separate-stderr "$XMIG" migrate --job ge --to gpu1
	echo "$stderr" >&2
	assert_equal "$status" 3
	grep -q 'job ge rank 0: the job ended during the move; nothing was moved' <<<"$stderr"
	! grep -q 'it goes on' <<<"$stderr"
	# (the old proxy never marked a handover; nothing of the move is left)
	! ls "$XMIG_RUNTIME_DIR"/jobs/ge/handover.* 2>/dev/null
	run timeout 10 tail --pid="$(cat "$BATS_TEST_TMPDIR/ge.pid")" -f /dev/null
	assert_success
	grep -q '^PASS zdtm' "$BATS_TEST_TMPDIR/ge.out"
}

# late_module_moved LATE [REFRESH]: late_module with its late fat binary
# LATE (a or b) first used between the prelude and the freeze (the new proxy
# waits 800 ms there); the move must carry its image, and the job check each
# round. The new proxy takes it in a refresh of the prelude, ahead (its
# freeze loads no module), or with REFRESH=0 (XMIG_PRELUDE_REFRESH) at the
# freeze.
late_module_moved() {
	local late=$1 refresh=${2:-1} job=lm$1$2 go="$BATS_TEST_TMPDIR/go-$1$2" mig st=0
	"$XMIG" run --job "$job" -- "$CUDA_BIN/late_module" --late "$late" --go-file "$go" \
		--rounds 150 >"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	echo $! >"$BATS_TEST_TMPDIR/$job.pid"
	wait_job "$job"
	XMIG_PRELUDE_REFRESH=$refresh XMIG_FAULT=ahead-pause-ms=800 XMIG_MOVE_TRACE=1 \
		"$XMIG" migrate --job "$job" --to gpu1 --json >"$BATS_TEST_TMPDIR/$job.m" \
		2>"$BATS_TEST_TMPDIR/$job.merr" &
	mig=$!
	wait_prelude "$BATS_TEST_TMPDIR/$job.err"
	touch "$go"
	for _ in $(seq 100); do
		grep -q '^late module in use' "$BATS_TEST_TMPDIR/$job.out" && break
		sleep 0.02
	done
	# (still before the freeze: the move has not ended)
	kill -0 "$mig"
	wait "$mig" || st=$?
	cat "$BATS_TEST_TMPDIR/$job.merr" >&2
	assert_equal "$st" 0
	assert_equal "$(gpu_of "$job")" 1
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/$job.pid")" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/$job.err" >&2
	grep -q '^rounds 150 checked' "$BATS_TEST_TMPDIR/$job.out"
	grep -q '^PASS late_module' "$BATS_TEST_TMPDIR/$job.out"
	# (the new proxy's trace, on the job's stderr: where the module was loaded)
	if [ "$refresh" = 0 ]; then
		jq -e '.items[0].objects.refreshes == 0' "$BATS_TEST_TMPDIR/$job.m"
		grep -q 'objects, each kind made and its time: modules 1 made' "$BATS_TEST_TMPDIR/$job.err"
	else
		jq -e '.items[0].objects.refreshes >= 1' "$BATS_TEST_TMPDIR/$job.m"
		grep -q 'receive: prelude refreshed in [0-9.]* ms: 1 modules loaded' \
			"$BATS_TEST_TMPDIR/$job.err"
		grep -q 'objects, each kind made and its time: modules 0 made' "$BATS_TEST_TMPDIR/$job.err"
	fi
}

@test "migrate: a fat binary first used between the prelude and the freeze goes with the state, whether it was registered before or after those the prelude carried; a refresh of the prelude loads it ahead" {
	need_program late_module
	late_module_moved a
	late_module_moved b
}

@test "migrate: without refreshes of the prelude (XMIG_PRELUDE_REFRESH=0), a fat binary first used after it is loaded at the freeze" {
	need_program late_module
	late_module_moved a 0
	late_module_moved b 0
}

@test "migrate: xmig killed mid-migration: the old proxy thaws, the job goes on" {
	start w7 0
	slow_move w7
	# killed once the old proxy is frozen and the transfer has begun
	for _ in $(seq 200); do
		"$XMIG" ps --json --job w7 | jq -e '.items[0].state == "frozen"' >/dev/null && break
		sleep 0.02
	done
	sleep 0.2
	killed_move_rolled_back w7
	finish w7
}

@test "migrate: xmig killed after the handover: the job runs on where it went; the handover mark naming that command goes with the job" {
	start wk 0
	XMIG_FAULT=xfer-delay-ms=400 XMIG_MOVE_TRACE=1 "$XMIG" migrate --job wk --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	# stopped while it waits for the new proxy's answer: the move goes on without it
	for _ in $(seq 200); do grep -q 'migrate: receive asked' "$BATS_TEST_TMPDIR/mig.out" && break; sleep 0.02; done
	kill -STOP $mig
	for _ in $(seq 200); do [ "$(gpu_of wk)" = 1 ] && break; sleep 0.05; done
	assert_equal "$(gpu_of wk)" 1
	# the old proxy marked the handover for that command, which never reads it
	run cat "$XMIG_RUNTIME_DIR"/jobs/wk/handover.*
	assert_output --regexp "^$mig [0-9]+\$"
	kill -9 $mig
	wait $mig || true
	run "$XMIG" ps --json --job wk
	assert_output --partial '"state":"running"'
	finish wk
	# the new proxy's exit pruned the mark (its command gone), then the job's directory
	job_dir_gone wk
}

# Kill the move $mig of JOB: the job must run on, on GPU 0, and the
# abandoned standby proxy must be gone too.
killed_move_rolled_back() {   # killed_move_rolled_back JOB
	kill -9 $mig
	for _ in $(seq 100); do
		"$XMIG" ps --json --job "$1" | jq -e '.items[0].state == "running"' >/dev/null && break
		sleep 0.05
	done
	run "$XMIG" ps --json --job "$1"
	assert_output --partial '"state":"running"'
	assert_equal "$(gpu_of "$1")" 0
	no_proxy_left --standby
}

# A move held at its commit point (restored, its word to commit not yet
# given), in the background: $mig.
held_move() {   # held_move JOB
	XMIG_FAULT=commit-delay-ms=1500 XMIG_MOVE_TRACE=1 "$XMIG" migrate --job "$1" --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	for _ in $(seq 400); do
		grep -q "receive: copy done" "$BATS_TEST_TMPDIR/$1.err" && return 0
		sleep 0.02
	done
	echo "the move never reached its commit point" >&2
	return 1
}

@test "migrate: a thaw at the commit point calls the move off; the job goes on where it was" {
	start w13 0
	first=$(proxy_pid w13)
	held_move w13
	run "$XMIG" thaw --job w13
	assert_success
	slow_move_done
	assert_equal "$st" 1
	run cat "$BATS_TEST_TMPDIR/mig.out"
	assert_output --regexp "not moved; it goes on on [^:]+:gpu0"
	assert_equal "$(gpu_of w13)" 0
	assert_equal "$(proxy_pid w13)" "$first"
	run "$XMIG" ps --json --job w13
	assert_output --partial '"state":"running"'
	no_proxy_left --standby
	finish w13
}

@test "migrate: xmig killed at the commit point: no handover, the old proxy thaws, the job goes on" {
	start w14 0
	first=$(proxy_pid w14)
	held_move w14
	killed_move_rolled_back w14
	assert_equal "$(proxy_pid w14)" "$first"
	finish w14
}

@test "resume: a corrupted snapshot chunk is refused, nothing overwritten; fixed, it resumes" {
	start w8 0
	run "$XMIG" suspend --job w8 -o "$BATS_TEST_TMPDIR/s8"
	assert_success
	mem="$BATS_TEST_TMPDIR/s8/memory.bin"
	cp "$mem" "$BATS_TEST_TMPDIR/good.bin"
	printf '\xff\xfe' | dd of="$mem" bs=1 seek=1000 conv=notrunc status=none
	sum_before=$(md5sum "$BATS_TEST_TMPDIR/s8"/* | md5sum)
	run "$XMIG" resume --job w8
	assert_equal "$status" 1
	assert_output --partial "corrupt (checksum mismatch)"
	assert_output --partial "it stays suspended"
	[ "$(md5sum "$BATS_TEST_TMPDIR/s8"/* | md5sum)" = "$sum_before" ]
	run "$XMIG" ps --json --job w8
	assert_output --partial '"state":"suspended"'
	cp "$BATS_TEST_TMPDIR/good.bin" "$mem"
	run "$XMIG" resume --job w8
	assert_success
	finish w8
}

@test "resume: a snapshot whose chunks leave memory out, repeat one or point before an allocation is refused; the job stays suspended, then resumes from the intact one" {
	start wc 0
	run "$XMIG" suspend --job wc -o "$BATS_TEST_TMPDIR/sc"
	assert_success
	man="$BATS_TEST_TMPDIR/sc/manifest.json"
	cp "$man" "$BATS_TEST_TMPDIR/good.json"
	for edit in '.memory.chunks |= .[:-1]' 'del(.memory)' \
		'.memory.chunks += [.memory.chunks[-1]]' \
		'.memory.chunks[-1].offset = -.memory.chunks[-1].size'; do
		jq "$edit" "$BATS_TEST_TMPDIR/good.json" >"$man"
		run "$XMIG" resume --job wc
		assert_equal "$status" 1
		[[ "$output" == *"lacks the memory at"* || "$output" == *"is malformed"* ]] ||
			{ echo "$edit: $output" >&2; false; }
		assert_output --partial "it stays suspended"
		run "$XMIG" ps --json --job wc
		assert_output --partial '"state":"suspended"'
	done
	cp "$BATS_TEST_TMPDIR/good.json" "$man"
	run "$XMIG" resume --job wc
	assert_success
	finish wc
}

@test "migrate: a new proxy that hangs once the job is frozen: the move is called off at --timeout; the job goes on where it was, the standby is ended" {
	start wt 0
	XMIG_FAULT=commit-delay-ms=30000 run "$XMIG" migrate --job wt --to gpu1 --timeout 2000
	assert_failure 1
	assert_output --partial "the new proxy did not finish the move within 2000 ms (--timeout): called off"
	assert_equal "$(gpu_of wt)" 0
	run "$XMIG" ps --json --job wt
	assert_output --partial '"state":"running"'
	no_proxy_left --standby
	finish wt
}

@test "suspend: a suspend record that cannot be written leaves the job running, not suspended for good" {
	start wr 0
	pid=$("$XMIG" ps --json --job wr | jq -r '.items[0].pid')
	# (a directory where the record goes: its rename fails, even for root)
	mkdir -p "$XMIG_RUNTIME_DIR/jobs/wr/$pid.suspended/in-the-way"
	run "$XMIG" suspend --job wr -o "$BATS_TEST_TMPDIR/sr"
	assert_failure
	assert_output --partial "nothing was suspended, the job goes on"
	run "$XMIG" ps --json --job wr
	assert_output --partial '"state":"running"'
	rm -r "$XMIG_RUNTIME_DIR/jobs/wr/$pid.suspended"
	finish wr
}

@test "snapshot: a running job's state on disk; the job goes on" {
	start w9 0
	run --separate-stderr "$XMIG" snapshot --job w9 -o "$BATS_TEST_TMPDIR/s9" --json
	assert_success
	echo "$output" | jq -e '.items[0].written_bytes >= 33554432'
	jq -e '.format == 1 and (.allocations | length) > 0 and (.memory.chunks | length) > 0 and
		all(.memory.chunks[]; .xxh3 | test("^[0-9a-f]{16}$"))' "$BATS_TEST_TMPDIR/s9/manifest.json"
	run "$XMIG" snapshot --job w9 -o "$BATS_TEST_TMPDIR/s9"
	assert_equal "$status" 1
	assert_output --partial "already holds a snapshot"
	run "$XMIG" ps --json --job w9
	assert_output --partial '"state":"running"'
	finish w9
}

@test "freeze/thaw/suspend/resume: usage and state errors" {
	run "$XMIG" freeze
	assert_equal "$status" 2
	run "$XMIG" freeze --job nosuch
	assert_equal "$status" 3
	run "$XMIG" resume --job nosuch
	assert_equal "$status" 3
	run "$XMIG" snapshot --job nosuch
	assert_equal "$status" 2
	assert_output --partial "-o DIR is required"
}

# JOB is frozen, and its proxy serves none of its calls for a while.
stays_frozen() {   # stays_frozen JOB
	local calls
	run "$XMIG" ps --json --job "$1"
	assert_output --partial '"state":"frozen"'
	calls=$("$XMIG" ps --json --job "$1" | jq '.items[0].calls')
	sleep 0.3
	assert_equal "$("$XMIG" ps --json --job "$1" | jq '.items[0].calls')" "$calls"
}

@test "migrate: a job frozen by its user moves and stays frozen until thawed" {
	start w9 0
	run "$XMIG" freeze --job w9
	assert_success
	run --separate-stderr "$XMIG" migrate --job w9 --to gpu1 --json
	assert_success
	# (no pause of its own to measure: it was frozen before and stays so)
	echo "$output" | jq -e '.items[0] | .paused_ms == null and .resumed_at_ns == null'
	assert_equal "$(gpu_of w9)" 1
	stays_frozen w9
	run "$XMIG" thaw --job w9
	assert_success
	finish w9
}

@test "migrate: a job frozen by its user while the old proxy holds it to read its prelude stays frozen when the hold ends; it moves frozen" {
	# (the job's proxy holds the turn 1.5 s for the prelude; the new proxy
	# waits 2 s after it: the old proxy serves the job that long after the hold)
	XMIG_FAULT=prelude-hold-ms=1500 start w13 0
	XMIG_FAULT=ahead-pause-ms=2000 "$XMIG" migrate --job w13 --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	sleep 0.5
	run "$XMIG" freeze --job w13
	assert_success
	# the hold is over (the prelude came) and the job still on its proxy: frozen, idle
	sleep 1.5
	assert_equal "$(gpu_of w13)" 0
	stays_frozen w13
	st=0
	wait "$mig" || st=$?
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
	assert_equal "$st" 0
	assert_equal "$(gpu_of w13)" 1
	stays_frozen w13
	run "$XMIG" thaw --job w13
	assert_success
	finish w13
}

@test "migrate: a failed move of a job frozen by its user leaves it frozen (the rollback thaws only its own freeze)" {
	start w10 0
	run "$XMIG" freeze --job w10
	assert_success
	run env XMIG_FAULT=xfer-keep-bad "$XMIG" migrate --job w10 --to gpu1
	assert_failure 1
	assert_output --regexp "not moved; it goes on on [^:]+:gpu0"
	stays_frozen w10
	run "$XMIG" thaw --job w10
	assert_success
	finish w10
}

@test "migrate: an old proxy that does not freeze at GO is asked for the freeze, as before" {
	# (the fault: the job's proxy answers its offer as one older than the freeze at GO)
	XMIG_FAULT=offer-no-freeze-at-go start w11 0
	run --separate-stderr env XMIG_MOVE_TRACE=1 timeout 60 "$XMIG" migrate --job w11 --to gpu1 \
		--json
	assert_success
	echo "$output" | jq -e '.items[0] | .to.gpu == 1 and .paused_ms > 0 and
		.phases_ms.quiesce > 0'
	# (the command's own split says which freeze it was)
	[[ "$stderr" == *"downtime: freeze call"* ]]
	# the next move, from a proxy of this build, freezes at GO
	run --separate-stderr env XMIG_MOVE_TRACE=1 "$XMIG" migrate --job w11 --to gpu0
	assert_success
	[[ "$stderr" == *"downtime: freeze at GO"* ]]
	run "$XMIG" ps --json --job w11
	assert_output --partial '"state":"running"'
	finish w11
}

# Wait for a tests/cuda program run with --iters N; it must print its
# expected output for N rounds.
finish_program() {   # finish_program JOB PROGRAM ITERS
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/$1.pid")" -f /dev/null
	cat "$BATS_TEST_TMPDIR/$1.err" >&2
	diff -u <(sed "s/^rounds 1 checked\$/rounds $3 checked/" "$ROOT/tests/cuda/expected/$2.out") \
		"$BATS_TEST_TMPDIR/$1.out"
}

@test "migrate: a process holding a cuBLAS handle moves between GPUs; its GEMMs stay exact" {
	need_program blas_gemm
	lib="$BATS_TEST_TMPDIR/libcublas.so.13"   # sim's cuBLAS never opens it
	: >"$lib"
	XMIG_CUBLAS=$lib "$XMIG" run --job bl -- "$CUDA_BIN/blas_gemm" --iters 40 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/bl.out" 2>"$BATS_TEST_TMPDIR/bl.err" &
	echo $! >"$BATS_TEST_TMPDIR/bl.pid"
	wait_job bl
	sleep 0.2
	# where the job's own cuBLAS is missing, its handles cannot be remade
	mv "$lib" "$lib.away"
	run "$XMIG" migrate --job bl --to gpu1
	assert_failure
	assert_output --partial "the job's cuBLAS, $lib, is not on this node"
	mv "$lib.away" "$lib"
	run env XMIG_MOVE_TRACE=1 "$XMIG" migrate --job bl --to gpu1
	assert_success
	run "$XMIG" migrate --job bl --to gpu0 --zero-copy
	assert_failure 4   # zero-copy is for the same GPU only
	run env XMIG_MOVE_TRACE=1 "$XMIG" migrate --job bl --to gpu1 --zero-copy
	assert_success
	# each standby ran the job's GEMM shapes once, ahead, on memory of its
	# own (the second one the shapes the first one was given, and its own)
	[ "$(grep -c "receive: prelude: [1-9][0-9]* of the job's GEMM shapes run once" \
		"$BATS_TEST_TMPDIR/bl.err")" = 2 ]
	run "$XMIG" suspend --job bl -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	jq -e '.blas_handles | length == 1 and .[0].workspace_size == 4194304' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	run "$XMIG" resume --job bl --to gpu0
	assert_success
	finish_program bl blas_gemm 40
}

@test "migrate: a process holding a cuBLASLt handle and descriptors moves between GPUs; its matmuls stay exact" {
	need_program blaslt_matmul
	"$XMIG" run --job lt -- "$CUDA_BIN/blaslt_matmul" --iters 12 --sleep-ms 20 \
		>"$BATS_TEST_TMPDIR/lt.out" 2>"$BATS_TEST_TMPDIR/lt.err" &
	echo $! >"$BATS_TEST_TMPDIR/lt.pid"
	wait_job lt
	sleep 0.2
	run --separate-stderr env XMIG_MOVE_TRACE=1 "$XMIG" migrate --job lt --to gpu1 --json
	assert_success
	# (the move's JSON counts them too; no GEMM, no cuDNN plan in this job)
	echo "$output" | jq -e '.items[0].run_ahead | .blaslt_matmuls >= 2 and .gemm_shapes == 0 and
		.dnn_plans == 0'
	run env XMIG_MOVE_TRACE=1 "$XMIG" migrate --job lt --to gpu1 --zero-copy
	assert_success
	# XMIG_RUN_AHEAD=0: none run ahead (the job's next step pays them)
	run --separate-stderr env XMIG_RUN_AHEAD=0 "$XMIG" migrate --job lt --to gpu1 --json
	assert_success
	echo "$output" | jq -e '.items[0].run_ahead | .blaslt_matmuls == 0 and .gemm_shapes == 0'
	# each standby ran the job's matmuls once, ahead, on memory of its own
	# (the zero-copy one maps the job's: its results below stay exact)
	# (as many as the job had run by then: each round runs some 70, 64 kept)
	ran=$(grep -o "receive: prelude: [0-9]* of the job's cuBLASLt matmuls run once" \
		"$BATS_TEST_TMPDIR/lt.err" | awk '{ print $3 }')
	[ "$(echo "$ran" | wc -l)" -eq 2 ]
	for n in $ran; do [ "$n" -ge 2 ] && [ "$n" -le 64 ]; done
	run "$XMIG" suspend --job lt -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	jq -e '.blaslt_handles | length == 1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	run "$XMIG" resume --job lt --to gpu0
	assert_success
	finish_program lt blaslt_matmul 12
}

@test "libraries: the cuBLAS file a job's proxy loads is in its state and reaches the next proxy" {
	lib="$BATS_TEST_TMPDIR/libcublas.so.13"
	: >"$lib"
	XMIG_CUBLAS=$lib start w10 0
	run "$XMIG" suspend --job w10 -o "$BATS_TEST_TMPDIR/s10"
	assert_success
	run jq -r '.libraries.XMIG_CUBLAS' "$BATS_TEST_TMPDIR/s10/manifest.json"
	assert_output "$lib"
	# resumed and moved from a shell that names no cuBLAS: each next proxy
	# still has the job's, and hands it on
	run env -u XMIG_CUBLAS "$XMIG" resume --job w10
	assert_success
	run env -u XMIG_CUBLAS "$XMIG" migrate --job w10 --to gpu1
	assert_success
	run env -u XMIG_CUBLAS "$XMIG" snapshot --job w10 -o "$BATS_TEST_TMPDIR/s11"
	assert_success
	run jq -r '.libraries.XMIG_CUBLAS' "$BATS_TEST_TMPDIR/s11/manifest.json"
	assert_output "$lib"
	finish w10
}

@test "resume: --to a GPU the node lacks is refused (3), the job stays suspended; then it resumes" {
	start w12 0
	run "$XMIG" suspend --job w12 -o "$BATS_TEST_TMPDIR/s12"
	assert_success
	run "$XMIG" resume --job w12 --to gpu7
	assert_equal "$status" 3
	assert_output --partial "no GPU 7 on this node (2 sim GPUs)"
	run "$XMIG" ps --json --job w12
	assert_output --partial '"state":"suspended"'
	run "$XMIG" resume --job w12 --to gpu1
	assert_success
	finish w12
}

# program_moving JOB PROGRAM ARGS...: a test program in the background (its
# output in $BATS_TEST_TMPDIR/JOB.out, .err, .pid), moved to GPU 1 and
# suspended: its snapshot in $BATS_TEST_TMPDIR/snap for the test to read.
# program_started and program_moving_on are its two halves.
program_started() {
	local job=$1 p=$2
	shift 2
	"$XMIG" run --job "$job" -- "$CUDA_BIN/$p" "$@" \
		>"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	echo $! >"$BATS_TEST_TMPDIR/$job.pid"
	wait_job "$job"
	# (past the line MOVE_AFTER matches, if the test set it: the part it means to move)
	if [ -n "${MOVE_AFTER:-}" ]; then
		for _ in $(seq 200); do
			grep -q "$MOVE_AFTER" "$BATS_TEST_TMPDIR/$job.out" && break
			sleep 0.05
		done
	fi
}

program_moving_on() {
	sleep 0.2
	run "$XMIG" migrate --job "$1" --to gpu1
	assert_success
	run "$XMIG" suspend --job "$1" -o "$BATS_TEST_TMPDIR/snap"
	assert_success
}

program_moving() {
	program_started "$@"
	program_moving_on "$1"
}

# program_moved JOB PROGRAM ROUNDS-SED: resumed on GPU 0, moved there
# zero-copy, ended: its output is the expected one, with ROUNDS-SED applied
# (the rounds it was given), and its stderr shown.
program_moved() {
	local job=$1 p=$2
	run "$XMIG" resume --job "$job" --to gpu0
	assert_success
	run "$XMIG" migrate --job "$job" --to gpu0 --zero-copy
	assert_success
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/$job.pid")" -f /dev/null
	grep -v "dm_no_such_kernel" "$BATS_TEST_TMPDIR/$job.err" >&2 || true
	diff -u <(sed "$3" "$ROOT/tests/cuda/expected/$p.out") "$BATS_TEST_TMPDIR/$job.out"
}

@test "migrate: driver-API modules (cubin and PTX) move mid-run; handles, attributes and results hold" {
	need_program driver_module
	program_moving dm driver_module --iters 40 --sleep-ms 25
	# Both images travel; the kernel whose shared memory limit was raised keeps it.
	jq -e '(.modules | length) == 2 and
		([.funcs[] | select(.name == "dm_block_sum")][0].max_dyn_smem == 65536) and
		([.funcs[] | select(.name == "dm_cluster")][0].attributes == [[14, 1]])' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved dm driver_module 's/^rounds 3 checked/rounds 40 checked/'
}

@test "migrate: libraries (cuLibraryLoadData, from a file) move mid-run; CUkernel handles and results hold" {
	need_program driver_library
	program_moving dl driver_library --iters 40 --sleep-ms 25
	# the three libraries travel as modules; the raised shared memory limit holds
	jq -e '(.modules | length) == 3 and
		([.funcs[] | select(.name == "dm_block_sum")][0].max_dyn_smem == 65536)' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved dl driver_library 's/^rounds 3 checked/rounds 40 checked/'
}

@test "migrate: a graph captured by the driver API moves mid-run (copy, suspended, resumed, zero-copy) and its launches go on" {
	need_program driver_graph
	# (into its launches: the graph instantiated before the moves)
	MOVE_AFTER="^nothing ran at capture" program_moving dg driver_graph --iters 60 --sleep-ms 20
	# the graph and its executable travel
	jq -e '(.graphs | length) == 1 and (.graph_execs | length) == 1' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved dg driver_graph 's/^graph launched 3 times/graph launched 60 times/'
}

@test "migrate: runtime launches with attributes (clusters, cooperative) go on across moves" {
	need_program launch_ex
	MOVE_AFTER="^looping" program_moving lx launch_ex --iters 60 --sleep-ms 20
	program_moved lx launch_ex 's/^rounds 3 checked/rounds 60 checked/'
}

@test "migrate: kernels the driver's linker made (cuLinkComplete's cubin) go on across moves" {
	need_program driver_link
	MOVE_AFTER="^looping" program_moving dk driver_link --iters 60 --sleep-ms 20
	program_moved dk driver_link 's/^rounds 3 checked/rounds 60 checked/'
}

# A link's job crosses the proxy in pieces (9 MB of PTX, three of them),
# and so does the image it gives: a move between pieces sends them again
# to the new proxy. Each round loads a new module and unloads the last
# while moves prepare: the prelude sends the images it named, however the
# job unloads them meanwhile. Every link and load of the rounds succeeds,
# and every move (copy, suspended and resumed, zero-copy).
@test "migrate: links of a 9 MB job every round go on across moves (a move between its pieces sends it again)" {
	need_program driver_link
	MOVE_AFTER="^looping" program_moving dr driver_link --iters 150 --sleep-ms 10 --relink
	program_moved dr driver_link 's/^rounds 3 checked/rounds 150 checked/'
}

@test "migrate: 3D copies of a volume go on across moves" {
	need_program volume_3d
	MOVE_AFTER="^looping" program_moving v3 volume_3d --iters 60 --sleep-ms 20
	program_moved v3 volume_3d 's/^rounds 3 checked/rounds 60 checked/'
}

@test "migrate: 2D copies and fills, and a graph of them, go on across moves" {
	need_program rows_2d
	MOVE_AFTER="^looping" program_moving r2 rows_2d --iters 60 --sleep-ms 20
	jq -e '(.graph_execs | length) == 1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved r2 rows_2d 's/^rounds 3 checked/rounds 60 checked/'
}

@test "migrate: a CUDA graph built node by node moves mid-run, before and after its executable graph's nodes are set anew; rounds and results as undisturbed" {
	need_program graph_nodes
	"$XMIG" run -- "$CUDA_BIN/graph_nodes" --iters 100 >"$BATS_TEST_TMPDIR/want"
	MOVE_AFTER="^looping" program_started gn graph_nodes --iters 100 --sleep-ms 20
	run "$XMIG" migrate --job gn --to gpu1
	assert_success
	run "$XMIG" ps --json --job gn
	# (the graph as captured from what the application built, and its executable graph)
	jq -e '.items[0].cuda_graphs == 2' <<<"$output"
	for _ in $(seq 200); do
		grep -q '^round 50:' "$BATS_TEST_TMPDIR/gn.out" && break
		sleep 0.05
	done
	# the executable graph updated in the new proxy: its log (a capture of the changed copy) travels
	run "$XMIG" suspend --job gn -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	jq -e '(.graph_execs | length) == 1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	run "$XMIG" resume --job gn --to gpu0
	assert_success
	run "$XMIG" migrate --job gn --to gpu0 --zero-copy
	assert_success
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/gn.pid")" -f /dev/null
	cat "$BATS_TEST_TMPDIR/gn.err" >&2
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/gn.out"
}

@test "migrate: a graph built node by node through the driver API moves mid-run (its CUfunction and CUkernel nodes launched by each new proxy); results as undisturbed" {
	need_program driver_graph_nodes
	MOVE_AFTER="^looping" program_moving dn driver_graph_nodes --iters 60 --sleep-ms 25
	jq -e '(.graph_execs | length) == 1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved dn driver_graph_nodes 's/^round 2:/round 30:/; s/^rounds 6 checked/rounds 62 checked/'
}

@test "migrate: host functions and a graph's host node go on across moves, in stream order" {
	need_program host_func
	MOVE_AFTER="^looping" program_started hf host_func --iters 60 --sleep-ms 20
	# a graph that calls a host function keeps the job on its node
	run "$XMIG" ps
	assert_line 'hf rank 0: moves within its node only: its CUDA graphs copy to or from host memory or call host functions, which a GPU on another node cannot reach'
	program_moving_on hf
	# the graph travels (its host node captured again by each new proxy)
	jq -e '(.graph_execs | length) == 1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved hf host_func 's/^rounds 3 checked/rounds 60 checked/; s/ran 3 times/ran 60 times/'
}

@test "migrate: a move while the application runs a slow host function (1.5 s) waits for it, then goes; nothing lost" {
	need_program host_func
	# (rounds for 3 s after it: on the sim device the proxy's worker runs the
	# function, so the move's preparation waits for it too, and the job must
	# still be there when the move comes)
	MOVE_AFTER="^looping" program_started hs host_func --iters 150 --sleep-ms 20 --slow-ms 1500
	# (the freeze waits for the function: its stream's work comes after it)
	run "$XMIG" migrate --job hs --to gpu1
	assert_success
	run timeout 60 tail --pid="$(cat "$BATS_TEST_TMPDIR/hs.pid")" -f /dev/null
	cat "$BATS_TEST_TMPDIR/hs.err" >&2
	diff -u <(sed 's/^rounds 3 checked/rounds 150 checked/; s/ran 3 times/ran 150 times/' \
		"$ROOT/tests/cuda/expected/host_func.out") "$BATS_TEST_TMPDIR/hs.out"
}

# Memory of the program's own, registered (cudaHostRegister): each new proxy
# maps it where the program has it, so async copies through it and a kernel
# that works on it through its host pointer go on across the moves.
@test "migrate: memory the program registered (cudaHostRegister) is mapped at its address by each new proxy; copies and kernels through it hold" {
	need_program host_register
	MOVE_AFTER="^looping" program_started hr host_register --iters 60 --sleep-ms 20
	# its three ranges and its cudaHostAlloc buffer
	run "$XMIG" ps --json --job hr
	jq -e '.items[0].pinned_regions == 4' <<<"$output"
	program_moving_on hr
	program_moved hr host_register 's/^rounds 3 checked/rounds 60 checked/'
}

@test "migrate: stream-ordered allocations move mid-run, frees pending or done; each block holds its bytes" {
	need_program malloc_async
	# into its rounds (the pool in use) before the moves
	MOVE_AFTER="^free of host" program_moving ma malloc_async --iters 60 --sleep-ms 20
	# the ring's 8 live blocks (and one whose free was still pending, at most);
	# freed ones kept by the pool, marked so, and the pool's threshold (UINT64_MAX,
	# a JSON integer: -1)
	jq -e '([.allocations[] | select(.pooled | not)] | length) <= 9 and
		([.allocations[] | select(.pooled)] | length) > 0 and
		([.allocations[] | select(.async)] | length) >= 8 and
		.pool_threshold == -1' "$BATS_TEST_TMPDIR/snap/manifest.json"
	# ... all of it documented in the snapshot's schema
	jq -e --slurpfile s "$ROOT/share/schema/snapshot.schema.json" \
		'(([.allocations[] | keys[]] | unique) - ($s[0].properties.allocations.items.properties |
		 keys)) == [] and ($s[0].properties | has("pool_threshold"))' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	program_moved ma malloc_async 's/^rounds 20:/rounds 60:/'
}

# Module globals are not allocations: their bytes go with the state, read
# at the freeze. Moved while they hold what host writes left, then what
# kernels left; every check after a move compares with the host's model.
@test "migrate: __device__ variables written by the host and by kernels move with the job" {
	need_program device_globals
	"$XMIG" run --job dg -- "$CUDA_BIN/device_globals" --pause-ms 900 \
		>"$BATS_TEST_TMPDIR/dg.out" 2>"$BATS_TEST_TMPDIR/dg.err" &
	app=$!
	wait_job dg
	run "$XMIG" migrate --job dg --to gpu1
	assert_success
	sleep 0.9
	run "$XMIG" migrate --job dg --to gpu0
	assert_success
	# its symbol's address asked again of the new proxy (in the last pause):
	# still one entry per variable, four in all
	for _ in $(seq 100); do
		grep -q '^table sum through symbol address' "$BATS_TEST_TMPDIR/dg.out" && break
		sleep 0.05
	done
	run "$XMIG" ps --json --job dg
	assert_success
	echo "$output" | jq -e '.items[0].variables == 4'
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/dg.err" >&2
	diff -u "$ROOT/tests/cuda/expected/device_globals.out" "$BATS_TEST_TMPDIR/dg.out"
}
