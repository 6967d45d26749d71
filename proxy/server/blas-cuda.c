/*
 * blas-cuda.c - cuBLAS in the proxy: NVIDIA's library, dlopened on the
 * first handle, running in the proxy's context on the proxy's streams. The
 * application's calls arrive here already translated (ops.h).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublas_api.h>

#include "blas.h"
#include "real-lib.h"

#define CUBLAS_FNS(X) \
	X(cublasCreate_v2) X(cublasDestroy_v2) X(cublasSetStream_v2) X(cublasSetWorkspace_v2) \
	X(cublasSetMathMode) X(cublasSetPointerMode_v2) X(cublasSetAtomicsMode) \
	X(cublasSgemm_v2) X(cublasDgemm_v2) X(cublasSgemmStridedBatched) \
	X(cublasDgemmStridedBatched) X(cublasGemmEx) X(cublasGemmStridedBatchedEx)

static struct {
#define X(n) __typeof__(n) *n;
	CUBLAS_FNS(X)
#undef X
} bl;
static int loaded = -1;   /* -1 not tried, 0 failed, 1 loaded */
static void *library;     /* the dlopen handle, once loaded */

static int load(void)
{
	void *h;

	if (loaded >= 0)
		return loaded;
	loaded = 0;
	/*
	 * The application's cuBLASLt first, when it was named: cuBLAS then runs
	 * on that very copy (its libcublasLt.so.13 is found loaded by soname),
	 * as natively, and a cuBLAS handle cast to an Lt handle, as PyTorch
	 * does, belongs to the cuBLASLt the proxy calls (blaslt-cuda.c).
	 */
	if (getenv("XMIG_CUBLASLT") && *getenv("XMIG_CUBLASLT"))
		dlopen(getenv("XMIG_CUBLASLT"), RTLD_NOW | RTLD_LOCAL);
	if (!(h = xmig_open_real_library("XMIG_CUBLAS", "libcublas.so.13", "cuBLAS")))
		return 0;
#define X(n)                                                                      \
	if (!(bl.n = (__typeof__(n) *)dlsym(h, #n))) {                            \
		xmig_error("the cuBLAS found lacks %s (need CUDA 13)", #n);      \
		return 0;                                                         \
	}
	CUBLAS_FNS(X)
#undef X
	library = h;
	return loaded = 1;
}

void *xmig_blas_cuda_library(void)
{
	return load() ? library : NULL;
}

int xmig_blas_cuda_create(void *dev, void **h)
{
	if (!load())
		return CUBLAS_STATUS_NOT_INITIALIZED;
	return bl.cublasCreate_v2((cublasHandle_t *)h);
}

int xmig_blas_cuda_destroy(void *dev, void *h)
{
	return bl.cublasDestroy_v2(h);
}

int xmig_blas_cuda_set(void *dev, void *h, int what, uint64_t value, uint64_t size,
		       void *stream)
{
	switch (what) {
	case XMIG_BLAS_STREAM:
		return bl.cublasSetStream_v2(h, stream);
	case XMIG_BLAS_WORKSPACE:
		return bl.cublasSetWorkspace_v2(h, (void *)(uintptr_t)value, size);
	case XMIG_BLAS_MATH_MODE:
		return bl.cublasSetMathMode(h, (cublasMath_t)value);
	case XMIG_BLAS_POINTER_MODE:
		return bl.cublasSetPointerMode_v2(h, (cublasPointerMode_t)value);
	case XMIG_BLAS_ATOMICS_MODE:
		return bl.cublasSetAtomicsMode(h, (cublasAtomicsMode_t)value);
	default:
		return CUBLAS_STATUS_INVALID_VALUE;
	}
}

int xmig_blas_cuda_gemm(void *dev, void *h, const struct xmig_blas_gemm_req *g)
{
	const void *alpha = g->scalars_on_device ? (const void *)(uintptr_t)g->alpha_ptr : g->alpha;
	const void *beta = g->scalars_on_device ? (const void *)(uintptr_t)g->beta_ptr : g->beta;
	cublasOperation_t ta = (cublasOperation_t)g->transa, tb = (cublasOperation_t)g->transb;
	const void *a = (const void *)(uintptr_t)g->a, *b = (const void *)(uintptr_t)g->b;
	void *c = (void *)(uintptr_t)g->c;

	switch (g->fn) {
	case XMIG_GEMM_S:
		return bl.cublasSgemm_v2(h, ta, tb, g->m, g->n, g->k, alpha, a, g->lda, b, g->ldb,
					 beta, c, g->ldc);
	case XMIG_GEMM_D:
		return bl.cublasDgemm_v2(h, ta, tb, g->m, g->n, g->k, alpha, a, g->lda, b, g->ldb,
					 beta, c, g->ldc);
	case XMIG_GEMM_S_STRIDED:
		return bl.cublasSgemmStridedBatched(h, ta, tb, g->m, g->n, g->k, alpha, a, g->lda,
						    g->stride_a, b, g->ldb, g->stride_b, beta, c,
						    g->ldc, g->stride_c, g->batch);
	case XMIG_GEMM_D_STRIDED:
		return bl.cublasDgemmStridedBatched(h, ta, tb, g->m, g->n, g->k, alpha, a, g->lda,
						    g->stride_a, b, g->ldb, g->stride_b, beta, c,
						    g->ldc, g->stride_c, g->batch);
	case XMIG_GEMM_EX:
		return bl.cublasGemmEx(h, ta, tb, g->m, g->n, g->k, alpha, a, g->atype, g->lda, b,
				       g->btype, g->ldb, beta, c, g->ctype, g->ldc, g->compute,
				       g->algo);
	case XMIG_GEMM_EX_STRIDED:
		return bl.cublasGemmStridedBatchedEx(h, ta, tb, g->m, g->n, g->k, alpha, a,
						     g->atype, g->lda, g->stride_a, b, g->btype,
						     g->ldb, g->stride_b, beta, c, g->ctype, g->ldc,
						     g->stride_c, g->batch, g->compute, g->algo);
	default:
		return CUBLAS_STATUS_INVALID_VALUE;
	}
}
