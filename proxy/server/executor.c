/*
 * executor.c - `xmig-proxy --serve-remote`: a GPU of this node, run on
 * behalf of a bridge proxy on another node (remote.h).
 *
 *   xmig-proxy --serve-remote --gpu N --device cuda|sim --listen ADDR
 *
 * Started by the orchestrator through the node's command prefix, with the
 * one-time token on its stdin. It listens on an ephemeral TCP port of ADDR,
 * prints "port P pid Q" on stdout, detaches (the prefix command returns), and
 * serves exactly one session: the first peer that presents the token.
 * Then it executes device operations in order, one at a time, until the
 * bridge says BYE or the connection goes away, and exits: the GPU is free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cublas_api.h>
#include <cudnn_graph.h>

#include "../api/dnn.h"
#include "executor.h"
#include "remote.h"
#include "server.h"
#include "state.h"

struct exec {
	const struct xmig_device_ops *dev;
	void *devh;
	int fd;
	struct srv_table streams, events, modules, funcs, mems, blas, blaslt;
	struct srv_table graphs, graph_execs;
	struct srv_table dnn;       /* cuDNN handles and descriptors */
	void *staging;              /* copies back to the bridge, in two halves */
	bool staging_registered;
	void *out_done[2];          /* events: the GPU has filled a half */
	void *in[2];                /* copies from the bridge, alternately */
	bool in_registered[2];
	void *in_done[2];           /* events: the GPU has read in[i] */
	bool in_pending[2];
	int next_in;
	int gpu;
};

static int reply(struct exec *x, const struct rmt_hdr *req, int status, const uint64_t *a,
		 const void *data, size_t len)
{
	struct rmt_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };

	memset(&h, 0, sizeof(h));
	h.magic = RMT_MAGIC;
	h.op = RMT_REPLY;
	h.seq = req->seq;
	h.status = status;
	h.len = len;
	if (a)
		memcpy(h.a, a, sizeof(h.a));
	return xmig_writev_all(x->fd, iov, 2);
}

static int send_plain(struct exec *x, uint32_t op, int32_t status, uint64_t a0, const void *data,
		      size_t len)
{
	struct rmt_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = RMT_MAGIC;
	h.op = op;
	h.status = status;
	h.len = len;
	h.a[0] = a0;
	if (xmig_write_all(x->fd, &h, sizeof(h)) < 0)
		return -1;
	return len ? xmig_write_all(x->fd, data, len) : 0;
}

/* DATA for the bridge: the bytes, then their XXH3 (checked as they land). */
static int send_checked(struct exec *x, uint32_t op, uint64_t a0, const void *data, size_t len)
{
	struct rmt_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = RMT_MAGIC;
	h.op = op;
	h.len = len;
	h.a[0] = a0;
	return xmig_write_checked(x->fd, &h, sizeof(h), data, len);
}

static void *stream_of(struct exec *x, uint64_t id)
{
	if (id == RMT_STREAM_LEGACY)
		return x->dev->stream_special(x->devh, XMIG_DEV_STREAM_LEGACY);
	if (id == RMT_STREAM_PER_THREAD)
		return x->dev->stream_special(x->devh, XMIG_DEV_STREAM_PER_THREAD);
	return srv_table_get(&x->streams, id);
}

/*
 * The bridge names the library file its job runs (libraries.h), so that this
 * node loads the same: only those variables, and only a file that is here.
 */
static int use_library(const char *data, uint64_t len)
{
	char buf[PATH_MAX + 64], *eq;

	if (!len || len >= sizeof(buf))
		return cudaErrorInvalidValue;
	memcpy(buf, data, len);
	buf[len] = '\0';
	if (!(eq = strchr(buf, '=')))
		return cudaErrorInvalidValue;
	*eq = '\0';
	if (!srv_libraries_known(buf))
		return cudaErrorInvalidValue;
	if (access(eq + 1, R_OK)) {
		xmig_error("%s is not on this node", eq + 1);
		return 1;
	}
	return setenv(buf, eq + 1, 1) ? cudaErrorMemoryAllocation : 0;
}

/*
 * The job's settings for the libraries (xmig_env_for_libraries: CUDA_*,
 * CUBLAS_*, NCCL_*...), as its proxy had them, set here before the device
 * is opened; entries of any other kind are not taken.
 */
static int use_job_env(char *data, uint64_t len)
{
	char names[1024] = "";
	uint64_t off = 0;

	if (!len || data[len - 1] != '\0')
		return cudaErrorInvalidValue;
	for (; off < len; off += strlen(data + off) + 1) {
		char *e = data + off, *eq = strchr(e, '=');

		if (!eq || !xmig_env_for_libraries(e))
			continue;
		*eq = '\0';
		if (setenv(e, eq + 1, 1))
			return cudaErrorMemoryAllocation;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 *names ? " " : "", e);
	}
	xmig_info("the job's library settings: %s", *names ? names : "none");
	return 0;
}

/* Handles by id; 0 means "none" to the tables, so ids start at 1 (or 3). */
static uint64_t keep(struct srv_table *t, void *h)
{
	return h ? srv_table_add(t, h) : 0;
}

/* The real handles or descriptors for the ids in a reference attribute. */
static bool dnn_refs(struct exec *x, int64_t n, const uint64_t *ids, void **out)
{
	for (int64_t i = 0; i < n; i++)
		if (!(out[i] = ids[i] ? srv_table_get(&x->dnn, ids[i]) : NULL) && ids[i])
			return false;
	return true;
}

struct dnn_find { void *h; uint64_t id; };

static void dnn_find_one(uint64_t id, void *obj, void *arg)
{
	struct dnn_find *f = arg;

	if (obj == f->h)
		f->id = id;
}

/* The id of a real cuDNN handle (GetAttribute of a handle answers one). */
static uint64_t dnn_id_of(struct exec *x, void *h)
{
	struct dnn_find f = { h, 0 };

	srv_table_each(&x->dnn, dnn_find_one, &f);
	return f.id;
}

static int dnn_execute_remote(struct exec *x, struct rmt_hdr *h, void *data, uint64_t *a,
			      void **out, size_t *out_len, void **to_free)
{
	void *obj, *refs[XMIG_DNN_GET_MAX / 8];
	int r;

	switch (h->op) {
	case RMT_DNN_INFO: {
		struct xmig_dnn_info_res *res = calloc(1, sizeof(*res));

		if (!res)
			return CUDNN_STATUS_ALLOC_FAILED;
		r = x->dev->dnn_info(x->devh, res);
		*out = *to_free = res;
		*out_len = r ? 0 : sizeof(*res);
		return r;
	}
	case RMT_DNN_CREATE:
	case RMT_DNN_DESC_CREATE:
		r = h->op == RMT_DNN_CREATE ? x->dev->dnn_create(x->devh, &obj)
					    : x->dev->dnn_desc_create(x->devh, (int)h->a[0], &obj);
		a[0] = r ? 0 : keep(&x->dnn, obj);
		return r;
	case RMT_DNN_DESTROY:
	case RMT_DNN_DESC_DESTROY:
		if (!(obj = srv_table_remove(&x->dnn, h->a[0])))
			return CUDNN_STATUS_BAD_PARAM;
		return h->op == RMT_DNN_DESTROY ? x->dev->dnn_destroy(x->devh, obj)
						: x->dev->dnn_desc_destroy(x->devh, obj);
	case RMT_DNN_SET_STREAM:
		if (!(obj = srv_table_get(&x->dnn, h->a[0])) || !stream_of(x, h->a[1]))
			return cudaErrorInvalidResourceHandle;
		if ((r = x->dev->dnn_set_stream(x->devh, obj, stream_of(x, h->a[1])))) {
			xmig_error("cudnnSetStream failed with status %d", r);
			return cudaErrorUnknown;
		}
		return 0;
	case RMT_DNN_SET_ATTR: {
		int type = (int)h->a[2];
		int64_t n = (int64_t)h->a[3];
		size_t size = xmig_dnn_elem_size(type);

		/* (n bounded before it is multiplied: a product that wraps would pass) */
		if (!(obj = srv_table_get(&x->dnn, h->a[0])) || !size || n < 0 ||
		    n > XMIG_DNN_ATTR_MAX || h->len != (uint64_t)n * size)
			return CUDNN_STATUS_BAD_PARAM;
		if (xmig_dnn_type_is_ref(type)) {
			if ((size_t)n > sizeof(refs) / sizeof(refs[0]) || !dnn_refs(x, n, data, refs))
				return CUDNN_STATUS_BAD_PARAM;
			data = refs;
		}
		return x->dev->dnn_set_attr(x->devh, obj, (int)h->a[1], type, n, n ? data : NULL);
	}
	case RMT_DNN_GET_ATTR: {
		int type = (int)h->a[2];
		int64_t n = (int64_t)h->a[3], count = 0;
		size_t size = xmig_dnn_elem_size(type);
		bool fills = type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
		void *elems;

		if (!(obj = srv_table_get(&x->dnn, h->a[0])) || !size || n < 0 ||
		    (uint64_t)n > XMIG_DNN_GET_MAX / size || (fills && h->len != (uint64_t)n * 8))
			return CUDNN_STATUS_BAD_PARAM;
		if (!(elems = calloc(1, (size_t)n * size + 8)))
			return CUDNN_STATUS_ALLOC_FAILED;
		/* Descriptors to fill are the caller's: ids here, real ones there. */
		if (fills && !dnn_refs(x, n, data, elems)) {
			free(elems);
			return CUDNN_STATUS_BAD_PARAM;
		}
		r = x->dev->dnn_get_attr(x->devh, obj, (int)h->a[1], type, n, &count,
					 n ? elems : NULL);
		if (!r && fills)
			memcpy(elems, data, (size_t)n * 8);
		else if (!r && type == CUDNN_TYPE_HANDLE)
			for (int64_t i = 0; i < (count < n ? count : n); i++)
				((uint64_t *)elems)[i] = dnn_id_of(x, ((void **)elems)[i]);
		a[0] = (uint64_t)count;
		*out = *to_free = elems;
		*out_len = r ? 0 : (size_t)n * size;
		return r;
	}
	case RMT_DNN_FINALIZE:
		return (obj = srv_table_get(&x->dnn, h->a[0])) ? x->dev->dnn_finalize(x->devh, obj)
							       : CUDNN_STATUS_BAD_PARAM;
	case RMT_DNN_RUN: {
		const struct xmig_dnn_execute_req *q = data;
		void *hd = srv_table_get(&x->dnn, h->a[0]), *plan = srv_table_get(&x->dnn, h->a[1]);

		if (!hd || !plan || h->len < sizeof(*q) || q->n > XMIG_DNN_VP_MAX ||
		    h->len < sizeof(*q) + q->n * sizeof(q->entries[0]))
			return cudaErrorInvalidResourceHandle;
		if ((r = srv_dnn_execute_local(x->dev, x->devh, q, hd, plan))) {
			xmig_error("cudnnBackendExecute failed with status %d", r);
			return cudaErrorUnknown;
		}
		return 0;
	}
	case RMT_DNN_LAST_ERROR: {
		struct xmig_dnn_error_res *res = calloc(1, sizeof(*res));

		if (!res)
			return CUDNN_STATUS_ALLOC_FAILED;
		x->dev->dnn_last_error(x->devh, res->message, sizeof(res->message));
		*out = *to_free = res;
		*out_len = sizeof(*res);
		return 0;
	}
	}
	return cudaErrorNotSupported;
}

/*
 * Copies to the bridge's host memory come back as DATA, piece after piece,
 * each complete before it is sent. The GPU copies the next piece into one
 * half of the staging buffer while this one goes out from the other, so
 * the link is not idle while the GPU copies (the way back of a move across
 * nodes reads all memory this way).
 */
#define D2H_PIECE (4u << 20)
_Static_assert(2 * D2H_PIECE <= RMT_CHUNK, "two pieces fit in the staging buffer");

static int d2h(struct exec *x, uint64_t src, uint64_t size, void *s, uint64_t host)
{
	char *half[2] = { x->staging, (char *)x->staging + D2H_PIECE };
	uint64_t off = 0, n = size < D2H_PIECE ? size : D2H_PIECE, next;
	int k = 0, r = 0;

	if (n && ((r = x->dev->memcpy_async(x->devh, (uint64_t)(uintptr_t)half[0], src, n, s)) ||
		  (r = x->dev->event_record(x->devh, x->out_done[0], s, 0))))
		goto err;
	for (; off < size; off += n, n = next, k = !k) {
		next = size - off - n < D2H_PIECE ? size - off - n : D2H_PIECE;
		/* half[!k] went out with the piece before: free to fill */
		if (next && ((r = x->dev->memcpy_async(x->devh, (uint64_t)(uintptr_t)half[!k],
						      src + off + n, next, s)) ||
			     (r = x->dev->event_record(x->devh, x->out_done[!k], s, 0))))
			goto err;
		if ((r = x->dev->event_sync(x->devh, x->out_done[k])))
			goto err;
		if (send_checked(x, RMT_DATA, host + off, half[k], n) < 0) {
			r = cudaErrorDevicesUnavailable;
			goto err;
		}
	}
	return 0;
err:
	x->dev->stream_sync(x->devh, s);   /* no copy into the staging buffer left running */
	return r;
}

/*
 * Copies from the bridge alternate between two pinned buffers: the GPU
 * reads one while the next message lands in the other.
 */
/* The pinned buffer the next copy's bytes go to, once the GPU is done with it. */
static void *h2d_buffer(struct exec *x, int *err)
{
	int i = x->next_in;

	*err = x->in_pending[i] ? x->dev->event_sync(x->devh, x->in_done[i]) : 0;
	x->in_pending[i] = false;
	return x->in[i];
}

static int h2d(struct exec *x, uint64_t dst, const void *bytes, uint64_t n, void *s)
{
	int i = x->next_in, r;

	if (bytes != x->in[i]) {   /* not read straight into it (see serve) */
		if (x->in_pending[i] && (r = x->dev->event_sync(x->devh, x->in_done[i])))
			return r;
		memcpy(x->in[i], bytes, n);
	}
	r = x->dev->memcpy_async(x->devh, dst, (uint64_t)(uintptr_t)x->in[i], n, s);
	if (!r)
		r = x->dev->event_record(x->devh, x->in_done[i], s, 0);
	x->in_pending[i] = !r;
	x->next_in = !i;
	return r;
}

/* Stream capture and CUDA graphs on this node's backend, graphs by the executor's ids. */
static int graph_execute(struct exec *x, struct rmt_hdr *h, uint64_t *a)
{
	void *s = stream_of(x, h->a[0]), *obj = NULL;
	size_t n = 0;
	int r, status = 0;

	switch (h->op) {
	case RMT_CAPTURE_BEGIN:
		return s ? x->dev->capture_begin(x->devh, s) : cudaErrorInvalidResourceHandle;
	case RMT_CAPTURE_END:
		if (!s)
			return cudaErrorInvalidResourceHandle;
		r = x->dev->capture_end(x->devh, s, &obj);
		if (!r && obj && !(a[0] = keep(&x->graphs, obj))) {
			x->dev->graph_destroy(x->devh, obj);
			return cudaErrorMemoryAllocation;
		}
		return r;
	case RMT_CAPTURE_INFO:
		if (!s)
			return cudaErrorInvalidResourceHandle;
		r = x->dev->capture_info(x->devh, s, &status, &a[1]);
		a[0] = (uint64_t)status;
		return r;
	case RMT_GRAPH_INSTANTIATE:
		if (!(obj = srv_table_get(&x->graphs, h->a[0])))
			return cudaErrorInvalidValue;
		r = x->dev->graph_instantiate(x->devh, obj, h->a[1], &obj);
		if (!r && !(a[0] = keep(&x->graph_execs, obj))) {
			x->dev->graph_exec_destroy(x->devh, obj);
			return cudaErrorMemoryAllocation;
		}
		return r;
	case RMT_GRAPH_LAUNCH:
		obj = srv_table_get(&x->graph_execs, h->a[0]);
		s = stream_of(x, h->a[1]);
		if (!obj)
			return cudaErrorInvalidValue;
		return s ? x->dev->graph_launch(x->devh, obj, s, h->a[2] != 0)
			 : cudaErrorInvalidResourceHandle;
	case RMT_GRAPH_DESTROY:
		obj = srv_table_remove(&x->graphs, h->a[0]);
		return obj ? x->dev->graph_destroy(x->devh, obj) : cudaErrorInvalidValue;
	case RMT_GRAPH_EXEC_DESTROY:
		obj = srv_table_remove(&x->graph_execs, h->a[0]);
		return obj ? x->dev->graph_exec_destroy(x->devh, obj) : cudaErrorInvalidValue;
	case RMT_GRAPH_NODES:
		if (!(obj = srv_table_get(&x->graphs, h->a[0])))
			return cudaErrorInvalidValue;
		r = x->dev->graph_nodes(x->devh, obj, &n);
		a[0] = n;
		return r;
	case RMT_GRAPH_EXEC_UPDATE: {
		void *g = srv_table_get(&x->graphs, h->a[1]);
		int result = cudaGraphExecUpdateErrorNotSupported;

		if (!(obj = srv_table_get(&x->graph_execs, h->a[0])) || !g)
			return cudaErrorInvalidValue;
		r = x->dev->graph_exec_update ? x->dev->graph_exec_update(x->devh, obj, g, &result)
					      : cudaErrorGraphExecUpdateFailure;
		a[0] = (uint64_t)result;
		return r;
	}
	default:
		return cudaErrorNotSupported;
	}
}

/* *out: reply bytes; *to_free: what to free once they are sent (or NULL). */
static int execute(struct exec *x, struct rmt_hdr *h, void *data, uint64_t *a, void **out,
		   size_t *out_len, void **to_free, bool *bye)
{
	static struct cudaDeviceProp prop;
	static struct xmig_gpu_info info;
	static struct cudaFuncAttributes fattr;
	void *obj = NULL;
	int r = 0, v = 0;

	switch (h->op) {
	case RMT_OPEN:
		if (x->devh)
			return cudaErrorInvalidValue;
		r = x->dev->open((int)h->a[0], h->a[1], h->a[2], &x->devh);
		if (r)
			return r;
		if (posix_memalign(&x->staging, 4096, RMT_CHUNK) != 0)
			return cudaErrorMemoryAllocation;
		x->staging_registered = x->dev->host_register(x->devh, x->staging, RMT_CHUNK, 0) == 0;
		for (int i = 0; i < 2; i++)
			if ((r = x->dev->event_create(x->devh, cudaEventDisableTiming,
						      &x->out_done[i])))
				return r;
		for (int i = 0; i < 2; i++) {
			if (posix_memalign(&x->in[i], 4096, RMT_CHUNK) != 0 ||
			    (r = x->dev->event_create(x->devh, cudaEventDisableTiming,
						      &x->in_done[i])))
				return r ? r : cudaErrorMemoryAllocation;
			x->in_registered[i] =
				x->dev->host_register(x->devh, x->in[i], RMT_CHUNK, 0) == 0;
		}
		x->gpu = (int)h->a[0];
		a[0] = x->dev->capture_libraries;   /* (what its captures take in: the bridge asks) */
		return 0;
	case RMT_BYE:
		*bye = true;
		return 0;
	case RMT_ENV:
		/* before the device and the libraries start, and any thread of theirs */
		return x->devh ? cudaErrorInvalidValue : use_job_env(data, h->len);
	}
	if (!x->devh)
		return cudaErrorDeviceUninitialized;
	switch (h->op) {
	case RMT_INFO:
		r = x->dev->info(x->devh, &info);
		*out = &info;
		*out_len = sizeof(info);
		return r;
	case RMT_ATTRIBUTE:
		r = x->dev->attribute(x->devh, (int)h->a[0], &v);
		a[0] = (uint64_t)(int64_t)v;
		return r;
	case RMT_PROPERTIES:
		r = x->dev->properties(x->devh, &prop);
		*out = &prop;
		*out_len = sizeof(prop);
		return r;
	case RMT_MEM_MAP:
		r = x->dev->mem_map(x->devh, h->a[0], h->a[1], &obj);
		a[0] = r ? 0 : keep(&x->mems, obj);
		return r;
	case RMT_MEM_UNMAP:
		obj = srv_table_remove(&x->mems, h->a[2]);
		return obj ? x->dev->mem_unmap(x->devh, h->a[0], h->a[1], obj)
			   : cudaErrorInvalidValue;
	case RMT_MEM_INFO:
		return x->dev->mem_info(x->devh, &a[0], &a[1]);
	case RMT_STREAM_CREATE:
		r = x->dev->stream_create(x->devh, (unsigned)h->a[0], (int)(int64_t)h->a[1], &obj);
		a[0] = r ? 0 : keep(&x->streams, obj);
		return r;
	case RMT_STREAM_DESTROY:
		obj = srv_table_remove(&x->streams, h->a[0]);
		return obj ? x->dev->stream_destroy(x->devh, obj) : cudaErrorInvalidResourceHandle;
	case RMT_STREAM_SYNC:
	case RMT_STREAM_QUERY:
		obj = stream_of(x, h->a[0]);
		if (!obj)
			return cudaErrorInvalidResourceHandle;
		return h->op == RMT_STREAM_SYNC ? x->dev->stream_sync(x->devh, obj)
						: x->dev->stream_query(x->devh, obj);
	case RMT_STREAM_WAIT_EVENT:
		obj = stream_of(x, h->a[0]);
		if (!obj || !srv_table_get(&x->events, h->a[1]))
			return cudaErrorInvalidResourceHandle;
		return x->dev->stream_wait_event(x->devh, obj, srv_table_get(&x->events, h->a[1]),
						 (unsigned)h->a[2]);
	case RMT_PRIORITY_RANGE: {
		int lo = 0, hi = 0;

		r = x->dev->priority_range(x->devh, &lo, &hi);
		a[0] = (uint64_t)(int64_t)lo;
		a[1] = (uint64_t)(int64_t)hi;
		return r;
	}
	case RMT_EVENT_CREATE:
		r = x->dev->event_create(x->devh, (unsigned)h->a[0], &obj);
		a[0] = r ? 0 : keep(&x->events, obj);
		return r;
	case RMT_EVENT_DESTROY:
		obj = srv_table_remove(&x->events, h->a[0]);
		return obj ? x->dev->event_destroy(x->devh, obj) : cudaErrorInvalidResourceHandle;
	case RMT_EVENT_RECORD:
		obj = stream_of(x, h->a[1]);
		if (!obj || !srv_table_get(&x->events, h->a[0]))
			return cudaErrorInvalidResourceHandle;
		return x->dev->event_record(x->devh, srv_table_get(&x->events, h->a[0]), obj,
					    (unsigned)h->a[2]);
	case RMT_EVENT_SYNC:
	case RMT_EVENT_QUERY:
		obj = srv_table_get(&x->events, h->a[0]);
		if (!obj)
			return cudaErrorInvalidResourceHandle;
		return h->op == RMT_EVENT_SYNC ? x->dev->event_sync(x->devh, obj)
					       : x->dev->event_query(x->devh, obj);
	case RMT_EVENT_ELAPSED: {
		float ms = 0;
		void *e1 = srv_table_get(&x->events, h->a[0]), *e2 = srv_table_get(&x->events, h->a[1]);

		if (!e1 || !e2)
			return cudaErrorInvalidResourceHandle;
		r = x->dev->event_elapsed(x->devh, &ms, e1, e2);
		a[0] = 0;
		memcpy(&a[0], &ms, sizeof(ms));
		return r;
	}
	case RMT_MEMCPY_H2D:
		obj = stream_of(x, h->a[2]);
		if (!obj || h->a[1] != h->len || h->len > RMT_CHUNK)
			return cudaErrorInvalidValue;
		return h2d(x, h->a[0], data, h->len, obj);
	case RMT_MEMCPY_D2H:
		obj = stream_of(x, h->a[2]);
		return obj ? d2h(x, h->a[0], h->a[1], obj, h->a[3]) : cudaErrorInvalidResourceHandle;
	case RMT_MEMCPY_D2D:
		obj = stream_of(x, h->a[3]);
		return obj ? x->dev->memcpy_async(x->devh, h->a[0], h->a[1], h->a[2], obj)
			   : cudaErrorInvalidResourceHandle;
	case RMT_MEMSET:
		obj = stream_of(x, h->a[3]);
		return obj ? x->dev->memset_async(x->devh, h->a[0], (uint8_t)h->a[1], h->a[2], obj)
			   : cudaErrorInvalidResourceHandle;
	case RMT_MEMSET_WIDE:
		obj = stream_of(x, h->a[3]);
		if (!x->dev->memset_wide)
			return cudaErrorNotSupported;
		return obj ? x->dev->memset_wide(x->devh, h->a[0], (uint32_t)h->a[1],
						 (unsigned)h->a[2], h->a[4], obj)
			   : cudaErrorInvalidResourceHandle;
	case RMT_CTX_SYNC:
		return x->dev->ctx_sync(x->devh);
	case RMT_MODULE_LOAD: {
		/* The backend may keep pointing at the image: it stays ours. */
		void *img = malloc(h->len ? h->len : 1);

		if (!img)
			return cudaErrorMemoryAllocation;
		memcpy(img, data, h->len);
		r = x->dev->module_load(x->devh, img, h->len, &obj);
		a[0] = r ? 0 : keep(&x->modules, obj);
		return r;
	}
	case RMT_MODULE_UNLOAD:
		obj = srv_table_remove(&x->modules, h->a[0]);
		return obj ? x->dev->module_unload(x->devh, obj) : cudaErrorInvalidResourceHandle;
	case RMT_FUNC_GET: {
		struct xmig_param_layout layout = { 0 };
		void *mod = srv_table_get(&x->modules, h->a[0]);

		if (!mod || !h->len || ((char *)data)[h->len - 1])
			return cudaErrorInvalidValue;
		r = x->dev->func_get(x->devh, mod, data, &obj, &layout);
		if (r)
			return r;
		a[0] = keep(&x->funcs, obj);
		a[1] = layout.nparams;
		a[2] = layout.param_bytes;
		*out = *to_free = layout.params;
		*out_len = layout.nparams * sizeof(*layout.params);
		return 0;
	}
	case RMT_VAR_GET: {
		void *mod = srv_table_get(&x->modules, h->a[0]);

		if (!mod || !h->len || ((char *)data)[h->len - 1])
			return cudaErrorInvalidValue;
		return x->dev->var_get(x->devh, mod, data, h->a[1], &a[0], &a[1]);
	}
	case RMT_FUNC_ATTRIBUTES:
		obj = srv_table_get(&x->funcs, h->a[0]);
		if (!obj)
			return cudaErrorInvalidDeviceFunction;
		r = x->dev->func_attributes(x->devh, obj, &fattr);
		*out = &fattr;
		*out_len = sizeof(fattr);
		return r;
	case RMT_FUNC_SET_ATTRIBUTE:
		obj = srv_table_get(&x->funcs, h->a[0]);
		return obj ? x->dev->func_set_attribute(x->devh, obj, (int)h->a[1],
							(int)(int64_t)h->a[2])
			   : cudaErrorInvalidDeviceFunction;
	case RMT_OCCUPANCY:
		obj = srv_table_get(&x->funcs, h->a[0]);
		if (!obj)
			return cudaErrorInvalidDeviceFunction;
		r = x->dev->occupancy(x->devh, obj, (int)h->a[1], h->a[2], (unsigned)h->a[3], &v);
		a[0] = (uint64_t)v;
		return r;
	case RMT_LAUNCH: {
		struct xmig_dim3 grid = { (unsigned)h->a[1], (unsigned)(h->a[1] >> 32),
					  (unsigned)h->a[2] };
		struct xmig_dim3 block = { (unsigned)(h->a[2] >> 32), (unsigned)h->a[3],
					   (unsigned)(h->a[3] >> 32) };
		void *fn = srv_table_get(&x->funcs, h->a[0]);

		obj = stream_of(x, h->a[5]);
		if (!fn)
			return cudaErrorInvalidDeviceFunction;
		if (!obj)
			return cudaErrorInvalidResourceHandle;
		return x->dev->launch(x->devh, fn, grid, block, h->a[4], obj, data, h->len);
	}
	case RMT_LIBRARY:
		return use_library(data, h->len);
	case RMT_BLAS_CREATE:
		if (!x->dev->blas_create)
			return CUBLAS_STATUS_NOT_SUPPORTED;
		r = x->dev->blas_create(x->devh, &obj);
		a[0] = r ? 0 : keep(&x->blas, obj);
		return r;
	case RMT_BLAS_DESTROY:
		obj = srv_table_remove(&x->blas, h->a[0]);
		return obj ? x->dev->blas_destroy(x->devh, obj) : CUBLAS_STATUS_NOT_INITIALIZED;
	case RMT_BLAS_SET:
		/* Posted, like the GEMMs it sets up: a failure is an asynchronous error. */
		obj = srv_table_get(&x->blas, h->a[0]);
		if (!obj || (h->a[1] == XMIG_BLAS_STREAM && !stream_of(x, h->a[4])))
			return cudaErrorInvalidResourceHandle;
		if ((r = x->dev->blas_set(x->devh, obj, (int)h->a[1], h->a[2], h->a[3],
					  h->a[1] == XMIG_BLAS_STREAM ? stream_of(x, h->a[4]) : NULL))) {
			xmig_error("cuBLAS setting %d failed with status %d", (int)h->a[1], r);
			return cudaErrorUnknown;
		}
		return 0;
	case RMT_BLAS_GEMM: {
		const struct xmig_blas_gemm_req *g = data;

		obj = srv_table_get(&x->blas, h->a[0]);
		if (!obj || h->len != sizeof(*g))
			return cudaErrorInvalidResourceHandle;
		if ((r = x->dev->blas_gemm(x->devh, obj, g))) {
			xmig_error("cuBLAS GEMM (kind %d, %dx%dx%d) failed with status %d", g->fn,
				   g->m, g->n, g->k, r);
			return cudaErrorUnknown;
		}
		return 0;
	}
	case RMT_LT_CREATE:
		if (!x->dev->blaslt_create)
			return CUBLAS_STATUS_NOT_SUPPORTED;
		r = x->dev->blaslt_create(x->devh, &obj);
		a[0] = r ? 0 : keep(&x->blaslt, obj);
		return r;
	case RMT_LT_DESTROY:
		obj = srv_table_remove(&x->blaslt, h->a[0]);
		return obj ? x->dev->blaslt_destroy(x->devh, obj) : CUBLAS_STATUS_NOT_INITIALIZED;
	case RMT_LT_HEURISTIC: {
		struct xmig_lt_heuristic_res *res;

		obj = srv_table_get(h->a[1] ? &x->blas : &x->blaslt, h->a[0]);
		if (!obj || h->len != sizeof(struct xmig_lt_heuristic_req))
			return CUBLAS_STATUS_NOT_INITIALIZED;
		if (!(res = calloc(1, sizeof(*res))))
			return CUBLAS_STATUS_ALLOC_FAILED;
		r = x->dev->blaslt_heuristic(x->devh, obj, data, res);
		*out = *to_free = res;
		*out_len = r ? 0 : sizeof(*res);
		return r;
	}
	case RMT_LT_MATMUL: {
		const struct xmig_lt_matmul_req *m = data;

		obj = srv_table_get(h->a[1] ? &x->blas : &x->blaslt, h->a[0]);
		if (!obj || h->len != sizeof(*m) || !stream_of(x, h->a[2]))
			return cudaErrorInvalidResourceHandle;
		if ((r = x->dev->blaslt_matmul(x->devh, obj, m, stream_of(x, h->a[2])))) {
			xmig_error("cublasLtMatmul failed with status %d", r);
			return cudaErrorUnknown;
		}
		return 0;
	}
	case RMT_DNN_INFO: case RMT_DNN_CREATE: case RMT_DNN_DESTROY: case RMT_DNN_SET_STREAM:
	case RMT_DNN_DESC_CREATE: case RMT_DNN_DESC_DESTROY: case RMT_DNN_SET_ATTR:
	case RMT_DNN_GET_ATTR: case RMT_DNN_FINALIZE: case RMT_DNN_RUN: case RMT_DNN_LAST_ERROR:
		if (!x->dev->dnn_create)
			return CUDNN_STATUS_NOT_SUPPORTED;
		return dnn_execute_remote(x, h, data, a, out, out_len, to_free);
	case RMT_CAPTURE_DEPS: {
		void *s = stream_of(x, h->a[0]);
		size_t n = 0, max = h->a[1] < 65536 ? h->a[1] : 65536;
		uint64_t *nodes;

		if (!s)
			return cudaErrorInvalidResourceHandle;
		if (!x->dev->capture_deps)
			return cudaErrorNotSupported;
		if (!(nodes = malloc((max ? max : 1) * sizeof(*nodes))))
			return cudaErrorMemoryAllocation;
		r = x->dev->capture_deps(x->devh, s, nodes, max, &n);
		a[0] = n;
		*out = *to_free = nodes;
		*out_len = r ? 0 : n * sizeof(*nodes);
		return r;
	}
	case RMT_CAPTURE_SET_DEPS: {
		void *s = stream_of(x, h->a[0]);

		if (!s)
			return cudaErrorInvalidResourceHandle;
		if (!x->dev->capture_set_deps)
			return cudaErrorNotSupported;
		if (h->len % sizeof(uint64_t))
			return cudaErrorInvalidValue;
		return x->dev->capture_set_deps(x->devh, s, data, h->len / sizeof(uint64_t));
	}
	case RMT_CAPTURE_BEGIN: case RMT_CAPTURE_END: case RMT_CAPTURE_INFO:
	case RMT_GRAPH_INSTANTIATE: case RMT_GRAPH_LAUNCH: case RMT_GRAPH_DESTROY:
	case RMT_GRAPH_NODES: case RMT_GRAPH_EXEC_DESTROY: case RMT_GRAPH_EXEC_UPDATE:
		if (!x->dev->capture_begin)
			return cudaErrorNotSupported;
		return graph_execute(x, h, a);
	case RMT_SET_LIMIT:
		return x->dev->set_limit(x->devh, (int)h->a[0], h->a[1]);
	case RMT_GET_LIMIT: {
		size_t val = 0;

		r = x->dev->get_limit(x->devh, (int)h->a[0], &val);
		a[0] = val;
		return r;
	}
	default:
		return cudaErrorNotSupported;
	}
}

static int serve(struct exec *x)
{
	void *data = NULL;
	size_t cap = 0;

	for (;;) {
		struct rmt_hdr h;
		uint64_t a[8] = { 0 };
		void *out = NULL, *to_free = NULL;
		size_t out_len = 0;
		bool bye = false;
		int r;

		if (xmig_read_full(x->fd, &h, sizeof(h)) != (ssize_t)sizeof(h) || h.magic != RMT_MAGIC)
			break;
		/* (a length past any request's is a broken link: not a buffer that large) */
		if (h.len > RMT_REQ_MAX) {
			xmig_error("a request of %llu bytes from the other node (at most %llu): the "
				   "link is broken", (unsigned long long)h.len, RMT_REQ_MAX);
			break;
		}
		/* (a copy to the GPU goes straight into its pinned buffer, below) */
		if (h.op != RMT_MEMCPY_H2D && h.len > cap) {
			void *n = realloc(data, h.len);

			if (!n)
				break;
			data = n;
			cap = h.len;
		}
		if (h.op == RMT_MEMCPY_H2D) {
			/* Straight into the pinned buffer: no copy on the way to the GPU. */
			void *buf;
			int st;

			if (h.len > RMT_CHUNK)
				break;
			buf = h2d_buffer(x, &r);
			if ((st = xmig_read_checked(x->fd, buf, h.len)) == -1)
				break;
			if (!r && (st == -2 || xmig_fault("damage-link"))) {
				xmig_error("%llu bytes for %#llx arrived damaged from the other node",
					   (unsigned long long)h.len, (unsigned long long)h.a[0]);
				r = RMT_DAMAGED;
			}
			if (!r)
				r = execute(x, &h, buf, a, &out, &out_len, &to_free, &bye);
		} else {
			if (h.len && xmig_read_full(x->fd, data, h.len) != (ssize_t)h.len)
				break;
			r = execute(x, &h, data, a, &out, &out_len, &to_free, &bye);
		}
		if (h.seq) {
			if (reply(x, &h, r, a, out, out_len) < 0)
				break;
		} else if (r) {
			send_plain(x, RMT_ASYNC_ERROR, r, 0, NULL, 0);
		}
		free(to_free);
		if (bye)
			break;
	}
	free(data);
	return 0;
}

/* Accept the first peer with the token (60 s at most); -1 if none. */
static int accept_peer(int lfd, const char *token)
{
	uint64_t deadline = xmig_now_ns() + 60000000000ull;

	while (xmig_now_ns() < deadline) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		struct rmt_hdr h, rep;
		char tok[33] = "";
		int fd;

		if (poll(&p, 1, 500) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		xmig_tcp_tune(fd);
		memset(&rep, 0, sizeof(rep));
		rep.magic = RMT_MAGIC;
		rep.op = RMT_REPLY;
		if (xmig_read_full(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
		    h.magic != RMT_MAGIC || h.op != RMT_HELLO || h.len != 32 ||
		    xmig_read_full(fd, tok, 32) != 32 || strcmp(tok, token)) {
			xmig_warn("refused a peer without the right token");
			rep.seq = h.seq;
			rep.status = cudaErrorNotPermitted;
			xmig_write_all(fd, &rep, sizeof(rep));
			close(fd);
			continue;
		}
		rep.seq = h.seq;
		xmig_write_all(fd, &rep, sizeof(rep));
		return fd;
	}
	return -1;
}

static int listen_on(const char *addr, int *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1;

	if (getaddrinfo(addr, "0", &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int srv_executor_main(const char *device, int gpu, const char *listen_addr)
{
	struct exec x = { 0 };
	char token[64] = "", logdir[512], logpath[600];
	int lfd, port = 0, devnull;
	pid_t pid;

	x.dev = xmig_device_by_name(device);
	if (!x.dev || x.dev == &xmig_device_remote)
		return xmig_error("unknown device backend '%s'", device), XMIG_EXIT_USAGE;
	/* The token comes on stdin: never on a command line others can read. */
	if (!fgets(token, sizeof(token), stdin) || strlen(token) < 32)
		return xmig_error("no token on stdin"), XMIG_EXIT_USAGE;
	token[32] = '\0';
	lfd = listen_on(listen_addr, &port);
	if (lfd < 0)
		return xmig_error_errno("cannot listen on %s", listen_addr), XMIG_EXIT_UNAVAILABLE;
	/* Detach: whoever ran us (ssh, srun, ip netns exec) gets its answer now. */
	pid = fork();
	if (pid < 0)
		return XMIG_EXIT_FAIL;
	if (pid > 0) {
		printf("port %d pid %d\n", port, (int)pid);
		fflush(stdout);
		_exit(0);
	}
	setsid();
	snprintf(logdir, sizeof(logdir), "%s/exec", xmig_runtime_dir());
	xmig_mkdir_p(logdir, 0700);
	snprintf(logpath, sizeof(logpath), "%s/%d.log", logdir, (int)getpid());
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	{
		int lf = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (lf >= 0) {
			dup2(lf, 2);
			close(lf);
		}
	}
	srv_table_init(&x.streams, 3);
	srv_table_init(&x.events, 1);
	srv_table_init(&x.modules, 1);
	srv_table_init(&x.funcs, 1);
	srv_table_init(&x.mems, 1);
	srv_table_init(&x.blas, 1);
	srv_table_init(&x.blaslt, 1);
	srv_table_init(&x.dnn, 1);
	srv_table_init(&x.graphs, 1);
	srv_table_init(&x.graph_execs, 1);
	x.fd = accept_peer(lfd, token);
	close(lfd);
	memset(token, 0, sizeof(token));
	if (x.fd < 0) {
		xmig_error("nobody came with the token; exiting");
		return XMIG_EXIT_UNAVAILABLE;
	}
	serve(&x);
	close(x.fd);
	if (x.devh) {
		x.dev->ctx_sync(x.devh);
		if (x.staging_registered)
			x.dev->host_unregister(x.devh, x.staging);
		for (int i = 0; i < 2; i++)
			if (x.in_registered[i])
				x.dev->host_unregister(x.devh, x.in[i]);
		x.dev->close(x.devh);
	}
	free(x.staging);
	free(x.in[0]);
	free(x.in[1]);
	unlink(logpath);
	return XMIG_EXIT_OK;
}
