/*
 * cut.c - a job's ranks stopped at a consistent cut and re-linked.
 *
 * The proxies do the work (ccl.cut_begin, ccl.cut_advance, ccl.unique_id,
 * ccl.prelink, ccl.relink: proxy/server/srv-ccl.c); this drives them over
 * every rank's control connection. The calls that wait on the other ranks
 * (advancing to the cut: a rank's last collective completes only once its
 * peers post theirs; an NCCL init: it returns only once every rank
 * joined) are made on all ranks at once, one thread per rank.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ccl/ccl.h"
#include "cut.h"

/* One call among several made at once. */
struct pcall {
	struct proc *p;
	const char *method;
	json_t *params;          /* stolen by the call */
	int timeout_ms;
	json_t *res;
	int status;
	pthread_t th;
	bool started;
	bool quiet;              /* a failure is the caller's to tell (msg), not printed */
	char *msg;
};

static void *pcall_run(void *arg)
{
	struct pcall *c = arg;
	int code = 0;

	if (!c->quiet) {
		c->res = move_call(c->p, c->p->conn, c->method, c->params, c->timeout_ms,
				   &c->status);
		return NULL;
	}
	if (xmig_rpc_call(c->p->conn, c->method, c->params, c->timeout_ms, &c->res, &code,
			  &c->msg) < 0)
		c->status = move_exit_status(code) ?: XMIG_EXIT_FAIL;
	return NULL;
}

/* Make the calls concurrently; the first failure's exit status, or 0. */
static int pcall_all(struct pcall *v, size_t n)
{
	int status = 0;

	for (size_t i = 0; i < n; i++)
		v[i].started = pthread_create(&v[i].th, NULL, pcall_run, &v[i]) == 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].started)
			pthread_join(v[i].th, NULL);
		else
			pcall_run(&v[i]);   /* no thread: inline, it may then wait on a peer's time-out */
		if (!v[i].res && !status)
			status = v[i].status ? v[i].status : XMIG_EXIT_FAIL;
	}
	return status;
}

static void pcall_free(struct pcall *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		json_decref(v[i].res);
		free(v[i].msg);
	}
	free(v);
}

int cut_comm_ranks(struct proc *procs, size_t n)
{
	json_int_t most = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *st, *c;
		size_t k;
		int status;

		if (!procs[i].conn || !(st = move_call(&procs[i], procs[i].conn, "ccl.status", NULL,
						       10000, &status)))
			continue;
		json_array_foreach(json_object_get(st, "comms"), k, c)
			if (json_integer_value(json_object_get(c, "nranks")) > most)
				most = json_integer_value(json_object_get(c, "nranks"));
		json_decref(st);
	}
	return most > INT_MAX ? INT_MAX : (int)most;
}

bool cut_needed(struct proc *procs, size_t n)
{
	return cut_comm_ranks(procs, n) > 1;
}

void cut_thaw(struct proc *procs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ignored;

		if (procs[i].conn)
			json_decref(move_call(&procs[i], procs[i].conn, "thaw", NULL, 10000, &ignored));
	}
}

/*
 * cut_begin on one rank, waiting patience_ms for a call in its turn to end.
 * NULL with *again set: still in it (nothing done; not an error to print).
 */
static json_t *begin_one(struct proc *p, long timeout_ms, long patience_ms, bool *again,
			 int *status)
{
	json_t *res = NULL;
	char *msg = NULL;
	int code = 0;

	*again = false;
	if (xmig_rpc_call(p->conn, "ccl.cut_begin",
			  json_pack("{s:I, s:I}", "timeout_ms", (json_int_t)timeout_ms,
				    "patience_ms", (json_int_t)patience_ms),
			  (int)timeout_ms + 10000, &res, &code, &msg) == 0) {
		*status = 0;
		return res;
	}
	if (code == XMIG_RPC_AGAIN)
		*again = true;
	else
		xmig_error("%s: ccl.cut_begin: %s", p->label, msg ? msg : "no answer");
	p->held_by_another |= code == XMIG_RPC_BUSY;
	*status = move_exit_status(code);
	free(msg);
	return NULL;
}

/*
 * Every rank stopped at a call boundary, its report appended to reports.
 * A rank can be in a call that waits, in its turn, for a peer that an
 * earlier rank's cut_begin stopped short of the matching call (NCCL
 * setting up a communicator's connections in its first collective, as
 * after a re-link): it would never get out. So each rank is given a
 * patience; when one runs out, every rank goes on, and the round starts
 * again a moment later with more patience for that rank, until
 * timeout_ms. The patience is each rank's own, and starts again once the
 * rank got out of its call: a late peer holds one rank in a split for
 * seconds, then its own first collective waits briefly for the rank just
 * stopped, and that wait must not be given the seconds the first learnt.
 */
static int begin_all(struct proc *procs, size_t n, long timeout_ms, json_t *reports, bool *thawed)
{
	uint64_t deadline = xmig_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	long *patience = malloc(n * sizeof(*patience));
	bool said = false;
	int status = 0;
	size_t i;

	if (!patience)
		return xmig_error("out of memory"), XMIG_EXIT_FAIL;
	for (i = 0; i < n; i++)
		patience[i] = 100;
	for (;;) {
		long left = (long)(((int64_t)deadline - (int64_t)xmig_now_ns()) / 1000000);
		bool again = false;
		struct proc *held;
		long *p;

		for (i = 0; i < n && !again; i++) {
			json_t *r = begin_one(&procs[i], left > 1 ? left : 1, patience[i], &again,
					      &status);

			if (!r && !again)
				goto out;   /* (the caller lets every rank go) */
			if (r) {
				json_array_append(reports, json_object_get(r, "comms"));
				patience[i] = 100;
			}
			json_decref(r);
		}
		if (!again)
			goto out;
		held = &procs[i - 1];
		p = &patience[i - 1];
		cut_thaw(procs, i - 1);
		*thawed = true;
		json_array_clear(reports);
		xmig_debug("%s held past its patience (%ld ms), %.2f s into the cut", held->label, *p,
			   (double)(xmig_now_ns() + (uint64_t)timeout_ms * 1000000ull - deadline) / 1e9);
		if (!said)
			xmig_info("%s is in a call that waits for its peers (an NCCL set-up: a first "
				  "collective, a split); the ranks run on and are stopped again",
				  held->label);
		said = true;
		if (xmig_now_ns() + (uint64_t)*p * 1000000ull > deadline) {
			xmig_error("%s: ccl.cut_begin: a call of this rank waited for its peers "
				   "through the whole timeout (%ld ms)", held->label, timeout_ms);
			status = XMIG_EXIT_FAIL;
			goto out;
		}
		/* the job runs a little, then more patience */
		usleep((useconds_t)*p * 500);
		*p = *p < 1600 ? *p * 2 : 3200;
	}
out:
	free(patience);
	return status;
}

int cut_freeze(struct proc *procs, size_t n, long timeout_ms, json_t **reports, bool *thawed)
{
	struct pcall *v = calloc(n, sizeof(*v));
	bool ignored;
	json_t *targets = NULL;
	char why[256];
	size_t i;
	int status = 0;

	*reports = json_array();
	if (!v)
		goto oom;
	for (i = 0; i < n; i++) {
		const char *state = json_string_value(json_object_get(procs[i].status, "state"));

		/* a rank frozen or suspended by hand cannot take part in a cut */
		if (!procs[i].conn || strcmp(state ?: "", "running")) {
			xmig_error("%s is %s: the ranks of a job that share NCCL communicators are "
				   "cut together while they all run", procs[i].label, state ?: "gone");
			status = XMIG_EXIT_REFUSED;
			goto fail;
		}
	}
	/* 1. every rank stops at a call boundary and says what it posted */
	if (!thawed)
		thawed = &ignored;
	*thawed = false;
	if ((status = begin_all(procs, n, timeout_ms, *reports, thawed)))
		goto fail;
	/* 2. the targets: no rank stops short of a collective another posted */
	if (!(targets = ccl_cut_targets(*reports, why, sizeof(why)))) {
		xmig_error("the ranks' NCCL counters do not make a cut: %s", why);
		status = XMIG_EXIT_FAIL;
		goto fail;
	}
	/* 3. all run on to it at once, then drain */
	for (i = 0; i < n; i++)
		v[i] = (struct pcall){ &procs[i], "ccl.cut_advance",
				       json_pack("{s:O, s:I}", "targets", targets, "timeout_ms",
						 (json_int_t)timeout_ms), (int)timeout_ms + 10000 };
	if ((status = pcall_all(v, n)))
		goto fail;
	json_decref(targets);
	pcall_free(v, n);
	return 0;
oom:
	xmig_error("out of memory");
	status = XMIG_EXIT_FAIL;
fail:
	cut_thaw(procs, n);
	json_decref(targets);
	pcall_free(v, n);
	json_decref(*reports);
	*reports = NULL;
	return status;
}

bool cut_job_ended(struct proc *procs, size_t n)
{
	/* (ranks found here are this node's processes: see move_find) */
	for (size_t i = 0; i < n; i++) {
		json_int_t pid = json_integer_value(json_object_get(procs[i].status, "pid"));

		if (pid <= 0 || xmig_proc_alive((pid_t)pid, 0))
			return false;
	}
	return true;
}

/* Where a communicator's ranks are, in rank order: its placement for the graph cache. */
static char *layout_of(struct proc *procs, size_t n, json_t *reports, const char *key,
		       int nranks)
{
	size_t cap = (size_t)nranks * 80 + 1, i, k;
	char *s = calloc(1, cap);
	json_t *c;

	for (int r = 0; s && r < nranks; r++)
		for (i = 0; i < n; i++)
			json_array_foreach(json_array_get(reports, i), k, c)
				if (!strcmp(json_string_value(json_object_get(c, "key")) ?: "", key) &&
				    json_integer_value(json_object_get(c, "rank")) == r)
					snprintf(s + strlen(s), cap - strlen(s), "%s%s:gpu%lld",
						 r ? "," : "",
						 json_string_value(json_object_get(procs[i].status,
										   "node")) ?: "",
						 (long long)json_integer_value(
							 json_object_get(procs[i].status, "gpu")));
	return s;
}

/*
 * A call of method (params and timeout to come) for each rank that holds
 * communicator key, by reports (one array of entries per process);
 * entry[] (may be NULL): each one's entry; *root: rank 0's process, or
 * NULL. How many.
 */
static size_t members(struct proc *procs, size_t n, json_t *reports, const char *key,
		      const char *method, struct pcall *v, json_t **entry, struct proc **root)
{
	size_t i, k, m = 0;
	json_t *c;

	*root = NULL;
	for (i = 0; i < n; i++)
		json_array_foreach(json_array_get(reports, i), k, c)
			if (!strcmp(json_string_value(json_object_get(c, "key")) ?: "", key)) {
				if (json_integer_value(json_object_get(c, "rank")) == 0)
					*root = &procs[i];
				if (entry)
					entry[m] = c;
				v[m++] = (struct pcall){ &procs[i], method, NULL, 120000 };
			}
	return m;
}

/*
 * Re-link one communicator on every rank that holds it (ahead: cut_prelink's
 * {id, ahead_ms} for it, or NULL). Appends its line to lines: key, ranks, how.
 */
static int relink_one(struct proc *procs, size_t n, json_t *reports, const char *key,
		      int nranks, json_t *ahead, json_t *lines)
{
	const char *id_ahead = json_string_value(json_object_get(ahead, "id"));
	struct pcall *v = calloc(n, sizeof(*v));
	struct proc *root = NULL;
	char *layout = layout_of(procs, n, reports, key, nranks);
	json_t *idr = NULL, *c;
	size_t i, k, m = 0;
	uint64_t t0;
	int status;

	if (!v || !layout) {
		xmig_error("out of memory");
		status = XMIG_EXIT_FAIL;
		goto out;
	}
	m = members(procs, n, reports, key, "ccl.relink", v, NULL, &root);
	if (!root || m != (size_t)nranks) {
		xmig_error("communicator %s: %zu of its %d ranks are in this job%s", key, m, nranks,
			   root ? "" : ", not its rank 0");
		status = XMIG_EXIT_FAIL;
		goto out;
	}
	/* a fresh id: never the old one, whose root may be gone */
	if (id_ahead)
		idr = json_pack("{s:s}", "id", id_ahead);
	else if (!(idr = move_call(root, root->conn, "ccl.unique_id", NULL, 30000, &status)))
		goto out;
	for (i = 0; i < m; i++)
		v[i].params = json_pack("{s:s, s:O, s:s}", "key", key, "id",
					json_object_get(idr, "id"), "layout", layout);
	t0 = xmig_now_ns();
	status = pcall_all(v, m);
	if (!status) {
		double ms = (double)(xmig_now_ns() - t0) / 1e6, slowest = 0;
		char per[512] = "";

		/* each rank's own build (rebuild_s), in rank order; the old ones are aborted later */
		for (int r = 0; r < nranks; r++)
			for (i = 0; i < m; i++)
				json_array_foreach(json_array_get(reports, (size_t)(v[i].p - procs)), k, c) {
					double b;

					if (strcmp(json_string_value(json_object_get(c, "key")) ?: "", key) ||
					    json_integer_value(json_object_get(c, "rank")) != r)
						continue;
					b = json_real_value(json_object_get(v[i].res, "rebuild_s"));
					if (b > slowest)
						slowest = b;
					snprintf(per + strlen(per), sizeof(per) - strlen(per), "%srank %d %.1f",
						 r ? ", " : "", r, b * 1e3);
				}
		if (id_ahead)
			xmig_info("communicator %s re-linked on its %d ranks in %.1f ms (built and "
				  "connected ahead; put in place, ms: %s)", key, nranks, ms, per);
		else
			xmig_info("communicator %s re-linked on its %d ranks in %.1f ms (NCCL's "
				  "build: %.1f ms on the slowest rank; per rank, ms: %s)", key,
				  nranks, ms, slowest * 1e3, per);
		json_array_append_new(lines, json_pack(
			"{s:s, s:i, s:b, s:f, s:f, s:f}", "key", key, "ranks", nranks, "built_ahead",
			id_ahead != NULL, "relink_ms", ms, "build_ms", id_ahead ? 0.0 : slowest * 1e3,
			"ahead_ms", json_real_value(json_object_get(ahead, "ahead_ms"))));
	}
out:
	json_decref(idr);
	pcall_free(v, m);
	free(layout);
	return status;
}

/* count of entry e's array name (sent, recvd) for peer r */
static json_int_t p2p_count(json_t *e, const char *name, int r)
{
	return e ? json_integer_value(json_array_get(json_object_get(e, name), (size_t)r)) : 0;
}

/*
 * The peers that rank e sent to (to: true) or received from, by either
 * end's count (entry: every rank's), so that the two ends agree even with
 * a call posted at one end only, and each send ahead meets its receive.
 */
static json_t *p2p_peers(json_t **entry, size_t m, json_t *e, bool to)
{
	int me = (int)json_integer_value(json_object_get(e, "rank"));
	int nranks = (int)json_integer_value(json_object_get(e, "nranks"));
	json_t **by = calloc(nranks > 0 ? (size_t)nranks : 1, sizeof(*by)), *a = json_array();

	for (size_t i = 0; by && i < m; i++) {
		json_int_t r = json_integer_value(json_object_get(entry[i], "rank"));

		if (r >= 0 && r < nranks)
			by[r] = entry[i];
	}
	for (int r = 0; by && r < nranks; r++) {
		bool used = to ? p2p_count(e, "sent", r) > 0 || p2p_count(by[r], "recvd", me) > 0
			       : p2p_count(e, "recvd", r) > 0 || p2p_count(by[r], "sent", me) > 0;

		if (r != me && used)
			json_array_append_new(a, json_integer(r));
	}
	free(by);
	return a;
}

/*
 * Build one communicator ahead on every rank where it will be (procs:
 * connections and places after the move; comms: each one's ccl.status
 * entries). First every rank says it can (no init is started that a peer
 * would never join), then all build at once. The id, or NULL (said).
 */
static json_t *prelink_one(struct proc *procs, size_t n, json_t *comms, const char *key,
			   int nranks, long connect_ms)
{
	struct pcall *v = calloc(n, sizeof(*v));
	struct proc *root = NULL;
	char *layout = layout_of(procs, n, comms, key, nranks);
	json_t **entry = calloc(n ? n : 1, sizeof(*entry)), *idr = NULL, *id = NULL;
	size_t i, m = 0;
	uint64_t t0 = xmig_now_ns();
	int status;

	if (!v || !layout || !entry)
		goto out;
	m = members(procs, n, comms, key, "ccl.prelink", v, entry, &root);
	for (i = 0; i < m; i++)
		v[i].quiet = true;
	if (!root || m != (size_t)nranks)
		goto out;   /* (the cut refuses or re-links it as ever) */
	if (!(idr = move_call(root, root->conn, "ccl.unique_id", NULL, 30000, &status)))
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < m; i++) {
			json_decref(v[i].res);
			free(v[i].msg);
			v[i].res = NULL;
			v[i].msg = NULL;
			v[i].status = 0;
			/* (an init and the connect: a rank that never joins costs this much) */
			v[i].timeout_ms = pass ? 30000 + (int)connect_ms : 10000;
			v[i].params = json_pack("{s:s, s:O, s:s, s:O, s:b, s:i, s:o, s:o}", "key", key,
						"id", json_object_get(idr, "id"), "layout", layout,
						"comm", entry[i], "check", !pass,
						"connect_timeout_ms", connect_ms, "p2p_send",
						p2p_peers(entry, m, entry[i], true), "p2p_recv",
						p2p_peers(entry, m, entry[i], false));
		}
		if (pcall_all(v, m)) {
			for (i = 0; i < m && !v[i].msg; i++)
				;
			xmig_warn("communicator %s could not be built ahead (%s: %s); the cut "
				  "builds it", key, i < m ? v[i].p->label : "?",
				  i < m ? v[i].msg : "no answer");
			goto out;
		}
	}
	{
		char per[512] = "";
		double slowest = 0;

		for (int r = 0; r < nranks; r++)
			for (i = 0; i < m; i++)
				if (json_integer_value(json_object_get(entry[i], "rank")) == r) {
					double b = json_real_value(json_object_get(v[i].res, "build_s"));
					double c = json_real_value(json_object_get(v[i].res, "connect_s"));

					if (b + c > slowest)
						slowest = b + c;
					snprintf(per + strlen(per), sizeof(per) - strlen(per),
						 "%srank %d %.1f + %.1f", r ? ", " : "", r, b * 1e3,
						 c * 1e3);
				}
		xmig_info("communicator %s built and connected ahead on its %d ranks in %.1f ms, "
			  "while the job runs (build + connect per rank, ms: %s)", key, nranks,
			  (double)(xmig_now_ns() - t0) / 1e6, per);
		id = json_pack("{s:O, s:f}", "id", json_object_get(idr, "id"), "ahead_ms",
			       slowest * 1e3);
	}
out:
	json_decref(idr);
	pcall_free(v, m);
	free(entry);
	free(layout);
	return id;
}

/* Each communicator of several ranks in reports (one array per process), once: [{key, nranks}]. */
static json_t *shared_comms(json_t *reports)
{
	json_t *seen = json_object(), *out = json_array(), *r, *c;
	size_t i, k;

	json_array_foreach(reports, i, r)
		json_array_foreach(r, k, c) {
			const char *key = json_string_value(json_object_get(c, "key"));

			if (!key || json_integer_value(json_object_get(c, "nranks")) < 2 ||
			    json_object_get(seen, key))
				continue;
			json_object_set_new(seen, key, json_true());
			json_array_append_new(out, json_pack("{s:s, s:O}", "key", key, "nranks",
							     json_object_get(c, "nranks")));
		}
	json_decref(seen);
	return out;
}

json_t *cut_prelink(struct proc *procs, size_t n, const struct cut_place *at)
{
	struct proc *sh = calloc(n ? n : 1, sizeof(*sh));
	json_t *done = json_object(), *comms = json_array(), *shared = NULL, *c;
	const char *env = getenv("XMIG_CCL_PRELINK_TIMEOUT_MS");
	long connect_ms = 10000;
	size_t i;

	if (env && xmig_parse_long(env, 1, 600000, &connect_ms) < 0) {
		xmig_warn("XMIG_CCL_PRELINK_TIMEOUT_MS=%s is not a number of ms (1-600000); 10000 "
			  "it is", env);
		connect_ms = 10000;
	}
	if (!sh || !done || !comms)
		goto out;
	for (i = 0; i < n; i++) {
		json_t *st = NULL;
		int status;

		if (procs[i].conn)
			st = move_call(&procs[i], procs[i].conn, "ccl.status", NULL, 10000, &status);
		json_array_append_new(comms, st ? json_incref(json_object_get(st, "comms"))
						: json_array());
		json_decref(st);
		sh[i] = procs[i];   /* (its label still points into procs[i]) */
		sh[i].conn = at[i].conn;
		sh[i].status = json_pack("{s:s, s:i}", "node", at[i].node, "gpu", at[i].gpu);
	}
	shared = shared_comms(comms);
	json_array_foreach(shared, i, c) {
		const char *key = json_string_value(json_object_get(c, "key"));
		json_t *id = prelink_one(sh, n, comms, key,
					 (int)json_integer_value(json_object_get(c, "nranks")),
					 connect_ms);

		json_object_set_new(done, key, id ?: json_null());
	}
out:
	for (i = 0; sh && i < n; i++)
		json_decref(sh[i].status);
	free(sh);
	json_decref(shared);
	json_decref(comms);
	return done;
}

int cut_relink(struct proc *procs, size_t n, json_t *reports, json_t *ahead, json_t *lines)
{
	json_t *shared = shared_comms(reports), *c;
	size_t i;
	int status = 0, st;

	json_array_foreach(shared, i, c) {
		const char *key = json_string_value(json_object_get(c, "key"));

		if ((st = relink_one(procs, n, reports, key,
				     (int)json_integer_value(json_object_get(c, "nranks")),
				     json_object_get(ahead, key), lines)) && !status)
			status = st;
	}
	json_decref(shared);
	return status;
}
