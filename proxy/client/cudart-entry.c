/*
 * cudart-entry.c - cudaGetDriverEntryPoint*: driver functions by name. The
 * answer comes from xmig's driver facade (libcuda.so.1 beside this
 * library), never the real driver, which the application must not touch.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "client.h"

#define API __attribute__((visibility("default")))

typedef CUresult (*proc_address_fn)(const char *, void **, int, cuuint64_t,
				    CUdriverProcAddressQueryResult *);

static proc_address_fn driver_facade(void)
{
	static proc_address_fn fn;
	char path[PATH_MAX];
	Dl_info self;
	void *h;

	if (fn)
		return fn;
	if (!dladdr((void *)driver_facade, &self) || !self.dli_fname)
		return NULL;
	snprintf(path, sizeof(path), "%s", self.dli_fname);
	char *slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0),
		 "libcuda.so.1");
	if (!(h = dlopen(path, RTLD_NOW | RTLD_GLOBAL)) ||
	    !dlsym(h, "xmig_facade_marker")) {
		xmig_cl_unsupported("cudaGetDriverEntryPoint (xmig's libcuda.so.1 is missing)");
		return NULL;
	}
	return fn = (proc_address_fn)dlsym(h, "cuGetProcAddress_v2");
}

API cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr,
						 unsigned int cudaVersion, unsigned long long flags,
						 enum cudaDriverEntryPointQueryResult *status)
{
	proc_address_fn get = driver_facade();
	CUdriverProcAddressQueryResult q = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;

	if (!symbol || !funcPtr)
		return cudaErrorInvalidValue;
	if (!get)
		return cudaErrorNotSupported;
	*funcPtr = NULL;
	get(symbol, funcPtr, (int)cudaVersion, flags, &q);
	if (status)
		*status = q == CU_GET_PROC_ADDRESS_SUCCESS ? cudaDriverEntryPointSuccess
			  : q == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
				  ? cudaDriverEntryPointVersionNotSufficent
				  : cudaDriverEntryPointSymbolNotFound;
	return cudaSuccess;   /* not found: success with NULL, as the runtime does */
}

API cudaError_t cudaGetDriverEntryPointByVersion_ptsz(const char *symbol, void **funcPtr,
						      unsigned int cudaVersion,
						      unsigned long long flags,
						      enum cudaDriverEntryPointQueryResult *status)
{
	return cudaGetDriverEntryPointByVersion(symbol, funcPtr, cudaVersion, flags, status);
}

/* Deprecated in the header, still exported by the runtime: defined here too. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
API cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr,
					unsigned long long flags,
					enum cudaDriverEntryPointQueryResult *status)
{
	return cudaGetDriverEntryPointByVersion(symbol, funcPtr, CUDART_VERSION, flags, status);
}

API cudaError_t cudaGetDriverEntryPoint_ptsz(const char *symbol, void **funcPtr,
					     unsigned long long flags,
					     enum cudaDriverEntryPointQueryResult *status)
{
	return cudaGetDriverEntryPoint(symbol, funcPtr, flags, status);
}
