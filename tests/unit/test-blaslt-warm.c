/*
 * test-blaslt-warm.c - the cuBLASLt matmuls a standby runs once ahead of a
 * move (proxy/server/blaslt-warm.c): noted once each (ids, addresses and
 * scalars not part of a shape; which pointers the descriptor sets, and
 * whether C is D, part of it; scalars in device memory not noted; 64 at
 * most), carried through the prelude's hex unchanged, and laid out on
 * scratch with every operand, the workspace, the bias, the auxiliary
 * matrix and the scales apart; a matmul it cannot size, or that would
 * reach past the scratch limit, is not run.
 */
#include <string.h>

#include "proxy/server/blas-warm.c"
#include "proxy/server/blaslt-warm.c"
#include "proxy/api/blaslt-attrs.h"
#include "unit.h"

#define BASE 4096ull

static struct xmig_lt_layout col(uint32_t type, uint64_t rows, uint64_t cols)
{
	struct xmig_lt_layout l;

	xmig_lt_layout_init(&l, type, rows, cols, (int64_t)rows);
	return l;
}

/* D (m x n) = A (m x k) B (k x n) in float, column-major, at some addresses. */
static struct xmig_lt_matmul_req matmul(uint64_t m, uint64_t n, uint64_t k)
{
	struct xmig_lt_matmul_req r;
	float one = 1.0f;

	memset(&r, 0, sizeof(r));
	xmig_lt_desc_init(&r.p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
	r.p.a = col(CUDA_R_32F, m, k);
	r.p.b = col(CUDA_R_32F, k, n);
	r.p.c = r.p.d = col(CUDA_R_32F, m, n);
	r.id = 7;
	r.stream = 3;
	r.a = 1 << 20;
	r.b = 2 << 20;
	r.c = r.d = 3 << 20;
	memcpy(r.alpha, &one, sizeof(one));
	return r;
}

/* The bytes lt_request() lays r out on from BASE (0: not run), through the prelude's form. */
static uint64_t bytes_of(struct srv *s, const struct xmig_lt_matmul_req *r, bool sim,
			 struct xmig_lt_matmul_req *out)
{
	json_t *a;
	uint64_t b;

	srv_lt_shapes_free(s);
	srv_lt_shape_note(s, r);
	a = srv_lt_shapes_json(s);
	b = json_array_size(a) == 1 ? lt_request(json_string_value(json_array_get(a, 0)), BASE,
						 sim, out)
				    : 0;
	json_decref(a);
	return b;
}

/* Do [p, p + n) and [q, q + m) not overlap? */
static bool apart(uint64_t p, uint64_t n, uint64_t q, uint64_t m)
{
	return p + n <= q || q + m <= p;
}

int main(void)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct xmig_lt_matmul_req r = matmul(64, 32, 16), t, back;
	json_t *a;
	float alpha;
	uint64_t b;

	/* noted once per shape */
	srv_lt_shape_note(s, &r);
	t = r;
	t.a += 4096;
	t.c = t.d = 5 << 20;
	t.id = 9;
	t.stream = 11;
	t.alpha[0] ^= 1;
	srv_lt_shape_note(s, &t);
	CHECK(s->lt_shapes && s->lt_shapes->n == 1,
	      "the same matmul on other matrices, handle, stream and scalars is noted once");
	t.d = 6 << 20;
	srv_lt_shape_note(s, &t);
	CHECK(s->lt_shapes->n == 2, "C apart from D is another shape");
	t = r;
	t.p.desc.bias_pointer = 8 << 20;
	t.p.desc.epilogue = CUBLASLT_EPILOGUE_BIAS;
	srv_lt_shape_note(s, &t);
	t.p.desc.bias_pointer = 9 << 20;
	srv_lt_shape_note(s, &t);
	CHECK(s->lt_shapes->n == 3, "a bias epilogue is another shape; its bias's address is not");
	t = r;
	t.alpha_on_device = 1;
	srv_lt_shape_note(s, &t);
	CHECK(s->lt_shapes->n == 3, "a matmul with its scalars in device memory is not noted");
	for (uint64_t i = 1; i <= 100; i++) {
		t = matmul(i, 8, 8);
		srv_lt_shape_note(s, &t);
	}
	CHECK(s->lt_shapes->n == 64, "64 shapes at most (%zu)", s->lt_shapes->n);

	/* through the prelude's hex, and onto scratch */
	b = bytes_of(s, &r, false, &back);
	CHECK(b == 64 * 16 * 4 + 16 * 32 * 4 + 64 * 32 * 4, "A, B and D (C is D): %llu bytes",
	      (unsigned long long)b);
	CHECK(back.p.d.rows == 64 && back.p.d.cols == 32 && back.p.a.cols == 16 &&
		      back.p.desc.compute_type == CUBLAS_COMPUTE_32F,
	      "its descriptor and layouts come back from the prelude");
	memcpy(&alpha, back.alpha, sizeof(alpha));
	CHECK(alpha == 1.0f, "and its scalars");
	CHECK(back.a == BASE && back.b == BASE + 4096 && back.d == BASE + 4096 + 2048 &&
		      back.c == back.d && back.workspace == 0,
	      "A, B, D one after the other on the scratch, 256-byte aligned; C is D again");
	t = r;
	t.d = 6 << 20;
	t.workspace = 7 << 20;
	t.workspace_size = 1 << 20;
	b = bytes_of(s, &t, false, &back);
	CHECK(back.c != back.d && apart(back.c, 8192, back.d, 8192) &&
		      apart(back.workspace, 1 << 20, back.d, 8192) &&
		      back.workspace >= BASE && b == 4096 + 2048 + 8192 + 8192 + (1 << 20),
	      "C apart from D stays apart; the workspace has room of its own");
	t = r;
	t.p.desc.epilogue = CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
	t.p.desc.bias_pointer = 8 << 20;
	t.p.desc.aux_pointer = 9 << 20;
	t.p.desc.aux_ld = 64;
	t.p.desc.a_scale_pointer = 10 << 20;
	b = bytes_of(s, &t, false, &back);
	CHECK(back.p.desc.bias_pointer >= BASE + 4096 + 2048 + 8192 &&
		      back.p.desc.aux_pointer >= back.p.desc.bias_pointer + 64 * 16 &&
		      back.p.desc.a_scale_pointer >= back.p.desc.aux_pointer + 64 * 64 * 16 &&
		      b >= (uint64_t)(back.p.desc.a_scale_pointer - BASE) + 16,
	      "the bias, the auxiliary matrix and a scale each have room of their own, "
	      "none the job's");
	t = r;
	t.p.a.order = t.p.b.order = t.p.c.order = t.p.d.order = CUBLASLT_ORDER_ROW;
	t.p.a.ld = 16;
	t.p.b.ld = 32;
	t.p.c.ld = t.p.d.ld = 32;
	CHECK(bytes_of(s, &t, false, &back) == 64 * 16 * 4 + 16 * 32 * 4 + 64 * 32 * 4,
	      "row-major matrices span ld x rows");
	t = r;
	t.p.a.batch_count = t.p.b.batch_count = t.p.c.batch_count = t.p.d.batch_count = 3;
	t.p.a.batch_offset = 64 * 16;
	t.p.b.batch_offset = 16 * 32;
	t.p.c.batch_offset = t.p.d.batch_offset = 64 * 32;
	CHECK(bytes_of(s, &t, false, &back) == 3 * (64 * 16 * 4 + 16 * 32 * 4 + 64 * 32 * 4),
	      "a strided batch spans its offsets");
	t = r;
	t.p.a.type = t.p.b.type = CUDA_R_16BF;
	CHECK(bytes_of(s, &t, false, &back) == 64 * 16 * 2 + 16 * 32 * 2 + 64 * 32 * 4,
	      "each matrix at its type's size");

	/* what is not run here */
	t = r;
	t.p.a.type = 999;
	CHECK(bytes_of(s, &t, false, &back) == 0, "a type it does not know");
	t = r;
	t.p.desc.a_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0;
	t.p.desc.a_scale_pointer = 10 << 20;
	CHECK(bytes_of(s, &t, false, &back) == 0, "block scaling");
	t = r;
	t.p.b.batch_mode = CUBLASLT_BATCH_MODE_POINTER_ARRAY;
	CHECK(bytes_of(s, &t, false, &back) == 0, "an array of pointers");
	t = r;
	t.p.a.plane_offset = 4096;
	CHECK(bytes_of(s, &t, false, &back) == 0, "planar complex");
	t = r;
	t.p.a.ld = 8;   /* below its 64 rows */
	CHECK(bytes_of(s, &t, false, &back) == 0, "a leading dimension below the matrix's");
	t = r;
	t.p.a.order = CUBLASLT_ORDER_COL32;
	CHECK(bytes_of(s, &t, false, &back) == 0, "an order other than by column or by row");
	t = r;
	t.p.a.batch_count = 2;
	t.p.a.batch_offset = -4096;
	CHECK(bytes_of(s, &t, false, &back) == 0, "a negative batch offset");
	t = matmul(100000, 100000, 100000);
	CHECK(bytes_of(s, &t, false, &back) > SCRATCH_MAX, "past the scratch limit");
	t = r;
	t.p.a.ld = (int64_t)1 << 62;
	t.p.a.cols = (uint64_t)1 << 40;
	CHECK(bytes_of(s, &t, false, &back) > SCRATCH_MAX,
	      "sizes that would overflow: past the limit, not wrapped around");
	t = r;
	t.p.a.batch_count = t.p.b.batch_count = t.p.c.batch_count = t.p.d.batch_count = 0x7fffffff;
	t.p.a.batch_offset = t.p.b.batch_offset = (int64_t)1 << 62;
	CHECK(bytes_of(s, &t, false, &back) > SCRATCH_MAX, "a huge batch offset");
	t = r;
	t.workspace = 7 << 20;
	t.workspace_size = (uint64_t)1 << 40;
	CHECK(bytes_of(s, &t, false, &back) > SCRATCH_MAX, "a huge workspace");
	t = r;
	t.p.desc.bias_pointer = 8 << 20;
	t.p.desc.bias_batch_stride = (int64_t)1 << 62;
	t.p.a.batch_count = t.p.b.batch_count = t.p.c.batch_count = t.p.d.batch_count = 2;
	CHECK(bytes_of(s, &t, false, &back) > SCRATCH_MAX, "a huge bias stride");
	t = matmul(1024, 1024, 1024);
	CHECK(bytes_of(s, &t, true, &back) == 0 && bytes_of(s, &t, false, &back) > 0,
	      "on the sim device (matmuls on the CPU) a large one is not run");

	/* a damaged entry */
	a = json_pack("[s, s, i]", "00ff", "zz", 5);
	for (size_t i = 0; i < 3; i++)
		CHECK(lt_request(json_string_value(json_array_get(a, i)), BASE, false, &back) == 0,
		      "an entry that is not hex of one request is not run (%zu)", i);
	json_decref(a);

	srv_lt_shapes_free(s);
	free(s);
	return unit_done();
}
