/*
 * copy_out.cu - what bounds a pageable device-to-host copy under xmig: the
 * application's copy of each chunk out of the bulk area (pinned memory
 * the DMA has just written) into its own buffer, by memcpy and by
 * xmig_copy_nt, against the driver's own pageable copy. 4 MiB chunks (a
 * bulk half) of a 256 MiB buffer, three rounds; GB/s.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../../proxy/client/nt-copy.c"

/* a bulk half (proxy/channel/shm.h, C only: its ring is _Atomic) */
#define XMIG_BULK_HALF (4ul << 20)

#define CK(x)                                                                   \
	do {                                                                    \
		cudaError_t e_ = (x);                                           \
		if (e_ != cudaSuccess) {                                        \
			fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); \
			exit(1);                                                \
		}                                                               \
	} while (0)

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Each chunk DMA-written into the half, then copied out by how; GB/s of the copies alone. */
static double copy_out(char *dst, char *dev, char *half, size_t big, bool nt)
{
	double spent = 0;

	for (size_t o = 0; o < big; o += XMIG_BULK_HALF) {
		CK(cudaMemcpy(half, dev + o, XMIG_BULK_HALF, cudaMemcpyDeviceToHost));
		double t = now();
		if (nt)
			xmig_copy_nt(dst + o, half, XMIG_BULK_HALF);
		else
			memcpy(dst + o, half, XMIG_BULK_HALF);
		spent += now() - t;
	}
	return big / spent / 1e9;
}

int main(void)
{
	size_t big = 256ul << 20;
	char *dev, *pageable = (char *)malloc(big), *half;

	CK(cudaMalloc(&dev, big));
	CK(cudaMemset(dev, 3, big));
	memset(pageable, 1, big);
	/* shared memory registered with the driver, as the proxy holds the ring's */
	half = (char *)mmap(NULL, XMIG_BULK_HALF, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0);
	if (half == MAP_FAILED)
		return 1;
	memset(half, 0, XMIG_BULK_HALF);
	CK(cudaHostRegister(half, XMIG_BULK_HALF, 0));
	for (int round = 1; round <= 3; round++) {
		double t = now();

		CK(cudaMemcpy(pageable, dev, big, cudaMemcpyDeviceToHost));
		double native = big / (now() - t) / 1e9;
		double mc = copy_out(pageable, dev, half, big, false);
		double nt = copy_out(pageable, dev, half, big, true);

		if (pageable[big - 1] != 3)
			return fprintf(stderr, "copy_out: wrong bytes\n"), 1;
		printf("round %d: native pageable D2H %.2f GB/s; out of the bulk: memcpy %.2f, "
		       "xmig_copy_nt %.2f\n", round, native, mc, nt);
	}
	return 0;
}
