/*
 * srv-cublas.c - cuBLAS handles in the proxy: created, set up and used on
 * the backend (blas-cuda.c, blas-sim.c), each under the logical id the
 * application holds, with the settings a next proxy applies again after a
 * move (state.c). Statuses are cublasStatus_t values.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>

#include "server.h"

static void *backend_stream(struct srv *s, uint64_t id)
{
	struct srv_stream *st = id == XMIG_STREAM_LEGACY ? &s->legacy
				: id == XMIG_STREAM_PER_THREAD ? &s->per_thread
							       : srv_table_get(&s->streams, id);

	return st ? st->h : NULL;
}

static int unsupported(struct srv *s)
{
	xmig_error("cuBLAS is not available on this proxy's device (%s)", s->dev->name);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

int d_BLAS_CREATE(struct xmig_call *c)
{
	struct srv *s = c->srv;
	struct xmig_blas_create_res *r = c->res;
	struct srv_blas *b;
	int st;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!s->dev->blas_create)
		return unsupported(s);
	if (!(b = calloc(1, sizeof(*b))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	if ((st = s->dev->blas_create(s->devh, &b->h))) {
		free(b);
		return st;
	}
	if (!(b->id = srv_table_add(&s->blas, b))) {
		s->dev->blas_destroy(s->devh, b->h);
		free(b);
		return CUBLAS_STATUS_ALLOC_FAILED;
	}
	r->id = b->id;
	return CUBLAS_STATUS_SUCCESS;
}

int d_BLAS_DESTROY(struct xmig_call *c)
{
	const struct xmig_blas_id_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_blas *b = srv_table_remove(&s->blas, a->id);
	int st;

	if (!b)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	st = s->dev->blas_destroy(s->devh, b->h);
	free(b);
	return st;
}

static int apply(struct srv *s, struct srv_blas *b, int what, uint64_t value, uint64_t size)
{
	void *stream = NULL;

	if (what == XMIG_BLAS_STREAM && !(stream = backend_stream(s, value)))
		return CUBLAS_STATUS_INVALID_VALUE;
	return s->dev->blas_set(s->devh, b->h, what, value, size, stream);
}

int d_BLAS_SET(struct xmig_call *c)
{
	const struct xmig_blas_set_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_blas *b = srv_table_get(&s->blas, a->id);
	int st;

	/* Posted, like a GEMM (the client checked what it could). */
	if (!b || (st = apply(s, b, (int)a->what, a->value, a->size))) {
		xmig_error("cuBLAS setting %u of handle %llu failed with status %d", a->what,
			   (unsigned long long)a->id, b ? st : CUBLAS_STATUS_NOT_INITIALIZED);
		return cudaErrorUnknown;
	}
	switch (a->what) {
	case XMIG_BLAS_STREAM:
		/* cublasSetStream gives the handle's workspace back to cuBLAS's own pool */
		b->stream = a->value;
		b->workspace = 0;
		b->workspace_size = 0;
		break;
	case XMIG_BLAS_WORKSPACE: b->workspace = a->value; b->workspace_size = a->size; break;
	case XMIG_BLAS_MATH_MODE: b->math_mode = (int)a->value; break;
	case XMIG_BLAS_POINTER_MODE: b->pointer_mode = (int)a->value; break;
	case XMIG_BLAS_ATOMICS_MODE: b->atomics_mode = (int)a->value; break;
	}
	return CUBLAS_STATUS_SUCCESS;
}

int d_BLAS_GEMM(struct xmig_call *c)
{
	const struct xmig_blas_gemm_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_blas *b = srv_table_get(&s->blas, a->id);
	int st;

	if (!b) {
		xmig_error("cuBLAS GEMM on handle %llu, which does not exist", (unsigned long long)a->id);
		return cudaErrorUnknown;
	}
	/* Posted: the application learns of a failure at its next synchronising call. */
	if ((st = s->dev->blas_gemm(s->devh, b->h, a))) {
		xmig_error("cuBLAS GEMM (kind %d, %dx%dx%d) failed with status %d", a->fn, a->m,
			   a->n, a->k, st);
		return cudaErrorUnknown;
	}
	srv_blas_shape_note(s, a, b->math_mode, b->workspace_size);
	return 0;
}

/* After a move or a restore: a new handle under the old id, set up as before. */
int srv_blas_configure(struct srv *s, struct srv_blas *b)
{
	int st;

	if ((st = apply(s, b, XMIG_BLAS_STREAM, b->stream, 0)) ||
	    (b->workspace && (st = apply(s, b, XMIG_BLAS_WORKSPACE, b->workspace,
					 b->workspace_size))) ||
	    (st = apply(s, b, XMIG_BLAS_MATH_MODE, (uint64_t)b->math_mode, 0)) ||
	    (st = apply(s, b, XMIG_BLAS_POINTER_MODE, (uint64_t)b->pointer_mode, 0)) ||
	    (st = apply(s, b, XMIG_BLAS_ATOMICS_MODE, (uint64_t)b->atomics_mode, 0)))
		return st;
	return 0;
}

int srv_blas_recreate(struct srv *s, struct srv_blas *b)
{
	int st;

	if (!s->dev->blas_create)
		return unsupported(s);
	if ((st = s->dev->blas_create(s->devh, &b->h)))
		return st;
	if ((st = srv_blas_configure(s, b))) {
		s->dev->blas_destroy(s->devh, b->h);
		b->h = NULL;
	}
	return st;
}
