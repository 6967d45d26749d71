/*
 * device_globals.cu - module globals: __device__ scalars and arrays and a
 * __constant__ array, written with cudaMemcpyToSymbol (whole, at an offset,
 * and async on a stream), read and written by kernels, read back with
 * cudaMemcpyFromSymbol(Async), and reached through cudaGetSymbolAddress and
 * plain cudaMemcpy. cudaGetSymbolSize is checked too.
 *
 * With --pause-ms N it pauses N ms after each step, while the globals hold
 * what the last step left: a process to move in between (the globals'
 * bytes must go with it); the output is the same.
 *
 *   device_globals [--pause-ms N (0)]
 */
#include <unistd.h>

#include "xtest.h"

#define N 3000

__device__ int dg_counter;
__device__ uint32_t dg_table[XF_DG_TABLE];
__constant__ int dg_coef[XF_DG_COEF];
__device__ unsigned long long dg_sum;

__global__ void dg_apply(uint32_t *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		out[i] = xf_dg_apply(dg_table, dg_coef, dg_counter, i);
}

/* dg_table[t] += by * t; dg_counter += by. */
__global__ void dg_bump(uint32_t by)
{
	int t = blockIdx.x * blockDim.x + threadIdx.x;

	if (t < XF_DG_TABLE)
		dg_table[t] += by * (uint32_t)t;
	if (t == 0)
		dg_counter += (int)by;
}

__global__ void dg_sum_table(void)
{
	int t = blockIdx.x * blockDim.x + threadIdx.x;

	if (t < XF_DG_TABLE)
		atomicAdd(&dg_sum, (unsigned long long)dg_table[t]);
}

/* The host's picture of the globals. */
struct model {
	int counter;
	uint32_t table[XF_DG_TABLE];
	int coef[XF_DG_COEF];
};

/* Run dg_apply on stream s and compare with the model. */
static void check_apply(const struct model *m, cudaStream_t s, uint32_t *d, const char *when)
{
	uint32_t got[N];
	int i;

	dg_apply<<<xt_blocks(N, 128), 128, 0, s>>>(d, N);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(got, d, sizeof(got), cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	for (i = 0; i < N; i++)
		if (got[i] != xf_dg_apply(m->table, m->coef, m->counter, i))
			xt_fail("dg_apply %s: [%d] = %u, want %u", when, i, got[i],
				xf_dg_apply(m->table, m->coef, m->counter, i));
	printf("apply %s: ok hash=%016llx\n", when, (unsigned long long)xt_hash(got, sizeof(got)));
}

static void check_sizes(void)
{
	size_t table, coef, counter;

	CK(cudaGetSymbolSize(&table, dg_table));
	CK(cudaGetSymbolSize(&coef, dg_coef));
	CK(cudaGetSymbolSize(&counter, dg_counter));
	if (table != sizeof(uint32_t) * XF_DG_TABLE || coef != sizeof(int) * XF_DG_COEF ||
	    counter != sizeof(int))
		xt_fail("cudaGetSymbolSize: %zu %zu %zu", table, coef, counter);
	printf("symbol sizes: %zu %zu %zu\n", table, coef, counter);
}

/* Write every global from the host: whole, at an offset, async. */
static void write_globals(struct model *m, cudaStream_t s)
{
	int i, upper[XF_DG_COEF / 2];

	for (i = 0; i < XF_DG_COEF; i++)
		m->coef[i] = 2 * i + 1;
	CK(cudaMemcpyToSymbol(dg_coef, m->coef, sizeof(m->coef)));
	for (i = 0; i < XF_DG_COEF / 2; i++)
		upper[i] = m->coef[XF_DG_COEF / 2 + i] = -(i + 100);
	CK(cudaMemcpyToSymbol(dg_coef, upper, sizeof(upper), sizeof(int) * (XF_DG_COEF / 2)));
	for (i = 0; i < XF_DG_TABLE; i++)
		m->table[i] = (uint32_t)xf_mix64(i);
	CK(cudaMemcpyToSymbolAsync(dg_table, m->table, sizeof(m->table), 0, cudaMemcpyHostToDevice, s));
	m->counter = 41;
	CK(cudaMemcpyToSymbolAsync(dg_counter, &m->counter, sizeof(int), 0, cudaMemcpyHostToDevice, s));
	CK(cudaStreamSynchronize(s));  /* the sources are pageable locals */
}

/* Kernels change the globals; read them back every way. */
static void bump_and_read(struct model *m, cudaStream_t s)
{
	uint32_t table[XF_DG_TABLE], upper[XF_DG_TABLE / 2];
	int counter, i;

	dg_bump<<<1, 256, 0, s>>>(5);
	CK_LAUNCH();
	dg_bump<<<2, 128, 0, s>>>(3);
	CK_LAUNCH();
	for (i = 0; i < XF_DG_TABLE; i++)
		m->table[i] += 8u * (uint32_t)i;
	m->counter += 8;
	CK(cudaStreamSynchronize(s));
	CK(cudaMemcpyFromSymbol(&counter, dg_counter, sizeof(int)));
	CK(cudaMemcpyFromSymbol(upper, dg_table, sizeof(upper), sizeof(upper)));
	CK(cudaMemcpyFromSymbolAsync(table, dg_table, sizeof(table), 0, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	if (counter != m->counter)
		xt_fail("dg_counter = %d, want %d", counter, m->counter);
	if (memcmp(table, m->table, sizeof(table)) ||
	    memcmp(upper, m->table + XF_DG_TABLE / 2, sizeof(upper)))
		xt_fail("dg_table read back differs from the model");
	printf("after bumps: counter %d, table hash=%016llx\n", counter,
	       (unsigned long long)xt_hash(table, sizeof(table)));
}

/* cudaGetSymbolAddress, then plain cudaMemcpy both ways through it; the sum kernel. */
static void through_address(struct model *m)
{
	uint32_t *p, patch[16], back[XF_DG_TABLE];
	unsigned long long sum = 0, want = 0, zero = 0;
	int i;

	CK(cudaGetSymbolAddress((void **)&p, dg_table));
	for (i = 0; i < 16; i++)
		patch[i] = m->table[10 + i] = 0xdead0000u + (uint32_t)i;
	CK(cudaMemcpy(p + 10, patch, sizeof(patch), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(back, p, sizeof(back), cudaMemcpyDeviceToHost));
	if (memcmp(back, m->table, sizeof(back)))
		xt_fail("dg_table through cudaGetSymbolAddress differs from the model");
	CK(cudaMemcpyToSymbol(dg_sum, &zero, sizeof(zero)));
	dg_sum_table<<<4, 64>>>();
	CK_LAUNCH();
	CK(cudaMemcpyFromSymbol(&sum, dg_sum, sizeof(sum)));
	for (i = 0; i < XF_DG_TABLE; i++)
		want += m->table[i];
	if (sum != want)
		xt_fail("dg_sum = %llu, want %llu", sum, want);
	printf("table sum through symbol address: %llu\n", sum);
}

int main(int argc, char **argv)
{
	struct model m;
	cudaStream_t s;
	uint32_t *d;
	long pause_ms = 0;

	xt_begin("device_globals");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--pause-ms", 0, 100000, &pause_ms))
			xt_fail("unknown argument '%s'", argv[i]);
	CK(cudaStreamCreate(&s));
	CK(cudaMalloc(&d, N * sizeof(uint32_t)));
	check_sizes();
	write_globals(&m, s);
	usleep((useconds_t)pause_ms * 1000);
	check_apply(&m, s, d, "after host writes");
	bump_and_read(&m, s);
	usleep((useconds_t)pause_ms * 1000);
	check_apply(&m, s, d, "after kernel writes");
	through_address(&m);
	usleep((useconds_t)pause_ms * 1000);
	check_apply(&m, 0, d, "after patch");
	CK(cudaFree(d));
	CK(cudaStreamDestroy(s));
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
