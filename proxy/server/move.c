/*
 * move.c - the control methods of freezes and moves.
 *
 * Old proxy (the owner):   freeze, thaw, offer, handover, snapshot, suspend
 * New proxy (standby):     receive, restore, resume
 *
 * A move is atomic: the old proxy stays the channel's owner, frozen, until
 * it hands over with one compare-and-swap of the owner id in the shared
 * header. Before that point every failure rolls back by thawing the old
 * proxy; a freeze held by a connection (the orchestrator's) is thawed when
 * that connection goes away, so even a killed `xmig migrate` leaves the job
 * running where it was. A standby proxy that loses its orchestrator exits,
 * unless it already owns the channel, in which case it resumes on its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "move.h"
#include "snapshot.h"
#include "xfer.h"

#define FAIL(c, ...)                                        \
	do {                                                \
		*code = (c);                                \
		snprintf(msg, len, __VA_ARGS__);            \
		return NULL;                                \
	} while (0)

static pthread_mutex_t move_lock = PTHREAD_MUTEX_INITIALIZER;

static bool owner(struct srv *s)
{
	return atomic_load(&s->hdr->owner_id) == s->attach_id;
}

static const char *param_str(json_t *p, const char *key)
{
	return json_string_value(json_object_get(p, key));
}

/* ---- freeze / thaw --------------------------------------------------------- */

/*
 * Another command's freeze, held by its connection (a move, a cut): one at
 * a time. A second move would take the first's freeze for the user's (and
 * keep the job frozen after it), and roll back by thawing a proxy that
 * handed over. An explicit, persistent freeze (xmig freeze) may come in
 * between: the move then leaves the job frozen, as asked.
 */
bool srv_held_by_another(struct srv *s, struct ctl_conn *cc)
{
	return (srv_frozen(s) || atomic_load(&s->freeze_requested)) && s->freeze_holder &&
	       s->freeze_holder != cc;
}

/* A freeze taken for a snapshot or suspend ends: thawed if it was not the job's already. */
static void let_go(struct srv *s, bool was_frozen)
{
	if (!was_frozen)
		srv_thaw(s);
	s->freeze_holder = NULL;
}

/* 0, -1 (the GPU did not drain) or -2 (srv_held_by_another, unless persistent). */
static int do_freeze(struct srv *s, struct ctl_conn *cc, bool persistent, uint64_t timeout_ms,
		     bool *was_frozen)
{
	*was_frozen = srv_frozen(s);
	if (!persistent && srv_held_by_another(s, cc))
		return -2;
	if (*was_frozen) {
		if (persistent) {
			s->freeze_holder = NULL;   /* now nobody's thaw but an explicit one */
			s->move_froze = false;
		}
		return 0;
	}
	if (srv_freeze(s, timeout_ms * 1000000ull) < 0)
		return -1;
	s->freeze_holder = persistent ? NULL : cc;
	s->move_froze = !persistent;
	return 0;
}

static json_t *m_freeze(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			size_t len)
{
	const char *hold = param_str(p, "hold");
	json_int_t timeout = json_integer_value(json_object_get(p, "timeout_ms"));
	uint64_t t0 = xmig_now_ns();
	bool was;
	int r;

	xmig_move_trace("freeze: asked");
	if (!owner(s) || s->standby)
		FAIL(XMIG_RPC_STATE, "this proxy does not serve the job (any more)");
	if (hold && strcmp(hold, "persistent") && strcmp(hold, "connection"))
		FAIL(XMIG_RPC_INVALID_PARAMS, "hold must be \"persistent\" or \"connection\"");
	pthread_mutex_lock(&move_lock);
	r = do_freeze(s, cc, !hold || !strcmp(hold, "persistent"), timeout > 0 ? (uint64_t)timeout
									     : 60000, &was);
	pthread_mutex_unlock(&move_lock);
	xmig_move_trace("freeze: %s", r == 0 ? "frozen" : "failed");
	if (r == -2)
		FAIL(XMIG_RPC_BUSY, SRV_BUSY_MSG);
	if (r < 0)
		FAIL(XMIG_RPC_FAILED, "the GPU did not drain in time; the job goes on");
	/* froze_at_ns: when it stopped taking the job's calls (this call froze it) */
	return json_pack("{s:s, s:b, s:I, s:f, s:I}", "state", "frozen", "was_frozen", was,
			 "ticket", (json_int_t)atomic_load(&s->hdr->executed), "freeze_s",
			 (double)(xmig_now_ns() - t0) / 1e9, "froze_at_ns",
			 was ? (json_int_t)0 : (json_int_t)s->froze_at_ns);
}

static json_t *m_thaw(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
		      size_t len)
{
	bool was = srv_frozen(s);
	const char *held = param_str(p, "held");

	if (!owner(s) || s->handed_over)
		FAIL(XMIG_RPC_STATE, "this proxy does not serve the job (any more)");
	if (held && strcmp(held, "connection"))
		FAIL(XMIG_RPC_INVALID_PARAMS, "held must be \"connection\"");
	pthread_mutex_lock(&move_lock);
	/*
	 * held "connection": a move's rollback that does not know whether its
	 * freeze came (made at GO): only a freeze this connection holds goes.
	 */
	if (held && s->freeze_holder != cc) {
		srv_xfer_withdraw_of(s, cc);
		pthread_mutex_unlock(&move_lock);
		return json_pack("{s:s, s:b}", "state", was ? "frozen" : "running", "was_frozen",
				 was);
	}
	s->freeze_holder = NULL;
	srv_xfer_withdraw(s);   /* nothing may read the state once it runs again */
	/* a cut's first step stops new calls without waiting for posted ones */
	if (was || atomic_load(&s->freeze_requested))
		srv_thaw(s);
	pthread_mutex_unlock(&move_lock);
	return json_pack("{s:s, s:b}", "state", "running", "was_frozen", was);
}

/* ---- the old proxy's side of a move ------------------------------------------------ */

static json_t *m_offer(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
		       size_t len)
{
	const char *token = param_str(p, "token");
	char path[512];
	bool at_go;
	int r;

	if (!token || strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32)
		FAIL(XMIG_RPC_INVALID_PARAMS, "token must be 32 lowercase hex digits");
	if (!owner(s) || s->standby)
		FAIL(XMIG_RPC_STATE, "this proxy does not serve the job (any more)");
	pthread_mutex_lock(&move_lock);
	/* one move at a time: its offer is not replaced under it */
	if (srv_held_by_another(s, cc) || srv_xfer_offered_to_another(s, cc)) {
		pthread_mutex_unlock(&move_lock);
		FAIL(XMIG_RPC_BUSY, SRV_BUSY_MSG);
	}
	if (srv_graph_held(s, msg, len) < 0) {
		pthread_mutex_unlock(&move_lock);
		*code = XMIG_RPC_REFUSED;
		return NULL;
	}
	/* XMIG_FAULT=offer-no-freeze-at-go: answer as a proxy older than the freeze at GO */
	at_go = !xmig_fault("offer-no-freeze-at-go");
	r = srv_xfer_offer(s, cc, ctl_conn_peer_pid(cc), token,
			   json_is_true(json_object_get(p, "stream")),
			   at_go && json_is_true(json_object_get(p, "freeze")), 120, path,
			   sizeof(path));
	pthread_mutex_unlock(&move_lock);
	if (r < 0)
		FAIL(XMIG_RPC_FAILED, "cannot offer the state: %s", strerror(errno));
	/* freeze_at_go: asked with "freeze", this proxy freezes when the successor says GO */
	return at_go ? json_pack("{s:s, s:b}", "path", path, "freeze_at_go", 1)
		     : json_pack("{s:s}", "path", path);
}

/*
 * The move lock, for an offer's thread: a withdraw holds it while it waits
 * for that thread to end, so wait for it only as long as nobody calls the
 * move off. 0: locked; -1: called off.
 */
static int lock_unless(_Atomic bool *cancel)
{
	while (pthread_mutex_trylock(&move_lock)) {
		if (atomic_load(cancel))
			return -1;
		usleep(20);
	}
	if (atomic_load(cancel)) {
		pthread_mutex_unlock(&move_lock);
		return -1;
	}
	return 0;
}

int srv_frozen_for(struct srv *s, const void *holder, _Atomic bool *cancel)
{
	bool yes;

	if (lock_unless(cancel) < 0)
		return -1;
	yes = srv_frozen(s) && (!s->freeze_holder || s->freeze_holder == holder);
	pthread_mutex_unlock(&move_lock);
	return yes;
}

int srv_freeze_for(struct srv *s, const void *holder, _Atomic bool *cancel, bool *was_frozen)
{
	int r;

	if (lock_unless(cancel) < 0)
		return -3;
	r = do_freeze(s, (struct ctl_conn *)holder, false, 60000, was_frozen);
	pthread_mutex_unlock(&move_lock);
	return r;
}

int srv_hand_over(struct srv *s, uint64_t next, _Atomic bool *cancel, bool *stay_frozen,
		  char *why, size_t len)
{
	uint64_t expected = s->attach_id;

	if (!cancel) {
		pthread_mutex_lock(&move_lock);
	} else if (lock_unless(cancel) < 0) {
		snprintf(why, len, "the move was called off");
		return -1;
	}
	if (!srv_frozen(s)) {
		pthread_mutex_unlock(&move_lock);
		snprintf(why, len, "only a frozen proxy hands over");
		return -1;
	}
	/* (to nobody, or to itself: the job would have no proxy serving it) */
	if (!next || next == expected) {
		pthread_mutex_unlock(&move_lock);
		snprintf(why, len, "no successor named to hand over to");
		return -1;
	}
	/* The commit point of a move. */
	if (!atomic_compare_exchange_strong(&s->hdr->owner_id, &expected, next)) {
		pthread_mutex_unlock(&move_lock);
		snprintf(why, len, "this proxy no longer owns the job");
		return -1;
	}
	s->handed_over = true;
	s->has_successor = true;
	*stay_frozen = !s->move_froze;
	s->freeze_holder = NULL;
	if (!cancel)
		srv_xfer_withdraw(s);   /* (an offer's thread ends by itself) */
	pthread_mutex_unlock(&move_lock);
	return 0;
}

static json_t *m_handover(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			  size_t len)
{
	json_t *to = json_object_get(p, "successor");
	uint64_t next;
	bool stay_frozen;

	if (!json_is_string(to) || sscanf(json_string_value(to), "%" SCNx64, &next) != 1 || !next)
		FAIL(XMIG_RPC_INVALID_PARAMS, "successor must be the new proxy's attach id");
	if (srv_hand_over(s, next, NULL, &stay_frozen, msg, len) < 0) {
		*code = XMIG_RPC_STATE;
		return NULL;
	}
	ctl_request_stop("handed over");   /* once this answer is out */
	return json_pack("{s:s}", "state", "handed-over");
}

static int write_suspended_record(struct srv *s, const char *dir, double t, bool temporary)
{
	char jd[512], path[600];
	json_t *rec = json_pack("{s:s, s:i, s:i, s:s, s:i, s:s, s:I, s:f, s:f, s:s}",
				"job", s->job, "rank", s->rank, "pid", (int)s->client_pid,
				"dir", dir, "gpu", s->gpu, "device", s->device_kind,
				"device_bytes", (json_int_t)s->mem.bytes, "share", s->share,
				"suspended_at", t, "node", s->node);
	char *text;
	int r = -1;

	/* the GPU by UUID too: a resume counts GPUs as its command does */
	json_object_set_new(rec, "gpu_uuid", json_string(s->gpu_info.uuid));
	json_object_set_new(rec, "gpu_numbering", srv_gpu_numbering(s));
	json_object_set_new(rec, "temporary", json_boolean(temporary));
	json_object_set_new(rec, "keeper", json_string(s->keeper_path));
	text = json_dumps(rec, JSON_COMPACT);
	if (text && xmig_job_dir(s->job, jd, sizeof(jd)) == 0) {
		snprintf(path, sizeof(path), "%s/%d.suspended", jd, (int)s->client_pid);
		if ((r = xmig_write_file_atomic(path, text, strlen(text), 0644)) < 0)
			xmig_error_errno("cannot write %s", path);
	}
	free(text);
	json_decref(rec);
	return r;
}

static json_t *snapshot_or_suspend(struct srv *s, struct ctl_conn *cc, json_t *p, bool suspend,
				   int *code, char *msg, size_t len)
{
	const char *dir = param_str(p, "dir");
	char abs[PATH_MAX];
	json_t *res;
	int peers;
	bool was;

	if (!dir || !*dir)
		FAIL(XMIG_RPC_INVALID_PARAMS, "dir is required");
	if (dir[0] != '/')
		FAIL(XMIG_RPC_INVALID_PARAMS, "dir must be an absolute path");
	snprintf(abs, sizeof(abs), "%s", dir);
	if (!owner(s) || s->standby)
		FAIL(XMIG_RPC_STATE, "this proxy does not serve the job (any more)");
	/*
	 * Held against the connection's loss too: a half-written snapshot is
	 * finished (or failed) before the job runs again.
	 */
	pthread_mutex_lock(&move_lock);
	/* not under a move: it would write, or give up, what the move is taking */
	if (srv_held_by_another(s, cc)) {
		pthread_mutex_unlock(&move_lock);
		FAIL(XMIG_RPC_BUSY, SRV_BUSY_MSG);
	}
	if (do_freeze(s, cc, true, 60000, &was) < 0) {
		pthread_mutex_unlock(&move_lock);
		FAIL(XMIG_RPC_FAILED, "the GPU did not drain in time; the job goes on");
	}
	/*
	 * A communicator with peers would come back without them: a resume
	 * re-links nothing (only a move's cut does), so the job would stay
	 * suspended for good. Refused while the job can still go on.
	 */
	if (srv_graph_held(s, msg, len) < 0) {
		let_go(s, was);
		pthread_mutex_unlock(&move_lock);
		*code = XMIG_RPC_REFUSED;
		return NULL;
	}
	if (suspend && (peers = srv_ccl_peers(s)) > 0) {
		let_go(s, was);
		pthread_mutex_unlock(&move_lock);
		FAIL(XMIG_RPC_REFUSED, "the process holds an NCCL communicator of %d ranks, which "
		     "a resume cannot re-link with its peers yet; nothing was suspended, the job "
		     "goes on (xmig migrate moves it)", peers);
	}
	pthread_mutex_unlock(&move_lock);
	res = srv_snapshot_write(s, cc, abs, msg, len);
	pthread_mutex_lock(&move_lock);
	if (!res) {
		let_go(s, was);
		pthread_mutex_unlock(&move_lock);
		*code = XMIG_RPC_FAILED;
		return NULL;
	}
	if (!suspend) {
		let_go(s, was);
		pthread_mutex_unlock(&move_lock);
		return res;
	}
	/*
	 * Suspend: give the channel up; the application waits for a resume,
	 * which finds it by this record. Without one nobody could: the job
	 * goes on here instead (its snapshot stays written).
	 */
	if (write_suspended_record(s, abs, xmig_wall_seconds(),
				   json_is_true(json_object_get(p, "temporary"))) < 0) {
		let_go(s, was);
		pthread_mutex_unlock(&move_lock);
		json_decref(res);
		FAIL(XMIG_RPC_FAILED, "the suspend record could not be written in the job's "
		     "directory; nothing was suspended, the job goes on (its snapshot is in %s)", abs);
	}
	atomic_store(&s->hdr->state, XMIG_SEG_SUSPENDED);
	atomic_store(&s->hdr->owner_id, 0);
	atomic_store(&s->hdr->owner_pid, 0);
	s->handed_over = true;
	s->freeze_holder = NULL;
	pthread_mutex_unlock(&move_lock);
	ctl_request_stop("suspended");
	json_object_set_new(res, "state", json_string("suspended"));
	return res;
}

static json_t *m_snapshot(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			  size_t len)
{
	return snapshot_or_suspend(s, cc, p, false, code, msg, len);
}

static json_t *m_suspend(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			 size_t len)
{
	return snapshot_or_suspend(s, cc, p, true, code, msg, len);
}

/* ---- the new proxy's side ------------------------------------------------------- */

static int param_mode(json_t *p, enum xfer_mode *mode)
{
	const char *m = param_str(p, "mode");

	if (!m || !strcmp(m, "copy"))
		*mode = XFER_COPY;
	else if (!strcmp(m, "zero-copy"))
		*mode = XFER_ZERO_COPY;
	else if (!strcmp(m, "stream"))
		*mode = XFER_STREAM;
	else
		return -1;
	return 0;
}

static json_t *m_prepare(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			 size_t len)
{
	const char *path = param_str(p, "path"), *token = param_str(p, "token");
	enum xfer_mode mode;

	if (!s->standby || s->mem.nallocs || s->modules.count)
		FAIL(XMIG_RPC_STATE, "only a fresh standby proxy prepares for a job");
	if (!path || !token)
		FAIL(XMIG_RPC_INVALID_PARAMS, "path and token are required");
	if (param_mode(p, &mode) < 0)
		FAIL(XMIG_RPC_INVALID_PARAMS, "mode is copy, zero-copy or stream");
	s->ccl_relink = json_is_true(json_object_get(p, "ccl_relink"));
	return srv_xfer_prepare(s, cc, path, token, mode, code, msg, len);
}

/*
 * A standby's orchestrator is gone: past the handover it serves the job
 * (resumed running: nobody will thaw it), else it goes.
 */
static void orchestrator_gone(struct srv *s)
{
	char why[256];

	if (owner(s)) {
		xmig_warn("the controller went away after the handover; resuming");
		if (srv_resume(s, false, why, sizeof(why)) < 0)
			xmig_error("cannot resume: %s", why);
	} else {
		ctl_request_stop("the move was abandoned");
	}
}

static json_t *m_receive(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			 size_t len)
{
	const char *path = param_str(p, "path"), *token = param_str(p, "token");
	struct xfer_commit cm;
	enum xfer_mode mode;
	bool abandoned;
	json_t *r;

	xmig_move_trace("receive: asked");
	if (!s->standby || (s->xfer_fd < 0 && (s->mem.nallocs || s->modules.count)))
		FAIL(XMIG_RPC_STATE, "only a fresh or prepared standby proxy receives a job");
	if (!path || !token)
		FAIL(XMIG_RPC_INVALID_PARAMS, "path and token are required");
	if (param_mode(p, &mode) < 0)
		FAIL(XMIG_RPC_INVALID_PARAMS, "mode is copy, zero-copy or stream");
	s->ccl_relink = json_is_true(json_object_get(p, "ccl_relink"));
	cm.frozen = json_is_true(json_object_get(p, "frozen"));
	pthread_mutex_lock(&move_lock);
	s->receiving = true;
	pthread_mutex_unlock(&move_lock);
	r = srv_xfer_receive(s, cc, path, token, mode,
			     json_is_true(json_object_get(p, "commit")) ? &cm : NULL, code, msg, len);
	pthread_mutex_lock(&move_lock);
	s->receiving = false;
	abandoned = s->abandoned;
	pthread_mutex_unlock(&move_lock);
	/*
	 * (the orchestrator left while this ran: the commit it asked for may
	 * have happened; one that did, and resumed, is a standby no more)
	 */
	if (abandoned && s->standby)
		orchestrator_gone(s);
	return r;
}

static json_t *m_restore(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			 size_t len)
{
	const char *dir = param_str(p, "dir");

	if (!s->standby || s->mem.nallocs || s->modules.count)
		FAIL(XMIG_RPC_STATE, "only a fresh standby proxy restores a job");
	if (!dir || dir[0] != '/')
		FAIL(XMIG_RPC_INVALID_PARAMS, "dir must be an absolute path");
	return srv_snapshot_restore(s, cc, dir, code, msg, len);
}

int srv_resume(struct srv *s, bool frozen, char *why, size_t len)
{
	uint64_t zero = 0;
	char jd[512], rec[600];

	pthread_mutex_lock(&move_lock);
	if (!s->standby) {
		pthread_mutex_unlock(&move_lock);
		return 0;   /* resumed already */
	}
	/* Owner by a handover, or take a suspended job's free channel. */
	if (!owner(s) && !(atomic_load(&s->hdr->state) == XMIG_SEG_SUSPENDED &&
			   atomic_compare_exchange_strong(&s->hdr->owner_id, &zero, s->attach_id))) {
		pthread_mutex_unlock(&move_lock);
		snprintf(why, len, "the job's proxy has not handed over to this one");
		return -1;
	}
	atomic_store(&s->hdr->owner_pid, (int32_t)getpid());
	if (frozen) {
		/* A job frozen by its user before the move stays frozen after it:
		 * set before any worker can take a request. */
		atomic_store(&s->freeze_requested, 1);
		atomic_store(&s->hdr->state, XMIG_SEG_FROZEN);
		s->freeze_holder = NULL;
	}
	/* (started ahead by a prepare: only the gate is left to open) */
	if (!s->workers_running && srv_workers_start(s, false) < 0) {
		atomic_store(&s->freeze_requested, 0);
		pthread_mutex_unlock(&move_lock);
		snprintf(why, len, "cannot start the workers");
		return -1;
	}
	s->standby = false;
	if (!frozen)
		srv_thaw(s);   /* state RUNNING: requests flow again from where they stopped */
	srv_workers_open(s);
	s->serving_at_ns = frozen ? 0 : xmig_now_ns();
	srv_xfer_release_sources(s);
	xmig_move_trace("resume: %s", frozen ? "serving, frozen" : "serving");
	if (ctl_take_socket_path(s) < 0)
		xmig_warn("cannot register the control socket; `xmig ps` will miss this job");
	if (xmig_job_dir(s->job, jd, sizeof(jd)) == 0) {
		snprintf(rec, sizeof(rec), "%s/%d.suspended", jd, (int)s->client_pid);
		unlink(rec);
	}
	pthread_mutex_unlock(&move_lock);
	return 0;
}

static json_t *m_resume(struct srv *s, struct ctl_conn *cc, json_t *p, int *code, char *msg,
			size_t len)
{
	if (srv_resume(s, json_is_true(json_object_get(p, "frozen")), msg, len) < 0) {
		*code = XMIG_RPC_STATE;
		return NULL;
	}
	return json_pack("{s:s, s:i}", "state", srv_frozen(s) ? "frozen" : "running", "proxy_pid",
			 (int)getpid());
}

void srv_move_conn_closed(struct srv *s, struct ctl_conn *cc)
{
	bool receiving;

	pthread_mutex_lock(&move_lock);
	if (s->freeze_holder == cc && !s->handed_over) {
		/* The orchestrator is gone before the commit point: roll back. */
		s->freeze_holder = NULL;
		srv_xfer_withdraw(s);
		srv_thaw(s);
		xmig_warn("the controller of a move went away; the job goes on here");
	} else if (!s->handed_over) {
		srv_xfer_withdraw_of(s, cc);   /* its move was not under way yet */
	}
	receiving = s->receiving;
	if (receiving && s->standby && cc == s->orchestrator)
		s->abandoned = true;   /* (the receive decides, once it knows whether it committed) */
	pthread_mutex_unlock(&move_lock);
	srv_ccl_conn_closed(s, cc);
	if (s->standby && cc == s->orchestrator && !receiving)
		orchestrator_gone(s);
}

const struct ctl_method srv_move_methods[] = {
	{ "freeze", m_freeze, true },
	{ "thaw", m_thaw, false },
	{ "offer", m_offer, false },
	{ "handover", m_handover, false },
	{ "snapshot", m_snapshot, true },
	{ "suspend", m_suspend, true },
	{ "prepare", m_prepare, true },
	{ "receive", m_receive, true },
	{ "restore", m_restore, true },
	{ "resume", m_resume, false },
	{ NULL, NULL, false },
};
