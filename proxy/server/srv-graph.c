/*
 * srv-graph.c - CUDA graphs made by stream capture, and made again after
 * a move.
 *
 * The capture runs on the proxy's own stream (relaxed, whatever mode the
 * application asked for: the proxy's threads use the driver meanwhile).
 * A graph is an object of the driver's context and does not move, so
 * while a capture runs, every request that lands in it (a launch, a copy
 * or fill, an event record or wait, a cuBLAS or cuBLASLt call) is also
 * kept, as it came, in the capture's log. A new proxy makes the graph
 * again by capturing the log's requests on the same streams: kernel
 * arguments and addresses are the same (same-address memory), variables
 * and handles are found again by their ids. A GEMM's record carries its
 * handle's settings of the moment, which the replay applies and undoes;
 * a cuDNN Execute's, its handle's stream and which handle and plan
 * (serials: ids are reused), made again before the graphs (state.c).
 * A CAPTURE_DEPS record (a graph the application built node by node,
 * captured by the client: cudart-graph-build.c) keeps the capture's open
 * ends as a numbered set, or sets them from kept sets: replayed, on the
 * new graph's nodes.
 *
 * NCCL calls are replayed too: on one-rank communicators as soon as the
 * new proxy built them (ahead); on communicators with peers once they are
 * re-linked at the cut, when every rank, moving or staying, captures again
 * the graphs whose calls ran on the old communicators (srv_graph_relinked):
 * until then such a graph waits, without a driver graph. A graph launch
 * counts its NCCL calls as posted, and the cut's gate admits or holds it
 * whole, like a group. A call with a PreMulSum op (DDP makes one per step
 * and destroys it after) is logged after the making of its op, which a
 * replay makes for itself and destroys once the call is captured, as NCCL
 * allows. What a log cannot replay (a cuDNN handle or plan the application
 * destroyed since) marks it: while the process holds such a graph, or a
 * capture is in progress, moves, snapshots and suspends are refused, and
 * cuts too if it holds calls on a communicator with peers.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "server.h"
#include "state.h"

/* A capture's requests, as they came; shared by its graph and executable graphs. */
struct graph_log {
	int refs;
	uint64_t origin;            /* logical stream the capture began on */
	unsigned char *data;        /* records: struct rec, then len bytes (8-aligned) */
	size_t len, cap;
	const char *unmovable;      /* why it cannot be replayed (NULL: it can) */
	bool ccl_peers;             /* holds an NCCL call on a communicator with peers */
	struct xmig_ccl_op *ccl_ops;/* its NCCL calls, in order (a launch posts them) */
	uint32_t nccl;
	unsigned needs;             /* what a backend must capture to replay it: XMIG_CAPTURES_*
				     * (DNN: it holds a cuDNN Execute; HOST_COPIES: a host copy) */
	uint64_t hash;              /* of origin and data, once the capture ended */
	char key[17];               /* the hash in hex: the log's name in manifests */
	json_t *entry;              /* its manifest entry, made once (a log never changes) */
};

struct rec {
	uint32_t op, len;
};

/* A GEMM's handle, as it was set when the GEMM was captured (before its request). */
struct blas_state {
	uint64_t stream, workspace, workspace_size;
	int32_t math_mode, pointer_mode, atomics_mode, _pad;
};

struct srv_graph {
	uint64_t id;
	void *h;                    /* NULL: waiting for its communicators' re-link */
	struct graph_log *log;
	uint64_t flags;             /* an executable graph's instantiation flags */
	json_t *entry;              /* its manifest entry, made once (shared: see add_graph) */
};

/* The open ends a capture kept (CAPTURE_DEPS), by 1-based set number. */
struct dep_sets {
	struct dep_set { uint64_t *nodes; size_t n; } *v;
	size_t n;
};

struct srv_capture {
	uint64_t stream, capture_id;
	uint64_t graph;             /* its graph's id, reserved at the begin (asked for meanwhile) */
	struct graph_log *log;
	struct dep_sets sets;
};

static void dep_sets_free(struct dep_sets *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		free(ds->v[i].nodes);
	free(ds->v);
	*ds = (struct dep_sets){ NULL, 0 };
}

/* ---- logs --------------------------------------------------------------------- */

static struct graph_log *log_new(uint64_t origin)
{
	struct graph_log *l = calloc(1, sizeof(*l));

	if (l) {
		l->refs = 1;
		l->origin = origin;
	}
	return l;
}

static void log_put(struct graph_log *l)
{
	if (l && --l->refs == 0) {
		json_decref(l->entry);
		free(l->ccl_ops);
		free(l->data);
		free(l);
	}
}

static bool next_rec(const struct graph_log *l, size_t *off, struct rec *rc,
		     const unsigned char **body, bool *bad);

const struct xmig_ccl_op *srv_ccl_ops_of(uint32_t op, const void *body, size_t len, uint32_t *n)
{
	const struct xmig_ccl_group_req *g = body;

	*n = 0;
	if (op == XMIG_OP_CCL_COLL && len >= sizeof(struct xmig_ccl_op)) {
		*n = 1;
		return body;
	}
	if (op == XMIG_OP_CCL_GROUP && len >= sizeof(*g) &&
	    len >= sizeof(*g) + (size_t)g->nops * sizeof(g->ops[0])) {
		*n = g->nops;
		return g->ops;
	}
	return NULL;
}

/* The log's NCCL calls, in order, apart: what each launch of it posts. 0 or -1. */
static int index_ccl(struct graph_log *l)
{
	const unsigned char *body;
	struct rec rc;
	size_t off, n = 0;
	bool bad = false;

	for (int pass = 0; pass < 2; pass++) {
		off = 0;
		n = 0;
		while (next_rec(l, &off, &rc, &body, &bad)) {
			uint32_t k;
			const struct xmig_ccl_op *ops = srv_ccl_ops_of(rc.op, body, rc.len, &k);

			if (!ops && (rc.op == XMIG_OP_CCL_COLL || rc.op == XMIG_OP_CCL_GROUP))
				return -1;
			if (pass && k)
				memcpy(l->ccl_ops + n, ops, k * sizeof(*ops));
			n += k;
		}
		if (!n || (!pass && !(l->ccl_ops = calloc(n, sizeof(*l->ccl_ops)))))
			return n ? -1 : 0;
	}
	l->nccl = (uint32_t)n;
	return 0;
}

static void log_seal(struct graph_log *l)
{
	uint64_t h[2] = { l->origin, xmig_hash64(l->data, l->len) };

	l->hash = xmig_hash64(h, sizeof(h)) ?: 1;
	snprintf(l->key, sizeof(l->key), "%016llx", (unsigned long long)l->hash);
	if (index_ccl(l) < 0 && !l->unmovable)
		l->unmovable = "its NCCL calls could not be read back";
}

/* Append a record of op: head (may be NULL) then body. */
static int log_add(struct graph_log *l, uint32_t op, const void *head, size_t head_len,
		   const void *body, size_t body_len)
{
	size_t need = sizeof(struct rec) + ((head_len + body_len + 7) & ~(size_t)7);
	struct rec r = { op, (uint32_t)(head_len + body_len) };
	unsigned char *p;

	if (l->len + need > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;

		while (cap < l->len + need)
			cap *= 2;
		if (!(p = realloc(l->data, cap)))
			return -1;
		l->data = p;
		l->cap = cap;
	}
	p = l->data + l->len;
	memset(p, 0, need);
	memcpy(p, &r, sizeof(r));
	if (head_len)
		memcpy(p + sizeof(r), head, head_len);
	memcpy(p + sizeof(r) + head_len, body, body_len);
	l->len += need;
	return 0;
}

/* The record at *off, its body, and *off past it; false at the end, or (*bad) past it. */
static bool next_rec(const struct graph_log *l, size_t *off, struct rec *rc,
		     const unsigned char **body, bool *bad)
{
	if (*off + sizeof(*rc) > l->len)
		return false;
	memcpy(rc, l->data + *off, sizeof(*rc));
	*body = l->data + *off + sizeof(*rc);
	*off += sizeof(*rc) + ((rc->len + 7) & ~(size_t)7);
	if (*off > l->len) {
		*bad = true;
		return false;
	}
	return true;
}

/* Does a cuDNN Execute of the log name the handle or plan of this serial? */
static bool names_dnn(const struct graph_log *l, uint64_t serial)
{
	struct srv_dnn_captured dc;
	const unsigned char *body;
	struct rec rc;
	size_t off = 0;
	bool bad = false;

	while (l->needs & XMIG_CAPTURES_DNN && next_rec(l, &off, &rc, &body, &bad))
		if (rc.op == XMIG_OP_DNN_EXECUTE && rc.len >= sizeof(dc)) {
			memcpy(&dc, body, sizeof(dc));
			if (dc.handle_serial == serial || dc.plan_serial == serial)
				return true;
		}
	return false;
}

/* Does the copy of a record touch host memory? */
static bool host_copy(uint32_t op, const unsigned char *body, size_t len)
{
	struct xmig_memcpy_req m;
	struct xmig_memcpy2d_req m2;

	if (op == XMIG_OP_MEMCPY_2D && len >= sizeof(m2)) {
		memcpy(&m2, body, sizeof(m2));
		return m2.kind != XMIG_COPY_D2D;
	}
	if (op != XMIG_OP_MEMCPY || len < sizeof(m))
		return false;
	memcpy(&m, body, sizeof(m));
	return m.kind != XMIG_COPY_D2D;
}

/* What a backend must capture, beyond kernels, device copies and fills, to replay a record. */
static unsigned needs_of(uint32_t op, const unsigned char *body, size_t len)
{
	switch (op) {
	case XMIG_OP_BLAS_GEMM: return XMIG_CAPTURES_BLAS;
	case XMIG_OP_LT_MATMUL: return XMIG_CAPTURES_BLASLT;
	case XMIG_OP_DNN_EXECUTE: return XMIG_CAPTURES_DNN;
	case XMIG_OP_CCL_COLL: case XMIG_OP_CCL_GROUP: return XMIG_CAPTURES_CCL;
	case XMIG_OP_HOST_FUNC: return XMIG_CAPTURES_HOST_FUNCS;
	default: return host_copy(op, body, len) ? XMIG_CAPTURES_HOST_COPIES : 0;
	}
}

/* A log read from a manifest: what it holds. */
static void scan(struct graph_log *l)
{
	const unsigned char *body;
	struct rec rc;
	size_t off = 0;
	bool bad = false;

	while (next_rec(l, &off, &rc, &body, &bad))
		l->needs |= needs_of(rc.op, body, rc.len);
}

/* What this proxy's device captures beyond kernels, device copies and fills. */
static unsigned captures(const struct srv *s)
{
	return s->dev->captures ? s->dev->captures(s->devh) : s->dev->capture_libraries;
}

/* ---- while a capture runs ------------------------------------------------------- */

uint64_t srv_graph_capture_of(struct srv *s, struct srv_stream *st)
{
	int status = cudaStreamCaptureStatusNone;
	uint64_t id = 0;

	if (!st || !s->dev->capture_info || s->dev->capture_info(s->devh, st->h, &status, &id) ||
	    status == cudaStreamCaptureStatusNone)
		return 0;
	return id;
}

static struct srv_capture *capture_on(struct srv *s, uint64_t stream)
{
	for (size_t i = 0; i < s->ncaptures; i++)
		if (s->captures[i].stream == stream)
			return &s->captures[i];
	return NULL;
}

enum note { NOTE_NONE, NOTE_RECORD, NOTE_GEMM, NOTE_DNN, NOTE_CCL_PREMUL, NOTE_UNMOVABLE };

/*
 * NCCL calls are captured again like kernels, on the communicator as it is
 * then: a new proxy builds one-rank ones itself, ahead (srv-ccl.c); one
 * with peers is re-linked at the cut, on every rank. A PreMulSum op may be
 * gone by then (DDP makes one per step): its making is logged before the
 * call (premul_defs).
 */
static enum note ccl_note(const struct xmig_ccl_op *ops, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (ops[i].redop >= ncclNumOps)
			return NOTE_CCL_PREMUL;
	return NOTE_RECORD;
}

/* Log the making of each PreMulSum op the calls use, before them. 0 or -1. */
static int premul_defs(struct srv *s, struct graph_log *l, const struct xmig_ccl_op *ops,
		       uint32_t n)
{
	struct xmig_ccl_redop_req def;

	for (uint32_t i = 0; i < n; i++)
		if (ops[i].redop >= ncclNumOps &&
		    (srv_ccl_redop_def(s, ops[i].comm, ops[i].redop, &def) < 0 ||
		     log_add(l, XMIG_OP_CCL_REDOP, NULL, 0, &def, sizeof(def)) < 0))
			return -1;
	return 0;
}

/* Does any of these NCCL calls run on a communicator with peers? */
static bool with_peers(struct srv *s, const struct xmig_ccl_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (srv_ccl_ranks(s, ops[i].comm) > 1)
			return true;
	return false;
}


/* What a request does to a capture, and on which stream. */
static enum note classify(struct xmig_call *c, uint64_t *stream, const char **why)
{
	const void *a = c->args;
	const struct xmig_ccl_op *ops;
	struct srv_blas *b;
	struct dnn_obj *h;
	uint32_t n;

	switch (c->req->op) {
	case XMIG_OP_LAUNCH:
		*stream = ((const struct xmig_launch_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_LAUNCH_EX:
		*stream = ((const struct xmig_launch_ex_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_MEMCPY:
		*stream = ((const struct xmig_memcpy_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_MEMSET:
		*stream = ((const struct xmig_memset_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_MEMSET_WIDE:
		*stream = ((const struct xmig_memset_wide_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_MEMCPY_2D:
		*stream = ((const struct xmig_memcpy2d_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_MEMSET_2D:
		*stream = ((const struct xmig_memset2d_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_cudaEventRecord:
		*stream = ((const struct xmig_req_cudaEventRecord *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_cudaEventRecordWithFlags:
		*stream = ((const struct xmig_req_cudaEventRecordWithFlags *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_cudaStreamWaitEvent:
		*stream = ((const struct xmig_req_cudaStreamWaitEvent *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_LT_MATMUL:
		*stream = ((const struct xmig_lt_matmul_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_HOST_FUNC:
		*stream = ((const struct xmig_host_func_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_CAPTURE_DEPS:
		*stream = ((const struct xmig_capture_deps_req *)a)->stream;
		return NOTE_RECORD;
	case XMIG_OP_BLAS_GEMM:
		b = srv_table_get(&c->srv->blas, ((const struct xmig_blas_gemm_req *)a)->id);
		if (!b)
			return NOTE_NONE;
		*stream = b->stream;
		return NOTE_GEMM;
	case XMIG_OP_CCL_COLL:
	case XMIG_OP_CCL_GROUP:
		if (!(ops = srv_ccl_ops_of(c->req->op, a, c->req->len - sizeof(*c->req), &n)) || !n)
			return NOTE_NONE;
		*stream = ops[0].stream;
		return ccl_note(ops, n);
	case XMIG_OP_DNN_EXECUTE:
		h = dnn_log_live(&c->srv->dnn, ((const struct xmig_dnn_execute_req *)a)->handle,
				 DNN_HANDLE);
		if (!h)
			return NOTE_NONE;
		*stream = h->stream;
		return NOTE_DNN;
	default:
		return NOTE_NONE;
	}
}

static void mark(struct graph_log *l, const char *why)
{
	if (!l->unmovable)
		l->unmovable = why;
}

void srv_graph_note(struct xmig_call *c)
{
	struct srv *s = c->srv;
	struct srv_capture *cap = NULL;
	const char *why = NULL;
	uint64_t stream = 0, id;
	enum note n = classify(c, &stream, &why);
	size_t len = c->req->len - sizeof(*c->req);
	uint32_t k;
	const struct xmig_ccl_op *ops = srv_ccl_ops_of(c->req->op, c->args, len, &k);

	if (n == NOTE_NONE)
		return;
	/* in which capture did it land (a stream joins one by waiting for its event)? */
	if (!(id = srv_graph_capture_of(s, srv_stream_of(s, stream))))
		return;
	for (size_t i = 0; i < s->ncaptures && !cap; i++)
		if (s->captures[i].capture_id == id)
			cap = &s->captures[i];
	if (!cap)
		return;
	if (n == NOTE_UNMOVABLE) {
		mark(cap->log, why);
	} else if (n == NOTE_GEMM) {
		struct srv_blas *b = srv_table_get(&s->blas, ((const struct xmig_blas_gemm_req *)
							       c->args)->id);
		struct blas_state bs = { b->stream, b->workspace, b->workspace_size, b->math_mode,
					 b->pointer_mode, b->atomics_mode, 0 };

		if (log_add(cap->log, c->req->op, &bs, sizeof(bs), c->args, len) < 0)
			mark(cap->log, "out of memory for its log");
	} else if (n == NOTE_CCL_PREMUL) {
		if (premul_defs(s, cap->log, ops, k) < 0 ||
		    log_add(cap->log, c->req->op, NULL, 0, c->args, len) < 0)
			mark(cap->log, "a PreMulSum op it used could not be logged");
	} else if (n == NOTE_DNN) {
		struct srv_dnn_captured dc;

		if (srv_dnn_captured(s, c->args, &dc) < 0)
			mark(cap->log, "a cuDNN Execute of no live handle or plan");
		else if (log_add(cap->log, c->req->op, &dc, sizeof(dc), c->args, len) < 0)
			mark(cap->log, "out of memory for its log");
	} else if (log_add(cap->log, c->req->op, NULL, 0, c->args, len) < 0) {
		mark(cap->log, "out of memory for its log");
	}
	cap->log->ccl_peers |= with_peers(s, ops, k);
	cap->log->needs |= needs_of(c->req->op, c->args, len);
}

/*
 * Work with this node's host memory or functions (need) on a capturing
 * stream, where the backend does not capture it (a bridge's: the graph
 * would run on the other node, away from them): refused.
 */
static bool refuses_host_work(struct srv *s, unsigned need, uint64_t stream, const char *what)
{
	if (captures(s) & need || !srv_graph_capture_of(s, srv_stream_of(s, stream)))
		return false;
	xmig_error("the %s device does not capture %s: the graph would run on another node",
		   s->dev->name, what);
	return true;
}

bool srv_graph_refuses(struct xmig_call *c)
{
	struct srv *s = c->srv;
	unsigned need;

	switch (c->req->op) {
	case XMIG_OP_MEMCPY_H2D_BULK:
	case XMIG_OP_MEMCPY_D2H_BULK:
		/*
		 * Pageable memory goes through the ring's staging area, which a
		 * graph would copy at its launch, long after: as in CUDA, such a
		 * copy is not captured.
		 */
		return srv_graph_capture_of(s, srv_stream_of(s, ((const struct xmig_bulk_req *)
								 c->args)->stream)) != 0;
	case XMIG_OP_MEMCPY:
		return ((const struct xmig_memcpy_req *)c->args)->kind != XMIG_COPY_D2D &&
		       refuses_host_work(s, XMIG_CAPTURES_HOST_COPIES,
					 ((const struct xmig_memcpy_req *)c->args)->stream,
					 "copies to or from host memory");
	case XMIG_OP_MEMCPY_2D:
		return ((const struct xmig_memcpy2d_req *)c->args)->kind != XMIG_COPY_D2D &&
		       refuses_host_work(s, XMIG_CAPTURES_HOST_COPIES,
					 ((const struct xmig_memcpy2d_req *)c->args)->stream,
					 "copies to or from host memory");
	case XMIG_OP_HOST_FUNC:
		return refuses_host_work(s, XMIG_CAPTURES_HOST_FUNCS,
					 ((const struct xmig_host_func_req *)c->args)->stream,
					 "host functions");
	default:
		break;
	}
	switch (c->req->op) {
	case XMIG_OP_BLAS_GEMM:
		need = XMIG_CAPTURES_BLAS;
		break;
	case XMIG_OP_LT_MATMUL:
		need = XMIG_CAPTURES_BLASLT;
		break;
	case XMIG_OP_DNN_EXECUTE:
		need = XMIG_CAPTURES_DNN;
		break;
	case XMIG_OP_CCL_COLL:
	case XMIG_OP_CCL_GROUP:
		need = XMIG_CAPTURES_CCL;
		break;
	default:
		return false;
	}
	if (captures(s) & need)
		return false;
	xmig_error("the %s device's capture does not take in this library call (%s): it fails "
		   "while a CUDA graph is captured", s->dev->name,
		   need == XMIG_CAPTURES_BLASLT ? "cuBLASLt" : need == XMIG_CAPTURES_DNN ? "cuDNN"
		   : need == XMIG_CAPTURES_CCL ? "NCCL" : "cuBLAS");
	return true;
}

/* ---- the application's calls ---------------------------------------------------- */

static int unsupported(struct srv *s, const char *what)
{
	xmig_error("%s: the %s device does not capture CUDA graphs", what, s->dev->name);
	return cudaErrorNotSupported;
}

/*
 * Graphs and executable graphs that cannot be made again: counted, and the
 * last reason kept; those that copy to or from host memory, which cannot
 * be made on another node (or that call host functions): counted.
 */
static void count_unmovable(struct srv *s, const struct graph_log *l, int by)
{
	if (l->needs & (XMIG_CAPTURES_HOST_COPIES | XMIG_CAPTURES_HOST_FUNCS))
		atomic_fetch_add(&s->graphs_host, by);
	if (!l->unmovable)
		return;
	atomic_store(&s->graphs_unmovable_why, l->unmovable);
	atomic_fetch_add(&s->graphs_unmovable, by);
}

static const char dnn_gone[] = "a cuDNN handle or plan it executed was destroyed since";

struct forget {
	uint64_t serial;
	int unmovable;              /* graphs and executable graphs, counted again */
	bool marked;
};

static void forget_dnn(uint64_t id, void *obj, void *arg)
{
	struct forget *f = arg;
	struct graph_log *l = ((struct srv_graph *)obj)->log;

	if (!l->unmovable && names_dnn(l, f->serial)) {
		l->unmovable = dnn_gone;
		f->marked = true;
	}
	f->unmovable += l->unmovable != NULL;
}

void srv_graph_dnn_destroyed(struct srv *s, uint64_t serial)
{
	struct forget f = { serial, 0, false };

	for (size_t i = 0; i < s->ncaptures; i++)
		if (names_dnn(s->captures[i].log, serial))
			mark(s->captures[i].log, dnn_gone);
	srv_table_each(&s->graphs, forget_dnn, &f);
	srv_table_each(&s->graph_execs, forget_dnn, &f);
	if (!f.marked)
		return;
	/* (a log newly marked is held by each graph made of it: counted again, not by one) */
	atomic_store(&s->graphs_unmovable_why, dnn_gone);
	atomic_store(&s->graphs_unmovable, f.unmovable);
}

int d_CAPTURE_BEGIN(struct xmig_call *c)
{
	const struct xmig_capture_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	struct srv_capture *n;
	struct graph_log *l;
	int status, r;
	uint64_t id = 0;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (!s->dev->capture_begin)
		return unsupported(s, "cudaStreamBeginCapture");
	if (a->mode > cudaStreamCaptureModeRelaxed)
		return cudaErrorInvalidValue;
	if (capture_on(s, st->id))
		return cudaErrorIllegalState;
	if (!(n = realloc(s->captures, (s->ncaptures + 1) * sizeof(*n))))
		return cudaErrorMemoryAllocation;
	s->captures = n;
	if (!(l = log_new(st->id)))
		return cudaErrorMemoryAllocation;
	if ((r = s->dev->capture_begin(s->devh, st->h)) ||
	    (r = s->dev->capture_info(s->devh, st->h, &status, &id))) {
		log_put(l);
		return r;
	}
	s->captures[s->ncaptures++] =
		(struct srv_capture){ st->id, id, srv_table_reserve(&s->graphs), l, { NULL, 0 } };
	return 0;
}

/*
 * A capture is over (also when it failed: an invalidated capture is over):
 * its log, and its graph's id in *graph.
 */
static struct graph_log *capture_ended(struct srv *s, uint64_t stream, uint64_t *graph)
{
	struct srv_capture *cap = capture_on(s, stream);
	struct graph_log *l;

	if (!cap)
		return NULL;
	l = cap->log;
	*graph = cap->graph;
	dep_sets_free(&cap->sets);
	*cap = s->captures[--s->ncaptures];
	return l;
}

int d_CAPTURE_END(struct xmig_call *c)
{
	const struct xmig_capture_req *a = c->args;
	struct xmig_capture_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	struct graph_log *l;
	struct srv_graph *g;
	uint64_t id = 0;
	void *h = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (!s->dev->capture_end)
		return unsupported(s, "cudaStreamEndCapture");
	r = s->dev->capture_end(s->devh, st->h, &h);
	l = capture_ended(s, st->id, &id);
	if (r || !l) {
		log_put(l);
		if (!r)   /* (not begun through us: cannot be) */
			s->dev->graph_destroy(s->devh, h);
		return r ? r : cudaErrorIllegalState;
	}
	log_seal(l);
	/* (at the id the capture reserved: what cudaStreamGetCaptureInfo handed out is the graph) */
	if (!(g = calloc(1, sizeof(*g))) || srv_table_put(&s->graphs, (g->id = id), g)) {
		s->dev->graph_destroy(s->devh, h);
		log_put(l);
		free(g);
		return cudaErrorMemoryAllocation;
	}
	g->h = h;
	g->log = l;
	count_unmovable(s, l, 1);
	res->graph = g->id;
	return 0;
}

int d_CAPTURE_INFO(struct xmig_call *c)
{
	const struct xmig_capture_req *a = c->args;
	struct xmig_capture_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	struct srv_capture *cap;
	int status = cudaStreamCaptureStatusNone, r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (!s->dev->capture_info)
		return 0;   /* nothing captures here: "none" is the truth */
	r = s->dev->capture_info(s->devh, st->h, &status, &res->capture_id);
	res->status = (uint32_t)status;
	if (!r && status == cudaStreamCaptureStatusActive && (cap = capture_on(s, st->id)))
		res->graph = cap->graph;
	if (!r && status == cudaStreamCaptureStatusActive && a->deps) {
		size_t n = 0;

		if (!s->dev->capture_deps)
			return xmig_error("the %s device does not hand out the open ends of a "
					  "capture", s->dev->name), cudaErrorNotSupported;
		r = s->dev->capture_deps(s->devh, st->h, res->deps, XMIG_CAPTURE_DEPS_MAX, &n);
		res->ndeps = (uint32_t)n;
	}
	return r;
}

/* Keep the stream's open ends as set number `save` (1-based). */
static int keep_open_ends(struct srv *s, struct srv_stream *st, struct dep_sets *ds,
			  uint32_t save)
{
	uint64_t ends[1024], *nodes;   /* (read here, kept at their size: a set a node) */
	size_t n = 0;
	int r;

	/* (sets are numbered in turn: one past the next is a broken request, not a large array) */
	if (save > ds->n + 1)
		return cudaErrorInvalidValue;
	if (save > ds->n) {
		struct dep_set *v = realloc(ds->v, save * sizeof(*v));

		if (!v)
			return cudaErrorMemoryAllocation;
		memset(v + ds->n, 0, (save - ds->n) * sizeof(*v));
		ds->v = v;
		ds->n = save;
	}
	if ((r = s->dev->capture_deps(s->devh, st->h, ends, sizeof(ends) / sizeof(ends[0]), &n)))
		return r;
	if (!(nodes = malloc((n ? n : 1) * sizeof(*nodes))))
		return cudaErrorMemoryAllocation;
	memcpy(nodes, ends, n * sizeof(*nodes));
	free(ds->v[save - 1].nodes);
	ds->v[save - 1] = (struct dep_set){ nodes, n };
	return 0;
}

/* The open ends become the union of the kept sets named. */
static int set_open_ends(struct srv *s, struct srv_stream *st, const struct dep_sets *ds,
			 const uint32_t *slots, uint32_t k)
{
	uint64_t *nodes = NULL;
	size_t n = 0, cap = 0;
	int r;

	for (uint32_t i = 0; i < k; i++) {
		const struct dep_set *d;

		if (!slots[i] || slots[i] > ds->n) {
			free(nodes);
			return xmig_error("a graph node's dependency names set %u, which its "
					  "capture did not keep", slots[i]), cudaErrorInvalidValue;
		}
		d = &ds->v[slots[i] - 1];
		for (size_t j = 0; j < d->n; j++) {
			size_t m;

			for (m = 0; m < n && nodes[m] != d->nodes[j]; m++)
				;
			if (m < n)
				continue;   /* (named twice: once) */
			if (n == cap) {
				uint64_t *v = realloc(nodes, (cap = cap ? 2 * cap : 16) * sizeof(*v));

				if (!v) {
					free(nodes);
					return cudaErrorMemoryAllocation;
				}
				nodes = v;
			}
			nodes[n++] = d->nodes[j];
		}
	}
	r = s->dev->capture_set_deps(s->devh, st->h, nodes, n);
	free(nodes);
	return r;
}

int d_CAPTURE_DEPS(struct xmig_call *c)
{
	const struct xmig_capture_deps_req *a = c->args;
	size_t len = c->req->len - sizeof(*c->req);
	struct srv *s = c->srv;
	struct srv_capture *cap;
	struct srv_stream *st;
	struct dep_sets *ds;
	int r;

	if (len < sizeof(*a) || (len - sizeof(*a)) / sizeof(a->slots[0]) < a->n)
		return cudaErrorInvalidValue;
	if (!(st = srv_stream(c, a->stream)))
		return cudaErrorInvalidResourceHandle;
	if (!s->dev->capture_deps || !s->dev->capture_set_deps)
		return xmig_error("the %s device does not set a capture's dependencies: CUDA "
				  "graphs built node by node are not served there", s->dev->name),
		       cudaErrorNotSupported;
	ds = s->replaying ? s->replay_sets : (cap = capture_on(s, st->id)) ? &cap->sets : NULL;
	if (!ds)
		return cudaErrorIllegalState;   /* (no capture began on this stream) */
	if (a->save && (r = keep_open_ends(s, st, ds, a->save)))
		return r;
	return a->set ? set_open_ends(s, st, ds, a->slots, a->n) : 0;
}

static int remake(struct srv *s, struct srv_graph *g, bool exec);

/*
 * Graphs and executable graphs held without a driver graph (h NULL): their
 * NCCL communicators re-linked since (or not yet), captured again at their
 * first use. Counted for status.
 */
static void count_pending(struct srv *s, const void *h, int by)
{
	if (!h)
		atomic_fetch_add(&s->graphs_pending, by);
}

/* An executable graph of log l (held for it) under a new id, or at id when id != 0. */
static int add_exec(struct srv *s, void *h, struct graph_log *l, uint64_t flags, uint64_t id,
		    uint64_t *out)
{
	struct srv_graph *e = calloc(1, sizeof(*e));

	if (!e || !(id ? srv_table_put(&s->graph_execs, id, e) == 0
		       : (id = srv_table_add(&s->graph_execs, e)) != 0)) {
		if (h)
			s->dev->graph_exec_destroy(s->devh, h);
		free(e);
		return cudaErrorMemoryAllocation;
	}
	*e = (struct srv_graph){ id, h, l, flags };
	l->refs++;
	count_unmovable(s, l, 1);
	count_pending(s, h, 1);
	*out = id;
	return 0;
}

int d_GRAPH_INSTANTIATE(struct xmig_call *c)
{
	const struct xmig_graph_req *a = c->args;
	struct xmig_graph_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_graph *g = srv_table_get(&s->graphs, a->id);
	void *h = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!g)
		return cudaErrorInvalidValue;
	if (!s->dev->graph_instantiate)
		return unsupported(s, "cudaGraphInstantiate");
	if ((!g->h && (r = remake(s, g, false))) ||
	    (r = s->dev->graph_instantiate(s->devh, g->h, a->flags, &h)))
		return r;
	return add_exec(s, h, g->log, a->flags, 0, &res->exec);
}

static int launch_deferred(struct xmig_call *c)
{
	struct srv *s = c->srv;

	return s->dev->graph_launch(s->devh, c->defer_obj, (void *)(uintptr_t)c->defer_u64[0], false);
}

int d_GRAPH_LAUNCH(struct xmig_call *c)
{
	const struct xmig_graph_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_graph *e = srv_table_get(&s->graph_execs, a->id);
	struct srv_stream *st = srv_stream(c, a->stream);

	int r;

	if (!e)
		return cudaErrorInvalidValue;
	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (!e->h && (r = remake(s, e, true)))
		return r;
	if (!a->upload && e->log->nccl && srv_ccl_calls_wait(s) && !srv_graph_capture_of(s, st)) {
		/*
		 * The sim double runs the graph's NCCL calls in the launch,
		 * waiting for the peers: after the turn, as the GPU runs them
		 * after the launch returned (a cut stops this rank meanwhile).
		 */
		c->defer = launch_deferred;
		c->defer_obj = e->h;
		c->defer_u64[0] = (uintptr_t)st->h;
	} else if ((r = s->dev->graph_launch(s->devh, e->h, st->h, a->upload != 0))) {
		return r;
	}
	/* its NCCL calls are posted now, as a cut counts them (srv_ccl_hold admitted them) */
	if (!a->upload && e->log->nccl)
		srv_ccl_count(s, e->log->ccl_ops, e->log->nccl);
	return 0;
}

const struct xmig_ccl_op *srv_graph_launch_ops(struct srv *s, const struct xmig_req *req,
					       size_t *n)
{
	const struct xmig_graph_req *a = (const void *)req->payload;
	struct srv_graph *e;

	*n = 0;
	if (req->op != XMIG_OP_GRAPH_LAUNCH || req->len < sizeof(*req) + sizeof(*a) || a->upload ||
	    !(e = srv_table_get(&s->graph_execs, a->id)))
		return NULL;
	*n = e->log->nccl;
	return e->log->ccl_ops;
}

/*
 * The executable graph runs the graph's work from now on: done by the
 * device (on another node, by its executor), then the executable graph's
 * log is the graph's, so that another proxy makes it again from that.
 */
int d_GRAPH_EXEC_UPDATE(struct xmig_call *c)
{
	const struct xmig_graph_req *a = c->args;
	struct xmig_graph_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_graph *e = srv_table_get(&s->graph_execs, a->id);
	struct srv_graph *g = srv_table_get(&s->graphs, a->graph);
	int result = cudaGraphExecUpdateError, r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!e || !g)
		return cudaErrorInvalidValue;
	if (!s->dev->graph_exec_update)
		return unsupported(s, "cudaGraphExecUpdate");
	if ((!g->h && (r = remake(s, g, false))) || (!e->h && (r = remake(s, e, true))))
		return r;
	r = s->dev->graph_exec_update(s->devh, e->h, g->h, &result);
	res->update_result = (uint32_t)result;
	if (r)
		return r;
	count_unmovable(s, e->log, -1);
	log_put(e->log);
	e->log = g->log;
	e->log->refs++;
	count_unmovable(s, e->log, 1);
	srv_state_entry_changed(&e->entry);
	return 0;
}

int d_GRAPH_NODES(struct xmig_call *c)
{
	const struct xmig_graph_req *a = c->args;
	struct xmig_graph_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_graph *g = srv_table_get(&s->graphs, a->id);
	size_t n = 0;
	int r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	/* (the graph being captured: named by cudaStreamGetCaptureInfo, a user object retained on it) */
	for (size_t i = 0; !g && i < s->ncaptures; i++) {
		struct srv_stream *st = srv_stream_of(s, s->captures[i].stream);

		if (s->captures[i].graph != a->id)
			continue;
		if (!s->dev->capture_nodes)
			return xmig_error("the %s device does not count the nodes of a graph being "
					  "captured", s->dev->name), cudaErrorNotSupported;
		if (!st)
			return cudaErrorInvalidValue;
		r = s->dev->capture_nodes(s->devh, st->h, &n);
		res->nodes = n;
		return r;
	}
	if (!g)
		return cudaErrorInvalidValue;
	if (!g->h && (r = remake(s, g, false)))
		return r;
	r = s->dev->graph_nodes(s->devh, g->h, &n);
	res->nodes = n;
	return r;
}

static int drop(struct srv *s, struct srv_graph *g, bool exec)
{
	int r = !g->h ? 0
		: exec ? s->dev->graph_exec_destroy(s->devh, g->h)
		       : s->dev->graph_destroy(s->devh, g->h);

	count_unmovable(s, g->log, -1);
	count_pending(s, g->h, -1);
	log_put(g->log);
	json_decref(g->entry);
	free(g);
	return r;
}

int d_GRAPH_DESTROY(struct xmig_call *c)
{
	const struct xmig_graph_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_graph *g = srv_table_remove(a->exec ? &s->graph_execs : &s->graphs, a->id);

	return g ? drop(s, g, a->exec != 0) : cudaErrorInvalidValue;
}

static void destroy_exec(uint64_t id, void *obj, void *arg)
{
	drop(arg, srv_table_remove(&((struct srv *)arg)->graph_execs, id), true);
}

static void destroy_graph(uint64_t id, void *obj, void *arg)
{
	drop(arg, srv_table_remove(&((struct srv *)arg)->graphs, id), false);
}

void srv_graph_reset(struct srv *s)
{
	srv_table_each(&s->graph_execs, destroy_exec, s);
	srv_table_each(&s->graphs, destroy_graph, s);
	while (s->ncaptures) {
		dep_sets_free(&s->captures[s->ncaptures - 1].sets);
		log_put(s->captures[--s->ncaptures].log);
	}
}

int srv_graph_held(struct srv *s, char *why, size_t len)
{
	/* (also asked while the job runs, by an offer: a move checks again frozen) */
	if (atomic_load(&s->hdr->state) != XMIG_SEG_FROZEN &&
	    xmig_fault("graph-unseen-running"))
		return 0;   /* XMIG_FAULT: as if the capture began just after this check */
	if (__atomic_load_n(&s->ncaptures, __ATOMIC_RELAXED)) {
		snprintf(why, len, "the process is capturing a CUDA graph (cudaStreamBeginCapture "
			 "without its cudaStreamEndCapture yet); nothing was done, the job goes on");
		return -1;
	}
	if (atomic_load(&s->graphs_unmovable)) {
		snprintf(why, len, "the process holds a CUDA graph whose capture had what xmig "
			 "cannot make again in another proxy (%s); nothing was done, the job goes "
			 "on", atomic_load(&s->graphs_unmovable_why));
		return -1;
	}
	return 0;
}

struct unrelinkable {
	struct srv *s;
	const char *why;
};

static void find_unrelinkable(uint64_t id, void *obj, void *arg)
{
	struct unrelinkable *u = arg;
	const struct graph_log *l = ((struct srv_graph *)obj)->log;

	/* (an unmovable call was not logged: the capture's flag says it all) */
	if (!u->why && l->unmovable && (l->ccl_peers || with_peers(u->s, l->ccl_ops, l->nccl)))
		u->why = l->unmovable;
}

int srv_graph_refuses_relink(struct srv *s, char *why, size_t len)
{
	struct unrelinkable u = { s, NULL };

	for (size_t i = 0; i < s->ncaptures; i++)
		if (s->captures[i].log->ccl_peers) {
			snprintf(why, len, "the process is capturing a CUDA graph with NCCL calls on a "
				 "communicator with peers: a re-link would leave them on the old "
				 "communicator; nothing was done, the job goes on");
			return -1;
		}
	srv_table_each(&s->graphs, find_unrelinkable, &u);
	srv_table_each(&s->graph_execs, find_unrelinkable, &u);
	if (!u.why)
		return 0;
	snprintf(why, len, "the process holds a CUDA graph with NCCL calls on a communicator with "
		 "peers, which a re-link would make it capture again, and it cannot be (%s); "
		 "nothing was done, the job goes on", u.why);
	return -1;
}

/* ---- the manifest ----------------------------------------------------------------- */

struct manifest_walk {
	json_t *list, *logs;
};

/* (the entry is shared by every manifest: a move's delta then sends its name only) */
static void add_log(struct manifest_walk *w, struct graph_log *l)
{
	if (!l->entry) {
		char *hex = xmig_hex_encode(l->data, l->len);

		if (hex)
			l->entry = json_pack("{s:I, s:s}", "origin", (json_int_t)l->origin,
					     "records", hex);
		free(hex);
	}
	if (l->entry && !json_object_get(w->logs, l->key))
		json_object_set(w->logs, l->key, l->entry);
}

/*
 * A graph's entry is made once and shared by every manifest, like other
 * objects' (state.c): with none made or dropped since the prelude, the
 * freeze's arrays hold the prelude's very entries and go as unchanged
 * (manifest-delta.c).
 */
static void add_graph(uint64_t id, void *obj, void *arg)
{
	struct manifest_walk *w = arg;
	struct srv_graph *g = obj;

	add_log(w, g->log);
	srv_state_add_entry(w->list, &g->entry, g->entry ? NULL :
			    json_pack("{s:I, s:s}", "id", (json_int_t)id, "log", g->log->key));
}

static void add_exec_entry(uint64_t id, void *obj, void *arg)
{
	struct manifest_walk *w = arg;
	struct srv_graph *e = obj;

	add_log(w, e->log);
	srv_state_add_entry(w->list, &e->entry, e->entry ? NULL :
			    json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "log", e->log->key,
				      "flags", (json_int_t)e->flags));
}

void srv_graph_manifest(struct srv *s, json_t *m)
{
	struct manifest_walk w = { json_array(), json_object() };

	if (!s->graphs.count && !s->graph_execs.count) {
		json_decref(w.list);
		json_decref(w.logs);
		return;
	}
	srv_table_each(&s->graphs, add_graph, &w);
	json_object_set_new(m, "graphs", w.list);
	w.list = json_array();
	srv_table_each(&s->graph_execs, add_exec_entry, &w);
	json_object_set_new(m, "graph_execs", w.list);
	json_object_set_new(m, "graph_logs", w.logs);
}

/* ---- made again ---------------------------------------------------------------------- */

/*
 * The events a capture recorded may be gone since: PyTorch's NCCL process
 * group destroys its own once the capture ended, the graph holding the
 * order they made, not them. A replay records each on an event of its own,
 * made for it and dropped once the capture ended again; a wait for an
 * event the log never recorded waits on the application's. (An external
 * record, cudaEventRecordExternal, is a node that needs the application's
 * event: left alone.)
 */
struct own_events {
	struct { uint64_t logged, own; } *v;
	size_t n;
};

static int own_event(struct srv *s, struct own_events *oe, bool make, uint64_t *event)
{
	uint64_t logged = *event;
	void *n;
	int r;

	for (size_t i = 0; i < oe->n; i++)
		if (oe->v[i].logged == logged) {
			*event = oe->v[i].own;
			return 0;
		}
	if (!make)
		return 0;
	if (!(n = realloc(oe->v, (oe->n + 1) * sizeof(*oe->v))))
		return cudaErrorMemoryAllocation;
	oe->v = n;
	if ((r = srv_event_new(s, cudaEventDisableTiming, event)))
		return r;
	oe->v[oe->n].logged = logged;
	oe->v[oe->n++].own = *event;
	return 0;
}

static int swap_event(struct srv *s, struct own_events *oe, struct xmig_req *req)
{
	void *a = req->payload;
	size_t len = req->len - sizeof(*req);

	switch (req->op) {
	case XMIG_OP_cudaEventRecord:
		if (len < sizeof(struct xmig_req_cudaEventRecord))
			return cudaErrorInvalidValue;
		return own_event(s, oe, true, &((struct xmig_req_cudaEventRecord *)a)->event);
	case XMIG_OP_cudaEventRecordWithFlags:
		if (len < sizeof(struct xmig_req_cudaEventRecordWithFlags))
			return cudaErrorInvalidValue;
		if (((struct xmig_req_cudaEventRecordWithFlags *)a)->flags & cudaEventRecordExternal)
			return 0;
		return own_event(s, oe, true,
				 &((struct xmig_req_cudaEventRecordWithFlags *)a)->event);
	case XMIG_OP_cudaStreamWaitEvent:
		if (len < sizeof(struct xmig_req_cudaStreamWaitEvent))
			return cudaErrorInvalidValue;
		return own_event(s, oe, false, &((struct xmig_req_cudaStreamWaitEvent *)a)->event);
	default:
		return 0;
	}
}

/*
 * A PreMulSum op the log made (premul_defs) is made again for the replay
 * under a value of its own: the calls after it that name the logged value
 * are given the new one, and it is destroyed once the capture ended (NCCL
 * allows it once the last call using it returned).
 */
struct own_redops {
	struct { uint64_t comm; int logged, own; } *v;
	size_t n;
};

static void swap_redops(const struct own_redops *or, struct xmig_ccl_op *ops, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (size_t k = or->n; k-- > 0;)
			if (or->v[k].comm == ops[i].comm && or->v[k].logged == ops[i].redop) {
				ops[i].redop = or->v[k].own;
				break;
			}
}

/* Before a replayed request: its PreMulSum ops given the replay's own. */
static void own_redops_in(const struct own_redops *or, struct xmig_req *req)
{
	uint32_t n;
	/* (the request is the replay's copy: its calls are written here) */
	struct xmig_ccl_op *ops = (struct xmig_ccl_op *)srv_ccl_ops_of(req->op, req->payload,
								   req->len - sizeof(*req), &n);

	if (or->n && ops)
		swap_redops(or, ops, n);
}

/* After a replayed request: a PreMulSum op it made. 0, or an error. */
static int own_redop_made(struct own_redops *or, const struct xmig_req *req,
			  const void *res)
{
	const struct xmig_ccl_redop_req *a = (const void *)req->payload;
	void *n;

	if (req->op != XMIG_OP_CCL_REDOP)
		return 0;
	if (!(n = realloc(or->v, (or->n + 1) * sizeof(*or->v))))
		return cudaErrorMemoryAllocation;
	or->v = n;
	or->v[or->n].comm = a->comm;
	or->v[or->n].logged = a->op;
	or->v[or->n++].own = ((const struct xmig_ccl_redop_res *)res)->op;
	return 0;
}

static void drop_own_redops(struct srv *s, struct own_redops *or)
{
	for (size_t i = 0; i < or->n; i++)
		srv_ccl_redop_drop(s, or->v[i].comm, or->v[i].own);
	free(or->v);
}

static void drop_own_events(struct srv *s, struct own_events *oe)
{
	for (size_t i = 0; i < oe->n; i++) {
		struct srv_event *e = srv_table_get(&s->events, oe->v[i].own);

		if (e)
			srv_event_drop(s, e);
	}
	free(oe->v);
}

/* Bytes of a replayed request's payload at least: past any operation's fixed request. */
#define REPLAY_ROOM 4096

/* Capture the log's requests again on its streams: *graph, or an error. */
static int replay(struct srv *s, const struct graph_log *l, void **graph, bool *rebound)
{
	struct srv_stream *origin = srv_stream_of(s, l->origin);
	struct srv_worker w = { .srv = s };
	struct own_events oe = { NULL, 0 };
	struct own_redops or = { NULL, 0 };
	struct dep_sets sets = { NULL, 0 };
	unsigned char *res = malloc(XMIG_RESP_BYTES);   /* (replies nobody reads) */
	const unsigned char *body;
	struct rec rc;
	size_t off = 0, room;
	bool bad = false;
	int r, e;

	*graph = NULL;
	if (!origin) {
		free(res);
		return xmig_error("a CUDA graph's capture began on stream %llu, which the state "
				  "lacks", (unsigned long long)l->origin), cudaErrorInvalidResourceHandle;
	}
	if (!res)
		return cudaErrorMemoryAllocation;
	if ((r = s->dev->capture_begin(s->devh, origin->h))) {
		free(res);
		return r;
	}
	s->replaying = true;
	s->replay_sets = &sets;
	while (!r && next_rec(l, &off, &rc, &body, &bad)) {
		struct xmig_req *req;
		struct xmig_call c = { .srv = s, .w = &w, .res = res };
		size_t len = rc.len;

		if (rc.op == XMIG_OP_DNN_EXECUTE) {
			struct srv_dnn_captured dc;

			if (len < sizeof(dc) + sizeof(struct xmig_dnn_execute_req)) {
				r = cudaErrorInvalidValue;
				break;
			}
			memcpy(&dc, body, sizeof(dc));
			body += sizeof(dc);
			len -= sizeof(dc);
			*rebound = true;
			if ((r = srv_dnn_rebind(s, &dc, (const void *)body)))
				break;
		} else if (rc.op == XMIG_OP_BLAS_GEMM) {
			struct blas_state bs;
			struct srv_blas *b;

			if (len < sizeof(bs) + sizeof(struct xmig_blas_gemm_req)) {
				r = cudaErrorInvalidValue;
				break;
			}
			memcpy(&bs, body, sizeof(bs));
			body += sizeof(bs);
			len -= sizeof(bs);
			b = srv_table_get(&s->blas,
					  ((const struct xmig_blas_gemm_req *)(const void *)body)->id);
			if (!b) {
				r = cudaErrorInvalidResourceHandle;
				break;
			}
			b->stream = bs.stream;
			b->workspace = bs.workspace;
			b->workspace_size = bs.workspace_size;
			b->math_mode = bs.math_mode;
			b->pointer_mode = bs.pointer_mode;
			b->atomics_mode = bs.atomics_mode;
			if (srv_blas_configure(s, b)) {
				r = cudaErrorUnknown;
				break;
			}
		}
		/*
		 * (aligned as the ring's entries are; posted: nobody waits for it.
		 * Zeroed past the body up to REPLAY_ROOM: a record shorter than
		 * its operation's request reads zeros there, not the heap)
		 */
		room = (sizeof(*req) + (len > REPLAY_ROOM ? len : REPLAY_ROOM) + 15) & ~(size_t)15;
		if (!(req = aligned_alloc(16, room))) {
			r = cudaErrorMemoryAllocation;
			break;
		}
		memset(req, 0, room);
		req->op = rc.op;
		req->len = (uint32_t)(sizeof(*req) + len);
		memcpy(req->payload, body, len);
		if (rc.op == XMIG_OP_MEMCPY)
			((struct xmig_memcpy_req *)(void *)req->payload)->sync = 0;
		if (rc.op == XMIG_OP_MEMSET)
			((struct xmig_memset_req *)(void *)req->payload)->sync = 0;
		if (rc.op == XMIG_OP_MEMCPY_2D)
			((struct xmig_memcpy2d_req *)(void *)req->payload)->sync = 0;
		c.req = req;
		c.args = req->payload;
		own_redops_in(&or, req);
		if (!(r = swap_event(s, &oe, req)))
			r = srv_dispatch(&c);
		if (!r && c.defer)
			r = c.defer(&c);
		if (!r)
			r = own_redop_made(&or, req, res);
		free(req);
	}
	if (bad && !r)
		r = cudaErrorInvalidValue;
	s->replaying = false;
	s->replay_sets = NULL;
	dep_sets_free(&sets);
	e = s->dev->capture_end(s->devh, origin->h, graph);
	drop_own_events(s, &oe);
	drop_own_redops(s, &or);
	free(res);
	if (r || e) {
		if (*graph)
			s->dev->graph_destroy(s->devh, *graph);
		*graph = NULL;
		return r ? r : e;
	}
	return 0;
}

/* The manifest's logs, parsed once. */
struct logs {
	json_t *json;
	struct { char key[17]; struct graph_log *l; } *v;
	size_t n;
};

static struct graph_log *log_of(struct logs *ls, const char *key)
{
	json_t *o = key ? json_object_get(ls->json, key) : NULL;
	struct graph_log *l;
	void *n;

	for (size_t i = 0; key && i < ls->n; i++)
		if (!strcmp(ls->v[i].key, key))
			return ls->v[i].l;
	if (!o || !(n = realloc(ls->v, (ls->n + 1) * sizeof(*ls->v))))
		return NULL;
	ls->v = n;
	if (!(l = log_new((uint64_t)json_integer_value(json_object_get(o, "origin")))))
		return NULL;
	l->data = xmig_hex_decode(json_string_value(json_object_get(o, "records")), &l->len);
	l->cap = l->len;
	log_seal(l);
	scan(l);
	if (!l->data || strcmp(l->key, key)) {   /* (damaged on the way) */
		log_put(l);
		return NULL;
	}
	snprintf(ls->v[ls->n].key, sizeof(ls->v[ls->n].key), "%s", key);
	ls->v[ls->n++].l = l;
	return l;
}

/* A manifest's list, by id (a PyTorch job may hold a hundred graphs). */
struct listed {
	uint64_t id, flags;
	const char *key;
};

struct kept {
	struct listed *v;
	size_t n;
	bool exec;
	struct srv *s;
};

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct listed *)a)->id, y = ((const struct listed *)b)->id;

	return (x > y) - (x < y);
}

/* Made ahead, and not in this manifest, or with another log: dropped. */
static void sweep(uint64_t id, void *obj, void *arg)
{
	struct kept *k = arg;
	struct srv_graph *g = obj;
	struct listed key = { id, 0, NULL }, *o = bsearch(&key, k->v, k->n, sizeof(*k->v), by_id);

	if (o && !strcmp(o->key, g->log->key) && o->flags == g->flags)
		return;
	drop(k->s, srv_table_remove(k->exec ? &k->s->graph_execs : &k->s->graphs, id), k->exec);
}

/*
 * Replays set what they need and undo it after: a GEMM's handle as it was
 * at the capture, a cuDNN handle on its capture's stream. A session saves
 * the cuBLAS handles first and sets them and the cuDNN ones back at its end.
 */
struct blas_saved {
	struct srv_blas *b, was;
};

struct session {
	struct blas_saved *saved, *end;
	bool rebound;               /* a cuDNN handle was set on another stream */
};

static void save_blas(uint64_t id, void *obj, void *arg)
{
	struct blas_saved **p = arg;

	(*p)->b = obj;
	(*p)->was = *(struct srv_blas *)obj;
	(*p)++;
}

static int session_open(struct srv *s, struct session *ss)
{
	*ss = (struct session){ NULL, NULL, false };
	if (s->blas.count && !(ss->saved = calloc(s->blas.count, sizeof(*ss->saved))))
		return xmig_error("out of memory for the cuBLAS handles' settings");
	ss->end = ss->saved;
	srv_table_each(&s->blas, save_blas, &ss->end);
	return 0;
}

/* r: the session's status so far; the first failure is kept. */
static int session_close(struct srv *s, struct session *ss, int r)
{
	int st;

	if (ss->rebound && (st = srv_dnn_restream(s)) && !r)
		r = xmig_error("cannot set the cuDNN handles back on their streams after the "
			       "graphs' capture (status %d)", st);
	for (struct blas_saved *p = ss->saved; p < ss->end; p++)
		if (memcmp(p->b, &p->was, sizeof(p->was))) {
			*p->b = p->was;
			if (srv_blas_configure(s, p->b) && !r)
				r = xmig_error("cannot set cuBLAS handle %llu back after the graphs' "
					       "capture", (unsigned long long)p->b->id);
		}
	free(ss->saved);
	return r;
}

/* Does a log wait for the re-link of a communicator its NCCL calls name? */
static bool waits_relink(struct srv *s, const struct graph_log *l)
{
	for (uint32_t i = 0; i < l->nccl; i++)
		if (!srv_ccl_linked(s, l->ccl_ops[i].comm))
			return true;
	return false;
}

/* The driver graph (exec: executable, with flags) of log l, captured again. */
static int capture_again(struct srv *s, struct graph_log *l, bool exec, uint64_t flags,
			 bool *rebound, void **out)
{
	void *h = NULL, *ge = NULL;
	int r;

	*out = NULL;
	if ((r = replay(s, l, &h, rebound)))
		return r;
	if (!exec) {
		*out = h;
		return 0;
	}
	r = s->dev->graph_instantiate(s->devh, h, flags, &ge);
	s->dev->graph_destroy(s->devh, h);
	*out = r ? NULL : ge;
	return r;
}

static int restore_list(struct srv *s, json_t *list, struct logs *ls, bool exec,
			struct session *ss)
{
	struct srv_table *t = exec ? &s->graph_execs : &s->graphs;
	struct kept k = { calloc(json_array_size(list) + 1, sizeof(*k.v)), 0, exec, s };
	json_t *o;
	size_t i;

	if (!k.v)
		return xmig_error("out of memory for the state's CUDA graphs");
	json_array_foreach(list, i, o)
		k.v[k.n++] = (struct listed){ (uint64_t)json_integer_value(json_object_get(o, "id")),
					      (uint64_t)json_integer_value(json_object_get(o, "flags")),
					      json_string_value(json_object_get(o, "log")) ?: "" };
	qsort(k.v, k.n, sizeof(*k.v), by_id);
	srv_table_each(t, sweep, &k);
	free(k.v);
	json_array_foreach(list, i, o) {
		uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id")), out;
		uint64_t flags = (uint64_t)json_integer_value(json_object_get(o, "flags"));
		const char *key = json_string_value(json_object_get(o, "log"));
		struct graph_log *l;
		struct srv_graph *g;
		void *h = NULL;
		int r;

		/* made ahead from the same log (the sweep left only those): kept, its log not even read */
		if (srv_table_get(t, id)) {
			s->restored.kept++;
			continue;
		}
		if (!(l = log_of(ls, key)) || !id)
			return xmig_error("the state's CUDA graph %llu has no readable log",
					  (unsigned long long)id);
		/* (a bridge's: the executor captures no copy of this node's memory) */
		if (l->needs & ~captures(s))
			return xmig_error("CUDA graph %llu cannot be captured again on the %s device: "
					  "it holds %s", (unsigned long long)id, s->dev->name,
					  l->needs & XMIG_CAPTURES_HOST_COPIES
						  ? "copies to or from host memory"
						  : l->needs & XMIG_CAPTURES_HOST_FUNCS
						  ? "host functions"
						  : "library work that device does not capture");
		/* (NCCL calls on a communicator not re-linked yet: captured at its first use after) */
		if (!waits_relink(s, l) &&
		    (r = capture_again(s, l, exec, flags, &ss->rebound, &h)))
			return xmig_error("cannot capture CUDA graph %llu again (error %d)",
					  (unsigned long long)id, r);
		if (exec) {
			if ((r = add_exec(s, h, l, flags, id, &out)))
				return xmig_error("out of memory for CUDA graph %llu",
						  (unsigned long long)id);
		} else {
			if (!(g = calloc(1, sizeof(*g))) || srv_table_put(&s->graphs, id, g) < 0) {
				free(g);
				if (h)
					s->dev->graph_destroy(s->devh, h);
				return xmig_error("out of memory for CUDA graph %llu",
						  (unsigned long long)id);
			}
			*g = (struct srv_graph){ id, h, l, 0 };
			l->refs++;
			count_unmovable(s, l, 1);   /* (as add_exec does: drop() counts it out) */
			count_pending(s, h, 1);
		}
		s->restored.made++;
	}
	return 0;
}

int srv_graph_restore(struct srv *s, json_t *m)
{
	json_t *graphs = json_object_get(m, "graphs"), *execs = json_object_get(m, "graph_execs");
	struct logs ls = { json_object_get(m, "graph_logs"), NULL, 0 };
	struct session ss;
	int r = 0;

	if (!json_array_size(graphs) && !json_array_size(execs)) {
		srv_graph_reset(s);
		return 0;
	}
	if (!s->dev->capture_begin)
		return xmig_error("the %s device cannot make the job's CUDA graphs again",
				  s->dev->name);
	if (session_open(s, &ss) < 0)
		return -1;
	if (restore_list(s, graphs, &ls, false, &ss) < 0 ||
	    restore_list(s, execs, &ls, true, &ss) < 0)
		r = -1;
	r = session_close(s, &ss, r);
	for (size_t i = 0; i < ls.n; i++)
		log_put(ls.v[i].l);
	free(ls.v);
	return r;
}

/*
 * A graph without its driver graph (its NCCL communicators re-linked since,
 * or not yet), at its first use: captured again now, in the application's
 * turn. Its NCCL calls may then wait, in NCCL's set-up of the new
 * communicator's connections, for the peers to post theirs: they do, as
 * the job runs on (a cut meanwhile lets them: cmd/cut.c).
 */
static int remake(struct srv *s, struct srv_graph *g, bool exec)
{
	uint64_t t0 = xmig_now_ns();
	struct session ss;
	int r;

	if (waits_relink(s, g->log))
		return xmig_error("CUDA graph %llu's NCCL communicators were not re-linked after "
				  "its move; it cannot run", (unsigned long long)g->id),
		       cudaErrorIllegalState;
	if (session_open(s, &ss) < 0)
		return cudaErrorMemoryAllocation;
	r = capture_again(s, g->log, exec, g->flags, &ss.rebound, &g->h);
	if (g->h)
		count_pending(s, NULL, -1);
	if (session_close(s, &ss, 0) < 0 && !r)
		r = cudaErrorUnknown;
	if (r)
		xmig_error("CUDA graph %llu could not be captured again on its re-linked NCCL "
			   "communicators (error %d)", (unsigned long long)g->id, r);
	else   /* (what the job's first launch after a re-link pays, NCCL's connect included) */
		xmig_debug("CUDA graph %llu (%zu bytes of requests, %u NCCL calls) captured again "
			   "on its re-linked communicators in %.2f ms, at its first launch",
			   (unsigned long long)g->id, g->log->len, g->log->nccl,
			   (double)(xmig_now_ns() - t0) / 1e6);
	return r;
}

struct relinked {
	struct srv *s;
	uint64_t comm;
	bool exec;
	size_t n;
};

static void release_driver_graph(uint64_t id, void *obj, void *arg)
{
	struct relinked *rl = arg;
	struct srv_graph *g = obj;
	bool names = false;

	for (uint32_t i = 0; i < g->log->nccl && !names; i++)
		names = g->log->ccl_ops[i].comm == rl->comm;
	if (!names || !g->h)
		return;
	if (rl->exec)
		rl->s->dev->graph_exec_destroy(rl->s->devh, g->h);
	else
		rl->s->dev->graph_destroy(rl->s->devh, g->h);
	g->h = NULL;
	count_pending(rl->s, NULL, 1);
	rl->n++;
}

size_t srv_graph_relinked(struct srv *s, uint64_t comm)
{
	struct relinked rl = { s, comm, false, 0 };

	srv_table_each(&s->graphs, release_driver_graph, &rl);
	rl.exec = true;
	srv_table_each(&s->graph_execs, release_driver_graph, &rl);
	return rl.n;
}
