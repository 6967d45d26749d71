/*
 * launch_ex.cu - the runtime's launches with launch attributes, as CUTLASS's
 * SM90 kernels and PyTorch's programmatic launches make them:
 * cudaLaunchKernelExC with a cluster dimension (each block's rank in its
 * cluster and the cluster's size, written by the kernel), with a priority
 * and programmatic stream serialisation, an ignored attribute;
 * cudaOccupancyMaxActiveClusters before a cluster launch;
 * cudaLaunchCooperativeKernel; cudaFuncGetParamInfo. Each round relaunches them on new input
 * and checks every result on the CPU.
 *
 *   launch_ex [--iters N (3)] [--sleep-ms N (0)]
 *
 * The rounds come after the line "looping"; the output changes only in
 * the "rounds N checked" line.
 */
#include <cooperative_groups.h>
#include <unistd.h>

#include "xtest.h"

namespace cg = cooperative_groups;

#define N 4099
#define BLOCK 128
#define BLOCKS 8

/* Rank in the cluster and its size, one word a block (driver_module's dm_cluster). */
extern "C" __global__ void lx_cluster(unsigned *out)
{
	cg::cluster_group c = cg::this_cluster();

	if (threadIdx.x == 0)
		out[blockIdx.x] = c.block_rank() * 1000u + c.num_blocks();
}

static void check_clusters(const unsigned *d, unsigned cluster, const char *what)
{
	unsigned h[BLOCKS];

	CK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	for (unsigned b = 0; b < BLOCKS; b++)
		if (h[b] != (b % cluster) * 1000u + cluster)
			xt_fail("%s: block %u wrote %u, want %u", what, b, h[b],
				(b % cluster) * 1000u + cluster);
}

static void launch_clusters(unsigned *d, unsigned cluster, cudaStream_t s)
{
	cudaLaunchAttribute at[2];
	cudaLaunchConfig_t cfg = {};
	void *args[] = { &d };

	at[0].id = cudaLaunchAttributeClusterDimension;
	at[0].val.clusterDim.x = cluster;
	at[0].val.clusterDim.y = 1;
	at[0].val.clusterDim.z = 1;
	at[1].id = cudaLaunchAttributeIgnore;
	cfg.gridDim = dim3(BLOCKS);
	cfg.blockDim = dim3(32);
	cfg.stream = s;
	cfg.attrs = at;
	cfg.numAttrs = 2;
	CK(cudaMemsetAsync(d, 0xff, BLOCKS * sizeof(unsigned), s));
	CK(cudaLaunchKernelExC(&cfg, (const void *)lx_cluster, args));
}

/* xt_affine with a priority and programmatic serialisation, then cooperatively. */
static void launch_affine(uint32_t *x, uint32_t mul, uint32_t add, cudaStream_t s)
{
	cudaLaunchAttribute at[2];
	cudaLaunchConfig_t cfg = {};
	int n = N;
	void *args[] = { &x, &n, &mul, &add };
	uint32_t add2 = add + 1;
	void *args2[] = { &x, &n, &mul, &add2 };

	at[0].id = cudaLaunchAttributePriority;
	at[0].val.priority = 0;
	at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
	at[1].val.programmaticStreamSerializationAllowed = 1;
	cfg.gridDim = dim3(xt_blocks(N, BLOCK));
	cfg.blockDim = dim3(BLOCK);
	cfg.stream = s;
	cfg.attrs = at;
	cfg.numAttrs = 2;
	CK(cudaLaunchKernelExC(&cfg, (const void *)xt_affine, args));
	CK(cudaLaunchCooperativeKernel((const void *)xt_affine, dim3(xt_blocks(N, BLOCK)),
				       dim3(BLOCK), args2, 0, s));
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0;
	uint32_t *x, *h = (uint32_t *)xt_malloc(N * 4), *model = (uint32_t *)xt_malloc(N * 4);
	unsigned *d;
	cudaStream_t s;
	cudaLaunchAttribute at;
	cudaLaunchConfig_t cfg = {};
	int clusters = 0;

	xt_begin("launch_ex");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms))
			xt_fail("unknown argument %s", argv[i]);
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaMalloc(&d, BLOCKS * sizeof(unsigned)));
	CK(cudaMalloc(&x, N * 4));

	at.id = cudaLaunchAttributeClusterDimension;
	at.val.clusterDim.x = 2;
	at.val.clusterDim.y = 1;
	at.val.clusterDim.z = 1;
	cfg.gridDim = dim3(2);
	cfg.blockDim = dim3(32);
	cfg.attrs = &at;
	cfg.numAttrs = 1;
	CK(cudaOccupancyMaxActiveClusters(&clusters, (const void *)lx_cluster, &cfg));
	printf("clusters of 2 that fit at once: %s\n", clusters > 0 ? "some" : "none");

	for (unsigned c = 1; c <= 4; c *= 2) {
		launch_clusters(d, c, s);
		CK(cudaStreamSynchronize(s));
		check_clusters(d, c, "cluster launch");
	}
	printf("cluster launches of 1, 2 and 4 blocks: every block's rank and cluster size\n");

	/* the layout a launcher packs arguments by */
	printf("xt_affine's parameters:");
	for (size_t i = 0; i < 4; i++) {
		size_t off, size;

		CK(cudaFuncGetParamInfo((const void *)xt_affine, i, &off, &size));
		printf(" %zu+%zu", off, size);
	}
	{
		size_t off, size;

		printf("; a fifth: %s\n", cudaGetErrorName(cudaFuncGetParamInfo(
						(const void *)xt_affine, 4, &off, &size)));
		(void)cudaGetLastError();
	}

	for (int i = 0; i < N; i++)
		model[i] = h[i] = xf_mix64((uint64_t)i) & 0xffffffffu;
	CK(cudaMemcpy(x, h, N * 4, cudaMemcpyHostToDevice));
	printf("looping\n");
	for (long k = 0; k < iters; k++) {
		launch_affine(x, 3u, (uint32_t)k, s);
		launch_clusters(d, 2, s);
		CK(cudaStreamSynchronize(s));
		check_clusters(d, 2, "a round's cluster launch");
		for (int i = 0; i < N; i++)
			model[i] = xf_affine(xf_affine(model[i], 3u, (uint32_t)k), 3u, (uint32_t)k + 1);
		CK(cudaMemcpy(h, x, N * 4, cudaMemcpyDeviceToHost));
		for (int i = 0; i < N; i++)
			if (h[i] != model[i])
				xt_fail("round %ld: element %d is %u, want %u", k, i, h[i], model[i]);
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %ld checked\n", iters);
	CK(cudaFree(d));
	CK(cudaFree(x));
	CK(cudaStreamDestroy(s));
	free(h);
	free(model);
	return xt_pass();
}
