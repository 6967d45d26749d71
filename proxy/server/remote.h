/*
 * remote.h - the device-operation stream between a bridge proxy and an
 * executor on another node.
 *
 * When a job's GPU context moves to another node, the application's
 * process stays where it is, and so does its proxy (the call channel, the
 * tables, freezes and moves work as on one node). That proxy's device
 * backend becomes "remote" (device-remote.c): each operation of the
 * backend interface (device.h) goes over TCP to an executor on the GPU's
 * node (executor.c, `xmig-proxy --serve-remote`), which runs it on its own
 * backend. Operations that return nothing the caller needs (launches,
 * asynchronous copies and fills, event records, stream waits) are sent
 * without waiting; an error surfaces at the next synchronous one.
 *
 * Host memory never crosses by reference: a copy from host memory carries
 * its bytes, and a copy to host memory comes back as DATA, written into
 * the bridge's memory before any later reply is read (the stream keeps
 * order), so a synchronising call that returns has the data in place.
 *
 * Every message: struct rmt_hdr, then `len` bytes. The bytes of memory
 * (MEMCPY_H2D, DATA) are followed by their XXH3 (8 bytes, not in `len`),
 * checked where they land: a damaged copy to the GPU is not made and fails
 * like any posted operation; a damaged copy back fails the next
 * synchronising call. The first message of a session is HELLO with the
 * one-time token the orchestrator handed both ends over their
 * authenticated control paths.
 */
#ifndef XMIG_REMOTE_H
#define XMIG_REMOTE_H

#include <stdint.h>

#define RMT_MAGIC 0x544d5258u   /* "XRMT" */
#define RMT_CHUNK (64u << 20)   /* host bytes per copy message, at most */
/* Any request's payload, at most (a module image is the largest): past it, the link is broken. */
#define RMT_REQ_MAX (16ull << 30)

enum rmt_op {
	RMT_HELLO = 1,       /* token (32 hex) -> status */
	RMT_REPLY,           /* executor -> bridge: seq, status, out bytes */
	RMT_DATA,            /* executor -> bridge: u64 host address, bytes */
	RMT_ASYNC_ERROR,     /* executor -> bridge: int32 error of a posted op */
	RMT_OPEN, RMT_COUNT, RMT_INFO, RMT_INFO_OF, RMT_ATTRIBUTE, RMT_PROPERTIES,
	RMT_DRIVER_VERSION, RMT_MEM_MAP, RMT_MEM_UNMAP, RMT_MEM_INFO,
	RMT_STREAM_CREATE, RMT_STREAM_DESTROY, RMT_STREAM_SYNC, RMT_STREAM_QUERY,
	RMT_STREAM_WAIT_EVENT, RMT_PRIORITY_RANGE, RMT_EVENT_CREATE, RMT_EVENT_DESTROY,
	RMT_EVENT_RECORD, RMT_EVENT_SYNC, RMT_EVENT_QUERY, RMT_EVENT_ELAPSED,
	RMT_MEMCPY_H2D, RMT_MEMCPY_D2H, RMT_MEMCPY_D2D, RMT_MEMSET, RMT_CTX_SYNC,
	RMT_MODULE_LOAD, RMT_MODULE_UNLOAD, RMT_FUNC_GET, RMT_VAR_GET, RMT_FUNC_ATTRIBUTES,
	RMT_FUNC_SET_ATTRIBUTE, RMT_OCCUPANCY, RMT_LAUNCH, RMT_SET_LIMIT, RMT_GET_LIMIT,
	RMT_BYE,
	/* cuBLAS: statuses are cublasStatus_t; a library file is named first */
	RMT_LIBRARY,         /* "VAR=path" (libraries.h) -> 0, or 1 if it is not here */
	RMT_BLAS_CREATE, RMT_BLAS_DESTROY, RMT_BLAS_SET, RMT_BLAS_GEMM,
	/* cuBLASLt: a[1] says whether the handle is a cuBLAS one used as Lt */
	RMT_LT_CREATE, RMT_LT_DESTROY, RMT_LT_HEURISTIC, RMT_LT_MATMUL,
	/* cuDNN's backend API: handles and descriptors are the executor's ids,
	 * also inside attribute elements; statuses are cudnnStatus_t */
	RMT_DNN_INFO, RMT_DNN_CREATE, RMT_DNN_DESTROY, RMT_DNN_SET_STREAM, RMT_DNN_DESC_CREATE,
	RMT_DNN_DESC_DESTROY, RMT_DNN_SET_ATTR, RMT_DNN_GET_ATTR, RMT_DNN_FINALIZE, RMT_DNN_RUN,
	RMT_DNN_LAST_ERROR,
	/* the job's library settings ("NAME=value" entries, each NUL-ended), before OPEN */
	RMT_ENV,
	/* stream capture and CUDA graphs: graphs and executable graphs are the executor's ids */
	RMT_CAPTURE_BEGIN, RMT_CAPTURE_END, RMT_CAPTURE_INFO, RMT_GRAPH_INSTANTIATE,
	RMT_GRAPH_LAUNCH, RMT_GRAPH_DESTROY, RMT_GRAPH_NODES, RMT_GRAPH_EXEC_DESTROY,
	RMT_GRAPH_EXEC_UPDATE,
	/* a capture's open ends: read (the executor's driver's node handles), and set */
	RMT_CAPTURE_DEPS, RMT_CAPTURE_SET_DEPS,
	/* count elements of 2 or 4 bytes set to a value (cuMemsetD16/D32), posted */
	RMT_MEMSET_WIDE,
	RMT_OP_COUNT
};

struct rmt_hdr {
	uint32_t magic;
	uint32_t op;
	uint64_t seq;        /* != 0: the sender waits for a REPLY with this seq */
	uint64_t len;
	int32_t status;      /* REPLY: the result */
	uint32_t _pad;
	uint64_t a[8];       /* small arguments (addresses, sizes, ids, flags) */
};

/* ASYNC_ERROR's status for a copy whose bytes arrived damaged (not a CUDA error). */
#define RMT_DAMAGED (-1)

/* Special stream ids the executor knows without a create. */
#define RMT_STREAM_LEGACY 1u
#define RMT_STREAM_PER_THREAD 2u

#endif
