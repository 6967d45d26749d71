/*
 * cudart-graph.c - CUDA graphs made by stream capture (cudart-capture.c):
 * instantiated, launched, uploaded and destroyed in the proxy, which owns
 * them. cudaGraph_t and cudaGraphExec_t are the proxy's ids. An executable
 * graph is updated from another captured graph (cudaGraphExecUpdate) in
 * the proxy too; which node failed is not told. A graph built node by
 * node (cudart-graph-build.c) is captured in the proxy where one of these
 * needs it; a captured graph's nodes are not handed out (they fail loudly).
 */
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "client.h"
#include "cudart-capture.h"
#include "cudart-graph-build.h"
#include "cudart-user-object.h"

#define API __attribute__((visibility("default")))

/* One graph request; kind: posted or waited for; *res: the answer (may be NULL). */
static cudaError_t graph_call(uint32_t op, const struct xmig_graph_req *req,
			      enum xmig_call_kind kind, struct xmig_graph_res *res)
{
	struct xmig_thread *t;
	struct xmig_graph_req *a;
	struct xmig_graph_res *r = NULL;
	cudaError_t e = xmig_cl_enter(&t);

	if (e)
		return e;
	if (!req->id)
		return xmig_cl_record(t, cudaErrorInvalidValue);
	if (!(a = xmig_cl_begin(t, op, sizeof(*a))))
		return xmig_cl_lost();
	*a = *req;
	e = xmig_cl_end(t, kind, (void **)&r);
	if (res)   /* (an error's answer too: an update's result) */
		*res = r ? *r : (struct xmig_graph_res){ 0 };
	return xmig_cl_record(t, e);
}

static uint64_t id_of(const void *handle)
{
	return (uint64_t)(uintptr_t)handle;
}

static cudaError_t instantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
	struct xmig_graph_res r = { 0 };
	cudaError_t e;

	bool built = xmig_graph_built(graph);
	uint64_t id = id_of(graph);

	if (!exec)
		return cudaErrorInvalidValue;
	if (built && (e = xmig_graph_made(graph, &id)))
		return e;
	e = graph_call(XMIG_OP_GRAPH_INSTANTIATE,
		       &(struct xmig_graph_req){ .id = id, .flags = flags },
		       XMIG_CALL_SYNC, &r);
	*exec = (cudaGraphExec_t)(uintptr_t)r.exec;
	if (e == cudaSuccess && built && (e = xmig_graph_exec_made(r.exec, graph))) {
		cudaGraphExecDestroy(*exec);
		*exec = NULL;
	}
	if (e == cudaSuccess)
		xmig_user_objects_instantiated(id_of(graph), r.exec);
	return e;
}

API cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
				     unsigned long long flags)
{
	return instantiate(exec, graph, flags);
}

API cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *exec, cudaGraph_t graph,
					      unsigned long long flags)
{
	return instantiate(exec, graph, flags);
}

/* (cuda_runtime_api.h declares the per-thread entry points only under its macros) */
extern __typeof__(cudaGraphUpload) cudaGraphUpload_ptsz;

/* The flags, then an upload where asked; the result as the driver says it. */
static cudaError_t instantiate_with_params(cudaGraphExec_t *exec, cudaGraph_t graph,
					   cudaGraphInstantiateParams *p, int per_thread)
{
	cudaError_t e;

	if (!p || !exec)
		return cudaErrorInvalidValue;
	e = instantiate(exec, graph, p->flags & ~(unsigned long long)cudaGraphInstantiateFlagUpload);
	p->errNode_out = NULL;
	p->result_out = e ? cudaGraphInstantiateError : cudaGraphInstantiateSuccess;
	if (!e && (p->flags & cudaGraphInstantiateFlagUpload))
		e = (per_thread ? cudaGraphUpload_ptsz : cudaGraphUpload)(*exec, p->uploadStream);
	return e;
}

API cudaError_t cudaGraphInstantiateWithParams(cudaGraphExec_t *exec, cudaGraph_t graph,
					       cudaGraphInstantiateParams *params)
{
	return instantiate_with_params(exec, graph, params, 0);
}

API cudaError_t cudaGraphInstantiateWithParams_ptsz(cudaGraphExec_t *exec, cudaGraph_t graph,
						    cudaGraphInstantiateParams *params)
{
	return instantiate_with_params(exec, graph, params, 1);
}

/*
 * Posted; but while this process captures, answered at once: a graph
 * launched into a capturing stream is refused by CUDA at the call.
 */
static cudaError_t launch(cudaGraphExec_t exec, cudaStream_t stream, int per_thread, int upload)
{
	return graph_call(XMIG_OP_GRAPH_LAUNCH,
			  &(struct xmig_graph_req){ .id = id_of(exec),
						    .stream = xmig_cl_stream_id(stream, per_thread),
						    .upload = (uint32_t)upload },
			  xmig_capturing() ? XMIG_CALL_SYNC : XMIG_CALL_ASYNC, NULL);
}

API cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
	return launch(exec, stream, 0, 0);
}

API cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t exec, cudaStream_t stream)
{
	return launch(exec, stream, 1, 0);
}

API cudaError_t cudaGraphUpload(cudaGraphExec_t exec, cudaStream_t stream)
{
	return launch(exec, stream, 0, 1);
}

API cudaError_t cudaGraphUpload_ptsz(cudaGraphExec_t exec, cudaStream_t stream)
{
	return launch(exec, stream, 1, 1);
}

/*
 * A built graph's nodes; a captured one's, how many (PyTorch asks, to warn
 * of an empty capture): the nodes themselves are the proxy's, not served.
 */
API cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count)
{
	struct xmig_graph_res r;
	cudaError_t e;

	if (!count)
		return cudaErrorInvalidValue;
	if (xmig_graph_built(graph))
		return xmig_graph_built_nodes(graph, nodes, count);
	if (nodes) {
		xmig_cl_unsupported("cudaGraphGetNodes (the nodes themselves; their count is served)");
		return cudaErrorNotSupported;
	}
	e = graph_call(XMIG_OP_GRAPH_NODES, &(struct xmig_graph_req){ .id = id_of(graph) },
		       XMIG_CALL_SYNC, &r);
	if (e == cudaSuccess)
		*count = (size_t)r.nodes;
	return e;
}

/*
 * The executable graph takes graph's settings, node for node. Refused
 * (cudaErrorGraphExecUpdateFailure, the reason in result) where the graphs
 * differ in shape: the application then instantiates again, as it must.
 */
cudaError_t xmig_graph_exec_update_in_proxy(uint64_t exec, uint64_t graph, uint32_t *result)
{
	struct xmig_graph_res r = { 0 };
	cudaError_t e = graph_call(XMIG_OP_GRAPH_EXEC_UPDATE,
				   &(struct xmig_graph_req){ .id = exec, .graph = graph },
				   XMIG_CALL_SYNC, &r);

	*result = r.update_result;
	return e;
}

API cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph,
				    cudaGraphExecUpdateResultInfo *info)
{
	uint32_t result = 0;
	bool built = xmig_graph_built(graph);
	uint64_t id = id_of(graph);
	cudaError_t e = built ? xmig_graph_made(graph, &id) : cudaSuccess;

	/*
	 * (a built graph's shape is compared here, node for node: the proxy
	 * sees captures, in which empty nodes and child graphs left no node)
	 */
	if (!e && built && (result = xmig_graph_exec_update_shape(id_of(exec), graph)))
		e = cudaErrorGraphExecUpdateFailure;
	if (!e)
		e = xmig_graph_exec_update_in_proxy(id_of(exec), id, &result);
	if (!e)
		xmig_graph_exec_updated(id_of(exec), graph);
	if (e && !result)   /* (refused before the update was tried) */
		result = cudaGraphExecUpdateError;
	if (info)
		*info = (cudaGraphExecUpdateResultInfo){
			.result = (enum cudaGraphExecUpdateResult)result
		};
	return e;
}

API cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
	cudaError_t e = xmig_graph_built(graph)
		? xmig_graph_built_destroy(graph)
		: graph_call(XMIG_OP_GRAPH_DESTROY, &(struct xmig_graph_req){ .id = id_of(graph) },
			     XMIG_CALL_SYNC, NULL);

	if (e == cudaSuccess)
		xmig_user_objects_owner_gone(id_of(graph), false);
	return e;
}

API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
	cudaError_t e = graph_call(XMIG_OP_GRAPH_DESTROY,
				   &(struct xmig_graph_req){ .id = id_of(exec), .exec = 1 },
				   XMIG_CALL_SYNC, NULL);

	xmig_graph_exec_gone(id_of(exec));
	if (e == cudaSuccess)
		xmig_user_objects_owner_gone(id_of(exec), true);
	return e;
}
