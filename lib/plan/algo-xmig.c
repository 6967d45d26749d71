/*
 * algo-xmig.c - xmig's own planner.
 *
 * It works on the final placement and leaves the order to the sequencer.
 * Every node freed counts the same, so the price of a node is the device
 * bytes of the tasks on it: candidates are ranked by that (then by load).
 *
 *  1. Per component (nodes tasks can move between), find the longest prefix
 *     of the ranking that can be drained at once, by binary search. Draining
 *     a set lifts all its groups and packs them, largest first, into the
 *     tightest target GPU (whole-GPU tasks: the node with the fewest empty
 *     GPUs that fit), targets being the nodes that stay. Packing them all
 *     together, largest first, fits far more than node-by-node drains.
 *  2. When a task fits nowhere, repair: empty a target GPU (or the GPUs a
 *     multi-GPU task needs) by moving its small tasks to other targets.
 *  3. Extend: try every remaining candidate on its own, cheapest first.
 *  4. Swap: give back an expensive drained node for a cheaper one that now
 *     drains, as long as the bytes fall.
 *  5. Orders: before step 4, each component small enough for it goes
 *     through steps 1-3 again with the lifted groups packed CPU-heaviest
 *     first, then smallest first. Where CPUs run out before GPUs, those
 *     orders let the repair rearrange the nodes that stay for far fewer
 *     bytes. The best of the orders stays.
 *
 * Everything is undone through a journal, so trying costs nothing but time.
 * Groups that had already moved can be re-targeted for free. Budgets
 * (--max-moves, --max-bytes) are part of "it drains".
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "plan.h"

enum { EMPTY, KEEP, DRAIN };

struct jent {
	int task;              /* -1: a status change of unit `unit` */
	int unit;
	uint8_t status;
	bool in;
	struct xp_place old;
};

struct xm {
	const struct xp_state *st;
	struct xp_plan *p;
	bool per_gpu;
	int nunits;
	struct xp_usage u;
	struct xp_index ix;
	struct xp_roster r;
	struct xp_place *fin;
	bool *in_u;
	uint8_t *status;       /* per unit */
	uint64_t *stamp, clock;
	struct jent *j;
	size_t nj, capj;
	long moves;
	int64_t bytes;
	bool *skip;            /* GPUs a repair is emptying */
	int *hstart, *hlist;   /* tasks by home node: hlist[hstart[n] .. hstart[n+1]) */
	int *gmark, mark;
	int *lift;
	int (*order)(const void *, const void *, void *);  /* how a drain packs its lifted groups */
	struct xp_place *keep; /* drain_comp_orders(): the best placement yet */
	uint8_t *keep_status;
	int *touched;
	size_t ntouched;
};

static int unit_node(const struct xm *x, int unit)
{
	return x->per_gpu ? x->st->gpus[unit].node : unit;
}

static bool gpu_member(void *arg, int g)
{
	const struct xm *x = arg;

	return x->status[x->per_gpu ? g : x->st->gpus[g].node] == KEEP;
}

static bool node_member(void *arg, int n)
{
	const struct xm *x = arg;

	return !x->per_gpu && x->status[n] == KEEP;
}

static int journal(struct xm *x, const struct jent *e)
{
	if (x->nj == x->capj) {
		size_t cap = x->capj ? x->capj * 2 : 1024;
		struct jent *j = realloc(x->j, sizeof(*j) * cap);

		if (!j)
			return xmig_error("out of memory");
		x->j = j;
		x->capj = cap;
	}
	x->j[x->nj++] = *e;
	return 0;
}

static void apply_fin(struct xm *x, int t, const struct xp_place *pl, bool in)
{
	const struct xp_task *tk = &x->st->tasks[t];
	int was = !xp_place_equal(&x->fin[t], &tk->home), now = !xp_place_equal(pl, &tk->home);

	if (x->in_u[t])
		xp_usage_apply(&x->u, x->st, t, &x->fin[t], -1, true);
	x->moves += now - was;
	x->bytes += (int64_t)(now - was) * (int64_t)tk->bytes;
	xp_roster_move(&x->r, t, x->fin[t].node, pl->node);
	x->fin[t] = *pl;
	x->in_u[t] = in;
	if (in) {
		xp_usage_apply(&x->u, x->st, t, pl, 1, true);
		x->stamp[t] = ++x->clock;
	}
}

static int set_fin(struct xm *x, int t, const struct xp_place *pl, bool in)
{
	struct jent e = { t, 0, 0, x->in_u[t], x->fin[t] };

	if (journal(x, &e) < 0)
		return -1;
	apply_fin(x, t, pl, in);
	return 0;
}

static int set_status(struct xm *x, int unit, uint8_t s)
{
	struct jent e = { -1, unit, x->status[unit], false, { 0 } };

	if (journal(x, &e) < 0)
		return -1;
	x->status[unit] = s;
	xp_index_refile(&x->ix, unit_node(x, unit));
	return 0;
}

static void undo_to(struct xm *x, size_t mark)
{
	while (x->nj > mark) {
		const struct jent *e = &x->j[--x->nj];

		if (e->task < 0) {
			x->status[e->unit] = e->status;
			xp_index_refile(&x->ix, unit_node(x, e->unit));
		} else {
			apply_fin(x, e->task, &e->old, e->in);
		}
	}
}

static bool on_unit(const struct xm *x, int t, int unit)
{
	int i;

	if (!x->per_gpu)
		return x->fin[t].node == unit;
	for (i = 0; i < x->fin[t].ngpus; i++)
		if (x->fin[t].gpus[i] == unit)
			return true;
	return false;
}

static bool find_place(const struct xm *x, int t, struct xp_place *pl);

/* Place one lifted group on targets; false if there is no room. */
static int place_group(struct xm *x, int g)
{
	const struct xp_state *st = x->st;
	const struct xp_group *gr = &st->groups[g];
	struct xp_place pl, places[64], best[64];
	int64_t best_free = INT64_MAX;
	int t = st->gtask[gr->first], n, i;

	if (gr->n == 1) {
		if (!find_place(x, t, &pl))
			return 0;
		return set_fin(x, t, &pl, true) < 0 ? -1 : 1;
	}
	if (x->per_gpu || gr->n > 64)
		return 0;
	/* Ranks that stay together: the fullest node that takes them all. */
	for (n = 0; n < st->nnodes; n++) {
		int64_t f = 0;

		if (x->status[n] != KEEP || st->nodes[n].comp != st->nodes[gr->node].comp)
			continue;
		if (!xp_group_place(&x->u, st, g, n, NULL, x->skip, places))
			continue;
		for (i = 0; i < st->nodes[n].ngpus; i++)
			f += xp_gfree(&x->u, st->nodes[n].gpu0 + i);
		xp_group_unplace(&x->u, st, g, NULL, places);
		if (f < best_free) {
			best_free = f;
			memcpy(best, places, sizeof(places[0]) * (size_t)gr->n);
		}
	}
	if (best_free == INT64_MAX)
		return 0;
	for (i = 0; i < gr->n; i++)
		if (set_fin(x, st->gtask[gr->first + i], &best[i], true) < 0)
			return -1;
	return 1;
}

/* Tasks a repair may move off a GPU: alone in their group, on one GPU. */
static bool evictable(const struct xm *x, int t)
{
	const struct xp_task *tk = &x->st->tasks[t];
	const struct xp_group *g = &x->st->groups[tk->group];

	return g->movable && g->n == 1 && tk->home.ngpus == 1 && x->in_u[t];
}

/* Where a lifted one-task group goes: tightest GPU, or tightest node for whole GPUs. */
static bool find_place(const struct xm *x, int t, struct xp_place *pl)
{
	if (x->st->tasks[t].share == XP_ONE)
		return xp_index_node(&x->ix, t, x->skip, pl);
	return xp_index_gpu(&x->ix, t, x->skip, pl);
}

/* Moving t off where it is costs its bytes unless it was moving anyway. */
static uint64_t evict_cost(const struct xm *x, int t)
{
	return xp_place_equal(&x->fin[t], &x->st->tasks[t].home) ? x->st->tasks[t].bytes : 0;
}

/*
 * Which task on GPU g (roster index on node n) to move off to free `need`:
 * the smallest that is enough alone, else the smallest there is, so the
 * evicted are easy to place again; cheaper ones first among equals. -1 when
 * a task there may not be moved (then g cannot be cleared).
 */
static int pick_eviction(const struct xm *x, int n, int g, int64_t need, const bool *taken)
{
	const struct xp_state *st = x->st;
	int i, enough = -1, small = -1;

	for (i = 0; i < x->r.n[n]; i++) {
		int o = x->r.on[n][i];
		int64_t s = st->tasks[o].share;

		if (taken[i] || !x->in_u[o] || x->fin[o].ngpus != 1 || x->fin[o].gpus[0] != g)
			continue;
		if (!evictable(x, o))
			return -1;
		if (s >= need && (enough < 0 || s < st->tasks[x->r.on[n][enough]].share ||
				  (s == st->tasks[x->r.on[n][enough]].share &&
				   evict_cost(x, o) < evict_cost(x, x->r.on[n][enough]))))
			enough = i;
		if (small < 0 || s < st->tasks[x->r.on[n][small]].share)
			small = i;
	}
	return enough >= 0 ? enough : small;
}

/*
 * Make room on node n for task t on GPUs gl[0..k): move off those GPUs what
 * keeps t's share from fitting, then, while the node lacks CPUs or memory
 * for t, other one-GPU tasks of the node (those moving anyway first, then
 * the largest CPU users). The evicted go to other targets. Returns 1 when t
 * is placed, 0 when not (state unchanged), 2 when n cannot work at all.
 */
static int try_clear(struct xm *x, int t, int n, const int *gl, int k)
{
	const struct xp_state *st = x->st;
	const struct xp_task *tk = &st->tasks[t];
	const struct xp_node *nd = &st->nodes[n];
	int ev[256], nev = 0, i, a, r = 0;
	int64_t cpu = x->u.ncpu[n];
	uint64_t mem = x->u.nmem[n];
	size_t mark = x->nj;
	struct xp_place pl = { n, k, { 0 } };
	bool taken[XP_MAX_NODE_GPUS * 8] = { false };

	if (tk->cpu_m > nd->cpu_m || tk->mem > nd->mem || x->r.n[n] > (int)sizeof(taken))
		return 2;
	for (a = 0; a < k; a++) {
		int g = gl[a];
		int64_t free_after = xp_gfree(&x->u, g);

		if (!xp_model_ok(st, t, st->gpus[g].model) || st->gpus[g].mem < tk->bpg)
			return 2;
		pl.gpus[a] = g;
		while (free_after < tk->share) {
			int pick = pick_eviction(x, n, g, tk->share - free_after, taken);

			if (pick < 0 || nev == 256)
				return 2;
			taken[pick] = true;
			ev[nev++] = x->r.on[n][pick];
			free_after += st->tasks[x->r.on[n][pick]].share;
			cpu -= st->tasks[x->r.on[n][pick]].cpu_m;
			mem -= st->tasks[x->r.on[n][pick]].mem;
		}
	}
	while (cpu > nd->cpu_m - tk->cpu_m || mem > nd->mem - tk->mem) {
		int best = -1;

		for (i = 0; i < x->r.n[n]; i++) {
			int o = x->r.on[n][i];

			if (taken[i] || !evictable(x, o))
				continue;
			if (best < 0 || evict_cost(x, o) < evict_cost(x, x->r.on[n][best]) ||
			    (evict_cost(x, o) == evict_cost(x, x->r.on[n][best]) &&
			     st->tasks[o].cpu_m > st->tasks[x->r.on[n][best]].cpu_m))
				best = i;
		}
		if (best < 0 || nev == 256)
			return 2;
		taken[best] = true;
		ev[nev++] = x->r.on[n][best];
		cpu -= st->tasks[x->r.on[n][best]].cpu_m;
		mem -= st->tasks[x->r.on[n][best]].mem;
	}
	for (a = 0; a < k; a++)
		x->skip[gl[a]] = true;
	for (i = 0; i < nev; i++)
		if (set_fin(x, ev[i], &x->fin[ev[i]], false) < 0)
			goto fail;
	if (!xp_fits(&x->u, st, t, &pl, -1))
		goto undo;
	if (set_fin(x, t, &pl, true) < 0)
		goto fail;
	for (i = 0; i < nev; i++) {
		struct xp_place to;

		if (!find_place(x, ev[i], &to))
			goto undo;
		if (set_fin(x, ev[i], &to, true) < 0)
			goto fail;
	}
	r = 1;
	goto out;
fail:
	r = -1;
undo:
	undo_to(x, mark);
out:
	for (a = 0; a < k; a++)
		x->skip[gl[a]] = false;
	return r;
}

/* Candidates a repair attempts, and looks at, before it gives up. */
#define REPAIR_TRIES 24
#define REPAIR_LOOKS 512

/* Make room for single-task group g on the targets by moving small tasks. */
static int repair(struct xm *x, int g)
{
	const struct xp_state *st = x->st;
	const struct xp_group *gr = &st->groups[g];
	int t = st->gtask[gr->first], tries = 0, looks = 0, m, b, e, n, r;
	const struct xp_task *tk = &st->tasks[t];
	int comp = st->nodes[tk->home.node].comp;

	if (gr->n != 1)
		return 0;
	if (tk->home.ngpus == 1) {
		/* GPUs just short of the share first: the least to move away. */
		for (b = (int)((tk->share - 1) / 1000); b >= 0 && tries < REPAIR_TRIES && looks < REPAIR_LOOKS; b--)
			for (m = 0; m < st->nmodels; m++) {
				int gg;

				if (!xp_model_ok(st, t, m))
					continue;
				for (gg = xp_index_bucket_first(&x->ix, m, b);
				     gg >= 0 && tries < REPAIR_TRIES && looks < REPAIR_LOOKS;) {
					int next = xp_index_bucket_next(&x->ix, gg);

					if (x->u.gcount[gg] && !x->skip[gg]) {
						looks++;
						r = try_clear(x, t, st->gpus[gg].node, &gg, 1);
						if (r == 1 || r < 0)
							return r;
						tries += r == 0;
					}
					gg = next;
				}
			}
		return 0;
	}
	if (x->per_gpu || comp < 0)
		return 0;
	/* A multi-GPU task: the nodes closest to having enough empty GPUs. */
	for (e = tk->home.ngpus - 1; e >= 0 && tries < REPAIR_TRIES && looks < REPAIR_LOOKS; e--)
		for (n = xp_index_empty_first(&x->ix, comp, e); n >= 0 && tries < REPAIR_TRIES &&
		     looks++ < REPAIR_LOOKS;) {
			const struct xp_node *nd = &st->nodes[n];
			int gl[XP_MAX_NODE_GPUS], k = 0, i, next = xp_index_empty_next(&x->ix, n);

			/* (a node with fewer GPUs than the task has no place for it) */
			if (nd->ngpus < tk->home.ngpus) {
				n = next;
				continue;
			}
			/* Its empty GPUs, then the least-used others. */
			for (i = 0; i < nd->ngpus; i++)
				if (!x->u.gcount[nd->gpu0 + i])
					gl[k++] = nd->gpu0 + i;
			while (k < tk->home.ngpus) {
				int best = -1;

				for (i = 0; i < nd->ngpus; i++) {
					int c = nd->gpu0 + i, a;

					for (a = 0; a < k && gl[a] != c; a++)
						;
					if (a == k && (best < 0 || x->u.gshare[c] < x->u.gshare[best]))
						best = c;
				}
				gl[k++] = best;
			}
			r = try_clear(x, t, n, gl, tk->home.ngpus);
			if (r == 1 || r < 0)
				return r;
			tries += r == 0;
			n = next;
		}
	return 0;
}

static bool within_budget(const struct xm *x)
{
	const struct xp_opts *o = &x->p->opts;

	return (o->max_moves < 0 || x->moves <= o->max_moves) && (o->max_bytes < 0 || x->bytes <= o->max_bytes);
}

/* Drain units[0..n) together; on failure everything is as it was. */
static int drain(struct xm *x, const int *units, int n)
{
	const struct xp_state *st = x->st;
	size_t mark = x->nj;
	int i, k, nl = 0, r;

	x->mark++;
	for (i = 0; i < n; i++) {
		int node = unit_node(x, units[i]);

		if (set_status(x, units[i], DRAIN) < 0)
			return -1;
		for (k = 0; k < x->r.n[node]; k++) {
			int t = x->r.on[node][k], g = st->tasks[t].group;

			if (!x->in_u[t] || !on_unit(x, t, units[i]) || x->gmark[g] == x->mark)
				continue;
			if (!st->groups[g].movable)
				goto fail;
			x->gmark[g] = x->mark;
			x->lift[nl++] = g;
		}
	}
	for (i = 0; i < nl; i++) {
		const struct xp_group *gr = &st->groups[x->lift[i]];

		for (k = 0; k < gr->n; k++) {
			int t = st->gtask[gr->first + k];

			if (set_fin(x, t, &x->fin[t], false) < 0)
				return -1;
		}
	}
	qsort_r(x->lift, (size_t)nl, sizeof(int), x->order, (void *)st);
	for (i = 0; i < nl; i++) {
		if ((r = place_group(x, x->lift[i])) < 0 || (!r && (r = repair(x, x->lift[i])) < 0))
			return -1;
		if (!r)
			goto fail;
	}
	if (!within_budget(x))
		goto fail;
	return 1;
fail:
	undo_to(x, mark);
	return 0;
}

struct cand {
	int unit, comp;
	uint64_t cost;
	double load;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->comp != y->comp)
		return x->comp - y->comp;
	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	if (x->load != y->load)
		return x->load < y->load ? -1 : 1;
	return x->unit - y->unit;
}

/* Used units whose tasks may all move; in GPU mode only shared GPUs. */
static int candidates(struct xm *x, struct cand *c)
{
	const struct xp_state *st = x->st;
	bool *bad = calloc((size_t)x->nunits + 1, sizeof(bool));
	int t, i, n = 0;

	if (!bad)
		return xmig_error("out of memory");
	for (i = 0; i < x->nunits; i++) {
		c[i].unit = i;
		c[i].cost = 0;
		c[i].comp = st->nodes[unit_node(x, i)].comp;
	}
	for (t = 0; t < st->ntasks; t++) {
		const struct xp_task *tk = &st->tasks[t];
		bool stuck = !st->groups[tk->group].movable || (x->per_gpu && tk->share == XP_ONE);

		for (i = 0; i < (x->per_gpu ? tk->home.ngpus : 1); i++) {
			int un = x->per_gpu ? tk->home.gpus[i] : tk->home.node;

			bad[un] |= stuck;
			c[un].cost += tk->bytes;
		}
	}
	for (i = 0; i < x->nunits; i++) {
		if (bad[i] || x->status[i] != KEEP || c[i].comp < 0)
			continue;
		c[i].load = x->per_gpu ? (double)x->u.gshare[i] / XP_ONE : xp_node_load(&x->u, st, i);
		c[n++] = c[i];
	}
	free(bad);
	qsort(c, (size_t)n, sizeof(*c), cmp_cand);
	return n;
}

/* Longest drainable prefix of one component's ranking, then drain it. */
static int drain_prefix(struct xm *x, const struct cand *c, int n, int *units)
{
	int lo = 0, hi = n, i, r;

	for (i = 0; i < n; i++)
		units[i] = c[i].unit;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		size_t mark = x->nj;

		if ((r = drain(x, units, mid)) < 0)
			return -1;
		undo_to(x, mark);
		if (r)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo ? drain(x, units, lo) : 0;
}

/* Then every candidate still kept, on its own, cheapest first. */
static int extend(struct xm *x, const struct cand *c, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (x->status[c[i].unit] == KEEP && drain(x, &c[i].unit, 1) < 0)
			return -1;
	return 0;
}

static int drained(const struct xm *x, const struct cand *c, int n)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		k += x->status[c[i].unit] == DRAIN;
	return k;
}

/*
 * One component, two ways: the longest prefix packed at once and then the
 * rest one by one, or one by one from the start. Packing many at once,
 * largest first, usually wins; on some mixes (CPU-heavy tasks on small
 * nodes) the node-by-node order fits more. Keep whichever frees more nodes,
 * then moves fewer bytes.
 */
static int drain_comp(struct xm *x, const struct cand *c, int n, int *units)
{
	size_t mark = x->nj;
	int64_t b0 = x->bytes, ba;
	int fa;

	if (drain_prefix(x, c, n, units) < 0 || extend(x, c, n) < 0)
		return -1;
	fa = drained(x, c, n);
	ba = x->bytes - b0;
	undo_to(x, mark);
	if (extend(x, c, n) < 0)
		return -1;
	if (drained(x, c, n) > fa || (drained(x, c, n) == fa && x->bytes - b0 <= ba))
		return 0;
	undo_to(x, mark);
	return drain_prefix(x, c, n, units) < 0 || extend(x, c, n) < 0 ? -1 : 0;
}

/* Take a drained unit back: its tasks return home. 0 when one cannot. */
static int undrain(struct xm *x, int d)
{
	const struct xp_state *st = x->st;
	int n = unit_node(x, d), h, t;

	if (set_status(x, d, KEEP) < 0)
		return -1;
	/* Nothing else can be on its GPUs: it was drained. Host room may be gone (GPU mode). */
	for (h = x->hstart[n]; h < x->hstart[n + 1]; h++) {
		const struct xp_task *tk = &st->tasks[t = x->hlist[h]];

		if ((x->per_gpu && tk->home.gpus[0] != d) || xp_place_equal(&x->fin[t], &tk->home))
			continue;
		if (set_fin(x, t, &x->fin[t], false) < 0)
			return -1;
		if (!xp_fits(&x->u, st, t, &tk->home, -1))
			return 0;
		if (set_fin(x, t, &tk->home, true) < 0)
			return -1;
	}
	return 1;
}

#define SWAP_TRIES 4

/* Trade a drained unit for a cheaper one while the bytes fall. */
static int swap_pass(struct xm *x, const struct cand *c, int n)
{
	int i, k, r;

	for (i = n - 1; i >= 0; i--) {
		int d = c[i].unit, tries = 0;

		if (x->status[d] != DRAIN)
			continue;
		for (k = 0; k < i && tries < SWAP_TRIES; k++) {
			size_t mark = x->nj;
			int64_t before = x->bytes;

			if (x->status[c[k].unit] != KEEP || c[k].comp != c[i].comp || c[k].cost >= c[i].cost)
				continue;
			tries++;
			if ((r = undrain(x, d)) < 0 || (r && (r = drain(x, &c[k].unit, 1)) < 0))
				return -1;
			if (r && x->bytes < before)
				break;
			undo_to(x, mark);
		}
	}
	return 0;
}

#define REGAIN_TRIES 8

/*
 * Where nodes differ in size, a cheap drained node can be a big one whose
 * room would have let two others go. Give back the biggest drained nodes one
 * at a time and drain again around them; keep what frees more (or as many
 * for fewer bytes).
 */
static int regain_pass(struct xm *x, const struct cand *c, int n)
{
	const struct xp_state *st = x->st;
	int i, k, tries = 0, r, smallest = XP_MAX_NODE_GPUS + 1, size;

	if (x->per_gpu)
		return 0;
	for (i = 0; i < n; i++)
		if (st->nodes[c[i].unit].ngpus < smallest)
			smallest = st->nodes[c[i].unit].ngpus;
	for (size = XP_MAX_NODE_GPUS; size > smallest && tries < REGAIN_TRIES; size--)
		for (i = 0; i < n && tries < REGAIN_TRIES; i++) {
			int d = c[i].unit, before = drained(x, c, n);
			int64_t bytes = x->bytes;
			size_t mark = x->nj;

			if (x->status[d] != DRAIN || st->nodes[d].ngpus != size)
				continue;
			tries++;
			if ((r = undrain(x, d)) < 0)
				return -1;
			for (k = 0; r && k < n; k++)
				if (c[k].unit != d && x->status[c[k].unit] == KEEP && drain(x, &c[k].unit, 1) < 0)
					return -1;
			if (r && (drained(x, c, n) > before || (drained(x, c, n) == before && x->bytes < bytes)))
				continue;
			undo_to(x, mark);
		}
	return 0;
}

/* What the journal changed since mark, as it is now: to come back to it after an undo. */
static int keep_since(struct xm *x, size_t mark)
{
	size_t i;
	int *tl = realloc(x->touched, sizeof(int) * (x->nj - mark + 1));

	if (!tl)
		return xmig_error("out of memory");
	x->touched = tl;
	x->ntouched = 0;
	for (i = mark; i < x->nj; i++) {
		const struct jent *e = &x->j[i];

		/* Tasks as t, units as -1 - unit. */
		if (e->task >= 0)
			x->keep[e->task] = x->fin[e->task];
		else
			x->keep_status[e->unit] = x->status[e->unit];
		tl[x->ntouched++] = e->task >= 0 ? e->task : -1 - e->unit;
	}
	return 0;
}

/*
 * Back to what keep_since() saw; every task placed, as after a whole drain.
 * What differs is lifted first: put back one by one, tasks would crowd a GPU
 * beyond its share while others have not yet left it.
 */
static int back_to_kept(struct xm *x, size_t mark)
{
	size_t i;
	int pass;

	undo_to(x, mark);
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < x->ntouched; i++) {
			int k = x->touched[i];

			if (k < 0) {
				if (pass && x->status[-1 - k] != x->keep_status[-1 - k] &&
				    set_status(x, -1 - k, x->keep_status[-1 - k]) < 0)
					return -1;
			} else if (x->in_u[k] && !xp_place_equal(&x->fin[k], &x->keep[k])) {
				if (set_fin(x, k, &x->fin[k], false) < 0)
					return -1;
			} else if (pass && !x->in_u[k] && set_fin(x, k, &x->keep[k], true) < 0) {
				return -1;
			}
		}
	return 0;
}

/* Components with more candidates than this are packed in one order only (time). */
#define REPACK_CANDS 600

/*
 * One component, drained (drain_comp(), regain_pass()) with the lifted
 * groups packed largest first, then again CPU-heaviest first and smallest
 * first; keep whichever frees more nodes, then moves fewer bytes. Largest
 * first can spend a node's CPUs on whole-GPU tasks and leave CPU-heavy small
 * ones to costly repairs; another order then frees the same nodes for much
 * less. Each order costs a whole pass, hence only on smaller components.
 */
static int drain_comp_orders(struct xm *x, const struct cand *c, int n, int *units)
{
	static int (*const orders[])(const void *, const void *, void *) = {
		xp_group_cmp_size, xp_group_cmp_cpu, xp_group_cmp_small,
	};
	size_t mark = x->nj;
	int64_t b0 = x->bytes, best_b = 0;
	int k, best = -1, best_f = -1, f, r;

	for (k = 0; k < (int)(sizeof(orders) / sizeof(orders[0])) && (k == 0 || n <= REPACK_CANDS); k++) {
		undo_to(x, mark);
		x->order = orders[k];
		r = drain_comp(x, c, n, units) < 0 || regain_pass(x, c, n) < 0 ? -1 : 0;
		x->order = xp_group_cmp_size;
		if (r < 0)
			return -1;
		f = drained(x, c, n);
		if (f > best_f || (f == best_f && x->bytes - b0 < best_b)) {
			best = k;
			best_f = f;
			best_b = x->bytes - b0;
			if (keep_since(x, mark) < 0)
				return -1;
		}
	}
	return best == k - 1 ? 0 : back_to_kept(x, mark);
}

static int cmp_stamp(const void *a, const void *b, void *arg)
{
	const uint64_t *s = arg;

	return s[*(const int *)a] < s[*(const int *)b] ? -1 : s[*(const int *)a] > s[*(const int *)b];
}

/* Hand the moves to the plan, in the order they were decided. */
static int emit(struct xm *x)
{
	const struct xp_state *st = x->st;
	int *order = malloc(sizeof(int) * ((size_t)st->ngroups + 1));
	uint64_t *gst = calloc((size_t)st->ngroups + 1, sizeof(uint64_t));
	int g, i, n = 0, unit = 0;

	if (!order || !gst) {
		free(order);
		free(gst);
		return xmig_error("out of memory");
	}
	for (g = 0; g < st->ngroups; g++) {
		const struct xp_group *gr = &st->groups[g];

		for (i = 0; i < gr->n; i++) {
			int t = st->gtask[gr->first + i];

			if (!xp_place_equal(&x->fin[t], &st->tasks[t].home) && x->stamp[t] > gst[g])
				gst[g] = x->stamp[t];
		}
		if (gst[g])
			order[n++] = g;
	}
	qsort_r(order, (size_t)n, sizeof(int), cmp_stamp, gst);
	for (g = 0; g < n; g++) {
		const struct xp_group *gr = &st->groups[order[g]];
		int home_unit = x->per_gpu ? st->tasks[st->gtask[gr->first]].home.gpus[0] : gr->node;

		unit++;
		for (i = 0; i < gr->n; i++) {
			int t = st->gtask[gr->first + i];

			if (xp_place_equal(&x->fin[t], &st->tasks[t].home))
				continue;
			if (xp_plan_add(x->p, t, &x->fin[t], unit,
					x->status[home_unit] == DRAIN ? XP_WHY_DRAIN : XP_WHY_REPAIR) < 0) {
				free(order);
				free(gst);
				return -1;
			}
		}
	}
	free(order);
	free(gst);
	return 0;
}

static int home_lists(struct xm *x)
{
	const struct xp_state *st = x->st;
	int n, t;

	x->hstart = calloc((size_t)st->nnodes + 2, sizeof(int));
	x->hlist = malloc(sizeof(int) * ((size_t)st->ntasks + 1));
	if (!x->hstart || !x->hlist)
		return xmig_error("out of memory");
	for (t = 0; t < st->ntasks; t++)
		x->hstart[st->tasks[t].home.node + 1]++;
	for (n = 0; n < st->nnodes; n++)
		x->hstart[n + 1] += x->hstart[n];
	for (t = 0; t < st->ntasks; t++)
		x->hlist[x->hstart[st->tasks[t].home.node]++] = t;
	for (n = st->nnodes; n > 0; n--)
		x->hstart[n] = x->hstart[n - 1];
	x->hstart[0] = 0;
	return 0;
}

static void xm_free(struct xm *x)
{
	xp_index_free(&x->ix);
	xp_usage_free(&x->u);
	xp_roster_free(&x->r);
	free(x->fin);
	free(x->in_u);
	free(x->status);
	free(x->stamp);
	free(x->j);
	free(x->skip);
	free(x->gmark);
	free(x->lift);
	free(x->hstart);
	free(x->hlist);
	free(x->keep);
	free(x->keep_status);
	free(x->touched);
}

int xp_algo_xmig(const struct xp_state *st, struct xp_plan *p)
{
	struct xm x = { 0 };
	struct cand *c = NULL;
	int *units = NULL, nc, i, lo, rc = -1;

	x.st = st;
	x.p = p;
	x.per_gpu = p->opts.objective == XP_OBJ_GPUS;
	x.order = xp_group_cmp_size;
	x.nunits = x.per_gpu ? st->ngpus : st->nnodes;
	x.fin = malloc(sizeof(*x.fin) * ((size_t)st->ntasks + 1));
	x.in_u = malloc(sizeof(bool) * ((size_t)st->ntasks + 1));
	x.stamp = calloc((size_t)st->ntasks + 1, sizeof(uint64_t));
	x.status = calloc((size_t)x.nunits + 1, 1);
	x.skip = calloc((size_t)st->ngpus + 1, sizeof(bool));
	x.gmark = calloc((size_t)st->ngroups + 1, sizeof(int));
	x.lift = malloc(sizeof(int) * ((size_t)st->ngroups + 1));
	x.keep = malloc(sizeof(*x.keep) * ((size_t)st->ntasks + 1));
	x.keep_status = calloc((size_t)x.nunits + 1, 1);
	c = malloc(sizeof(*c) * ((size_t)x.nunits + 1));
	units = malloc(sizeof(int) * ((size_t)x.nunits + 1));
	if (!x.fin || !x.in_u || !x.stamp || !x.status || !x.skip || !x.gmark || !x.lift || !x.keep ||
	    !x.keep_status || !c || !units ||
	    xp_usage_init(&x.u, st) < 0 || xp_roster_init(&x.r, st) < 0) {
		xmig_error("out of memory");
		goto out;
	}
	xp_usage_fill_home(&x.u, st);
	for (i = 0; i < st->ntasks; i++) {
		x.fin[i] = st->tasks[i].home;
		x.in_u[i] = true;
	}
	for (i = 0; i < x.nunits; i++)
		x.status[i] = (x.per_gpu ? x.u.gcount[i] : x.u.ncount[i]) > 0 ? KEEP : EMPTY;
	if (xp_index_init(&x.ix, st, &x.u, gpu_member, node_member, &x) < 0 || home_lists(&x) < 0)
		goto out;
	if ((nc = candidates(&x, c)) < 0)
		goto out;
	for (lo = 0; lo < nc;) {
		int hi = lo;

		while (hi < nc && c[hi].comp == c[lo].comp)
			hi++;
		if (drain_comp_orders(&x, c + lo, hi - lo, units) < 0)
			goto out;
		lo = hi;
	}
	if (swap_pass(&x, c, nc) < 0)
		goto out;
	rc = emit(&x);
out:
	free(c);
	free(units);
	xm_free(&x);
	return rc;
}
