/*
 * cudart-capture.c - stream capture. The capture runs in the proxy, on its
 * stream, so the work the application queues meanwhile is captured there
 * (srv-graph.c); cudaStreamEndCapture hands back a graph id as the
 * cudaGraph_t. The capture mode is kept per thread, as CUDA does; the
 * proxy captures relaxed. While this process captures nothing, the status
 * queries (which frameworks ask before many calls) answer here.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "client.h"
#include "cudart-capture.h"

#define API __attribute__((visibility("default")))

static __thread enum cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;
/* captures begun and not ended, in this process: while 0, no stream is capturing */
static _Atomic int captures;

bool xmig_capturing(void)
{
	return atomic_load(&captures) > 0;
}

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

/* One capture request, waited for; its reply in *res (may be NULL). */
static cudaError_t capture_call(struct xmig_thread *t, uint32_t op, cudaStream_t stream,
				int per_thread, int mode, struct xmig_capture_res *res)
{
	struct xmig_capture_req *a = xmig_cl_begin(t, op, sizeof(*a));
	struct xmig_capture_res *r;
	cudaError_t e;

	if (!a)
		return xmig_cl_lost();
	a->stream = xmig_cl_stream_id(stream, per_thread);
	a->mode = (uint32_t)mode;
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	if (res)
		*res = e == cudaSuccess ? *r : (struct xmig_capture_res){ 0 };
	return e;
}

static cudaError_t begin_capture(cudaStream_t stream, enum cudaStreamCaptureMode mode,
				 int per_thread)
{
	struct xmig_thread *t;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	e = capture_call(t, XMIG_OP_CAPTURE_BEGIN, stream, per_thread, mode, NULL);
	if (e == cudaSuccess)
		atomic_fetch_add(&captures, 1);
	return xmig_cl_record(t, e);
}

API cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
	return begin_capture(stream, mode, 0);
}

API cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
	return begin_capture(stream, mode, 1);
}

static cudaError_t end_capture(cudaStream_t stream, cudaGraph_t *graph, int per_thread)
{
	struct xmig_thread *t;
	struct xmig_capture_res r;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	if (!graph)
		return xmig_cl_record(t, cudaErrorInvalidValue);
	e = capture_call(t, XMIG_OP_CAPTURE_END, stream, per_thread, 0, &r);
	/* (over, also when it failed: not when none began on this stream, which goes on) */
	if (e != cudaErrorIllegalState && e != cudaErrorInvalidResourceHandle &&
	    e != cudaErrorStreamCaptureUnmatched && atomic_load(&captures) > 0)
		atomic_fetch_sub(&captures, 1);
	*graph = e == cudaSuccess ? (cudaGraph_t)(uintptr_t)r.graph : NULL;
	return xmig_cl_record(t, e);
}

API cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph)
{
	return end_capture(stream, graph, 0);
}

API cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t stream, cudaGraph_t *graph)
{
	return end_capture(stream, graph, 1);
}

/* The status, and while a capture is on its id and the graph it makes (each may be NULL). */
static cudaError_t capture_info(cudaStream_t stream, int per_thread,
				enum cudaStreamCaptureStatus *status, unsigned long long *id,
				cudaGraph_t *graph)
{
	struct xmig_thread *t;
	struct xmig_capture_res r;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	if (!status)
		return xmig_cl_record(t, cudaErrorInvalidValue);
	if (atomic_load(&captures) == 0) {
		*status = cudaStreamCaptureStatusNone;
		return cudaSuccess;
	}
	if ((e = capture_call(t, XMIG_OP_CAPTURE_INFO, stream, per_thread, 0, &r)))
		return xmig_cl_record(t, e);
	*status = (enum cudaStreamCaptureStatus)r.status;
	if (id && r.status != cudaStreamCaptureStatusNone)
		*id = r.capture_id;
	if (graph && r.status == cudaStreamCaptureStatusActive)
		*graph = (cudaGraph_t)(uintptr_t)r.graph;
	return cudaSuccess;
}

API cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	return capture_info(stream, 0, status, NULL, NULL);
}

API cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	return capture_info(stream, 1, status, NULL, NULL);
}

/*
 * The graph being captured is handed out under the id the proxy gives it
 * at the end (cuda.core's GraphBuilder keeps that, not the end's answer).
 * Its open ends are nodes of the proxy's graph, which this process cannot
 * name: asked for while capturing, the call fails loudly rather than hand
 * out something false.
 */
static cudaError_t get_capture_info(cudaStream_t stream, int per_thread,
				    enum cudaStreamCaptureStatus *status, unsigned long long *id,
				    cudaGraph_t *graph, const cudaGraphNode_t **deps,
				    const cudaGraphEdgeData **edges, size_t *ndeps)
{
	cudaError_t e = capture_info(stream, per_thread, status, id, graph);

	if (e || *status == cudaStreamCaptureStatusNone || (!deps && !edges && !ndeps))
		return e;
	xmig_cl_unsupported("cudaStreamGetCaptureInfo (the open ends of the graph being captured)");
	return cudaErrorNotSupported;
}

API cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
					 unsigned long long *id, cudaGraph_t *graph,
					 const cudaGraphNode_t **deps, const cudaGraphEdgeData **edges,
					 size_t *ndeps)
{
	return get_capture_info(stream, 0, status, id, graph, deps, edges, ndeps);
}

API cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t stream,
					      enum cudaStreamCaptureStatus *status,
					      unsigned long long *id, cudaGraph_t *graph,
					      const cudaGraphNode_t **deps,
					      const cudaGraphEdgeData **edges, size_t *ndeps)
{
	return get_capture_info(stream, 1, status, id, graph, deps, edges, ndeps);
}
