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

/* One capture request, waited for; its reply in *res (may be NULL). deps: CAPTURE_INFO's open ends too. */
static cudaError_t capture_call(struct xmig_thread *t, uint32_t op, cudaStream_t stream,
				int per_thread, int mode, bool deps, struct xmig_capture_res *res)
{
	struct xmig_capture_req *a = xmig_cl_begin(t, op, sizeof(*a));
	struct xmig_capture_res *r;
	cudaError_t e;

	if (!a)
		return xmig_cl_lost();
	a->stream = xmig_cl_stream_id(stream, per_thread);
	a->mode = (uint32_t)mode;
	a->deps = deps;
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
	e = capture_call(t, XMIG_OP_CAPTURE_BEGIN, stream, per_thread, mode, false, NULL);
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
	e = capture_call(t, XMIG_OP_CAPTURE_END, stream, per_thread, 0, false, &r);
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

/*
 * The open ends of a capture: the nodes the stream's next work will
 * depend on, as the proxy's graph names them (opaque here: no call takes
 * a node of this process). Valid until this thread's next such question,
 * as the driver's until the stream's next call; the edges all plain.
 */
static __thread cudaGraphNode_t open_ends[XMIG_CAPTURE_DEPS_MAX];
static __thread cudaGraphEdgeData open_edges[XMIG_CAPTURE_DEPS_MAX];

/*
 * The status, and while a capture is on its id, the graph it makes and
 * (ndeps not NULL) its open ends (each may be NULL).
 */
static cudaError_t capture_info(cudaStream_t stream, int per_thread,
				enum cudaStreamCaptureStatus *status, unsigned long long *id,
				cudaGraph_t *graph, const cudaGraphNode_t **deps,
				const cudaGraphEdgeData **edges, size_t *ndeps)
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
	/* (as the driver: the nodes without their count, or the edges without the nodes, refused) */
	if ((deps && !ndeps) || (edges && !deps))
		return xmig_cl_record(t, cudaErrorInvalidValue);
	if ((e = capture_call(t, XMIG_OP_CAPTURE_INFO, stream, per_thread, 0, ndeps != NULL, &r)))
		return xmig_cl_record(t, e);
	*status = (enum cudaStreamCaptureStatus)r.status;
	if (id && r.status != cudaStreamCaptureStatusNone)
		*id = r.capture_id;
	if (r.status != cudaStreamCaptureStatusActive)
		return cudaSuccess;
	if (graph)
		*graph = (cudaGraph_t)(uintptr_t)r.graph;
	if (ndeps) {
		*ndeps = r.ndeps;
		for (uint32_t i = 0; i < r.ndeps && i < XMIG_CAPTURE_DEPS_MAX; i++) {
			open_ends[i] = (cudaGraphNode_t)(uintptr_t)r.deps[i];
			open_edges[i] = (cudaGraphEdgeData){ 0 };
		}
	}
	if (deps)
		*deps = open_ends;
	if (edges)
		*edges = open_edges;
	return cudaSuccess;
}

API cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	return capture_info(stream, 0, status, NULL, NULL, NULL, NULL, NULL);
}

API cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
	return capture_info(stream, 1, status, NULL, NULL, NULL, NULL, NULL);
}

/*
 * The graph being captured is handed out under the id the proxy gives it
 * at the end (cuda.core's GraphBuilder keeps that, not the end's answer).
 * Its open ends are the proxy's graph's nodes, handed out as they are: no
 * call of this process takes a node (cudaGraphAddNode and its kind fail
 * loudly), so they serve as names only (cuda.core keeps the one after
 * its callback's host function).
 */
API cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
					 unsigned long long *id, cudaGraph_t *graph,
					 const cudaGraphNode_t **deps, const cudaGraphEdgeData **edges,
					 size_t *ndeps)
{
	return capture_info(stream, 0, status, id, graph, deps, edges, ndeps);
}

API cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t stream,
					      enum cudaStreamCaptureStatus *status,
					      unsigned long long *id, cudaGraph_t *graph,
					      const cudaGraphNode_t **deps,
					      const cudaGraphEdgeData **edges, size_t *ndeps)
{
	return capture_info(stream, 1, status, id, graph, deps, edges, ndeps);
}
