/*
 * vector_add.cu - the basic path: cudaMalloc, cudaMemcpy both ways, a launch,
 * cudaGetLastError, cudaMemset and cudaFree, at sizes around the block size.
 *
 *   vector_add          (no arguments)
 */
#include "xtest.h"

#define BLOCK 256

__global__ void va_add(const float *a, const float *b, float *c, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		c[i] = a[i] + b[i];
}

/* Small exact integers: float sums are then exact on every device. */
static float in_a(int i) { return (float)(i % 4096); }
static float in_b(int i) { return (float)(2 * (i % 1000)); }

/* c = a + b at size n, on a grid of `blocks` (fewer than n needs: a tail stays 0). */
static void add_case(int n, unsigned blocks)
{
	size_t bytes = (size_t)n * sizeof(float);
	float *a = (float *)xt_malloc(bytes), *b = (float *)xt_malloc(bytes);
	float *c = (float *)xt_malloc(bytes);
	float *da, *db, *dc;
	int i, covered = (int)((size_t)blocks * BLOCK < (size_t)n ? blocks * BLOCK : n);

	for (i = 0; i < n; i++) {
		a[i] = in_a(i);
		b[i] = in_b(i);
	}
	CK(cudaMalloc(&da, bytes));
	CK(cudaMalloc(&db, bytes));
	CK(cudaMalloc(&dc, bytes));
	CK(cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice));
	CK(cudaMemset(dc, 0, bytes));
	va_add<<<blocks, BLOCK>>>(da, db, dc, n);
	CK_LAUNCH();
	CK(cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost));
	for (i = 0; i < n; i++) {
		float want = i < covered ? in_a(i) + in_b(i) : 0.0f;

		if (c[i] != want)
			xt_fail("n=%d blocks=%u: c[%d] = %.0f, want %.0f", n, blocks, i, c[i], want);
	}
	printf("add n=%d blocks=%u covered=%d hash=%016llx\n", n, blocks, covered,
	       (unsigned long long)xt_hash(c, bytes));
	CK(cudaFree(da));
	CK(cudaFree(db));
	CK(cudaFree(dc));
	free(a);
	free(b);
	free(c);
}

/* cudaMemset of the whole buffer and of an unaligned byte range, then a kernel. */
static void memset_case(void)
{
	const int n = 5000;
	const size_t bytes = n * sizeof(uint32_t), off = 401, len = 333;
	unsigned char *want = (unsigned char *)xt_malloc(bytes);
	uint32_t *got = (uint32_t *)xt_malloc(bytes), *d, w;
	int i;

	memset(want, 0x5a, bytes);
	memset(want + off, 0x01, len);
	CK(cudaMalloc(&d, bytes));
	CK(cudaMemset(d, 0x5a, bytes));
	CK(cudaMemset((char *)d + off, 0x01, len));
	xt_affine<<<xt_blocks(n, BLOCK), BLOCK>>>(d, n, 3, 7);
	CK_LAUNCH();
	CK(cudaMemcpy(got, d, bytes, cudaMemcpyDeviceToHost));
	for (i = 0; i < n; i++) {
		memcpy(&w, want + 4 * i, 4);
		if (got[i] != xf_affine(w, 3, 7))
			xt_fail("memset: word %d = %08x, want %08x", i, got[i], xf_affine(w, 3, 7));
	}
	printf("memset n=%d hash=%016llx\n", n, (unsigned long long)xt_hash(got, bytes));
	CK(cudaFree(d));
	free(want);
	free(got);
}

/*
 * A launch with too many threads per block fails at once, and only once.
 * CUDA 13 on an H100 reports cudaErrorInvalidValue for it.
 */
static void bad_launch_case(void)
{
	float *d;
	cudaError_t e;

	CK(cudaMalloc(&d, sizeof(float)));
	va_add<<<1, 2048>>>(d, d, d, 1);
	e = cudaGetLastError();
	if (e != cudaErrorInvalidValue)
		xt_fail("launch of 2048 threads per block: got %s, want cudaErrorInvalidValue",
			cudaGetErrorName(e));
	CK(cudaGetLastError());     /* not sticky: cleared by the read */
	CK(cudaDeviceSynchronize());
	CK(cudaFree(d));
	printf("bad launch: %s\n", cudaGetErrorName(e));
}

int main(void)
{
	static const int sizes[] = { 1, 255, 256, 257, 1000, 4099, 65536, 1000003 };
	unsigned i;

	xt_begin("vector_add");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		add_case(sizes[i], xt_blocks(sizes[i], BLOCK));
	add_case(4099, 8);            /* a grid too small: the kernel's guard decides */
	memset_case();
	bad_launch_case();
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
