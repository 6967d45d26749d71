/*
 * control.c - the proxy's control socket: NDJSON JSON-RPC 2.0 on a Unix
 * socket under the runtime directory, served by a libuv loop on the main
 * thread. Peers are authorised by SO_PEERCRED (the job's owner and root).
 *
 * Quick methods answer inline. Slow ones (freeze, snapshot, moves) run on
 * libuv's thread pool and may send "progress" notifications before their
 * response; every write goes through the loop thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "control.h"
#include "move.h"
#include "server.h"

struct ctl_conn {
	uv_pipe_t pipe;
	struct srv *srv;
	struct xmig_ndjson nd;
	_Atomic int refs;       /* the pipe, plus one per write or slow call in flight */
	_Atomic bool closing;   /* (read by slow calls: ctl_conn_closing) */
	bool denied;            /* not the job's owner nor root: every call refused */
	uid_t peer_uid;
	pid_t peer_pid;
};

struct slow_call {
	uv_work_t work;
	struct ctl_conn *cc;
	const struct ctl_method *m;
	json_t *id, *params, *result;
	int err_code;
	char err_msg[512];
};

struct out_msg {
	struct out_msg *next;
	struct ctl_conn *cc;
	char *line;
};

static uv_loop_t *loop;
static uv_pipe_t server_pipe;
static uv_poll_t session_poll;
static uv_signal_t sig_term, sig_int;
static uv_async_t out_async, stop_async;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct out_msg *out_head, *out_tail;
static const char *stop_reason;
static bool stop_requested;
static int writes_in_flight, slow_in_flight;
static bool finishing;   /* ctl_run returned: no new slow call starts */
static ino_t socket_ino;

/* ---- connections --------------------------------------------------------- */

static void conn_unref(struct ctl_conn *cc)
{
	if (atomic_fetch_sub(&cc->refs, 1) > 1)
		return;
	xmig_ndjson_free(&cc->nd);
	free(cc);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct ctl_conn *cc = h->data;

	srv_move_conn_closed(cc->srv, cc);
	conn_unref(cc);
}

bool ctl_conn_closing(struct ctl_conn *cc)
{
	return atomic_load(&cc->closing);
}

pid_t ctl_conn_peer_pid(const struct ctl_conn *cc)
{
	return cc ? cc->peer_pid : 0;
}

static void conn_close(struct ctl_conn *cc)
{
	if (cc->closing)
		return;
	cc->closing = true;
	uv_close((uv_handle_t *)&cc->pipe, on_conn_closed);
}

static void stop_when_flushed(void)
{
	/* A reply (the last words of a handover or suspend) goes out first. */
	if (stop_requested && writes_in_flight == 0 && slow_in_flight == 0 && !out_head)
		uv_stop(loop);
}

static void on_written(uv_write_t *req, int status)
{
	struct ctl_conn *cc = req->data;

	free(((char **)(req + 1))[0]);
	free(req);
	writes_in_flight--;
	conn_unref(cc);
	stop_when_flushed();
}

/* Loop thread only. Takes ownership of line. */
static void write_line(struct ctl_conn *cc, char *line)
{
	uv_write_t *req;
	uv_buf_t buf;

	if (!line)
		return;
	if (cc->closing) {
		free(line);
		return;
	}
	req = malloc(sizeof(*req) + sizeof(char *));
	if (!req) {
		free(line);
		return;
	}
	((char **)(req + 1))[0] = line;
	req->data = cc;
	atomic_fetch_add(&cc->refs, 1);
	buf = uv_buf_init(line, (unsigned)strlen(line));
	if (uv_write(req, (uv_stream_t *)&cc->pipe, &buf, 1, on_written) < 0) {
		free(line);
		free(req);
		conn_unref(cc);
		return;
	}
	writes_in_flight++;
}

static void send_msg(struct ctl_conn *cc, json_t *msg)
{
	write_line(cc, xmig_rpc_dump_line(msg));
	json_decref(msg);
}

/* Any thread: queue a line for the loop to write. */
static void queue_line(struct ctl_conn *cc, char *line)
{
	struct out_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		free(line);
		return;
	}
	m->cc = cc;
	m->line = line;
	pthread_mutex_lock(&out_lock);
	if (out_tail)
		out_tail->next = m;
	else
		out_head = m;
	out_tail = m;
	pthread_mutex_unlock(&out_lock);
	uv_async_send(&out_async);
}

static void on_out_async(uv_async_t *a)
{
	struct out_msg *m;

	pthread_mutex_lock(&out_lock);
	m = out_head;
	out_head = out_tail = NULL;
	pthread_mutex_unlock(&out_lock);
	while (m) {
		struct out_msg *next = m->next;

		write_line(m->cc, m->line);
		conn_unref(m->cc);
		free(m);
		m = next;
	}
}

void ctl_notify(struct ctl_conn *cc, const char *method, json_t *params)
{
	json_t *msg = xmig_rpc_request(method, params, -1);

	atomic_fetch_add(&cc->refs, 1);   /* released by on_out_async */
	queue_line(cc, xmig_rpc_dump_line(msg));
	json_decref(msg);
}

/* ---- calls --------------------------------------------------------------- */

static void slow_work(uv_work_t *w)
{
	struct slow_call *sc = w->data;

	/* A pool thread: device work (restores, snapshots) needs the context. */
	sc->cc->srv->dev->bind_thread(sc->cc->srv->devh);
	sc->result = sc->m->fn(sc->cc->srv, sc->cc, sc->params, &sc->err_code, sc->err_msg,
			       sizeof(sc->err_msg));
}

static void slow_done(uv_work_t *w, int status)
{
	struct slow_call *sc = w->data;

	if (sc->result)
		send_msg(sc->cc, xmig_rpc_result(sc->id, sc->result));
	else
		send_msg(sc->cc, xmig_rpc_error(sc->id, sc->err_code ? sc->err_code
								     : XMIG_RPC_FAILED,
						 "%s", sc->err_msg[0] ? sc->err_msg : "failed"));
	json_decref(sc->id);
	json_decref(sc->params);
	conn_unref(sc->cc);
	free(sc);
	slow_in_flight--;
	stop_when_flushed();
}

static void handle_message(struct ctl_conn *cc, json_t *msg)
{
	const struct ctl_method *m;
	json_t *id = json_object_get(msg, "id");
	json_t *params = json_object_get(msg, "params");
	const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
	const char *method = json_string_value(json_object_get(msg, "method"));
	char err_msg[512] = "";
	int err_code = 0;
	json_t *result;

	if (cc->denied) {
		send_msg(cc, xmig_rpc_error(json_is_object(msg) ? id : NULL, XMIG_RPC_PERMISSION,
					    "permission denied: job %s belongs to uid %u",
					    cc->srv->job, (unsigned)cc->srv->owner_uid));
		return;
	}
	if (!json_is_object(msg) || !version || strcmp(version, "2.0") || !method ||
	    (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) ||
	    (params && !json_is_object(params))) {
		send_msg(cc, xmig_rpc_error(json_is_object(msg) ? id : NULL,
					    XMIG_RPC_INVALID_REQUEST,
					    "not a JSON-RPC 2.0 request with object params"));
		return;
	}
	m = ctl_method_find(method);
	if (!m) {
		if (id)
			send_msg(cc, xmig_rpc_error(id, XMIG_RPC_METHOD_NOT_FOUND,
						    "no method '%s'", method));
		return;
	}
	if (!params)
		params = json_object();
	else
		json_incref(params);
	if (m->slow && finishing) {
		json_decref(params);
		send_msg(cc, xmig_rpc_error(id, XMIG_RPC_STATE, "this proxy is stopping"));
		return;
	}
	if (m->slow) {
		struct slow_call *sc = calloc(1, sizeof(*sc));

		if (!sc) {
			json_decref(params);
			send_msg(cc, xmig_rpc_error(id, XMIG_RPC_INTERNAL_ERROR, "out of memory"));
			return;
		}
		sc->cc = cc;
		sc->m = m;
		sc->id = id ? json_incref(id) : json_null();
		sc->params = params;
		sc->work.data = sc;
		atomic_fetch_add(&cc->refs, 1);
		slow_in_flight++;
		uv_queue_work(loop, &sc->work, slow_work, slow_done);
		return;
	}
	result = m->fn(cc->srv, cc, params, &err_code, err_msg, sizeof(err_msg));
	json_decref(params);
	if (!id) {   /* a notification: no reply */
		json_decref(result);
		return;
	}
	if (result)
		send_msg(cc, xmig_rpc_result(id, result));
	else
		send_msg(cc, xmig_rpc_error(id, err_code ? err_code : XMIG_RPC_FAILED, "%s",
					    err_msg[0] ? err_msg : "failed"));
}

static void on_line(const char *line, size_t len, void *arg)
{
	struct ctl_conn *cc = arg;
	json_error_t jerr;
	json_t *msg = json_loadb(line, len, 0, &jerr);

	if (!msg) {
		send_msg(cc, xmig_rpc_error(NULL, XMIG_RPC_PARSE_ERROR, "parse error: %s",
					    jerr.text));
		return;
	}
	handle_message(cc, msg);
	json_decref(msg);
}

static void on_oversize(void *arg)
{
	send_msg(arg, xmig_rpc_error(NULL, XMIG_RPC_TOO_LARGE,
				     "message longer than %u bytes", XMIG_RPC_MAX_LINE));
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char rbuf[65536];

	(void)suggested;
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *cc = stream->data;

	if (n < 0) {
		conn_close(cc);
		return;
	}
	if (n > 0)
		xmig_ndjson_feed(&cc->nd, buf->base, (size_t)n, on_line, on_oversize, cc);
}

static struct ctl_conn *conn_new(struct srv *s)
{
	struct ctl_conn *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->srv = s;
	atomic_init(&cc->refs, 1);
	xmig_ndjson_init(&cc->nd);
	uv_pipe_init(loop, &cc->pipe, 0);
	cc->pipe.data = cc;
	return cc;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct srv *s = server->data;
	struct ctl_conn *cc;
	uv_os_fd_t fd;

	if (status < 0)
		return;
	cc = conn_new(s);
	if (!cc)
		return;
	if (uv_accept(server, (uv_stream_t *)&cc->pipe) < 0) {
		conn_close(cc);
		return;
	}
	if (uv_fileno((uv_handle_t *)&cc->pipe, &fd) < 0 ||
	    xmig_sock_peer(fd, &cc->peer_pid, &cc->peer_uid, NULL) < 0 ||
	    !xmig_sock_peer_allowed(cc->peer_uid, s->owner_uid)) {
		/*
		 * Say so at once, and to every request after: closing now could
		 * lose the answer in a race with the peer's first write.
		 */
		cc->denied = true;
		send_msg(cc, xmig_rpc_error(NULL, XMIG_RPC_PERMISSION,
					    "permission denied: job %s belongs to uid %u",
					    s->job, (unsigned)s->owner_uid));
	}
	uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
}

/* ---- lifetime -------------------------------------------------------------- */

static void stop_loop(const char *why)
{
	if (!stop_reason)
		stop_reason = why;
	uv_stop(loop);
}

static void on_stop_timer(uv_timer_t *t)
{
	uv_stop(loop);   /* a peer that never reads its reply does not keep us */
}

static void on_session(uv_poll_t *p, int status, int events)
{
	/* The application's process is gone: nothing left to serve. */
	stop_loop("the application exited");
}

static void on_signal(uv_signal_t *h, int signum)
{
	stop_loop(signum == SIGTERM ? "terminated" : "interrupted");
}

static uv_timer_t stop_timer;

static void on_stop_async(uv_async_t *a)
{
	if (!stop_reason)
		stop_reason = a->data ? a->data : "stopped";
	stop_requested = true;
	uv_timer_init(loop, &stop_timer);
	uv_timer_start(&stop_timer, on_stop_timer, 2000, 0);
	stop_when_flushed();
}

void ctl_request_stop(const char *why)
{
	stop_async.data = (void *)why;
	uv_async_send(&stop_async);
}

const char *ctl_run(struct srv *s)
{
	int r;

	loop = uv_default_loop();
	uv_async_init(loop, &out_async, on_out_async);
	uv_async_init(loop, &stop_async, on_stop_async);
	uv_pipe_init(loop, &server_pipe, 0);
	server_pipe.data = s;
	unlink(s->listen_path);
	/* libuv would truncate a long path silently. */
	r = strlen(s->listen_path) < sizeof(((struct sockaddr_un *)0)->sun_path)
		    ? uv_pipe_bind(&server_pipe, s->listen_path) : UV_ENAMETOOLONG;
	if (r == 0) {
		/* Anyone may connect; SO_PEERCRED decides who is served. */
		struct stat st;

		chmod(s->listen_path, 0666);
		if (stat(s->listen_path, &st) == 0)
			socket_ino = st.st_ino;
		r = uv_listen((uv_stream_t *)&server_pipe, 64, on_connection);
	}
	if (r < 0) {
		xmig_error("cannot listen on %s: %s", s->listen_path, uv_strerror(r));
		return "no control socket";
	}
	if (s->control_fd >= 0) {
		/* The orchestrator that started this standby proxy. */
		struct ctl_conn *cc = conn_new(s);

		if (!cc || uv_pipe_open(&cc->pipe, s->control_fd) < 0) {
			xmig_error("cannot use the control connection (fd %d)", s->control_fd);
			return "no control connection";
		}
		s->orchestrator = cc;
		uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
	}
	uv_poll_init(loop, &session_poll, s->session_fd);
	uv_poll_start(&session_poll, UV_DISCONNECT, on_session);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	return stop_reason ? stop_reason : "stopped";
}

static void on_finish_tick(uv_timer_t *t)
{
	(void)t;   /* wakes the loop, so that ctl_finish_calls sees the time */
}

void ctl_finish_calls(void)
{
	/*
	 * A slow call (a prepare, a receive) may still run on libuv's pool
	 * when the loop stops on its own (the application exited, a signal,
	 * the 2 s stop timer): it uses the device, which must outlive it.
	 * Its completion wakes the loop; new slow calls are refused meanwhile.
	 */
	uv_timer_t tick;
	uint64_t deadline = xmig_now_ns() + 30000000000ull;

	finishing = true;
	if (!slow_in_flight)
		return;
	uv_poll_stop(&session_poll);   /* (it would fire on every turn: the application is gone) */
	/* (a call stuck on a peer that never answers: 30 s, then go anyway) */
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, on_finish_tick, 100, 100);
	while (slow_in_flight > 0 && xmig_now_ns() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	if (slow_in_flight)
		xmig_warn("a control call still runs after 30 s; exiting anyway");
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);   /* (the close completes) */
}

void ctl_unlink_socket(struct srv *s)
{
	struct stat st;

	/* Only our own socket: a successor may own the path by now. */
	if (socket_ino && stat(s->listen_path, &st) == 0 && st.st_ino == socket_ino)
		unlink(s->listen_path);
}

int ctl_take_socket_path(struct srv *s)
{
	if (!strcmp(s->listen_path, s->socket_path))
		return 0;
	/* Atomic: `xmig ps` sees the predecessor's socket or ours, never none. */
	if (rename(s->listen_path, s->socket_path) < 0)
		return -1;
	snprintf(s->listen_path, sizeof(s->listen_path), "%s", s->socket_path);
	return 0;
}
