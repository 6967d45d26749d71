/*
 * srv-cudnn.c - cuDNN's backend (graph) API in the proxy: handles and
 * descriptors made on the backend (dnn-cuda.c, dnn-sim.c) under the
 * logical ids the application holds, every successful setup call written
 * to the log (dnn-log.c) that a next proxy replays after a move (state.c).
 * Setup calls wait for their status; Execute is posted. Statuses are
 * cudnnStatus_t values.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "dnn-delta.h"
#include "server.h"

static int unsupported(struct srv *s, const char *what)
{
	xmig_error("%s: cuDNN is not available on this proxy's device (%s)", what, s->dev->name);
	return CUDNN_STATUS_NOT_SUPPORTED;
}

/* Payload bytes the request carries beyond its fixed part. */
static size_t extra_bytes(const struct xmig_call *c, size_t fixed)
{
	size_t have = c->req->len - sizeof(*c->req);

	return have > fixed ? have - fixed : 0;
}

/* XMIG_DNN_TRACE=1: every cuDNN call the proxy makes that fails, on stderr. */
static int traced(const char *what, uint64_t id, int name, int type, int64_t count, int st)
{
	static int on = -1;

	if (on < 0)
		on = xmig_env_flag("XMIG_DNN_TRACE");
	if (on && st)
		fprintf(stderr, "xmig-proxy: cuDNN %s of descriptor %llu (name %d, type %d, "
			"count %lld) -> status %d\n", what, (unsigned long long)id, name, type,
			(long long)count, st);
	return st;
}

int d_DNN_INFO(struct xmig_call *c)
{
	struct xmig_dnn_info_res *r = c->res;
	struct srv *s = c->srv;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (!s->dev->dnn_info)
		return unsupported(s, "cudnnGetVersion");
	return s->dev->dnn_info(s->devh, r);
}

int d_DNN_CREATE(struct xmig_call *c)
{
	struct xmig_dnn_id_res *r = c->res;
	struct srv *s = c->srv;
	void *h = NULL;
	int st;

	r->id = 0;
	c->res_len = sizeof(*r);
	if (!s->dev->dnn_create)
		return unsupported(s, "cudnnCreate");
	if ((st = s->dev->dnn_create(s->devh, &h)))
		return st;
	/* A new handle works on the legacy default stream. */
	if (!(r->id = dnn_log_add(&s->dnn, DNN_HANDLE, 0, h))) {
		s->dev->dnn_destroy(s->devh, h);
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	}
	return CUDNN_STATUS_SUCCESS;
}

static int destroy(struct xmig_call *c, int kind)
{
	const struct xmig_dnn_id_req *a = c->args;
	struct srv *s = c->srv;
	struct dnn_obj *o = dnn_log_live(&s->dnn, a->id, kind);
	int st;

	if (!o)
		return CUDNN_STATUS_BAD_PARAM;
	st = kind == DNN_HANDLE ? s->dev->dnn_destroy(s->devh, o->h)
				: s->dev->dnn_desc_destroy(s->devh, o->h);
	/* (a graph that executed it still runs here; another proxy could not capture it again) */
	srv_graph_dnn_destroyed(s, o->serial);
	dnn_log_destroy(&s->dnn, a->id);
	return st;
}

int d_DNN_DESTROY(struct xmig_call *c)
{
	return destroy(c, DNN_HANDLE);
}

int d_DNN_DESC_DESTROY(struct xmig_call *c)
{
	return destroy(c, DNN_DESC);
}

int d_DNN_SET_STREAM(struct xmig_call *c)
{
	const struct xmig_dnn_stream_req *a = c->args;
	struct srv *s = c->srv;
	struct dnn_obj *o = dnn_log_live(&s->dnn, a->id, DNN_HANDLE);
	struct srv_stream *st = srv_stream(c, a->stream);
	int r = CUDNN_STATUS_BAD_PARAM;

	/* Posted: a failure shows at the application's next synchronising call. */
	if (!o || !st || (r = s->dev->dnn_set_stream(s->devh, o->h, st->h))) {
		xmig_error("cudnnSetStream of handle %llu failed with status %d",
			   (unsigned long long)a->id, r);
		return cudaErrorUnknown;
	}
	o->stream = a->stream;
	return 0;
}

int d_DNN_DESC_CREATE(struct xmig_call *c)
{
	const struct xmig_dnn_desc_create_req *a = c->args;
	struct xmig_dnn_id_res *r = c->res;
	struct srv *s = c->srv;
	void *d = NULL;
	int st;

	r->id = 0;
	c->res_len = sizeof(*r);
	if (!s->dev->dnn_desc_create)
		return unsupported(s, "cudnnBackendCreateDescriptor");
	if ((st = s->dev->dnn_desc_create(s->devh, a->type, &d)))
		return st;
	if (!(r->id = dnn_log_add(&s->dnn, DNN_DESC, a->type, d))) {
		s->dev->dnn_desc_destroy(s->devh, d);
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	}
	return CUDNN_STATUS_SUCCESS;
}

int d_DNN_SET_ATTR(struct xmig_call *c)
{
	const struct xmig_dnn_attr_req *a = c->args;
	struct srv *s = c->srv;
	struct dnn_obj *o = dnn_log_live(&s->dnn, a->id, DNN_DESC);
	size_t size = xmig_dnn_elem_size(a->type), bytes;
	void *native;
	int st;

	if (!o)
		return CUDNN_STATUS_BAD_PARAM;
	if (!size || a->count < 0 || (uint64_t)a->count > XMIG_DNN_ATTR_MAX ||
	    (bytes = (size_t)a->count * size) > extra_bytes(c, sizeof(*a)))
		return CUDNN_STATUS_BAD_PARAM;
	if (!(native = malloc(bytes ? bytes : 1)))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	if (dnn_log_native(&s->dnn, a->type, a->count, a->elems, native)) {
		free(native);
		return CUDNN_STATUS_BAD_PARAM;   /* names a destroyed object */
	}
	st = traced("set", a->id, a->name, a->type, a->count,
		    s->dev->dnn_set_attr(s->devh, o->h, a->name, a->type, a->count, native));
	free(native);
	if (!st && dnn_log_set(&s->dnn, a->id, a->name, a->type, a->count, a->elems))
		st = CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	return st;
}

/* Backend handles in an answer back to ids (0 for one unknown here). */
static void handles_to_ids(struct srv *s, int64_t n, void *elems)
{
	for (int64_t i = 0; i < n; i++) {
		uint64_t id = dnn_log_handle_id(&s->dnn, ((void **)elems)[i]);

		memcpy((char *)elems + i * sizeof(id), &id, sizeof(id));
	}
}

int d_DNN_GET_ATTR(struct xmig_call *c)
{
	const struct xmig_dnn_attr_req *a = c->args;
	struct xmig_dnn_get_res *r = c->res;
	struct srv *s = c->srv;
	struct dnn_obj *o = dnn_log_live(&s->dnn, a->id, DNN_DESC);
	size_t size = xmig_dnn_elem_size(a->type), bytes;
	bool fills = a->type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
	uint64_t *targets = NULL;
	int st;

	r->count = 0;
	c->res_len = sizeof(*r);
	if (!o)
		return traced("get (no such descriptor)", a->id, a->name, a->type, a->count,
			      CUDNN_STATUS_BAD_PARAM);
	if (!size || a->count < 0 || (bytes = (size_t)a->count * size) > XMIG_DNN_GET_MAX ||
	    (fills && bytes > extra_bytes(c, sizeof(*a))))
		return traced("get (bad size)", a->id, a->name, a->type, a->count,
			      CUDNN_STATUS_BAD_PARAM);
	/* Descriptors to fill are the caller's: they arrive as ids. */
	if (fills && a->count) {
		if (!(targets = malloc(bytes)))
			return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
		memcpy(targets, a->elems, bytes);
		if (dnn_log_native(&s->dnn, a->type, a->count, targets, r->elems)) {
			free(targets);
			return traced("get (targets unknown)", a->id, a->name, a->type, a->count,
				      CUDNN_STATUS_BAD_PARAM);
		}
	}
	st = traced("get", a->id, a->name, a->type, a->count,
		    s->dev->dnn_get_attr(s->devh, o->h, a->name, a->type, a->count, &r->count,
					 a->count ? r->elems : NULL));
	if (!st && fills && a->count) {
		memcpy(r->elems, targets, bytes);   /* the same descriptors, now filled */
		if (dnn_log_fill(&s->dnn, a->id, a->name, a->type, a->count, targets))
			st = CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	} else if (!st && a->type == CUDNN_TYPE_HANDLE) {
		handles_to_ids(s, r->count < a->count ? r->count : a->count, r->elems);
	}
	free(targets);
	c->res_len = (uint32_t)(sizeof(*r) + bytes);
	return st;
}

int d_DNN_FINALIZE(struct xmig_call *c)
{
	const struct xmig_dnn_id_req *a = c->args;
	struct srv *s = c->srv;
	struct dnn_obj *o = dnn_log_live(&s->dnn, a->id, DNN_DESC);
	int st;

	if (!o)
		return CUDNN_STATUS_BAD_PARAM;
	if (!(st = traced("finalize", a->id, 0, 0, 0, s->dev->dnn_finalize(s->devh, o->h))) &&
	    dnn_log_finalize(&s->dnn, a->id))
		st = CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	return st;
}

/*
 * The application's variant pack lives in the client; here it becomes a
 * real one for this one call, as cuDNN's frontend itself does per call.
 */
int srv_dnn_execute_local(const struct xmig_device_ops *d, void *devh,
			  const struct xmig_dnn_execute_req *a, void *handle, void *plan)
{
	int64_t uids[XMIG_DNN_VP_MAX];
	void *ptrs[XMIG_DNN_VP_MAX], *vp = NULL, *ws = (void *)(uintptr_t)a->workspace;
	int st;

	for (uint32_t i = 0; i < a->n; i++) {
		const struct xmig_dnn_vp_entry *e = &a->entries[i];

		uids[i] = e->uid;
		/* A by-value scalar: its bytes came along, in the request. */
		ptrs[i] = e->value_bytes ? (void *)e->value : (void *)(uintptr_t)e->ptr;
	}
	if ((st = d->dnn_desc_create(devh, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp)))
		return st;
	if (!(st = d->dnn_set_attr(devh, vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
				   CUDNN_TYPE_INT64, a->n, uids)) &&
	    !(st = d->dnn_set_attr(devh, vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
				   CUDNN_TYPE_VOID_PTR, a->n, ptrs)) &&
	    !(st = a->has_workspace ? d->dnn_set_attr(devh, vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
						      CUDNN_TYPE_VOID_PTR, 1, &ws)
				    : 0) &&
	    !(st = a->nintermediates
			   ? d->dnn_set_attr(devh, vp, CUDNN_ATTR_VARIANT_PACK_INTERMEDIATES,
					     CUDNN_TYPE_VOID_PTR, a->nintermediates,
					     a->intermediates)
			   : 0) &&
	    !(st = d->dnn_finalize(devh, vp)))
		st = d->dnn_execute(devh, handle, plan, vp);
	d->dnn_desc_destroy(devh, vp);
	return st;
}

int d_DNN_EXECUTE(struct xmig_call *c)
{
	const struct xmig_dnn_execute_req *a = c->args;
	struct srv *s = c->srv;
	struct dnn_obj *h = dnn_log_live(&s->dnn, a->handle, DNN_HANDLE);
	struct dnn_obj *p = dnn_log_live(&s->dnn, a->plan, DNN_DESC);
	int st = CUDNN_STATUS_BAD_PARAM;

	/* Posted: the application learns of a failure at its next synchronising call. */
	if (!s->dev->dnn_execute)
		st = unsupported(s, "cudnnBackendExecute");
	else if (h && p && a->n <= XMIG_DNN_VP_MAX && a->nintermediates <= 4 &&
		 a->n * sizeof(a->entries[0]) <= extra_bytes(c, sizeof(*a)))
		st = s->dev->dnn_run ? s->dev->dnn_run(s->devh, h->h, p->h, a)
				     : srv_dnn_execute_local(s->dev, s->devh, a, h->h, p->h);
	if (st) {
		xmig_error("cudnnBackendExecute of plan %llu on handle %llu failed with status %d",
			   (unsigned long long)a->plan, (unsigned long long)a->handle, st);
		return cudaErrorUnknown;
	}
	srv_dnn_run_note(s, a, p->serial);
	return 0;
}

int d_DNN_LAST_ERROR(struct xmig_call *c)
{
	struct xmig_dnn_error_res *r = c->res;
	struct srv *s = c->srv;

	r->message[0] = '\0';
	c->res_len = sizeof(*r);
	if (s->dev->dnn_last_error)
		s->dev->dnn_last_error(s->devh, r->message, sizeof(r->message));
	return 0;
}

/* ---- after a move or a restore ---------------------------------------------- */

/* Set the backend handle h of o to work on o's stream. */
static int replay_stream(struct srv *s, struct dnn_obj *o, void *h)
{
	struct srv_stream *st = srv_stream_of(s, o->stream);
	int r = st ? s->dev->dnn_set_stream(s->devh, h, st->h) : CUDNN_STATUS_BAD_PARAM;

	if (!r)
		o->bound_stream = o->stream;
	return r;
}

static int replay_create(void *ctx, struct dnn_obj *o)
{
	struct srv *s = ctx;
	int r;

	s->restored.made++;
	if (o->kind == DNN_DESC)
		return s->dev->dnn_desc_create(s->devh, o->type, &o->h);
	if ((r = s->dev->dnn_create(s->devh, &o->h)))
		return r;
	return replay_stream(s, o, o->h);
}

static int replay_destroy(void *ctx, struct dnn_obj *o)
{
	struct srv *s = ctx;

	return o->kind == DNN_DESC ? s->dev->dnn_desc_destroy(s->devh, o->h)
				   : s->dev->dnn_destroy(s->devh, o->h);
}

static int replay_set(void *ctx, struct dnn_obj *o, int name, int type, int64_t count,
		      const void *elems)
{
	struct srv *s = ctx;

	return s->dev->dnn_set_attr(s->devh, o->h, name, type, count, elems);
}

static int replay_finalize(void *ctx, struct dnn_obj *o)
{
	struct srv *s = ctx;

	return s->dev->dnn_finalize(s->devh, o->h);
}

static int replay_fill(void *ctx, struct dnn_obj *src, int name, int type, int64_t count,
		       void *const *targets)
{
	struct srv *s = ctx;
	void **elems = malloc(count * sizeof(void *) + 1);
	int64_t got = 0;
	int r;

	if (!elems)
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	memcpy(elems, targets, count * sizeof(void *));
	r = s->dev->dnn_get_attr(s->devh, src->h, name, type, count, &got, elems);
	free(elems);
	return r;
}

static const struct dnn_replay_ops replay_ops = {
	.create = replay_create,
	.destroy = replay_destroy,
	.set = replay_set,
	.finalize = replay_finalize,
	.fill = replay_fill,
};

/* A kept handle's stream again, where it changed or was made again. */
static int restream(struct srv *s, struct dnn_log *l)
{
	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(l, id);
		struct srv_stream *st;
		int r;

		if (!o || !o->h || o->kind != DNN_HANDLE)
			continue;
		/* still on the stream it was made ahead on, and that stream kept */
		if (o->bound_stream == o->stream && (st = srv_stream_of(s, o->stream)) && !st->remade)
			continue;
		if ((r = replay_stream(s, o, o->h)))
			return r;
	}
	return 0;
}

int srv_dnn_restream(struct srv *s)
{
	for (uint64_t id = s->dnn.objs.first; id < s->dnn.objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(&s->dnn, id);
		int r;

		if (o && o->h && o->kind == DNN_HANDLE && o->bound_stream != o->stream &&
		    (r = replay_stream(s, o, o->h)))
			return r;
	}
	return 0;
}

/* ---- an Execute in a CUDA graph's capture ------------------------------------ */

int srv_dnn_captured(struct srv *s, const struct xmig_dnn_execute_req *a,
		     struct srv_dnn_captured *out)
{
	struct dnn_obj *h = dnn_log_live(&s->dnn, a->handle, DNN_HANDLE);
	struct dnn_obj *p = dnn_log_live(&s->dnn, a->plan, DNN_DESC);

	if (!h || !p)
		return -1;
	*out = (struct srv_dnn_captured){ h->stream, h->serial, p->serial };
	return 0;
}

int srv_dnn_rebind(struct srv *s, const struct srv_dnn_captured *was,
		   const struct xmig_dnn_execute_req *a)
{
	struct dnn_obj *h = dnn_log_live(&s->dnn, a->handle, DNN_HANDLE);
	struct dnn_obj *p = dnn_log_live(&s->dnn, a->plan, DNN_DESC);
	struct srv_stream *st = srv_stream_of(s, was->stream);
	int r;

	/* (a destroyed one marks the log unmovable: not these, unless the state is damaged) */
	if (!h || !p || h->serial != was->handle_serial || p->serial != was->plan_serial) {
		xmig_error("a CUDA graph's cuDNN Execute names handle %llu and plan %llu, which "
			   "are not the objects it was captured with", (unsigned long long)a->handle,
			   (unsigned long long)a->plan);
		return cudaErrorInvalidResourceHandle;
	}
	if (!st) {
		xmig_error("a CUDA graph's cuDNN Execute ran on stream %llu, which the state lacks",
			   (unsigned long long)was->stream);
		return cudaErrorInvalidResourceHandle;
	}
	/* (the handles are current by now: srv_dnn_restore ran after the streams were made) */
	if (h->bound_stream == was->stream)
		return 0;
	if ((r = s->dev->dnn_set_stream(s->devh, h->h, st->h))) {
		xmig_error("cudnnSetStream of handle %llu failed with status %d",
			   (unsigned long long)a->handle, r);
		return cudaErrorUnknown;
	}
	h->bound_stream = was->stream;
	return 0;
}

/* XMIG_FAULT=dnn-ahead-fail: the standby's replay ahead fails (its log is gone). */
static bool ahead_fails(void)
{
	const char *f = getenv("XMIG_FAULT");

	return f && !strcmp(f, "dnn-ahead-fail");
}

int srv_dnn_restore(struct srv *s, json_t *m, bool ahead)
{
	json_t *delta = json_object_get(m, "cudnn_delta");
	struct dnn_log now;
	int st;

	/*
	 * At the freeze, the log as in the prelude (most moves: a job makes its
	 * plans in its first steps): what was made ahead is it. Rebuilt and
	 * compared object by object instead, a GPT's log took 0.2-0.5 ms of
	 * the job's pause.
	 */
	if (delta && !ahead && s->dnn_ahead && dnn_delta_is_base(delta, &s->dnn)) {
		s->dnn_ahead = false;
		for (uint64_t id = s->dnn.objs.first; id < s->dnn.objs.next; id++) {
			struct dnn_obj *o = dnn_log_get(&s->dnn, id);

			s->restored.kept += o && o->h;
		}
		if ((st = restream(s, &s->dnn)))
			dnn_log_release(&s->dnn, &replay_ops, s);
		return st;
	}
	dnn_log_init(&now);
	/* a delta names the prelude's log, which only a replay ahead leaves in s->dnn */
	if (delta ? !s->dnn_ahead || dnn_log_from_delta(&now, delta, &s->dnn) < 0
		  : dnn_log_from_json(&now, json_object_get(m, "cudnn")) < 0) {
		dnn_log_clear(&now);
		return -1;
	}
	/* (ahead again: a refresh of the prelude, advancing what the prelude made) */
	bool made_ahead = s->dnn_ahead;

	s->dnn_ahead = false;
	if (!now.objs.count) {
		dnn_log_release(&s->dnn, &replay_ops, s);
		dnn_log_clear(&s->dnn);
		s->dnn = now;
		s->dnn_ahead = ahead;
		return 0;
	}
	if (!s->dev->dnn_create) {
		dnn_log_clear(&now);
		return unsupported(s, "replaying cuDNN descriptors");
	}
	/* Made ahead from the prelude (a move's while the job ran): bring it up to date. */
	st = s->dnn.objs.count && (!ahead || made_ahead)
		     ? dnn_log_advance(&s->dnn, &now, &replay_ops, s) : -1;
	if (st == 0) {
		s->restored.kept += now.kept;
		st = restream(s, &now);
	} else if (st < 0) {
		dnn_log_release(&s->dnn, &replay_ops, s);
		st = ahead && ahead_fails() ? CUDNN_STATUS_INTERNAL_ERROR
					    : dnn_log_replay(&now, &replay_ops, s);
	}
	if (st)
		dnn_log_release(&now, &replay_ops, s);
	if (st && ahead)
		dnn_log_clear(&now);   /* nothing made ahead: the final replay makes it all */
	dnn_log_clear(&s->dnn);
	s->dnn = now;
	s->dnn_ahead = ahead && !st;
	return st;
}
