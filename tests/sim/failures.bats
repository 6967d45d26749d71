#!/usr/bin/env bats
# failures.bats - a lost proxy, bad control messages and foreign users get
# clear errors; nothing hangs and the proxy keeps serving.

load ../helpers

setup() { xmig_setup; }
teardown() { xmig_teardown; }

start_zdtm() {
	need_program zdtm
	"$XMIG" run --job "$1" -- "$CUDA_BIN/zdtm" --mib 8 --iters 100000 --sleep-ms 5 \
		>"$BATS_TEST_TMPDIR/$1.out" 2>"$BATS_TEST_TMPDIR/$1.err" &
	echo $! >"$BATS_TEST_TMPDIR/$1.pid"
	wait_job "$1"
}

rpc() {   # rpc SOCKET LINE... : send lines, print the replies
	printf '%s\n' "${@:2}" | timeout 10 socat -t 2 - "UNIX-CONNECT:$1"
}

@test "failure: SIGKILL of the proxy makes the next CUDA call fail with a message, no hang" {
	start_zdtm k1
	app=$(cat "$BATS_TEST_TMPDIR/k1.pid")
	kill -9 "$(proxy_pid k1)"
	run timeout 20 tail --pid="$app" -f /dev/null
	assert_success
	run wait "$app"
	assert_failure
	run cat "$BATS_TEST_TMPDIR/k1.err"
	assert_output --partial "the proxy server of this process"
	assert_output --partial "is gone; CUDA calls fail from now on"
	run cat "$BATS_TEST_TMPDIR/k1.out"
	assert_output --partial "FAIL zdtm"
}

@test "failure: the proxy exits when its application is killed" {
	start_zdtm k2
	proxy=$(proxy_pid k2)
	kill -9 "$(cat "$BATS_TEST_TMPDIR/k2.pid")"
	run timeout 20 tail --pid="$proxy" -f /dev/null
	assert_success
	run "$XMIG" ps --json --job k2
	assert_output '{"items":[]}'
}

@test "failure: malformed and oversized control messages get JSON-RPC errors, serving goes on" {
	start_zdtm m1
	sock=$(ls "$XMIG_RUNTIME_DIR"/jobs/m1/*.sock)
	run rpc "$sock" 'this is not json' '{"jsonrpc":"2.0","method":"status","id":1}'
	assert_success
	assert_line --index 0 --partial '"code":-32700'
	assert_line --index 1 --partial '"job":"m1"'
	run rpc "$sock" '[1,2]' '{"jsonrpc":"1.0","method":"status","id":2}' \
		'{"jsonrpc":"2.0","method":"no-such-method","id":3}' \
		'{"jsonrpc":"2.0","method":"status","params":[1],"id":4}'
	assert_line --index 0 --partial '"code":-32600'
	assert_line --index 1 --partial '"code":-32600'
	assert_line --index 2 --partial '"code":-32601'
	assert_line --index 3 --partial '"code":-32600'
	head -c 3000000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
	{ cat "$BATS_TEST_TMPDIR/big"; printf '\n{"jsonrpc":"2.0","method":"hello","id":5}\n'; } |
		timeout 10 socat -t 2 - "UNIX-CONNECT:$sock" >"$BATS_TEST_TMPDIR/replies"
	run cat "$BATS_TEST_TMPDIR/replies"
	assert_line --index 0 --partial '"code":-32007'
	assert_line --index 1 --partial '"server":"xmig-proxy"'
	run "$XMIG" ps --json --job m1
	assert_output --partial '"state":"running"'
}

@test "failure: a user other than the job's owner is refused" {
	[ "$(id -u)" = 0 ] || skip "needs root to act as another user"
	command -v setpriv >/dev/null || skip "no setpriv"
	# A runtime directory the other user can reach: the socket itself decides.
	export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-users.XXXXXX)
	chmod 755 "$XMIG_RUNTIME_DIR"
	start_zdtm u1
	sock=$(ls "$XMIG_RUNTIME_DIR"/jobs/u1/*.sock)
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c "printf '%s\n' '{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":1}' | socat -t 2 - UNIX-CONNECT:$sock"
	assert_output --partial '"code":-32001'
	assert_output --partial 'permission denied'
	refute_output --partial '"job":"u1"'
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$XMIG" ps --json
	assert_success
	assert_output --partial '"state":"denied"'
	run "$XMIG" ps --json --job u1
	assert_output --partial '"state":"running"'
	kill -9 "$(cat "$BATS_TEST_TMPDIR/u1.pid")"
	rm -rf "$XMIG_RUNTIME_DIR"
}

@test "failure: the application killed mid-move: the move says the job ended (3), nothing is left behind" {
	start_zdtm k3
	app=$(cat "$BATS_TEST_TMPDIR/k3.pid")
	proxy=$(proxy_pid k3)
	XMIG_FAULT=xfer-delay-ms=800 timeout 60 "$XMIG" migrate --job k3 --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	# once the move is under way (its standby proxy started)
	for _ in $(seq 200); do
		pgrep -f "xmig-proxy --standby .*--keeper $XMIG_RUNTIME_DIR" >/dev/null && break
		sleep 0.05
	done
	sleep 0.3
	kill -9 "$app"
	st=0
	wait "$mig" || st=$?
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
	# (killed before any handover: the job ended, said as such)
	[ "$st" -eq 3 ]
	grep -q 'job k3 rank 0: the job ended during the move; nothing was moved' "$BATS_TEST_TMPDIR/mig.out"
	run timeout 20 tail --pid="$proxy" -f /dev/null
	assert_success
	# no proxy of the job, and nothing of it in the runtime directory (its offer's socket too)
	no_proxy_left
	run "$XMIG" ps --json --job k3
	assert_output '{"items":[]}'
	[ ! -e "$XMIG_RUNTIME_DIR/jobs/k3" ] || { ls -la "$XMIG_RUNTIME_DIR/jobs/k3" >&2; false; }
}

@test "failure: the new proxy dies right after the handover: migrate says so; the job's next call fails with a message, no hang" {
	start_zdtm k6
	app=$(cat "$BATS_TEST_TMPDIR/k6.pid")
	run env XMIG_FAULT=commit-then-exit timeout 60 "$XMIG" migrate --job k6 --to gpu1
	assert_failure 1
	# (the job may be gone already, for want of its new proxy)
	assert_output --regexp "the move failed and (the old proxy could not be thawed|the job is gone: it ended, or it lost its new proxy after the handover)"
	run timeout 20 tail --pid="$app" -f /dev/null
	assert_success
	run cat "$BATS_TEST_TMPDIR/k6.err"
	assert_output --partial "is gone; CUDA calls fail from now on"
	no_proxy_left
}

@test "failure: the application killed while suspended: ps forgets it and its job's directory goes; resume finds none (3); the snapshot stays" {
	start_zdtm k7
	app=$(cat "$BATS_TEST_TMPDIR/k7.pid")
	run "$XMIG" suspend --job k7 -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	kill -9 "$app"
	run timeout 20 tail --pid="$app" -f /dev/null
	assert_success
	run --separate-stderr "$XMIG" ps --json --job k7
	assert_success
	echo "$output" | jq -e '.items == []'
	# (said once, by the command that found it; the state written with -o stays)
	grep -q "job k7 rank 0: its application (pid $app) ended while suspended; forgotten, its state stays in $BATS_TEST_TMPDIR/snap" <<<"$stderr"
	# (ps removed its record and its keeper's socket; the suspending proxy,
	# if still exiting, may prune last)
	job_dir_gone k7
	run "$XMIG" resume --job k7
	assert_failure 3
	assert_output --partial "job k7 has no suspended process on this node"
	refute_output --partial "ended while suspended"
	[ -f "$BATS_TEST_TMPDIR/snap/manifest.json" ]
}

@test "failure: the application killed while suspended to xmig's own directory (no -o): resume says so and removes that state, which nothing can resume" {
	start_zdtm k8
	app=$(cat "$BATS_TEST_TMPDIR/k8.pid")
	export XMIG_SNAPSHOT_DIR="$BATS_TEST_TMPDIR/snaps"
	run "$XMIG" suspend --job k8
	assert_success
	[ -f "$XMIG_SNAPSHOT_DIR/k8-rank0-pid$app/manifest.json" ]
	# another suspended state there, not this job's, is left alone
	mkdir -p "$XMIG_SNAPSHOT_DIR/other" && touch "$XMIG_SNAPSHOT_DIR/other/manifest.json"
	kill -9 "$app"
	run timeout 20 tail --pid="$app" -f /dev/null
	assert_success
	run "$XMIG" resume --job k8
	assert_failure 3
	assert_output --partial "job k8 rank 0: its application (pid $app) ended while suspended; forgotten, its state in $XMIG_SNAPSHOT_DIR/k8-rank0-pid$app removed"
	assert_output --partial "job k8 has no suspended process on this node"
	[ ! -e "$XMIG_SNAPSHOT_DIR/k8-rank0-pid$app" ]
	[ -f "$XMIG_SNAPSHOT_DIR/other/manifest.json" ]
	job_dir_gone k8
}
