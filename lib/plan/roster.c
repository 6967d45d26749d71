/* roster.c - which tasks are on each node now: arrays with swap-remove. */
#include <stdlib.h>

#include "plan.h"

static int add(struct xp_roster *r, int node, int t)
{
	if (r->n[node] == r->cap[node]) {
		int cap = r->cap[node] ? r->cap[node] * 2 : 8;
		int *a = realloc(r->on[node], sizeof(int) * (size_t)cap);

		if (!a)
			return xmig_error("out of memory");
		r->on[node] = a;
		r->cap[node] = cap;
	}
	r->pos[t] = r->n[node];
	r->on[node][r->n[node]++] = t;
	return 0;
}

int xp_roster_move(struct xp_roster *r, int t, int from_node, int to_node)
{
	int i, last;

	if (from_node == to_node)
		return 0;
	i = r->pos[t];
	last = r->on[from_node][--r->n[from_node]];
	r->on[from_node][i] = last;
	r->pos[last] = i;
	return add(r, to_node, t);
}

int xp_roster_init(struct xp_roster *r, const struct xp_state *st)
{
	int t;

	r->nnodes = st->nnodes;
	r->on = calloc((size_t)st->nnodes + 1, sizeof(int *));
	r->n = calloc((size_t)st->nnodes + 1, sizeof(int));
	r->cap = calloc((size_t)st->nnodes + 1, sizeof(int));
	r->pos = calloc((size_t)st->ntasks + 1, sizeof(int));
	if (!r->on || !r->n || !r->cap || !r->pos)
		return xmig_error("out of memory");
	for (t = 0; t < st->ntasks; t++)
		if (add(r, st->tasks[t].home.node, t) < 0)
			return -1;
	return 0;
}

void xp_roster_free(struct xp_roster *r)
{
	int i;

	for (i = 0; r->on && i < r->nnodes; i++)
		free(r->on[i]);
	free(r->on);
	free(r->n);
	free(r->cap);
	free(r->pos);
}
