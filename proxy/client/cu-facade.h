/*
 * cu-facade.h - what the files of the libcuda facade share: the runtime's
 * (or the proxy's) statuses in the driver's words, the one context's token,
 * and how a driver call starts.
 */
#ifndef XMIG_CU_FACADE_H
#define XMIG_CU_FACADE_H

#include <cuda.h>

#include "client.h"

#define API __attribute__((visibility("default")))

/* A status from the runtime facade or the proxy as a CUresult. */
CUresult xmig_cu_result(cudaError_t e);
/* The primary context's handle (a token of ours, the same every time). */
CUcontext xmig_cu_primary(void);

/* A driver function's argument layout and proxy id (NULL: not a function of ours; cuda-module.c). */
const struct xmig_cl_kernel *xmig_cu_func_layout(CUfunction f);
/* cuMemcpy3D's settings as the runtime's cudaMemcpy3D takes them (cuda-memory.c). */
struct cudaMemcpy3DParms;
CUresult xmig_cu_copy3d_params(const CUDA_MEMCPY3D *c, struct cudaMemcpy3DParms *p);

/* Start the proxy if need be and find this thread's ring, or return the error. */
#define CU_ENTER(t)                                          \
	struct xmig_thread *t;                               \
	do {                                                 \
		cudaError_t e_ = xmig_cl_enter(&t);          \
		if (e_)                                      \
			return xmig_cu_result(e_);           \
	} while (0)

#endif
