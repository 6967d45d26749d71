/*
 * srv-cublaslt.c - cuBLASLt in the proxy. Handles are created and used on
 * the backend (blaslt-cuda.c, blaslt-sim.c) under the logical id the
 * application holds, and made again by a next proxy after a move
 * (state.c). Descriptors are not kept here: each call brings the records
 * it needs (ops.h). Statuses are cublasStatus_t values.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>

#include "server.h"

static int unsupported(struct srv *s)
{
	xmig_error("cuBLASLt is not available on this proxy's device (%s)", s->dev->name);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

/*
 * The backend handle to run on: an Lt handle's, or a cuBLAS handle's used
 * as one (cuBLAS allows the cast; PyTorch makes it). NULL if none.
 */
static void *lt_handle(struct srv *s, uint64_t id, bool cublas)
{
	struct srv_blaslt *lt;
	struct srv_blas *b;

	if (cublas)
		return (b = srv_table_get(&s->blas, id)) ? b->h : NULL;
	return (lt = srv_table_get(&s->blaslt, id)) ? lt->h : NULL;
}

int d_LT_CREATE(struct xmig_call *c)
{
	struct srv *s = c->srv;
	struct xmig_blas_create_res *r = c->res;
	struct srv_blaslt *b;
	int st;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!s->dev->blaslt_create)
		return unsupported(s);
	if (!(b = calloc(1, sizeof(*b))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	if ((st = s->dev->blaslt_create(s->devh, &b->h)))
		goto err;
	if (!(b->id = srv_table_add(&s->blaslt, b))) {
		s->dev->blaslt_destroy(s->devh, b->h);
		st = CUBLAS_STATUS_ALLOC_FAILED;
		goto err;
	}
	r->id = b->id;
	return CUBLAS_STATUS_SUCCESS;
err:
	free(b);
	return st;
}

int d_LT_DESTROY(struct xmig_call *c)
{
	const struct xmig_blas_id_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_blaslt *b = srv_table_remove(&s->blaslt, a->id);
	int st;

	if (!b)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	st = s->dev->blaslt_destroy(s->devh, b->h);
	free(b);
	return st;
}

int d_LT_HEURISTIC(struct xmig_call *c)
{
	const struct xmig_lt_heuristic_req *a = c->args;
	struct xmig_lt_heuristic_res *r = c->res;
	struct srv *s = c->srv;
	void *h = lt_handle(s, a->id, a->cublas_handle);
	int st;

	r->count = 0;
	c->res_len = offsetof(struct xmig_lt_heuristic_res, results);
	if (!h || !s->dev->blaslt_heuristic)
		return h ? unsupported(s) : CUBLAS_STATUS_NOT_INITIALIZED;
	if (a->requested <= 0 || a->requested > XMIG_LT_MAX_RESULTS)
		return CUBLAS_STATUS_INVALID_VALUE;
	if ((st = s->dev->blaslt_heuristic(s->devh, h, a, r)))
		return st;
	if (r->count < 0 || r->count > a->requested)
		return CUBLAS_STATUS_INTERNAL_ERROR;
	c->res_len += (uint32_t)r->count * sizeof(r->results[0]);
	return CUBLAS_STATUS_SUCCESS;
}

int d_LT_MATMUL(struct xmig_call *c)
{
	const struct xmig_lt_matmul_req *a = c->args;
	struct srv *s = c->srv;
	void *h = lt_handle(s, a->id, a->cublas_handle);
	struct srv_stream *stream = srv_stream(c, a->stream);
	int st;

	/* Posted: the application learns of a failure at its next synchronising call. */
	if (!h || !stream) {
		xmig_error("cublasLtMatmul on %s %llu, which does not exist",
			   h ? "stream" : a->cublas_handle ? "cuBLAS handle" : "cuBLASLt handle",
			   (unsigned long long)(h ? a->stream : a->id));
		return cudaErrorUnknown;
	}
	if (!s->dev->blaslt_matmul) {
		unsupported(s);
		return cudaErrorNotSupported;
	}
	if ((st = s->dev->blaslt_matmul(s->devh, h, a, stream->h))) {
		xmig_error("cublasLtMatmul (%llux%llux%llu) failed with status %d",
			   (unsigned long long)a->p.d.rows, (unsigned long long)a->p.d.cols,
			   (unsigned long long)(a->p.desc.transa == CUBLAS_OP_N ? a->p.a.cols
										: a->p.a.rows),
			   st);
		return cudaErrorUnknown;
	}
	srv_lt_shape_note(s, a);
	return 0;
}

/* After a move or a restore: a new handle under the old id. */
int srv_blaslt_recreate(struct srv *s, struct srv_blaslt *b)
{
	if (!s->dev->blaslt_create)
		return unsupported(s);
	return s->dev->blaslt_create(s->devh, &b->h);
}
