#!/usr/bin/env bats
# ccl.bats - NCCL through xmig on the sim device: the facade's
# communicators and collectives, served by the proxy's Flexible CCL layer
# with the sim NCCL test double (ccl/nccl-sim.c) standing in for NCCL;
# a one-rank communicator rebuilt under the same logical handle when its
# process moves; two ranks meeting through the double; a two-rank job
# frozen at a consistent cut, a rank moved, the communicator re-linked on
# both (xmig migrate, cmd/cut.c), the old communicators retired only
# after the new ones were built, and the same cut for xmig freeze; a job
# one or both of whose ranks launch their all-reduce from a CUDA graph is
# cut and moved, the graphs captured again on the re-linked communicator
# (with a PreMulSum op too, made again by each replay); the new
# communicators built and connected ahead of the cut, on the ranks where
# they will be, and put in place by the re-link, or retired (a failed
# move, a rank that cannot build or connect ahead; the cut builds them).

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

@test "ccl: moved twice while its communicator lives, its reduction ops changing; the results stay exact" {
	touch "$BATS_TEST_TMPDIR/hold"
	"$XMIG" run --job nc -- "$CUDA_BIN/nccl_ops" --iters 60 --sleep-ms 25 \
		--hold-file "$BATS_TEST_TMPDIR/hold" >"$BATS_TEST_TMPDIR/nc.out" 2>"$BATS_TEST_TMPDIR/nc.err" &
	app=$!
	wait_job nc
	# its communicator made (it says so), so that the first standby's prelude has it
	for _ in $(seq 200); do grep -q '^communicator:' "$BATS_TEST_TMPDIR/nc.out" && break; sleep 0.05; done
	sleep 0.3
	# the first successor waits 200 ms (8 rounds) after its prelude: the
	# PreMulSum op it made ahead has been destroyed and another made since
	run env XMIG_FAULT=ahead-pause-ms=200 "$XMIG" migrate --job nc --to gpu1
	assert_success
	sleep 0.3
	run "$XMIG" migrate --job nc --to gpu1 --zero-copy
	assert_success
	rm "$BATS_TEST_TMPDIR/hold"
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/nc.err" >&2
	diff -u <(sed 's/^rounds 1 checked$/rounds 60 checked/' "$ROOT/tests/cuda/expected/nccl_ops.out") \
		"$BATS_TEST_TMPDIR/nc.out"
	# each new proxy built a new physical communicator under the old handle,
	# while the job still ran (one rank: no peer to wait for), and kept it
	# though the job's reduction ops changed before the freeze
	[ "$(grep -c 'communicator [0-9a-f]* rebuilt in .* ms, ahead of the freeze' \
		"$BATS_TEST_TMPDIR/nc.err")" -eq 2 ]
}

@test "ccl: a job that ends its communicator between the prelude and the freeze moves; the one built ahead is retired after the handover, not ended in the pause" {
	export XMIG_SIM_CCL_LOG="$BATS_TEST_TMPDIR/ccl.log"
	local pause="$BATS_TEST_TMPDIR/pause" linger="$BATS_TEST_TMPDIR/linger" mig st=0 np
	touch "$pause" "$linger"
	"$XMIG" run --job ce -- "$CUDA_BIN/nccl_ops" --iters 4 --pause-file "$pause" \
		--linger-file "$linger" >"$BATS_TEST_TMPDIR/ce.out" 2>"$BATS_TEST_TMPDIR/ce.err" &
	app=$!
	wait_job ce
	for _ in $(seq 200); do grep -q '^paused after round 0' "$BATS_TEST_TMPDIR/ce.out" && break; sleep 0.05; done
	# the standby waits 800 ms after its prelude (its communicator built
	# ahead); meanwhile the job ends its rounds and its communicators
	XMIG_FAULT=ahead-pause-ms=800 XMIG_MOVE_TRACE=1 XMIG_LOG=debug "$XMIG" migrate --job ce \
		--to gpu1 --json >"$BATS_TEST_TMPDIR/m.json" 2>"$BATS_TEST_TMPDIR/m.err" &
	mig=$!
	wait_prelude "$BATS_TEST_TMPDIR/ce.err"
	rm "$pause"
	for _ in $(seq 100); do grep -q '^communicators destroyed' "$BATS_TEST_TMPDIR/ce.out" && break; sleep 0.02; done
	kill -0 "$mig"   # (before the freeze: the move has not ended)
	wait "$mig" || st=$?
	cat "$BATS_TEST_TMPDIR/m.err" "$BATS_TEST_TMPDIR/ce.err" "$XMIG_SIM_CCL_LOG" >&2
	assert_equal "$st" 0
	assert_equal "$(jq -r '.items[0].to.gpu' "$BATS_TEST_TMPDIR/m.json")" 1
	grep -q 'communicator [0-9a-f]* built ahead, gone at the freeze: retired' \
		"$BATS_TEST_TMPDIR/ce.err"
	# the new proxy built it, and aborted it on its retire thread (not destroyed)
	np=$("$XMIG" ps --json --job ce | jq -r '.items[0].proxy_pid')
	for _ in $(seq 50); do
		[ "$(awk -v p="$np" '$1 == p && $2 == "abort"' "$XMIG_SIM_CCL_LOG" | wc -l)" = 1 ] && break
		sleep 0.1
	done
	[ "$(awk -v p="$np" '$1 == p && $2 == "init"' "$XMIG_SIM_CCL_LOG" | wc -l)" = 1 ]
	[ "$(awk -v p="$np" '$1 == p && $2 == "abort"' "$XMIG_SIM_CCL_LOG" | wc -l)" = 1 ]
	[ "$(awk -v p="$np" '$1 == p && $2 == "destroy"' "$XMIG_SIM_CCL_LOG" | wc -l)" = 0 ]
	rm "$linger"
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	grep -q '^rounds 4 checked' "$BATS_TEST_TMPDIR/ce.out"
	grep -q '^PASS nccl_ops' "$BATS_TEST_TMPDIR/ce.out"
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

# Two ranks of one job, each its own process and proxy, doing all-reduces.
# Both wait before their last round until duo_done (however slow the
# machine, the test's moves meet the job running).
start_duo() {   # start_duo ITERS [GPU_OF_RANK0 GPU_OF_RANK1 [NCCL_OPS_ARGS...]]
	local iters=$1 g0=${2:-0} g1=${3:-0}
	shift $(($# < 3 ? $# : 3))
	touch "$BATS_TEST_TMPDIR/hold"
	"$XMIG" run --job duo --rank 0 --gpu "$g0" -- "$CUDA_BIN/nccl_ops" --iters "$iters" --sleep-ms 20 \
		--nranks 2 --rank 0 --id-file "$BATS_TEST_TMPDIR/id" --hold-file "$BATS_TEST_TMPDIR/hold" \
		"$@" >"$BATS_TEST_TMPDIR/d0.out" 2>"$BATS_TEST_TMPDIR/d0.err" &
	r0=$!
	"$XMIG" run --job duo --rank 1 --gpu "$g1" -- "$CUDA_BIN/nccl_ops" --iters "$iters" --sleep-ms 20 \
		--nranks 2 --rank 1 --id-file "$BATS_TEST_TMPDIR/id" --hold-file "$BATS_TEST_TMPDIR/hold" \
		"$@" >"$BATS_TEST_TMPDIR/d1.out" 2>"$BATS_TEST_TMPDIR/d1.err" &
	r1=$!
	wait_job duo
	# both ranks registered and the communicator built
	both_printed 'communicator: 2 ranks' || true
	sleep 0.3
}

# Wait (10 s at most) until both ranks of the duo printed a line matching RE.
both_printed() {   # both_printed RE
	for _ in $(seq 200); do
		grep -q "$1" "$BATS_TEST_TMPDIR/d0.out" 2>/dev/null &&
			grep -q "$1" "$BATS_TEST_TMPDIR/d1.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Both ranks finished, each with every round checked.
duo_done() {
	local iters=$1
	rm -f "$BATS_TEST_TMPDIR/hold"
	run timeout 90 tail --pid="$r0" -f /dev/null
	assert_success
	run timeout 90 tail --pid="$r1" -f /dev/null
	assert_success
	wait "$r0" || { cat "$BATS_TEST_TMPDIR"/d0.* >&2; false; }
	wait "$r1" || { cat "$BATS_TEST_TMPDIR"/d1.* >&2; false; }
	for r in 0 1; do
		grep -q "rounds $iters checked" "$BATS_TEST_TMPDIR/d$r.out"
		grep -q 'PASS nccl_ops' "$BATS_TEST_TMPDIR/d$r.out"
	done
}

# From the sim double's log ($XMIG_SIM_CCL_LOG: "PID init|abort|destroy SERIAL
# NRANKS"): in each proxy that re-linked, every two-rank communicator that was
# replaced was aborted after its replacement was built, never before, and
# was aborted at all (by the retire list). Prints how many were replaced.
retired_after_rebuild() {
	awk '$4 == 2 || $2 != "init" {
		if ($2 == "init") {
			if (cur[$1] != "" && !(($1 " " cur[$1]) in early)) pending[$1 " " cur[$1]] = 1
			cur[$1] = $3
		} else if ($2 == "abort") {
			if (($1 " " $3) in pending) { delete pending[$1 " " $3]; replaced++ }
			else if (cur[$1] == $3) { print "proxy " $1 " aborted communicator " $3 " before its replacement"; early[$1 " " $3] = 1; bad = 1 }
		}
	}
	END {
		for (k in pending) { print "proxy/communicator " k " replaced and never aborted"; bad = 1 }
		if (bad) exit 1
		print replaced + 0
	}' "$1"
}

@test "ccl: one rank of a two-rank job moves at a cut, then the other; results stay exact" {
	export XMIG_SIM_CCL_LOG="$BATS_TEST_TMPDIR/ccl.log"
	start_duo 60
	run --separate-stderr "$XMIG" migrate --job duo --rank 1 --to gpu1 --json
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	[[ "$stderr" =~ communicator\ [0-9a-f]+\ re-linked\ on\ its\ 2\ ranks ]]
	# built and connected ahead by rank 0's proxy and rank 1's standby, put in place at the cut;
	# each connected to the peer it sends to and receives from (nccl_ops's ring of sends)
	[[ "$stderr" =~ communicator\ [0-9a-f]+\ built\ and\ connected\ ahead\ on\ its\ 2\ ranks ]]
	[ "$(cat "$BATS_TEST_TMPDIR"/d*.err | grep -c 'built ahead in .* (peers: 1 sent to, 1 received from)')" = 2 ]
	[[ "$stderr" =~ re-linked\ on\ its\ 2\ ranks\ in\ [0-9.]+\ ms\ \(built\ and\ connected\ ahead ]]
	[ "$(jq -r '.items[0].rank, .items[0].to.gpu' <<<"$output" | tr '\n' ' ')" = "1 1 " ]
	# --json says so too, per communicator
	jq -e '.communicators | length == 1 and (.[0] | .ranks == 2 and .built_ahead and
		.ahead_ms > 0 and .build_ms == 0 and .relink_ms >= 0)' <<<"$output"
	jq -e --slurpfile s "$ROOT/share/schema/migrate.schema.json" \
		'($s[0]."$defs".communicator.required - (.communicators[0] | keys)) == []' <<<"$output"
	sleep 0.3
	run "$XMIG" migrate --job duo --rank 0 --to gpu1
	assert_success
	assert_output --partial 'job duo rank 0: moved'
	# re-linked on both ranks, from a fresh id made by rank 0's new proxy
	assert_output --regexp 'communicator [0-9a-f]+ re-linked on its 2 ranks'
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items[] | .gpu, .state] | join(" ")' <<<"$output")" = "1 running 1 running" ]
	duo_done 60
	# no new proxy built the two-rank communicator on its own
	! cat "$BATS_TEST_TMPDIR"/d*.err | grep -q 'rebuilt' 
	# two re-links, each on a staying proxy: the old communicator built over,
	# then aborted by the retire list (after the thaw, or at the proxy's exit)
	for _ in $(seq 50); do
		[ "$(retired_after_rebuild "$XMIG_SIM_CCL_LOG" 2>/dev/null)" = 2 ] && break
		sleep 0.1
	done
	run retired_after_rebuild "$XMIG_SIM_CCL_LOG"
	cat "$XMIG_SIM_CCL_LOG" >&2
	assert_success
	assert_output 2
}

# Rank 1 of the duo moves to GPU G, rank 0 staying; then rank 0 moves there
# too. Each move is a cut and a re-link.
rank1_then_rank0_to() {   # rank1_then_rank0_to G
	run "$XMIG" migrate --job duo --rank 1 --to "gpu$1"
	assert_success
	run "$XMIG" migrate --job duo --rank 0 --to "gpu$1"
	assert_success
}

# graphed_one_rank JOB NCCL_OPS_ARGS...: a one-rank nccl_ops with its
# all-reduce in a graph, 60 rounds (the last held until it has moved),
# moved about; it must check them all
graphed_one_rank() {
	local job=$1
	shift
	touch "$BATS_TEST_TMPDIR/hold"
	"$XMIG" run --job "$job" -- "$CUDA_BIN/nccl_ops" --iters 60 --sleep-ms 25 --graph-rank 0 \
		--hold-file "$BATS_TEST_TMPDIR/hold" "$@" \
		>"$BATS_TEST_TMPDIR/$job.out" 2>"$BATS_TEST_TMPDIR/$job.err" &
	app=$!
	wait_job "$job"
	for _ in $(seq 200); do grep -q '^communicator:' "$BATS_TEST_TMPDIR/$job.out" && break; sleep 0.05; done
	sleep 0.3
	run "$XMIG" ps --json --job "$job"
	jq -e '.items[0].cuda_graphs == 1 and .items[0].cuda_graphs_unmovable == null' <<<"$output"
	moved_about "$job"
	rm "$BATS_TEST_TMPDIR/hold"
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/$job.err" >&2
	grep -q 'rounds 60 checked' "$BATS_TEST_TMPDIR/$job.out"
	grep -q '^PASS nccl_ops' "$BATS_TEST_TMPDIR/$job.out"
}

@test "ccl: one rank launching its all-reduce from a CUDA graph moves (copy, zero-copy, suspended and resumed): each new proxy captures it again on the communicator it rebuilt" {
	graphed_one_rank ng
}

@test "ccl: a rank launching its all-reduce from a CUDA graph: the job is cut with the graph's launches counted; either rank moves, and the graph is captured again on the re-linked communicator by the rank that stayed and by the one that moved" {
	start_duo 100 0 0 --graph-rank 0
	run "$XMIG" ps --job duo --json
	jq -e '[.items | sort_by(.rank)[] | .cuda_graphs, .cuda_graphs_unmovable] == [1, null, 0, null]' <<<"$output"
	# rank 1 moves: rank 0 stays, its driver graph released at the re-link;
	# then rank 0 moves holding the graph: its new proxy captures it after the re-link
	rank1_then_rank0_to 1
	run "$XMIG" freeze --job duo
	assert_success
	run "$XMIG" thaw --job duo
	assert_success
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items | sort_by(.rank)[] | .gpu, .state] | join(" ")' <<<"$output")" = "1 running 1 running" ]
	duo_done 100
	# the graph's launches were the all-reduces rank 0 posted: with them
	# counted, the cut found both ranks at the same round
	run ! grep -q 'did not reach the cut' "$BATS_TEST_TMPDIR"/d*.err
}

@test "ccl: ps counts a graph that waits to be captured again on its re-linked communicator (cuda_graphs_pending), until its next launch" {
	local pause="$BATS_TEST_TMPDIR/pause"
	# both ranks held in the application after their first round: no launch meanwhile
	touch "$pause"
	start_duo 20 0 0 --graph-rank 0 --pause-file "$pause"
	both_printed '^paused'
	grep -q '^paused after round 0' "$BATS_TEST_TMPDIR/d0.out"
	grep -q '^paused after round 0' "$BATS_TEST_TMPDIR/d1.out"
	run "$XMIG" ps --job duo --json
	jq -e '[.items[] | .cuda_graphs_pending] == [0, 0]' <<<"$output"
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_success
	run "$XMIG" ps --job duo --json
	jq -e '[.items | sort_by(.rank)[] | .cuda_graphs, .cuda_graphs_pending] == [1, 1, 0, 0]' <<<"$output"
	# rank 0 moves with it: its new proxy holds it pending too
	run "$XMIG" migrate --job duo --rank 0 --to gpu1
	assert_success
	run "$XMIG" ps --job duo --json
	jq -e '[.items | sort_by(.rank)[] | .gpu, .cuda_graphs, .cuda_graphs_pending] == [1, 1, 1, 1, 0, 0]' <<<"$output"
	rm "$pause"
	for _ in $(seq 100); do
		run "$XMIG" ps --job duo --json
		jq -e '[.items[] | .cuda_graphs_pending] == [0, 0]' <<<"$output" && break
		sleep 0.05
	done
	jq -e '[.items[] | .cuda_graphs_pending] == [0, 0]' <<<"$output"
	duo_done 20
}

@test "ccl: both ranks launching their all-reduce from CUDA graphs: each moves, then both at one cut; every graph captured again on the re-linked communicator" {
	# (NCCL ends a communicator only once no graph holds its work: the double
	# gives up waiting for that after 300 ms here, and says so)
	export XMIG_SIM_CCL_GRAPH_WAIT_MS=300
	start_duo 100 0 1 --graph-all
	run "$XMIG" ps --job duo --json
	jq -e '[.items[] | .cuda_graphs] == [1, 1]' <<<"$output"
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_success
	run "$XMIG" migrate --job duo --rank 0 --to gpu0
	assert_success
	run "$XMIG" migrate --job duo --to gpu1,gpu0
	assert_success
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items | sort_by(.rank)[] | .gpu] | join(" ")' <<<"$output")" = "1 0" ]
	duo_done 100
	# every old communicator was ended after the graphs on it were released
	for _ in $(seq 100); do pgrep -f "xmig-proxy --job duo .*--keeper $XMIG_RUNTIME_DIR" >/dev/null || break; sleep 0.05; done
	run ! grep -q 'waits for the CUDA graphs holding' "$BATS_TEST_TMPDIR"/d?.err
}

@test "ccl: a graph whose all-reduce uses a PreMulSum op moves, one rank or two: each replay makes the op again for itself" {
	# one rank: moved about (copy, zero-copy, suspended and resumed)
	graphed_one_rank np --graph-premul
	# two ranks, rank 0's graph with the op: rank 1 moves, then rank 0
	start_duo 100 0 0 --graph-rank 0 --graph-premul
	rank1_then_rank0_to 1
	duo_done 100
}

@test "ccl: a rank holding a capture with an all-reduce open is not cut: the job's moves and freeze are refused (4) meanwhile; after, it moves" {
	start_duo 200 0 0 --open-capture-ms 3000
	for _ in $(seq 100); do grep -q '^capture open' "$BATS_TEST_TMPDIR/d0.out" && break; sleep 0.05; done
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_failure 4
	assert_output --partial 'job duo rank 0: ccl.cut_begin: the process is capturing a CUDA graph with NCCL calls on a communicator with peers'
	run "$XMIG" freeze --job duo
	assert_failure 4
	# the capture dropped (3 s after it opened), 200 rounds of 20 ms to go
	sleep 3
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_success
	duo_done 200
}

@test "ccl: a rank held in its first collective while its peer is late (NCCL connecting) is not waited for at the cut: every rank runs on and is stopped again; the job freezes, thaws and finishes" {
	# rank 1 makes its first collective 4 s late; rank 0 waits in its own, in the call
	# (150 rounds, 3 s once rank 1 comes: still running at the migrate after the
	# freeze and thaw, also on a loaded machine, where 30 once ended first)
	start_duo 150 0 1 --late-rank 1 --late-ms 4000
	SECONDS=0
	run --separate-stderr "$XMIG" freeze --job duo --json
	echo "$stderr" >&2
	assert_success
	[[ "$stderr" =~ job\ duo\ rank\ 0\ is\ in\ a\ call\ that\ waits\ for\ its\ peers ]]
	# stopped once rank 1 came, not at a 60 s timeout
	[ "$SECONDS" -lt 30 ]
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items[].state] | join(" ")' <<<"$output")" = "frozen frozen" ]
	run "$XMIG" thaw --job duo
	assert_success
	run "$XMIG" migrate --job duo --to gpu1,gpu0
	assert_success
	duo_done 150
}

# The job ends (both ranks killed) while `xmig CMD ARGS...` cuts it: said, exit 3.
ended_mid_cut() {   # ended_mid_cut CMD ARGS...
	# rank 0 waits in its first collective for rank 1, 4 s late: the cut retries meanwhile
	start_duo 30 0 1 --late-rank 1 --late-ms 4000
	"$XMIG" "$@" 2>"$BATS_TEST_TMPDIR/cut.err" &
	cut=$!
	for _ in $(seq 100); do grep -q 'waits for its peers' "$BATS_TEST_TMPDIR/cut.err" && break; sleep 0.05; done
	kill -9 $r0 $r1
	st=0
	wait $cut || st=$?
	cat "$BATS_TEST_TMPDIR/cut.err" >&2
	[ $st -eq 3 ]
	grep -q "^xmig: error: job duo ended while its ranks were being stopped" "$BATS_TEST_TMPDIR/cut.err"
	run ! grep -q 'could not be stopped at a consistent cut' "$BATS_TEST_TMPDIR/cut.err"
}

@test "ccl: a job that ends while freeze cuts its ranks: said, exit 3 (no such job), not a failed cut" {
	ended_mid_cut freeze --job duo
}

@test "ccl: a job that ends while migrate cuts its ranks: said, exit 3 (no such job), nothing moved" {
	# (one rank: its standby, prepared ahead at once, does not wait for rank 0's call)
	ended_mid_cut migrate --job duo --rank 1 --to gpu0
}

@test "ccl: a rank killed while its collective waits for a peer that never comes: its proxy exits within seconds; the survivor cannot move (4); its next call fails" {
	touch "$BATS_TEST_TMPDIR/pause"
	# rank 1 stops after round 0; rank 0 goes on and waits in round 1's collective
	start_duo 100 0 1 --pause-file "$BATS_TEST_TMPDIR/pause" --pause-rank 1
	both_printed '^communicator'
	for _ in $(seq 100); do grep -q '^paused after round 0' "$BATS_TEST_TMPDIR/d1.out" && break; sleep 0.05; done
	sleep 0.5
	proxy0=$("$XMIG" ps --json --job duo | jq -r '.items[] | select(.rank == 0) | .proxy_pid')
	kill -9 $r0
	# the sim double would wait 120 s for rank 1 (NCCL's kernel: for ever)
	run timeout 10 tail --pid="$proxy0" -f /dev/null
	assert_success
	grep -q 'the application exited, and a call still waits on the GPU 2 s later' "$BATS_TEST_TMPDIR/d0.err"
	run "$XMIG" ps --json --job duo
	[ "$(jq -r '[.items[].rank] | join(" ")' <<<"$output")" = 1 ]
	# the survivor's communicator cannot be re-linked without rank 0: a move is refused, by --dry-run too
	for dry in --dry-run ""; do
		run "$XMIG" migrate --job duo --to gpu0 $dry
		[ "$status" -eq 4 ]
		assert_output --partial "its NCCL communicators have 2 ranks, and 1 of them runs here"
	done
	run "$XMIG" ps --json --job duo
	[ "$(jq -r '.items[] | "\(.rank) \(.gpu) \(.state)"' <<<"$output")" = "1 1 running" ]
	# rank 1 goes on: its collective learns that rank 0 is gone and fails; the job ends
	rm "$BATS_TEST_TMPDIR/pause"
	run timeout 20 tail --pid="$r1" -f /dev/null
	assert_success
	run wait $r1
	assert_failure
	grep -q "rank 0's process is gone" "$BATS_TEST_TMPDIR/d1.err"
	no_proxy_left
}

@test "ccl: an all-reduce captured into a graph that was dropped unlaunched is not counted at the cut: the job's ranks move" {
	start_duo 60 0 0 --graph-rank 0 --graph-drop
	run "$XMIG" ps --job duo --json
	jq -e '[.items[] | .cuda_graphs] == [0, 0]' <<<"$output"
	rank1_then_rank0_to 1
	duo_done 60
}

@test "ccl: a communicator split from the job's (its ranks in reverse order) is re-linked with it at each move: either rank, then both swapped; every round exact" {
	start_duo 60 0 1 --split
	both_printed '^split:'
	grep -q '^split: 2 ranks, reversed' "$BATS_TEST_TMPDIR/d0.out"
	grep -q '^split: 2 ranks, reversed' "$BATS_TEST_TMPDIR/d1.out"
	run "$XMIG" migrate --job duo --rank 1 --to gpu0
	assert_success
	# two communicators of 2 ranks: both re-linked, the split one from its rank 0 (job rank 1)
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$output")" = 2 ]
	run "$XMIG" migrate --job duo --rank 0 --to gpu1
	assert_success
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$output")" = 2 ]
	run "$XMIG" migrate --job duo --to gpu0,gpu1
	assert_success
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$output")" = 2 ]
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items | sort_by(.rank)[] | .gpu] | join(" ")' <<<"$output")" = "0 1" ]
	duo_done 60
	run ! grep -q 'rebuilt' "$BATS_TEST_TMPDIR"/d*.err
}

@test "ccl: a two-rank job on two GPUs moved at one cut to a target per rank (swapped, then a fresh pair in place)" {
	start_duo 60 0 1
	run --separate-stderr "$XMIG" migrate --job duo --to gpu1,gpu0 --json
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	[ "$(jq -c '[.items | sort_by(.rank)[] | .rank, .from.gpu, .to.gpu]' <<<"$output")" = '[0,0,1,1,1,0]' ]
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$stderr")" -eq 1 ]
	run --separate-stderr "$XMIG" migrate --job duo --to gpu1,gpu0 --json
	assert_success
	[ "$(jq -c '[.items | sort_by(.rank)[] | .rank, .from.gpu, .to.gpu]' <<<"$output")" = '[0,1,1,1,0,0]' ]
	# a list that does not give each rank one target, or one with --rank: refused, nothing moves
	run "$XMIG" migrate --job duo --to gpu0,gpu1,gpu1
	assert_equal "$status" 2
	assert_output --partial "has 2 processes to move and --to names 3 targets"
	run "$XMIG" migrate --job duo --rank 1 --to gpu0,gpu1
	assert_equal "$status" 2
	[ "$("$XMIG" ps --json --job duo | jq -c '[.items | sort_by(.rank)[] | .gpu]')" = '[1,0]' ]
	duo_done 60
}

@test "ccl: migrate ended by SIGTERM once one rank of a cut is on its new proxy: it finishes the move first (the ranks re-linked and thawed), then ends; the job goes on" {
	start_duo 300 0 1
	XMIG_FAULT=commit-delay-ms=3000 "$XMIG" migrate --job duo --to gpu1,gpu0 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>"$BATS_TEST_TMPDIR/mig.err" &
	mig=$!
	# (the first rank to move, whichever: its GPU changes; the other's commit waits 3 s)
	for _ in $(seq 300); do
		[ "$("$XMIG" ps --json --job duo | jq -c '[.items | sort_by(.rank)[] | .gpu]')" != '[0,1]' ] &&
			break
		sleep 0.05
	done
	kill -TERM $mig || { cat "$BATS_TEST_TMPDIR/mig.err" >&2; false; }
	run timeout 60 tail --pid=$mig -f /dev/null
	assert_success
	cat "$BATS_TEST_TMPDIR/mig.err" >&2
	for _ in $(seq 100); do
		[ "$("$XMIG" ps --json --job duo | jq -r '[.items[].state] | join(" ")')" = "running running" ] &&
			break
		sleep 0.05
	done
	[ "$("$XMIG" ps --json --job duo | jq -c '[.items | sort_by(.rank)[] | .gpu, .state]')" = \
		'[1,"running",0,"running"]' ]
	duo_done 300
}

@test "ccl: every rank of a two-rank job moved at one cut, re-linked once" {
	start_duo 50
	run --separate-stderr "$XMIG" migrate --job duo --to gpu1 --json
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	[ "$(jq -c '[.items | sort_by(.rank)[] | .rank, .to.gpu]' <<<"$output")" = '[0,1,1,1]' ]
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$stderr")" -eq 1 ]
	duo_done 50
}

# `xmig migrate --job duo ARGS...` on a running duo, slowed by a fault in
# the prelude the standbys' prepare takes (and the transfer): at some
# moment there are NSTANDBY standbys while both ranks run, each on its old
# proxy; then each rank moved re-links. Prints migrate's output.
prepared_while_running() {   # prepared_while_running NSTANDBY ARGS...
	local want=$1 old seen= now
	shift
	old=$("$XMIG" ps --json --job duo | jq -r '[.items | sort_by(.rank)[] | .proxy_pid] | join(" ")')
	XMIG_FAULT=xfer-delay-ms=300 "$XMIG" migrate --job duo "$@" >"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	for _ in $(seq 300); do
		if [ "$(pgrep -fc "xmig-proxy --standby .*--keeper $XMIG_RUNTIME_DIR")" = "$want" ]; then
			now=$("$XMIG" ps --json --job duo |
				jq -r '[.items | sort_by(.rank)[] | "\(.state) \(.proxy_pid)"] | join(" ")')
			[ "$now" = "running ${old% *} running ${old#* }" ] && { seen=1; break; }
		fi
		sleep 0.02
	done
	wait $mig
	cat "$BATS_TEST_TMPDIR/mig.out" >&2
	[ -n "$seen" ]
}

@test "ccl: a rank's standby starts and prepares while the job runs; the ranks are held at the cut only for the transfer and the re-link" {
	start_duo 200
	prepared_while_running 1 --rank 1 --to gpu1
	grep -q 'job duo rank 1: moved from vm:gpu0 to vm:gpu1' "$BATS_TEST_TMPDIR/mig.out"
	[ "$(grep -c 're-linked on its 2 ranks' "$BATS_TEST_TMPDIR/mig.out")" = 1 ]
	duo_done 200
}

@test "ccl: ranks swapping GPUs that fit on both at once start both standbys while the job runs" {
	start_duo 200 0 1
	prepared_while_running 2 --to gpu1,gpu0
	grep -q 'job duo rank 0: moved from vm:gpu0 to vm:gpu1' "$BATS_TEST_TMPDIR/mig.out"
	grep -q 'job duo rank 1: moved from vm:gpu1 to vm:gpu0' "$BATS_TEST_TMPDIR/mig.out"
	[ "$(grep -c 're-linked on its 2 ranks' "$BATS_TEST_TMPDIR/mig.out")" = 1 ]
	run "$XMIG" ps --json --job duo
	[ "$(jq -r '[.items | sort_by(.rank)[] | .gpu] | join(" ")' <<<"$output")" = "1 0" ]
	duo_done 200
}

@test "ccl: a move whose cut lets the ranks run on (a late peer) prepares its standby again at the cut; the rank moves" {
	# rank 1 sleeps 3 s (its standby is prepared at once), while rank 0
	# waits in its first collective for it: the cut retries meanwhile
	start_duo 60 0 1 --late-rank 1 --late-ms 3000
	run "$XMIG" migrate --job duo --rank 1 --to gpu0
	assert_success
	assert_output --partial 'job duo rank 0 is in a call that waits for its peers'
	assert_output --partial 'job duo rank 1: moved from vm:gpu1 to vm:gpu0'
	[ "$(grep -c 're-linked on its 2 ranks' <<<"$output")" = 1 ]
	duo_done 60
}

# In proxy PID's lines of the sim double's log: two-rank communicators made, aborted.
ccl_log_count() {   # ccl_log_count PID init|abort
	awk -v p="$1" -v w="$2" '$1 == p && $2 == w && $4 == 2' "$XMIG_SIM_CCL_LOG" | wc -l
}

@test "ccl: the target proxy killed mid-transfer of a multi-rank move: rolled back, both go on; the communicator built ahead is retired, the next move builds another" {
	export XMIG_SIM_CCL_LOG="$BATS_TEST_TMPDIR/ccl.log"
	# (long enough to outlive the standby's prepare ahead, slowed by the fault, and the cut)
	start_duo 300
	p0=$("$XMIG" ps --json --job duo | jq -r '.items[] | select(.rank == 0) | .proxy_pid')
	XMIG_FAULT=xfer-delay-ms=400 "$XMIG" migrate --job duo --rank 1 --to gpu1 \
		>"$BATS_TEST_TMPDIR/mig.out" 2>&1 &
	mig=$!
	kill_standby duo
	st=0
	wait $mig || st=$?
	cat "$BATS_TEST_TMPDIR/mig.out" "$XMIG_SIM_CCL_LOG" >&2
	assert_equal "$st" 1
	run cat "$BATS_TEST_TMPDIR/mig.out"
	assert_output --partial 'built and connected ahead on its 2 ranks'
	assert_output --partial 'nothing was moved; every rank goes on where it was'
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items[] | .gpu, .state] | join(" ")' <<<"$output")" = "0 running 0 running" ]
	# rank 0's proxy: the job's communicator and the one built ahead; that
	# one aborted once the orchestrator's connection closed, the job's not
	[ "$(ccl_log_count "$p0" init)" = 2 ]
	for _ in $(seq 50); do [ "$(ccl_log_count "$p0" abort)" = 1 ] && break; sleep 0.1; done
	[ "$(ccl_log_count "$p0" abort)" = 1 ]
	run --separate-stderr "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_success
	[[ "$stderr" =~ re-linked\ on\ its\ 2\ ranks\ in\ [0-9.]+\ ms\ \(built\ and\ connected\ ahead ]]
	duo_done 300
}

@test "ccl: a rank that cannot build its communicator ahead: no rank starts the build (said); the cut re-links it as before" {
	export XMIG_SIM_CCL_LOG="$BATS_TEST_TMPDIR/ccl.log"
	start_duo 60
	p0=$("$XMIG" ps --json --job duo | jq -r '.items[] | select(.rank == 0) | .proxy_pid')
	# (the standby has the command's XMIG_ settings: only rank 1's refuses)
	run --separate-stderr env XMIG_FAULT=ccl-prelink-fail "$XMIG" migrate --job duo --rank 1 --to gpu1
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	[[ "$stderr" =~ could\ not\ be\ built\ ahead\ \(job\ duo\ rank\ 1:\ XMIG_FAULT=ccl-prelink-fail\)\;\ the\ cut\ builds\ it ]]
	[[ "$stderr" =~ re-linked\ on\ its\ 2\ ranks\ in\ [0-9.]+\ ms\ \(NCCL\'s\ build ]]
	# rank 0's proxy: the job's communicator, and the cut's; none ahead
	[ "$(ccl_log_count "$p0" init)" = 2 ]
	duo_done 60
}

@test "ccl: a rank that builds its communicator ahead and never connects it: its peer gives up (XMIG_CCL_PRELINK_TIMEOUT_MS), both aborted; the cut re-links as before" {
	export XMIG_SIM_CCL_LOG="$BATS_TEST_TMPDIR/ccl.log"
	start_duo 100
	p0=$("$XMIG" ps --json --job duo | jq -r '.items[] | select(.rank == 0) | .proxy_pid')
	run --separate-stderr env XMIG_FAULT=ccl-prelink-no-connect XMIG_CCL_PRELINK_TIMEOUT_MS=500 \
		"$XMIG" migrate --job duo --rank 1 --to gpu1
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	[[ "$stderr" =~ could\ not\ be\ built\ ahead\ \(job\ duo\ rank\ 0:.*not\ connected:\ the\ ranks\ did\ not\ meet\ in\ its\ first\ collective\ within\ 500\ ms ]]
	[[ "$stderr" =~ re-linked\ on\ its\ 2\ ranks\ in\ [0-9.]+\ ms\ \(NCCL\'s\ build ]]
	# rank 0's proxy: the job's communicator, the one built ahead (aborted
	# when its connect timed out), the cut's
	[ "$(ccl_log_count "$p0" init)" = 3 ]
	[ "$(ccl_log_count "$p0" abort)" -ge 1 ]
	duo_done 100
}

@test "ccl: XMIG_CCL_PRELINK=0: the communicators are built at the cut" {
	start_duo 60
	run --separate-stderr env XMIG_CCL_PRELINK=0 "$XMIG" migrate --job duo --rank 1 --to gpu1 --json
	assert_success
	[[ ! "$stderr" =~ ahead\ on\ its ]]
	[[ "$stderr" =~ re-linked\ on\ its\ 2\ ranks\ in\ [0-9.]+\ ms\ \(NCCL\'s\ build ]]
	jq -e '.communicators | length == 1 and (.[0] | .ranks == 2 and (.built_ahead | not) and
		.ahead_ms == 0)' <<<"$output"
	duo_done 60
}

@test "ccl: suspend of a rank whose communicator has peers is refused (a resume could not re-link it); both go on" {
	start_duo 40
	run "$XMIG" suspend --job duo -o "$BATS_TEST_TMPDIR/snap"
	assert_failure 4
	assert_output --partial 'NCCL communicator of 2 ranks'
	assert_output --partial 'nothing was suspended, the job goes on'
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items[] | .state] | join(" ")' <<<"$output")" = "running running" ]
	duo_done 40
}

@test "ccl: freeze --job of a two-rank job stops both ranks at one cut" {
	start_duo 40
	run --separate-stderr "$XMIG" freeze --job duo --json
	assert_success
	[ "$(jq -c '[.items | sort_by(.rank)[] | .rank, .cut]' <<<"$output")" = '[0,true,1,true]' ]
	# both stay frozen (persistent) once this command is gone
	sleep 0.5
	run "$XMIG" ps --job duo --json
	[ "$(jq -r '[.items[] | .state] | join(" ")' <<<"$output")" = "frozen frozen" ]
	# a job frozen by hand is not cut again for a move
	run "$XMIG" migrate --job duo --rank 1 --to gpu1
	assert_failure 4
	assert_output --partial 'cut together while they all run'
	run "$XMIG" thaw --job duo
	assert_success
	duo_done 40
}
