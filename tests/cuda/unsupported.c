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
	CUmodule m;

	printf("cudaGraphCreate -> %d\n", (int)cudaGraphCreate(&g, 0));
	printf("cudaGraphCreate -> %d\n", (int)cudaGraphCreate(&g, 0));
	printf("cuModuleLoad -> %d\n", (int)cuModuleLoad(&m, "/nonexistent"));
	return 0;
}
