/*
 * cudart.c - the CUDA runtime functions that need more than the generic
 * path of cudart.def: kernel registration and launch, memory and copies,
 * pinned host memory, devices and errors.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "cudart-facade.h"
#include "fatbin.h"
#include "nt-copy.h"

/* ---- registration (called by nvcc's static constructors) ------------------ */

API void **__cudaRegisterFatBinary(void *fatCubin)
{
	return xmig_fatbin_register(fatCubin);
}

API void __cudaRegisterFatBinaryEnd(void **fatCubinHandle)
{
	(void)fatCubinHandle;
}

API void __cudaUnregisterFatBinary(void **fatCubinHandle)
{
	xmig_fatbin_unregister(fatCubinHandle);
}

API void __cudaRegisterFunction(void **fatCubinHandle, const char *hostFun, char *deviceFun,
				const char *deviceName, int thread_limit, uint3 *tid, uint3 *bid,
				dim3 *bDim, dim3 *gDim, int *wSize)
{
	xmig_fatbin_register_function(fatCubinHandle, hostFun, deviceName);
}

API void __cudaRegisterVar(void **fatCubinHandle, char *hostVar, char *deviceAddress,
			   const char *deviceName, int ext, size_t size, int constant, int global)
{
	xmig_fatbin_register_var(fatCubinHandle, hostVar, deviceName, size, constant);
}

API void __cudaRegisterManagedVar(void **fatCubinHandle, void **hostVarPtrAddress,
				  char *deviceAddress, const char *deviceName, int ext, size_t size,
				  int constant, int global)
{
	/* Managed memory cannot follow a job to another GPU or node. */
	xmig_cl_unsupported("__managed__ variables (__cudaRegisterManagedVar)");
}

API char __cudaInitModule(void **fatCubinHandle)
{
	return 1;
}

API unsigned __cudaPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem,
					 struct CUstream_st *stream)
{
	struct xmig_thread *t;

	if (xmig_cl_enter(&t) || t->ncfg >= 8)
		return 1;   /* nonzero: the stub skips the launch */
	t->cfg[t->ncfg++] = (struct xmig_launch_cfg){ gridDim, blockDim, sharedMem, stream };
	return 0;
}

API cudaError_t __cudaPopCallConfiguration(dim3 *gridDim, dim3 *blockDim, size_t *sharedMem,
					   void *stream)
{
	ENTER(t);
	if (t->ncfg == 0)
		RETURN(t, cudaErrorMissingConfiguration);
	t->ncfg--;
	*gridDim = t->cfg[t->ncfg].grid;
	*blockDim = t->cfg[t->ncfg].block;
	*sharedMem = t->cfg[t->ncfg].shmem;
	*(void **)stream = t->cfg[t->ncfg].stream;
	return cudaSuccess;
}

API cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *hostFun)
{
	struct xmig_func *f = xmig_fatbin_function(hostFun);

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	*kernel = (cudaKernel_t)f;
	return cudaSuccess;
}

API cudaError_t cudaGetKernel(cudaKernel_t *kernel, const void *entryFuncAddr)
{
	return __cudaGetKernel(kernel, entryFuncAddr);
}

API cudaError_t cudaGetFuncBySymbol(cudaFunction_t *functionPtr, const void *symbolPtr)
{
	struct xmig_func *f = xmig_fatbin_function(symbolPtr);

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	*functionPtr = (cudaFunction_t)f;
	return cudaSuccess;
}

API cudaError_t cudaFuncGetName(const char **name, const void *func)
{
	struct xmig_func *f = xmig_fatbin_function(func);

	if (!f || !name)
		return cudaErrorInvalidDeviceFunction;
	*name = f->name;
	return cudaSuccess;
}

/* ---- launch ------------------------------------------------------------ */

/* The kernel of func (host stub or cudaKernel_t), its module loaded; the launch's shape checked. */
static cudaError_t kernel_for(struct xmig_thread *t, const void *func, dim3 grid, dim3 block,
			      struct xmig_func **out)
{
	struct xmig_func *f = xmig_fatbin_function(func);
	cudaError_t e;

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if ((e = xmig_fatbin_ready(t, f)))
		return e;
	/*
	 * CUDA rejects these at the call; do the same without a round trip
	 * (CUDA 13 on Hopper: too large is an invalid value).
	 */
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
		return cudaErrorInvalidConfiguration;
	if ((uint64_t)block.x * block.y * block.z > 1024 || block.z > 64 || grid.y > 65535 ||
	    grid.z > 65535)
		return cudaErrorInvalidValue;
	*out = f;
	return cudaSuccess;
}

/* A launch; with launch attributes (cudaLaunchKernelExC, cooperative) where nattrs > 0. */
static cudaError_t launch_with(const void *func, dim3 grid, dim3 block, void **args,
			       size_t shmem, cudaStream_t stream, int per_thread,
			       const struct xmig_launch_attr *attrs, unsigned nattrs)
{
	struct xmig_cl_launch_dims d;
	struct xmig_func *f;
	cudaError_t e;

	ENTER(t);
	if ((e = kernel_for(t, func, grid, block, &f)))
		RETURN(t, e);
	if (f->k.nparams && !args)
		RETURN(t, cudaErrorInvalidValue);
	d = (struct xmig_cl_launch_dims){ { grid.x, grid.y, grid.z }, { block.x, block.y, block.z },
					  shmem, xmig_cl_stream_id(stream, per_thread) };
	if (nattrs)
		RETURN(t, xmig_cl_launch_ex(t, &f->k, &d, attrs, nattrs, args, NULL));
	return xmig_cl_launch(t, &f->k, &d, args, NULL);
}

static cudaError_t launch(const void *func, dim3 grid, dim3 block, void **args, size_t shmem,
			  cudaStream_t stream, int per_thread)
{
	return launch_with(func, grid, block, args, shmem, stream, per_thread, NULL, 0);
}

API cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
				 size_t sharedMem, cudaStream_t stream)
{
	return launch(func, gridDim, blockDim, args, sharedMem, stream, 0);
}

API cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 gridDim, dim3 blockDim, void **args,
				      size_t sharedMem, cudaStream_t stream)
{
	return launch(func, gridDim, blockDim, args, sharedMem, stream, 1);
}

API cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 gridDim, dim3 blockDim, void **args,
				   size_t sharedMem, cudaStream_t stream)
{
	return launch(kernel, gridDim, blockDim, args, sharedMem, stream, 0);
}

API cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 gridDim, dim3 blockDim,
					void **args, size_t sharedMem, cudaStream_t stream)
{
	return launch(kernel, gridDim, blockDim, args, sharedMem, stream, 1);
}

/* Launch attributes as the driver's cuLaunchKernelEx takes them: values only. */
static cudaError_t launch_ex(const cudaLaunchConfig_t *config, const void *func, void **args,
			     int per_thread)
{
	struct xmig_launch_attr attrs[XMIG_MAX_LAUNCH_ATTRS];
	unsigned nattrs;
	cudaError_t e;

	if (!config)
		return cudaErrorInvalidValue;
	if ((e = xmig_cl_launch_attrs(config->attrs, config->numAttrs, attrs, &nattrs)))
		return e;
	return launch_with(func, config->gridDim, config->blockDim, args, config->dynamicSmemBytes,
			   config->stream, per_thread, attrs, nattrs);
}

API cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func,
				    void **args)
{
	return launch_ex(config, func, args, 0);
}

API cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
					 void **args)
{
	return launch_ex(config, func, args, 1);
}

/* A cooperative launch: cudaLaunchAttributeCooperative. */
static cudaError_t launch_cooperative(const void *func, dim3 grid, dim3 block, void **args,
				      size_t shmem, cudaStream_t stream, int per_thread)
{
	struct xmig_launch_attr coop = { .id = cudaLaunchAttributeCooperative };

	coop.value[0] = 1;   /* (cudaLaunchAttributeValue.cooperative, an int) */
	return launch_with(func, grid, block, args, shmem, stream, per_thread, &coop, 1);
}

API cudaError_t cudaLaunchCooperativeKernel(const void *func, dim3 gridDim, dim3 blockDim,
					    void **args, size_t sharedMem, cudaStream_t stream)
{
	return launch_cooperative(func, gridDim, blockDim, args, sharedMem, stream, 0);
}

API cudaError_t cudaLaunchCooperativeKernel_ptsz(const void *func, dim3 gridDim, dim3 blockDim,
						 void **args, size_t sharedMem,
						 cudaStream_t stream)
{
	return launch_cooperative(func, gridDim, blockDim, args, sharedMem, stream, 1);
}

/* How many clusters of config's shape can run at once (CUTLASS asks before its launches). */
API cudaError_t cudaOccupancyMaxActiveClusters(int *numClusters, const void *func,
					       const cudaLaunchConfig_t *config)
{
	struct xmig_launch_attr attrs[XMIG_MAX_LAUNCH_ATTRS];
	struct xmig_cl_launch_dims d;
	struct xmig_func *f;
	unsigned nattrs;
	cudaError_t e;

	ENTER(t);
	if (!numClusters || !config)
		RETURN(t, cudaErrorInvalidValue);
	if ((e = xmig_cl_launch_attrs(config->attrs, config->numAttrs, attrs, &nattrs)) ||
	    (e = kernel_for(t, func, config->gridDim, config->blockDim, &f)))
		RETURN(t, e);
	d = (struct xmig_cl_launch_dims){
		{ config->gridDim.x, config->gridDim.y, config->gridDim.z },
		{ config->blockDim.x, config->blockDim.y, config->blockDim.z },
		config->dynamicSmemBytes, xmig_cl_stream_id(config->stream, 0) };
	RETURN(t, xmig_cl_max_active_clusters(t, &f->k, &d, attrs, nattrs, numClusters));
}

/* A kernel parameter's place, from the layout the proxy's cuFuncGetParamInfo gave. */
API cudaError_t cudaFuncGetParamInfo(const void *func, size_t paramIndex, size_t *paramOffset,
				     size_t *paramSize)
{
	struct xmig_func *f;
	cudaError_t e;

	ENTER(t);
	if (!(f = xmig_fatbin_function(func)))
		RETURN(t, cudaErrorInvalidDeviceFunction);
	if ((e = xmig_fatbin_ready(t, f)))
		RETURN(t, e);
	if (paramIndex >= f->k.nparams)
		RETURN(t, cudaErrorInvalidValue);
	if (paramOffset)
		*paramOffset = f->k.params[paramIndex].offset;
	if (paramSize)
		*paramSize = f->k.params[paramIndex].size;
	return cudaSuccess;
}

/* ---- device memory ----------------------------------------------------------- */

API cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	struct xmig_malloc_req *a;
	struct xmig_malloc_res *r;
	cudaError_t e;

	ENTER(t);
	if (!devPtr)
		RETURN(t, cudaErrorInvalidValue);
	a = xmig_cl_begin(t, XMIG_OP_MALLOC, sizeof(*a));
	if (!a)
		return xmig_cl_lost();
	a->size = size;
	a->flags = 0;
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	*devPtr = e ? NULL : (void *)(uintptr_t)r->addr;
	RETURN(t, e);
}

/*
 * Rows rounded up to 512 bytes: the pitch the driver gives (an H200's,
 * tests/cuda/rows_2d), so that code sizing buffers by it finds the same.
 */
#define PITCH_ALIGN 512u

API cudaError_t cudaMallocPitch(void **devPtr, size_t *pitch, size_t width, size_t height)
{
	size_t p = (width + PITCH_ALIGN - 1) & ~(size_t)(PITCH_ALIGN - 1);
	cudaError_t e;

	if (!devPtr || !pitch)
		return cudaErrorInvalidValue;
	if (p < width || (height && p > SIZE_MAX / height))
		return cudaErrorMemoryAllocation;
	if (!(e = cudaMalloc(devPtr, p * height)))
		*pitch = p;
	return e;
}

/* A volume: its slices' rows one after another, pitched as cudaMallocPitch's. */
API cudaError_t cudaMalloc3D(struct cudaPitchedPtr *p, struct cudaExtent extent)
{
	size_t pitch = 0;
	void *ptr = NULL;
	cudaError_t e;

	if (!p)
		return cudaErrorInvalidValue;
	if (extent.depth && extent.height > SIZE_MAX / extent.depth)
		return cudaErrorMemoryAllocation;
	if ((e = cudaMallocPitch(&ptr, &pitch, extent.width, extent.height * extent.depth)))
		return e;
	*p = (struct cudaPitchedPtr){ ptr, pitch, extent.width, extent.height };
	return cudaSuccess;
}

API cudaError_t cudaFree(void *devPtr)
{
	struct xmig_free_req *a;

	ENTER(t);
	a = xmig_cl_begin(t, XMIG_OP_FREE, sizeof(*a));
	if (!a)
		return xmig_cl_lost();
	a->addr = (uint64_t)(uintptr_t)devPtr;
	RETURN(t, xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
}

API cudaError_t cudaMallocHost(void **ptr, size_t size)
{
	return xmig_cl_host_alloc(ptr, size, cudaHostAllocDefault);
}

API cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
	if (flags & ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped |
				cudaHostAllocWriteCombined))
		return cudaErrorInvalidValue;
	if (flags & cudaHostAllocMapped)
		xmig_cl_note_host_mapped();
	return xmig_cl_host_alloc(pHost, size, flags);
}

API cudaError_t cudaFreeHost(void *ptr)
{
	return xmig_cl_host_free(ptr);
}

/* Memory of the application's own, moved onto pages the proxy maps too (host-register.c). */
API cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
{
	return xmig_cl_host_register(ptr, size, flags, true);
}

API cudaError_t cudaHostUnregister(void *ptr)
{
	return xmig_cl_host_unregister(ptr, true);
}

API cudaError_t cudaHostGetDevicePointer(void **pDevice, void *pHost, unsigned int flags)
{
	if (!pDevice || flags || !xmig_cl_host_lookup(pHost, NULL, NULL, NULL))
		return cudaErrorInvalidValue;
	xmig_cl_note_host_mapped();
	/* Unified addressing: the device sees pinned memory at its host address. */
	*pDevice = pHost;
	return cudaSuccess;
}

API cudaError_t cudaHostGetFlags(unsigned int *pFlags, void *pHost)
{
	unsigned flags;

	if (!pFlags || !xmig_cl_host_lookup(pHost, NULL, NULL, &flags))
		return cudaErrorInvalidValue;
	*pFlags = flags | cudaHostAllocMapped;
	return cudaSuccess;
}

API cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr, const void *ptr)
{
	if (!attr)
		return cudaErrorInvalidValue;
	memset(attr, 0, sizeof(*attr));
	switch (xmig_cl_classify(ptr)) {
	case XMIG_MEM_DEVICE:
		attr->type = cudaMemoryTypeDevice;
		attr->device = 0;
		attr->devicePointer = (void *)ptr;
		break;
	case XMIG_MEM_PINNED:
		attr->type = cudaMemoryTypeHost;
		attr->device = 0;
		attr->devicePointer = (void *)ptr;
		attr->hostPointer = (void *)ptr;
		break;
	default:
		attr->type = cudaMemoryTypeUnregistered;
		attr->device = -2;
		break;
	}
	return cudaSuccess;
}

/* ---- copies ------------------------------------------------------------ */

struct side {
	uint64_t addr;       /* address, or offset into var */
	uint64_t var;        /* server variable id, 0 for a plain address */
	enum xmig_mem_class cls;
};

static struct side plain(const void *p)
{
	return (struct side){ (uint64_t)(uintptr_t)p, 0, xmig_cl_classify(p) };
}

/*
 * A copy's shape: height rows of width bytes, each side's rows its pitch
 * apart (cudaMemcpy2D); a plain copy is one row.
 */
struct rows {
	uint64_t width, height, dpitch, spitch;
};

static struct rows one_row(uint64_t n)
{
	return (struct rows){ n, 1, n, n };
}

static cudaError_t copy_direct(struct xmig_thread *t, struct side dst, struct side src,
			       const struct rows *g, uint64_t stream, bool sync)
{
	bool dd = dst.cls == XMIG_MEM_DEVICE, sd = src.cls == XMIG_MEM_DEVICE;
	uint32_t kind = dd && sd ? XMIG_COPY_D2D : dd ? XMIG_COPY_H2D : sd ? XMIG_COPY_D2H
									 : XMIG_COPY_H2H;
	struct xmig_memcpy2d_req *r2;
	struct xmig_memcpy_req *a;

	/* (rows that touch on both sides are one run of bytes) */
	if (g->height == 1 || (g->dpitch == g->width && g->spitch == g->width)) {
		if (!(a = xmig_cl_begin(t, XMIG_OP_MEMCPY, sizeof(*a))))
			return xmig_cl_lost();
		a->dst = dst.addr;
		a->src = src.addr;
		a->dst_var = dst.var;
		a->src_var = src.var;
		a->size = g->width * g->height;
		a->stream = stream;
		a->kind = kind;
		a->sync = sync;
		return xmig_cl_end(t, sync ? XMIG_CALL_SYNCW : XMIG_CALL_ASYNC, NULL);
	}
	/* (a variable's side is always one row: cudaMemcpyToSymbol has no 2D form) */
	if (!(r2 = xmig_cl_begin(t, XMIG_OP_MEMCPY_2D, sizeof(*r2))))
		return xmig_cl_lost();
	*r2 = (struct xmig_memcpy2d_req){ dst.addr, g->dpitch, src.addr, g->spitch, g->width,
					  g->height, stream, kind, sync };
	return xmig_cl_end(t, sync ? XMIG_CALL_SYNCW : XMIG_CALL_ASYNC, NULL);
}

/*
 * The next piece of a copy through the bulk area, from row *row at offset
 * *off: as many whole rows as fit in a half, or, where a row is wider than
 * a half, a half's worth of it. Steps the cursor past it.
 */
struct piece {
	uint64_t row, off, rows, len;
};

static struct piece next_piece(const struct rows *g, uint64_t *row, uint64_t *off)
{
	struct piece p = { *row, *off, 1, 0 };

	if (g->width <= XMIG_BULK_HALF) {
		p.len = g->width;
		p.rows = XMIG_BULK_HALF / g->width;
		if (p.rows > g->height - *row)
			p.rows = g->height - *row;
		*row += p.rows;
	} else {
		p.len = g->width - *off < XMIG_BULK_HALF ? g->width - *off : XMIG_BULK_HALF;
		if ((*off += p.len) == g->width) {
			*off = 0;
			*row += 1;
		}
	}
	return p;
}

/* Pageable -> device through the bulk area, two halves in flight. */
static cudaError_t copy_to_device(struct xmig_thread *t, struct side dst, const char *src,
				  const struct rows *g, uint64_t stream, bool sync)
{
	uint64_t last = 0, row = 0, off = 0;
	unsigned h = 0;
	cudaError_t e;

	while (row < g->height) {
		struct piece p = next_piece(g, &row, &off);
		unsigned char *bulk = t->ring->bulk + h * XMIG_BULK_HALF;
		struct xmig_bulk_req *a;

		if (t->bulk_seq[h] && (e = xmig_cl_wait(t, t->bulk_seq[h])))
			return e;
		/*
		 * memcpy, not xmig_copy_nt: streaming stores made a 256 MiB
		 * copy 0.5-1 GB/s slower on an H200 (share/bench/RESULTS.md),
		 * the half being read by the DMA right after, cache and all.
		 */
		for (uint64_t i = 0; i < p.rows; i++)
			memcpy(bulk + i * p.len, src + (p.row + i) * g->spitch + p.off, p.len);
		a = xmig_cl_begin(t, XMIG_OP_MEMCPY_H2D_BULK, sizeof(*a));
		if (!a)
			return xmig_cl_lost();
		a->devaddr = dst.addr + p.row * g->dpitch + p.off;
		a->var = dst.var;
		a->size = p.len;
		a->rows = (uint32_t)p.rows;
		a->pitch = g->dpitch;
		a->stream = stream;
		a->half = h;
		a->last = row == g->height;
		last = t->bulk_seq[h] = xmig_cl_post_seq(t);
		h ^= 1;
	}
	/*
	 * The source is staged once the last chunk is in the bulk area, which
	 * is all an asynchronous copy from pageable memory promises.
	 */
	if (!sync)
		return cudaSuccess;
	if ((e = xmig_cl_wait(t, last)))
		return e;
	return xmig_cl_take_async_error(t);
}

/* Device -> pageable through the bulk area; always complete on return. */
static cudaError_t copy_from_device(struct xmig_thread *t, char *dst, struct side src,
				    const struct rows *g, uint64_t stream)
{
	struct { struct piece p; uint64_t seq; } q[2];
	uint64_t posted = 0, done = 0, row = 0, off = 0;
	cudaError_t e;

	if ((e = xmig_cl_bulk_idle(t)))
		return e;
	for (;;) {
		/* Keep both halves busy. */
		while (posted < done + 2 && row < g->height) {
			unsigned h = (unsigned)(posted & 1);
			struct xmig_bulk_req *a;

			q[h].p = next_piece(g, &row, &off);
			a = xmig_cl_begin(t, XMIG_OP_MEMCPY_D2H_BULK, sizeof(*a));
			if (!a)
				return xmig_cl_lost();
			a->devaddr = src.addr + q[h].p.row * g->spitch + q[h].p.off;
			a->var = src.var;
			a->size = q[h].p.len;
			a->rows = (uint32_t)q[h].p.rows;
			a->pitch = g->spitch;
			a->stream = stream;
			a->half = h;
			q[h].seq = t->bulk_seq[h] = xmig_cl_post_seq(t);
			posted++;
		}
		if (done == posted)
			return cudaSuccess;
		{
			unsigned h = (unsigned)(done & 1);
			const struct piece *p = &q[h].p;

			if ((e = xmig_cl_wait(t, q[h].seq)))
				return e;
			if ((e = xmig_cl_peek_async_error(t)))
				return xmig_cl_take_async_error(t);
			for (uint64_t i = 0; i < p->rows; i++)
				xmig_copy_nt(dst + (p->row + i) * g->dpitch + p->off,
					     t->ring->bulk + h * XMIG_BULK_HALF + i * p->len, p->len);
			done++;
		}
	}
}

static cudaError_t stream_sync(struct xmig_thread *t, uint64_t stream)
{
	struct xmig_req_cudaStreamSynchronize *a =
		xmig_cl_begin(t, XMIG_OP_cudaStreamSynchronize, sizeof(*a));

	if (!a)
		return xmig_cl_lost();
	a->stream = stream;
	return xmig_cl_end(t, XMIG_CALL_SYNCW, NULL);
}

static cudaError_t do_copy(struct xmig_thread *t, struct side dst, struct side src,
			   const struct rows *g, uint64_t stream, bool sync)
{
	cudaError_t e;

	if (g->width == 0 || g->height == 0)
		return cudaSuccess;
	/* (registered memory the copy runs past: copied as pageable memory, as CUDA copies it) */
	if (dst.cls == XMIG_MEM_PINNED &&
	    xmig_cl_host_runs_past_registered(dst.addr, (g->height - 1) * g->dpitch + g->width))
		dst.cls = XMIG_MEM_HOST;
	if (src.cls == XMIG_MEM_PINNED &&
	    xmig_cl_host_runs_past_registered(src.addr, (g->height - 1) * g->spitch + g->width))
		src.cls = XMIG_MEM_HOST;
	if (dst.cls != XMIG_MEM_HOST && src.cls != XMIG_MEM_HOST)
		return copy_direct(t, dst, src, g, stream, sync);
	if (dst.cls == XMIG_MEM_DEVICE)
		return copy_to_device(t, dst, (const char *)(uintptr_t)src.addr, g, stream, sync);
	if (src.cls == XMIG_MEM_DEVICE)
		return copy_from_device(t, (char *)(uintptr_t)dst.addr, src, g, stream);
	/* Host to host: after what the stream holds, then here. */
	if ((e = stream_sync(t, stream)))
		return e;
	for (uint64_t i = 0; i < g->height; i++)
		memmove((char *)(uintptr_t)dst.addr + i * g->dpitch,
			(const char *)(uintptr_t)src.addr + i * g->spitch, g->width);
	return cudaSuccess;
}

static cudaError_t memcpy_any(void *dst, const void *src, size_t count, cudaStream_t stream,
			      int per_thread, bool sync)
{
	struct rows g = one_row(count);

	ENTER(t);
	if (count && (!dst || !src))
		RETURN(t, cudaErrorInvalidValue);
	RETURN(t, do_copy(t, plain(dst), plain(src), &g, xmig_cl_stream_id(stream, per_thread),
			  sync));
}

/* cudaMemcpy2D and its kin: height rows of width bytes. */
static cudaError_t memcpy_rows(void *dst, size_t dpitch, const void *src, size_t spitch,
			       size_t width, size_t height, cudaStream_t stream, int per_thread,
			       bool sync)
{
	struct rows g = { width, height, dpitch, spitch };

	ENTER(t);
	if (width == 0 || height == 0)
		return cudaSuccess;
	if (!dst || !src)
		RETURN(t, cudaErrorInvalidValue);
	if (dpitch < width || spitch < width)
		RETURN(t, cudaErrorInvalidPitchValue);
	RETURN(t, do_copy(t, plain(dst), plain(src), &g, xmig_cl_stream_id(stream, per_thread),
			  sync));
}

API cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
			     size_t width, size_t height, enum cudaMemcpyKind kind)
{
	return memcpy_rows(dst, dpitch, src, spitch, width, height, 0, 0, true);
}

API cudaError_t cudaMemcpy2D_ptds(void *dst, size_t dpitch, const void *src, size_t spitch,
				  size_t width, size_t height, enum cudaMemcpyKind kind)
{
	return memcpy_rows(dst, dpitch, src, spitch, width, height, 0, 1, true);
}

API cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
				  size_t width, size_t height, enum cudaMemcpyKind kind,
				  cudaStream_t stream)
{
	return memcpy_rows(dst, dpitch, src, spitch, width, height, stream, 0, false);
}

API cudaError_t cudaMemcpy2DAsync_ptsz(void *dst, size_t dpitch, const void *src, size_t spitch,
				       size_t width, size_t height, enum cudaMemcpyKind kind,
				       cudaStream_t stream)
{
	return memcpy_rows(dst, dpitch, src, spitch, width, height, stream, 1, false);
}

/*
 * A side of a 3D copy of linear memory (cudaMemcpy3D): its first byte and
 * the distance between its slices. CUDA arrays are not served.
 */
static cudaError_t volume_side(cudaArray_t array, struct cudaPitchedPtr p, struct cudaPos pos,
			       struct cudaExtent e, char **start, size_t *slice)
{
	if (array) {
		xmig_cl_unsupported("CUDA arrays (cudaMemcpy3D to or from a cudaArray)");
		return cudaErrorNotSupported;
	}
	if (!p.ptr)
		return cudaErrorInvalidValue;
	if (p.pitch < e.width || pos.x > p.pitch - e.width)
		return cudaErrorInvalidPitchValue;
	/* (the rows of a slice stay in it, where there is more than one) */
	if (e.depth > 1 && (pos.y > p.ysize || e.height > p.ysize - pos.y))
		return cudaErrorInvalidValue;
	*slice = p.pitch * p.ysize;
	*start = (char *)p.ptr + pos.z * *slice + pos.y * p.pitch + pos.x;
	return cudaSuccess;
}

/*
 * depth slices of 2D copies; one, of all their rows, where the slices
 * follow each other row for row on both sides.
 */
static cudaError_t memcpy_volume(const struct cudaMemcpy3DParms *p, cudaStream_t stream,
				 int per_thread, bool sync)
{
	struct cudaExtent e;
	size_t ds, ss;
	char *dst, *src;
	struct rows g;
	uint64_t id;
	cudaError_t r = cudaSuccess;

	ENTER(t);
	if (!p)
		RETURN(t, cudaErrorInvalidValue);
	e = p->extent;
	if (!e.width || !e.height || !e.depth)
		return cudaSuccess;
	if ((r = volume_side(p->dstArray, p->dstPtr, p->dstPos, e, &dst, &ds)) ||
	    (r = volume_side(p->srcArray, p->srcPtr, p->srcPos, e, &src, &ss)))
		RETURN(t, r);
	id = xmig_cl_stream_id(stream, per_thread);
	g = (struct rows){ e.width, e.height, p->dstPtr.pitch, p->srcPtr.pitch };
	if (ds == e.height * g.dpitch && ss == e.height * g.spitch) {
		g.height *= e.depth;
		RETURN(t, do_copy(t, plain(dst), plain(src), &g, id, sync));
	}
	/* (in stream order: waiting for the last slice waits for them all) */
	for (size_t z = 0; z < e.depth && !r; z++)
		r = do_copy(t, plain(dst + z * ds), plain(src + z * ss), &g, id,
			    sync && z + 1 == e.depth);
	RETURN(t, r);
}

API cudaError_t cudaMemcpy3D(const struct cudaMemcpy3DParms *p)
{
	return memcpy_volume(p, 0, 0, true);
}

API cudaError_t cudaMemcpy3D_ptds(const struct cudaMemcpy3DParms *p)
{
	return memcpy_volume(p, 0, 1, true);
}

API cudaError_t cudaMemcpy3DAsync(const struct cudaMemcpy3DParms *p, cudaStream_t stream)
{
	return memcpy_volume(p, stream, 0, false);
}

API cudaError_t cudaMemcpy3DAsync_ptsz(const struct cudaMemcpy3DParms *p, cudaStream_t stream)
{
	return memcpy_volume(p, stream, 1, false);
}

API cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
	return memcpy_any(dst, src, count, 0, 0, true);
}

API cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
	return memcpy_any(dst, src, count, 0, 1, true);
}

API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
				cudaStream_t stream)
{
	return memcpy_any(dst, src, count, stream, 0, false);
}

API cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t count,
				     enum cudaMemcpyKind kind, cudaStream_t stream)
{
	return memcpy_any(dst, src, count, stream, 1, false);
}

static cudaError_t memset_any(void *devPtr, int value, size_t count, cudaStream_t stream,
			      int per_thread)
{
	struct xmig_memset_req *a;

	ENTER(t);
	if (count == 0)
		return cudaSuccess;
	if (xmig_cl_classify(devPtr) != XMIG_MEM_DEVICE)
		RETURN(t, cudaErrorInvalidValue);
	a = xmig_cl_begin(t, XMIG_OP_MEMSET, sizeof(*a));
	if (!a)
		return xmig_cl_lost();
	a->dst = (uint64_t)(uintptr_t)devPtr;
	a->size = count;
	a->value = (uint32_t)(value & 0xff);
	a->stream = xmig_cl_stream_id(stream, per_thread);
	a->sync = 0;   /* cudaMemset is asynchronous for device memory too */
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}

static cudaError_t memset_rows(void *devPtr, size_t pitch, int value, size_t width,
			       size_t height, cudaStream_t stream, int per_thread)
{
	ENTER(t);
	RETURN(t, xmig_cl_fill_rows(t, devPtr, pitch, (uint32_t)(value & 0xff), 1, width, height,
				    xmig_cl_stream_id(stream, per_thread)));
}

API cudaError_t cudaMemset2D(void *devPtr, size_t pitch, int value, size_t width, size_t height)
{
	return memset_rows(devPtr, pitch, value, width, height, 0, 0);
}

API cudaError_t cudaMemset2D_ptds(void *devPtr, size_t pitch, int value, size_t width,
				  size_t height)
{
	return memset_rows(devPtr, pitch, value, width, height, 0, 1);
}

API cudaError_t cudaMemset2DAsync(void *devPtr, size_t pitch, int value, size_t width,
				  size_t height, cudaStream_t stream)
{
	return memset_rows(devPtr, pitch, value, width, height, stream, 0);
}

API cudaError_t cudaMemset2DAsync_ptsz(void *devPtr, size_t pitch, int value, size_t width,
				       size_t height, cudaStream_t stream)
{
	return memset_rows(devPtr, pitch, value, width, height, stream, 1);
}

/* Slices of rows, one fill of them all where they follow each other. */
static cudaError_t memset_volume(struct cudaPitchedPtr p, int value, struct cudaExtent e,
				 cudaStream_t stream, int per_thread)
{
	uint64_t id;
	size_t slice = p.pitch * p.ysize;
	cudaError_t r = cudaSuccess;

	ENTER(t);
	if (!e.width || !e.height || !e.depth)
		return cudaSuccess;
	if (e.depth > 1 && e.height > p.ysize)
		RETURN(t, cudaErrorInvalidValue);
	id = xmig_cl_stream_id(stream, per_thread);
	if (e.depth == 1 || slice == e.height * p.pitch)
		RETURN(t, xmig_cl_fill_rows(t, p.ptr, p.pitch, (uint32_t)(value & 0xff), 1, e.width,
					    e.height * e.depth, id));
	for (size_t z = 0; z < e.depth && !r; z++)
		r = xmig_cl_fill_rows(t, (char *)p.ptr + z * slice, p.pitch,
				      (uint32_t)(value & 0xff), 1, e.width, e.height, id);
	RETURN(t, r);
}

API cudaError_t cudaMemset3D(struct cudaPitchedPtr p, int value, struct cudaExtent extent)
{
	return memset_volume(p, value, extent, 0, 0);
}

API cudaError_t cudaMemset3D_ptds(struct cudaPitchedPtr p, int value, struct cudaExtent extent)
{
	return memset_volume(p, value, extent, 0, 1);
}

API cudaError_t cudaMemset3DAsync(struct cudaPitchedPtr p, int value, struct cudaExtent extent,
				  cudaStream_t stream)
{
	return memset_volume(p, value, extent, stream, 0);
}

API cudaError_t cudaMemset3DAsync_ptsz(struct cudaPitchedPtr p, int value,
				       struct cudaExtent extent, cudaStream_t stream)
{
	return memset_volume(p, value, extent, stream, 1);
}

API cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
	return memset_any(devPtr, value, count, 0, 0);
}

API cudaError_t cudaMemset_ptds(void *devPtr, int value, size_t count)
{
	return memset_any(devPtr, value, count, 0, 1);
}

API cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
	return memset_any(devPtr, value, count, stream, 0);
}

API cudaError_t cudaMemsetAsync_ptsz(void *devPtr, int value, size_t count, cudaStream_t stream)
{
	return memset_any(devPtr, value, count, stream, 1);
}

/* ---- __device__ variables -------------------------------------------------- */

static cudaError_t symbol_copy(const void *symbol, void *host, size_t count, size_t offset,
			       bool to_symbol, cudaStream_t stream, int per_thread, bool sync)
{
	struct xmig_var *v;
	struct side var_side, other;
	struct rows g;
	cudaError_t e;

	ENTER(t);
	if ((e = xmig_fatbin_variable(t, symbol, &v)))
		RETURN(t, e);
	if (offset > v->size || count > v->size - offset)
		RETURN(t, cudaErrorInvalidValue);
	var_side = (struct side){ offset, v->server_id, XMIG_MEM_DEVICE };
	other = plain(host);
	g = one_row(count);
	if (to_symbol)
		e = do_copy(t, var_side, other, &g, xmig_cl_stream_id(stream, per_thread), sync);
	else
		e = do_copy(t, other, var_side, &g, xmig_cl_stream_id(stream, per_thread), sync);
	RETURN(t, e);
}

API cudaError_t cudaMemcpyToSymbol(const void *symbol, const void *src, size_t count, size_t offset,
				   enum cudaMemcpyKind kind)
{
	return symbol_copy(symbol, (void *)src, count, offset, true, 0, 0, true);
}

API cudaError_t cudaMemcpyToSymbol_ptds(const void *symbol, const void *src, size_t count,
					size_t offset, enum cudaMemcpyKind kind)
{
	return symbol_copy(symbol, (void *)src, count, offset, true, 0, 1, true);
}

API cudaError_t cudaMemcpyFromSymbol(void *dst, const void *symbol, size_t count, size_t offset,
				     enum cudaMemcpyKind kind)
{
	return symbol_copy(symbol, dst, count, offset, false, 0, 0, true);
}

API cudaError_t cudaMemcpyFromSymbol_ptds(void *dst, const void *symbol, size_t count,
					  size_t offset, enum cudaMemcpyKind kind)
{
	return symbol_copy(symbol, dst, count, offset, false, 0, 1, true);
}

API cudaError_t cudaMemcpyToSymbolAsync(const void *symbol, const void *src, size_t count,
					size_t offset, enum cudaMemcpyKind kind, cudaStream_t stream)
{
	return symbol_copy(symbol, (void *)src, count, offset, true, stream, 0, false);
}

API cudaError_t cudaMemcpyToSymbolAsync_ptsz(const void *symbol, const void *src, size_t count,
					     size_t offset, enum cudaMemcpyKind kind,
					     cudaStream_t stream)
{
	return symbol_copy(symbol, (void *)src, count, offset, true, stream, 1, false);
}

API cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const void *symbol, size_t count,
					  size_t offset, enum cudaMemcpyKind kind,
					  cudaStream_t stream)
{
	return symbol_copy(symbol, dst, count, offset, false, stream, 0, false);
}

API cudaError_t cudaMemcpyFromSymbolAsync_ptsz(void *dst, const void *symbol, size_t count,
					       size_t offset, enum cudaMemcpyKind kind,
					       cudaStream_t stream)
{
	return symbol_copy(symbol, dst, count, offset, false, stream, 1, false);
}

API cudaError_t cudaGetSymbolSize(size_t *size, const void *symbol)
{
	struct xmig_var *v;
	cudaError_t e;

	ENTER(t);
	if (!size)
		RETURN(t, cudaErrorInvalidValue);
	if ((e = xmig_fatbin_variable(t, symbol, &v)))
		RETURN(t, e);
	*size = v->size;
	return cudaSuccess;
}

API cudaError_t cudaGetSymbolAddress(void **devPtr, const void *symbol)
{
	struct xmig_var *v;
	cudaError_t e;
	uint64_t addr;

	ENTER(t);
	if (!devPtr)
		RETURN(t, cudaErrorInvalidValue);
	if ((e = xmig_fatbin_variable(t, symbol, &v)))
		RETURN(t, e);
	/*
	 * This address belongs to the current proxy's module (asked again
	 * after a move): copies through it work, but it would not survive a
	 * later move (see xmig-migrate(1)).
	 */
	if ((e = xmig_fatbin_variable_address(t, v, &addr)))
		RETURN(t, e);
	xmig_cl_add_device_range(addr, v->size);
	xmig_cl_note_symbol_address();
	*devPtr = (void *)(uintptr_t)addr;
	return cudaSuccess;
}

/* ---- devices ---------------------------------------------------------- */

API cudaError_t cudaGetDeviceCount(int *count)
{
	ENTER(t);
	if (!count)
		RETURN(t, cudaErrorInvalidValue);
	*count = 1;   /* a proxy serves one GPU: the application sees device 0 */
	return cudaSuccess;
}

API cudaError_t cudaGetDevice(int *device)
{
	if (!device)
		return cudaErrorInvalidValue;
	*device = 0;
	return cudaSuccess;
}

API cudaError_t cudaSetDevice(int device)
{
	ENTER(t);
	RETURN(t, device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}

API cudaError_t cudaInitDevice(int device, unsigned int deviceFlags, unsigned int flags)
{
	ENTER(t);
	RETURN(t, device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}

static unsigned device_flags;

API cudaError_t cudaSetDeviceFlags(unsigned int flags)
{
	/* Scheduling hints: the proxy's worker does the waiting, so they are kept only. */
	if (flags & ~(unsigned)(cudaDeviceScheduleMask | cudaDeviceMapHost |
				cudaDeviceLmemResizeToMax | cudaDeviceSyncMemops))
		return cudaErrorInvalidValue;
	device_flags = flags;
	return cudaSuccess;
}

API cudaError_t cudaGetDeviceFlags(unsigned int *flags)
{
	if (!flags)
		return cudaErrorInvalidValue;
	*flags = device_flags | cudaDeviceMapHost;
	return cudaSuccess;
}

API cudaError_t cudaChooseDevice(int *device, const struct cudaDeviceProp *prop)
{
	if (!device || !prop)
		return cudaErrorInvalidValue;
	*device = 0;
	return cudaSuccess;
}

API cudaError_t cudaDeviceCanAccessPeer(int *canAccessPeer, int device, int peerDevice)
{
	if (!canAccessPeer || device != 0 || peerDevice != 0)
		return cudaErrorInvalidDevice;
	*canAccessPeer = 0;
	return cudaSuccess;
}

/*
 * Peers: a process under xmig sees one device, its own; a copy "between
 * peers" of it is a device-to-device copy, and peer access to itself is
 * what the driver says of it (measured on an H200 with one GPU visible).
 */
API cudaError_t cudaDeviceEnablePeerAccess(int peerDevice, unsigned int flags)
{
	if (flags)
		return xmig_cl_record_here(cudaErrorInvalidValue);
	return xmig_cl_record_here(peerDevice == 0 ? cudaErrorPeerAccessUnsupported
						    : cudaErrorInvalidDevice);
}

API cudaError_t cudaDeviceDisablePeerAccess(int peerDevice)
{
	return xmig_cl_record_here(peerDevice == 0 ? cudaErrorPeerAccessNotEnabled
						    : cudaErrorInvalidDevice);
}

static cudaError_t peer_copy(void *dst, int dst_dev, const void *src, int src_dev, size_t count,
			     cudaStream_t stream, int per_thread, bool sync)
{
	if (dst_dev != 0 || src_dev != 0)
		return xmig_cl_record_here(cudaErrorInvalidDevice);
	if (!count)
		return cudaSuccess;
	if (xmig_cl_classify(dst) != XMIG_MEM_DEVICE || xmig_cl_classify(src) != XMIG_MEM_DEVICE)
		return xmig_cl_record_here(cudaErrorInvalidValue);
	return memcpy_any(dst, src, count, stream, per_thread, sync);
}

API cudaError_t cudaMemcpyPeer(void *dst, int dstDevice, const void *src, int srcDevice,
			       size_t count)
{
	return peer_copy(dst, dstDevice, src, srcDevice, count, NULL, 0, true);
}

API cudaError_t cudaMemcpyPeerAsync(void *dst, int dstDevice, const void *src, int srcDevice,
				    size_t count, cudaStream_t stream)
{
	return peer_copy(dst, dstDevice, src, srcDevice, count, stream, 0, false);
}

static cudaError_t peer_3d(const struct cudaMemcpy3DPeerParms *p, struct cudaMemcpy3DParms *q)
{
	if (!p)
		return cudaErrorInvalidValue;
	if (p->srcDevice != 0 || p->dstDevice != 0)
		return cudaErrorInvalidDevice;
	*q = (struct cudaMemcpy3DParms){ .srcArray = p->srcArray, .srcPos = p->srcPos,
					 .srcPtr = p->srcPtr, .dstArray = p->dstArray,
					 .dstPos = p->dstPos, .dstPtr = p->dstPtr,
					 .extent = p->extent, .kind = cudaMemcpyDeviceToDevice };
	return cudaSuccess;
}

API cudaError_t cudaMemcpy3DPeer(const struct cudaMemcpy3DPeerParms *p)
{
	struct cudaMemcpy3DParms q;
	cudaError_t e = peer_3d(p, &q);

	return e ? xmig_cl_record_here(e) : cudaMemcpy3D(&q);
}

API cudaError_t cudaMemcpy3DPeer_ptds(const struct cudaMemcpy3DPeerParms *p)
{
	struct cudaMemcpy3DParms q;
	cudaError_t e = peer_3d(p, &q);

	return e ? xmig_cl_record_here(e) : cudaMemcpy3D_ptds(&q);
}

API cudaError_t cudaMemcpy3DPeerAsync(const struct cudaMemcpy3DPeerParms *p, cudaStream_t stream)
{
	struct cudaMemcpy3DParms q;
	cudaError_t e = peer_3d(p, &q);

	return e ? xmig_cl_record_here(e) : cudaMemcpy3DAsync(&q, stream);
}

API cudaError_t cudaMemcpy3DPeerAsync_ptsz(const struct cudaMemcpy3DPeerParms *p,
					   cudaStream_t stream)
{
	struct cudaMemcpy3DParms q;
	cudaError_t e = peer_3d(p, &q);

	return e ? xmig_cl_record_here(e) : cudaMemcpy3DAsync_ptsz(&q, stream);
}

API cudaError_t cudaDeviceReset(void)
{
	ENTER(t);
	if (!xmig_cl_begin(t, XMIG_OP_DEVICE_RESET, 0))
		return xmig_cl_lost();
	RETURN(t, xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
}

API cudaError_t cudaDriverGetVersion(int *driverVersion)
{
	ENTER(t);
	if (!driverVersion)
		RETURN(t, cudaErrorInvalidValue);
	*driverVersion = xmig_cl_info()->driver_version;
	return cudaSuccess;
}

API cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
	if (!runtimeVersion)
		return cudaErrorInvalidValue;
	*runtimeVersion = CUDART_VERSION;
	return cudaSuccess;
}

API cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device)
{
	struct cudaDeviceProp p;
	cudaError_t e;

	if (!pciBusId || len <= 0)
		return cudaErrorInvalidValue;
	if ((e = cudaGetDeviceProperties(&p, device)))
		return e;
	snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", p.pciDomainID, p.pciBusID,
		 p.pciDeviceID);
	return cudaSuccess;
}

/* The device of the one GPU this process sees, where the stream is one of its. */
static cudaError_t stream_device(cudaStream_t stream, int *device)
{
	unsigned flags;
	cudaError_t e;

	if (!device)
		return cudaErrorInvalidValue;
	if (!(e = cudaStreamGetFlags(stream, &flags)))
		*device = 0;
	return e;
}

API cudaError_t cudaStreamGetDevice(cudaStream_t stream, int *device)
{
	return stream_device(stream, device);
}

API cudaError_t cudaStreamGetDevice_ptsz(cudaStream_t stream, int *device)
{
	return stream_device(stream == 0 ? cudaStreamPerThread : stream, device);
}

/* The device whose PCI bus id this is: the one this process sees, or none. */
API cudaError_t cudaDeviceGetByPCIBusId(int *device, const char *pciBusId)
{
	char mine[32];
	unsigned d1, b1, s1, d2, b2, s2;
	cudaError_t e;

	if (!device || !pciBusId)
		return cudaErrorInvalidValue;
	if ((e = cudaDeviceGetPCIBusId(mine, sizeof(mine), 0)))
		return e;
	/* (domain optional, hexadecimal, any case: "0000:1b:00.0", "1B:00.0") */
	if (sscanf(mine, "%x:%x:%x", &d1, &b1, &s1) != 3)
		return cudaErrorInvalidDevice;
	if (sscanf(pciBusId, "%x:%x:%x", &d2, &b2, &s2) != 3) {
		d2 = 0;
		if (sscanf(pciBusId, "%x:%x", &b2, &s2) != 2)
			return cudaErrorInvalidValue;
	}
	if (d1 != d2 || b1 != b2 || s1 != s2)
		return cudaErrorInvalidDevice;
	*device = 0;
	return cudaSuccess;
}

/* ---- errors ----------------------------------------------------------- */

API cudaError_t cudaGetLastError(void)
{
	struct xmig_thread *t;
	cudaError_t e;

	if ((e = xmig_cl_enter(&t)))
		return e;
	e = t->last_error;
	t->last_error = cudaSuccess;
	if (!e)
		e = xmig_cl_take_async_error(t);
	return e;
}

API cudaError_t cudaPeekAtLastError(void)
{
	struct xmig_thread *t;
	cudaError_t e;

	if ((e = xmig_cl_enter(&t)))
		return e;
	return t->last_error ? t->last_error : xmig_cl_peek_async_error(t);
}
