/*
 * test-sim-kernels.c - the sim device's C kernels on their own, on host
 * buffers with a faked global() callback: the table's shape, parameter
 * layouts against the CUDA ABI offsets worked out by hand, each kernel's
 * values, its `if (i < n)` reach and its failures.
 */
#include <string.h>

/* The kernels' parameter structs are private to the table's file. */
#include "proxy/server/sim-kernels.c"
#include "unit.h"

static struct sim_launch launch(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
				unsigned bz, size_t shmem)
{
	struct sim_launch l = { { gx, gy, gz }, { bx, by, bz }, shmem, NULL, NULL };

	return l;
}

static struct sim_launch launch1(unsigned grid, unsigned block, size_t shmem)
{
	return launch(grid, 1, 1, block, 1, 1, shmem);
}

static int run(const char *name, const struct sim_launch *l, const void *params)
{
	const struct sim_kernel *k = sim_kernel_find(name);

	return k ? k->fn(l, params) : -1;
}

/* ---- the table ---------------------------------------------------------- */

static void test_table(void)
{
	const struct sim_kernel *k, *j;
	int n = 0, bad = 0;
	unsigned p;

	for (k = sim_kernels; k->name; k++, n++) {
		/*
		 * Mangled, or extern "C": kernels loaded through the driver API
		 * (dm_), and launch_ex's cluster kernel (lx_), as the driver's.
		 */
		if ((strncmp(k->name, "_Z", 2) && strncmp(k->name, "dm_", 3) &&
		     strncmp(k->name, "lx_", 3)) || !k->fn ||
		    sim_kernel_find(k->name) != k)
			bad++;
		for (j = sim_kernels; j < k; j++)
			bad += !strcmp(j->name, k->name);
		for (p = 0; p < k->nparams; p++) {
			const struct sim_param *q = &k->params[p];

			bad += q->size == 0 || q->offset + q->size > k->param_bytes;
			bad += p > 0 && q->offset < k->params[p - 1].offset + k->params[p - 1].size;
		}
	}
	CHECK(n == 26, "the table has the 25 kernels of tests/cuda and the benchmark's (got %d)", n);
	CHECK(bad == 0, "names mangled (or dm_, lx_), unique and found; parameters in order inside "
	      "the struct");
	CHECK(!sim_kernel_find("_Z7nothingv") && !sim_kernel_find(NULL), "unknown names are not found");
}

/* The parameter offsets and sizes as the CUDA ABI lays them out. */
static void check_layout(const char *name, const struct sim_param *want, unsigned n,
			 uint32_t bytes)
{
	const struct sim_kernel *k = sim_kernel_find(name);
	unsigned p;
	int same = k && k->nparams == n && k->param_bytes == bytes;

	for (p = 0; same && p < n; p++)
		same = k->params[p].offset == want[p].offset && k->params[p].size == want[p].size;
	CHECK(same, "parameter layout of %s", name);
}

static void test_layouts(void)
{
	static const struct sim_param scalars[] = {
		{ 0, 1 }, { 8, 8 }, { 16, 2 }, { 20, 4 }, { 24, 8 }, { 32, 1 }, { 40, 8 }, { 48, 8 }, { 56, 4 },
	};
	static const struct sim_param big[] = { { 0, 8 }, { 8, 96 }, { 104, 8 }, { 112, 4 } };
	static const struct sim_param mixed[] = { { 0, 32 }, { 32, 8 } };
	static const struct sim_param step[] = {
		{ 0, 8 }, { 8, 8 }, { 16, 4 }, { 20, 4 }, { 24, 4 }, { 32, 8 },
	};
	static const struct sim_param mix[] = { { 0, 8 }, { 8, 8 }, { 16, 8 }, { 24, 4 }, { 32, 8 } };
	static const struct sim_param affine[] = { { 0, 8 }, { 8, 4 }, { 12, 4 }, { 16, 4 } };
	static const struct sim_param gr_mix[] = { { 0, 8 }, { 8, 8 }, { 16, 8 }, { 24, 4 }, { 28, 4 } };

	check_layout("_Z10sa_scalarscdsflcPiPli", scalars, 9, 64);
	check_layout("_Z6sa_bigPKi6xf_bigPli", big, 4, 120);
	check_layout("_Z8sa_mixed8xf_mixedPl", mixed, 2, 40);
	check_layout("_Z7se_stepPjPKjijjx", step, 6, 40);
	check_layout("_Z6zd_mixPmmPKmim", mix, 5, 40);
	check_layout("_Z9xt_affinePjijj", affine, 4, 24);
	check_layout("_Z6gr_mixPjPKjS1_ij", gr_mix, 5, 32);
	/* What cuFuncGetParamInfo reports for dm_mix on an H200 (driver_module.out). */
	static const struct sim_param dm_mix[] = { { 0, 8 }, { 8, 32 }, { 40, 4 } };
	check_layout("dm_mix", dm_mix, 3, 48);
	CHECK(offsetof(struct xf_mixed, q) == 24 && offsetof(struct xf_mixed, tag) == 18,
	      "struct xf_mixed: tag at 18, q at 24");
}

static void test_formulas(void)
{
	CHECK(xf_mix64(XF_GOLDEN) == 0xe220a8397b1dcdafull, "xf_mix64 is splitmix64's finaliser");
	CHECK(xf_grid3d(1, 1, 1) == 0xd96e1defu, "xf_grid3d(1,1,1)");
	CHECK(xf_pb_xform(0x10, 4096, 0x22) == 0x33 && xf_pb_xform(0x10, 1, 0x22) == 0x39,
	      "xf_pb_xform");
}

/* ---- kernels of vector_add, streams_events, threads --------------------- */

static void test_affine_add_step(void)
{
	uint32_t x[10], dst[2] = { 0, 0 }, src[2] = { 1, 2 };
	float a[3] = { 1, 2, 3 }, b[3] = { 10, 20, 30 }, c[4] = { -1, -1, -1, -1 };
	struct p_xt_affine pa = { x, 10, 3, 7 };
	struct p_va_add pv = { a, b, c, 3 };
	struct p_se_step ps = { dst, src, 2, 5, 1, 1ll << 60 };
	struct sim_launch l = launch1(1, 8, 0);
	int i, r;

	for (i = 0; i < 10; i++)
		x[i] = (uint32_t)i;
	r = run("_Z9xt_affinePjijj", &l, &pa);
	CHECK(r == 0 && x[0] == 7 && x[7] == 28 && x[8] == 8 && x[9] == 9,
	      "xt_affine: 8 threads reach 8 of 10 elements");
	l = launch1(2, 8, 0);
	r = run("_Z9xt_affinePjijj", &l, &pa);
	CHECK(r == 0 && x[0] == 28 && x[9] == 34, "xt_affine: 16 threads, the guard stops at n");

	l = launch1(1, 4, 0);
	r = run("_Z6va_addPKfS0_Pfi", &l, &pv);
	CHECK(r == 0 && c[0] == 11 && c[2] == 33 && c[3] == -1, "va_add: c = a + b for i < n");

	l = launch1(1, 1, 0);
	r = run("_Z7se_stepPjPKjijjx", &l, &ps);
	CHECK(r == 0 && dst[0] == 6 && dst[1] == 0, "se_step: one thread, one element; spin ignored");

	{
		uint32_t ga[3] = { 1, 2, 3 }, gb[3] = { 10, 20, 30 }, gd[3] = { 0, 0, 0 };
		struct p_gr_mix pg = { gd, ga, gb, 3, 7 };

		l = launch1(1, 2, 0);
		r = run("_Z6gr_mixPjPKjS1_ij", &l, &pg);
		CHECK(r == 0 && gd[0] == 17 && gd[1] == 34 && gd[2] == 0,
		      "gr_mix: dst = a k + b, for the 2 threads' elements");
	}
}

/* ---- struct_args ---------------------------------------------------------- */

static void test_struct_params(void)
{
	struct p_sa_mixed pm;
	struct p_sa_big pb;
	struct p_sa_scalars ps;
	int64_t out[XF_MIXED_OUT], big[2], ob[20];
	int in[2] = { 2, -3 }, oa[20], k, r;
	const int64_t q = (1ll << 41) + 3;
	struct sim_launch l = launch1(1, 32, 0);

	memset(&pm, 0, sizeof(pm));
	pm.m.c = -5;
	pm.m.i = 123456789;
	pm.m.d = -3.25;
	pm.m.s = -1234;
	memcpy(pm.m.tag, "xmg", 3);
	pm.m.q = -(1ll << 40) - 17;
	pm.out = out;
	r = run("_Z8sa_mixed8xf_mixedPl", &l, &pm);
	CHECK(r == 0 && out[0] == -5 && out[1] == 123456789 && out[2] == -13 && out[3] == -1234 &&
	      out[4] == 0x676d78 && out[5] == -(1ll << 40) - 17 && out[6] == 32,
	      "sa_mixed: every member and sizeof 32");

	memset(&pb, 0, sizeof(pb));
	for (k = 0; k < XF_BIG_N; k++)
		pb.b.a[k] = k + 1;
	pb.b.w = 10.75;
	pb.b.c = 1;
	pb.in = in;
	pb.out = big;
	pb.n = 2;
	r = run("_Z6sa_bigPKi6xf_bigPli", &l, &pb);
	CHECK(r == 0 && big[0] == 13 && big[1] == 5, "sa_big: in * a[i] + (int)w + c");

	ps = (struct p_sa_scalars){ -7, -12345.5, 321, 2.75f, q, 100, oa, ob, 20 };
	r = run("_Z10sa_scalarscdsflcPiPli", &l, &ps);
	CHECK(r == 0 && oa[0] == 4 && oa[17] == 325 && ob[0] == q + 100 && ob[17] == -24691 * 17 + q + 100,
	      "sa_scalars: every scalar read at its padded offset");
}

static void test_block_sum(void)
{
	int in[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	int64_t out[3] = { 0, 0, 0 };
	struct p_sa_block_sum p = { in, out, 10 };
	struct sim_launch l = launch1(3, 4, 4 * 8);
	int r;

	r = run("_Z12sa_block_sumPKiPli", &l, &p);
	CHECK(r == 0 && out[0] == 10 && out[1] == 26 && out[2] == 19, "sa_block_sum: per-block sums");
	p.n = 6;
	l = launch1(2, 3, 3 * 8);
	r = run("_Z12sa_block_sumPKiPli", &l, &p);
	CHECK(r == 0 && out[0] == 3 && out[1] == 9,
	      "sa_block_sum: 3 threads drop the odd element, as the GPU's tree does");
	l = launch1(1, 4, 16);
	CHECK(run("_Z12sa_block_sumPKiPli", &l, &p) == SIM_LAUNCH_FAILURE,
	      "sa_block_sum: too little shared memory fails the launch");
}

static void test_tile_reverse(void)
{
	int in[10], out[10], k, r, rev = 1;
	struct p_sa_tile_reverse p = { in, out, 5 };
	struct sim_launch l = launch1(2, 256, 20);

	for (k = 0; k < 10; k++)
		in[k] = k;
	r = run("_Z15sa_tile_reversePKiPii", &l, &p);
	for (k = 0; k < 10; k++)
		rev &= out[k] == (k < 5 ? 4 - k : 14 - k);
	CHECK(r == 0 && rev, "sa_tile_reverse: each tile reversed");
	l.shmem = 19;
	CHECK(run("_Z15sa_tile_reversePKiPii", &l, &p) == SIM_LAUNCH_FAILURE,
	      "sa_tile_reverse: too little shared memory fails the launch");
}

static void test_grids(void)
{
	uint32_t g[12];
	int a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 0 }, r;
	struct p_sa_grid3d p3 = { g, 3, 2, 2 };
	struct p_sa_transpose pt = { a, b, 3, 2 };
	struct sim_launch l = launch(1, 2, 2, 2, 1, 1, 0);

	memset(g, 0xff, sizeof(g));
	r = run("_Z9sa_grid3dPjiii", &l, &p3);
	CHECK(r == 0 && g[(1 * 2 + 1) * 3 + 1] == 0xd96e1defu && g[0] == 0 && g[2] == 0xffffffffu &&
	      g[11] == 0xffffffffu, "sa_grid3d: x reaches 2 of 3, y and z all");
	l = launch(1, 1, 1, 4, 4, 1, 0);
	r = run("_Z12sa_transposePKiPiii", &l, &pt);
	CHECK(r == 0 && b[0] == 1 && b[1] == 4 && b[2] == 2 && b[3] == 5 && b[4] == 3 && b[5] == 6,
	      "sa_transpose: 2x3 -> 3x2");
}

/* ---- device_globals ------------------------------------------------------- */

static struct {
	int counter;
	uint32_t table[XF_DG_TABLE];
	int coef[XF_DG_COEF];
	unsigned long long sum;
} g;

static void *fake_global(const struct sim_launch *l, const char *name)
{
	if (!l->module)
		return NULL;
	if (!strcmp(name, "dg_counter"))
		return &g.counter;
	if (!strcmp(name, "dg_table"))
		return g.table;
	if (!strcmp(name, "dg_coef"))
		return g.coef;
	if (!strcmp(name, "dg_sum"))
		return &g.sum;
	return NULL;
}

static void test_globals(void)
{
	uint32_t out[20];
	struct p_dg_apply pa = { out, 20 };
	struct p_dg_bump pb = { 3 };
	struct sim_launch l = launch1(1, 32, 0);
	int i, r;

	for (i = 0; i < XF_DG_TABLE; i++)
		g.table[i] = (uint32_t)i;
	for (i = 0; i < XF_DG_COEF; i++)
		g.coef[i] = i + 1;
	g.counter = 5;
	l.global = fake_global;
	l.module = &g;
	r = run("_Z8dg_applyPji", &l, &pa);
	CHECK(r == 0 && out[17] == 17 * 2 + 5 && out[19] == 19 * 4 + 5, "dg_apply: table * coef + counter");
	l = launch1(1, 128, 0);
	l.global = fake_global;
	l.module = &g;
	r = run("_Z7dg_bumpj", &l, &pb);
	CHECK(r == 0 && g.table[100] == 400 && g.table[200] == 200 && g.counter == 8,
	      "dg_bump: 128 threads bump 128 slots and the counter once");
	l = launch1(4, 64, 0);
	l.global = fake_global;
	l.module = &g;
	g.sum = 1;
	r = run("_Z12dg_sum_tablev", &l, NULL);
	CHECK(r == 0 && g.sum == 1 + 32640ull + 3 * 8128ull, "dg_sum_table: adds the table to dg_sum");
	l.module = NULL;   /* fake_global now finds nothing */
	CHECK(run("_Z8dg_applyPji", &l, &pa) == SIM_LAUNCH_FAILURE,
	      "dg_apply: a missing global fails the launch");
}

/* ---- pageable_big, zdtm ---------------------------------------------------- */

static void test_pb_xform(void)
{
	static uint8_t buf[5000];
	struct p_pb_xform p = { buf, sizeof(buf), 0x22 };
	struct sim_launch l = launch1(1, 1, 0);
	int r;

	memset(buf, 0x10, sizeof(buf));
	r = run("_Z8pb_xformPhmj", &l, &p);
	CHECK(r == 0 && buf[0] == 0x32 && buf[1] == 0x39 && buf[4096] == 0x33 &&
	      buf[4999] == xf_pb_xform(0x10, 4999, 0x22), "pb_xform: one thread strides over all");
}

static void test_zdtm(void)
{
	uint64_t p[5], w[3] = { 0, 0, 0 }, in[2] = { 1, 2 }, led[2] = { 1, 2 }, c[3] = { 7, 8, 9 };
	unsigned long long sum = 1;
	struct p_zd_seed ps = { p, 5, 100, 1 };
	struct p_zd_mix pm = { w, 3, in, 2, 0 };
	struct p_zd_ledger pl = { led, in, 2, 5 };
	struct p_zd_checksum pc = { c, 3, 10, &sum };
	struct sim_launch l = launch1(1, 2, 0);
	int r;

	r = run("_Z7zd_seedPmmmm", &l, &ps);
	CHECK(r == 0 && p[0] == xf_mix64(1 ^ (100 * XF_GOLDEN)) && p[4] == xf_zd_seed(1, 104),
	      "zd_seed: word i holds seed(base + i)");
	r = run("_Z6zd_mixPmmPKmim", &l, &pm);
	CHECK(r == 0 && w[0] == 0x5692161d100b05e5ull && w[1] == xf_mix64(2) && w[2] == 0,
	      "zd_mix: 2 threads mix 2 of 3 words");
	pm.m = 0;
	CHECK(run("_Z6zd_mixPmmPKmim", &l, &pm) == SIM_LAUNCH_FAILURE, "zd_mix: m = 0 fails, not SIGFPE");
	r = run("_Z9zd_ledgerPmPKmim", &l, &pl);
	CHECK(r == 0 && led[0] == 6364136223846793005ull + 1 + 5 &&
	      led[1] == 2 * 6364136223846793005ull + 2 + 5, "zd_ledger: l * a + in + k");
	l = launch1(1, 1, 0);
	r = run("_Z11zd_checksumPKmmmPy", &l, &pc);
	CHECK(r == 0 && sum == 1 + xf_zd_term(7, 10) + xf_zd_term(8, 11) + xf_zd_term(9, 12),
	      "zd_checksum: adds every term, indexed from base");
}

/* ---- driver_module's kernels ------------------------------------------- */

static void test_driver_module(void)
{
	uint32_t out[8], in[8];
	unsigned long long sums[2];
	struct p_dm_cluster pc = { out };
	struct p_dm_block_sum pb = { in, sums, 8 };
	struct sim_launch l = launch1(8, 128, 0);
	unsigned i;

	l.cluster = (struct sim_dim3){ 2, 1, 1 };
	CHECK(run("dm_cluster", &l, &pc) == 0 && out[0] == 2 && out[1] == 1002 && out[7] == 1002,
	      "dm_cluster: rank in a cluster of 2, times 1000, plus its size");
	l.cluster = (struct sim_dim3){ 0, 0, 0 };
	CHECK(run("dm_cluster", &l, &pc) == 0 && out[0] == 1 && out[5] == 1,
	      "dm_cluster: no cluster is a cluster of one");
	for (i = 0; i < 8; i++)
		in[i] = i + 1;
	l = launch1(2, 4, 4 * sizeof(unsigned long long));
	CHECK(run("dm_block_sum", &l, &pb) == 0 && sums[0] == 10 && sums[1] == 26,
	      "dm_block_sum: per-block sums");
	l.shmem = 8;
	CHECK(run("dm_block_sum", &l, &pb) == SIM_LAUNCH_FAILURE,
	      "dm_block_sum: too little shared memory fails the launch");
}

int main(void)
{
	test_table();
	test_layouts();
	test_formulas();
	test_affine_add_step();
	test_struct_params();
	test_block_sum();
	test_tile_reverse();
	test_grids();
	test_globals();
	test_pb_xform();
	test_zdtm();
	test_driver_module();
	return unit_done();
}
