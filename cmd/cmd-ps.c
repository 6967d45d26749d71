/*
 * cmd-ps.c - xmig ps [--json] [--job J]: the jobs under xmig on this node.
 *
 *   JOB RANK PID NODE GPU STATE DEVICE-MEM UPTIME
 *
 * One row per application process. GPU shows "simN" for the sim test
 * device. --json prints {"items":[...]} with the fields of each proxy's
 * status (schema: share/schema/ps.schema.json).
 */
#define _GNU_SOURCE
#include <string.h>

#include "cluster.h"
#include "cmd.h"
#include "jobs.h"

struct ps_opts {
	bool json, all;
	const char *job;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct ps_opts *o = state->input;

	switch (key) {
	case 'j':
		o->json = true;
		return 0;
	case 'a':
		o->all = true;
		return 0;
	case 'J':
		if (!xmig_job_name_valid(arg))
			argp_error(state, "invalid job name '%s'", arg);
		o->job = arg;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "Print {\"items\":[...]} as JSON", 0 },
	{ "job", 'J', "JOB", 0, "Only this job", 0 },
	{ "all", 'a', NULL, 0, "Every node of the node list (nodes.conf), merged", 0 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, NULL,
	"List the processes running under xmig on this node: where their GPU context is "
	"and in what state.", NULL, NULL, NULL
};

static void print_table(json_t *items, bool hosts)
{
	json_t *it;
	size_t i;

	printf("%-10s %4s %8s %-12s %-5s %-9s %10s %8s", "JOB", "RANK", "PID", "NODE", "GPU",
	       "STATE", "DEVICE-MEM", "UPTIME");
	printf(hosts ? " %s\n" : "\n", "HOST");
	json_array_foreach(items, i, it) {
		char gpu[32], mem[32], up[32], rank[16];
		const char *dev = json_string_value(json_object_get(it, "device"));
		json_t *g = json_object_get(it, "gpu");
		json_int_t r = json_integer_value(json_object_get(it, "rank"));

		if (json_is_integer(g))
			snprintf(gpu, sizeof(gpu), "%s%lld", dev && !strcmp(dev, "sim") ? "sim" : "",
				 (long long)json_integer_value(g));
		else
			snprintf(gpu, sizeof(gpu), "-");
		if (r >= 0)
			snprintf(rank, sizeof(rank), "%lld", (long long)r);
		else
			snprintf(rank, sizeof(rank), "-");
		xmig_format_bytes((uint64_t)json_integer_value(json_object_get(it, "device_bytes")),
				  mem, sizeof(mem));
		if (json_object_get(it, "uptime_s"))
			xmig_format_duration(json_real_value(json_object_get(it, "uptime_s")), up,
					     sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		printf("%-10s %4s %8lld %-12s %-5s %-9s %10s %8s",
		       json_string_value(json_object_get(it, "job")), rank,
		       (long long)json_integer_value(json_object_get(it, "pid")),
		       json_string_value(json_object_get(it, "node")), gpu,
		       json_string_value(json_object_get(it, "state")), mem, up);
		if (hosts)
			printf(" %s", json_string_value(json_object_get(it, "host")) ?: "-");
		printf("\n");
	}
}

/* Below the table, a line for each process that a move would be refused now, or to another node. */
static void print_limits(json_t *items)
{
	json_t *it;
	size_t i;
	char why[512];

	json_array_foreach(items, i, it) {
		enum xmig_move_reach reach = xmig_move_limit(it, why, sizeof(why));

		if (reach != XMIG_MOVE_ANYWHERE)
			printf("%s rank %lld: %s: %s\n",
			       json_string_value(json_object_get(it, "job")) ?: "-",
			       (long long)json_integer_value(json_object_get(it, "rank")),
			       reach == XMIG_MOVE_NOWHERE ? "not movable now" : "moves within its node only",
			       why);
	}
}

/* Every node's `xmig ps --json`, through its prefix; HOST: where each ran. */
static int collect_all(const struct ps_opts *o, json_t **out)
{
	struct xmig_nodes list;
	const char *args[5] = { "ps", "--json", NULL, NULL, NULL };
	int status = XMIG_EXIT_OK;
	size_t i, k;
	json_t *it;

	*out = NULL;
	if (cluster_load(&list) < 0)
		return XMIG_EXIT_BADINPUT;
	if (o->job) {
		args[2] = "--job";
		args[3] = o->job;
	}
	if (list.n == 0) {
		*out = cmd_jobs_status(o->job);
		return status;
	}
	*out = json_array();
	for (i = 0; i < list.n; i++) {
		json_t *doc = cluster_xmig_json(&list.nodes[i], args);

		if (!doc) {
			status = XMIG_EXIT_UNAVAILABLE;
			continue;
		}
		json_array_foreach(json_object_get(doc, "items"), k, it) {
			if (!json_object_get(it, "host"))
				json_object_set_new(it, "host", json_string(list.nodes[i].name));
			json_array_append(*out, it);
		}
		json_decref(doc);
	}
	xmig_nodes_free(&list);
	return status;
}

static int run(int argc, char **argv)
{
	struct ps_opts o = { 0 };
	json_t *items;
	int status = XMIG_EXIT_OK;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (o.all) {
		status = collect_all(&o, &items);
		if (!items)
			return status;
	} else {
		items = cmd_jobs_status(o.job);
	}
	if (o.json)
		cmd_print_json(json_pack("{s:o}", "items", items));
	else {
		print_table(items, o.all);
		print_limits(items);
		json_decref(items);
	}
	return status;
}

const struct xmig_cmd cmd_ps = { "ps", "list the jobs under xmig on this node", run };
