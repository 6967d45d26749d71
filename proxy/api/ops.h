/*
 * ops.h - operations on the call channel and the layout of their payloads.
 *
 * Hand-written operations first, then one per entry of cudart.def
 * (XMIG_OP_cudaStreamSynchronize, ...). Layouts are plain C structs: both
 * ends are the same build on the same architecture (the hello checks it).
 */
#ifndef XMIG_OPS_H
#define XMIG_OPS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "api.h"
#include "dnn.h"

#define XMIG_HAND_OPS(X) \
	X(PAD)              /* filler to the end of the ring */ \
	X(RING_CLOSE)       /* the client thread exited */ \
	X(HELLO)            /* sync: what the server serves */ \
	X(MALLOC)           /* sync: device memory at an address of the window */ \
	X(FREE) \
	X(MALLOC_ASYNC)     /* sync: cudaMallocAsync: memory now, usable in stream order */ \
	X(FREE_ASYNC)       /* sync: cudaFreeAsync: into the pool once the stream's work before it is done */ \
	X(MEMPOOL)          /* sync: the pool's release threshold, or a trim */ \
	X(HOST_REGISTER)    /* sync: map and pin a memfd at the same address */ \
	X(HOST_UNREGISTER) \
	X(MEMCPY)           /* copy between addresses valid in the server */ \
	X(MEMCPY_H2D_BULK)  /* pageable H2D chunk staged in the ring's bulk area */ \
	X(MEMCPY_D2H_BULK)  /* pageable D2H chunk into the bulk area (sync) */ \
	X(MEMSET) \
	X(MODULE_LOAD)      /* sync: a fat binary, in pieces through bulk */ \
	X(FUNC_GET)         /* sync: kernel by name: id + parameter layout */ \
	X(VAR_GET)          /* sync: __device__ variable by name: address */ \
	X(LAUNCH)           /* a kernel launch */ \
	X(DEVICE_RESET) \
	X(BLAS_CREATE)      /* sync: a cuBLAS handle */ \
	X(BLAS_DESTROY)     /* sync */ \
	X(BLAS_SET)         /* a handle's stream, workspace or mode */ \
	X(BLAS_GEMM)        /* one of the GEMM family, posted */ \
	X(DNN_INFO)         /* sync: the proxy's cuDNN version (dnn.h) */ \
	X(DNN_CREATE)       /* sync: a cuDNN handle */ \
	X(DNN_DESTROY)      /* sync */ \
	X(DNN_SET_STREAM)   /* a handle's stream, posted */ \
	X(DNN_DESC_CREATE)  /* sync: a backend descriptor */ \
	X(DNN_DESC_DESTROY) /* sync */ \
	X(DNN_SET_ATTR)     /* sync: cudnnBackendSetAttribute */ \
	X(DNN_GET_ATTR)     /* sync: cudnnBackendGetAttribute */ \
	X(DNN_FINALIZE)     /* sync */ \
	X(DNN_EXECUTE)      /* a plan with its variant pack, posted */ \
	X(DNN_LAST_ERROR)   /* sync: cudnnGetLastErrorString of the proxy */ \
	X(MODULE_UNLOAD)    /* sync: a module, its kernels and variables (cuModuleUnload) */ \
	X(LAUNCH_EX)        /* a launch with launch attributes (cuLaunchKernelEx) */ \
	X(OCCUPANCY_CLUSTERS) /* sync: cuOccupancyMaxActiveClusters */ \
	X(TENSOR_MAP)       /* sync: a TMA descriptor (cuTensorMapEncode*) */ \
	X(MEMSET_WIDE)      /* 16- or 32-bit fill (cuMemsetD16/D32) */ \
	X(MEM_RANGE)        /* sync: the allocation holding an address */ \
	X(LT_CREATE)        /* sync: a cuBLASLt handle */ \
	X(LT_DESTROY)       /* sync */ \
	X(LT_HEURISTIC)     /* sync: cublasLtMatmulAlgoGetHeuristic */ \
	X(LT_MATMUL)        /* cublasLtMatmul, posted */ \
	X(CCL_UNIQUE_ID)    /* sync: a fresh ncclUniqueId made by the proxy */ \
	X(CCL_INIT)         /* sync: a logical communicator (ncclCommInitRank*) */ \
	X(CCL_SPLIT)        /* sync: ncclCommSplit / ncclCommShrink */ \
	X(CCL_END)          /* sync: destroy, abort or finalize */ \
	X(CCL_QUERY)        /* sync: async error and last error text */ \
	X(CCL_REDOP)        /* sync: PreMulSum create / destroy */ \
	X(CCL_COLL)         /* one collective or send/recv, posted */ \
	X(CCL_GROUP)        /* the calls between ncclGroupStart and End, posted */ \
	X(CAPTURE_BEGIN)    /* sync: cudaStreamBeginCapture */ \
	X(CAPTURE_END)      /* sync: cudaStreamEndCapture: a graph id */ \
	X(CAPTURE_INFO)     /* sync: a stream's capture status and capture id */ \
	X(GRAPH_INSTANTIATE) /* sync: an executable graph id */ \
	X(GRAPH_LAUNCH)     /* cudaGraphLaunch or cudaGraphUpload, posted */ \
	X(GRAPH_DESTROY)    /* sync: a graph or an executable graph */ \
	X(GRAPH_NODES)      /* sync: how many nodes a graph has */ \
	X(GRAPH_EXEC_UPDATE) /* sync: cudaGraphExecUpdate */ \
	X(HOST_FUNC)        /* a host function on a stream (cudaLaunchHostFunc), posted */ \
	X(MEMCPY_2D)        /* rows between addresses valid in the server (cudaMemcpy2D) */ \
	X(MEMSET_2D)        /* rows filled with 8-, 16- or 32-bit values (cudaMemset2D, cuMemsetD2D*) */ \
	X(LINK)             /* sync: the driver's JIT linker (cuLink*), its job and result through bulk */ \
	X(CAPTURE_DEPS)     /* sync: a capture's open ends kept, or set from kept ones */

enum xmig_op {
#define X(n) XMIG_OP_##n,
	XMIG_HAND_OPS(X)
#undef X
#define XMIG_FN(name, call, pt, ...) XMIG_OP_##name,
#include "cudart.def"
#undef XMIG_FN
	XMIG_OP_COUNT
};

/* Request and reply structs of the generated ops. */
#define XMIG_FN(name, call, pt, ...) \
	struct xmig_req_##name { uint64_t _unused; XMIG_EACH(XMIG_REQ, __VA_ARGS__) }; \
	struct xmig_res_##name { uint64_t _unused; XMIG_EACH(XMIG_RES, __VA_ARGS__) };
#include "cudart.def"
#undef XMIG_FN

/* Logical stream ids: 0 legacy default, 1 per-thread default, then user. */
#define XMIG_STREAM_LEGACY 0u
#define XMIG_STREAM_PER_THREAD 1u
#define XMIG_STREAM_FIRST_USER 2u

struct xmig_hello_res {
	uint32_t abi;                /* sizeof checks: same build on both ends */
	int32_t driver_version, runtime_version;
	int32_t device_count;        /* always 1: a proxy serves one GPU */
	char device[16];             /* "cuda" or "sim" */
	int32_t gpu;                 /* physical GPU index on its node */
	int32_t _pad;
};

struct xmig_malloc_req { uint64_t size; uint32_t flags; uint32_t _pad; };
struct xmig_malloc_res { uint64_t addr; };
struct xmig_free_req { uint64_t addr; };
struct xmig_malloc_async_req { uint64_t size, stream; };
struct xmig_free_async_req { uint64_t addr, stream; };
struct xmig_free_async_res { uint64_t size; };   /* the size it was allocated with */
enum xmig_mempool_what { XMIG_MEMPOOL_THRESHOLD = 1, XMIG_MEMPOOL_TRIM = 2 };
struct xmig_mempool_req { uint64_t value; uint32_t what, _pad; };   /* bytes */

struct xmig_host_register_req {
	uint64_t addr, size;
	uint64_t ino;                /* of the memfd sent on the session socket */
	uint32_t flags, _pad;
};
struct xmig_host_unregister_req { uint64_t addr; };

enum xmig_copy_kind { XMIG_COPY_H2D = 1, XMIG_COPY_D2H, XMIG_COPY_D2D, XMIG_COPY_H2H };

/*
 * A device side given as dst_var/src_var != 0 is an offset into that
 * __device__ variable, resolved where the copy runs: a variable's address
 * differs from one proxy to the next.
 */
struct xmig_memcpy_req {
	uint64_t dst, src, size;
	uint64_t stream;
	uint64_t dst_var, src_var;
	uint32_t kind;               /* enum xmig_copy_kind */
	uint32_t sync;               /* the client waits for completion */
};

struct xmig_bulk_req {
	uint64_t devaddr, size;      /* size * rows <= XMIG_BULK_HALF */
	uint64_t stream;
	uint64_t var;                /* != 0: devaddr is an offset into it */
	uint32_t half;               /* which bulk half */
	uint32_t last;               /* last chunk of a synchronous copy */
	/* rows > 1: rows of size bytes, pitch apart on the device, packed in bulk */
	uint32_t rows, _pad;
	uint64_t pitch;
};

/* MEMCPY_2D: height rows of width bytes, each side's rows its pitch apart. */
struct xmig_memcpy2d_req {
	uint64_t dst, dpitch, src, spitch;
	uint64_t width, height;
	uint64_t stream;
	uint32_t kind;               /* enum xmig_copy_kind */
	uint32_t sync;               /* the client waits for completion */
};

/* MEMSET_2D: height rows of width elements of elem bytes (1, 2 or 4), pitch apart. */
struct xmig_memset2d_req {
	uint64_t dst, pitch;
	uint64_t width, height;
	uint64_t stream;
	uint32_t value;
	uint32_t elem;
};

struct xmig_memset_req {
	uint64_t dst, size;
	uint64_t stream;
	uint32_t value;
	uint32_t sync;
};

/*
 * HOST_FUNC: when the stream reaches it, the proxy hands id to the
 * client's host-function thread (shm.h) and holds the stream until the
 * function returned.
 */
struct xmig_host_func_req {
	uint64_t stream;             /* logical id */
	uint64_t id;                 /* the client's name for the function and its data */
};

/*
 * LINK, in phases on one ring: PUT pieces of the job (struct
 * xmig_link_job, through bulk half 0), RUN it (the reply: the sizes of
 * the result), GET pieces of the result (cubin, then the info log, then
 * the error log; into bulk half 0), DROP it. The job: its head, nopts
 * numeric JIT options, then ninputs inputs, each a struct
 * xmig_link_input, its name and its bytes, each of the three 8-aligned.
 */
enum xmig_link_phase { XMIG_LINK_PUT = 1, XMIG_LINK_RUN, XMIG_LINK_GET, XMIG_LINK_DROP };
struct xmig_link_req {
	uint64_t link;               /* the client's id for the job */
	uint32_t phase, _pad;        /* enum xmig_link_phase */
	uint64_t total;              /* PUT: bytes of the whole job */
	uint64_t offset, size;       /* PUT, GET: the piece */
};
struct xmig_link_res {
	uint64_t cubin_size, info_size, error_size;   /* RUN */
	int32_t status, _pad;        /* RUN: the link's CUresult (the logs come either way) */
};
struct xmig_link_job {
	uint32_t nopts, ninputs;
	uint64_t info_size, error_size;   /* the application's log buffers */
};
struct xmig_link_opt {
	uint32_t id, _pad;           /* a CUjit_option that holds a number */
	uint64_t value;
};
struct xmig_link_input {
	uint32_t type;               /* CUjitInputType */
	uint32_t name_len;
	uint64_t size;
};

/* A module image's bytes at most: a fat binary of a whole library fits well within it. */
#define XMIG_MODULE_MAX (4ull << 30)
struct xmig_module_load_req {
	uint64_t module;             /* client's id for the fat binary */
	uint64_t total;              /* bytes of the whole image, XMIG_MODULE_MAX at most */
	uint64_t offset;             /* of this piece */
	uint64_t size;               /* of this piece, in bulk half 0 */
	uint64_t hash;               /* of the whole image */
};

#define XMIG_NAME_MAX 1024
#define XMIG_MAX_PARAMS 512

struct xmig_func_get_req {
	uint64_t module;
	char name[XMIG_NAME_MAX];
};
struct xmig_func_get_res {
	uint64_t func;               /* server's function id */
	uint32_t nparams;
	uint32_t param_bytes;        /* size of the packed parameter buffer */
	struct { uint32_t offset, size; } params[XMIG_MAX_PARAMS];
};

struct xmig_var_get_req {
	uint64_t module;
	uint64_t size;
	char name[XMIG_NAME_MAX];
};
struct xmig_var_get_res { uint64_t var, addr, size; };

struct xmig_launch_req {
	uint64_t func;
	uint32_t grid[3], block[3];
	uint64_t shmem;
	uint64_t stream;
	uint32_t param_bytes;
	uint32_t _pad;
	uint64_t _pad2;              /* params 16-byte aligned */
	unsigned char params[];      /* packed at the kernel's parameter offsets */
};

/*
 * CUDA graphs made by stream capture (proxy/server/srv-graph.c). Graph and
 * executable-graph ids are the handles the application holds.
 */
#define XMIG_CAPTURE_DEPS_MAX 64
struct xmig_capture_req {
	uint64_t stream;             /* logical id */
	uint32_t mode;               /* enum cudaStreamCaptureMode (the proxy captures relaxed) */
	uint32_t deps;               /* CAPTURE_INFO: 1, the open ends are wanted too */
};
struct xmig_capture_res {
	uint64_t graph;              /* CAPTURE_END, CAPTURE_INFO while active: the graph's id */
	uint64_t capture_id;         /* CAPTURE_INFO: the capture's unique id */
	uint32_t status;             /* CAPTURE_INFO: enum cudaStreamCaptureStatus */
	uint32_t ndeps;              /* CAPTURE_INFO with deps: how many open ends */
	/* ... the nodes the stream's next work will depend on: the proxy's handles, opaque */
	uint64_t deps[XMIG_CAPTURE_DEPS_MAX];
};
/*
 * CAPTURE_DEPS, on the stream a capture began on: first, where save is
 * not 0, the stream's open ends are kept as the capture's set number save;
 * then, where set is 1, its open ends become the union of the n kept sets
 * named in slots (none: the next node is a root). How a graph built node
 * by node is captured (cudart-graph-build.c); logged and captured again
 * after a move like the work between, the sets kept anew.
 */
struct xmig_capture_deps_req {
	uint64_t stream;             /* logical id */
	uint32_t save;               /* 1-based set number, or 0 */
	uint32_t set;                /* 1: set the open ends from slots */
	uint32_t n, _pad;            /* how many slots follow */
	uint32_t slots[];            /* 1-based set numbers */
};
struct xmig_graph_req {
	uint64_t id;                 /* graph (INSTANTIATE, DESTROY) or executable graph */
	uint64_t stream;             /* LAUNCH: logical id */
	uint64_t flags;              /* INSTANTIATE: cudaGraphInstantiateFlag* */
	uint32_t exec;               /* DESTROY: id names an executable graph */
	uint32_t upload;             /* LAUNCH: cudaGraphUpload, not a launch */
	uint64_t graph;              /* EXEC_UPDATE: the graph id updates executable graph from */
};
struct xmig_graph_res {
	uint64_t exec;               /* INSTANTIATE: the executable graph's id */
	uint64_t nodes;              /* NODES */
	uint32_t update_result;      /* EXEC_UPDATE: enum cudaGraphExecUpdateResult */
	uint32_t _pad;
};

/*
 * cuBLAS. Statuses travel as cublasStatus_t values in the reply's status.
 * Device pointers are the same in both processes; scalars travel by value
 * unless the handle's pointer mode puts them in device memory.
 */
struct xmig_blas_create_res { uint64_t id; };
struct xmig_blas_id_req { uint64_t id; };

enum xmig_blas_setting {
	XMIG_BLAS_STREAM = 1,        /* value: logical stream id */
	XMIG_BLAS_WORKSPACE,         /* value: address, size: bytes */
	XMIG_BLAS_MATH_MODE,
	XMIG_BLAS_POINTER_MODE,
	XMIG_BLAS_ATOMICS_MODE,
};
struct xmig_blas_set_req {
	uint64_t id;
	uint32_t what, _pad;
	uint64_t value, size;
};

/* Which function of the family: the server calls exactly that one. */
enum xmig_gemm_fn {
	XMIG_GEMM_S = 1,             /* cublasSgemm_v2 */
	XMIG_GEMM_D,                 /* cublasDgemm_v2 */
	XMIG_GEMM_S_STRIDED,         /* cublasSgemmStridedBatched */
	XMIG_GEMM_D_STRIDED,         /* cublasDgemmStridedBatched */
	XMIG_GEMM_EX,                /* cublasGemmEx */
	XMIG_GEMM_EX_STRIDED,        /* cublasGemmStridedBatchedEx */
};
struct xmig_blas_gemm_req {
	uint64_t id;
	int32_t fn, transa, transb, m, n, k, lda, ldb, ldc, batch;
	int32_t atype, btype, ctype, compute, algo;
	int32_t scalars_on_device;   /* alpha_ptr/beta_ptr are device addresses */
	uint64_t a, b, c;
	int64_t stride_a, stride_b, stride_c;
	uint64_t alpha_ptr, beta_ptr;
	unsigned char alpha[16], beta[16];   /* the values, in the compute type */
};

/*
 * The driver API (libcuda facade): modules loaded from images, launches
 * with attributes, TMA descriptors, wide fills, address ranges.
 */
struct xmig_module_unload_req { uint64_t module; };

/* A CUlaunchAttribute as is: id, padding, then the 64-byte value union. */
#define XMIG_MAX_LAUNCH_ATTRS 8
struct xmig_launch_attr {
	uint32_t id, _pad;
	unsigned char value[64];
};

/* LAUNCH_EX; OCCUPANCY_CLUSTERS takes the same without parameters. */
struct xmig_launch_ex_req {
	uint64_t func;
	uint32_t grid[3], block[3];
	uint64_t shmem;
	uint64_t stream;
	uint32_t nattrs;
	uint32_t param_bytes;
	struct xmig_launch_attr attrs[XMIG_MAX_LAUNCH_ATTRS];
	uint64_t _pad;               /* params 16-byte aligned */
	unsigned char params[];
};
struct xmig_occupancy_clusters_res { int32_t clusters, _pad; };

enum xmig_tensor_map_kind { XMIG_TENSOR_MAP_TILED = 1, XMIG_TENSOR_MAP_IM2COL };
struct xmig_tensor_map_req {
	uint32_t kind;               /* enum xmig_tensor_map_kind */
	uint32_t dtype, rank, interleave, swizzle, l2_promotion, oob_fill;
	uint32_t channels_per_pixel, pixels_per_column;   /* im2col */
	uint32_t _pad;
	uint64_t address;
	uint64_t dims[5], strides[5];    /* strides: rank - 1 of them */
	uint32_t box[5], element_strides[5];
	int32_t lower[3], upper[3];      /* im2col pixel box corners: rank - 2 */
};
struct xmig_tensor_map_res { unsigned char map[128]; };

struct xmig_memset_wide_req {
	uint64_t dst, count;         /* count elements of width bytes */
	uint64_t stream;
	uint32_t value, width;       /* width 2 or 4 */
};

struct xmig_mem_range_req { uint64_t addr; };
struct xmig_mem_range_res { uint64_t base, size; };

/*
 * cuBLASLt. Only the Lt handle lives in the proxy (a logical id, like a
 * cuBLAS handle). Matmul descriptors, matrix layouts and preferences are
 * plain records of their attributes, kept by the client and sent by value
 * with each call that uses them: creating, setting and destroying them costs
 * no call to the proxy, and a new proxy after a move has nothing of them to
 * make again. Field types are those cublasLt.h gives each attribute
 * (blaslt-attrs.h maps attributes to fields); unset fields hold the defaults.
 */
struct xmig_lt_desc {
	int32_t compute_type, scale_type, pointer_mode, transa, transb, transc, fill_mode;
	uint32_t epilogue;
	uint64_t bias_pointer;       /* device pointers: same address in both processes */
	int64_t bias_batch_stride;
	uint64_t aux_pointer;
	int64_t aux_ld, aux_batch_stride, alpha_vector_batch_stride;
	int32_t sm_count_target, aux_data_type;
	uint64_t a_scale_pointer, b_scale_pointer, c_scale_pointer, d_scale_pointer;
	uint64_t amax_d_pointer, aux_scale_pointer, aux_amax_pointer;
	int8_t fast_accum;
	int8_t _pad[3];
	int32_t bias_data_type;
	int32_t a_scale_mode, b_scale_mode, c_scale_mode, d_scale_mode, aux_scale_mode;
	int32_t d_out_scale_mode;
	uint64_t d_out_scale_pointer;
};

struct xmig_lt_layout {
	uint32_t type;               /* cudaDataType */
	int32_t order;
	uint64_t rows, cols;
	int64_t ld;
	int32_t batch_count;
	uint32_t batch_mode;
	int64_t batch_offset;        /* CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET */
	int64_t plane_offset;
};

struct xmig_lt_pref {
	uint32_t search_mode;
	uint32_t reduction_scheme_mask;
	uint64_t max_workspace_bytes;
	uint32_t min_alignment_a, min_alignment_b, min_alignment_c, min_alignment_d;
	float max_waves_count;
	uint32_t _pad;
	uint64_t impl_mask;
};

/* cublasLtMatmulAlgo_t and cublasLtMatmulHeuristicResult_t, byte for byte. */
struct xmig_lt_algo { uint64_t data[8]; };
struct xmig_lt_heuristic_result {
	struct xmig_lt_algo algo;
	uint64_t workspace_size;
	int32_t state;
	float waves_count;
	int32_t reserved[4];
};

/* The operation: D = epilogue(alpha op(A) op(B) + beta C). */
struct xmig_lt_problem {
	struct xmig_lt_desc desc;
	struct xmig_lt_layout a, b, c, d;
};

#define XMIG_LT_MAX_RESULTS 256      /* more asked for: this many answered */

/* cublas_handle: id is a cuBLAS handle's, used as an Lt handle (a cast). */
struct xmig_lt_heuristic_req {
	uint64_t id;
	struct xmig_lt_problem p;
	struct xmig_lt_pref pref;
	int32_t requested, cublas_handle;
};
struct xmig_lt_heuristic_res {
	int32_t count, _pad;
	struct xmig_lt_heuristic_result results[XMIG_LT_MAX_RESULTS];
};

struct xmig_lt_matmul_req {
	uint64_t id;
	int32_t cublas_handle, _pad0;   /* as in xmig_lt_heuristic_req */
	uint64_t stream;             /* logical stream id */
	struct xmig_lt_problem p;
	uint64_t a, b, c, d;         /* matrices (device addresses) */
	uint64_t workspace, workspace_size;
	int32_t alpha_on_device, beta_on_device;   /* per the pointer mode */
	uint64_t alpha_ptr, beta_ptr;
	unsigned char alpha[16], beta[16];   /* host values, in the scale type */
	int32_t has_algo, _pad;      /* NULL algo: the library picks one */
	struct xmig_lt_algo algo;
};

/*
 * NCCL (ccl/). Communicators are logical ids; the proxy keeps the
 * physical NCCL communicator under each and rebuilds it after a move.
 * Results travel as ncclResult_t values in the reply's status.
 */
#define XMIG_CCL_ID_BYTES 128        /* NCCL_UNIQUE_ID_BYTES */
#define XMIG_CCL_MAX_IDS 8           /* ncclCommInitRankScalable's nId we take */
#define XMIG_CCL_NAME 64

/* ncclConfig_t's settable fields; NCCL_CONFIG_UNDEF_INT where not given. */
struct xmig_ccl_config {
	int32_t blocking, cga_cluster_size, min_ctas, max_ctas, split_share;
	int32_t traffic_class, collnet_enable, cta_policy, shrink_share, nvls_ctas;
	int32_t channels_per_net_peer, nvlink_centric_sched;
	int32_t given;                   /* a config was passed at all */
	int32_t _pad;
	char net_name[XMIG_CCL_NAME], comm_name[XMIG_CCL_NAME];
};

struct xmig_ccl_id_res { unsigned char id[XMIG_CCL_ID_BYTES]; };

struct xmig_ccl_init_req {
	int32_t nranks, rank, nids, _pad;
	struct xmig_ccl_config config;
	unsigned char ids[XMIG_CCL_MAX_IDS][XMIG_CCL_ID_BYTES];
};
struct xmig_ccl_comm_res {
	uint64_t comm;                   /* 0: no communicator (NCCL_SPLIT_NOCOLOR) */
	int32_t nranks, rank;
};

enum xmig_ccl_split_kind { XMIG_CCL_SPLIT = 1, XMIG_CCL_SHRINK };
struct xmig_ccl_split_req {
	uint64_t parent;
	int32_t kind, color, key, flags; /* flags: ncclCommShrink's shrinkFlags */
	int32_t nexclude, _pad;
	struct xmig_ccl_config config;
	int32_t exclude[];               /* kind SHRINK: ranks to leave out */
};

enum xmig_ccl_end_kind { XMIG_CCL_DESTROY = 1, XMIG_CCL_ABORT, XMIG_CCL_FINALIZE };
struct xmig_ccl_end_req { uint64_t comm; int32_t kind, _pad; };

struct xmig_ccl_query_req { uint64_t comm; };
struct xmig_ccl_query_res {
	int32_t async_error, _pad;
	char last_error[1024];
};

enum xmig_ccl_redop_kind { XMIG_CCL_REDOP_CREATE = 1, XMIG_CCL_REDOP_DESTROY };
struct xmig_ccl_redop_req {
	uint64_t comm;
	int32_t kind, op;                /* DESTROY: the logical op */
	int32_t datatype, residence;     /* ncclScalarResidence_t */
	uint64_t scalar_ptr;             /* residence device: its address */
	unsigned char scalar[16];        /* residence host: the value */
};
struct xmig_ccl_redop_res { int32_t op, _pad; };

/* What one collective or point-to-point call asks for. */
enum xmig_ccl_fn {
	XMIG_CCL_ALLREDUCE = 1, XMIG_CCL_BROADCAST, XMIG_CCL_REDUCE, XMIG_CCL_ALLGATHER,
	XMIG_CCL_REDUCESCATTER, XMIG_CCL_ALLTOALL, XMIG_CCL_GATHER, XMIG_CCL_SCATTER,
	XMIG_CCL_SEND, XMIG_CCL_RECV,
};
struct xmig_ccl_op {
	uint64_t comm;
	uint64_t send, recv;             /* device addresses */
	uint64_t count;                  /* as the NCCL call counts it */
	uint64_t stream;                 /* logical stream id */
	int32_t fn, datatype, redop, peer;   /* peer: root, or the send/recv peer */
};
struct xmig_ccl_group_req {
	uint32_t nops, _pad;
	struct xmig_ccl_op ops[];
};

#endif
