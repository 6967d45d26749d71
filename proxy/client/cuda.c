/*
 * cuda.c - the facade libcuda.so.1 (driver API), first on the library path
 * under `xmig run`, so that dlopen("libcuda.so.1") finds it instead of the
 * driver. It exports every symbol of the real library; those without an
 * implementation here fail loudly with CUDA_ERROR_NOT_SUPPORTED.
 *
 * A program with the CUDA runtime linked statically (nvcc's default) talks
 * to libcuda.so.1 directly, through the driver's private export tables. It
 * cannot be served: it is stopped at the point where it asks for them, with
 * one line saying how to rebuild it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "cu-errors.h"

#define API __attribute__((visibility("default")))

/* Its presence tells xmig-proxy it loaded this facade instead of the driver. */
API const int xmig_facade_marker = 1;

API CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
	xmig_error("this program reaches the CUDA driver through private interfaces (the CUDA "
		   "runtime is linked statically); rebuild it with `nvcc -cudart shared` to run "
		   "it under xmig");
	fflush(stderr);
	_exit(XMIG_EXIT_STATIC_RUNTIME);
}

API CUresult cuInit(unsigned int flags)
{
	struct xmig_thread *t;

	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	return xmig_cl_enter(&t) ? CUDA_ERROR_NO_DEVICE : CUDA_SUCCESS;
}

API CUresult cuDriverGetVersion(int *version)
{
	struct xmig_thread *t;

	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	if (xmig_cl_enter(&t))
		return CUDA_ERROR_NO_DEVICE;
	*version = xmig_cl_info()->driver_version;
	return CUDA_SUCCESS;
}

/* The highest versioned export of `name` (cuFoo_v3, cuFoo_v2, cuFoo). */
static void *own_symbol(const char *name)
{
	static void *self;
	char buf[256];
	void *p;
	int v;

	if (!self) {
		Dl_info info;

		if (!dladdr((void *)own_symbol, &info) ||
		    !(self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD)))
			return NULL;
	}
	for (v = 3; v >= 2; v--) {
		snprintf(buf, sizeof(buf), "%s_v%d", name, v);
		if ((p = dlsym(self, buf)))
			return p;
	}
	return dlsym(self, name);
}

API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
				 cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
	void *p;

	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	p = own_symbol(symbol);
	if (status)
		*status = p ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	*pfn = p;
	return p ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* The unversioned entry point of CUDA 11.3 (no status argument). */
#undef cuGetProcAddress
API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
	return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}

API CUresult cuGetErrorName(CUresult error, const char **pStr)
{
	static const struct {
		int value;
		const char *name;
	} names[] = {
#define X(name, value) { value, #name },
		XMIG_CU_ERRORS(X)
#undef X
	};
	size_t i;

	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].value == (int)error) {
			*pStr = names[i].name;
			return CUDA_SUCCESS;
		}
	}
	*pStr = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(CUresult error, const char **pStr)
{
	/* The name says it; the driver's prose is its own. */
	return cuGetErrorName(error, pStr);
}
