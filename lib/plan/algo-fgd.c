/*
 * algo-fgd.c - baseline "fgd": drain the least-loaded nodes whole, placing
 * each task where the node's fragmentation grows least, after Fragmentation
 * Gradient Descent (Weng et al., "Beware of Fragmentation", USENIX ATC '23).
 *
 * The workload M is the mix of task kinds in the state (GPUs x share, with
 * their mean CPU and memory), each weighted by how common it is. For a node
 * and a kind m: if m cannot run there at all (host resources, or no GPU with
 * enough free share, or too few empty GPUs for a whole-GPU kind), all free
 * GPU share of the node is fragment; otherwise the free share of the GPUs
 * that cannot serve m is. F(node) = sum over m of weight(m) x fragment(m),
 * and a task goes to the (node, GPUs) with the smallest increase of F.
 *
 * Per node the sums behind F are cached and refreshed only when the node's
 * usage changes, so a placement costs O(kinds) per candidate GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

struct kind {
	int k;                 /* GPUs */
	int64_t s;             /* share per GPU */
	double w;              /* popularity */
	double cpu_m, mem;     /* mean host demand */
};

struct fgd {
	struct xp_watch watch;
	const struct xp_usage *u;
	struct kind *kinds;
	int nk;
	bool *stale;
	double *sumf;          /* per node: free share */
	int *cnt;              /* [node * nk + m]: GPUs that can serve m */
	double *part;          /* [node * nk + m]: free share of GPUs that cannot */
};

static void touch(struct xp_watch *w, const struct xp_state *st, int node)
{
	(void)st;
	((struct fgd *)w)->stale[node] = true;
}

static bool serves(const struct kind *m, int64_t f)
{
	return m->s == XP_ONE ? f == XP_ONE : f >= m->s;
}

static void refresh(struct fgd *f, const struct xp_state *st, int n)
{
	const struct xp_node *nd = &st->nodes[n];
	int m, i;

	f->stale[n] = false;
	f->sumf[n] = 0;
	for (i = 0; i < nd->ngpus; i++)
		f->sumf[n] += (double)xp_gfree(f->u, nd->gpu0 + i);
	for (m = 0; m < f->nk; m++) {
		int c = 0;
		double part = 0;

		for (i = 0; i < nd->ngpus; i++) {
			int64_t fr = xp_gfree(f->u, nd->gpu0 + i);

			if (serves(&f->kinds[m], fr))
				c++;
			else
				part += (double)fr;
		}
		f->cnt[n * f->nk + m] = c;
		f->part[n * f->nk + m] = part;
	}
}

static bool host_ok(const struct xp_node *nd, double cpu_free, double mem_free, const struct kind *m)
{
	return (nd->cpu_m == INT64_MAX || cpu_free >= m->cpu_m) && (nd->mem == UINT64_MAX || mem_free >= m->mem);
}

/* Increase of F(n) when task t takes share on the GPUs of pl. */
static double delta(struct fgd *f, const struct xp_state *st, int t, const struct xp_place *pl, bool host)
{
	const struct xp_task *tk = &st->tasks[t];
	const struct xp_node *nd = &st->nodes[pl->node];
	int n = pl->node, m, i;
	double cpu_free = (double)nd->cpu_m - (double)f->u->ncpu[n];
	double mem_free = (double)nd->mem - (double)f->u->nmem[n];
	double sum_after = f->sumf[n] - (double)tk->share * pl->ngpus, d = 0;

	for (m = 0; m < f->nk; m++) {
		const struct kind *k = &f->kinds[m];
		int cnt = f->cnt[n * f->nk + m];
		double part = f->part[n * f->nk + m], before, after;

		before = host_ok(nd, cpu_free, mem_free, k) && cnt >= k->k ? part : f->sumf[n];
		for (i = 0; i < pl->ngpus; i++) {
			int64_t fr = xp_gfree(f->u, pl->gpus[i]), fa = fr - tk->share;

			if (serves(k, fr))
				cnt--;
			else
				part -= (double)fr;
			if (serves(k, fa))
				cnt++;
			else
				part += (double)fa;
		}
		after = host_ok(nd, cpu_free - (host ? (double)tk->cpu_m : 0), mem_free - (host ? (double)tk->mem : 0), k) &&
				cnt >= k->k ? part : sum_after;
		d += k->w * (after - before);
	}
	return d;
}

static bool dest_fgd(const struct xp_state *st, const struct xp_usage *u, const struct xp_drain_ctx *cx,
		     int t, struct xp_place *out, void *arg)
{
	struct fgd *f = arg;
	const struct xp_task *tk = &st->tasks[t];
	int from = cx->cur[t].node, comp = st->nodes[from].comp, n, i;
	double best = INFINITY, best_tight = INFINITY;
	struct xp_place pl;

	f->u = u;
	for (n = 0; n < st->nnodes; n++) {
		const struct xp_node *nd = &st->nodes[n];

		if (!cx->node_ok[n] || nd->comp != comp)
			continue;
		if (!xp_bestfit_on_node(u, st, t, n, from, cx->gpu_skip, &pl))
			continue;
		if (f->stale[n])
			refresh(f, st, n);
		/* Whole GPUs: any empty ones are alike; a share: try each GPU. */
		for (i = tk->share == XP_ONE ? -1 : 0; i < nd->ngpus; i++) {
			double d, tight;

			if (i >= 0) {
				pl.gpus[0] = nd->gpu0 + i;
				if (!xp_fits(u, st, t, &pl, from) || (cx->gpu_skip && cx->gpu_skip[pl.gpus[0]]))
					continue;
			}
			d = delta(f, st, t, &pl, n != from);
			tight = (double)xp_gfree(u, pl.gpus[0]);
			if (d < best - 1e-9 || (fabs(d - best) <= 1e-9 && tight < best_tight)) {
				best = d;
				best_tight = tight;
				*out = pl;
			}
			if (i < 0)
				break;
		}
	}
	return best < INFINITY;
}

static int build_kinds(struct fgd *f, const struct xp_state *st)
{
	int t, m;

	f->kinds = calloc((size_t)st->ntasks + 1, sizeof(*f->kinds));
	if (!f->kinds)
		return xmig_error("out of memory");
	for (t = 0; t < st->ntasks; t++) {
		const struct xp_task *tk = &st->tasks[t];

		for (m = 0; m < f->nk; m++)
			if (f->kinds[m].k == tk->home.ngpus && f->kinds[m].s == tk->share)
				break;
		if (m == f->nk) {
			f->kinds[m].k = tk->home.ngpus;
			f->kinds[m].s = tk->share;
			f->nk++;
		}
		f->kinds[m].w += 1;
		f->kinds[m].cpu_m += (double)tk->cpu_m;
		f->kinds[m].mem += (double)tk->mem;
	}
	for (m = 0; m < f->nk; m++) {
		f->kinds[m].cpu_m /= f->kinds[m].w;
		f->kinds[m].mem /= f->kinds[m].w;
		f->kinds[m].w /= st->ntasks;
	}
	return 0;
}

int xp_algo_fgd(const struct xp_state *st, struct xp_plan *p)
{
	struct fgd f = { { touch }, NULL, NULL, 0, NULL, NULL, NULL, NULL };
	struct xp_drain_policy pol = {
		.order = xp_order_load,
		.dest = dest_fgd,
		.all_or_nothing = true,
		.per_gpu = p->opts.objective == XP_OBJ_GPUS,
		.watch = &f.watch,
		.arg = &f,
	};
	int rc = -1, i;

	if (!st->ntasks)
		return 0;
	if (build_kinds(&f, st) < 0)
		return -1;
	f.stale = malloc(sizeof(bool) * ((size_t)st->nnodes + 1));
	f.sumf = calloc((size_t)st->nnodes + 1, sizeof(double));
	f.cnt = calloc((size_t)st->nnodes * (size_t)f.nk + 1, sizeof(int));
	f.part = calloc((size_t)st->nnodes * (size_t)f.nk + 1, sizeof(double));
	if (!f.stale || !f.sumf || !f.cnt || !f.part) {
		xmig_error("out of memory");
		goto out;
	}
	for (i = 0; i < st->nnodes; i++)
		f.stale[i] = true;
	rc = xp_drain_run(st, p, &pol);
out:
	free(f.kinds);
	free(f.stale);
	free(f.sumf);
	free(f.cnt);
	free(f.part);
	return rc;
}
