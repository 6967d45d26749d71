/*
 * formulas.h - what the test kernels compute, written once for three users:
 * the CUDA kernels of the tests/cuda programs, those programs' CPU references, and
 * the sim device's C kernels (proxy/server/sim-kernels.c). It is plain C11
 * that nvcc also compiles for the device, so the three cannot drift apart.
 *
 * The structs that kernels take by value live here for the same reason: the
 * C parameter structs of the sim device embed them, so the CUDA parameter
 * layout and the C one are the same declaration.
 *
 * Everything is integer arithmetic (or floats holding small exact integers):
 * results are bit-identical on every device and in every summation order.
 */
#ifndef XMIG_TEST_FORMULAS_H
#define XMIG_TEST_FORMULAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define XF __host__ __device__ static inline
#else
#define XF static inline
#endif

#define XF_GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: a cheap, well-mixed hash of one word. */
XF uint64_t xf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* ---- streams_events, threads, vector_add ------------------------------ */

/* The step every chained kernel applies: wraps modulo 2^32. */
XF uint32_t xf_affine(uint32_t x, uint32_t mul, uint32_t add)
{
	return x * mul + add;
}

/* ---- graphs: gr_mix(dst, a, b, n, k) ---------------------------------- */

XF uint32_t xf_mix(uint32_t a, uint32_t b, uint32_t k)
{
	return a * k + b;
}

/* ---- struct_args ------------------------------------------------------ */

/* Mixed members with padding: c@0 i@4 d@8 s@16 tag@18 q@24, 32 bytes. */
struct xf_mixed {
	char c;
	int i;
	double d;
	short s;
	char tag[3];
	int64_t q;
};

/* Larger than 64 bytes: a@0 w@80 c@88, 96 bytes. */
#define XF_BIG_N 20
struct xf_big {
	int a[XF_BIG_N];
	double w;
	char c;
};

/* What sa_mixed stores: each member, read on the device, as an int64. */
#define XF_MIXED_OUT 7
XF void xf_sa_mixed(const struct xf_mixed *m, int64_t *out)
{
	out[0] = m->c;
	out[1] = m->i;
	out[2] = (int64_t)(m->d * 4.0);
	out[3] = m->s;
	out[4] = (int64_t)(unsigned char)m->tag[0] | ((int64_t)(unsigned char)m->tag[1] << 8) |
		 ((int64_t)(unsigned char)m->tag[2] << 16);
	out[5] = m->q;
	out[6] = (int64_t)sizeof(*m);   /* the layout the device saw */
}

XF int64_t xf_sa_big(int in, const struct xf_big *b, int i)
{
	return (int64_t)in * b->a[i % XF_BIG_N] + (int64_t)b->w + b->c;
}

XF int xf_sa_scalars_a(char c, short s, float f, int i)
{
	return (int)c + (int)s * (i & 15) + (int)(f * 4.0f);
}

XF int64_t xf_sa_scalars_b(double d, int64_t q, char c2, int i)
{
	return (int64_t)(d * 2.0) * i + q + c2;
}

XF uint32_t xf_grid3d(uint32_t x, uint32_t y, uint32_t z)
{
	return x * 0x9e3779b1u ^ y * 0x85ebca6bu ^ z * 0xc2b2ae35u;
}

/* ---- device_globals --------------------------------------------------- */

#define XF_DG_TABLE 256
#define XF_DG_COEF 16

XF uint32_t xf_dg_apply(const uint32_t *table, const int *coef, int counter, int i)
{
	return table[i % XF_DG_TABLE] * (uint32_t)coef[i % XF_DG_COEF] + (uint32_t)counter;
}

/* ---- pageable_big ----------------------------------------------------- */

/* Byte i of the source pattern of seed. */
XF uint8_t xf_pb_src(uint64_t seed, uint64_t i)
{
	return (uint8_t)(xf_mix64(seed + (i >> 3)) >> (8 * (i & 7)));
}

/* What pb_xform makes of byte b at index i. */
XF uint8_t xf_pb_xform(uint8_t b, uint64_t i, uint32_t key)
{
	return (uint8_t)((b ^ (uint8_t)key) + (uint8_t)(i * 7u) + (uint8_t)(i >> 12));
}

/* ---- zdtm ------------------------------------------------------------- */

XF uint64_t xf_zd_seed(uint64_t seed, uint64_t index)
{
	return xf_mix64(seed ^ (index * XF_GOLDEN));
}

XF uint64_t xf_zd_mix(uint64_t w, uint64_t in, uint64_t k)
{
	return xf_mix64(w + in + k * 0x632be59bd9b4e019ull);
}

XF uint64_t xf_zd_ledger(uint64_t l, uint64_t in, uint64_t k)
{
	return l * 6364136223846793005ull + in + k;
}

/* Word i of iteration k's host input. */
XF uint64_t xf_zd_input(uint64_t k, uint64_t i)
{
	return xf_mix64((k << 32) ^ i ^ 0x5a5a5a5a5a5a5a5aull);
}

/* One word's share of the checksum, a plain sum so any order gives it. */
XF uint64_t xf_zd_term(uint64_t w, uint64_t index)
{
	return xf_mix64(w ^ (index * XF_GOLDEN));
}

/* ---- driver_module (kernels loaded through the driver API) ------------ */

/* Taken by value: padding between every member tests the parameter layout. */
struct dm_args {
	unsigned char tag;
	double scale;             /* a small integer */
	unsigned short k;
	long long bias;
};

XF uint32_t xf_dm_mix(uint32_t i, struct dm_args s)
{
	return (uint32_t)(xf_mix64(i * (uint64_t)s.k + s.tag) ^ (uint64_t)s.bias) +
	       (uint32_t)(int64_t)s.scale;
}

/* What dm_block_sum sums: a value per index. */
XF uint32_t xf_dm_value(uint32_t i)
{
	return (uint32_t)xf_mix64(i) >> 8;
}

#endif
