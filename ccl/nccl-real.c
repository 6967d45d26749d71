/*
 * nccl-real.c - the job's own NCCL in the proxy: $XMIG_NCCL (PyTorch's
 * wheel ships it in site-packages/nvidia/nccl/lib), else libnccl.so.2 as
 * the loader finds it, else the CUDA Toolkit's; never xmig's facade.
 * Opened at the first call; NCCL runs in the proxy's CUDA context on the
 * proxy's streams.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "../lib/xmig.h"
#include "../proxy/server/real-lib.h"
#include "ccl.h"

#define NCCL_FNS(X) \
	X(ncclGetUniqueId) X(ncclCommInitRankConfig) X(ncclCommSplit) X(ncclCommDestroy) \
	X(ncclCommAbort) X(ncclCommFinalize) X(ncclCommGetAsyncError) X(ncclGetLastError) \
	X(ncclRedOpCreatePreMulSum) X(ncclRedOpDestroy) X(ncclGroupStart) X(ncclGroupEnd) \
	X(ncclAllReduce) X(ncclBroadcast) X(ncclReduce) X(ncclAllGather) \
	X(ncclReduceScatter) X(ncclSend) X(ncclRecv) X(ncclCommCount) X(ncclCommUserRank) \
	X(ncclGetVersion)
/* Not in every 2.x: looked up, used when there. */
#define NCCL_OPTIONAL_FNS(X) \
	X(ncclCommInitRankScalable) X(ncclCommShrink) X(ncclAlltoAll) X(ncclGather) \
	X(ncclScatter) X(ncclMemAlloc) X(ncclMemFree)

static struct {
#define X(n) __typeof__(n) *n;
	NCCL_FNS(X) NCCL_OPTIONAL_FNS(X)
#undef X
} nc;
static int loaded = -1;   /* -1 not tried, 0 failed, 1 loaded */
static char extras[256];
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static int load(void)
{
	static const char *const later[] = { "ncclCommGrow", "ncclCommRevoke" };
	void *h;

	pthread_mutex_lock(&load_lock);
	if (loaded >= 0)
		goto out;
	loaded = 0;
	if (!(h = xmig_open_real_library("XMIG_NCCL", "libnccl.so.2", "NCCL")))
		goto out;
#define X(n)                                                                      \
	if (!(nc.n = (__typeof__(n) *)dlsym(h, #n))) {                            \
		xmig_error("the NCCL found lacks %s (need 2.19 or later)", #n);  \
		goto out;                                                         \
	}
	NCCL_FNS(X)
#undef X
#define X(n) nc.n = (__typeof__(n) *)dlsym(h, #n);
	NCCL_OPTIONAL_FNS(X)
#undef X
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		if (dlsym(h, later[i]))
			snprintf(extras + strlen(extras), sizeof(extras) - strlen(extras), "%s%s",
				 *extras ? " " : "", later[i]);
	loaded = 1;
out:
	pthread_mutex_unlock(&load_lock);
	return loaded;
}

int ccl_nccl_version(void)
{
	int v = 0;

	return load() && nc.ncclGetVersion(&v) == ncclSuccess ? v : 0;
}

static const char *real_extras(void)
{
	return load() ? extras : "";
}

/* The application's settings; blocking always, so a build is done when it returns. */
static void to_config(const struct xmig_ccl_config *g, ncclConfig_t *c)
{
	ncclConfig_t init = NCCL_CONFIG_INITIALIZER;

	*c = init;
	if (!g || !g->given)
		return;
	c->cgaClusterSize = g->cga_cluster_size;
	c->minCTAs = g->min_ctas;
	c->maxCTAs = g->max_ctas;
	c->netName = g->net_name[0] ? g->net_name : NULL;
	c->splitShare = g->split_share;
	c->trafficClass = g->traffic_class;
	c->commName = g->comm_name[0] ? g->comm_name : NULL;
	c->collnetEnable = g->collnet_enable;
	c->CTAPolicy = g->cta_policy;
	c->shrinkShare = g->shrink_share;
	c->nvlsCTAs = g->nvls_ctas;
	c->nChannelsPerNetPeer = g->channels_per_net_peer;
	c->nvlinkCentricSched = g->nvlink_centric_sched;
	c->blocking = 1;
}

static int real_unique_id(void *dev, unsigned char id[XMIG_CCL_ID_BYTES])
{
	if (!load())
		return ncclSystemError;
	return nc.ncclGetUniqueId((ncclUniqueId *)id);
}

static int real_init(void *dev, int nranks, int rank, int nids,
		     const unsigned char (*ids)[XMIG_CCL_ID_BYTES],
		     const struct xmig_ccl_config *cfg, void **comm)
{
	ncclConfig_t c;
	ncclUniqueId u[XMIG_CCL_MAX_IDS];

	if (!load())
		return ncclSystemError;
	to_config(cfg, &c);
	c.blocking = 1;
	for (int i = 0; i < nids; i++)
		memcpy(u[i].internal, ids[i], XMIG_CCL_ID_BYTES);
	if (nids == 1)
		return nc.ncclCommInitRankConfig((ncclComm_t *)comm, nranks, u[0], rank, &c);
	if (!nc.ncclCommInitRankScalable) {
		xmig_error("the NCCL loaded in the proxy lacks ncclCommInitRankScalable");
		return ncclInvalidUsage;
	}
	return nc.ncclCommInitRankScalable((ncclComm_t *)comm, nranks, rank, nids, u, &c);
}

static int real_split(void *dev, void *parent, int color, int key,
		      const struct xmig_ccl_config *cfg, void **comm)
{
	ncclConfig_t c;

	to_config(cfg, &c);
	c.blocking = 1;
	*comm = NULL;
	return nc.ncclCommSplit(parent, color, key, (ncclComm_t *)comm, &c);
}

static int real_shrink(void *dev, void *parent, const int *exclude, int nexclude,
		       const struct xmig_ccl_config *cfg, int flags, void **comm)
{
	ncclConfig_t c;

	if (!nc.ncclCommShrink) {
		xmig_error("the NCCL loaded in the proxy lacks ncclCommShrink");
		return ncclInvalidUsage;
	}
	to_config(cfg, &c);
	c.blocking = 1;
	*comm = NULL;
	return nc.ncclCommShrink(parent, (int *)exclude, nexclude, (ncclComm_t *)comm, &c, flags);
}

static int real_end(void *dev, void *comm, int kind)
{
	switch (kind) {
	case XMIG_CCL_FINALIZE:
		return nc.ncclCommFinalize(comm);
	case XMIG_CCL_ABORT:
		return nc.ncclCommAbort(comm);
	default:
		return nc.ncclCommDestroy(comm);
	}
}

static int real_size(void *dev, void *comm, int *nranks, int *rank)
{
	int st = nc.ncclCommCount(comm, nranks);

	return st ? st : (int)nc.ncclCommUserRank(comm, rank);
}

static int real_async_error(void *dev, void *comm, int *result)
{
	ncclResult_t r = ncclSuccess;
	int st = nc.ncclCommGetAsyncError(comm, &r);

	*result = r;
	return st;
}

static const char *real_last_error(void *dev, void *comm)
{
	return load() ? nc.ncclGetLastError(comm) : "NCCL could not be loaded in the proxy";
}

static int real_redop_create(void *dev, void *comm, int datatype, int residence,
			     const void *scalar, int *op)
{
	ncclRedOp_t o;
	int st = nc.ncclRedOpCreatePreMulSum(&o, (void *)scalar, (ncclDataType_t)datatype,
					     (ncclScalarResidence_t)residence, comm);

	*op = st ? -1 : (int)o;
	return st;
}

static int real_redop_destroy(void *dev, void *comm, int op)
{
	return nc.ncclRedOpDestroy((ncclRedOp_t)op, comm);
}

static int real_group_start(void *dev)
{
	return load() ? nc.ncclGroupStart() : ncclSystemError;
}

static int real_group_end(void *dev)
{
	return nc.ncclGroupEnd();
}

static int missing(const char *fn)
{
	xmig_error("the NCCL loaded in the proxy lacks %s", fn);
	return ncclInvalidUsage;
}

static int real_coll(void *dev, void *comm, const struct xmig_ccl_op *o, int redop, void *s)
{
	const void *send = (const void *)(uintptr_t)o->send;
	void *recv = (void *)(uintptr_t)o->recv;
	ncclDataType_t t = (ncclDataType_t)o->datatype;
	cudaStream_t st = s;

	switch (o->fn) {
	case XMIG_CCL_ALLREDUCE:
		return nc.ncclAllReduce(send, recv, o->count, t, (ncclRedOp_t)redop, comm, st);
	case XMIG_CCL_BROADCAST:
		return nc.ncclBroadcast(send, recv, o->count, t, o->peer, comm, st);
	case XMIG_CCL_REDUCE:
		return nc.ncclReduce(send, recv, o->count, t, (ncclRedOp_t)redop, o->peer, comm, st);
	case XMIG_CCL_ALLGATHER:
		return nc.ncclAllGather(send, recv, o->count, t, comm, st);
	case XMIG_CCL_REDUCESCATTER:
		return nc.ncclReduceScatter(send, recv, o->count, t, (ncclRedOp_t)redop, comm, st);
	case XMIG_CCL_ALLTOALL:
		return nc.ncclAlltoAll ? (int)nc.ncclAlltoAll(send, recv, o->count, t, comm, st)
				       : missing("ncclAlltoAll");
	case XMIG_CCL_GATHER:
		return nc.ncclGather ? (int)nc.ncclGather(send, recv, o->count, t, o->peer, comm, st)
				     : missing("ncclGather");
	case XMIG_CCL_SCATTER:
		return nc.ncclScatter ? (int)nc.ncclScatter(send, recv, o->count, t, o->peer, comm, st)
				      : missing("ncclScatter");
	case XMIG_CCL_SEND:
		return nc.ncclSend(send, o->count, t, o->peer, comm, st);
	case XMIG_CCL_RECV:
		return nc.ncclRecv(recv, o->count, t, o->peer, comm, st);
	default:
		return ncclInvalidArgument;
	}
}

/*
 * NCCL connects a communicator's channels for an algorithm in the first
 * collective that uses it (its runtime connect, the default since 2.22),
 * and its point-to-point channels to a peer in the first send or receive
 * with it. A one-element all-reduce and a 32 MiB one make what the tuner
 * picks for small and for large all-reduces (on one node: the ring, and
 * the tree or NVLS where it picks them), the algorithms of most jobs'
 * collectives; a group of one-element sends and receives, the peers the
 * job exchanged with. The buffer is NCCL's own allocation, outside the
 * job's address window; on a GPU too full for it, the small all-reduce
 * only.
 */
#define CONNECT_BIG (32u << 20)

static int real_connect_ahead(void *dev, void *comm, void *stream, int timeout_ms,
			      const int *send_to, int nsend, const int *recv_from, int nrecv,
			      void **scratch)
{
	size_t count = CONNECT_BIG / sizeof(float), small = 256 + 4 * (size_t)nrecv;
	cudaStream_t strm = (cudaStream_t)stream;
	float *buf;
	int st, i;

	*scratch = NULL;
	if (!nc.ncclMemAlloc || !nc.ncclMemFree)
		return ncclInvalidUsage;
	if (nc.ncclMemAlloc(scratch, CONNECT_BIG > small ? CONNECT_BIG : small)) {
		count = 1;
		if ((st = nc.ncclMemAlloc(scratch, small)))
			return st;
	}
	buf = *scratch;
	/*
	 * (a rank too full for the large one makes one call less: its peers'
	 * second waits until connect_ahead's caller gives up and aborts, and
	 * the cut builds the communicator as it did before)
	 */
	if (!(st = nc.ncclAllReduce(buf, buf, 1, ncclFloat32, ncclSum, comm, strm)) && count > 1)
		st = nc.ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, comm, strm);
	if (!st && (nsend || nrecv)) {
		/* (one element each; each receive into its own float, past the sends' one) */
		if (!(st = nc.ncclGroupStart())) {
			int end;

			for (i = 0; !st && i < nsend; i++)
				st = nc.ncclSend(buf, 1, ncclFloat32, send_to[i], comm, strm);
			for (i = 0; !st && i < nrecv; i++)
				st = nc.ncclRecv(buf + 64 + i, 1, ncclFloat32, recv_from[i], comm,
						 strm);
			end = nc.ncclGroupEnd();
			if (!st)
				st = end;
		}
	}
	if (st) {
		nc.ncclMemFree(*scratch);
		*scratch = NULL;
	}
	return st;
}

static void real_scratch_free(void *dev, void *scratch)
{
	if (scratch)
		nc.ncclMemFree(scratch);
}

const struct ccl_backend ccl_backend_nccl = {
	.name = "nccl",
	.calls_wait = false,
	.extras = real_extras,
	.unique_id = real_unique_id,
	.init = real_init,
	.split = real_split,
	.shrink = real_shrink,
	.end = real_end,
	.size = real_size,
	.async_error = real_async_error,
	.last_error = real_last_error,
	.redop_create = real_redop_create,
	.redop_destroy = real_redop_destroy,
	.group_start = real_group_start,
	.group_end = real_group_end,
	.coll = real_coll,
	.connect_ahead = real_connect_ahead,
	.scratch_free = real_scratch_free,
};
