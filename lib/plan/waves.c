/*
 * waves.c - group a sequenced plan into waves that run in parallel.
 *
 * A wave starts from the state the waves before it left; every move in it
 * holds its source and its destination until the wave ends, so a wave fits
 * when the sum of its destinations fits on top of that state. At most
 * opts.concurrency moves touch a node in one wave.
 *
 * Moves are taken in sequence order, and a move never overtakes an earlier
 * one bound for the same node, nor an earlier one of its own group. That is
 * enough for progress: the earliest waiting move sees no more load at its
 * destination than the sequence gave it, so it always fits in the next wave.
 *
 * The time of a wave is its slowest move, or its busiest network link when
 * moves share one: each node has one link of inter_bw for moves in and out.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Sort key: wave, then position in the sequence (qsort is not stable). */
struct keyed {
	struct xp_move m;
	int pos;
};

static int cmp_wave(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->m.wave != y->m.wave)
		return x->m.wave < y->m.wave ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct wv {
	const struct xp_state *st;
	struct xp_plan *p;
	struct xp_usage u;
	struct xp_place *cur;
	int *dest_mark, *group_mark, *count;
	double *link;          /* bytes over each node's link this wave */
};

static bool try_unit(struct wv *w, int lo, int hi, int wave)
{
	const struct xp_state *st = w->st;
	struct xp_move *mv = w->p->moves;
	int s = mv[lo].from.node, d = mv[lo].to.node, g = st->tasks[mv[lo].task].group, k;
	int cap = w->p->opts.concurrency;

	if (w->group_mark[g] == wave || w->dest_mark[d] == wave)
		goto blocked;
	if (w->count[s] + 1 > cap || (d != s && w->count[d] + 1 > cap))
		goto blocked;
	for (k = lo; k < hi; k++) {
		if (!xp_fits(&w->u, st, mv[k].task, &mv[k].to, w->cur[mv[k].task].node)) {
			while (k-- > lo)
				xp_usage_apply(&w->u, st, mv[k].task, &mv[k].to, -1,
					       mv[k].to.node != w->cur[mv[k].task].node);
			goto blocked;
		}
		xp_usage_apply(&w->u, st, mv[k].task, &mv[k].to, 1, mv[k].to.node != w->cur[mv[k].task].node);
	}
	w->count[s]++;
	if (d != s)
		w->count[d]++;
	w->group_mark[g] = wave;
	for (k = lo; k < hi; k++)
		mv[k].wave = wave;
	return true;
blocked:
	w->dest_mark[d] = wave;
	w->group_mark[g] = wave;
	return false;
}

static void release_wave(struct wv *w, int wave)
{
	int k;

	for (k = 0; k < w->p->nmoves; k++) {
		struct xp_move *m = &w->p->moves[k];

		if (m->wave != wave)
			continue;
		xp_usage_apply(&w->u, w->st, m->task, &w->cur[m->task], -1,
			       m->to.node != w->cur[m->task].node);
		w->cur[m->task] = m->to;
		w->count[m->from.node] = w->count[m->to.node] = 0;
	}
}

/* Time the moves of waves [lo,hi) of the sorted plan and the wave itself. */
static double time_wave(const struct xp_state *st, struct xp_plan *p, int lo, int hi, double *link)
{
	const struct xp_opts *o = &p->opts;
	double slowest = 0, busiest = 0;
	int k;

	for (k = lo; k < hi; k++) {
		struct xp_move *m = &p->moves[k];
		uint64_t b = st->tasks[m->task].bytes;

		m->est = xp_move_seconds(o, b, m->from.node == m->to.node);
		if (m->est > slowest)
			slowest = m->est;
		if (m->from.node != m->to.node) {
			link[m->from.node] += (double)b;
			link[m->to.node] += (double)b;
		}
	}
	for (k = lo; k < hi; k++) {
		const struct xp_move *m = &p->moves[k];

		if (link[m->from.node] > busiest)
			busiest = link[m->from.node];
		if (link[m->to.node] > busiest)
			busiest = link[m->to.node];
	}
	for (k = lo; k < hi; k++)
		link[p->moves[k].from.node] = link[p->moves[k].to.node] = 0;
	busiest = busiest > 0 ? o->overhead + busiest / o->inter_bw : 0;
	return slowest > busiest ? slowest : busiest;
}

static int sort_and_time(const struct xp_state *st, struct xp_plan *p, double *link)
{
	struct keyed *k = malloc(sizeof(*k) * ((size_t)p->nmoves + 1));
	int i, lo, w;

	p->wave_est = calloc((size_t)p->sum.waves + 1, sizeof(double));
	if (!k || !p->wave_est) {
		free(k);
		return xmig_error("out of memory");
	}
	for (i = 0; i < p->nmoves; i++) {
		k[i].m = p->moves[i];
		k[i].pos = i;
	}
	qsort(k, (size_t)p->nmoves, sizeof(*k), cmp_wave);
	for (i = 0; i < p->nmoves; i++)
		p->moves[i] = k[i].m;
	free(k);
	p->sum.est_seconds = 0;
	for (lo = 0; lo < p->nmoves; lo = i) {
		w = p->moves[lo].wave;
		for (i = lo; i < p->nmoves && p->moves[i].wave == w; i++)
			;
		p->wave_est[w - 1] = time_wave(st, p, lo, i, link);
		p->sum.est_seconds += p->wave_est[w - 1];
	}
	return 0;
}

int xp_waves(const struct xp_state *st, struct xp_plan *p)
{
	struct wv w = { st, p, { 0 }, NULL, NULL, NULL, NULL, NULL };
	int i, wave, left = 0, rc = -1;
	int *ustart = malloc(sizeof(int) * ((size_t)p->nmoves + 2)), nunits = 0;

	w.cur = malloc(sizeof(*w.cur) * ((size_t)st->ntasks + 1));
	w.dest_mark = calloc((size_t)st->nnodes + 1, sizeof(int));
	w.group_mark = calloc((size_t)st->ngroups + 1, sizeof(int));
	w.count = calloc((size_t)st->nnodes + 1, sizeof(int));
	w.link = calloc((size_t)st->nnodes + 1, sizeof(double));
	if (!ustart || !w.cur || !w.dest_mark || !w.group_mark || !w.count || !w.link ||
	    xp_usage_init(&w.u, st) < 0) {
		xmig_error("out of memory");
		goto out;
	}
	xp_usage_fill_home(&w.u, st);
	for (i = 0; i < st->ntasks; i++)
		w.cur[i] = st->tasks[i].home;
	for (i = 0; i < p->nmoves; i++) {
		p->moves[i].wave = 0;
		if (!i || p->moves[i].unit != p->moves[i - 1].unit)
			ustart[nunits++] = i;
	}
	ustart[nunits] = p->nmoves;
	left = nunits;
	for (wave = 1; left > 0; wave++) {
		int placed = 0;

		for (i = 0; i < nunits; i++)
			if (!p->moves[ustart[i]].wave && try_unit(&w, ustart[i], ustart[i + 1], wave))
				placed++;
		if (!placed) {
			xmig_error("internal error: no move of the sequence fits in wave %d", wave);
			goto out;
		}
		left -= placed;
		release_wave(&w, wave);
	}
	p->sum.waves = wave - 1;
	free(p->wave_est);
	p->wave_est = NULL;
	rc = sort_and_time(st, p, w.link);
out:
	xp_usage_free(&w.u);
	free(w.cur);
	free(w.dest_mark);
	free(w.group_mark);
	free(w.count);
	free(w.link);
	free(ustart);
	return rc;
}
