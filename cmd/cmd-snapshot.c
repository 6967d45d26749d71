/*
 * cmd-snapshot.c - xmig snapshot --job J [--rank R] -o DIR [--json]
 *
 * Writes the device state of each process (manifest, checksummed chunks)
 * to DIR (DIR/rank-R when the job has several processes). The job is
 * frozen while it is written and runs again after.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "move.h"

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 'o':
		o->dir = arg;
		return 0;
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	case ARGP_KEY_END:
		if (!o->dir)
			argp_error(state, "-o DIR is required");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "output", 'o', "DIR", 0, "Directory to write (created; must not hold a snapshot)", 0 },
	{ 0 }
};

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	options, parse_opt, NULL,
	"Write a job's device state (memory, modules, streams, events) to a directory: "
	"manifest.json plus checksummed chunks. The job is frozen while it is written.",
	children, NULL, NULL
};

/* An absolute path for the proxy, which does not share our working directory. */
int move_absolute(const char *dir, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (dir[0] == '/')
		return snprintf(out, len, "%s", dir) < (int)len ? 0 : -1;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, len, "%s/%s", cwd, dir) < (int)len ? 0 : -1;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct proc *procs;
	json_t *items = json_array();
	char base[PATH_MAX], dir[PATH_MAX + 32];
	size_t n, i;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (move_absolute(o.dir, base, sizeof(base)) < 0) {
		xmig_error("bad directory '%s'", o.dir);
		return XMIG_EXIT_USAGE;
	}
	status = move_find(&o, &procs, &n);
	if (!status && n > 1 && xmig_mkdir_p(base, 0700) < 0) {
		xmig_error_errno("cannot create %s", base);
		status = XMIG_EXIT_FAIL;
	}
	for (i = 0; i < n && !status; i++) {
		json_t *r;

		if (!procs[i].conn) {
			xmig_error("%s is %s: no proxy to snapshot", procs[i].label,
				   json_string_value(json_object_get(procs[i].status, "state")));
			status = XMIG_EXIT_REFUSED;
			break;
		}
		if (n > 1)
			snprintf(dir, sizeof(dir), "%s/rank-%lld", base,
				 (long long)json_integer_value(json_object_get(procs[i].status, "rank")));
		else
			snprintf(dir, sizeof(dir), "%s", base);
		move_show_progress(procs[i].conn, procs[i].label);
		r = move_call(&procs[i], procs[i].conn, "snapshot", json_pack("{s:s}", "dir", dir), -1,
			      &status);
		if (!r)
			break;
		json_object_set(r, "job", json_object_get(procs[i].status, "job"));
		json_object_set(r, "rank", json_object_get(procs[i].status, "rank"));
		if (!o.json)
			printf("%s: snapshot in %s (%.2f s)\n", procs[i].label, dir,
			       json_real_value(json_object_get(r, "seconds")));
		json_array_append_new(items, r);
	}
	if (o.json)
		cmd_print_json(json_pack("{s:o}", "items", items));
	else
		json_decref(items);
	move_free(procs, n);
	return status;
}

const struct xmig_cmd cmd_snapshot = { "snapshot", "write a job's device state to a directory", run };
