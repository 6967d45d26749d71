/*
 * dnn-delta.c - a move's cuDNN log as what changed since its prelude.
 *
 * The standby replays the prelude's log while the job still runs; at the
 * freeze the log (a GPT's: thousands of objects and steps, hundreds of
 * kilobytes of JSON) would cross again and be parsed again, while the job
 * waits. Instead the old proxy remembers what the prelude held (object
 * ids and serials, step serials: a step changed in place gets a new one)
 * and sends every object and step that is the prelude's as a reference
 * to its position there, in runs; only the others cross whole. A digest
 * of the whole log checks what the standby rebuilds.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "dnn-delta.h"
#include "server.h"

int dnn_base_take(struct dnn_base *b, const struct dnn_log *l)
{
	size_t n = 0;

	memset(b, 0, sizeof(*b));
	b->objs = calloc(l->objs.count + 1, sizeof(*b->objs));
	b->steps = calloc(l->nsteps + 1, sizeof(*b->steps));
	if (!b->objs || !b->steps) {
		dnn_base_free(b);
		return -1;
	}
	for (uint64_t id = l->objs.first; id < l->objs.next && n < l->objs.count; id++) {
		const struct dnn_obj *o = dnn_log_get(l, id);

		if (o)
			b->objs[n++] = (struct dnn_base_obj){ id, o->serial, o->destroyed,
							      o->finalized };
	}
	b->nobjs = n;
	for (size_t i = 0; i < l->nsteps; i++)
		b->steps[i] = (struct dnn_base_step){ l->steps[i].serial, i };
	b->nsteps = l->nsteps;
	/* in call order, serials mostly rise: sorted for the lookups */
	for (size_t i = 1; i < b->nsteps; i++) {
		struct dnn_base_step t = b->steps[i];
		size_t k = i;

		if (b->steps[k - 1].serial <= t.serial)
			continue;
		for (; k > 0 && b->steps[k - 1].serial > t.serial; k--)
			b->steps[k] = b->steps[k - 1];
		b->steps[k] = t;
	}
	return 0;
}

void dnn_base_free(struct dnn_base *b)
{
	free(b->objs);
	free(b->steps);
	memset(b, 0, sizeof(*b));
}

/* Both arrays are sorted by their first field, a uint64_t: one comparison serves. */
static int by_first_u64(const void *key, const void *elem)
{
	uint64_t k = *(const uint64_t *)key, e = *(const uint64_t *)elem;

	return k < e ? -1 : k > e;
}

/* Position of the base's object id, or -1. */
static long base_obj(const struct dnn_base *b, uint64_t id)
{
	const struct dnn_base_obj *o = b->nobjs ? bsearch(&id, b->objs, b->nobjs, sizeof(*o),
							  by_first_u64) : NULL;

	return o ? (long)(o - b->objs) : -1;
}

/* Position in the prelude of the step with this serial, or -1. */
static long base_step(const struct dnn_base *b, uint64_t serial)
{
	const struct dnn_base_step *st = b->nsteps ? bsearch(&serial, b->steps, b->nsteps,
							     sizeof(*st), by_first_u64) : NULL;

	return st ? (long)st->pos : -1;
}

/* Entries of a list: runs of references, and whole ones between them. */
struct runs {
	json_t *list;
	long pos, n;            /* the run being extended (n == 0: none) */
};

static void runs_close(struct runs *r)
{
	if (r->n)
		json_array_append_new(r->list, json_pack("[I, I]", (json_int_t)r->pos,
							 (json_int_t)r->n));
	r->n = 0;
}

static void runs_ref(struct runs *r, long pos)
{
	if (r->n && pos == r->pos + r->n) {
		r->n++;
		return;
	}
	runs_close(r);
	r->pos = pos;
	r->n = 1;
}

static void runs_whole(struct runs *r, json_t *entry)
{
	runs_close(r);
	json_array_append_new(r->list, entry);
}

json_t *dnn_log_delta(const struct dnn_log *l, const struct dnn_base *b)
{
	struct runs objs = { json_array(), 0, 0 }, steps = { json_array(), 0, 0 };
	char digest[17];

	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		const struct dnn_obj *o = dnn_log_get(l, id);
		long p;

		if (!o)
			continue;
		p = base_obj(b, id);
		if (p >= 0 && b->objs[p].serial == o->serial && b->objs[p].destroyed == o->destroyed &&
		    b->objs[p].finalized == o->finalized)
			runs_ref(&objs, p);
		else
			runs_whole(&objs, dnn_obj_to_json(o));
	}
	runs_close(&objs);
	for (size_t i = 0; i < l->nsteps; i++) {
		long p = base_step(b, l->steps[i].serial);

		if (p >= 0)
			runs_ref(&steps, p);
		else
			runs_whole(&steps, dnn_step_to_json(&l->steps[i]));
	}
	runs_close(&steps);
	snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)dnn_log_digest(l));
	return json_pack("{s:o, s:o, s:s}", "objects", objs.list, "steps", steps.list, "digest",
			 digest);
}

/* A reference entry [position, n] within a list of `have`; false if not one. */
static bool run_of(json_t *e, size_t have, size_t *pos, size_t *n, bool *bad)
{
	json_int_t p, k;

	if (!json_is_array(e))
		return false;
	p = json_integer_value(json_array_get(e, 0));
	k = json_integer_value(json_array_get(e, 1));
	*bad = json_array_size(e) != 2 || p < 0 || k < 1 || (size_t)p > have ||
	       (size_t)k > have - (size_t)p;
	*pos = (size_t)p;
	*n = (size_t)k;
	return true;
}

int dnn_log_from_delta(struct dnn_log *l, json_t *delta, const struct dnn_log *base)
{
	const struct dnn_obj **objs = calloc(base->objs.count + 1, sizeof(*objs));
	const char *want = json_string_value(json_object_get(delta, "digest"));
	size_t nobjs = 0, i, pos, n;
	bool bad = false;
	json_t *e;
	int r = -1;

	if (!objs || !want)
		goto out;
	for (uint64_t id = base->objs.first; id < base->objs.next; id++)
		if (dnn_log_get(base, id))
			objs[nobjs++] = dnn_log_get(base, id);
	json_array_foreach(json_object_get(delta, "objects"), i, e) {
		if (!run_of(e, nobjs, &pos, &n, &bad)) {
			if (dnn_log_put_obj_json(l, e) < 0)
				goto out;
			continue;
		}
		for (size_t k = 0; k < n && !bad; k++)
			bad = dnn_log_put_obj(l, objs[pos + k]) < 0;
		if (bad)
			goto out;
	}
	json_array_foreach(json_object_get(delta, "steps"), i, e) {
		if (!run_of(e, base->nsteps, &pos, &n, &bad)) {
			if (dnn_log_put_step_json(l, e) < 0)
				goto out;
			continue;
		}
		for (size_t k = 0; k < n && !bad; k++)
			bad = dnn_log_put_step(l, &base->steps[pos + k]) < 0;
		if (bad)
			goto out;
	}
	/* the log the old proxy holds, or a wrong base: then nothing of it is used */
	if (strtoull(want, NULL, 16) == dnn_log_digest(l))
		r = 0;
out:
	free(objs);
	return r;
}

/* Is list [] for none, or the one run [[0, n]]? */
static bool one_run(json_t *list, size_t n)
{
	json_t *e = json_array_get(list, 0);

	if (!json_is_array(list))
		return false;
	if (!n)
		return json_array_size(list) == 0;
	return json_array_size(list) == 1 && json_array_size(e) == 2 &&
	       json_integer_value(json_array_get(e, 0)) == 0 &&
	       json_integer_value(json_array_get(e, 1)) == (json_int_t)n;
}

bool dnn_delta_is_base(json_t *delta, const struct dnn_log *base)
{
	const char *want = json_string_value(json_object_get(delta, "digest"));

	return want && one_run(json_object_get(delta, "objects"), base->objs.count) &&
	       one_run(json_object_get(delta, "steps"), base->nsteps) &&
	       strtoull(want, NULL, 16) == dnn_log_digest(base);
}

/* Mix one item's fields into h. */
static uint64_t mix(uint64_t h, const uint64_t *v, size_t n)
{
	uint64_t buf[10];

	buf[0] = h;
	memcpy(buf + 1, v, n * sizeof(*v));
	return xmig_hash64(buf, (n + 1) * sizeof(*v));
}

uint64_t dnn_log_digest(const struct dnn_log *l)
{
	uint64_t h = 0;

	for (uint64_t id = l->objs.first; id < l->objs.next; id++) {
		const struct dnn_obj *o = dnn_log_get(l, id);

		if (o)
			h = mix(h, (uint64_t[]){ id, (uint64_t)o->kind, (uint64_t)o->type,
						 o->destroyed, o->finalized, o->stream, o->serial },
				7);
	}
	for (size_t i = 0; i < l->nsteps; i++) {
		const struct dnn_step *st = &l->steps[i];
		uint64_t types = st->target_types
					 ? xmig_hash64(st->target_types, st->count * sizeof(int32_t))
					 : 0;

		h = mix(h, (uint64_t[]){ (uint64_t)st->kind, st->desc, (uint64_t)st->name,
					 (uint64_t)st->type, (uint64_t)st->count,
					 xmig_hash64(st->elems, st->bytes), types },
			7);
	}
	return h;
}
