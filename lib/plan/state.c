/*
 * state.c - the cluster state: parse and validate the JSON document of
 * share/schema/cluster-state.schema.json into flat arrays, and write it back.
 *
 * Validation is thorough because a plan is only as good as its input: names
 * must be unique, tasks must sit on GPUs that exist, whole-GPU and share
 * rules must hold, and the state itself must not be over-committed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* qsort_r comparators over index arrays. */
static int cmp_node_name(const void *a, const void *b, void *arg)
{
	const struct xp_state *st = arg;

	return strcmp(st->nodes[*(const int *)a].name, st->nodes[*(const int *)b].name);
}

static int cmp_task_id(const void *a, const void *b, void *arg)
{
	const struct xp_state *st = arg;

	return strcmp(st->tasks[*(const int *)a].id, st->tasks[*(const int *)b].id);
}

/* Groups: by job, then node, then rank. */
static int cmp_task_group(const void *a, const void *b, void *arg)
{
	const struct xp_state *st = arg;
	const struct xp_task *x = &st->tasks[*(const int *)a], *y = &st->tasks[*(const int *)b];
	int c = strcmp(x->job, y->job);

	if (c)
		return c;
	if (x->home.node != y->home.node)
		return x->home.node < y->home.node ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Sorted index arrays for lookups by name, kept in the state's spare slot. */
struct lookup {
	int *nodes, *tasks;
};

static struct lookup *lookups(const struct xp_state *st)
{
	return (struct lookup *)st->lookup;
}

/* Binary search of ix (sorted by name) for key; names[i] is item i's name. */
static int find_sorted(const int *ix, int n, const char *key, const char *(*name)(const struct xp_state *, int),
		       const struct xp_state *st)
{
	int lo = 0, hi = n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(key, name(st, ix[mid]));

		if (!c)
			return ix[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

static const char *node_name(const struct xp_state *st, int i)
{
	return st->nodes[i].name;
}

static const char *task_id(const struct xp_state *st, int i)
{
	return st->tasks[i].id;
}

int xp_find_node(const struct xp_state *st, const char *name)
{
	return find_sorted(lookups(st)->nodes, st->nnodes, name, node_name, st);
}

int xp_find_task(const struct xp_state *st, const char *id)
{
	return find_sorted(lookups(st)->tasks, st->ntasks, id, task_id, st);
}

/* (index as read, not cast to int first: 4294967296 is no GPU 0) */
int xp_find_gpu(const struct xp_state *st, int node, long long index)
{
	const struct xp_node *n = &st->nodes[node];
	int i;

	for (i = 0; i < n->ngpus; i++)
		if (st->gpus[n->gpu0 + i].index == index)
			return n->gpu0 + i;
	return -1;
}

bool xp_place_equal(const struct xp_place *a, const struct xp_place *b)
{
	return a->node == b->node && a->ngpus == b->ngpus &&
	       !memcmp(a->gpus, b->gpus, sizeof(int) * (size_t)a->ngpus);
}

const char *xp_place_str(const struct xp_state *st, const struct xp_place *p, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s:", st->nodes[p->node].name);
	int i;

	for (i = 0; i < p->ngpus && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%sgpu%d", i ? "," : "", st->gpus[p->gpus[i]].index);
	return buf;
}

static int intern_model(struct xp_state *st, const char *name, const char *path)
{
	int i;

	for (i = 0; i < st->nmodels; i++)
		if (!strcmp(st->models[i], name))
			return i;
	if (st->nmodels == XP_MAX_MODELS)
		return xmig_error("%s: more than %d distinct GPU models", path, XP_MAX_MODELS);
	st->models[st->nmodels] = strdup(name);
	return st->nmodels++;
}

static int parse_nodes(json_t *arr, struct xp_state *st)
{
	size_t i, j;
	json_t *jn, *jg;
	int total = 0;

	json_array_foreach(arr, i, jn) {
		json_t *gpus;
		char path[64];

		snprintf(path, sizeof(path), "state: nodes[%zu]", i);
		if (!json_is_object(jn))
			return xmig_error("%s: expected an object", path);
		gpus = xp_jarray(jn, "gpus", path);
		if (!gpus)
			return -1;
		if (json_array_size(gpus) > XP_MAX_NODE_GPUS)
			return xmig_error("%s.gpus: more than %d GPUs on one node", path, XP_MAX_NODE_GPUS);
		total += (int)json_array_size(gpus);
	}
	st->nnodes = (int)json_array_size(arr);
	st->nodes = calloc((size_t)st->nnodes + 1, sizeof(*st->nodes));
	st->gpus = calloc((size_t)total + 1, sizeof(*st->gpus));
	if (!st->nodes || !st->gpus)
		return xmig_error("out of memory");
	json_array_foreach(arr, i, jn) {
		struct xp_node *n = &st->nodes[i];
		const char *name;
		double cpus;
		long long mem;
		char path[64];

		snprintf(path, sizeof(path), "state: nodes[%zu]", i);
		if (xp_jstr(jn, "name", path, &name) < 0 ||
		    xp_jnum(jn, "cpus", path, false, 0, 1e9, -1, &cpus) < 0 ||
		    xp_jint(jn, "memory_bytes", path, false, 0, LLONG_MAX, -1, &mem) < 0)
			return -1;
		n->name = strdup(name);
		n->cpu_m = cpus < 0 ? INT64_MAX : llround(cpus * 1000);
		n->mem = mem < 0 ? UINT64_MAX : (uint64_t)mem;
		n->gpu0 = st->ngpus;
		json_array_foreach(json_object_get(jn, "gpus"), j, jg) {
			struct xp_gpu *g = &st->gpus[st->ngpus];
			const char *model;
			long long idx, gmem;
			char gpath[96];
			int k;

			snprintf(gpath, sizeof(gpath), "%s.gpus[%zu]", path, j);
			if (!json_is_object(jg))
				return xmig_error("%s: expected an object", gpath);
			if (xp_jint(jg, "index", gpath, true, 0, 1023, 0, &idx) < 0 ||
			    xp_jstr(jg, "model", gpath, &model) < 0 ||
			    xp_jint(jg, "memory_bytes", gpath, true, 1, LLONG_MAX, 0, &gmem) < 0)
				return -1;
			for (k = n->gpu0; k < st->ngpus; k++)
				if (st->gpus[k].index == idx)
					return xmig_error("%s: GPU index %lld appears twice on node %s",
							  gpath, idx, name);
			g->node = (int)i;
			g->index = (int)idx;
			g->mem = (uint64_t)gmem;
			if ((g->model = intern_model(st, model, gpath)) < 0)
				return -1;
			st->ngpus++;
		}
		n->ngpus = st->ngpus - n->gpu0;
	}
	return 0;
}

static int parse_models(json_t *v, struct xp_state *st, const char *path, uint64_t *mask)
{
	size_t i;
	json_t *m;
	int id;

	*mask = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && json_string_length(v)) {
		if ((id = intern_model(st, json_string_value(v), path)) < 0)
			return -1;
		*mask = 1ull << id;
		return 0;
	}
	if (!json_is_array(v) || !json_array_size(v))
		return xmig_error("%s.gpu_model: expected null, a model name or a non-empty array of names",
				  path);
	json_array_foreach(v, i, m) {
		if (!json_is_string(m) || !json_string_length(m))
			return xmig_error("%s.gpu_model[%zu]: expected a model name", path, i);
		if ((id = intern_model(st, json_string_value(m), path)) < 0)
			return -1;
		*mask |= 1ull << id;
	}
	return 0;
}

static int parse_task(json_t *jt, size_t i, struct xp_state *st)
{
	struct xp_task *t = &st->tasks[i];
	const char *id, *job, *node;
	long long rank, bytes, mem;
	double share, cpus;
	json_t *gpus, *jg;
	uint64_t have = 0;
	char path[64];
	size_t j;

	snprintf(path, sizeof(path), "state: tasks[%zu]", i);
	if (!json_is_object(jt))
		return xmig_error("%s: expected an object", path);
	if (xp_jstr(jt, "id", path, &id) < 0 || xp_jstr(jt, "job", path, &job) < 0 ||
	    xp_jint(jt, "rank", path, true, 0, INT32_MAX, 0, &rank) < 0 ||
	    xp_jstr(jt, "node", path, &node) < 0 ||
	    !(gpus = xp_jarray(jt, "gpus", path)) ||
	    xp_jnum(jt, "share", path, true, 0, 1, 0, &share) < 0 ||
	    xp_jint(jt, "device_bytes", path, true, 0, LLONG_MAX, 0, &bytes) < 0 ||
	    xp_jnum(jt, "cpus", path, false, 0, 1e9, 0, &cpus) < 0 ||
	    xp_jint(jt, "memory_bytes", path, false, 0, LLONG_MAX, 0, &mem) < 0 ||
	    xp_jbool(jt, "movable", path, true, true, &t->movable) < 0)
		return -1;
	t->id = strdup(id);
	t->job = strdup(job);
	t->rank = (long)rank;
	if ((t->home.node = xp_find_node(st, node)) < 0)
		return xmig_error("%s: node \"%s\" is not in the state's nodes", path, node);
	if (!json_array_size(gpus) || json_array_size(gpus) > XP_MAX_TASK_GPUS)
		return xmig_error("%s.gpus: a task holds 1 to %d GPUs, not %zu", path, XP_MAX_TASK_GPUS,
				  json_array_size(gpus));
	json_array_foreach(gpus, j, jg) {
		int g, k;

		if (!json_is_integer(jg))
			return xmig_error("%s.gpus[%zu]: expected a GPU index", path, j);
		g = xp_find_gpu(st, t->home.node, json_integer_value(jg));
		if (g < 0)
			return xmig_error("%s.gpus[%zu]: node %s has no GPU %lld", path, j, node,
					  (long long)json_integer_value(jg));
		for (k = 0; k < t->home.ngpus; k++)
			if (t->home.gpus[k] == g)
				return xmig_error("%s.gpus: GPU %lld listed twice", path,
						  (long long)json_integer_value(jg));
		t->home.gpus[t->home.ngpus++] = g;
		have |= 1ull << st->gpus[g].model;
	}
	t->share = llround(share * XP_ONE);
	/* Only a task that stays may hold memory without a share (pinned use). */
	if (t->share <= 0 && t->movable)
		return xmig_error("%s.share: a movable task's share must be more than 0", path);
	if (t->home.ngpus > 1 && t->share != XP_ONE)
		return xmig_error("%s.share: a task on %d GPUs must use them whole (share 1), not %g",
				  path, t->home.ngpus, share);
	t->bytes = (uint64_t)bytes;
	t->bpg = (t->bytes + (uint64_t)t->home.ngpus - 1) / (uint64_t)t->home.ngpus;
	t->cpu_m = llround(cpus * 1000);
	t->mem = (uint64_t)mem;
	if (parse_models(json_object_get(jt, "gpu_model"), st, path, &t->models) < 0)
		return -1;
	if (!t->models) {
		/* No declared model: a context moves only to the model it runs on. */
		t->models = have;
	} else if (have & ~t->models) {
		return xmig_error("%s: runs on %s, which its gpu_model does not allow", path,
				  st->models[st->gpus[t->home.gpus[0]].model]);
	}
	return 0;
}

static int check_unique_tasks(struct xp_state *st, int *ix)
{
	int i;

	for (i = 1; i < st->ntasks; i++) {
		if (!strcmp(st->tasks[ix[i]].id, st->tasks[ix[i - 1]].id))
			return xmig_error("state: task id \"%s\" appears twice", st->tasks[ix[i]].id);
	}
	for (i = 0; i < st->ntasks; i++)
		st->gtask[i] = i;
	qsort_r(st->gtask, (size_t)st->ntasks, sizeof(int), cmp_task_group, st);
	for (i = 1; i < st->ntasks; i++) {
		const struct xp_task *a = &st->tasks[st->gtask[i - 1]], *b = &st->tasks[st->gtask[i]];

		if (!strcmp(a->job, b->job) && a->rank == b->rank)
			return xmig_error("state: job \"%s\" rank %ld appears twice (tasks \"%s\" and \"%s\")",
					  a->job, a->rank, a->id, b->id);
	}
	return 0;
}

/* Union-find over models: a task allowed on several joins them. */
static int uf_find(int *p, int x)
{
	while (p[x] != x)
		x = p[x] = p[p[x]];
	return x;
}

static void build_groups(struct xp_state *st)
{
	int i, parent[XP_MAX_MODELS];

	st->groups = calloc((size_t)st->ntasks + 1, sizeof(*st->groups));
	for (i = 0; i < st->ntasks; i++) {
		const struct xp_task *t = &st->tasks[st->gtask[i]];
		struct xp_group *g;

		if (!i || strcmp(t->job, st->tasks[st->gtask[i - 1]].job) ||
		    t->home.node != st->tasks[st->gtask[i - 1]].home.node) {
			g = &st->groups[st->ngroups++];
			g->first = i;
			g->node = t->home.node;
			g->movable = true;
		}
		g = &st->groups[st->ngroups - 1];
		g->n++;
		g->movable &= t->movable;
		g->bytes += t->bytes;
		g->gpus += t->home.ngpus;
		st->tasks[st->gtask[i]].group = st->ngroups - 1;
	}
	for (i = 0; i < XP_MAX_MODELS; i++)
		parent[i] = i;
	for (i = 0; i < st->ntasks; i++) {
		uint64_t m = st->tasks[i].models;
		int first = -1, b;

		for (b = 0; b < XP_MAX_MODELS; b++) {
			if (!((m >> b) & 1))
				continue;
			if (first < 0)
				first = b;
			else
				parent[uf_find(parent, b)] = uf_find(parent, first);
		}
	}
	for (i = 0; i < st->nnodes; i++) {
		const struct xp_node *n = &st->nodes[i];
		int k;

		for (k = 1; k < n->ngpus; k++)
			parent[uf_find(parent, st->gpus[n->gpu0 + k].model)] =
				uf_find(parent, st->gpus[n->gpu0].model);
	}
	for (i = 0; i < st->nnodes; i++)
		st->nodes[i].comp = st->nodes[i].ngpus ? uf_find(parent, st->gpus[st->nodes[i].gpu0].model) : -1;
	st->ncomps = XP_MAX_MODELS;
}

static int check_commit(const struct xp_state *st)
{
	struct xp_usage u;
	uint64_t total = 0;
	int i, k, rc = 0;

	if (xp_usage_init(&u, st) < 0)
		return -1;
	/* Byte sums past 2^64 would wrap to a total that fits. */
	for (i = 0; i < st->ntasks && !rc; i++) {
		const struct xp_task *t = &st->tasks[i];

		for (k = 0; k < t->home.ngpus && !rc; k++)
			if (u.gmem[t->home.gpus[k]] + t->bpg < t->bpg)
				rc = xmig_error("state: %s:gpu%d is over-committed: tasks hold more than 2^64 bytes",
						st->nodes[t->home.node].name, st->gpus[t->home.gpus[k]].index);
		if (!rc && u.nmem[t->home.node] + t->mem < t->mem)
			rc = xmig_error("state: node %s is over-committed: tasks use more than 2^64 bytes of memory",
					st->nodes[t->home.node].name);
		xp_usage_apply(&u, st, i, &t->home, 1, true);
	}
	for (i = 0; i < st->ngpus && !rc; i++) {
		const struct xp_gpu *g = &st->gpus[i];

		if (u.gshare[i] > XP_ONE)
			rc = xmig_error("state: %s:gpu%d is over-committed: tasks share %.3f of it",
					st->nodes[g->node].name, g->index, (double)u.gshare[i] / XP_ONE);
		else if (u.gmem[i] > g->mem)
			rc = xmig_error("state: %s:gpu%d is over-committed: tasks hold %llu of its %llu bytes",
					st->nodes[g->node].name, g->index, (unsigned long long)u.gmem[i],
					(unsigned long long)g->mem);
	}
	for (i = 0; i < st->nnodes && !rc; i++) {
		if (u.ncpu[i] > st->nodes[i].cpu_m)
			rc = xmig_error("state: node %s is over-committed: tasks use %.3f of its %.3f CPUs",
					st->nodes[i].name, u.ncpu[i] / 1000.0, st->nodes[i].cpu_m / 1000.0);
		else if (u.nmem[i] > st->nodes[i].mem)
			rc = xmig_error("state: node %s is over-committed: tasks use %llu of its %llu bytes of memory",
					st->nodes[i].name, (unsigned long long)u.nmem[i],
					(unsigned long long)st->nodes[i].mem);
	}
	/*
	 * The planners count the bytes they move in 63 bits (a move's bytes
	 * go up and down): all tasks' device bytes must stay under 2^63.
	 */
	for (i = 0; i < st->ntasks && !rc; i++) {
		if (st->tasks[i].bytes > (uint64_t)INT64_MAX - total)
			rc = xmig_error("state: the tasks hold 2^63 bytes of device memory or more in "
					"all (9.2 EB): more than the planner counts");
		total += st->tasks[i].bytes;
	}
	xp_usage_free(&u);
	return rc;
}

static int from_json(json_t *doc, struct xp_state *st)
{
	struct lookup *lk;
	json_t *nodes, *tasks, *jt;
	size_t i;

	memset(st, 0, sizeof(*st));
	lk = calloc(1, sizeof(*lk));
	st->lookup = lk;
	if (!lk)
		return xmig_error("out of memory");
	if (!json_is_object(doc))
		return xmig_error("state: expected a JSON object with \"nodes\" and \"tasks\"");
	if (!(nodes = xp_jarray(doc, "nodes", "state")) || !(tasks = xp_jarray(doc, "tasks", "state")))
		return -1;
	if (!json_array_size(nodes))
		return xmig_error("state: no nodes");
	if (parse_nodes(nodes, st) < 0)
		return -1;
	lk->nodes = malloc(sizeof(int) * (size_t)st->nnodes);
	for (i = 0; i < (size_t)st->nnodes; i++)
		lk->nodes[i] = (int)i;
	qsort_r(lk->nodes, (size_t)st->nnodes, sizeof(int), cmp_node_name, st);
	for (i = 1; i < (size_t)st->nnodes; i++)
		if (!strcmp(st->nodes[lk->nodes[i]].name, st->nodes[lk->nodes[i - 1]].name))
			return xmig_error("state: node name \"%s\" appears twice", st->nodes[lk->nodes[i]].name);

	st->ntasks = (int)json_array_size(tasks);
	st->tasks = calloc((size_t)st->ntasks + 1, sizeof(*st->tasks));
	st->gtask = malloc(sizeof(int) * ((size_t)st->ntasks + 1));
	lk->tasks = malloc(sizeof(int) * ((size_t)st->ntasks + 1));
	if (!st->tasks || !st->gtask || !lk->tasks)
		return xmig_error("out of memory");
	json_array_foreach(tasks, i, jt) {
		if (parse_task(jt, i, st) < 0) {
			st->ntasks = (int)i + 1;  /* free what was read */
			return -1;
		}
		lk->tasks[i] = (int)i;
	}
	qsort_r(lk->tasks, (size_t)st->ntasks, sizeof(int), cmp_task_id, st);
	if (check_unique_tasks(st, lk->tasks) < 0)
		return -1;
	build_groups(st);
	return check_commit(st);
}

int xp_state_from_json(json_t *doc, struct xp_state *st)
{
	if (from_json(doc, st) == 0)
		return 0;
	xp_state_free(st);   /* what was read before the error */
	return -1;
}

int xp_state_load(const char *path, struct xp_state *st)
{
	json_t *doc;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!(doc = xp_json_load_file(path, "state")))
		return -1;
	rc = xp_state_from_json(doc, st);
	json_decref(doc);
	if (rc < 0)
		xmig_error("state %s refused", path);
	return rc;
}

void xp_state_free(struct xp_state *st)
{
	struct lookup *lk = lookups(st);
	int i;

	for (i = 0; i < st->nnodes && st->nodes; i++)
		free(st->nodes[i].name);
	for (i = 0; i < st->ntasks && st->tasks; i++) {
		free(st->tasks[i].id);
		free(st->tasks[i].job);
	}
	for (i = 0; i < st->nmodels; i++)
		free(st->models[i]);
	if (lk) {
		free(lk->nodes);
		free(lk->tasks);
		free(lk);
	}
	free(st->nodes);
	free(st->gpus);
	free(st->tasks);
	free(st->groups);
	free(st->gtask);
	memset(st, 0, sizeof(*st));
}

static json_t *models_json(const struct xp_state *st, uint64_t mask, uint64_t home)
{
	json_t *a;
	int m;

	/* A task limited to the model it runs on needs no declaration. */
	if (mask == home && __builtin_popcountll(mask) == 1)
		return json_null();
	a = json_array();
	for (m = 0; m < st->nmodels; m++)
		if ((mask >> m) & 1)
			json_array_append_new(a, json_string(st->models[m]));
	return a;
}

json_t *xp_state_to_json(const struct xp_state *st)
{
	json_t *nodes = json_array(), *tasks = json_array();
	int i, k;

	for (i = 0; i < st->nnodes; i++) {
		const struct xp_node *n = &st->nodes[i];
		json_t *jn = json_pack("{s:s}", "name", n->name), *gpus = json_array();

		if (n->cpu_m != INT64_MAX)
			json_object_set_new(jn, "cpus", json_real(n->cpu_m / 1000.0));
		if (n->mem != UINT64_MAX)
			json_object_set_new(jn, "memory_bytes", json_integer((json_int_t)n->mem));
		for (k = 0; k < n->ngpus; k++) {
			const struct xp_gpu *g = &st->gpus[n->gpu0 + k];

			json_array_append_new(gpus, json_pack("{s:i, s:s, s:I}", "index", g->index, "model",
							      st->models[g->model], "memory_bytes",
							      (json_int_t)g->mem));
		}
		json_object_set_new(jn, "gpus", gpus);
		json_array_append_new(nodes, jn);
	}
	for (i = 0; i < st->ntasks; i++) {
		const struct xp_task *t = &st->tasks[i];
		json_t *gpus = json_array();
		uint64_t home = 0;

		for (k = 0; k < t->home.ngpus; k++) {
			json_array_append_new(gpus, json_integer(st->gpus[t->home.gpus[k]].index));
			home |= 1ull << st->gpus[t->home.gpus[k]].model;
		}
		json_array_append_new(tasks, json_pack(
			"{s:s, s:s, s:I, s:s, s:o, s:f, s:I, s:f, s:I, s:b, s:o}",
			"id", t->id, "job", t->job, "rank", (json_int_t)t->rank,
			"node", st->nodes[t->home.node].name, "gpus", gpus,
			"share", (double)t->share / XP_ONE, "device_bytes", (json_int_t)t->bytes,
			"cpus", t->cpu_m / 1000.0, "memory_bytes", (json_int_t)t->mem,
			"movable", t->movable, "gpu_model", models_json(st, t->models, home)));
	}
	return json_pack("{s:o, s:o}", "nodes", nodes, "tasks", tasks);
}
