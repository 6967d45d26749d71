# helpers.sh - sourced by the scripts run on a GPU machine (tests/gpu,
# tests/torch): TAP lines with their counts, and waits on jobs. XMIG must
# name the xmig binary before the waits are used.

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $*"; }
notok() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else notok "$name"; fi; }

# Is every process of job $1 (there is one at least) in state $2?
in_state() {
	"$XMIG" ps --json --job "$1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; sys.exit(0 if i and all(x["state"] == sys.argv[1] for x in i) else 1)' "$2"
}
wait_state() {   # wait_state JOB STATE [TENTHS (600)]
	for _ in $(seq "${3:-600}"); do
		in_state "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}
# Wait (up to TRIES x 20 ms, 200) until a move's new proxy, started with
# XMIG_MOVE_TRACE=1 and logging to the job's stderr ERR, has made the job's
# objects ahead: its prelude is in, the freeze not yet.
wait_prelude() {   # wait_prelude ERR [TRIES]
	for _ in $(seq "${2:-200}"); do
		grep -q 'receive: prelude: objects made ahead' "$1" && return 0
		sleep 0.02
	done
	return 0
}

# Wait until a training run has printed its Nth loss line: it is training.
wait_steps() {   # wait_steps OUT N
	for _ in $(seq 1200); do
		[ "$(grep -c '^step' "$1" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
