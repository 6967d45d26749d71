#!/usr/bin/env bats
# plan.bats - xmig plan and xmig apply from the command line, on synthetic
# cluster states (no trace data), the cron example and the benchmark's smoke run.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

bats_require_minimum_version 1.5.0

X="$B/bin/xmig"
REPO="$BATS_TEST_DIRNAME/../.."

node() { # name gpus model gib cpus
	local g="" i
	for ((i = 0; i < $2; i++)); do
		g="$g${g:+,}{\"index\":$i,\"model\":\"$3\",\"memory_bytes\":$(($4 << 30))}"
	done
	printf '{"name":"%s","cpus":%s,"memory_bytes":274877906944,"gpus":[%s]}' "$1" "$5" "$g"
}
task() { # id job rank node gpus share gib [movable]
	printf '{"id":"%s","job":"%s","rank":%s,"node":"%s","gpus":[%s],"share":%s,"device_bytes":%s,"cpus":2,"memory_bytes":0,"movable":%s,"gpu_model":null}' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$(($7 << 30))" "${8:-true}"
}

setup() {
	D=$BATS_TEST_TMPDIR
	# Three half-used A100 nodes and a V100 node: two A100 nodes can be freed.
	printf '{"nodes":[%s,%s,%s,%s],"tasks":[%s,%s,%s,%s]}\n' \
		"$(node n1 2 A100 40 32)" "$(node n2 2 A100 40 32)" "$(node n3 2 A100 40 32)" "$(node v1 2 V100 16 32)" \
		"$(task a ja 0 n1 0 0.5 10)" "$(task b jb 0 n2 1 0.5 10)" "$(task c jc 0 n3 0 1.0 20)" \
		"$(task v jv 0 v1 0 0.5 4)" >"$D/state.json"
	# A job with two ranks on n1 that can move together to n2.
	printf '{"nodes":[%s,%s],"tasks":[%s,%s,%s]}\n' \
		"$(node n1 2 A100 40 32)" "$(node n2 4 A100 40 32)" \
		"$(task r0 J 0 n1 0 1.0 10)" "$(task r1 J 1 n1 1 1.0 10)" "$(task x jx 0 n2 0 1.0 30)" >"$D/group.json"
	# A fake migrate: records its arguments, fails for job jb.
	cat >"$D/migrate" <<-EOF
	#!/bin/sh
	echo "\$@" >>"$D/migrate.log"
	case " \$* " in *" --job jb "*) echo '{"error":{"message":"target vanished"}}'; exit 1;; esac
	echo '{"moved":true}'
	EOF
	chmod +x "$D/migrate"
}

schema_ok() { # file schema
	python3 -c 'import jsonschema' 2>/dev/null || skip "python3 jsonschema not installed"
	python3 - "$1" "$REPO/share/schema/$2.schema.json" <<-'EOF'
	import json, sys, jsonschema
	jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])),
	                    cls=jsonschema.Draft202012Validator)
	EOF
}

@test "plan and apply have --help" {
	run "$X" plan --help
	assert_success
	assert_output --partial "--objective=nodes|gpus"
	assert_output --partial "--check=PLAN"
	run "$X" apply --help
	assert_success
	assert_output --partial "--on-error=stop|continue"
	run "$X" --help
	assert_output --partial "plan"
	assert_output --partial "apply"
}

@test "plan prints a table that frees two nodes" {
	run "$X" plan --state "$D/state.json"
	assert_success
	assert_output --partial "Frees 2 of 4 nodes"
	assert_output --partial "WAVE"
}

@test "plan --json follows its schema and -o writes the same plan" {
	run --separate-stderr "$X" plan --state "$D/state.json" --json -o "$D/plan.json"
	assert_success
	echo "$output" >"$D/out.json"
	schema_ok "$D/out.json" plan
	schema_ok "$D/plan.json" plan
	schema_ok "$D/state.json" cluster-state
	[ "$(jq -c .moves "$D/out.json")" = "$(jq -c .moves "$D/plan.json")" ]
	[ "$(jq .summary.nodes_freed "$D/plan.json")" = 2 ]
	[ "$(jq '[.moves[] | select(.task == "v")] | length' "$D/plan.json")" = 0 ]
}

@test "plan --check accepts a plan and rejects a tampered one" {
	"$X" plan --state "$D/state.json" -o "$D/plan.json" >/dev/null
	run "$X" plan --check "$D/plan.json" --state "$D/state.json"
	assert_success
	assert_output --partial "holds"
	"$X" plan --check "$D/plan.json" --state "$D/state.json" --json >"$D/check.json"
	schema_ok "$D/check.json" plan-check
	# Send every move to GPU 0 of n3, where c holds the whole GPU.
	jq '.moves[].to = {"node":"n3","gpus":[0]}' "$D/plan.json" >"$D/bad.json"
	run "$X" plan --check "$D/bad.json" --state "$D/state.json"
	assert_failure 4
	assert_output --partial "over-committed"
	# A plan whose summary lies.
	jq '.summary.nodes_freed = 3' "$D/plan.json" >"$D/lie.json"
	run "$X" plan --check "$D/lie.json" --state "$D/state.json" --json
	assert_failure 4
	assert_output --partial '"valid":false'
	# A plan for another cluster.
	jq '.moves[0].task = "nobody"' "$D/plan.json" >"$D/other.json"
	run "$X" plan --check "$D/other.json" --state "$D/state.json"
	assert_failure 4
	assert_output --partial 'task "nobody" is not in the cluster state'
	# ... and with --json it says so on stdout too, as for a plan that breaks a rule
	run --separate-stderr "$X" plan --check "$D/other.json" --state "$D/state.json" --json
	assert_failure 4
	echo "$output" >"$D/other-check.json"
	schema_ok "$D/other-check.json" plan-check
	jq -e '.valid == false and (.error | contains("task \"nobody\" is not in the cluster state"))' \
		"$D/other-check.json"
	# A plan of another version, or of none, is refused by check and apply alike (6).
	for v in '.version = 2' 'del(.version)' '.version = "1"'; do
		jq "$v" "$D/plan.json" >"$D/version.json"
		run "$X" plan --check "$D/version.json" --state "$D/state.json"
		assert_failure 6
		assert_output --partial "version"
		run "$X" apply "$D/version.json" --state "$D/state.json" --dry-run
		assert_failure 6
		assert_output --partial "version"
	done
	# A stricter cap given on the command line.
	run "$X" plan --check "$D/plan.json" --state "$D/state.json" --max-moves 1
	assert_failure 4
	assert_output --partial "more than its limit of 1"
	echo '{"version": 1, "moves": 3}' >"$D/junk.json"
	run "$X" plan --check "$D/junk.json" --state "$D/state.json"
	assert_failure 6
	assert_output --partial "plan.moves: expected an array"
}

@test "every algorithm makes a plan the checker accepts" {
	for a in xmig ffd bestfit-drain descheduler fgd ilp; do
		run "$X" plan --state "$D/state.json" --algorithm "$a" -o "$D/$a.json"
		if [ "$a" = ilp ] && [ "$status" -ne 0 ]; then
			assert_output --partial "needs GLPK"
			continue
		fi
		assert_success
		run "$X" plan --check "$D/$a.json" --state "$D/state.json"
		assert_success
	done
	[ "$(jq .summary.nodes_freed "$D/xmig.json")" -ge "$(jq .summary.nodes_freed "$D/bestfit-drain.json")" ]
}

@test "objective gpus and budgets" {
	run --separate-stderr "$X" plan --state "$D/state.json" --objective gpus --json
	assert_success
	[ "$(echo "$output" | jq .objective)" = '"gpus"' ]
	[ "$(echo "$output" | jq .summary.gpus_freed)" -ge 1 ]
	run --separate-stderr "$X" plan --state "$D/state.json" --max-moves 1 --json
	assert_success
	[ "$(echo "$output" | jq .summary.moves)" -le 1 ]
	run --separate-stderr "$X" plan --state "$D/state.json" --max-bytes 1G --json
	assert_success
	[ "$(echo "$output" | jq .summary.moves)" = 0 ]
}

@test "bad input is refused with a reason and a documented status" {
	echo '{"nodes": [], "tasks": []}' >"$D/empty.json"
	run "$X" plan --state "$D/empty.json"
	assert_failure 6
	assert_output --partial "state: no nodes"
	jq '.tasks[0].gpus = [9]' "$D/state.json" >"$D/badgpu.json"
	run "$X" plan --state "$D/badgpu.json"
	assert_failure 6
	assert_output --partial "tasks[0].gpus[0]: node n1 has no GPU 9"
	run "$X" plan --state "$D/missing.json"
	assert_failure 6
	assert_output --partial "cannot read state"
	printf '{"nodes":' >"$D/trunc.json"
	run "$X" plan --state "$D/trunc.json"
	assert_failure 6
	assert_output --partial "is not JSON"
	run "$X" plan --state "$D"
	assert_failure 6
	assert_output --partial "is a directory, not a state file"
	run "$X" apply "$D" --state "$D/state.json" --dry-run
	assert_failure 6
	assert_output --partial "is a directory, not a plan file"
	# input that never ends: an error past 256 MiB, not a wait
	run timeout 60 sh -c "yes ' ' | '$X' plan --state -"
	assert_failure 6
	assert_output --partial "state - is larger than 256 MiB"
	run "$X" plan --state "$D/state.json" --algorithm best
	assert_failure 2
	run "$X" plan --state "$D/state.json" --objective racks
	assert_failure 2
	run "$X" plan --state "$D/state.json" --max-bytes lots
	assert_failure 2
	run "$X" apply
	assert_failure 2
	run "$X" apply "$D/missing-plan.json" --state "$D/state.json"
	assert_failure 6
}

@test "a GPU index past int is no GPU, not the GPU it wraps to" {
	jq '.tasks[0].gpus = [4294967296]' "$D/state.json" >"$D/wrap.json"
	run "$X" plan --state "$D/wrap.json"
	assert_failure 6
	assert_output --partial "tasks[0].gpus[0]: node n1 has no GPU 4294967296"
	"$X" plan --state "$D/state.json" -o "$D/plan.json" >/dev/null
	jq '.moves[0].to.gpus = [.moves[0].to.gpus[0] + 4294967296]' "$D/plan.json" >"$D/wrap-plan.json"
	# (in a plan, past any GPU index xmig reads: malformed, as xmig apply finds it too)
	run "$X" plan --check "$D/wrap-plan.json" --state "$D/state.json"
	assert_failure 6
	assert_output --partial "to.gpus[0]: expected a GPU index"
	run "$X" apply "$D/wrap-plan.json" --state "$D/state.json" --dry-run
	assert_failure 6
	assert_output --partial "to.gpus[0]: expected a GPU index"
	# so is a wave before the first
	jq '.moves[0].wave = -1' "$D/plan.json" >"$D/wave-plan.json"
	for c in "plan --check" "apply --dry-run"; do
		run "$X" $c "$D/wave-plan.json" --state "$D/state.json"
		assert_failure 6
		assert_output --partial "wave"
	done
}

@test "an over-committed state is refused even when its byte sums pass 2^64" {
	# Three tasks that stay on n1:gpu1, 2^63-1 + 2^63-1 + 2 bytes: 0 modulo 2^64.
	# (jq would round 2^63-1 to a double: the numbers go in as text.)
	jq -c '.tasks += [range(3) as $i | {"id":"pin\($i)","job":"pin\($i)","rank":0,"node":"n1","gpus":[1],
		"share":0,"device_bytes":"B\($i)","movable":false}]' "$D/state.json" |
		sed 's/"B[01]"/9223372036854775807/g; s/"B2"/2/' >"$D/wrap.json"
	run "$X" plan --state "$D/wrap.json"
	assert_failure 6
	assert_output --partial "state: n1:gpu1 is over-committed"
	# The same with host memory.
	jq -c '.tasks += [range(3) as $i | {"id":"mem\($i)","job":"mem\($i)","rank":0,"node":"n2","gpus":[0],
		"share":0.1,"device_bytes":0,"memory_bytes":"B\($i)","movable":false}]' "$D/state.json" |
		sed 's/"B[01]"/9223372036854775807/g; s/"B2"/2/' >"$D/wrap-mem.json"
	run "$X" plan --state "$D/wrap-mem.json"
	assert_failure 6
	assert_output --partial "state: node n2 is over-committed"
}

@test "a state whose tasks hold 2^63 bytes or more in all is refused; just under, every planner plans it" {
	# Two tasks of 2^62 + 2^32 bytes (4 GiB more than 2^62): 2^63 + 2^33 in all.
	printf '{"nodes":[%s,%s],"tasks":[%s,%s]}\n' "$(node n1 1 X 8589934591 8)" \
		"$(node n2 1 X 8589934591 8)" "$(task a ja 0 n1 0 0.5 4294967300)" \
		"$(task b jb 0 n2 0 0.5 4294967300)" >"$D/exa.json"
	run "$X" plan --state "$D/exa.json"
	assert_failure 6
	assert_output --partial "2^63 bytes of device memory or more in all"
	# 2^62 - 2^30 each: one moves onto the other's GPU. (Over 2^63 in all,
	# the bytes the planners count went negative: UBSan's signed overflow.)
	printf '{"nodes":[%s,%s],"tasks":[%s,%s]}\n' "$(node n1 1 X 8589934591 8)" \
		"$(node n2 1 X 8589934591 8)" "$(task a ja 0 n1 0 0.5 4294967295)" \
		"$(task b jb 0 n2 0 0.5 4294967295)" >"$D/exa.json"
	for a in xmig ffd bestfit-drain descheduler fgd ilp; do
		run "$X" plan --state "$D/exa.json" --algorithm "$a" --json
		assert_success
		# (the descheduler drains only nodes under its 50% threshold: these are at 50%)
		[ "$a" = descheduler ] || assert_equal "$(jq '.summary.nodes_freed' <<<"$output")" 1
	done
}

# A plan that plan --check refuses (4, saying $3) and apply refuses before it
# runs anything (6, saying $4), dry or not: plan_refused PLAN STATE CHECK APPLY
plan_refused() {
	run "$X" plan --check "$1" --state "$2"
	assert_failure 4
	assert_output --partial "$3"
	export XMIG_APPLY_MIGRATE_CMD="$D/migrate"
	run "$X" apply "$1" --state "$2" --dry-run
	assert_failure 6
	assert_output --partial "$4"
	run "$X" apply "$1" --state "$2"
	assert_failure 6
	[ ! -e "$D/migrate.log" ]
}

# Two nodes of two GPUs; task m holds n1's both, whole: $D/two.json
two_gpu_task() {
	printf '{"nodes":[%s,%s],"tasks":[%s]}\n' "$(node n1 2 A100 40 32)" "$(node n2 2 A100 40 32)" \
		"$(task m jm 0 n1 0,1 1.0 20)" >"$D/two.json"
}

@test "apply refuses a move whose destination names a GPU twice" {
	# The plan would put both halves of m on n2:gpu0.
	two_gpu_task
	printf '{"version":1,"moves":[{"task":"m","job":"jm","rank":0,"wave":1,"device_bytes":%s,
		"from":{"node":"n1","gpus":[0,1]},"to":{"node":"n2","gpus":[0,0]}}]}\n' $((20 << 30)) >"$D/twice.json"
	plan_refused "$D/twice.json" "$D/two.json" "GPU 0 named twice" "moves[0].to.gpus: GPU 0 listed twice"
}

@test "apply fails a move of a task on several GPUs, and runs no migrate for it" {
	# A what-if state may hold one; under xmig a process has one GPU context.
	two_gpu_task
	printf '{"version":1,"moves":[{"task":"m","job":"jm","rank":0,"wave":1,"device_bytes":%s,
		"from":{"node":"n1","gpus":[0,1]},"to":{"node":"n2","gpus":[0,1]}}]}\n' \
		$((20 << 30)) >"$D/wide.json"
	run "$X" plan --check "$D/wide.json" --state "$D/two.json"
	assert_success
	export XMIG_APPLY_MIGRATE_CMD="$D/migrate"
	run --separate-stderr "$X" apply "$D/wide.json" --state "$D/two.json" --dry-run --json
	assert_failure 1
	[ "$(echo "$output" | jq -r '.moves[0].status')" = failed ]
	echo "$output" | jq -r '.moves[0].reason' | grep -q "task m spans 2 GPUs; xmig moves one GPU context per process"
	run "$X" apply "$D/wide.json" --state "$D/two.json"
	assert_failure 1
	assert_output --partial "task m spans 2 GPUs"
	[ ! -e "$D/migrate.log" ]
}

@test "apply refuses a plan that moves one task twice in a wave" {
	"$X" plan --state "$D/state.json" -o "$D/plan.json" >/dev/null
	# The first move again, to another destination, in the same wave.
	jq '.moves += [.moves[0] | .to = {"node":"n2","gpus":[0]}]' "$D/plan.json" >"$D/twice.json"
	plan_refused "$D/twice.json" "$D/state.json" "moves twice in wave 1" "moves twice in wave 1"
}

@test "a node with fewer GPUs than a task is no place to make room for it" {
	# xmig's repair once padded n2's one GPU with GPU -1 for the two-GPU task
	# (read and written out of bounds; seen under B=build-asan).
	printf '{"nodes":[%s,%s],"tasks":[%s,%s]}\n' "$(node n1 2 A100 40 32)" "$(node n2 1 A100 40 32)" \
		"$(task t jt 0 n1 0,1 1.0 10)" "$(task x jx 0 n2 0 0.5 10)" >"$D/small.json"
	for m in 0 1 2; do
		run "$X" plan --state "$D/small.json" --max-moves $m
		assert_success
		assert_output --partial "Frees 0 of 2 nodes"
	done
}

@test "per-GPU drains leave a rank that is already where its job goes" {
	# Two ranks of one job on n1's two GPUs; freeing gpu1 moves rank 1 to gpu0
	# and leaves rank 0 alone (it was once "moved" to where it was: an
	# internal error, exit 1).
	printf '{"nodes":[%s],"tasks":[%s,%s]}\n' "$(node n1 2 A100 40 32)" \
		"$(task r0 J 0 n1 0 0.25 1)" "$(task r1 J 1 n1 1 0.5 1)" >"$D/ranks.json"
	for a in bestfit-drain fgd; do
		run --separate-stderr "$X" plan --state "$D/ranks.json" --objective gpus -a $a --json
		assert_success
		[ "$(echo "$output" | jq -c '[.moves[] | [.task, .to.gpus]]')" = '[["r1",[0]]]' ]
	done
}

@test "ilp on a state with no task makes an empty plan, whatever the objective" {
	# No GPU and no task: --objective gpus gave GLPK a problem without columns,
	# and GLPK aborted the process (SIGABRT, exit 134).
	echo '{"nodes":[{"name":"n1","gpus":[]}],"tasks":[]}' >"$D/bare.json"
	printf '{"nodes":[%s],"tasks":[]}\n' "$(node n1 2 A100 40 32)" >"$D/idle.json"
	for s in bare idle; do
		for o in nodes gpus; do
			run "$X" plan --state "$D/$s.json" -a ilp --objective $o
			assert_success
			assert_output --partial "Nothing to move"
		done
	done
}

@test "live mode says clearly when the cluster cannot be read" {
	# A node whose command prefix fails: the live state is unavailable.
	printf 'here 127.0.0.1\nbroken 127.0.0.2 false\n' >"$D/nodes.conf"
	export XMIG_NODES="$D/nodes.conf" XMIG_DEVICE=sim
	run "$X" plan
	assert_failure 5
	assert_output --partial "node broken: 'nodes' failed"
	assert_output --partial "live state: \`xmig nodes --json\` failed"
	"$X" plan --state "$D/state.json" -o "$D/plan.json" >/dev/null
	run "$X" apply "$D/plan.json"
	assert_failure 5
}

@test "apply --dry-run goes through every move" {
	"$X" plan --state "$D/state.json" -o "$D/plan.json" >/dev/null
	run --separate-stderr "$X" apply "$D/plan.json" --state "$D/state.json" --dry-run --json
	assert_success
	echo "$output" >"$D/report.json"
	schema_ok "$D/report.json" apply-report
	[ "$(jq .summary.dry_run "$D/report.json")" = "$(jq .summary.moves "$D/plan.json")" ]
	[ "$(jq '[.moves[].status] | unique' -c "$D/report.json")" = '["dry-run"]' ]
}

@test "apply skips what a stale plan no longer holds, and says why" {
	"$X" plan --state "$D/state.json" -c 1 -o "$D/plan.json" >/dev/null
	first=$(jq -r '.moves[0].task' "$D/plan.json")
	# The first task has moved since; it is gone in a second state.
	jq --arg t "$first" '(.tasks[] | select(.id == $t) | .gpus) |= (if . == [0] then [1] else [0] end)' \
		"$D/state.json" >"$D/moved.json"
	run --separate-stderr "$X" apply "$D/plan.json" --state "$D/moved.json" --dry-run --json
	assert_success
	[ "$(echo "$output" | jq -r '.moves[0].status')" = skipped ]
	echo "$output" | jq -r '.moves[0].reason' | grep -q "now, not where the plan starts it"
	jq --arg t "$first" 'del(.tasks[] | select(.id == $t))' "$D/state.json" >"$D/gone.json"
	run "$X" apply "$D/plan.json" --state "$D/gone.json" --dry-run
	assert_success
	assert_output --partial "is gone"
	# Someone took the destination.
	dest=$(jq -r '.moves[0].to.node' "$D/plan.json")
	dgpu=$(jq -r '.moves[0].to.gpus[0]' "$D/plan.json")
	jq --arg n "$dest" --argjson g "$dgpu" \
		'.tasks += [{"id":"intruder","job":"ji","rank":0,"node":$n,"gpus":[$g],"share":1.0,"device_bytes":0,"movable":false}]' \
		"$D/state.json" >"$D/taken.json"
	if "$X" plan --state "$D/taken.json" >/dev/null 2>&1; then
		run "$X" apply "$D/plan.json" --state "$D/taken.json" --dry-run
		assert_success
		assert_output --partial "no room for task"
	fi
}

@test "apply runs the migrate command per move; on-error stop and continue" {
	"$X" plan --state "$D/state.json" -c 1 -o "$D/plan.json" >/dev/null
	[ "$(jq .summary.waves "$D/plan.json")" -ge 2 ]
	export XMIG_APPLY_MIGRATE_CMD="$D/migrate"
	# jb fails in its wave; with stop, no later wave runs.
	run --separate-stderr "$X" apply "$D/plan.json" --state "$D/state.json" --json
	assert_failure 1
	echo "$output" >"$D/report.json"
	schema_ok "$D/report.json" apply-report
	[ "$(jq -r '.moves[] | select(.job == "jb") | .status' "$D/report.json")" = failed ]
	jq -r '.moves[] | select(.job == "jb") | .reason' "$D/report.json" | grep -q "target vanished"
	[ "$(jq .summary.stopped "$D/report.json")" = true ]
	grep -q -- "migrate --job ja --rank 0 --to n" "$D/migrate.log" || grep -q -- "migrate --job jb --rank 0 --to n" "$D/migrate.log"
	grep -q -- "--json" "$D/migrate.log"
	jbwave=$(jq '.moves[] | select(.job == "jb") | .wave' "$D/plan.json")
	later=$(jq --argjson w "$jbwave" '[.moves[] | select(.wave > $w)] | length' "$D/report.json")
	if [ "$later" -gt 0 ]; then
		[ "$(jq -r --argjson w "$jbwave" '[.moves[] | select(.wave > $w) | .status] | unique | .[]' "$D/report.json")" = skipped ]
	fi
	# With continue the other moves run (those that still fit).
	run --separate-stderr "$X" apply "$D/plan.json" --state "$D/state.json" --on-error continue --json
	assert_failure 1
	[ "$(echo "$output" | jq .summary.stopped)" = false ]
	[ "$(echo "$output" | jq .summary.moved)" -ge 1 ]
}

@test "apply skips a move whose migrate says the job is gone (status 3, it ended during its move); later waves still run" {
	"$X" plan --state "$D/state.json" -c 1 -o "$D/plan.json" >/dev/null
	[ "$(jq .summary.waves "$D/plan.json")" -ge 2 ]
	gone=$(jq -r '.moves[0].job' "$D/plan.json")
	cat >"$D/migrate3" <<-EOF
	#!/bin/sh
	echo "\$@" >>"$D/migrate.log"
	case " \$* " in *" --job $gone "*)
		echo '{"error":{"message":"job $gone rank 0: the job ended during the move; nothing was moved"}}'
		exit 3;;
	esac
	echo '{"moved":true}'
	EOF
	chmod +x "$D/migrate3"
	export XMIG_APPLY_MIGRATE_CMD="$D/migrate3"
	run --separate-stderr "$X" apply "$D/plan.json" --state "$D/state.json" --json
	assert_success
	echo "$output" >"$D/report.json"
	schema_ok "$D/report.json" apply-report
	[ "$(jq -r --arg j "$gone" '.moves[] | select(.job == $j) | .status' "$D/report.json")" = skipped ]
	jq -r --arg j "$gone" '.moves[] | select(.job == $j) | .reason' "$D/report.json" |
		grep -q "no longer there (migrate: status 3, job $gone rank 0: the job ended during the move"
	[ "$(jq .summary.stopped "$D/report.json")" = false ]
	[ "$(jq .summary.failed "$D/report.json")" = 0 ]
	[ "$(jq .summary.skipped "$D/report.json")" -ge 1 ]
	# every other move of the plan ran
	[ "$(grep -c -- '--json' "$D/migrate.log")" = "$(jq '.moves | length' "$D/plan.json")" ]
	grep -q "skipped: no longer there" <<<"$stderr"
}

@test "the ranks of a job move together, in one wave" {
	run --separate-stderr "$X" plan --state "$D/group.json" --json -o "$D/gplan.json"
	assert_success
	[ "$(jq '[.moves[] | select(.job == "J")] | length' "$D/gplan.json")" = 2 ]
	[ "$(jq '[.moves[] | select(.job == "J") | .wave] | unique | length' "$D/gplan.json")" = 1 ]
	[ "$(jq '[.moves[] | select(.job == "J") | .to.node] | unique | length' "$D/gplan.json")" = 1 ]
	# If one rank cannot go, neither goes.
	jq '(.tasks[] | select(.id == "r1") | .movable) = false' "$D/group.json" >"$D/stuck.json"
	run --separate-stderr "$X" apply "$D/gplan.json" --state "$D/stuck.json" --dry-run --json
	assert_success
	[ "$(echo "$output" | jq -r '[.moves[].status] | unique | .[]')" = skipped ]
	echo "$output" | jq -r '.moves[].reason' | grep -q "another rank of its job"
}

@test "the man pages render" {
	for m in "$REPO"/share/man/xmig-plan.1.scd "$REPO"/share/man/xmig-apply.1.scd; do
		scdoc <"$m" >/dev/null
	done
}

@test "the cron example plans, applies only above its threshold, never overlaps" {
	export XMIG="$X" STATE="$D/state.json" LOG=stderr LOCK="$D/lock" PLAN_DIR="$D/plans"
	run env DRY_RUN=1 sh "$REPO/share/examples/xmig-consolidate"
	assert_success
	assert_output --partial "frees 2 node(s)"
	assert_output --partial "dry-run of"
	run env MIN_GAIN=3 sh "$REPO/share/examples/xmig-consolidate"
	assert_success
	assert_output --partial "below MIN_GAIN=3; not applying"
	run env MAX_BYTES_PER_GAIN=1024 sh "$REPO/share/examples/xmig-consolidate"
	assert_success
	assert_output --partial "not applying"
	flock "$D/lock" sleep 3 &
	sleep 0.5
	run sh "$REPO/share/examples/xmig-consolidate"
	assert_success
	assert_output --partial "another run holds"
	wait
	grep -q "xmig-consolidate$" "$REPO/share/examples/xmig-consolidate.cron"
}

@test "plan-bench runs on a tiny synthetic trace; bench-plan wants TRACE" {
	mkdir -p "$D/trace"
	{
		echo "sn,cpu_milli,memory_mib,gpu,model"
		for i in 1 2 3 4 5 6; do echo "fake-node-$i,32000,131072,4,A100"; done
		for i in 7 8; do echo "fake-node-$i,16000,65536,2,T4"; done
	} >"$D/trace/openb_node_list_gpu_node.csv"
	{
		echo "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
		echo "fake-pod-1,4000,8192,1,1000,,LS,Running,0,1,0"
		echo "fake-pod-2,2000,4096,1,500,,BE,Running,0,1,0"
		echo "fake-pod-3,2000,4096,1,250,,BE,Running,0,1,0"
		echo "fake-pod-4,8000,16384,2,1000,,LS,Running,0,1,0"
		echo "fake-pod-5,1000,2048,0,0,,BE,Running,0,1,0"
	} >"$D/trace/openb_pod_list_default.csv"
	run "$B/tests/bench/plan-bench" --trace "$D/trace" --seeds 42-43 --replicas 1,2 --small-nodes 4 --ilp-time-limit 2
	assert_success
	assert_output --partial "| xmig |"
	assert_output --partial "| bestfit-drain |"
	assert_output --partial "Targets:"
	assert_output --partial "Tighter floor"
	[[ "$output" != *"floor.c is wrong"* ]]
	assert_output --partial "1 CPU-only specs left out"
	# xmig alone: nothing to compare with, and it says so
	run "$B/tests/bench/plan-bench" --trace "$D/trace" --seeds 42-42 --replicas 1 --no-small --algorithms xmig
	assert_success
	assert_output --partial "nodes against the baselines: not measured (none ran)"
	assert_output --partial "against bestfit-drain's: not measured"
	run "$B/tests/bench/plan-bench" --trace "$D/trace" --algorithms ffd,xmig
	assert_failure 2
	assert_output --partial "must start with xmig"
	run make -s -C "$REPO" B="$B" bench-plan TRACE=
	assert_failure
	assert_output --partial "set TRACE=DIR"
	run make -s -C "$REPO" B="$B" bench-plan TRACE="$D/nowhere"
	assert_failure
	assert_output --partial "has no openb_node_list_gpu_node.csv"
}
