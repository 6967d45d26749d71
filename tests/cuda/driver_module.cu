/*
 * driver_module.cu - kernels the way Triton and torch.compile run them: a
 * cubin and PTX (tests/cuda/kernels/driver_module.cu, embedded at build
 * time) loaded with cuModuleLoadData, functions by name, their attributes
 * and parameter layout, cuLaunchKernel with kernelParams (one a struct by
 * value), cuLaunchKernelEx with the attributes Triton passes
 * (cluster dimension, scheduling policy, programmatic serialisation,
 * cooperative), memory, fills, copies, streams and pointer queries through
 * the driver API. No kernel is registered with the runtime.
 *
 *   driver_module [--iters N] [--sleep-ms M] [--tma]
 *
 * --iters/--sleep-ms: N rounds of launches M ms apart (a move can happen
 * meanwhile), checked at the end. --tma: also encode TMA descriptors
 * (cuTensorMapEncodeTiled), which needs a real GPU.
 */
#include <unistd.h>

#include "driver_common.h"
#include "driver_module_images.h"   /* dm_cubin[], dm_ptx[] (generated) */

static CUfunction get(CUmodule m, const char *name)
{
	CUfunction f;

	CU(cuModuleGetFunction(&f, m, name));
	return f;
}

int main(int argc, char **argv)
{
	int iters = 3, sleep_ms = 0, tma = 0;

	dm_options(argc, argv, "driver_module [--iters N] [--sleep-ms M] [--tma]", &iters,
		   &sleep_ms, "--tma", &tma);
	xt_begin("driver_module");

	/* Context as Triton makes sure of one. */
	CUdevice dev;
	CUcontext ctx = NULL, cur = NULL;
	CU(cuInit(0));
	CU(cuDeviceGet(&dev, 0));
	CU(cuCtxGetCurrent(&cur));
	CU(cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(cuCtxSetCurrent(ctx));
	CU(cuCtxGetCurrent(&cur));
	printf("context current: %d\n", cur == ctx);

	/* Modules: the cubin, and the same kernels as PTX. */
	CUmodule cubin, ptx;
	CU(cuModuleLoadData(&cubin, dm_cubin));
	CU(cuModuleLoadDataEx(&ptx, dm_ptx, 0, NULL, NULL));
	CUfunction axpy = get(cubin, "dm_axpy"), mix = get(cubin, "dm_mix");
	CUfunction sum = get(cubin, "dm_block_sum"), cluster = get(cubin, "dm_cluster");
	CUfunction axpy_ptx = get(ptx, "dm_axpy"), again;
	CU(cuModuleGetFunction(&again, cubin, "dm_axpy"));
	CUfunction none;
	printf("same handle twice: %d; missing kernel -> %d\n", again == axpy,
	       (int)cuModuleGetFunction(&none, cubin, "dm_no_such_kernel"));
	CUmodule owner;
	const char *name;
	CU(cuFuncGetModule(&owner, mix));
	CU(cuFuncGetName(&name, mix));
	printf("function's module and name: %d %s\n", owner == cubin, name);

	/* Parameter layout, as the driver reports it. */
	for (size_t p = 0;; p++) {
		size_t off, size;

		if (cuFuncGetParamInfo(mix, p, &off, &size) != CUDA_SUCCESS) {
			printf("dm_mix has %zu parameters\n", p);
			break;
		}
		printf("dm_mix param %zu: offset %zu size %zu\n", p, off, size);
	}

	/* Attributes, as Triton reads and sets them. */
	int regs, local, maxthr, dyn, binver;
	CU(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, axpy));
	CU(cuFuncGetAttribute(&local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, axpy));
	CU(cuFuncGetAttribute(&maxthr, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, axpy));
	CU(cuFuncGetAttribute(&binver, CU_FUNC_ATTRIBUTE_BINARY_VERSION, axpy));
	CU(cuFuncGetAttribute(&dyn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sum));
	printf("attributes: regs>0 %d, spills>=0 %d, max threads>=%d %d, binary %d, dynamic smem %d\n",
	       regs > 0, local >= 0, BLOCK, maxthr >= BLOCK, binver, dyn);
	CU(cuFuncSetCacheConfig(sum, CU_FUNC_CACHE_PREFER_SHARED));
	CU(cuFuncSetAttribute(sum, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, SUM_SMEM));
	CU(cuFuncSetAttribute(cluster, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1));
	CU(cuFuncGetAttribute(&dyn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sum));
	printf("dynamic smem after setting: %d\n", dyn);
	int blocks = 0, clusters = 0;
	CU(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, axpy, BLOCK, 0));
	CUlaunchAttribute cattr[1];
	cattr[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
	cattr[0].value.clusterDim.x = 2;
	cattr[0].value.clusterDim.y = 1;
	cattr[0].value.clusterDim.z = 1;
	CUlaunchConfig occ = {};
	occ.gridDimX = 2;
	occ.gridDimY = occ.gridDimZ = 1;
	occ.blockDimX = 128;
	occ.blockDimY = occ.blockDimZ = 1;
	occ.attrs = cattr;
	occ.numAttrs = 1;
	CU(cuOccupancyMaxActiveClusters(&clusters, cluster, &occ));
	printf("occupancy: blocks per SM > 0 %d, clusters > 0 %d\n", blocks > 0, clusters > 0);

	/* Memory through the driver. */
	static float hx[N], hy[N];
	static unsigned hu[N];
	CUdeviceptr x, y, y2, u, sums, cl;
	CU(cuMemAlloc(&x, N * sizeof(float)));
	CU(cuMemAlloc(&y, N * sizeof(float)));
	CU(cuMemAlloc(&y2, N * sizeof(float)));
	CU(cuMemAlloc(&u, N * sizeof(unsigned)));
	CU(cuMemAlloc(&sums, N / BLOCK * sizeof(unsigned long long)));
	CU(cuMemAlloc(&cl, 8 * sizeof(unsigned)));
	dm_inputs(hx, hy);
	CU(cuMemcpyHtoD(x, hx, sizeof(hx)));
	CU(cuMemcpyHtoD(y, hy, sizeof(hy)));
	CU(cuMemcpyDtoD(y2, y, sizeof(hy)));

	/* Pointers, as Triton's launcher checks each tensor argument. */
	CUdeviceptr dp = 0, base = 0;
	size_t range = 0;
	unsigned mtype = 0;
	CUcontext pctx = NULL;
	CU(cuPointerGetAttribute(&dp, CU_POINTER_ATTRIBUTE_DEVICE_POINTER, x + 64));
	CU(cuPointerGetAttribute(&mtype, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, x));
	CU(cuPointerGetAttribute(&pctx, CU_POINTER_ATTRIBUTE_CONTEXT, x));
	CU(cuMemGetAddressRange(&base, &range, x + 100));
	printf("device pointer: same %d, type device %d, context %d, range %d %zu\n", dp == x + 64,
	       mtype == CU_MEMORYTYPE_DEVICE, pctx == ctx, base == x, range);
	printf("host pointer -> %d\n",
	       (int)cuPointerGetAttribute(&dp, CU_POINTER_ATTRIBUTE_DEVICE_POINTER,
					  (CUdeviceptr)hx));
	CUpointer_attribute which[2] = { CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					 CU_POINTER_ATTRIBUTE_DEVICE_POINTER };
	void *data[2] = { &mtype, &dp };
	mtype = 0;
	CU(cuPointerGetAttributes(2, which, data, y + 8));
	printf("pointer attributes: type device %d, device pointer %d\n",
	       mtype == CU_MEMORYTYPE_DEVICE, dp == y + 8);

	/* Launches. */
	CUstream s;
	CUevent ev;
	CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	CU(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
	CUcontext sctx = NULL;
	CU(cuStreamGetCtx(s, &sctx));
	printf("stream's context: %d\n", sctx == ctx);

	float a = 2.0f;
	int n = N;
	void *axpy_args[] = { &a, &x, &y, &n };
	CU(cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, axpy_args, NULL));
	void *axpy2_args[] = { &a, &x, &y2, &n };
	CU(cuLaunchKernel(axpy_ptx, 4, 1, 1, BLOCK, 1, 1, 0, s, axpy2_args, NULL));
	CU(cuEventRecord(ev, s));
	CU(cuStreamWaitEvent(NULL, ev, 0));
	CU(cuStreamSynchronize(s));
	CU(cuMemcpyDtoH(hy, y, sizeof(hy)));
	dm_expect_y(hy, hx, a, "cubin axpy");
	CU(cuMemcpyDtoH(hy, y2, sizeof(hy)));
	dm_expect_y(hy, hx, a, "PTX axpy");
	printf("axpy from the cubin and from PTX: ok\n");

	/* The same arguments packed in "extra": the size must not exceed the kernel's. */
	{
		unsigned char packed[28] = {};   /* (a at 0, x at 8, y at 16, n at 24) */
		size_t size = sizeof(packed), big = 32, small = 24;
		void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
				  &size, CU_LAUNCH_PARAM_END };
		void *nosize[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, packed, CU_LAUNCH_PARAM_END };
		float three = 3.0f;

		memcpy(packed, &three, 4);
		memcpy(packed + 8, &x, 8);
		memcpy(packed + 16, &y, 8);
		memcpy(packed + 24, &n, 4);
		CU(cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, NULL, extra));
		CU(cuStreamSynchronize(s));
		CU(cuMemcpyDtoH(hy, y, sizeof(hy)));
		dm_expect_y(hy, hx, 2.0f + three, "axpy packed in extra");   /* (y had 2x) */
		extra[3] = &big;
		printf("axpy packed in extra: ok; 4 bytes too many -> %d",
		       (int)cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, NULL, extra));
		extra[3] = &small;
		printf(", 4 too few -> %d",
		       (int)cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, NULL, extra));
		printf(", no size -> %d\n",
		       (int)cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, NULL, nosize));
		CU(cuStreamSynchronize(s));
	}

	/* A struct by value, in kernelParams (Triton's launchers pass them so). */
	struct dm_args sv = { 7, 3.0, 11, -5 };
	int n_mix = N;
	void *mix_args[] = { &u, &sv, &n_mix };
	CU(cuLaunchKernel(mix, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, NULL, mix_args, NULL));
	CU(cuMemcpyDtoH(hu, u, sizeof(hu)));
	uint64_t h = 0;
	for (int i = 0; i < N; i++) {
		if (hu[i] != xf_dm_mix((uint32_t)i, sv))
			xt_fail("dm_mix[%d] = %u", i, hu[i]);
		h = xf_mix64(h ^ hu[i]);
	}
	printf("struct argument by value: hash %016llx\n", (unsigned long long)h);

	/* Fills. */
	CU(cuMemsetD32(u, 0xdeadbeefu, N));
	CU(cuMemsetD16(u, 0x1234, 8));
	CU(cuMemsetD8(u + 2, 0x56, 1));
	CU(cuMemcpyDtoH(hu, u, 4 * sizeof(unsigned)));
	printf("fills: %08x %08x %08x\n", hu[0], hu[1], hu[3]);

	/* cuLaunchKernelEx with what Triton passes: cluster, scheduling, PDL. */
	CUlaunchAttribute attrs[3];
	attrs[0] = cattr[0];
	attrs[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
	attrs[1].value.clusterSchedulingPolicyPreference = CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
	attrs[2].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
	attrs[2].value.programmaticStreamSerializationAllowed = 1;
	CUlaunchConfig cfg = {};
	cfg.gridDimX = 8;
	cfg.gridDimY = cfg.gridDimZ = 1;
	cfg.blockDimX = 128;
	cfg.blockDimY = cfg.blockDimZ = 1;
	cfg.hStream = s;
	cfg.attrs = attrs;
	cfg.numAttrs = 3;
	void *cl_args[] = { &cl };
	CU(cuLaunchKernelEx(&cfg, cluster, cl_args, NULL));
	unsigned hc[8];
	CU(cuStreamSynchronize(s));
	CU(cuMemcpyDtoH(hc, cl, sizeof(hc)));
	printf("clusters of 2:");
	for (int i = 0; i < 8; i++)
		printf(" %u", hc[i]);
	printf("\n");

	/* Rounds: plain, cooperative and attributed launches, and the big-smem sum. */
	CUlaunchAttribute coop;
	coop.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
	coop.value.cooperative = 1;
	CUlaunchConfig ccfg = {};
	ccfg.gridDimX = 8;
	ccfg.gridDimY = ccfg.gridDimZ = 1;
	ccfg.blockDimX = BLOCK;
	ccfg.blockDimY = ccfg.blockDimZ = 1;
	ccfg.attrs = &coop;
	ccfg.numAttrs = 1;
	float one = 1.0f;
	void *round_args[] = { &one, &x, &y2, &n };
	for (int i = 0; i < N; i++)
		hu[i] = xf_dm_value((uint32_t)i);
	CU(cuMemcpyHtoD(u, hu, sizeof(hu)));
	void *sum_args[] = { &u, &sums, &n };
	for (int r = 0; r < iters; r++) {
		if (r % 2)
			CU(cuLaunchKernelEx(&ccfg, axpy, round_args, NULL));
		else
			CU(cuLaunchKernel(axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, NULL, round_args,
					  NULL));
		CU(cuLaunchKernel(sum, N / BLOCK, 1, 1, BLOCK, 1, 1, SUM_SMEM, NULL, sum_args, NULL));
		CU(cuCtxSynchronize());
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	CU(cuMemcpyDtoH(hy, y2, sizeof(hy)));
	dm_expect_y(hy, hx, a + iters, "round");
	unsigned long long hs[N / BLOCK];
	CU(cuMemcpyDtoH(hs, sums, sizeof(hs)));
	printf("rounds %d checked, block sums total %llu\n", iters, dm_expect_block_sums(hs));

	if (tma) {
		/* A 2-D fp32 tile map over y, as Triton's host-side descriptors. */
		CUtensorMap m1, m2, m3;
		cuuint64_t dims[2] = { 64, N / 64 }, strides[1] = { 64 * sizeof(float) };
		cuuint32_t box[2] = { 32, 8 }, estr[2] = { 1, 1 };
		int same, misaligned;

		memset(&m1, 0, sizeof(m1));
		memset(&m2, 0, sizeof(m2));
		memset(&m3, 0, sizeof(m3));
		CU(cuTensorMapEncodeTiled(&m1, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, (void *)y, dims,
					  strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
					  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
					  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
		CU(cuTensorMapEncodeTiled(&m2, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, (void *)y, dims,
					  strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
					  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
					  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
		same = !memcmp(&m1, &m2, sizeof(m1));
		/* in a map of its own: what a refused encode leaves there is unspecified */
		misaligned = (int)cuTensorMapEncodeTiled(&m3, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2,
							 (void *)(y + 4), dims, strides, box, estr,
							 CU_TENSOR_MAP_INTERLEAVE_NONE,
							 CU_TENSOR_MAP_SWIZZLE_128B,
							 CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
							 CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
		printf("tma: encoded, deterministic %d, misaligned address -> %d\n", same,
		       misaligned);
	}

	CU(cuEventDestroy(ev));
	CU(cuStreamDestroy(s));
	CU(cuModuleUnload(ptx));
	CU(cuMemFree(x));
	CU(cuMemFree(y));
	CU(cuMemFree(y2));
	CU(cuMemFree(u));
	CU(cuMemFree(sums));
	CU(cuMemFree(cl));
	CU(cuModuleUnload(cubin));
	return xt_pass();
}
