# helpers.bash - shared set-up of the bats suites.
#
# Each test gets its own runtime directory (its own registry of jobs) and
# sim GPUs, so tests never see each other's jobs. $B is the build
# directory (exported by tests/run.sh).

bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

xmig_setup() {
	: "${B:?run through tests/run.sh or set B to the build directory}"
	ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	XMIG="$B/bin/xmig"
	CUDA_BIN="$B/tests/cuda"
	# Short: Unix socket paths hold at most 107 bytes.
	export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmt.XXXXXX)
	export XMIG_SIM_GPUS=${XMIG_SIM_GPUS:-2}
	export XMIG_SIM_MEM=${XMIG_SIM_MEM:-4GiB}
	export XMIG_DEVICE=sim
	mkdir -p "$XMIG_RUNTIME_DIR"
}

# Kill whatever a test left running in its runtime directory.
xmig_teardown() {
	local pid f
	# jobs a test started in the background (their pid files): a failed
	# check may leave one suspended, waiting for a resume that never comes
	for f in "${BATS_TEST_TMPDIR:-/nonexistent}"/*.pid; do
		[ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	for s in "$XMIG_RUNTIME_DIR"/jobs/*/*.sock; do
		[ -e "$s" ] || continue
		pid=$(basename "$s" .sock)
		kill -9 "$pid" 2>/dev/null || true
	done
	pkill -9 -f "xmig-proxy .*--keeper $XMIG_RUNTIME_DIR" 2>/dev/null || true
	rm -rf "$XMIG_RUNTIME_DIR"
}

need_program() {
	[ -x "$CUDA_BIN/$1" ] || skip "$1 not built (no nvcc?)"
}

# Wait until `xmig ps --job $1` shows a process in state $2 (default running).
# Wait until a running job's device memory stops changing (it has made its
# allocations): plans and prechecks read what a job holds.
wait_settled() {   # wait_settled JOB
	local before=-1 now i
	for i in $(seq 1 100); do
		now=$("$XMIG" ps --json --job "$1" | jq '[.items[].device_bytes] | add // 0')
		[ "$now" != 0 ] && [ "$now" = "$before" ] && return 0
		before=$now
		sleep 0.1
	done
	echo "job $1's memory never settled" >&2
	return 1
}

wait_job() {
	local job=$1 state=${2:-running} i
	for i in $(seq 1 200); do
		if "$XMIG" ps --json --job "$job" | jq -e --arg s "$state" \
			'.items | length > 0 and all(.state == $s)' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "job $job never reached state $state" >&2
	"$XMIG" ps --job "$job" >&2
	return 1
}

# Wait (up to 4 s) until a move's new proxy, started with XMIG_MOVE_TRACE=1
# and logging to the job's stderr ERR, has made the job's objects ahead: its
# prelude is in, the freeze not yet (with XMIG_FAULT=ahead-pause-ms).
wait_prelude() {   # wait_prelude ERR
	for _ in $(seq 200); do
		grep -q 'receive: prelude: objects made ahead' "$1" && return 0
		sleep 0.02
	done
	echo "no prelude made ahead in $1 within 4 s" >&2
	return 1
}

# Is job $1's directory in the runtime directory gone (within 5 s: its last
# proxy prunes it as it exits)? What is left in it goes to stderr.
job_dir_gone() {   # job_dir_gone JOB
	local d="$XMIG_RUNTIME_DIR/jobs/$1"
	for _ in $(seq 50); do [ -e "$d" ] || return 0; sleep 0.1; done
	ls -la "$d" >&2
	return 1
}

# Wait (10 s at most) until no proxy of this test's runtime directory is
# left (--standby: no standby proxy); fail, naming it, if one still is.
no_proxy_left() {   # no_proxy_left [--standby]
	local pat="xmig-proxy .*--keeper $XMIG_RUNTIME_DIR"
	[ "${1:-}" = --standby ] && pat="xmig-proxy --standby .*--keeper $XMIG_RUNTIME_DIR"
	for _ in $(seq 100); do
		pgrep -f "$pat" >/dev/null || return 0
		sleep 0.1
	done
	echo "a proxy is left: $(pgrep -af "$pat")" >&2
	return 1
}

# The pid of job $1's proxy server.
proxy_pid() {
	"$XMIG" ps --json --job "$1" | jq -r '.items[0].proxy_pid'
}

# Once a move of job $1 is under way (a standby proxy started, every
# process of the job frozen), kill the standby: the target of the move.
kill_standby() {
	local job=$1 standby= i
	for i in $(seq 400); do
		standby=$(pgrep -f "xmig-proxy --standby .*--keeper $XMIG_RUNTIME_DIR" || true)
		[ -n "$standby" ] &&
			"$XMIG" ps --json --job "$job" |
				jq -e '(.items | length > 0) and all(.items[]; .state == "frozen")' \
				>/dev/null && break
		sleep 0.02
	done
	[ -n "$standby" ] || { echo "no move of job $job under way" >&2; return 1; }
	kill -9 $standby
}

# Move job $1 to GPU 1, zero-copy there, suspend it and resume it (sim tests).
moved_about() {   # moved_about JOB
	run "$XMIG" migrate --job "$1" --to gpu1
	assert_success
	run "$XMIG" migrate --job "$1" --to gpu1 --zero-copy
	assert_success
	run "$XMIG" suspend --job "$1" -o "$BATS_TEST_TMPDIR/$1.snap"
	assert_success
	run "$XMIG" resume --job "$1"
	assert_success
}
