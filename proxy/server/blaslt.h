/*
 * blaslt.h - the backends' cuBLASLt: NVIDIA's library on a real GPU
 * (blaslt-cuda.c), cublasLtMatmul in C on the sim test device
 * (blaslt-sim.c). Both return cublasStatus_t values; see device.h.
 */
#ifndef XMIG_BLASLT_H
#define XMIG_BLASLT_H

#include "../../lib/xmig.h"
#include "../api/ops.h"

int xmig_blaslt_cuda_create(void *dev, void **h);
int xmig_blaslt_cuda_destroy(void *dev, void *h);
int xmig_blaslt_cuda_heuristic(void *dev, void *h, const struct xmig_lt_heuristic_req *q,
			       struct xmig_lt_heuristic_res *r);
int xmig_blaslt_cuda_matmul(void *dev, void *h, const struct xmig_lt_matmul_req *m, void *stream);

int xmig_blaslt_sim_create(void *dev, void **h);
int xmig_blaslt_sim_destroy(void *dev, void *h);
int xmig_blaslt_sim_heuristic(void *dev, void *h, const struct xmig_lt_heuristic_req *q,
			      struct xmig_lt_heuristic_res *r);
int xmig_blaslt_sim_matmul(void *dev, void *h, const struct xmig_lt_matmul_req *m, void *stream);

#endif
