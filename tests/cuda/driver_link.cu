/*
 * driver_link.cu - the driver's JIT linker as Numba uses it: cuLinkCreate
 * with log buffers, verbose logging, an optimisation level and the wall
 * time; driver_module's kernels as PTX through cuLinkAddData, and again
 * through cuLinkAddFile; cuLinkComplete's cubin loaded by cuModuleLoadData
 * and its dm_axpy launched; a cubin of garbage refused (by cuLinkAddData
 * or by cuLinkComplete, whichever looks first). Each round launches the
 * linked kernel again, checked on the CPU.
 *
 *   driver_link [--iters N (3)] [--sleep-ms M (0)] [--relink]
 *
 * --relink: each round links the kernels again, from PTX padded with a
 * comment to 9 MB (the job crosses the proxy in pieces, so a move can
 * come between them), and launches the new image's kernel.
 * The rounds come after the line "looping"; the output changes only in
 * the "rounds N checked" line.
 */
#include <stdlib.h>
#include <unistd.h>

#include "driver_common.h"
#include "driver_module_images.h"   /* dm_cubin[], dm_ptx[] (generated) */

static const char *ptx_text = (const char *)dm_ptx;

/* Link one PTX input (as data, or from a file); the cubin's module. */
static CUmodule link_ptx(bool from_file, char *info, char *error, float *wall)
{
	CUjit_option o[7] = { CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
			      CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
			      CU_JIT_LOG_VERBOSE, CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_WALL_TIME };
	void *v[7] = { info, (void *)(uintptr_t)4096, error, (void *)(uintptr_t)4096,
		       (void *)(uintptr_t)1, (void *)(uintptr_t)3, NULL };
	CUlinkState st;
	CUmodule m;
	void *cubin = NULL;
	size_t size = 0;
	float unset = -1.0f;
	uintptr_t bits = 0;

	/* (the wall time's slot holds -1.0f until the linker writes its time there) */
	memcpy(&bits, &unset, sizeof(unset));
	v[6] = (void *)bits;
	CU(cuLinkCreate(7, o, v, &st));
	if (from_file) {
		char path[] = "/tmp/driver_link.XXXXXX";
		int fd = mkstemp(path);

		if (fd < 0 || write(fd, ptx_text, strlen(ptx_text)) < 0)
			xt_fail("cannot write %s", path);
		close(fd);
		CU(cuLinkAddFile(st, CU_JIT_INPUT_PTX, path, 0, NULL, NULL));
		unlink(path);
	} else {
		CU(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)ptx_text, strlen(ptx_text) + 1,
				 "driver_module.ptx", 0, NULL, NULL));
	}
	CU(cuLinkComplete(st, &cubin, &size));
	if (!cubin || !size)
		xt_fail("cuLinkComplete gave no image");
	/* (the logs and the time are the driver's answers at cuLinkComplete) */
	if ((uintptr_t)v[1] > 4096 || (uintptr_t)v[3] > 4096)
		xt_fail("the log sizes answered are past the buffers");
	memcpy(wall, &v[6], sizeof(*wall));
	CU(cuModuleLoadData(&m, cubin));
	CU(cuLinkDestroy(st));
	return m;
}

static void axpy(CUfunction f, float a, CUdeviceptr x, CUdeviceptr y)
{
	int n = N;
	void *args[] = { &a, &x, &y, &n };

	CU(cuLaunchKernel(f, N / BLOCK, 1, 1, BLOCK, 1, 1, 0, NULL, args, NULL));
}

int main(int argc, char **argv)
{
	int iters = 3, sleep_ms = 0, relink = 0;
	static char info[4096], error[4096];
	float wall = -1, x[N], y[N];
	CUdevice dev;
	CUcontext ctx;
	CUmodule m, mf;
	CUfunction f, ff;
	CUdeviceptr dx, dy;
	CUlinkState st;
	CUresult r;
	unsigned char junk[256];

	dm_options(argc, argv, "driver_link [--iters N] [--sleep-ms M] [--relink]", &iters,
		   &sleep_ms, "--relink", &relink);
	xt_begin("driver_link");
	CU(cuInit(0));
	CU(cuDeviceGet(&dev, 0));
	CU(cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(cuCtxSetCurrent(ctx));

	m = link_ptx(false, info, error, &wall);
	printf("linked from data: an image; wall time answered: %s; error log empty: %s\n",
	       wall >= 0 ? "yes" : "no", error[0] ? "no" : "yes");
	mf = link_ptx(true, info, error, &wall);
	printf("linked from a file: an image\n");
	CU(cuModuleGetFunction(&f, m, "dm_axpy"));
	CU(cuModuleGetFunction(&ff, mf, "dm_axpy"));

	memset(junk, 0x5a, sizeof(junk));
	CU(cuLinkCreate(0, NULL, NULL, &st));
	r = cuLinkAddData(st, CU_JIT_INPUT_CUBIN, junk, sizeof(junk), "junk", 0, NULL, NULL);
	if (!r) {
		void *c;
		size_t n;

		r = cuLinkComplete(st, &c, &n);
	}
	CU(cuLinkDestroy(st));
	printf("a cubin of garbage refused: %s\n", r != CUDA_SUCCESS ? "yes" : "no");

	dm_inputs(x, y);
	CU(cuMemAlloc(&dx, sizeof(x)));
	CU(cuMemAlloc(&dy, sizeof(y)));
	CU(cuMemcpyHtoD(dx, x, sizeof(x)));
	CU(cuMemcpyHtoD(dy, y, sizeof(y)));
	if (relink) {
		/* the PTX, then a comment to 9 MB */
		size_t n = strlen((const char *)dm_ptx), big = 9u << 20;
		char *p = (char *)xt_malloc(big + 1);

		memcpy(p, dm_ptx, n);
		memcpy(p + n, "\n//", 3);
		memset(p + n + 3, 'x', big - n - 3);
		p[big] = '\0';
		ptx_text = p;
	}
	printf("looping\n");
	for (int k = 0; k < iters; k++) {
		if (relink) {
			CUmodule again = link_ptx(false, info, error, &wall);

			CU(cuModuleUnload(m));
			m = again;
			CU(cuModuleGetFunction(&f, m, "dm_axpy"));
		}
		axpy(f, 2.0f, dx, dy);
		axpy(ff, 1.0f, dx, dy);
		CU(cuCtxSynchronize());
		CU(cuMemcpyDtoH(y, dy, sizeof(y)));
		dm_expect_y(y, x, 3.0f * (float)(k + 1), "the linked kernels' axpys");
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %d checked\n", iters);
	CU(cuMemFree(dx));
	CU(cuMemFree(dy));
	CU(cuModuleUnload(m));
	CU(cuModuleUnload(mf));
	return xt_pass();
}
