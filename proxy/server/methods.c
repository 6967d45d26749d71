/*
 * methods.c - the control methods every proxy answers: hello and status.
 * (Moves add theirs in move.c.) The method table is at the end.
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "move.h"
#include "server.h"

static const char *state_name(struct srv *s)
{
	if (s->standby)
		return "standby";
	switch (atomic_load(&s->hdr->state)) {
	case XMIG_SEG_RUNNING: return "running";
	case XMIG_SEG_FROZEN: return "frozen";
	case XMIG_SEG_SUSPENDED: return "suspended";
	case XMIG_SEG_STARTING: return "starting";
	default: return "dead";
	}
}

static json_t *m_hello(struct srv *s, struct ctl_conn *cc, json_t *params, int *code, char *msg,
		       size_t len)
{
	json_t *p = json_object_get(params, "protocol");

	if (p && (!json_is_integer(p) || json_integer_value(p) != XMIG_PROTOCOL)) {
		*code = XMIG_RPC_INVALID_PARAMS;
		snprintf(msg, len, "protocol %lld not spoken here (this proxy speaks %d)",
			 p ? (long long)json_integer_value(p) : -1LL, XMIG_PROTOCOL);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:i, s:i}", "server", "xmig-proxy", "version", XMIG_VERSION,
			 "protocol", XMIG_PROTOCOL, "pid", (int)getpid());
}

json_t *srv_gpu_numbering(const struct srv *s)
{
	return json_pack("{s:s?, s:s?}", "visible_devices", s->visible_devices, "device_order",
			 s->device_order);
}

static json_t *m_status(struct srv *s, struct ctl_conn *cc, json_t *params, int *code, char *msg,
			size_t len)
{
	unsigned i, threads = 0;
	double now = xmig_wall_seconds();
	uint64_t free_b = 0, total = 0;
	json_t *o;

	s->dev->mem_info(s->devh, &free_b, &total);
	for (i = 0; i < XMIG_MAX_RINGS; i++)
		threads += atomic_load(&xmig_shm_ring(s->hdr, i)->state) == XMIG_RING_ACTIVE;
	/* Sizes of the tables are read racily on purpose: a snapshot for ps. */
	o = json_pack("{s:s, s:i, s:i, s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
		      "job", s->job, "rank", s->rank, "pid", (int)s->client_pid,
		      "proxy_pid", (int)getpid(), "node", s->node, "host", s->host,
		      "gpu", s->gpu, "gpu_name", s->gpu_info.name, "gpu_uuid", s->gpu_info.uuid,
		      "device", s->device_kind, "state", state_name(s),
		      "device_bytes", (json_int_t)s->mem.bytes,
		      "device_mapped_bytes", (json_int_t)s->mem.mapped,
		      "gpu_memory_bytes", (json_int_t)s->gpu_info.total_bytes);
	json_object_set_new(o, "gpu_numbering", srv_gpu_numbering(s));
	json_object_set_new(o, "share", json_real(s->share));
	json_object_set_new(o, "gpu_model", json_string(s->gpu_info.name));
	json_object_set_new(o, "allocations", json_integer((json_int_t)s->mem.nallocs));
	json_object_set_new(o, "pinned_regions", json_integer((json_int_t)s->mem.nregions));
	json_object_set_new(o, "streams", json_integer((json_int_t)s->streams.count));
	json_object_set_new(o, "events", json_integer((json_int_t)s->events.count));
	json_object_set_new(o, "modules", json_integer((json_int_t)s->modules.count));
	json_object_set_new(o, "functions", json_integer((json_int_t)s->funcs.count));
	json_object_set_new(o, "variables", json_integer((json_int_t)s->vars.count));
	json_object_set_new(o, "threads", json_integer(threads));
	json_object_set_new(o, "calls", json_integer((json_int_t)atomic_load(&s->calls)));
	/* The job's age is its process's, not this proxy's (moves renew proxies). */
	{
		double app = xmig_proc_start_wall(s->client_pid);

		json_object_set_new(o, "started", json_real(app ? app : s->started));
		json_object_set_new(o, "uptime_s", json_real(now - (app ? app : s->started)));
		json_object_set_new(o, "proxy_started", json_real(s->started));
	}
	json_object_set_new(o, "owner_uid", json_integer(s->owner_uid));
	json_object_set_new(o, "attach_id", json_sprintf("%016llx", (unsigned long long)s->attach_id));
	json_object_set_new(o, "standby", json_boolean(s->standby));
	json_object_set_new(o, "keeper", json_string(s->keeper_path));
	json_object_set_new(o, "remote", json_boolean(s->dev == &xmig_device_remote));
	json_object_set_new(o, "host_mapped", json_boolean(atomic_load(&s->hdr->host_mapped)));
	json_object_set_new(o, "symbol_address_taken",
			    json_boolean(atomic_load(&s->hdr->symbol_address_taken)));
	/* (read while the job runs: a precheck's; a move or snapshot checks again frozen) */
	json_object_set_new(o, "cuda_graphs",
			    json_integer((json_int_t)(__atomic_load_n(&s->graphs.count, __ATOMIC_RELAXED) +
						      __atomic_load_n(&s->graph_execs.count,
								      __ATOMIC_RELAXED) +
						      __atomic_load_n(&s->ncaptures, __ATOMIC_RELAXED))));
	{
		char why[256];

		json_object_set_new(o, "cuda_graphs_unmovable", srv_graph_held(s, why, sizeof(why)) < 0
								? json_string(why) : json_null());
	}
	json_object_set_new(o, "cuda_graphs_host_copies",
			    json_integer(atomic_load(&s->graphs_host)));
	json_object_set_new(o, "cuda_graphs_pending",
			    json_integer(atomic_load(&s->graphs_pending)));
	json_object_set_new(o, "gpu_free_bytes", json_integer((json_int_t)free_b));
	json_object_set_new(o, "compute_capability",
			    json_pack("[i,i]", s->gpu_info.major, s->gpu_info.minor));
	return o;
}

static const struct ctl_method methods[] = {
	{ "hello", m_hello, false },
	{ "status", m_status, false },
};

const struct ctl_method *ctl_method_find(const char *name)
{
	const struct ctl_method *m;
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	for (m = srv_move_methods; m->name; m++)
		if (!strcmp(m->name, name))
			return m;
	for (m = srv_ccl_methods; m->name; m++)
		if (!strcmp(m->name, name))
			return m;
	return NULL;
}
