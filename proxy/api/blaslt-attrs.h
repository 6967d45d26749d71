/*
 * blaslt-attrs.h - the attributes of cuBLASLt's matmul descriptors, matrix
 * layouts and preferences as fields of the records in ops.h: the client
 * sets and reads them there, the proxy turns records back into NVIDIA's
 * descriptors (setting what differs from a fresh one) or reads them itself
 * (the sim device). One table per kind, so every attribute is named once.
 */
#ifndef XMIG_BLASLT_ATTRS_H
#define XMIG_BLASLT_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cublasLt.h>

#include "ops.h"

struct xmig_lt_attr {
	int attr;
	unsigned short offset, size;
	const char *name;
};

#define XMIG_LT_FIELD(T, attr, field) \
	{ attr, offsetof(T, field), sizeof(((T *)0)->field), #attr },

/* CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR is a host object: not forwarded. */
#define XMIG_LT_DESC_ATTRS(X)                                                        \
	X(CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, compute_type)                           \
	X(CUBLASLT_MATMUL_DESC_SCALE_TYPE, scale_type)                               \
	X(CUBLASLT_MATMUL_DESC_POINTER_MODE, pointer_mode)                           \
	X(CUBLASLT_MATMUL_DESC_TRANSA, transa)                                       \
	X(CUBLASLT_MATMUL_DESC_TRANSB, transb)                                       \
	X(CUBLASLT_MATMUL_DESC_TRANSC, transc)                                       \
	X(CUBLASLT_MATMUL_DESC_FILL_MODE, fill_mode)                                 \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue)                                   \
	X(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_pointer)                           \
	X(CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, bias_batch_stride)                 \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, aux_pointer)                    \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, aux_ld)                              \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE, aux_batch_stride)          \
	X(CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE, alpha_vector_batch_stride) \
	X(CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, sm_count_target)                     \
	X(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, a_scale_pointer)                     \
	X(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, b_scale_pointer)                     \
	X(CUBLASLT_MATMUL_DESC_C_SCALE_POINTER, c_scale_pointer)                     \
	X(CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, d_scale_pointer)                     \
	X(CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, amax_d_pointer)                       \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, aux_data_type)                \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER, aux_scale_pointer)        \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER, aux_amax_pointer)          \
	X(CUBLASLT_MATMUL_DESC_FAST_ACCUM, fast_accum)                               \
	X(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_data_type)                       \
	X(CUBLASLT_MATMUL_DESC_A_SCALE_MODE, a_scale_mode)                           \
	X(CUBLASLT_MATMUL_DESC_B_SCALE_MODE, b_scale_mode)                           \
	X(CUBLASLT_MATMUL_DESC_C_SCALE_MODE, c_scale_mode)                           \
	X(CUBLASLT_MATMUL_DESC_D_SCALE_MODE, d_scale_mode)                           \
	X(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_MODE, aux_scale_mode)              \
	X(CUBLASLT_MATMUL_DESC_D_OUT_SCALE_POINTER, d_out_scale_pointer)             \
	X(CUBLASLT_MATMUL_DESC_D_OUT_SCALE_MODE, d_out_scale_mode)

#define XMIG_LT_LAYOUT_ATTRS(X)                                             \
	X(CUBLASLT_MATRIX_LAYOUT_TYPE, type)                                \
	X(CUBLASLT_MATRIX_LAYOUT_ORDER, order)                              \
	X(CUBLASLT_MATRIX_LAYOUT_ROWS, rows)                                \
	X(CUBLASLT_MATRIX_LAYOUT_COLS, cols)                                \
	X(CUBLASLT_MATRIX_LAYOUT_LD, ld)                                    \
	X(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, batch_count)                  \
	X(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, batch_offset)        \
	X(CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET, plane_offset)                \
	X(CUBLASLT_MATRIX_LAYOUT_BATCH_MODE, batch_mode)

#define XMIG_LT_PREF_ATTRS(X)                                               \
	X(CUBLASLT_MATMUL_PREF_SEARCH_MODE, search_mode)                    \
	X(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, max_workspace_bytes)    \
	X(CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, reduction_scheme_mask) \
	X(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, min_alignment_a)      \
	X(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, min_alignment_b)      \
	X(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, min_alignment_c)      \
	X(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, min_alignment_d)      \
	X(CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT, max_waves_count)            \
	X(CUBLASLT_MATMUL_PREF_IMPL_MASK, impl_mask)

#define XMIG_LT_DESC_FIELD(a, f) XMIG_LT_FIELD(struct xmig_lt_desc, a, f)
#define XMIG_LT_LAYOUT_FIELD(a, f) XMIG_LT_FIELD(struct xmig_lt_layout, a, f)
#define XMIG_LT_PREF_FIELD(a, f) XMIG_LT_FIELD(struct xmig_lt_pref, a, f)

#define XMIG_LT_TABLE static const struct xmig_lt_attr __attribute__((unused))

XMIG_LT_TABLE xmig_lt_desc_attrs[] = { XMIG_LT_DESC_ATTRS(XMIG_LT_DESC_FIELD) };
XMIG_LT_TABLE xmig_lt_layout_attrs[] = { XMIG_LT_LAYOUT_ATTRS(XMIG_LT_LAYOUT_FIELD) };
XMIG_LT_TABLE xmig_lt_pref_attrs[] = { XMIG_LT_PREF_ATTRS(XMIG_LT_PREF_FIELD) };

#define XMIG_LT_NATTRS(table) (sizeof(table) / sizeof((table)[0]))

/* The table entry of attr, or NULL for one the table does not have. */
static inline const struct xmig_lt_attr *xmig_lt_attr_find(const struct xmig_lt_attr *t,
							    size_t n, int attr)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].attr == attr)
			return &t[i];
	return NULL;
}

/* Fresh records, as cublasLt*Create makes them (defaults from cublasLt.h). */
static inline void xmig_lt_desc_init(struct xmig_lt_desc *d, int32_t compute, int32_t scale)
{
	memset(d, 0, sizeof(*d));
	d->compute_type = compute;
	d->scale_type = scale;
	d->pointer_mode = CUBLASLT_POINTER_MODE_HOST;
	d->transa = d->transb = d->transc = CUBLAS_OP_N;
	d->fill_mode = CUBLAS_FILL_MODE_FULL;
	d->epilogue = CUBLASLT_EPILOGUE_DEFAULT;
	d->aux_data_type = -1;
	d->bias_data_type = -1;
}

static inline void xmig_lt_layout_init(struct xmig_lt_layout *l, uint32_t type, uint64_t rows,
				       uint64_t cols, int64_t ld)
{
	memset(l, 0, sizeof(*l));
	l->type = type;
	l->order = CUBLASLT_ORDER_COL;
	l->rows = rows;
	l->cols = cols;
	l->ld = ld;
	l->batch_count = 1;
}

static inline void xmig_lt_pref_init(struct xmig_lt_pref *p)
{
	memset(p, 0, sizeof(*p));
	p->search_mode = CUBLASLT_SEARCH_BEST_FIT;
	p->reduction_scheme_mask = CUBLASLT_REDUCTION_SCHEME_MASK;
	p->min_alignment_a = p->min_alignment_b = p->min_alignment_c = p->min_alignment_d = 256;
	p->impl_mask = ~0ull;
}

/* Does attribute a hold different bytes in records x and y? */
static inline bool xmig_lt_attr_differs(const struct xmig_lt_attr *a, const void *x, const void *y)
{
	return memcmp((const char *)x + a->offset, (const char *)y + a->offset, a->size) != 0;
}

#endif
