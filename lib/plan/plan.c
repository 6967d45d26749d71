/*
 * plan.c - the plan: options, the move list, the bandwidth model, and the
 * plan document of share/schema/plan.schema.json (written and read back).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define PLAN_VERSION 1

void xp_opts_default(struct xp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->objective = XP_OBJ_NODES;
	o->max_moves = -1;
	o->max_bytes = -1;
	o->concurrency = 2;
	/* Peer copy inside a node is NVLink or PCIe; between nodes one link. */
	o->intra_bw = 50.0 * (1ull << 30);
	o->inter_bw = 10.0 * (1ull << 30);
	o->overhead = 1.0;
	o->time_limit = 60.0;
	o->threshold = 0.5;
}

double xp_move_seconds(const struct xp_opts *o, uint64_t bytes, bool intra)
{
	return o->overhead + (double)bytes / (intra ? o->intra_bw : o->inter_bw);
}

void xp_plan_init(struct xp_plan *p, const char *algorithm, const struct xp_opts *o)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->algorithm, sizeof(p->algorithm), "%s", algorithm);
	p->opts = *o;
	p->notes = json_array();
}

void xp_plan_free(struct xp_plan *p)
{
	free(p->moves);
	free(p->wave_est);
	json_decref(p->notes);
	json_decref(p->info);
	json_decref(p->freed_nodes);
	memset(p, 0, sizeof(*p));
}

int xp_plan_add(struct xp_plan *p, int task, const struct xp_place *to, int unit, enum xp_why why)
{
	struct xp_move *m;

	if (p->nmoves == p->cap) {
		int cap = p->cap ? p->cap * 2 : 64;
		struct xp_move *nm = realloc(p->moves, sizeof(*nm) * (size_t)cap);

		if (!nm)
			return xmig_error("out of memory");
		p->moves = nm;
		p->cap = cap;
	}
	m = &p->moves[p->nmoves++];
	memset(m, 0, sizeof(*m));
	m->task = task;
	m->to = *to;
	m->unit = unit;
	m->why = why;
	return 0;
}

void xp_plan_note(struct xp_plan *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(p->notes, json_string(buf));
}

static const char *const why_names[] = { "drain", "repair", "park" };

static json_t *place_json(const struct xp_state *st, const struct xp_place *pl)
{
	json_t *g = json_array();
	int i;

	for (i = 0; i < pl->ngpus; i++)
		json_array_append_new(g, json_integer(st->gpus[pl->gpus[i]].index));
	return json_pack("{s:s, s:o}", "node", st->nodes[pl->node].name, "gpus", g);
}

static json_t *limit_json(long long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* Round for output so plans diff cleanly. */
static double r3(double x)
{
	return round(x * 1000.0) / 1000.0;
}

json_t *xp_plan_to_json(const struct xp_state *st, const struct xp_plan *p)
{
	const struct xp_summary *s = &p->sum;
	json_t *moves = json_array(), *waves = json_array(), *doc;
	json_t *freed_nodes = p->freed_nodes ? json_incref(p->freed_nodes) : json_array();
	int i, freed = s->nodes_before - s->nodes_after;

	for (i = 0; i < p->nmoves; i++) {
		const struct xp_move *m = &p->moves[i];
		const struct xp_task *t = &st->tasks[m->task];

		json_array_append_new(moves, json_pack(
			"{s:i, s:s, s:s, s:I, s:o, s:o, s:I, s:f, s:i, s:i, s:s, s:s}",
			"seq", i + 1, "task", t->id, "job", t->job, "rank", (json_int_t)t->rank,
			"from", place_json(st, &m->from), "to", place_json(st, &m->to),
			"device_bytes", (json_int_t)t->bytes, "est_seconds", r3(m->est),
			"wave", m->wave, "unit", m->unit,
			"kind", m->from.node == m->to.node ? "intra-node" : "inter-node",
			"purpose", why_names[m->why]));
	}
	for (i = 1; i <= s->waves; i++) {
		int n = 0, k;
		uint64_t b = 0;

		for (k = 0; k < p->nmoves; k++)
			if (p->moves[k].wave == i) {
				n++;
				b += st->tasks[p->moves[k].task].bytes;
			}
		json_array_append_new(waves, json_pack("{s:i, s:i, s:I, s:f}", "wave", i, "moves", n,
						       "device_bytes", (json_int_t)b, "est_seconds",
						       r3(p->wave_est ? p->wave_est[i - 1] : 0)));
	}
	doc = json_pack("{s:i, s:s, s:s}", "version", PLAN_VERSION, "algorithm", p->algorithm,
			"objective", p->opts.objective == XP_OBJ_GPUS ? "gpus" : "nodes");
	json_object_set_new(doc, "options", json_pack(
		"{s:o, s:o, s:i, s:f, s:f, s:f}",
		"max_moves", limit_json(p->opts.max_moves), "max_bytes", limit_json(p->opts.max_bytes),
		"concurrency", p->opts.concurrency, "intra_node_bandwidth", p->opts.intra_bw,
		"inter_node_bandwidth", p->opts.inter_bw, "move_overhead_seconds", p->opts.overhead));
	json_object_set_new(doc, "moves", moves);
	json_object_set_new(doc, "waves", waves);
	json_object_set_new(doc, "summary", json_pack(
		"{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:o, s:f, s:f, s:o}",
		"nodes_freed", freed, "gpus_freed", s->gpus_before - s->gpus_after,
		"nodes_used_before", s->nodes_before, "nodes_used_after", s->nodes_after,
		"gpus_used_before", s->gpus_before, "gpus_used_after", s->gpus_after,
		"moves", s->moves, "units", s->units, "waves", s->waves,
		"device_bytes", (json_int_t)s->bytes,
		"bytes_per_freed_node", freed > 0 ? json_integer((json_int_t)(s->bytes / (uint64_t)freed))
						  : json_null(),
		"est_seconds", r3(s->est_seconds), "plan_seconds", round(s->plan_seconds * 1e6) / 1e6,
		"freed_nodes", freed_nodes));
	json_object_set(doc, "notes", p->notes);
	if (p->info)
		json_object_set(doc, "algorithm_info", p->info);
	return doc;
}

/* ---- reading a plan back --------------------------------------------- */

/* -1 malformed, -2 names what the state lacks. */
static int place_from_json(json_t *o, const struct xp_state *st, const char *path, struct xp_place *pl)
{
	const char *node;
	json_t *gpus, *jg;
	size_t i;

	if (!json_is_object(o))
		return xmig_error("%s: expected an object {\"node\",\"gpus\"}", path);
	if (xp_jstr(o, "node", path, &node) < 0 || !(gpus = xp_jarray(o, "gpus", path)))
		return -1;
	if (!json_array_size(gpus) || json_array_size(gpus) > XP_MAX_TASK_GPUS)
		return xmig_error("%s.gpus: 1 to %d GPU indices expected", path, XP_MAX_TASK_GPUS);
	/* (the same bounds as xmig apply reads them with: one reading of a plan) */
	json_array_foreach(gpus, i, jg)
		if (!json_is_integer(jg) || json_integer_value(jg) < 0 || json_integer_value(jg) > 1023)
			return xmig_error("%s.gpus[%zu]: expected a GPU index", path, i);
	if ((pl->node = xp_find_node(st, node)) < 0) {
		xmig_error("%s: node \"%s\" is not in the cluster state", path, node);
		return -2;
	}
	pl->ngpus = (int)json_array_size(gpus);
	json_array_foreach(gpus, i, jg) {
		pl->gpus[i] = xp_find_gpu(st, pl->node, json_integer_value(jg));
		if (pl->gpus[i] < 0) {
			xmig_error("%s: node %s has no GPU %lld", path, node,
				   (long long)json_integer_value(jg));
			return -2;
		}
	}
	return 0;
}

static int opts_from_json(json_t *doc, struct xp_opts *o)
{
	json_t *jo = json_object_get(doc, "options");
	const char *obj = json_string_value(json_object_get(doc, "objective"));
	long long v;

	if (obj && !strcmp(obj, "gpus"))
		o->objective = XP_OBJ_GPUS;
	else if (obj && strcmp(obj, "nodes"))
		return xmig_error("plan.objective: expected \"nodes\" or \"gpus\"");
	if (!jo)
		return 0;
	if (!json_is_object(jo))
		return xmig_error("plan.options: expected an object");
	if (xp_jint(jo, "max_moves", "plan.options", false, 0, LLONG_MAX, -1, &v) < 0)
		return -1;
	o->max_moves = (long)v;
	if (xp_jint(jo, "max_bytes", "plan.options", false, 0, LLONG_MAX, -1, &v) < 0)
		return -1;
	o->max_bytes = v;
	if (xp_jint(jo, "concurrency", "plan.options", false, 1, 1 << 20, o->concurrency, &v) < 0)
		return -1;
	o->concurrency = (int)v;
	if (xp_jnum(jo, "intra_node_bandwidth", "plan.options", false, 1, 1e18, o->intra_bw, &o->intra_bw) < 0 ||
	    xp_jnum(jo, "inter_node_bandwidth", "plan.options", false, 1, 1e18, o->inter_bw, &o->inter_bw) < 0 ||
	    xp_jnum(jo, "move_overhead_seconds", "plan.options", false, 0, 1e9, o->overhead, &o->overhead) < 0)
		return -1;
	return 0;
}

static int claims_from_json(json_t *doc, struct xp_plan *p)
{
	json_t *js = json_object_get(doc, "summary");
	long long freed, gfreed, moves, bytes;

	if (!js)
		return 0;
	if (!json_is_object(js))
		return xmig_error("plan.summary: expected an object");
	if (xp_jint(js, "nodes_freed", "plan.summary", true, LLONG_MIN, LLONG_MAX, 0, &freed) < 0 ||
	    xp_jint(js, "gpus_freed", "plan.summary", true, LLONG_MIN, LLONG_MAX, 0, &gfreed) < 0 ||
	    xp_jint(js, "moves", "plan.summary", true, 0, LLONG_MAX, 0, &moves) < 0 ||
	    xp_jint(js, "device_bytes", "plan.summary", true, 0, LLONG_MAX, 0, &bytes) < 0)
		return -1;
	p->has_claims = true;
	p->claim_nodes_freed = (int)freed;
	p->claim_gpus_freed = (int)gfreed;
	p->claim_moves = (int)moves;
	p->claim_bytes = (uint64_t)bytes;
	return 0;
}

int xp_plan_version_ok(json_t *doc)
{
	json_t *v = json_object_get(doc, "version");

	if (!json_is_object(doc))
		return xmig_error("plan: expected a JSON object with \"moves\"");
	if (!v)
		return xmig_error("plan: no \"version\" (plans of this xmig are version %d)",
				  PLAN_VERSION);
	if (!json_is_integer(v))
		return xmig_error("plan.version: expected an integer (%d)", PLAN_VERSION);
	if (json_integer_value(v) != PLAN_VERSION)
		return xmig_error("plan: version %lld is not read by this xmig (it reads version %d)",
				  (long long)json_integer_value(v), PLAN_VERSION);
	return 0;
}

int xp_plan_from_json(json_t *doc, const struct xp_state *st, struct xp_plan *p)
{
	const char *alg = json_string_value(json_object_get(doc, "algorithm"));
	struct xp_opts o;
	json_t *moves, *jm;
	size_t i;
	int rc = 0;

	xp_opts_default(&o);
	xp_plan_init(p, alg ? alg : "unknown", &o);
	if (xp_plan_version_ok(doc) < 0)
		return -1;
	if (opts_from_json(doc, &p->opts) < 0 || claims_from_json(doc, p) < 0 ||
	    !(moves = xp_jarray(doc, "moves", "plan")))
		return -1;
	json_array_foreach(moves, i, jm) {
		struct xp_move *m;
		struct xp_place to, from;
		const char *task;
		long long wave, unit, bytes;
		char path[64], sub[80];
		int t, r;

		snprintf(path, sizeof(path), "plan: moves[%zu]", i);
		if (!json_is_object(jm))
			return xmig_error("%s: expected an object", path);
		if (xp_jstr(jm, "task", path, &task) < 0 ||
		    xp_jint(jm, "wave", path, true, 1, INT32_MAX, 0, &wave) < 0 ||
		    xp_jint(jm, "unit", path, false, 0, INT32_MAX, (long long)i + 1, &unit) < 0 ||
		    xp_jint(jm, "device_bytes", path, true, 0, LLONG_MAX, 0, &bytes) < 0)
			return -1;
		snprintf(sub, sizeof(sub), "%s.from", path);
		if ((r = place_from_json(json_object_get(jm, "from"), st, sub, &from)) == -1)
			return -1;
		rc = rc ? rc : r;
		snprintf(sub, sizeof(sub), "%s.to", path);
		if ((r = place_from_json(json_object_get(jm, "to"), st, sub, &to)) == -1)
			return -1;
		rc = rc ? rc : r;
		if ((t = xp_find_task(st, task)) < 0) {
			xmig_error("%s: task \"%s\" is not in the cluster state", path, task);
			rc = -2;
		}
		if (rc)
			continue;
		if (xp_plan_add(p, t, &to, (int)unit, XP_WHY_DRAIN) < 0)
			return -1;
		m = &p->moves[p->nmoves - 1];
		m->from = from;
		m->wave = (int)wave;
		m->bytes = (uint64_t)bytes;
	}
	return rc;
}
