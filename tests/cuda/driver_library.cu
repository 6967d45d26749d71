/*
 * driver_library.cu - kernels the way cuda.core and cuda-python load them:
 * CUDA 12's context-independent library API over the kernels of
 * tests/cuda/kernels/driver_module.cu (the cubin and PTX embedded at build
 * time): cuLibraryLoadData (with a library option) and
 * cuLibraryLoadFromFile, CUkernel handles by name, their function, name,
 * library, parameter layout and attributes (read and set, per device),
 * launches by CUkernel (cuLaunchKernel and cuLaunchKernelEx take either
 * handle) and by the CUfunction cuKernelGetFunction gives, checked on the
 * CPU; bad library options, a missing kernel and a device that is not
 * there refused with the driver's statuses.
 *
 *   driver_library [--iters N] [--sleep-ms M] [--globals]
 *
 * --iters/--sleep-ms: N rounds of launches M ms apart (a move can happen
 * meanwhile), checked at the end. --globals: also a module global through
 * cuLibraryGetGlobal and cuModuleGetGlobal (not on the sim device, which
 * knows the globals of fat binaries only).
 */
#include <unistd.h>

#include "driver_common.h"
#include "driver_module_images.h"   /* dm_cubin[], dm_ptx[] (generated) */

static CUkernel kernel(CUlibrary lib, const char *name)
{
	CUkernel k;

	CU(cuLibraryGetKernel(&k, lib, name));
	return k;
}

int main(int argc, char **argv)
{
	int iters = 3, sleep_ms = 0, globals = 0;

	dm_options(argc, argv, "driver_library [--iters N] [--sleep-ms M] [--globals]", &iters,
		   &sleep_ms, "--globals", &globals);
	xt_begin("driver_library");

	CUdevice dev;
	CUcontext ctx;
	CU(cuInit(0));
	CU(cuDeviceGet(&dev, 0));
	CU(cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(cuCtxSetCurrent(ctx));

	/* Libraries: the cubin, the PTX (its buffer said to be kept), the cubin from a file. */
	CUlibrary lib, lptx, lfile, bad;
	CUlibraryOption kept = CU_LIBRARY_BINARY_IS_PRESERVED;
	void *yes = (void *)1;
	CU(cuLibraryLoadData(&lib, dm_cubin, NULL, NULL, 0, NULL, NULL, 0));
	CU(cuLibraryLoadData(&lptx, dm_ptx, NULL, NULL, 0, &kept, &yes, 1));
	char path[] = "/tmp/driver_library.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, dm_cubin, sizeof(dm_cubin)) != (ssize_t)sizeof(dm_cubin))
		xt_fail("cannot write %s", path);
	close(fd);
	CU(cuLibraryLoadFromFile(&lfile, path, NULL, NULL, 0, NULL, NULL, 0));
	printf("preserved binary from a file -> %d\n",
	       (int)cuLibraryLoadFromFile(&bad, path, NULL, NULL, 0, &kept, &yes, 1));
	unlink(path);
	CUlibraryOption unknown = (CUlibraryOption)999;
	printf("unknown library option -> %d\n",
	       (int)cuLibraryLoadData(&bad, dm_cubin, NULL, NULL, 0, &unknown, &yes, 1));

	/* Kernels: by name, and what each says of itself. */
	CUkernel axpy = kernel(lib, "dm_axpy"), mix = kernel(lib, "dm_mix");
	CUkernel sum = kernel(lib, "dm_block_sum"), axpy_ptx = kernel(lptx, "dm_axpy");
	CUkernel axpy_file = kernel(lfile, "dm_axpy"), none;
	printf("missing kernel -> %d\n", (int)cuLibraryGetKernel(&none, lib, "dm_no_such_kernel"));
	const char *name;
	CUlibrary owner;
	CU(cuKernelGetName(&name, mix));
	CU(cuKernelGetLibrary(&owner, mix));
	printf("kernel's name and library: %s %d\n", name, owner == lib);
	CUmodule mod;
	CUfunction by_module, axpy_fn;
	CU(cuLibraryGetModule(&mod, lib));
	CU(cuModuleGetFunction(&by_module, mod, "dm_axpy"));
	CU(cuKernelGetFunction(&axpy_fn, axpy_ptx));
	for (size_t p = 0;; p++) {
		size_t off, size;

		if (cuKernelGetParamInfo(mix, p, &off, &size) != CUDA_SUCCESS) {
			printf("dm_mix has %zu parameters\n", p);
			break;
		}
		printf("dm_mix param %zu: offset %zu size %zu\n", p, off, size);
	}
	int regs, maxthr, binver, dyn;
	CU(cuKernelGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, axpy, dev));
	CU(cuKernelGetAttribute(&maxthr, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, axpy, dev));
	CU(cuKernelGetAttribute(&binver, CU_FUNC_ATTRIBUTE_BINARY_VERSION, axpy, dev));
	CU(cuKernelGetAttribute(&dyn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sum, dev));
	printf("attributes: regs>0 %d, max threads>=%d %d, binary %d, dynamic smem %d\n", regs > 0,
	       BLOCK, maxthr >= BLOCK, binver, dyn);
	CU(cuKernelSetCacheConfig(sum, CU_FUNC_CACHE_PREFER_SHARED, dev));
	CU(cuKernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, SUM_SMEM, sum, dev));
	CU(cuKernelGetAttribute(&dyn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sum, dev));
	printf("dynamic smem after setting: %d\n", dyn);
	printf("a device that is not there -> %d\n",
	       (int)cuKernelGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, axpy, 1000));

	/* Memory. */
	static float hx[N], hy[N];
	static unsigned hu[N];
	CUdeviceptr x, y[4], u, sums;
	CU(cuMemAlloc(&x, N * sizeof(float)));
	for (int k = 0; k < 4; k++)
		CU(cuMemAlloc(&y[k], N * sizeof(float)));
	CU(cuMemAlloc(&u, N * sizeof(unsigned)));
	CU(cuMemAlloc(&sums, N / BLOCK * sizeof(unsigned long long)));
	dm_inputs(hx, hy);
	CU(cuMemcpyHtoD(x, hx, sizeof(hx)));
	for (int k = 0; k < 4; k++)
		CU(cuMemcpyHtoD(y[k], hy, sizeof(hy)));

	/* One axpy each way: a CUkernel as the function, its CUfunction, the module's, the file's. */
	float a = 2.0f;
	int n = N;
	CUstream s;
	CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	void *args0[] = { &a, &x, &y[0], &n }, *args1[] = { &a, &x, &y[1], &n };
	void *args2[] = { &a, &x, &y[2], &n }, *args3[] = { &a, &x, &y[3], &n };
	CU(cuLaunchKernel((CUfunction)axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, args0, NULL));
	CU(cuLaunchKernel(axpy_fn, 4, 1, 1, BLOCK, 1, 1, 0, s, args1, NULL));
	CU(cuLaunchKernel(by_module, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, s, args2, NULL));
	CU(cuLaunchKernel((CUfunction)axpy_file, 2, 1, 1, BLOCK, 1, 1, 0, s, args3, NULL));
	CU(cuStreamSynchronize(s));
	const char *how[4] = { "CUkernel", "PTX kernel's function", "module's function",
			       "file's kernel" };
	for (int k = 0; k < 4; k++) {
		CU(cuMemcpyDtoH(hy, y[k], sizeof(hy)));
		dm_expect_y(hy, hx, a, how[k]);
	}
	printf("axpy by CUkernel, by its function, by the module's, from the file: ok\n");

	/* A struct by value through cuLaunchKernelEx, given the CUkernel. */
	struct dm_args sv = { 7, 3.0, 11, -5 };
	void *mix_args[] = { &u, &sv, &n };
	CUlaunchConfig cfg = {};
	cfg.gridDimX = N / BLOCK;
	cfg.gridDimY = cfg.gridDimZ = 1;
	cfg.blockDimX = BLOCK;
	cfg.blockDimY = cfg.blockDimZ = 1;
	cfg.hStream = s;
	CU(cuLaunchKernelEx(&cfg, (CUfunction)mix, mix_args, NULL));
	CU(cuStreamSynchronize(s));
	CU(cuMemcpyDtoH(hu, u, sizeof(hu)));
	uint64_t h = 0;
	for (int i = 0; i < N; i++) {
		if (hu[i] != xf_dm_mix((uint32_t)i, sv))
			xt_fail("dm_mix[%d] = %u", i, hu[i]);
		h = xf_mix64(h ^ hu[i]);
	}
	printf("struct argument by value (cuLaunchKernelEx): hash %016llx\n", (unsigned long long)h);

	/* Rounds: the block sum with its large shared memory, by CUkernel. */
	for (int i = 0; i < N; i++)
		hu[i] = xf_dm_value((uint32_t)i);
	CU(cuMemcpyHtoD(u, hu, sizeof(hu)));
	void *sum_args[] = { &u, &sums, &n };
	float one = 1.0f;
	void *round_args[] = { &one, &x, &y[0], &n };
	for (int r = 0; r < iters; r++) {
		CU(cuLaunchKernel((CUfunction)sum, N / BLOCK, 1, 1, BLOCK, 1, 1, SUM_SMEM, NULL,
				  sum_args, NULL));
		CU(cuLaunchKernel((CUfunction)axpy, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, NULL, round_args,
				  NULL));
		CU(cuCtxSynchronize());
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	CU(cuMemcpyDtoH(hy, y[0], sizeof(hy)));
	dm_expect_y(hy, hx, a + iters, "round");
	unsigned long long hs[N / BLOCK];
	CU(cuMemcpyDtoH(hs, sums, sizeof(hs)));
	printf("rounds %d checked, block sums total %llu\n", iters, dm_expect_block_sums(hs));

	if (globals) {
		CUdeviceptr g, g2;
		size_t bytes, bytes2;
		unsigned in[4] = { 11, 22, 33, 44 }, out[4] = { 0 };

		CU(cuLibraryGetGlobal(&g, &bytes, lib, "dm_tally"));
		CU(cuModuleGetGlobal(&g2, &bytes2, mod, "dm_tally"));
		CU(cuMemcpyHtoD(g, in, sizeof(in)));
		CU(cuMemcpyDtoH(out, g2, sizeof(out)));
		printf("global: %zu bytes, same through the module %d, read back %d\n", bytes,
		       g == g2 && bytes == bytes2, !memcmp(in, out, sizeof(in)));
		printf("missing global -> %d\n",
		       (int)cuLibraryGetGlobal(&g, &bytes, lib, "dm_no_such_global"));
	}

	CU(cuStreamDestroy(s));
	CU(cuMemFree(x));
	for (int k = 0; k < 4; k++)
		CU(cuMemFree(y[k]));
	CU(cuMemFree(u));
	CU(cuMemFree(sums));
	CU(cuLibraryUnload(lfile));
	CU(cuLibraryUnload(lptx));
	CU(cuLibraryUnload(lib));
	return xt_pass();
}
