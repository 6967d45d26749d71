/*
 * blaslt-warm.c - the job's cuBLASLt matmuls, run once by a standby proxy
 * ahead of a move, as blas-warm.c does for cuBLAS's GEMMs: a matmul whose
 * kernel a process had not run yet took 2.3-4.3 ms of the job's first step
 * on a new proxy (three in a GPT's step on an H200, RESULTS.md). The old
 * proxy notes each distinct matmul (its descriptors, layouts, algorithm and
 * workspace size; which of its pointers are set, not where they point), the
 * prelude carries them, and the standby runs each once with every operand,
 * the bias, the epilogue's auxiliary matrix, the scales and the workspace
 * on scratch memory of its own, with an Lt handle and a stream of its own.
 * A matmul it cannot size (block scaling, pointer arrays, planar complex,
 * scalars in device memory) is left for the job's first step.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include "blas-warm.h"
#include "server.h"

#define MAX_LT_SHAPES 64

struct srv_lt_shapes {
	size_t n;
	uint64_t hash[MAX_LT_SHAPES];
	struct xmig_lt_matmul_req req[MAX_LT_SHAPES];   /* see shape_of */
};

/*
 * m without what differs between two calls of one shape: its ids and
 * addresses. A pointer of the descriptor stays as 1 where set (the
 * epilogue reads or writes there); c as 1 where C is D (cuBLASLt then
 * wants them alike).
 */
static struct xmig_lt_matmul_req lt_shape_of(const struct xmig_lt_matmul_req *m)
{
	struct xmig_lt_matmul_req k = *m;
	struct xmig_lt_desc *d = &k.p.desc;
	uint64_t *ptrs[] = { &d->bias_pointer, &d->aux_pointer, &d->a_scale_pointer,
			     &d->b_scale_pointer, &d->c_scale_pointer, &d->d_scale_pointer,
			     &d->amax_d_pointer, &d->aux_scale_pointer, &d->aux_amax_pointer,
			     &d->d_out_scale_pointer };

	k.id = k.stream = 0;
	k.cublas_handle = k._pad0 = k._pad = 0;
	k.c = m->c == m->d;
	k.a = k.b = k.d = k.workspace = k.alpha_ptr = k.beta_ptr = 0;
	memset(d->_pad, 0, sizeof(d->_pad));
	for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
		*ptrs[i] = *ptrs[i] != 0;
	return k;
}

void srv_lt_shape_note(struct srv *s, const struct xmig_lt_matmul_req *m)
{
	struct srv_lt_shapes *t = s->lt_shapes;
	struct xmig_lt_matmul_req k, z;
	uint64_t h;

	/* (scalars in device memory: nothing to replay them from) */
	if (m->alpha_on_device || m->beta_on_device ||
	    (!t && !(t = s->lt_shapes = calloc(1, sizeof(*t)))))
		return;
	k = lt_shape_of(m);
	/* (the scalars are not the shape's: a first call's are run) */
	z = k;
	memset(z.alpha, 0, sizeof(z.alpha));
	memset(z.beta, 0, sizeof(z.beta));
	h = xmig_hash64(&z, sizeof(z));
	for (size_t i = 0; i < t->n; i++)
		if (t->hash[i] == h)
			return;
	if (t->n == MAX_LT_SHAPES)
		return;
	t->hash[t->n] = h;
	t->req[t->n++] = k;
}

json_t *srv_lt_shapes_json(struct srv *s)
{
	struct srv_lt_shapes *t = s->lt_shapes;
	json_t *a = json_array();

	/* (the request's bytes: the prelude goes between proxies of one build) */
	for (size_t i = 0; t && i < t->n; i++)
		json_array_append_new(a, srv_warm_hex(&t->req[i], sizeof(t->req[i])));
	return a;
}

void srv_lt_shapes_free(struct srv *s)
{
	free(s->lt_shapes);
	s->lt_shapes = NULL;
}

/* Bytes at most the layout's matrices span (SCRATCH_MAX + 1: too many; 0: not sized here). */
static uint64_t layout_bytes(const struct xmig_lt_layout *l)
{
	uint64_t e = srv_warm_type_bytes((int)l->type);
	uint64_t lines = l->order == CUBLASLT_ORDER_COL ? l->cols : l->rows;
	uint64_t len = l->order == CUBLASLT_ORDER_COL ? l->rows : l->cols;

	if (!e || (l->order != CUBLASLT_ORDER_COL && l->order != CUBLASLT_ORDER_ROW) ||
	    l->batch_mode != CUBLASLT_BATCH_MODE_STRIDED || l->plane_offset || !l->rows ||
	    !l->cols || l->ld <= 0 || (uint64_t)l->ld < len || l->batch_count < 1 ||
	    l->batch_offset < 0)
		return 0;
	return srv_warm_span(e, (uint64_t)l->ld, lines, l->batch_count, l->batch_offset);
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/*
 * Bytes of a vector or matrix of the epilogue (bias, aux): lines of len
 * elements of at most 16 bytes, batch of them stride elements apart;
 * SCRATCH_MAX + 1 if too many. Generous: a bias is sized as the longest
 * side of any operand, whichever the epilogue takes.
 */
static uint64_t extra_bytes(uint64_t len, uint64_t lines, int32_t batch, int64_t stride)
{
	/* (a stride past the limit refused even where one vector leaves it unused) */
	if (stride > 0 && (uint64_t)stride > SCRATCH_MAX)
		return SCRATCH_MAX + 1;
	return srv_warm_span(16, len, lines, batch, stride);
}

/* Multiply-adds of the matmul, or SIM_FMA_MAX + 1 if more (no product overflows). */
static uint64_t fmas(const struct xmig_lt_matmul_req *m)
{
	uint64_t f = 1, k = m->p.desc.transa == CUBLAS_OP_N ? m->p.a.cols : m->p.a.rows;
	uint64_t factor[] = { m->p.d.rows, m->p.d.cols, k,
			      (uint64_t)(m->p.d.batch_count > 1 ? m->p.d.batch_count : 1) };

	for (int i = 0; i < 4; i++) {
		if (factor[i] > SIM_FMA_MAX || (f *= factor[i]) > SIM_FMA_MAX)
			return SIM_FMA_MAX + 1;
	}
	return f;
}

/*
 * The shape in hex as a request on scratch from base; its bytes (0: not
 * run here; over SCRATCH_MAX: too big).
 */
static uint64_t lt_request(const char *hex, uint64_t base, bool sim, struct xmig_lt_matmul_req *m)
{
	const struct xmig_lt_layout *ls[4] = { &m->p.a, &m->p.b, &m->p.c, &m->p.d };
	struct xmig_lt_desc *d = &m->p.desc;
	uint64_t n[4], at = base, side;
	uint64_t *scales[] = { &d->a_scale_pointer, &d->b_scale_pointer, &d->c_scale_pointer,
			       &d->d_scale_pointer, &d->amax_d_pointer, &d->aux_scale_pointer,
			       &d->aux_amax_pointer, &d->d_out_scale_pointer };
	bool c_is_d;

	memset(m, 0, sizeof(*m));
	if (!hex || !srv_warm_unhex(hex, m, sizeof(*m)) || m->alpha_on_device ||
	    m->beta_on_device)
		return 0;
	/* (block scaling, not CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F: sized by the format) */
	if (d->a_scale_mode || d->b_scale_mode || d->c_scale_mode || d->d_scale_mode ||
	    d->aux_scale_mode || d->d_out_scale_mode)
		return 0;
	for (int i = 0; i < 4; i++)
		if (!(n[i] = layout_bytes(ls[i])))
			return 0;
	c_is_d = m->c;
	if (sim && fmas(m) > SIM_FMA_MAX)
		return 0;
	if (n[0] + n[1] + n[2] + n[3] > SCRATCH_MAX || m->workspace_size > SCRATCH_MAX)
		return SCRATCH_MAX + 1;
	m->a = srv_warm_place(&at, n[0]);
	m->b = srv_warm_place(&at, n[1]);
	m->d = srv_warm_place(&at, n[3]);
	m->c = c_is_d ? m->d : srv_warm_place(&at, n[2]);
	m->workspace = m->workspace_size ? srv_warm_place(&at, m->workspace_size) : 0;
	side = max3(max3(m->p.a.rows, m->p.a.cols, m->p.b.rows),
		    max3(m->p.b.cols, m->p.d.rows, m->p.d.cols), 1);
	if (d->bias_pointer)
		d->bias_pointer = srv_warm_place(&at, extra_bytes(side, 1, m->p.d.batch_count,
								  d->bias_batch_stride));
	if (d->aux_pointer)   /* (D's shape, at its own leading dimension) */
		d->aux_pointer = srv_warm_place(&at, extra_bytes(d->aux_ld > 0 ? (uint64_t)d->aux_ld : side,
								 side, m->p.d.batch_count,
								 d->aux_batch_stride));
	for (size_t i = 0; i < sizeof(scales) / sizeof(scales[0]); i++)
		if (*scales[i])
			*scales[i] = srv_warm_place(&at, 16);
	return at - base;
}

int srv_lt_warm(struct srv *s, json_t *shapes, unsigned *ran)
{
	bool sim = !strcmp(s->dev->name, "sim");
	struct xmig_lt_matmul_req m;
	struct srv_warm_scratch w;
	uint64_t need = 0, b, cap;
	void *h = NULL;
	json_t *o;
	size_t i;
	int st = 0, end;

	*ran = 0;
	if (!json_array_size(shapes) || !s->dev->blaslt_create || !s->dev->va_reserve)
		return 0;
	cap = srv_warm_cap(s);
	json_array_foreach(shapes, i, o)
		if ((b = lt_request(json_string_value(o), 0, sim, &m)) <= cap && b > need)
			need = b;
	if (!need)
		return 0;
	if ((st = srv_warm_scratch_open(s, need, &w)))
		return st;
	if ((st = s->dev->blaslt_create(s->devh, &h)))
		goto out;
	json_array_foreach(shapes, i, o) {
		if (!(b = lt_request(json_string_value(o), w.va, sim, &m)) || b > cap)
			continue;
		/* (a matmul cuBLASLt refuses here is the job's first step's to find) */
		if (!(st = s->dev->blaslt_matmul(s->devh, h, &m, w.stream)))
			(*ran)++;
		else
			xmig_debug("a cuBLASLt matmul of the job (%llux%llu) not run ahead: status %d",
				   (unsigned long long)m.p.d.rows, (unsigned long long)m.p.d.cols,
				   st);
		st = 0;
		/* this proxy's next move runs them too */
		srv_lt_shape_note(s, &m);
	}
out:
	end = srv_warm_scratch_close(s, &w);   /* (an Lt handle holds no stream) */
	if (h)
		s->dev->blaslt_destroy(s->devh, h);
	return st ? st : end;
}
