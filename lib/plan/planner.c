/*
 * planner.c - the algorithm table and the pipeline every plan goes through:
 * algorithm -> sequence -> waves -> replay by the checker. A plan the checker
 * rejects is an internal error, never shown as a result.
 */
#include <string.h>

#include "plan.h"

const struct xp_algo xp_algos[] = {
	{ "xmig", "drain the cheapest nodes per freed node, repack into the fullest (default)", xp_algo_xmig },
	{ "ffd", "first-fit-decreasing repack of every movable task", xp_algo_ffd },
	{ "bestfit-drain", "drain the least-loaded nodes, best-fit placement", xp_algo_bestfit },
	{ "descheduler", "Kubernetes descheduler HighNodeUtilization-like eviction pass", xp_algo_descheduler },
	{ "fgd", "least-loaded drain placed by fragmentation gradient descent (FGD)", xp_algo_fgd },
	{ "ilp", "exact optimum through GLPK (small clusters, time-limited)", xp_algo_ilp },
	{ NULL, NULL, NULL },
};

const struct xp_algo *xp_algo_find(const char *name)
{
	const struct xp_algo *a;

	for (a = xp_algos; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

int xp_plan_make(const struct xp_state *st, const char *algorithm,
		 const struct xp_opts *o, struct xp_plan *p)
{
	const struct xp_algo *a = xp_algo_find(algorithm);
	uint64_t t0 = xmig_now_ns();
	struct xp_check c;
	int i;

	xp_plan_init(p, algorithm, o);
	if (!a)
		return xmig_error("unknown algorithm '%s'", algorithm);
	if (a->run(st, p) < 0 || xp_sequence(st, p) < 0 || xp_waves(st, p) < 0)
		return -1;
	xp_check_plan(st, p, &c);
	p->sum.plan_seconds = (double)(xmig_now_ns() - t0) / 1e9;
	if (!c.ok) {
		xmig_error("internal error: the %s plan fails its own replay at move %d: %s", algorithm,
			   c.move + 1, c.error);
		xp_check_free(&c);
		return -1;
	}
	p->sum.nodes_before = c.sum.nodes_before;
	p->sum.nodes_after = c.sum.nodes_after;
	p->sum.gpus_before = c.sum.gpus_before;
	p->sum.gpus_after = c.sum.gpus_after;
	p->sum.moves = c.sum.moves;
	p->sum.bytes = c.sum.bytes;
	p->sum.units = 0;
	for (i = 0; i < p->nmoves; i++)
		p->sum.units += !i || p->moves[i].unit != p->moves[i - 1].unit;
	json_decref(p->freed_nodes);
	p->freed_nodes = c.freed_nodes;
	return 0;
}
