/*
 * drain.c - the sequential drain loop the baselines share: take candidate
 * nodes (or GPUs) in the policy's order, move every group off one to where
 * the policy says, simulating each move as it would run, and undo the whole
 * unit when something cannot go (unless the policy keeps partial drains, as
 * the descheduler does). Only used nodes and GPUs receive tasks: waking an
 * empty one would free nothing.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "plan.h"

struct drain {
	const struct xp_state *st;
	struct xp_plan *p;
	const struct xp_drain_policy *pol;
	struct xp_usage u;
	struct xp_place *cur;
	struct xp_roster r;
	bool *node_ok, *gpu_skip;
	int *gmark;            /* group seen for this unit */
	int units;
};

/* Move task t (already reserved at to) off its place, as the move ends. */
static int relocate(struct drain *d, int t, const struct xp_place *to)
{
	struct xp_place from = d->cur[t];

	xp_usage_apply(&d->u, d->st, t, &from, -1, from.node != to->node);
	d->cur[t] = *to;
	return xp_roster_move(&d->r, t, from.node, to->node);
}

static bool on_unit(const struct drain *d, int t, int unit)
{
	int i;

	if (!d->pol->per_gpu)
		return d->cur[t].node == unit;
	for (i = 0; i < d->cur[t].ngpus; i++)
		if (d->cur[t].gpus[i] == unit)
			return true;
	return false;
}

/* Move one group; false when it has nowhere to go. */
static int move_group(struct drain *d, int g)
{
	const struct xp_state *st = d->st;
	const struct xp_group *gr = &st->groups[g];
	struct xp_drain_ctx cx = { d->node_ok, d->gpu_skip, d->cur };
	struct xp_place places[64];
	int t0 = st->gtask[gr->first], i;

	if (gr->n > 64)
		return 0;
	if (!d->pol->dest(st, &d->u, &cx, t0, &places[0], d->pol->arg))
		return 0;
	if (gr->n == 1) {
		if (!xp_fits(&d->u, st, t0, &places[0], d->cur[t0].node))
			return 0;
		xp_usage_apply(&d->u, st, t0, &places[0], 1, places[0].node != d->cur[t0].node);
	} else if (!xp_group_place(&d->u, st, g, places[0].node, d->cur, d->gpu_skip, places)) {
		return 0;
	}
	d->units++;
	for (i = 0; i < gr->n; i++) {
		int t = st->gtask[gr->first + i];

		/* A rank placed where it is stays: its reservation goes, no move. */
		if (xp_place_equal(&places[i], &d->cur[t])) {
			xp_usage_apply(&d->u, st, t, &places[i], -1, false);
			continue;
		}
		if (xp_plan_add(d->p, t, &places[i], d->units, XP_WHY_DRAIN) < 0)
			return -1;
		d->p->moves[d->p->nmoves - 1].from = d->cur[t];
		if (relocate(d, t, &places[i]) < 0)
			return -1;
	}
	return 1;
}

/* Undo the moves from index `from` on, newest first. */
static int undo(struct drain *d, int from)
{
	while (d->p->nmoves > from) {
		const struct xp_move *m = &d->p->moves[--d->p->nmoves];
		struct xp_place back = m->from;

		xp_usage_apply(&d->u, d->st, m->task, &back, 1, back.node != m->to.node);
		if (relocate(d, m->task, &back) < 0)
			return -1;
	}
	return 0;
}

static int drain_unit(struct drain *d, int unit, int *groups)
{
	const struct xp_state *st = d->st;
	int node = d->pol->per_gpu ? st->gpus[unit].node : unit;
	int ng = 0, i, start = d->p->nmoves, r = 1;

	for (i = 0; i < d->r.n[node]; i++) {
		int t = d->r.on[node][i], g = st->tasks[t].group;

		if (!on_unit(d, t, unit) || d->gmark[g] == unit + 1)
			continue;
		if (!st->groups[g].movable)
			return 0;
		d->gmark[g] = unit + 1;
		groups[ng++] = g;
	}
	if (!ng)
		return 0;
	qsort_r(groups, (size_t)ng, sizeof(int), xp_group_cmp_size, (void *)st);
	if (d->pol->per_gpu)
		d->gpu_skip[unit] = true;
	else
		d->node_ok[unit] = false;
	for (i = 0; i < ng; i++) {
		r = move_group(d, groups[i]);
		if (r < 0)
			return -1;
		if (!r && d->pol->all_or_nothing)
			break;
	}
	if (r || !d->pol->all_or_nothing)
		return 0;
	if (undo(d, start) < 0)
		return -1;
	if (d->pol->per_gpu)
		d->gpu_skip[unit] = false;
	else
		d->node_ok[unit] = true;
	return 0;
}

struct cand {
	int unit;
	double key;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->unit - y->unit;
}

int xp_drain_run(const struct xp_state *st, struct xp_plan *p, const struct xp_drain_policy *pol)
{
	struct drain d = { st, p, pol, { 0 }, NULL, { 0 }, NULL, NULL, NULL, 0 };
	int nunits = pol->per_gpu ? st->ngpus : st->nnodes, i, nc = 0, rc = -1;
	struct cand *c = malloc(sizeof(*c) * ((size_t)nunits + 1));
	int *groups = malloc(sizeof(int) * ((size_t)st->ngroups + 1));

	d.cur = malloc(sizeof(*d.cur) * ((size_t)st->ntasks + 1));
	d.node_ok = calloc((size_t)st->nnodes + 1, sizeof(bool));
	d.gpu_skip = calloc((size_t)st->ngpus + 1, sizeof(bool));
	d.gmark = calloc((size_t)st->ngroups + 1, sizeof(int));
	if (!c || !groups || !d.cur || !d.node_ok || !d.gpu_skip || !d.gmark ||
	    xp_usage_init(&d.u, st) < 0 || xp_roster_init(&d.r, st) < 0) {
		xmig_error("out of memory");
		goto out;
	}
	xp_usage_fill_home(&d.u, st);
	d.u.watch = pol->watch;
	for (i = 0; i < st->ntasks; i++)
		d.cur[i] = st->tasks[i].home;
	for (i = 0; i < st->nnodes; i++)
		d.node_ok[i] = d.u.ncount[i] > 0;
	for (i = 0; i < st->ngpus; i++)
		d.gpu_skip[i] = pol->per_gpu && !d.u.gcount[i];
	for (i = 0; i < nunits; i++) {
		bool used = pol->per_gpu ? d.u.gcount[i] > 0 : d.u.ncount[i] > 0;

		if (!used)
			continue;
		c[nc].unit = i;
		c[nc].key = pol->order(st, &d.u, i, pol->per_gpu, pol->arg);
		nc++;
	}
	qsort(c, (size_t)nc, sizeof(*c), cmp_cand);
	for (i = 0; i < nc; i++) {
		if (pol->skip && pol->skip(st, &d.u, c[i].unit, pol->per_gpu, pol->arg))
			continue;
		if (drain_unit(&d, c[i].unit, groups) < 0)
			goto out;
	}
	rc = 0;
out:
	xp_usage_free(&d.u);
	xp_roster_free(&d.r);
	free(d.cur);
	free(d.node_ok);
	free(d.gpu_skip);
	free(d.gmark);
	free(c);
	free(groups);
	return rc;
}
