/*
 * cmd-plan.c - xmig plan [--state FILE] [--objective nodes|gpus] [--max-moves N]
 *              [--max-bytes B] [--concurrency K] [--algorithm NAME] [--json] [-o PLAN]
 *              xmig plan --check PLAN [--state FILE] [--json]
 *
 * Propose the moves that free the most nodes for the fewest bytes (see
 * lib/plan/plan.h), or replay a plan file and say whether it holds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "../lib/plan/plan.h"

enum {
	OPT_OBJECTIVE = 256, OPT_MAX_MOVES, OPT_MAX_BYTES, OPT_CHECK, OPT_INTRA_BW, OPT_INTER_BW,
	OPT_OVERHEAD, OPT_TIME_LIMIT, OPT_THRESHOLD,
};

struct plan_opts {
	const char *state, *output, *check, *algorithm;
	bool json, set_conc, set_moves, set_bytes;
	struct xp_opts o;
};

static int parse_seconds(const char *arg, double max, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !isfinite(v) || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct plan_opts *p = state->input;
	uint64_t b;
	long l;
	double d = 0;

	switch (key) {
	case 's': p->state = arg; return 0;
	case 'o':
		if (!*arg)
			argp_error(state, "-o needs a file name");
		p->output = arg;
		return 0;
	case 'j': p->json = true; return 0;
	case 'a':
		if (!xp_algo_find(arg))
			argp_error(state, "unknown algorithm '%s' (see --help)", arg);
		p->algorithm = arg;
		return 0;
	case 'c':
		if (xmig_parse_long(arg, 1, 1024, &l) < 0)
			argp_error(state, "--concurrency: expected 1 to 1024, not '%s'", arg);
		p->o.concurrency = (int)l;
		p->set_conc = true;
		return 0;
	case OPT_OBJECTIVE:
		if (!strcmp(arg, "nodes"))
			p->o.objective = XP_OBJ_NODES;
		else if (!strcmp(arg, "gpus"))
			p->o.objective = XP_OBJ_GPUS;
		else
			argp_error(state, "--objective: expected nodes or gpus, not '%s'", arg);
		return 0;
	case OPT_MAX_MOVES:
		if (xmig_parse_long(arg, 0, 1L << 30, &l) < 0)
			argp_error(state, "--max-moves: expected a count, not '%s'", arg);
		p->o.max_moves = l;
		p->set_moves = true;
		return 0;
	case OPT_MAX_BYTES:
		if (xmig_parse_bytes(arg, &b) < 0 || b > INT64_MAX)
			argp_error(state, "--max-bytes: expected a size like 512G, not '%s'", arg);
		p->o.max_bytes = (int64_t)b;
		p->set_bytes = true;
		return 0;
	case OPT_CHECK: p->check = arg; return 0;
	case OPT_INTRA_BW:
	case OPT_INTER_BW:
		if (xmig_parse_bytes(arg, &b) < 0 || !b)
			argp_error(state, "bandwidth: expected bytes per second like 10G, not '%s'", arg);
		*(key == OPT_INTRA_BW ? &p->o.intra_bw : &p->o.inter_bw) = (double)b;
		return 0;
	case OPT_OVERHEAD:
		if (parse_seconds(arg, 1e6, &p->o.overhead) < 0)
			argp_error(state, "--move-overhead: expected seconds, not '%s'", arg);
		return 0;
	case OPT_TIME_LIMIT:
		if (parse_seconds(arg, 1e6, &d) < 0 || d <= 0)
			argp_error(state, "--time-limit: expected seconds, not '%s'", arg);
		p->o.time_limit = d;
		return 0;
	case OPT_THRESHOLD:
		if (parse_seconds(arg, 100, &d) < 0)
			argp_error(state, "--threshold: expected a percentage 0-100, not '%s'", arg);
		p->o.threshold = d / 100;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "state", 's', "FILE", 0, "Plan from this cluster state (JSON, - for stdin) instead of the live cluster", 0 },
	{ "objective", OPT_OBJECTIVE, "nodes|gpus", 0, "Free whole nodes (default) or whole GPUs first", 0 },
	{ "algorithm", 'a', "NAME", 0, "Planner: xmig (default), ffd, bestfit-drain, descheduler, fgd, ilp", 0 },
	{ "max-moves", OPT_MAX_MOVES, "N", 0, "Move at most N tasks", 0 },
	{ "max-bytes", OPT_MAX_BYTES, "B", 0, "Move at most B device bytes (512G, 2T)", 0 },
	{ "concurrency", 'c', "K", 0, "At most K moves in flight per node in a wave (default 2)", 0 },
	{ "json", 'j', NULL, 0, "Print the plan (or the check) as JSON; see xmig-plan(1)", 0 },
	{ "output", 'o', "PLAN", 0, "Also write the plan to PLAN (JSON), for xmig apply", 0 },
	{ "check", OPT_CHECK, "PLAN", 0, "Replay PLAN on the state step by step and say if it holds", 0 },
	{ 0, 0, 0, 0, "Time model (est_seconds) and algorithm settings:", 1 },
	{ "intra-bandwidth", OPT_INTRA_BW, "BPS", 0, "Peer copy within a node, bytes/s (default 50G)", 1 },
	{ "inter-bandwidth", OPT_INTER_BW, "BPS", 0, "Link between nodes, bytes/s, shared per node (default 10G)", 1 },
	{ "move-overhead", OPT_OVERHEAD, "SECONDS", 0, "Fixed cost of a move besides the copy (default 1)", 1 },
	{ "time-limit", OPT_TIME_LIMIT, "SECONDS", 0, "ilp: limit per stage (default 60)", 1 },
	{ "threshold", OPT_THRESHOLD, "PCT", 0, "descheduler: nodes below PCT% GPU use are drained (default 50)", 1 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, NULL,
	"Propose moves that pack running jobs onto fewer nodes.\v"
	"Objective, in order: most whole nodes (or GPUs) freed, fewest device bytes moved, "
	"fewest moves. Constraints: same GPU model (or the task's gpu_model), share and memory fit "
	"while each move holds both ends, ranks of a job on one node stay together, non-movable "
	"tasks stay, at most K moves per node per wave. Every plan is replayed by the checker "
	"before it is shown.\n\n"
	"Without --state the live cluster is read with `xmig nodes --json` and "
	"`xmig ps --all --json`.\n\n"
	"Exit status: 0 plan made (or plan valid), 1 the algorithm failed, 2 usage, "
	"4 --check rejected the plan, 5 the live cluster could not be read, 6 a state or plan file "
	"is malformed.", NULL, NULL, NULL
};

static void print_table(const struct xp_state *st, const struct xp_plan *p)
{
	const struct xp_summary *s = &p->sum;
	char a[128], b[128], by[32], e[32];
	size_t i;
	json_t *n;
	int k;

	printf("Algorithm %s, objective %s.\n", p->algorithm, p->opts.objective == XP_OBJ_GPUS ? "gpus" : "nodes");
	if (!p->nmoves) {
		printf("Nothing to move: no %s can be freed under these constraints.\n",
		       p->opts.objective == XP_OBJ_GPUS ? "GPU" : "node");
	} else {
		printf("%-5s %-20s %-24s %-24s %10s %8s\n", "WAVE", "TASK", "FROM", "TO", "BYTES", "EST");
		for (k = 0; k < p->nmoves; k++) {
			const struct xp_move *m = &p->moves[k];

			printf("%-5d %-20s %-24s %-24s %10s %7.1fs%s\n", m->wave, st->tasks[m->task].id,
			       xp_place_str(st, &m->from, a, sizeof(a)), xp_place_str(st, &m->to, b, sizeof(b)),
			       xmig_format_bytes(st->tasks[m->task].bytes, by, sizeof(by)), m->est,
			       m->why == XP_WHY_REPAIR ? "  (makes room)" : m->why == XP_WHY_PARK ? "  (parked)" : "");
		}
	}
	printf("Frees %d of %d nodes and %d of %d GPUs with %d move%s of %s in %d wave%s, about %s",
	       s->nodes_before - s->nodes_after, s->nodes_before, s->gpus_before - s->gpus_after, s->gpus_before,
	       s->moves, s->moves == 1 ? "" : "s", xmig_format_bytes(s->bytes, by, sizeof(by)), s->waves,
	       s->waves == 1 ? "" : "s", xmig_format_duration(s->est_seconds, e, sizeof(e)));
	printf(" (planned in %.3f s).\n", s->plan_seconds);
	if (json_array_size(p->freed_nodes)) {
		printf("Freed:");
		json_array_foreach(p->freed_nodes, i, n)
			printf(" %s", json_string_value(n));
		printf("\n");
	}
	json_array_foreach(p->notes, i, n)
		printf("Note: %s\n", json_string_value(n));
}

static int check(const struct xp_state *st, const struct plan_opts *po)
{
	struct xp_plan p;
	struct xp_check c;
	json_t *doc = xp_json_load_file(po->check, "plan");
	int r;

	if (!doc)
		return XMIG_EXIT_BADINPUT;
	r = xp_plan_from_json(doc, st, &p);
	json_decref(doc);
	if (r == -1) {
		xp_plan_free(&p);
		xmig_error("plan %s refused", po->check);
		return XMIG_EXIT_BADINPUT;
	}
	if (r == -2) {
		char why[1024];

		xmig_log_last_error(why, sizeof(why));
		xp_plan_free(&p);
		xmig_error("plan %s does not fit this cluster state", po->check);
		/* (not valid here, as a plan that breaks a rule is: --json says so too) */
		if (po->json)
			cmd_print_json(json_pack("{s:b, s:s, s:n, s:{s:i, s:i, s:i, s:i, s:i, s:[]}}",
						 "valid", 0, "error", why, "move", "replay",
						 "nodes_freed", 0, "gpus_freed", 0, "moves", 0,
						 "device_bytes", 0, "waves", 0, "freed_nodes"));
		return XMIG_EXIT_REFUSED;
	}
	/* Limits given here are stricter tests of the same plan. */
	if (po->set_conc)
		p.opts.concurrency = po->o.concurrency;
	if (po->set_moves)
		p.opts.max_moves = po->o.max_moves;
	if (po->set_bytes)
		p.opts.max_bytes = po->o.max_bytes;
	xp_check_plan(st, &p, &c);
	if (po->json) {
		const struct xp_summary *s = &c.sum;

		cmd_print_json(json_pack("{s:b, s:o, s:o, s:{s:i, s:i, s:i, s:I, s:i, s:O}}", "valid", c.ok,
					 "error", c.ok ? json_null() : json_string(c.error),
					 "move", c.move >= 0 ? json_integer(c.move + 1) : json_null(), "replay",
					 "nodes_freed", s->nodes_before - s->nodes_after,
					 "gpus_freed", s->gpus_before - s->gpus_after, "moves", s->moves,
					 "device_bytes", (json_int_t)s->bytes, "waves", s->waves,
					 "freed_nodes", c.freed_nodes));
	} else if (c.ok) {
		printf("Plan %s holds: %d moves in %d waves free %d nodes and %d GPUs.\n", po->check, c.sum.moves,
		       c.sum.waves, c.sum.nodes_before - c.sum.nodes_after, c.sum.gpus_before - c.sum.gpus_after);
	} else if (c.move >= 0) {
		printf("Plan %s is rejected at move %d: %s\n", po->check, c.move + 1, c.error);
	} else {
		printf("Plan %s is rejected: %s\n", po->check, c.error);
	}
	r = c.ok ? XMIG_EXIT_OK : XMIG_EXIT_REFUSED;
	xp_check_free(&c);
	xp_plan_free(&p);
	return r;
}

static int load_state(const char *path, struct xp_state *st)
{
	char self[4096];

	if (path)
		return xp_state_load(path, st) < 0 ? XMIG_EXIT_BADINPUT : 0;
	snprintf(self, sizeof(self), "%s/xmig", xmig_self_dir());
	return xp_state_live(self, xmig_globals.nodes_file, st);
}

static int run(int argc, char **argv)
{
	struct plan_opts po = { 0 };
	struct xp_state st;
	struct xp_plan p;
	int rc;

	xp_opts_default(&po.o);
	po.algorithm = "xmig";
	if (cmd_parse(&argp, argc, argv, &po, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (po.check && po.output) {
		xmig_error("--check reads a plan; it does not take -o");
		return XMIG_EXIT_USAGE;
	}
	if ((rc = load_state(po.state, &st)) != 0)
		return rc;
	if (po.check) {
		rc = check(&st, &po);
		xp_state_free(&st);
		return rc;
	}
	if (xp_plan_make(&st, po.algorithm, &po.o, &p) < 0) {
		rc = XMIG_EXIT_FAIL;
		goto out;
	}
	if (po.output) {
		json_t *doc = xp_plan_to_json(&st, &p);
		char *s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

		json_decref(doc);
		if (!s || xmig_write_file_atomic(po.output, s, strlen(s), 0644) < 0) {
			xmig_error_errno("cannot write %s", po.output);
			free(s);
			rc = XMIG_EXIT_FAIL;
			goto out;
		}
		free(s);
	}
	if (po.json)
		cmd_print_json(xp_plan_to_json(&st, &p));
	else
		print_table(&st, &p);
	rc = XMIG_EXIT_OK;
out:
	xp_plan_free(&p);
	xp_state_free(&st);
	return rc;
}

const struct xmig_cmd cmd_plan = { "plan", "propose moves that free nodes (consolidation)", run };
