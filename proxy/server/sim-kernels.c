/*
 * sim-kernels.c - the sim device's kernels: one C function for each kernel
 * of the tests/cuda programs (see sim-kernels.h for the interface).
 *
 * Each kernel has a parameter struct mirroring its CUDA parameter list and a
 * function computing what the CUDA kernel computes, with the per-element
 * formulas shared through tests/cuda/formulas.h. A kernel that gives each
 * thread one index behind an `if (i < n)` guard reaches only the indices
 * that both the guard and the launched threads allow, as on a GPU; a
 * grid-stride kernel reaches all of them whenever any thread runs. Shared
 * memory reductions are replayed step by step so that any block size gives
 * the GPU's result. Timing-only parameters (se_step's spin) are ignored.
 *
 * Mangled names come from the compiled programs;
 * tests/cuda/check-sim-coverage.sh fails when a program launches a kernel
 * missing here.
 */
#include <string.h>

#include "sim-kernels.h"
#include "../../tests/cuda/formulas.h"

#define SIM_LAUNCH_FAILURE 719      /* cudaErrorLaunchFailure */
#define SIM_MAX_BLOCK 1024

/* Threads along x: what blockIdx.x * blockDim.x + threadIdx.x ranges over. */
static uint64_t threads_x(const struct sim_launch *l)
{
	return (uint64_t)l->grid.x * l->block.x;
}

static uint64_t threads_y(const struct sim_launch *l)
{
	return (uint64_t)l->grid.y * l->block.y;
}

static uint64_t threads_z(const struct sim_launch *l)
{
	return (uint64_t)l->grid.z * l->block.z;
}

/* The indices 0..n-1 that `if (i < n)` lets through when `threads` exist. */
static uint64_t reach(uint64_t threads, int64_t n)
{
	if (n <= 0)
		return 0;
	return (uint64_t)n < threads ? (uint64_t)n : threads;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* A grid-stride loop covers all of 0..n-1 as soon as one thread runs. */
static uint64_t stride_reach(const struct sim_launch *l, uint64_t n)
{
	return threads_x(l) ? n : 0;
}

/* ---- shared: xt_affine(uint32_t *x, int n, uint32_t mul, uint32_t add) --- */

struct p_xt_affine {
	uint32_t *x;
	int n;
	uint32_t mul, add;
};

static int k_xt_affine(const struct sim_launch *l, const void *params)
{
	const struct p_xt_affine *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++)
		p->x[i] = xf_affine(p->x[i], p->mul, p->add);
	return 0;
}

/* ---- graphs: gr_mix(uint32_t *dst, const uint32_t *a, const uint32_t *b, int n, uint32_t k) */

struct p_gr_mix {
	uint32_t *dst;
	const uint32_t *a, *b;
	int n;
	uint32_t k;
};

static int k_gr_mix(const struct sim_launch *l, const void *params)
{
	const struct p_gr_mix *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++)
		p->dst[i] = xf_mix(p->a[i], p->b[i], p->k);
	return 0;
}

/* ---- vector_add: va_add(const float *a, const float *b, float *c, int n) --- */

struct p_va_add {
	const float *a, *b;
	float *c;
	int n;
};

static int k_va_add(const struct sim_launch *l, const void *params)
{
	const struct p_va_add *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++)
		p->c[i] = p->a[i] + p->b[i];
	return 0;
}

/* ---- streams_events: se_step(dst, src, n, mul, add, long long spin) ---- */

struct p_se_step {
	uint32_t *dst;
	const uint32_t *src;
	int n;
	uint32_t mul, add;
	long long spin;               /* GPU busy-wait: timing only */
};

static int k_se_step(const struct sim_launch *l, const void *params)
{
	const struct p_se_step *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++)
		p->dst[i] = xf_affine(p->src[i], p->mul, p->add);
	return 0;
}

/* ---- struct_args ------------------------------------------------------ */

/* sa_mixed(struct xf_mixed m, int64_t *out): thread (0,0) stores each member. */
struct p_sa_mixed {
	struct xf_mixed m;
	int64_t *out;
};

static int k_sa_mixed(const struct sim_launch *l, const void *params)
{
	const struct p_sa_mixed *p = params;

	if (threads_x(l))
		xf_sa_mixed(&p->m, p->out);
	return 0;
}

/* sa_big(const int *in, struct xf_big b, int64_t *out, int n) */
struct p_sa_big {
	const int *in;
	struct xf_big b;
	int64_t *out;
	int n;
};

static int k_sa_big(const struct sim_launch *l, const void *params)
{
	const struct p_sa_big *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++)
		p->out[i] = xf_sa_big(p->in[i], &p->b, (int)i);
	return 0;
}

/* sa_scalars(char, double, short, float, int64_t, char, int *, int64_t *, int) */
struct p_sa_scalars {
	char c;
	double d;
	short s;
	float f;
	int64_t q;
	char c2;
	int *outa;
	int64_t *outb;
	int n;
};

static int k_sa_scalars(const struct sim_launch *l, const void *params)
{
	const struct p_sa_scalars *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);

	for (i = 0; i < end; i++) {
		p->outa[i] = xf_sa_scalars_a(p->c, p->s, p->f, (int)i);
		p->outb[i] = xf_sa_scalars_b(p->d, p->q, p->c2, (int)i);
	}
	return 0;
}

/*
 * sa_block_sum(const int *in, int64_t *out, int n): the GPU's tree in
 * shared memory, step by step. Within a step thread t reads only slots >= s
 * and writes only slots < s, so a sequential loop over t is exact.
 */
struct p_sa_block_sum {
	const int *in;
	int64_t *out;
	int n;
};

static int k_sa_block_sum(const struct sim_launch *l, const void *params)
{
	const struct p_sa_block_sum *p = params;
	unsigned bd = l->block.x, b, t, s;
	int64_t acc[SIM_MAX_BLOCK];

	if (bd > SIM_MAX_BLOCK || l->shmem < (size_t)bd * sizeof(int64_t))
		return SIM_LAUNCH_FAILURE;  /* the GPU would index past shared memory */
	for (b = 0; b < l->grid.x; b++) {
		for (t = 0; t < bd; t++) {
			int64_t i = (int64_t)b * bd + t;

			acc[t] = i < p->n ? p->in[i] : 0;
		}
		for (s = bd / 2; s > 0; s >>= 1)
			for (t = 0; t < s; t++)
				acc[t] += acc[t + s];
		p->out[b] = acc[0];
	}
	return 0;
}

/* sa_tile_reverse(const int *in, int *out, int tile): block b reverses tile b. */
struct p_sa_tile_reverse {
	const int *in;
	int *out;
	int tile;
};

static int k_sa_tile_reverse(const struct sim_launch *l, const void *params)
{
	const struct p_sa_tile_reverse *p = params;
	uint64_t b, j, tile = p->tile > 0 ? (uint64_t)p->tile : 0;

	if (l->shmem < tile * sizeof(int))
		return SIM_LAUNCH_FAILURE;
	for (b = 0; b < l->grid.x; b++)
		for (j = 0; j < tile; j++)
			p->out[b * tile + j] = p->in[b * tile + tile - 1 - j];
	return 0;
}

/* sa_grid3d(uint32_t *out, int nx, int ny, int nz) */
struct p_sa_grid3d {
	uint32_t *out;
	int nx, ny, nz;
};

static int k_sa_grid3d(const struct sim_launch *l, const void *params)
{
	const struct p_sa_grid3d *p = params;
	uint64_t x, y, z, ex = reach(threads_x(l), p->nx), ey = reach(threads_y(l), p->ny),
		 ez = reach(threads_z(l), p->nz);

	for (z = 0; z < ez; z++)
		for (y = 0; y < ey; y++)
			for (x = 0; x < ex; x++)
				p->out[(z * (uint64_t)p->ny + y) * (uint64_t)p->nx + x] =
					xf_grid3d((uint32_t)x, (uint32_t)y, (uint32_t)z);
	return 0;
}

/* sa_transpose(const int *a, int *b, int w, int h) */
struct p_sa_transpose {
	const int *a;
	int *b;
	int w, h;
};

static int k_sa_transpose(const struct sim_launch *l, const void *params)
{
	const struct p_sa_transpose *p = params;
	uint64_t x, y, ex = reach(threads_x(l), p->w), ey = reach(threads_y(l), p->h);

	for (y = 0; y < ey; y++)
		for (x = 0; x < ex; x++)
			p->b[x * (uint64_t)p->h + y] = p->a[y * (uint64_t)p->w + x];
	return 0;
}

/* ---- device_globals: the module's __device__/__constant__ variables ---- */

struct dg_globals {
	int *counter;
	uint32_t *table;
	int *coef;
	unsigned long long *sum;
};

static int dg_globals(const struct sim_launch *l, struct dg_globals *g)
{
	g->counter = l->global(l, "dg_counter");
	g->table = l->global(l, "dg_table");
	g->coef = l->global(l, "dg_coef");
	g->sum = l->global(l, "dg_sum");
	return g->counter && g->table && g->coef && g->sum ? 0 : -1;
}

/* dg_apply(uint32_t *out, int n) */
struct p_dg_apply {
	uint32_t *out;
	int n;
};

static int k_dg_apply(const struct sim_launch *l, const void *params)
{
	const struct p_dg_apply *p = params;
	uint64_t i, end = reach(threads_x(l), p->n);
	struct dg_globals g;

	if (dg_globals(l, &g))
		return SIM_LAUNCH_FAILURE;
	for (i = 0; i < end; i++)
		p->out[i] = xf_dg_apply(g.table, g.coef, *g.counter, (int)i);
	return 0;
}

/* dg_bump(uint32_t by): dg_table[t] += by * t; thread 0: dg_counter += by. */
struct p_dg_bump {
	uint32_t by;
};

static int k_dg_bump(const struct sim_launch *l, const void *params)
{
	const struct p_dg_bump *p = params;
	uint64_t t, end = reach(threads_x(l), XF_DG_TABLE);
	struct dg_globals g;

	if (dg_globals(l, &g))
		return SIM_LAUNCH_FAILURE;
	for (t = 0; t < end; t++)
		g.table[t] += p->by * (uint32_t)t;
	if (threads_x(l))
		*g.counter = (int)((uint32_t)*g.counter + p->by);
	return 0;
}

/* dg_sum_table(void): dg_sum += dg_table[t] (atomically on the GPU). */
static int k_dg_sum_table(const struct sim_launch *l, const void *params)
{
	uint64_t t, end = reach(threads_x(l), XF_DG_TABLE);
	struct dg_globals g;

	(void)params;
	if (dg_globals(l, &g))
		return SIM_LAUNCH_FAILURE;
	for (t = 0; t < end; t++)
		*g.sum += g.table[t];
	return 0;
}

/* ---- pageable_big: pb_xform(uint8_t *p, size_t n, uint32_t key), grid-stride */

struct p_pb_xform {
	uint8_t *p;
	size_t n;
	uint32_t key;
};

static int k_pb_xform(const struct sim_launch *l, const void *params)
{
	const struct p_pb_xform *p = params;
	uint64_t i, end = stride_reach(l, p->n);

	for (i = 0; i < end; i++)
		p->p[i] = xf_pb_xform(p->p[i], i, p->key);
	return 0;
}

/* ---- zdtm --------------------------------------------------------------- */

/* zd_seed(uint64_t *p, size_t n, uint64_t base, uint64_t seed), grid-stride */
struct p_zd_seed {
	uint64_t *p;
	size_t n;
	uint64_t base, seed;
};

static int k_zd_seed(const struct sim_launch *l, const void *params)
{
	const struct p_zd_seed *p = params;
	uint64_t i, end = stride_reach(l, p->n);

	for (i = 0; i < end; i++)
		p->p[i] = xf_zd_seed(p->seed, p->base + i);
	return 0;
}

/* zd_mix(uint64_t *w, size_t n, const uint64_t *in, int m, uint64_t k) */
struct p_zd_mix {
	uint64_t *w;
	size_t n;
	const uint64_t *in;
	int m;
	uint64_t k;
};

static int k_zd_mix(const struct sim_launch *l, const void *params)
{
	const struct p_zd_mix *p = params;
	uint64_t i, end = min_u64(threads_x(l), p->n);   /* size_t i < n */

	if (end && p->m <= 0)
		return SIM_LAUNCH_FAILURE;  /* i % m: undefined on the GPU, fatal here */
	for (i = 0; i < end; i++)
		p->w[i] = xf_zd_mix(p->w[i], p->in[i % (uint64_t)p->m], p->k);
	return 0;
}

/* zd_ledger(uint64_t *ledger, const uint64_t *in, int m, uint64_t k) */
struct p_zd_ledger {
	uint64_t *ledger;
	const uint64_t *in;
	int m;
	uint64_t k;
};

static int k_zd_ledger(const struct sim_launch *l, const void *params)
{
	const struct p_zd_ledger *p = params;
	uint64_t i, end = reach(threads_x(l), p->m);

	for (i = 0; i < end; i++)
		p->ledger[i] = xf_zd_ledger(p->ledger[i], p->in[i], p->k);
	return 0;
}

/* zd_checksum(const uint64_t *p, size_t n, uint64_t base, unsigned long long *sum), grid-stride */
struct p_zd_checksum {
	const uint64_t *p;
	size_t n;
	uint64_t base;
	unsigned long long *sum;
};

static int k_zd_checksum(const struct sim_launch *l, const void *params)
{
	const struct p_zd_checksum *p = params;
	uint64_t i, end = stride_reach(l, p->n), sum = 0;

	for (i = 0; i < end; i++)
		sum += xf_zd_term(p->p[i], p->base + i);
	*p->sum += sum;
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define P(k, field) SIM_PARAM(struct p_##k, field)
#define PARAMS(k, ...) static const struct sim_param params_##k[] = { __VA_ARGS__ }

PARAMS(xt_affine, P(xt_affine, x), P(xt_affine, n), P(xt_affine, mul), P(xt_affine, add));
PARAMS(va_add, P(va_add, a), P(va_add, b), P(va_add, c), P(va_add, n));
PARAMS(gr_mix, P(gr_mix, dst), P(gr_mix, a), P(gr_mix, b), P(gr_mix, n), P(gr_mix, k));
PARAMS(se_step, P(se_step, dst), P(se_step, src), P(se_step, n), P(se_step, mul),
       P(se_step, add), P(se_step, spin));
PARAMS(sa_mixed, P(sa_mixed, m), P(sa_mixed, out));
PARAMS(sa_big, P(sa_big, in), P(sa_big, b), P(sa_big, out), P(sa_big, n));
PARAMS(sa_scalars, P(sa_scalars, c), P(sa_scalars, d), P(sa_scalars, s), P(sa_scalars, f),
       P(sa_scalars, q), P(sa_scalars, c2), P(sa_scalars, outa), P(sa_scalars, outb),
       P(sa_scalars, n));
PARAMS(sa_block_sum, P(sa_block_sum, in), P(sa_block_sum, out), P(sa_block_sum, n));
PARAMS(sa_tile_reverse, P(sa_tile_reverse, in), P(sa_tile_reverse, out), P(sa_tile_reverse, tile));
PARAMS(sa_grid3d, P(sa_grid3d, out), P(sa_grid3d, nx), P(sa_grid3d, ny), P(sa_grid3d, nz));
PARAMS(sa_transpose, P(sa_transpose, a), P(sa_transpose, b), P(sa_transpose, w),
       P(sa_transpose, h));
PARAMS(dg_apply, P(dg_apply, out), P(dg_apply, n));
PARAMS(dg_bump, P(dg_bump, by));
PARAMS(pb_xform, P(pb_xform, p), P(pb_xform, n), P(pb_xform, key));
PARAMS(zd_seed, P(zd_seed, p), P(zd_seed, n), P(zd_seed, base), P(zd_seed, seed));
PARAMS(zd_mix, P(zd_mix, w), P(zd_mix, n), P(zd_mix, in), P(zd_mix, m), P(zd_mix, k));
PARAMS(zd_ledger, P(zd_ledger, ledger), P(zd_ledger, in), P(zd_ledger, m), P(zd_ledger, k));
PARAMS(zd_checksum, P(zd_checksum, p), P(zd_checksum, n), P(zd_checksum, base),
       P(zd_checksum, sum));

/* ---- driver_module: loaded through the driver API, plain names ---------- */

struct p_dm_axpy {
	float a;
	const float *x;
	float *y;
	int n;
};

static int k_dm_axpy(const struct sim_launch *l, const void *params)
{
	const struct p_dm_axpy *p = params;
	uint64_t i, n = stride_reach(l, p->n > 0 ? (uint64_t)p->n : 0);

	for (i = 0; i < n; i++)
		p->y[i] = p->a * p->x[i] + p->y[i];
	return 0;
}

struct p_dm_mix {
	uint32_t *out;
	struct dm_args s;
	int n;
};

static int k_dm_mix(const struct sim_launch *l, const void *params)
{
	const struct p_dm_mix *p = params;
	uint64_t i, n = reach(threads_x(l), p->n);

	for (i = 0; i < n; i++)
		p->out[i] = xf_dm_mix((uint32_t)i, p->s);
	return 0;
}

/* An integer sum: the GPU's tree and this loop agree in any order. */
struct p_dm_block_sum {
	const uint32_t *in;
	unsigned long long *out;
	int n;
};

static int k_dm_block_sum(const struct sim_launch *l, const void *params)
{
	const struct p_dm_block_sum *p = params;
	unsigned bd = l->block.x, b, t;

	if (l->shmem < (size_t)bd * sizeof(unsigned long long))
		return SIM_LAUNCH_FAILURE;  /* the GPU would index past shared memory */
	for (b = 0; b < l->grid.x; b++) {
		unsigned long long acc = 0;

		for (t = 0; t < bd; t++) {
			int64_t i = (int64_t)b * bd + t;

			acc += i < p->n ? p->in[i] : 0;
		}
		p->out[b] = acc;
	}
	return 0;
}

/* Rank in the cluster and its size, for a one-dimensional grid. */
struct p_dm_cluster {
	uint32_t *out;
};

static int k_dm_cluster(const struct sim_launch *l, const void *params)
{
	const struct p_dm_cluster *p = params;
	unsigned cx = l->cluster.x ? l->cluster.x : 1, b;
	unsigned size = cx * (l->cluster.y ? l->cluster.y : 1) * (l->cluster.z ? l->cluster.z : 1);

	if (l->grid.y != 1 || l->grid.z != 1)
		return SIM_LAUNCH_FAILURE;  /* not simulated: only 1-D grids here */
	for (b = 0; b < l->grid.x; b++)
		p->out[b] = (b % cx) * 1000u + size;
	return 0;
}

PARAMS(dm_axpy, P(dm_axpy, a), P(dm_axpy, x), P(dm_axpy, y), P(dm_axpy, n));
PARAMS(dm_mix, P(dm_mix, out), P(dm_mix, s), P(dm_mix, n));
PARAMS(dm_block_sum, P(dm_block_sum, in), P(dm_block_sum, out), P(dm_block_sum, n));
PARAMS(dm_cluster, P(dm_cluster, out));

#define KERNEL(mangled, k) \
	{ mangled, k_##k, params_##k, sizeof(params_##k) / sizeof(params_##k[0]), \
	  sizeof(struct p_##k) }

static int k_empty(const struct sim_launch *l, const void *params)
{
	(void)l;
	(void)params;
	return 0;
}

const struct sim_kernel sim_kernels[] = {
	KERNEL("_Z9xt_affinePjijj", xt_affine),
	/* late_module's second fat binary: xt_affine under another name */
	{ "_Z9lm_affinePjijj", k_xt_affine, params_xt_affine,
	  sizeof(params_xt_affine) / sizeof(params_xt_affine[0]), sizeof(struct p_xt_affine) },
	KERNEL("_Z6va_addPKfS0_Pfi", va_add),
	KERNEL("_Z6gr_mixPjPKjS1_ij", gr_mix),
	KERNEL("_Z7se_stepPjPKjijjx", se_step),
	KERNEL("_Z8sa_mixed8xf_mixedPl", sa_mixed),
	KERNEL("_Z6sa_bigPKi6xf_bigPli", sa_big),
	KERNEL("_Z10sa_scalarscdsflcPiPli", sa_scalars),
	KERNEL("_Z12sa_block_sumPKiPli", sa_block_sum),
	KERNEL("_Z15sa_tile_reversePKiPii", sa_tile_reverse),
	KERNEL("_Z9sa_grid3dPjiii", sa_grid3d),
	KERNEL("_Z12sa_transposePKiPiii", sa_transpose),
	KERNEL("_Z8dg_applyPji", dg_apply),
	KERNEL("_Z7dg_bumpj", dg_bump),
	{ "_Z12dg_sum_tablev", k_dg_sum_table, NULL, 0, 0 },
	KERNEL("_Z8pb_xformPhmj", pb_xform),
	KERNEL("_Z7zd_seedPmmmm", zd_seed),
	KERNEL("_Z6zd_mixPmmPKmim", zd_mix),
	KERNEL("_Z9zd_ledgerPmPKmim", zd_ledger),
	KERNEL("_Z11zd_checksumPKmmmPy", zd_checksum),
	KERNEL("dm_axpy", dm_axpy),
	KERNEL("dm_mix", dm_mix),
	KERNEL("dm_block_sum", dm_block_sum),
	KERNEL("dm_cluster", dm_cluster),
	/* tests/cuda/launch_ex: dm_cluster under another name, launched by the runtime */
	{ "lx_cluster", k_dm_cluster, params_dm_cluster,
	  sizeof(params_dm_cluster) / sizeof(params_dm_cluster[0]), sizeof(struct p_dm_cluster) },
	/* tests/bench: measures the channel, so the kernel does nothing */
	{ "_Z12empty_kernelv", k_empty, NULL, 0, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};

const struct sim_kernel *sim_kernel_find(const char *name)
{
	const struct sim_kernel *k;

	if (!name)
		return NULL;
	for (k = sim_kernels; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}
