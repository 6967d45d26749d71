/*
 * algo-bestfit.c - baseline "bestfit-drain": drain the least-loaded nodes
 * first (load = share used over the share the node has), each task to the
 * tightest GPU that fits, ties to the fullest node; a node is drained whole
 * or not at all. What most operators would script by hand.
 */
#include "plan.h"

static int64_t node_free(const struct xp_usage *u, const struct xp_state *st, int n)
{
	const struct xp_node *nd = &st->nodes[n];
	int64_t f = 0;
	int i;

	for (i = 0; i < nd->ngpus; i++)
		f += xp_gfree(u, nd->gpu0 + i);
	return f;
}

bool xp_dest_bestfit(const struct xp_state *st, const struct xp_usage *u, const struct xp_drain_ctx *cx,
		     int t, struct xp_place *out, void *arg)
{
	const struct xp_task *tk = &st->tasks[t];
	int from = cx->cur[t].node, comp = st->nodes[from].comp, n, i;
	int64_t best = INT64_MAX;
	struct xp_place pl;

	(void)arg;
	for (n = 0; n < st->nnodes; n++) {
		int64_t tight = 0, key;

		if (!cx->node_ok[n] || st->nodes[n].comp != comp)
			continue;
		if (!xp_bestfit_on_node(u, st, t, n, from, cx->gpu_skip, &pl))
			continue;
		for (i = 0; i < pl.ngpus; i++)
			tight += xp_gfree(u, pl.gpus[i]) - tk->share;
		key = tight * (XP_MAX_NODE_GPUS + 1) + (node_free(u, st, n) - tk->share * pl.ngpus) / XP_MAX_NODE_GPUS;
		if (key < best) {
			best = key;
			*out = pl;
		}
	}
	return best != INT64_MAX;
}

double xp_order_load(const struct xp_state *st, const struct xp_usage *u, int unit, bool per_gpu, void *arg)
{
	(void)arg;
	if (per_gpu)
		return (double)u->gshare[unit] / XP_ONE;
	return xp_node_load(u, st, unit);
}

int xp_algo_bestfit(const struct xp_state *st, struct xp_plan *p)
{
	struct xp_drain_policy pol = {
		.order = xp_order_load,
		.dest = xp_dest_bestfit,
		.all_or_nothing = true,
		.per_gpu = p->opts.objective == XP_OBJ_GPUS,
	};

	return xp_drain_run(st, p, &pol);
}
