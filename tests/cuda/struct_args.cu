/*
 * struct_args.cu - kernel parameters and launch shapes: structs by value
 * (mixed members with padding; one over 64 bytes), scalars of every width in
 * an order that forces padding, several pointers, dynamic shared memory (a
 * block reduction with __syncthreads, and a tile over 48 KiB that needs
 * cudaFuncSetAttribute), and 2D/3D grids and blocks.
 *
 *   struct_args         (no arguments)
 */
#include "xtest.h"

__global__ void sa_mixed(struct xf_mixed m, int64_t *out)
{
	if (blockIdx.x == 0 && threadIdx.x == 0)
		xf_sa_mixed(&m, out);
}

__global__ void sa_big(const int *in, struct xf_big b, int64_t *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		out[i] = xf_sa_big(in[i], &b, i);
}

__global__ void sa_scalars(char c, double d, short s, float f, int64_t q, char c2, int *outa,
			   int64_t *outb, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n) {
		outa[i] = xf_sa_scalars_a(c, s, f, i);
		outb[i] = xf_sa_scalars_b(d, q, c2, i);
	}
}

/* out[block] = the block's sum; blockDim.x a power of two, shmem blockDim.x * 8. */
__global__ void sa_block_sum(const int *in, int64_t *out, int n)
{
	extern __shared__ int64_t acc[];
	int t = threadIdx.x, i = blockIdx.x * blockDim.x + t, s;

	acc[t] = i < n ? in[i] : 0;
	__syncthreads();
	for (s = blockDim.x / 2; s > 0; s >>= 1) {
		if (t < s)
			acc[t] += acc[t + s];
		__syncthreads();
	}
	if (t == 0)
		out[blockIdx.x] = acc[0];
}

/* Each block reverses one tile of `tile` ints through shared memory (shmem tile * 4). */
__global__ void sa_tile_reverse(const int *in, int *out, int tile)
{
	extern __shared__ int buf[];
	const int *src = in + (size_t)blockIdx.x * tile;
	int *dst = out + (size_t)blockIdx.x * tile;
	int j;

	for (j = threadIdx.x; j < tile; j += blockDim.x)
		buf[j] = src[j];
	__syncthreads();
	for (j = threadIdx.x; j < tile; j += blockDim.x)
		dst[j] = buf[tile - 1 - j];
}

__global__ void sa_grid3d(uint32_t *out, int nx, int ny, int nz)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	int z = blockIdx.z * blockDim.z + threadIdx.z;

	if (x < nx && y < ny && z < nz)
		out[((size_t)z * ny + y) * nx + x] = xf_grid3d(x, y, z);
}

/* b (w columns of h) = transpose of a (h rows of w). */
__global__ void sa_transpose(const int *a, int *b, int w, int h)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;

	if (x < w && y < h)
		b[(size_t)x * h + y] = a[(size_t)y * w + x];
}

/* Device copy of n host bytes. */
static void *to_device(const void *h, size_t n)
{
	void *d;

	CK(cudaMalloc(&d, n));
	CK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
	return d;
}

/* Host copy of n device bytes; frees the device buffer. */
static void *to_host(void *d, size_t n)
{
	void *h = xt_malloc(n);

	CK(cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost));
	CK(cudaFree(d));
	return h;
}

static void *device_zeroed(size_t n)
{
	void *d;

	CK(cudaMalloc(&d, n));
	CK(cudaMemset(d, 0, n));
	return d;
}

static int *host_ints(int n, int mod)
{
	int *h = (int *)xt_malloc(n * sizeof(int)), i;

	for (i = 0; i < n; i++)
		h[i] = (int)(xf_mix64(i) % mod) - mod / 2;
	return h;
}

static void mixed_case(void)
{
	struct xf_mixed m;
	int64_t want[XF_MIXED_OUT], *got, *d;
	int k;

	memset(&m, 0, sizeof(m));   /* defined padding bytes */
	m.c = -5;
	m.i = 123456789;
	m.d = -3.25;
	m.s = -1234;
	memcpy(m.tag, "xmg", 3);
	m.q = -(1ll << 40) - 17;
	xf_sa_mixed(&m, want);
	d = (int64_t *)device_zeroed(sizeof(want));
	sa_mixed<<<1, 32>>>(m, d);
	CK_LAUNCH();
	got = (int64_t *)to_host(d, sizeof(want));
	for (k = 0; k < XF_MIXED_OUT; k++)
		if (got[k] != want[k])
			xt_fail("sa_mixed: out[%d] = %lld, want %lld", k, (long long)got[k],
				(long long)want[k]);
	printf("struct mixed (%zu bytes): ok\n", sizeof(m));
	free(got);
}

static void big_case(void)
{
	const int n = 3001;
	struct xf_big b;
	int *in = host_ints(n, 2001), k;
	void *din = to_device(in, n * sizeof(int));
	int64_t *got;
	void *dout = device_zeroed(n * sizeof(int64_t));

	memset(&b, 0, sizeof(b));
	for (k = 0; k < XF_BIG_N; k++)
		b.a[k] = 3 * k - 29;
	b.w = 1e6 + 0.5;
	b.c = 'Q';
	sa_big<<<xt_blocks(n, 128), 128>>>((const int *)din, b, (int64_t *)dout, n);
	CK_LAUNCH();
	got = (int64_t *)to_host(dout, n * sizeof(int64_t));
	for (k = 0; k < n; k++)
		if (got[k] != xf_sa_big(in[k], &b, k))
			xt_fail("sa_big: out[%d] = %lld, want %lld", k, (long long)got[k],
				(long long)xf_sa_big(in[k], &b, k));
	printf("struct big (%zu bytes): ok hash=%016llx\n", sizeof(b),
	       (unsigned long long)xt_hash(got, n * sizeof(int64_t)));
	CK(cudaFree(din));
	free(in);
	free(got);
}

static void scalars_case(void)
{
	const int n = 1000;
	const char c = -7, c2 = 100;
	const double d = -12345.5;
	const short s = 321;
	const float f = 2.75f;
	const int64_t q = (1ll << 41) + 3;
	void *da = device_zeroed(n * sizeof(int)), *db = device_zeroed(n * sizeof(int64_t));
	int *a;
	int64_t *b;
	int i;

	sa_scalars<<<xt_blocks(n, 64), 64>>>(c, d, s, f, q, c2, (int *)da, (int64_t *)db, n);
	CK_LAUNCH();
	a = (int *)to_host(da, n * sizeof(int));
	b = (int64_t *)to_host(db, n * sizeof(int64_t));
	for (i = 0; i < n; i++)
		if (a[i] != xf_sa_scalars_a(c, s, f, i) || b[i] != xf_sa_scalars_b(d, q, c2, i))
			xt_fail("sa_scalars: [%d] = %d, %lld; want %d, %lld", i, a[i], (long long)b[i],
				xf_sa_scalars_a(c, s, f, i), (long long)xf_sa_scalars_b(d, q, c2, i));
	printf("scalars: ok hash=%016llx,%016llx\n", (unsigned long long)xt_hash(a, n * sizeof(int)),
	       (unsigned long long)xt_hash(b, n * sizeof(int64_t)));
	free(a);
	free(b);
}

static void block_sum_case(const int *in, const void *din, int n, unsigned block)
{
	unsigned grid = xt_blocks(n, block), k;
	void *dout = device_zeroed(grid * sizeof(int64_t));
	int64_t *got, total = 0;
	int i;

	sa_block_sum<<<grid, block, block * sizeof(int64_t)>>>((const int *)din, (int64_t *)dout, n);
	CK_LAUNCH();
	got = (int64_t *)to_host(dout, grid * sizeof(int64_t));
	for (k = 0; k < grid; k++) {
		int64_t want = 0;

		for (i = k * block; i < n && i < (int)((k + 1) * block); i++)
			want += in[i];
		if (got[k] != want)
			xt_fail("sa_block_sum (block %u): block %u sum %lld, want %lld", block, k,
				(long long)got[k], (long long)want);
		total += got[k];
	}
	printf("block sum: block %u, %u blocks, total %lld\n", block, grid, (long long)total);
	free(got);
}

static void tile_case(void)
{
	const int tile = 20000, tiles = 8, n = tile * tiles;
	const int shmem = tile * (int)sizeof(int);     /* 80000 bytes: over 48 KiB */
	int *in = host_ints(n, 1 << 30), *got, k, j;
	void *din = to_device(in, n * sizeof(int)), *dout = device_zeroed(n * sizeof(int));

	CK(cudaFuncSetAttribute(sa_tile_reverse, cudaFuncAttributeMaxDynamicSharedMemorySize, shmem));
	sa_tile_reverse<<<tiles, 256, shmem>>>((const int *)din, (int *)dout, tile);
	CK_LAUNCH();
	got = (int *)to_host(dout, n * sizeof(int));
	for (k = 0; k < tiles; k++)
		for (j = 0; j < tile; j++)
			if (got[k * tile + j] != in[k * tile + tile - 1 - j])
				xt_fail("sa_tile_reverse: tile %d [%d] = %d, want %d", k, j,
					got[k * tile + j], in[k * tile + tile - 1 - j]);
	printf("tile reverse: %d bytes of shared memory ok hash=%016llx\n", shmem,
	       (unsigned long long)xt_hash(got, n * sizeof(int)));
	CK(cudaFree(din));
	free(in);
	free(got);
}

static void grid3d_case(void)
{
	const int nx = 37, ny = 19, nz = 7, n = nx * ny * nz;
	dim3 block(8, 4, 2), grid(xt_blocks(nx, 8), xt_blocks(ny, 4), xt_blocks(nz, 2));
	void *d = device_zeroed(n * sizeof(uint32_t));
	uint32_t *got;
	int x, y, z;

	sa_grid3d<<<grid, block>>>((uint32_t *)d, nx, ny, nz);
	CK_LAUNCH();
	got = (uint32_t *)to_host(d, n * sizeof(uint32_t));
	for (z = 0; z < nz; z++)
		for (y = 0; y < ny; y++)
			for (x = 0; x < nx; x++)
				if (got[(z * ny + y) * nx + x] != xf_grid3d(x, y, z))
					xt_fail("sa_grid3d: (%d,%d,%d) = %08x, want %08x", x, y, z,
						got[(z * ny + y) * nx + x], xf_grid3d(x, y, z));
	printf("grid 3d %dx%dx%d: ok hash=%016llx\n", nx, ny, nz,
	       (unsigned long long)xt_hash(got, n * sizeof(uint32_t)));
	free(got);
}

static void transpose_case(void)
{
	const int w = 100, h = 70;
	int *a = host_ints(w * h, 1 << 20), *got, x, y;
	void *da = to_device(a, w * h * sizeof(int)), *db = device_zeroed(w * h * sizeof(int));
	dim3 block(16, 16), grid(xt_blocks(w, 16), xt_blocks(h, 16));

	sa_transpose<<<grid, block>>>((const int *)da, (int *)db, w, h);
	CK_LAUNCH();
	got = (int *)to_host(db, w * h * sizeof(int));
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			if (got[x * h + y] != a[y * w + x])
				xt_fail("sa_transpose: (%d,%d) = %d, want %d", x, y, got[x * h + y],
					a[y * w + x]);
	printf("transpose %dx%d: ok\n", w, h);
	CK(cudaFree(da));
	free(a);
	free(got);
}

int main(void)
{
	const int n = 100003;
	int *in;
	void *din;

	xt_begin("struct_args");
	mixed_case();
	big_case();
	scalars_case();
	in = host_ints(n, 1 << 16);
	din = to_device(in, n * sizeof(int));
	block_sum_case(in, din, n, 128);
	block_sum_case(in, din, n, 512);
	CK(cudaFree(din));
	free(in);
	tile_case();
	grid3d_case();
	transpose_case();
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
