/*
 * usage.c - occupancy of GPUs and nodes, and the one fit test every
 * algorithm, the sequencer, the wave builder, the checker and apply share.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

int xp_usage_init(struct xp_usage *u, const struct xp_state *st)
{
	size_t g = (size_t)st->ngpus + 1, n = (size_t)st->nnodes + 1;

	memset(u, 0, sizeof(*u));
	u->gshare = calloc(g, sizeof(*u->gshare));
	u->gmem = calloc(g, sizeof(*u->gmem));
	u->gcount = calloc(g, sizeof(*u->gcount));
	u->ncpu = calloc(n, sizeof(*u->ncpu));
	u->nmem = calloc(n, sizeof(*u->nmem));
	u->ncount = calloc(n, sizeof(*u->ncount));
	if (!u->gshare || !u->gmem || !u->gcount || !u->ncpu || !u->nmem || !u->ncount) {
		xp_usage_free(u);
		return xmig_error("out of memory");
	}
	return 0;
}

void xp_usage_free(struct xp_usage *u)
{
	free(u->gshare);
	free(u->gmem);
	free(u->gcount);
	free(u->ncpu);
	free(u->nmem);
	free(u->ncount);
	memset(u, 0, sizeof(*u));
}

void xp_usage_apply(struct xp_usage *u, const struct xp_state *st, int t,
		    const struct xp_place *p, int sign, bool host)
{
	const struct xp_task *tk = &st->tasks[t];
	int i;

	for (i = 0; i < p->ngpus; i++) {
		int g = p->gpus[i];

		u->gshare[g] += sign * tk->share;
		u->gmem[g] += (uint64_t)(int64_t)sign * tk->bpg;
		u->gcount[g] += sign;
	}
	if (host) {
		u->ncpu[p->node] += sign * tk->cpu_m;
		u->nmem[p->node] += (uint64_t)(int64_t)sign * tk->mem;
		u->ncount[p->node] += sign;
	}
	if (u->watch)
		u->watch->touch(u->watch, st, p->node);
}

void xp_usage_fill_home(struct xp_usage *u, const struct xp_state *st)
{
	int t;

	for (t = 0; t < st->ntasks; t++)
		xp_usage_apply(u, st, t, &st->tasks[t].home, 1, true);
}

bool xp_fits(const struct xp_usage *u, const struct xp_state *st, int t,
	     const struct xp_place *p, int from_node)
{
	const struct xp_task *tk = &st->tasks[t];
	const struct xp_node *n = &st->nodes[p->node];
	int i;

	if (p->ngpus != tk->home.ngpus)
		return false;
	for (i = 0; i < p->ngpus; i++) {
		int g = p->gpus[i];

		if (st->gpus[g].node != p->node || !xp_model_ok(st, t, st->gpus[g].model) ||
		    u->gshare[g] + tk->share > XP_ONE || u->gmem[g] + tk->bpg > st->gpus[g].mem)
			return false;
	}
	if (p->node == from_node)
		return true;
	return u->ncpu[p->node] <= n->cpu_m - tk->cpu_m && tk->cpu_m <= n->cpu_m &&
	       tk->mem <= n->mem && u->nmem[p->node] <= n->mem - tk->mem;
}

int xp_node_empty_gpus(const struct xp_usage *u, const struct xp_state *st, int n)
{
	const struct xp_node *nd = &st->nodes[n];
	int i, c = 0;

	for (i = 0; i < nd->ngpus; i++)
		c += u->gcount[nd->gpu0 + i] == 0;
	return c;
}
