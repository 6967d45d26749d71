/*
 * blas-warm.c - the job's GEMM shapes, run once by a standby proxy ahead
 * of a move. cuBLAS sets itself up and loads each kernel at its first use
 * in a process: a new proxy's first GEMM took 66-78 ms on an H200, and
 * each kernel used the first time 2-4 ms more, all of it in the job's
 * first step after the move (RESULTS.md). So the old proxy notes each
 * distinct GEMM it runs (its kind, sizes, types, the handle's math mode),
 * the prelude carries them, and the standby runs each once on memory of
 * its own, with a handle and a stream of its own, while the job still
 * runs: never the job's memory, workspace or handles (a zero-copy standby
 * maps the job's own memory). cuBLASLt's matmuls likewise: blaslt-warm.c,
 * on the scratch helpers here.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "blas-warm.h"
#include "server.h"

#define MAX_SHAPES 64

struct srv_gemm_shapes {
	size_t n;
	uint64_t hash[MAX_SHAPES];
	struct xmig_blas_gemm_req req[MAX_SHAPES];   /* addresses and ids zeroed */
	int math_mode[MAX_SHAPES];
	uint64_t workspace[MAX_SHAPES];   /* the handle's workspace bytes (0: cuBLAS's own) */
};

/* g without what differs between two calls of one shape. */
static struct xmig_blas_gemm_req shape_of(const struct xmig_blas_gemm_req *g)
{
	struct xmig_blas_gemm_req k = *g;

	k.id = k.a = k.b = k.c = k.alpha_ptr = k.beta_ptr = 0;
	memset(k.alpha, 0, sizeof(k.alpha));
	memset(k.beta, 0, sizeof(k.beta));
	return k;
}

void srv_blas_shape_note(struct srv *s, const struct xmig_blas_gemm_req *g, int math_mode,
			 uint64_t workspace)
{
	struct srv_gemm_shapes *t = s->blas_shapes;
	struct xmig_blas_gemm_req k;
	uint64_t h;

	/* (scalars in device memory: nothing to replay them from) */
	if (g->scalars_on_device || (!t && !(t = s->blas_shapes = calloc(1, sizeof(*t)))))
		return;
	k = shape_of(g);
	/* (cuBLAS picks its kernel by the workspace it has, too) */
	h = xmig_hash64(&k, sizeof(k)) ^ (uint64_t)math_mode ^ xmig_hash64(&workspace, 8);
	for (size_t i = 0; i < t->n; i++)
		if (t->hash[i] == h)
			return;
	if (t->n == MAX_SHAPES)
		return;
	t->hash[t->n] = h;
	t->req[t->n] = k;
	/* the call's own scalars (a GEMM with alpha 0 may run no kernel) */
	memcpy(t->req[t->n].alpha, g->alpha, sizeof(g->alpha));
	memcpy(t->req[t->n].beta, g->beta, sizeof(g->beta));
	t->workspace[t->n] = workspace;
	t->math_mode[t->n++] = math_mode;
}

json_t *srv_warm_hex(const void *b, size_t n)
{
	char *h = xmig_hex_encode(b, n);
	json_t *j = h ? json_string(h) : json_null();

	free(h);
	return j;
}

bool srv_warm_unhex(const char *hex, void *b, size_t n)
{
	size_t len = 0;
	unsigned char *v = xmig_hex_decode(hex, &len);
	bool ok = v && len == n;

	if (ok)
		memcpy(b, v, n);
	free(v);
	return ok;
}

json_t *srv_blas_shapes_json(struct srv *s)
{
	struct srv_gemm_shapes *t = s->blas_shapes;
	json_t *a = json_array();

	for (size_t i = 0; t && i < t->n; i++) {
		const struct xmig_blas_gemm_req *g = &t->req[i];

		json_array_append_new(a, json_pack(
			"{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i,"
			" s:I, s:I, s:I, s:o, s:o, s:i, s:I}",
			"fn", g->fn, "transa", g->transa, "transb", g->transb, "m", g->m, "n", g->n,
			"k", g->k, "lda", g->lda, "ldb", g->ldb, "ldc", g->ldc, "batch", g->batch,
			"atype", g->atype, "btype", g->btype, "ctype", g->ctype, "compute",
			g->compute, "algo", g->algo, "stride_a", (json_int_t)g->stride_a, "stride_b",
			(json_int_t)g->stride_b, "stride_c", (json_int_t)g->stride_c, "alpha",
			srv_warm_hex(g->alpha, sizeof(g->alpha)), "beta",
			srv_warm_hex(g->beta, sizeof(g->beta)),
			"math_mode", t->math_mode[i], "workspace", (json_int_t)t->workspace[i]));
	}
	return a;
}

void srv_blas_shapes_free(struct srv *s)
{
	free(s->blas_shapes);
	s->blas_shapes = NULL;
}

static int geti(json_t *o, const char *k)
{
	return (int)json_integer_value(json_object_get(o, k));
}

uint64_t srv_warm_type_bytes(int type)
{
	switch (type) {
	case CUDA_R_8I: case CUDA_R_8U: case CUDA_R_8F_E4M3: case CUDA_R_8F_E5M2: return 1;
	case CUDA_R_16F: case CUDA_R_16BF: return 2;
	case CUDA_R_32F: case CUDA_R_32I: case CUDA_C_16F: case CUDA_C_16BF: return 4;
	case CUDA_R_64F: case CUDA_C_32F: return 8;
	case CUDA_C_64F: return 16;
	default: return 0;
	}
}

/* Bytes of one element of a GEMM's operand; 0: not one a GEMM here takes. */
static uint64_t elem_bytes(int fn, int type)
{
	switch (fn) {
	case XMIG_GEMM_S: case XMIG_GEMM_S_STRIDED: return 4;
	case XMIG_GEMM_D: case XMIG_GEMM_D_STRIDED: return 8;
	}
	return srv_warm_type_bytes(type);
}

uint64_t srv_warm_span(uint64_t elem, uint64_t ld, uint64_t lines, int64_t batch, int64_t stride)
{
	uint64_t one, more = 0;

	/* (every factor checked against the limit first: no product overflows) */
	if (stride < 0 || ld > SCRATCH_MAX || lines > SCRATCH_MAX ||
	    (one = ld * lines) > SCRATCH_MAX)
		return SCRATCH_MAX + 1;
	if (batch > 1 && stride > 0) {
		if ((uint64_t)stride > SCRATCH_MAX || (uint64_t)batch > SCRATCH_MAX)
			return SCRATCH_MAX + 1;
		more = (uint64_t)stride * (uint64_t)(batch - 1);
	}
	return one + more > SCRATCH_MAX / elem ? SCRATCH_MAX + 1 : (one + more) * elem;
}

/* A column-major operand of a GEMM: ld x cols elements (each at least 1), batch at stride. */
static uint64_t span(uint64_t elem, int ld, int cols, int batch, int64_t stride)
{
	return srv_warm_span(elem, (uint64_t)(ld > 0 ? ld : 1), (uint64_t)(cols > 0 ? cols : 1),
			     batch, stride);
}

/* The shape in o as a request on scratch (a, b, c from base); its bytes, 0: not run here. */
static uint64_t request(json_t *o, uint64_t base, bool sim, struct xmig_blas_gemm_req *g)
{
	uint64_t ea, eb, ec, na, nb, nc;

	memset(g, 0, sizeof(*g));
	g->fn = geti(o, "fn");
	g->transa = geti(o, "transa");
	g->transb = geti(o, "transb");
	g->m = geti(o, "m");
	g->n = geti(o, "n");
	g->k = geti(o, "k");
	g->lda = geti(o, "lda");
	g->ldb = geti(o, "ldb");
	g->ldc = geti(o, "ldc");
	g->batch = geti(o, "batch");
	g->atype = geti(o, "atype");
	g->btype = geti(o, "btype");
	g->ctype = geti(o, "ctype");
	g->compute = geti(o, "compute");
	g->algo = geti(o, "algo");
	g->stride_a = json_integer_value(json_object_get(o, "stride_a"));
	g->stride_b = json_integer_value(json_object_get(o, "stride_b"));
	g->stride_c = json_integer_value(json_object_get(o, "stride_c"));
	srv_warm_unhex(json_string_value(json_object_get(o, "alpha")), g->alpha, sizeof(g->alpha));
	srv_warm_unhex(json_string_value(json_object_get(o, "beta")), g->beta, sizeof(g->beta));
	if (g->m <= 0 || g->n <= 0 || g->k <= 0 || !(ea = elem_bytes(g->fn, g->atype)) ||
	    !(eb = elem_bytes(g->fn, g->btype)) || !(ec = elem_bytes(g->fn, g->ctype)))
		return 0;
	if (sim && (uint64_t)g->m * g->n * g->k * (uint64_t)(g->batch > 1 ? g->batch : 1) >
			   SIM_FMA_MAX)
		return 0;
	/* op(A) is m x k: A itself lda x k (N) or lda x m (T); B likewise, n and k */
	na = span(ea, g->lda, g->transa == CUBLAS_OP_N ? g->k : g->m, g->batch, g->stride_a);
	nb = span(eb, g->ldb, g->transb == CUBLAS_OP_N ? g->n : g->k, g->batch, g->stride_b);
	nc = span(ec, g->ldc, g->n, g->batch, g->stride_c);
	if (na + nb + nc > SCRATCH_MAX)
		return SCRATCH_MAX + 1;
	g->a = srv_warm_place(&base, na);
	g->b = srv_warm_place(&base, nb);
	g->c = base;
	return g->c - g->a + nc;
}

uint64_t srv_warm_cap(struct srv *s)
{
	uint64_t cap = SCRATCH_MAX, free_b = 0, total = 0;

	/* (a quarter of what is free at most: the job, on this GPU too, may allocate meanwhile) */
	if (s->dev->mem_info && !s->dev->mem_info(s->devh, &free_b, &total) && free_b / 4 < cap)
		cap = free_b / 4;
	return cap;
}

int srv_warm_scratch_open(struct srv *s, uint64_t need, struct srv_warm_scratch *w)
{
	int st;

	memset(w, 0, sizeof(*w));
	w->size = (need + s->dev->granularity - 1) / s->dev->granularity * s->dev->granularity;
	if ((st = s->dev->va_reserve(s->devh, w->size, &w->va)))
		return st;
	if ((st = s->dev->mem_map(s->devh, w->va, w->size, &w->mem)) ||
	    (st = s->dev->stream_create(s->devh, cudaStreamNonBlocking, 0, &w->stream)))
		srv_warm_scratch_close(s, w);
	return st;
}

int srv_warm_scratch_close(struct srv *s, struct srv_warm_scratch *w)
{
	int st = 0;

	if (w->stream) {
		st = s->dev->stream_sync(s->devh, w->stream);
		s->dev->stream_destroy(s->devh, w->stream);
	}
	if (w->mem)
		s->dev->mem_unmap(s->devh, w->va, w->size, w->mem);
	if (w->va)
		s->dev->va_release(s->devh, w->va, w->size);
	memset(w, 0, sizeof(*w));
	return st;
}

/* The workspace a shape's handle had (0: cuBLAS's own), or more than SCRATCH_MAX. */
static uint64_t workspace_of(json_t *o)
{
	json_int_t w = json_integer_value(json_object_get(o, "workspace"));

	return w < 0 || (uint64_t)w > SCRATCH_MAX ? SCRATCH_MAX + 1 : (uint64_t)w;
}

int srv_blas_warm(struct srv *s, json_t *shapes, unsigned *ran)
{
	/* (the sim double computes in the proxy's own memory: its scratch too) */
	bool sim = !strcmp(s->dev->name, "sim");
	struct xmig_blas_gemm_req g;
	struct srv_warm_scratch w;
	uint64_t need = 0, b, cap, ws;
	void *h = NULL;
	json_t *o;
	size_t i;
	int st = 0, end;

	*ran = 0;
	if (!json_array_size(shapes) || !s->dev->blas_create || !s->dev->va_reserve)
		return 0;
	cap = srv_warm_cap(s);
	/* (each shape's operands, then its handle's workspace, 256-byte aligned) */
	json_array_foreach(shapes, i, o)
		if ((b = request(o, 0, sim, &g)) && (b = ((b + 255) & ~255ull) + workspace_of(o)) <=
							    cap && b > need)
			need = b;
	if (!need)
		return 0;
	if ((st = srv_warm_scratch_open(s, need, &w)))
		return st;
	if ((st = s->dev->blas_create(s->devh, &h)) ||
	    (st = s->dev->blas_set(s->devh, h, XMIG_BLAS_STREAM, 0, 0, w.stream)))
		goto out;
	json_array_foreach(shapes, i, o) {
		if (!(b = request(o, w.va, sim, &g)) || (b = (b + 255) & ~255ull) +
								 (ws = workspace_of(o)) > cap)
			continue;
		/*
		 * (a shape cuBLAS refuses here is the job's first step's to find;
		 * one whose handle had no workspace of its own follows one that
		 * had: the job's shapes mostly share one handle's settings)
		 */
		if (!s->dev->blas_set(s->devh, h, XMIG_BLAS_MATH_MODE,
				      (uint64_t)geti(o, "math_mode"), 0, NULL) &&
		    (!ws || !s->dev->blas_set(s->devh, h, XMIG_BLAS_WORKSPACE, w.va + b, ws,
					      NULL)) &&
		    !s->dev->blas_gemm(s->devh, h, &g))
			(*ran)++;
		/* this proxy's next move warms them too */
		srv_blas_shape_note(s, &g, geti(o, "math_mode"), ws);
	}
out:
	if (h)
		s->dev->blas_destroy(s->devh, h);   /* (before the stream it was set to) */
	end = srv_warm_scratch_close(s, &w);
	return st ? st : end;
}
