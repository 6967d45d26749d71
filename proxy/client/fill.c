/*
 * fill.c - fills of rows (cudaMemset2D, cuMemsetD2D8/16/32), posted for
 * both facades: asynchronous for device memory, as cudaMemset is.
 */
#include "client.h"

cudaError_t xmig_cl_fill_rows(struct xmig_thread *t, const void *dst, size_t pitch,
			      uint32_t value, unsigned elem, size_t width, size_t height,
			      uint64_t stream)
{
	struct xmig_memset2d_req *a;

	if (width == 0 || height == 0)
		return cudaSuccess;
	if (xmig_cl_classify(dst) != XMIG_MEM_DEVICE || (uintptr_t)dst % elem)
		return cudaErrorInvalidValue;
	if (height > 1 && pitch < width * elem)
		return cudaErrorInvalidPitchValue;
	if (!(a = xmig_cl_begin(t, XMIG_OP_MEMSET_2D, sizeof(*a))))
		return xmig_cl_lost();
	*a = (struct xmig_memset2d_req){ (uint64_t)(uintptr_t)dst, pitch, width, height, stream,
					 value, elem };
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}
