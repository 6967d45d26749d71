/*
 * srv-cudart.c - the server side of the generic CUDA runtime functions
 * (cudart.def): what each one means, on whichever device backs this proxy.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "srv-api.h"
#include "state.h"

#define DEV(c) ((c)->srv->dev)
#define DEVH(c) ((c)->srv->devh)

/* Every proxy serves one GPU, seen by the application as device 0. */
static int check_device(int device)
{
	return device == 0 ? 0 : cudaErrorInvalidDevice;
}

/* ---- device ---------------------------------------------------------- */

static int sync_all(struct xmig_call *c)
{
	return DEV(c)->ctx_sync(DEVH(c));
}

int srv_cudaDeviceSynchronize(struct xmig_call *c, int unused)
{
	srv_mem_pool_synced(c->srv);
	/* Waits outside the turn: other threads' calls go on meanwhile. */
	c->defer = sync_all;
	return 0;
}

/*
 * What the GPU can do but a job under xmig cannot ask of it, answered "no",
 * so that libraries take their fallbacks rather than call what fails
 * loudly: ggml's and PyTorch's allocators ask for virtual memory
 * management before they reserve and map memory of their own (the proxy's
 * is the only mapping), code asks for managed memory before
 * cudaMallocManaged (which could not follow a job), and the application's
 * memory export, IPC and GPUDirect RDMA handles would name memory of the
 * proxy's process. (Host registration is served: host-register.c.)
 */
static const enum cudaDeviceAttr unserved[] = {
	cudaDevAttrManagedMemory,
	cudaDevAttrPageableMemoryAccess,
	cudaDevAttrConcurrentManagedAccess,
	cudaDevAttrPageableMemoryAccessUsesHostPageTables,
	cudaDevAttrDirectManagedMemAccessFromHost,
	(enum cudaDeviceAttr)102,   /* CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED */
	(enum cudaDeviceAttr)103,   /* ..._HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED */
	(enum cudaDeviceAttr)104,   /* ..._HANDLE_TYPE_WIN32_HANDLE_SUPPORTED */
	(enum cudaDeviceAttr)105,   /* ..._HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED */
	(enum cudaDeviceAttr)107,   /* ..._GENERIC_COMPRESSION_SUPPORTED (cuMemCreate's) */
	(enum cudaDeviceAttr)110,   /* ..._GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED */
	cudaDevAttrTimelineSemaphoreInteropSupported,
	cudaDevAttrGPUDirectRDMASupported,
	cudaDevAttrMemoryPoolSupportedHandleTypes,
	cudaDevAttrIpcEventSupport,
	(enum cudaDeviceAttr)128,   /* ..._HANDLE_TYPE_FABRIC_SUPPORTED */
	(enum cudaDeviceAttr)141,   /* ..._HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED */
	(enum cudaDeviceAttr)142,   /* ..._HOST_NUMA_MEMORY_POOLS_SUPPORTED */
	(enum cudaDeviceAttr)143,   /* ..._HOST_NUMA_MULTINODE_IPC_SUPPORTED */
	(enum cudaDeviceAttr)145,   /* ..._HOST_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED */
};

int srv_cudaDeviceGetAttribute(struct xmig_call *c, int *value, enum cudaDeviceAttr attr,
			       int device)
{
	if (check_device(device))
		return cudaErrorInvalidDevice;
	for (size_t i = 0; i < sizeof(unserved) / sizeof(unserved[0]); i++)
		if (attr == unserved[i]) {
			*value = 0;
			return 0;
		}
	return DEV(c)->attribute(DEVH(c), attr, value);
}

int srv_cudaGetDeviceProperties(struct xmig_call *c, struct cudaDeviceProp *prop, int device)
{
	int r = check_device(device) ?: DEV(c)->properties(DEVH(c), prop);

	if (r)
		return r;
	/* (the same answers as the attributes above) */
	prop->managedMemory = 0;
	prop->pageableMemoryAccess = 0;
	prop->concurrentManagedAccess = 0;
	prop->pageableMemoryAccessUsesHostPageTables = 0;
	prop->directManagedMemAccessFromHost = 0;
	prop->timelineSemaphoreInteropSupported = 0;
	prop->gpuDirectRDMASupported = 0;
	prop->gpuDirectRDMAFlushWritesOptions = 0;
	prop->memoryPoolSupportedHandleTypes = 0;
	prop->ipcEventSupported = 0;
	return 0;
}

int srv_cudaMemGetInfo(struct xmig_call *c, size_t *free_b, size_t *total)
{
	uint64_t f, t;
	int r;

	/* (due frees of cudaMalloc'd memory are free; the pool's stays the job's, as in CUDA) */
	srv_mem_reap(c->srv, false);
	r = DEV(c)->mem_info(DEVH(c), &f, &t);

	*free_b = f;
	*total = t;
	return r;
}

int srv_cudaDeviceGetStreamPriorityRange(struct xmig_call *c, int *least, int *greatest)
{
	return DEV(c)->priority_range(DEVH(c), least, greatest);
}

int srv_cudaDeviceSetLimit(struct xmig_call *c, enum cudaLimit limit, size_t value)
{
	int r = DEV(c)->set_limit(DEVH(c), limit, value);

	/* Remembered so the next proxy sets it again after a move. */
	if (!r && limit >= 0 && limit < SRV_LIMITS) {
		c->srv->limits[limit] = value;
		c->srv->limit_set[limit] = true;
	}
	return r;
}

int srv_cudaDeviceGetLimit(struct xmig_call *c, size_t *value, enum cudaLimit limit)
{
	return DEV(c)->get_limit(DEVH(c), limit, value);
}

int srv_cudaDeviceSetCacheConfig(struct xmig_call *c, enum cudaFuncCache cfg)
{
	/* A preference only; Hopper ignores it as well. */
	return cfg <= cudaFuncCachePreferEqual ? 0 : cudaErrorInvalidValue;
}

int srv_cudaDeviceGetCacheConfig(struct xmig_call *c, enum cudaFuncCache *cfg)
{
	*cfg = cudaFuncCachePreferNone;
	return 0;
}

/* ---- streams --------------------------------------------------------- */

static int new_stream(struct xmig_call *c, uint64_t *id, unsigned flags, int priority)
{
	struct srv_stream *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return cudaErrorMemoryAllocation;
	if (flags & ~1u) {
		free(st);
		return cudaErrorInvalidValue;
	}
	r = DEV(c)->stream_create(DEVH(c), flags, priority, &st->h);
	if (r) {
		free(st);
		return r;
	}
	st->flags = flags;
	st->priority = priority;
	*id = srv_table_add(&c->srv->streams, st);
	if (!*id) {
		DEV(c)->stream_destroy(DEVH(c), st->h);
		free(st);
		return cudaErrorMemoryAllocation;
	}
	st->id = *id;
	return 0;
}

int srv_cudaStreamCreate(struct xmig_call *c, uint64_t *id)
{
	return new_stream(c, id, 0, 0);
}

int srv_cudaStreamCreateWithFlags(struct xmig_call *c, uint64_t *id, unsigned int flags)
{
	return new_stream(c, id, flags, 0);
}

int srv_cudaStreamCreateWithPriority(struct xmig_call *c, uint64_t *id, unsigned int flags,
				     int priority)
{
	int least, greatest;

	/* CUDA clamps priorities into the device's range. */
	if (DEV(c)->priority_range(DEVH(c), &least, &greatest) == 0) {
		if (priority > least)
			priority = least;
		if (priority < greatest)
			priority = greatest;
	}
	return new_stream(c, id, flags, priority);
}

int srv_cudaStreamDestroy(struct xmig_call *c, struct srv_stream *st)
{
	uint64_t id = st->id;
	int r;

	if (id < XMIG_STREAM_FIRST_USER)
		return cudaErrorInvalidResourceHandle;
	r = DEV(c)->stream_destroy(DEVH(c), st->h);
	srv_table_remove(&c->srv->streams, id);
	json_decref(st->entry);
	free(st);
	return r;
}

int srv_cudaStreamSynchronize(struct xmig_call *c, struct srv_stream *st)
{
	srv_mem_pool_synced(c->srv);
	/* where the stream is now, waited for: not later work */
	return srv_defer_until_done(c, st);
}

int srv_cudaStreamQuery(struct xmig_call *c, struct srv_stream *st)
{
	return DEV(c)->stream_query(DEVH(c), st->h);
}

int srv_cudaStreamWaitEvent(struct xmig_call *c, struct srv_stream *st, struct srv_event *e,
			    unsigned int flags)
{
	return DEV(c)->stream_wait_event(DEVH(c), st->h, e->h, flags);
}

int srv_cudaStreamGetPriority(struct xmig_call *c, struct srv_stream *st, int *priority)
{
	*priority = st->priority;
	return 0;
}

int srv_cudaStreamGetFlags(struct xmig_call *c, struct srv_stream *st, unsigned int *flags)
{
	*flags = st->flags;
	return 0;
}

int srv_cudaStreamGetId(struct xmig_call *c, struct srv_stream *st, unsigned long long *id)
{
	/* The logical id: stable across moves, unlike the driver's. */
	*id = st->id;
	return 0;
}

/* ---- events ---------------------------------------------------------- */

int srv_event_new(struct srv *s, unsigned flags, uint64_t *id)
{
	struct srv_event *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return cudaErrorMemoryAllocation;
	if (flags & ~(unsigned)(cudaEventBlockingSync | cudaEventDisableTiming |
				cudaEventInterprocess)) {
		free(e);
		return cudaErrorInvalidValue;
	}
	if (flags & cudaEventInterprocess) {
		/* An IPC event handle could not follow the job to another GPU. */
		free(e);
		return cudaErrorNotSupported;
	}
	r = s->dev->event_create(s->devh, flags, &e->h);
	if (r) {
		free(e);
		return r;
	}
	e->flags = flags;
	*id = srv_table_add(&s->events, e);
	if (!*id) {
		s->dev->event_destroy(s->devh, e->h);
		free(e);
		return cudaErrorMemoryAllocation;
	}
	e->id = *id;
	return 0;
}

int srv_event_drop(struct srv *s, struct srv_event *e)
{
	int r = s->dev->event_destroy(s->devh, e->h);

	srv_table_remove(&s->events, e->id);
	free(e);
	return r;
}

int srv_cudaEventCreate(struct xmig_call *c, uint64_t *id)
{
	return srv_event_new(c->srv, 0, id);
}

int srv_cudaEventCreateWithFlags(struct xmig_call *c, uint64_t *id, unsigned int flags)
{
	return srv_event_new(c->srv, flags, id);
}

int srv_cudaEventDestroy(struct xmig_call *c, struct srv_event *e)
{
	return srv_event_drop(c->srv, e);
}

int srv_cudaEventRecord(struct xmig_call *c, struct srv_event *e, struct srv_stream *st)
{
	e->recorded = true;
	return DEV(c)->event_record(DEVH(c), e->h, st->h, 0);
}

int srv_cudaEventRecordWithFlags(struct xmig_call *c, struct srv_event *e, struct srv_stream *st,
				 unsigned int flags)
{
	e->recorded = true;
	return DEV(c)->event_record(DEVH(c), e->h, st->h, flags);
}

int srv_cudaEventQuery(struct xmig_call *c, struct srv_event *e)
{
	return DEV(c)->event_query(DEVH(c), e->h);
}

static int event_wait(struct xmig_call *c)
{
	return DEV(c)->event_sync(DEVH(c), c->defer_obj);
}

int srv_cudaEventSynchronize(struct xmig_call *c, struct srv_event *e)
{
	srv_mem_pool_synced(c->srv);
	c->defer = event_wait;
	c->defer_obj = e->h;
	return 0;
}

int srv_cudaEventElapsedTime(struct xmig_call *c, float *ms, struct srv_event *start,
			     struct srv_event *end)
{
	return DEV(c)->event_elapsed(DEVH(c), ms, start->h, end->h);
}

/* ---- kernels --------------------------------------------------------- */

int srv_cudaFuncGetAttributes(struct xmig_call *c, struct cudaFuncAttributes *attr,
			      struct srv_func *f)
{
	return DEV(c)->func_attributes(DEVH(c), f->h, attr);
}

int srv_cudaFuncSetAttribute(struct xmig_call *c, struct srv_func *f,
			     enum cudaFuncAttribute attr, int value)
{
	int r = DEV(c)->func_set_attribute(DEVH(c), f->h, attr, value);

	/* Remembered so the next proxy can set it again after a move. */
	if (!r && attr == cudaFuncAttributeMaxDynamicSharedMemorySize)
		f->max_dyn_smem = value;
	else if (!r && attr >= 0 && attr < 32) {
		f->attrs_set |= 1u << attr;
		f->attr_value[attr] = value;
	}
	if (!r)
		srv_state_entry_changed(&f->entry);
	return r;
}

int srv_cudaFuncSetCacheConfig(struct xmig_call *c, struct srv_func *f, enum cudaFuncCache cfg)
{
	if (cfg > cudaFuncCachePreferEqual)
		return cudaErrorInvalidValue;
	f->cache_config = cfg;
	srv_state_entry_changed(&f->entry);
	return 0;
}

int srv_cudaOccupancyMaxActiveBlocksPerMultiprocessor(struct xmig_call *c, int *blocks,
						      struct srv_func *f, int block, size_t smem)
{
	return DEV(c)->occupancy(DEVH(c), f->h, block, smem, 0, blocks);
}

int srv_cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(struct xmig_call *c, int *blocks,
							       struct srv_func *f, int block,
							       size_t smem, unsigned int flags)
{
	return DEV(c)->occupancy(DEVH(c), f->h, block, smem, flags, blocks);
}
