/*
 * cublas.c - the facade libcublas.so.13. cuBLAS carries its own copy of the
 * CUDA runtime, so the real library must never run in the application: its
 * handles and the GEMM family are forwarded to the proxy, which runs
 * NVIDIA's cuBLAS there (or the sim device's GEMM). A handle here is a small
 * record of its logical id and the settings the application can read back.
 * Arguments are checked here as cuBLAS checks them, so that a bad call
 * fails at once, as it does natively; the GEMMs themselves are posted.
 * Everything else fails with CUBLAS_STATUS_NOT_SUPPORTED and one line
 * naming it.
 */
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>

#include "blas-handle.h"
#include "client.h"

#define API __attribute__((visibility("default")))

struct xmig_blas_handle {
	struct xmig_blas_handle_head head;   /* first: it may be cast (cublaslt.c) */
	cudaStream_t stream;
	cublasMath_t math;
	cublasPointerMode_t pointer_mode;
	cublasAtomicsMode_t atomics_mode;
};


/* ---- versions and names ---------------------------------------------------- */

API size_t cublasGetCudartVersion(void)
{
	return CUDART_VERSION;
}

API cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)
{
	if (!version)
		return CUBLAS_STATUS_INVALID_VALUE;
	*version = CUBLAS_VERSION;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetVersion(int *version)
{
	return cublasGetVersion_v2(NULL, version);
}

API cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
	return xmig_blas_property(type, value);
}

API const char *cublasGetStatusName(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

API const char *cublasGetStatusString(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

/* ---- handles ----------------------------------------------------------------- */

static struct xmig_blas_handle *handle_of(cublasHandle_t h)
{
	return (struct xmig_blas_handle *)(void *)h;
}

API cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
	struct xmig_blas_handle *h;
	cublasStatus_t st;

	if (!handle)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!(h = calloc(1, sizeof(*h))))
		return CUBLAS_STATUS_ALLOC_FAILED;
	if ((st = xmig_blas_handle_create(XMIG_OP_BLAS_CREATE, &h->head.id))) {
		free(h);
		return st;
	}
	h->head.kind = XMIG_HANDLE_CUBLAS;
	h->math = CUBLAS_DEFAULT_MATH;
	h->pointer_mode = CUBLAS_POINTER_MODE_HOST;
	h->atomics_mode = CUBLAS_ATOMICS_NOT_ALLOWED;
	*handle = (cublasHandle_t)(void *)h;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
	struct xmig_blas_handle *h = handle_of(handle);
	cublasStatus_t st;

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	st = xmig_blas_handle_destroy(XMIG_OP_BLAS_DESTROY, h->head.id);
	free(h);
	return st;
}

/* Post a setting; the proxy keeps it for the handle's next life too. */
static cublasStatus_t post_set(struct xmig_blas_handle *h, uint32_t what, uint64_t value,
			       uint64_t size)
{
	struct xmig_blas_set_req *a;
	struct xmig_thread *t;

	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_BLAS_SET, sizeof(*a))))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	a->id = h->head.id;
	a->what = what;
	a->value = value;
	a->size = size;
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL) ? CUBLAS_STATUS_EXECUTION_FAILED
						     : CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
	struct xmig_blas_handle *h = handle_of(handle);
	cublasStatus_t st;

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	/* Always sent (it is posted, so cheap): a stream's handle value can be
	 * reused by a new stream after the old one is destroyed. */
	if (!(st = post_set(h, XMIG_BLAS_STREAM, xmig_cl_stream_id(stream, 0), 0)))
		h->stream = stream;
	return st;
}

API cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t *stream)
{
	struct xmig_blas_handle *h = handle_of(handle);

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (!stream)
		return CUBLAS_STATUS_INVALID_VALUE;
	*stream = h->stream;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace,
					 size_t workspaceSizeInBytes)
{
	struct xmig_blas_handle *h = handle_of(handle);

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (workspaceSizeInBytes && (!workspace || ((uintptr_t)workspace & 255)))
		return CUBLAS_STATUS_INVALID_VALUE;   /* cuBLAS wants 256-byte alignment */
	return post_set(h, XMIG_BLAS_WORKSPACE, (uint64_t)(uintptr_t)workspace,
			workspaceSizeInBytes);
}

/*
 * A mode the handle keeps: set posts it (when it changes), get answers
 * here. VALID(mode) is cuBLAS's own check of the value.
 */
#define MODE_ACCESSORS(SET, GET, TYPE, FIELD, SETTING, VALID)                    \
	API cublasStatus_t SET(cublasHandle_t handle, TYPE mode)                 \
	{                                                                        \
		struct xmig_blas_handle *h = handle_of(handle);                  \
		cublasStatus_t st;                                               \
		if (!h)                                                          \
			return CUBLAS_STATUS_NOT_INITIALIZED;                    \
		if (!(VALID))                                                    \
			return CUBLAS_STATUS_INVALID_VALUE;                      \
		if (mode == h->FIELD)                                            \
			return CUBLAS_STATUS_SUCCESS;                            \
		if (!(st = post_set(h, SETTING, (uint64_t)mode, 0)))             \
			h->FIELD = mode;                                         \
		return st;                                                       \
	}                                                                        \
	API cublasStatus_t GET(cublasHandle_t handle, TYPE *mode)                \
	{                                                                        \
		struct xmig_blas_handle *h = handle_of(handle);                  \
		if (!h)                                                          \
			return CUBLAS_STATUS_NOT_INITIALIZED;                    \
		if (!mode)                                                       \
			return CUBLAS_STATUS_INVALID_VALUE;                      \
		*mode = h->FIELD;                                                \
		return CUBLAS_STATUS_SUCCESS;                                    \
	}

MODE_ACCESSORS(cublasSetMathMode, cublasGetMathMode, cublasMath_t, math, XMIG_BLAS_MATH_MODE,
	       true)
MODE_ACCESSORS(cublasSetPointerMode_v2, cublasGetPointerMode_v2, cublasPointerMode_t,
	       pointer_mode, XMIG_BLAS_POINTER_MODE,
	       mode == CUBLAS_POINTER_MODE_HOST || mode == CUBLAS_POINTER_MODE_DEVICE)
MODE_ACCESSORS(cublasSetAtomicsMode, cublasGetAtomicsMode, cublasAtomicsMode_t, atomics_mode,
	       XMIG_BLAS_ATOMICS_MODE,
	       mode == CUBLAS_ATOMICS_NOT_ALLOWED || mode == CUBLAS_ATOMICS_ALLOWED)

/* ---- the GEMM family ---------------------------------------------------------- */

static bool op_ok(cublasOperation_t op)
{
	return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

static int max1(int v)
{
	return v > 1 ? v : 1;
}

/* The bytes of one scalar of a compute type; 0 for one we do not know. */
static size_t scalar_size(cublasComputeType_t c)
{
	switch (c) {
	case CUBLAS_COMPUTE_16F:
	case CUBLAS_COMPUTE_16F_PEDANTIC:
		return 2;
	case CUBLAS_COMPUTE_32F:
	case CUBLAS_COMPUTE_32F_PEDANTIC:
	case CUBLAS_COMPUTE_32F_FAST_16F:
	case CUBLAS_COMPUTE_32F_FAST_16BF:
	case CUBLAS_COMPUTE_32F_FAST_TF32:
	case CUBLAS_COMPUTE_32I:
	case CUBLAS_COMPUTE_32I_PEDANTIC:
		return 4;
	case CUBLAS_COMPUTE_64F:
	case CUBLAS_COMPUTE_64F_PEDANTIC:
		return 8;
	default:
		return 0;
	}
}

/*
 * Check as cuBLAS does, then post. g arrives with everything but the
 * scalars, which are taken by value unless the pointer mode is device.
 */
static cublasStatus_t post_gemm(cublasHandle_t handle, struct xmig_blas_gemm_req *g,
				const void *alpha, const void *beta, size_t scalar)
{
	struct xmig_blas_handle *h = handle_of(handle);
	struct xmig_blas_gemm_req *a;
	struct xmig_thread *t;

	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (!op_ok(g->transa) || !op_ok(g->transb) || g->m < 0 || g->n < 0 || g->k < 0 ||
	    g->batch < 0 || !alpha || !beta || !scalar ||
	    g->lda < max1(g->transa == CUBLAS_OP_N ? g->m : g->k) ||
	    g->ldb < max1(g->transb == CUBLAS_OP_N ? g->k : g->n) || g->ldc < max1(g->m))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!g->m || !g->n || !g->batch)
		return CUBLAS_STATUS_SUCCESS;   /* nothing to compute, as natively */
	g->id = h->head.id;
	if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
		g->scalars_on_device = 1;
		g->alpha_ptr = (uint64_t)(uintptr_t)alpha;
		g->beta_ptr = (uint64_t)(uintptr_t)beta;
	} else {
		memcpy(g->alpha, alpha, scalar);
		memcpy(g->beta, beta, scalar);
	}
	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_BLAS_GEMM, sizeof(*a))))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	memcpy(a, g, sizeof(*a));
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL) ? CUBLAS_STATUS_EXECUTION_FAILED
						     : CUBLAS_STATUS_SUCCESS;
}

#define GEMM_ARGS(FN, CT)                                                            \
	struct xmig_blas_gemm_req g = {                                              \
		.fn = (FN), .transa = transa, .transb = transb, .m = m, .n = n, .k = k, \
		.lda = lda, .ldb = ldb, .ldc = ldc, .batch = 1, .compute = (CT),     \
		.a = (uint64_t)(uintptr_t)A, .b = (uint64_t)(uintptr_t)B,             \
		.c = (uint64_t)(uintptr_t)C,                                         \
	}

API cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
				  cublasOperation_t transb, int m, int n, int k, const float *alpha,
				  const float *A, int lda, const float *B, int ldb,
				  const float *beta, float *C, int ldc)
{
	GEMM_ARGS(XMIG_GEMM_S, CUBLAS_COMPUTE_32F);
	return post_gemm(handle, &g, alpha, beta, sizeof(float));
}

API cublasStatus_t cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
				  cublasOperation_t transb, int m, int n, int k, const double *alpha,
				  const double *A, int lda, const double *B, int ldb,
				  const double *beta, double *C, int ldc)
{
	GEMM_ARGS(XMIG_GEMM_D, CUBLAS_COMPUTE_64F);
	return post_gemm(handle, &g, alpha, beta, sizeof(double));
}

API cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
					     cublasOperation_t transb, int m, int n, int k,
					     const float *alpha, const float *A, int lda,
					     long long int strideA, const float *B, int ldb,
					     long long int strideB, const float *beta, float *C,
					     int ldc, long long int strideC, int batchCount)
{
	GEMM_ARGS(XMIG_GEMM_S_STRIDED, CUBLAS_COMPUTE_32F);
	g.stride_a = strideA, g.stride_b = strideB, g.stride_c = strideC, g.batch = batchCount;
	return post_gemm(handle, &g, alpha, beta, sizeof(float));
}

API cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
					     cublasOperation_t transb, int m, int n, int k,
					     const double *alpha, const double *A, int lda,
					     long long int strideA, const double *B, int ldb,
					     long long int strideB, const double *beta, double *C,
					     int ldc, long long int strideC, int batchCount)
{
	GEMM_ARGS(XMIG_GEMM_D_STRIDED, CUBLAS_COMPUTE_64F);
	g.stride_a = strideA, g.stride_b = strideB, g.stride_c = strideC, g.batch = batchCount;
	return post_gemm(handle, &g, alpha, beta, sizeof(double));
}

API cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
				cublasOperation_t transb, int m, int n, int k, const void *alpha,
				const void *A, cudaDataType Atype, int lda, const void *B,
				cudaDataType Btype, int ldb, const void *beta, void *C,
				cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
				cublasGemmAlgo_t algo)
{
	GEMM_ARGS(XMIG_GEMM_EX, computeType);
	g.atype = Atype, g.btype = Btype, g.ctype = Ctype, g.algo = algo;
	return post_gemm(handle, &g, alpha, beta, scalar_size(computeType));
}

API cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
					      cublasOperation_t transb, int m, int n, int k,
					      const void *alpha, const void *A, cudaDataType Atype,
					      int lda, long long int strideA, const void *B,
					      cudaDataType Btype, int ldb, long long int strideB,
					      const void *beta, void *C, cudaDataType Ctype, int ldc,
					      long long int strideC, int batchCount,
					      cublasComputeType_t computeType,
					      cublasGemmAlgo_t algo)
{
	GEMM_ARGS(XMIG_GEMM_EX_STRIDED, computeType);
	g.atype = Atype, g.btype = Btype, g.ctype = Ctype, g.algo = algo;
	g.stride_a = strideA, g.stride_b = strideB, g.stride_c = strideC, g.batch = batchCount;
	return post_gemm(handle, &g, alpha, beta, scalar_size(computeType));
}
