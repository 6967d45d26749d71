#!/usr/bin/env bats
# cudnn.bats - cuDNN's backend (graph) API forwarded to the proxy, on the
# sim device, whose cuDNN is a test double (proxy/server/dnn-sim.c): it
# keeps descriptors and attributes, writes what it makes to
# $XMIG_SIM_CUDNN_LOG, and cannot execute. So these tests check the
# forwarding, the ids, the log and the replay after a move; executing a
# plan is checked on a GPU (tests/gpu/check.sh, tests/torch/run.sh).

load ../helpers

setup() {
	xmig_setup
	export XMIG_SIM_CUDNN_LOG="$BATS_TEST_TMPDIR/cudnn.log"
}
teardown() { xmig_teardown; }

# What proxy $1 made, from the double's log (without the pid).
made_by() { grep "^$1 " "$XMIG_SIM_CUDNN_LOG" | cut -d' ' -f2-; }

@test "cudnn: a graph, heuristics and a plan built through the backend API" {
	need_program dnn_graph
	run --separate-stderr "$XMIG" run -- "$CUDA_BIN/dnn_graph" --no-execute --iters 3
	[ "$status" -eq 0 ] || echo "$stderr" >&2
	assert_success
	assert_output "graph: 2 pointwise operations, 5 tensors, finalized
heuristics: engine configurations found
plan: finalized
rounds 3 checked
PASS dnn_graph"
	# What reached the double: 5 tensors, 2 pointwise descriptors and 2
	# operations, the graph, the heuristics, 1 engine config, 1 plan.
	run grep -c "create descriptor" "$XMIG_SIM_CUDNN_LOG"
	assert_output 13
	grep -q "set d15 attr 801 type 15 count 2 \[d13,d13\]" "$XMIG_SIM_CUDNN_LOG"
	grep -q "fill d4 attr 202 -> \[d3\]" "$XMIG_SIM_CUDNN_LOG"
}

@test "cudnn: descriptors built before a move are made again after it, in call order, ahead of the freeze" {
	need_program dnn_graph
	"$XMIG" run --job dn -- "$CUDA_BIN/dnn_graph" --no-execute --iters 60 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/dn.out" 2>"$BATS_TEST_TMPDIR/dn.err" &
	app=$!
	wait_job dn
	for _ in $(seq 100); do grep -q "finalize d5" "$XMIG_SIM_CUDNN_LOG" 2>/dev/null && break; sleep 0.05; done
	first=$(proxy_pid dn)
	run --separate-stderr "$XMIG" migrate --job dn --to gpu1 --json
	assert_success
	# made while the job still ran, and kept at the freeze: none made frozen
	echo "$output" | jq -e '.items[0].objects | .ahead >= 14 and .kept == .ahead and .made == 0'
	second=$(proxy_pid dn)
	[ "$first" != "$second" ]
	run "$XMIG" suspend --job dn -o "$BATS_TEST_TMPDIR/snap"
	assert_success
	jq -e '.cudnn.objects | length == 14 and (map(select(.kind == "handle")) | length == 1)' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	jq -e '.cudnn.steps | map(select(.op == "fill")) | length == 1' \
		"$BATS_TEST_TMPDIR/snap/manifest.json"
	run "$XMIG" resume --job dn --to gpu0
	assert_success
	third=$(proxy_pid dn)
	wait "$app"
	cat "$BATS_TEST_TMPDIR/dn.err" >&2
	assert_equal "$(tail -n 2 "$BATS_TEST_TMPDIR/dn.out")" "rounds 60 checked
PASS dnn_graph"
	# The same objects, and the same calls in the same order, each time.
	diff -u <(made_by "$first" | sort) <(made_by "$second" | sort)
	diff -u <(made_by "$first" | grep -v '^create') <(made_by "$second" | grep -v '^create')
	diff -u <(made_by "$first" | grep -v '^create') <(made_by "$third" | grep -v '^create')
	# Handles first, then the descriptors.
	assert_equal "$(made_by "$second" | head -n 2)" "create handle
stream handle"
}

@test "cudnn: a move's freeze sends the log as a delta to the prelude's; a standby without it gets it whole" {
	need_program dnn_graph
	"$XMIG" run --job dd -- "$CUDA_BIN/dnn_graph" --no-execute --iters 80 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/dd.out" 2>"$BATS_TEST_TMPDIR/dd.err" &
	app=$!
	wait_job dd
	for _ in $(seq 100); do grep -q "finalize d5" "$XMIG_SIM_CUDNN_LOG" 2>/dev/null && break; sleep 0.05; done
	# (a new proxy's trace goes to the job's stderr)
	XMIG_MOVE_TRACE=1 "$XMIG" migrate --job dd --to gpu1 --json >"$BATS_TEST_TMPDIR/m1.json"
	jq -e '.items[0].objects | .ahead >= 14 and .made == 0' "$BATS_TEST_TMPDIR/m1.json"
	second=$(proxy_pid dd)
	# the standby's replay ahead fails: it holds no log, so the whole one comes
	XMIG_FAULT=dnn-ahead-fail XMIG_MOVE_TRACE=1 "$XMIG" migrate --job dd --to gpu0 --json \
		>"$BATS_TEST_TMPDIR/m2.json"
	jq -e '.items[0].objects.made >= 14' "$BATS_TEST_TMPDIR/m2.json"
	third=$(proxy_pid dd)
	wait "$app"
	cat "$BATS_TEST_TMPDIR/dd.err" >&2
	assert_equal "$(tail -n 2 "$BATS_TEST_TMPDIR/dd.out")" "rounds 80 checked
PASS dnn_graph"
	run grep -o "cuDNN log [a-z ]*" "$BATS_TEST_TMPDIR/dd.err"
	assert_output "cuDNN log as a delta
cuDNN log whole"
	# the same calls in the same order, by either way
	diff -u <(made_by "$second" | grep -v '^create') <(made_by "$third" | grep -v '^create')
}

@test "cudnn: descriptors made while the new proxy prepares come in a refresh of the prelude, the log made ahead brought up to date, not replayed again" {
	need_program dnn_graph
	# --churn: a new tensor descriptor each round, the last one destroyed
	"$XMIG" run --job dc -- "$CUDA_BIN/dnn_graph" --no-execute --churn --iters 120 --sleep-ms 25 \
		>"$BATS_TEST_TMPDIR/dc.out" 2>"$BATS_TEST_TMPDIR/dc.err" &
	app=$!
	wait_job dc
	for _ in $(seq 100); do grep -q "finalize d5" "$XMIG_SIM_CUDNN_LOG" 2>/dev/null && break; sleep 0.05; done
	# the new proxy waits 300 ms (a dozen rounds) after its prelude
	XMIG_FAULT=ahead-pause-ms=300 XMIG_MOVE_TRACE=1 "$XMIG" migrate --job dc --to gpu1 --json \
		>"$BATS_TEST_TMPDIR/m.json"
	second=$(proxy_pid dc)
	wait "$app"
	cat "$BATS_TEST_TMPDIR/dc.err" >&2
	assert_equal "$(tail -n 2 "$BATS_TEST_TMPDIR/dc.out")" "rounds 120 checked
PASS dnn_graph"
	jq -e '.items[0].objects | .refreshes == 1 and .made <= 1' "$BATS_TEST_TMPDIR/m.json"
	grep -q 'receive: prelude refreshed in' "$BATS_TEST_TMPDIR/dc.err"
	# the graph and the plan finalized once by the new proxy: made in the
	# prelude, kept through the refresh (a replay there would make them again)
	assert_equal "$(made_by "$second" | grep -c '^finalize d15$')" 1
	assert_equal "$(made_by "$second" | grep -c '^finalize d5$')" 1
}

# A C program calling the facade as PyTorch's binary would (dlopen'ed here).
build_caller() {
	cat >"$BATS_TEST_TMPDIR/t.c" <<-'C'
	#include <dlfcn.h>
	#include <stdint.h>
	#include <stdio.h>
	#define F(lib, ret, name, ...) ret (*name)(__VA_ARGS__) = (ret (*)(__VA_ARGS__))dlsym(lib, #name)
	int main(void) {
		void *d = dlopen("libcudnn.so.9", RTLD_NOW), *rt = dlopen("libcudart.so.13", RTLD_NOW);
		if (!d || !rt) { printf("dlopen: %s\n", dlerror()); return 1; }
		F(d, int, cudnnCreate, void **);
		F(d, int, cudnnBackendCreateDescriptor, int, void **);
		F(d, int, cudnnBackendFinalize, void *);
		F(d, int, cudnnBackendExecute, void *, void *, void *);
		F(d, int, cudnnBackendSetAttribute, void *, int, int, int64_t, const void *);
		F(d, int, cudnnConvolutionForward, void);
		F(d, size_t, cudnnGetVersion, void);
		F(d, const char *, cudnnGetErrorString, int);
		F(d, void, cudnnGetLastErrorString, char *, size_t);
		F(rt, int, cudaDeviceSynchronize, void);
		void *h, *plan, *vp; char msg[256];
		printf("version %d\n", cudnnGetVersion() >= 90000);
		printf("create %d\n", cudnnCreate(&h));
		int st = cudnnBackendCreateDescriptor(5, &plan);
		printf("plan %d %d\n", st, cudnnBackendFinalize(plan));
		st = cudnnBackendCreateDescriptor(16, &vp);
		printf("override shapes %d\n", cudnnBackendSetAttribute(vp, 1011, 3, 0, NULL));
		printf("variant pack %d %d\n", st, cudnnBackendFinalize(vp));
		printf("unknown attribute type %d\n", cudnnBackendSetAttribute(plan, 400, 99, 1, &h));
		printf("execute %d\n", cudnnBackendExecute(h, plan, vp));
		printf("synchronize %d\n", cudaDeviceSynchronize());
		cudnnGetLastErrorString(msg, sizeof(msg));
		printf("last error: %s\n", msg);
		printf("%s\n", cudnnGetErrorString(3000));
		printf("cudnnConvolutionForward %d\n", cudnnConvolutionForward());
		return 0;
	}
	C
	cc -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" -ldl || skip "no C compiler"
}

@test "cudnn: Execute on the sim device fails loudly (no cuDNN kernels); legacy calls fail loudly" {
	build_caller
	run --separate-stderr "$XMIG" run -- "$BATS_TEST_TMPDIR/t"
	assert_success
	# Execute is posted: its failure comes at the next synchronising call.
	assert_output "version 1
create 0
plan 0 0
override shapes 3000
variant pack 0 0
unknown attribute type 3000
execute 0
synchronize 999
last error: sim device (test double): cudnnBackendExecute cannot run, there are no cuDNN kernels here
CUDNN_STATUS_NOT_SUPPORTED
cudnnConvolutionForward 3000"
	assert_equal "$(sed 's/^xmig-proxy\[[0-9]*\]/proxy/' <<<"$stderr")" \
		"xmig: error: cudnnBackendSetAttribute of a variant pack (attribute 1011) is not supported
xmig: error: cudnnBackendSetAttribute of an attribute type unknown to xmig is not supported
proxy: error: sim device (test double): cudnnBackendExecute cannot run, there are no cuDNN kernels here
proxy: error: cudnnBackendExecute of plan 2 on handle 1 failed with status 3000
xmig: error: cudnnConvolutionForward is not supported"
}
