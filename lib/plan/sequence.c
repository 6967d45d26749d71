/*
 * sequence.c - order an algorithm's moves so that each fits when it runs
 * after the ones before it, with the moving task held at both ends.
 *
 * Algorithms that simulate as they go hand over moves already in such an
 * order and pass straight through. Algorithms that compute a final placement
 * (ffd, ilp, xmig's repacking) hand over moves whose order may not work: a
 * move waits until what blocks it has left, and when moves wait on each
 * other in a cycle one group is parked on a node with room and finishes its
 * move later. What still cannot run is dropped and said so in the notes.
 * Budgets are kept here too, by cutting whole units off the end.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

struct unit {
	int start, n, group;
	bool done;
};

struct seq {
	const struct xp_state *st;
	const struct xp_plan *in;
	struct xp_usage u;
	struct xp_place *cur;
	struct xp_plan *out;
	long moves;
	uint64_t bytes;         /* under 2^64: a task moves at most twice (parked, then on) */
	bool over_budget;
};

/* Add the unit's destinations on top of where its tasks are; all or none. */
static bool unit_reserve(struct seq *s, const struct xp_move *mv, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		const struct xp_move *m = &mv[i];
		int from = s->cur[m->task].node;

		if (!xp_fits(&s->u, s->st, m->task, &m->to, from)) {
			while (i-- > 0)
				xp_usage_apply(&s->u, s->st, mv[i].task, &mv[i].to, -1,
					       s->cur[mv[i].task].node != mv[i].to.node);
			return false;
		}
		xp_usage_apply(&s->u, s->st, m->task, &m->to, 1, from != m->to.node);
	}
	return true;
}

static bool within_budget(struct seq *s, const struct xp_move *mv, int n)
{
	const struct xp_opts *o = &s->out->opts;
	uint64_t b = 0;
	int i;

	for (i = 0; i < n; i++)
		b += s->st->tasks[mv[i].task].bytes;
	if ((o->max_moves >= 0 && s->moves + n > o->max_moves) ||
	    (o->max_bytes >= 0 && s->bytes + b > (uint64_t)o->max_bytes)) {
		s->over_budget = true;
		return false;
	}
	return true;
}

/* Reserved already: finish the moves, record them. */
static int unit_commit(struct seq *s, const struct xp_move *mv, int n, int unit, enum xp_why why)
{
	int i;

	for (i = 0; i < n; i++) {
		const struct xp_move *m = &mv[i];
		struct xp_move *o;

		if (xp_plan_add(s->out, m->task, &m->to, unit, why) < 0)
			return -1;
		o = &s->out->moves[s->out->nmoves - 1];
		o->from = s->cur[m->task];
		o->bytes = s->st->tasks[m->task].bytes;
		xp_usage_apply(&s->u, s->st, m->task, &o->from, -1, o->from.node != m->to.node);
		s->cur[m->task] = m->to;
		s->moves++;
		s->bytes += o->bytes;
	}
	return 0;
}

/* Move a whole blocked group to any other used node with room. */
static int park(struct seq *s, struct unit *un, bool *parked)
{
	const struct xp_state *st = s->st;
	const struct xp_group *g = &st->groups[un->group];
	struct xp_place places[XP_MAX_TASK_GPUS * 4];
	struct xp_move mv[XP_MAX_TASK_GPUS * 4];
	int n, i, here = s->cur[st->gtask[g->first]].node;

	if (parked[un->group] || un->n != g->n || g->n > (int)(sizeof(mv) / sizeof(mv[0])))
		return 0;
	for (n = 0; n < st->nnodes; n++) {
		if (n == here || !s->u.ncount[n] || st->nodes[n].comp != st->nodes[here].comp)
			continue;
		if (!xp_group_place(&s->u, st, un->group, n, s->cur, NULL, places))
			continue;
		for (i = 0; i < g->n; i++) {
			mv[i].task = st->gtask[g->first + i];
			mv[i].to = places[i];
		}
		if (!within_budget(s, mv, g->n)) {
			xp_group_unplace(&s->u, st, un->group, s->cur, places);
			return 0;
		}
		parked[un->group] = true;
		if (unit_commit(s, mv, g->n, s->out->nmoves + 1, XP_WHY_PARK) < 0)
			return -1;
		return 1;
	}
	return 0;
}

int xp_sequence(const struct xp_state *st, struct xp_plan *p)
{
	struct xp_plan out;
	struct seq s = { st, p, { 0 }, NULL, &out, 0, 0, false };
	struct unit *units = calloc((size_t)p->nmoves + 1, sizeof(*units));
	int *blocked = malloc(sizeof(int) * ((size_t)st->ngroups + 1));
	bool *parked = calloc((size_t)st->ngroups + 1, sizeof(bool));
	int nunits = 0, i, pass = 0, left, rc = -1, dropped = 0;

	xp_plan_init(&out, p->algorithm, &p->opts);
	s.cur = malloc(sizeof(*s.cur) * ((size_t)st->ntasks + 1));
	if (!units || !blocked || !parked || !s.cur || xp_usage_init(&s.u, st) < 0) {
		xmig_error("out of memory");
		goto out;
	}
	xp_usage_fill_home(&s.u, st);
	for (i = 0; i < st->ntasks; i++)
		s.cur[i] = st->tasks[i].home;
	for (i = 0; i < st->ngroups; i++)
		blocked[i] = -1;
	for (i = 0; i < p->nmoves; i++) {
		if (!i || p->moves[i].unit != p->moves[i - 1].unit) {
			units[nunits].start = i;
			units[nunits].group = st->tasks[p->moves[i].task].group;
			nunits++;
		}
		units[nunits - 1].n++;
	}
	for (left = nunits; left > 0 && !s.over_budget; pass++) {
		bool progress = false;

		for (i = 0; i < nunits && !s.over_budget; i++) {
			struct unit *un = &units[i];
			const struct xp_move *mv = &p->moves[un->start];

			if (un->done)
				continue;
			/* A group's moves keep their order. */
			if (blocked[un->group] == pass || !unit_reserve(&s, mv, un->n)) {
				blocked[un->group] = pass;
				continue;
			}
			if (!within_budget(&s, mv, un->n)) {
				for (int k = un->n; k-- > 0;)
					xp_usage_apply(&s.u, st, mv[k].task, &mv[k].to, -1,
						       s.cur[mv[k].task].node != mv[k].to.node);
				break;
			}
			if (unit_commit(&s, mv, un->n, out.nmoves + 1, p->moves[un->start].why) < 0)
				goto out;
			un->done = true;
			left--;
			progress = true;
		}
		if (progress || !left || s.over_budget)
			continue;
		for (i = 0; i < nunits && !progress; i++) {
			int r;

			if (units[i].done)
				continue;
			if ((r = park(&s, &units[i], parked)) < 0)
				goto out;
			progress = r > 0;
		}
		if (!progress)
			break;
	}
	for (i = 0; i < nunits; i++)
		dropped += units[i].done ? 0 : units[i].n;
	if (dropped && s.over_budget)
		xp_plan_note(&out, "%d move(s) left out to keep within --max-moves/--max-bytes", dropped);
	else if (dropped)
		xp_plan_note(&out, "%d move(s) left out: no order lets every step fit", dropped);
	for (i = 0; i < out.nmoves; i++)
		if (out.moves[i].why == XP_WHY_PARK) {
			xp_plan_note(&out, "some groups are parked on a third node to break a cycle of moves");
			break;
		}
	/* Keep the algorithm's own notes first. */
	{
		json_t *notes = json_copy(p->notes);

		json_array_extend(notes, out.notes);
		json_decref(out.notes);
		out.notes = notes;
	}
	out.sum.plan_seconds = p->sum.plan_seconds;
	out.info = p->info;
	p->info = NULL;
	xp_plan_free(p);
	*p = out;
	memset(&out, 0, sizeof(out));
	rc = 0;
out:
	xp_plan_free(&out);
	xp_usage_free(&s.u);
	free(s.cur);
	free(units);
	free(blocked);
	free(parked);
	return rc;
}
