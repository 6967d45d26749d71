/*
 * check.c - replay a plan wave by wave on a state and reject it at the first
 * broken rule. Every plan the planner writes passes through here before it
 * is shown, and `xmig plan --check` runs it on plans read from files, so the
 * rules live in one place. It trusts nothing in the plan: groups and their
 * co-location are taken from the state, not from the plan's labels.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static void reject(struct xp_check *c, int move, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reject(struct xp_check *c, int move, const char *fmt, ...)
{
	va_list ap;

	if (!c->ok)
		return;
	c->ok = false;
	c->move = move;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

void xp_count_used(const struct xp_usage *u, const struct xp_state *st, int *nodes, int *gpus)
{
	int i;

	*nodes = *gpus = 0;
	for (i = 0; i < st->nnodes; i++)
		*nodes += u->ncount[i] > 0;
	for (i = 0; i < st->ngpus; i++)
		*gpus += u->gcount[i] > 0;
}

/* The rules that need no occupancy: who may move, from where, to what. */
static void check_move(const struct xp_state *st, const struct xp_plan *p, int k,
		       const struct xp_place *cur, const int *seen, struct xp_check *c)
{
	const struct xp_move *m = &p->moves[k];
	const struct xp_task *t = &st->tasks[m->task];
	char a[256], b[256];
	int i, j;

	if (!t->movable)
		return reject(c, k, "task %s is not movable", t->id);
	if (seen[m->task] == m->wave)
		return reject(c, k, "task %s moves twice in wave %d", t->id, m->wave);
	if (!xp_place_equal(&m->from, &cur[m->task]))
		return reject(c, k, "task %s is not at %s (it is at %s)", t->id,
			      xp_place_str(st, &m->from, a, sizeof(a)), xp_place_str(st, &cur[m->task], b, sizeof(b)));
	if (m->to.ngpus != t->home.ngpus)
		return reject(c, k, "task %s holds %d GPU(s) but the move gives it %d: a task is never split",
			      t->id, t->home.ngpus, m->to.ngpus);
	for (i = 0; i < m->to.ngpus; i++) {
		const struct xp_gpu *g = &st->gpus[m->to.gpus[i]];

		for (j = 0; j < i; j++)
			if (m->to.gpus[j] == m->to.gpus[i])
				return reject(c, k, "task %s: GPU %d named twice in its destination", t->id, g->index);
		if (!xp_model_ok(st, m->task, g->model))
			return reject(c, k, "task %s may not run on %s (%s:gpu%d)", t->id, st->models[g->model],
				      st->nodes[g->node].name, g->index);
	}
	if (xp_place_equal(&m->to, &m->from))
		return reject(c, k, "task %s moves to where it already is", t->id);
	if (m->bytes != t->bytes)
		return reject(c, k, "task %s: device_bytes %llu is not the task's %llu", t->id,
			      (unsigned long long)m->bytes, (unsigned long long)t->bytes);
}

/* While a wave runs, every destination holds its task on top of the source. */
static void check_capacity(const struct xp_state *st, const struct xp_usage *u, const struct xp_move *m,
			   int k, struct xp_check *c)
{
	const struct xp_node *n = &st->nodes[m->to.node];
	int i;

	for (i = 0; i < m->to.ngpus; i++) {
		int g = m->to.gpus[i];

		if (u->gshare[g] > XP_ONE)
			return reject(c, k, "wave %d: %s:gpu%d over-committed while moves run: share %.3f > 1",
				      m->wave, n->name, st->gpus[g].index, (double)u->gshare[g] / XP_ONE);
		if (u->gmem[g] > st->gpus[g].mem)
			return reject(c, k, "wave %d: %s:gpu%d over-committed while moves run: %llu of %llu device bytes",
				      m->wave, n->name, st->gpus[g].index, (unsigned long long)u->gmem[g],
				      (unsigned long long)st->gpus[g].mem);
	}
	if (u->ncpu[m->to.node] > n->cpu_m)
		return reject(c, k, "wave %d: node %s over-committed while moves run: %.3f of %.3f CPUs",
			      m->wave, n->name, u->ncpu[m->to.node] / 1000.0, n->cpu_m / 1000.0);
	if (u->nmem[m->to.node] > n->mem)
		return reject(c, k, "wave %d: node %s over-committed while moves run: %llu of %llu bytes of memory",
			      m->wave, n->name, (unsigned long long)u->nmem[m->to.node],
			      (unsigned long long)n->mem);
}

static int cmp_int3(const void *a, const void *b)
{
	const int *x = a, *y = b;
	int i;

	for (i = 0; i < 3; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* A group moving from one node to another is one move at each end. */
static void check_concurrency(const struct xp_state *st, const struct xp_plan *p, int lo, int hi,
			      int *count, struct xp_check *c)
{
	int n = hi - lo, i, (*key)[3] = malloc(sizeof(*key) * (size_t)(n ? n : 1));

	for (i = 0; i < n; i++) {
		const struct xp_move *m = &p->moves[lo + i];

		key[i][0] = st->tasks[m->task].group;
		key[i][1] = m->from.node;
		key[i][2] = m->to.node;
	}
	qsort(key, (size_t)n, sizeof(*key), cmp_int3);
	for (i = 0; i < n && c->ok; i++) {
		if (i && !cmp_int3(key[i], key[i - 1]))
			continue;
		if (++count[key[i][1]] > p->opts.concurrency)
			reject(c, lo, "wave %d: node %s has more than %d moves in flight", p->moves[lo].wave,
			       st->nodes[key[i][1]].name, p->opts.concurrency);
		if (key[i][2] != key[i][1] && ++count[key[i][2]] > p->opts.concurrency)
			reject(c, lo, "wave %d: node %s has more than %d moves in flight", p->moves[lo].wave,
			       st->nodes[key[i][2]].name, p->opts.concurrency);
	}
	for (i = 0; i < n; i++) {
		count[key[i][1]] = 0;
		count[key[i][2]] = 0;
	}
	free(key);
}

static void check_groups(const struct xp_state *st, const struct xp_plan *p, int lo, int hi,
			 const struct xp_place *cur, struct xp_check *c)
{
	int k, i;

	for (k = lo; k < hi && c->ok; k++) {
		const struct xp_group *g = &st->groups[st->tasks[p->moves[k].task].group];
		int t0 = st->gtask[g->first];

		for (i = 1; i < g->n; i++) {
			int t = st->gtask[g->first + i];

			if (cur[t].node != cur[t0].node)
				return reject(c, k, "wave %d splits job %s: rank %ld is on %s, rank %ld on %s",
					      p->moves[k].wave, st->tasks[t0].job, st->tasks[t0].rank,
					      st->nodes[cur[t0].node].name, st->tasks[t].rank,
					      st->nodes[cur[t].node].name);
		}
	}
}

void xp_check_plan(const struct xp_state *st, const struct xp_plan *p, struct xp_check *c)
{
	struct xp_usage u;
	struct xp_place *cur = malloc(sizeof(*cur) * ((size_t)st->ntasks + 1));
	int *seen = calloc((size_t)st->ntasks + 1, sizeof(int));
	int *count = calloc((size_t)st->nnodes + 1, sizeof(int));
	bool *used = NULL;
	int i, k, lo, last_wave = 0;

	memset(c, 0, sizeof(*c));
	c->ok = true;
	c->move = -1;
	c->freed_nodes = json_array();
	if (!cur || !seen || !count || xp_usage_init(&u, st) < 0) {
		reject(c, -1, "out of memory");
		goto out_nousage;
	}
	xp_usage_fill_home(&u, st);
	for (i = 0; i < st->ntasks; i++)
		cur[i] = st->tasks[i].home;
	xp_count_used(&u, st, &c->sum.nodes_before, &c->sum.gpus_before);
	/* count[] is the per-wave tally; `used` remembers who was busy before. */
	used = malloc(sizeof(*used) * ((size_t)st->nnodes + 1));
	for (i = 0; i < st->nnodes; i++)
		used[i] = u.ncount[i] > 0;
	for (lo = 0; lo < p->nmoves && c->ok; lo = k) {
		int w = p->moves[lo].wave;

		if (w < 1 || w < last_wave) {
			reject(c, lo, "move %d is in wave %d, out of order (waves start at 1 and never go back)",
			       lo + 1, w);
			break;
		}
		for (k = lo; k < p->nmoves && p->moves[k].wave == w; k++) {
			check_move(st, p, k, cur, seen, c);
			if (!c->ok)
				break;
			seen[p->moves[k].task] = w;
		}
		if (!c->ok)
			break;
		for (i = lo; i < k; i++) {
			const struct xp_move *m = &p->moves[i];

			xp_usage_apply(&u, st, m->task, &m->to, 1, m->to.node != m->from.node);
		}
		for (i = lo; i < k && c->ok; i++)
			check_capacity(st, &u, &p->moves[i], i, c);
		check_concurrency(st, p, lo, k, count, c);
		for (i = lo; i < k; i++) {
			const struct xp_move *m = &p->moves[i];

			xp_usage_apply(&u, st, m->task, &m->from, -1, m->to.node != m->from.node);
			cur[m->task] = m->to;
			c->sum.moves++;
			c->sum.bytes += st->tasks[m->task].bytes;
		}
		check_groups(st, p, lo, k, cur, c);
		c->sum.waves++;
		last_wave = w;
	}
	xp_count_used(&u, st, &c->sum.nodes_after, &c->sum.gpus_after);
	for (i = 0; i < st->nnodes; i++)
		if (used[i] && !u.ncount[i])
			json_array_append_new(c->freed_nodes, json_string(st->nodes[i].name));
	if (c->ok && p->opts.max_moves >= 0 && c->sum.moves > p->opts.max_moves)
		reject(c, -1, "the plan has %d moves, more than its limit of %ld", c->sum.moves, p->opts.max_moves);
	if (c->ok && p->opts.max_bytes >= 0 && c->sum.bytes > (uint64_t)p->opts.max_bytes)
		reject(c, -1, "the plan moves %llu device bytes, more than its limit of %lld",
		       (unsigned long long)c->sum.bytes, (long long)p->opts.max_bytes);
	if (c->ok && p->has_claims) {
		int nf = c->sum.nodes_before - c->sum.nodes_after, gf = c->sum.gpus_before - c->sum.gpus_after;

		if (p->claim_nodes_freed != nf || p->claim_gpus_freed != gf || p->claim_moves != c->sum.moves ||
		    p->claim_bytes != c->sum.bytes)
			reject(c, -1, "the summary claims %d nodes and %d GPUs freed by %d moves of %llu bytes; "
				      "the replay gives %d nodes, %d GPUs, %d moves, %llu bytes",
			       p->claim_nodes_freed, p->claim_gpus_freed, p->claim_moves,
			       (unsigned long long)p->claim_bytes, nf, gf, c->sum.moves,
			       (unsigned long long)c->sum.bytes);
	}
	xp_usage_free(&u);
out_nousage:
	free(used);
	free(cur);
	free(seen);
	free(count);
}

void xp_check_free(struct xp_check *c)
{
	json_decref(c->freed_nodes);
	c->freed_nodes = NULL;
}
