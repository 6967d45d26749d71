/*
 * test-blas-warm.c - the GEMM shapes a standby runs once ahead of a move
 * (proxy/server/blas-warm.c): noted once each (the scalars and addresses
 * not part of a shape, the math mode and the handle's workspace size part
 * of it; scalars in device memory not noted; 64 at most), carried through
 * JSON unchanged, and laid out on scratch with the bytes each operand
 * spans; a shape that would reach past the scratch limit, or whose sizes
 * would overflow, is not run.
 */
#include <string.h>

#include "proxy/server/blas-warm.c"
#include "unit.h"

static struct xmig_blas_gemm_req sgemm(int m, int n, int k)
{
	struct xmig_blas_gemm_req g = { .fn = XMIG_GEMM_S, .transa = CUBLAS_OP_N,
					.transb = CUBLAS_OP_N, .m = m, .n = n, .k = k, .lda = m,
					.ldb = k, .ldc = m, .batch = 1 };
	float one = 1.0f;

	memcpy(g.alpha, &one, sizeof(one));
	return g;
}

/* The bytes request() lays g out on (0: not run), through g's JSON form. */
static uint64_t bytes_of(struct srv *s, const struct xmig_blas_gemm_req *g, bool sim,
			 struct xmig_blas_gemm_req *out)
{
	json_t *a;
	uint64_t b;

	srv_blas_shapes_free(s);
	srv_blas_shape_note(s, g, 0, 0);
	a = srv_blas_shapes_json(s);
	b = json_array_size(a) == 1 ? request(json_array_get(a, 0), 4096, sim, out) : 0;
	json_decref(a);
	return b;
}

int main(void)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct xmig_blas_gemm_req g = sgemm(64, 64, 64), h, back;
	json_t *a;
	float alpha;

	/* noted once per shape */
	srv_blas_shape_note(s, &g, 0, 0);
	g.a = 1 << 20;
	g.c = 2 << 20;
	g.alpha[0] ^= 1;
	srv_blas_shape_note(s, &g, 0, 0);
	CHECK(s->blas_shapes && s->blas_shapes->n == 1,
	      "the same shape at other addresses and scalars is noted once");
	srv_blas_shape_note(s, &g, 1, 0);
	CHECK(s->blas_shapes->n == 2, "another math mode is another shape");
	srv_blas_shape_note(s, &g, 1, 4 << 20);
	srv_blas_shape_note(s, &g, 1, 4 << 20);
	CHECK(s->blas_shapes->n == 3, "a handle with a workspace of its own is another shape");
	a = srv_blas_shapes_json(s);
	CHECK(workspace_of(json_array_get(a, 2)) == 4 << 20 && workspace_of(json_array_get(a, 0)) == 0,
	      "the workspace's size goes through JSON");
	json_object_set_new(json_array_get(a, 2), "workspace", json_integer(-1));
	CHECK(workspace_of(json_array_get(a, 2)) > SCRATCH_MAX, "a negative one is too big to run");
	json_decref(a);
	h = sgemm(32, 64, 64);
	h.scalars_on_device = 1;
	srv_blas_shape_note(s, &h, 0, 0);
	CHECK(s->blas_shapes->n == 3, "a GEMM with its scalars in device memory is not noted");
	for (int i = 1; i <= 100; i++) {
		h = sgemm(i, 8, 8);
		srv_blas_shape_note(s, &h, 0, 0);
	}
	CHECK(s->blas_shapes->n == 64, "64 shapes at most (%zu)", s->blas_shapes->n);

	/* through JSON, as the prelude carries them, and onto scratch */
	g = sgemm(64, 32, 16);
	CHECK(bytes_of(s, &g, false, &back) == 64 * 16 * 4 + 16 * 32 * 4 + 64 * 32 * 4,
	      "an SGEMM spans A, B and C");
	CHECK(back.m == 64 && back.n == 32 && back.k == 16 && back.lda == 64 && back.ldb == 16 &&
		      back.ldc == 64 && back.fn == XMIG_GEMM_S,
	      "its sizes come back from its JSON");
	memcpy(&alpha, back.alpha, sizeof(alpha));
	CHECK(alpha == 1.0f, "and its scalars");
	CHECK(back.a == 4096 && back.b == 4096 + 4096 && back.c == 4096 + 4096 + 2048,
	      "A, B and C one after the other on the scratch, 256-byte aligned");
	g.transa = CUBLAS_OP_T;
	g.lda = 16;   /* A is k x m, stored 16 x 64 */
	CHECK(bytes_of(s, &g, false, &back) == 16 * 64 * 4 + 16 * 32 * 4 + 64 * 32 * 4,
	      "a transposed A spans lda x m");
	g = sgemm(64, 64, 64);
	g.fn = XMIG_GEMM_S_STRIDED;
	g.batch = 3;
	g.stride_a = g.stride_b = g.stride_c = 64 * 64;
	CHECK(bytes_of(s, &g, false, &back) == 3 * 3 * 64 * 64 * 4,
	      "a strided batch spans its strides");
	g = sgemm(64, 64, 64);
	g.fn = XMIG_GEMM_EX;
	g.atype = g.btype = CUDA_R_16BF;
	g.ctype = CUDA_R_32F;
	g.compute = CUBLAS_COMPUTE_32F;
	CHECK(bytes_of(s, &g, false, &back) == 2 * 64 * 64 * 2 + 64 * 64 * 4,
	      "GemmEx: each operand at its type's size");
	g.atype = 999;
	CHECK(bytes_of(s, &g, false, &back) == 0, "a type it does not know is not run");

	/* what is not run here */
	g = sgemm(100000, 100000, 100000);
	CHECK(bytes_of(s, &g, false, &back) > SCRATCH_MAX, "past the scratch limit: not run");
	g = sgemm(64, 64, 64);
	g.lda = g.ldb = g.ldc = 0x7fffffff;
	g.k = g.n = 0x7fffffff;
	CHECK(bytes_of(s, &g, false, &back) > SCRATCH_MAX,
	      "sizes that would overflow: past the limit, not wrapped around");
	g = sgemm(64, 64, 64);
	g.fn = XMIG_GEMM_S_STRIDED;
	g.batch = 0x7fffffff;
	g.stride_a = g.stride_b = g.stride_c = (int64_t)1 << 62;
	CHECK(bytes_of(s, &g, false, &back) > SCRATCH_MAX, "a huge stride: not run");
	g.stride_a = -4096;
	g.stride_b = g.stride_c = 4096;
	CHECK(bytes_of(s, &g, false, &back) > SCRATCH_MAX, "a negative stride: not run");
	g = sgemm(0, 64, 64);
	CHECK(bytes_of(s, &g, false, &back) == 0, "an empty GEMM is not run");
	g = sgemm(1024, 1024, 1024);
	CHECK(bytes_of(s, &g, true, &back) == 0 && bytes_of(s, &g, false, &back) > 0,
	      "on the sim device (GEMMs on the CPU) a large one is not run");

	/* a damaged entry */
	a = json_pack("[{s:i, s:i, s:i, s:i, s:s, s:s}]", "fn", XMIG_GEMM_S, "m", 8, "n", 8, "k",
		      8, "alpha", "zz", "beta", "00");
	CHECK(request(json_array_get(a, 0), 0, false, &back) > 0 && back.alpha[0] == 0,
	      "scalars that are not hex are left zero");
	json_decref(a);

	srv_blas_shapes_free(s);
	free(s);
	return unit_done();
}
