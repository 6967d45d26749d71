/*
 * srv-ccl.c - NCCL in the proxy: the application's calls on logical
 * communicators (ccl/), run by the device's CCL backend (device.h: the
 * job's own NCCL on a GPU, the sim double on the sim device); the state a
 * next proxy rebuilds from after a move; and the control methods of the
 * consistent cut and of re-linking (ccl.*).
 *
 * Where the bootstrap root lives: ncclGetUniqueId runs in the proxy of
 * the application that asked (rank 0's, for a framework), so NCCL's root
 * thread lives in that proxy, never in the application. A rebuild after a
 * move never reuses an old id: for one rank the new proxy makes its own;
 * for several the orchestrator (xmig migrate) asks the proxy of the
 * communicator's rank 0 for a fresh one (ccl.unique_id) and hands it to
 * every rank (ccl.relink) over the control sockets. So the root lives as
 * long as the proxy that must answer it, and no extra daemon is needed.
 *
 * A re-link builds the new physical communicator first, under the old
 * one, and retires the old one (ccl/relink.c): a background thread aborts
 * it once the job is thawed, or when the proxy exits; ncclCommAbort is
 * not on the move's critical path. Only a failed build aborts the old one
 * at once, as it always did.
 *
 * The build and NCCL's connections need not wait for the cut either: the
 * orchestrator can have every rank (a moving rank's standby in its place)
 * build the new communicator from the re-link's id while the job still
 * runs on the old one, and connect it by a small all-reduce
 * (ccl.prelink); the cut's ccl.relink with that id then only puts it
 * under the logical communicator. One built ahead belongs to the control
 * connection that asked: retired when a re-link takes another id, or
 * when that connection closes.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "../../ccl/ccl.h"
#include "control.h"
#include "server.h"

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;  /* environment of an init */
static pthread_mutex_t retire_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct ccl_backend *backend(struct srv *s)
{
	return s->dev->ccl;
}

static struct ccl_table *table(struct srv *s)
{
	struct ccl_table *t;

	/* (published made: ccl.status may read the pointer from another thread) */
	if (!s->ccl && (t = calloc(1, sizeof(*t)))) {
		ccl_table_init(t);
		s->ccl = t;
	}
	return s->ccl;
}

static int unsupported(struct srv *s)
{
	xmig_error("NCCL is not forwarded to this proxy's device (%s)", s->dev->name);
	return ncclInvalidUsage;
}

/* PreMulSum op r of c made on c's current physical communicator. */
static int make_redop(struct srv *s, struct ccl_comm *c, struct ccl_redop *r)
{
	const void *scalar = r->residence == ncclScalarDevice
				     ? (const void *)(uintptr_t)r->scalar_ptr : r->scalar;

	/* (a device scalar is read where it points: it must be the job's device memory) */
	if (r->residence == ncclScalarDevice && !srv_mem_find(s, r->scalar_ptr, 1))
		return xmig_error("a PreMulSum scalar at %#llx, not in the job's device memory",
				  (unsigned long long)r->scalar_ptr), ncclInvalidArgument;
	return backend(s)->redop_create(s->devh, c->phys, r->datatype, r->residence, scalar,
					&r->physical);
}

/* All of c's PreMulSum ops on its current physical communicator. */
static int make_redops(struct srv *s, struct ccl_comm *c)
{
	int st;

	for (size_t i = 0; i < c->nredops; i++)
		if (c->redops[i].live && (st = make_redop(s, c, &c->redops[i])))
			return st;
	return ncclSuccess;
}

/* This node's NCCL cache (real NCCL only: the sim double reads none); false: none. */
static bool cache_of(struct srv *s, uint64_t key, const char *layout, struct ccl_cache_files *f)
{
	char dir[512];

	if (strcmp(backend(s)->name, "nccl") ||
	    ccl_cache_dir(xmig_runtime_dir(), s->node, dir, sizeof(dir)) < 0)
		return false;
	ccl_cache_files(dir, key, layout ?: s->gpu_info.uuid, f);
	return true;
}

/*
 * NCCL's init of a physical communicator like c, from ids, through the
 * caches of this node (layout: where its ranks are, from the
 * orchestrator; NULL: this GPU alone). *cached: f holds what they gave.
 */
static int init_phys(struct srv *s, const struct ccl_comm *c, int nids,
		     const unsigned char (*ids)[XMIG_CCL_ID_BYTES], const char *layout,
		     void **phys, struct ccl_cache_files *f, bool *cached)
{
	int st;

	pthread_mutex_lock(&build_lock);
	if ((*cached = cache_of(s, c->key, layout, f)))
		ccl_cache_setenv(f, c->rank);
	st = backend(s)->init(s->devh, c->nranks, c->rank, nids, ids, &c->cfg, phys);
	if (*cached) {
		ccl_cache_unset();
		ccl_cache_keep(f);
	}
	pthread_mutex_unlock(&build_lock);
	return st;
}

/*
 * phys put under c, its PreMulSum ops made on it, a generation more; if
 * that fails, phys is aborted and c keeps the one it had.
 */
static int link_phys(struct srv *s, struct ccl_comm *c, void *phys)
{
	void *old = c->phys;
	int st;

	c->phys = phys;
	if ((st = make_redops(s, c))) {
		backend(s)->end(s->devh, phys, XMIG_CCL_ABORT);
		c->phys = old;
		return st;
	}
	c->generation++;
	return ncclSuccess;
}

/*
 * Build a physical communicator for c from ids, through the caches of this
 * node (layout: where its ranks are, from the orchestrator; NULL: this GPU
 * alone), and put it under c. The one c had (a re-link's old one) is left
 * to the caller, and stays under c if the build fails.
 */
static int build(struct srv *s, struct ccl_comm *c, int nids,
		 const unsigned char (*ids)[XMIG_CCL_ID_BYTES], const char *layout, bool rebuild)
{
	struct ccl_cache_files f;
	uint64_t t0 = xmig_now_ns();
	void *phys = NULL;
	bool cached;
	int st;

	if ((st = init_phys(s, c, nids, ids, layout, &phys, &f, &cached)) ||
	    (st = link_phys(s, c, phys)))
		return st;
	if (rebuild)
		c->rebuild_s = (double)(xmig_now_ns() - t0) / 1e9;
	else
		c->init_s = (double)(xmig_now_ns() - t0) / 1e9;
	if (cached)
		ccl_cache_note(&f, c, s->gpu_info.uuid, rebuild);
	return ncclSuccess;
}

/* The proxy's retire list (ccl/relink.c), made at its first use. */
static struct ccl_retire *retire_list(struct srv *s)
{
	struct ccl_retire *r;

	pthread_mutex_lock(&retire_lock);
	if (!(r = s->ccl_retire) && (r = malloc(sizeof(*r)))) {
		ccl_retire_init(r, backend(s), s->devh, s->dev->bind_thread);
		s->ccl_retire = r;
	}
	pthread_mutex_unlock(&retire_lock);
	return r;
}

/*
 * A physical communicator out of every table, on the retire list: aborted
 * by its thread once released (release: now; else at the thaw). Without a
 * list (no memory for one), aborted here and now.
 */
static void retire_phys(struct srv *s, void *phys, uint64_t key, bool release)
{
	struct ccl_retire *r = retire_list(s);

	if (!r) {
		backend(s)->end(s->devh, phys, XMIG_CCL_ABORT);
		return;
	}
	ccl_retire(r, phys, key);
	if (release)
		ccl_retire_release(r);
}

/* ---- communicators built ahead of a re-link --------------------------------- */

struct srv_prelink {
	uint64_t key;
	unsigned char id[XMIG_CCL_ID_BYTES];   /* the re-link's id it was built from */
	void *phys;
	struct ctl_conn *owner;         /* the connection that asked: gone with it */
	double build_s, connect_s;
	struct srv_prelink *next;
};

static pthread_mutex_t prelink_lock = PTHREAD_MUTEX_INITIALIZER;

/* The one built ahead for key, taken off the list; NULL if none. */
static struct srv_prelink *prelink_take(struct srv *s, uint64_t key)
{
	struct srv_prelink **pp, *p = NULL;

	pthread_mutex_lock(&prelink_lock);
	for (pp = &s->ccl_prelinks; *pp; pp = &(*pp)->next)
		if ((*pp)->key == key) {
			p = *pp;
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&prelink_lock);
	return p;
}

/* Aborted in the background: nothing ever ran on it but the connect. */
static void prelink_retire(struct srv *s, struct srv_prelink *p)
{
	retire_phys(s, p->phys, p->key, true);
	free(p);
}

/* Every one owner asked for (NULL: all) retired. */
static void prelinks_retire(struct srv *s, struct ctl_conn *owner)
{
	struct srv_prelink **pp, *p, *gone = NULL;

	pthread_mutex_lock(&prelink_lock);
	for (pp = &s->ccl_prelinks; (p = *pp);)
		if (!owner || p->owner == owner) {
			*pp = p->next;
			p->next = gone;
			gone = p;
		} else {
			pp = &p->next;
		}
	pthread_mutex_unlock(&prelink_lock);
	while ((p = gone)) {
		gone = p->next;
		xmig_debug("communicator %016llx built ahead, not used: retired",
			   (unsigned long long)p->key);
		prelink_retire(s, p);
	}
}

void srv_ccl_conn_closed(struct srv *s, struct ctl_conn *cc)
{
	prelinks_retire(s, cc);
}

void srv_ccl_thawed(struct srv *s)
{
	struct ccl_retire *r = s->ccl_retire;

	if (r)
		ccl_retire_release(r);
}

void srv_ccl_shutdown(struct srv *s)
{
	struct ccl_retire *r;

	prelinks_retire(s, NULL);
	pthread_mutex_lock(&retire_lock);
	r = s->ccl_retire;
	s->ccl_retire = NULL;
	pthread_mutex_unlock(&retire_lock);
	if (!r)
		return;
	ccl_retire_drain(r);
	if (r->queued)
		xmig_debug("%llu old NCCL communicators retired, %.1f ms of aborts off the critical "
			   "path", (unsigned long long)r->queued, r->abort_s * 1e3);
	free(r);
}

/* ---- the application's calls ------------------------------------------------ */

int d_CCL_UNIQUE_ID(struct xmig_call *c)
{
	struct srv *s = c->srv;
	struct xmig_ccl_id_res *r = c->res;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	return backend(s) ? backend(s)->unique_id(s->devh, r->id) : unsupported(s);
}

int d_CCL_INIT(struct xmig_call *c)
{
	const struct xmig_ccl_init_req *a = c->args;
	struct xmig_ccl_comm_res *r = c->res;
	struct srv *s = c->srv;
	struct ccl_comm *cm;
	int st;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!backend(s))
		return unsupported(s);
	if (a->nids < 1 || a->nids > XMIG_CCL_MAX_IDS || a->nranks < 1 || a->rank < 0 ||
	    a->rank >= a->nranks)
		return ncclInvalidArgument;
	if (!table(s) || !(cm = ccl_comm_new(s->ccl, ccl_key_root(a->nids, a->ids), a->nranks,
					     a->rank, &a->config)))
		return ncclSystemError;
	if ((st = build(s, cm, a->nids, a->ids, NULL, false))) {
		ccl_comm_remove(s->ccl, cm->id);
		return st;
	}
	r->comm = cm->id;
	r->nranks = cm->nranks;
	r->rank = cm->rank;
	return ncclSuccess;
}

/* The logical communicator id, or NULL. */
static struct ccl_comm *comm_of(struct srv *s, uint64_t id)
{
	return s->ccl ? ccl_comm_get(s->ccl, id) : NULL;
}

static struct ccl_comm *linked(struct srv *s, uint64_t id, int *st)
{
	struct ccl_comm *cm = comm_of(s, id);

	*st = ncclSuccess;
	if (!cm) {
		*st = ncclInvalidArgument;
		return NULL;
	}
	if (!cm->phys) {
		xmig_error("communicator %016llx has no NCCL communicator under it: it was not "
			   "re-linked after a move", (unsigned long long)cm->key);
		*st = ncclInvalidUsage;
		return NULL;
	}
	return cm;
}

int d_CCL_SPLIT(struct xmig_call *c)
{
	const struct xmig_ccl_split_req *a = c->args;
	struct xmig_ccl_comm_res *r = c->res;
	struct srv *s = c->srv;
	struct xmig_ccl_config cfg;
	struct ccl_comm *p, *cm;
	void *phys = NULL;
	int st, nranks = 0, rank = 0, color;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!(p = linked(s, a->parent, &st)))
		return st;
	/* (the names the client sent, ended here before NCCL reads them) */
	cfg = a->config;
	cfg.net_name[sizeof(cfg.net_name) - 1] = '\0';
	cfg.comm_name[sizeof(cfg.comm_name) - 1] = '\0';
	if (a->kind == XMIG_CCL_SHRINK) {
		/* (the ranks excluded, as many as the request holds and the parent has) */
		size_t len = c->req->len - sizeof(*c->req);

		if (a->nexclude < 0 || a->nexclude > p->nranks || len < sizeof(*a) ||
		    (len - sizeof(*a)) / sizeof(a->exclude[0]) < (size_t)a->nexclude)
			return ncclInvalidArgument;
		color = INT_MIN + 1;   /* a shrink is a split of its own kind */
		st = backend(s)->shrink(s->devh, p->phys, a->exclude, a->nexclude, &cfg,
					a->flags, &phys);
	} else {
		color = a->color;
		st = backend(s)->split(s->devh, p->phys, a->color, a->key, &cfg, &phys);
	}
	/* every rank of the parent calls, so every rank counts it */
	p->nsplits++;
	if (st || !phys)
		return st;
	if ((st = backend(s)->size(s->devh, phys, &nranks, &rank)) ||
	    !(cm = ccl_comm_new(s->ccl, ccl_key_split(p->key, p->nsplits - 1, color), nranks, rank,
				&a->config))) {
		backend(s)->end(s->devh, phys, XMIG_CCL_ABORT);
		return st ? st : ncclSystemError;
	}
	cm->phys = phys;
	cm->generation = 1;
	r->comm = cm->id;
	r->nranks = nranks;
	r->rank = rank;
	return ncclSuccess;
}

static const char *end_kind_name(uint32_t kind)
{
	switch (kind) {
	case XMIG_CCL_DESTROY: return "destroy";
	case XMIG_CCL_ABORT: return "abort";
	case XMIG_CCL_FINALIZE: return "finalize";
	default: return "end";
	}
}

int d_CCL_END(struct xmig_call *c)
{
	const struct xmig_ccl_end_req *a = c->args;
	struct srv *s = c->srv;
	struct ccl_comm *cm = comm_of(s, a->comm);
	const char *kind = end_kind_name(a->kind);
	uint64_t t0 = xmig_now_ns();
	int st = ncclSuccess;

	if (!cm)
		return ncclInvalidArgument;
	/* (a destroy or a finalize may wait for the peers, and for graphs holding the communicator) */
	xmig_debug("NCCL communicator %llu: %s", (unsigned long long)a->comm, kind);
	if (cm->phys)
		st = backend(s)->end(s->devh, cm->phys, a->kind);
	xmig_debug("NCCL communicator %llu: %s returned %d in %.1f ms", (unsigned long long)a->comm,
		   kind, st, (double)(xmig_now_ns() - t0) / 1e6);
	if (a->kind != XMIG_CCL_FINALIZE)
		ccl_comm_remove(s->ccl, cm->id);
	return st;
}

int d_CCL_QUERY(struct xmig_call *c)
{
	const struct xmig_ccl_query_req *a = c->args;
	struct xmig_ccl_query_res *r = c->res;
	struct srv *s = c->srv;
	struct ccl_comm *cm = s->ccl && a->comm ? ccl_comm_get(s->ccl, a->comm) : NULL;
	int st;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (a->comm && !cm)
		return ncclInvalidArgument;
	if (!cm) {
		snprintf(r->last_error, sizeof(r->last_error), "%s",
			 backend(s) ? backend(s)->last_error(s->devh, NULL) ?: "" : "");
		return ncclSuccess;
	}
	if (cm->async_error) {
		r->async_error = cm->async_error;
		snprintf(r->last_error, sizeof(r->last_error), "%s", cm->last_error);
		return ncclSuccess;
	}
	if (!cm->phys) {
		r->async_error = ncclSystemError;
		snprintf(r->last_error, sizeof(r->last_error),
			 "xmig: the communicator was not re-linked after a move");
		return ncclSuccess;
	}
	if ((st = backend(s)->async_error(s->devh, cm->phys, &r->async_error)))
		return st;
	snprintf(r->last_error, sizeof(r->last_error), "%s",
		 backend(s)->last_error(s->devh, cm->phys) ?: "");
	return ncclSuccess;
}

int srv_ccl_redop_drop(struct srv *s, uint64_t comm, int logical)
{
	struct ccl_redop *op;
	struct ccl_comm *cm;
	int st;

	if (!(cm = linked(s, comm, &st)))
		return st;
	if (!(op = ccl_redop_find(cm, logical)))
		return ncclInvalidArgument;
	st = backend(s)->redop_destroy(s->devh, cm->phys, op->physical);
	op->live = false;
	return st;
}

int d_CCL_REDOP(struct xmig_call *c)
{
	const struct xmig_ccl_redop_req *a = c->args;
	struct xmig_ccl_redop_res *r = c->res;
	struct srv *s = c->srv;
	struct ccl_comm *cm;
	struct ccl_redop *op;
	int st;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!(cm = linked(s, a->comm, &st)))
		return st;
	if (a->kind == XMIG_CCL_REDOP_DESTROY)
		return srv_ccl_redop_drop(s, a->comm, a->op);
	if (!(op = ccl_redop_add(cm)))
		return ncclSystemError;
	op->datatype = a->datatype;
	op->residence = a->residence;
	op->scalar_ptr = a->scalar_ptr;
	memcpy(op->scalar, a->scalar, sizeof(op->scalar));
	if ((st = make_redop(s, cm, op))) {
		op->live = false;
		return st;
	}
	r->op = op->logical;
	return ncclSuccess;
}

/* A posted call that failed: the communicator's async error, and a line. */
static void note_failure(struct ccl_comm *cm, int st, const char *what)
{
	xmig_error("NCCL %s on communicator %016llx failed with ncclResult_t %d", what,
		   (unsigned long long)cm->key, st);
	if (!cm->async_error) {
		cm->async_error = st;
		snprintf(cm->last_error, sizeof(cm->last_error), "xmig: %s failed with %d", what, st);
	}
}

/* Posted calls to run: copies, since the ring's slot is reused once the turn ends. */
struct posted {
	size_t n;
	bool group;
	struct {
		struct ccl_comm *cm;
		void *stream;
		int redop;
		bool captured;   /* into a CUDA graph: its launches count, not this */
		struct xmig_ccl_op op;
	} v[];
};

static int run_posted(struct srv *s, struct posted *p)
{
	const struct ccl_backend *b = backend(s);
	int st;

	if (p->group && (st = b->group_start(s->devh))) {
		note_failure(p->v[0].cm, st, "ncclGroupStart");
		return 0;
	}
	for (size_t i = 0; i < p->n; i++)
		if ((st = b->coll(s->devh, p->v[i].cm->phys, &p->v[i].op, p->v[i].redop,
				  p->v[i].stream)))
			note_failure(p->v[i].cm, st, "collective");
	if (p->group && (st = b->group_end(s->devh)))
		note_failure(p->v[0].cm, st, "ncclGroupEnd");
	return 0;
}

static int run_deferred(struct xmig_call *c)
{
	struct posted *p = c->defer_obj;

	run_posted(c->srv, p);
	free(p);
	return 0;
}

/*
 * What p's calls need of their communicators' connections, set up in the
 * turn: waiting there for the peers, as NCCL's first collective does in
 * the call (a cut lets the job run on past it: cmd/cut.c). 0, or the
 * failure, noted on its communicator.
 */
static int connect_posted(struct srv *s, struct posted *p)
{
	int st;

	for (size_t i = 0; backend(s)->connect && i < p->n; i++)
		if ((st = backend(s)->connect(s->devh, p->v[i].cm->phys, &p->v[i].op))) {
			note_failure(p->v[i].cm, st, "connecting");
			return st;
		}
	return 0;
}

static int post(struct xmig_call *c, const struct xmig_ccl_op *ops, size_t n, bool group)
{
	struct srv *s = c->srv;
	struct posted *p;
	size_t i;

	if (!backend(s))
		return unsupported(s);
	if (!n)
		return 0;
	if (!(p = calloc(1, sizeof(*p) + n * sizeof(p->v[0]))))
		return cudaErrorMemoryAllocation;
	p->n = n;
	p->group = group;
	/* all checked before any runs: a group is posted whole or not at all */
	for (i = 0; i < n; i++) {
		struct srv_stream *st = srv_stream(c, ops[i].stream);
		int r;

		if (!(p->v[i].cm = linked(s, ops[i].comm, &r)) || !st ||
		    (r = ccl_op_check(p->v[i].cm, &ops[i]))) {
			if (p->v[i].cm)
				note_failure(p->v[i].cm, r ? r : ncclInvalidArgument, "call check");
			else
				xmig_error("NCCL call on communicator %llu, which is not usable",
					   (unsigned long long)ops[i].comm);
			free(p);
			return 0;
		}
		p->v[i].op = ops[i];
		p->v[i].stream = st->h;
		p->v[i].redop = ccl_redop_physical(p->v[i].cm, ops[i].redop);
		p->v[i].captured = s->ncaptures && srv_graph_capture_of(s, st);
	}
	/*
	 * What a cut counts is what runs: a call captured into a CUDA graph
	 * (by the application, or captured again by a replay) does not; each
	 * launch of the graph does (d_GRAPH_LAUNCH).
	 */
	for (i = 0; i < n && !s->replaying; i++)
		if (!p->v[i].captured)
			ccl_count(p->v[i].cm, &ops[i]);
	if (backend(s)->calls_wait) {
		if (connect_posted(s, p)) {
			free(p);
			return 0;
		}
		c->defer = run_deferred;
		c->defer_obj = p;
		return 0;
	}
	run_posted(s, p);
	free(p);
	return 0;
}

/* (the request's calls, as many as its length holds: a count past it is a broken request) */
static int post_request(struct xmig_call *c)
{
	uint32_t n;
	const struct xmig_ccl_op *ops = srv_ccl_ops_of(c->req->op, c->args,
						       c->req->len - sizeof(*c->req), &n);

	if (!ops) {
		xmig_error("an NCCL request shorter than the calls it names");
		return ncclInvalidArgument;
	}
	return post(c, ops, n, c->req->op == XMIG_OP_CCL_GROUP);
}

int d_CCL_COLL(struct xmig_call *c)
{
	return post_request(c);
}

int d_CCL_GROUP(struct xmig_call *c)
{
	return post_request(c);
}

/* ---- the cut's gate: may a worker run this request now? ------------------------------ */

bool srv_ccl_hold(struct srv *s, const struct xmig_req *req)
{
	const struct ccl_cut *cut = s->ccl_cut;

	if (!cut || !s->ccl)
		return false;
	if (ccl_cut_reached(s->ccl, cut))
		return true;    /* there: stop at this call, whatever it is */
	if (req->op == XMIG_OP_CCL_COLL || req->op == XMIG_OP_CCL_GROUP) {
		uint32_t n;
		const struct xmig_ccl_op *ops = srv_ccl_ops_of(req->op, req->payload,
							       req->len - sizeof(*req), &n);

		/* (a broken one is refused at its dispatch: let it through to that) */
		return ops && !ccl_cut_admits(s->ccl, cut, ops, n);
	}
	if (req->op == XMIG_OP_GRAPH_LAUNCH) {
		/* a graph's NCCL calls, admitted or held whole, like a group's */
		size_t n;
		const struct xmig_ccl_op *ops = srv_graph_launch_ops(s, req, &n);

		return n && !ccl_cut_admits(s->ccl, cut, ops, n);
	}
	return false;
}

/* ---- a move: into the manifest, and rebuilt from it ------------------------------- */

void srv_ccl_manifest(struct srv *s, json_t *m)
{
	json_t *a = json_array();

	for (size_t i = 0; s->ccl && i < s->ccl->n; i++)
		json_array_append_new(a, ccl_comm_json(s->ccl->comms[i]));
	json_object_set_new(m, "ccl_comms", a);
}

int srv_ccl_peers(struct srv *s)
{
	int most = 0;

	for (size_t i = 0; s->ccl && i < s->ccl->n; i++)
		if (s->ccl->comms[i]->nranks > 1 && s->ccl->comms[i]->nranks > most)
			most = s->ccl->comms[i]->nranks;
	return most;
}

int srv_ccl_ranks(struct srv *s, uint64_t comm)
{
	struct ccl_comm *c = comm_of(s, comm);

	return c ? c->nranks : 0;
}

int srv_ccl_redop_def(struct srv *s, uint64_t comm, int logical, struct xmig_ccl_redop_req *def)
{
	struct ccl_comm *c = comm_of(s, comm);
	struct ccl_redop *op = c ? ccl_redop_find(c, logical) : NULL;

	if (!op)
		return -1;
	memset(def, 0, sizeof(*def));
	def->comm = comm;
	def->kind = XMIG_CCL_REDOP_CREATE;
	def->op = logical;
	def->datatype = op->datatype;
	def->residence = op->residence;
	def->scalar_ptr = op->scalar_ptr;
	memcpy(def->scalar, op->scalar, sizeof(def->scalar));
	return 0;
}

bool srv_ccl_calls_wait(struct srv *s)
{
	return backend(s) && backend(s)->calls_wait;
}

bool srv_ccl_linked(struct srv *s, uint64_t comm)
{
	struct ccl_comm *c = comm_of(s, comm);

	return c && c->phys;
}

void srv_ccl_count(struct srv *s, const struct xmig_ccl_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ccl_comm *c = comm_of(s, ops[i].comm);

		if (c)
			ccl_count(c, &ops[i]);
	}
}

int srv_ccl_check(struct srv *s, json_t *m, char *why, size_t len)
{
	json_t *o;
	size_t i;

	if (json_array_size(json_object_get(m, "ccl_comms")) && !backend(s)) {
		snprintf(why, len, "the job holds NCCL communicators, and NCCL is not forwarded to "
			 "a %s device", s->dev->name);
		return -1;
	}
	/*
	 * Its peers must be cut and re-linked too: only an orchestrator that
	 * does so (xmig migrate, ccl_relink) may bring such a process here.
	 */
	json_array_foreach(json_object_get(m, "ccl_comms"), i, o)
		if (json_integer_value(json_object_get(o, "nranks")) > 1 && !s->ccl_relink) {
			snprintf(why, len, "the process holds an NCCL communicator of %lld ranks, and "
				 "nothing re-links its peers (xmig migrate does, at a cut)",
				 (long long)json_integer_value(json_object_get(o, "nranks")));
			return -1;
		}
	return 0;
}

/*
 * A multi-rank communicator is re-linked with its peers at the freeze. What
 * NCCL does once in a process (loading its kernels, starting its threads,
 * the node's topology: most of a first ncclCommInitRank) need not wait for
 * that: ccl_warm_up pays it now, while the job still runs, through this
 * node's cache (the topology read, or dumped for the re-link to read).
 * rank: this process's in the communicator (o).
 */
static void warm_up(struct srv *s, json_t *o)
{
	struct ccl_cache_files f;
	double secs = 0;
	bool cached;
	int st;

	if (s->ccl_warm || !backend(s))
		return;
	s->ccl_warm = true;
	pthread_mutex_lock(&build_lock);
	cached = cache_of(s, 0, NULL, &f);
	st = ccl_warm_up(backend(s), s->devh, cached ? &f : NULL,
			 (int)json_integer_value(json_object_get(o, "rank")), &secs);
	pthread_mutex_unlock(&build_lock);
	if (st)
		xmig_warn("NCCL could not be set up ahead of the move (error %d)", st);
	else
		xmig_info("NCCL set up in %.1f ms, ahead of the freeze (node topology %s; "
			  "cache variables through %s)",
			  secs * 1e3, !cached ? "not cached" : f.have_topo ? "from the cache"
								   : "dumped to the cache",
			  ccl_env_via_plugin() ? "xmig's NCCL env plugin" : "the environment");
}

/* The manifest's entry for communicator id, or NULL. */
static json_t *entry(json_t *m, uint64_t id)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(m, "ccl_comms"), i, o)
		if ((uint64_t)json_integer_value(json_object_get(o, "id")) == id)
			return o;
	return NULL;
}

/* Is this communicator, built ahead from the prelude, still entry o's? */
static bool still_same(struct ccl_comm *c, json_t *o)
{
	static const char *const keys[] = { "key", "nranks", "rank", "config" };
	json_t *have = ccl_comm_json(c);
	bool same = c->phys != NULL;

	for (size_t k = 0; same && k < sizeof(keys) / sizeof(keys[0]); k++)
		same = json_equal(json_object_get(have, keys[k]), json_object_get(o, keys[k]));
	json_decref(have);
	return same;
}

/* The live redop of entry list want with logical value op, or NULL. */
static json_t *redop_entry(json_t *want, int op)
{
	json_t *j;
	size_t i;

	json_array_foreach(want, i, j)
		if (json_integer_value(json_object_get(j, "op")) == op)
			return j;
	return NULL;
}

/*
 * A communicator built ahead keeps its PreMulSum ops that are still the
 * manifest's; the ones destroyed or remade since the prelude are destroyed
 * or made here (a job that makes one per step, as DDP's gradient division
 * does, changes them between any prelude and its freeze).
 */
static int reconcile_redops(struct srv *s, struct ccl_comm *c, json_t *o)
{
	json_t *want = json_object_get(o, "redops"), *j;
	struct ccl_redop *r;
	size_t i;
	int st;

	for (i = 0; i < c->nredops; i++) {
		r = &c->redops[i];
		if (!r->live || ((j = redop_entry(want, r->logical)) && ccl_redop_matches(r, j)))
			continue;
		r->live = false;
		if ((st = backend(s)->redop_destroy(s->devh, c->phys, r->physical)))
			return st;
	}
	json_array_foreach(want, i, j) {
		if ((r = ccl_redop_find(c, (int)json_integer_value(json_object_get(j, "op")))))
			continue;   /* kept above */
		if (!(r = ccl_redop_from_json(c, j)))
			return ncclInvalidArgument;
		if ((st = make_redop(s, c, r))) {
			r->live = false;
			return st;
		}
	}
	return ncclSuccess;
}

int srv_ccl_restore(struct srv *s, json_t *m, bool ahead)
{
	json_t *o;
	size_t i;

	/*
	 * Built ahead, but gone or changed since (a job that destroyed its
	 * process group between the prelude and the freeze): out of the
	 * table, and ended by the retire thread once the job runs again, not
	 * in its pause (an end took 375 ms there on an H200).
	 */
	for (i = s->ccl && !ahead ? s->ccl->n : 0; i-- > 0;) {
		struct ccl_comm *c = s->ccl->comms[i];
		void *phys = c->phys;
		uint64_t key = c->key;

		if ((o = entry(m, c->id)) && still_same(c, o))
			continue;
		ccl_comm_remove(s->ccl, c->id);
		xmig_debug("communicator %016llx built ahead, %s at the freeze: retired",
			   (unsigned long long)key, o ? "changed" : "gone");
		if (phys)
			retire_phys(s, phys, key, false);
	}
	json_array_foreach(json_object_get(m, "ccl_comms"), i, o) {
		struct ccl_comm *cm = s->ccl ? ccl_comm_get(s->ccl, (uint64_t)json_integer_value(
								     json_object_get(o, "id")))
					     : NULL;
		unsigned char id[1][XMIG_CCL_ID_BYTES];
		int st;

		/* several ranks: the orchestrator re-links them all (ccl.relink) */
		if (json_integer_value(json_object_get(o, "nranks")) > 1 && ahead) {
			warm_up(s, o);
			continue;
		}
		if (cm) {
			/* One rank, built while the job still ran: its counters and
			 * its redops may have moved on since. */
			if ((st = reconcile_redops(s, cm, o)))
				return xmig_error("cannot make communicator %016llx's reduction "
						  "ops again (NCCL error %d)",
						  (unsigned long long)cm->key, st);
			ccl_comm_counters_from_json(cm, o);
			cm->generation++;
			s->restored.kept++;
			/* (ahead again: a refresh of the prelude; said once, at the freeze) */
			if (!ahead)
				xmig_info("communicator %016llx rebuilt in %.1f ms, ahead of the "
					  "freeze", (unsigned long long)cm->key, cm->rebuild_s * 1e3);
			continue;
		}
		if (!table(s) || !(cm = ccl_comm_from_json(s->ccl, o)))
			return xmig_error("communicator %zu of the state is malformed", i);
		if (cm->nranks > 1)
			continue;
		if ((st = backend(s)->unique_id(s->devh, id[0])) ||
		    (st = build(s, cm, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])id, NULL, true))) {
			if (ahead)
				ccl_comm_remove(s->ccl, cm->id);   /* made at the freeze instead */
			return xmig_error("cannot rebuild communicator %016llx (NCCL error %d)",
					  (unsigned long long)cm->key, st);
		}
		s->restored.made++;
		if (!ahead)
			xmig_info("communicator %016llx rebuilt in %.1f ms",
				  (unsigned long long)cm->key, cm->rebuild_s * 1e3);
	}
	return 0;
}

uint64_t srv_ccl_generation(const struct srv *s)
{
	/* (ids are never reused: made adds one to next_id, ended takes one from n) */
	return s->ccl ? s->ccl->next_id * 65536 + s->ccl->n : 0;
}

/* ---- control methods: status, the cut, re-linking --------------------------------- */

/* A method's error: its code and message (SAY), then out of it (FAIL), or to its unwinding. */
#define SAY(c, ...) (*code = (c), snprintf(msg, len, __VA_ARGS__))
#define FAIL(c, ...)                                        \
	do {                                                \
		SAY(c, __VA_ARGS__);                        \
		return NULL;                                \
	} while (0)
#define FAIL_OUT(c, ...)                                    \
	do {                                                \
		SAY(c, __VA_ARGS__);                        \
		goto out;                                   \
	} while (0)

static json_t *m_ccl_status(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			    size_t len)
{
	const struct ccl_backend *b = backend(s);

	return json_pack("{s:s?, s:s?, s:o}", "backend", b ? b->name : NULL, "extras",
			 b && b->extras ? b->extras() : NULL, "comms", ccl_table_json(s->ccl));
}

static void nap_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Stop at a call boundary, GPU not drained (a collective may wait for a
 * peer). With patience_ms: a call still in its turn after that long may be
 * waiting for a peer in the call itself (NCCL setting up connections)
 * which another rank's cut_begin already stopped; the proxy lets go and
 * answers XMIG_RPC_AGAIN, so the orchestrator lets every rank run on and
 * tries again (cmd/cut.c).
 */
static json_t *m_cut_begin(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			   size_t len)
{
	json_int_t t = json_integer_value(json_object_get(p, "timeout_ms"));
	json_int_t patience = json_integer_value(json_object_get(p, "patience_ms"));
	uint64_t t0 = xmig_now_ns(), deadline = t0 + (uint64_t)(t > 0 ? t : 60000) * 1000000ull;

	if (atomic_load(&s->hdr->owner_id) != s->attach_id || s->standby)
		FAIL(XMIG_RPC_STATE, "this proxy does not serve the job (any more)");
	if (srv_held_by_another(s, cc))
		FAIL(XMIG_RPC_BUSY, SRV_BUSY_MSG);
	atomic_store(&s->freeze_requested, 1);
	if (!s->freeze_holder)
		s->freeze_holder = cc;   /* let go if the orchestrator goes away */
	while (atomic_load(&s->in_turn)) {
		if (patience > 0 && xmig_now_ns() - t0 > (uint64_t)patience * 1000000ull) {
			srv_thaw(s);
			FAIL(XMIG_RPC_AGAIN, "a call was still in its turn after %lld ms (it may wait "
			     "for a peer); nothing was done", (long long)patience);
		}
		if (xmig_now_ns() > deadline) {
			srv_thaw(s);
			FAIL(XMIG_RPC_FAILED, "no call boundary within the timeout");
		}
		nap_us(50);
	}
	/*
	 * A re-link makes every rank capture again its graphs with NCCL calls
	 * (srv_graph_relinked): a rank holding one that cannot be, or in the
	 * middle of such a capture, is neither cut nor re-linked.
	 */
	if (srv_graph_refuses_relink(s, msg, len) < 0) {
		srv_thaw(s);
		*code = XMIG_RPC_REFUSED;
		return NULL;
	}
	return json_pack("{s:o}", "comms", ccl_cut_report(table(s)));
}

/*
 * The gate goes: no worker reads the targets once this returns. A worker
 * sets in_turn before it reads s->ccl_cut (srv_ccl_hold), and even a
 * frozen proxy's worker does so for a moment when its ticket comes up;
 * seen clear after the pointer is cleared, none still holds the old one.
 */
static void cut_end(struct srv *s, struct ccl_cut *cut)
{
	atomic_store(&s->ccl_cut, NULL);
	while (atomic_load(&s->in_turn))
		xmig_cpu_relax();
	ccl_cut_free(cut);
	free(cut);
}

/* Run on to the targets and no further, then drain: the job is frozen at the cut. */
static json_t *m_cut_advance(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			     size_t len)
{
	json_int_t t = json_integer_value(json_object_get(p, "timeout_ms"));
	uint64_t t0 = xmig_now_ns(), limit = (uint64_t)(t > 0 ? t : 60000) * 1000000ull;
	struct ccl_cut *cut = calloc(1, sizeof(*cut));
	char why[256];

	if (!cut)
		FAIL(XMIG_RPC_FAILED, "out of memory");
	if (ccl_cut_parse(json_object_get(p, "targets"), cut, why, sizeof(why)) < 0) {
		free(cut);
		FAIL(XMIG_RPC_INVALID_PARAMS, "%s", why);
	}
	table(s);
	s->ccl_cut = cut;
	srv_thaw(s);   /* workers run again, through the gate */
	while (!ccl_cut_reached(s->ccl, cut)) {
		if (xmig_now_ns() - t0 > limit) {
			cut_end(s, cut);
			srv_thaw(s);
			FAIL(XMIG_RPC_FAILED, "the ranks did not reach the cut within the timeout "
			     "(a call that would pass it waits for one that never came); the job goes on");
		}
		nap_us(100);
	}
	/* the gate holds every call now; drain what was posted */
	if (srv_freeze(s, limit) < 0) {
		cut_end(s, cut);
		srv_thaw(s);
		FAIL(XMIG_RPC_FAILED, "the GPU did not drain; the job goes on");
	}
	cut_end(s, cut);
	s->freeze_holder = cc;
	return json_pack("{s:s, s:o, s:f}", "state", "frozen", "comms", ccl_cut_report(s->ccl),
			 "cut_s", (double)(xmig_now_ns() - t0) / 1e9);
}

static json_t *m_unique_id(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			   size_t len)
{
	unsigned char id[XMIG_CCL_ID_BYTES];
	char hex[2 * XMIG_CCL_ID_BYTES + 1];
	int st;

	if (!backend(s))
		FAIL(XMIG_RPC_STATE, "NCCL is not forwarded to a %s device", s->dev->name);
	if ((st = backend(s)->unique_id(s->devh, id)))
		FAIL(XMIG_RPC_FAILED, "ncclGetUniqueId failed: %d", st);
	for (int i = 0; i < XMIG_CCL_ID_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	return json_pack("{s:s}", "id", hex);
}

/* A unique id from its hex form (256 digits); -1 if it is not one. */
static int parse_id(const char *hex, unsigned char id[XMIG_CCL_ID_BYTES])
{
	size_t len = 0;
	unsigned char *v = xmig_hex_decode(hex, &len);
	int r = v && len == XMIG_CCL_ID_BYTES ? 0 : -1;

	if (!r)
		memcpy(id, v, XMIG_CCL_ID_BYTES);
	free(v);
	return r;
}

/* The peers a rank exchanged sends and receives with (ccl.prelink's p2p_send, p2p_recv). */
struct peers {
	int *send_to, *recv_from;
	int nsend, nrecv;
};

/* a: distinct ranks of nranks, not rank; -1 if not so (or out of memory). */
static int peers_of(json_t *a, int nranks, int rank, int **out, int *n)
{
	json_t *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > (size_t)nranks ||
	    !(*out = calloc(json_array_size(a) + 1, sizeof(**out))))
		return -1;
	json_array_foreach(a, i, v) {
		json_int_t r = json_integer_value(v);

		if (!json_is_integer(v) || r < 0 || r >= nranks || r == rank)
			return -1;
		for (int k = 0; k < *n; k++)
			if ((*out)[k] == r)
				return -1;
		(*out)[(*n)++] = (int)r;
	}
	return 0;
}

/*
 * phys's connections made now, meeting every rank (the backend's
 * connect_ahead: NCCL's runtime connect, by a small all-reduce on a
 * stream of the proxy's own). Past timeout_ms the communicator is
 * aborted, which ends its kernel, still waiting for a peer: *aborted.
 * 0 or an ncclResult_t.
 */
static int connect_now(struct srv *s, void *phys, json_int_t timeout_ms, const struct peers *p,
		       bool *aborted)
{
	const struct ccl_backend *b = backend(s);
	uint64_t deadline = xmig_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	void *stream = NULL, *scratch = NULL;
	int st, q = 0;

	*aborted = false;
	if (!b->calls_wait && s->dev->stream_create(s->devh, cudaStreamNonBlocking, 0, &stream))
		return ncclUnhandledCudaError;
	st = b->connect_ahead(s->devh, phys, stream, (int)timeout_ms, p->send_to, p->nsend,
			      p->recv_from, p->nrecv, &scratch);
	while (!st && stream && (q = s->dev->stream_query(s->devh, stream)) == cudaErrorNotReady) {
		if (xmig_now_ns() > deadline) {
			b->end(s->devh, phys, XMIG_CCL_ABORT);
			*aborted = true;
			break;
		}
		nap_us(200);
	}
	if (!st && !*aborted && q)
		st = ncclUnhandledCudaError;
	if (stream) {
		s->dev->stream_sync(s->devh, stream);
		s->dev->stream_destroy(s->devh, stream);
	}
	if (b->scratch_free)
		b->scratch_free(s->devh, scratch);
	return *aborted ? ncclRemoteError : st;
}

/*
 * Ahead of a cut, while the job runs: the physical communicator that the
 * cut's re-link (ccl.relink with the same id) will put under the logical
 * one, built from id now and connected (connect_timeout_ms). comm: the
 * communicator's entry in the status of the proxy that serves the rank
 * (a standby has no logical communicator of several ranks yet: it learns
 * the rank and configuration from it). check: only whether it can be done
 * here, so that no rank starts an init its peers would never join.
 */
static json_t *m_prelink(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			 size_t len)
{
	const char *key = json_string_value(json_object_get(p, "key"));
	const char *layout = json_string_value(json_object_get(p, "layout"));
	json_int_t tmo = json_integer_value(json_object_get(p, "connect_timeout_ms"));
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	struct ccl_cache_files f;
	struct srv_prelink *pre = NULL, *was;
	struct peers peers = { 0 };
	struct ccl_table tmp;
	struct ccl_comm *want = NULL;
	bool serving = atomic_load(&s->hdr->owner_id) == s->attach_id && !s->standby;
	bool cached, aborted = false, gone;
	json_t *res = NULL;
	uint64_t t0;
	int st;

	ccl_table_init(&tmp);
	if (tmo <= 0)
		tmo = 10000;
	if (!backend(s) || !backend(s)->connect_ahead)
		FAIL_OUT(XMIG_RPC_STATE, "communicators are not built ahead on a %s device",
			     s->dev->name);
	if (!key || parse_id(json_string_value(json_object_get(p, "id")), id[0]) < 0 ||
	    !(want = ccl_comm_from_json(&tmp, json_object_get(p, "comm"))) ||
	    want->key != strtoull(key, NULL, 16) || want->nranks < 2 ||
	    peers_of(json_object_get(p, "p2p_send"), want->nranks, want->rank, &peers.send_to,
		     &peers.nsend) < 0 ||
	    peers_of(json_object_get(p, "p2p_recv"), want->nranks, want->rank, &peers.recv_from,
		     &peers.nrecv) < 0)
		FAIL_OUT(XMIG_RPC_INVALID_PARAMS, "key, id (256 hex digits) and comm (the "
			     "communicator's status entry, of several ranks) are needed; p2p_send "
			     "and p2p_recv, if given, list other ranks of it, each once");
	/*
	 * (a serving proxy's own status gave comm a moment ago; its table is
	 * not read here, off the turn: a re-link checks it, frozen, and one
	 * built ahead for a communicator gone since is never put in place)
	 */
	if (serving && srv_held_by_another(s, cc))
		FAIL_OUT(XMIG_RPC_BUSY, SRV_BUSY_MSG);
	if (!serving && (!s->standby || !s->ccl_relink))
		FAIL_OUT(XMIG_RPC_STATE, "this proxy neither serves the job nor stands by to "
			     "re-link it");
	if (xmig_fault("ccl-prelink-fail"))
		FAIL_OUT(XMIG_RPC_FAILED, "XMIG_FAULT=ccl-prelink-fail");
	if (json_is_true(json_object_get(p, "check"))) {
		res = json_pack("{s:s, s:b}", "key", key, "check", 1);
		goto out;
	}
	if (!(pre = calloc(1, sizeof(*pre))))
		FAIL_OUT(XMIG_RPC_FAILED, "out of memory");
	t0 = xmig_now_ns();
	st = init_phys(s, want, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])id, layout,
		       &pre->phys, &f, &cached);
	pre->build_s = (double)(xmig_now_ns() - t0) / 1e9;
	if (st)
		FAIL_OUT(XMIG_RPC_FAILED, "building communicator %s ahead failed: NCCL error %d",
			     key, st);
	/* XMIG_FAULT=ccl-prelink-no-connect: built, then not connected; the peers wait for it */
	if (!xmig_fault("ccl-prelink-no-connect")) {
		t0 = xmig_now_ns();
		if ((st = connect_now(s, pre->phys, tmo, &peers, &aborted))) {
			char said[160] = "";

			if (!aborted) {
				snprintf(said, sizeof(said), "%s",
					 backend(s)->last_error(s->devh, pre->phys) ?: "");
				backend(s)->end(s->devh, pre->phys, XMIG_CCL_ABORT);
			}
			FAIL_OUT(XMIG_RPC_FAILED, "communicator %s was built ahead and not "
				     "connected: the ranks did not meet in its first collective "
				     "within %lld ms (NCCL error %d%s%s); it was aborted", key,
				     (long long)tmo, st, *said ? ": " : "", said);
		}
		pre->connect_s = (double)(xmig_now_ns() - t0) / 1e9;
	}
	pre->key = strtoull(key, NULL, 16);
	memcpy(pre->id, id[0], XMIG_CCL_ID_BYTES);
	pre->owner = cc;
	/* one per communicator: an earlier one (another attempt's) goes */
	was = prelink_take(s, pre->key);
	pthread_mutex_lock(&prelink_lock);
	gone = ctl_conn_closing(cc);   /* (its close already retired what it owned) */
	if (!gone) {
		pre->next = s->ccl_prelinks;
		s->ccl_prelinks = pre;
	}
	pthread_mutex_unlock(&prelink_lock);
	if (was)
		prelink_retire(s, was);
	if (gone) {
		prelink_retire(s, pre);
		pre = NULL;
		FAIL_OUT(XMIG_RPC_STATE, "the connection that asked for communicator %s is gone",
			     key);
	}
	xmig_info("communicator %s built ahead in %.1f ms and connected in %.1f ms (peers: %d "
		  "sent to, %d received from), while the job runs", key, pre->build_s * 1e3,
		  pre->connect_s * 1e3, peers.nsend, peers.nrecv);
	res = json_pack("{s:s, s:f, s:f}", "key", key, "build_s", pre->build_s, "connect_s",
			pre->connect_s);
	pre = NULL;   /* (the list's now) */
out:
	free(pre);    /* (its communicator, if any, is ended above) */
	free(peers.send_to);
	free(peers.recv_from);
	ccl_table_free(&tmp);
	return res;
}

/* c takes pre's communicator (as link_phys does); pre is used up. */
static int adopt(struct srv *s, struct ccl_comm *c, struct srv_prelink *pre)
{
	uint64_t t0 = xmig_now_ns();
	int st = link_phys(s, c, pre->phys);

	if (!st)
		c->rebuild_s = (double)(xmig_now_ns() - t0) / 1e9;
	free(pre);
	return st;
}

/*
 * While frozen: a new physical communicator under a logical one, from a
 * fresh id: the one built ahead from it (ccl.prelink), or one built now,
 * while the old one still exists (nothing runs on it: the job is frozen,
 * and once the new one is under the logical communicator nothing can
 * reach it); then the old one is retired.
 */
static json_t *m_relink(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			size_t len)
{
	const char *key = json_string_value(json_object_get(p, "key"));
	const char *layout = json_string_value(json_object_get(p, "layout"));
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	struct srv_prelink *pre;
	struct ccl_comm *cm;
	double ahead_s = 0;
	bool ahead;
	size_t released;
	void *old;
	int st;

	if (!key || parse_id(json_string_value(json_object_get(p, "id")), id[0]) < 0)
		FAIL(XMIG_RPC_INVALID_PARAMS, "key and id (256 hex digits) are needed");
	if (!srv_frozen(s))
		FAIL(XMIG_RPC_STATE, "re-linking needs the job frozen at a cut");
	if (!s->ccl || !(cm = ccl_comm_by_key(s->ccl, strtoull(key, NULL, 16))))
		FAIL(XMIG_RPC_NOTFOUND, "no communicator %s here", key);
	/* built ahead from another id: an attempt this re-link does not use */
	if ((pre = prelink_take(s, cm->key)) && memcmp(pre->id, id[0], XMIG_CCL_ID_BYTES)) {
		prelink_retire(s, pre);
		pre = NULL;
	}
	if ((ahead = pre != NULL))
		ahead_s = pre->build_s + pre->connect_s;
	old = cm->phys;
	if ((st = pre ? adopt(s, cm, pre)
		      : build(s, cm, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])id, layout,
			      true))) {
		/* nothing to go on with: the old one (its peer may be gone) is aborted now */
		if (old)
			backend(s)->end(s->devh, old, XMIG_CCL_ABORT);
		cm->phys = NULL;
		FAIL(XMIG_RPC_FAILED, "re-linking communicator %s failed: NCCL error %d", key, st);
	}
	/* the old one's peer may be gone: aborted, not destroyed, and not now */
	if (old)
		retire_phys(s, old, cm->key, false);
	released = srv_graph_relinked(s, cm->id);
	return json_pack("{s:s, s:I, s:f, s:b, s:I, s:b, s:f}", "key", key, "generation",
			 (json_int_t)cm->generation, "rebuild_s", cm->rebuild_s, "retired",
			 old != NULL, "graphs_released", (json_int_t)released, "built_ahead",
			 ahead, "ahead_s", ahead_s);
}

const struct ctl_method srv_ccl_methods[] = {
	{ "ccl.status", m_ccl_status, false },
	{ "ccl.cut_begin", m_cut_begin, true },
	{ "ccl.cut_advance", m_cut_advance, true },
	{ "ccl.unique_id", m_unique_id, true },
	{ "ccl.prelink", m_prelink, true },
	{ "ccl.relink", m_relink, true },
	{ NULL, NULL, false },
};
