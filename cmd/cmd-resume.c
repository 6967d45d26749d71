/*
 * cmd-resume.c - xmig resume --job J [--rank R] [--to gpuN] [--json]
 *
 * Brings a suspended job back: starts a proxy on the GPU (the one it left,
 * or --to), restores the state from the snapshot, checking every chunk,
 * and hands it the application's channel. A damaged snapshot is refused
 * and the job stays suspended.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"
#include "move.h"

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 't':
		o->to = arg;
		return 0;
	default:
		return move_parse_default(key, arg, state);
	}
}

static const struct argp_option options[] = {
	{ "to", 't', "gpuN", 0, "Resume on this GPU of this node (default: the one it left)", 0 },
	{ 0 }
};

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	options, parse_opt, NULL,
	"Resume a suspended job from its snapshot, on any suitable GPU of this node.", children,
	NULL, NULL
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static int resume_one(json_t *rec, const struct xmig_target *t, bool json, json_t *items)
{
	const char *job = json_string_value(json_object_get(rec, "job"));
	const char *dir = json_string_value(json_object_get(rec, "dir"));
	const char *device = json_string_value(json_object_get(rec, "device"));
	const char *keeper = json_string_value(json_object_get(rec, "keeper"));
	int rank = (int)json_integer_value(json_object_get(rec, "rank"));
	int pid = (int)json_integer_value(json_object_get(rec, "pid"));
	int gpu = t->gpu >= 0 ? t->gpu : (int)json_integer_value(json_object_get(rec, "gpu"));
	struct proc p = { 0 };
	char env[PATH_MAX + 16];
	struct xmig_gpu_info info;
	struct xmig_conn *c;
	uint64_t t0 = xmig_now_ns();
	json_t *r;
	int status, spid = 0;

	snprintf(p.label_buf, sizeof(p.label_buf), "job %s rank %d", job, rank);
	p.label = p.label_buf;
	if (!dir || !device || !keeper) {
		xmig_error("%s: its suspend record is incomplete", p.label);
		return XMIG_EXIT_BADINPUT;
	}
	/*
	 * No --to: the GPU it left, by UUID in this command's numbering; its
	 * index for an older record or one whose GPU was on another node.
	 */
	if (t->gpu < 0 && json_object_get(rec, "gpu_uuid") &&
	    !strcmp(json_string_value(json_object_get(rec, "node")) ?: "", xmig_hostname())) {
		const char *uuid = json_string_value(json_object_get(rec, "gpu_uuid"));

		if ((gpu = cmd_gpu_by_uuid(device, uuid)) < 0) {
			xmig_error("%s: the GPU it left (%s) is not among this command's GPUs (its "
				   "CUDA_VISIBLE_DEVICES); name one with --to", p.label, uuid);
			return XMIG_EXIT_NOTFOUND;
		}
	}
	if ((status = move_check_gpu(device, gpu, &info)))
		return status;
	/* the job's environment, kept by the suspend (none from an older xmig: ours) */
	snprintf(env, sizeof(env), "%s/environ", dir);
	c = move_start_standby(job, rank, pid, keeper, device, gpu,
			       json_real_value(json_object_get(rec, "share")), NULL,
			       access(env, F_OK) == 0 ? env : NULL, &spid);
	if (!c) {
		xmig_error("%s: cannot start a proxy", p.label);
		return XMIG_EXIT_FAIL;
	}
	r = move_call(&p, c, "hello", NULL, 120000, &status);
	if (!r) {
		xmig_error("%s: the new proxy on GPU %d did not start (see above)", p.label, gpu);
		xmig_conn_close(c);
		return XMIG_EXIT_FAIL;
	}
	json_decref(r);
	move_show_progress(c, p.label);
	r = move_call(&p, c, "restore", json_pack("{s:s}", "dir", dir), -1, &status);
	if (!r) {
		xmig_error("%s: not resumed; it stays suspended, its snapshot in %s untouched", p.label,
			   dir);
		xmig_conn_close(c);   /* the standby proxy exits */
		return status;
	}
	json_decref(r);
	r = move_call(&p, c, "resume", NULL, 30000, &status);
	xmig_conn_close(c);   /* it owns the job now and goes on without us */
	if (!r)
		return status;
	if (json_is_true(json_object_get(rec, "temporary")))
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	json_object_set_new(r, "job", json_string(job));
	json_object_set_new(r, "rank", json_integer(rank));
	json_object_set_new(r, "gpu", json_integer(gpu));
	json_object_set_new(r, "seconds", json_real((double)(xmig_now_ns() - t0) / 1e9));
	if (!json)
		printf("%s: resumed on GPU %d (%.2f s)\n", p.label, gpu,
		       json_real_value(json_object_get(r, "seconds")));
	json_array_append_new(items, r);
	return 0;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct xmig_target t = { .gpu = -1 };
	json_t *recs, *rec, *items;
	size_t i, n = 0;
	int status = 0;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (!o.job) {
		xmig_error("--job is required");
		return XMIG_EXIT_USAGE;
	}
	if (o.to && (xmig_target_parse(o.to, &t) < 0 || t.node[0])) {
		xmig_error("--to takes gpuN of this node (got '%s')", o.to);
		return XMIG_EXIT_USAGE;
	}
	items = json_array();
	recs = xmig_registry_suspended(o.job);
	json_array_foreach(recs, i, rec) {
		if (o.rank >= 0 && json_integer_value(json_object_get(rec, "rank")) != o.rank)
			continue;
		n++;
		if ((status = resume_one(rec, &t, o.json, items)))
			break;
	}
	if (!n && !status) {
		xmig_error("job %s has no suspended process%s on this node", o.job,
			   o.rank >= 0 ? " of that rank" : "");
		status = XMIG_EXIT_NOTFOUND;
	}
	json_decref(recs);
	if (o.json)
		cmd_print_result(json_pack("{s:o}", "items", items), status);
	else
		json_decref(items);
	return status;
}

const struct xmig_cmd cmd_resume = { "resume", "bring a suspended job back on a GPU", run };
