/*
 * volume_3d.cu - pitched volumes and 3D copies and fills of linear memory:
 * cudaMalloc3D, cudaMemset3D (whole, and a sub-volume), cudaMemcpy3D(Async)
 * with positions on both sides, from pageable and to pinned memory, device
 * to device, both where the slices follow each other row for row (one 2D
 * copy) and where they do not (a copy a slice); the driver's cuMemcpy3D
 * (through cudaGetDriverEntryPoint). Every volume is read back whole,
 * padding included, against a model on the host.
 *
 *   volume_3d [--iters N (3)] [--sleep-ms N (0)]
 *
 * The rounds come after the line "looping"; the output changes only in
 * the "rounds N checked" line.
 */
#include <cuda.h>
#include <unistd.h>

#include "xtest.h"

/* A volume (device or host) and its model: pitch * ysize * depth bytes. */
struct volume {
	cudaPitchedPtr p;
	size_t depth, bytes;
	uint8_t *model;
};

static void model_fill(struct volume *v, uint8_t b)
{
	v->bytes = v->p.pitch * v->p.ysize * v->depth;
	v->model = (uint8_t *)xt_malloc(v->bytes);
	memset(v->model, b, v->bytes);
}

static void make(struct volume *v, size_t w, size_t h, size_t d, uint8_t b)
{
	CK(cudaMalloc3D(&v->p, make_cudaExtent(w, h, d)));
	v->depth = d;
	model_fill(v, b);
	CK(cudaMemset(v->p.ptr, b, v->bytes));
}

static void check(const struct volume *v, const char *what)
{
	uint8_t *h = (uint8_t *)xt_malloc(v->bytes);

	CK(cudaMemcpy(h, v->p.ptr, v->bytes, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < v->bytes; i++)
		if (h[i] != v->model[i])
			xt_fail("%s: slice %zu row %zu byte %zu is %02x, want %02x", what,
				i / (v->p.pitch * v->p.ysize), i / v->p.pitch % v->p.ysize,
				i % v->p.pitch, h[i], v->model[i]);
	free(h);
}

static void pattern(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(xf_mix64(seed * 7919ull + i) >> 32);
}

/* The model of dst after copying extent e from src's model (positions on both). */
static void model_copy(struct volume *dst, cudaPos dp, const uint8_t *src, size_t spitch,
		       size_t sysize, cudaPos sp, cudaExtent e)
{
	for (size_t z = 0; z < e.depth; z++)
		for (size_t y = 0; y < e.height; y++)
			memcpy(dst->model + (dp.z + z) * dst->p.pitch * dst->p.ysize +
				       (dp.y + y) * dst->p.pitch + dp.x,
			       src + (sp.z + z) * spitch * sysize + (sp.y + y) * spitch + sp.x,
			       e.width);
}

static void copy_in(struct volume *v, const uint8_t *host, size_t hpitch, size_t hysize,
		    cudaPos hp, cudaPos vp, cudaExtent e, cudaStream_t s)
{
	cudaMemcpy3DParms c = {};

	c.srcPtr = make_cudaPitchedPtr((void *)host, hpitch, hpitch, hysize);
	c.srcPos = hp;
	c.dstPtr = v->p;
	c.dstPos = vp;
	c.extent = e;
	c.kind = cudaMemcpyHostToDevice;
	if (s)
		CK(cudaMemcpy3DAsync(&c, s));
	else
		CK(cudaMemcpy3D(&c));
	model_copy(v, vp, host, hpitch, hysize, hp, e);
}

static void driver_copy(struct volume *v)
{
	typedef CUresult (*copy_fn)(const CUDA_MEMCPY3D *);
	copy_fn copy = (copy_fn)xt_driver_fn("cuMemcpy3D");
	uint8_t host[40 * 6 * 5];
	CUDA_MEMCPY3D c;

	pattern(host, sizeof(host), 55);
	memset(&c, 0, sizeof(c));
	c.srcMemoryType = CU_MEMORYTYPE_HOST;
	c.srcHost = host;
	c.srcXInBytes = 4;
	c.srcY = 1;
	c.srcZ = 1;
	c.srcPitch = 40;
	c.srcHeight = 6;
	c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	c.dstDevice = (CUdeviceptr)v->p.ptr;
	c.dstXInBytes = 10;
	c.dstY = 2;
	c.dstZ = 0;
	c.dstPitch = v->p.pitch;
	c.dstHeight = v->p.ysize;
	c.WidthInBytes = 30;
	c.Height = 4;
	c.Depth = 3;
	if (copy(&c) != CUDA_SUCCESS)
		xt_fail("cuMemcpy3D failed");
	model_copy(v, make_cudaPos(10, 2, 0), host, 40, 6, make_cudaPos(4, 1, 1),
		   make_cudaExtent(30, 4, 3));
	check(v, "cuMemcpy3D with positions");
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0;
	struct volume a, b;
	cudaStream_t s;
	size_t hp = 320, hy = 24, hd = 9;
	uint8_t *host = (uint8_t *)xt_malloc(hp * hy * hd), *pinned;
	cudaMemcpy3DParms c = {};

	xt_begin("volume_3d");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms))
			xt_fail("unknown argument %s", argv[i]);
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

	make(&a, 300, 20, 7, 0x11);
	printf("cudaMalloc3D(300 x 20 x 7): pitch %zu, xsize %zu, ysize %zu\n", a.p.pitch,
	       a.p.xsize, a.p.ysize);
	CK(cudaMemset3D(a.p, 0x22, make_cudaExtent(300, 20, 7)));
	memset(a.model, 0x22, a.bytes);
	for (size_t i = 0; i < a.bytes; i++)   /* (rows' padding kept) */
		if (i % a.p.pitch >= 300)
			a.model[i] = 0x11;
	/* a sub-volume: 100 x 5 x 3 from byte 50 of row 4 of slice 2 */
	{
		cudaPitchedPtr sub = a.p;

		sub.ptr = (char *)a.p.ptr + 2 * a.p.pitch * a.p.ysize + 4 * a.p.pitch + 50;
		CK(cudaMemset3D(sub, 0x33, make_cudaExtent(100, 5, 3)));
		for (size_t z = 2; z < 5; z++)
			for (size_t y = 4; y < 9; y++)
				memset(a.model + z * a.p.pitch * a.p.ysize + y * a.p.pitch + 50, 0x33,
				       100);
	}
	check(&a, "cudaMemset3D");
	printf("cudaMemset3D: whole, and 100 x 5 x 3 inside it\n");

	/* pageable in, slices not following each other (host ysize 24, device 20) */
	pattern(host, hp * hy * hd, 1);
	copy_in(&a, host, hp, hy, make_cudaPos(8, 2, 1), make_cudaPos(16, 3, 2),
		make_cudaExtent(200, 10, 4), 0);
	check(&a, "pageable in, a slice at a time");
	/* whole slices, rows following each other on both sides: one 2D copy */
	{
		uint8_t *whole = (uint8_t *)xt_malloc(a.p.pitch * 20 * 7);

		pattern(whole, a.p.pitch * 20 * 7, 2);
		copy_in(&a, whole, a.p.pitch, 20, make_cudaPos(0, 0, 0), make_cudaPos(0, 0, 0),
			make_cudaExtent(300, 20, 7), s);
		CK(cudaStreamSynchronize(s));
		free(whole);
	}
	check(&a, "pageable in, whole slices, async");

	/* device to device, then out to pinned memory */
	make(&b, 256, 12, 5, 0x44);
	c.srcPtr = a.p;
	c.srcPos = make_cudaPos(20, 1, 1);
	c.dstPtr = b.p;
	c.dstPos = make_cudaPos(6, 2, 1);
	c.extent = make_cudaExtent(240, 9, 4);
	c.kind = cudaMemcpyDeviceToDevice;
	CK(cudaMemcpy3D(&c));
	model_copy(&b, c.dstPos, a.model, a.p.pitch, a.p.ysize, c.srcPos, c.extent);
	check(&b, "device to device");
	CK(cudaMallocHost(&pinned, b.bytes));
	memset(pinned, 0, b.bytes);
	memset(&c, 0, sizeof(c));
	c.srcPtr = b.p;
	c.dstPtr = make_cudaPitchedPtr(pinned, b.p.pitch, 256, 12);
	c.extent = make_cudaExtent(256, 12, 5);
	c.kind = cudaMemcpyDeviceToHost;
	CK(cudaMemcpy3DAsync(&c, s));
	CK(cudaStreamSynchronize(s));
	for (size_t i = 0; i < b.bytes; i++)
		if (i % b.p.pitch < 256 && pinned[i] != b.model[i])
			xt_fail("out to pinned memory: byte %zu", i);
	printf("device to device and out to pinned memory: hash %016llx\n",
	       (unsigned long long)xt_hash(b.model, b.bytes));

	driver_copy(&a);
	printf("cuMemcpy3D with positions: checked\n");

	printf("looping\n");
	for (long k = 0; k < iters; k++) {
		pattern(host, hp * hy * hd, 100 + (uint32_t)k);
		copy_in(&a, host, hp, hy, make_cudaPos(3, 1, 0), make_cudaPos(5, 2, 1),
			make_cudaExtent(280, 15, 5), k % 2 ? s : 0);
		CK(cudaStreamSynchronize(s));
		check(&a, "a round's copy in");
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %ld checked\n", iters);

	CK(cudaFree(a.p.ptr));
	CK(cudaFree(b.p.ptr));
	CK(cudaFreeHost(pinned));
	CK(cudaStreamDestroy(s));
	free(a.model);
	free(b.model);
	free(host);
	return xt_pass();
}
