/* cmd-thaw.c - xmig thaw --job J [--rank R] [--json]: undo xmig freeze. */
#include "move.h"

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = state->input;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	NULL, parse_opt, NULL, "Thaw a frozen job: its proxies take requests again.", children,
	NULL, NULL
};

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct proc *procs;
	json_t *items = json_array();
	size_t n, i;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	status = move_find(&o, &procs, &n);
	for (i = 0; i < n && !status; i++) {
		json_t *r;

		if (!procs[i].conn) {
			xmig_error("%s is %s: nothing to thaw", procs[i].label,
				   json_string_value(json_object_get(procs[i].status, "state")));
			status = XMIG_EXIT_REFUSED;
			break;
		}
		r = move_call(&procs[i], procs[i].conn, "thaw", NULL, 10000, &status);
		if (!r)
			break;
		json_object_set(r, "job", json_object_get(procs[i].status, "job"));
		json_object_set(r, "rank", json_object_get(procs[i].status, "rank"));
		if (!o.json)
			printf("%s: running%s\n", procs[i].label,
			       json_is_true(json_object_get(r, "was_frozen")) ? "" : " (was not frozen)");
		json_array_append_new(items, r);
	}
	if (o.json)
		cmd_print_json(json_pack("{s:o}", "items", items));
	else
		json_decref(items);
	move_free(procs, n);
	return status;
}

const struct xmig_cmd cmd_thaw = { "thaw", "let a frozen job run again", run };
