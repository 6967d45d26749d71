/*
 * device.h - what the proxy server needs from a GPU: the backend interface.
 *
 * Two backends: device-cuda.c (the real driver API, dlopened) and
 * device-sim.c (the sim test device: memory in host RAM, kernels in C).
 * Handles are opaque pointers owned by the backend. Every call returns 0 or
 * a CUDA runtime error number (cudaError_t values), which is what the
 * application finally sees.
 */
#ifndef XMIG_DEVICE_H
#define XMIG_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "../api/ops.h"

struct ccl_backend;

struct xmig_dim3 {
	unsigned x, y, z;
};

struct xmig_gpu_info {
	char name[256];
	char uuid[64];            /* "GPU-xxxxxxxx-..." or "SIM-<n>" */
	int major, minor;         /* compute capability */
	uint64_t total_bytes, free_bytes;
	int multiprocessors;
	char pci_bus_id[32];
};

/* Kernel parameter layout, as cuFuncGetParamInfo gives it. */
struct xmig_param_layout {
	uint32_t nparams;
	uint32_t param_bytes;
	struct { uint32_t offset, size; } *params;   /* nparams entries, malloc'd */
};

enum xmig_stream_kind { XMIG_DEV_STREAM_LEGACY, XMIG_DEV_STREAM_PER_THREAD };

/* What a backend's stream capture takes in beyond kernels, device copies and fills. */
enum {
	XMIG_CAPTURES_BLAS = 1,     /* cuBLAS GEMMs */
	XMIG_CAPTURES_BLASLT = 2,   /* cuBLASLt matmuls */
	XMIG_CAPTURES_DNN = 4,      /* cuDNN Executes */
	XMIG_CAPTURES_CCL = 8,      /* NCCL calls */
	XMIG_CAPTURES_HOST_COPIES = 16,   /* copies to or from (pinned) host memory */
	XMIG_CAPTURES_HOST_FUNCS = 32,    /* host functions (cudaLaunchHostFunc) */
	XMIG_CAPTURES_ALL = 63,
};

/* One input of a link (device.h's link). */
struct xmig_link_piece {
	unsigned type;               /* CUjitInputType */
	const char *name;            /* NUL-terminated */
	const void *data;
	size_t size;
};

#define XMIG_HOST_READ_ONLY 1u

struct xmig_device_ops {
	const char *name;                    /* "cuda" or "sim" */

	/* Open GPU `gpu` of this node and reserve the device window there. */
	int (*open)(int gpu, uint64_t window, uint64_t window_size, void **dev);
	void (*close)(void *dev);
	/* Make the device current on the calling thread (workers call it once). */
	int (*bind_thread)(void *dev);
	int (*count)(int *n);                /* GPUs on this node */
	int (*info)(void *dev, struct xmig_gpu_info *info);
	int (*info_of)(int gpu, struct xmig_gpu_info *info);  /* without opening */
	int (*attribute)(void *dev, int attr, int *value);    /* enum cudaDeviceAttr */
	int (*properties)(void *dev, struct cudaDeviceProp *p);
	int (*driver_version)(int *v);

	/* Device memory: physical backing mapped at va (window-relative alignment). */
	uint64_t granularity;
	int (*mem_map)(void *dev, uint64_t va, uint64_t size, void **mem);
	int (*mem_unmap)(void *dev, uint64_t va, uint64_t size, void *mem);
	int (*mem_info)(void *dev, uint64_t *free, uint64_t *total);
	/* Give back freed memory kept for reuse (optional: NULL where none is kept). */
	void (*mem_trim)(void *dev);
	/* Export/import a backing to another process (same node); import takes fd. */
	int (*mem_export)(void *dev, void *mem, int *fd);
	int (*mem_import)(void *dev, int fd, uint64_t va, uint64_t size, void **mem);
	/* Is an imported backing another GPU's? (NULL: never) */
	bool (*mem_peer)(void *dev, void *mem);
	/*
	 * Keep a backing exportable past its mem_unmap, which then frees only
	 * the address, until the last mem_drop (optional: NULL where a
	 * backing cannot be exported). So an export need not hold up the job.
	 */
	int (*mem_hold)(void *dev, void *mem);
	void (*mem_drop)(void *dev, void *mem);
	/* Address space outside the window, for a backing being copied from. */
	int (*va_reserve)(void *dev, uint64_t size, uint64_t *va);
	int (*va_release)(void *dev, uint64_t va, uint64_t size);

	/* Host memory visible to the device (mapped at the same address). */
	/* flags: XMIG_HOST_READ_ONLY, memory the device only reads */
	int (*host_register)(void *dev, void *addr, uint64_t size, unsigned flags);
	int (*host_unregister)(void *dev, void *addr);

	/* Streams. special() gives the legacy and per-thread default streams. */
	int (*stream_create)(void *dev, unsigned flags, int priority, void **s);
	int (*stream_destroy)(void *dev, void *s);
	void *(*stream_special)(void *dev, enum xmig_stream_kind kind);
	int (*stream_sync)(void *dev, void *s);
	int (*stream_query)(void *dev, void *s);
	int (*stream_wait_event)(void *dev, void *s, void *e, unsigned flags);
	int (*priority_range)(void *dev, int *least, int *greatest);
	/*
	 * Call fn(arg) on a thread of the backend's once the stream's work
	 * before it is done; the stream's later work waits until it returns
	 * (cuLaunchHostFunc). A capturing stream captures it where the
	 * backend captures XMIG_CAPTURES_HOST_FUNCS.
	 */
	int (*host_func)(void *dev, void *s, void (*fn)(void *arg), void *arg);

	/*
	 * Stream capture and CUDA graphs (NULL where a backend has none: the
	 * calls fail loudly). A capture is always relaxed: the proxy's own
	 * threads call the driver while the application captures.
	 * capture_info: *status an enum cudaStreamCaptureStatus, *id the
	 * capture's unique id (0 when none).
	 */
	unsigned capture_libraries;          /* which library calls too: XMIG_CAPTURES_* */
	unsigned (*captures)(void *dev);     /* the same, where it depends on the device (or NULL) */
	int (*capture_begin)(void *dev, void *s);
	int (*capture_end)(void *dev, void *s, void **graph);
	int (*capture_info)(void *dev, void *s, int *status, uint64_t *id);
	int (*graph_instantiate)(void *dev, void *graph, uint64_t flags, void **exec);
	int (*graph_launch)(void *dev, void *exec, void *s, bool upload);
	int (*graph_destroy)(void *dev, void *graph);
	int (*graph_nodes)(void *dev, void *graph, size_t *n);
	/*
	 * The open ends of stream s's capture: the nodes its next work will
	 * depend on, as opaque handles, at most max (more: cudaErrorNotSupported;
	 * NULL: not asked of this backend).
	 */
	int (*capture_deps)(void *dev, void *s, uint64_t *nodes, size_t max, size_t *n);
	/*
	 * Stream s's capture's open ends become nodes (n of them, as
	 * capture_deps names them; none: its next node is a root). NULL: not
	 * done by this backend (graphs built node by node fail loudly).
	 */
	int (*capture_set_deps)(void *dev, void *s, const uint64_t *nodes, size_t n);
	/* The nodes of the graph stream s captures into so far (NULL: not asked of this backend). */
	int (*capture_nodes)(void *dev, void *s, size_t *n);
	int (*graph_exec_destroy)(void *dev, void *exec);
	/* cudaGraphExecUpdate: *result an enum cudaGraphExecUpdateResult. NULL: not done. */
	int (*graph_exec_update)(void *dev, void *exec, void *graph, int *result);

	/* Events. */
	int (*event_create)(void *dev, unsigned flags, void **e);
	int (*event_destroy)(void *dev, void *e);
	int (*event_record)(void *dev, void *e, void *s, unsigned flags);
	int (*event_sync)(void *dev, void *e);
	int (*event_query)(void *dev, void *e);
	int (*event_elapsed)(void *dev, float *ms, void *start, void *end);

	/* Copies and fills on a stream (all addresses valid in the server). */
	int (*memcpy_async)(void *dev, uint64_t dst, uint64_t src, uint64_t size, void *s);
	/*
	 * n copies (none of size 0) as one, waited for, on a drained context
	 * (NULL, or cudaErrorNotSupported: the caller copies them one at a
	 * time).
	 */
	int (*memcpy_batch)(void *dev, const uint64_t *dst, const uint64_t *src,
			    const uint64_t *size, size_t n);
	/*
	 * The same by one kernel, waited for, on a drained context: every
	 * address is device memory or pinned host memory (NULL, or
	 * cudaErrorNotSupported: the caller takes memcpy_batch).
	 */
	int (*memcpy_pieces)(void *dev, const uint64_t *dst, const uint64_t *src,
			     const uint64_t *size, size_t n);
	/*
	 * n device-to-device copies of this GPU's memory by one kernel, queued
	 * on stream s, not waited for (every address and size a multiple of
	 * 16). NULL, or cudaErrorNotSupported: the caller copies one at a time.
	 */
	int (*memcpy_chunks)(void *dev, const uint64_t *dst, const uint64_t *src,
			     const uint64_t *size, size_t n, void *s);
	/*
	 * Queue trivial work, not waited for, so that the GPU takes this
	 * context on now rather than at its first real work (NULL, or
	 * cudaErrorNotSupported: nothing done).
	 */
	int (*wake)(void *dev);
	int (*memset_async)(void *dev, uint64_t dst, uint8_t value, uint64_t size, void *s);
	/*
	 * height rows of width bytes, rows dpitch and spitch apart, on stream
	 * s; and height rows of width elements of elem bytes (1, 2, 4) set to
	 * value, pitch apart (NULL: the caller goes row by row).
	 */
	int (*memcpy_2d)(void *dev, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch,
			 uint64_t width, uint64_t height, void *s);
	int (*memset_2d)(void *dev, uint64_t dst, uint64_t pitch, uint32_t value, unsigned elem,
			 uint64_t width, uint64_t height, void *s);
	int (*ctx_sync)(void *dev);

	/*
	 * The JIT linker (cuLinkCreate, AddData, Complete): the inputs linked
	 * with numeric options, *out (malloc'd) the result; the logs into
	 * info and err, NUL-terminated. Returns the link's status (a
	 * CUresult), 0 on success. NULL: not served by this backend.
	 */
	int (*link)(void *dev, const struct xmig_link_opt *opts, unsigned nopts,
		    const struct xmig_link_piece *in, unsigned nin, void **out, size_t *out_len,
		    char *info, size_t info_len, char *err, size_t err_len);

	/* Modules and kernels. */
	int (*module_load)(void *dev, const void *image, size_t size, void **mod);
	int (*module_unload)(void *dev, void *mod);
	int (*func_get)(void *dev, void *mod, const char *name, void **fn,
			struct xmig_param_layout *layout);
	int (*var_get)(void *dev, void *mod, const char *name, uint64_t size, uint64_t *addr,
		       uint64_t *actual);
	int (*func_attributes)(void *dev, void *fn, struct cudaFuncAttributes *a);
	int (*func_set_attribute)(void *dev, void *fn, int attr, int value);
	int (*occupancy)(void *dev, void *fn, int block, size_t smem, unsigned flags, int *blocks);
	int (*launch)(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
		      size_t shmem, void *s, void *params, size_t param_bytes);

	/* Limits and cache configuration. */
	int (*set_limit)(void *dev, int limit, size_t value);
	int (*get_limit)(void *dev, int limit, size_t *value);

	/*
	 * cuBLAS (NULL where a backend has none). These return cublasStatus_t
	 * values. A handle's stream is a backend stream; settings are enum
	 * xmig_blas_setting (ops.h).
	 */
	int (*blas_create)(void *dev, void **h);
	int (*blas_destroy)(void *dev, void *h);
	int (*blas_set)(void *dev, void *h, int what, uint64_t value, uint64_t size, void *stream);
	int (*blas_gemm)(void *dev, void *h, const struct xmig_blas_gemm_req *g);

	/*
	 * cuDNN's backend (graph) API (NULL where a backend has none). These
	 * return cudnnStatus_t values; handles and descriptors are the
	 * backend's, elements are in cuDNN's own form (dnn.h).
	 */
	int (*dnn_info)(void *dev, struct xmig_dnn_info_res *r);
	int (*dnn_create)(void *dev, void **h);
	int (*dnn_destroy)(void *dev, void *h);
	int (*dnn_set_stream)(void *dev, void *h, void *stream);
	int (*dnn_desc_create)(void *dev, int type, void **d);
	int (*dnn_desc_destroy)(void *dev, void *d);
	int (*dnn_set_attr)(void *dev, void *d, int name, int type, int64_t count,
			    const void *elems);
	int (*dnn_get_attr)(void *dev, void *d, int name, int type, int64_t requested,
			    int64_t *count, void *elems);
	int (*dnn_finalize)(void *dev, void *d);
	int (*dnn_execute)(void *dev, void *h, void *plan, void *variant_pack);
	void (*dnn_last_error)(void *dev, char *message, size_t size);
	/* Execute with the application's variant pack as it came (NULL: the
	 * proxy builds a variant pack descriptor from it through the ops above). */
	int (*dnn_run)(void *dev, void *h, void *plan, const struct xmig_dnn_execute_req *a);

	/*
	 * The driver API's extras (NULL where a backend has none: the call
	 * fails loudly). Launch attributes are CUlaunchAttribute values as the
	 * application gave them, already checked to hold no handles.
	 */
	int (*launch_ex)(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
			 size_t shmem, void *s, void *params, size_t param_bytes,
			 const struct xmig_launch_attr *attrs, unsigned nattrs);
	int (*occupancy_clusters)(void *dev, void *fn, struct xmig_dim3 grid,
				  struct xmig_dim3 block, size_t shmem,
				  const struct xmig_launch_attr *attrs, unsigned nattrs, int *clusters);
	int (*tensor_map_encode)(void *dev, const struct xmig_tensor_map_req *r, void *map);
	int (*memset_wide)(void *dev, uint64_t dst, uint32_t value, unsigned width, uint64_t count,
			   void *s);

	/*
	 * cuBLASLt (NULL where a backend has none); cublasStatus_t values.
	 * Descriptors arrive as the records of ops.h; stream is a backend one.
	 */
	int (*blaslt_create)(void *dev, void **h);
	int (*blaslt_destroy)(void *dev, void *h);
	int (*blaslt_heuristic)(void *dev, void *h, const struct xmig_lt_heuristic_req *q,
				struct xmig_lt_heuristic_res *r);
	int (*blaslt_matmul)(void *dev, void *h, const struct xmig_lt_matmul_req *m, void *stream);

	/* NCCL (ccl/ccl.h; NULL where a backend has none): the job's own, or the sim double. */
	const struct ccl_backend *ccl;
};

extern const struct xmig_device_ops xmig_device_cuda;
extern const struct xmig_device_ops xmig_device_sim;
/* A GPU of another node, through its executor (remote.h). */
extern const struct xmig_device_ops xmig_device_remote;

/* Say hello to an executor with a token: 0 if it takes it. */
int xmig_remote_probe(const char *where, const char *token);

/* TCP options of the node-to-node streams (keepalive, user timeout). */
int xmig_tcp_tune(int fd);

/* "cuda" or "sim"; NULL if unknown. */
const struct xmig_device_ops *xmig_device_by_name(const char *name);

#endif
