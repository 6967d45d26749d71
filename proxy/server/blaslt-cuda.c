/*
 * blaslt-cuda.c - cuBLASLt in the proxy: NVIDIA's library, dlopened on the
 * first handle, running in the proxy's context on the proxy's streams. The
 * application's descriptors arrive as records (ops.h); each call makes
 * NVIDIA's descriptors from them, setting the attributes that differ from a
 * fresh descriptor, and destroys them after: the work PyTorch itself does
 * around every matmul natively, done here instead of in the application.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include "../api/blaslt-attrs.h"
#include "blas.h"
#include "blaslt.h"
#include "real-lib.h"

#define CUBLASLT_FNS(X) \
	X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtMatmul) X(cublasLtMatmulAlgoGetHeuristic) \
	X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) \
	X(cublasLtMatmulDescSetAttribute) X(cublasLtMatrixLayoutCreate) \
	X(cublasLtMatrixLayoutDestroy) X(cublasLtMatrixLayoutSetAttribute) \
	X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy) \
	X(cublasLtMatmulPreferenceSetAttribute)

static struct {
#define X(n) __typeof__(n) *n;
	CUBLASLT_FNS(X)
#undef X
} lt;
static int loaded = -1;   /* -1 not tried, 0 failed, 1 loaded */

/*
 * The cuBLASLt that the proxy's cuBLAS runs on, found loaded by soname
 * (cuBLAS needs it; blas-cuda.c loads $XMIG_CUBLASLT before cuBLAS): a
 * cuBLAS handle used as an Lt handle only works with that copy. Without
 * cuBLAS: $XMIG_CUBLASLT, then the library path and the CUDA Toolkit's.
 */
static void *open_cublaslt(void)
{
	void *h;

	if (xmig_blas_cuda_library() &&
	    (h = dlopen("libcublasLt.so.13", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) &&
	    !dlsym(h, "xmig_facade_marker"))
		return h;
	return xmig_open_real_library("XMIG_CUBLASLT", "libcublasLt.so.13", "cuBLASLt");
}

static int load(void)
{
	void *h;

	if (loaded >= 0)
		return loaded;
	loaded = 0;
	if (!(h = open_cublaslt()))
		return 0;
#define X(n)                                                                      \
	if (!(lt.n = (__typeof__(n) *)dlsym(h, #n))) {                            \
		xmig_error("the cuBLASLt found lacks %s (need CUDA 13)", #n);    \
		return 0;                                                         \
	}
	CUBLASLT_FNS(X)
#undef X
	return loaded = 1;
}

int xmig_blaslt_cuda_create(void *dev, void **h)
{
	if (!load())
		return CUBLAS_STATUS_NOT_INITIALIZED;
	return lt.cublasLtCreate((cublasLtHandle_t *)h);
}

int xmig_blaslt_cuda_destroy(void *dev, void *h)
{
	return lt.cublasLtDestroy(h);
}

/* ---- NVIDIA's descriptors from records --------------------------------------- */

static int set_desc(void *o, int attr, const void *buf, size_t size)
{
	return lt.cublasLtMatmulDescSetAttribute(o, attr, buf, size);
}

static int set_layout(void *o, int attr, const void *buf, size_t size)
{
	return lt.cublasLtMatrixLayoutSetAttribute(o, attr, buf, size);
}

static int set_pref(void *o, int attr, const void *buf, size_t size)
{
	return lt.cublasLtMatmulPreferenceSetAttribute(o, attr, buf, size);
}

/* Set on o every attribute in which rec differs from fresh. */
static int set_differing(const struct xmig_lt_attr *t, size_t n, const void *rec,
			 const void *fresh, int (*set)(void *, int, const void *, size_t), void *o)
{
	int st;

	for (size_t i = 0; i < n; i++)
		if (xmig_lt_attr_differs(&t[i], rec, fresh) &&
		    (st = set(o, t[i].attr, (const char *)rec + t[i].offset, t[i].size))) {
			xmig_error("cuBLASLt refuses %s (status %d)", t[i].name, st);
			return st;
		}
	return CUBLAS_STATUS_SUCCESS;
}

static int make_layout(const struct xmig_lt_layout *r, cublasLtMatrixLayout_t *out)
{
	struct xmig_lt_layout fresh;
	int st;

	*out = NULL;
	if ((st = lt.cublasLtMatrixLayoutCreate(out, r->type, r->rows, r->cols, r->ld)))
		return st;
	xmig_lt_layout_init(&fresh, r->type, r->rows, r->cols, r->ld);
	if ((st = set_differing(xmig_lt_layout_attrs, XMIG_LT_NATTRS(xmig_lt_layout_attrs), r,
				&fresh, set_layout, *out))) {
		lt.cublasLtMatrixLayoutDestroy(*out);
		*out = NULL;
	}
	return st;
}

struct real_problem {
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t l[4];   /* A, B, C, D */
};

static void free_problem(struct real_problem *rp)
{
	for (int i = 0; i < 4; i++)
		if (rp->l[i])
			lt.cublasLtMatrixLayoutDestroy(rp->l[i]);
	if (rp->desc)
		lt.cublasLtMatmulDescDestroy(rp->desc);
}

static int make_problem(const struct xmig_lt_problem *p, struct real_problem *rp)
{
	const struct xmig_lt_layout *layouts[4] = { &p->a, &p->b, &p->c, &p->d };
	struct xmig_lt_desc fresh;
	int st;

	memset(rp, 0, sizeof(*rp));
	if ((st = lt.cublasLtMatmulDescCreate(&rp->desc, p->desc.compute_type,
					      p->desc.scale_type)))
		goto err;
	xmig_lt_desc_init(&fresh, p->desc.compute_type, p->desc.scale_type);
	if ((st = set_differing(xmig_lt_desc_attrs, XMIG_LT_NATTRS(xmig_lt_desc_attrs), &p->desc,
				&fresh, set_desc, rp->desc)))
		goto err;
	for (int i = 0; i < 4; i++)
		if ((st = make_layout(layouts[i], &rp->l[i])))
			goto err;
	return CUBLAS_STATUS_SUCCESS;
err:
	free_problem(rp);
	return st;
}

/* ---- the calls ------------------------------------------------------------------ */

int xmig_blaslt_cuda_heuristic(void *dev, void *h, const struct xmig_lt_heuristic_req *q,
			       struct xmig_lt_heuristic_res *r)
{
	cublasLtMatmulPreference_t pref = NULL;
	struct xmig_lt_pref fresh;
	struct real_problem rp;
	int st, count = 0;

	r->count = 0;
	/* PyTorch never makes an Lt handle (it casts its cuBLAS one): load here too. */
	if (!load())
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if ((st = make_problem(&q->p, &rp)))
		return st;
	if ((st = lt.cublasLtMatmulPreferenceCreate(&pref)))
		goto out;
	xmig_lt_pref_init(&fresh);
	if ((st = set_differing(xmig_lt_pref_attrs, XMIG_LT_NATTRS(xmig_lt_pref_attrs), &q->pref,
				&fresh, set_pref, pref)))
		goto out;
	st = lt.cublasLtMatmulAlgoGetHeuristic(h, rp.desc, rp.l[0], rp.l[1], rp.l[2], rp.l[3],
					       pref, q->requested,
					       (cublasLtMatmulHeuristicResult_t *)r->results,
					       &count);
	if (!st)
		r->count = count;
out:
	if (pref)
		lt.cublasLtMatmulPreferenceDestroy(pref);
	free_problem(&rp);
	return st;
}

int xmig_blaslt_cuda_matmul(void *dev, void *h, const struct xmig_lt_matmul_req *m, void *stream)
{
	const void *alpha = m->alpha_on_device ? (const void *)(uintptr_t)m->alpha_ptr : m->alpha;
	const void *beta = m->beta_on_device ? (const void *)(uintptr_t)m->beta_ptr : m->beta;
	struct real_problem rp;
	int st;

	if (!load())
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if ((st = make_problem(&m->p, &rp)))
		return st;
	st = lt.cublasLtMatmul(h, rp.desc, alpha, (const void *)(uintptr_t)m->a, rp.l[0],
			       (const void *)(uintptr_t)m->b, rp.l[1], beta,
			       (const void *)(uintptr_t)m->c, rp.l[2], (void *)(uintptr_t)m->d,
			       rp.l[3],
			       m->has_algo ? (const cublasLtMatmulAlgo_t *)(const void *)&m->algo
					   : NULL,
			       (void *)(uintptr_t)m->workspace, m->workspace_size, stream);
	free_problem(&rp);
	return st;
}
