/*
 * cudart-graph-build.h - what cudart-graph.c asks of the graphs built node
 * by node (cudart-graph-build.c).
 */
#ifndef XMIG_CUDART_GRAPH_BUILD_H
#define XMIG_CUDART_GRAPH_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#define XMIG_HIDDEN __attribute__((visibility("hidden")))

/* Was g made by cudaGraphCreate or cudaGraphClone here (not by a capture)? */
XMIG_HIDDEN bool xmig_graph_built(cudaGraph_t g);
/* The proxy's graph captured from built graph g (kept until g changes). */
XMIG_HIDDEN cudaError_t xmig_graph_made(cudaGraph_t g, uint64_t *id);
/* Its nodes (nodes NULL: how many), as cudaGraphGetNodes answers. */
XMIG_HIDDEN cudaError_t xmig_graph_built_nodes(cudaGraph_t g, cudaGraphNode_t *nodes,
					       size_t *count);
XMIG_HIDDEN cudaError_t xmig_graph_built_destroy(cudaGraph_t g);
/*
 * Executable graph exec was instantiated from, or updated from, graph g
 * (built, or for an update any): the settings of its nodes, where they
 * came from a built graph, are kept for cudaGraphExec*NodeSetParams.
 */
XMIG_HIDDEN cudaError_t xmig_graph_exec_made(uint64_t exec, cudaGraph_t g);
XMIG_HIDDEN void xmig_graph_exec_updated(uint64_t exec, cudaGraph_t g);
/*
 * Whether built graph g has the shape of the graph exec was made from
 * (cudaGraphExecUpdateSuccess), or why not, as CUDA pairs their nodes:
 * in the order they were added. (Success for an exec not made here.)
 */
XMIG_HIDDEN enum cudaGraphExecUpdateResult xmig_graph_exec_update_shape(uint64_t exec,
									 cudaGraph_t g);

/*
 * And what it asks of cudart-graph.c: executable graph exec updated in the
 * proxy from the proxy's graph `graph` (*result: why not), nothing else.
 */
XMIG_HIDDEN cudaError_t xmig_graph_exec_update_in_proxy(uint64_t exec, uint64_t graph,
							uint32_t *result);
XMIG_HIDDEN void xmig_graph_exec_gone(uint64_t exec);

#endif
