/*
 * cuda-device.c - the driver API's devices and contexts, answered through
 * the runtime facade. An application under xmig sees one device (0) with
 * one context, the primary one, held by its proxy; the handle it gets for
 * that context is a token of ours, the same every time, so frameworks that
 * compare or stash contexts (PyTorch does both) keep working across moves.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "cu-facade.h"

static char primary_token;
#define PRIMARY ((CUcontext)(void *)&primary_token)
/*
 * This thread's context stack, all of it the primary context: its depth
 * less one, so a thread starts with the primary current (the runtime makes
 * it so, and frameworks rely on it); -1 once popped or unset.
 */
static __thread int stack_below;
#define STACK_DEPTH (stack_below + 1)
#define STACK_MAX 64   /* pushes beyond: refused (the driver's is bounded too) */

/*
 * The runtime's errors in the driver's words. The proxy passes the driver's
 * own CUresult through, so most values are the driver's already; these are
 * the runtime's numbers that mean something else there.
 */
CUresult xmig_cu_result(cudaError_t e)
{
	switch (e) {
	case cudaErrorInvalidConfiguration: return CUDA_ERROR_INVALID_VALUE;
	case cudaErrorInvalidSymbol: return CUDA_ERROR_NOT_FOUND;
	case cudaErrorInvalidDeviceFunction: return CUDA_ERROR_INVALID_HANDLE;
	case cudaErrorMissingConfiguration: return CUDA_ERROR_INVALID_VALUE;
	case cudaErrorInvalidPitchValue: return CUDA_ERROR_INVALID_VALUE;
	default: return (CUresult)e;
	}
}

#define cu xmig_cu_result

CUcontext xmig_cu_primary(void)
{
	return PRIMARY;
}

static CUresult device_ok(CUdevice dev)
{
	struct xmig_thread *t;

	if (xmig_cl_enter(&t))
		return CUDA_ERROR_NOT_INITIALIZED;
	return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

API CUresult cuDeviceGetCount(int *count)
{
	return count ? cu(cudaGetDeviceCount(count)) : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	CUresult r = device ? device_ok(ordinal) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*device = 0;
	return r;
}

/* CUdevice_attribute and cudaDeviceAttr number the attributes alike. */
API CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	CUresult r = pi ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	return r ? r : cu(cudaDeviceGetAttribute(pi, (enum cudaDeviceAttr)attrib, 0));
}

API CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	struct cudaDeviceProp p;
	CUresult r = name && len > 0 ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (r || (r = cu(cudaGetDeviceProperties(&p, 0))))
		return r;
	snprintf(name, (size_t)len, "%s", p.name);
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	struct cudaDeviceProp p;
	CUresult r = uuid ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (r || (r = cu(cudaGetDeviceProperties(&p, 0))))
		return r;
	memcpy(uuid->bytes, p.uuid.bytes, sizeof(uuid->bytes));
	return CUDA_SUCCESS;
}

#undef cuDeviceGetUuid
API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	return cuDeviceGetUuid_v2(uuid, dev);
}

API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	struct cudaDeviceProp p;
	CUresult r = bytes ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (r || (r = cu(cudaGetDeviceProperties(&p, 0))))
		return r;
	*bytes = p.totalGlobalMem;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
	CUresult r = major && minor ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		r = cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0);
	if (!r)
		r = cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0);
	return r;
}

/* ---- the primary context -------------------------------------------------- */

/*
 * The proxy makes the context when it starts, and every call here starts
 * the proxy: once a call can answer, the primary context is active.
 */
API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	CUresult r = flags && active ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (r)
		return r;
	if (cudaGetDeviceFlags(flags) == cudaSuccess)
		*flags &= ~(unsigned)cudaDeviceMapHost;
	else
		*flags = 0;
	*active = 1;
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult r = pctx ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*pctx = PRIMARY;
	return r;
}

/* The proxy holds the context for the life of the process: a release keeps it. */
API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return device_ok(dev);
}

API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	CUresult r = device_ok(dev);

	return r ? r : cu(cudaSetDeviceFlags(flags));
}

API CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	struct xmig_thread *t;

	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (xmig_cl_enter(&t))
		return CUDA_ERROR_NOT_INITIALIZED;
	*pctx = STACK_DEPTH ? PRIMARY : NULL;
	return CUDA_SUCCESS;
}

/* The top of the stack replaced; NULL pops it (as the driver documents). */
API CUresult cuCtxSetCurrent(CUcontext ctx)
{
	if (ctx && ctx != PRIMARY)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!ctx && STACK_DEPTH)
		stack_below--;
	else if (ctx && !STACK_DEPTH)
		stack_below++;
	return CUDA_SUCCESS;
}

#undef cuCtxPushCurrent
API CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	if (ctx != PRIMARY)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (STACK_DEPTH >= STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	stack_below++;
	return CUDA_SUCCESS;
}

#undef cuCtxPopCurrent
API CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	if (!STACK_DEPTH)
		return CUDA_ERROR_INVALID_CONTEXT;
	stack_below--;
	if (pctx)
		*pctx = PRIMARY;
	return CUDA_SUCCESS;
}

/* The context a call names: the primary, or the current one for NULL. */
static CUresult named_context(CUcontext ctx)
{
	CUcontext cur;
	CUresult r;

	if (ctx)
		return ctx == PRIMARY ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
	if ((r = cuCtxGetCurrent(&cur)))
		return r;
	return cur ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* 3020: the context of the CUDA 3.2 API and after (the driver's answer for any context made now). */
API CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
	CUresult r = version ? named_context(ctx) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*version = 3020;
	return r;
}

/* As the runtime's cudaGetDeviceFlags: mapped host memory is always on. */
API CUresult cuCtxGetFlags(unsigned int *flags)
{
	CUresult r = flags ? named_context(NULL) : CUDA_ERROR_INVALID_VALUE;

	return r ? r : cu(cudaGetDeviceFlags(flags));
}

/* One context for the life of the process, whichever proxy holds it: one id. */
API CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
	CUresult r = ctxId ? named_context(ctx) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*ctxId = 1;
	return r;
}

API CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
	CUresult r = device ? named_context(ctx) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*device = 0;
	return r;
}

API CUresult cuCtxGetDevice(CUdevice *device)
{
	return cuCtxGetDevice_v2(device, NULL);
}

API CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
	CUresult r = named_context(ctx);

	return r ? r : cu(cudaDeviceSynchronize());
}

API CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
	int d;
	cudaError_t e;

	if (!dev || !pciBusId)
		return CUDA_ERROR_INVALID_VALUE;
	if ((e = cudaDeviceGetByPCIBusId(&d, pciBusId)))
		return cu(e);
	*dev = d;
	return CUDA_SUCCESS;
}

/* Shared memory banks: fixed, four bytes wide (see cudart-legacy.c). */
API CUresult cuCtxSetSharedMemConfig(CUsharedconfig config)
{
	CUresult r = device_ok(0);

	if (r)
		return r;
	return config <= CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE ? CUDA_SUCCESS
								   : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuCtxGetSharedMemConfig(CUsharedconfig *pConfig)
{
	CUresult r = pConfig ? device_ok(0) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		*pConfig = CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE;
	return r;
}

API CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
	CUresult r = pciBusId && len > 0 ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	return r ? r : cu(cudaDeviceGetPCIBusId(pciBusId, len, 0));
}

API CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev)
{
	CUresult r = canAccessPeer ? device_ok(dev) : CUDA_ERROR_INVALID_VALUE;

	if (!r)
		r = device_ok(peerDev);
	return r ? r : cu(cudaDeviceCanAccessPeer(canAccessPeer, 0, 0));
}


API CUresult cuCtxSynchronize(void)
{
	return cu(cudaDeviceSynchronize());
}
