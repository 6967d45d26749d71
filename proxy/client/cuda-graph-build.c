/*
 * cuda-graph-build.c - the driver API's graphs built node by node
 * (cuGraphCreate, cuGraphAdd*Node, their edges, inspection and settings),
 * answered by the runtime facade's (cudart-graph-build.c): a CUgraph and a
 * CUgraphNode are its handles. A kernel node of a CUfunction (or CUkernel)
 * travels as a graph-kernel.h node that this facade launches; memcpy
 * nodes' CUDA_MEMCPY3D becomes a cudaMemcpy3DParms (read back: not
 * served). Each entry point of CUDA 13's libcuda is here under its own
 * name, the older layouts (_v1 structures, edges without data) too.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "cu-facade.h"
#include "graph-kernel.h"

#define R(call) return xmig_cu_result(call)

/* ---- kernel nodes --------------------------------------------------------- */

/* (the node's layout copy carries the kernel's id: the launch needs nothing else) */
static cudaError_t drv_launch(const struct xmig_graph_kernel *k, cudaStream_t s)
{
	struct xmig_thread *t;
	struct xmig_cl_launch_dims d;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	d = (struct xmig_cl_launch_dims){ { k->grid[0], k->grid[1], k->grid[2] },
					  { k->block[0], k->block[1], k->block[2] }, k->shmem,
					  xmig_cl_stream_id(s, 0) };
	return xmig_cl_launch(t, k->layout, &d, k->args, NULL);
}

/* The driver's settings (func, or kern where func is NULL) as a graph kernel. */
static CUresult kernel_of(CUfunction func, CUkernel kern, const unsigned grid[3],
			  const unsigned block[3], unsigned shmem, void **params, void **extra,
			  struct xmig_graph_kernel *k)
{
	const struct xmig_cl_kernel *l = xmig_cu_func_layout(func ? func : (CUfunction)kern);
	const void *packed = NULL;

	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((params && extra) || (extra && xmig_cl_extra_buffer(extra, l->param_bytes, &packed)))
		return CUDA_ERROR_INVALID_VALUE;
	*k = (struct xmig_graph_kernel){ .func = func ? (const void *)func : (const void *)kern,
					 .grid = { grid[0], grid[1], grid[2] },
					 .block = { block[0], block[1], block[2] }, .shmem = shmem,
					 .args = extra ? NULL : params, .packed = packed, .layout = l,
					 .launch = drv_launch };
	return CUDA_SUCCESS;
}

#define KERNEL_OF(p, kern, k)                                                               \
	kernel_of((p)->func, (kern), (unsigned[3]){ (p)->gridDimX, (p)->gridDimY, (p)->gridDimZ }, \
		  (unsigned[3]){ (p)->blockDimX, (p)->blockDimY, (p)->blockDimZ },             \
		  (p)->sharedMemBytes, (p)->kernelParams, (p)->extra, (k))

/* A node's kernel settings, back in the driver's words (a runtime node's: refused). */
static CUresult kernel_get(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS *p)
{
	struct xmig_graph_kernel k;
	cudaError_t e;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = xmig_facade_graph_kernel_get((cudaGraphNode_t)node, &k)))
		R(e);
	if (k.launch != drv_launch)
		return CUDA_ERROR_INVALID_VALUE;
	*p = (CUDA_KERNEL_NODE_PARAMS){ .func = (CUfunction)k.func, .gridDimX = k.grid[0],
					.gridDimY = k.grid[1], .gridDimZ = k.grid[2],
					.blockDimX = k.block[0], .blockDimY = k.block[1],
					.blockDimZ = k.block[2], .sharedMemBytes = k.shmem,
					.kernelParams = k.args };
	return CUDA_SUCCESS;
}

API CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	R(cudaGraphCreate((cudaGraph_t *)phGraph, flags));
}

API CUresult cuGraphAddKernelNode_v2(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				     size_t ndeps, const CUDA_KERNEL_NODE_PARAMS *p)
{
	struct xmig_graph_kernel k;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = KERNEL_OF(p, p->func ? NULL : p->kern, &k)))
		return r;
	R(xmig_facade_graph_add_kernel((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				       (const cudaGraphNode_t *)deps, ndeps, &k));
}

API CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS *p)
{
	return kernel_get(node, p);
}

API CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS *p)
{
	struct xmig_graph_kernel k;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = KERNEL_OF(p, p->func ? NULL : p->kern, &k)))
		return r;
	R(xmig_facade_graph_kernel_set((cudaGraphNode_t)node, &k));
}

API CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec exec, CUgraphNode node,
					       const CUDA_KERNEL_NODE_PARAMS *p)
{
	struct xmig_graph_kernel k;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = KERNEL_OF(p, p->func ? NULL : p->kern, &k)))
		return r;
	R(xmig_facade_graph_exec_kernel_set((cudaGraphExec_t)exec, (cudaGraphNode_t)node, &k));
}

/* CUDA 11's layout (no kern, no ctx: v2's beginning), under the older names. */
#undef cuGraphAddKernelNode
#undef cuGraphKernelNodeGetParams
#undef cuGraphKernelNodeSetParams
#undef cuGraphExecKernelNodeSetParams
static CUDA_KERNEL_NODE_PARAMS v2_of(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	CUDA_KERNEL_NODE_PARAMS v2 = { 0 };

	memcpy(&v2, p, sizeof(*p));
	return v2;
}

API CUresult cuGraphAddKernelNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				  size_t ndeps, const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	CUDA_KERNEL_NODE_PARAMS v2;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	v2 = v2_of(p);
	return cuGraphAddKernelNode_v2(node, graph, deps, ndeps, &v2);
}

API CUresult cuGraphKernelNodeGetParams(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	CUDA_KERNEL_NODE_PARAMS v2;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = kernel_get(node, &v2)))
		return r;
	memcpy(p, &v2, sizeof(*p));
	return CUDA_SUCCESS;
}

API CUresult cuGraphKernelNodeSetParams(CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	CUDA_KERNEL_NODE_PARAMS v2;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	v2 = v2_of(p);
	return cuGraphKernelNodeSetParams_v2(node, &v2);
}

API CUresult cuGraphExecKernelNodeSetParams(CUgraphExec exec, CUgraphNode node,
					    const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
	CUDA_KERNEL_NODE_PARAMS v2;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	v2 = v2_of(p);
	return cuGraphExecKernelNodeSetParams_v2(exec, node, &v2);
}

/* ---- memset, memcpy, host, empty and child-graph nodes ---------------------- */

static struct cudaMemsetParams memset_of(const CUDA_MEMSET_NODE_PARAMS *p)
{
	return (struct cudaMemsetParams){ .dst = (void *)(uintptr_t)p->dst, .pitch = p->pitch,
					  .value = p->value, .elementSize = p->elementSize,
					  .width = p->width, .height = p->height };
}

API CUresult cuGraphAddMemsetNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				  size_t ndeps, const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
	struct cudaMemsetParams m;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	m = memset_of(p);
	R(cudaGraphAddMemsetNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				 (const cudaGraphNode_t *)deps, ndeps, &m));
}

API CUresult cuGraphMemsetNodeGetParams(CUgraphNode node, CUDA_MEMSET_NODE_PARAMS *p)
{
	struct cudaMemsetParams m;
	cudaError_t e;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaGraphMemsetNodeGetParams((cudaGraphNode_t)node, &m)))
		R(e);
	*p = (CUDA_MEMSET_NODE_PARAMS){ .dst = (CUdeviceptr)(uintptr_t)m.dst, .pitch = m.pitch,
					.value = m.value, .elementSize = m.elementSize,
					.width = m.width, .height = m.height };
	return CUDA_SUCCESS;
}

API CUresult cuGraphMemsetNodeSetParams(CUgraphNode node, const CUDA_MEMSET_NODE_PARAMS *p)
{
	struct cudaMemsetParams m;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	m = memset_of(p);
	R(cudaGraphMemsetNodeSetParams((cudaGraphNode_t)node, &m));
}

API CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec exec, CUgraphNode node,
					    const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
	struct cudaMemsetParams m;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	m = memset_of(p);
	R(cudaGraphExecMemsetNodeSetParams((cudaGraphExec_t)exec, (cudaGraphNode_t)node, &m));
}

API CUresult cuGraphAddMemcpyNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				  size_t ndeps, const CUDA_MEMCPY3D *c, CUcontext ctx)
{
	struct cudaMemcpy3DParms p;
	CUresult r;

	if ((r = xmig_cu_copy3d_params(c, &p)))
		return r;
	R(cudaGraphAddMemcpyNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				 (const cudaGraphNode_t *)deps, ndeps, &p));
}

API CUresult cuGraphMemcpyNodeSetParams(CUgraphNode node, const CUDA_MEMCPY3D *c)
{
	struct cudaMemcpy3DParms p;
	CUresult r;

	if ((r = xmig_cu_copy3d_params(c, &p)))
		return r;
	R(cudaGraphMemcpyNodeSetParams((cudaGraphNode_t)node, &p));
}

API CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec exec, CUgraphNode node,
					    const CUDA_MEMCPY3D *c, CUcontext ctx)
{
	struct cudaMemcpy3DParms p;
	CUresult r;

	if ((r = xmig_cu_copy3d_params(c, &p)))
		return r;
	R(cudaGraphExecMemcpyNodeSetParams((cudaGraphExec_t)exec, (cudaGraphNode_t)node, &p));
}

/* (CUDA_HOST_NODE_PARAMS and cudaHostNodeParams: one layout) */
_Static_assert(sizeof(CUDA_HOST_NODE_PARAMS) == sizeof(struct cudaHostNodeParams),
	       "host node settings: one layout");

API CUresult cuGraphAddHostNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				size_t ndeps, const CUDA_HOST_NODE_PARAMS *p)
{
	R(cudaGraphAddHostNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
			       (const cudaGraphNode_t *)deps, ndeps,
			       (const struct cudaHostNodeParams *)p));
}

API CUresult cuGraphHostNodeGetParams(CUgraphNode node, CUDA_HOST_NODE_PARAMS *p)
{
	R(cudaGraphHostNodeGetParams((cudaGraphNode_t)node, (struct cudaHostNodeParams *)p));
}

API CUresult cuGraphHostNodeSetParams(CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p)
{
	R(cudaGraphHostNodeSetParams((cudaGraphNode_t)node, (const struct cudaHostNodeParams *)p));
}

API CUresult cuGraphExecHostNodeSetParams(CUgraphExec exec, CUgraphNode node,
					  const CUDA_HOST_NODE_PARAMS *p)
{
	R(cudaGraphExecHostNodeSetParams((cudaGraphExec_t)exec, (cudaGraphNode_t)node,
					 (const struct cudaHostNodeParams *)p));
}

API CUresult cuGraphAddEmptyNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				 size_t ndeps)
{
	R(cudaGraphAddEmptyNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				(const cudaGraphNode_t *)deps, ndeps));
}

API CUresult cuGraphAddChildGraphNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				      size_t ndeps, CUgraph child)
{
	R(cudaGraphAddChildGraphNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				     (const cudaGraphNode_t *)deps, ndeps, (cudaGraph_t)child));
}

API CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode node, CUgraph *graph)
{
	R(cudaGraphChildGraphNodeGetGraph((cudaGraphNode_t)node, (cudaGraph_t *)graph));
}

/* (a CUevent is the runtime's cudaEvent_t here: one handle) */
API CUresult cuGraphAddEventRecordNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				       size_t ndeps, CUevent event)
{
	R(cudaGraphAddEventRecordNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				      (const cudaGraphNode_t *)deps, ndeps, (cudaEvent_t)event));
}

API CUresult cuGraphAddEventWaitNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
				     size_t ndeps, CUevent event)
{
	R(cudaGraphAddEventWaitNode((cudaGraphNode_t *)node, (cudaGraph_t)graph,
				    (const cudaGraphNode_t *)deps, ndeps, (cudaEvent_t)event));
}

API CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode node, CUevent *event)
{
	R(cudaGraphEventRecordNodeGetEvent((cudaGraphNode_t)node, (cudaEvent_t *)event));
}

API CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode node, CUevent event)
{
	R(cudaGraphEventRecordNodeSetEvent((cudaGraphNode_t)node, (cudaEvent_t)event));
}

API CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode node, CUevent *event)
{
	R(cudaGraphEventWaitNodeGetEvent((cudaGraphNode_t)node, (cudaEvent_t *)event));
}

API CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode node, CUevent event)
{
	R(cudaGraphEventWaitNodeSetEvent((cudaGraphNode_t)node, (cudaEvent_t)event));
}

API CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec exec, CUgraphNode node, CUevent event)
{
	R(cudaGraphExecEventRecordNodeSetEvent((cudaGraphExec_t)exec, (cudaGraphNode_t)node,
					       (cudaEvent_t)event));
}

API CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec exec, CUgraphNode node, CUevent event)
{
	R(cudaGraphExecEventWaitNodeSetEvent((cudaGraphExec_t)exec, (cudaGraphNode_t)node,
					     (cudaEvent_t)event));
}

/* ---- edges, inspection, clones ---------------------------------------------- */

API CUresult cuGraphAddDependencies_v2(CUgraph graph, const CUgraphNode *from,
				       const CUgraphNode *to, const CUgraphEdgeData *edges,
				       size_t n)
{
	R(cudaGraphAddDependencies((cudaGraph_t)graph, (const cudaGraphNode_t *)from,
				   (const cudaGraphNode_t *)to, (const cudaGraphEdgeData *)edges, n));
}

API CUresult cuGraphRemoveDependencies_v2(CUgraph graph, const CUgraphNode *from,
					  const CUgraphNode *to, const CUgraphEdgeData *edges,
					  size_t n)
{
	R(cudaGraphRemoveDependencies((cudaGraph_t)graph, (const cudaGraphNode_t *)from,
				      (const cudaGraphNode_t *)to, (const cudaGraphEdgeData *)edges,
				      n));
}

API CUresult cuGraphGetEdges_v2(CUgraph graph, CUgraphNode *from, CUgraphNode *to,
				CUgraphEdgeData *edges, size_t *n)
{
	R(cudaGraphGetEdges((cudaGraph_t)graph, (cudaGraphNode_t *)from, (cudaGraphNode_t *)to,
			    (cudaGraphEdgeData *)edges, n));
}

API CUresult cuGraphNodeGetDependencies_v2(CUgraphNode node, CUgraphNode *deps,
					   CUgraphEdgeData *edges, size_t *n)
{
	R(cudaGraphNodeGetDependencies((cudaGraphNode_t)node, (cudaGraphNode_t *)deps,
				       (cudaGraphEdgeData *)edges, n));
}

API CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode node, CUgraphNode *deps,
					     CUgraphEdgeData *edges, size_t *n)
{
	R(cudaGraphNodeGetDependentNodes((cudaGraphNode_t)node, (cudaGraphNode_t *)deps,
					 (cudaGraphEdgeData *)edges, n));
}

/* CUDA 12.2's and earlier: edges without data. */
#undef cuGraphAddDependencies
#undef cuGraphRemoveDependencies
#undef cuGraphGetEdges
#undef cuGraphNodeGetDependencies
#undef cuGraphNodeGetDependentNodes
API CUresult cuGraphAddDependencies(CUgraph graph, const CUgraphNode *from, const CUgraphNode *to,
				    size_t n)
{
	return cuGraphAddDependencies_v2(graph, from, to, NULL, n);
}

API CUresult cuGraphRemoveDependencies(CUgraph graph, const CUgraphNode *from,
				       const CUgraphNode *to, size_t n)
{
	return cuGraphRemoveDependencies_v2(graph, from, to, NULL, n);
}

API CUresult cuGraphGetEdges(CUgraph graph, CUgraphNode *from, CUgraphNode *to, size_t *n)
{
	return cuGraphGetEdges_v2(graph, from, to, NULL, n);
}

API CUresult cuGraphNodeGetDependencies(CUgraphNode node, CUgraphNode *deps, size_t *n)
{
	return cuGraphNodeGetDependencies_v2(node, deps, NULL, n);
}

API CUresult cuGraphNodeGetDependentNodes(CUgraphNode node, CUgraphNode *deps, size_t *n)
{
	return cuGraphNodeGetDependentNodes_v2(node, deps, NULL, n);
}

API CUresult cuGraphGetNodes(CUgraph graph, CUgraphNode *nodes, size_t *n)
{
	R(cudaGraphGetNodes((cudaGraph_t)graph, (cudaGraphNode_t *)nodes, n));
}

API CUresult cuGraphGetRootNodes(CUgraph graph, CUgraphNode *roots, size_t *n)
{
	R(cudaGraphGetRootNodes((cudaGraph_t)graph, (cudaGraphNode_t *)roots, n));
}

/* (CUgraphNodeType and cudaGraphNodeType number alike) */
API CUresult cuGraphNodeGetType(CUgraphNode node, CUgraphNodeType *type)
{
	R(cudaGraphNodeGetType((cudaGraphNode_t)node, (enum cudaGraphNodeType *)type));
}

API CUresult cuGraphClone(CUgraph *clone, CUgraph original)
{
	R(cudaGraphClone((cudaGraph_t *)clone, (cudaGraph_t)original));
}

API CUresult cuGraphNodeFindInClone(CUgraphNode *found, CUgraphNode original, CUgraph clone)
{
	R(cudaGraphNodeFindInClone((cudaGraphNode_t *)found, (cudaGraphNode_t)original,
				   (cudaGraph_t)clone));
}

API CUresult cuGraphDestroyNode(CUgraphNode node)
{
	R(cudaGraphDestroyNode((cudaGraphNode_t)node));
}

/* (CUgraphExecUpdateResultInfo and cudaGraphExecUpdateResultInfo: one layout) */
API CUresult cuGraphExecUpdate_v2(CUgraphExec exec, CUgraph graph,
				  CUgraphExecUpdateResultInfo *info)
{
	R(cudaGraphExecUpdate((cudaGraphExec_t)exec, (cudaGraph_t)graph,
			      (cudaGraphExecUpdateResultInfo *)info));
}

API CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec exec, CUgraphNode node, CUgraph child)
{
	R(cudaGraphExecChildGraphNodeSetParams((cudaGraphExec_t)exec, (cudaGraphNode_t)node,
					       (cudaGraph_t)child));
}

/* ---- the generic entry points (CUDA 12.2's CUgraphNodeParams) -------------------- */

_Static_assert(sizeof(CUDA_KERNEL_NODE_PARAMS_v3) == sizeof(CUDA_KERNEL_NODE_PARAMS),
	       "kernel node settings: one layout");

/* A memset node's v2 settings: v1's, then a context (the one there is). */
static CUDA_MEMSET_NODE_PARAMS memset_v1(const CUDA_MEMSET_NODE_PARAMS_v2 *p)
{
	CUDA_MEMSET_NODE_PARAMS m;

	memcpy(&m, p, sizeof(m));
	return m;
}

/* (the runtime facade says which kinds are not served, and logs it) */
static CUresult generic_other(CUgraphNodeType type)
{
	struct cudaGraphNodeParams p = { .type = (enum cudaGraphNodeType)type };

	R(cudaGraphAddNode(NULL, NULL, NULL, NULL, 0, &p));
}

API CUresult cuGraphAddNode_v2(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
			       const CUgraphEdgeData *edges, size_t n, CUgraphNodeParams *p)
{
	CUDA_MEMSET_NODE_PARAMS m;
	static const CUgraphEdgeData plain;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; edges && i < n; i++)
		if (memcmp(&edges[i], &plain, sizeof(plain))) {
			xmig_cl_unsupported("graph edges with edge data (programmatic launches)");
			return CUDA_ERROR_NOT_SUPPORTED;
		}
	switch (p->type) {
	case CU_GRAPH_NODE_TYPE_KERNEL:
		return cuGraphAddKernelNode_v2(node, graph, deps, n,
					       (const CUDA_KERNEL_NODE_PARAMS *)&p->kernel);
	case CU_GRAPH_NODE_TYPE_MEMCPY:
		if (p->memcpy.flags)
			return CUDA_ERROR_INVALID_VALUE;
		return cuGraphAddMemcpyNode(node, graph, deps, n, &p->memcpy.copyParams,
					    p->memcpy.copyCtx);
	case CU_GRAPH_NODE_TYPE_MEMSET:
		m = memset_v1(&p->memset);
		return cuGraphAddMemsetNode(node, graph, deps, n, &m, p->memset.ctx);
	case CU_GRAPH_NODE_TYPE_HOST:
		return cuGraphAddHostNode(node, graph, deps, n,
					  (const CUDA_HOST_NODE_PARAMS *)&p->host);
	case CU_GRAPH_NODE_TYPE_GRAPH:
		if (p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE) {
			xmig_cl_unsupported("a child graph moved into its node (not copied)");
			return CUDA_ERROR_NOT_SUPPORTED;
		}
		return cuGraphAddChildGraphNode(node, graph, deps, n, p->graph.graph);
	case CU_GRAPH_NODE_TYPE_EMPTY:
		return cuGraphAddEmptyNode(node, graph, deps, n);
	case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
		return cuGraphAddEventRecordNode(node, graph, deps, n, p->eventRecord.event);
	case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
		return cuGraphAddEventWaitNode(node, graph, deps, n, p->eventWait.event);
	default:
		return generic_other(p->type);
	}
}

#undef cuGraphAddNode
API CUresult cuGraphAddNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps, size_t n,
			    CUgraphNodeParams *p)
{
	return cuGraphAddNode_v2(node, graph, deps, NULL, n, p);
}

API CUresult cuGraphNodeSetParams(CUgraphNode node, CUgraphNodeParams *p)
{
	CUDA_MEMSET_NODE_PARAMS m;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	switch (p->type) {
	case CU_GRAPH_NODE_TYPE_KERNEL:
		return cuGraphKernelNodeSetParams_v2(node, (const CUDA_KERNEL_NODE_PARAMS *)&p->kernel);
	case CU_GRAPH_NODE_TYPE_MEMCPY:
		return p->memcpy.flags ? CUDA_ERROR_INVALID_VALUE
				       : cuGraphMemcpyNodeSetParams(node, &p->memcpy.copyParams);
	case CU_GRAPH_NODE_TYPE_MEMSET:
		m = memset_v1(&p->memset);
		return cuGraphMemsetNodeSetParams(node, &m);
	case CU_GRAPH_NODE_TYPE_HOST:
		return cuGraphHostNodeSetParams(node, (const CUDA_HOST_NODE_PARAMS *)&p->host);
	case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
		return cuGraphEventRecordNodeSetEvent(node, p->eventRecord.event);
	case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
		return cuGraphEventWaitNodeSetEvent(node, p->eventWait.event);
	case CU_GRAPH_NODE_TYPE_GRAPH:
	case CU_GRAPH_NODE_TYPE_EMPTY:
		return CUDA_ERROR_INVALID_VALUE;
	default:
		return generic_other(p->type);
	}
}

API CUresult cuGraphExecNodeSetParams(CUgraphExec exec, CUgraphNode node, CUgraphNodeParams *p)
{
	CUDA_MEMSET_NODE_PARAMS m;

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	switch (p->type) {
	case CU_GRAPH_NODE_TYPE_KERNEL:
		return cuGraphExecKernelNodeSetParams_v2(exec, node, (const CUDA_KERNEL_NODE_PARAMS *)
								     &p->kernel);
	case CU_GRAPH_NODE_TYPE_MEMCPY:
		return p->memcpy.flags ? CUDA_ERROR_INVALID_VALUE
				       : cuGraphExecMemcpyNodeSetParams(exec, node, &p->memcpy.copyParams,
									p->memcpy.copyCtx);
	case CU_GRAPH_NODE_TYPE_MEMSET:
		m = memset_v1(&p->memset);
		return cuGraphExecMemsetNodeSetParams(exec, node, &m, p->memset.ctx);
	case CU_GRAPH_NODE_TYPE_HOST:
		return cuGraphExecHostNodeSetParams(exec, node, (const CUDA_HOST_NODE_PARAMS *)&p->host);
	case CU_GRAPH_NODE_TYPE_GRAPH:
		return cuGraphExecChildGraphNodeSetParams(exec, node, p->graph.graph);
	case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
		return cuGraphExecEventRecordNodeSetEvent(exec, node, p->eventRecord.event);
	case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
		return cuGraphExecEventWaitNodeSetEvent(exec, node, p->eventWait.event);
	case CU_GRAPH_NODE_TYPE_EMPTY:
		return CUDA_ERROR_INVALID_VALUE;
	default:
		return generic_other(p->type);
	}
}
