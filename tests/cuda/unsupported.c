/*
 * unsupported.c - calls functions the facades do not support (twice, to
 * show the message comes once) and prints what they return. Built with gcc
 * against the runtime and driver (-lcudart -lcuda); run under xmig only.
 */
#include <stdio.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

int main(void)
{
	cudaGraphNode_t n;
	CUgraphNode cn;

	/* (memory-allocation nodes: a graph's own pool, which a move could not carry) */
	printf("cudaGraphAddMemAllocNode -> %d\n",
	       (int)cudaGraphAddMemAllocNode(&n, NULL, NULL, 0, NULL));
	printf("cudaGraphAddMemAllocNode -> %d\n",
	       (int)cudaGraphAddMemAllocNode(&n, NULL, NULL, 0, NULL));
	printf("cuGraphAddMemAllocNode -> %d\n", (int)cuGraphAddMemAllocNode(&cn, NULL, NULL, 0, NULL));
	return 0;
}
