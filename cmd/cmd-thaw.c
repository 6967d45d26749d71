/* cmd-thaw.c - xmig thaw --job J [--rank R] [--json]: undo xmig freeze. */
#include "move.h"

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	NULL, move_parse_default, NULL, "Thaw a frozen job: its proxies take requests again.", children,
	NULL, NULL
};

static json_t *thaw_one(struct proc *p, size_t n, void *arg, int *status)
{
	const struct move_opts *o = arg;
	json_t *r = move_call(p, p->conn, "thaw", NULL, 10000, status);

	if (r && !o->json)
		printf("%s: running%s\n", p->label,
		       json_is_true(json_object_get(r, "was_frozen")) ? "" : " (was not frozen)");
	return r;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct proc *procs;
	size_t n;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	status = move_find(&o, &procs, &n);
	return move_each(&o, procs, n, status, ": nothing to thaw", thaw_one, &o);
}

const struct xmig_cmd cmd_thaw = { "thaw", "let a frozen job run again", run };
