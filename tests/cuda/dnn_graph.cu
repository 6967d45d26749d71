/*
 * dnn_graph.cu - cuDNN's backend (graph) API driven directly, as cuDNN's
 * frontend drives it for PyTorch: Z = X * s + Y as a graph of two
 * pointwise operations (s a by-value scalar on the host, the product a
 * virtual tensor), heuristics filling engine configurations, a plan,
 * and per round a fresh variant pack and an Execute.
 *
 *   dnn_graph [--iters N] [--sleep-ms M] [--no-execute [--churn] | --capture [--drop-plan]]
 * --no-execute builds the plan and then, each round, reads attributes
 * back (a tensor's dimensions, the plan's handle, the heuristics' count)
 * instead of executing: the sim test device has no cuDNN kernels, but
 * keeps descriptors, so a move can be checked there too. --churn also
 * makes a new tensor descriptor each round and destroys the last one (as
 * a variant pack per step would), so that the cuDNN log changes while a
 * move prepares.
 * --capture captures a fill and the plan's Execute (s = 3) into a CUDA
 * graph once, as PyTorch's torch.cuda.graph does with its convolutions,
 * then each round writes new X and launches the graph; --drop-plan
 * destroys the plan and its variant pack after the capture (the graph
 * still runs: cuDNN's kernels took their arguments at the capture).
 */
#include <unistd.h>

#include <cudnn.h>

#include "xtest.h"

#define D(call) dnn_check((call), #call, __LINE__)
static void dnn_check(cudnnStatus_t st, const char *call, int line)
{
	if (st != CUDNN_STATUS_SUCCESS)
		xt_fail("line %d: %s returned %s", line, call, cudnnGetErrorString(st));
}

enum { UID_X = 1, UID_Y, UID_S, UID_T, UID_Z };
static const int64_t dims[3] = { 1, 64, 128 }, strides[3] = { 64 * 128, 128, 1 };
#define N (64 * 128)

static cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type)
{
	cudnnBackendDescriptor_t d;

	D(cudnnBackendCreateDescriptor(type, &d));
	return d;
}

static void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
		cudnnBackendAttributeType_t type, int64_t count, const void *v)
{
	D(cudnnBackendSetAttribute(d, name, type, count, v));
}

static cudnnBackendDescriptor_t tensor(int64_t uid, bool scalar, bool is_virtual)
{
	static const int64_t one[3] = { 1, 1, 1 };
	cudnnBackendDescriptor_t t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
	cudnnDataType_t dt = CUDNN_DATA_FLOAT;
	int64_t align = 16;

	set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
	set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 3, scalar ? one : dims);
	set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 3, scalar ? one : strides);
	set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
	if (scalar)
		set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &scalar);
	if (is_virtual)
		set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
	D(cudnnBackendFinalize(t));
	return t;
}

static cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x,
					  cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y)
{
	cudnnBackendDescriptor_t pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
	cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
	cudnnDataType_t prec = CUDNN_DATA_FLOAT;

	set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
	set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
	D(cudnnBackendFinalize(pw));
	set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
	set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
	set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
	set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
	D(cudnnBackendFinalize(op));
	return op;
}

/*
 * --capture: Z = X * 3 + Y, captured once (after a fill of Z that the
 * check would catch), launched each round on new X. *plan is destroyed
 * after the capture with --drop-plan.
 */
static void run_captured(cudnnHandle_t h, cudnnBackendDescriptor_t plan,
			 cudnnBackendDescriptor_t *planp, void *workspace, float *dx, float *dy,
			 float *dz, float *hx, const float *hy, float *hz, long iters, long sleep_ms,
			 long drop_plan)
{
	float scale = 3;
	int64_t uids[4] = { UID_X, UID_Y, UID_S, UID_Z };
	void *ptrs[4] = { dx, dy, &scale, dz };
	cudnnBackendDescriptor_t vp = make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
	cudaStream_t stream;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	size_t nodes = 0;

	D(cudnnGetStream(h, &stream));
	set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 4, uids);
	set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 4, ptrs);
	set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
	D(cudnnBackendFinalize(vp));
	CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
	CK(cudaMemsetAsync(dz, 0xff, N * sizeof(float), stream));
	D(cudnnBackendExecute(h, plan, vp));
	CK(cudaStreamEndCapture(stream, &graph));
	CK(cudaGraphInstantiate(&exec, graph, 0));
	CK(cudaGraphGetNodes(graph, NULL, &nodes));
	CK(cudaGraphDestroy(graph));   /* (the executable graph is what runs) */
	D(cudnnBackendDestroyDescriptor(vp));
	/* (elsewhere now: a proxy that captures the graph again must set it back for that) */
	D(cudnnSetStream(h, NULL));
	if (drop_plan) {
		D(cudnnBackendDestroyDescriptor(plan));
		*planp = NULL;
	}
	printf("captured: a fill and the plan's Execute%s%s\n", nodes >= 2 ? "" : " (too few nodes)",
	       drop_plan ? ", the plan destroyed since" : "");
	for (long r = 0; r < iters; r++) {
		long long sum = 0;

		for (int i = 0; i < N; i++)
			hx[i] = (float)(i % 7 - 3 + r % 4);
		CK(cudaMemcpy(dx, hx, N * sizeof(float), cudaMemcpyHostToDevice));
		CK(cudaGraphLaunch(exec, stream));
		CK(cudaStreamSynchronize(stream));
		CK(cudaMemcpy(hz, dz, N * sizeof(float), cudaMemcpyDeviceToHost));
		for (int i = 0; i < N; i++) {
			if (hz[i] != hx[i] * 3 + hy[i])
				xt_fail("graph round %ld: z[%d] = %g, not %g", r, i, hz[i],
					hx[i] * 3 + hy[i]);
			sum += (long long)hz[i];
		}
		printf("graph round %ld: z = x * 3 + y, x %+ld, sum %lld\n", r, r % 4, sum);
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	CK(cudaGraphExecDestroy(exec));
	printf("graph rounds %ld checked\n", iters);
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0, no_execute = 0, capture = 0, drop_plan = 0, churn = 0;
	cudnnHandle_t h, got_h = NULL;
	cudnnBackendDescriptor_t x, y, s, t, z, ops[2], graph, heur, plan = NULL, *cfgs;
	cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
	int64_t nresults = 0, got, got_dims[3], workspace_size = 0;
	float *hx, *hy, *hz, *dx, *dy, *dz;
	void *workspace = NULL;
	cudaStream_t stream;

	xt_begin("dnn_graph");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 60000, &sleep_ms)) {
			if (!strcmp(argv[i], "--no-execute"))
				no_execute = 1;
			else if (!strcmp(argv[i], "--capture"))
				capture = 1;
			else if (!strcmp(argv[i], "--drop-plan"))
				drop_plan = 1;
			else if (!strcmp(argv[i], "--churn"))
				churn = 1;
			else
				xt_fail("unknown option %s", argv[i]);
		}
	if (drop_plan && !capture)
		xt_fail("--drop-plan goes with --capture");
	if (churn && !no_execute)
		xt_fail("--churn goes with --no-execute");

	D(cudnnCreate(&h));
	CK(cudaStreamCreate(&stream));
	D(cudnnSetStream(h, stream));
	x = tensor(UID_X, false, false);
	y = tensor(UID_Y, false, false);
	s = tensor(UID_S, true, false);
	t = tensor(UID_T, false, true);
	z = tensor(UID_Z, false, false);
	ops[0] = pointwise(CUDNN_POINTWISE_MUL, x, s, t);
	ops[1] = pointwise(CUDNN_POINTWISE_ADD, t, y, z);
	graph = make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
	set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, ops);
	set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
	D(cudnnBackendFinalize(graph));
	printf("graph: 2 pointwise operations, 5 tensors, finalized\n");

	heur = make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
	set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
	set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
	D(cudnnBackendFinalize(heur));
	D(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
				   CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &nresults, NULL));
	if (nresults < 1)
		xt_fail("heuristics found no engine configuration");
	cfgs = (cudnnBackendDescriptor_t *)xt_malloc(nresults * sizeof(*cfgs));
	for (int64_t i = 0; i < nresults; i++)
		cfgs[i] = make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
	D(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
				   CUDNN_TYPE_BACKEND_DESCRIPTOR, nresults, &got, cfgs));
	printf("heuristics: engine configurations found\n");
	/* The first configuration that makes a plan, as the frontend does. */
	for (int64_t i = 0; i < (got < nresults ? got : nresults) && !plan; i++) {
		plan = make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
		set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
		set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		    &cfgs[i]);
		if (cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS) {
			D(cudnnBackendDestroyDescriptor(plan));
			plan = NULL;
		}
	}
	if (!plan)
		xt_fail("no engine configuration makes a plan");
	printf("plan: finalized\n");

	if (no_execute) {
		cudnnBackendDescriptor_t churned = NULL;

		for (long r = 0; r < iters; r++) {
			if (churn) {
				cudnnBackendDescriptor_t fresh = tensor(1000 + r, false, false);

				if (churned)
					D(cudnnBackendDestroyDescriptor(churned));
				churned = fresh;
			}
			D(cudnnBackendGetAttribute(x, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 3,
						   &got, got_dims));
			if (got != 3 || memcmp(got_dims, dims, sizeof(dims)))
				xt_fail("round %ld: the tensor's dimensions changed", r);
			D(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
						   CUDNN_TYPE_HANDLE, 1, &got, &got_h));
			if (got != 1 || got_h != h)
				xt_fail("round %ld: the plan's handle is not the one given", r);
			D(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
						   CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &got, NULL));
			if (got != nresults)
				xt_fail("round %ld: heuristics now find %lld, not %lld", r,
					(long long)got, (long long)nresults);
			if (sleep_ms)
				usleep(sleep_ms * 1000);
		}
		printf("rounds %ld checked\n", iters);
		return xt_pass();
	}

	D(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
				   1, &got, &workspace_size));
	if (workspace_size)
		CK(cudaMalloc(&workspace, workspace_size));
	hx = (float *)xt_malloc(N * sizeof(float));
	hy = (float *)xt_malloc(N * sizeof(float));
	hz = (float *)xt_malloc(N * sizeof(float));
	for (int i = 0; i < N; i++) {
		hx[i] = (float)(i % 7 - 3);
		hy[i] = (float)(i % 5);
	}
	CK(cudaMalloc(&dx, N * sizeof(float)));
	CK(cudaMalloc(&dy, N * sizeof(float)));
	CK(cudaMalloc(&dz, N * sizeof(float)));
	CK(cudaMemcpy(dx, hx, N * sizeof(float), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(dy, hy, N * sizeof(float), cudaMemcpyHostToDevice));
	if (capture) {
		run_captured(h, plan, &plan, workspace, dx, dy, dz, hx, hy, hz, iters, sleep_ms,
			     drop_plan);
		iters = 0;
	}
	for (long r = 0; r < iters; r++) {
		float scale = (float)(r % 5 + 2);   /* on the host: a by-value scalar */
		int64_t uids[4] = { UID_X, UID_Y, UID_S, UID_Z };
		void *ptrs[4] = { dx, dy, &scale, dz };
		cudnnBackendDescriptor_t vp = make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
		long long sum = 0;

		set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 4, uids);
		set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 4, ptrs);
		set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
		D(cudnnBackendFinalize(vp));
		CK(cudaMemsetAsync(dz, 0xff, N * sizeof(float), stream));
		D(cudnnBackendExecute(h, plan, vp));
		D(cudnnBackendDestroyDescriptor(vp));
		scale = -1;   /* cuDNN took the value at Execute */
		CK(cudaStreamSynchronize(stream));
		CK(cudaMemcpy(hz, dz, N * sizeof(float), cudaMemcpyDeviceToHost));
		for (int i = 0; i < N; i++) {
			if (hz[i] != hx[i] * (float)(r % 5 + 2) + hy[i])
				xt_fail("round %ld: z[%d] = %g, not %g", r, i, hz[i],
					hx[i] * (float)(r % 5 + 2) + hy[i]);
			sum += (long long)hz[i];
		}
		printf("round %ld: z = x * %ld + y, sum %lld\n", r, r % 5 + 2, sum);
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	for (int64_t i = 0; i < nresults; i++)
		D(cudnnBackendDestroyDescriptor(cfgs[i]));
	if (plan)
		D(cudnnBackendDestroyDescriptor(plan));
	D(cudnnBackendDestroyDescriptor(heur));
	D(cudnnBackendDestroyDescriptor(graph));
	D(cudnnBackendDestroyDescriptor(ops[0]));
	D(cudnnBackendDestroyDescriptor(ops[1]));
	cudnnBackendDescriptor_t ts[5] = { x, y, s, t, z };
	for (int i = 0; i < 5; i++)
		D(cudnnBackendDestroyDescriptor(ts[i]));
	D(cudnnDestroy(h));
	if (!capture)
		printf("rounds %ld checked\n", iters);
	return xt_pass();
}
