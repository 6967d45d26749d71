/*
 * cmd-migrate.c - xmig migrate --job J [--rank R] --to [NODE:]gpuN[,...]
 *                 [--zero-copy] [--dry-run] [--json]
 *
 * One target takes every process moved; a list gives each rank of the job
 * its own, in rank order (a job of two ranks on two GPUs moves to a fresh
 * pair of proxies with --to gpu0,gpu1).
 *
 * Moves the GPU context of each process of the job to another GPU of this
 * node, or to a fresh proxy on the same GPU:
 *
 *   precheck   the target GPU exists, has the same compute capability and
 *              enough free memory (a standby proxy is started there)
 *   prepare    while the job runs, the old proxy offers its state behind a
 *              one-time token; the new one reads the memory map and fat
 *              binaries, maps its memory, loads the modules and starts
 *              its workers ahead (they wait for the resume)
 *   quiesce    the new proxy is told to take the state, and says GO to the
 *              old one, which freezes then and drains its GPU (for this
 *              command's connection; an older proxy is asked directly)
 *   transfer   the new proxy takes what changed and the memory
 *              (zero-copy: the same physical memory; else a device-to-device
 *              or peer copy)
 *   restore    modules, kernels, variables, streams, events, limits, pinned
 *              memory are recreated under the same ids
 *   resume     the old proxy hands the channel over (the commit point) and
 *              the new one serves the requests that waited, the two
 *              settling it between themselves at the end of the transfer
 *   cleanup    the old proxy exits and frees its GPU
 *
 * Any failure before the handover thaws the old proxy: the job goes on
 * where it was. The old proxy's freeze is held by this command's
 * connection, so that holds if this command is killed too.
 *
 * A job whose ranks share NCCL communicators (migrate_cut): precheck and
 * prepare for each rank moved while the job runs, then every rank stopped
 * at one cut (cut.c), quiesce to resume for each rank moved, the
 * communicators re-linked, every rank thawed.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../proxy/server/device.h"
#include "cluster.h"
#include "cut.h"
#include "move.h"

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 't':
		/* (the last would win: several ranks' targets go as one list) */
		if (o->to)
			argp_error(state, "--to given twice; give one, or one list for several "
				   "ranks: --to gpu1,gpu2");
		o->to = arg;
		return 0;
	case 'n':
		o->dry_run = true;
		return 0;
	case 'z':
		o->zero_copy = true;
		return 0;
	case 'T':
		if (xmig_parse_long(arg, 1, 86400000, &o->timeout_ms) < 0)
			argp_error(state, "invalid timeout '%s' (milliseconds)", arg);
		return 0;
	case ARGP_KEY_END:
		if (!o->to)
			argp_error(state, "--to [NODE:]gpuN[,...] is required");
		return 0;
	default:
		return move_parse_default(key, arg, state);
	}
}

static const struct argp_option options[] = {
	{ "to", 't', "[NODE:]gpuN[,...]", 0,
	  "Where to move the job's GPU context: one target, or one per rank in rank order", 0 },
	{ "zero-copy", 'z', NULL, 0, "Same GPU only: the new proxy maps the very same memory", 0 },
	{ "dry-run", 'n', NULL, 0, "Check and print what would happen; move nothing", 0 },
	{ "timeout", 'T', "MS", 0,
	  "Call the move off (the job goes on where it was) if the ranks are not stopped at a "
	  "cut, or the frozen job not moved, within MS (default: 60 s, and for the transfer "
	  "1 s more per 100 MiB of the job's memory)", 0 },
	{ 0 }
};

static const struct argp_child children[] = { { &move_common_argp, 0, NULL, 0 }, { 0 } };

static const struct argp argp = {
	options, parse_opt, NULL,
	"Move a running job's GPU context to another GPU, or to a fresh proxy on the same GPU, "
	"without stopping it. Any failure before the switch leaves the job running where it "
	"was.", children, NULL, NULL
};

static double ms_since(uint64_t t)
{
	return (double)(xmig_now_ns() - t) / 1e6;
}

/* Where the job goes. */
struct dest {
	const struct xmig_node *node;   /* another node; NULL: this one */
	int gpu;
	struct xmig_gpu_info info;      /* this node's GPU (local targets) */
	json_t *remote_gpu;             /* the other node's GPU, as it says */
	char exec_addr[300];            /* host:port of the executor started there */
	int exec_pid;
	char token[33];                 /* for that executor */
};

/* Is the target GPU on the other node there, and what is it like? */
static int check_remote_gpu(struct dest *d, const char *kind)
{
	static const char *const args[] = { "nodes", "--local", "--json", NULL };
	json_t *doc = cluster_xmig_json(d->node, args), *n, *g;
	size_t i;

	if (!doc) {
		xmig_error("node %s cannot be reached through its prefix", d->node->name);
		return XMIG_EXIT_UNAVAILABLE;
	}
	n = json_array_get(json_object_get(doc, "nodes"), 0);
	if (strcmp(json_string_value(json_object_get(n, "device")) ?: "", kind)) {
		xmig_error("node %s runs %s GPUs, the job %s", d->node->name,
			   json_string_value(json_object_get(n, "device")) ?: "no", kind);
		json_decref(doc);
		return XMIG_EXIT_REFUSED;
	}
	json_array_foreach(json_object_get(n, "gpus"), i, g) {
		if (json_integer_value(json_object_get(g, "index")) == d->gpu) {
			d->remote_gpu = json_incref(g);
			json_decref(doc);
			return 0;
		}
	}
	xmig_error("node %s has no GPU %d", d->node->name, d->gpu);
	json_decref(doc);
	return XMIG_EXIT_NOTFOUND;
}

/* Start an executor on the other node, through its prefix. */
static int start_executor(struct dest *d, const char *kind)
{
	char proxy[4096], gpu[16], input[40], *out = NULL;
	const char *argv[12];
	int port = 0, pid = 0, st;

	snprintf(proxy, sizeof(proxy), "%s/../libexec/xmig/xmig-proxy", xmig_self_dir());
	snprintf(gpu, sizeof(gpu), "%d", d->gpu);
	move_token(d->token);
	snprintf(input, sizeof(input), "%s\n", d->token);
	argv[0] = proxy;
	argv[1] = "--serve-remote";
	argv[2] = "--gpu";
	argv[3] = gpu;
	argv[4] = "--device";
	argv[5] = kind;
	argv[6] = "--listen";
	argv[7] = d->node->address;
	argv[8] = NULL;
	st = xmig_node_run(d->node, (char *const *)argv, input, &out);
	if (st != 0 || !out || sscanf(out, "port %d pid %d", &port, &pid) != 2 || port <= 0) {
		xmig_error("node %s: could not start an executor for GPU %d (status %d)",
			   d->node->name, d->gpu, st);
		free(out);
		return XMIG_EXIT_UNAVAILABLE;
	}
	free(out);
	d->exec_pid = pid;
	snprintf(d->exec_addr, sizeof(d->exec_addr), strchr(d->node->address, ':') ? "[%s]:%d"
										: "%s:%d",
		 d->node->address, port);
	return 0;
}

static void stop_executor(struct dest *d)
{
	char pid[16];
	const char *argv[] = { "kill", pid, NULL };

	/* It exits by itself once its bridge goes; this is for one that never came. */
	if (d->node && d->exec_pid > 0) {
		snprintf(pid, sizeof(pid), "%d", d->exec_pid);
		xmig_node_run(d->node, (char *const *)argv, NULL, NULL);
	}
}

/* What a move does ahead, while the job runs: its standby started, the state offered and prepared. */
struct move_ahead {
	struct xmig_conn *nc;         /* the standby proxy's connection (NULL: none) */
	json_t *offer;
	json_t *run_ahead;            /* what the standby ran of the job's first uses */
	int spid, objects;
	int refreshes;                /* of the prelude, ahead (-1: the standby did not say) */
	bool at_go;                   /* the old proxy freezes at the new one's GO */
	char token[33];
	struct move_remote rem;
	uint64_t t_start;
	double t_precheck, t_standby, t_prepare;
	/* where from and to, and how: what move_ahead found */
	const char *from_node, *to_node, *mode;
	int from;
	uint64_t mapped;
};

/*
 * A move's standby let go of before its freeze: its proxy exits with the
 * connection (an executor with it). thaw_offer: withdraw the old proxy's
 * offer (not while a cut holds it: its thaw does that).
 */
static void move_ahead_drop(struct proc *p, struct dest *d, struct move_ahead *a, bool thaw_offer)
{
	if (thaw_offer && a->offer) {
		int ignored;

		json_decref(move_call(p, p->conn, "thaw", json_pack("{s:s}", "held", "connection"),
				      10000, &ignored));
	}
	xmig_conn_close(a->nc);
	a->nc = NULL;
	if (a->spid > 0)
		waitpid(a->spid, NULL, WNOHANG);
	stop_executor(d);
	json_decref(a->offer);
	a->offer = NULL;
	json_decref(a->run_ahead);
	a->run_ahead = NULL;
}

/*
 * Say how a move that failed left the process; its exit status. gone: the
 * job's process was gone when the move failed; handed_over: the old proxy
 * may have handed the job over by then; lost: the old proxy could not be
 * thawed after the transfer began.
 */
static int not_moved(struct proc *p, bool gone, bool handed_over, bool lost,
		     const char *from_node, int from, int status)
{
	if (p->held_by_another) {   /* where it goes on is that command's to say */
		xmig_error("%s: not moved by this command", p->label);
	} else if (gone && !handed_over) {
		xmig_error("%s: the job ended during the move; nothing was moved", p->label);
		return XMIG_EXIT_NOTFOUND;
	} else if (lost && gone) {
		/* (which came first, its end or the new proxy's, cannot be told here) */
		xmig_error("%s: the move failed and the job is gone: it ended, or it lost its new "
			   "proxy after the handover (see above)", p->label);
	} else if (lost) {
		xmig_error("%s: the move failed and the old proxy could not be thawed: it had handed "
			   "the job over to the new proxy, which failed, or it is gone (see above)",
			   p->label);
	} else {
		xmig_error("%s: not moved; it goes on on %s:gpu%d", p->label, from_node, from);
	}
	return status ? status : XMIG_EXIT_FAIL;
}

/*
 * The part of a move that runs while the job does: the precheck, a standby
 * proxy, the offer, and the standby's prepare (it maps the memory and makes
 * the objects ahead). relink: the process's communicators of several ranks
 * are re-linked at a cut (the standby leaves them). On failure it says so
 * and lets everything go: the job goes on where it was. With --dry-run only
 * the precheck runs (*out: what would move).
 */
static int move_ahead(struct proc *p, const struct move_opts *o, struct dest *d, bool relink,
		      struct move_ahead *a, json_t **out)
{
	json_t *st = p->status, *r, *hello;
	const char *kind = json_string_value(json_object_get(st, "device"));
	const char *from_node = json_string_value(json_object_get(st, "node"));
	const char *to_node = d->node ? d->node->name : xmig_hostname();
	int from = (int)json_integer_value(json_object_get(st, "gpu"));
	uint64_t mapped = (uint64_t)json_integer_value(json_object_get(st, "device_mapped_bytes"));
	bool src_remote = json_is_true(json_object_get(st, "remote"));
	bool stream = src_remote || d->node;
	bool zero = o->zero_copy, gone;
	const char *mode = zero ? "zero-copy" : stream ? "stream" : "copy";
	char env[64];
	uint64_t free_b;
	char mb[32], fb[32], cc[32];
	int status;
	enum xmig_move_reach reach;
	char why[512];

	*a = (struct move_ahead){ .t_start = xmig_now_ns(), .from_node = from_node,
				  .to_node = to_node, .mode = mode, .from = from, .mapped = mapped,
				  .refreshes = -1 };
	*out = NULL;
	if (strcmp(json_string_value(json_object_get(st, "state")), "running") &&
	    strcmp(json_string_value(json_object_get(st, "state")), "frozen")) {
		xmig_error("%s is %s: only a running or frozen job moves", p->label,
			   json_string_value(json_object_get(st, "state")));
		return XMIG_EXIT_REFUSED;
	}
	/* (another node: one that is not this, the application's) */
	reach = xmig_move_limit(st, why, sizeof(why));
	if (reach == XMIG_MOVE_NOWHERE || (reach == XMIG_MOVE_IN_NODE && d->node)) {
		xmig_error("%s: %s%s", p->label, why,
			   reach == XMIG_MOVE_IN_NODE ? " (it moves to another GPU of its node)" : "");
		return XMIG_EXIT_REFUSED;
	}
	if (d->node) {
		if ((status = check_remote_gpu(d, kind)))
			return status;
		free_b = (uint64_t)json_integer_value(json_object_get(d->remote_gpu,
								      "memory_free_bytes"));
		snprintf(cc, sizeof(cc), "[%lld,%lld]",
			 (long long)json_integer_value(json_array_get(json_object_get(d->remote_gpu,
				"compute_capability"), 0)),
			 (long long)json_integer_value(json_array_get(json_object_get(d->remote_gpu,
				"compute_capability"), 1)));
	} else {
		if ((status = move_check_gpu(kind, d->gpu, &d->info)))
			return status;
		free_b = d->info.free_bytes;
		snprintf(cc, sizeof(cc), "[%d,%d]", d->info.major, d->info.minor);
	}
	if (zero && (stream || from != d->gpu)) {
		xmig_error("%s: --zero-copy maps the same memory, so it only moves to the GPU the "
			   "job is on (%s:gpu%d)", p->label, from_node, from);
		return XMIG_EXIT_REFUSED;
	}
	{
		char want[32];
		json_t *have = json_object_get(st, "compute_capability");

		snprintf(want, sizeof(want), "[%lld,%lld]",
			 (long long)json_integer_value(json_array_get(have, 0)),
			 (long long)json_integer_value(json_array_get(have, 1)));
		if (strcmp(want, cc)) {
			xmig_error("%s: %s:gpu%d has compute capability %s, the job needs %s",
				   p->label, to_node, d->gpu, cc, want);
			return XMIG_EXIT_REFUSED;
		}
	}
	if (!zero && free_b < mapped) {
		xmig_error("%s: %s:gpu%d has %s free, the job needs %s; nothing was moved", p->label,
			   to_node, d->gpu, xmig_format_bytes(free_b, fb, sizeof(fb)),
			   xmig_format_bytes(mapped, mb, sizeof(mb)));
		return XMIG_EXIT_REFUSED;
	}
	a->t_precheck = ms_since(a->t_start);
	if (o->dry_run) {
		*out = json_pack("{s:O, s:O, s:{s:s, s:i}, s:{s:s, s:i}, s:s, s:I, s:b}", "job",
				 json_object_get(st, "job"), "rank", json_object_get(st, "rank"),
				 "from", "node", from_node, "gpu", from, "to", "node", to_node, "gpu",
				 d->gpu, "mode", mode, "device_bytes",
				 json_integer_value(json_object_get(st, "device_bytes")), "dry_run", 1);
		if (!o->json)
			printf("%s: would move from %s:gpu%d to %s:gpu%d (%s, %s)\n", p->label,
			       from_node, from, to_node, d->gpu, mode,
			       xmig_format_bytes(mapped, mb, sizeof(mb)));
		return 0;
	}

	/* A standby proxy here; its GPU here, or on the other node via an executor. */
	if (d->node) {
		if ((status = start_executor(d, kind)))
			return status;
		a->rem = (struct move_remote){ d->exec_addr, d->node->name, kind, d->token };
	}
	/* in the job's environment, as its proxy has it */
	snprintf(env, sizeof(env), "/proc/%lld/environ",
		 (long long)json_integer_value(json_object_get(st, "proxy_pid")));
	a->nc = move_start_standby(json_string_value(json_object_get(st, "job")),
				(int)json_integer_value(json_object_get(st, "rank")),
				(int)json_integer_value(json_object_get(st, "pid")),
				json_string_value(json_object_get(st, "keeper")), kind, d->gpu,
				json_real_value(json_object_get(st, "share")), d->node ? &a->rem : NULL,
				env, &a->spid);
	if (!a->nc || !(hello = move_call(p, a->nc, "hello", NULL, 120000, &status))) {
		xmig_error("%s: no proxy could start for %s:gpu%d (see above); the job goes on on "
			   "%s:gpu%d", p->label, to_node, d->gpu, from_node, from);
		status = XMIG_EXIT_UNAVAILABLE;
		goto fail;
	}
	json_decref(hello);
	a->t_standby = ms_since(a->t_start) - a->t_precheck;

	/*
	 * Ahead, while the job runs: the target maps its memory and loads the
	 * modules, so that the frozen part is only the copy and the switch.
	 */
	move_token(a->token);
	a->offer = move_call(p, p->conn, "offer", json_pack("{s:s, s:b, s:b}", "token", a->token,
							 "stream", stream, "freeze", 1),
			  10000, &status);
	if (!a->offer)
		goto fail;
	/* (a proxy older than this command: it freezes when asked, as it always did) */
	a->at_go = json_is_true(json_object_get(a->offer, "freeze_at_go"));
	r = move_call(p, a->nc, "prepare",
		      json_pack("{s:O, s:s, s:s, s:b}", "path", json_object_get(a->offer, "path"),
				"token", a->token, "mode", mode, "ccl_relink", relink), -1, &status);
	if (!r) {
		if (status == XMIG_EXIT_UNAVAILABLE)
			status = XMIG_EXIT_FAIL;
		goto fail;
	}
	a->objects = (int)json_integer_value(json_object_get(r, "objects_ahead"));
	a->refreshes = json_is_integer(json_object_get(r, "refreshes"))
			       ? (int)json_integer_value(json_object_get(r, "refreshes")) : -1;
	a->run_ahead = json_incref(json_object_get(r, "run_ahead"));
	json_decref(r);
	a->t_prepare = ms_since(a->t_start) - a->t_precheck - a->t_standby;
	return 0;

fail:
	gone = cut_job_ended(p, 1);
	/* (an offer made at GO: no freeze yet, only the offer goes) */
	move_ahead_drop(p, d, a, a->at_go && !relink);
	return not_moved(p, gone, false, false, from_node, from, status);   /* (no handover yet) */
}

/*
 * Move one process. keep: NULL for a process of its own; else its ranks
 * are frozen at a cut by the caller, the new proxy leaves the communicators
 * of several ranks to be re-linked, resumes frozen, and its connection
 * is handed back in *keep once it serves the job. a: what move_ahead did
 * (NULL: do it now); the standby is let go of (or handed back) either way.
 */
static int migrate_one(struct proc *p, const struct move_opts *o, struct dest *d, json_t **out,
		       struct xmig_conn **keep, struct move_ahead *a)
{
	json_t *st = p->status, *r, *recv = NULL, *offer;
	const char *from_node, *to_node, *mode;
	int from;
	uint64_t mapped;
	struct move_ahead now;
	struct xmig_conn *nc;
	uint64_t t_start, t_freeze = 0;
	double t_quiesce = 0, t_transfer = 0, t_handover = 0, in_freeze = 0;
	json_int_t freeze_id, recv_id, froze_at = 0, serving_at;
	int wait_freeze, wait_recv;
	const char *token, *job = json_string_value(json_object_get(p->status, "job"));
	char mb[32];
	int status = 0;
	long limit;
	uint64_t by_size;
	bool frozen_here = false, lost = false, handed_over_maybe = false, gone, at_go;
	bool timed_out = false;

	*out = NULL;
	if (!a) {
		if ((status = move_ahead(p, o, d, keep != NULL, &now, out)) || o->dry_run)
			return status;
		a = &now;
	}
	from_node = a->from_node;
	to_node = a->to_node;
	mode = a->mode;
	from = a->from;
	mapped = a->mapped;
	nc = a->nc;
	offer = a->offer;
	at_go = a->at_go;
	token = a->token;
	t_start = a->t_start;

	/*
	 * quiesce, transfer and restore in one call: the new proxy says GO
	 * and the old one freezes then (held by our connection, as the offer
	 * is, so our death thaws it) and sends its state. The transfer
	 * commits: once the new proxy has everything, the old one hands the
	 * channel over to it (the commit point) and it resumes, with no
	 * round trips through us. An older proxy is asked for its freeze at
	 * the same time instead.
	 */
	/* (a new proxy that hangs once the job is frozen: past this, the move is called off) */
	by_size = 60000 + mapped / (100ull << 20) * 1000;
	limit = o->timeout_ms > 0 ? o->timeout_ms : by_size < INT_MAX ? (long)by_size : INT_MAX;
	t_freeze = xmig_now_ns();
	xmig_move_trace("migrate: receive asked");
	if (!at_go)
		wait_freeze = move_send(p->conn, "freeze", json_pack("{s:s}", "hold", "connection"),
					&freeze_id, -1);
	move_show_progress(nc, p->label);
	handed_over_maybe = true;   /* until the new proxy answers */
	wait_recv = move_send(nc, "receive",
			      json_pack("{s:O, s:s, s:s, s:b, s:b, s:b}", "path",
					json_object_get(offer, "path"), "token", token, "mode",
					mode, "ccl_relink", keep != NULL, "commit", 1, "frozen",
					/* (a cut's rank stays frozen for the re-link, the old
					 * proxy's answer lost or not) */
					keep != NULL ||
					!strcmp(json_string_value(json_object_get(st, "state")),
						"frozen")),
			      &recv_id, (int)limit);
	if (!at_go) {
		r = move_wait(p, p->conn, "freeze", freeze_id, wait_freeze, &status);
		if (!r)
			goto rollback;   /* (the offer goes with our connection; the receive fails) */
		frozen_here = !json_is_true(json_object_get(r, "was_frozen"));
		froze_at = json_integer_value(json_object_get(r, "froze_at_ns"));
		t_quiesce = ms_since(t_freeze);
		in_freeze = json_real_value(json_object_get(r, "freeze_s")) * 1e3;
		json_decref(r);
	}
	recv = move_wait(p, nc, "receive", recv_id, wait_recv, &status);
	if (!recv) {
		/* The target failed us (it died, refused, or took too long): the move failed. */
		if (status == XMIG_EXIT_UNAVAILABLE)
			status = XMIG_EXIT_FAIL;
		else
			handed_over_maybe = false;   /* it answered: it does not hold the job */
		timed_out = ms_since(t_freeze) >= (double)limit;
		if (timed_out)
			xmig_error("%s: the new proxy did not finish the move within %ld ms (--timeout): "
				   "called off", p->label, limit);
		goto rollback;
	}
	xmig_move_trace("migrate: receive answered");
	if (at_go) {
		frozen_here = !json_is_true(json_object_get(recv, "was_frozen"));
		froze_at = json_integer_value(json_object_get(recv, "froze_at_ns"));
		in_freeze = t_quiesce = json_real_value(json_object_get(recv, "freeze_s")) * 1e3;
	}
	t_handover = json_real_value(json_object_get(recv, "handover_s")) * 1e3;
	t_transfer = ms_since(t_freeze) - t_quiesce - t_handover;
	if (xmig_move_tracing())
		fprintf(stderr, "xmig: downtime: %s %.3f ms (in the proxy %.3f), receive "
			"call %.3f ms (in the proxy %.3f, its handover and resume %.3f)\n",
			at_go ? "freeze at GO" : "freeze call", t_quiesce, in_freeze,
			t_transfer + t_handover,
			json_real_value(json_object_get(recv, "total_s")) * 1e3, t_handover);
	if (!json_is_true(json_object_get(recv, "resumed")))
		/* Past the commit point: the new proxy resumes when we let go. */
		xmig_warn("%s: the new proxy will resume on its own", p->label);
	*out = json_pack("{s:O, s:O, s:{s:s, s:i}, s:{s:s, s:i}, s:s, s:I, s:I, s:f, s:f, "
			 "s:{s:f, s:f, s:f, s:f, s:f, s:f}}",
			 "job", json_object_get(st, "job"), "rank", json_object_get(st, "rank"),
			 "from", "node", from_node, "gpu", from, "to", "node", to_node, "gpu", d->gpu,
			 "mode", mode,
			 "device_bytes", json_integer_value(json_object_get(recv, "device_bytes")),
			 "moved_bytes", json_integer_value(json_object_get(recv, "moved_bytes")),
			 "downtime_ms", ms_since(t_freeze), "total_ms", ms_since(t_start),
			 "phases_ms", "precheck", a->t_precheck, "standby", a->t_standby,
			 "prepare", a->t_prepare, "quiesce", t_quiesce, "transfer", t_transfer,
			 "handover", t_handover);
	/*
	 * The job's own pause, by the proxies' clocks (CLOCK_MONOTONIC, both
	 * on this node): from the old proxy taking no more calls to the new
	 * one's workers serving. Unknown for a job that stays frozen.
	 */
	serving_at = json_integer_value(json_object_get(recv, "serving_at_ns"));
	json_object_set_new(*out, "paused_ms", froze_at > 0 && serving_at > froze_at ?
			    json_real((double)(serving_at - froze_at) / 1e6) : json_null());
	/* (when, on the job's own timeline: a benchmark finds the job's call that waited) */
	json_object_set_new(*out, "resumed_at_ns", froze_at > 0 && serving_at > froze_at ?
			    json_integer(serving_at) : json_null());
	/* Objects (streams, handles, plans...): made ahead, kept, made while frozen. */
	json_object_set_new(*out, "objects",
			    json_pack("{s:i, s:i, s:i}", "ahead", a->objects, "kept",
				      (int)json_integer_value(json_object_get(
					      json_object_get(recv, "objects"), "kept")),
				      "made",
				      (int)json_integer_value(json_object_get(
					      json_object_get(recv, "objects"), "made"))));
	if (a->refreshes >= 0)
		json_object_set_new(json_object_get(*out, "objects"), "refreshes",
				    json_integer(a->refreshes));
	/* (a standby older than this command says nothing of them) */
	if (json_is_object(a->run_ahead))
		json_object_set(*out, "run_ahead", a->run_ahead);
	if (!o->json) {
		char paused[48] = "";

		if (json_is_real(json_object_get(*out, "paused_ms")))
			snprintf(paused, sizeof(paused), " (the job paused %.1f ms)",
				 json_real_value(json_object_get(*out, "paused_ms")));
		printf("%s: moved from %s:gpu%d to %s:gpu%d (%s, %s) in %.0f ms, downtime %.1f ms%s\n",
		       p->label, from_node, from, to_node, d->gpu, mode,
		       xmig_format_bytes(mapped, mb, sizeof(mb)), ms_since(t_start),
		       json_real_value(json_object_get(*out, "downtime_ms")), paused);
	}
	json_decref(recv);
	json_decref(offer);
	a->offer = NULL;
	if (job)
		xmig_handover_unmark(job, token);   /* (the old proxy's, made at the handover) */
	if (keep)
		*keep = nc;
	else
		xmig_conn_close(nc);
	a->nc = NULL;
	return 0;

rollback:
	/*
	 * Gone already when the move failed, and never handed over: the job
	 * ended (its proxies follow their process). Not when the new proxy
	 * went without an answer after the old one marked its handover: the
	 * job then ends for want of it, which is the move's failure.
	 */
	if (handed_over_maybe && job && !xmig_handover_marked(job, token))
		handed_over_maybe = false;   /* the old proxy never got to hand it over */
	gone = cut_job_ended(p, 1);
	if (job)
		xmig_handover_unmark(job, token);
	/* (a freeze made at GO: perhaps; only one our connection holds is thawed) */
	if (frozen_here || (at_go && !recv && !keep)) {
		int ignored;
		json_t *t = move_call(p, p->conn, "thaw",
				      at_go ? json_pack("{s:s}", "held", "connection") : NULL, 10000,
				      &ignored);

		/* No thaw once the transfer began: handed over (and the new one failed), or gone. */
		lost = !t && offer && !recv;
		/*
		 * (thawed, the old proxy serves the job and the new one can no
		 * longer take it: one that hangs will not exit with its
		 * connection, so it is ended)
		 */
		if (t && timed_out && a->spid > 0)
			kill(a->spid, SIGKILL);
		json_decref(t);
	}
	/* The standby proxy exits when its connection closes, and its executor with it. */
	move_ahead_drop(p, d, a, false);
	json_decref(recv);
	return not_moved(p, gone, handed_over_maybe, lost, from_node, from, status);
}

/* The targets of --to: one for every process, or one per rank. */
#define MAX_DESTS 64
struct dests {
	struct dest d[MAX_DESTS];
	size_t n;
};

/* Process p's target: the only one, or the one in its rank's place among procs. */
static struct dest *dest_of(struct dests *ds, const struct proc *procs, size_t n,
			    const struct proc *p)
{
	json_int_t rank = json_integer_value(json_object_get(p->status, "rank"));
	size_t below = 0;

	if (ds->n == 1)
		return &ds->d[0];
	for (size_t i = 0; i < n; i++)
		below += json_integer_value(json_object_get(procs[i].status, "rank")) < rank;
	return &ds->d[below];
}

/* Parse --to; an exit status on error. */
static int parse_dests(const char *to, const struct xmig_nodes *nodes, struct dests *ds)
{
	char *copy = strdup(to), *rest = copy, *one;
	int status = 0;

	memset(ds, 0, sizeof(*ds));
	if (!copy)
		return XMIG_EXIT_FAIL;
	/* (strsep, not strtok: "gpu1," names an empty target, an error) */
	while (!status && (one = strsep(&rest, ","))) {
		struct xmig_target t;
		struct dest *d = &ds->d[ds->n];

		if (ds->n == MAX_DESTS) {
			xmig_error("--to names more than %d targets", MAX_DESTS);
			status = XMIG_EXIT_USAGE;
		} else if (xmig_target_parse(one, &t) < 0) {
			xmig_error("bad target '%s': want gpuN or NODE:gpuN", one);
			status = XMIG_EXIT_USAGE;
		} else {
			d->gpu = t.gpu;
			if (t.node[0] && !xmig_node_is_self(t.node) &&
			    !(d->node = xmig_nodes_find(nodes, t.node))) {
				xmig_error("unknown node '%s' (not in %s)", t.node,
					   nodes->path[0] ? nodes->path : "any node list: see --nodes");
				status = XMIG_EXIT_NOTFOUND;
			}
			ds->n++;
		}
	}
	if (!status && !ds->n) {
		xmig_error("bad target '%s': want gpuN or NODE:gpuN", to);
		status = XMIG_EXIT_USAGE;
	}
	free(copy);
	return status;
}

/* A list of targets must name one for each process moved. */
static int check_dest_count(const struct dests *ds, const struct move_opts *o, size_t n)
{
	if (ds->n == 1 || ds->n == n)
		return 0;
	xmig_error("job %s has %zu processes to move and --to names %zu targets (one, or one per "
		   "rank in rank order)", o->job, n, ds->n);
	return XMIG_EXIT_USAGE;
}

/* Is p one of the ranks this command moves? */
static bool chosen(const struct move_opts *o, const struct proc *p)
{
	return o->rank < 0 || json_integer_value(json_object_get(p->status, "rank")) == o->rank;
}

/*
 * May rank i's standby start ahead of the cut? On this node; onto a GPU
 * that another rank moved here leaves only if that GPU holds, besides
 * what it holds now, every standby bound for it: done one after the
 * other, the leaving rank would be gone first (a swap of two large ranks
 * would fit that way only).
 */
static bool ahead_fits(struct proc *all, size_t n, size_t i, const struct move_opts *o,
		       struct dests *ds)
{
	const struct dest *d = dest_of(ds, all, n, &all[i]);
	const char *kind = json_string_value(json_object_get(all[i].status, "device"));
	struct xmig_gpu_info info;
	uint64_t need = 0;
	bool vacated = false;

	if (d->node || o->dry_run)
		return false;
	for (size_t j = 0; j < n; j++) {
		const char *node = json_string_value(json_object_get(all[j].status, "node"));
		const struct dest *dj = dest_of(ds, all, n, &all[j]);

		if (!chosen(o, &all[j]))
			continue;
		if (!dj->node && dj->gpu == d->gpu && !o->zero_copy)
			need += (uint64_t)json_integer_value(json_object_get(all[j].status,
									     "device_mapped_bytes"));
		vacated |= j != i && xmig_node_is_self(node ? node : "") &&
			   json_integer_value(json_object_get(all[j].status, "gpu")) == d->gpu &&
			   dj->gpu != d->gpu;
	}
	return !vacated || (kind && !move_check_gpu(kind, d->gpu, &info) && info.free_bytes >= need);
}

/*
 * With every chosen rank's standby ready: the job's communicators built
 * and connected ahead where its ranks will be (cut_prelink); NULL when a
 * standby starts only at the cut, or XMIG_CCL_PRELINK=0.
 */
static json_t *prelink(struct proc *all, size_t n, const struct move_opts *o, struct dests *ds,
		       struct move_ahead *ah)
{
	struct cut_place *at = calloc(n, sizeof(*at));
	const char *env = getenv("XMIG_CCL_PRELINK");
	json_t *ahead = NULL;
	size_t i;

	if (!at || (env && !strcmp(env, "0")))
		goto out;
	for (i = 0; i < n; i++) {
		const struct dest *d = dest_of(ds, all, n, &all[i]);

		if (chosen(o, &all[i]) && !ah[i].nc)
			goto out;
		at[i] = chosen(o, &all[i])
				? (struct cut_place){ ah[i].nc, xmig_hostname(), d->gpu }
				: (struct cut_place){ all[i].conn,
						      json_string_value(json_object_get(
							      all[i].status, "node")) ?: "",
						      (int)json_integer_value(json_object_get(
							      all[i].status, "gpu")) };
	}
	ahead = cut_prelink(all, n, at);
out:
	free(at);
	return ahead;
}

/*
 * A job whose ranks share NCCL communicators: the chosen ranks' standbys
 * started and prepared ahead while the job runs (where ahead_fits), and
 * with them the new communicators built and connected (prelink), all
 * ranks frozen at one cut, the chosen ranks moved, every communicator of
 * several ranks re-linked from a fresh id (the one built ahead, if every
 * rank went where it was built), all thawed. The ranks are held at the
 * cut only for the transfers and the re-link, not for the standbys' start,
 * NCCL's warm-up and its connections (a second or so). Before the first
 * handover any failure thaws every rank where it was; after it the ranks
 * that moved stay moved, the communicators are re-linked over where each
 * rank now is.
 */
static int migrate_cut(struct proc *all, size_t n, const struct move_opts *o, struct dests *ds,
		       json_t *items, json_t *comms)
{
	struct move_ahead *ah = calloc(n, sizeof(*ah));
	json_t *reports = NULL, *ahead = NULL;
	size_t moved = 0, wanted = 0, i;
	int status = 0, st;
	bool thawed = false;
	sigset_t stops, before;

	if (!ah)
		return xmig_error("out of memory"), XMIG_EXIT_FAIL;
	for (i = 0; i < n && !status; i++) {
		json_t *none = NULL;

		if (chosen(o, &all[i]) && ahead_fits(all, n, i, o, ds))
			status = move_ahead(&all[i], o, dest_of(ds, all, n, &all[i]), true, &ah[i],
					    &none);
		json_decref(none);
	}
	if (!status)
		ahead = prelink(all, n, o, ds, ah);
	xmig_move_trace("migrate: cut asked");
	if (status)
		xmig_error("job %s: nothing was moved; every rank goes on where it was", o->job);
	else if ((status = cut_freeze(all, n, o->timeout_ms > 0 ? o->timeout_ms : 60000, &reports,
				      &thawed))) {
		if (cut_job_ended(all, n)) {
			xmig_error("job %s ended while its ranks were being stopped; nothing was moved",
				   o->job);
			status = XMIG_EXIT_NOTFOUND;
		} else
			xmig_error("job %s: its ranks could not be stopped at a consistent cut; "
				   "nothing was moved, every rank goes on where it was", o->job);
	}
	if (status) {
		/* no rank is frozen: a held thaw takes only the offer */
		for (i = 0; i < n; i++)
			if (ah[i].nc)
				move_ahead_drop(&all[i], dest_of(ds, all, n, &all[i]), &ah[i], true);
		free(ah);
		json_decref(ahead);   /* (what was built ahead goes with our connections) */
		return status;
	}
	xmig_move_trace("migrate: cut made, every rank frozen");
	/*
	 * From here to the thaw, a signal that would end this command waits:
	 * killed once a rank lived on its new proxy, the ranks would stay
	 * frozen apart, their communicators not re-linked (SIGKILL cannot
	 * wait: that window is the one a move of several ranks cannot undo).
	 */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	sigaddset(&stops, SIGQUIT);
	sigprocmask(SIG_BLOCK, &stops, &before);
	for (i = 0; i < n && !status; i++) {
		struct xmig_conn *nc = NULL;
		struct dest *d = dest_of(ds, all, n, &all[i]);
		json_t *r = NULL;

		if (!chosen(o, &all[i]))
			continue;
		wanted++;
		/* the cut's retries thawed the ranks, and their offers with them: made again, frozen */
		if (thawed && ah[i].nc)
			move_ahead_drop(&all[i], d, &ah[i], false);
		status = migrate_one(&all[i], o, d, &r, &nc, ah[i].nc ? &ah[i] : NULL);
		if (r)
			json_array_append_new(items, r);
		json_decref(d->remote_gpu);
		d->remote_gpu = NULL;
		if (status)
			break;
		/* past the switch: this rank lives on its new proxy, frozen */
		xmig_conn_close(all[i].conn);
		all[i].conn = nc;
		json_object_set_new(all[i].status, "node",
				    json_string(d->node ? d->node->name : xmig_hostname()));
		json_object_set_new(all[i].status, "gpu", json_integer(d->gpu));
		moved++;
	}
	/* the ranks not reached: their standbys go (the offers with the thaw below) */
	for (; i < n; i++)
		if (ah[i].nc)
			move_ahead_drop(&all[i], dest_of(ds, all, n, &all[i]), &ah[i], false);
	free(ah);
	if (!moved) {
		cut_thaw(all, n);
		sigprocmask(SIG_SETMASK, &before, NULL);
		json_decref(reports);
		json_decref(ahead);
		xmig_error("job %s: nothing was moved; every rank goes on where it was", o->job);
		return status;
	}
	/* built ahead with the standbys as they were: of use only if every rank went to its own */
	if (thawed || status || moved != wanted) {
		json_decref(ahead);
		ahead = NULL;
	}
	xmig_move_trace("migrate: moved, re-link asked");
	if ((st = cut_relink(all, n, reports, ahead, comms))) {
		xmig_error("job %s: a communicator could not be re-linked after the move; its NCCL "
			   "calls will fail", o->job);
		if (!status)
			status = st;
	}
	xmig_move_trace("migrate: re-linked, thaw asked");
	cut_thaw(all, n);
	xmig_move_trace("migrate: every rank thawed");
	sigprocmask(SIG_SETMASK, &before, NULL);   /* (one that came meanwhile ends us now) */
	json_decref(reports);
	json_decref(ahead);
	return status;
}

/*
 * Does the move need the cut? Then *all: every rank of the job. A job
 * whose communicators have more ranks than run here (a rank exited, or
 * runs on another node) cannot be re-linked: refused, *status.
 */
static bool needs_cut(const struct move_opts *o, struct proc **all, size_t *n, int *status)
{
	struct move_opts every = *o;
	int most;

	every.rank = -1;
	if (move_find(&every, all, n))
		return false;
	most = cut_comm_ranks(*all, *n);
	if (most > (int)*n) {
		xmig_error("job %s: its NCCL communicators have %d ranks, and %zu of them run%s here "
			   "(the others exited, or run on another node): a move could not re-link "
			   "them; nothing was moved", o->job, most, *n, *n == 1 ? "s" : "");
		*status = XMIG_EXIT_REFUSED;
	} else if (most > 1 && !o->dry_run)
		return true;
	move_free(*all, *n);
	*all = NULL;
	*n = 0;
	return false;
}

/* Nothing moved: status, and with --json the empty result with the error. */
static int refused_early(const struct move_opts *o, int status)
{
	if (o->json)
		cmd_print_result(json_pack("{s:[]}", "items"), status);
	return status;
}

static int run(int argc, char **argv)
{
	struct move_opts o = { 0 };
	struct xmig_nodes nodes;
	struct dests ds;
	struct proc *procs;
	json_t *items, *comms;
	size_t n, i;
	int status;

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	/* (refused before anything is looked for: --json says so on stdout too, as later) */
	if (cluster_load(&nodes) < 0)
		return refused_early(&o, XMIG_EXIT_BADINPUT);
	if ((status = parse_dests(o.to, &nodes, &ds))) {
		xmig_nodes_free(&nodes);
		return refused_early(&o, status);
	}
	if (ds.n > 1 && o.rank >= 0) {
		xmig_error("--rank moves one process: give --to one target");
		xmig_nodes_free(&nodes);
		return refused_early(&o, XMIG_EXIT_USAGE);
	}
	/* A child that is our standby proxy must not be killed with us. */
	signal(SIGCHLD, SIG_DFL);
	items = json_array();
	comms = json_array();
	status = move_find(&o, &procs, &n);
	if (!status)
		status = check_dest_count(&ds, &o, n);
	if (!status) {
		struct proc *all;
		size_t nall;

		if (needs_cut(&o, &all, &nall, &status)) {
			move_free(procs, n);
			status = migrate_cut(all, nall, &o, &ds, items, comms);
			procs = NULL;
			n = 0;
			move_free(all, nall);
		}
	}
	for (i = 0; i < n && !status; i++) {
		struct dest *d = dest_of(&ds, procs, n, &procs[i]);
		json_t *r = NULL;

		if (!procs[i].conn) {
			xmig_error("%s is %s: only a running or frozen job moves", procs[i].label,
				   json_string_value(json_object_get(procs[i].status, "state")));
			status = XMIG_EXIT_REFUSED;
			break;
		}
		status = migrate_one(&procs[i], &o, d, &r, NULL, NULL);
		if (r)
			json_array_append_new(items, r);
		json_decref(d->remote_gpu);
		d->remote_gpu = NULL;
	}
	if (!json_array_size(comms)) {
		json_decref(comms);
		comms = NULL;
	}
	if (o.json) {
		cmd_print_result(json_pack("{s:o, s:o*}", "items", items, "communicators", comms),
				 status);
	} else {
		json_decref(items);
		json_decref(comms);
	}
	move_free(procs, n);
	xmig_nodes_free(&nodes);
	return status;
}

const struct xmig_cmd cmd_migrate = { "migrate", "move a running job's GPU context", run };
