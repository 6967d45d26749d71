/*
 * driver_common.h - what driver_module and driver_library share: the
 * driver API's status check, their options, and the checks of their
 * axpy and block-sum kernels (tests/cuda/kernels/driver_module.cu) on N
 * values in blocks of BLOCK.
 */
#ifndef XMIG_DRIVER_COMMON_H
#define XMIG_DRIVER_COMMON_H

#include <cuda.h>

#include "xtest.h"

#define N 4096
#define BLOCK 256
#define SUM_SMEM (64 << 10)   /* above the 48 KiB default: needs the attribute */

static void cu_check(CUresult r, const char *what, int line)
{
	if (r != CUDA_SUCCESS)
		xt_fail("line %d: %s returned %d", line, what, (int)r);
}
#define CU(call) cu_check((call), #call, __LINE__)

/*
 * --iters N, --sleep-ms M and the program's own flag (its name, or NULL):
 * anything else stops it with usage.
 */
static void dm_options(int argc, char **argv, const char *usage, int *iters, int *sleep_ms,
		       const char *flag, int *flag_set)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			*iters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sleep-ms") && i + 1 < argc)
			*sleep_ms = atoi(argv[++i]);
		else if (flag && !strcmp(argv[i], flag))
			*flag_set = 1;
		else
			xt_fail("usage: %s", usage);
	}
}

/* x and y as the axpy checks expect them: small integers, so every sum is exact. */
static void dm_inputs(float *x, float *y)
{
	for (int i = 0; i < N; i++) {
		x[i] = (float)(i % 13);
		y[i] = (float)(i % 97);
	}
}

/* y after axpys adding up to a times x. */
static void dm_expect_y(const float *y, const float *x, float a, const char *what)
{
	for (int i = 0; i < N; i++)
		if (y[i] != (float)(i % 97) + a * x[i])
			xt_fail("%s: y[%d] = %g", what, i, (double)y[i]);
}

/* dm_block_sum's sums of xf_dm_value, each block's: their total. */
static unsigned long long dm_expect_block_sums(const unsigned long long *sums)
{
	unsigned long long total = 0;

	for (int b = 0; b < N / BLOCK; b++) {
		unsigned long long want = 0;

		for (int t = 0; t < BLOCK; t++)
			want += xf_dm_value((uint32_t)(b * BLOCK + t));
		if (sums[b] != want)
			xt_fail("block sum %d = %llu, want %llu", b, sums[b], want);
		total += sums[b];
	}
	return total;
}

#endif
