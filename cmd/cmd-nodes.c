/*
 * cmd-nodes.c - xmig nodes [--json] [--local]
 *
 * The nodes of the node list, each asked through its command prefix for
 * its GPUs (model, memory, free memory, memory held by programs not under
 * xmig) and its jobs. --local: this node only, without the node list (what
 * the others run through the prefix). Schema: share/schema/nodes.schema.json.
 */
#define _GNU_SOURCE
#include <string.h>

#include "cluster.h"

struct nodes_opts {
	bool json, local;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct nodes_opts *o = state->input;

	switch (key) {
	case 'j':
		o->json = true;
		return 0;
	case 'l':
		o->local = true;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "Print {\"nodes\":[...]} as JSON", 0 },
	{ "local", 'l', NULL, 0, "This node only (no node list)", 0 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, NULL,
	"List the nodes of the cluster (nodes.conf) with their GPUs, free memory and jobs.",
	NULL, NULL, NULL
};

static void print_table(json_t *nodes)
{
	json_t *n, *g;
	size_t i, k;

	printf("%-12s %-6s %4s %-30s %10s %10s %5s %s\n", "NODE", "DEVICE", "GPU", "MODEL", "MEMORY",
	       "FREE", "JOBS", "ADDRESS");
	json_array_foreach(nodes, i, n) {
		const char *err = json_string_value(json_object_get(n, "error"));

		if (err) {
			printf("%-12s %s\n", json_string_value(json_object_get(n, "name")), err);
			continue;
		}
		if (!json_array_size(json_object_get(n, "gpus"))) {
			/* A node without GPUs is still a node: it may hold jobs' processes. */
			printf("%-12s %-6s %4s %-30s %10s %10s %5lld %s\n",
			       json_string_value(json_object_get(n, "name")),
			       json_string_value(json_object_get(n, "device")) ?: "-", "-",
			       "(no GPUs)", "-", "-",
			       (long long)json_integer_value(json_object_get(n, "jobs")),
			       json_string_value(json_object_get(n, "address")) ?: "-");
			continue;
		}
		json_array_foreach(json_object_get(n, "gpus"), k, g) {
			char mem[32], fr[32];

			printf("%-12s %-6s %4lld %-30.30s %10s %10s %5lld %s\n",
			       json_string_value(json_object_get(n, "name")),
			       json_string_value(json_object_get(n, "device")),
			       (long long)json_integer_value(json_object_get(g, "index")),
			       json_string_value(json_object_get(g, "model")),
			       xmig_format_bytes((uint64_t)json_integer_value(json_object_get(g,
					"memory_bytes")), mem, sizeof(mem)),
			       xmig_format_bytes((uint64_t)json_integer_value(json_object_get(g,
					"memory_free_bytes")), fr, sizeof(fr)),
			       (long long)json_integer_value(json_object_get(n, "jobs")),
			       json_string_value(json_object_get(n, "address")) ?: "-");
		}
	}
}

static int run(int argc, char **argv)
{
	struct nodes_opts o = { 0 };
	struct xmig_nodes list;
	json_t *nodes = json_array();
	int status = XMIG_EXIT_OK;
	size_t i;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	memset(&list, 0, sizeof(list));
	if (!o.local && cluster_load(&list) < 0) {
		json_decref(nodes);
		return XMIG_EXIT_BADINPUT;   /* the list is there and bad: said why */
	}
	if (o.local || list.n == 0) {
		/* No node list, or one naming no node: this node alone, as ps --all. */
		if (!o.local)
			xmig_debug("no nodes listed: this node alone");
		json_array_append_new(nodes, cluster_local_node());
		xmig_nodes_free(&list);
	} else {
		static const char *const args[] = { "nodes", "--local", "--json", NULL };

		for (i = 0; i < list.n; i++) {
			const struct xmig_node *nd = &list.nodes[i];
			json_t *doc = cluster_xmig_json(nd, args), *n;

			n = json_array_get(json_object_get(doc, "nodes"), 0);
			if (n) {
				json_incref(n);
				/* Its name in the list is what moves use. */
				json_object_set_new(n, "name", json_string(nd->name));
			} else {
				n = json_pack("{s:s, s:s}", "name", nd->name, "error",
					      "unreachable (its prefix failed)");
				status = XMIG_EXIT_UNAVAILABLE;
			}
			json_object_set_new(n, "address", json_string(nd->address));
			json_array_append_new(nodes, n);
			json_decref(doc);
		}
		xmig_nodes_free(&list);
	}
	if (o.json)
		cmd_print_json(json_pack("{s:o}", "nodes", nodes));
	else {
		print_table(nodes);
		json_decref(nodes);
	}
	return status;
}

const struct xmig_cmd cmd_nodes = { "nodes", "list the cluster's nodes and their GPUs", run };
