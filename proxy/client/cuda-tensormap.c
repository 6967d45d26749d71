/*
 * cuda-tensormap.c - TMA descriptors (cuTensorMapEncodeTiled, Im2col), as
 * Triton and cuBLASLt-style kernels build them on the host.
 *
 * Encoding is host work, but its result is the driver's private format, so
 * the proxy's driver encodes it and the 128 bytes come back: nothing in the
 * application process touches the real driver. The descriptor holds the
 * global address (kept by every move) and the shape, so it stays valid on
 * the next GPU, which a move requires to be of the same compute capability.
 */
#define _GNU_SOURCE
#include <string.h>

#include "cu-facade.h"

_Static_assert(sizeof(CUtensorMap) == sizeof(((struct xmig_tensor_map_res *)0)->map),
	       "a CUtensorMap travels as 128 bytes");

static CUresult encode(CUtensorMap *map, const struct xmig_tensor_map_req *req)
{
	struct xmig_tensor_map_req *a;
	struct xmig_tensor_map_res *r;
	cudaError_t e;

	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_TENSOR_MAP, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	*a = *req;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return xmig_cu_result(e);
	memcpy(map, r->map, sizeof(*map));
	return CUDA_SUCCESS;
}

/* The parts both encoders share; false if the arrays cannot be read. */
static bool common(struct xmig_tensor_map_req *q, CUtensorMap *map, CUtensorMapDataType dtype,
		   cuuint32_t rank, void *address, const cuuint64_t *dims, const cuuint64_t *strides,
		   const cuuint32_t *element_strides, CUtensorMapInterleave interleave,
		   CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2, CUtensorMapFloatOOBfill oob)
{
	memset(q, 0, sizeof(*q));
	if (!map || !dims || !element_strides || rank < 1 || rank > 5 || (rank > 1 && !strides))
		return false;
	q->dtype = dtype;
	q->rank = rank;
	q->address = (uint64_t)(uintptr_t)address;
	q->interleave = interleave;
	q->swizzle = swizzle;
	q->l2_promotion = l2;
	q->oob_fill = oob;
	memcpy(q->dims, dims, rank * sizeof(*dims));
	memcpy(q->strides, strides, (rank - 1) * sizeof(*strides));
	memcpy(q->element_strides, element_strides, rank * sizeof(*element_strides));
	return true;
}

API CUresult cuTensorMapEncodeTiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
				    cuuint32_t tensorRank, void *globalAddress,
				    const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
				    const cuuint32_t *boxDim, const cuuint32_t *elementStrides,
				    CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
				    CUtensorMapL2promotion l2Promotion,
				    CUtensorMapFloatOOBfill oobFill)
{
	struct xmig_tensor_map_req q;

	if (!common(&q, tensorMap, tensorDataType, tensorRank, globalAddress, globalDim,
		    globalStrides, elementStrides, interleave, swizzle, l2Promotion, oobFill) ||
	    !boxDim)
		return CUDA_ERROR_INVALID_VALUE;
	q.kind = XMIG_TENSOR_MAP_TILED;
	memcpy(q.box, boxDim, tensorRank * sizeof(*boxDim));
	return encode(tensorMap, &q);
}

API CUresult cuTensorMapEncodeIm2col(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
				     cuuint32_t tensorRank, void *globalAddress,
				     const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
				     const int *pixelBoxLowerCorner,
				     const int *pixelBoxUpperCorner, cuuint32_t channelsPerPixel,
				     cuuint32_t pixelsPerColumn, const cuuint32_t *elementStrides,
				     CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
				     CUtensorMapL2promotion l2Promotion,
				     CUtensorMapFloatOOBfill oobFill)
{
	struct xmig_tensor_map_req q;

	if (!common(&q, tensorMap, tensorDataType, tensorRank, globalAddress, globalDim,
		    globalStrides, elementStrides, interleave, swizzle, l2Promotion, oobFill) ||
	    tensorRank < 3 || !pixelBoxLowerCorner || !pixelBoxUpperCorner)
		return CUDA_ERROR_INVALID_VALUE;
	q.kind = XMIG_TENSOR_MAP_IM2COL;
	/* One corner coordinate per spatial dimension: rank minus channels and batch. */
	memcpy(q.lower, pixelBoxLowerCorner, (tensorRank - 2) * sizeof(*q.lower));
	memcpy(q.upper, pixelBoxUpperCorner, (tensorRank - 2) * sizeof(*q.upper));
	q.channels_per_pixel = channelsPerPixel;
	q.pixels_per_column = pixelsPerColumn;
	return encode(tensorMap, &q);
}
