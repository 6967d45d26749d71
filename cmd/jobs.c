/*
 * jobs.c - what the commands know about the jobs of this node: every proxy
 * registered under the runtime directory, asked for its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../proxy/server/device.h"
#include "cmd.h"
#include "jobs.h"

/* A row for a process whose proxy did not answer. */
static json_t *unreachable(const struct xmig_proxy_ref *r, const char *state, const char *why)
{
	return json_pack("{s:s, s:i, s:i, s:s, s:n, s:s, s:s, s:I, s:s}", "job", r->job, "rank", -1,
			 "pid", (int)r->client_pid, "node", xmig_hostname(), "gpu", "state", state,
			 "device", "", "device_bytes", (json_int_t)0, "error", why);
}

/* ---- GPU numbers in this command's numbering ------------------------------------- */

static bool same_value(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* Does the proxy count GPUs as this command does? (An older proxy does not say: yes.) */
static bool counts_as_we_do(json_t *it)
{
	json_t *n = json_object_get(it, "gpu_numbering");
	const char *order = json_string_value(json_object_get(n, "device_order"));
	const char *ours = getenv("CUDA_DEVICE_ORDER");

	if (!n)
		return true;
	/* (the driver's default order is FASTEST_FIRST) */
	return same_value(json_string_value(json_object_get(n, "visible_devices")),
			  getenv("CUDA_VISIBLE_DEVICES")) &&
	       !strcmp(order ?: "FASTEST_FIRST", ours ?: "FASTEST_FIRST");
}

int cmd_gpu_by_uuid(const char *device, const char *uuid)
{
	const struct xmig_device_ops *dev = xmig_device_by_name(device ?: "");
	int n = 0;

	if (!dev || !uuid || dev->count(&n))
		return -1;
	for (int g = 0; g < n; g++) {
		struct xmig_gpu_info info;

		if (!dev->info_of(g, &info) && !strcmp(info.uuid, uuid))
			return g;
	}
	return -1;
}

/*
 * A proxy counts its GPU among those its own CUDA_VISIBLE_DEVICES and
 * CUDA_DEVICE_ORDER show: a job a scheduler started with
 * CUDA_VISIBLE_DEVICES=2,3 is on its gpu 0, the machine's GPU 2. The
 * items say it in this command's numbering, which migrate --to, nodes and
 * the planner use: the GPU with the proxy's UUID here, or null when this
 * command does not see it. The proxy's own number stays in proxy_gpu.
 */
static void to_our_numbering(json_t *items)
{
	json_t *it;
	size_t i;

	json_array_foreach(items, i, it) {
		const char *uuid = json_string_value(json_object_get(it, "gpu_uuid"));
		const char *node = json_string_value(json_object_get(it, "node"));
		int g;

		/* (a GPU on another node, a bridge's, is in its executor's numbering) */
		if (!uuid || !node || strcmp(node, xmig_hostname()) || counts_as_we_do(it))
			continue;
		g = cmd_gpu_by_uuid(json_string_value(json_object_get(it, "device")), uuid);
		json_object_set(it, "proxy_gpu", json_object_get(it, "gpu"));
		json_object_set_new(it, "gpu", g >= 0 ? json_integer(g) : json_null());
	}
}

json_t *cmd_jobs_status(const char *job)
{
	struct xmig_proxy_ref *refs;
	json_t *items = json_array();
	size_t n, i;

	if (xmig_registry_list(job, &refs, &n) < 0) {
		xmig_error_errno("cannot read %s", xmig_runtime_dir());
		return items;
	}
	for (i = 0; i < n; i++) {
		struct xmig_conn *c;
		json_t *st = NULL;
		char why[256], *msg = NULL;
		int code;

		c = cmd_connect(refs[i].socket, why, sizeof(why));
		if (!c) {
			if (!xmig_proc_alive(refs[i].client_pid, 0)) {
				/* Both gone: the registration is stale. */
				unlink(refs[i].socket);
				xmig_registry_prune(refs[i].job);
				continue;
			}
			json_array_append_new(items, unreachable(&refs[i],
				strstr(why, "permission") ? "denied" : "lost", why));
			continue;
		}
		if (xmig_rpc_call(c, "status", NULL, 5000, &st, &code, &msg) < 0) {
			json_array_append_new(items, unreachable(&refs[i], "lost",
								 msg ? msg : "no answer"));
			free(msg);
		} else {
			json_object_set_new(st, "socket", json_string(refs[i].socket));
			json_array_append_new(items, st);
		}
		xmig_conn_close(c);
	}
	free(refs);
	/* Suspended: no proxy, but a record of where the state went. */
	{
		json_t *sus = xmig_registry_suspended(job), *r;

		json_array_foreach(sus, i, r) {
			json_t *it = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s, s:O, s:O, s:O}",
				"job", json_object_get(r, "job"), "rank", json_object_get(r, "rank"),
				"pid", json_object_get(r, "pid"), "node", json_object_get(r, "node"),
				"gpu", json_object_get(r, "gpu"), "state", "suspended",
				"device", json_object_get(r, "device"),
				"device_bytes", json_object_get(r, "device_bytes"),
				"snapshot", json_object_get(r, "dir"));

			if (!it)
				continue;
			/* (records of an older xmig have neither) */
			if (json_object_get(r, "gpu_uuid")) {
				json_object_set(it, "gpu_uuid", json_object_get(r, "gpu_uuid"));
				json_object_set(it, "gpu_numbering", json_object_get(r, "gpu_numbering"));
			}
			json_array_append_new(items, it);
		}
		json_decref(sus);
	}
	to_our_numbering(items);
	return items;
}

json_t *cmd_jobs_find(const char *job, int rank, int *status)
{
	json_t *items = cmd_jobs_status(job), *out = json_array(), *it;
	size_t i;

	json_array_foreach(items, i, it) {
		if (rank >= 0 && json_integer_value(json_object_get(it, "rank")) != rank)
			continue;
		json_array_append(out, it);
	}
	json_decref(items);
	*status = XMIG_EXIT_OK;
	if (json_array_size(out) == 0) {
		if (rank >= 0)
			xmig_error("job %s has no rank %d on this node", job, rank);
		else
			xmig_error("no job %s on this node (see 'xmig ps')", job);
		*status = XMIG_EXIT_NOTFOUND;
	}
	return out;
}
