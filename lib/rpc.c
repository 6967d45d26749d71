/*
 * rpc.c - the control protocol: one JSON-RPC 2.0 object per line (NDJSON).
 *
 * Servers feed socket bytes to an xmig_ndjson splitter; clients use the
 * blocking xmig_conn. Progress of long operations arrives as notifications
 * (requests without an id) before the final response.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmig.h"

void xmig_ndjson_init(struct xmig_ndjson *nd)
{
	memset(nd, 0, sizeof(*nd));
}

void xmig_ndjson_free(struct xmig_ndjson *nd)
{
	free(nd->buf);
	memset(nd, 0, sizeof(*nd));
}

static int nd_append(struct xmig_ndjson *nd, const char *data, size_t len)
{
	if (nd->len + len + 1 > nd->cap) {
		size_t cap = nd->cap ? nd->cap : 4096;
		char *nb;

		while (cap < nd->len + len + 1)
			cap *= 2;
		nb = realloc(nd->buf, cap);
		if (!nb)
			return -1;
		nd->buf = nb;
		nd->cap = cap;
	}
	memcpy(nd->buf + nd->len, data, len);
	nd->len += len;
	return 0;
}

void xmig_ndjson_feed(struct xmig_ndjson *nd, const char *data, size_t len,
		      void (*on_line)(const char *line, size_t len, void *arg),
		      void (*on_oversize)(void *arg), void *arg)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t chunk = nl ? (size_t)(nl - data) : len;

		if (nd->discarding) {
			if (nl)
				nd->discarding = false;
		} else if (nd->len + chunk > XMIG_RPC_MAX_LINE) {
			/* Report once, then drop the rest of this line. */
			nd->len = 0;
			nd->discarding = !nl;
			on_oversize(arg);
		} else if (nd_append(nd, data, chunk) < 0) {
			nd->len = 0;
			nd->discarding = !nl;
			on_oversize(arg);
		} else if (nl) {
			nd->buf[nd->len] = '\0';
			if (nd->len > 0)
				on_line(nd->buf, nd->len, arg);
			nd->len = 0;
		}
		if (!nl)
			break;
		len -= chunk + 1;
		data = nl + 1;
	}
}

json_t *xmig_rpc_request(const char *method, json_t *params, json_int_t id)
{
	json_t *m = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

	if (params)
		json_object_set_new(m, "params", params);
	if (id >= 0)
		json_object_set_new(m, "id", json_integer(id));
	return m;
}

json_t *xmig_rpc_result(json_t *id, json_t *result)
{
	json_t *m = json_pack("{s:s}", "jsonrpc", "2.0");

	json_object_set_new(m, "result", result ? result : json_null());
	json_object_set(m, "id", id ? id : json_null());
	return m;
}

json_t *xmig_rpc_error(json_t *id, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *m;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m = json_pack("{s:s, s:{s:i, s:s}}", "jsonrpc", "2.0", "error", "code", code,
		      "message", msg);
	json_object_set(m, "id", id ? id : json_null());
	return m;
}

char *xmig_rpc_dump_line(const json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n;
	char *line;

	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

/* ---- blocking client ------------------------------------------------- */

struct xmig_conn {
	int fd;
	json_int_t next_id;
	struct xmig_ndjson nd;
	json_t *pending;        /* lines parsed, not yet consumed */
	void (*notify)(const char *method, json_t *params, void *arg);
	void *notify_arg;
};

struct xmig_conn *xmig_conn_open(const char *socket_path)
{
	int fd = xmig_sock_connect(socket_path);

	return fd < 0 ? NULL : xmig_conn_from_fd(fd);
}

struct xmig_conn *xmig_conn_from_fd(int fd)
{
	struct xmig_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->next_id = 1;
	xmig_ndjson_init(&c->nd);
	c->pending = json_array();
	return c;
}

void xmig_conn_close(struct xmig_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	xmig_ndjson_free(&c->nd);
	json_decref(c->pending);
	free(c);
}

int xmig_conn_fd(const struct xmig_conn *c)
{
	return c->fd;
}

void xmig_conn_on_notify(struct xmig_conn *c,
			 void (*fn)(const char *method, json_t *params, void *arg), void *arg)
{
	c->notify = fn;
	c->notify_arg = arg;
}

static void conn_line(const char *line, size_t len, void *arg)
{
	struct xmig_conn *c = arg;
	json_t *msg = json_loadb(line, len, 0, NULL);

	if (msg)
		json_array_append_new(c->pending, msg);
}

static void conn_oversize(void *arg)
{
	(void)arg;
	xmig_warn("control reply longer than %u bytes dropped", XMIG_RPC_MAX_LINE);
}

int xmig_rpc_send(struct xmig_conn *c, const char *method, json_t *params, int timeout_ms,
		  json_int_t *id, int *wait_ms)
{
	json_t *req;
	char *line;

	*id = c->next_id++;
	req = xmig_rpc_request(method, params, *id);
	line = xmig_rpc_dump_line(req);
	json_decref(req);
	if (!line)
		return -1;
	/*
	 * A server that refuses us writes why and hangs up, maybe before our
	 * request goes out: read its answer even if the write failed, for a
	 * second at most.
	 */
	*wait_ms = xmig_write_all(c->fd, line, strlen(line)) < 0 && timeout_ms < 0 ? 1000
										 : timeout_ms;
	free(line);
	return 0;
}

int xmig_rpc_call(struct xmig_conn *c, const char *method, json_t *params, int timeout_ms,
		  json_t **result, int *err_code, char **err_msg)
{
	json_int_t id;
	int wait_ms;

	if (xmig_rpc_send(c, method, params, timeout_ms, &id, &wait_ms) < 0) {
		if (result)
			*result = NULL;
		if (err_code)
			*err_code = 0;
		if (err_msg)
			*err_msg = strdup("out of memory");
		return -1;
	}
	return xmig_rpc_wait(c, id, wait_ms, result, err_code, err_msg);
}

int xmig_rpc_wait(struct xmig_conn *c, json_int_t id, int timeout_ms, json_t **result,
		  int *err_code, char **err_msg)
{
	uint64_t deadline = timeout_ms >= 0 ? xmig_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	int rc = -1;

	if (result)
		*result = NULL;
	if (err_code)
		*err_code = 0;
	if (err_msg)
		*err_msg = NULL;
	for (;;) {
		char buf[65536];
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int wait_ms = -1, pr;
		ssize_t n;

		while (json_array_size(c->pending) > 0) {
			json_t *msg = json_incref(json_array_get(c->pending, 0));
			json_t *mid = json_object_get(msg, "id");
			const char *nm = json_string_value(json_object_get(msg, "method"));

			json_array_remove(c->pending, 0);
			if (nm && (!mid || json_is_null(mid))) {
				if (c->notify)
					c->notify(nm, json_object_get(msg, "params"), c->notify_arg);
			} else if ((json_is_integer(mid) && json_integer_value(mid) == id) ||
				   ((!mid || json_is_null(mid)) && json_object_get(msg, "error"))) {
				/* Ours, or an error about the connection itself. */
				json_t *err = json_object_get(msg, "error");

				if (err) {
					if (err_code)
						*err_code = (int)json_integer_value(json_object_get(err, "code"));
					if (err_msg) {
						const char *m = json_string_value(json_object_get(err, "message"));
						*err_msg = strdup(m ? m : "unknown error");
					}
					rc = -1;
				} else {
					if (result)
						*result = json_incref(json_object_get(msg, "result"));
					rc = 0;
				}
				json_decref(msg);
				return rc;
			}
			json_decref(msg);
		}
		if (deadline) {
			uint64_t now = xmig_now_ns();
			if (now >= deadline) {
				if (err_msg)
					*err_msg = strdup("timed out waiting for the proxy");
				errno = ETIMEDOUT;
				return -1;
			}
			wait_ms = (int)((deadline - now) / 1000000ull) + 1;
		}
		pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -1;
		if (pr == 0)
			continue;
		n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (err_msg)
				*err_msg = strdup(n == 0 ? "the proxy closed the connection"
							 : strerror(errno));
			errno = n == 0 ? ECONNRESET : errno;
			return -1;
		}
		xmig_ndjson_feed(&c->nd, buf, (size_t)n, conn_line, conn_oversize, c);
	}
}
