/*
 * cmd-freeze.c - xmig freeze --job J [--rank R] [--timeout MS] [--json]
 *
 * Stops request processing in the job's proxies and drains their GPUs. The
 * application goes on until it waits for a result. Stays frozen until
 * `xmig thaw`. The ranks of a job that share NCCL communicators are
 * stopped together at a consistent cut first (cut.h), so that no rank
 * drains waiting on a collective its peers never posted.
 */
#include <string.h>

#include "cut.h"
#include "move.h"

struct freeze_args {
	const struct move_opts *o;
	bool cut;               /* the ranks stand at a cut already */
};

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
	const struct freeze_args *a = arg;
	const struct move_opts *o = a->o;
	json_t *r = move_call(p, p->conn, "freeze",
			      json_pack("{s:s, s:I}", "hold", "persistent", "timeout_ms",
					(json_int_t)o->timeout_ms), -1, status);

	if (r)
		json_object_set_new(r, "cut", json_boolean(a->cut));
	if (r && !o->json)
		printf("%s: frozen%s (drained in %.1f ms)\n", p->label, a->cut ? " at the cut" : "",
		       json_real_value(json_object_get(r, "freeze_s")) * 1e3);
	return r;
}

/* Already frozen ranks are frozen again plainly: that is idempotent, a cut is not. */
static bool all_running(struct proc *procs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!procs[i].conn ||
		    strcmp(json_string_value(json_object_get(procs[i].status, "state")) ?: "",
			   "running"))
			return false;
	return true;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { .timeout_ms = 60000 };
	struct freeze_args a = { &o, false };
	struct proc *procs;
	size_t n;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	status = move_find(&o, &procs, &n);
	if (!status && o.rank < 0 && n > 1 && all_running(procs, n) && cut_needed(procs, n)) {
		json_t *reports = NULL;

		/* the freezes below then find each rank frozen, and make it persistent */
		if ((status = cut_freeze(procs, n, o.timeout_ms, &reports, NULL)) &&
		    cut_job_ended(procs, n)) {
			xmig_error("job %s ended while its ranks were being stopped", o.job);
			status = XMIG_EXIT_NOTFOUND;
		} else if (status) {
			xmig_error("job %s: its ranks could not be stopped at a consistent cut; every "
				   "rank goes on", o.job);
		}
		json_decref(reports);
		a.cut = !status;
	}
	return move_each(&o, procs, n, status, ", not running", freeze_one, &a);
}

const struct xmig_cmd cmd_freeze = { "freeze", "stop a job's GPU work at a consistent point", run };
