/*
 * cublaslt.c - the facade libcublasLt.so.13 (see cublas.c for why the real
 * library must not run here). The Lt handle is forwarded like a cuBLAS
 * handle: a logical id the proxy makes again after a move. Matmul
 * descriptors, matrix layouts and preferences never reach the proxy by
 * themselves: each is a plain record of its attributes (ops.h), created,
 * set, read and destroyed here at the cost of a malloc, and copied into the
 * heuristic query or the matmul that uses it. PyTorch makes them afresh for
 * every matmul, so a round trip each would cost more than the matmul's
 * launch; and a proxy after a move has nothing of them to make again.
 * cublasLtMatmul is posted, like a cuBLAS GEMM; the heuristic query waits.
 * Arguments are checked here as cuBLASLt checks them; every other symbol
 * fails loudly with CUBLAS_STATUS_NOT_SUPPORTED.
 */
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include "../api/blaslt-attrs.h"
#include "blas-handle.h"
#include "client.h"

#define API __attribute__((visibility("default")))

/* Records live where the application's descriptors would (Init variants). */
_Static_assert(sizeof(struct xmig_lt_desc) <= sizeof(cublasLtMatmulDescOpaque_t), "desc");
_Static_assert(sizeof(struct xmig_lt_layout) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout");
_Static_assert(sizeof(struct xmig_lt_pref) <= sizeof(cublasLtMatmulPreferenceOpaque_t), "pref");
_Static_assert(sizeof(struct xmig_lt_algo) == sizeof(cublasLtMatmulAlgo_t), "algo");
_Static_assert(sizeof(struct xmig_lt_heuristic_result) == sizeof(cublasLtMatmulHeuristicResult_t),
	       "heuristic result");


/* ---- versions and names ---------------------------------------------------- */

API size_t cublasLtGetVersion(void)
{
	return CUBLAS_VERSION;
}

API size_t cublasLtGetCudartVersion(void)
{
	return CUDART_VERSION;
}

API cublasStatus_t cublasLtGetProperty(libraryPropertyType type, int *value)
{
	return xmig_blas_property(type, value);
}

API const char *cublasLtGetStatusName(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

API const char *cublasLtGetStatusString(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

/* ---- the handle ---------------------------------------------------------------- */

API cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle)
{
	struct xmig_blas_handle_head *h;
	cublasStatus_t st;

	if (!handle)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(h = calloc(1, sizeof(*h))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	if ((st = xmig_blas_handle_create(XMIG_OP_LT_CREATE, &h->id))) {
		free(h);
		return st;
	}
	h->kind = XMIG_HANDLE_CUBLASLT;
	*handle = (cublasLtHandle_t)(void *)h;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle)
{
	struct xmig_blas_handle_head *h = (struct xmig_blas_handle_head *)(void *)handle;
	cublasStatus_t st;

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (h->kind != XMIG_HANDLE_CUBLASLT)
		return CUBLAS_STATUS_INVALID_VALUE;   /* a cuBLAS handle: cublasDestroy's */
	st = xmig_blas_handle_destroy(XMIG_OP_LT_DESTROY, h->id);
	free(h);
	return st;
}

/*
 * The proxy's id of an Lt handle, or of a cuBLAS handle used as one (cuBLAS
 * allows the cast, and PyTorch makes it); false for neither.
 */
static bool lt_handle(cublasLtHandle_t handle, uint64_t *id, int32_t *is_cublas)
{
	const struct xmig_blas_handle_head *h = (const void *)handle;

	if (!h || (h->kind != XMIG_HANDLE_CUBLASLT && h->kind != XMIG_HANDLE_CUBLAS))
		return false;
	*id = h->id;
	*is_cublas = h->kind == XMIG_HANDLE_CUBLAS;
	return true;
}

/* ---- records: set and get by the attribute tables ------------------------------ */

static cublasStatus_t record_set(const struct xmig_lt_attr *table, size_t n, void *rec, int attr,
				 const void *buf, size_t size)
{
	const struct xmig_lt_attr *a = xmig_lt_attr_find(table, n, attr);

	if (!rec)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (table == xmig_lt_desc_attrs && attr == CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR) {
		xmig_cl_unsupported("cublasLtMatmulDescSetAttribute(CUBLASLT_MATMUL_DESC_EMULATION_"
				    "DESCRIPTOR)");
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if (!a || !buf || size != a->size)
		return CUBLAS_STATUS_INVALID_VALUE;
	memcpy((char *)rec + a->offset, buf, size);
	return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t record_get(const struct xmig_lt_attr *table, size_t n, const void *rec,
				 int attr, void *buf, size_t size, size_t *written)
{
	const struct xmig_lt_attr *a = xmig_lt_attr_find(table, n, attr);

	if (!rec)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (!a)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!size) {   /* a question about the size */
		if (!written)
			return CUBLAS_STATUS_INVALID_VALUE;
		*written = a->size;
		return CUBLAS_STATUS_SUCCESS;
	}
	if (!buf || size != a->size)
		return CUBLAS_STATUS_INVALID_VALUE;
	memcpy(buf, (const char *)rec + a->offset, size);
	if (written)
		*written = size;
	return CUBLAS_STATUS_SUCCESS;
}

/*
 * For each kind: Destroy, SetAttribute and GetAttribute of records that
 * Create (malloc'd) or Init_internal (storage the application gives) made.
 */
#define RECORD_KIND(KIND, HANDLE, ATTR, TABLE)                                             \
	API cublasStatus_t cublasLt##KIND##Destroy(HANDLE rec)                             \
	{                                                                                  \
		free(rec);                                                                 \
		return CUBLAS_STATUS_SUCCESS;                                              \
	}                                                                                  \
	API cublasStatus_t cublasLt##KIND##SetAttribute(HANDLE rec, ATTR attr,             \
							const void *buf, size_t size)      \
	{                                                                                  \
		return record_set(TABLE, XMIG_LT_NATTRS(TABLE), rec, attr, buf, size);     \
	}                                                                                  \
	API cublasStatus_t cublasLt##KIND##GetAttribute(HANDLE rec, ATTR attr, void *buf,  \
							size_t size, size_t *written)      \
	{                                                                                  \
		return record_get(TABLE, XMIG_LT_NATTRS(TABLE), rec, attr, buf, size,      \
				  written);                                                \
	}

RECORD_KIND(MatmulDesc, cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, xmig_lt_desc_attrs)
RECORD_KIND(MatrixLayout, cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t,
	    xmig_lt_layout_attrs)
RECORD_KIND(MatmulPreference, cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
	    xmig_lt_pref_attrs)

API cublasStatus_t cublasLtMatmulDescInit_internal(cublasLtMatmulDesc_t desc, size_t size,
						   cublasComputeType_t compute,
						   cudaDataType_t scale)
{
	if (!desc || size < sizeof(struct xmig_lt_desc))
		return CUBLAS_STATUS_ALLOC_FAILED;
	xmig_lt_desc_init((struct xmig_lt_desc *)(void *)desc, compute, scale);
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc,
					    cublasComputeType_t compute, cudaDataType_t scale)
{
	if (!desc)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(*desc = malloc(sizeof(**desc))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	return cublasLtMatmulDescInit_internal(*desc, sizeof(**desc), compute, scale);
}

API cublasStatus_t cublasLtMatrixLayoutInit_internal(cublasLtMatrixLayout_t layout, size_t size,
						     cudaDataType type, uint64_t rows,
						     uint64_t cols, int64_t ld)
{
	if (!layout || size < sizeof(struct xmig_lt_layout))
		return CUBLAS_STATUS_ALLOC_FAILED;
	xmig_lt_layout_init((struct xmig_lt_layout *)(void *)layout, type, rows, cols, ld);
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, cudaDataType type,
					      uint64_t rows, uint64_t cols, int64_t ld)
{
	if (!layout)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(*layout = malloc(sizeof(**layout))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	return cublasLtMatrixLayoutInit_internal(*layout, sizeof(**layout), type, rows, cols, ld);
}

API cublasStatus_t cublasLtMatmulPreferenceInit_internal(cublasLtMatmulPreference_t pref,
							 size_t size)
{
	if (!pref || size < sizeof(struct xmig_lt_pref))
		return CUBLAS_STATUS_ALLOC_FAILED;
	xmig_lt_pref_init((struct xmig_lt_pref *)(void *)pref);
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
	if (!pref)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(*pref = malloc(sizeof(**pref))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	return cublasLtMatmulPreferenceInit_internal(*pref, sizeof(**pref));
}

/* ---- heuristics and the matmul -------------------------------------------------- */

static const struct xmig_lt_layout *layout_of(cublasLtMatrixLayout_t l)
{
	return (const struct xmig_lt_layout *)(const void *)l;
}

/*
 * The problem as cuBLASLt checks it before looking further: every
 * descriptor given, and the shapes agreeing (op(A) is m x k, op(B) k x n,
 * C and D m x n, as many in each batch).
 */
static cublasStatus_t problem(struct xmig_lt_problem *p, cublasLtMatmulDesc_t desc,
			      cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
			      cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d)
{
	if (!desc || !a || !b || !c || !d)
		return CUBLAS_STATUS_INVALID_VALUE;
	memcpy(&p->desc, desc, sizeof(p->desc));
	p->a = *layout_of(a);
	p->b = *layout_of(b);
	p->c = *layout_of(c);
	p->d = *layout_of(d);

	bool ta = p->desc.transa != CUBLAS_OP_N, tb = p->desc.transb != CUBLAS_OP_N;
	uint64_t m = p->d.rows, n = p->d.cols;
	uint64_t am = ta ? p->a.cols : p->a.rows, ak = ta ? p->a.rows : p->a.cols;
	uint64_t bk = tb ? p->b.cols : p->b.rows, bn = tb ? p->b.rows : p->b.cols;

	if (am != m || bn != n || ak != bk || p->c.rows != m || p->c.cols != n)
		return CUBLAS_STATUS_INVALID_VALUE;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle,
						  cublasLtMatmulDesc_t desc,
						  cublasLtMatrixLayout_t Adesc,
						  cublasLtMatrixLayout_t Bdesc,
						  cublasLtMatrixLayout_t Cdesc,
						  cublasLtMatrixLayout_t Ddesc,
						  cublasLtMatmulPreference_t pref, int requested,
						  cublasLtMatmulHeuristicResult_t results[],
						  int *returned)
{
	struct xmig_lt_heuristic_res *r = NULL;
	struct xmig_lt_heuristic_req q = { 0 }, *a;
	struct xmig_thread *t;
	cublasStatus_t st;
	cudaError_t e;

	if (!lt_handle(handle, &q.id, &q.cublas_handle))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (!pref || requested <= 0 || !results || !returned)
		return CUBLAS_STATUS_INVALID_VALUE;
	if ((st = problem(&q.p, desc, Adesc, Bdesc, Cdesc, Ddesc)))
		return st;
	memcpy(&q.pref, pref, sizeof(q.pref));
	q.requested = requested < XMIG_LT_MAX_RESULTS ? requested : XMIG_LT_MAX_RESULTS;
	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_LT_HEURISTIC, sizeof(*a))))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	*a = q;
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	*returned = 0;
	if (e)
		return (cublasStatus_t)e;
	if (!r || r->count < 0 || r->count > q.requested)
		return CUBLAS_STATUS_INTERNAL_ERROR;
	memcpy(results, r->results, (size_t)r->count * sizeof(results[0]));
	*returned = r->count;
	return CUBLAS_STATUS_SUCCESS;
}

/* The bytes of one alpha or beta of a scale type; 0 for one we do not know. */
static size_t scale_size(int type)
{
	switch (type) {
	case CUDA_R_8I: return 1;
	case CUDA_R_16F: case CUDA_R_16BF: return 2;
	case CUDA_R_32F: case CUDA_R_32I: return 4;
	case CUDA_R_64F: case CUDA_C_32F: return 8;
	case CUDA_C_64F: return 16;
	default: return 0;
	}
}

API cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
				  const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc,
				  const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
				  const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
				  cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo,
				  void *workspace, size_t workspace_size, cudaStream_t stream)
{
	struct xmig_lt_matmul_req m = { 0 }, *a;
	struct xmig_thread *t;
	cublasStatus_t st;
	size_t scalar;
	int mode;

	if (!lt_handle(handle, &m.id, &m.cublas_handle))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if ((st = problem(&m.p, desc, Adesc, Bdesc, Cdesc, Ddesc)))
		return st;
	if (!alpha || (workspace_size && !workspace))
		return CUBLAS_STATUS_INVALID_VALUE;
	mode = m.p.desc.pointer_mode;
	if (mode < CUBLASLT_POINTER_MODE_HOST ||
	    mode > CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST)
		return CUBLAS_STATUS_INVALID_VALUE;
	/* alpha is a device value or vector in every mode but HOST; beta in
	 * DEVICE and DEVICE_VECTOR, unused in ALPHA_DEVICE_VECTOR_BETA_ZERO. */
	m.alpha_on_device = mode != CUBLASLT_POINTER_MODE_HOST;
	m.beta_on_device = mode == CUBLASLT_POINTER_MODE_DEVICE ||
			   mode == CUBLASLT_POINTER_MODE_DEVICE_VECTOR;
	if (!beta && mode != CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(scalar = scale_size(m.p.desc.scale_type))) {
		xmig_cl_unsupported("cublasLtMatmul with this scale type");
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if (m.alpha_on_device)
		m.alpha_ptr = (uint64_t)(uintptr_t)alpha;
	else
		memcpy(m.alpha, alpha, scalar);
	if (m.beta_on_device)
		m.beta_ptr = (uint64_t)(uintptr_t)beta;
	else if (beta)
		memcpy(m.beta, beta, scalar);
	m.stream = xmig_cl_stream_id(stream, 0);
	m.a = (uint64_t)(uintptr_t)A, m.b = (uint64_t)(uintptr_t)B;
	m.c = (uint64_t)(uintptr_t)C, m.d = (uint64_t)(uintptr_t)D;
	m.workspace = (uint64_t)(uintptr_t)workspace;
	m.workspace_size = workspace_size;
	if ((m.has_algo = algo != NULL))
		memcpy(&m.algo, algo, sizeof(m.algo));
	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_LT_MATMUL, sizeof(*a))))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	*a = m;
	/* Posted: a failure in the proxy surfaces at the next synchronising call. */
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL) ? CUBLAS_STATUS_EXECUTION_FAILED
						     : CUBLAS_STATUS_SUCCESS;
}
