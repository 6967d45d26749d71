/*
 * blas.h - the backends' cuBLAS: NVIDIA's library on a real GPU
 * (blas-cuda.c), the GEMM family in C on the sim test device (blas-sim.c).
 * Both return cublasStatus_t values; see device.h.
 */
#ifndef XMIG_BLAS_H
#define XMIG_BLAS_H

#include "../../lib/xmig.h"
#include "../api/ops.h"

int xmig_blas_cuda_create(void *dev, void **h);
int xmig_blas_cuda_destroy(void *dev, void *h);
int xmig_blas_cuda_set(void *dev, void *h, int what, uint64_t value, uint64_t size,
		       void *stream);
int xmig_blas_cuda_gemm(void *dev, void *h, const struct xmig_blas_gemm_req *g);
/* NVIDIA's cuBLAS as dlopened here (loading it if need be), or NULL. */
void *xmig_blas_cuda_library(void);

int xmig_blas_sim_create(void *dev, void **h);
int xmig_blas_sim_destroy(void *dev, void *h);
int xmig_blas_sim_set(void *dev, void *h, int what, uint64_t value, uint64_t size,
		      void *stream);
int xmig_blas_sim_gemm(void *dev, void *h, const struct xmig_blas_gemm_req *g);

#endif
