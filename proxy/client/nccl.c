/*
 * nccl.c - the facade libnccl.so.2. NCCL carries its own CUDA runtime, so
 * the real library never runs in the application: communicators,
 * collectives, point-to-point calls, groups and PreMulSum ops are
 * forwarded to the proxy (ccl/, proxy/server/srv-ccl.c), which runs the
 * job's own NCCL there (or the sim device's test double). A communicator
 * here is a small record of its logical id, size and rank: the proxy may
 * rebuild the NCCL communicator under it after a move, the application
 * never sees a new one. Calls between ncclGroupStart and ncclGroupEnd are
 * kept here and sent as one request at the end, so a freeze never falls
 * inside a group. Collectives are posted; an error of one surfaces in
 * ncclCommGetAsyncError, as NCCL's own asynchronous errors do. Everything
 * else (registration, windows, device communicators, ncclMemAlloc, ...)
 * fails with ncclInvalidUsage and one line naming it (gen-stubs.sh).
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "client.h"

#define API __attribute__((visibility("default")))
/* NCCL's profiling names (pnccl*) are the same functions. */
#define PALIAS(name) \
	extern __typeof__(name) p##name __attribute__((alias(#name), visibility("default")));

/* Tells the proxy's loader this is xmig's facade, not NCCL. */
API const int xmig_facade_marker = 1;

struct xmig_nccl_comm {
	uint64_t id;
	int nranks, rank;
};

static __thread int group_depth;
static __thread struct xmig_ccl_op *group_ops;
static __thread size_t group_n, group_cap;
static __thread char last_error[1024];

/* ---- versions and names ------------------------------------------------------- */

API ncclResult_t ncclGetVersion(int *version)
{
	if (!version)
		return ncclInvalidArgument;
	*version = NCCL_VERSION_CODE;
	return ncclSuccess;
}
PALIAS(ncclGetVersion)

API const char *ncclGetErrorString(ncclResult_t result)
{
	switch (result) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
	case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case ncclRemoteError: return "remote process exited or there was a network error";
	case ncclInProgress: return "NCCL operation in progress";
	default: return "unknown result code";
	}
}
PALIAS(ncclGetErrorString)

static struct xmig_nccl_comm *comm_of(ncclComm_t c)
{
	return (struct xmig_nccl_comm *)(void *)c;
}

/* A synchronous request: its ncclResult_t, with *res the reply. */
static ncclResult_t call_sync(struct xmig_thread *t, void **res)
{
	cudaError_t e = xmig_cl_end(t, XMIG_CALL_SYNC, res);

	/* the proxy answers ncclResult_t values; anything else means it was not reached */
	if (e == cudaErrorNotSupported)
		return ncclInvalidUsage;
	return (int)e >= 0 && (int)e <= ncclInProgress ? (ncclResult_t)e : ncclSystemError;
}

static void *begin(struct xmig_thread **t, uint32_t op, uint32_t size)
{
	if (xmig_cl_enter(t))
		return NULL;
	return xmig_cl_begin(*t, op, size);
}

API const char *ncclGetLastError(ncclComm_t comm)
{
	struct xmig_ccl_query_req *a;
	struct xmig_ccl_query_res *r = NULL;
	struct xmig_thread *t;

	last_error[0] = 0;
	if (!(a = begin(&t, XMIG_OP_CCL_QUERY, sizeof(*a))))
		return "xmig: the proxy is not reachable";
	a->comm = comm ? comm_of(comm)->id : 0;
	if (call_sync(t, (void **)&r) == ncclSuccess && r)
		snprintf(last_error, sizeof(last_error), "%s", r->last_error);
	return last_error;
}
PALIAS(ncclGetLastError)

/* ---- communicators -------------------------------------------------------------------- */

API ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	struct xmig_ccl_id_res *r = NULL;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!id)
		return ncclInvalidArgument;
	if (!begin(&t, XMIG_OP_CCL_UNIQUE_ID, 0))
		return ncclSystemError;
	if ((st = call_sync(t, (void **)&r)) || !r)
		return st ? st : ncclInternalError;
	memcpy(id->internal, r->id, sizeof(id->internal));
	return ncclSuccess;
}
PALIAS(ncclGetUniqueId)

/* The application's ncclConfig_t, as far as its size says it has fields. */
static ncclResult_t read_config(const ncclConfig_t *c, struct xmig_ccl_config *g)
{
	memset(g, 0, sizeof(*g));
#define FIELD(f, dst) \
	g->dst = c && c->size >= offsetof(ncclConfig_t, f) + sizeof(c->f) ? c->f : NCCL_CONFIG_UNDEF_INT;
	FIELD(blocking, blocking) FIELD(cgaClusterSize, cga_cluster_size) FIELD(minCTAs, min_ctas)
	FIELD(maxCTAs, max_ctas) FIELD(splitShare, split_share) FIELD(trafficClass, traffic_class)
	FIELD(collnetEnable, collnet_enable) FIELD(CTAPolicy, cta_policy)
	FIELD(shrinkShare, shrink_share) FIELD(nvlsCTAs, nvls_ctas)
	FIELD(nChannelsPerNetPeer, channels_per_net_peer)
	FIELD(nvlinkCentricSched, nvlink_centric_sched)
#undef FIELD
	if (!c)
		return ncclSuccess;
	if (c->magic != 0xcafebeef || c->size < offsetof(ncclConfig_t, netName))
		return ncclInvalidArgument;   /* not made with NCCL_CONFIG_INITIALIZER */
	g->given = 1;
	if (c->size >= offsetof(ncclConfig_t, netName) + sizeof(c->netName) && c->netName)
		snprintf(g->net_name, sizeof(g->net_name), "%s", c->netName);
	if (c->size >= offsetof(ncclConfig_t, commName) + sizeof(c->commName) && c->commName)
		snprintf(g->comm_name, sizeof(g->comm_name), "%s", c->commName);
	return ncclSuccess;
}

static ncclResult_t new_comm(const struct xmig_ccl_comm_res *r, ncclComm_t *out)
{
	struct xmig_nccl_comm *c;

	*out = NULL;
	if (!r->comm)
		return ncclSuccess;   /* NCCL_SPLIT_NOCOLOR */
	if (!(c = calloc(1, sizeof(*c))))
		return ncclSystemError;
	c->id = r->comm;
	c->nranks = r->nranks;
	c->rank = r->rank;
	*out = (ncclComm_t)(void *)c;
	return ncclSuccess;
}

static ncclResult_t init(ncclComm_t *comm, int nranks, int rank, int nids,
			 const ncclUniqueId *ids, const ncclConfig_t *config)
{
	struct xmig_ccl_init_req *a;
	struct xmig_ccl_comm_res *r = NULL;
	struct xmig_ccl_config g;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!comm || !ids || nranks < 1 || rank < 0 || rank >= nranks || nids < 1)
		return ncclInvalidArgument;
	if (nids > XMIG_CCL_MAX_IDS) {
		xmig_cl_unsupported("ncclCommInitRankScalable with more than 8 ids");
		return ncclInvalidUsage;
	}
	if ((st = read_config(config, &g)))
		return st;
	if (!(a = begin(&t, XMIG_OP_CCL_INIT, sizeof(*a))))
		return ncclSystemError;
	a->nranks = nranks;
	a->rank = rank;
	a->nids = nids;
	a->config = g;
	for (int i = 0; i < nids; i++)
		memcpy(a->ids[i], ids[i].internal, XMIG_CCL_ID_BYTES);
	if ((st = call_sync(t, (void **)&r)) || !r)
		return st ? st : ncclInternalError;
	return new_comm(r, comm);
}

API ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId,
					int rank, ncclConfig_t *config)
{
	return init(comm, nranks, rank, 1, &commId, config);
}
PALIAS(ncclCommInitRankConfig)

API ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
	return init(comm, nranks, rank, 1, &commId, NULL);
}
PALIAS(ncclCommInitRank)

API ncclResult_t ncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank, int nId,
					  ncclUniqueId *commIds, ncclConfig_t *config)
{
	return init(newcomm, nranks, myrank, nId, commIds, config);
}
PALIAS(ncclCommInitRankScalable)

/* A process under xmig sees one GPU, device 0: a communicator of one. */
API ncclResult_t ncclCommInitAll(ncclComm_t *comm, int ndev, const int *devlist)
{
	ncclUniqueId id;
	ncclResult_t st;

	if (!comm || ndev < 1)
		return ncclInvalidArgument;
	if (ndev > 1 || (devlist && devlist[0] != 0)) {
		xmig_cl_unsupported("ncclCommInitAll of a GPU other than device 0 (a process under "
				    "xmig sees one GPU)");
		return ncclInvalidUsage;
	}
	if ((st = ncclGetUniqueId(&id)))
		return st;
	return init(comm, 1, 0, 1, &id, NULL);
}
PALIAS(ncclCommInitAll)

static ncclResult_t split(ncclComm_t comm, int kind, int color, int key, const int *exclude,
			  int nexclude, int flags, ncclComm_t *newcomm, const ncclConfig_t *config)
{
	struct xmig_ccl_split_req *a;
	struct xmig_ccl_comm_res *r = NULL;
	struct xmig_ccl_config g;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!comm || !newcomm || nexclude < 0 || (nexclude && !exclude) ||
	    nexclude > comm_of(comm)->nranks)
		return ncclInvalidArgument;
	if ((st = read_config(config, &g)))
		return st;
	if (!(a = begin(&t, XMIG_OP_CCL_SPLIT, sizeof(*a) + (uint32_t)nexclude * sizeof(int32_t))))
		return ncclSystemError;
	a->parent = comm_of(comm)->id;
	a->kind = kind;
	a->color = color;
	a->key = key;
	a->flags = flags;
	a->nexclude = nexclude;
	a->config = g;
	for (int i = 0; i < nexclude; i++)
		a->exclude[i] = exclude[i];
	if ((st = call_sync(t, (void **)&r)) || !r)
		return st ? st : ncclInternalError;
	return new_comm(r, newcomm);
}

API ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
			       ncclConfig_t *config)
{
	return split(comm, XMIG_CCL_SPLIT, color, key, NULL, 0, 0, newcomm, config);
}
PALIAS(ncclCommSplit)

API ncclResult_t ncclCommShrink(ncclComm_t comm, int *excludeRanksList, int excludeRanksCount,
				ncclComm_t *newcomm, ncclConfig_t *config, int shrinkFlags)
{
	return split(comm, XMIG_CCL_SHRINK, 0, 0, excludeRanksList, excludeRanksCount,
		     shrinkFlags, newcomm, config);
}
PALIAS(ncclCommShrink)

static ncclResult_t end(ncclComm_t comm, int kind)
{
	struct xmig_ccl_end_req *a;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!comm)
		return kind == XMIG_CCL_FINALIZE ? ncclInvalidArgument : ncclSuccess;
	if (!(a = begin(&t, XMIG_OP_CCL_END, sizeof(*a))))
		return ncclSystemError;
	a->comm = comm_of(comm)->id;
	a->kind = kind;
	st = call_sync(t, NULL);
	if (kind != XMIG_CCL_FINALIZE)
		free(comm_of(comm));
	return st;
}

API ncclResult_t ncclCommFinalize(ncclComm_t comm)
{
	return end(comm, XMIG_CCL_FINALIZE);
}
PALIAS(ncclCommFinalize)

API ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
	return end(comm, XMIG_CCL_DESTROY);
}
PALIAS(ncclCommDestroy)

API ncclResult_t ncclCommAbort(ncclComm_t comm)
{
	return end(comm, XMIG_CCL_ABORT);
}
PALIAS(ncclCommAbort)

/* Asked while a move is under way, it waits for the move: the answer is the new proxy's. */
API ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
	struct xmig_ccl_query_req *a;
	struct xmig_ccl_query_res *r = NULL;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!comm || !asyncError)
		return ncclInvalidArgument;
	if (!(a = begin(&t, XMIG_OP_CCL_QUERY, sizeof(*a))))
		return ncclSystemError;
	a->comm = comm_of(comm)->id;
	if ((st = call_sync(t, (void **)&r)) || !r)
		return st ? st : ncclInternalError;
	*asyncError = (ncclResult_t)r->async_error;
	return ncclSuccess;
}
PALIAS(ncclCommGetAsyncError)

API ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
	if (!comm || !count)
		return ncclInvalidArgument;
	*count = comm_of(comm)->nranks;
	return ncclSuccess;
}
PALIAS(ncclCommCount)

API ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
	if (!comm || !rank)
		return ncclInvalidArgument;
	*rank = comm_of(comm)->rank;
	return ncclSuccess;
}
PALIAS(ncclCommUserRank)

API ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device)
{
	if (!comm || !device)
		return ncclInvalidArgument;
	*device = 0;   /* the one GPU this process sees, wherever it is */
	return ncclSuccess;
}
PALIAS(ncclCommCuDevice)

/* ---- PreMulSum ops ------------------------------------------------------------------ */

static size_t type_size(ncclDataType_t t)
{
	switch (t) {
	case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
	case ncclFloat16: case ncclBfloat16: return 2;
	case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
	case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
	default: return 0;
	}
}

API ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
					  ncclScalarResidence_t residence, ncclComm_t comm)
{
	struct xmig_ccl_redop_req *a;
	struct xmig_ccl_redop_res *r = NULL;
	struct xmig_thread *t;
	ncclResult_t st;

	if (!op || !scalar || !comm || !type_size(datatype) ||
	    (residence != ncclScalarDevice && residence != ncclScalarHostImmediate))
		return ncclInvalidArgument;
	if (!(a = begin(&t, XMIG_OP_CCL_REDOP, sizeof(*a))))
		return ncclSystemError;
	a->comm = comm_of(comm)->id;
	a->kind = XMIG_CCL_REDOP_CREATE;
	a->datatype = datatype;
	a->residence = residence;
	if (residence == ncclScalarDevice)
		a->scalar_ptr = (uint64_t)(uintptr_t)scalar;
	else
		memcpy(a->scalar, scalar, type_size(datatype));
	if ((st = call_sync(t, (void **)&r)) || !r)
		return st ? st : ncclInternalError;
	*op = (ncclRedOp_t)r->op;
	return ncclSuccess;
}
PALIAS(ncclRedOpCreatePreMulSum)

API ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm)
{
	struct xmig_ccl_redop_req *a;
	struct xmig_thread *t;

	if (!comm || (int)op < ncclNumOps)
		return ncclInvalidArgument;
	if (!(a = begin(&t, XMIG_OP_CCL_REDOP, sizeof(*a))))
		return ncclSystemError;
	a->comm = comm_of(comm)->id;
	a->kind = XMIG_CCL_REDOP_DESTROY;
	a->op = (int)op;
	return call_sync(t, NULL);
}
PALIAS(ncclRedOpDestroy)

/* ---- groups, collectives, send and receive ---------------------------------------------- */

API ncclResult_t ncclGroupStart(void)
{
	group_depth++;
	return ncclSuccess;
}
PALIAS(ncclGroupStart)

static ncclResult_t post_ops(const struct xmig_ccl_op *ops, size_t n, bool group)
{
	struct xmig_thread *t;
	void *p;

	if (!n)
		return ncclSuccess;
	if (!group) {
		if (!(p = begin(&t, XMIG_OP_CCL_COLL, sizeof(*ops))))
			return ncclSystemError;
		memcpy(p, ops, sizeof(*ops));
	} else {
		struct xmig_ccl_group_req *g;
		size_t bytes = sizeof(*g) + n * sizeof(*ops);

		if (bytes > XMIG_REQ_MAX / 2) {
			xmig_cl_unsupported("ncclGroupEnd of more than a few thousand calls");
			return ncclInvalidUsage;
		}
		if (!(g = begin(&t, XMIG_OP_CCL_GROUP, (uint32_t)bytes)))
			return ncclSystemError;
		g->nops = (uint32_t)n;
		memcpy(g->ops, ops, n * sizeof(*ops));
	}
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL) ? ncclSystemError : ncclSuccess;
}

API ncclResult_t ncclGroupEnd(void)
{
	ncclResult_t st;

	if (group_depth <= 0)
		return ncclInvalidUsage;
	if (--group_depth > 0)
		return ncclSuccess;
	st = post_ops(group_ops, group_n, true);
	group_n = 0;
	return st;
}
PALIAS(ncclGroupEnd)

/* Check one call as NCCL does before it enqueues, then post it or keep it for the group. */
static ncclResult_t coll(int fn, const void *send, void *recv, size_t count, ncclDataType_t type,
			 int redop, int peer, ncclComm_t comm, cudaStream_t stream)
{
	struct xmig_nccl_comm *c = comm_of(comm);
	struct xmig_ccl_op op;

	if (!c || !type_size(type))
		return ncclInvalidArgument;
	if ((fn == XMIG_CCL_SEND || fn == XMIG_CCL_RECV || fn == XMIG_CCL_BROADCAST ||
	     fn == XMIG_CCL_REDUCE || fn == XMIG_CCL_GATHER || fn == XMIG_CCL_SCATTER) &&
	    (peer < 0 || peer >= c->nranks))
		return ncclInvalidArgument;
	if ((fn == XMIG_CCL_ALLREDUCE || fn == XMIG_CCL_REDUCE || fn == XMIG_CCL_REDUCESCATTER) &&
	    redop < 0)
		return ncclInvalidArgument;
	if (count && ((fn != XMIG_CCL_RECV && !send) || (fn != XMIG_CCL_SEND && !recv)))
		return ncclInvalidArgument;
	memset(&op, 0, sizeof(op));
	op.comm = c->id;
	op.send = (uint64_t)(uintptr_t)send;
	op.recv = (uint64_t)(uintptr_t)recv;
	op.count = count;
	op.stream = xmig_cl_stream_id(stream, 0);
	op.fn = fn;
	op.datatype = type;
	op.redop = redop;
	op.peer = peer;
	if (!group_depth)
		return post_ops(&op, 1, false);
	if (group_n == group_cap) {
		size_t cap = group_cap ? group_cap * 2 : 16;
		struct xmig_ccl_op *n = realloc(group_ops, cap * sizeof(*n));

		if (!n)
			return ncclSystemError;
		group_ops = n;
		group_cap = cap;
	}
	group_ops[group_n++] = op;
	return ncclSuccess;
}

API ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
			       ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
			       cudaStream_t stream)
{
	return coll(XMIG_CCL_ALLREDUCE, sendbuff, recvbuff, count, datatype, (int)op, 0, comm,
		    stream);
}
PALIAS(ncclAllReduce)

API ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
			       ncclDataType_t datatype, int root, ncclComm_t comm,
			       cudaStream_t stream)
{
	struct xmig_nccl_comm *c = comm_of(comm);

	/* only the root's send buffer is read */
	return coll(XMIG_CCL_BROADCAST, c && c->rank == root ? sendbuff : recvbuff, recvbuff,
		    count, datatype, 0, root, comm, stream);
}
PALIAS(ncclBroadcast)

API ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root,
			   ncclComm_t comm, cudaStream_t stream)
{
	return ncclBroadcast(buff, buff, count, datatype, root, comm, stream);
}
PALIAS(ncclBcast)

API ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count,
			    ncclDataType_t datatype, ncclRedOp_t op, int root, ncclComm_t comm,
			    cudaStream_t stream)
{
	struct xmig_nccl_comm *c = comm_of(comm);

	/* only the root's receive buffer is written */
	return coll(XMIG_CCL_REDUCE, sendbuff, c && c->rank == root ? recvbuff : (void *)sendbuff,
		    count, datatype, (int)op, root, comm, stream);
}
PALIAS(ncclReduce)

API ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
			       ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
	return coll(XMIG_CCL_ALLGATHER, sendbuff, recvbuff, sendcount, datatype, 0, 0, comm,
		    stream);
}
PALIAS(ncclAllGather)

API ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
				   ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
				   cudaStream_t stream)
{
	return coll(XMIG_CCL_REDUCESCATTER, sendbuff, recvbuff, recvcount, datatype, (int)op, 0,
		    comm, stream);
}
PALIAS(ncclReduceScatter)

API ncclResult_t ncclAlltoAll(const void *sendbuff, void *recvbuff, size_t count,
			      ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
	return coll(XMIG_CCL_ALLTOALL, sendbuff, recvbuff, count, datatype, 0, 0, comm, stream);
}
PALIAS(ncclAlltoAll)

API ncclResult_t ncclGather(const void *sendbuff, void *recvbuff, size_t count,
			    ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
	struct xmig_nccl_comm *c = comm_of(comm);

	return coll(XMIG_CCL_GATHER, sendbuff, c && c->rank == root ? recvbuff : (void *)sendbuff,
		    count, datatype, 0, root, comm, stream);
}
PALIAS(ncclGather)

API ncclResult_t ncclScatter(const void *sendbuff, void *recvbuff, size_t count,
			     ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
	struct xmig_nccl_comm *c = comm_of(comm);

	return coll(XMIG_CCL_SCATTER, c && c->rank == root ? sendbuff : recvbuff, recvbuff, count,
		    datatype, 0, root, comm, stream);
}
PALIAS(ncclScatter)

API ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
			  ncclComm_t comm, cudaStream_t stream)
{
	return coll(XMIG_CCL_SEND, sendbuff, NULL, count, datatype, 0, peer, comm, stream);
}
PALIAS(ncclSend)

API ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
			  ncclComm_t comm, cudaStream_t stream)
{
	return coll(XMIG_CCL_RECV, NULL, recvbuff, count, datatype, 0, peer, comm, stream);
}
PALIAS(ncclRecv)
