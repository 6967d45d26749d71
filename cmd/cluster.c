/*
 * cluster.c - the cluster, as nodes.conf lists it. No daemon: a question
 * to another node is `PREFIX xmig ... --json` run there.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../proxy/server/device.h"
#include "cluster.h"
#include "jobs.h"

int cluster_load(struct xmig_nodes *nodes)
{
	return xmig_nodes_load(xmig_globals.nodes_file, nodes);
}

json_t *cluster_xmig_json(const struct xmig_node *node, const char *const *args)
{
	char self[4096], *out = NULL;
	const char *argv[32];
	json_error_t jerr;
	json_t *doc;
	size_t n = 0;
	int st;

	snprintf(self, sizeof(self), "%s/xmig", xmig_self_dir());
	argv[n++] = self;
	while (*args && n < 30)
		argv[n++] = *args++;
	argv[n] = NULL;
	st = xmig_node_run(node, (char *const *)argv, NULL, &out);
	if (st != 0) {
		xmig_error("node %s: '%s' failed (status %d)", node ? node->name : xmig_hostname(),
			   argv[1], st);
		free(out);
		return NULL;
	}
	doc = json_loads(out ? out : "", 0, &jerr);
	if (!doc)
		xmig_error("node %s: '%s' printed no JSON: %s", node ? node->name : xmig_hostname(),
			   argv[1], jerr.text);
	free(out);
	return doc;
}

/* The device kind of this node: what `xmig run` would use here. */
static const char *local_device(void)
{
	const char *d = getenv("XMIG_DEVICE");

	return d && *d ? d : "cuda";
}

json_t *cluster_local_node(void)
{
	const char *kind = local_device();
	const struct xmig_device_ops *dev = xmig_device_by_name(kind);
	json_t *gpus = json_array(), *items = cmd_jobs_status(NULL), *it;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	int n = 0, g;
	size_t i;

	if (dev && dev->count(&n))
		n = 0;
	for (g = 0; g < n; g++) {
		struct xmig_gpu_info info;
		uint64_t ours = 0, pinned = 0;

		if (dev->info_of(g, &info))
			continue;
		/* Memory held by our jobs here; the rest in use is someone else's. */
		json_array_foreach(items, i, it) {
			const char *where = json_string_value(json_object_get(it, "node"));

			if (json_integer_value(json_object_get(it, "gpu")) == g && where &&
			    !strcmp(where, xmig_hostname()))
				ours += (uint64_t)json_integer_value(json_object_get(it,
					"device_mapped_bytes"));
		}
		if (info.total_bytes > info.free_bytes + ours)
			pinned = info.total_bytes - info.free_bytes - ours;
		if (!strcmp(kind, "sim"))
			pinned = 0;   /* the sim device has no other users */
		json_array_append_new(gpus, json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:[i,i]}",
			"index", g, "model", info.name, "uuid", info.uuid,
			"memory_bytes", (json_int_t)info.total_bytes,
			"memory_free_bytes", (json_int_t)info.free_bytes,
			"pinned_bytes", (json_int_t)pinned,
			"compute_capability", info.major, info.minor));
	}
	{
		json_t *node = json_pack("{s:s, s:s, s:i, s:I, s:o, s:I}", "name", xmig_hostname(),
					 "device", kind, "cpus", (int)cpus, "memory_bytes",
					 (json_int_t)pages * psz, "gpus", gpus, "jobs",
					 (json_int_t)json_array_size(items));
		json_decref(items);
		return node;
	}
}
