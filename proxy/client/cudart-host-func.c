/*
 * cudart-host-func.c - cudaLaunchHostFunc and cudaStreamAddCallback: the
 * function runs in this process, on the client's host-function thread,
 * once the stream's earlier work is done (host-func.c).
 */
#include <cuda_runtime_api.h>

#include "cudart-capture.h"
#include "cudart-facade.h"

static cudaError_t post(cudaStream_t stream, int per_thread, enum xmig_host_fn_kind kind,
			void *fn, void *data)
{
	struct xmig_host_fn f = { kind, fn, data, stream };

	ENTER(t);
	RETURN(t, xmig_cl_host_func(t, xmig_cl_stream_id(stream, per_thread), &f,
				    xmig_capturing()));
}

API cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *userData)
{
	return post(stream, 0, XMIG_HOST_FN, (void *)fn, userData);
}

API cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t stream, cudaHostFn_t fn, void *userData)
{
	return post(stream, 1, XMIG_HOST_FN, (void *)fn, userData);
}

/* (flags: "reserved for future use, must be 0") */
API cudaError_t cudaStreamAddCallback(cudaStream_t stream, cudaStreamCallback_t callback,
				      void *userData, unsigned int flags)
{
	if (flags)
		return cudaErrorInvalidValue;
	return post(stream, 0, XMIG_HOST_FN_CALLBACK, (void *)callback, userData);
}

API cudaError_t cudaStreamAddCallback_ptsz(cudaStream_t stream, cudaStreamCallback_t callback,
					   void *userData, unsigned int flags)
{
	if (flags)
		return cudaErrorInvalidValue;
	return post(stream, 1, XMIG_HOST_FN_CALLBACK, (void *)callback, userData);
}
