/*
 * search.c - choosing GPUs on one node for a task, and placing whole groups:
 * the building blocks every algorithm shares, so they differ only in which
 * nodes they drain and where they look, not in how a fit is judged.
 */
#include <string.h>

#include "plan.h"

static bool host_fits(const struct xp_usage *u, const struct xp_state *st, int t, int n, int from_node)
{
	const struct xp_task *tk = &st->tasks[t];
	const struct xp_node *nd = &st->nodes[n];

	if (n == from_node)
		return true;
	return tk->cpu_m <= nd->cpu_m && u->ncpu[n] <= nd->cpu_m - tk->cpu_m &&
	       tk->mem <= nd->mem && u->nmem[n] <= nd->mem - tk->mem;
}

static bool gpu_ok(const struct xp_usage *u, const struct xp_state *st, int t, int g, const bool *skip)
{
	const struct xp_task *tk = &st->tasks[t];

	return (!skip || !skip[g]) && xp_model_ok(st, t, st->gpus[g].model) &&
	       u->gshare[g] + tk->share <= XP_ONE && u->gmem[g] + tk->bpg <= st->gpus[g].mem;
}

/*
 * Pick ngpus GPUs of node n for t, preferring by key (lower first). Whole-GPU
 * tasks only take GPUs nobody uses: a fractional tenant would be starved.
 */
static bool pick(const struct xp_usage *u, const struct xp_state *st, int t, int n, int from_node,
		 const bool *skip, bool spread, struct xp_place *out)
{
	const struct xp_task *tk = &st->tasks[t];
	const struct xp_node *nd = &st->nodes[n];
	int64_t key[XP_MAX_NODE_GPUS];
	bool used[XP_MAX_NODE_GPUS] = { false };
	int i, k, cand = 0;

	if (tk->home.ngpus > nd->ngpus || !host_fits(u, st, t, n, from_node))
		return false;
	for (i = 0; i < nd->ngpus; i++) {
		int g = nd->gpu0 + i;

		key[i] = INT64_MAX;
		if (!gpu_ok(u, st, t, g, skip) || (tk->share == XP_ONE && u->gcount[g]))
			continue;
		/* Best fit: least share left, then least memory left. */
		key[i] = (xp_gfree(u, g) - tk->share) * 4096 +
			 (int64_t)((st->gpus[g].mem - u->gmem[g] - tk->bpg) >> 30) % 4096;
		if (spread)
			key[i] = -key[i] + INT64_MAX / 2;
		cand++;
	}
	if (cand < tk->home.ngpus)
		return false;
	out->node = n;
	out->ngpus = tk->home.ngpus;
	for (k = 0; k < tk->home.ngpus; k++) {
		int best = -1;

		for (i = 0; i < nd->ngpus; i++)
			if (!used[i] && key[i] != INT64_MAX && (best < 0 || key[i] < key[best]))
				best = i;
		used[best] = true;
		out->gpus[k] = nd->gpu0 + best;
	}
	return true;
}

bool xp_bestfit_on_node(const struct xp_usage *u, const struct xp_state *st, int t, int n,
			int from_node, const bool *skip, struct xp_place *out)
{
	return pick(u, st, t, n, from_node, skip, false, out);
}

bool xp_spread_on_node(const struct xp_usage *u, const struct xp_state *st, int t, int n,
		       int from_node, struct xp_place *out)
{
	return pick(u, st, t, n, from_node, NULL, true, out);
}

bool xp_group_place(struct xp_usage *u, const struct xp_state *st, int g, int n,
		    const struct xp_place *cur, const bool *skip, struct xp_place *places)
{
	const struct xp_group *gr = &st->groups[g];
	int i;

	for (i = 0; i < gr->n; i++) {
		int t = st->gtask[gr->first + i];
		int from = cur ? cur[t].node : -1;

		if (!xp_bestfit_on_node(u, st, t, n, from, skip, &places[i])) {
			while (i-- > 0) {
				t = st->gtask[gr->first + i];
				xp_usage_apply(u, st, t, &places[i], -1, !cur || cur[t].node != n);
			}
			return false;
		}
		xp_usage_apply(u, st, t, &places[i], 1, from != n);
	}
	return true;
}

void xp_group_unplace(struct xp_usage *u, const struct xp_state *st, int g,
		      const struct xp_place *cur, const struct xp_place *places)
{
	const struct xp_group *gr = &st->groups[g];
	int i;

	for (i = 0; i < gr->n; i++) {
		int t = st->gtask[gr->first + i];

		xp_usage_apply(u, st, t, &places[i], -1, !cur || cur[t].node != places[i].node);
	}
}

void xp_group_release(struct xp_usage *u, const struct xp_state *st, int g,
		      struct xp_place *cur, const struct xp_place *places)
{
	const struct xp_group *gr = &st->groups[g];
	int i;

	for (i = 0; i < gr->n; i++) {
		int t = st->gtask[gr->first + i];

		xp_usage_apply(u, st, t, &cur[t], -1, cur[t].node != places[i].node);
		cur[t] = places[i];
	}
}

double xp_node_load(const struct xp_usage *u, const struct xp_state *st, int n)
{
	const struct xp_node *nd = &st->nodes[n];
	int64_t s = 0;
	int i;

	if (!nd->ngpus)
		return 0;
	for (i = 0; i < nd->ngpus; i++)
		s += u->gshare[nd->gpu0 + i];
	return (double)s / ((double)nd->ngpus * XP_ONE);
}

/* GPUs x share of group g. */
static int64_t group_load(const struct xp_state *st, int g)
{
	return (int64_t)st->groups[g].gpus * st->tasks[st->gtask[st->groups[g].first]].share;
}

int xp_group_cmp_size(const void *a, const void *b, void *state)
{
	const struct xp_state *st = state;
	const struct xp_group *x = &st->groups[*(const int *)a], *y = &st->groups[*(const int *)b];
	const struct xp_task *tx = &st->tasks[st->gtask[x->first]], *ty = &st->tasks[st->gtask[y->first]];
	int64_t sx = group_load(st, *(const int *)a), sy = group_load(st, *(const int *)b);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	if (tx->cpu_m != ty->cpu_m)
		return tx->cpu_m > ty->cpu_m ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

/* CPU-heaviest first, then as xp_group_cmp_size(): where CPU is what runs out. */
int xp_group_cmp_cpu(const void *a, const void *b, void *state)
{
	const struct xp_state *st = state;
	int64_t cx = st->tasks[st->gtask[st->groups[*(const int *)a].first]].cpu_m;
	int64_t cy = st->tasks[st->gtask[st->groups[*(const int *)b].first]].cpu_m;

	if (cx != cy)
		return cx > cy ? -1 : 1;
	return xp_group_cmp_size(a, b, state);
}

/* Smallest first, ties as xp_group_cmp_size(): small ones take the gaps before whole GPUs go. */
int xp_group_cmp_small(const void *a, const void *b, void *state)
{
	int64_t sx = group_load(state, *(const int *)a), sy = group_load(state, *(const int *)b);

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return xp_group_cmp_size(a, b, state);
}

bool xp_group_model_ok(const struct xp_state *st, int g, int model)
{
	const struct xp_group *gr = &st->groups[g];
	int i;

	for (i = 0; i < gr->n; i++)
		if (!xp_model_ok(st, st->gtask[gr->first + i], model))
			return false;
	return true;
}
