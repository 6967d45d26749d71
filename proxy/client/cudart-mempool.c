/*
 * cudart-mempool.c - stream-ordered allocation (cudaMallocAsync,
 * cudaFreeAsync) and the device's memory pool, as PyTorch's
 * cudaMallocAsync backend, cuda.core and RAPIDS use them.
 *
 * The proxy allocates at once (same-address memory, like cudaMalloc's) and
 * puts a freed allocation into its pool once the stream's work before the
 * free is done; the next allocation of that size takes it, at the same
 * address, and each synchronise trims the pool to the release threshold,
 * as CUDA's pool does (dispatch.c, memory.c). So the device has one pool:
 * its default, whose handle is a token of ours. The counters here are the
 * memory in use; what the pool keeps beyond it is not counted. Other pools
 * (cudaMemPoolCreate), their export and graph memory nodes are not served.
 */
#include <stdatomic.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "../../lib/xmig.h"
#include "cudart-facade.h"

static struct {
	uint32_t magic;
} the_pool = { 0x4d504f4fu };
#define POOL ((cudaMemPool_t)&the_pool)

/* What cudaMemPoolGetAttribute reports (bytes in use now, and the most since a reset). */
static _Atomic uint64_t used, used_high, release_threshold;
static _Atomic int reuse[3] = { 1, 1, 1 };   /* (follow events, opportunistic, internal deps) */

static void count(uint64_t add, uint64_t sub)
{
	uint64_t now = atomic_fetch_add(&used, add) + add, high;

	atomic_fetch_sub(&used, sub);
	for (high = atomic_load(&used_high); now > high;)
		if (atomic_compare_exchange_weak(&used_high, &high, now))
			break;
}

/* From pool (the device's one: any other is not ours) */
static cudaError_t malloc_async(void **devPtr, size_t size, cudaMemPool_t pool, cudaStream_t stream,
				int per_thread)
{
	struct xmig_malloc_async_req *a;
	struct xmig_malloc_res *r;
	cudaError_t e;

	ENTER(t);
	if (!devPtr || pool != POOL)
		RETURN(t, cudaErrorInvalidValue);
	if (!(a = xmig_cl_begin(t, XMIG_OP_MALLOC_ASYNC, sizeof(*a))))
		return xmig_cl_lost();
	a->size = size;
	a->stream = xmig_cl_stream_id(stream, per_thread);
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	*devPtr = e ? NULL : (void *)(uintptr_t)r->addr;
	if (!e)
		count(size, 0);
	RETURN(t, e);
}

static cudaError_t free_async(void *devPtr, cudaStream_t stream, int per_thread)
{
	struct xmig_free_async_req *a;
	struct xmig_free_async_res *r;
	cudaError_t e;

	ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_FREE_ASYNC, sizeof(*a))))
		return xmig_cl_lost();
	a->addr = (uint64_t)(uintptr_t)devPtr;
	a->stream = xmig_cl_stream_id(stream, per_thread);
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	if (!e)
		count(0, r->size);
	RETURN(t, e);
}

API cudaError_t cudaMallocAsync(void **devPtr, size_t size, cudaStream_t hStream)
{
	return malloc_async(devPtr, size, POOL, hStream, 0);
}

API cudaError_t cudaMallocAsync_ptsz(void **devPtr, size_t size, cudaStream_t hStream)
{
	return malloc_async(devPtr, size, POOL, hStream, 1);
}

API cudaError_t cudaFreeAsync(void *devPtr, cudaStream_t hStream)
{
	return free_async(devPtr, hStream, 0);
}

API cudaError_t cudaFreeAsync_ptsz(void *devPtr, cudaStream_t hStream)
{
	return free_async(devPtr, hStream, 1);
}

API cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t memPool,
					cudaStream_t stream)
{
	return malloc_async(ptr, size, memPool, stream, 0);
}

API cudaError_t cudaMallocFromPoolAsync_ptsz(void **ptr, size_t size, cudaMemPool_t memPool,
					     cudaStream_t stream)
{
	return malloc_async(ptr, size, memPool, stream, 1);
}

/* ---- the pool ------------------------------------------------------------- */

/* The proxy's side of the pool: its release threshold, or a trim. */
static cudaError_t pool_op(struct xmig_thread *t, enum xmig_mempool_what what, uint64_t value)
{
	struct xmig_mempool_req *a = xmig_cl_begin(t, XMIG_OP_MEMPOOL, sizeof(*a));

	if (!a)
		return xmig_cl_lost();
	a->what = what;
	a->value = value;
	return xmig_cl_end(t, XMIG_CALL_SYNC, NULL);
}

API cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *memPool, int device)
{
	ENTER(t);
	if (!memPool)
		RETURN(t, cudaErrorInvalidValue);
	if (device != 0)
		RETURN(t, cudaErrorInvalidDevice);
	*memPool = POOL;
	RETURN(t, cudaSuccess);
}

API cudaError_t cudaDeviceGetMemPool(cudaMemPool_t *memPool, int device)
{
	return cudaDeviceGetDefaultMemPool(memPool, device);
}

API cudaError_t cudaDeviceSetMemPool(int device, cudaMemPool_t memPool)
{
	ENTER(t);
	if (device != 0)
		RETURN(t, cudaErrorInvalidDevice);
	RETURN(t, memPool == POOL ? cudaSuccess : cudaErrorInvalidValue);
}

/* CUDA 13's pools by location: the GPU's device memory only. */
static cudaError_t device_location(const struct cudaMemLocation *location,
				   enum cudaMemAllocationType type)
{
	if (!location)
		return cudaErrorInvalidValue;
	if (location->type != cudaMemLocationTypeDevice || type != cudaMemAllocationTypePinned) {
		xmig_error("memory pools of host memory (location type %d) are not supported",
			   (int)location->type);
		return cudaErrorNotSupported;
	}
	return location->id == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

API cudaError_t cudaMemGetDefaultMemPool(cudaMemPool_t *memPool, struct cudaMemLocation *location,
					 enum cudaMemAllocationType type)
{
	cudaError_t e;

	ENTER(t);
	if (!memPool)
		RETURN(t, cudaErrorInvalidValue);
	if ((e = device_location(location, type)))
		RETURN(t, e);
	*memPool = POOL;
	RETURN(t, cudaSuccess);
}

API cudaError_t cudaMemGetMemPool(cudaMemPool_t *memPool, struct cudaMemLocation *location,
				  enum cudaMemAllocationType type)
{
	return cudaMemGetDefaultMemPool(memPool, location, type);
}

API cudaError_t cudaMemSetMemPool(struct cudaMemLocation *location,
				  enum cudaMemAllocationType type, cudaMemPool_t memPool)
{
	cudaError_t e;

	ENTER(t);
	if ((e = device_location(location, type)))
		RETURN(t, e);
	RETURN(t, memPool == POOL ? cudaSuccess : cudaErrorInvalidValue);
}

API cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t memPool, enum cudaMemPoolAttr attr,
					void *value)
{
	ENTER(t);
	if (memPool != POOL || !value)
		RETURN(t, cudaErrorInvalidValue);
	switch (attr) {
	case cudaMemPoolReuseFollowEventDependencies:
	case cudaMemPoolReuseAllowOpportunistic:
	case cudaMemPoolReuseAllowInternalDependencies:
		atomic_store(&reuse[attr - cudaMemPoolReuseFollowEventDependencies], *(int *)value);
		RETURN(t, cudaSuccess);
	case cudaMemPoolAttrReleaseThreshold:
		atomic_store(&release_threshold, *(uint64_t *)value);
		RETURN(t, pool_op(t, XMIG_MEMPOOL_THRESHOLD, *(uint64_t *)value));
	case cudaMemPoolAttrReservedMemHigh:
	case cudaMemPoolAttrUsedMemHigh:
		/* (only a reset to 0, as CUDA's: the high mark becomes what is in use) */
		if (*(uint64_t *)value)
			RETURN(t, cudaErrorInvalidValue);
		atomic_store(&used_high, atomic_load(&used));
		RETURN(t, cudaSuccess);
	default:
		RETURN(t, cudaErrorInvalidValue);
	}
}

API cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t memPool, enum cudaMemPoolAttr attr,
					void *value)
{
	ENTER(t);
	if (memPool != POOL || !value)
		RETURN(t, cudaErrorInvalidValue);
	switch (attr) {
	case cudaMemPoolReuseFollowEventDependencies:
	case cudaMemPoolReuseAllowOpportunistic:
	case cudaMemPoolReuseAllowInternalDependencies:
		*(int *)value = atomic_load(&reuse[attr - cudaMemPoolReuseFollowEventDependencies]);
		break;
	case cudaMemPoolAttrReleaseThreshold:
		*(uint64_t *)value = atomic_load(&release_threshold);
		break;
	case cudaMemPoolAttrReservedMemCurrent:
	case cudaMemPoolAttrUsedMemCurrent:
		*(uint64_t *)value = atomic_load(&used);
		break;
	case cudaMemPoolAttrReservedMemHigh:
	case cudaMemPoolAttrUsedMemHigh:
		*(uint64_t *)value = atomic_load(&used_high);
		break;
	default:
		RETURN(t, cudaErrorInvalidValue);
	}
	RETURN(t, cudaSuccess);
}

API cudaError_t cudaMemPoolTrimTo(cudaMemPool_t memPool, size_t minBytesToKeep)
{
	ENTER(t);
	if (memPool != POOL)
		RETURN(t, cudaErrorInvalidValue);
	RETURN(t, pool_op(t, XMIG_MEMPOOL_TRIM, minBytesToKeep));
}

/* The pool's memory is the one GPU's, read and written there. */
API cudaError_t cudaMemPoolGetAccess(enum cudaMemAccessFlags *flags, cudaMemPool_t memPool,
				     struct cudaMemLocation *location)
{
	ENTER(t);
	if (memPool != POOL || !flags || !location || location->type != cudaMemLocationTypeDevice)
		RETURN(t, cudaErrorInvalidValue);
	if (location->id != 0)
		RETURN(t, cudaErrorInvalidDevice);
	*flags = cudaMemAccessFlagsProtReadWrite;
	RETURN(t, cudaSuccess);
}

API cudaError_t cudaMemPoolSetAccess(cudaMemPool_t memPool,
				     const struct cudaMemAccessDesc *descList, size_t count)
{
	ENTER(t);
	if (memPool != POOL || (count && !descList))
		RETURN(t, cudaErrorInvalidValue);
	for (size_t i = 0; i < count; i++) {
		if (descList[i].location.type != cudaMemLocationTypeDevice)
			RETURN(t, cudaErrorInvalidValue);
		if (descList[i].location.id != 0)
			RETURN(t, cudaErrorInvalidDevice);
		/* (the owning device's own access cannot be changed) */
		if (descList[i].flags != cudaMemAccessFlagsProtReadWrite)
			RETURN(t, cudaErrorInvalidValue);
	}
	RETURN(t, cudaSuccess);
}
