/*
 * blaslt-sim.c - cublasLtMatmul on the sim test device, in C: column-major
 * layouts, transposes, strided batches, alpha and beta (host or device
 * values), A and B in float or bfloat16, C and D in float or bfloat16,
 * computed in float; epilogues DEFAULT, BIAS, RELU, RELU_BIAS, GELU and
 * GELU_BIAS. Memory is host RAM at the device addresses and the sim device
 * runs every stream in order, so a call computes at once. The heuristic
 * offers one algorithm: this code. Anything else says
 * CUBLAS_STATUS_NOT_SUPPORTED and names what.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../api/blaslt-attrs.h"
#include "blaslt.h"

/* The one algorithm's first word, so that a foreign algo is told apart. */
#define SIM_ALGO 0x4f474c41544c4d53ull   /* "SMLTALGO" */

int xmig_blaslt_sim_create(void *dev, void **h)
{
	if (!(*h = calloc(1, 1)))
		return CUBLAS_STATUS_ALLOC_FAILED;
	return CUBLAS_STATUS_SUCCESS;
}

int xmig_blaslt_sim_destroy(void *dev, void *h)
{
	free(h);
	return CUBLAS_STATUS_SUCCESS;
}

static int not_here(const char *what, long long value)
{
	xmig_error("sim device: cublasLtMatmul with %s %lld is not implemented", what, value);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

static bool data_type_ok(int t)
{
	return t == CUDA_R_32F || t == CUDA_R_16BF;
}

static bool epilogue_ok(uint32_t e)
{
	return e == CUBLASLT_EPILOGUE_DEFAULT || e == CUBLASLT_EPILOGUE_BIAS ||
	       e == CUBLASLT_EPILOGUE_RELU || e == CUBLASLT_EPILOGUE_RELU_BIAS ||
	       e == CUBLASLT_EPILOGUE_GELU || e == CUBLASLT_EPILOGUE_GELU_BIAS;
}

/* Attributes this code reads; any other must keep its default. */
static bool attr_read_here(int attr)
{
	switch (attr) {
	case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE:
	case CUBLASLT_MATMUL_DESC_SCALE_TYPE:
	case CUBLASLT_MATMUL_DESC_POINTER_MODE:
	case CUBLASLT_MATMUL_DESC_TRANSA:
	case CUBLASLT_MATMUL_DESC_TRANSB:
	case CUBLASLT_MATMUL_DESC_EPILOGUE:
	case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
	case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE:
	case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
	case CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET:   /* no effect on results */
		return true;
	default:
		return false;
	}
}

static int check_layout(const struct xmig_lt_layout *l, int batch)
{
	if (!data_type_ok((int)l->type))
		return not_here("data type", l->type);
	if (l->order != CUBLASLT_ORDER_COL)
		return not_here("matrix order", l->order);
	if (l->batch_mode || l->plane_offset)
		return not_here("batch mode or plane offset", l->batch_mode ?: l->plane_offset);
	if (l->batch_count != batch || l->ld < (int64_t)(l->rows ?: 1) || l->rows > INT32_MAX ||
	    l->cols > INT32_MAX)
		return CUBLAS_STATUS_INVALID_VALUE;
	return CUBLAS_STATUS_SUCCESS;
}

/* What this code computes, as cuBLASLt would check it. */
static int check(const struct xmig_lt_problem *p)
{
	const struct xmig_lt_desc *d = &p->desc;
	struct xmig_lt_desc fresh;
	int st, batch = p->d.batch_count;

	xmig_lt_desc_init(&fresh, d->compute_type, d->scale_type);
	for (size_t i = 0; i < XMIG_LT_NATTRS(xmig_lt_desc_attrs); i++) {
		const struct xmig_lt_attr *a = &xmig_lt_desc_attrs[i];

		if (!attr_read_here(a->attr) && xmig_lt_attr_differs(a, d, &fresh)) {
			xmig_error("sim device: cublasLtMatmul with %s set is not implemented",
				   a->name);
			return CUBLAS_STATUS_NOT_SUPPORTED;
		}
	}
	if (d->compute_type != CUBLAS_COMPUTE_32F && d->compute_type != CUBLAS_COMPUTE_32F_PEDANTIC &&
	    d->compute_type != CUBLAS_COMPUTE_32F_FAST_TF32 &&
	    d->compute_type != CUBLAS_COMPUTE_32F_FAST_16BF)
		return not_here("compute type", d->compute_type);
	if (d->scale_type != CUDA_R_32F)
		return not_here("scale type", d->scale_type);
	if (d->pointer_mode != CUBLASLT_POINTER_MODE_HOST &&
	    d->pointer_mode != CUBLASLT_POINTER_MODE_DEVICE)
		return not_here("pointer mode", d->pointer_mode);
	if ((d->transa != CUBLAS_OP_N && d->transa != CUBLAS_OP_T) ||
	    (d->transb != CUBLAS_OP_N && d->transb != CUBLAS_OP_T))
		return not_here("transpose", d->transa != CUBLAS_OP_N ? d->transa : d->transb);
	if (!epilogue_ok(d->epilogue))
		return not_here("epilogue", d->epilogue);
	if ((d->epilogue & CUBLASLT_EPILOGUE_BIAS) && d->bias_data_type != -1 &&
	    !data_type_ok(d->bias_data_type))
		return not_here("bias data type", d->bias_data_type);
	if ((d->epilogue & CUBLASLT_EPILOGUE_BIAS) && !d->bias_pointer)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (batch < 1)
		return CUBLAS_STATUS_INVALID_VALUE;
	if ((st = check_layout(&p->a, batch)) || (st = check_layout(&p->b, batch)) ||
	    (st = check_layout(&p->c, batch)) || (st = check_layout(&p->d, batch)))
		return st;
	if (p->a.type != p->b.type || p->c.type != p->d.type)
		return not_here("A/B or C/D types that differ, C type", p->c.type);
	if (p->a.type == CUDA_R_32F && p->d.type != CUDA_R_32F)
		return not_here("float A and B, and D of type", p->d.type);
	return CUBLAS_STATUS_SUCCESS;
}

int xmig_blaslt_sim_heuristic(void *dev, void *h, const struct xmig_lt_heuristic_req *q,
			      struct xmig_lt_heuristic_res *r)
{
	int st;

	r->count = 0;
	if ((st = check(&q->p)))
		return st;
	memset(&r->results[0], 0, sizeof(r->results[0]));
	r->results[0].algo.data[0] = SIM_ALGO;
	r->results[0].state = CUBLAS_STATUS_SUCCESS;
	r->results[0].waves_count = 1.0f;
	r->count = 1;
	return CUBLAS_STATUS_SUCCESS;
}

/* ---- elements ---------------------------------------------------------------- */

static float from_bf16(uint16_t v)
{
	uint32_t bits = (uint32_t)v << 16;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Round to nearest, ties to even, as the GPU converts. */
static uint16_t to_bf16(float f)
{
	uint32_t bits;

	memcpy(&bits, &f, sizeof(bits));
	if (isnan(f))
		return (uint16_t)((bits >> 16) | 0x40);
	bits += 0x7fff + ((bits >> 16) & 1);
	return (uint16_t)(bits >> 16);
}

static float load(int type, uint64_t base, int64_t index)
{
	if (type == CUDA_R_16BF)
		return from_bf16(((const uint16_t *)(uintptr_t)base)[index]);
	return ((const float *)(uintptr_t)base)[index];
}

static void store(int type, uint64_t base, int64_t index, float v)
{
	if (type == CUDA_R_16BF)
		((uint16_t *)(uintptr_t)base)[index] = to_bf16(v);
	else
		((float *)(uintptr_t)base)[index] = v;
}

/* op(X)(i, j) of a column-major matrix. */
static float at(const struct xmig_lt_layout *l, uint64_t base, int trans, int64_t i, int64_t j)
{
	return trans == CUBLAS_OP_N ? load((int)l->type, base, i + j * l->ld)
				    : load((int)l->type, base, j + i * l->ld);
}

/* GELU as cuBLASLt's epilogue computes it: the tanh approximation. */
static float gelu(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

int xmig_blaslt_sim_matmul(void *dev, void *h, const struct xmig_lt_matmul_req *m, void *stream)
{
	const struct xmig_lt_problem *p = &m->p;
	const struct xmig_lt_desc *d = &p->desc;
	int ta = d->transa, tb = d->transb, bias_type;
	int64_t rows = (int64_t)p->d.rows, cols = (int64_t)p->d.cols;
	int64_t k = (int64_t)(ta == CUBLAS_OP_N ? p->a.cols : p->a.rows);
	float alpha, beta = 0;
	int st;

	if ((st = check(p)))
		return st;
	if (m->has_algo && m->algo.data[0] != SIM_ALGO) {
		xmig_error("sim device: cublasLtMatmul with an algorithm its heuristic did not give");
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	memcpy(&alpha, m->alpha_on_device ? (const void *)(uintptr_t)m->alpha_ptr : m->alpha,
	       sizeof(alpha));
	memcpy(&beta, m->beta_on_device ? (const void *)(uintptr_t)m->beta_ptr : m->beta,
	       sizeof(beta));
	bias_type = d->bias_data_type == -1 ? (int)p->d.type : d->bias_data_type;
	for (int64_t b = 0; b < p->d.batch_count; b++) {
		uint64_t A = m->a + (uint64_t)(b * p->a.batch_offset) * (p->a.type == CUDA_R_16BF ? 2 : 4);
		uint64_t B = m->b + (uint64_t)(b * p->b.batch_offset) * (p->b.type == CUDA_R_16BF ? 2 : 4);
		int64_t c0 = b * p->c.batch_offset, d0 = b * p->d.batch_offset;
		int64_t bias0 = b * d->bias_batch_stride;

		for (int64_t j = 0; j < cols; j++)
			for (int64_t i = 0; i < rows; i++) {
				float sum = 0, v;

				for (int64_t l = 0; l < k; l++)
					sum += at(&p->a, A, ta, i, l) * at(&p->b, B, tb, l, j);
				v = alpha * sum;
				/* beta 0: C is not read (it may hold NaN) */
				if (beta != 0)
					v += beta * load((int)p->c.type, m->c, c0 + i + j * p->c.ld);
				if (d->epilogue & CUBLASLT_EPILOGUE_BIAS)
					v += load(bias_type, d->bias_pointer, bias0 + i);
				if ((d->epilogue & CUBLASLT_EPILOGUE_RELU) && !(v > 0))
					v = 0;
				if (d->epilogue & CUBLASLT_EPILOGUE_GELU)
					v = gelu(v);
				store((int)p->d.type, m->d, d0 + i + j * p->d.ld, v);
			}
	}
	return CUBLAS_STATUS_SUCCESS;
}
