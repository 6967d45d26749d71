/*
 * cmd-freeze.c - xmig freeze --job J [--rank R] [--timeout MS] [--json]
 *
 * Stops request processing in the job's proxies and drains their GPUs. The
 * application goes on until it waits for a result. Stays frozen until
 * `xmig thaw`.
 */
#include "move.h"

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 't':
		if (xmig_parse_long(arg, 1, 3600000, &o->timeout_ms) < 0)
			argp_error(state, "invalid timeout '%s' (milliseconds)", arg);
		return 0;
	default:
		return move_parse_default(key, arg, state);
	}
}

static const struct argp_option options[] = {
	{ "timeout", 't', "MS", 0, "Give up (and thaw) if the GPU has not drained by then "
				   "(default 60000)", 0 },
	{ 0 }
};

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	options, parse_opt, NULL,
	"Freeze a job: its proxies stop taking requests and drain the GPU; the application "
	"blocks only when it needs a result. Undo with 'xmig thaw'.", children, NULL, NULL
};

static json_t *freeze_one(struct proc *p, size_t n, void *arg, int *status)
{
	const struct move_opts *o = arg;
	json_t *r = move_call(p, p->conn, "freeze",
			      json_pack("{s:s, s:I}", "hold", "persistent", "timeout_ms",
					(json_int_t)o->timeout_ms), -1, status);

	if (r && !o->json)
		printf("%s: frozen (drained in %.1f ms)\n", p->label,
		       json_real_value(json_object_get(r, "freeze_s")) * 1e3);
	return r;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { .timeout_ms = 60000 };
	struct proc *procs;
	size_t n;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	status = move_find(&o, &procs, &n);
	return move_each(&o, procs, n, status, ", not running", freeze_one, &o);
}

const struct xmig_cmd cmd_freeze = { "freeze", "stop a job's GPU work at a consistent point", run };
