/*
 * late_module_b.cu - late_module's second translation unit: a fat binary of
 * its own (registered before main like the first, loaded at first use).
 * Its kernel computes what xt_affine does, under another name.
 */
#include <cuda_runtime.h>

#include "../formulas.h"

__global__ void lm_affine(uint32_t *x, int n, uint32_t mul, uint32_t add)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] = xf_affine(x[i], mul, add);
}

cudaError_t lm_step(uint32_t *x, int n, uint32_t mul, uint32_t add)
{
	lm_affine<<<(n + 255) / 256, 256>>>(x, n, mul, add);
	return cudaGetLastError();
}
