/*
 * driver_graph.cu - the driver API's contexts, stream capture and graphs
 * the way cuda.core and cuda-python reach them: the context stack (set,
 * push, pop, and a pop too many), the context's API version, flags and id,
 * the device's PCI bus id and peer access, the module loading mode, a
 * stream's device and context; then dm_axpy (tests/cuda/kernels/
 * driver_module.cu) and a memset captured on a stream by the driver API
 * (the capture status and id on and off), the graph instantiated, uploaded
 * and launched once a round, checked on the CPU at the end.
 *
 *   driver_graph [--iters N] [--sleep-ms M]
 *
 * --iters/--sleep-ms: N launches of the graph M ms apart (a move can
 * happen meanwhile: the graph is the new proxy's to make again).
 */
#include <atomic>
#include <unistd.h>

#include "driver_common.h"
#include "driver_module_images.h"   /* dm_cubin[], dm_ptx[] (generated) */

/* A user object's destructor: counts its runs (CUDA may run it on a thread of its own). */
static std::atomic<int> destroyed;
static void CUDA_CB user_object_gone(void *p)
{
	destroyed += *(int *)p;
}

/* Up to a second for the destructor to have run n times in all (CUDA runs it when it sees fit). */
static int destroyed_after_wait(int n)
{
	for (int i = 0; i < 1000 && destroyed < n; i++)
		usleep(1000);
	return destroyed;
}

int main(int argc, char **argv)
{
	int iters = 3, sleep_ms = 0;

	dm_options(argc, argv, "driver_graph [--iters N] [--sleep-ms M]", &iters, &sleep_ms, NULL,
		   NULL);
	xt_begin("driver_graph");

	CUdevice dev;
	CUcontext ctx, got = NULL;
	CU(cuInit(0));
	CU(cuDeviceGet(&dev, 0));
	CU(cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(cuCtxSetCurrent(ctx));

	/* The stack: [ctx] after the set, pushed to two, popped to none, one pop too many. */
	CU(cuCtxPushCurrent(ctx));
	CU(cuCtxPopCurrent(&got));
	printf("pop gives the pushed context: %d\n", got == ctx);
	CU(cuCtxGetCurrent(&got));
	printf("after push and pop, current is still it: %d\n", got == ctx);
	CU(cuCtxPopCurrent(&got));
	CU(cuCtxGetCurrent(&got));
	printf("popped again: current null %d\n", got == NULL);
	printf("a pop too many -> %d\n", (int)cuCtxPopCurrent(&got));
	CU(cuCtxPushCurrent(ctx));
	CU(cuCtxGetCurrent(&got));
	printf("pushed on an empty stack: current %d\n", got == ctx);

	unsigned version = 0, flags = 99, state_flags = 98;
	unsigned long long id = 0, id2 = 0;
	int active = 0;
	CU(cuCtxGetApiVersion(ctx, &version));
	CU(cuCtxGetFlags(&flags));
	CU(cuDevicePrimaryCtxGetState(dev, &state_flags, &active));
	CU(cuCtxGetId(ctx, &id));
	CU(cuCtxGetId(NULL, &id2));
	printf("api version %u, flags %#x (the primary's state: %#x), id nonzero %d and the same %d\n",
	       version, flags, state_flags, id != 0, id == id2);

	char bus[32];
	int domain = -1, busno = -1, devno = -1, peer = -1;
	char want[32];
	CU(cuDeviceGetPCIBusId(bus, sizeof(bus), dev));
	CU(cuDeviceGetAttribute(&domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, dev));
	CU(cuDeviceGetAttribute(&busno, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev));
	CU(cuDeviceGetAttribute(&devno, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, dev));
	snprintf(want, sizeof(want), "%04x:%02x:%02x.0", domain, busno, devno);
	printf("pci bus id agrees with the attributes: %d\n", !strcasecmp(bus, want));
	CU(cuDeviceCanAccessPeer(&peer, dev, dev));
	printf("peer access to itself: %d\n", peer);

	CUmoduleLoadingMode mode;
	CU(cuModuleGetLoadingMode(&mode));
	printf("module loading: %s\n", mode == CU_MODULE_LAZY_LOADING ? "lazy" : "eager");

	CUstream s;
	CUdevice sdev = -1;
	CUcontext sctx = NULL;
	CUgreenCtx green = (CUgreenCtx)1;
	CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	CU(cuStreamGetDevice(s, &sdev));
	CU(cuStreamGetCtx_v2(s, &sctx, &green));
	printf("stream: device %d, context the primary %d, no green context %d\n", sdev, sctx == ctx,
	       green == NULL);

	/* The kernel, the inputs, a flag the graph's memset sets. */
	CUmodule mod;
	CUfunction axpy;
	CUdeviceptr dx, dy, dflag;
	static float x[N], y[N];
	unsigned flag = 0;
	CU(cuModuleLoadData(&mod, dm_cubin));
	CU(cuModuleGetFunction(&axpy, mod, "dm_axpy"));
	CU(cuMemAlloc(&dx, N * sizeof(float)));
	CU(cuMemAlloc(&dy, N * sizeof(float)));
	CU(cuMemAlloc(&dflag, sizeof(unsigned)));
	dm_inputs(x, y);
	CU(cuMemcpyHtoD(dx, x, sizeof(x)));
	CU(cuMemcpyHtoD(dy, y, sizeof(y)));
	CU(cuMemsetD32(dflag, 0, 1));

	/* Captured: y += x, the flag set. Nothing runs until the graph does. */
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_ACTIVE;
	cuuint64_t cid = 0;
	CU(cuStreamIsCapturing(s, &st));
	printf("capturing before: %d\n", st != CU_STREAM_CAPTURE_STATUS_NONE);
	CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
	CU(cuStreamIsCapturing(s, &st));
	printf("capturing: %d\n", st == CU_STREAM_CAPTURE_STATUS_ACTIVE);
	CUgraph during = NULL;
	CU(cuStreamGetCaptureInfo(s, &st, &cid, &during, NULL, NULL, NULL));
	printf("capture info: active %d, id nonzero %d, its graph given %d\n",
	       st == CU_STREAM_CAPTURE_STATUS_ACTIVE, cid != 0, during != NULL);
	float a = 1.0f;
	int n = N;
	void *args[] = { &a, &dx, &dy, &n };
	CU(cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, args, NULL));
	CU(cuMemsetD32Async(dflag, 7, 1, s));
	CUgraph g;
	CUgraphExec ge;
	CU(cuStreamEndCapture(s, &g));
	CU(cuStreamIsCapturing(s, &st));
	printf("capturing after: %d, the graph ended is the one given during it: %d\n",
	       st != CU_STREAM_CAPTURE_STATUS_NONE, g == during);
	CU(cuGraphInstantiate(&ge, g, 0));
	CU(cuGraphUpload(ge, s));
	CU(cuStreamSynchronize(s));
	CU(cuMemcpyDtoH(&flag, dflag, sizeof(flag)));
	printf("nothing ran at capture: flag %u\n", flag);

	/*
	 * cuda.core's way: the graph taken from the capture info, the end's
	 * left NULL, instantiated with parameters and an upload.
	 */
	CUgraph g2 = NULL;
	CUgraphExec ge2;
	CUDA_GRAPH_INSTANTIATE_PARAMS ip = {};
	CUuserObject uo;
	static int one = 1;
	CU(cuUserObjectCreate(&uo, &one, user_object_gone, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
	CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	printf("capture info without a status -> %d\n",
	       (int)cuStreamGetCaptureInfo(s, NULL, NULL, &g2, NULL, NULL, NULL));
	CU(cuStreamGetCaptureInfo(s, &st, NULL, &g2, NULL, NULL, NULL));
	CU(cuMemsetD32Async(dflag, 5, 1, s));
	CU(cuStreamEndCapture(s, NULL));
	/* the caller's reference moved to the graph (as cuda.core keeps its objects alive) */
	CU(cuGraphRetainUserObject(g2, uo, 1, CU_GRAPH_USER_OBJECT_MOVE));
	ip.flags = CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD;
	ip.hUploadStream = s;
	ip.result_out = CUDA_GRAPH_INSTANTIATE_ERROR;
	CU(cuGraphInstantiateWithParams(&ge2, g2, &ip));
	printf("instantiated with parameters: result success %d, no error node %d\n",
	       ip.result_out == CUDA_GRAPH_INSTANTIATE_SUCCESS, ip.hErrNode_out == NULL);
	CU(cuGraphLaunch(ge2, s));
	CU(cuStreamSynchronize(s));
	CU(cuMemcpyDtoH(&flag, dflag, sizeof(flag)));
	printf("its memset ran: flag %u\n", flag);
	CU(cuGraphDestroy(g2));
	CU(cuCtxSynchronize());
	usleep(20000);
	printf("user object kept while its executable graph lives: destroyed %d\n", (int)destroyed);
	CU(cuGraphExecDestroy(ge2));
	CU(cuCtxSynchronize());
	printf("and destroyed once both are gone: %d\n", destroyed_after_wait(1));
	CUuserObject u;
	CU(cuUserObjectCreate(&u, &one, user_object_gone, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
	CU(cuUserObjectRetain(u, 2));
	CU(cuUserObjectRelease(u, 3));
	CU(cuCtxSynchronize());
	printf("another, retained twice more and released thrice: destructor runs %d in all\n",
	       destroyed_after_wait(2));

	for (int k = 0; k < iters; k++) {
		CU(cuGraphLaunch(ge, s));
		CU(cuStreamSynchronize(s));
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	CU(cuMemcpyDtoH(y, dy, sizeof(y)));
	CU(cuMemcpyDtoH(&flag, dflag, sizeof(flag)));
	dm_expect_y(y, x, (float)iters, "after the graph's launches");
	printf("graph launched %d times: y checked, flag %u\n", iters, flag);

	CU(cuGraphExecDestroy(ge));
	CU(cuGraphDestroy(g));
	CU(cuStreamDestroy(s));
	CU(cuMemFree(dx));
	CU(cuMemFree(dy));
	CU(cuMemFree(dflag));
	CU(cuModuleUnload(mod));
	return xt_pass();
}
