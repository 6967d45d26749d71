/*
 * cuda-memory.c - the driver API's memory, copies, fills, streams, events
 * and pointer queries, answered by the runtime facade (the same handles and
 * the same proxy operations) or, where the runtime has no counterpart, by
 * the proxy directly (16/32-bit fills, address ranges).
 */
#define _GNU_SOURCE
#include <string.h>

#include <cuda_runtime_api.h>

#include "cu-facade.h"

#define R(call) return xmig_cu_result(call)

/* The runtime facade's per-thread-stream entry points (cuda_runtime_api.h
 * declares them only under its own macros). */
extern __typeof__(cudaMemcpy) cudaMemcpy_ptds;
extern __typeof__(cudaMemcpyAsync) cudaMemcpyAsync_ptsz;
extern __typeof__(cudaMemset) cudaMemset_ptds;
extern __typeof__(cudaLaunchHostFunc) cudaLaunchHostFunc_ptsz;
extern __typeof__(cudaMemcpy2D) cudaMemcpy2D_ptds;
extern __typeof__(cudaMemcpy2DAsync) cudaMemcpy2DAsync_ptsz;
extern __typeof__(cudaMemcpy3D) cudaMemcpy3D_ptds;
extern __typeof__(cudaMemcpy3DAsync) cudaMemcpy3DAsync_ptsz;
extern __typeof__(cudaStreamAddCallback) cudaStreamAddCallback_ptsz;
extern __typeof__(cudaMemsetAsync) cudaMemsetAsync_ptsz;
extern __typeof__(cudaStreamSynchronize) cudaStreamSynchronize_ptsz;
extern __typeof__(cudaStreamQuery) cudaStreamQuery_ptsz;
extern __typeof__(cudaStreamWaitEvent) cudaStreamWaitEvent_ptsz;
extern __typeof__(cudaEventRecord) cudaEventRecord_ptsz;

/* ---- memory ----------------------------------------------------------------- */

API CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	void *p;
	cudaError_t e;

	if (!dptr || !bytesize)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaMalloc(&p, bytesize)))
		R(e);
	*dptr = (CUdeviceptr)p;
	return CUDA_SUCCESS;
}

API CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	R(cudaFree((void *)dptr));
}

API CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	R(cudaMemGetInfo(free, total));
}

API CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	R(cudaMallocHost(pp, bytesize));
}

/* CU_MEMHOSTALLOC_* and cudaHostAlloc* flags are the same bits. */
API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
	R(cudaHostAlloc(pp, bytesize, Flags));
}

API CUresult cuMemFreeHost(void *p)
{
	R(cudaFreeHost(p));
}

/* CU_MEMHOSTREGISTER_* and cudaHostRegister* flags are the same bits. */
API CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	R(xmig_cl_host_register(p, bytesize, Flags, false));
}

#undef cuMemHostRegister
API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
	R(xmig_cl_host_register(p, bytesize, Flags, false));
}

API CUresult cuMemHostUnregister(void *p)
{
	R(xmig_cl_host_unregister(p, false));
}

API CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
	void *d;
	cudaError_t e;

	if (!pdptr)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaHostGetDevicePointer(&d, p, Flags)))
		R(e);
	*pdptr = (CUdeviceptr)d;
	return CUDA_SUCCESS;
}

API CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
	R(cudaHostGetFlags(pFlags, p));
}

static CUresult range_of(CUdeviceptr dptr, CUdeviceptr *base, size_t *size)
{
	struct xmig_mem_range_req *a;
	struct xmig_mem_range_res *r;
	cudaError_t e;

	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_MEM_RANGE, sizeof(*a))))
		R(xmig_cl_lost());
	a->addr = dptr;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return e == cudaErrorInvalidValue ? CUDA_ERROR_NOT_FOUND : xmig_cu_result(e);
	if (base)
		*base = (CUdeviceptr)r->base;
	if (size)
		*size = r->size;
	return CUDA_SUCCESS;
}

API CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	return range_of(dptr, pbase, psize);
}

/*
 * ---- stream-ordered allocation and the device's pool (cudart-mempool.c) ----
 * CUmemoryPool is cudaMemPool_t, CUmemPool_attribute numbers as
 * cudaMemPoolAttr, and CUmemLocation, CUmemAccessDesc and the allocation
 * and access enums are laid out as the runtime's.
 */
extern __typeof__(cudaMallocAsync) cudaMallocAsync_ptsz;
extern __typeof__(cudaFreeAsync) cudaFreeAsync_ptsz;
extern __typeof__(cudaMallocFromPoolAsync) cudaMallocFromPoolAsync_ptsz;

_Static_assert(sizeof(CUmemLocation) == sizeof(struct cudaMemLocation) &&
		       sizeof(CUmemAccessDesc) == sizeof(struct cudaMemAccessDesc),
	       "the driver's and the runtime's pool structs are alike");

static CUresult alloc_async(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream s,
			    int per_thread)
{
	void *p = NULL;
	cudaError_t e;

	if (!dptr || !bytesize)
		return CUDA_ERROR_INVALID_VALUE;
	if (pool)
		e = per_thread ? cudaMallocFromPoolAsync_ptsz(&p, bytesize, (cudaMemPool_t)pool,
							      (cudaStream_t)s)
			       : cudaMallocFromPoolAsync(&p, bytesize, (cudaMemPool_t)pool,
							 (cudaStream_t)s);
	else
		e = per_thread ? cudaMallocAsync_ptsz(&p, bytesize, (cudaStream_t)s)
			       : cudaMallocAsync(&p, bytesize, (cudaStream_t)s);
	if (e)
		R(e);
	*dptr = (CUdeviceptr)p;
	return CUDA_SUCCESS;
}

API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, hStream, 0);
}

API CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, hStream, 1);
}

API CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
				     CUstream hStream)
{
	return pool ? alloc_async(dptr, bytesize, pool, hStream, 0) : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
					  CUstream hStream)
{
	return pool ? alloc_async(dptr, bytesize, pool, hStream, 1) : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	R(cudaFreeAsync((void *)dptr, (cudaStream_t)hStream));
}

API CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	R(cudaFreeAsync_ptsz((void *)dptr, (cudaStream_t)hStream));
}

API CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
	R(cudaDeviceGetDefaultMemPool((cudaMemPool_t *)pool_out, dev));
}

API CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	R(cudaDeviceGetMemPool((cudaMemPool_t *)pool, dev));
}

API CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
	R(cudaDeviceSetMemPool(dev, (cudaMemPool_t)pool));
}

API CUresult cuMemGetDefaultMemPool(CUmemoryPool *pool_out, CUmemLocation *location,
				    CUmemAllocationType type)
{
	R(cudaMemGetDefaultMemPool((cudaMemPool_t *)pool_out, (struct cudaMemLocation *)location,
				   (enum cudaMemAllocationType)type));
}

API CUresult cuMemGetMemPool(CUmemoryPool *pool, CUmemLocation *location, CUmemAllocationType type)
{
	R(cudaMemGetMemPool((cudaMemPool_t *)pool, (struct cudaMemLocation *)location,
			    (enum cudaMemAllocationType)type));
}

API CUresult cuMemSetMemPool(CUmemLocation *location, CUmemAllocationType type, CUmemoryPool pool)
{
	R(cudaMemSetMemPool((struct cudaMemLocation *)location, (enum cudaMemAllocationType)type,
			    (cudaMemPool_t)pool));
}

API CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	R(cudaMemPoolSetAttribute((cudaMemPool_t)pool, (enum cudaMemPoolAttr)attr, value));
}

API CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	R(cudaMemPoolGetAttribute((cudaMemPool_t)pool, (enum cudaMemPoolAttr)attr, value));
}

API CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	R(cudaMemPoolTrimTo((cudaMemPool_t)pool, minBytesToKeep));
}

API CUresult cuMemPoolGetAccess(CUmemAccess_flags *flags, CUmemoryPool memPool,
				CUmemLocation *location)
{
	R(cudaMemPoolGetAccess((enum cudaMemAccessFlags *)flags, (cudaMemPool_t)memPool,
			       (struct cudaMemLocation *)location));
}

API CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count)
{
	R(cudaMemPoolSetAccess((cudaMemPool_t)pool, (const struct cudaMemAccessDesc *)map, count));
}

/* ---- copies (cudaMemcpy finds each side's kind by itself) --------------------- */

API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	R(cudaMemcpy((void *)dst, (const void *)src, n, cudaMemcpyDefault));
}

API CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	R(cudaMemcpy_ptds((void *)dst, (const void *)src, n, cudaMemcpyDefault));
}

API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	R(cudaMemcpyAsync((void *)dst, (const void *)src, n, cudaMemcpyDefault, (cudaStream_t)s));
}

API CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	R(cudaMemcpyAsync_ptsz((void *)dst, (const void *)src, n, cudaMemcpyDefault,
			       (cudaStream_t)s));
}

/* One definition per direction and flavour: plain, _ptds, Async, Async _ptsz. */
#define COPIES(NAME, DST_T, SRC_T)                                                          \
	API CUresult cuMemcpy##NAME##_v2(DST_T dst, SRC_T src, size_t n)                    \
	{                                                                                   \
		R(cudaMemcpy((void *)dst, (const void *)src, n, cudaMemcpyDefault));        \
	}                                                                                   \
	API CUresult cuMemcpy##NAME##_v2_ptds(DST_T dst, SRC_T src, size_t n)               \
	{                                                                                   \
		R(cudaMemcpy_ptds((void *)dst, (const void *)src, n, cudaMemcpyDefault));   \
	}                                                                                   \
	API CUresult cuMemcpy##NAME##Async_v2(DST_T dst, SRC_T src, size_t n, CUstream s)   \
	{                                                                                   \
		R(cudaMemcpyAsync((void *)dst, (const void *)src, n, cudaMemcpyDefault,     \
				  (cudaStream_t)s));                                        \
	}                                                                                   \
	API CUresult cuMemcpy##NAME##Async_v2_ptsz(DST_T dst, SRC_T src, size_t n,          \
						   CUstream s)                              \
	{                                                                                   \
		R(cudaMemcpyAsync_ptsz((void *)dst, (const void *)src, n, cudaMemcpyDefault, \
				       (cudaStream_t)s));                                   \
	}
COPIES(HtoD, CUdeviceptr, const void *)
COPIES(DtoH, void *, CUdeviceptr)
COPIES(DtoD, CUdeviceptr, CUdeviceptr)
#undef COPIES

/* ---- fills -------------------------------------------------------------------- */

API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char uc, size_t n)
{
	R(cudaMemset((void *)dst, uc, n));
}

API CUresult cuMemsetD8_v2_ptds(CUdeviceptr dst, unsigned char uc, size_t n)
{
	R(cudaMemset_ptds((void *)dst, uc, n));
}

API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char uc, size_t n, CUstream s)
{
	R(cudaMemsetAsync((void *)dst, uc, n, (cudaStream_t)s));
}

API CUresult cuMemsetD8Async_ptsz(CUdeviceptr dst, unsigned char uc, size_t n, CUstream s)
{
	R(cudaMemsetAsync_ptsz((void *)dst, uc, n, (cudaStream_t)s));
}

/* ---- rows (2D) ------------------------------------------------------------- */

/* As cudaMallocPitch, for elements of 4, 8 or 16 bytes. */
API CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
				size_t Height, unsigned int ElementSizeBytes)
{
	void *p;
	cudaError_t e;

	if (!dptr || !pPitch || !WidthInBytes || !Height ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaMallocPitch(&p, pPitch, WidthInBytes, Height)))
		R(e);
	*dptr = (CUdeviceptr)p;
	return CUDA_SUCCESS;
}

/* The first byte of a CUDA_MEMCPY2D's side; CUDA arrays are not served. */
static CUresult side_start(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x,
			   size_t y, size_t pitch, const void **p)
{
	const char *base;

	switch (type) {
	case CU_MEMORYTYPE_HOST:
		base = host;
		break;
	case CU_MEMORYTYPE_DEVICE:
	case CU_MEMORYTYPE_UNIFIED:
		base = (const char *)dev;
		break;
	case CU_MEMORYTYPE_ARRAY:
		xmig_cl_unsupported("CUDA arrays (cuMemcpy2D to or from a CUarray)");
		return CUDA_ERROR_NOT_SUPPORTED;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	*p = base + y * pitch + x;
	return CUDA_SUCCESS;
}

/* cuMemcpy2D and its kin as cudaMemcpy2D (one row: its pitches unused, as the driver's). */
static CUresult copy_2d(const CUDA_MEMCPY2D *c, CUstream s, int per_thread, bool async)
{
	const void *src, *dst;
	size_t sp, dp;
	CUresult r;

	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = side_start(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcXInBytes, c->srcY,
			    c->srcPitch, &src)) ||
	    (r = side_start(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstXInBytes, c->dstY,
			    c->dstPitch, &dst)))
		return r;
	sp = c->Height == 1 ? c->WidthInBytes : c->srcPitch;
	dp = c->Height == 1 ? c->WidthInBytes : c->dstPitch;
	if (async)
		R((per_thread ? cudaMemcpy2DAsync_ptsz : cudaMemcpy2DAsync)(
			(void *)dst, dp, src, sp, c->WidthInBytes, c->Height, cudaMemcpyDefault,
			(cudaStream_t)s));
	R((per_thread ? cudaMemcpy2D_ptds : cudaMemcpy2D)((void *)dst, dp, src, sp, c->WidthInBytes,
							  c->Height, cudaMemcpyDefault));
}

API CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy)
{
	return copy_2d(pCopy, NULL, 0, false);
}

API CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
	return copy_2d(pCopy, NULL, 1, false);
}

/* (alignment is the copy engine's concern: the proxy's driver copies either way) */
API CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy)
{
	return copy_2d(pCopy, NULL, 0, false);
}

API CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
	return copy_2d(pCopy, NULL, 1, false);
}

API CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
	return copy_2d(pCopy, hStream, 0, true);
}

API CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
	return copy_2d(pCopy, hStream, 1, true);
}

/* A side of a CUDA_MEMCPY3D as the runtime's pitched pointer and position. */
static CUresult volume_side(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x,
			    size_t y, size_t z, size_t pitch, size_t height,
			    struct cudaPitchedPtr *p, struct cudaPos *pos)
{
	const void *base;
	CUresult r = side_start(type, host, dev, 0, 0, 0, &base);

	if (r)
		return r;
	*p = (struct cudaPitchedPtr){ (void *)base, pitch, 0, height };
	*pos = (struct cudaPos){ x, y, z };
	return CUDA_SUCCESS;
}

/* cuMemcpy3D's settings as cudaMemcpy3D's (one slice: its height unused, as the driver's). */
CUresult xmig_cu_copy3d_params(const CUDA_MEMCPY3D *c, struct cudaMemcpy3DParms *p)
{
	CUresult r;

	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	*p = (struct cudaMemcpy3DParms){ 0 };
	if ((r = volume_side(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcXInBytes, c->srcY,
			     c->srcZ, c->srcPitch, c->Depth == 1 ? c->Height : c->srcHeight,
			     &p->srcPtr, &p->srcPos)) ||
	    (r = volume_side(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstXInBytes, c->dstY,
			     c->dstZ, c->dstPitch, c->Depth == 1 ? c->Height : c->dstHeight,
			     &p->dstPtr, &p->dstPos)))
		return r;
	p->extent = (struct cudaExtent){ c->WidthInBytes, c->Height, c->Depth };
	p->kind = cudaMemcpyDefault;
	return CUDA_SUCCESS;
}

/* cuMemcpy3D and its kin as cudaMemcpy3D. */
static CUresult copy_3d(const CUDA_MEMCPY3D *c, CUstream s, int per_thread, bool async)
{
	struct cudaMemcpy3DParms p;
	CUresult r;

	if ((r = xmig_cu_copy3d_params(c, &p)))
		return r;
	if (async)
		R((per_thread ? cudaMemcpy3DAsync_ptsz : cudaMemcpy3DAsync)(&p, (cudaStream_t)s));
	R((per_thread ? cudaMemcpy3D_ptds : cudaMemcpy3D)(&p));
}

API CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy)
{
	return copy_3d(pCopy, NULL, 0, false);
}

API CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy)
{
	return copy_3d(pCopy, NULL, 1, false);
}

API CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
	return copy_3d(pCopy, hStream, 0, true);
}

API CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
	return copy_3d(pCopy, hStream, 1, true);
}

static CUresult fill_rows(CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem,
			  size_t width, size_t height, CUstream s, int per_thread)
{
	CU_ENTER(t);
	R(xmig_cl_fill_rows(t, (const void *)dst, pitch, value, elem, width, height,
			    xmig_cl_stream_id((cudaStream_t)s, per_thread)));
}

#define FILL_ROWS(bits, type, elem)                                                              \
	API CUresult cuMemsetD2D##bits##_v2(CUdeviceptr d, size_t pitch, type v, size_t w,      \
					    size_t h)                                            \
	{                                                                                        \
		return fill_rows(d, pitch, v, elem, w, h, NULL, 0);                              \
	}                                                                                        \
	API CUresult cuMemsetD2D##bits##_v2_ptds(CUdeviceptr d, size_t pitch, type v, size_t w, \
						 size_t h)                                       \
	{                                                                                        \
		return fill_rows(d, pitch, v, elem, w, h, NULL, 1);                              \
	}                                                                                        \
	API CUresult cuMemsetD2D##bits##Async(CUdeviceptr d, size_t pitch, type v, size_t w,    \
					      size_t h, CUstream s)                              \
	{                                                                                        \
		return fill_rows(d, pitch, v, elem, w, h, s, 0);                                 \
	}                                                                                        \
	API CUresult cuMemsetD2D##bits##Async_ptsz(CUdeviceptr d, size_t pitch, type v, size_t w, \
						   size_t h, CUstream s)                         \
	{                                                                                        \
		return fill_rows(d, pitch, v, elem, w, h, s, 1);                                 \
	}

FILL_ROWS(8, unsigned char, 1)
FILL_ROWS(16, unsigned short, 2)
FILL_ROWS(32, unsigned int, 4)

/* Posted like cudaMemset: asynchronous for device memory, as the driver's are. */
static CUresult fill_wide(CUdeviceptr dst, uint32_t value, unsigned width, size_t n, CUstream s,
			  int per_thread)
{
	struct xmig_memset_wide_req *a;

	CU_ENTER(t);
	if (!n)
		return CUDA_SUCCESS;
	if (dst % width || xmig_cl_classify((const void *)dst) != XMIG_MEM_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(a = xmig_cl_begin(t, XMIG_OP_MEMSET_WIDE, sizeof(*a))))
		R(xmig_cl_lost());
	a->dst = dst;
	a->count = n;
	a->value = value;
	a->width = width;
	a->stream = xmig_cl_stream_id((cudaStream_t)s, per_thread);
	R(xmig_cl_end(t, XMIG_CALL_ASYNC, NULL));
}

API CUresult cuMemsetD16_v2(CUdeviceptr dst, unsigned short us, size_t n)
{
	return fill_wide(dst, us, 2, n, NULL, 0);
}

API CUresult cuMemsetD16_v2_ptds(CUdeviceptr dst, unsigned short us, size_t n)
{
	return fill_wide(dst, us, 2, n, NULL, 1);
}

API CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short us, size_t n, CUstream s)
{
	return fill_wide(dst, us, 2, n, s, 0);
}

API CUresult cuMemsetD16Async_ptsz(CUdeviceptr dst, unsigned short us, size_t n, CUstream s)
{
	return fill_wide(dst, us, 2, n, s, 1);
}

API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int ui, size_t n)
{
	return fill_wide(dst, ui, 4, n, NULL, 0);
}

API CUresult cuMemsetD32_v2_ptds(CUdeviceptr dst, unsigned int ui, size_t n)
{
	return fill_wide(dst, ui, 4, n, NULL, 1);
}

API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s)
{
	return fill_wide(dst, ui, 4, n, s, 0);
}

API CUresult cuMemsetD32Async_ptsz(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s)
{
	return fill_wide(dst, ui, 4, n, s, 1);
}

/* ---- pointers ------------------------------------------------------------------- */

/*
 * One attribute of ptr. With strict set (cuPointerGetAttribute) memory CUDA
 * does not know is an invalid value, as Triton expects of a CPU tensor;
 * cuPointerGetAttributes fills such attributes with zeros instead.
 */
static CUresult pointer_attribute(void *data, CUpointer_attribute attr, CUdeviceptr ptr,
				  bool strict)
{
	enum xmig_mem_class cls = xmig_cl_classify((const void *)ptr);
	bool known = cls != XMIG_MEM_HOST;

	switch (attr) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = known ? xmig_cu_primary() : NULL;
		break;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned *)data = cls == XMIG_MEM_DEVICE ? CU_MEMORYTYPE_DEVICE
				    : known ? CU_MEMORYTYPE_HOST : 0;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
		/* Unified addressing: pinned memory is seen at its host address. */
		*(CUdeviceptr *)data = known ? ptr : 0;
		break;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		if (cls == XMIG_MEM_DEVICE && strict)
			return CUDA_ERROR_INVALID_VALUE;
		*(void **)data = cls == XMIG_MEM_PINNED ? (void *)ptr : NULL;
		break;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_MAPPED:
		*(int *)data = attr == CU_POINTER_ATTRIBUTE_MAPPED && known;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = known ? 0 : -2;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE: {
		CUdeviceptr base = 0;
		size_t size = 0;
		void *hbase;

		if (cls == XMIG_MEM_PINNED && xmig_cl_host_lookup((const void *)ptr, &hbase, &size, NULL))
			base = (CUdeviceptr)hbase;
		else if (cls == XMIG_MEM_DEVICE && range_of(ptr, &base, &size))
			return CUDA_ERROR_INVALID_VALUE;
		if (attr == CU_POINTER_ATTRIBUTE_RANGE_START_ADDR)
			*(CUdeviceptr *)data = base;
		else
			*(size_t *)data = size;
		break;
	}
	default:
		xmig_cl_unsupported("cuPointerGetAttribute of this attribute");
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	return strict && !known ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
	CU_ENTER(t);
	(void)t;
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	return pointer_attribute(data, attribute, ptr, true);
}

API CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes,
				    void **data, CUdeviceptr ptr)
{
	CUresult r;

	CU_ENTER(t);
	(void)t;
	if (!attributes || !data)
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < numAttributes; i++)
		if (data[i] && (r = pointer_attribute(data[i], attributes[i], ptr, false)))
			return r;
	return CUDA_SUCCESS;
}

/* ---- streams and events (the runtime's handles; flags share their bits) ------------ */

API CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	R(cudaStreamCreateWithFlags((cudaStream_t *)phStream, Flags));
}

API CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
	R(cudaStreamCreateWithPriority((cudaStream_t *)phStream, flags, priority));
}

API CUresult cuStreamDestroy_v2(CUstream hStream)
{
	R(cudaStreamDestroy((cudaStream_t)hStream));
}

API CUresult cuStreamSynchronize(CUstream hStream)
{
	R(cudaStreamSynchronize((cudaStream_t)hStream));
}

API CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
	R(cudaStreamSynchronize_ptsz((cudaStream_t)hStream));
}

API CUresult cuStreamQuery(CUstream hStream)
{
	R(cudaStreamQuery((cudaStream_t)hStream));
}

API CUresult cuStreamQuery_ptsz(CUstream hStream)
{
	R(cudaStreamQuery_ptsz((cudaStream_t)hStream));
}

API CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	R(cudaStreamWaitEvent((cudaStream_t)hStream, (cudaEvent_t)hEvent, Flags));
}

API CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	R(cudaStreamWaitEvent_ptsz((cudaStream_t)hStream, (cudaEvent_t)hEvent, Flags));
}

/*
 * Host functions. A CUstreamCallback is called as a cudaStreamCallback_t
 * is, with the stream the application gave and a success status (0 in
 * both APIs).
 */
API CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
	R(cudaLaunchHostFunc((cudaStream_t)hStream, fn, userData));
}

API CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
	R(cudaLaunchHostFunc_ptsz((cudaStream_t)hStream, fn, userData));
}

API CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
				 unsigned int Flags)
{
	R(cudaStreamAddCallback((cudaStream_t)hStream, (cudaStreamCallback_t)(void *)callback,
				userData, Flags));
}

API CUresult cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback,
				      void *userData, unsigned int Flags)
{
	R(cudaStreamAddCallback_ptsz((cudaStream_t)hStream,
				     (cudaStreamCallback_t)(void *)callback, userData, Flags));
}

API CUresult cuStreamGetPriority(CUstream hStream, int *priority)
{
	R(cudaStreamGetPriority((cudaStream_t)hStream, priority));
}

API CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
	R(cudaStreamGetFlags((cudaStream_t)hStream, flags));
}

/* Every stream belongs to the one context. */
API CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
	unsigned flags;
	cudaError_t e;

	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaStreamGetFlags((cudaStream_t)hStream, &flags)))
		R(e);
	*pctx = xmig_cu_primary();
	return CUDA_SUCCESS;
}

API CUresult cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
	CUresult r = pGreenCtx ? cuStreamGetCtx(hStream, pCtx) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*pGreenCtx = NULL;   /* (no green contexts under xmig) */
	return r;
}

API CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
	CUcontext ctx;
	CUresult r = device ? cuStreamGetCtx(hStream, &ctx) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*device = 0;
	return r;
}

API CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	R(cudaEventCreateWithFlags((cudaEvent_t *)phEvent, Flags));
}

API CUresult cuEventDestroy_v2(CUevent hEvent)
{
	R(cudaEventDestroy((cudaEvent_t)hEvent));
}

API CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	R(cudaEventRecord((cudaEvent_t)hEvent, (cudaStream_t)hStream));
}

API CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	R(cudaEventRecord_ptsz((cudaEvent_t)hEvent, (cudaStream_t)hStream));
}

API CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
	R(cudaEventRecordWithFlags((cudaEvent_t)hEvent, (cudaStream_t)hStream, flags));
}

API CUresult cuEventSynchronize(CUevent hEvent)
{
	R(cudaEventSynchronize((cudaEvent_t)hEvent));
}

API CUresult cuEventQuery(CUevent hEvent)
{
	R(cudaEventQuery((cudaEvent_t)hEvent));
}

API CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	R(cudaEventElapsedTime(pMilliseconds, (cudaEvent_t)hStart, (cudaEvent_t)hEnd));
}

#undef cuEventElapsedTime
API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}

/* ---- context limits (CUlimit and cudaLimit number them alike) ---------------------- */

API CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
	R(cudaDeviceGetLimit(pvalue, (enum cudaLimit)limit));
}

API CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	R(cudaDeviceSetLimit((enum cudaLimit)limit, value));
}

API CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	R(cudaDeviceGetStreamPriorityRange(leastPriority, greatestPriority));
}
