/*
 * client.h - the client library inside the application process.
 *
 * libxmig-client.so holds the connection to the proxy (call channel, fd
 * keeper, proxy start-up, thread rings); the facades (libcudart.so.13,
 * libcuda.so.1 of xmig) are thin layers over it. Nothing here ever reaches
 * the real driver: device work done in this process could not be moved.
 */
#ifndef XMIG_CLIENT_H
#define XMIG_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "../api/ops.h"
#include "../channel/channel.h"

#define XMIG_CL_API __attribute__((visibility("default")))

enum xmig_call_kind { XMIG_CALL_ASYNC, XMIG_CALL_SYNC, XMIG_CALL_SYNCW };

struct xmig_launch_cfg {
	dim3 grid, block;
	size_t shmem;
	void *stream;
};

/* Per application thread that calls CUDA. */
struct xmig_thread {
	struct xmig_ring *ring;
	unsigned index;
	uint64_t pos;             /* producer position in the ring */
	uint64_t seq;             /* last sequence number issued */
	struct xmig_req *cur;     /* request being built */
	cudaError_t last_error;
	uint64_t bulk_seq[2];     /* last request using each bulk half */
	struct xmig_launch_cfg cfg[8];
	int ncfg;
};

/* Process-wide facts the facades need. */
struct xmig_client_info {
	uint64_t device_window, host_window;
	int driver_version, runtime_version;
	char device[16];          /* "cuda" or "sim" */
};

/*
 * Enter a CUDA call: start the proxy on first use, find this thread's ring.
 * Returns cudaSuccess and *t, or the error every call should return now.
 */
XMIG_CL_API cudaError_t xmig_cl_enter(struct xmig_thread **t);
/* Payload pointer of a new request (waits for ring space), NULL if lost. */
XMIG_CL_API void *xmig_cl_begin(struct xmig_thread *t, uint32_t op, uint32_t payload);
/* Publish the request; for SYNC/SYNCW wait and return the status, with
 * *res pointing at the reply. */
XMIG_CL_API cudaError_t xmig_cl_end(struct xmig_thread *t, enum xmig_call_kind kind, void **res);
/* Publish with a sequence number but do not wait; returns the number. */
XMIG_CL_API uint64_t xmig_cl_post_seq(struct xmig_thread *t);
/* Wait until request seq is done (status not returned: see async error). */
XMIG_CL_API cudaError_t xmig_cl_wait(struct xmig_thread *t, uint64_t seq);
/* Take the first error left by a posted call (0 if none). */
XMIG_CL_API cudaError_t xmig_cl_take_async_error(struct xmig_thread *t);
XMIG_CL_API cudaError_t xmig_cl_peek_async_error(struct xmig_thread *t);
/* Remember e as the thread's last error (if nonzero) and return it. */
XMIG_CL_API cudaError_t xmig_cl_record(struct xmig_thread *t, cudaError_t e);
/* The same for a call that has not entered (its thread found here). */
XMIG_CL_API cudaError_t xmig_cl_record_here(cudaError_t e);
/* The error to return when a call could not be made at all. */
XMIG_CL_API cudaError_t xmig_cl_lost(void);
XMIG_CL_API const struct xmig_client_info *xmig_cl_info(void);
/* The list of pinned regions changed (hostmem.c, under its lock; after xmig_cl_enter). */
XMIG_CL_API void xmig_cl_host_regions_changed(void);
/* Wait until both bulk halves are free (before using one outside a copy). */
XMIG_CL_API cudaError_t xmig_cl_bulk_idle(struct xmig_thread *t);

/* Handles the application holds. */
XMIG_CL_API uint64_t xmig_cl_stream_id(cudaStream_t s, int per_thread_default);
XMIG_CL_API cudaStream_t xmig_cl_stream_handle(uint64_t id);
XMIG_CL_API uint64_t xmig_cl_event_id(cudaEvent_t e);
XMIG_CL_API cudaEvent_t xmig_cl_event_handle(uint64_t id);

/* Where a pointer points. */
enum xmig_mem_class { XMIG_MEM_HOST, XMIG_MEM_PINNED, XMIG_MEM_DEVICE };
XMIG_CL_API enum xmig_mem_class xmig_cl_classify(const void *p);
/* Device ranges outside the window (module globals whose address was taken). */
XMIG_CL_API void xmig_cl_add_device_range(uint64_t addr, uint64_t size);

/* Pinned host memory in the host window (hostmem.c). */
XMIG_CL_API cudaError_t xmig_cl_host_alloc(void **p, size_t size, unsigned flags);
XMIG_CL_API cudaError_t xmig_cl_host_free(void *p);
/* The application's own memory pinned (host-register.c); runtime: set the last error. */
XMIG_CL_API cudaError_t xmig_cl_host_register(void *p, size_t size, unsigned flags, bool runtime);
XMIG_CL_API cudaError_t xmig_cl_host_unregister(void *p, bool runtime);
/* Whether [addr, addr+len) starts in a registered range and runs past its end. */
XMIG_CL_API bool xmig_cl_host_runs_past_registered(uint64_t addr, uint64_t len);
XMIG_CL_API bool xmig_cl_host_lookup(const void *p, void **base, size_t *size, unsigned *flags);

/* Facts about the application that limit where its GPU context may go. */
XMIG_CL_API void xmig_cl_note_host_mapped(void);
XMIG_CL_API void xmig_cl_note_symbol_address(void);
/* Which proxy serves now (its attach id; a move changes it). */
XMIG_CL_API uint64_t xmig_cl_owner_id(void);

/* ---- modules, kernels and launches (module.c), for both facades ---- */

/* A kernel as the server knows it: its id and parameter layout. */
struct xmig_cl_kernel {
	uint64_t server_id;
	uint32_t nparams, param_bytes;
	struct { uint32_t offset, size; } *params;
};

struct xmig_cl_launch_dims {
	unsigned grid[3], block[3];
	size_t shmem;
	uint64_t stream;          /* logical id */
};

/* A fresh module id (runtime fat binaries and driver images share them). */
XMIG_CL_API uint64_t xmig_cl_module_id(void);
/* Send an image to the server, which loads it as module id. */
XMIG_CL_API cudaError_t xmig_cl_module_send(struct xmig_thread *t, uint64_t id, const void *image,
					    size_t size);
/* Look a kernel of module up by name; fills *k (params malloc'd). */
XMIG_CL_API cudaError_t xmig_cl_func_get(struct xmig_thread *t, uint64_t module, const char *name,
					 struct xmig_cl_kernel *k);
/* Post a launch: parameters from args (one pointer each) or, if args is
 * NULL, from packed (param_bytes bytes laid out as the kernel takes them). */
XMIG_CL_API cudaError_t xmig_cl_launch(struct xmig_thread *t, const struct xmig_cl_kernel *k,
				       const struct xmig_cl_launch_dims *d, void **args,
				       const void *packed);
/*
 * cuLaunchKernel's "extra" (CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE, up to
 * CU_LAUNCH_PARAM_END) into *buf, need bytes to read there: 0; -1 for an
 * entry it does not know or a buffer or size missing; -2 for a size larger
 * than need (as the driver: 701 from a launch, 1 from a graph node). A
 * shorter buffer is taken, as the driver takes it, its tail zero (*buf is
 * then this thread's copy, good until its next call).
 */
XMIG_CL_API int xmig_cl_extra_buffer(void *const *extra, uint32_t need, const void **buf);
/* Launch attributes (cudaLaunchAttribute or CUlaunchAttribute, n of them) as they travel. */
XMIG_CL_API cudaError_t xmig_cl_launch_attrs(const void *in, unsigned n,
					     struct xmig_launch_attr *out, unsigned *nout);
/* cudaOccupancyMaxActiveClusters / cuOccupancyMaxActiveClusters of k with d and attrs. */
XMIG_CL_API cudaError_t xmig_cl_max_active_clusters(struct xmig_thread *t,
						    const struct xmig_cl_kernel *k,
						    const struct xmig_cl_launch_dims *d,
						    const struct xmig_launch_attr *attrs,
						    unsigned nattrs, int *clusters);
XMIG_CL_API cudaError_t xmig_cl_launch_ex(struct xmig_thread *t, const struct xmig_cl_kernel *k,
					  const struct xmig_cl_launch_dims *d,
					  const struct xmig_launch_attr *attrs, unsigned nattrs,
					  void **args, const void *packed);

/*
 * Post a fill of height rows of width elements of elem bytes (1, 2, 4),
 * pitch apart, with value (fill.c).
 */
XMIG_CL_API cudaError_t xmig_cl_fill_rows(struct xmig_thread *t, const void *dst, size_t pitch,
					  uint32_t value, unsigned elem, size_t width,
					  size_t height, uint64_t stream);

/* ---- host functions (host-func.c) ---- */

enum xmig_host_fn_kind {
	XMIG_HOST_FN,              /* cudaHostFn_t, CUhostFn: fn(data) */
	XMIG_HOST_FN_CALLBACK,     /* cudaStreamCallback_t, CUstreamCallback: fn(stream, 0, data) */
};

struct xmig_host_fn {
	enum xmig_host_fn_kind kind;
	void *fn, *data;
	void *stream;              /* the handle the application gave, for a callback */
};

/*
 * Post a host function on logical stream `stream`: run on a thread of the
 * client once the stream's work before it is done, the stream's later work
 * waiting for it. capturing: this process has a capture going on (the call
 * may land in a graph, which calls it again at each launch).
 */
XMIG_CL_API cudaError_t xmig_cl_host_func(struct xmig_thread *t, uint64_t stream,
					  const struct xmig_host_fn *f, bool capturing);

/* Log a message once per call site key (e.g. an unsupported function). */
XMIG_CL_API void xmig_cl_unsupported(const char *name);

#endif
