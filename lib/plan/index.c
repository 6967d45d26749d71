/*
 * index.c - best-fit lookups in time independent of the cluster's size:
 * target GPUs filed by free share (1/1000 buckets, one list per model) and
 * target nodes by their count of empty GPUs (one list per component). The
 * first bucket at or above what a task needs that holds a GPU it fits on
 * holds the tightest fit, so a lookup scans a few short lists instead of
 * every GPU of a 10,000-node cluster.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define GB 1001                        /* share buckets: free / 1000 */
#define GW ((GB + 63) / 64)            /* words of a model's bucket bitmap */
#define NB (XP_MAX_NODE_GPUS + 1)      /* empty-GPU buckets */

static void unlink_one(int *head, int *next, int *prev, int *bucket, int x)
{
	if (bucket[x] < 0)
		return;
	if (prev[x] >= 0)
		next[prev[x]] = next[x];
	else
		head[bucket[x]] = next[x];
	if (next[x] >= 0)
		prev[next[x]] = prev[x];
	bucket[x] = -1;
}

static void link_one(int *head, int *next, int *prev, int *bucket, int x, int b)
{
	prev[x] = -1;
	next[x] = head[b];
	if (head[b] >= 0)
		prev[head[b]] = x;
	head[b] = x;
	bucket[x] = b;
}

/*
 * GPU lists keep a bitmap of the buckets that hold one, so that a lookup
 * steps over empty buckets a word at a time (most of a model's thousand
 * are empty, and a lookup that finds nothing used to visit them all).
 */
static void gpu_unlink(struct xp_index *ix, int g)
{
	int b = ix->gbucket[g];

	unlink_one(ix->ghead, ix->gnext, ix->gprev, ix->gbucket, g);
	if (b >= 0 && ix->ghead[b] < 0) {
		int m = b / GB, k = b % GB;

		ix->gbits[m * GW + k / 64] &= ~(1ull << (k % 64));
	}
}

static void gpu_link(struct xp_index *ix, int g, int m, int k)
{
	link_one(ix->ghead, ix->gnext, ix->gprev, ix->gbucket, g, m * GB + k);
	ix->gbits[m * GW + k / 64] |= 1ull << (k % 64);
}

int xp_index_bucket_first(const struct xp_index *ix, int m, int b)
{
	return b >= 0 && b < GB ? ix->ghead[m * GB + b] : -1;
}

int xp_index_empty_first(const struct xp_index *ix, int c, int e)
{
	return c >= 0 && e >= 0 && e < NB ? ix->nhead[c * NB + e] : -1;
}

/* The first bucket of model m at or above k that holds a GPU; GB if none. */
static int next_bucket(const struct xp_index *ix, int m, int k)
{
	const uint64_t *w = ix->gbits + m * GW;

	for (int i = k / 64; i < GW; i++) {
		uint64_t bits = w[i] & (i == k / 64 ? ~0ull << (k % 64) : ~0ull);

		if (bits)
			return i * 64 + __builtin_ctzll(bits);
	}
	return GB;
}

void xp_index_refile(struct xp_index *ix, int n)
{
	const struct xp_state *st = ix->st;
	const struct xp_node *nd = &st->nodes[n];
	int i, empty = 0;

	for (i = 0; i < nd->ngpus; i++) {
		int g = nd->gpu0 + i;

		gpu_unlink(ix, g);
		empty += ix->u->gcount[g] == 0;
		if (ix->gpu_member(ix->arg, g))
			gpu_link(ix, g, st->gpus[g].model, (int)(xp_gfree(ix->u, g) / 1000));
	}
	unlink_one(ix->nhead, ix->nnext, ix->nprev, ix->nbucket, n);
	if (nd->comp >= 0 && ix->node_member(ix->arg, n))
		link_one(ix->nhead, ix->nnext, ix->nprev, ix->nbucket, n, nd->comp * NB + empty);
}

static void touch(struct xp_watch *w, const struct xp_state *st, int node)
{
	(void)st;
	xp_index_refile((struct xp_index *)w, node);
}

int xp_index_init(struct xp_index *ix, const struct xp_state *st, struct xp_usage *u,
		  bool (*gpu_member)(void *, int), bool (*node_member)(void *, int), void *arg)
{
	size_t g = (size_t)st->ngpus + 1, n = (size_t)st->nnodes + 1;
	int i;

	memset(ix, 0, sizeof(*ix));
	ix->watch.touch = touch;
	ix->st = st;
	ix->u = u;
	ix->gpu_member = gpu_member;
	ix->node_member = node_member;
	ix->arg = arg;
	ix->ghead = malloc(sizeof(int) * XP_MAX_MODELS * GB);
	ix->gbits = calloc(XP_MAX_MODELS * GW, sizeof(uint64_t));
	ix->nhead = malloc(sizeof(int) * XP_MAX_MODELS * NB);
	ix->gnext = malloc(sizeof(int) * g);
	ix->gprev = malloc(sizeof(int) * g);
	ix->gbucket = malloc(sizeof(int) * g);
	ix->nnext = malloc(sizeof(int) * n);
	ix->nprev = malloc(sizeof(int) * n);
	ix->nbucket = malloc(sizeof(int) * n);
	if (!ix->ghead || !ix->gbits || !ix->nhead || !ix->gnext || !ix->gprev || !ix->gbucket || !ix->nnext ||
	    !ix->nprev || !ix->nbucket) {
		xp_index_free(ix);
		return xmig_error("out of memory");
	}
	memset(ix->ghead, -1, sizeof(int) * XP_MAX_MODELS * GB);
	memset(ix->nhead, -1, sizeof(int) * XP_MAX_MODELS * NB);
	memset(ix->gbucket, -1, sizeof(int) * g);
	memset(ix->nbucket, -1, sizeof(int) * n);
	for (i = 0; i < st->nnodes; i++)
		xp_index_refile(ix, i);
	u->watch = &ix->watch;
	return 0;
}

void xp_index_free(struct xp_index *ix)
{
	free(ix->ghead);
	free(ix->gbits);
	free(ix->nhead);
	free(ix->gnext);
	free(ix->gprev);
	free(ix->gbucket);
	free(ix->nnext);
	free(ix->nprev);
	free(ix->nbucket);
	memset(ix, 0, sizeof(*ix));
}

bool xp_index_gpu(const struct xp_index *ix, int t, const bool *skip, struct xp_place *out)
{
	const struct xp_state *st = ix->st;
	const struct xp_task *tk = &st->tasks[t];
	int64_t best = INT64_MAX;
	int m, b;

	if (tk->home.ngpus != 1)
		return false;
	for (m = 0; m < st->nmodels; m++) {
		if (!xp_model_ok(st, t, m))
			continue;
		for (b = next_bucket(ix, m, (int)(tk->share / 1000)); b < GB;
		     b = next_bucket(ix, m, b + 1)) {
			bool found = false;
			int g;

			for (g = ix->ghead[m * GB + b]; g >= 0; g = ix->gnext[g]) {
				struct xp_place pl = { st->gpus[g].node, 1, { g } };
				int64_t key;

				if ((skip && skip[g]) || !xp_fits(ix->u, st, t, &pl, -1))
					continue;
				key = (xp_gfree(ix->u, g) - tk->share) * 64 +
				      (int64_t)((st->gpus[g].mem - ix->u->gmem[g] - tk->bpg) >> 34);
				found = true;
				if (key < best) {
					best = key;
					*out = pl;
				}
			}
			if (found)
				break;
		}
	}
	return best != INT64_MAX;
}

bool xp_index_node(const struct xp_index *ix, int t, const bool *skip, struct xp_place *out)
{
	const struct xp_state *st = ix->st;
	const struct xp_task *tk = &st->tasks[t];
	int comp = st->nodes[tk->home.node].comp, e, n;

	if (comp < 0)
		return false;
	for (e = tk->home.ngpus; e < NB; e++)
		for (n = ix->nhead[comp * NB + e]; n >= 0; n = ix->nnext[n])
			if (xp_bestfit_on_node(ix->u, st, t, n, -1, skip, out))
				return true;
	return false;
}
