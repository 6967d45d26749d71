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
	cudaGraph_t g;
	CUgraph cg;

	printf("cudaGraphCreate -> %d\n", (int)cudaGraphCreate(&g, 0));
	printf("cudaGraphCreate -> %d\n", (int)cudaGraphCreate(&g, 0));
	printf("cuGraphCreate -> %d\n", (int)cuGraphCreate(&cg, 0));
	return 0;
}
