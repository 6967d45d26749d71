/*
 * cudart-capture.c - stream capture, as far as xmig has it: graphs are not
 * forwarded (cudaStreamBeginCapture fails loudly), so no stream is ever
 * capturing. These queries answer that truthfully, which is all frameworks
 * ask before an ordinary launch; the capture mode is kept per thread.
 */
#include <cuda_runtime_api.h>

#include "client.h"

#define API __attribute__((visibility("default")))

static __thread enum cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;

API cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
	enum cudaStreamCaptureMode old;

	if (!mode || (*mode != cudaStreamCaptureModeGlobal &&
		      *mode != cudaStreamCaptureModeThreadLocal && *mode != cudaStreamCaptureModeRelaxed))
		return cudaErrorInvalidValue;
	old = capture_mode;
	capture_mode = *mode;
	*mode = old;
	return cudaSuccess;
}

API cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	struct xmig_thread *t;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	if (!status)
		return xmig_cl_record(t, cudaErrorInvalidValue);
	*status = cudaStreamCaptureStatusNone;
	return cudaSuccess;
}

API cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	return cudaStreamIsCapturing(stream, status);
}

API cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
					 unsigned long long *id, cudaGraph_t *graph,
					 const cudaGraphNode_t **deps, const cudaGraphEdgeData **edges,
					 size_t *ndeps)
{
	cudaError_t e = cudaStreamIsCapturing(stream, status);

	/* Natively the other outputs are left alone when not capturing. */
	(void)id, (void)graph, (void)deps, (void)edges, (void)ndeps;
	return e;
}

API cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t stream,
					      enum cudaStreamCaptureStatus *status,
					      unsigned long long *id, cudaGraph_t *graph,
					      const cudaGraphNode_t **deps,
					      const cudaGraphEdgeData **edges, size_t *ndeps)
{
	return cudaStreamGetCaptureInfo(stream, status, id, graph, deps, edges, ndeps);
}
