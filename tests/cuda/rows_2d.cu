/*
 * rows_2d.cu - pitched memory and 2D copies and fills: cudaMallocPitch,
 * cudaMemcpy2D(Async) between pageable, pinned and device memory in every
 * direction, cudaMemset2D(Async), the driver's cuMemAllocPitch, cuMemcpy2D
 * (with X and Y offsets) and cuMemsetD2D8/16/32 (through
 * cudaGetDriverEntryPoint), and a graph capturing a 2D fill and a 2D copy.
 * Every result is read back whole, padding included, and checked against
 * a model on the host: a row written too long, too short or at the wrong
 * pitch fails. Sizes cross the proxy's staging halves (4 MiB) both ways:
 * many rows a half, and rows wider than a half.
 *
 *   rows_2d [--iters N (3)] [--sleep-ms N (0)]
 *
 * The rounds come after the line "looping" (the moves of the migrate tests
 * come there); the output changes only in the "rounds N checked" line.
 */
#include <cuda.h>
#include <unistd.h>

#include "xtest.h"

/* A pitched device buffer and its model on the host (pitch * height bytes). */
struct pitched {
	uint8_t *d;
	size_t pitch, width, height;
	uint8_t *model;
};

static void make(struct pitched *p, size_t width, size_t height, uint8_t fill)
{
	p->width = width;
	p->height = height;
	CK(cudaMallocPitch((void **)&p->d, &p->pitch, width, height));
	p->model = (uint8_t *)xt_malloc(p->pitch * height);
	memset(p->model, fill, p->pitch * height);
	CK(cudaMemset(p->d, fill, p->pitch * height));
}

static void drop(struct pitched *p)
{
	CK(cudaFree(p->d));
	free(p->model);
}

/* The whole buffer, padding too, against its model. */
static void check(const struct pitched *p, const char *what)
{
	size_t n = p->pitch * p->height;
	uint8_t *h = (uint8_t *)xt_malloc(n);

	CK(cudaMemcpy(h, p->d, n, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < n; i++)
		if (h[i] != p->model[i])
			xt_fail("%s: row %zu byte %zu is %02x, want %02x", what, i / p->pitch,
				i % p->pitch, h[i], p->model[i]);
	free(h);
}

static void pattern(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(xf_mix64(seed * 1000003ull + i) >> 24);
}

/* Host rows (pitch hp) into the model at (x, y). */
static void model_rows(struct pitched *p, size_t x, size_t y, const uint8_t *h, size_t hp,
		       size_t width, size_t height)
{
	for (size_t r = 0; r < height; r++)
		memcpy(p->model + (y + r) * p->pitch + x, h + r * hp, width);
}

/* Pageable rows of width bytes (pitch hp) in, read back out at another pitch, both checked. */
static void round_trip(struct pitched *p, size_t width, size_t height, size_t hp, uint32_t seed,
		       bool pinned, cudaStream_t s, const char *what)
{
	size_t back_pitch = width + 8;
	uint8_t *in, *out;

	if (pinned) {
		CK(cudaMallocHost(&in, hp * height));
		CK(cudaMallocHost(&out, back_pitch * height));
	} else {
		in = (uint8_t *)xt_malloc(hp * height);
		out = (uint8_t *)xt_malloc(back_pitch * height);
	}
	pattern(in, hp * height, seed);
	memset(out, 0x5a, back_pitch * height);
	if (s) {
		CK(cudaMemcpy2DAsync(p->d, p->pitch, in, hp, width, height, cudaMemcpyHostToDevice,
				     s));
		CK(cudaMemcpy2DAsync(out, back_pitch, p->d, p->pitch, width, height,
				     cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
	} else {
		CK(cudaMemcpy2D(p->d, p->pitch, in, hp, width, height, cudaMemcpyHostToDevice));
		CK(cudaMemcpy2D(out, back_pitch, p->d, p->pitch, width, height,
				cudaMemcpyDeviceToHost));
	}
	model_rows(p, 0, 0, in, hp, width, height);
	check(p, what);
	for (size_t r = 0; r < height; r++) {
		if (memcmp(out + r * back_pitch, in + r * hp, width))
			xt_fail("%s: row %zu read back differs", what, r);
		for (size_t k = width; k < back_pitch; k++)
			if (out[r * back_pitch + k] != 0x5a)
				xt_fail("%s: row %zu read back past its width", what, r);
	}
	printf("%s: %zu x %zu, hash %016llx\n", what, width, height,
	       (unsigned long long)xt_hash(out, back_pitch * height));
	if (pinned) {
		CK(cudaFreeHost(in));
		CK(cudaFreeHost(out));
	} else {
		free(in);
		free(out);
	}
}

static void driver_api(void)
{
	typedef CUresult (*alloc_pitch_fn)(CUdeviceptr *, size_t *, size_t, size_t, unsigned);
	typedef CUresult (*copy_fn)(const CUDA_MEMCPY2D *);
	typedef CUresult (*set32_fn)(CUdeviceptr, size_t, unsigned, size_t, size_t);
	typedef CUresult (*set16_fn)(CUdeviceptr, size_t, unsigned short, size_t, size_t);
	alloc_pitch_fn alloc_pitch = (alloc_pitch_fn)xt_driver_fn("cuMemAllocPitch");
	copy_fn copy = (copy_fn)xt_driver_fn("cuMemcpy2D");
	set32_fn set32 = (set32_fn)xt_driver_fn("cuMemsetD2D32");
	set16_fn set16 = (set16_fn)xt_driver_fn("cuMemsetD2D16");
	struct pitched p;
	CUdeviceptr d;
	size_t pitch;
	uint8_t src[64 * 40];
	CUDA_MEMCPY2D c;

	CUdeviceptr no;
	size_t no_pitch;
	int refused = (int)alloc_pitch(&no, &no_pitch, 300, 20, 3);

	if (alloc_pitch(&d, &pitch, 300, 20, 4) != CUDA_SUCCESS)
		xt_fail("cuMemAllocPitch failed");
	printf("cuMemAllocPitch(300 bytes, 20 rows, 4-byte elements): pitch %zu; 3-byte "
	       "elements: %d\n", pitch, refused);
	p.d = (uint8_t *)d;
	p.pitch = pitch;
	p.width = 300;
	p.height = 20;
	p.model = (uint8_t *)xt_malloc(pitch * 20);
	memset(p.model, 0, pitch * 20);
	CK(cudaMemset(p.d, 0, pitch * 20));

	/* 32-bit values over 10 rows of 50 elements from row 2; 16-bit ones next to them */
	if (set32(d + 2 * pitch, pitch, 0xA1B2C3D4u, 50, 10) != CUDA_SUCCESS ||
	    set16(d + 2 * pitch + 200, pitch, 0xBEEF, 30, 10) != CUDA_SUCCESS)
		xt_fail("cuMemsetD2D32/16 failed");
	for (size_t r = 2; r < 12; r++) {
		for (size_t k = 0; k < 50; k++) {
			uint32_t v = 0xA1B2C3D4u;
			memcpy(p.model + r * pitch + 4 * k, &v, 4);
		}
		for (size_t k = 0; k < 30; k++) {
			uint16_t v = 0xBEEF;
			memcpy(p.model + r * pitch + 200 + 2 * k, &v, 2);
		}
	}
	check(&p, "cuMemsetD2D32 and cuMemsetD2D16");

	/* host rows (pitch 64) to device at X 16, Y 5, 40 bytes by 12 rows */
	pattern(src, sizeof(src), 77);
	memset(&c, 0, sizeof(c));
	c.srcMemoryType = CU_MEMORYTYPE_HOST;
	c.srcHost = src;
	c.srcXInBytes = 8;
	c.srcY = 3;
	c.srcPitch = 64;
	c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	c.dstDevice = d;
	c.dstXInBytes = 16;
	c.dstY = 5;
	c.dstPitch = pitch;
	c.WidthInBytes = 40;
	c.Height = 12;
	if (copy(&c) != CUDA_SUCCESS)
		xt_fail("cuMemcpy2D failed");
	model_rows(&p, 16, 5, src + 3 * 64 + 8, 64, 40, 12);
	check(&p, "cuMemcpy2D with offsets");
	printf("driver API: fills and an offset copy checked, hash %016llx\n",
	       (unsigned long long)xt_hash(p.model, pitch * 20));
	CK(cudaFree(p.d));
	free(p.model);
}

/* A graph: a 2D fill, then a 2D copy of a sub-rectangle between two pitched buffers. */
static cudaGraphExec_t capture(cudaStream_t s, struct pitched *a, struct pitched *b)
{
	cudaGraph_t g;
	cudaGraphExec_t e;

	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
	CK(cudaMemset2DAsync(a->d + 3, a->pitch, 0x3c, 20, 6, s));
	CK(cudaMemcpy2DAsync(b->d + b->pitch + 1, b->pitch, a->d, a->pitch, 40, 8,
			     cudaMemcpyDeviceToDevice, s));
	CK(cudaStreamEndCapture(s, &g));
	CK(cudaGraphInstantiate(&e, g, 0));
	CK(cudaGraphDestroy(g));
	return e;
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0;
	struct pitched p, q, big, wide, ga, gb;
	cudaStream_t s;
	cudaGraphExec_t exec;
	size_t pitches[4], widths[4] = { 1, 512, 513, 100000 };
	uint8_t *h1, *h2;

	xt_begin("rows_2d");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms))
			xt_fail("unknown argument %s", argv[i]);
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

	for (int i = 0; i < 4; i++) {
		void *d;

		CK(cudaMallocPitch(&d, &pitches[i], widths[i], 3));
		CK(cudaFree(d));
	}
	printf("cudaMallocPitch pitches for 1, 512, 513, 100000 bytes: %zu %zu %zu %zu\n",
	       pitches[0], pitches[1], pitches[2], pitches[3]);

	make(&p, 1000, 37, 0x11);
	CK(cudaMemset2D(p.d + 7, p.pitch, 0xab, 900, 30));
	for (size_t r = 0; r < 30; r++)
		memset(p.model + r * p.pitch + 7, 0xab, 900);
	check(&p, "cudaMemset2D");
	printf("cudaMemset2D: 900 x 30 at byte 7 of a %zu-byte pitch, padding kept\n", p.pitch);

	round_trip(&p, 1000, 37, 1024, 1, false, 0, "pageable rows");
	round_trip(&p, 990, 37, 1000, 2, true, s, "pinned rows, async");
	/* many rows a staging half; rows wider than a half */
	make(&big, 3000, 3000, 0x22);
	round_trip(&big, 3000, 3000, 3003, 3, false, 0, "9 MB of pageable rows");
	round_trip(&big, 2999, 2999, 3000, 4, false, s, "9 MB of pageable rows, async");
	make(&wide, 5u << 20, 3, 0x33);
	round_trip(&wide, 5u << 20, 3, (5u << 20) + 100, 5, false, 0, "rows of 5 MiB");

	/* device to device, a sub-rectangle to another pitch */
	make(&q, 700, 50, 0x44);
	CK(cudaMemcpy2D(q.d + 2 * q.pitch + 5, q.pitch, p.d + 3, p.pitch, 600, 20,
			cudaMemcpyDeviceToDevice));
	for (size_t r = 0; r < 20; r++)
		memcpy(q.model + (2 + r) * q.pitch + 5, p.model + r * p.pitch + 3, 600);
	check(&q, "device to device");
	/* host to host: pageable from pinned */
	CK(cudaMallocHost(&h1, 64 * 10));
	h2 = (uint8_t *)xt_malloc(48 * 10);
	pattern(h1, 640, 9);
	CK(cudaMemcpy2D(h2, 48, h1, 64, 48, 10, cudaMemcpyHostToHost));
	for (int r = 0; r < 10; r++)
		if (memcmp(h2 + r * 48, h1 + r * 64, 48))
			xt_fail("host to host: row %d", r);
	printf("device to device and host to host: checked\n");

	printf("refused: a pitch under the width %s; nothing to copy %s\n",
	       cudaGetErrorName(cudaMemcpy2D(q.d, 100, p.d, p.pitch, 200, 2,
					     cudaMemcpyDeviceToDevice)),
	       cudaGetErrorName(cudaMemcpy2D(q.d, q.pitch, p.d, p.pitch, 0, 5,
					     cudaMemcpyDeviceToDevice)));
	(void)cudaGetLastError();

	driver_api();

	make(&ga, 64, 8, 0x00);
	make(&gb, 64, 10, 0x00);
	exec = capture(s, &ga, &gb);
	printf("nothing ran at capture\n");
	printf("looping\n");
	for (long k = 0; k < iters; k++) {
		uint8_t in[64 * 8];

		/* new content each round, then the graph: fill, copy */
		pattern(in, sizeof(in), 100 + (uint32_t)k);
		CK(cudaMemcpy2DAsync(ga.d, ga.pitch, in, 64, 64, 8, cudaMemcpyHostToDevice, s));
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		model_rows(&ga, 0, 0, in, 64, 64, 8);
		for (size_t r = 0; r < 6; r++)
			memset(ga.model + r * ga.pitch + 3, 0x3c, 20);
		for (size_t r = 0; r < 8; r++)
			memcpy(gb.model + (1 + r) * gb.pitch + 1, ga.model + r * ga.pitch, 40);
		check(&ga, "the graph's fill");
		check(&gb, "the graph's copy");
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %ld checked\n", iters);

	CK(cudaGraphExecDestroy(exec));
	drop(&p);
	drop(&q);
	drop(&big);
	drop(&wide);
	drop(&ga);
	drop(&gb);
	CK(cudaFreeHost(h1));
	free(h2);
	CK(cudaStreamDestroy(s));
	return xt_pass();
}
