/*
 * algo-descheduler.c - baseline "descheduler", after the Kubernetes
 * descheduler's HighNodeUtilization strategy: nodes whose GPU utilisation is
 * below a threshold (--threshold, default 50%) are under-utilised; their
 * tasks are evicted one by one, least-utilised node first, each only if it
 * fits elsewhere, and rescheduled as kube-scheduler's MostAllocated scoring
 * would: to the node with the highest mean allocation of CPU, memory and GPU
 * after placement, on its tightest GPU (a binpacking device plugin). Like the
 * real one it does not ask whether a node ends up empty, so partial drains
 * happen. It works on nodes even with --objective gpus.
 */
#include "plan.h"

static double frac(double used, double cap)
{
	return cap > 0 ? used / cap : 1.0;
}

static bool dest_most_allocated(const struct xp_state *st, const struct xp_usage *u,
				const struct xp_drain_ctx *cx, int t, struct xp_place *out, void *arg)
{
	const struct xp_task *tk = &st->tasks[t];
	int from = cx->cur[t].node, comp = st->nodes[from].comp, n;
	double best = -1;
	struct xp_place pl;

	(void)arg;
	for (n = 0; n < st->nnodes; n++) {
		const struct xp_node *nd = &st->nodes[n];
		double score, parts = 1;

		if (!cx->node_ok[n] || nd->comp != comp || n == from)
			continue;
		if (!xp_bestfit_on_node(u, st, t, n, from, NULL, &pl))
			continue;
		score = xp_node_load(u, st, n) + (double)tk->share * pl.ngpus / ((double)nd->ngpus * XP_ONE);
		if (nd->cpu_m != INT64_MAX) {
			score += frac((double)(u->ncpu[n] + tk->cpu_m), (double)nd->cpu_m);
			parts++;
		}
		if (nd->mem != UINT64_MAX) {
			score += frac((double)(u->nmem[n] + tk->mem), (double)nd->mem);
			parts++;
		}
		score /= parts;
		if (score > best) {
			best = score;
			*out = pl;
		}
	}
	return best >= 0;
}

static bool not_under(const struct xp_state *st, const struct xp_usage *u, int unit, bool per_gpu, void *arg)
{
	(void)per_gpu;
	return xp_node_load(u, st, unit) >= *(const double *)arg;
}

int xp_algo_descheduler(const struct xp_state *st, struct xp_plan *p)
{
	struct xp_drain_policy pol = {
		.order = xp_order_load,
		.dest = dest_most_allocated,
		.skip = not_under,
		.all_or_nothing = false,
		.per_gpu = false,
		.arg = &p->opts.threshold,
	};

	if (p->opts.objective == XP_OBJ_GPUS)
		xp_plan_note(p, "descheduler works on nodes; --objective gpus does not change it");
	return xp_drain_run(st, p, &pol);
}
