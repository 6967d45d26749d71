/*
 * algo-ilp.c - the exact baseline: an integer program solved by GLPK, for
 * small clusters, to measure how far the heuristics are from the optimum.
 *
 * Variables: y[g,n] group g ends on node n; z[t,k] task t uses GPU k;
 * u[n] node n is used (v[k] GPU k, for --objective gpus); s[t] task t stays
 * exactly where it is. Constraints: each group on one node, each task on as
 * many GPUs of that node as it holds and of a model it may use, share and
 * device memory per GPU, CPUs and memory per node (all net of the tasks that
 * cannot move), and the budgets. Share and host capacity only exist on a node
 * counted as used, which gives the relaxation a capacity bound.
 *
 * Two stages, each with --time-limit: first the fewest used nodes (GPUs),
 * then, with that count fixed, the fewest device bytes moved (a tiny weight
 * per move breaks ties). Each stage starts from a known solution (nothing
 * moves, then stage one's answer) so a time limit still leaves a valid plan;
 * whether each stage was proven optimal is reported in "algorithm_info".
 * It plans the final placement only; the sequencer orders the moves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glpk-load.h"

#define MAX_BINARIES 200000
#define GIB (1024.0 * 1024 * 1024)

struct trip {
	int *i, *j, n, cap;
	double *v;
};

static int put(struct trip *m, int i, int j, double v)
{
	if (m->n + 1 >= m->cap) {
		int cap = m->cap ? m->cap * 2 : 4096;
		int *a = realloc(m->i, sizeof(int) * (size_t)cap), *b;
		double *c;

		if (!a)
			return -1;
		m->i = a;
		if (!(b = realloc(m->j, sizeof(int) * (size_t)cap)))
			return -1;
		m->j = b;
		if (!(c = realloc(m->v, sizeof(double) * (size_t)cap)))
			return -1;
		m->v = c;
		m->cap = cap;
	}
	m->n++;  /* GLPK counts from 1 */
	m->i[m->n] = i;
	m->j[m->n] = j;
	m->v[m->n] = v;
	return 0;
}

struct ilp {
	const struct xp_state *st;
	struct xp_plan *p;
	struct xp_glpk g;
	glp_prob *lp;
	struct trip m;
	bool gpus;             /* objective gpus */
	int ncols, nrows;
	int *ucol;             /* per node (nodes objective) */
	int *vcol;             /* per GPU (gpus objective) */
	int *scol;             /* per task, 0 if it cannot move */
	int *ycol0, *yn;       /* per group: first y column, its candidate count */
	int **ynode;           /* per group: candidate nodes */
	int *zcol0;            /* per task: first z column (GPUs of its candidates, in order) */
	double *start;         /* incumbent for the next stage, 1-based */
	bool start_given;
	int64_t *fshare;       /* fixed (non-movable) load per GPU / node */
	uint64_t *fmem;
	int64_t *fcpu;
	uint64_t *fnmem;
};

static int col(struct ilp *x, int kind, double lo, double hi)
{
	int j = ++x->ncols;

	(void)j;
	x->g.add_cols(x->lp, 1);
	x->g.set_col_kind(x->lp, j, kind);
	if (kind != GLP_BV)
		x->g.set_col_bnds(x->lp, j, lo == hi ? GLP_FX : GLP_DB, lo, hi);
	else if (lo == hi)
		x->g.set_col_bnds(x->lp, j, GLP_FX, lo, hi);
	return j;
}

static int row(struct ilp *x, int type, double lo, double hi)
{
	x->g.add_rows(x->lp, 1);
	x->g.set_row_bnds(x->lp, ++x->nrows, type, lo, hi);
	return x->nrows;
}

static bool gpu_usable(const struct xp_state *st, int g, int k)
{
	return xp_group_model_ok(st, g, st->gpus[k].model);
}

/* Nodes group g may end on: its component, enough usable GPUs for each member. */
static bool candidate(const struct xp_state *st, int g, int n)
{
	const struct xp_group *gr = &st->groups[g];
	const struct xp_node *nd = &st->nodes[n];
	int i, usable = 0, need = 0;

	if (nd->comp != st->nodes[gr->node].comp)
		return false;
	for (i = 0; i < nd->ngpus; i++)
		usable += gpu_usable(st, g, nd->gpu0 + i);
	for (i = 0; i < gr->n; i++)
		if (st->tasks[st->gtask[gr->first + i]].home.ngpus > need)
			need = st->tasks[st->gtask[gr->first + i]].home.ngpus;
	return usable >= need;
}

static int count_binaries(struct ilp *x, long *nb)
{
	const struct xp_state *st = x->st;
	int g, n, i;

	*nb = 0;
	for (g = 0; g < st->ngroups; g++) {
		if (!st->groups[g].movable)
			continue;
		for (n = 0; n < st->nnodes; n++) {
			if (!candidate(st, g, n))
				continue;
			*nb += 1;
			for (i = 0; i < st->nodes[n].ngpus; i++)
				*nb += gpu_usable(st, g, st->nodes[n].gpu0 + i) * st->groups[g].n;
		}
	}
	return 0;
}

static void fixed_load(struct ilp *x)
{
	const struct xp_state *st = x->st;
	int t, i;

	for (t = 0; t < st->ntasks; t++) {
		const struct xp_task *tk = &st->tasks[t];

		if (st->groups[tk->group].movable)
			continue;
		for (i = 0; i < tk->home.ngpus; i++) {
			x->fshare[tk->home.gpus[i]] += tk->share;
			x->fmem[tk->home.gpus[i]] += tk->bpg;
		}
		x->fcpu[tk->home.node] += tk->cpu_m;
		x->fnmem[tk->home.node] += tk->mem;
	}
}

/* Columns and rows; returns -1 on allocation failure. */
static int build(struct ilp *x)
{
	const struct xp_state *st = x->st;
	const struct xp_opts *o = &x->p->opts;
	int g, n, i, k, r, a;
	double total_bytes = 0;
	int movers = 0;

	for (n = 0; n < st->nnodes; n++) {
		bool pinned = x->fcpu[n] > 0 || x->fnmem[n] > 0;

		for (i = 0; i < st->nodes[n].ngpus; i++)
			pinned |= x->fshare[st->nodes[n].gpu0 + i] > 0 || x->fmem[st->nodes[n].gpu0 + i] > 0;
		if (!x->gpus)
			x->ucol[n] = col(x, GLP_BV, pinned, 1);
	}
	for (k = 0; k < st->ngpus && x->gpus; k++)
		x->vcol[k] = col(x, GLP_BV, x->fshare[k] > 0 || x->fmem[k] > 0, 1);
	for (g = 0; g < st->ngroups; g++) {
		const struct xp_group *gr = &st->groups[g];

		if (!gr->movable)
			continue;
		x->ynode[g] = malloc(sizeof(int) * (size_t)st->nnodes);
		if (!x->ynode[g])
			return -1;
		x->ycol0[g] = x->ncols + 1;
		for (n = 0; n < st->nnodes; n++)
			if (candidate(st, g, n)) {
				x->ynode[g][x->yn[g]++] = n;
				col(x, GLP_BV, 0, 1);
			}
		for (i = 0; i < gr->n; i++) {
			int t = st->gtask[gr->first + i];

			x->zcol0[t] = x->ncols + 1;
			for (a = 0; a < x->yn[g]; a++)
				for (k = 0; k < st->nodes[x->ynode[g][a]].ngpus; k++)
					if (gpu_usable(st, g, st->nodes[x->ynode[g][a]].gpu0 + k))
						col(x, GLP_BV, 0, 1);
			x->scol[t] = col(x, GLP_BV, 0, 1);
			total_bytes += (double)st->tasks[t].bytes / GIB;
			movers++;
		}
	}
	/* Per group and node: one node each; members take their GPU count there. */
	for (g = 0; g < st->ngroups; g++) {
		const struct xp_group *gr = &st->groups[g];

		if (!gr->movable)
			continue;
		r = row(x, GLP_FX, 1, 1);
		for (a = 0; a < x->yn[g]; a++) {
			if (put(&x->m, r, x->ycol0[g] + a, 1) < 0)
				return -1;
			if (!x->gpus) {
				int r2 = row(x, GLP_UP, 0, 0);

				if (put(&x->m, r2, x->ycol0[g] + a, 1) < 0 || put(&x->m, r2, x->ucol[x->ynode[g][a]], -1) < 0)
					return -1;
			}
		}
		for (i = 0; i < gr->n; i++) {
			int t = st->gtask[gr->first + i], z = x->zcol0[t];

			for (a = 0; a < x->yn[g]; a++) {
				const struct xp_node *nd = &st->nodes[x->ynode[g][a]];

				r = row(x, GLP_FX, 0, 0);
				if (put(&x->m, r, x->ycol0[g] + a, -(double)st->tasks[t].home.ngpus) < 0)
					return -1;
				for (k = 0; k < nd->ngpus; k++) {
					int gk = nd->gpu0 + k;

					if (!gpu_usable(st, g, gk))
						continue;
					if (put(&x->m, r, z, 1) < 0)
						return -1;
					/* Staying needs every home GPU. */
					for (int h = 0; h < st->tasks[t].home.ngpus; h++)
						if (st->tasks[t].home.gpus[h] == gk) {
							int r3 = row(x, GLP_UP, 0, 0);

							if (put(&x->m, r3, x->scol[t], 1) < 0 || put(&x->m, r3, z, -1) < 0)
								return -1;
						}
					z++;
				}
			}
		}
	}
	/* Capacities: per GPU share and memory, per node CPUs and memory. */
	for (k = 0; k < st->ngpus; k++) {
		const struct xp_gpu *gp = &st->gpus[k];
		int rs = row(x, GLP_UP, 0, 0);
		/* (memory as a fraction of the GPU's: coefficients at most 1, whatever its size) */
		int rm = row(x, GLP_UP, 0, ((double)gp->mem - (double)x->fmem[k]) / (double)gp->mem);

		if (put(&x->m, rs, x->gpus ? x->vcol[k] : x->ucol[gp->node],
			-((double)(XP_ONE - x->fshare[k]) / XP_ONE)) < 0)
			return -1;
		for (g = 0; g < st->ngroups; g++) {
			const struct xp_group *gr = &st->groups[g];

			if (!gr->movable)
				continue;
			for (i = 0; i < gr->n; i++) {
				int t = st->gtask[gr->first + i], z = x->zcol0[t];

				for (a = 0; a < x->yn[g]; a++) {
					const struct xp_node *nd = &st->nodes[x->ynode[g][a]];

					for (int kk = 0; kk < nd->ngpus; kk++) {
						if (!gpu_usable(st, g, nd->gpu0 + kk))
							continue;
						if (nd->gpu0 + kk == k &&
						    (put(&x->m, rs, z, (double)st->tasks[t].share / XP_ONE) < 0 ||
						     put(&x->m, rm, z, (double)st->tasks[t].bpg / (double)gp->mem) < 0))
							return -1;
						z++;
					}
				}
			}
		}
	}
	for (n = 0; n < st->nnodes; n++) {
		const struct xp_node *nd = &st->nodes[n];
		int rc = -1, rmem = -1;

		if (nd->cpu_m != INT64_MAX) {
			rc = row(x, GLP_UP, 0, x->gpus ? (double)(nd->cpu_m - x->fcpu[n]) / 1000 : 0);
			if (!x->gpus && put(&x->m, rc, x->ucol[n], -(double)(nd->cpu_m - x->fcpu[n]) / 1000) < 0)
				return -1;
		}
		/* (host memory too as a fraction of the node's) */
		if (nd->mem != UINT64_MAX) {
			double room = ((double)nd->mem - (double)x->fnmem[n]) / (double)nd->mem;

			rmem = row(x, GLP_UP, 0, x->gpus ? room : 0);
			if (!x->gpus && put(&x->m, rmem, x->ucol[n], -room) < 0)
				return -1;
		}
		for (g = 0; g < st->ngroups; g++) {
			const struct xp_group *gr = &st->groups[g];
			double cpu = 0, mem = 0;

			if (!gr->movable)
				continue;
			for (a = 0; a < x->yn[g] && x->ynode[g][a] != n; a++)
				;
			if (a == x->yn[g])
				continue;
			for (i = 0; i < gr->n; i++) {
				cpu += (double)st->tasks[st->gtask[gr->first + i]].cpu_m / 1000;
				mem += (double)st->tasks[st->gtask[gr->first + i]].mem / (double)nd->mem;
			}
			if ((rc > 0 && cpu > 0 && put(&x->m, rc, x->ycol0[g] + a, cpu) < 0) ||
			    (rmem > 0 && mem > 0 && put(&x->m, rmem, x->ycol0[g] + a, mem) < 0))
				return -1;
		}
	}
	/* Budgets, as "enough tasks stay". */
	if (o->max_moves >= 0 || o->max_bytes >= 0) {
		int rmv = o->max_moves >= 0 ? row(x, GLP_LO, movers - o->max_moves, 0) : 0;
		int rby = o->max_bytes >= 0 ? row(x, GLP_LO, total_bytes - (double)o->max_bytes / GIB - 1e-9, 0) : 0;

		for (i = 0; i < st->ntasks; i++) {
			if (!x->scol[i])
				continue;
			if ((rmv && put(&x->m, rmv, x->scol[i], 1) < 0) ||
			    (rby && put(&x->m, rby, x->scol[i], (double)st->tasks[i].bytes / GIB) < 0))
				return -1;
		}
	}
	x->g.load_matrix(x->lp, x->m.n, x->m.i, x->m.j, x->m.v);
	return 0;
}

/* The solution where nothing moves, as a first incumbent. */
static void stay_solution(struct ilp *x)
{
	const struct xp_state *st = x->st;
	int g, i, a, k, t;

	memset(x->start, 0, sizeof(double) * ((size_t)x->ncols + 1));
	for (t = 0; t < st->ntasks; t++) {
		const struct xp_task *tk = &st->tasks[t];

		if (!x->gpus)
			x->start[x->ucol[tk->home.node]] = 1;
		for (i = 0; i < tk->home.ngpus && x->gpus; i++)
			x->start[x->vcol[tk->home.gpus[i]]] = 1;
	}
	for (g = 0; g < st->ngroups; g++) {
		const struct xp_group *gr = &st->groups[g];

		if (!gr->movable)
			continue;
		for (a = 0; a < x->yn[g] && x->ynode[g][a] != gr->node; a++)
			;
		x->start[x->ycol0[g] + a] = 1;
		for (i = 0; i < gr->n; i++) {
			int z;

			t = st->gtask[gr->first + i];
			z = x->zcol0[t];
			x->start[x->scol[t]] = 1;
			for (a = 0; a < x->yn[g]; a++) {
				const struct xp_node *nd = &st->nodes[x->ynode[g][a]];

				for (k = 0; k < nd->ngpus; k++) {
					int h;

					if (!gpu_usable(st, g, nd->gpu0 + k))
						continue;
					for (h = 0; h < st->tasks[t].home.ngpus; h++)
						if (st->tasks[t].home.gpus[h] == nd->gpu0 + k)
							x->start[z] = 1;
					z++;
				}
			}
		}
	}
}

static void callback(glp_tree *tree, void *info)
{
	struct ilp *x = info;

	if (x->start_given || x->g.ios_reason(tree) != GLP_IHEUR)
		return;
	x->start_given = true;
	x->g.ios_heur_sol(tree, x->start);
}

/*
 * Solve with the current objective; returns GLP_OPT, GLP_FEAS or 0. A stop
 * at the relative gap counts as optimal: stage one asks for a gap below one
 * node (its objective is a count, so no better count exists), stage two for
 * a gap of 1e-6.
 */
static int solve(struct ilp *x, double gap)
{
	glp_smcp sm;
	glp_iocp io;
	int r, j;

	x->g.init_smcp(&sm);
	sm.msg_lev = GLP_MSG_OFF;
	sm.tm_lim = (int)(x->p->opts.time_limit * 1000);
	if (x->g.simplex(x->lp, &sm) != 0)
		return 0;
	x->g.init_iocp(&io);
	io.msg_lev = GLP_MSG_OFF;
	io.tm_lim = (int)(x->p->opts.time_limit * 1000);
	io.cb_func = callback;
	io.cb_info = x;
	io.mip_gap = gap;
	/* Measured on trace sub-clusters: these prove about twice as many optima in the limit. */
	io.br_tech = GLP_BR_PCH;
	io.bt_tech = GLP_BT_BLB;
	io.mir_cuts = io.cov_cuts = io.clq_cuts = GLP_ON;
	io.fp_heur = GLP_ON;
	x->start_given = false;
	r = x->g.intopt(x->lp, &io);
	if (r != 0 && r != GLP_ETMLIM && r != GLP_EMIPGAP)
		return 0;
	j = x->g.mip_status(x->lp);
	if (j != GLP_OPT && j != GLP_FEAS)
		return 0;
	r = j == GLP_OPT || r == GLP_EMIPGAP ? GLP_OPT : GLP_FEAS;
	for (j = 1; j <= x->ncols; j++)
		x->start[j] = round(x->g.mip_col_val(x->lp, j));
	return r;
}

/* Read the placement and hand the moves over, a unit per group. */
static int emit(struct ilp *x)
{
	const struct xp_state *st = x->st;
	int g, i, a, k, unit = 0;

	for (g = 0; g < st->ngroups; g++) {
		const struct xp_group *gr = &st->groups[g];
		bool moved = false;

		if (!gr->movable)
			continue;
		for (i = 0; i < gr->n; i++) {
			int t = st->gtask[gr->first + i], z = x->zcol0[t];
			struct xp_place pl = { -1, 0, { 0 } };

			if (x->start[x->scol[t]] > 0.5)
				continue;
			for (a = 0; a < x->yn[g]; a++) {
				const struct xp_node *nd = &st->nodes[x->ynode[g][a]];

				for (k = 0; k < nd->ngpus; k++) {
					if (!gpu_usable(st, g, nd->gpu0 + k))
						continue;
					if (x->start[z++] > 0.5 && pl.ngpus < XP_MAX_TASK_GPUS) {
						pl.node = x->ynode[g][a];
						pl.gpus[pl.ngpus++] = nd->gpu0 + k;
					}
				}
			}
			if (pl.ngpus != st->tasks[t].home.ngpus)
				return xmig_error("internal error: the ilp solution gives task %s %d GPUs",
						  st->tasks[t].id, pl.ngpus);
			if (!moved)
				unit++;
			moved = true;
			if (xp_plan_add(x->p, t, &pl, unit, XP_WHY_DRAIN) < 0)
				return -1;
		}
	}
	return 0;
}

static const char *status_name(int s)
{
	return s == GLP_OPT ? "optimal" : s == GLP_FEAS ? "feasible" : "not solved";
}

static void ilp_free(struct ilp *x)
{
	int g;

	if (x->lp)
		x->g.delete_prob(x->lp);
	xp_glpk_close(&x->g);
	for (g = 0; x->ynode && g < x->st->ngroups; g++)
		free(x->ynode[g]);
	free(x->ynode);
	free(x->m.i);
	free(x->m.j);
	free(x->m.v);
	free(x->ucol);
	free(x->vcol);
	free(x->scol);
	free(x->ycol0);
	free(x->yn);
	free(x->zcol0);
	free(x->start);
	free(x->fshare);
	free(x->fmem);
	free(x->fcpu);
	free(x->fnmem);
}

int xp_algo_ilp(const struct xp_state *st, struct xp_plan *p)
{
	struct ilp x = { 0 };
	long nb;
	int s1 = 0, s2 = 0, rc = -1, j, r;
	double used1 = 0;

	x.st = st;
	x.p = p;
	x.gpus = p->opts.objective == XP_OBJ_GPUS;
	/* Nothing to place: an empty plan (GLPK aborts on a problem without columns). */
	if (!st->ntasks)
		return 0;
	count_binaries(&x, &nb);
	if (nb > MAX_BINARIES)
		return xmig_error("the cluster is too large for the exact ilp algorithm (%ld binary variables, "
				  "limit %d); use it on small clusters", nb, MAX_BINARIES);
	if (xp_glpk_open(&x.g) < 0)
		return -1;
	x.ucol = calloc((size_t)st->nnodes + 1, sizeof(int));
	x.vcol = calloc((size_t)st->ngpus + 1, sizeof(int));
	x.scol = calloc((size_t)st->ntasks + 1, sizeof(int));
	x.zcol0 = calloc((size_t)st->ntasks + 1, sizeof(int));
	x.ycol0 = calloc((size_t)st->ngroups + 1, sizeof(int));
	x.yn = calloc((size_t)st->ngroups + 1, sizeof(int));
	x.ynode = calloc((size_t)st->ngroups + 1, sizeof(int *));
	x.fshare = calloc((size_t)st->ngpus + 1, sizeof(int64_t));
	x.fmem = calloc((size_t)st->ngpus + 1, sizeof(uint64_t));
	x.fcpu = calloc((size_t)st->nnodes + 1, sizeof(int64_t));
	x.fnmem = calloc((size_t)st->nnodes + 1, sizeof(uint64_t));
	if (!x.ucol || !x.vcol || !x.scol || !x.zcol0 || !x.ycol0 || !x.yn || !x.ynode || !x.fshare ||
	    !x.fmem || !x.fcpu || !x.fnmem) {
		xmig_error("out of memory");
		goto out;
	}
	fixed_load(&x);
	x.lp = x.g.create_prob();
	if (build(&x) < 0 || !(x.start = calloc((size_t)x.ncols + 1, sizeof(double)))) {
		xmig_error("out of memory");
		goto out;
	}
	/* Stage one: fewest used nodes (GPUs). */
	x.g.set_obj_dir(x.lp, GLP_MIN);
	for (j = 1; j <= x.ncols; j++)
		x.g.set_obj_coef(x.lp, j, 0);
	if (!x.gpus)
		for (j = 0; j < st->nnodes; j++)
			x.g.set_obj_coef(x.lp, x.ucol[j], 1);
	else
		for (j = 0; j < st->ngpus; j++)
			x.g.set_obj_coef(x.lp, x.vcol[j], 1);
	stay_solution(&x);
	for (j = 0, r = 0; j < (x.gpus ? st->ngpus : st->nnodes); j++)
		r += x.start[x.gpus ? x.vcol[j] : x.ucol[j]] > 0.5;
	s1 = solve(&x, r ? 0.999 / r : 0);
	if (s1) {
		int cnt = x.gpus ? st->ngpus : st->nnodes, *ind = malloc(sizeof(int) * ((size_t)cnt + 1));
		double *val = malloc(sizeof(double) * ((size_t)cnt + 1));

		if (!ind || !val) {
			free(ind);
			free(val);
			xmig_error("out of memory");
			goto out;
		}
		used1 = round(x.g.mip_obj_val(x.lp));
		/* Stage two: keep that count, move the fewest bytes. */
		r = row(&x, GLP_UP, 0, used1 + 0.5);
		for (j = 0; j < cnt; j++) {
			ind[j + 1] = x.gpus ? x.vcol[j] : x.ucol[j];
			val[j + 1] = 1;
			x.g.set_obj_coef(x.lp, ind[j + 1], 0);
		}
		x.g.set_mat_row(x.lp, r, cnt, ind, val);
		free(ind);
		free(val);
		for (j = 0; j < st->ntasks; j++)
			if (x.scol[j])
				x.g.set_obj_coef(x.lp, x.scol[j], -((double)st->tasks[j].bytes / GIB + 1e-4));
		s2 = solve(&x, 1e-6);
		if (!s2)
			s2 = GLP_FEAS;  /* stage one's answer is still in start[] */
	}
	p->info = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:I, s:i, s:i}",
			    "solver", "GLPK", "version", x.g.version(),
			    x.gpus ? "gpus_stage" : "nodes_stage", status_name(s1),
			    "bytes_stage", s1 ? status_name(s2) : "not solved",
			    x.gpus ? "gpus_used_after" : "nodes_used_after", used1,
			    "time_limit_seconds", p->opts.time_limit,
			    "binaries", (json_int_t)nb, "columns", x.ncols, "rows", x.nrows);
	if (!s1) {
		xp_plan_note(p, "ilp: no solution within the time limit of %g s per stage; the plan is empty",
			     p->opts.time_limit);
		rc = 0;
		goto out;
	}
	if (s1 != GLP_OPT || s2 != GLP_OPT)
		xp_plan_note(p, "ilp: time limit reached; the plan is the best found, not proven optimal");
	rc = emit(&x);
out:
	ilp_free(&x);
	return rc;
}
