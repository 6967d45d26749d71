/*
 * plan-bench.c - the planner benchmark behind `make bench-plan TRACE=DIR`.
 *
 * For each seed, placement (best-fit, spread) and departure probability
 * (0.3, 0.5) it builds a fragmented state from the trace (trace.c), at the
 * trace's size and with its node list replicated, runs every planner on it
 * through the same pipeline as `xmig plan` (so every plan is replayed by the
 * checker), and prints Markdown tables: nodes and GPUs freed, moves, device
 * bytes, bytes per freed node, planning time, the targets, and how far
 * the bytes are from floors no plan can go under (floor.c). Small
 * sub-clusters sampled from the trace compare xmig with the exact optimum.
 *
 *   plan-bench --trace DIR [--seeds 42-51] [--replicas 1,8] [--algorithms LIST]
 *              [--small-nodes 12,16] [--ilp-time-limit S] [--no-large] [--no-small]
 *              [--dump DIR]
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "bench.h"

#define MAXA 8
#define MAXS 64

struct res {
	bool ok;
	int freed, gfreed, moves;
	uint64_t bytes;
	uint64_t mfloor;                     /* bytes_floor_models() of its freed nodes */
	double secs;
	const char *ilp_nodes, *ilp_bytes;  /* ilp: stage status */
	int ilp_used;                        /* ilp: nodes used per the solver */
};

struct opts {
	const char *trace, *dump;
	int seed0, seed1;
	int replicas[4], nrep;
	const char *algos[MAXA];
	int nalgos;
	int small[4], nsmall;
	double ilp_limit;
	bool large, smallrun;
};

static int parse_list(const char *s, int *out, int max)
{
	char buf[256], *save, *t;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
		if ((out[n++] = atoi(t)) <= 0)
			return -1;
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: plan-bench --trace DIR [--seeds A-B] [--replicas 1,8] [--algorithms a,b]\n"
			"                  [--small-nodes 12,16] [--ilp-time-limit S] [--no-large] [--no-small]\n"
			"                  [--dump DIR]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const char *def[] = { "xmig", "ffd", "bestfit-drain", "descheduler", "fgd" };
	int i;

	memset(o, 0, sizeof(*o));
	o->seed0 = 42;
	o->seed1 = 51;
	o->replicas[0] = 1;
	o->replicas[1] = 8;
	o->nrep = 2;
	for (i = 0; i < 5; i++)
		o->algos[o->nalgos++] = def[i];
	o->small[0] = 12;
	o->nsmall = 1;
	o->ilp_limit = 20;
	o->large = o->smallrun = true;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--trace") && v)
			o->trace = argv[++i];
		else if (!strcmp(a, "--dump") && v)
			o->dump = argv[++i];
		else if (!strcmp(a, "--seeds") && v) {
			if (sscanf(argv[++i], "%d-%d", &o->seed0, &o->seed1) != 2 || o->seed1 < o->seed0 ||
			    o->seed1 - o->seed0 >= MAXS)
				usage();
		} else if (!strcmp(a, "--replicas") && v) {
			if ((o->nrep = parse_list(argv[++i], o->replicas, 4)) <= 0)
				usage();
		} else if (!strcmp(a, "--small-nodes") && v) {
			if ((o->nsmall = parse_list(argv[++i], o->small, 4)) <= 0)
				usage();
		} else if (!strcmp(a, "--algorithms") && v) {
			char *s = strdup(argv[++i]), *save, *t;

			o->nalgos = 0;
			for (t = strtok_r(s, ",", &save); t && o->nalgos < MAXA; t = strtok_r(NULL, ",", &save)) {
				if (!xp_algo_find(t)) {
					fprintf(stderr, "plan-bench: unknown algorithm %s\n", t);
					exit(2);
				}
				o->algos[o->nalgos++] = t;
			}
			/* the tables' targets compare the first planner with the others */
			if (!o->nalgos || strcmp(o->algos[0], "xmig")) {
				fprintf(stderr, "plan-bench: --algorithms must start with xmig (the "
						"targets compare it with the others)\n");
				exit(2);
			}
		} else if (!strcmp(a, "--ilp-time-limit") && v)
			o->ilp_limit = atof(argv[++i]);
		else if (!strcmp(a, "--no-large"))
			o->large = false;
		else if (!strcmp(a, "--no-small"))
			o->smallrun = false;
		else
			usage();
	}
	if (!o->trace)
		usage();
}

static void dump(const struct opts *o, json_t *doc, const char *what)
{
	char path[4096];

	if (!o->dump)
		return;
	snprintf(path, sizeof(path), "%s/%s.json", o->dump, what);
	if (json_dump_file(doc, path, JSON_COMPACT) < 0)
		xmig_warn("cannot write %s", path);
}

static struct res run_one(const struct xp_state *st, const char *algo, double ilp_limit)
{
	struct xp_opts xo;
	struct xp_plan p;
	struct res r = { 0 };

	xp_opts_default(&xo);
	xo.time_limit = ilp_limit;
	if (xp_plan_make(st, algo, &xo, &p) == 0) {
		r.ok = true;
		r.freed = p.sum.nodes_before - p.sum.nodes_after;
		r.gfreed = p.sum.gpus_before - p.sum.gpus_after;
		r.moves = p.sum.moves;
		r.bytes = p.sum.bytes;
		r.secs = p.sum.plan_seconds;
		r.mfloor = bytes_floor_models(st, p.freed_nodes);
		/* A floor above a plan that exists is a wrong floor. */
		if (r.freed > 0 && (bytes_floor(st, r.freed) > r.bytes || bytes_floor_tight(st, r.freed) > r.bytes ||
				    r.mfloor > r.bytes))
			xmig_warn("%s moved less than a floor says it can: floor.c is wrong", algo);
		if (p.info) {
			r.ilp_nodes = json_string_value(json_object_get(p.info, "nodes_stage"));
			r.ilp_bytes = json_string_value(json_object_get(p.info, "bytes_stage"));
			/* Interned: the strings are constants of algo-ilp.c. */
			r.ilp_nodes = r.ilp_nodes && !strcmp(r.ilp_nodes, "optimal") ? "optimal"
				      : r.ilp_nodes && !strcmp(r.ilp_nodes, "feasible") ? "feasible" : "not solved";
			r.ilp_bytes = r.ilp_bytes && !strcmp(r.ilp_bytes, "optimal") ? "optimal"
				      : r.ilp_bytes && !strcmp(r.ilp_bytes, "feasible") ? "feasible" : "not solved";
			r.ilp_used = (int)json_number_value(json_object_get(p.info, "nodes_used_after"));
		}
	}
	xp_plan_free(&p);
	return r;
}

static const char *place_name(enum placement p)
{
	return p == PLACE_BESTFIT ? "best-fit" : "spread";
}

static double gib(uint64_t b)
{
	return (double)b / (1024.0 * 1024 * 1024);
}

/* One configuration: every seed, every algorithm. */
static void large(const struct opts *o, const struct trace *tr, int rep, enum placement pl, double dep)
{
	struct res R[MAXA][MAXS];
	struct gen_stats gs = { 0 };
	int ns = o->seed1 - o->seed0 + 1, a, s, tasks = 0, bi = -1;
	double load = 0;
	int win = 0, ratio_ok = 0, ratio_n = 0;
	double worst_secs = 0, worst_ratio = 0, best_ratio = 1e9;
	double floor_b = 0, floor_b_min = 1e9, floor_x = 0;
	double tight_b = 0, tight_b_min = 1e9, tight_x = 0, models_x = 0, models_b = 0;
	int out_of_reach = 0, out_of_reach_t = 0;

	for (a = 0; a < o->nalgos; a++)
		if (!strcmp(o->algos[a], "bestfit-drain"))
			bi = a;
	for (s = 0; s < ns; s++) {
		struct gen g = { tr, NULL, 0, rep, pl, 0.9, dep, (uint64_t)(o->seed0 + s) };
		struct xp_state st;
		json_t *doc = gen_state(&g, &gs);
		char what[128];

		snprintf(what, sizeof(what), "x%d-%s-p%02d-seed%d", rep, place_name(pl), (int)(dep * 100), o->seed0 + s);
		dump(o, doc, what);
		if (xp_state_from_json(doc, &st) < 0) {
			fprintf(stderr, "plan-bench: generated state refused (%s)\n", what);
			exit(1);
		}
		json_decref(doc);
		tasks += st.ntasks;
		{
			struct xp_usage u;
			int64_t sh = 0;

			xp_usage_init(&u, &st);
			xp_usage_fill_home(&u, &st);
			for (int k = 0; k < st.ngpus; k++)
				sh += u.gshare[k];
			load += (double)sh / XP_ONE / st.ngpus;
			xp_usage_free(&u);
		}
		for (a = 0; a < o->nalgos; a++) {
			R[a][s] = run_one(&st, o->algos[a], o->ilp_limit);
			fprintf(stderr, "%s: %-13s freed %4d nodes %5d GPUs, %6d moves, %9.1f GiB, %.3f s\n", what,
				o->algos[a], R[a][s].freed, R[a][s].gfreed, R[a][s].moves, gib(R[a][s].bytes), R[a][s].secs);
		}
		/* How low bytes per freed node can go at bestfit-drain's count, and xmig's distance to its floor. */
		if (bi > 0 && R[bi][s].freed > 0 && R[bi][s].bytes > 0) {
			double f = (double)bytes_floor(&st, R[bi][s].freed) / (double)R[bi][s].bytes;

			floor_b += f;
			floor_b_min = fmin(floor_b_min, f);
			f = (double)bytes_floor_tight(&st, R[bi][s].freed) / (double)R[bi][s].bytes;
			tight_b += f;
			tight_b_min = fmin(tight_b_min, f);
			models_b += R[bi][s].mfloor ? (double)R[bi][s].bytes / (double)R[bi][s].mfloor : 1;
		}
		if (R[0][s].freed > 0) {
			floor_x += (double)R[0][s].bytes / (double)bytes_floor(&st, R[0][s].freed);
			tight_x += (double)R[0][s].bytes / (double)bytes_floor_tight(&st, R[0][s].freed);
			models_x += R[0][s].mfloor ? (double)R[0][s].bytes / (double)R[0][s].mfloor : 1;
		}
		/* Targets, per seed: xmig (first) against every baseline. */
		{
			int best = 0;

			for (a = 1; a < o->nalgos; a++)
				if (R[a][s].freed > best)
					best = R[a][s].freed;
			win += R[0][s].freed >= best;
			/*
			 * Whether any plan can meet the bytes target here: one that frees at
			 * least `best` nodes moves at least bytes_floor(best)/best per freed
			 * node (the cheapest allowed nodes' mean only grows with their count).
			 */
			if (bi > 0 && best > 0 && R[bi][s].freed > 0 && R[bi][s].bytes > 0) {
				uint64_t fl = bytes_floor(&st, best), ft = bytes_floor_tight(&st, best);
				double target = 0.7 * (double)R[bi][s].bytes / R[bi][s].freed;

				out_of_reach += fl == UINT64_MAX || (double)fl / best > target;
				out_of_reach_t += ft == UINT64_MAX || (double)ft / best > target;
			}
			if (R[0][s].secs > worst_secs)
				worst_secs = R[0][s].secs;
			if (bi > 0 && R[bi][s].freed > 0 && R[0][s].freed > 0) {
				double r = (gib(R[0][s].bytes) / R[0][s].freed) / (gib(R[bi][s].bytes) / R[bi][s].freed);

				ratio_n++;
				ratio_ok += r <= 0.7;
				worst_ratio = fmax(worst_ratio, r);
				best_ratio = fmin(best_ratio, r);
			}
		}
		xp_state_free(&st);
	}
	printf("\n### %d nodes (%dx), %s placement, departure %.1f\n\n", gs.nodes, rep, place_name(pl), dep);
	printf("%d GPUs; %.0f tasks and %.1f%% of GPU share in use on average after departures; "
	       "seeds %d-%d.\n\n", gs.gpus, (double)tasks / ns, 100 * load / ns, o->seed0, o->seed1);
	printf("| planner | nodes freed (min-max) | GPUs freed | moves | device GiB | GiB per freed node | plan s (max) |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (a = 0; a < o->nalgos; a++) {
		double fr = 0, gf = 0, mv = 0, by = 0, sec = 0, smax = 0;
		int mn = 1 << 30, mx = 0;
		char per[32] = "-";

		for (s = 0; s < ns; s++) {
			fr += R[a][s].freed;
			gf += R[a][s].gfreed;
			mv += R[a][s].moves;
			by += gib(R[a][s].bytes);
			sec += R[a][s].secs;
			smax = fmax(smax, R[a][s].secs);
			mn = R[a][s].freed < mn ? R[a][s].freed : mn;
			mx = R[a][s].freed > mx ? R[a][s].freed : mx;
		}
		if (fr > 0)
			snprintf(per, sizeof(per), "%.1f", by / fr);
		printf("| %s | %.1f (%d-%d) | %.1f | %.1f | %.0f | %s | %.3f (%.3f) |\n", o->algos[a], fr / ns, mn, mx,
		       gf / ns, mv / ns, by / ns, per, sec / ns, smax);
	}
	if (o->nalgos > 1)
		printf("\nTargets: xmig frees at least as many nodes as the best baseline on %d of %d "
		       "seeds; ", win, ns);
	else
		printf("\nTargets: nodes against the baselines: not measured (none ran); ");
	if (ratio_n)
		printf("bytes per freed node at most 0.7x bestfit-drain's on %d of %d seeds (ratio %.2f to "
		       "%.2f); ", ratio_ok, ratio_n, best_ratio, worst_ratio);
	else
		printf("bytes per freed node against bestfit-drain's: not measured (it did not run or freed "
		       "no node); ");
	printf("slowest xmig plan %.3f s.\n", worst_secs);
	if (bi > 0 && ratio_n)
		printf("\nFloor: no plan that frees as many nodes as bestfit-drain can move less than %.2f of its "
		       "bytes (mean over seeds; lowest %.2f), by the capacity bound of bytes_floor(); xmig moves "
		       "%.2fx the floor for the nodes it frees. No plan freeing as many nodes as the best baseline "
		       "can meet the 0.7x bytes target on %d of %d seeds.\n", floor_b / ratio_n, floor_b_min,
		       floor_x / ns, out_of_reach, ratio_n);
	if (bi > 0 && ratio_n)
		printf("\nTighter floor (bytes_floor_tight(): the nodes left must also take the tasks' shares as "
		       "whole items per GPU, their CPUs and their memory): at bestfit-drain's count at least %.2f "
		       "of its bytes (mean; lowest %.2f); xmig moves %.2fx it for the nodes it frees; the 0.7x target "
		       "is out of reach at the best baseline's count on %d of %d seeds. Per model "
		       "(bytes_floor_models(): the cheapest used nodes of each GPU model, as many as the plan "
		       "frees there): xmig moves %.3fx it, bestfit-drain %.3fx.\n", tight_b / ratio_n, tight_b_min,
		       tight_x / ns, out_of_reach_t, ratio_n, models_x / ns, models_b / ratio_n);
}

/* Distinct node indices of the trace, from the seed. */
static void sample_nodes(const struct trace *tr, int n, uint64_t seed, int *out)
{
	int *all = malloc(sizeof(int) * (size_t)tr->nnodes), i;
	struct rng r;

	rng_seed(&r, seed);
	for (i = 0; i < tr->nnodes; i++)
		all[i] = i;
	for (i = 0; i < n; i++) {
		int j = i + (int)(rng_next(&r) % (uint64_t)(tr->nnodes - i)), t = all[i];

		all[i] = all[j];
		all[j] = t;
		out[i] = all[i];
	}
	free(all);
}

/* Sub-clusters small enough for the exact optimum: xmig against it. */
static void small(const struct opts *o, const struct trace *tr, int nn)
{
	static const char *algos[] = { "xmig", "ilp", "bestfit-drain", "ffd" };
	int ns = o->seed1 - o->seed0 + 1, s, p, d, k, pick[256];
	int inst = 0, opt_nodes = 0, equal = 0, opt_bytes = 0, cmp_bytes = 0, within2 = 0;
	double gap_sum = 0, gap_max = 0, bgap_sum = 0, bgap_max = -1e9, ilp_s = 0, ilp_smax = 0, xmig_s = 0;
	int base_freed[2] = { 0, 0 }, xfreed = 0, ifreed = 0;

	if (nn > 256 || nn > tr->nnodes)
		return;
	for (s = 0; s < ns; s++) {
		sample_nodes(tr, nn, (uint64_t)(o->seed0 + s) * 7919 + (uint64_t)nn, pick);
		for (p = 0; p < 2; p++)
			for (d = 0; d < 2; d++) {
				struct gen g = { tr, pick, nn, 1, p ? PLACE_SPREAD : PLACE_BESTFIT, 0.9, d ? 0.5 : 0.3,
						 (uint64_t)(o->seed0 + s) };
				struct gen_stats gs;
				struct xp_state st;
				struct res r[4];
				json_t *doc = gen_state(&g, &gs);
				char what[128];
				int opt;

				snprintf(what, sizeof(what), "small%d-%s-p%02d-seed%d", nn, place_name(g.place),
					 (int)(g.depart * 100), o->seed0 + s);
				dump(o, doc, what);
				if (xp_state_from_json(doc, &st) < 0)
					exit(1);
				json_decref(doc);
				for (k = 0; k < 4; k++)
					r[k] = run_one(&st, algos[k], o->ilp_limit);
				{
					struct xp_usage u;
					int used, gused;

					xp_usage_init(&u, &st);
					xp_usage_fill_home(&u, &st);
					xp_count_used(&u, &st, &used, &gused);
					xp_usage_free(&u);
					opt = r[1].ilp_nodes && strcmp(r[1].ilp_nodes, "not solved") ? used - r[1].ilp_used : -1;
				}
				xp_state_free(&st);
				inst++;
				xmig_s += r[0].secs;
				ilp_s += r[1].secs;
				ilp_smax = fmax(ilp_smax, r[1].secs);
				xfreed += r[0].freed;
				ifreed += r[1].freed;
				base_freed[0] += r[2].freed;
				base_freed[1] += r[3].freed;
				fprintf(stderr, "%s: xmig %d nodes %.1f GiB; ilp %s/%s %d nodes (optimum %d) %.1f GiB in %.1f s; "
						"bestfit-drain %d; ffd %d\n", what, r[0].freed, gib(r[0].bytes),
					r[1].ilp_nodes ? r[1].ilp_nodes : "-", r[1].ilp_bytes ? r[1].ilp_bytes : "-",
					r[1].freed, opt, gib(r[1].bytes), r[1].secs, r[2].freed, r[3].freed);
				if (!r[1].ilp_nodes || strcmp(r[1].ilp_nodes, "optimal"))
					continue;
				opt_nodes++;
				equal += r[0].freed >= opt;
				if (opt > 0) {
					double gap = 100.0 * (opt - r[0].freed) / opt;

					gap_sum += gap;
					gap_max = fmax(gap_max, gap);
				}
				if (strcmp(r[1].ilp_bytes, "optimal") || r[0].freed != r[1].freed)
					continue;
				opt_bytes++;
				if (r[1].bytes > 0) {
					double bg = 100.0 * ((double)r[0].bytes - (double)r[1].bytes) / (double)r[1].bytes;

					cmp_bytes++;
					bgap_sum += bg;
					bgap_max = fmax(bgap_max, bg);
					within2 += bg <= 2.0;
				} else {
					within2 += r[0].bytes == 0;
					cmp_bytes++;
				}
			}
	}
	printf("| %d | %d | %d | %d of %d | %.2f%% (%.1f%%) | %d | %d of %d | %.1f%% (%.1f%%) | %d / %d / %d / %d | %.3f | %.2f (%.1f) |\n",
	       nn, inst, opt_nodes, equal, opt_nodes, opt_nodes ? gap_sum / opt_nodes : 0, gap_max, opt_bytes,
	       within2, cmp_bytes, cmp_bytes ? bgap_sum / cmp_bytes : 0, cmp_bytes ? bgap_max : 0, xfreed, ifreed,
	       base_freed[0], base_freed[1], xmig_s / inst, ilp_s / inst, ilp_smax);
}

static void header(int argc, char **argv, const struct trace *tr)
{
	struct utsname u;
	char line[256], cpu[256] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");
	int i, ncpu = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':'))
			snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
		ncpu += !strncmp(line, "processor", 9);
	}
	if (f)
		fclose(f);
	cpu[strcspn(cpu, "\n")] = '\0';
	uname(&u);
	{
		char day[32];
		time_t now = time(NULL);

		strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&now));
		printf("Date: %s. ", day);
	}
	printf("Machine: %s, %d CPUs, %s %s.\n\nCommand:", cpu, ncpu, u.sysname, u.release);
	for (i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n\nTrace: %d GPU nodes, %d GPU task specs (%d CPU-only specs left out). Device memory "
	       "assumed: T4, P100, V100M16 16 GiB; V100M32 32 GiB; A10 24 GiB; G2 32 GiB and G3 80 GiB "
	       "(undisclosed models: assumptions).\n", tr->nnodes, tr->nspecs, tr->cpu_only);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct trace tr;
	int r, p, d, k;

	xmig_log_init("plan-bench");
	parse(argc, argv, &o);
	if (trace_load(o.trace, &tr) < 0)
		return 1;
	header(argc, argv, &tr);
	if (o.large)
		for (r = 0; r < o.nrep; r++)
			for (p = 0; p < 2; p++)
				for (d = 0; d < 2; d++)
					large(&o, &tr, o.replicas[r], p ? PLACE_SPREAD : PLACE_BESTFIT, d ? 0.5 : 0.3);
	if (o.smallrun) {
		printf("\n### Small sub-clusters against the exact optimum (ilp, GLPK, %.0f s per stage)\n\n"
		       "Nodes sampled from the trace per seed; each size has seeds x {best-fit, spread} x "
		       "{0.3, 0.5} instances. \"optimal\" counts instances where GLPK proved the node count; "
		       "bytes are compared where it also proved the bytes and xmig freed as many nodes.\n\n",
		       o.ilp_limit);
		printf("| nodes | instances | node count proven | xmig frees the optimum | mean (max) node gap | "
		       "bytes proven | xmig bytes within 2%% | mean (max) bytes over optimum | nodes freed in all: "
		       "xmig / ilp / bestfit-drain / ffd | xmig s | ilp s (max) |\n");
		printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
		for (k = 0; k < o.nsmall; k++)
			small(&o, &tr, o.small[k]);
	}
	trace_free(&tr);
	return 0;
}
