/*
 * dnn-log.c - cuDNN handles and descriptors by logical id, and the log of
 * the calls that set them up, replayed in call order by a new proxy.
 *
 * An object the application destroyed stays in the log (without a backend
 * object) while a live step still names it: a plan built from tensors
 * that were destroyed afterwards must be rebuilt from those tensors.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "server.h"

void dnn_log_init(struct dnn_log *l)
{
	memset(l, 0, sizeof(*l));
	srv_table_init(&l->objs, 1);
}

uint64_t dnn_log_add(struct dnn_log *l, int kind, int type, void *h)
{
	struct dnn_obj *o = calloc(1, sizeof(*o));

	if (!o)
		return 0;
	o->kind = kind;
	o->type = type;
	o->h = h;
	o->serial = ++l->next_serial;
	if (!(o->id = srv_table_add(&l->objs, o))) {
		free(o);
		return 0;
	}
	return o->id;
}

struct dnn_obj *dnn_log_get(const struct dnn_log *l, uint64_t id)
{
	return srv_table_get(&l->objs, id);
}

struct dnn_obj *dnn_log_live(const struct dnn_log *l, uint64_t id, int kind)
{
	struct dnn_obj *o = dnn_log_get(l, id);

	return o && !o->destroyed && o->kind == kind ? o : NULL;
}

uint64_t dnn_log_handle_id(const struct dnn_log *l, void *h)
{
	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(l, id);

		if (o && o->h == h && o->kind == DNN_HANDLE && !o->destroyed)
			return id;
	}
	return 0;
}

int dnn_log_native(const struct dnn_log *l, int type, int64_t count, const void *wire,
		   void *native)
{
	size_t bytes = (size_t)count * xmig_dnn_elem_size(type);

	if (!xmig_dnn_type_is_ref(type)) {
		memcpy(native, wire, bytes);
		return 0;
	}
	for (int64_t i = 0; i < count; i++) {
		uint64_t id;
		struct dnn_obj *o;

		memcpy(&id, (const char *)wire + i * sizeof(id), sizeof(id));
		o = dnn_log_live(l, id, type == CUDNN_TYPE_HANDLE ? DNN_HANDLE : DNN_DESC);
		if (!o)
			return -1;
		((void **)native)[i] = o->h;
	}
	return 0;
}

/* ---- references ------------------------------------------------------------- */

static uint64_t ref_at(const struct dnn_step *st, int64_t i)
{
	uint64_t id;

	memcpy(&id, st->elems + i * sizeof(id), sizeof(id));
	return id;
}

/* Apply fn to each object the step names other than as its owner. */
static void each_ref(const struct dnn_step *st, void (*fn)(struct dnn_log *, uint64_t),
		     struct dnn_log *l)
{
	if (st->kind == DNN_STEP_FILL)
		fn(l, st->desc);
	else if (st->kind == DNN_STEP_SET && xmig_dnn_type_is_ref(st->type))
		for (int64_t i = 0; i < st->count; i++)
			fn(l, ref_at(st, i));
}

static void ref_up(struct dnn_log *l, uint64_t id)
{
	struct dnn_obj *o = dnn_log_get(l, id);

	if (o)
		o->refs++;
}

static void ref_down(struct dnn_log *l, uint64_t id)
{
	struct dnn_obj *o = dnn_log_get(l, id);

	if (o && o->refs)
		o->refs--;
}

/* Does the step still matter: is one of its owners still in the log? */
static bool step_owned(const struct dnn_log *l, const struct dnn_step *st)
{
	if (st->kind != DNN_STEP_FILL)
		return dnn_log_get(l, st->desc) != NULL;
	for (int64_t i = 0; i < st->count; i++)
		if (dnn_log_get(l, ref_at(st, i)))
			return true;
	return false;
}

static void step_free(struct dnn_step *st)
{
	json_decref(st->json);
	free(st->elems);
	free(st->target_types);
}

static void remove_step(struct dnn_log *l, size_t i)
{
	each_ref(&l->steps[i], ref_down, l);
	step_free(&l->steps[i]);
	memmove(&l->steps[i], &l->steps[i + 1], (l->nsteps - i - 1) * sizeof(l->steps[0]));
	l->nsteps--;
}

/* Fills that made the object id name it no more: the id may be given to
 * another object, and a replay must not fill that one (a stand-in does). */
static void forget_target(struct dnn_log *l, uint64_t id)
{
	static const uint64_t none = 0;

	for (size_t i = 0; i < l->nsteps; i++)
		for (int64_t k = 0; l->steps[i].kind == DNN_STEP_FILL && k < l->steps[i].count; k++)
			if (ref_at(&l->steps[i], k) == id) {
				memcpy(l->steps[i].elems + k * sizeof(id), &none, sizeof(id));
				/* changed: not the step a standby got ahead (dnn-delta.c) */
				l->steps[i].serial = ++l->next_step;
				json_decref(l->steps[i].json);
				l->steps[i].json = NULL;
			}
}

/* Drop destroyed objects nothing names any more, and the steps only they
 * owned, until nothing changes (dropping a step can free another object). */
static void collect(struct dnn_log *l)
{
	bool changed = true;

	while (changed) {
		changed = false;
		for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
			struct dnn_obj *o = dnn_log_get(l, id);

			if (o && o->destroyed && !o->refs) {
				free(srv_table_remove(&l->objs, id));
				forget_target(l, id);
				changed = true;
			}
		}
		for (size_t i = 0; i < l->nsteps;) {
			if (step_owned(l, &l->steps[i])) {
				i++;
				continue;
			}
			remove_step(l, i);
			changed = true;
		}
	}
}

/* ---- recording -------------------------------------------------------------- */

static struct dnn_step *append(struct dnn_log *l)
{
	if (l->nsteps == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dnn_step *n = realloc(l->steps, cap * sizeof(*n));

		if (!n)
			return NULL;
		l->steps = n;
		l->cap = cap;
	}
	memset(&l->steps[l->nsteps], 0, sizeof(l->steps[0]));
	l->steps[l->nsteps].serial = ++l->next_step;
	return &l->steps[l->nsteps++];
}

int dnn_log_set(struct dnn_log *l, uint64_t desc, int name, int type, int64_t count,
		const void *wire)
{
	size_t bytes = (size_t)count * xmig_dnn_elem_size(type);
	struct dnn_obj *o = dnn_log_get(l, desc);
	unsigned char *copy = malloc(bytes ? bytes : 1);
	struct dnn_step *st;

	if (!copy)
		return -1;
	memcpy(copy, wire, bytes);
	/* Set again before finalizing: only the last value counts. */
	if (o && !o->finalized)
		for (size_t i = 0; i < l->nsteps; i++)
			if (l->steps[i].kind == DNN_STEP_SET && l->steps[i].desc == desc &&
			    l->steps[i].name == name) {
				remove_step(l, i);
				break;
			}
	if (!(st = append(l))) {
		free(copy);
		return -1;
	}
	*st = (struct dnn_step){ .serial = st->serial, .kind = DNN_STEP_SET, .desc = desc,
				 .name = name, .type = type, .count = count, .elems = copy,
				 .bytes = bytes };
	each_ref(st, ref_up, l);
	collect(l);   /* a replaced value may have been the last use of something */
	return 0;
}

int dnn_log_finalize(struct dnn_log *l, uint64_t desc)
{
	struct dnn_obj *o = dnn_log_get(l, desc);
	struct dnn_step *st = append(l);

	if (!st)
		return -1;
	*st = (struct dnn_step){ .serial = st->serial, .kind = DNN_STEP_FINALIZE, .desc = desc };
	if (o)
		o->finalized = true;
	return 0;
}

int dnn_log_fill(struct dnn_log *l, uint64_t src, int name, int type, int64_t count,
		 const uint64_t *targets)
{
	unsigned char *ids = malloc(count * sizeof(uint64_t) + 1);
	int32_t *types = malloc(count * sizeof(int32_t) + 1);
	struct dnn_step *st;

	if (!ids || !types || !(st = append(l))) {
		free(ids);
		free(types);
		return -1;
	}
	memcpy(ids, targets, count * sizeof(uint64_t));
	for (int64_t i = 0; i < count; i++) {
		struct dnn_obj *t = dnn_log_get(l, targets[i]);

		types[i] = t ? t->type : -1;
	}
	*st = (struct dnn_step){ .serial = st->serial, .kind = DNN_STEP_FILL, .desc = src,
				 .name = name, .type = type, .count = count, .elems = ids,
				 .bytes = count * sizeof(uint64_t), .target_types = types };
	each_ref(st, ref_up, l);
	return 0;
}

void dnn_log_destroy(struct dnn_log *l, uint64_t id)
{
	struct dnn_obj *o = dnn_log_get(l, id);

	if (!o)
		return;
	o->destroyed = true;
	o->h = NULL;
	collect(l);
}

/* ---- replay ------------------------------------------------------------------ */

/* A FILL whose target the application has dropped since: a stand-in of the
 * same type takes its place for the call. */
static int replay_fill(struct dnn_log *l, const struct dnn_step *st,
		       const struct dnn_replay_ops *ops, void *ctx)
{
	struct dnn_obj *stand_in = calloc(st->count, sizeof(*stand_in));
	void **targets = calloc(st->count, sizeof(void *));
	struct dnn_obj *src = dnn_log_get(l, st->desc);
	int r = 0;
	int64_t i, made = 0;

	if (!stand_in || !targets || !src || !src->h) {
		r = stand_in && targets ? CUDNN_STATUS_BAD_PARAM
					: CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
		goto out;
	}
	for (i = 0; i < st->count; i++, made++) {
		struct dnn_obj *t = dnn_log_get(l, ref_at(st, i));

		if (t && t->h) {
			targets[i] = t->h;
			continue;
		}
		stand_in[i] = (struct dnn_obj){ .kind = DNN_DESC, .type = st->target_types[i] };
		if ((r = ops->create(ctx, &stand_in[i])))
			goto out;
		targets[i] = stand_in[i].h;
	}
	r = ops->fill(ctx, src, st->name, st->type, st->count, targets);
out:
	for (i = 0; i < made; i++)
		if (stand_in[i].h)
			ops->destroy(ctx, &stand_in[i]);
	free(stand_in);
	free(targets);
	return r;
}

static int replay_step(struct dnn_log *l, const struct dnn_step *st,
		       const struct dnn_replay_ops *ops, void *ctx)
{
	struct dnn_obj *o = dnn_log_get(l, st->desc);
	void *native;
	int r;

	if (st->kind == DNN_STEP_FILL)
		return replay_fill(l, st, ops, ctx);
	if (!o || !o->h)
		return CUDNN_STATUS_BAD_PARAM;
	if (st->kind == DNN_STEP_FINALIZE)
		return ops->finalize(ctx, o);
	if (!(native = malloc(st->bytes ? st->bytes : 1)))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	/* Zombies are alive during a replay: look them up by id directly. */
	if (xmig_dnn_type_is_ref(st->type)) {
		for (int64_t i = 0; i < st->count; i++) {
			struct dnn_obj *t = dnn_log_get(l, ref_at(st, i));

			if (!t || !t->h) {
				free(native);
				return CUDNN_STATUS_BAD_PARAM;
			}
			((void **)native)[i] = t->h;
		}
	} else {
		memcpy(native, st->elems, st->bytes);
	}
	r = ops->set(ctx, o, st->name, st->type, st->count, native);
	free(native);
	return r;
}

/* Destroy the backend objects of what the application destroyed, or all. */
static void drop_backend(struct dnn_log *l, const struct dnn_replay_ops *ops, void *ctx, bool all)
{
	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(l, id);

		if (o && o->h && (o->destroyed || all)) {
			ops->destroy(ctx, o);
			o->h = NULL;
		}
	}
}

int dnn_log_replay(struct dnn_log *l, const struct dnn_replay_ops *ops, void *ctx)
{
	uint64_t id;
	int r = 0;

	/* Handles first: descriptors name them (OPERATIONGRAPH_HANDLE). */
	for (int kind = DNN_HANDLE; kind <= DNN_DESC && !r; kind++)
		for (id = l->objs.first; id < l->objs.next && !r; id++) {
			struct dnn_obj *o = dnn_log_get(l, id);

			if (o && o->kind == kind)
				r = ops->create(ctx, o);
		}
	for (size_t i = 0; i < l->nsteps && !r; i++)
		r = replay_step(l, &l->steps[i], ops, ctx);
	/* What the application had destroyed was needed only to get here. */
	drop_backend(l, ops, ctx, r != 0);
	return r;
}

/* ---- bringing what was made ahead up to date ---------------------------------- */

/* The object under this id in both logs, from the same creation. */
static bool same_obj(const struct dnn_log *a, const struct dnn_log *b, uint64_t id)
{
	struct dnn_obj *x = dnn_log_get(a, id), *y = dnn_log_get(b, id);

	return x && y && x->serial && x->serial == y->serial && x->kind == y->kind &&
	       x->type == y->type;
}

static bool names_refs(const struct dnn_step *st)
{
	return st->kind == DNN_STEP_FILL ||
	       (st->kind == DNN_STEP_SET && xmig_dnn_type_is_ref(st->type));
}

/* Is b (of now) the step a (of was)? Its objects must be the same ones too
 * (a fill's dropped target may be missing from now). */
static bool same_step(const struct dnn_log *was, const struct dnn_step *a,
		      const struct dnn_log *now, const struct dnn_step *b)
{
	if (a->kind != b->kind || a->desc != b->desc || a->name != b->name || a->type != b->type ||
	    a->count != b->count || a->bytes != b->bytes || !same_obj(was, now, a->desc))
		return false;
	if (!names_refs(a))
		return !memcmp(a->elems, b->elems, a->bytes);
	for (int64_t i = 0; i < a->count; i++) {
		uint64_t x = ref_at(a, i), y = ref_at(b, i);

		/* a fill's target dropped since reads 0 in now */
		if (!(x == y && same_obj(was, now, x)) && !(a->kind == DNN_STEP_FILL && !y))
			return false;
	}
	return true;
}

/* Would now still hold this step of was's (one of its owners is there)? */
static bool still_owned(const struct dnn_log *was, const struct dnn_step *st,
			const struct dnn_log *now)
{
	if (st->kind != DNN_STEP_FILL)
		return same_obj(was, now, st->desc);
	for (int64_t i = 0; i < st->count; i++)
		if (same_obj(was, now, ref_at(st, i)))
			return true;
	return false;
}

int dnn_log_advance(struct dnn_log *l, struct dnn_log *now, const struct dnn_replay_ops *ops,
		    void *ctx)
{
	size_t i, j = 0;
	uint64_t id;
	int r = 0;

	/*
	 * now's steps are l's that still matter, in their order, then the
	 * new ones: a step is only ever appended, or dropped with its owners
	 * (or replaced, when set again before finalizing: then start over).
	 */
	for (i = 0; i < l->nsteps; i++) {
		if (j < now->nsteps && same_step(l, &l->steps[i], now, &now->steps[j]))
			j++;
		else if (still_owned(l, &l->steps[i], now))
			return -1;
	}
	for (id = l->objs.first; id < l->objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(l, id);

		if (o && same_obj(l, now, id)) {
			now->kept += o->h != NULL;
			dnn_log_get(now, id)->h = o->h;
			dnn_log_get(now, id)->bound_stream = o->bound_stream;
			o->h = NULL;
		}
	}
	/* Objects made since (handles first), then the steps since. */
	for (int kind = DNN_HANDLE; kind <= DNN_DESC && !r; kind++)
		for (id = now->objs.first; id < now->objs.next && !r; id++) {
			struct dnn_obj *o = dnn_log_get(now, id);

			if (o && o->kind == kind && !same_obj(l, now, id))
				r = ops->create(ctx, o);
		}
	for (; j < now->nsteps && !r; j++)
		r = replay_step(now, &now->steps[j], ops, ctx);
	dnn_log_release(l, ops, ctx);   /* what the application dropped in between */
	drop_backend(now, ops, ctx, r != 0);
	return r;
}

void dnn_log_release(struct dnn_log *l, const struct dnn_replay_ops *ops, void *ctx)
{
	drop_backend(l, ops, ctx, true);
}

/* ---- the manifest section --------------------------------------------------- */

json_t *dnn_obj_to_json(const struct dnn_obj *o)
{
	return json_pack("{s:I, s:s, s:i, s:b, s:b, s:I, s:I}", "id", (json_int_t)o->id, "kind",
			 o->kind == DNN_HANDLE ? "handle" : "descriptor", "type", o->type,
			 "destroyed", o->destroyed, "finalized", o->finalized, "stream",
			 (json_int_t)o->stream, "serial", (json_int_t)o->serial);
}

json_t *dnn_step_to_json(const struct dnn_step *st)
{
	static const char *const kinds[] = { "", "set", "finalize", "fill" };
	char *elems = xmig_hex_encode(st->elems, st->bytes);
	json_t *j = json_pack("{s:s, s:I, s:i, s:i, s:I, s:s}", "op", kinds[st->kind], "desc",
			      (json_int_t)st->desc, "name", st->name, "type", st->type, "count",
			      (json_int_t)st->count, "elements", elems ?: "");

	if (st->kind == DNN_STEP_FILL) {
		json_t *t = json_array();

		for (int64_t k = 0; k < st->count; k++)
			json_array_append_new(t, json_integer(st->target_types[k]));
		json_object_set_new(j, "target_types", t);
	}
	free(elems);
	return j;
}

json_t *dnn_log_to_json(const struct dnn_log *l)
{
	json_t *objs = json_array(), *steps = json_array();

	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		struct dnn_obj *o = dnn_log_get(l, id);

		if (o)
			json_array_append_new(objs, dnn_obj_to_json(o));
	}
	/*
	 * A step's entry is made once and kept with it (a GPT's log has
	 * hundreds of kilobytes of elements, hex-coded: made anew, 1.2-1.7 ms
	 * of each prelude, while it held the job). A cache, not the log's
	 * content: hence the cast. Manifests share the entries, read-only.
	 */
	for (size_t i = 0; i < l->nsteps; i++) {
		struct dnn_step *st = (struct dnn_step *)&l->steps[i];

		if (!st->json)
			st->json = dnn_step_to_json(st);
		json_array_append(steps, st->json);
	}
	return json_pack("{s:o, s:o}", "objects", objs, "steps", steps);
}

int dnn_log_put_obj(struct dnn_log *l, const struct dnn_obj *from)
{
	struct dnn_obj *d = malloc(sizeof(*d));

	if (!d)
		return -1;
	*d = *from;
	d->h = NULL;
	d->refs = 0;
	d->bound_stream = 0;
	if (d->serial > l->next_serial)
		l->next_serial = d->serial;   /* later objects get later serials */
	if (srv_table_put(&l->objs, d->id, d) < 0) {
		free(d);
		return -1;
	}
	return 0;
}

int dnn_log_put_obj_json(struct dnn_log *l, json_t *o)
{
	struct dnn_obj d = { 0 };

	d.id = (uint64_t)json_integer_value(json_object_get(o, "id"));
	d.kind = strcmp(json_string_value(json_object_get(o, "kind")) ?: "", "handle") ? DNN_DESC
										   : DNN_HANDLE;
	d.type = (int)json_integer_value(json_object_get(o, "type"));
	d.destroyed = json_is_true(json_object_get(o, "destroyed"));
	d.finalized = json_is_true(json_object_get(o, "finalized"));
	d.stream = (uint64_t)json_integer_value(json_object_get(o, "stream"));
	d.serial = (uint64_t)json_integer_value(json_object_get(o, "serial"));
	return dnn_log_put_obj(l, &d);
}

int dnn_log_put_step(struct dnn_log *l, const struct dnn_step *from)
{
	struct dnn_step *st = append(l);

	if (!st)
		return -1;
	st->kind = from->kind;
	st->desc = from->desc;
	st->name = from->name;
	st->type = from->type;
	st->count = from->count;
	st->bytes = from->bytes;
	if (!(st->elems = malloc(from->bytes + 1)) ||
	    (from->target_types &&
	     !(st->target_types = malloc(from->count * sizeof(int32_t) + 1))))
		return -1;
	memcpy(st->elems, from->elems, from->bytes);
	if (from->target_types)
		memcpy(st->target_types, from->target_types, from->count * sizeof(int32_t));
	st->json = json_incref(from->json);   /* the same step, the same entry */
	each_ref(st, ref_up, l);
	return 0;
}

int dnn_log_put_step_json(struct dnn_log *l, json_t *o)
{
	const char *op = json_string_value(json_object_get(o, "op")) ?: "";
	struct dnn_step *st = append(l);

	if (!st)
		return -1;
	st->kind = !strcmp(op, "set") ? DNN_STEP_SET
		   : !strcmp(op, "finalize") ? DNN_STEP_FINALIZE
		   : !strcmp(op, "fill") ? DNN_STEP_FILL : 0;
	st->desc = (uint64_t)json_integer_value(json_object_get(o, "desc"));
	st->name = (int32_t)json_integer_value(json_object_get(o, "name"));
	st->type = (int32_t)json_integer_value(json_object_get(o, "type"));
	st->count = json_integer_value(json_object_get(o, "count"));
	st->elems = xmig_hex_decode(json_string_value(json_object_get(o, "elements")), &st->bytes);
	/* (counts bounded before they are multiplied: a product that wraps would pass) */
	if (!st->kind || !st->elems || st->count < 0 || st->count > XMIG_DNN_ATTR_MAX ||
	    (st->kind == DNN_STEP_SET &&
	     st->bytes != (size_t)st->count * xmig_dnn_elem_size(st->type)) ||
	    (st->kind == DNN_STEP_FILL && st->bytes != (size_t)st->count * sizeof(uint64_t)))
		return -1;
	if (st->kind == DNN_STEP_FILL) {
		json_t *t = json_object_get(o, "target_types");

		if (!(st->target_types = calloc(st->count + 1, sizeof(int32_t))) ||
		    json_array_size(t) != (size_t)st->count)
			return -1;
		for (int64_t k = 0; k < st->count; k++)
			st->target_types[k] = (int32_t)json_integer_value(json_array_get(t, k));
	}
	/* the entry it came as (dnn_step_to_json's, an old proxy's): this proxy's next manifest sends it on */
	st->json = json_incref(o);
	each_ref(st, ref_up, l);
	return 0;
}

int dnn_log_from_json(struct dnn_log *l, json_t *j)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(j, "objects"), i, o)
		if (dnn_log_put_obj_json(l, o) < 0)
			return -1;
	json_array_foreach(json_object_get(j, "steps"), i, o)
		if (dnn_log_put_step_json(l, o) < 0)
			return -1;
	return 0;
}

void dnn_log_clear(struct dnn_log *l)
{
	for (uint64_t id = l->objs.first; id < l->objs.next; id++)
		free(srv_table_remove(&l->objs, id));
	for (size_t i = 0; i < l->nsteps; i++)
		step_free(&l->steps[i]);
	free(l->steps);
	free(l->objs.free_ids);
	for (size_t c = 0; c < SRV_TABLE_CHUNKS; c++)
		free(l->objs.chunks[c]);
	dnn_log_init(l);
}

/* ---- what a plan reaches ------------------------------------------------------ */

/* Bytes of one element of a cudnnDataType_t; 0: one not sized here. */
static uint64_t data_type_bytes(int32_t t)
{
	switch (t) {
	case CUDNN_DATA_INT8: case CUDNN_DATA_UINT8: case CUDNN_DATA_BOOLEAN:
	case CUDNN_DATA_FP8_E4M3: case CUDNN_DATA_FP8_E5M2: case CUDNN_DATA_FP8_E8M0:
		return 1;
	case CUDNN_DATA_HALF: case CUDNN_DATA_BFLOAT16:
		return 2;
	case CUDNN_DATA_FLOAT: case CUDNN_DATA_INT32: case CUDNN_DATA_UINT32:
		return 4;
	case CUDNN_DATA_DOUBLE: case CUDNN_DATA_INT64: case CUDNN_DATA_COMPLEX_FP32:
		return 8;
	case CUDNN_DATA_COMPLEX_FP64:
		return 16;
	default:
		return 0;
	}
}

/* A tensor's attributes of interest, as last set. */
struct tensor_seen {
	const struct dnn_step *uid, *type, *dims, *strides, *is_virtual, *vector, *ragged;
};

static uint64_t tensor_bytes(const struct tensor_seen *t)
{
	const uint64_t limit = 1ull << 40;
	uint64_t e, span = 1;
	int32_t type;

	if (!t->type || t->type->bytes < sizeof(type) || !t->dims || !t->strides ||
	    t->dims->count != t->strides->count || t->dims->count < 1 || t->ragged)
		return 0;
	if (t->vector) {
		int64_t v;

		memcpy(&v, t->vector->elems, sizeof(v));
		if (v != 1)
			return 0;
	}
	memcpy(&type, t->type->elems, sizeof(type));
	if (!(e = data_type_bytes(type)))
		return 0;
	/* (1 + the sum of (dim - 1) x stride) elements: the last one's offset, plus one) */
	for (int64_t i = 0; i < t->dims->count; i++) {
		int64_t d, st;

		memcpy(&d, t->dims->elems + i * sizeof(d), sizeof(d));
		memcpy(&st, t->strides->elems + i * sizeof(st), sizeof(st));
		if (d < 1 || st < 0)
			return 0;
		if ((uint64_t)d > limit || (uint64_t)st > limit ||
		    (uint64_t)(d - 1) * (uint64_t)st > limit - span)
			return DNN_TOO_BIG;
		span += (uint64_t)(d - 1) * (uint64_t)st;
	}
	return span > limit / e ? DNN_TOO_BIG : span * e;
}

long dnn_log_plan_tensors(const struct dnn_log *l, uint64_t plan, struct dnn_tensor_span *out,
			  size_t cap)
{
	uint64_t first = l->objs.first, n = l->objs.next > first ? l->objs.next - first : 0;
	unsigned char *in = calloc(n ? n : 1, 1);
	struct tensor_seen *seen = calloc(n ? n : 1, sizeof(*seen));
	bool grew = true;
	long found = 0;

#define IN(id) ((id) >= first && (id) - first < n && in[(id) - first])
#define MARK(id)                                                        \
	do {                                                            \
		if ((id) >= first && (id) - first < n && !in[(id) - first]) \
			in[(id) - first] = 1, grew = true;              \
	} while (0)
	if (!in || !seen) {
		free(in);
		free(seen);
		return -1;
	}
	if (plan >= first && plan - first < n)
		in[plan - first] = 1;
	/* (a few rounds: each reaches one level further, plan -> config -> ... -> tensors) */
	while (grew) {
		grew = false;
		for (size_t i = 0; i < l->nsteps; i++) {
			const struct dnn_step *st = &l->steps[i];

			if (st->kind == DNN_STEP_SET && xmig_dnn_type_is_ref(st->type) &&
			    IN(st->desc)) {
				for (int64_t k = 0; k < st->count; k++)
					MARK(ref_at(st, k));
			} else if (st->kind == DNN_STEP_FILL && !IN(st->desc)) {
				for (int64_t k = 0; k < st->count; k++)
					if (IN(ref_at(st, k))) {
						MARK(st->desc);
						break;
					}
			}
		}
	}
	for (size_t i = 0; i < l->nsteps; i++) {
		const struct dnn_step *st = &l->steps[i];
		struct tensor_seen *t;

		if (st->kind != DNN_STEP_SET || !IN(st->desc))
			continue;
		t = &seen[st->desc - first];
		switch (st->name) {
		case CUDNN_ATTR_TENSOR_UNIQUE_ID: t->uid = st; break;
		case CUDNN_ATTR_TENSOR_DATA_TYPE: t->type = st; break;
		case CUDNN_ATTR_TENSOR_DIMENSIONS: t->dims = st; break;
		case CUDNN_ATTR_TENSOR_STRIDES: t->strides = st; break;
		case CUDNN_ATTR_TENSOR_IS_VIRTUAL: t->is_virtual = st; break;
		case CUDNN_ATTR_TENSOR_VECTOR_COUNT: t->vector = st; break;
		case CUDNN_ATTR_TENSOR_RAGGED_OFFSET_DESC: t->ragged = st; break;
		}
	}
#undef IN
#undef MARK
	for (uint64_t k = 0; k < n; k++) {
		const struct dnn_obj *o = in[k] ? dnn_log_get(l, first + k) : NULL;
		const struct tensor_seen *t = &seen[k];
		bool is_virtual = false;

		if (!o || o->kind != DNN_DESC || o->type != CUDNN_BACKEND_TENSOR_DESCRIPTOR ||
		    !t->uid || t->uid->bytes < sizeof(int64_t))
			continue;
		if (t->is_virtual && t->is_virtual->bytes >= sizeof(bool))
			memcpy(&is_virtual, t->is_virtual->elems, sizeof(bool));
		if (is_virtual)
			continue;
		if ((size_t)found < cap) {
			memcpy(&out[found].uid, t->uid->elems, sizeof(int64_t));
			out[found].bytes = tensor_bytes(t);
		}
		found++;
	}
	free(in);
	free(seen);
	return found;
}
