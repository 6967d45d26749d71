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
		if (!*arg)   /* (not the current directory by accident) */
			argp_error(state, "-o needs a directory");
		o->dir = arg;
		return 0;
	case ARGP_KEY_END:
		if (!o->dir)
			argp_error(state, "-o DIR is required");
		return 0;
	default:
		return move_parse_default(key, arg, state);
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

struct snapshot_run {
	const struct move_opts *o;
	const char *base;
};

static json_t *snapshot_one(struct proc *p, size_t n, void *arg, int *status)
{
	const struct snapshot_run *sr = arg;
	char dir[PATH_MAX + 32];
	json_t *r;

	if (n > 1)
		snprintf(dir, sizeof(dir), "%s/rank-%lld", sr->base,
			 (long long)json_integer_value(json_object_get(p->status, "rank")));
	else
		snprintf(dir, sizeof(dir), "%s", sr->base);
	move_show_progress(p->conn, p->label);
	r = move_call(p, p->conn, "snapshot", json_pack("{s:s}", "dir", dir), -1, status);
	if (r && !sr->o->json)
		printf("%s: snapshot in %s (%.2f s)\n", p->label, dir,
		       json_real_value(json_object_get(r, "seconds")));
	return r;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct proc *procs;
	char base[PATH_MAX];
	struct snapshot_run sr = { &o, base };
	size_t n;
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
	return move_each(&o, procs, n, status, ": no proxy to snapshot", snapshot_one, &sr);
}

const struct xmig_cmd cmd_snapshot = { "snapshot", "write a job's device state to a directory", run };
