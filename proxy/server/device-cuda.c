/*
 * device-cuda.c - the real GPU, through the CUDA driver API.
 *
 * libcuda.so.1 is dlopened (CI machines have no driver) and every entry
 * point is resolved through cuGetProcAddress for the CUDA version we were
 * built against. Device memory is allocated with the VMM API at addresses
 * we choose inside the device window, so the next proxy after a move can
 * map its copy at the very same addresses.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "../../lib/xmig.h"
#include "blas.h"
#include "dnn-backends.h"
#include "blaslt.h"
#include "../../ccl/ccl.h"
#include "device.h"
#include "freed-cache.h"
#include "pieces-ptx.h"

#define CU_FUNCS(X) \
	X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet) \
	X(cuDeviceGetName) X(cuDeviceGetUuid) X(cuDeviceTotalMem) X(cuDeviceGetAttribute) \
	X(cuDeviceGetPCIBusId) X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease) \
	X(cuCtxSetCurrent) X(cuCtxSynchronize) X(cuCtxSetLimit) X(cuCtxGetLimit) \
	X(cuCtxGetStreamPriorityRange) X(cuMemGetInfo) X(cuMemAddressReserve) \
	X(cuMemAddressFree) X(cuMemCreate) X(cuMemRelease) X(cuMemMap) X(cuMemUnmap) \
	X(cuMemSetAccess) X(cuMemGetAllocationGranularity) X(cuMemExportToShareableHandle) \
	X(cuMemImportFromShareableHandle) X(cuMemGetAllocationPropertiesFromHandle) \
	X(cuMemHostRegister) X(cuMemHostUnregister) \
	X(cuStreamCreateWithPriority) X(cuStreamDestroy) X(cuStreamSynchronize) \
	X(cuStreamQuery) X(cuStreamWaitEvent) X(cuEventCreate) X(cuEventDestroy) \
	X(cuEventRecordWithFlags) X(cuEventSynchronize) X(cuEventQuery) \
	X(cuEventElapsedTime) X(cuMemcpyAsync) X(cuMemsetD8Async) X(cuModuleLoadData) \
	X(cuModuleUnload) X(cuModuleGetFunction) X(cuModuleGetGlobal) X(cuFuncGetParamInfo) \
	X(cuFuncGetAttribute) X(cuFuncSetAttribute) \
	X(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags) X(cuLaunchKernel) \
	X(cuGetErrorName) X(cuLaunchKernelEx) X(cuOccupancyMaxActiveClusters) \
	X(cuTensorMapEncodeTiled) X(cuTensorMapEncodeIm2col) X(cuMemsetD16Async) \
	X(cuMemsetD32Async) X(cuStreamBeginCapture) X(cuStreamEndCapture) \
	X(cuStreamGetCaptureInfo) X(cuGraphInstantiate) X(cuGraphLaunch) X(cuGraphUpload) \
	X(cuGraphDestroy) X(cuGraphExecDestroy) X(cuGraphGetNodes) X(cuGraphExecUpdate) \
	X(cuLaunchHostFunc) X(cuMemcpy2DAsync) X(cuMemsetD2D8Async) X(cuMemsetD2D16Async) \
	X(cuMemsetD2D32Async) X(cuLinkCreate) X(cuLinkAddData) X(cuLinkComplete) X(cuLinkDestroy) \
	X(cuStreamUpdateCaptureDependencies)

/*
 * X(cuMemcpyAsync): #n is the plain name cuGetProcAddress wants, while
 * __typeof__(n) expands cuda.h's versioning macros to the right prototype.
 */
static struct {
#define X(n) __typeof__(n) *n;
	CU_FUNCS(X)
#undef X
} cu;

/* CUDA 12.8 and later; without it, batches are copied one piece at a time. */
static __typeof__(cuMemcpyBatchAsync) *cu_memcpy_batch;

struct cuda_dev {
	int gpu;
	CUdevice device;
	CUcontext ctx;
	uint64_t window, window_size;
	CUmemAllocationProp prop;
	CUstream batch_stream;   /* a batch may not go on the legacy stream */
	/* memcpy_pieces: its kernel (NULL: none) and the pinned array it reads */
	CUmodule pieces_mod;
	CUfunction pieces_fn;
	uint64_t *pieces;
	size_t pieces_cap;
	pthread_mutex_t pieces_lock;
	/* memcpy_chunks: its kernel (NULL: none), its pinned array, the end of its last launch */
	CUfunction chunks_fn;
	uint64_t *chunks;
	CUevent chunks_done;
	int sms;
	struct freed_cache freed;   /* handles kept after a free (never exported ones) */
};

struct cuda_mem {
	CUmemGenericAllocationHandle h;
	uint64_t size;
	/*
	 * The shareable fd this memory arrived by (zero-copy), or -1. The
	 * driver does not export an imported handle again, so the next move
	 * gets a duplicate of this one instead.
	 */
	int fd;
	/*
	 * Lent out for an export (mem_hold): a free meanwhile unmaps the
	 * address but keeps the handle until the last hold is dropped.
	 */
	int holds;
	bool unmapped;
	bool exported;   /* once: another process may map it, so it is never reused */
	bool peer;     /* imported memory of another GPU */
};

/* holds and unmapped of every cuda_mem: a worker frees, the control thread exports */
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static int load_status = -1;

/* CUresult and cudaError_t share their numbering for everything we return. */
static int err(CUresult r)
{
	return (int)r;
}

#define XMIG_STR(x) #x
#define XMIG_XSTR(x) XMIG_STR(x)

static int load_driver(void)
{
	void *h;

	if (load_status >= 0)
		return load_status;
	load_status = cudaErrorInsufficientDriver;
	h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		xmig_error("cannot load the CUDA driver (libcuda.so.1): %s", dlerror());
		return load_status;
	}
	if (dlsym(h, "xmig_facade_marker")) {
		/* Our own facade: the environment was not cleaned for the proxy. */
		xmig_error("libcuda.so.1 found on the library path is xmig's facade, not the "
			   "driver; unset LD_LIBRARY_PATH entries of xmig for xmig-proxy");
		return load_status;
	}
	/*
	 * The exact ABI version cuda.h declares (cuMemGetInfo -> cuMemGetInfo_v2):
	 * cuGetProcAddress may hand out a newer one with other arguments
	 * (cuCtxSynchronize_v2 takes a context).
	 */
#define X(n)                                                                             \
	do {                                                                             \
		cu.n = (__typeof__(cu.n))dlsym(h, XMIG_XSTR(n));                         \
		if (!cu.n) {                                                             \
			xmig_error("the CUDA driver lacks %s (need CUDA %d)", XMIG_XSTR(n), \
				   CUDA_VERSION);                                        \
			return load_status;                                              \
		}                                                                        \
	} while (0);
	CU_FUNCS(X)
#undef X
	cu_memcpy_batch = (__typeof__(cu_memcpy_batch))dlsym(h, XMIG_XSTR(cuMemcpyBatchAsync));
	if (cu.cuInit(0) != CUDA_SUCCESS) {
		xmig_error("cuInit failed: no usable NVIDIA GPU or driver");
		load_status = cudaErrorNoDevice;
		return load_status;
	}
	load_status = 0;
	return 0;
}

static int cuda_count(int *n)
{
	int r = load_driver();

	if (r)
		return r;
	return err(cu.cuDeviceGetCount(n));
}

static int cuda_driver_version(int *v)
{
	int r = load_driver();

	return r ? r : err(cu.cuDriverGetVersion(v));
}

static void format_uuid(const CUuuid *u, char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)u->bytes;

	snprintf(buf, len,
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

static int info_of_device(CUdevice d, struct xmig_gpu_info *info)
{
	CUuuid uuid;
	size_t total;
	int r;

	memset(info, 0, sizeof(*info));
	if ((r = err(cu.cuDeviceGetName(info->name, sizeof(info->name), d))) ||
	    (r = err(cu.cuDeviceTotalMem(&total, d))) ||
	    (r = err(cu.cuDeviceGetUuid(&uuid, d))) ||
	    (r = err(cu.cuDeviceGetAttribute(&info->major,
					     CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d))) ||
	    (r = err(cu.cuDeviceGetAttribute(&info->minor,
					     CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d))) ||
	    (r = err(cu.cuDeviceGetAttribute(&info->multiprocessors,
					     CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d))))
		return r;
	cu.cuDeviceGetPCIBusId(info->pci_bus_id, sizeof(info->pci_bus_id), d);
	format_uuid(&uuid, info->uuid, sizeof(info->uuid));
	info->total_bytes = total;
	info->free_bytes = total;   /* refined by info() once a context exists */
	return 0;
}

static int cuda_info_of(int gpu, struct xmig_gpu_info *info)
{
	CUdevice d;
	int r = load_driver();

	if (r)
		return r;
	if ((r = err(cu.cuDeviceGet(&d, gpu))))
		return r;
	return info_of_device(d, info);
}

/*
 * Many small copies by one kernel (pieces-ptx.h): a PyTorch job has
 * hundreds of one-byte __device__ variables, read at the freeze and
 * written by the new proxy, and cuMemcpyBatchAsync still spent about a
 * microsecond on each, 0.6-0.9 ms a side. The kernel reads its list and
 * the host side of each copy through pinned memory, so the GPU must reach
 * registered host memory at its host address; where it cannot, or with
 * XMIG_COPY_KERNEL=0, there is no kernel and the batch serves. Compiled
 * here, as the proxy starts, not at the freeze.
 */
#define PIECE_MAX (64u << 10)

/* The pinned list of n pieces (kept from call to call; grown, never shrunk). */
static uint64_t *pieces_list(struct cuda_dev *d, size_t n)
{
	size_t bytes = 3 * n * sizeof(uint64_t), cap = d->pieces_cap ? d->pieces_cap : 64 << 10;
	void *p;

	if (d->pieces && bytes <= d->pieces_cap)
		return d->pieces;
	while (cap < bytes)
		cap *= 2;
	if (posix_memalign(&p, 4096, cap))
		return NULL;
	if (cu.cuMemHostRegister(p, cap, CU_MEMHOSTREGISTER_PORTABLE |
					 CU_MEMHOSTREGISTER_DEVICEMAP)) {
		free(p);
		return NULL;
	}
	if (d->pieces) {
		cu.cuMemHostUnregister(d->pieces);
		free(d->pieces);
	}
	d->pieces = p;
	d->pieces_cap = cap;
	return p;
}

/* The chunks' pinned list, 64 KiB: 2730 chunks. */
#define CHUNKS_LIST (64u << 10)
#define CHUNKS_MAX (CHUNKS_LIST / 24)
/* the smallest chunk a block takes (copy sizes are multiples of 16) */
#define CHUNK_MIN (512ull << 10)

static void chunks_close(struct cuda_dev *d)
{
	if (d->chunks) {
		if (d->chunks_done)
			cu.cuEventSynchronize(d->chunks_done);   /* (a launch may still read it) */
		cu.cuMemHostUnregister(d->chunks);
		free(d->chunks);
	}
	if (d->chunks_done)
		cu.cuEventDestroy(d->chunks_done);
	d->chunks = NULL;
	d->chunks_done = NULL;
	d->chunks_fn = NULL;
}

static void pieces_open(struct cuda_dev *d)
{
	const char *off = getenv("XMIG_COPY_KERNEL");
	int host_ptr = 0;
	uint64_t t0 = xmig_now_ns(), none = 0, n = 0;
	void *args[2] = { &none, &n };

	pthread_mutex_init(&d->pieces_lock, NULL);
	if ((off && !strcmp(off, "0")) || !d->batch_stream ||
	    cu.cuDeviceGetAttribute(&host_ptr,
				    CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
				    d->device) || !host_ptr)
		return;
	/* (launched once on nothing: a lazily loaded kernel loads at its first launch) */
	if (cu.cuModuleLoadData(&d->pieces_mod, pieces_ptx) ||
	    cu.cuModuleGetFunction(&d->pieces_fn, d->pieces_mod, "xmig_copy_pieces") ||
	    cu.cuLaunchKernel(d->pieces_fn, 1, 1, 1, 64, 1, 1, 0, d->batch_stream, args, NULL) ||
	    cu.cuStreamSynchronize(d->batch_stream)) {
		xmig_warn("GPU %d: no kernel for small copies (they go one by one)", d->gpu);
		if (d->pieces_mod)
			cu.cuModuleUnload(d->pieces_mod);
		d->pieces_mod = NULL;
		d->pieces_fn = NULL;
		return;
	}
	/*
	 * Its list pinned now too: pinned at its first use, it cost a job's
	 * first proxy 0.17-0.44 ms of its first freeze (a GPT's 608 variables
	 * then read in 0.04-0.06 ms, as by later proxies, which had used it in
	 * their own restore). Without memory for it now: made then.
	 */
	pieces_list(d, 1);
	/* and the chunks' kernel, its list and event (without them: a copy each) */
	if (cu.cuModuleGetFunction(&d->chunks_fn, d->pieces_mod, "xmig_copy_chunks") ||
	    cu.cuLaunchKernel(d->chunks_fn, 1, 1, 1, 64, 1, 1, 0, d->batch_stream, args, NULL) ||
	    cu.cuStreamSynchronize(d->batch_stream) ||
	    cu.cuDeviceGetAttribute(&d->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d->device) ||
	    cu.cuEventCreate(&d->chunks_done, CU_EVENT_DISABLE_TIMING) ||
	    posix_memalign((void **)&d->chunks, 4096, CHUNKS_LIST)) {
		d->chunks = NULL;   /* (posix_memalign leaves it undefined) */
		chunks_close(d);
	} else if (cu.cuMemHostRegister(d->chunks, CHUNKS_LIST, CU_MEMHOSTREGISTER_PORTABLE |
						CU_MEMHOSTREGISTER_DEVICEMAP)) {
		free(d->chunks);
		d->chunks = NULL;
		chunks_close(d);
	}
	xmig_debug("GPU %d: the copy kernels compiled and loaded in %.3f ms", d->gpu,
		   (double)(xmig_now_ns() - t0) / 1e6);
}

static void pieces_close(struct cuda_dev *d)
{
	chunks_close(d);
	if (d->pieces) {
		cu.cuMemHostUnregister(d->pieces);
		free(d->pieces);
	}
	if (d->pieces_mod)
		cu.cuModuleUnload(d->pieces_mod);
	pthread_mutex_destroy(&d->pieces_lock);
}

static int cuda_memcpy_pieces(void *dev, const uint64_t *dst, const uint64_t *src,
			      const uint64_t *size, size_t n)
{
	struct cuda_dev *d = dev;
	uint64_t *list, addr;
	void *args[2] = { &addr, &n };
	int r, w;

	if (!n)
		return 0;
	if (!d->pieces_fn)
		return cudaErrorNotSupported;
	/* a byte loop through the host's memory: for small pieces only */
	for (size_t i = 0; i < n; i++)
		if (size[i] > PIECE_MAX)
			return cudaErrorNotSupported;
	pthread_mutex_lock(&d->pieces_lock);
	if (!(list = pieces_list(d, n))) {
		pthread_mutex_unlock(&d->pieces_lock);
		return cudaErrorNotSupported;
	}
	for (size_t i = 0; i < n; i++) {
		list[3 * i] = dst[i];
		list[3 * i + 1] = src[i];
		list[3 * i + 2] = size[i];
	}
	addr = (uint64_t)(uintptr_t)list;
	r = err(cu.cuLaunchKernel(d->pieces_fn, n < 65535 ? (unsigned)n : 65535, 1, 1, 64, 1, 1,
				  0, d->batch_stream, args, NULL));
	/* (waited for even after a failure: the caller frees the buffers) */
	w = err(cu.cuStreamSynchronize(d->batch_stream));
	pthread_mutex_unlock(&d->pieces_lock);
	return r ? r : w;
}

/*
 * Copies of this GPU's memory to this GPU's memory by one kernel, queued
 * on s and not waited for. A move's copy of a job with many allocations (a
 * GPT's 66, 1.2 GiB) spent 0.4-0.55 ms queueing one copy each, longer than
 * the rest of the new proxy's work at the freeze; one launch queues in
 * about 10 us. On the GPU, a copy engine is faster on one large copy
 * (2.09 against 1.87 TB/s, 1 GiB): the caller picks. Each copy is cut into
 * chunks, one for a block at a time, few enough for the list.
 */
static int cuda_memcpy_chunks(void *dev, const uint64_t *dst, const uint64_t *src,
			      const uint64_t *size, size_t n, void *s)
{
	struct cuda_dev *d = dev;
	uint64_t total = 0, chunk, *list = d->chunks, k = 0;
	void *args[2] = { &list, &k };
	int r;

	if (!d->chunks_fn || !n || n >= CHUNKS_MAX / 2)
		return cudaErrorNotSupported;
	for (size_t i = 0; i < n; i++) {
		if ((dst[i] | src[i] | size[i]) % 16)
			return cudaErrorNotSupported;
		total += size[i];
	}
	/* n + total / chunk entries at most */
	chunk = (total / (CHUNKS_MAX - n) + 16) & ~15ull;
	if (chunk < CHUNK_MIN)
		chunk = CHUNK_MIN;
	/* the list must not change under the last launch, which may still read it */
	if ((r = err(cu.cuEventSynchronize(d->chunks_done))))
		return r;
	for (size_t i = 0; i < n; i++)
		for (uint64_t off = 0; off < size[i]; off += chunk, k++) {
			list[3 * k] = dst[i] + off;
			list[3 * k + 1] = src[i] + off;
			list[3 * k + 2] = size[i] - off < chunk ? size[i] - off : chunk;
		}
	/* four blocks of 512 an SM: the fastest of those tried on an H200 */
	if ((r = err(cu.cuLaunchKernel(d->chunks_fn, k < 4u * (unsigned)d->sms ? (unsigned)k :
				       4u * (unsigned)d->sms, 1, 1, 512, 1, 1, 0, (CUstream)s,
				       args, NULL))))
		return r;
	return err(cu.cuEventRecordWithFlags(d->chunks_done, (CUstream)s, 0));
}

/*
 * The pieces kernel on nothing. At a zero-copy freeze the new context's
 * first work (the variables' write, or the job's first call) otherwise
 * waited for the GPU to take the context on: about 0.15 ms of the pause.
 */
static int cuda_wake(void *dev)
{
	struct cuda_dev *d = dev;
	uint64_t none = 0, n = 0;
	void *args[2] = { &none, &n };

	if (!d->pieces_fn)
		return cudaErrorNotSupported;
	return err(cu.cuLaunchKernel(d->pieces_fn, 1, 1, 1, 32, 1, 1, 0, d->batch_stream, args,
				     NULL));
}

/* Is this memory another GPU's (imported from it)? Then copy engines copy it. */
static bool cuda_mem_peer(void *dev, void *mem)
{
	return mem && ((struct cuda_mem *)mem)->peer;
}

static int cuda_open(int gpu, uint64_t window, uint64_t window_size, void **out)
{
	struct cuda_dev *d;
	CUdeviceptr got = 0;
	size_t gran = 0;
	uint64_t cap;
	int r = load_driver();

	if (r)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return cudaErrorMemoryAllocation;
	d->gpu = gpu;
	d->window = window;
	d->window_size = window_size;
	if ((r = err(cu.cuDeviceGet(&d->device, gpu))) ||
	    (r = err(cu.cuDevicePrimaryCtxRetain(&d->ctx, d->device))) ||
	    (r = err(cu.cuCtxSetCurrent(d->ctx))))
		goto err;
	d->prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
	d->prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	d->prop.location.id = d->device;
	d->prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
	if ((r = err(cu.cuMemGetAllocationGranularity(&gran, &d->prop,
						      CU_MEM_ALLOC_GRANULARITY_MINIMUM))))
		goto err;
	if (gran > (2u << 20)) {
		xmig_error("GPU %d needs %zu-byte allocation granularity; xmig handles 2 MiB",
			   gpu, gran);
		r = cudaErrorNotSupported;
		goto err;
	}
	r = err(cu.cuMemAddressReserve(&got, window_size, 0, (CUdeviceptr)window, 0));
	if (r || got != window) {
		xmig_error("cannot reserve the device window at %#llx on GPU %d (got %#llx, "
			   "error %d); set XMIG_WINDOW to another base",
			   (unsigned long long)window, gpu, (unsigned long long)got, r);
		if (!r)
			cu.cuMemAddressFree(got, window_size);
		r = cudaErrorMemoryAllocation;
		goto err;
	}
	if (freed_cache_cap_from_env(&cap) < 0) {
		xmig_error("XMIG_FREED_CACHE_MIB=%s: not a number of MiB; keeping no freed memory",
			   getenv("XMIG_FREED_CACHE_MIB"));
		cap = 0;
	}
	freed_cache_init(&d->freed, cap);
	/* (none: batches fall back to one copy at a time) */
	if (cu.cuStreamCreateWithPriority(&d->batch_stream, CU_STREAM_NON_BLOCKING, 0))
		d->batch_stream = NULL;
	pieces_open(d);
	*out = d;
	return 0;
err:
	if (d->ctx)
		cu.cuDevicePrimaryCtxRelease(d->device);
	free(d);
	return r;
}

static void cuda_mem_trim(void *dev);

static void cuda_close(void *dev)
{
	struct cuda_dev *d = dev;

	if (!d)
		return;
	cu.cuCtxSynchronize();
	cuda_mem_trim(d);
	pieces_close(d);
	if (d->batch_stream)
		cu.cuStreamDestroy(d->batch_stream);
	cu.cuMemAddressFree((CUdeviceptr)d->window, d->window_size);
	cu.cuDevicePrimaryCtxRelease(d->device);
	free(d);
}

static int cuda_bind_thread(void *dev)
{
	return err(cu.cuCtxSetCurrent(((struct cuda_dev *)dev)->ctx));
}

static int cuda_info(void *dev, struct xmig_gpu_info *info)
{
	struct cuda_dev *d = dev;
	size_t free_b, total;
	int r = info_of_device(d->device, info);

	if (r)
		return r;
	if (cu.cuMemGetInfo(&free_b, &total) == CUDA_SUCCESS)
		info->free_bytes = free_b;
	return 0;
}

static int cuda_attribute(void *dev, int attr, int *value)
{
	/* cudaDeviceAttr and CUdevice_attribute share their numbering. */
	return err(cu.cuDeviceGetAttribute(value, (CUdevice_attribute)attr,
					   ((struct cuda_dev *)dev)->device));
}

#define PROP_INT(field, attr) { offsetof(struct cudaDeviceProp, field), attr, sizeof(int) }
#define PROP_SIZE(field, attr) { offsetof(struct cudaDeviceProp, field), attr, sizeof(size_t) }

static const struct {
	size_t offset;
	CUdevice_attribute attr;
	size_t size;
} prop_map[] = {
	PROP_SIZE(sharedMemPerBlock, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
	PROP_INT(regsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK),
	PROP_INT(warpSize, CU_DEVICE_ATTRIBUTE_WARP_SIZE),
	PROP_SIZE(memPitch, CU_DEVICE_ATTRIBUTE_MAX_PITCH),
	PROP_INT(maxThreadsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
	PROP_INT(maxThreadsDim[0], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X),
	PROP_INT(maxThreadsDim[1], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y),
	PROP_INT(maxThreadsDim[2], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z),
	PROP_INT(maxGridSize[0], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X),
	PROP_INT(maxGridSize[1], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y),
	PROP_INT(maxGridSize[2], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z),
	PROP_SIZE(totalConstMem, CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY),
	PROP_INT(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
	PROP_INT(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
	PROP_SIZE(textureAlignment, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT),
	PROP_SIZE(texturePitchAlignment, CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT),
	PROP_INT(multiProcessorCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
	PROP_INT(integrated, CU_DEVICE_ATTRIBUTE_INTEGRATED),
	PROP_INT(canMapHostMemory, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY),
	PROP_INT(maxTexture1D, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH),
	PROP_INT(maxTexture2D[0], CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH),
	PROP_INT(maxTexture2D[1], CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT),
	PROP_INT(maxTexture3D[0], CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH),
	PROP_INT(maxTexture3D[1], CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT),
	PROP_INT(maxTexture3D[2], CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH),
	PROP_SIZE(surfaceAlignment, CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT),
	PROP_INT(concurrentKernels, CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS),
	PROP_INT(ECCEnabled, CU_DEVICE_ATTRIBUTE_ECC_ENABLED),
	PROP_INT(pciBusID, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID),
	PROP_INT(pciDeviceID, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID),
	PROP_INT(pciDomainID, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID),
	PROP_INT(tccDriver, CU_DEVICE_ATTRIBUTE_TCC_DRIVER),
	PROP_INT(asyncEngineCount, CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT),
	PROP_INT(unifiedAddressing, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING),
	PROP_INT(memoryBusWidth, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
	PROP_INT(l2CacheSize, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
	PROP_INT(persistingL2CacheMaxSize, CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE),
	PROP_INT(maxThreadsPerMultiProcessor, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR),
	PROP_INT(streamPrioritiesSupported, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED),
	PROP_INT(globalL1CacheSupported, CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED),
	PROP_INT(localL1CacheSupported, CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED),
	PROP_SIZE(sharedMemPerMultiprocessor,
		  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
	PROP_INT(regsPerMultiprocessor, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR),
	PROP_INT(managedMemory, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY),
	PROP_INT(isMultiGpuBoard, CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD),
	PROP_INT(multiGpuBoardGroupID, CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID),
	PROP_INT(hostNativeAtomicSupported, CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED),
	PROP_INT(pageableMemoryAccess, CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS),
	PROP_INT(concurrentManagedAccess, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS),
	PROP_INT(computePreemptionSupported, CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED),
	PROP_INT(canUseHostPointerForRegisteredMem,
		 CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM),
	PROP_INT(cooperativeLaunch, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH),
	PROP_SIZE(sharedMemPerBlockOptin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
	PROP_INT(maxBlocksPerMultiProcessor, CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR),
	PROP_INT(accessPolicyMaxWindowSize, CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE),
	PROP_SIZE(reservedSharedMemPerBlock, CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK),
	PROP_INT(hostRegisterSupported, CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED),
	PROP_INT(memoryPoolsSupported, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED),
	PROP_INT(gpuDirectRDMASupported, CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED),
	PROP_INT(clusterLaunch, CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH),
};

static int cuda_properties(void *dev, struct cudaDeviceProp *p)
{
	struct cuda_dev *d = dev;
	struct xmig_gpu_info info;
	CUuuid uuid;
	size_t i;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = info_of_device(d->device, &info)))
		return r;
	snprintf(p->name, sizeof(p->name), "%s", info.name);
	p->totalGlobalMem = info.total_bytes;
	if (cu.cuDeviceGetUuid(&uuid, d->device) == CUDA_SUCCESS)
		memcpy(&p->uuid, &uuid, sizeof(p->uuid));
	for (i = 0; i < sizeof(prop_map) / sizeof(prop_map[0]); i++) {
		int v = 0;

		if (cu.cuDeviceGetAttribute(&v, prop_map[i].attr, d->device) != CUDA_SUCCESS)
			continue;
		if (prop_map[i].size == sizeof(int))
			*(int *)((char *)p + prop_map[i].offset) = v;
		else
			*(size_t *)((char *)p + prop_map[i].offset) = (size_t)v;
	}
	p->unifiedAddressing = 1;
	return 0;
}

/* ---- memory ---------------------------------------------------------- */

static void mem_release(struct cuda_mem *m)
{
	cu.cuMemRelease(m->h);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static void release_freed(void *arg, void *mem)
{
	mem_release(mem);
}

/* A new handle of size bytes; a full device first gives back what the cache keeps. */
static int mem_create(struct cuda_dev *d, uint64_t size, CUmemGenericAllocationHandle *h)
{
	int r = err(cu.cuMemCreate(h, size, &d->prop, 0));

	if (r == CUDA_ERROR_OUT_OF_MEMORY &&
	    freed_cache_drain(&d->freed, release_freed, NULL))
		r = err(cu.cuMemCreate(h, size, &d->prop, 0));
	return r == CUDA_ERROR_OUT_OF_MEMORY ? cudaErrorMemoryAllocation : r;
}

static int cuda_mem_map(void *dev, uint64_t va, uint64_t size, void **out)
{
	struct cuda_dev *d = dev;
	CUmemAccessDesc access = { 0 };
	struct cuda_mem *m = freed_cache_take(&d->freed, size);
	int r;

	if (!m) {
		if (!(m = calloc(1, sizeof(*m))))
			return cudaErrorMemoryAllocation;
		m->fd = -1;
		if ((r = mem_create(d, size, &m->h))) {
			free(m);
			return r;
		}
		m->size = size;
	}
	m->unmapped = false;
	access.location = d->prop.location;
	access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
	if ((r = err(cu.cuMemMap((CUdeviceptr)va, size, 0, m->h, 0)))) {
		mem_release(m);
		return r;
	}
	if ((r = err(cu.cuMemSetAccess((CUdeviceptr)va, size, &access, 1)))) {
		cu.cuMemUnmap((CUdeviceptr)va, size);
		mem_release(m);
		return r;
	}
	*out = m;
	xmig_debug("mem_map %#llx +%llu: handle %#llx", (unsigned long long)va,
		   (unsigned long long)size, (unsigned long long)m->h);
	return 0;
}

static int cuda_mem_unmap(void *dev, uint64_t va, uint64_t size, void *mem)
{
	struct cuda_dev *d = dev;
	struct cuda_mem *m = mem;
	int r = err(cu.cuMemUnmap((CUdeviceptr)va, size));
	bool held, reusable;

	pthread_mutex_lock(&mem_lock);
	held = m->holds > 0;
	m->unmapped = true;
	reusable = !held && !r && m->fd < 0 && !m->exported;
	pthread_mutex_unlock(&mem_lock);
	if (held)
		return r;
	if (!reusable || !freed_cache_put(&d->freed, m->size, m, release_freed, NULL))
		mem_release(m);
	return r;
}

/* Give back the memory kept for reuse (before a move: the device may be its target too). */
static void cuda_mem_trim(void *dev)
{
	struct cuda_dev *d = dev;
	uint64_t bytes = freed_cache_drain(&d->freed, release_freed, NULL);

	if (bytes)
		xmig_debug("mem_trim: %llu bytes kept after frees given back",
			   (unsigned long long)bytes);
}

static int cuda_mem_hold(void *dev, void *mem)
{
	struct cuda_mem *m = mem;

	pthread_mutex_lock(&mem_lock);
	m->holds++;
	pthread_mutex_unlock(&mem_lock);
	return 0;
}

static void cuda_mem_drop(void *dev, void *mem)
{
	struct cuda_mem *m = mem;
	bool last;

	pthread_mutex_lock(&mem_lock);
	last = --m->holds == 0 && m->unmapped;
	pthread_mutex_unlock(&mem_lock);
	if (last)
		mem_release(m);
}

static int cuda_mem_info(void *dev, uint64_t *free_b, uint64_t *total)
{
	size_t f, t;
	int r;

	/* (free memory as the program would see it natively: no freed memory kept) */
	cuda_mem_trim(dev);
	r = err(cu.cuMemGetInfo(&f, &t));

	if (!r) {
		*free_b = f;
		*total = t;
	}
	return r;
}

static int cuda_mem_export(void *dev, void *mem, int *fd)
{
	struct cuda_mem *m = mem;

	if (m->fd >= 0) {
		*fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
		return *fd < 0 ? cudaErrorOperatingSystem : 0;
	}
	pthread_mutex_lock(&mem_lock);
	m->exported = true;
	pthread_mutex_unlock(&mem_lock);
	return err(cu.cuMemExportToShareableHandle(fd, m->h,
						   CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
}

static int cuda_mem_import(void *dev, int fd, uint64_t va, uint64_t size, void **out)
{
	struct cuda_dev *d = dev;
	CUmemAccessDesc access = { 0 };
	CUmemAllocationProp prop = { 0 };
	struct cuda_mem *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return cudaErrorMemoryAllocation;
	r = err(cu.cuMemImportFromShareableHandle(&m->h, (void *)(uintptr_t)fd,
						  CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
	if (r) {
		close(fd);
		free(m);
		return r;
	}
	m->fd = fd;   /* kept: it is how this memory moves on next time */
	access.location = d->prop.location;
	access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
	if ((r = err(cu.cuMemMap((CUdeviceptr)va, size, 0, m->h, 0))) ||
	    (r = err(cu.cuMemSetAccess((CUdeviceptr)va, size, &access, 1)))) {
		cu.cuMemUnmap((CUdeviceptr)va, size);
		cu.cuMemRelease(m->h);
		close(m->fd);
		free(m);
		return r;
	}
	m->size = size;
	/* (where it lives, as the driver numbers devices here; unknown: taken as here) */
	if (!cu.cuMemGetAllocationPropertiesFromHandle(&prop, m->h))
		m->peer = prop.location.type == CU_MEM_LOCATION_TYPE_DEVICE &&
			  prop.location.id != (int)d->device;
	*out = m;
	xmig_debug("mem_import at %#llx +%llu: handle %#llx", (unsigned long long)va,
		   (unsigned long long)size, (unsigned long long)m->h);
	return 0;
}

static int cuda_va_reserve(void *dev, uint64_t size, uint64_t *va)
{
	CUdeviceptr p = 0;
	int r = err(cu.cuMemAddressReserve(&p, size, 0, 0, 0));

	*va = p;
	return r;
}

static int cuda_va_release(void *dev, uint64_t va, uint64_t size)
{
	return err(cu.cuMemAddressFree((CUdeviceptr)va, size));
}

static int cuda_host_register(void *dev, void *addr, uint64_t size, unsigned flags)
{
	return err(cu.cuMemHostRegister(addr, size, CU_MEMHOSTREGISTER_PORTABLE |
					CU_MEMHOSTREGISTER_DEVICEMAP |
					(flags & XMIG_HOST_READ_ONLY ? CU_MEMHOSTREGISTER_READ_ONLY : 0)));
}

static int cuda_host_unregister(void *dev, void *addr)
{
	return err(cu.cuMemHostUnregister(addr));
}

/* ---- streams and events --------------------------------------------- */

static int cuda_stream_create(void *dev, unsigned flags, int priority, void **s)
{
	return err(cu.cuStreamCreateWithPriority((CUstream *)s, flags, priority));
}

static int cuda_stream_destroy(void *dev, void *s)
{
	return err(cu.cuStreamDestroy((CUstream)s));
}

static void *cuda_stream_special(void *dev, enum xmig_stream_kind kind)
{
	return kind == XMIG_DEV_STREAM_LEGACY ? (void *)CU_STREAM_LEGACY
					      : (void *)CU_STREAM_PER_THREAD;
}

static int cuda_stream_sync(void *dev, void *s)
{
	return err(cu.cuStreamSynchronize((CUstream)s));
}

static int cuda_stream_query(void *dev, void *s)
{
	return err(cu.cuStreamQuery((CUstream)s));
}

/* (fn runs on a thread of the driver's, and must not call CUDA: it does not) */
static int cuda_host_func(void *dev, void *s, void (*fn)(void *arg), void *arg)
{
	return err(cu.cuLaunchHostFunc((CUstream)s, fn, arg));
}

static int cuda_stream_wait_event(void *dev, void *s, void *e, unsigned flags)
{
	return err(cu.cuStreamWaitEvent((CUstream)s, (CUevent)e, flags));
}

/* Stream capture and graphs: relaxed, so the proxy's own threads may use the driver meanwhile. */
static int cuda_capture_begin(void *dev, void *s)
{
	return err(cu.cuStreamBeginCapture((CUstream)s, CU_STREAM_CAPTURE_MODE_RELAXED));
}

static int cuda_capture_end(void *dev, void *s, void **graph)
{
	return err(cu.cuStreamEndCapture((CUstream)s, (CUgraph *)graph));
}

static int cuda_capture_info(void *dev, void *s, int *status, uint64_t *id)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	cuuint64_t cid = 0;
	int r = err(cu.cuStreamGetCaptureInfo((CUstream)s, &st, &cid, NULL, NULL, NULL, NULL));

	*status = (int)st;
	*id = st == CU_STREAM_CAPTURE_STATUS_NONE ? 0 : cid;
	return r;
}

/* (edges other than the default, programmatic launches': not said, so refused) */
static int cuda_capture_deps(void *dev, void *s, uint64_t *nodes, size_t max, size_t *n)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	const CUgraphNode *deps = NULL;
	const CUgraphEdgeData *edges = NULL;
	int r = err(cu.cuStreamGetCaptureInfo((CUstream)s, &st, NULL, NULL, &deps, &edges, n));

	if (r)
		return r;
	if (*n > max)
		return xmig_error("a capture with %zu open ends (at most %zu are handed out)", *n,
				  max), cudaErrorNotSupported;
	for (size_t i = 0; i < *n; i++) {
		static const CUgraphEdgeData plain;

		if (edges && memcmp(&edges[i], &plain, sizeof(plain)))
			return xmig_error("a capture's open end with edge data (a programmatic "
					  "launch's) is not handed out"), cudaErrorNotSupported;
		nodes[i] = (uint64_t)(uintptr_t)deps[i];
	}
	return 0;
}

/* (plain edges: a graph built node by node has no others here; a node is 64 bits, as named) */
_Static_assert(sizeof(CUgraphNode) == sizeof(uint64_t), "a CUgraphNode travels as 64 bits");
static int cuda_capture_set_deps(void *dev, void *s, const uint64_t *nodes, size_t n)
{
	return err(cu.cuStreamUpdateCaptureDependencies((CUstream)s,
							 n ? (CUgraphNode *)(uintptr_t)nodes : NULL,
							 NULL, n,
							 CU_STREAM_SET_CAPTURE_DEPENDENCIES));
}

static int cuda_capture_nodes(void *dev, void *s, size_t *n)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	CUgraph graph = NULL;
	int r = err(cu.cuStreamGetCaptureInfo((CUstream)s, &st, NULL, &graph, NULL, NULL, NULL));

	if (!r && st == CU_STREAM_CAPTURE_STATUS_NONE)
		r = cudaErrorInvalidValue;
	return r ? r : err(cu.cuGraphGetNodes(graph, NULL, n));
}

static int cuda_graph_instantiate(void *dev, void *graph, uint64_t flags, void **exec)
{
	return err(cu.cuGraphInstantiate((CUgraphExec *)exec, (CUgraph)graph, flags));
}

static int cuda_graph_launch(void *dev, void *exec, void *s, bool upload)
{
	return err(upload ? cu.cuGraphUpload((CUgraphExec)exec, (CUstream)s)
			  : cu.cuGraphLaunch((CUgraphExec)exec, (CUstream)s));
}

static int cuda_graph_destroy(void *dev, void *graph)
{
	return err(cu.cuGraphDestroy((CUgraph)graph));
}

static int cuda_graph_nodes(void *dev, void *graph, size_t *n)
{
	return err(cu.cuGraphGetNodes((CUgraph)graph, NULL, n));
}

static int cuda_graph_exec_destroy(void *dev, void *exec)
{
	return err(cu.cuGraphExecDestroy((CUgraphExec)exec));
}

static int cuda_graph_exec_update(void *dev, void *exec, void *graph, int *result)
{
	CUgraphExecUpdateResultInfo info = { 0 };
	int r = err(cu.cuGraphExecUpdate((CUgraphExec)exec, (CUgraph)graph, &info));

	*result = (int)info.result;
	if (r)   /* (why the driver refused: CUgraphExecUpdateResult) */
		xmig_debug("cuGraphExecUpdate refused: result %d", (int)info.result);
	return r;
}

static int cuda_priority_range(void *dev, int *least, int *greatest)
{
	return err(cu.cuCtxGetStreamPriorityRange(least, greatest));
}

static int cuda_event_create(void *dev, unsigned flags, void **e)
{
	return err(cu.cuEventCreate((CUevent *)e, flags));
}

static int cuda_event_destroy(void *dev, void *e)
{
	return err(cu.cuEventDestroy((CUevent)e));
}

static int cuda_event_record(void *dev, void *e, void *s, unsigned flags)
{
	return err(cu.cuEventRecordWithFlags((CUevent)e, (CUstream)s, flags));
}

static int cuda_event_sync(void *dev, void *e)
{
	return err(cu.cuEventSynchronize((CUevent)e));
}

static int cuda_event_query(void *dev, void *e)
{
	return err(cu.cuEventQuery((CUevent)e));
}

static int cuda_event_elapsed(void *dev, float *ms, void *start, void *end)
{
	return err(cu.cuEventElapsedTime(ms, (CUevent)start, (CUevent)end));
}

static int cuda_memcpy_async(void *dev, uint64_t dst, uint64_t src, uint64_t size, void *s)
{
	return err(cu.cuMemcpyAsync((CUdeviceptr)dst, (CUdeviceptr)src, size, (CUstream)s));
}

/*
 * n copies in one driver call, waited for: a PyTorch job has hundreds of
 * one-byte __device__ variables, and a driver call each took milliseconds
 * of a move's downtime. Called on a drained context, so its own stream
 * needs no ordering with the job's.
 */
static int cuda_memcpy_batch(void *dev, const uint64_t *dst, const uint64_t *src,
			     const uint64_t *size, size_t n)
{
	struct cuda_dev *d = dev;
	CUmemcpyAttributes attr = { .srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM };
	size_t first = 0;
	int r, w;

	if (!n)
		return 0;
	if (!cu_memcpy_batch || !d->batch_stream)
		return cudaErrorNotSupported;   /* the caller copies one at a time */
	r = err(cu_memcpy_batch((CUdeviceptr *)(uintptr_t)dst, (CUdeviceptr *)(uintptr_t)src,
				(size_t *)(uintptr_t)size, n, &attr, &first, 1, d->batch_stream));
	/* (waited for even after a failure: the caller frees the buffers) */
	w = err(cu.cuStreamSynchronize(d->batch_stream));
	return r ? r : w;
}

static int cuda_memset_async(void *dev, uint64_t dst, uint8_t value, uint64_t size, void *s)
{
	return err(cu.cuMemsetD8Async((CUdeviceptr)dst, value, size, (CUstream)s));
}

static int cuda_ctx_sync(void *dev)
{
	return err(cu.cuCtxSynchronize());
}

/* ---- modules and kernels -------------------------------------------- */

/* The driver's linker, with the job's numeric options and the two logs. */
static int cuda_link(void *dev, const struct xmig_link_opt *opts, unsigned nopts,
		     const struct xmig_link_piece *in, unsigned nin, void **out, size_t *out_len,
		     char *info, size_t info_len, char *errlog, size_t errlog_len)
{
	CUjit_option o[64 + 4];
	void *v[64 + 4];
	unsigned n = 0;
	CUlinkState st;
	void *cubin;
	size_t size;
	CUresult r;

	for (unsigned i = 0; i < nopts && i < 64; i++, n++) {
		o[n] = (CUjit_option)opts[i].id;
		v[n] = (void *)(uintptr_t)opts[i].value;
	}
	o[n] = CU_JIT_INFO_LOG_BUFFER;
	v[n++] = info;
	o[n] = CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES;
	v[n++] = (void *)(uintptr_t)info_len;
	o[n] = CU_JIT_ERROR_LOG_BUFFER;
	v[n++] = errlog;
	o[n] = CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
	v[n++] = (void *)(uintptr_t)errlog_len;
	if ((r = cu.cuLinkCreate(n, o, v, &st)))
		return r;
	for (unsigned i = 0; i < nin && !r; i++)
		r = cu.cuLinkAddData(st, (CUjitInputType)in[i].type, (void *)in[i].data, in[i].size,
				     in[i].name, 0, NULL, NULL);
	if (!r && !(r = cu.cuLinkComplete(st, &cubin, &size))) {
		if ((*out = malloc(size ? size : 1))) {
			memcpy(*out, cubin, size);
			*out_len = size;
		} else {
			r = CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	cu.cuLinkDestroy(st);
	return r;
}

static int cuda_module_load(void *dev, const void *image, size_t size, void **mod)
{
	return err(cu.cuModuleLoadData((CUmodule *)mod, image));
}

static int cuda_module_unload(void *dev, void *mod)
{
	return err(cu.cuModuleUnload((CUmodule)mod));
}

static int cuda_func_get(void *dev, void *mod, const char *name, void **fn,
			 struct xmig_param_layout *layout)
{
	CUfunction f;
	uint32_t n = 0, cap = 16, end = 0;
	int r = err(cu.cuModuleGetFunction(&f, (CUmodule)mod, name));

	if (r)
		return r == CUDA_ERROR_NOT_FOUND ? cudaErrorInvalidDeviceFunction : r;
	layout->params = malloc(cap * sizeof(*layout->params));
	if (!layout->params)
		return cudaErrorMemoryAllocation;
	for (;;) {
		size_t off, sz;

		if (cu.cuFuncGetParamInfo(f, n, &off, &sz) != CUDA_SUCCESS)
			break;   /* past the last parameter */
		if (n == cap) {
			void *np = realloc(layout->params, 2 * cap * sizeof(*layout->params));
			if (!np)
				return cudaErrorMemoryAllocation;
			layout->params = np;
			cap *= 2;
		}
		layout->params[n].offset = (uint32_t)off;
		layout->params[n].size = (uint32_t)sz;
		if (off + sz > end)
			end = (uint32_t)(off + sz);
		n++;
	}
	layout->nparams = n;
	layout->param_bytes = end;
	*fn = f;
	return 0;
}

static int cuda_var_get(void *dev, void *mod, const char *name, uint64_t size, uint64_t *addr,
			uint64_t *actual)
{
	CUdeviceptr p;
	size_t s;
	int r = err(cu.cuModuleGetGlobal(&p, &s, (CUmodule)mod, name));

	if (r)
		return r == CUDA_ERROR_NOT_FOUND ? cudaErrorInvalidSymbol : r;
	*addr = p;
	*actual = s;
	return 0;
}

static int cuda_func_attributes(void *dev, void *fn, struct cudaFuncAttributes *a)
{
	CUfunction f = fn;
	int v;

	memset(a, 0, sizeof(*a));
#define ATTR(field, attr, type)                                            \
	do {                                                               \
		int r_ = err(cu.cuFuncGetAttribute(&v, attr, f));          \
		if (r_)                                                    \
			return r_;                                         \
		a->field = (type)v;                                        \
	} while (0)
	ATTR(sharedSizeBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, size_t);
	ATTR(constSizeBytes, CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, size_t);
	ATTR(localSizeBytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, size_t);
	ATTR(maxThreadsPerBlock, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, int);
	ATTR(numRegs, CU_FUNC_ATTRIBUTE_NUM_REGS, int);
	ATTR(ptxVersion, CU_FUNC_ATTRIBUTE_PTX_VERSION, int);
	ATTR(binaryVersion, CU_FUNC_ATTRIBUTE_BINARY_VERSION, int);
	ATTR(cacheModeCA, CU_FUNC_ATTRIBUTE_CACHE_MODE_CA, int);
	ATTR(maxDynamicSharedSizeBytes, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int);
	ATTR(preferredShmemCarveout, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, int);
#undef ATTR
	/* Cluster attributes exist from Hopper on: elsewhere they stay 0. */
#define CLUSTER_ATTR(field, attr) \
	a->field = cu.cuFuncGetAttribute(&v, attr, f) == CUDA_SUCCESS ? v : 0
	CLUSTER_ATTR(clusterDimMustBeSet, CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET);
	CLUSTER_ATTR(requiredClusterWidth, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH);
	CLUSTER_ATTR(requiredClusterHeight, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT);
	CLUSTER_ATTR(requiredClusterDepth, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH);
	CLUSTER_ATTR(nonPortableClusterSizeAllowed,
		     CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED);
	CLUSTER_ATTR(clusterSchedulingPolicyPreference,
		     CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE);
#undef CLUSTER_ATTR
	return 0;
}

static int cuda_func_set_attribute(void *dev, void *fn, int attr, int value)
{
	/* cudaFuncAttribute 8, 9 map to the driver's 8, 9. */
	return err(cu.cuFuncSetAttribute((CUfunction)fn, (CUfunction_attribute)attr, value));
}

static int cuda_occupancy(void *dev, void *fn, int block, size_t smem, unsigned flags, int *blocks)
{
	return err(cu.cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(blocks, (CUfunction)fn,
									   block, smem, flags));
}

static int cuda_launch(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
		       size_t shmem, void *s, void *params, size_t param_bytes)
{
	void *extra[] = {
		CU_LAUNCH_PARAM_BUFFER_POINTER, params,
		CU_LAUNCH_PARAM_BUFFER_SIZE, &param_bytes,
		CU_LAUNCH_PARAM_END,
	};
	int r = err(cu.cuLaunchKernel((CUfunction)fn, grid.x, grid.y, grid.z, block.x, block.y,
				      block.z, (unsigned)shmem, (CUstream)s, NULL,
				      param_bytes ? extra : NULL));

	return r;
}

/* ---- the driver API's extras ------------------------------------------ */

_Static_assert(sizeof(struct xmig_launch_attr) == sizeof(CUlaunchAttribute) &&
		       offsetof(struct xmig_launch_attr, value) == offsetof(CUlaunchAttribute, value),
	       "launch attributes travel as CUlaunchAttribute");

static void launch_config(CUlaunchConfig *cfg, CUlaunchAttribute *attrs, struct xmig_dim3 grid,
			  struct xmig_dim3 block, size_t shmem, void *s,
			  const struct xmig_launch_attr *in, unsigned nattrs)
{
	memcpy(attrs, in, nattrs * sizeof(*attrs));
	*cfg = (CUlaunchConfig){
		.gridDimX = grid.x, .gridDimY = grid.y, .gridDimZ = grid.z,
		.blockDimX = block.x, .blockDimY = block.y, .blockDimZ = block.z,
		.sharedMemBytes = (unsigned)shmem, .hStream = (CUstream)s,
		.attrs = attrs, .numAttrs = nattrs,
	};
}

static int cuda_launch_ex(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
			  size_t shmem, void *s, void *params, size_t param_bytes,
			  const struct xmig_launch_attr *in, unsigned nattrs)
{
	CUlaunchAttribute attrs[XMIG_MAX_LAUNCH_ATTRS];
	CUlaunchConfig cfg;
	void *extra[] = {
		CU_LAUNCH_PARAM_BUFFER_POINTER, params,
		CU_LAUNCH_PARAM_BUFFER_SIZE, &param_bytes,
		CU_LAUNCH_PARAM_END,
	};

	launch_config(&cfg, attrs, grid, block, shmem, s, in, nattrs);
	return err(cu.cuLaunchKernelEx(&cfg, (CUfunction)fn, NULL, param_bytes ? extra : NULL));
}

static int cuda_occupancy_clusters(void *dev, void *fn, struct xmig_dim3 grid,
				   struct xmig_dim3 block, size_t shmem,
				   const struct xmig_launch_attr *in, unsigned nattrs, int *clusters)
{
	CUlaunchAttribute attrs[XMIG_MAX_LAUNCH_ATTRS];
	CUlaunchConfig cfg;

	launch_config(&cfg, attrs, grid, block, shmem, NULL, in, nattrs);
	return err(cu.cuOccupancyMaxActiveClusters(clusters, (CUfunction)fn, &cfg));
}

static int cuda_tensor_map_encode(void *dev, const struct xmig_tensor_map_req *r, void *map)
{
	CUtensorMap m;
	CUresult res;

	if (r->kind == XMIG_TENSOR_MAP_TILED)
		res = cu.cuTensorMapEncodeTiled(&m, (CUtensorMapDataType)r->dtype, r->rank,
						(void *)(uintptr_t)r->address, r->dims, r->strides,
						r->box, r->element_strides,
						(CUtensorMapInterleave)r->interleave,
						(CUtensorMapSwizzle)r->swizzle,
						(CUtensorMapL2promotion)r->l2_promotion,
						(CUtensorMapFloatOOBfill)r->oob_fill);
	else if (r->kind == XMIG_TENSOR_MAP_IM2COL)
		res = cu.cuTensorMapEncodeIm2col(&m, (CUtensorMapDataType)r->dtype, r->rank,
						 (void *)(uintptr_t)r->address, r->dims, r->strides,
						 r->lower, r->upper, r->channels_per_pixel,
						 r->pixels_per_column, r->element_strides,
						 (CUtensorMapInterleave)r->interleave,
						 (CUtensorMapSwizzle)r->swizzle,
						 (CUtensorMapL2promotion)r->l2_promotion,
						 (CUtensorMapFloatOOBfill)r->oob_fill);
	else
		return cudaErrorInvalidValue;
	if (res == CUDA_SUCCESS)
		memcpy(map, &m, sizeof(m));
	return err(res);
}

/* (every address of the proxy's is unified: device memory and registered host memory alike) */
static int cuda_memcpy_2d(void *dev, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch,
			  uint64_t width, uint64_t height, void *s)
{
	CUDA_MEMCPY2D p = {
		.srcMemoryType = CU_MEMORYTYPE_UNIFIED, .srcDevice = (CUdeviceptr)src,
		.srcPitch = spitch,
		.dstMemoryType = CU_MEMORYTYPE_UNIFIED, .dstDevice = (CUdeviceptr)dst,
		.dstPitch = dpitch,
		.WidthInBytes = width, .Height = height,
	};

	return err(cu.cuMemcpy2DAsync(&p, (CUstream)s));
}

static int cuda_memset_2d(void *dev, uint64_t dst, uint64_t pitch, uint32_t value, unsigned elem,
			  uint64_t width, uint64_t height, void *s)
{
	if (elem == 1)
		return err(cu.cuMemsetD2D8Async((CUdeviceptr)dst, pitch, (unsigned char)value, width,
						height, (CUstream)s));
	if (elem == 2)
		return err(cu.cuMemsetD2D16Async((CUdeviceptr)dst, pitch, (unsigned short)value,
						 width, height, (CUstream)s));
	return err(cu.cuMemsetD2D32Async((CUdeviceptr)dst, pitch, value, width, height,
					 (CUstream)s));
}

static int cuda_memset_wide(void *dev, uint64_t dst, uint32_t value, unsigned width,
			    uint64_t count, void *s)
{
	if (width == 2)
		return err(cu.cuMemsetD16Async((CUdeviceptr)dst, (unsigned short)value, count,
					       (CUstream)s));
	return err(cu.cuMemsetD32Async((CUdeviceptr)dst, value, count, (CUstream)s));
}

static int cuda_set_limit(void *dev, int limit, size_t value)
{
	return err(cu.cuCtxSetLimit((CUlimit)limit, value));
}

static int cuda_get_limit(void *dev, int limit, size_t *value)
{
	return err(cu.cuCtxGetLimit(value, (CUlimit)limit));
}

const struct xmig_device_ops xmig_device_cuda = {
	.name = "cuda",
	.open = cuda_open,
	.close = cuda_close,
	.bind_thread = cuda_bind_thread,
	.count = cuda_count,
	.info = cuda_info,
	.info_of = cuda_info_of,
	.attribute = cuda_attribute,
	.properties = cuda_properties,
	.driver_version = cuda_driver_version,
	.granularity = 2u << 20,
	.mem_map = cuda_mem_map,
	.mem_unmap = cuda_mem_unmap,
	.mem_hold = cuda_mem_hold,
	.mem_drop = cuda_mem_drop,
	.mem_info = cuda_mem_info,
	.mem_trim = cuda_mem_trim,
	.mem_export = cuda_mem_export,
	.mem_import = cuda_mem_import,
	.va_reserve = cuda_va_reserve,
	.va_release = cuda_va_release,
	.host_register = cuda_host_register,
	.host_unregister = cuda_host_unregister,
	.stream_create = cuda_stream_create,
	.stream_destroy = cuda_stream_destroy,
	.stream_special = cuda_stream_special,
	.stream_sync = cuda_stream_sync,
	.stream_query = cuda_stream_query,
	.stream_wait_event = cuda_stream_wait_event,
	.capture_libraries = XMIG_CAPTURES_ALL,
	.capture_begin = cuda_capture_begin,
	.capture_end = cuda_capture_end,
	.capture_info = cuda_capture_info,
	.capture_nodes = cuda_capture_nodes,
	.capture_deps = cuda_capture_deps,
	.capture_set_deps = cuda_capture_set_deps,
	.graph_instantiate = cuda_graph_instantiate,
	.graph_launch = cuda_graph_launch,
	.graph_destroy = cuda_graph_destroy,
	.graph_nodes = cuda_graph_nodes,
	.graph_exec_destroy = cuda_graph_exec_destroy,
	.graph_exec_update = cuda_graph_exec_update,
	.priority_range = cuda_priority_range,
	.host_func = cuda_host_func,
	.event_create = cuda_event_create,
	.event_destroy = cuda_event_destroy,
	.event_record = cuda_event_record,
	.event_sync = cuda_event_sync,
	.event_query = cuda_event_query,
	.event_elapsed = cuda_event_elapsed,
	.memcpy_async = cuda_memcpy_async,
	.memcpy_batch = cuda_memcpy_batch,
	.memcpy_pieces = cuda_memcpy_pieces,
	.memcpy_chunks = cuda_memcpy_chunks,
	.wake = cuda_wake,
	.mem_peer = cuda_mem_peer,
	.memset_async = cuda_memset_async,
	.ctx_sync = cuda_ctx_sync,
	.module_load = cuda_module_load,
	.module_unload = cuda_module_unload,
	.func_get = cuda_func_get,
	.var_get = cuda_var_get,
	.func_attributes = cuda_func_attributes,
	.func_set_attribute = cuda_func_set_attribute,
	.occupancy = cuda_occupancy,
	.launch = cuda_launch,
	.set_limit = cuda_set_limit,
	.get_limit = cuda_get_limit,
	.blas_create = xmig_blas_cuda_create,
	.blas_destroy = xmig_blas_cuda_destroy,
	.blas_set = xmig_blas_cuda_set,
	.blas_gemm = xmig_blas_cuda_gemm,
	XMIG_DNN_OPS(xmig_dnn_cuda),
	.launch_ex = cuda_launch_ex,
	.occupancy_clusters = cuda_occupancy_clusters,
	.tensor_map_encode = cuda_tensor_map_encode,
	.memset_wide = cuda_memset_wide,
	.memcpy_2d = cuda_memcpy_2d,
	.memset_2d = cuda_memset_2d,
	.link = cuda_link,
	.blaslt_create = xmig_blaslt_cuda_create,
	.blaslt_destroy = xmig_blaslt_cuda_destroy,
	.blaslt_heuristic = xmig_blaslt_cuda_heuristic,
	.blaslt_matmul = xmig_blaslt_cuda_matmul,
	.ccl = &ccl_backend_nccl,
};
