/*
 * xtest.h - what every tests/cuda program shares: checking CUDA calls,
 * failing and passing in the one output format, a content hash for printing
 * results, option parsing, and the one kernel several programs use.
 *
 * Output contract: deterministic lines on stdout (no timings, pointers or
 * device names), the last one "PASS <name>" or "FAIL <name>: ..."; exit
 * status 0 or 1.
 */
#ifndef XMIG_XTEST_H
#define XMIG_XTEST_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "formulas.h"

static const char *xt_name = "?";

static inline void xt_begin(const char *name)
{
	xt_name = name;
	/* Line-buffered even into a pipe, so a crash loses no earlier lines. */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void xt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void xt_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", xt_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static inline int xt_pass(void)
{
	printf("PASS %s\n", xt_name);
	return 0;
}

static inline void xt_check(cudaError_t e, const char *call, int line)
{
	if (e != cudaSuccess)
		xt_fail("line %d: %s returned %s", line, call, cudaGetErrorName(e));
}

/* Every CUDA call goes through CK; a launch is followed by CK_LAUNCH(). */
#define CK(call) xt_check((call), #call, __LINE__)
#define CK_LAUNCH() xt_check(cudaGetLastError(), "kernel launch", __LINE__)

/* A 64-bit hash of bytes, for printing a result compactly. */
static inline uint64_t xt_hash(const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	uint64_t h = xf_mix64(len), w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = xf_mix64(h + w);
	}
	w = 0;
	memcpy(&w, p + i, len - i);
	return xf_mix64(h ^ w);
}

static inline unsigned xt_blocks(size_t n, unsigned block)
{
	return (unsigned)((n + block - 1) / block);
}

/* Blocks for a grid-stride kernel: enough to fill a GPU, never too many. */
static inline unsigned xt_stride_blocks(size_t n, unsigned block)
{
	size_t b = (n + block - 1) / block;

	return b > 4096 ? 4096 : b ? (unsigned)b : 1;
}

static inline void *xt_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		xt_fail("out of host memory (%zu bytes)", n);
	return p;
}

/* Every byte of len at device address dev is byte, or the run fails naming what and i. */
static inline void xt_expect_bytes(const void *dev, size_t len, uint8_t byte, const char *what,
				   long i)
{
	uint8_t *h = (uint8_t *)xt_malloc(len);

	CK(cudaMemcpy(h, dev, len, cudaMemcpyDeviceToHost));
	for (size_t k = 0; k < len; k++)
		if (h[k] != byte)
			xt_fail("%s %ld: byte %zu of %zu is %02x, want %02x", what, i, k, len, h[k],
				byte);
	free(h);
}

/*
 * "--opt N" at argv[*i]: stores N (checked against [min,max]) and steps *i
 * past it. Returns 0 when argv[*i] is not opt.
 */
static inline int xt_opt_long(int argc, char **argv, int *i, const char *opt,
			      long min, long max, long *out)
{
	char *end;
	long v;

	if (strcmp(argv[*i], opt))
		return 0;
	if (*i + 1 >= argc)
		xt_fail("%s needs a value", opt);
	v = strtol(argv[*i + 1], &end, 10);
	if (*end || end == argv[*i + 1] || v < min || v > max)
		xt_fail("%s: '%s' is not a number in [%ld, %ld]", opt, argv[*i + 1], min, max);
	*out = v;
	*i += 1;
	return 1;
}

/* A driver function by name, as c10::cuda::DriverAPI gets it (no -lcuda needed). */
static inline void *xt_driver_fn(const char *name)
{
	enum cudaDriverEntryPointQueryResult q;
	void *fn = NULL;

	CK(cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &q));
	if (q != cudaDriverEntryPointSuccess || !fn)
		xt_fail("%s: not found (status %d)", name, (int)q);
	return fn;
}

#ifdef __CUDACC__
/* x[i] = x[i] * mul + add for i < n: the step of the chained tests. */
__global__ void xt_affine(uint32_t *x, int n, uint32_t mul, uint32_t add)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] = xf_affine(x[i], mul, add);
}
#endif

#endif
