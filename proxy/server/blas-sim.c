/*
 * blas-sim.c - the GEMM family on the sim test device, in C: column-major,
 * transposes, strided batches, float and double (cublasGemmEx with 32F or
 * 64F data and compute). Memory is host RAM at the device addresses, and
 * the sim device runs every stream in order, so a call computes at once;
 * on a capturing stream (the handle's) it is recorded instead, and
 * computes at each launch of the graph, reading scalars in device memory
 * then, as cuBLAS's kernels do. Anything else says
 * CUBLAS_STATUS_NOT_SUPPORTED.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>

#include "blas.h"
#include "sim-kernels.h"

struct sim_blas {
	int pointer_mode;
	void *stream;        /* the sim device's stream (NULL: the legacy one) */
	unsigned char *workspace;   /* the caller's (NULL: the library's own pool) */
	uint64_t workspace_size;
};

/*
 * cuBLAS's kernels may use a caller's workspace as scratch: an eager call
 * here writes over its first bytes, so that a proxy which applies a
 * workspace the handle no longer has (cublasSetStream gave it back)
 * damages memory the program owns again, as it would on a GPU.
 */
enum { SIM_SCRATCH_BYTES = 64 };

int xmig_blas_sim_create(void *dev, void **h)
{
	struct sim_blas *b = calloc(1, sizeof(*b));

	if (!b)
		return CUBLAS_STATUS_ALLOC_FAILED;
	*h = b;
	return CUBLAS_STATUS_SUCCESS;
}

int xmig_blas_sim_destroy(void *dev, void *h)
{
	free(h);
	return CUBLAS_STATUS_SUCCESS;
}

int xmig_blas_sim_set(void *dev, void *h, int what, uint64_t value, uint64_t size,
		      void *stream)
{
	struct sim_blas *b = h;

	switch (what) {
	case XMIG_BLAS_STREAM:
		b->stream = stream;
		b->workspace = NULL;   /* back to the library's pool, as cuBLAS does */
		b->workspace_size = 0;
		return CUBLAS_STATUS_SUCCESS;
	case XMIG_BLAS_WORKSPACE:
		b->workspace = (unsigned char *)(uintptr_t)value;
		b->workspace_size = size;
		return CUBLAS_STATUS_SUCCESS;
	case XMIG_BLAS_MATH_MODE:
	case XMIG_BLAS_ATOMICS_MODE:
		return CUBLAS_STATUS_SUCCESS;   /* no effect on results here */
	case XMIG_BLAS_POINTER_MODE:
		b->pointer_mode = (int)value;
		return CUBLAS_STATUS_SUCCESS;
	default:
		return CUBLAS_STATUS_INVALID_VALUE;
	}
}

/* op(X)[i][j] of a column-major matrix with leading dimension ld. */
#define AT(p, ld, trans, i, j) ((trans) == CUBLAS_OP_N ? (p)[(i) + (size_t)(j) * (ld)] \
							: (p)[(j) + (size_t)(i) * (ld)])

#define GEMM_BODY(T)                                                                 \
	for (int bi = 0; bi < g->batch; bi++) {                                      \
		const T *a = (const T *)(uintptr_t)g->a + bi * g->stride_a;          \
		const T *b = (const T *)(uintptr_t)g->b + bi * g->stride_b;          \
		T *c = (T *)(uintptr_t)g->c + bi * g->stride_c;                      \
		for (int j = 0; j < g->n; j++)                                       \
			for (int i = 0; i < g->m; i++) {                             \
				T sum = 0;                                           \
				for (int l = 0; l < g->k; l++)                       \
					sum += AT(a, g->lda, g->transa, i, l) *      \
					       AT(b, g->ldb, g->transb, l, j);       \
				T *out = &c[i + (size_t)j * g->ldc];                 \
				/* beta 0: C is not read (it may hold NaN) */        \
				*out = beta == 0 ? alpha * sum : alpha * sum + beta * *out; \
			}                                                            \
	}

/* Is g's data type double (1), float (0), or none the double knows (-1, said why)? */
static int is_double(const struct xmig_blas_gemm_req *g)
{
	switch (g->fn) {
	case XMIG_GEMM_S:
	case XMIG_GEMM_S_STRIDED:
		return 0;
	case XMIG_GEMM_D:
	case XMIG_GEMM_D_STRIDED:
		return 1;
	case XMIG_GEMM_EX:
	case XMIG_GEMM_EX_STRIDED:
		if (g->atype == CUDA_R_32F && g->btype == CUDA_R_32F && g->ctype == CUDA_R_32F &&
		    (g->compute == CUBLAS_COMPUTE_32F || g->compute == CUBLAS_COMPUTE_32F_PEDANTIC ||
		     g->compute == CUBLAS_COMPUTE_32F_FAST_TF32))
			return 0;
		if (g->atype == CUDA_R_64F && g->btype == CUDA_R_64F && g->ctype == CUDA_R_64F &&
		    (g->compute == CUBLAS_COMPUTE_64F || g->compute == CUBLAS_COMPUTE_64F_PEDANTIC))
			return 1;
		xmig_error("sim device: cublasGemmEx with data types %d/%d/%d and compute type %d "
			   "is not implemented (float and double only)", g->atype, g->btype,
			   g->ctype, g->compute);
		return -1;
	default:
		return -1;
	}
}

/* The GEMM of a request (checked), now. */
static int compute(const void *arg)
{
	const struct xmig_blas_gemm_req *g = arg;
	const void *ap = g->scalars_on_device ? (const void *)(uintptr_t)g->alpha_ptr : g->alpha;
	const void *bp = g->scalars_on_device ? (const void *)(uintptr_t)g->beta_ptr : g->beta;

	if (is_double(g)) {
		double alpha, beta;

		memcpy(&alpha, ap, sizeof(alpha));
		memcpy(&beta, bp, sizeof(beta));
		GEMM_BODY(double)
	} else {
		float alpha, beta;

		memcpy(&alpha, ap, sizeof(alpha));
		memcpy(&beta, bp, sizeof(beta));
		GEMM_BODY(float)
	}
	return CUBLAS_STATUS_SUCCESS;
}

int xmig_blas_sim_gemm(void *dev, void *h, const struct xmig_blas_gemm_req *g)
{
	struct sim_blas *b = h;
	bool recorded;

	if (is_double(g) < 0)
		return g->fn == XMIG_GEMM_EX || g->fn == XMIG_GEMM_EX_STRIDED
			       ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_INVALID_VALUE;
	if (xmig_sim_capture_call(dev, b->stream, compute, NULL, g, sizeof(*g), &recorded))
		return CUBLAS_STATUS_EXECUTION_FAILED;
	if (recorded)
		return CUBLAS_STATUS_SUCCESS;
	if (b->workspace && b->workspace_size)
		memset(b->workspace, 0x5c, b->workspace_size < SIM_SCRATCH_BYTES
						   ? b->workspace_size : SIM_SCRATCH_BYTES);
	return compute(g);
}
