/*
 * algo-ffd.c - baseline "ffd": repack every movable group from scratch by
 * first-fit decreasing (largest first: GPUs x share, then CPUs, then bytes),
 * nodes in the state's order, best-fit GPUs within a node; non-movable tasks
 * stay where they are. The classic bin-packing answer: dense, but blind to
 * what is already in place, so most tasks move. A group that fits nowhere
 * stays home; the sequencer then leaves out what cannot be ordered.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "plan.h"

int xp_algo_ffd(const struct xp_state *st, struct xp_plan *p)
{
	struct xp_usage u;
	struct xp_place *fin = malloc(sizeof(*fin) * ((size_t)st->ntasks + 1));
	struct xp_place places[64];
	int *order = malloc(sizeof(int) * ((size_t)st->ngroups + 1));
	int i, k, n, ng = 0, unit = 0, homeless = 0, rc = -1;

	if (!fin || !order || xp_usage_init(&u, st) < 0) {
		xmig_error("out of memory");
		goto out_free;
	}
	for (i = 0; i < st->ntasks; i++) {
		fin[i] = st->tasks[i].home;
		if (!st->groups[st->tasks[i].group].movable)
			xp_usage_apply(&u, st, i, &fin[i], 1, true);
	}
	for (i = 0; i < st->ngroups; i++)
		if (st->groups[i].movable && st->groups[i].n <= 64)
			order[ng++] = i;
	qsort_r(order, (size_t)ng, sizeof(int), xp_group_cmp_size, (void *)st);
	for (i = 0; i < ng; i++) {
		const struct xp_group *g = &st->groups[order[i]];
		int comp = st->nodes[g->node].comp;

		for (n = 0; n < st->nnodes; n++)
			if (st->nodes[n].comp == comp && xp_group_place(&u, st, order[i], n, NULL, NULL, places))
				break;
		if (n == st->nnodes) {
			homeless++;
			continue;
		}
		for (k = 0; k < g->n; k++)
			fin[st->gtask[g->first + k]] = places[k];
	}
	if (homeless)
		xp_plan_note(p, "ffd: %d group(s) fit nowhere in the repack and stay where they are", homeless);
	for (i = 0; i < ng; i++) {
		const struct xp_group *g = &st->groups[order[i]];
		bool moved = false;

		for (k = 0; k < g->n; k++) {
			int t = st->gtask[g->first + k];

			if (xp_place_equal(&fin[t], &st->tasks[t].home))
				continue;
			if (!moved)
				unit++;
			moved = true;
			if (xp_plan_add(p, t, &fin[t], unit, XP_WHY_DRAIN) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	xp_usage_free(&u);
out_free:
	free(fin);
	free(order);
	return rc;
}
