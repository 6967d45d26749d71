/*
 * pageable_big.cu - large copies from and to pageable (malloc) memory, so
 * that a forwarding layer must split them into chunks: 1 MiB, 13 MiB plus
 * odd bytes, 64 MiB and 256 MiB, each three ways, with a kernel transforming
 * the data in between and every byte checked:
 *   sync      cudaMemcpy both ways, the kernel on the legacy stream;
 *   stream    cudaMemcpyAsync on a created stream; the host source is
 *             overwritten as soon as the H2D call returns and the result is
 *             read as soon as the D2H call returns, both of which CUDA
 *             allows for pageable memory;
 *   unaligned cudaMemcpyAsync on stream 0 at odd offsets on both sides.
 *
 *   pageable_big [--max-mib N]     skip sizes over N MiB (default 256)
 */
#include "xtest.h"

#define MIB (1ul << 20)

__global__ void pb_xform(uint8_t *p, size_t n, uint32_t key)
{
	size_t i;

	for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = xf_pb_xform(p[i], i, key);
}

/* Byte i of src is xf_pb_src(seed, i), a word at a time. */
static void fill(uint8_t *src, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = xf_mix64(seed + (i >> 3));

		memcpy(src + i, &w, 8);   /* little-endian: byte k is bits 8k.. */
	}
	for (; i < len; i++)
		src[i] = xf_pb_src(seed, i);
}

static void verify(const uint8_t *got, const uint8_t *src, size_t n, uint32_t key,
		   size_t len, const char *mode)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (got[i] != xf_pb_xform(src[i], i, key))
			xt_fail("%zu bytes %s: byte %zu = %02x, want %02x", len, mode, i, got[i],
				xf_pb_xform(src[i], i, key));
	printf("%zu bytes %s: ok\n", len, mode);
}

static void xform(uint8_t *d, size_t n, uint32_t key, cudaStream_t s)
{
	pb_xform<<<xt_stride_blocks(n, 256), 256, 0, s>>>(d, n, key);
	CK_LAUNCH();
}

static void sync_case(uint8_t *src, uint8_t *dst, uint8_t *d, size_t len)
{
	fill(src, len, len);
	CK(cudaMemcpy(d, src, len, cudaMemcpyHostToDevice));
	xform(d, len, 0x11, 0);
	CK(cudaMemcpy(dst, d, len, cudaMemcpyDeviceToHost));
	verify(dst, src, len, 0x11, len, "sync");
}

static void stream_case(uint8_t *src, uint8_t *dst, uint8_t *d, size_t len, cudaStream_t s)
{
	fill(src, len, 2 * len);
	CK(cudaMemcpyAsync(d, src, len, cudaMemcpyHostToDevice, s));
	memset(src, 0xee, len);   /* already staged: must not reach the device */
	xform(d, len, 0x22, s);
	memset(dst, 0, len);
	CK(cudaMemcpyAsync(dst, d, len, cudaMemcpyDeviceToHost, s));
	fill(src, len, 2 * len);  /* the reference again; dst is complete already */
	verify(dst, src, len, 0x22, len, "stream");
	CK(cudaStreamSynchronize(s));
}

static void unaligned_case(uint8_t *src, uint8_t *dst, uint8_t *d, size_t len)
{
	const size_t n = len - 11;

	fill(src, len, 3 * len);
	CK(cudaMemcpyAsync(d + 5, src + 3, n, cudaMemcpyHostToDevice, 0));
	xform(d + 5, n, 0x33, 0);
	CK(cudaMemcpyAsync(dst + 1, d + 5, n, cudaMemcpyDeviceToHost, 0));
	CK(cudaStreamSynchronize(0));
	verify(dst + 1, src + 3, n, 0x33, len, "unaligned");
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { MIB, 13 * MIB + 12345, 64 * MIB, 256 * MIB };
	long max_mib = 256;
	cudaStream_t s;
	unsigned k;
	int i;

	xt_begin("pageable_big");
	for (i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--max-mib", 1, 1 << 20, &max_mib))
			xt_fail("usage: pageable_big [--max-mib N]");
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		uint8_t *src, *dst, *d;

		if (len > (size_t)max_mib * MIB)
			continue;
		src = (uint8_t *)xt_malloc(len);
		dst = (uint8_t *)xt_malloc(len);
		CK(cudaMalloc(&d, len));
		sync_case(src, dst, d, len);
		stream_case(src, dst, d, len, s);
		unaligned_case(src, dst, d, len);
		CK(cudaFree(d));
		free(src);
		free(dst);
	}
	CK(cudaStreamDestroy(s));
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
