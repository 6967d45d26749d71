/*
 * driver_graph_nodes.cu - a CUDA graph built node by node through the
 * driver API, as cuda-python builds one: cuGraphCreate, a memset node
 * (y = 0), a memcpy node in from pinned memory (CUDA_MEMCPY3D), a kernel
 * node of a CUfunction (dm_axpy of tests/cuda/kernels/driver_module.cu,
 * a = 2) after both, an empty node, a child graph with dm_axpy (a = 3)
 * given as a CUkernel (a library's), a memcpy node out to pinned memory and a host node
 * that checks y = (sum of a) * x each launch. Read back: nodes, types,
 * the kernel's and the memset's settings, edges (CUDA 12.3's and the older
 * entry points). Launched each round; half-way the executable graph's
 * kernel set to a = 4 (cuGraphExecKernelNodeSetParams), then the graph's
 * to a = 5 and the executable graph updated from it (cuGraphExecUpdate),
 * then the executable graph's kernel to a = 6 through the generic
 * cuGraphExecNodeSetParams (the empty node was added by cuGraphAddNode).
 * Then a graph of an event wait node and an event record node (added by
 * cuGraphAddNode), launched once: the record's event has an elapsed time;
 * and one of a fill and a kernel node given its arguments packed in
 * `extra`, launched once.
 *
 *   driver_graph_nodes [--iters N (4)] [--sleep-ms M]
 *
 * Rounds are M ms apart after the line "looping" (a move can come there).
 */
#include <unistd.h>
#include <stddef.h>

#include "driver_common.h"
#include "driver_module_images.h"   /* dm_cubin[], dm_ptx[] (generated) */

/* CUDA 12.2's edges without data (cuda.h names only the newer one) */
#undef cuGraphGetEdges
extern "C" CUresult CUDAAPI cuGraphGetEdges(CUgraph, CUgraphNode *, CUgraphNode *, size_t *);

struct rig {
	float *xs, *out;          /* pinned: the input, the copy out */
	float a;                  /* the sum of the two kernels' a, as the graph has them */
	long rounds;
	int failures;
};

static void CUDA_CB check(void *arg)
{
	struct rig *r = (struct rig *)arg;

	for (int i = 0; i < N; i++)
		if (r->out[i] != r->a * r->xs[i]) {
			if (!r->failures++)
				printf("FAIL driver_graph_nodes: round %ld, y[%d] = %g, want %g\n",
				       r->rounds, i, (double)r->out[i], (double)(r->a * r->xs[i]));
			return;
		}
	r->rounds++;
}

static CUDA_KERNEL_NODE_PARAMS axpy_params(CUfunction f, CUkernel k, float *a, CUdeviceptr *x,
					   CUdeviceptr *y, void **args)
{
	static int n = N;
	CUDA_KERNEL_NODE_PARAMS p = {};

	args[0] = a;
	args[1] = x;
	args[2] = y;
	args[3] = &n;
	p.func = f;
	p.kern = k;
	p.gridDimX = N / BLOCK;
	p.gridDimY = p.gridDimZ = 1;
	p.blockDimX = BLOCK;
	p.blockDimY = p.blockDimZ = 1;
	p.kernelParams = args;
	return p;
}

int main(int argc, char **argv)
{
	int iters = 4, sleep_ms = 0;
	struct rig r = {};
	static float y0[N];

	dm_options(argc, argv, "driver_graph_nodes [--iters N] [--sleep-ms M]", &iters, &sleep_ms,
		   NULL, NULL);
	xt_begin("driver_graph_nodes");

	CUdevice dev;
	CUcontext ctx;
	CUmodule mod;
	CUlibrary lib;
	CUfunction axpy;
	CUkernel axpy_k;
	CUstream s;
	CUdeviceptr dx, dy;
	CU(cuInit(0));
	CU(cuDeviceGet(&dev, 0));
	CU(cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(cuCtxSetCurrent(ctx));
	CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	CU(cuModuleLoadData(&mod, dm_cubin));
	CU(cuModuleGetFunction(&axpy, mod, "dm_axpy"));
	CU(cuLibraryLoadData(&lib, dm_cubin, NULL, NULL, 0, NULL, NULL, 0));
	CU(cuLibraryGetKernel(&axpy_k, lib, "dm_axpy"));
	CU(cuMemAlloc(&dx, N * sizeof(float)));
	CU(cuMemAlloc(&dy, N * sizeof(float)));
	CU(cuMemAllocHost((void **)&r.xs, N * sizeof(float)));
	CU(cuMemAllocHost((void **)&r.out, N * sizeof(float)));
	dm_inputs(r.xs, y0);
	r.a = 5;

	CUgraph g, child;
	CUgraphNode a, b, c, d, e, f, h, e1, deps[2];
	float a2 = 2, a3 = 3, a4 = 4, a5 = 5;
	void *args[4], *args2[4];
	CUDA_MEMSET_NODE_PARAMS ms = {};
	CUDA_MEMCPY3D in = {}, out = {};
	CUDA_HOST_NODE_PARAMS hp = {};
	CUDA_KERNEL_NODE_PARAMS kp;

	CU(cuGraphCreate(&g, 0));
	ms.dst = dy;
	ms.value = 0;
	ms.elementSize = 4;
	ms.width = N;
	ms.height = 1;
	CU(cuGraphAddMemsetNode(&a, g, NULL, 0, &ms, ctx));
	in.srcMemoryType = CU_MEMORYTYPE_HOST;
	in.srcHost = r.xs;
	in.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	in.dstDevice = dx;
	in.WidthInBytes = in.srcPitch = in.dstPitch = N * sizeof(float);
	in.Height = in.Depth = 1;
	CU(cuGraphAddMemcpyNode(&b, g, NULL, 0, &in, ctx));
	deps[0] = a;
	deps[1] = b;
	kp = axpy_params(axpy, NULL, &a2, &dx, &dy, args);
	CU(cuGraphAddKernelNode(&c, g, deps, 2, &kp));
	{
		CUgraphNodeParams np = {};

		np.type = CU_GRAPH_NODE_TYPE_EMPTY;   /* (through the generic entry point) */
		CU(cuGraphAddNode(&d, g, &c, NULL, 1, &np));
	}
	CU(cuGraphCreate(&child, 0));
	kp = axpy_params(NULL, axpy_k, &a3, &dx, &dy, args2);
	CU(cuGraphAddKernelNode(&e1, child, NULL, 0, &kp));
	CU(cuGraphAddChildGraphNode(&e, g, &d, 1, child));
	CU(cuGraphDestroy(child));
	out.srcMemoryType = CU_MEMORYTYPE_DEVICE;
	out.srcDevice = dy;
	out.dstMemoryType = CU_MEMORYTYPE_HOST;
	out.dstHost = r.out;
	out.WidthInBytes = out.srcPitch = out.dstPitch = N * sizeof(float);
	out.Height = out.Depth = 1;
	CU(cuGraphAddMemcpyNode(&f, g, &e, 1, &out, ctx));
	hp.fn = check;
	hp.userData = &r;
	CU(cuGraphAddHostNode(&h, g, &f, 1, &hp));

	size_t n = 0, ne = 0, ne1 = 0;
	CUgraphNodeType t;
	CUgraphNode from[16], to[16];
	CU(cuGraphGetNodes(g, NULL, &n));
	printf("nodes: %zu\n", n);
	printf("types:");
	for (CUgraphNode v : { a, b, c, d, e, f, h }) {
		CU(cuGraphNodeGetType(v, &t));
		printf(" %d", (int)t);
	}
	printf("\n");
	CU(cuGraphGetEdges_v2(g, NULL, NULL, NULL, &ne));
	ne1 = 16;
	CU(cuGraphGetEdges(g, from, to, &ne1));
	printf("edges: %zu, the same without edge data %d, the first into the kernel node %d\n",
	       ne, ne1 == ne, (from[0] == a || from[0] == b) && to[0] == c);
	CU(cuGraphKernelNodeGetParams(c, &kp));
	printf("kernel node: dm_axpy %d, a = %g, grid %u, block %u\n", kp.func == axpy,
	       (double)*(float *)kp.kernelParams[0], kp.gridDimX, kp.blockDimX);
	a2 = 99;   /* (the node took a's value at the call) */
	CU(cuGraphKernelNodeGetParams(c, &kp));
	printf("kernel node's a after the variable changed: %g\n", (double)*(float *)kp.kernelParams[0]);
	CU(cuGraphMemsetNodeGetParams(a, &ms));
	printf("memset node: element %u, width %zu, value %u\n", ms.elementSize, ms.width, ms.value);

	CUgraphExec exec;
	CU(cuGraphInstantiate(&exec, g, 0));
	printf("looping\n");
	for (int i = 0; i < iters; i++) {
		if (i == iters / 2) {
			kp = axpy_params(axpy, NULL, &a4, &dx, &dy, args);
			CU(cuGraphExecKernelNodeSetParams(exec, c, &kp));
			r.a = 7;
			printf("round %d: the executable graph's kernel node set to a = 4\n", i);
		}
		CU(cuGraphLaunch(exec, s));
		CU(cuStreamSynchronize(s));
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	kp = axpy_params(axpy, NULL, &a5, &dx, &dy, args);
	CU(cuGraphKernelNodeSetParams(c, &kp));
	CUgraphExecUpdateResultInfo info = {};
	CU(cuGraphExecUpdate(exec, g, &info));
	r.a = 8;
	CU(cuGraphLaunch(exec, s));
	CU(cuStreamSynchronize(s));
	printf("updated from the graph (a = 5): result %d\n", (int)info.result);
	{
		CUgraphNodeParams np = {};
		float a6 = 6;

		np.type = CU_GRAPH_NODE_TYPE_KERNEL;
		kp = axpy_params(axpy, NULL, &a6, &dx, &dy, args);
		memcpy(&np.kernel, &kp, sizeof(kp));
		CU(cuGraphExecNodeSetParams(exec, c, &np));
		r.a = 9;
		CU(cuGraphLaunch(exec, s));
		CU(cuStreamSynchronize(s));
		printf("the kernel node set through cuGraphExecNodeSetParams (a = 6)\n");
	}
	{
		/* event nodes: a wait, then a record added through cuGraphAddNode; launched */
		CUgraph eg;
		CUgraphExec ex;
		CUgraphNode w, rec;
		CUevent before, start, after, got;
		CUgraphNodeParams np = {};
		float ms;

		CU(cuEventCreate(&before, CU_EVENT_DISABLE_TIMING));
		CU(cuEventCreate(&start, CU_EVENT_DEFAULT));
		CU(cuEventCreate(&after, CU_EVENT_DEFAULT));
		CU(cuGraphCreate(&eg, 0));
		CU(cuGraphAddEventWaitNode(&w, eg, NULL, 0, before));
		np.type = CU_GRAPH_NODE_TYPE_EVENT_RECORD;
		np.eventRecord.event = after;
		CU(cuGraphAddNode(&rec, eg, &w, NULL, 1, &np));
		CU(cuGraphEventRecordNodeGetEvent(rec, &got));
		CU(cuGraphInstantiate(&ex, eg, 0));
		CU(cuEventRecord(before, s));
		CU(cuEventRecord(start, s));
		CU(cuGraphLaunch(ex, s));
		CU(cuStreamSynchronize(s));
		printf("event nodes: the record node's event %s, recorded by the launch: %d\n",
		       got == after ? "as given" : "?", (int)cuEventElapsedTime(&ms, start, after));
		CU(cuGraphExecDestroy(ex));
		CU(cuGraphDestroy(eg));
		CU(cuEventDestroy(before));
		CU(cuEventDestroy(start));
		CU(cuEventDestroy(after));
	}
	{
		/* a kernel node with its arguments packed in `extra`: y = 0, then y = 7 x */
		struct { float a; CUdeviceptr x, y; int n; } packed = { 7, dx, dy, N };
		size_t size = offsetof(decltype(packed), n) + sizeof(int), big = sizeof(packed);
		void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
				  &size, CU_LAUNCH_PARAM_END };
		CUgraph pg;
		CUgraphExec ex;
		CUgraphNode z, k;
		int bad = 0;

		CU(cuGraphCreate(&pg, 0));
		CU(cuGraphAddMemsetNode(&z, pg, NULL, 0, &ms, ctx));
		kp = axpy_params(axpy, NULL, &a2, &dx, &dy, args);
		kp.kernelParams = NULL;
		kp.extra = extra;
		CU(cuGraphAddKernelNode(&k, pg, &z, 1, &kp));
		packed.a = 99;   /* (the node took the buffer at the call) */
		CU(cuGraphInstantiate(&ex, pg, 0));
		CU(cuGraphLaunch(ex, s));
		CU(cuStreamSynchronize(s));
		CU(cuMemcpyDtoH(r.out, dy, N * sizeof(float)));
		for (int i = 0; i < N; i++)
			bad += r.out[i] != 7 * r.xs[i];
		printf("a kernel node with its arguments in extra: y = 7 x at %d of %d\n", N - bad, N);
		extra[3] = &big;   /* (4 bytes more than the kernel's: the driver refuses them) */
		printf("... with 4 bytes too many: %d\n", (int)cuGraphAddKernelNode(&k, pg, NULL, 0, &kp));
		CU(cuGraphExecDestroy(ex));
		CU(cuGraphDestroy(pg));
	}
	printf("rounds %ld checked\n", r.rounds);
	if (r.failures)
		return 1;
	CU(cuGraphExecDestroy(exec));
	CU(cuGraphDestroy(g));
	return xt_pass();
}
