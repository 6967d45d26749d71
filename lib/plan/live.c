/*
 * live.c - the cluster state of a running cluster, from the JSON of
 * `xmig nodes --json` and `xmig ps --all --json`:
 *
 *   nodes: {"nodes":[{"name","cpus","memory_bytes","gpus":[{"index","model",
 *           "memory_bytes","memory_free_bytes","pinned_bytes"}]}]}
 *   ps:    {"items":[{"job","rank","pid","node","gpu","state","device_bytes",
 *           "share","device","gpu_model","host"}]}   (one item per process)
 *
 * A task is one (job, rank): its processes' GPUs, the sum of their device
 * bytes, the largest share any declares (`xmig run --share F`), movable only
 * while running, and only while none of its processes holds what a move to
 * another node is refused for (see add_item). "node" is where the GPU side runs, which is what the
 * planner moves. A rank on several GPUs uses them whole. Tasks that declare
 * no share split what the declared ones leave of their GPU (alone: all of
 * it), so nothing more is packed next to them; one left with nothing (its
 * GPU is taken whole by another task) stays where it is. Memory used by
 * processes not under xmig (pinned_bytes) becomes a task that cannot move
 * and takes whatever share is left, for the same reason.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "plan.h"

struct rank_key {
	char job[128];
	long rank;
	json_t *task;          /* the task object being built */
};

static int job_string(json_t *v, const char *path, char *buf, size_t len)
{
	if (json_is_string(v) && json_string_length(v) && json_string_length(v) < len)
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		return xmig_error("%s.job: expected a job name", path);
	return 0;
}

static json_t *convert_nodes(json_t *nodes_doc)
{
	json_t *nodes = xp_jarray(nodes_doc, "nodes", "xmig nodes"), *out = json_array(), *jn;
	size_t i;

	if (!nodes) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(nodes, i, jn) {
		json_t *n = json_object(), *gpus = json_array(), *jg, *v;
		size_t k;

		json_array_append_new(out, n);
		json_object_set_new(n, "gpus", gpus);
		if (!json_is_object(jn) || !json_is_array(json_object_get(jn, "gpus"))) {
			xmig_error("xmig nodes: nodes[%zu]: expected an object with \"gpus\"", i);
			json_decref(out);
			return NULL;
		}
		/* Copied as given: the state parser validates every field. */
		json_object_set(n, "name", json_object_get(jn, "name") ? json_object_get(jn, "name") : json_null());
		if ((v = json_object_get(jn, "cpus")))
			json_object_set(n, "cpus", v);
		if ((v = json_object_get(jn, "memory_bytes")))
			json_object_set(n, "memory_bytes", v);
		json_array_foreach(json_object_get(jn, "gpus"), k, jg) {
			json_t *g = json_object();

			json_array_append_new(gpus, g);
			if (!json_is_object(jg))
				continue;
			json_object_set(g, "index", json_object_get(jg, "index") ? json_object_get(jg, "index") : json_null());
			json_object_set(g, "model", json_object_get(jg, "model") ? json_object_get(jg, "model") : json_null());
			json_object_set(g, "memory_bytes",
					json_object_get(jg, "memory_bytes") ? json_object_get(jg, "memory_bytes") : json_null());
		}
	}
	return out;
}

static json_t *find_gpu_obj(json_t *nodes_doc, const char *node, long long index)
{
	json_t *jn, *jg;
	size_t i, k;

	json_array_foreach(json_object_get(nodes_doc, "nodes"), i, jn) {
		if (!json_is_string(json_object_get(jn, "name")) ||
		    strcmp(json_string_value(json_object_get(jn, "name")), node))
			continue;
		json_array_foreach(json_object_get(jn, "gpus"), k, jg)
			if (json_integer_value(json_object_get(jg, "index")) == index)
				return jg;
		return NULL;
	}
	return NULL;
}

static int add_item(json_t *tasks, struct rank_key *keys, size_t *nkeys, json_t *nodes_doc,
		    json_t *it, size_t i)
{
	char path[64], job[128];
	const char *node, *state;
	long long rank, gpu, bytes;
	double share;
	json_t *t = NULL, *gm;
	size_t k;

	snprintf(path, sizeof(path), "xmig ps: items[%zu]", i);
	if (!json_is_object(it))
		return xmig_error("%s: expected an object", path);
	if (json_is_null(json_object_get(it, "gpu")) && json_object_get(it, "proxy_gpu"))
		return xmig_error("%s: job %s rank %lld is on a GPU this command does not see (its "
				  "CUDA_VISIBLE_DEVICES); plan from a command that sees every GPU",
				  path, json_string_value(json_object_get(it, "job")) ?: "?",
				  (long long)json_integer_value(json_object_get(it, "rank")));
	if (job_string(json_object_get(it, "job"), path, job, sizeof(job)) < 0 ||
	    xp_jint(it, "rank", path, true, 0, INT32_MAX, 0, &rank) < 0 ||
	    xp_jstr(it, "node", path, &node) < 0 ||
	    xp_jint(it, "gpu", path, true, 0, 1023, 0, &gpu) < 0 ||
	    xp_jint(it, "device_bytes", path, false, 0, LLONG_MAX, 0, &bytes) < 0 ||
	    xp_jnum(it, "share", path, false, 0, 1, 0, &share) < 0)
		return -1;
	if (!find_gpu_obj(nodes_doc, node, gpu))
		return xmig_error("%s: node %s has no GPU %lld in `xmig nodes`", path, node, gpu);
	state = json_string_value(json_object_get(it, "state"));
	for (k = 0; k < *nkeys; k++)
		if (!strcmp(keys[k].job, job) && keys[k].rank == rank) {
			t = keys[k].task;
			break;
		}
	if (!t) {
		char id[160];

		snprintf(id, sizeof(id), "%s:%lld", job, rank);
		t = json_pack("{s:s, s:s, s:I, s:s, s:[], s:f, s:I, s:i, s:i, s:b, s:n}", "id", id,
			      "job", job, "rank", (json_int_t)rank, "node", node, "gpus", "share", share,
			      "device_bytes", (json_int_t)0, "cpus", 0, "memory_bytes", 0, "movable", 1,
			      "gpu_model");
		json_array_append_new(tasks, t);
		snprintf(keys[*nkeys].job, sizeof(keys[*nkeys].job), "%s", job);
		keys[*nkeys].rank = rank;
		keys[(*nkeys)++].task = t;
	} else if (strcmp(json_string_value(json_object_get(t, "node")), node)) {
		return xmig_error("%s: job %s rank %lld runs on both %s and %s", path, job, rank,
				  json_string_value(json_object_get(t, "node")), node);
	}
	json_array_append_new(json_object_get(t, "gpus"), json_integer(gpu));
	json_object_set_new(t, "device_bytes",
			    json_integer(json_integer_value(json_object_get(t, "device_bytes")) + bytes));
	/* 0 until a process declares one: see finish(). */
	if (share > json_real_value(json_object_get(t, "share")))
		json_object_set_new(t, "share", json_real(share));
	/* Anything but running (frozen, moving, starting) is left alone. */
	if (!state || (strcmp(state, "running") && strcmp(state, "idle")))
		json_object_set_new(t, "movable", json_false());
	/*
	 * So is what a move would be refused now, or across nodes, which
	 * freeing one takes (move-limits.c).
	 */
	if (xmig_move_limit(it, NULL, 0) != XMIG_MOVE_ANYWHERE)
		json_object_set_new(t, "movable", json_false());
	gm = json_object_get(it, "gpu_model");
	if (json_is_string(gm))
		json_object_set(t, "gpu_model", gm);
	return 0;
}

static bool on_gpu(json_t *t, const char *node, json_int_t index)
{
	json_t *gl = json_object_get(t, "gpus"), *g;
	size_t i;

	if (strcmp(json_string_value(json_object_get(t, "node")), node))
		return false;
	json_array_foreach(gl, i, g)
		if (json_integer_value(g) == index)
			return true;
	return false;
}

/* Shares as the header says; pinned memory becomes tasks that stay. */
static void finish(json_t *tasks, json_t *nodes_doc)
{
	json_t *t, *jn, *jg;
	size_t i, k, j;

	json_array_foreach(tasks, i, t)
		if (json_array_size(json_object_get(t, "gpus")) > 1)
			json_object_set_new(t, "share", json_real(1.0));
	json_array_foreach(json_object_get(nodes_doc, "nodes"), i, jn) {
		const char *name = json_string_value(json_object_get(jn, "name"));

		json_array_foreach(json_object_get(jn, "gpus"), k, jg) {
			json_int_t pinned = json_integer_value(json_object_get(jg, "pinned_bytes"));
			json_int_t index = json_integer_value(json_object_get(jg, "index"));
			double declared = 0, left;
			int undeclared = 0;
			char id[160], job[140];

			if (!name)
				continue;
			json_array_foreach(tasks, j, t) {
				if (!on_gpu(t, name, index))
					continue;
				declared += json_real_value(json_object_get(t, "share"));
				undeclared += json_real_value(json_object_get(t, "share")) == 0;
			}
			left = declared < 1 ? 1 - declared : 0;
			json_array_foreach(tasks, j, t) {
				if (!on_gpu(t, name, index) || json_real_value(json_object_get(t, "share")) > 0)
					continue;
				json_object_set_new(t, "share", json_real(left / undeclared));
				if (left <= 0)
					json_object_set_new(t, "movable", json_false());
			}
			if (pinned <= 0)
				continue;
			snprintf(id, sizeof(id), "pinned:%s:gpu%lld", name, (long long)index);
			snprintf(job, sizeof(job), "pinned:%s", name);
			json_array_append_new(tasks, json_pack(
				"{s:s, s:s, s:I, s:s, s:[I], s:f, s:I, s:b}", "id", id, "job", job,
				"rank", index, "node", name, "gpus", index, "share", undeclared ? 0.0 : left,
				"device_bytes", pinned, "movable", 0));
		}
	}
}

json_t *xp_state_from_live(json_t *nodes_doc, json_t *ps_doc)
{
	json_t *nodes, *items, *tasks, *it;
	struct rank_key *keys;
	size_t i, nkeys = 0;

	if (!json_is_object(nodes_doc) || !json_is_object(ps_doc)) {
		xmig_error("xmig nodes / xmig ps: expected JSON objects");
		return NULL;
	}
	if (!(items = xp_jarray(ps_doc, "items", "xmig ps")) || !(nodes = convert_nodes(nodes_doc)))
		return NULL;
	tasks = json_array();
	keys = calloc(json_array_size(items) + 1, sizeof(*keys));
	if (!keys) {
		xmig_error("out of memory");
		goto fail;
	}
	json_array_foreach(items, i, it)
		if (add_item(tasks, keys, &nkeys, nodes_doc, it, i) < 0)
			goto fail;
	free(keys);
	finish(tasks, nodes_doc);
	return json_pack("{s:o, s:o}", "nodes", nodes, "tasks", tasks);
fail:
	free(keys);
	json_decref(nodes);
	json_decref(tasks);
	return NULL;
}

static json_t *run_json(char **argv, const char *what, int *rc)
{
	json_error_t err;
	char *out, sbuf[64];
	int status;
	json_t *doc;

	if (xp_run_capture(argv, &out, &status) < 0) {
		*rc = XMIG_EXIT_UNAVAILABLE;
		return NULL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		xmig_error("live state: `%s` failed (%s); use --state FILE to plan from a file", what,
			   xp_status_str(status, sbuf, sizeof(sbuf)));
		free(out);
		/* (a node list that is malformed or unreadable is bad input here too, as there) */
		*rc = WIFEXITED(status) && WEXITSTATUS(status) == XMIG_EXIT_BADINPUT
			? XMIG_EXIT_BADINPUT : XMIG_EXIT_UNAVAILABLE;
		return NULL;
	}
	doc = json_loads(out, 0, &err);
	free(out);
	if (!doc) {
		xmig_error("live state: `%s` printed no JSON: %s", what, err.text);
		*rc = XMIG_EXIT_BADINPUT;
	}
	return doc;
}

int xp_state_live(const char *xmig, const char *nodes_file, struct xp_state *st)
{
	char *nodes_argv[] = { (char *)xmig, "--nodes", (char *)nodes_file, "nodes", "--json", NULL };
	char *ps_argv[] = { (char *)xmig, "--nodes", (char *)nodes_file, "ps", "--all", "--json", NULL };
	json_t *nd = NULL, *ps = NULL, *doc = NULL;
	int rc = 0;

	if (!nodes_file) {
		/* No --nodes: drop the pair, the commands find their default. */
		memmove(nodes_argv + 1, nodes_argv + 3, sizeof(char *) * 3);
		memmove(ps_argv + 1, ps_argv + 3, sizeof(char *) * 4);
	}
	if (!(nd = run_json(nodes_argv, "xmig nodes --json", &rc)) ||
	    !(ps = run_json(ps_argv, "xmig ps --all --json", &rc)))
		goto out;
	if (!(doc = xp_state_from_live(nd, ps)) || xp_state_from_json(doc, st) < 0) {
		xmig_error("live state refused");
		rc = XMIG_EXIT_BADINPUT;
	}
out:
	json_decref(nd);
	json_decref(ps);
	json_decref(doc);
	return rc;
}
