/*
 * test-plan-algo.c - the planners on small synthetic clusters whose optimum
 * is known by hand, the constraints they must keep, the sequencer and the
 * waves; and random small clusters where every algorithm's plan must pass
 * the replay and xmig is compared with the exact optimum.
 */
#include <dlfcn.h>

#include "unit.h"
#include "plan-fixture.h"

#define GIB (1ULL << 30)

static const char *const algos[] = { "xmig", "ffd", "bestfit-drain", "descheduler", "fgd", "ilp" };
static bool have_glpk;

#define SKIP(...) do { unit_n++; printf("ok %d # SKIP ", unit_n); printf(__VA_ARGS__); printf("\n"); } while (0)

struct run {
	int rc, freed, gfreed, moves, waves;
	uint64_t bytes;
};

/* Plan doc with algo (opts may be NULL); p is kept for inspection when given. */
static struct run plan(json_t *doc, const char *algo, const struct xp_opts *opts, struct xp_state *keep,
		       struct xp_plan *keep_plan)
{
	struct xp_state st;
	struct xp_plan p;
	struct xp_opts o;
	struct run r = { -1, 0, 0, 0, 0, 0 };

	if (keep_plan)
		memset(keep_plan, 0, sizeof(*keep_plan));
	if (keep)
		memset(keep, 0, sizeof(*keep));
	if (fx_load(doc, &st) < 0)
		return r;
	if (opts)
		o = *opts;
	else
		xp_opts_default(&o);
	o.time_limit = 20;
	fx_err_begin();
	r.rc = xp_plan_make(&st, algo, &o, &p);
	fx_err_end();
	r.freed = p.sum.nodes_before - p.sum.nodes_after;
	r.gfreed = p.sum.gpus_before - p.sum.gpus_after;
	r.moves = p.sum.moves;
	r.bytes = p.sum.bytes;
	r.waves = p.sum.waves;
	if (keep_plan)
		*keep_plan = p;
	else
		xp_plan_free(&p);
	if (keep)
		*keep = st;
	else
		xp_state_free(&st);
	return r;
}

static void every_algorithm_valid(json_t *doc, const char *what)
{
	size_t i;

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
		struct run r;

		if (!strcmp(algos[i], "ilp") && !have_glpk)
			continue;
		r = plan(doc, algos[i], NULL, NULL, NULL);
		CHECK(r.rc == 0, "%s: %s plan passes its replay", what, algos[i]);
	}
}

static void optimum(json_t *doc, const char *what, int nodes, uint64_t bytes, int moves)
{
	struct run r = plan(doc, "xmig", NULL, NULL, NULL);

	CHECK(r.rc == 0 && r.freed == nodes && r.bytes == bytes && r.moves == moves,
	      "%s: xmig frees %d node(s) with %d moves of %llu GiB (got %d, %d, %.2f)", what, nodes, moves,
	      (unsigned long long)(bytes / GIB), r.freed, r.moves, (double)r.bytes / GIB);
	if (!have_glpk) {
		SKIP("%s: ilp: GLPK (libglpk.so.40) not installed", what);
		return;
	}
	r = plan(doc, "ilp", NULL, NULL, NULL);
	CHECK(r.rc == 0 && r.freed == nodes && r.bytes == bytes, "%s: ilp finds the same optimum (got %d, %.2f GiB)",
	      what, r.freed, (double)r.bytes / GIB);
}

/* Four half-used nodes fit on one. */
static json_t *halves(void)
{
	json_t *d = fx_state();
	char n[8], t[8];
	int i;

	for (i = 1; i <= 4; i++) {
		snprintf(n, sizeof(n), "n%d", i);
		snprintf(t, sizeof(t), "h%d", i);
		fx_node(d, n, 2, "A100", 40, 32, 256);
		fx_task(d, t, NULL, 0, n, "0", 0.5, 10, 4, true);
	}
	return d;
}

/* Keep the node whose tasks are dearest to move. */
static json_t *cheapest(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 2, "A100", 40, 32, 256);
	fx_node(d, "n2", 2, "A100", 40, 32, 256);
	fx_node(d, "n3", 2, "A100", 40, 32, 256);
	fx_task(d, "big", NULL, 0, "n1", "0", 0.5, 30, 4, true);
	fx_task(d, "small", NULL, 0, "n2", "0", 0.5, 5, 4, true);
	fx_task(d, "whole", NULL, 0, "n3", "0", 1.0, 20, 4, true);
	return d;
}

/* Only n2 can be freed, and only by first moving a small task aside on n1. */
static json_t *repair(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 3, "A100", 40, 32, 256);
	fx_node(d, "n2", 2, "A100", 40, 32, 256);
	fx_task(d, "f1", NULL, 0, "n1", "0", 0.3, 1, 1, true);
	fx_task(d, "f2", NULL, 0, "n1", "1", 0.5, 20, 1, true);
	fx_task(d, "f4", NULL, 0, "n1", "2", 0.5, 20, 1, true);
	fx_task(d, "w", NULL, 0, "n2", "0", 1.0, 12, 1, true);
	fx_task(d, "f3", NULL, 0, "n2", "1", 0.2, 1, 1, true);
	return d;
}

/*
 * Shaped like a trace instance: the cheap node c drains only if r, a task of
 * staying node a, moves to b to make both GPU and CPU room. Packed largest
 * first, w1 and w2 take the empty GPUs of a and b and h fits nowhere (a
 * lacks CPUs, b GPU room); no repair helps, so the dear node e is drained
 * instead, for 30 GiB. Packed CPU-heaviest or smallest first, h goes to b
 * and the repair moves r beside it to give w2 a whole GPU of a: the
 * optimum, 6 + 6 + 4 + 8 = 24 GiB in 4 moves.
 */
static json_t *rearrange(void)
{
	json_t *d = fx_state();

	fx_node(d, "a", 3, "A100", 40, 20, 256);
	fx_node(d, "b", 2, "A100", 40, 40, 256);
	fx_node(d, "c", 3, "A100", 40, 40, 256);
	fx_node(d, "e", 1, "A100", 40, 40, 256);
	fx_task(d, "ua", NULL, 0, "a", "0", 1.0, 10, 6, false);
	fx_task(d, "r", NULL, 0, "a", "1", 0.5, 8, 8, true);
	fx_task(d, "ub", NULL, 0, "b", "0", 1.0, 10, 4, false);
	fx_task(d, "w1", NULL, 0, "c", "0", 1.0, 6, 1, true);
	fx_task(d, "w2", NULL, 0, "c", "1", 1.0, 6, 1, true);
	fx_task(d, "h", NULL, 0, "c", "2", 0.5, 4, 8, true);
	fx_task(d, "e1", NULL, 0, "e", "0", 1.0, 30, 2, true);
	return d;
}

/*
 * Packed largest first, w (two whole GPUs) takes a's two empty GPUs, the
 * node with fewest, and h, CPU-heavy, then fits nowhere: c lacks CPUs and
 * no repair can move w. CPU-heaviest first, h takes a's half GPU and w
 * goes to c: d drains for 5 + 5 GiB in 2 moves.
 */
static json_t *orders(void)
{
	json_t *d = fx_state();

	fx_node(d, "a", 4, "A100", 40, 20, 256);
	fx_node(d, "c", 4, "A100", 40, 8, 256);
	fx_node(d, "d", 3, "A100", 40, 40, 256);
	fx_task(d, "ua", NULL, 0, "a", "0", 1.0, 10, 2, false);
	fx_task(d, "p", NULL, 0, "a", "3", 0.5, 10, 2, true);
	fx_task(d, "uc", NULL, 0, "c", "0", 1.0, 10, 2, false);
	fx_task(d, "w", NULL, 0, "d", "0,1", 1.0, 5, 3, true);
	fx_task(d, "h", NULL, 0, "d", "2", 0.5, 5, 14, true);
	return d;
}

/* Two ranks of job G on n1 fit nowhere together; x on n2 can join y on n3. */
static json_t *group(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 2, "A100", 40, 32, 256);
	fx_node(d, "n2", 2, "A100", 40, 32, 256);
	fx_node(d, "n3", 2, "A100", 40, 32, 256);
	fx_task(d, "g0", "G", 0, "n1", "0", 1.0, 10, 2, true);
	fx_task(d, "g1", "G", 1, "n1", "1", 1.0, 10, 2, true);
	fx_task(d, "x", NULL, 0, "n2", "0", 1.0, 10, 2, true);
	fx_task(d, "y", NULL, 0, "n3", "0", 1.0, 12, 2, true);
	return d;
}

/* The ranks of G move together to the one node with two free GPUs. */
static json_t *group_moves(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 2, "A100", 40, 32, 256);
	fx_node(d, "n2", 4, "A100", 40, 32, 256);
	fx_task(d, "g0", "G", 0, "n1", "0", 1.0, 10, 2, true);
	fx_task(d, "g1", "G", 1, "n1", "1", 1.0, 10, 2, true);
	fx_task(d, "x", NULL, 0, "n2", "0", 1.0, 30, 2, true);
	fx_task(d, "z", NULL, 0, "n2", "1", 1.0, 30, 2, true);
	return d;
}

/* A task that cannot move keeps its node; the other node drains into it. */
static json_t *pinned(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 2, "A100", 40, 32, 256);
	fx_node(d, "n2", 2, "A100", 40, 32, 256);
	fx_task(d, "p", NULL, 0, "n1", "0", 0.5, 1, 1, false);
	fx_task(d, "q", NULL, 0, "n2", "0", 0.5, 30, 1, true);
	return d;
}

/* V100 tasks cannot go to A100s unless they say so. */
static json_t *models(bool allow)
{
	json_t *d = fx_state(), *t;

	fx_node(d, "a1", 2, "A100", 40, 32, 256);
	fx_node(d, "v1", 2, "V100", 40, 32, 256);
	fx_task(d, "ta", NULL, 0, "a1", "0", 0.5, 30, 1, true);
	t = fx_task(d, "tv", NULL, 0, "v1", "0", 0.5, 10, 1, true);
	if (allow)
		json_object_set_new(t, "gpu_model", json_pack("[s,s]", "V100", "A100"));
	return d;
}

/* Two GPUs must trade places: only possible through a third. */
static json_t *cycle(void)
{
	json_t *d = fx_state();

	fx_node(d, "n1", 1, "A100", 40, 32, 256);
	fx_node(d, "n2", 1, "A100", 40, 32, 256);
	fx_node(d, "n3", 2, "A100", 40, 32, 256);
	fx_task(d, "a", NULL, 0, "n1", "0", 1.0, 10, 1, true);
	fx_task(d, "b", NULL, 0, "n2", "0", 1.0, 10, 1, true);
	fx_task(d, "c", NULL, 0, "n3", "0", 0.5, 1, 1, true);
	return d;
}

/* Random small clusters, some tasks pinned, some jobs with two ranks. */
static json_t *random_state(unsigned *seed)
{
	static const double shares[] = { 0.1, 0.25, 0.3, 0.5, 0.6, 1.0 };
	json_t *d = fx_state();
	int nn = 3 + rand_r(seed) % 3, n, k = 0;
	double used[8][4] = { { 0 } };

	for (n = 0; n < nn; n++) {
		char name[8];
		int g, ng = 1 + rand_r(seed) % 4;

		snprintf(name, sizeof(name), "n%d", n);
		fx_node(d, name, ng, n % 4 == 3 ? "V100" : "A100", 32, 16, 128);
		for (g = 0; g < ng; g++) {
			int tries;

			for (tries = 0; tries < 2; tries++) {
				double s = shares[rand_r(seed) % 6];
				char id[16], gl[4];

				if (used[n][g] + s > 1.0 || rand_r(seed) % 3 == 0)
					continue;
				snprintf(id, sizeof(id), "t%d", k++);
				snprintf(gl, sizeof(gl), "%d", g);
				fx_task(d, id, NULL, 0, name, gl, s, s * 30, 1 + rand_r(seed) % 3, rand_r(seed) % 10 != 0);
				used[n][g] += s;
			}
		}
		if (ng >= 2 && used[n][0] == 0 && used[n][1] == 0 && rand_r(seed) % 2) {
			char id[16];

			snprintf(id, sizeof(id), "j%d", n);
			fx_task(d, "tmp0", id, 0, name, "0", 1.0, 8, 1, true);
			fx_task(d, "tmp1", id, 1, name, "1", 1.0, 8, 1, true);
			json_object_set_new(json_array_get(json_object_get(d, "tasks"),
							   json_array_size(json_object_get(d, "tasks")) - 2),
					    "id", json_sprintf("%s-r0", id));
			json_object_set_new(json_array_get(json_object_get(d, "tasks"),
							   json_array_size(json_object_get(d, "tasks")) - 1),
					    "id", json_sprintf("%s-r1", id));
		}
	}
	return d;
}

int main(void)
{
	struct xp_state st;
	struct xp_plan p;
	struct xp_opts o;
	struct run r;
	json_t *d;
	void *h = dlopen("libglpk.so.40", RTLD_NOW);
	unsigned seed = 42;
	int i, k, agree = 0, solved = 0, xsum = 0, isum = 0, bsum = 0;

	have_glpk = h != NULL;
	if (h)
		dlclose(h);

	d = halves();
	every_algorithm_valid(d, "halves");
	optimum(d, "halves", 3, 30 * GIB, 3);
	xp_opts_default(&o);
	o.max_moves = 1;
	r = plan(d, "xmig", &o, NULL, NULL);
	CHECK(r.rc == 0 && r.moves <= 1 && r.freed == 1, "halves, --max-moves 1: one node for one move");
	xp_opts_default(&o);
	o.max_bytes = 5 * GIB;
	r = plan(d, "xmig", &o, NULL, NULL);
	CHECK(r.rc == 0 && r.moves == 0, "halves, --max-bytes 5G: nothing fits the budget");
	xp_opts_default(&o);
	o.concurrency = 1;
	r = plan(d, "xmig", &o, NULL, NULL);
	CHECK(r.rc == 0 && r.waves == 3, "halves, --concurrency 1: three moves into one node take three waves (%d)",
	      r.waves);
	xp_opts_default(&o);
	o.concurrency = 3;
	r = plan(d, "xmig", &o, NULL, NULL);
	CHECK(r.rc == 0 && r.waves == 1, "halves, --concurrency 3: one wave (%d)", r.waves);
	json_decref(d);

	d = cheapest();
	every_algorithm_valid(d, "cheapest");
	optimum(d, "cheapest", 2, 25 * GIB, 2);
	json_decref(d);

	d = repair();
	every_algorithm_valid(d, "repair");
	optimum(d, "repair", 1, 14 * GIB, 3);
	r = plan(d, "bestfit-drain", NULL, NULL, NULL);
	CHECK(r.rc == 0 && r.freed == 0, "repair: bestfit-drain, which never makes room, frees nothing");
	json_decref(d);

	d = rearrange();
	every_algorithm_valid(d, "rearrange");
	optimum(d, "rearrange", 1, 24 * GIB, 4);
	json_decref(d);

	d = orders();
	every_algorithm_valid(d, "orders");
	optimum(d, "orders", 1, 10 * GIB, 2);
	json_decref(d);

	d = group();
	every_algorithm_valid(d, "group");
	optimum(d, "group", 1, 10 * GIB, 1);
	json_decref(d);

	d = group_moves();
	every_algorithm_valid(d, "group that moves");
	r = plan(d, "xmig", NULL, &st, &p);
	CHECK(r.rc == 0 && r.freed == 1 && p.nmoves == 2 && p.moves[0].unit == p.moves[1].unit &&
	      p.moves[0].wave == p.moves[1].wave && p.moves[0].to.node == p.moves[1].to.node,
	      "group: both ranks move in one unit, one wave, to one node");
	xp_plan_free(&p);
	xp_state_free(&st);
	json_decref(d);

	d = pinned();
	every_algorithm_valid(d, "pinned");
	optimum(d, "pinned", 1, 30 * GIB, 1);
	json_decref(d);

	d = models(false);
	every_algorithm_valid(d, "models");
	optimum(d, "models", 0, 0, 0);
	json_decref(d);
	d = models(true);
	optimum(d, "models with gpu_model [V100, A100]", 1, 10 * GIB, 1);
	json_decref(d);

	/* Objective gpus: four quarter tasks on one node share one GPU. */
	d = fx_state();
	fx_node(d, "n1", 4, "A100", 40, 32, 256);
	for (i = 0; i < 4; i++) {
		char id[8], g[4];

		snprintf(id, sizeof(id), "q%d", i);
		snprintf(g, sizeof(g), "%d", i);
		fx_task(d, id, NULL, 0, "n1", g, 0.25, 2, 1, true);
	}
	r = plan(d, "xmig", NULL, NULL, NULL);
	CHECK(r.rc == 0 && r.moves == 0, "one node: objective nodes has nothing to free");
	xp_opts_default(&o);
	o.objective = XP_OBJ_GPUS;
	for (k = 0; k < 6; k++) {
		if (!strcmp(algos[k], "ilp") && !have_glpk)
			continue;
		r = plan(d, algos[k], &o, NULL, NULL);
		CHECK(r.rc == 0, "objective gpus: %s plan passes its replay", algos[k]);
	}
	r = plan(d, "xmig", &o, NULL, NULL);
	CHECK(r.rc == 0 && r.gfreed == 3 && r.moves == 3, "objective gpus: xmig frees 3 GPUs with 3 moves (%d, %d)",
	      r.gfreed, r.moves);
	json_decref(d);

	/* The sequencer: a swap through a third node. */
	d = cycle();
	fx_load(d, &st);
	xp_opts_default(&o);
	xp_plan_init(&p, "test", &o);
	{
		struct xp_place to1 = st.tasks[xp_find_task(&st, "b")].home;
		struct xp_place to2 = st.tasks[xp_find_task(&st, "a")].home;
		struct xp_check c;

		xp_plan_add(&p, xp_find_task(&st, "a"), &to1, 1, XP_WHY_DRAIN);
		xp_plan_add(&p, xp_find_task(&st, "b"), &to2, 2, XP_WHY_DRAIN);
		k = xp_sequence(&st, &p) == 0 && xp_waves(&st, &p) == 0;
		xp_check_plan(&st, &p, &c);
		CHECK(k && c.ok && p.nmoves == 3 && p.moves[0].why == XP_WHY_PARK,
		      "a swap is done by parking one task on a third node (%d moves): %s", p.nmoves,
		      c.ok ? "holds" : c.error);
		CHECK(c.ok && p.moves[2].task == p.moves[0].task && p.moves[2].to.node == xp_find_node(&st, "n2") &&
		      p.moves[0].wave < p.moves[2].wave,
		      "and the parked task reaches its place in a later wave");
		xp_check_free(&c);
	}
	xp_plan_free(&p);
	xp_state_free(&st);
	json_decref(d);

	/* Random clusters: every plan holds; xmig against the optimum. */
	for (i = 0; i < 60; i++) {
		struct run x, b, e;
		char what[32];

		d = random_state(&seed);
		snprintf(what, sizeof(what), "random %d", i);
		if (fx_load(d, &st) < 0) {
			json_decref(d);
			continue;
		}
		xp_state_free(&st);
		x = plan(d, "xmig", NULL, NULL, NULL);
		b = plan(d, "bestfit-drain", NULL, NULL, NULL);
		for (k = 1; k < 5; k++) {
			r = plan(d, algos[k], NULL, NULL, NULL);
			if (r.rc != 0)
				break;
		}
		CHECK(x.rc == 0 && k == 5, "%s: every heuristic's plan passes its replay", what);
		xsum += x.freed;
		bsum += b.freed;
		if (have_glpk) {
			e = plan(d, "ilp", NULL, NULL, NULL);
			if (e.rc == 0) {
				solved++;
				isum += e.freed;
				agree += x.freed >= e.freed;
				if (x.freed < e.freed && getenv("XP_DUMP")) {
					char f[64];
					snprintf(f, sizeof(f), "/tmp/rand-%d.json", i);
					json_dump_file(d, f, JSON_INDENT(1));
				}
			}
		}
		json_decref(d);
	}
	CHECK(xsum >= bsum, "random: xmig frees at least as many nodes as bestfit-drain in all (%d vs %d)", xsum, bsum);
	if (have_glpk)
		CHECK(solved > 0 && xsum * 100 >= isum * 95 && agree * 10 >= solved * 9,
		      "random: xmig frees the optimum on %d of %d, %d of %d nodes in all", agree, solved, xsum, isum);
	else
		SKIP("random against ilp: GLPK not installed");
	return unit_done();
}
