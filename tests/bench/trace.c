/*
 * trace.c - fragmented cluster states from the Alibaba GPU trace of 2023
 * ("openb", Weng et al., "Beware of Fragmentation", USENIX ATC '23), made the
 * way that paper makes them: task specs sampled with replacement from the pod
 * list until the GPUs they request reach a fraction (90%) of the cluster's,
 * each placed on arrival (best-fit or spread; one that fits nowhere fails),
 * then every task leaves with a probability. Nothing of the trace is stored
 * here; it is read from the directory given at run time.
 *
 * Device bytes of a task = share x device memory of its GPU model x GPUs.
 * The trace gives no GPU memory; models it names are taken at their usual
 * size, and the two undisclosed ones (G2, G3) are assumptions: see
 * model_memory(). Tasks that ask for no GPU (CPU-only pods) are left out:
 * xmig moves GPU contexts, and such a pod is not xmig's to move.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define GIB (1ull << 30)

uint64_t model_memory(const char *model)
{
	static const struct {
		const char *model;
		uint64_t gib;
	} mem[] = {
		{ "T4", 16 }, { "P100", 16 }, { "V100M16", 16 }, { "V100M32", 32 }, { "A10", 24 },
		/* Undisclosed: G2 (8 per node, 96 cores) taken as a 32 GiB V100-class
		 * part, G3 (8 per node, 128 cores, 768 GiB) as an 80 GiB A100-class. */
		{ "G2", 32 }, { "G3", 80 },
	};
	size_t i;

	for (i = 0; i < sizeof(mem) / sizeof(mem[0]); i++)
		if (!strcmp(mem[i].model, model))
			return mem[i].gib * GIB;
	return 16 * GIB;
}

/* ---- random numbers ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- CSV ----------------------------------------------------------------- */

/* Split line in place at commas; returns the field count. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, ',');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static int column(char **f, int n, const char *name, const char *path)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(f[i], name))
			return i;
	return xmig_error("%s: no column \"%s\" in its header", path, name);
}

static FILE *open_csv(const char *dir, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	if ((f = fopen(path, "r")))
		return f;
	snprintf(path, len, "%s/csv/%s", dir, name);
	if ((f = fopen(path, "r")))
		return f;
	xmig_error_errno("cannot open %s/%s (nor %s/csv/%s); TRACE must be the trace directory",
			 dir, name, dir, name);
	return NULL;
}

static int load_nodes(const char *dir, struct trace *tr)
{
	char path[4096], line[1024], *f[16];
	int n, c_sn, c_cpu, c_mem, c_gpu, c_model, cap = 0, lineno = 1;
	FILE *fp = open_csv(dir, "openb_node_list_gpu_node.csv", path, sizeof(path));

	if (!fp)
		return -1;
	if (!fgets(line, sizeof(line), fp) || (n = split(line, f, 16)) < 5 ||
	    (c_sn = column(f, n, "sn", path)) < 0 || (c_cpu = column(f, n, "cpu_milli", path)) < 0 ||
	    (c_mem = column(f, n, "memory_mib", path)) < 0 || (c_gpu = column(f, n, "gpu", path)) < 0 ||
	    (c_model = column(f, n, "model", path)) < 0) {
		fclose(fp);
		return xmig_error("%s: not a node list (sn,cpu_milli,memory_mib,gpu,model)", path);
	}
	while (fgets(line, sizeof(line), fp)) {
		struct tnode *t;

		lineno++;
		if ((n = split(line, f, 16)) < 5)
			continue;
		if (atoi(f[c_gpu]) <= 0)
			continue;
		if (tr->nnodes == cap) {
			cap = cap ? cap * 2 : 1024;
			tr->nodes = realloc(tr->nodes, sizeof(*tr->nodes) * (size_t)cap);
		}
		t = &tr->nodes[tr->nnodes++];
		snprintf(t->name, sizeof(t->name), "%s", f[c_sn]);
		t->cpu_m = atoll(f[c_cpu]);
		t->mem = (uint64_t)atoll(f[c_mem]) << 20;
		t->gpus = atoi(f[c_gpu]);
		snprintf(t->model, sizeof(t->model), "%s", f[c_model]);
		if (t->gpus > XP_MAX_NODE_GPUS || !t->model[0]) {
			fclose(fp);
			return xmig_error("%s:%d: bad node", path, lineno);
		}
	}
	fclose(fp);
	return tr->nnodes ? 0 : xmig_error("%s: no GPU nodes", path);
}

static int load_specs(const char *dir, struct trace *tr)
{
	char path[4096], line[2048], *f[32];
	int n, c_cpu, c_mem, c_ng, c_milli, c_spec, cap = 0;
	FILE *fp = open_csv(dir, "openb_pod_list_default.csv", path, sizeof(path));

	if (!fp)
		return -1;
	if (!fgets(line, sizeof(line), fp) || (n = split(line, f, 32)) < 6 ||
	    (c_cpu = column(f, n, "cpu_milli", path)) < 0 || (c_mem = column(f, n, "memory_mib", path)) < 0 ||
	    (c_ng = column(f, n, "num_gpu", path)) < 0 || (c_milli = column(f, n, "gpu_milli", path)) < 0 ||
	    (c_spec = column(f, n, "gpu_spec", path)) < 0) {
		fclose(fp);
		return xmig_error("%s: not a pod list (name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,...)", path);
	}
	while (fgets(line, sizeof(line), fp)) {
		struct tspec *s;
		int gpus, milli;

		if ((n = split(line, f, 32)) < 6)
			continue;
		gpus = atoi(f[c_ng]);
		milli = atoi(f[c_milli]);
		if (gpus <= 0 || milli <= 0) {
			tr->cpu_only++;
			continue;
		}
		if (tr->nspecs == cap) {
			cap = cap ? cap * 2 : 4096;
			tr->specs = realloc(tr->specs, sizeof(*tr->specs) * (size_t)cap);
		}
		s = &tr->specs[tr->nspecs++];
		s->cpu_m = atoll(f[c_cpu]);
		s->mem = (uint64_t)atoll(f[c_mem]) << 20;
		s->gpus = gpus;
		s->milli = milli > 1000 ? 1000 : milli;
		snprintf(s->spec, sizeof(s->spec), "%s", f[c_spec]);
	}
	fclose(fp);
	return tr->nspecs ? 0 : xmig_error("%s: no GPU tasks", path);
}

int trace_load(const char *dir, struct trace *tr)
{
	memset(tr, 0, sizeof(*tr));
	if (load_nodes(dir, tr) < 0 || load_specs(dir, tr) < 0) {
		trace_free(tr);
		return -1;
	}
	return 0;
}

void trace_free(struct trace *tr)
{
	free(tr->nodes);
	free(tr->specs);
	memset(tr, 0, sizeof(*tr));
}

/* ---- placing the sampled tasks ------------------------------------------ */

struct sim {
	const struct tnode **node;
	int n, *gpu0;
	int *gfree;            /* milli */
	int *free_total, *max_free, *nfull;
	int64_t *cpu_free;
	uint64_t *mem_free;
};

struct placed {
	int spec, node, gpus[XP_MAX_TASK_GPUS];
};

static bool model_allowed(const char *spec, const char *model)
{
	size_t l = strlen(model);
	const char *p = spec;

	if (!*spec)
		return true;
	while ((p = strstr(p, model))) {
		if ((p == spec || p[-1] == '|') && (p[l] == '|' || !p[l]))
			return true;
		p += l;
	}
	return false;
}

static void refresh(struct sim *s, int n)
{
	int i;

	s->free_total[n] = s->max_free[n] = s->nfull[n] = 0;
	for (i = 0; i < s->node[n]->gpus; i++) {
		int f = s->gfree[s->gpu0[n] + i];

		s->free_total[n] += f;
		if (f > s->max_free[n])
			s->max_free[n] = f;
		s->nfull[n] += f == 1000;
	}
}

static bool feasible(const struct sim *s, int n, const struct tspec *t)
{
	if (s->cpu_free[n] < t->cpu_m || s->mem_free[n] < t->mem || !model_allowed(t->spec, s->node[n]->model))
		return false;
	if (t->gpus == 1 && t->milli < 1000)
		return s->max_free[n] >= t->milli;
	return s->nfull[n] >= t->gpus;
}

/* Choose node and GPUs for t; false when no node takes it. */
static bool place(struct sim *s, const struct tspec *t, enum placement how, struct placed *out)
{
	double best = how == PLACE_BESTFIT ? INFINITY : -INFINITY;
	int n, i, k, bn = -1;

	for (n = 0; n < s->n; n++) {
		double gpu_left, cpu_left, score;

		if (!feasible(s, n, t))
			continue;
		gpu_left = (double)(s->free_total[n] - (how == PLACE_BESTFIT ? t->gpus * t->milli : 0)) /
			   (s->node[n]->gpus * 1000.0);
		cpu_left = (double)(s->cpu_free[n] - (how == PLACE_BESTFIT ? t->cpu_m : 0)) / (double)s->node[n]->cpu_m;
		score = gpu_left + cpu_left;
		if (how == PLACE_BESTFIT ? score < best : score > best) {
			best = score;
			bn = n;
		}
	}
	if (bn < 0)
		return false;
	out->node = bn;
	if (t->gpus == 1 && t->milli < 1000) {
		int bg = -1;

		for (i = 0; i < s->node[bn]->gpus; i++) {
			int g = s->gpu0[bn] + i, f = s->gfree[g];

			if (f < t->milli)
				continue;
			if (bg < 0 || (how == PLACE_BESTFIT ? f < s->gfree[bg] : f > s->gfree[bg]))
				bg = g;
		}
		out->gpus[0] = bg - s->gpu0[bn];
		s->gfree[bg] -= t->milli;
	} else {
		for (i = 0, k = 0; i < s->node[bn]->gpus && k < t->gpus; i++)
			if (s->gfree[s->gpu0[bn] + i] == 1000) {
				out->gpus[k++] = i;
				s->gfree[s->gpu0[bn] + i] = 0;
			}
	}
	s->cpu_free[bn] -= t->cpu_m;
	s->mem_free[bn] -= t->mem;
	refresh(s, bn);
	return true;
}

static json_t *model_list(const char *spec)
{
	json_t *a;
	char buf[64], *save, *m;

	if (!*spec)
		return json_null();
	a = json_array();
	snprintf(buf, sizeof(buf), "%s", spec);
	for (m = strtok_r(buf, "|", &save); m; m = strtok_r(NULL, "|", &save))
		json_array_append_new(a, json_string(m));
	return a;
}

json_t *gen_state(const struct gen *g, struct gen_stats *st)
{
	const struct trace *tr = g->tr;
	int per = g->pick ? g->npick : tr->nnodes, n, i, k, cap = 0, gpus = 0;
	struct sim s = { 0 };
	struct placed *pl = NULL;
	struct rng r;
	json_t *nodes = json_array(), *tasks = json_array();
	double target;

	memset(st, 0, sizeof(*st));
	s.n = per * g->replicas;
	s.node = calloc((size_t)s.n, sizeof(*s.node));
	s.gpu0 = calloc((size_t)s.n, sizeof(int));
	s.free_total = calloc((size_t)s.n, sizeof(int));
	s.max_free = calloc((size_t)s.n, sizeof(int));
	s.nfull = calloc((size_t)s.n, sizeof(int));
	s.cpu_free = calloc((size_t)s.n, sizeof(int64_t));
	s.mem_free = calloc((size_t)s.n, sizeof(uint64_t));
	for (n = 0; n < s.n; n++) {
		s.node[n] = &tr->nodes[g->pick ? g->pick[n % per] : n % per];
		s.gpu0[n] = gpus;
		gpus += s.node[n]->gpus;
		s.cpu_free[n] = s.node[n]->cpu_m;
		s.mem_free[n] = s.node[n]->mem;
	}
	s.gfree = malloc(sizeof(int) * (size_t)gpus);
	for (i = 0; i < gpus; i++)
		s.gfree[i] = 1000;
	for (n = 0; n < s.n; n++)
		refresh(&s, n);
	st->nodes = s.n;
	st->gpus = gpus;
	/* Arrivals until the requested GPUs reach the fill level. */
	rng_seed(&r, g->seed);
	target = g->fill * gpus;
	while (st->requested < target) {
		const struct tspec *t = &tr->specs[rng_next(&r) % (uint64_t)tr->nspecs];
		struct placed p;

		st->arrived++;
		st->requested += t->gpus * t->milli / 1000.0;
		if (!place(&s, t, g->place, &p)) {
			st->failed++;
			continue;
		}
		p.spec = (int)(t - tr->specs);
		if (st->placed == cap) {
			cap = cap ? cap * 2 : 4096;
			pl = realloc(pl, sizeof(*pl) * (size_t)cap);
		}
		pl[st->placed++] = p;
	}
	/* Departures: the same draws for every probability, so 0.5 contains 0.3. */
	rng_seed(&r, g->seed ^ 0x5eed0fdeadull);
	for (n = 0; n < s.n; n++) {
		const struct tnode *tn = s.node[n];
		json_t *gl = json_array();
		char name[64];

		for (i = 0; i < tn->gpus; i++)
			json_array_append_new(gl, json_pack("{s:i, s:s, s:I}", "index", i, "model", tn->model,
							    "memory_bytes", (json_int_t)model_memory(tn->model)));
		if (g->replicas > 1)
			snprintf(name, sizeof(name), "%s-r%d", tn->name, n / per);
		else
			snprintf(name, sizeof(name), "%s", tn->name);
		json_array_append_new(nodes, json_pack("{s:s, s:f, s:I, s:o}", "name", name, "cpus",
						       tn->cpu_m / 1000.0, "memory_bytes", (json_int_t)tn->mem,
						       "gpus", gl));
	}
	for (i = 0; i < st->placed; i++) {
		const struct tspec *t = &tr->specs[pl[i].spec];
		const char *node = json_string_value(json_object_get(json_array_get(nodes, (size_t)pl[i].node), "name"));
		json_t *gl = json_array();
		char id[32];

		if (rng_unit(&r) < g->depart) {
			st->left++;
			continue;
		}
		for (k = 0; k < t->gpus; k++)
			json_array_append_new(gl, json_integer(pl[i].gpus[k]));
		snprintf(id, sizeof(id), "t%d", i);
		json_array_append_new(tasks, json_pack(
			"{s:s, s:s, s:i, s:s, s:o, s:f, s:I, s:f, s:I, s:b, s:o}", "id", id, "job", id, "rank", 0,
			"node", node, "gpus", gl, "share", t->milli / 1000.0, "device_bytes",
			(json_int_t)(model_memory(s.node[pl[i].node]->model) / 1000 * (uint64_t)t->milli *
				     (uint64_t)t->gpus),
			"cpus", t->cpu_m / 1000.0, "memory_bytes", (json_int_t)t->mem, "movable", 1,
			"gpu_model", model_list(t->spec)));
	}
	free(pl);
	free(s.node);
	free(s.gpu0);
	free(s.gfree);
	free(s.free_total);
	free(s.max_free);
	free(s.nfull);
	free(s.cpu_free);
	free(s.mem_free);
	return json_pack("{s:o, s:o}", "nodes", nodes, "tasks", tasks);
}
