/*
 * cmd-apply.c - xmig apply PLAN [--dry-run] [--concurrency K] [--state FILE]
 *               [--on-error stop|continue] [--json]
 *
 * Execute a plan from `xmig plan -o PLAN`, wave by wave, re-checking every
 * move against the cluster as it is now (lib/plan/apply.c).
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "../lib/plan/plan.h"

enum { OPT_DRY_RUN = 256, OPT_ON_ERROR };

struct apply_opts {
	const char *plan, *state;
	bool json;
	struct xp_apply_opts a;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct apply_opts *p = state->input;
	long l;

	switch (key) {
	case 's': p->state = arg; return 0;
	case 'j': p->json = true; return 0;
	case OPT_DRY_RUN: p->a.dry_run = true; return 0;
	case 'c':
		if (xmig_parse_long(arg, 1, 64, &l) < 0)
			argp_error(state, "--concurrency: expected 1 to 64, not '%s'", arg);
		p->a.concurrency = (int)l;
		return 0;
	case OPT_ON_ERROR:
		if (!strcmp(arg, "stop"))
			p->a.stop_on_error = true;
		else if (!strcmp(arg, "continue"))
			p->a.stop_on_error = false;
		else
			argp_error(state, "--on-error: expected stop or continue, not '%s'", arg);
		return 0;
	case ARGP_KEY_ARG:
		if (p->plan)
			argp_error(state, "unexpected argument '%s'", arg);
		p->plan = arg;
		return 0;
	case ARGP_KEY_END:
		if (!p->plan)
			argp_error(state, "which plan? (xmig plan -o PLAN writes one)");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "dry-run", OPT_DRY_RUN, NULL, 0, "Check every move as if the ones before it ran; move nothing", 0 },
	{ "concurrency", 'c', "K", 0, "Run at most K migrations at once within a wave (default 4)", 0 },
	{ "state", 's', "FILE", 0, "Check moves against this state file instead of the live cluster", 0 },
	{ "on-error", OPT_ON_ERROR, "stop|continue", 0, "After a failed move: run no later wave (default), or go on", 0 },
	{ "json", 'j', NULL, 0, "Print the report as JSON; see xmig-apply(1)", 0 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, "PLAN",
	"Execute a consolidation plan, wave by wave.\v"
	"Each move is checked again before it runs: a move whose task is gone, cannot move, is not "
	"where the plan starts it, or whose destination has no room now is skipped with the reason "
	"(a stale plan), and so are the other ranks of its group. Moves run as `xmig migrate --job J "
	"--rank R --to NODE:gpuN --json`; a failed migrate rolls itself back. Progress goes to stderr.\n\n"
	"Exit status: 0 nothing failed (skipped moves are reported), 1 a move failed, 2 usage, "
	"5 the live cluster could not be read, 6 the plan or state file is malformed.", NULL, NULL, NULL
};

struct live {
	const char *self, *nodes;
};

static int refresh(struct xp_state *st, void *arg)
{
	const struct live *l = arg;
	struct xp_state fresh;

	if (xp_state_live(l->self, l->nodes, &fresh) != 0)
		return -1;
	xp_state_free(st);
	*st = fresh;
	return 0;
}

static void print_report(json_t *rep)
{
	json_t *m, *s = json_object_get(rep, "summary");
	size_t i;

	json_array_foreach(json_object_get(rep, "moves"), i, m) {
		const char *reason = json_string_value(json_object_get(m, "reason"));

		printf("%-5lld %-20s %-16s -> %-16s %-8s%s%s\n",
		       (long long)json_integer_value(json_object_get(m, "wave")),
		       json_string_value(json_object_get(m, "task")),
		       json_string_value(json_object_get(json_object_get(m, "from"), "node")),
		       json_string_value(json_object_get(json_object_get(m, "to"), "node")),
		       json_string_value(json_object_get(m, "status")), reason ? "  " : "", reason ? reason : "");
	}
	printf("%lld moved, %lld skipped, %lld failed, %lld dry-run of %lld moves%s.\n",
	       (long long)json_integer_value(json_object_get(s, "moved")),
	       (long long)json_integer_value(json_object_get(s, "skipped")),
	       (long long)json_integer_value(json_object_get(s, "failed")),
	       (long long)json_integer_value(json_object_get(s, "dry_run")),
	       (long long)json_integer_value(json_object_get(s, "moves")),
	       json_is_true(json_object_get(s, "stopped")) ? "; stopped after a failure" : "");
}

static int run(int argc, char **argv)
{
	struct apply_opts ao = { 0 };
	struct xp_state st;
	struct live lv;
	char self[4096];
	json_t *plan, *rep;
	int rc;

	ao.a.concurrency = 4;
	ao.a.stop_on_error = true;
	if (cmd_parse(&argp, argc, argv, &ao, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (!(plan = xp_json_load_file(ao.plan, "plan")))
		return XMIG_EXIT_BADINPUT;
	snprintf(self, sizeof(self), "%s/xmig", xmig_self_dir());
	lv.self = self;
	lv.nodes = xmig_globals.nodes_file;
	if (ao.state)
		rc = xp_state_load(ao.state, &st) < 0 ? XMIG_EXIT_BADINPUT : 0;
	else
		rc = xp_state_live(self, lv.nodes, &st);
	if (rc) {
		json_decref(plan);
		return rc;
	}
	/* Test hook (documented in xmig-apply(1)): what runs the moves. */
	ao.a.migrate_cmd = getenv("XMIG_APPLY_MIGRATE_CMD");
	if (!ao.a.migrate_cmd || !*ao.a.migrate_cmd)
		ao.a.migrate_cmd = self;
	ao.a.nodes_file = xmig_globals.nodes_file;
	if (!ao.state) {
		ao.a.refresh = refresh;
		ao.a.refresh_arg = &lv;
	}
	rc = xp_apply(&st, plan, &ao.a, &rep);
	json_decref(plan);
	xp_state_free(&st);
	if (rc == -1) {
		xmig_error("plan %s refused", ao.plan);
		return XMIG_EXIT_BADINPUT;
	}
	if (rc < 0)
		return XMIG_EXIT_FAIL;
	/* (a move that failed outranks the state not read again: it needs looking at) */
	if (json_integer_value(json_object_get(json_object_get(rep, "summary"), "failed")))
		rc = XMIG_EXIT_FAIL;
	else if (rc == 1)
		rc = XMIG_EXIT_UNAVAILABLE;
	else
		rc = XMIG_EXIT_OK;
	if (ao.json)
		cmd_print_json(rep);
	else {
		print_report(rep);
		json_decref(rep);
	}
	return rc;
}

const struct xmig_cmd cmd_apply = { "apply", "execute a consolidation plan", run };
