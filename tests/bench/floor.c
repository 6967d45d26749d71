/*
 * floor.c - lower bounds on the device bytes of any plan (plan-bench.c).
 *
 * Freeing a node means moving every task on it, so a plan that frees k
 * nodes (net: nodes in use before minus after) moves at least the bytes of
 * k used nodes; which ones it may pick is limited per component (nodes
 * tasks can move between): the nodes still in use after, empty ones lit up
 * included, must hold the component's tasks, so at most used_c - N_c of its
 * used nodes go, N_c being the fewest nodes that can hold them. The floors
 * differ in how they count N_c; each keeps only capacity rules, so real
 * plans need more.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Fewest of v[0..n) (sorted here, largest first) that add up to need (all n if they do not). */
static int cover(double *v, int n, double need)
{
	double have = 0;
	int i;

	qsort(v, (size_t)n, sizeof(double), cmp_dbl_desc);
	for (i = 0; i < n && have < need - 1e-9; i++)
		have += v[i];
	return i;
}

/*
 * Fewest GPUs that can hold items of these sizes (fractions of a GPU,
 * sorted here, largest first): Martello and Toth's L2 bound for bin packing,
 * the best over every threshold a of the items up to 1/2: items over 1-a
 * and those over 1/2 each need a GPU of their own, and the items from a to
 * 1/2 what is left over.
 */
static int gpus_needed(double *it, int n)
{
	double total = 0;
	int i, a, best;

	qsort(it, (size_t)n, sizeof(double), cmp_dbl_desc);
	for (i = 0; i < n; i++)
		total += it[i];
	best = (int)ceil(total - 1e-9);
	for (a = n; a >= 0; a--) {
		double alpha = a < n ? it[a] : 0, s2 = 0, s3 = 0, rest;
		int j1 = 0, j2 = 0, need;

		if (alpha > 0.5)
			break;
		if (a < n - 1 && it[a] == it[a + 1])
			continue;       /* the same threshold again */
		for (i = 0; i < n; i++) {
			if (it[i] > 1 - alpha + 1e-12)
				j1++;
			else if (it[i] > 0.5 + 1e-12) {
				j2++;
				s2 += it[i];
			} else if (it[i] >= alpha - 1e-12) {
				s3 += it[i];
			}
		}
		rest = s3 - (j2 - s2);
		need = j1 + j2 + (rest > 1e-9 ? (int)ceil(rest - 1e-9) : 0);
		if (need > best)
			best = need;
	}
	return best;
}

enum { HAS_GPUS, HAS_CPUS, HAS_MEM };

/* Fewest nodes of component c, richest in `what` first, that hold `need` of it. */
static int nodes_for(const struct xp_state *st, int c, int what, double need, double *v)
{
	int n, nv = 0;

	for (n = 0; n < st->nnodes; n++) {
		const struct xp_node *nd = &st->nodes[n];

		if (nd->comp == c)
			v[nv++] = what == HAS_GPUS ? nd->ngpus : what == HAS_CPUS ? (double)nd->cpu_m : (double)nd->mem;
	}
	return cover(v, nv, need);
}

/*
 * Fewest nodes of component c that can hold its tasks. Loose: GPU share
 * only, largest nodes first. Tight: also GPUs by L2 (shares of tasks do not
 * split across GPUs), CPUs and host memory, each with the nodes richest in
 * it first; the most of those.
 */
static int nodes_needed(const struct xp_state *st, int c, bool tight, double *v, double *items)
{
	double share = 0, cpu = 0, mem = 0;
	int t, ni = 0, i, need;

	for (t = 0; t < st->ntasks; t++) {
		const struct xp_task *tk = &st->tasks[t];

		if (st->nodes[tk->home.node].comp != c)
			continue;
		share += (double)tk->share * tk->home.ngpus / XP_ONE;
		cpu += (double)tk->cpu_m;
		mem += (double)tk->mem;
		for (i = 0; i < tk->home.ngpus; i++)
			items[ni++] = (double)tk->share / XP_ONE;
	}
	if (!tight)
		return nodes_for(st, c, HAS_GPUS, share, v);
	need = nodes_for(st, c, HAS_GPUS, gpus_needed(items, ni), v);
	if ((i = nodes_for(st, c, HAS_CPUS, cpu, v)) > need)
		need = i;
	if ((i = nodes_for(st, c, HAS_MEM, mem, v)) > need)
		need = i;
	return need;
}

/* Device bytes on each node; used[n] when a task is there. */
static void node_costs(const struct xp_state *st, uint64_t *cost, bool *used)
{
	int t;

	for (t = 0; t < st->ntasks; t++) {
		cost[st->tasks[t].home.node] += st->tasks[t].bytes;
		used[st->tasks[t].home.node] = true;
	}
}

/* The cheapest k nodes among the cheapest allowed of each component. */
static uint64_t cheapest_allowed(const struct xp_state *st, int k, bool tight)
{
	size_t nn = (size_t)st->nnodes + 1, ni = (size_t)st->ntasks * XP_MAX_TASK_GPUS + 1;
	uint64_t *cost = calloc(nn, sizeof(uint64_t)), *pick = malloc(nn * sizeof(uint64_t));
	uint64_t *cc = malloc(nn * sizeof(uint64_t)), sum = UINT64_MAX;
	double *v = malloc(nn * sizeof(double)), *items = malloc(ni * sizeof(double));
	bool *used = calloc(nn, sizeof(bool));
	int c, n, i, np = 0;

	if (!cost || !pick || !cc || !v || !items || !used)
		goto out;
	node_costs(st, cost, used);
	for (c = 0; c < st->ncomps; c++) {
		int nused = 0, allowed;

		for (n = 0; n < st->nnodes; n++)
			if (st->nodes[n].comp == c && used[n])
				cc[nused++] = cost[n];
		if (!nused)
			continue;
		allowed = nused - nodes_needed(st, c, tight, v, items);
		qsort(cc, (size_t)nused, sizeof(uint64_t), cmp_u64);
		for (i = 0; i < allowed; i++)
			pick[np++] = cc[i];
	}
	if (k > np)
		goto out;
	qsort(pick, (size_t)np, sizeof(uint64_t), cmp_u64);
	for (sum = 0, i = 0; i < k; i++)
		sum += pick[i];
out:
	free(cost);
	free(pick);
	free(cc);
	free(v);
	free(items);
	free(used);
	return sum;
}

uint64_t bytes_floor(const struct xp_state *st, int k)
{
	return cheapest_allowed(st, k, false);
}

uint64_t bytes_floor_tight(const struct xp_state *st, int k)
{
	return cheapest_allowed(st, k, true);
}

uint64_t bytes_floor_models(const struct xp_state *st, json_t *freed)
{
	size_t nn = (size_t)st->nnodes + 1, i;
	uint64_t *cost = calloc(nn, sizeof(uint64_t)), *cc = malloc(nn * sizeof(uint64_t)), sum = 0;
	int *want = calloc((size_t)st->ncomps + 1, sizeof(int)), c, n, k;
	bool *used = calloc(nn, sizeof(bool));
	json_t *name;

	if (!cost || !cc || !want || !used) {
		sum = UINT64_MAX;
		goto out;
	}
	node_costs(st, cost, used);
	json_array_foreach(freed, i, name)
		if ((n = xp_find_node(st, json_string_value(name))) >= 0 && st->nodes[n].comp >= 0)
			want[st->nodes[n].comp]++;
	for (c = 0; c < st->ncomps; c++) {
		int nused = 0;

		for (n = 0; n < st->nnodes; n++)
			if (st->nodes[n].comp == c && used[n])
				cc[nused++] = cost[n];
		qsort(cc, (size_t)nused, sizeof(uint64_t), cmp_u64);
		for (k = 0; k < want[c] && k < nused; k++)
			sum += cc[k];
	}
out:
	free(cost);
	free(cc);
	free(want);
	free(used);
	return sum;
}
