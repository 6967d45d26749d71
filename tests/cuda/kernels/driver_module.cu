/*
 * kernels/driver_module.cu - the kernels tests/cuda/driver_module and
 * tests/cuda/driver_library load through the driver API. Built apart, to a cubin and to PTX (see the
 * Makefile), and embedded in the program as bytes: nothing registers them
 * with the runtime. extern "C", so cuModuleGetFunction finds them by their
 * plain names (and the sim device, proxy/server/sim-kernels.c, too).
 */
#include <cooperative_groups.h>

#include "../formulas.h"

namespace cg = cooperative_groups;

/* A module global, for the driver API's globals (tests/cuda/driver_library --globals). */
extern "C" __device__ unsigned dm_tally[4];
__device__ unsigned dm_tally[4];

/* y = a*x + y over n floats holding small integers (exact), grid-stride. */
extern "C" __global__ void dm_axpy(float a, const float *x, float *y, int n)
{
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		y[i] = a * x[i] + y[i];
}

extern "C" __global__ void dm_mix(unsigned *out, struct dm_args s, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		out[i] = xf_dm_mix((uint32_t)i, s);
}

/* Each block sums its blockDim.x values in dynamic shared memory. */
extern "C" __global__ void dm_block_sum(const unsigned *in, unsigned long long *out, int n)
{
	extern __shared__ unsigned long long acc[];
	unsigned t = threadIdx.x;
	int i = blockIdx.x * blockDim.x + t;

	acc[t] = i < n ? in[i] : 0;
	__syncthreads();
	for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
		if (t < s)
			acc[t] += acc[t + s];
		__syncthreads();
	}
	if (t == 0)
		out[blockIdx.x] = acc[0];
}

/* Where each block sits in its thread block cluster. */
extern "C" __global__ void dm_cluster(unsigned *out)
{
	cg::cluster_group c = cg::this_cluster();

	if (threadIdx.x == 0)
		out[blockIdx.x] = c.block_rank() * 1000u + c.num_blocks();
}
