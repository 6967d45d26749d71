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
#include <limits.h>
#include <stdbool.h>
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

/*
 * The real driver, for NVML alone: found beside the caller (the driver's
 * libraries are installed together), else on the usual paths; never the
 * facade. Loading it creates no context: the application still holds no
 * device state.
 */
static void *real_driver(const char *beside)
{
	static const char *const dirs[] = { NULL, "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
					    "/usr/local/nvidia/lib64", "/usr/lib" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		const char *slash = i ? NULL : strrchr(beside, '/');
		void *h;

		if (!i && !slash)
			continue;
		if (i)
			snprintf(path, sizeof(path), "%s/libcuda.so.1", dirs[i]);
		else
			snprintf(path, sizeof(path), "%.*s/libcuda.so.1", (int)(slash - beside), beside);
		if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
			continue;
		if (!dlsym(h, "xmig_facade_marker"))
			return h;
		dlclose(h);
	}
	return NULL;
}

API CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
	char exe[PATH_MAX], lib[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	Dl_info caller;

	exe[n > 0 ? n : 0] = '\0';
	if (dladdr(__builtin_return_address(0), &caller) && caller.dli_fname &&
	    realpath(caller.dli_fname, lib) && strcmp(lib, exe)) {
		const char *base = strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib;

		/* NVML (GPU monitoring, which frameworks ask for device counts) reads the
		 * real GPUs: let it. */
		if (!strncmp(base, "libnvidia-ml.so", 15)) {
			static void *h;
			CUresult (*real)(const void **, const CUuuid *);

			if (!h && !(h = real_driver(lib)))
				return CUDA_ERROR_NOT_INITIALIZED;
			real = (CUresult (*)(const void **, const CUuuid *))dlsym(h, "cuGetExportTable");
			return real ? real(ppExportTable, pExportTableId) : CUDA_ERROR_NOT_FOUND;
		}
		/*
		 * NVRTC (the runtime compiler of cuda.core, CuPy, Numba, PyTorch's
		 * jiterator) asks for one table and compiles the same without it
		 * (an H200, NVRTC 13.0: the same cubin either way): say no.
		 */
		if (!strncmp(base, "libnvrtc.so", 11)) {
			xmig_debug("%s asked for a private driver table: refused (it compiles "
				   "without it)", base);
			return CUDA_ERROR_NOT_SUPPORTED;
		}
		/* A library the program loads may be the one with the runtime inside: name it. */
		xmig_error("%s, loaded by this program, reaches the CUDA driver through private "
			   "interfaces (it has the CUDA runtime linked statically); xmig cannot "
			   "serve it", lib);
	} else {
		xmig_error("this program reaches the CUDA driver through private interfaces (the "
			   "CUDA runtime is linked statically); rebuild it with `nvcc -cudart shared` "
			   "to run it under xmig");
	}
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

/* The driver's entry points by the CUDA version that introduced each ABI. */
static const struct proc {
	const char *name;
	int per_thread, version;
	const char *symbol;
} procs[] = {
#include "cu-proc-table.h"
};

static void *own_symbol(const char *name)
{
	static void *self;

	if (!self) {
		Dl_info info;

		if (!dladdr((void *)own_symbol, &info) ||
		    !(self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD)))
			return NULL;
	}
	return dlsym(self, name);
}

/*
 * As the driver answers: the newest ABI of `symbol` no newer than
 * cudaVersion (newest first in the table), its per-thread-stream variant
 * when asked for one and there is one. A function without versions is
 * found by its name.
 */
API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
				 cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
	int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
	bool listed = false, too_new = false;
	const char *found = NULL;
	void *p = NULL;

	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	for (int pass = per_thread; pass >= 0 && !found; pass--) {
		for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
			if (procs[i].per_thread != pass || strcmp(procs[i].name, symbol))
				continue;
			listed = true;
			if (procs[i].version <= cudaVersion) {
				found = procs[i].symbol;
				break;
			}
			too_new = true;
		}
	}
	if (found || !listed)
		p = own_symbol(found ? found : symbol);
	if (status)
		*status = p ? CU_GET_PROC_ADDRESS_SUCCESS
			  : too_new ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
				    : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
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
