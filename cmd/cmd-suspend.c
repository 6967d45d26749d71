/*
 * cmd-suspend.c - xmig suspend --job J [--rank R] [-o DIR] [--json]
 *
 * Freezes the job, writes its device state to DIR and stops its proxies:
 * the GPU is free, the application waits. `xmig resume` brings it back.
 * Without -o the state goes to $XMIG_SNAPSHOT_DIR (default /var/tmp/xmig)
 * and is removed after a successful resume.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "move.h"

int move_absolute(const char *dir, char *out, size_t len);

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 'o':
		if (!*arg)   /* (not the current directory by accident) */
			argp_error(state, "-o needs a directory");
		o->dir = arg;
		return 0;
	default:
		return move_parse_default(key, arg, state);
	}
}

static const struct argp_option options[] = {
	{ "output", 'o', "DIR", 0, "Where to keep the state (default: under $XMIG_SNAPSHOT_DIR, "
				   "or /var/tmp/xmig, removed after resume)", 0 },
	{ 0 }
};

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	options, parse_opt, NULL,
	"Suspend a job: freeze it, write its device state and release its GPU entirely. The "
	"application waits until 'xmig resume'.", children, NULL, NULL
};

struct suspend_run {
	const struct move_opts *o;
	const char *base;
	bool temporary;   /* no -o: a directory of our own under base */
};

static json_t *suspend_one(struct proc *p, size_t n, void *arg, int *status)
{
	const struct suspend_run *sr = arg;
	json_t *st = p->status, *r;
	long long rank = (long long)json_integer_value(json_object_get(st, "rank"));
	char dir[PATH_MAX + 64], *env;
	size_t env_len = 0;

	if (sr->temporary)
		snprintf(dir, sizeof(dir), "%s/%s-rank%lld-pid%lld", sr->base, sr->o->job, rank,
			 (long long)json_integer_value(json_object_get(st, "pid")));
	else if (n > 1)
		snprintf(dir, sizeof(dir), "%s/rank-%lld", sr->base, rank);
	else
		snprintf(dir, sizeof(dir), "%s", sr->base);
	/* the job's environment, for the proxy the resume starts (read while this one lives) */
	env = job_env_read((int)json_integer_value(json_object_get(st, "proxy_pid")), &env_len);
	move_show_progress(p->conn, p->label);
	r = move_call(p, p->conn, "suspend",
		      json_pack("{s:s, s:b}", "dir", dir, "temporary", sr->temporary), -1, status);
	if (r && env && job_env_write(dir, env, env_len) < 0)
		xmig_warn("%s: the resume will start its proxy in its own environment", p->label);
	free(env);
	if (r && !sr->o->json)
		printf("%s: suspended, state in %s; GPU %lld released\n", p->label, dir,
		       (long long)json_integer_value(json_object_get(st, "gpu")));
	return r;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct proc *procs;
	char base[PATH_MAX];
	const char *env = getenv("XMIG_SNAPSHOT_DIR");
	struct suspend_run sr = { &o, base, false };
	size_t n;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	sr.temporary = !o.dir;
	if (move_absolute(o.dir ? o.dir : env && *env ? env : "/var/tmp/xmig", base,
			  sizeof(base)) < 0) {
		xmig_error("bad directory");
		return XMIG_EXIT_USAGE;
	}
	status = move_find(&o, &procs, &n);
	if (!status && (n > 1 || sr.temporary) && xmig_mkdir_p(base, 0700) < 0) {
		xmig_error_errno("cannot create %s", base);
		status = XMIG_EXIT_FAIL;
	}
	return move_each(&o, procs, n, status, ": nothing to suspend", suspend_one, &sr);
}

const struct xmig_cmd cmd_suspend = { "suspend", "write a job's state and release its GPU", run };
