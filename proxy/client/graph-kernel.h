/*
 * graph-kernel.h - a kernel node of a graph built node by node, as either
 * facade hands it to the runtime facade's graphs (cudart-graph-build.c):
 * the runtime's (a host stub or cudaKernel_t, launched by cudaLaunchKernel)
 * or the driver's (a CUfunction, launched by cuLaunchKernel). The driver
 * facade reaches these through the runtime facade's private exports.
 */
#ifndef XMIG_GRAPH_KERNEL_H
#define XMIG_GRAPH_KERNEL_H

#include <cuda_runtime_api.h>

#include "client.h"

struct xmig_graph_kernel {
	const void *func;
	unsigned grid[3], block[3], shmem;
	void **args;                          /* one pointer an argument, or NULL: */
	const void *packed;                   /* them packed as the kernel takes them (`extra`) */
	const struct xmig_cl_kernel *layout;  /* the arguments' offsets and sizes */
	/* func launched with these settings on stream s (in a capture: a node) */
	cudaError_t (*launch)(const struct xmig_graph_kernel *k, cudaStream_t s);
};

#define XMIG_FACADE_API __attribute__((visibility("default")))

XMIG_FACADE_API cudaError_t xmig_facade_graph_add_kernel(cudaGraphNode_t *node, cudaGraph_t graph,
							 const cudaGraphNode_t *deps, size_t ndeps,
							 const struct xmig_graph_kernel *k);
/* A kernel node's settings (args and layout: the node's own, valid while it is unchanged). */
XMIG_FACADE_API cudaError_t xmig_facade_graph_kernel_get(cudaGraphNode_t node,
							 struct xmig_graph_kernel *k);
XMIG_FACADE_API cudaError_t xmig_facade_graph_kernel_set(cudaGraphNode_t node,
							 const struct xmig_graph_kernel *k);
XMIG_FACADE_API cudaError_t xmig_facade_graph_exec_kernel_set(cudaGraphExec_t exec,
							      cudaGraphNode_t node,
							      const struct xmig_graph_kernel *k);

#endif
