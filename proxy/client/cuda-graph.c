/*
 * cuda-graph.c - the driver API's stream capture and graphs (what
 * cuda.core's GraphBuilder and cuda-python reach), answered through the
 * runtime facade: a CUgraph and a CUgraphExec are the runtime's handles,
 * which the proxy keeps and makes again after a move, and the capture
 * statuses and modes number alike in both APIs. User objects are the
 * runtime facade's too (cudart-user-object.c).
 */
#define _GNU_SOURCE
#include <stdint.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "cu-facade.h"

#define R(call) return xmig_cu_result(call)

/* The per-thread-stream entry points (declared only under the runtime's own macros). */
extern __typeof__(cudaStreamBeginCapture) cudaStreamBeginCapture_ptsz;
extern __typeof__(cudaStreamEndCapture) cudaStreamEndCapture_ptsz;
extern __typeof__(cudaStreamIsCapturing) cudaStreamIsCapturing_ptsz;
extern __typeof__(cudaStreamGetCaptureInfo) cudaStreamGetCaptureInfo_ptsz;
extern __typeof__(cudaGraphLaunch) cudaGraphLaunch_ptsz;
extern __typeof__(cudaGraphUpload) cudaGraphUpload_ptsz;
extern __typeof__(cudaGraphInstantiateWithParams) cudaGraphInstantiateWithParams_ptsz;

/* ---- capture ----------------------------------------------------------------- */

API CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	R(cudaStreamBeginCapture((cudaStream_t)hStream, (enum cudaStreamCaptureMode)mode));
}

API CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
	R(cudaStreamBeginCapture_ptsz((cudaStream_t)hStream, (enum cudaStreamCaptureMode)mode));
}

/* CUDA 10.0's, before the mode: the global mode. */
#undef cuStreamBeginCapture
API CUresult cuStreamBeginCapture(CUstream hStream)
{
	return cuStreamBeginCapture_v2(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

#undef cuStreamBeginCapture_ptsz
API CUresult cuStreamBeginCapture_ptsz(CUstream hStream)
{
	return cuStreamBeginCapture_v2_ptsz(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

/*
 * The driver takes a NULL graph: cuda.core ends its GraphBuilder's capture
 * so, having taken the graph from cuStreamGetCaptureInfo (the same id).
 */
#undef cuStreamEndCapture
API CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	cudaGraph_t g;
	cudaError_t e = cudaStreamEndCapture((cudaStream_t)hStream, &g);

	if (phGraph)
		*phGraph = (CUgraph)g;
	R(e);
}

API CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	cudaGraph_t g;
	cudaError_t e = cudaStreamEndCapture_ptsz((cudaStream_t)hStream, &g);

	if (phGraph)
		*phGraph = (CUgraph)g;
	R(e);
}

#undef cuStreamIsCapturing
API CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	R(cudaStreamIsCapturing((cudaStream_t)hStream,
				(enum cudaStreamCaptureStatus *)captureStatus));
}

API CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	R(cudaStreamIsCapturing_ptsz((cudaStream_t)hStream,
				     (enum cudaStreamCaptureStatus *)captureStatus));
}

#undef cuThreadExchangeStreamCaptureMode
API CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
	R(cudaThreadExchangeStreamCaptureMode((enum cudaStreamCaptureMode *)mode));
}

/*
 * The three generations of cuStreamGetCaptureInfo: the status and id
 * (10.1); the graph and its open ends (11.3); their edges (12.3). The
 * runtime facade gives the graph being captured (its id, reserved by the
 * proxy) and its open ends (the proxy's nodes, as names only).
 */
#undef cuStreamGetCaptureInfo
API CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
				    cuuint64_t *id_out)
{
	R(cudaStreamGetCaptureInfo((cudaStream_t)hStream,
				   (enum cudaStreamCaptureStatus *)captureStatus_out,
				   (unsigned long long *)id_out, NULL, NULL, NULL, NULL));
}

API CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream,
					 CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out)
{
	R(cudaStreamGetCaptureInfo_ptsz((cudaStream_t)hStream,
					(enum cudaStreamCaptureStatus *)captureStatus_out,
					(unsigned long long *)id_out, NULL, NULL, NULL, NULL));
}

API CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
				       cuuint64_t *id_out, CUgraph *graph_out,
				       const CUgraphNode **dependencies_out,
				       size_t *numDependencies_out)
{
	R(cudaStreamGetCaptureInfo((cudaStream_t)hStream,
				   (enum cudaStreamCaptureStatus *)captureStatus_out,
				   (unsigned long long *)id_out, (cudaGraph_t *)graph_out,
				   (const cudaGraphNode_t **)dependencies_out, NULL,
				   numDependencies_out));
}

API CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream,
					    CUstreamCaptureStatus *captureStatus_out,
					    cuuint64_t *id_out, CUgraph *graph_out,
					    const CUgraphNode **dependencies_out,
					    size_t *numDependencies_out)
{
	R(cudaStreamGetCaptureInfo_ptsz((cudaStream_t)hStream,
					(enum cudaStreamCaptureStatus *)captureStatus_out,
					(unsigned long long *)id_out, (cudaGraph_t *)graph_out,
					(const cudaGraphNode_t **)dependencies_out, NULL,
					numDependencies_out));
}

API CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
				       cuuint64_t *id_out, CUgraph *graph_out,
				       const CUgraphNode **dependencies_out,
				       const CUgraphEdgeData **edgeData_out,
				       size_t *numDependencies_out)
{
	R(cudaStreamGetCaptureInfo((cudaStream_t)hStream,
				   (enum cudaStreamCaptureStatus *)captureStatus_out,
				   (unsigned long long *)id_out, (cudaGraph_t *)graph_out,
				   (const cudaGraphNode_t **)dependencies_out,
				   (const cudaGraphEdgeData **)edgeData_out, numDependencies_out));
}

API CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream,
					    CUstreamCaptureStatus *captureStatus_out,
					    cuuint64_t *id_out, CUgraph *graph_out,
					    const CUgraphNode **dependencies_out,
					    const CUgraphEdgeData **edgeData_out,
					    size_t *numDependencies_out)
{
	R(cudaStreamGetCaptureInfo_ptsz((cudaStream_t)hStream,
					(enum cudaStreamCaptureStatus *)captureStatus_out,
					(unsigned long long *)id_out, (cudaGraph_t *)graph_out,
					(const cudaGraphNode_t **)dependencies_out,
					(const cudaGraphEdgeData **)edgeData_out,
					numDependencies_out));
}

/* ---- graphs ------------------------------------------------------------------ */

API CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
					 unsigned long long flags)
{
	R(cudaGraphInstantiateWithFlags((cudaGraphExec_t *)phGraphExec, (cudaGraph_t)hGraph, flags));
}

/*
 * CUDA 11's, with an error node and a log: the proxy's instantiation
 * reports no node, and the log is left empty.
 */
API CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
				   CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return cuGraphInstantiateWithFlags(phGraphExec, hGraph, 0);
}

/*
 * With parameters (cuda.core's way): the upload flag is an upload on the
 * stream named, after; the proxy's instantiation names no error node.
 */
/* (CUDA_GRAPH_INSTANTIATE_PARAMS and cudaGraphInstantiateParams: one layout, one numbering) */
static CUresult instantiate_with_params(CUgraphExec *phGraphExec, CUgraph hGraph,
					CUDA_GRAPH_INSTANTIATE_PARAMS *p, int per_thread)
{
	R((per_thread ? cudaGraphInstantiateWithParams_ptsz : cudaGraphInstantiateWithParams)(
		(cudaGraphExec_t *)phGraphExec, (cudaGraph_t)hGraph, (cudaGraphInstantiateParams *)p));
}

#undef cuGraphInstantiateWithParams
API CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
					  CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	return instantiate_with_params(phGraphExec, hGraph, instantiateParams, 0);
}

API CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
					       CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	return instantiate_with_params(phGraphExec, hGraph, instantiateParams, 1);
}

#undef cuGraphLaunch
API CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	R(cudaGraphLaunch((cudaGraphExec_t)hGraphExec, (cudaStream_t)hStream));
}

API CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	R(cudaGraphLaunch_ptsz((cudaGraphExec_t)hGraphExec, (cudaStream_t)hStream));
}

#undef cuGraphUpload
API CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
	R(cudaGraphUpload((cudaGraphExec_t)hGraphExec, (cudaStream_t)hStream));
}

API CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	R(cudaGraphUpload_ptsz((cudaGraphExec_t)hGraphExec, (cudaStream_t)hStream));
}

API CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	R(cudaGraphExecDestroy((cudaGraphExec_t)hGraphExec));
}

API CUresult cuGraphDestroy(CUgraph hGraph)
{
	R(cudaGraphDestroy((cudaGraph_t)hGraph));
}

/* ---- user objects (cudart-user-object.c: kept in this process) --------------- */

API CUresult cuUserObjectCreate(CUuserObject *object_out, void *ptr, CUhostFn destroy,
				unsigned int initialRefcount, unsigned int flags)
{
	R(cudaUserObjectCreate((cudaUserObject_t *)object_out, ptr, (cudaHostFn_t)destroy,
			       initialRefcount, flags));
}

API CUresult cuUserObjectRetain(CUuserObject object, unsigned int count)
{
	R(cudaUserObjectRetain((cudaUserObject_t)object, count));
}

API CUresult cuUserObjectRelease(CUuserObject object, unsigned int count)
{
	R(cudaUserObjectRelease((cudaUserObject_t)object, count));
}

API CUresult cuGraphRetainUserObject(CUgraph graph, CUuserObject object, unsigned int count,
				     unsigned int flags)
{
	R(cudaGraphRetainUserObject((cudaGraph_t)graph, (cudaUserObject_t)object, count, flags));
}

API CUresult cuGraphReleaseUserObject(CUgraph graph, CUuserObject object, unsigned int count)
{
	R(cudaGraphReleaseUserObject((cudaGraph_t)graph, (cudaUserObject_t)object, count));
}
