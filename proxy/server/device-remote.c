/*
 * device-remote.c - a GPU on another node, through its executor (remote.h).
 *
 * The backend of a bridge proxy: the proxy stays on the application's node
 * and every device operation goes over one TCP connection. A receiver
 * thread files replies by sequence number, writes DATA into host memory
 * as it arrives, and keeps the first asynchronous error for the next
 * synchronising call. A dead link (TCP keepalive and user timeout detect a
 * cut cable in seconds) fails every call instead of hanging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cublas_api.h>
#include <cudnn_graph.h>

#include "../../lib/xmig.h"
#include "../api/dnn.h"
#include "device.h"
#include "remote.h"

struct pending {
	uint64_t seq;
	bool done;
	int32_t status;
	uint64_t a[8];
	void *data;
	uint64_t len;
};

struct var_range {
	uint64_t addr, size;
};

struct rmt {
	int fd;
	pthread_mutex_t send_lock;
	pthread_mutex_t lock;       /* everything below */
	pthread_cond_t cond;
	pthread_t rx;
	uint64_t next_seq;
	struct pending *pend;
	size_t npend;
	int32_t async_error;
	bool dead;
	struct var_range *vars;
	size_t nvars;
	bool cublas_named;          /* the executor knows which cuBLAS file */
	unsigned captures;          /* what the executor's backend captures (XMIG_CAPTURES_*) */
	bool cublaslt_named;        /* ... and which cuBLASLt file */
	bool cudnn_named;           /* ... and which cuDNN file */
	uint64_t window, window_size;
};

static int link_lost(void)
{
	static _Atomic int said;

	if (!atomic_exchange(&said, 1))
		xmig_error("the link to the GPU's node is lost");
	return cudaErrorDevicesUnavailable;
}

/* ---- the connection ------------------------------------------------------------ */

/* "host:port" or "[v6]:port" */
static int split_hostport(const char *hostport, char *host, size_t len, const char **port)
{
	const char *colon = strrchr(hostport, ':');
	size_t n;

	if (!colon || !colon[1])
		return -1;
	*port = colon + 1;
	n = (size_t)(colon - hostport);
	if (hostport[0] == '[' && n >= 2 && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		return -1;
	memcpy(host, hostport, n);
	host[n] = '\0';
	return 0;
}

int xmig_tcp_tune(int fd)
{
	int one = 1, idle = 2, intvl = 1, cnt = 3;
	unsigned timeout_ms = 5000;

	/* Small messages go out at once; a dead link is noticed in seconds. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	return setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms));
}

static int tcp_connect(const char *hostport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	const char *port;
	char host[256];
	int fd = -1;

	if (split_hostport(hostport, host, sizeof(host), &port) < 0 ||
	    getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		xmig_tcp_tune(fd);
	return fd;
}

static void mark_dead(struct rmt *r)
{
	pthread_mutex_lock(&r->lock);
	r->dead = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *rx_main(void *arg)
{
	struct rmt *r = arg;
	struct rmt_hdr h;

	pthread_setname_np(pthread_self(), "xmig-rmt-rx");
	for (;;) {
		if (xmig_read_full(r->fd, &h, sizeof(h)) != (ssize_t)sizeof(h) || h.magic != RMT_MAGIC)
			break;
		if (h.op == RMT_DATA) {
			/* Into our own host memory, the address we asked it for; checked. */
			int st = xmig_read_checked(r->fd, (void *)(uintptr_t)h.a[0], h.len);

			if (st == -1)
				break;
			if (st == -2 || xmig_fault("damage-link")) {
				xmig_error("%llu bytes from the GPU on the other node arrived damaged",
					   (unsigned long long)h.len);
				pthread_mutex_lock(&r->lock);
				if (!r->async_error)
					r->async_error = cudaErrorUnknown;
				pthread_mutex_unlock(&r->lock);
			}
			continue;
		}
		if (h.op == RMT_ASYNC_ERROR) {
			if (h.status == RMT_DAMAGED)
				xmig_error("a copy to the GPU on the other node arrived damaged there");
			pthread_mutex_lock(&r->lock);
			if (!r->async_error)
				r->async_error = h.status == RMT_DAMAGED ? cudaErrorUnknown : h.status;
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (h.op != RMT_REPLY)
			break;
		{
			void *data = NULL;
			size_t i;

			if (h.len && (!(data = malloc(h.len)) ||
				      xmig_read_full(r->fd, data, h.len) != (ssize_t)h.len)) {
				free(data);
				break;
			}
			pthread_mutex_lock(&r->lock);
			for (i = 0; i < r->npend; i++) {
				if (r->pend[i].seq != h.seq)
					continue;
				r->pend[i].done = true;
				r->pend[i].status = h.status;
				memcpy(r->pend[i].a, h.a, sizeof(h.a));
				r->pend[i].data = data;
				r->pend[i].len = h.len;
				data = NULL;
				break;
			}
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			free(data);
		}
	}
	mark_dead(r);
	return NULL;
}

/* Send one message; its payload in up to two pieces. */
static int send_msg(struct rmt *r, struct rmt_hdr *h, const void *p1, size_t l1, const void *p2,
		    size_t l2)
{
	struct iovec iov[3] = { { h, sizeof(*h) }, { (void *)p1, l1 }, { (void *)p2, l2 } };
	int rc;

	h->magic = RMT_MAGIC;
	h->len = l1 + l2;
	pthread_mutex_lock(&r->send_lock);
	rc = xmig_writev_all(r->fd, iov, 3);
	pthread_mutex_unlock(&r->send_lock);
	return rc;
}

/* Post a copy to the GPU without waiting: its bytes, then their XXH3. */
static int post_checked(struct rmt *r, struct rmt_hdr *h, const void *bytes, size_t n)
{
	int rc;

	if (r->dead)
		return link_lost();
	h->magic = RMT_MAGIC;
	h->seq = 0;
	h->len = n;
	pthread_mutex_lock(&r->send_lock);
	rc = xmig_write_checked(r->fd, h, sizeof(*h), bytes, n) < 0;
	pthread_mutex_unlock(&r->send_lock);
	return rc ? link_lost() : 0;
}

/* Post an operation without waiting. */
static int post(struct rmt *r, struct rmt_hdr *h, const void *p1, size_t l1, const void *p2,
		size_t l2)
{
	if (r->dead)
		return link_lost();
	h->seq = 0;
	return send_msg(r, h, p1, l1, p2, l2) < 0 ? link_lost() : 0;
}

/*
 * Call and wait: status, out-arguments, and (if out/out_len) the reply's
 * payload, copied to out. A synchronising call also reports an error left
 * by a posted one.
 */
static int call(struct rmt *r, struct rmt_hdr *h, const void *payload, size_t plen, void *out,
		size_t out_len, bool synchronising)
{
	struct pending *p;
	size_t i;
	int status;

	pthread_mutex_lock(&r->lock);
	if (r->dead) {
		pthread_mutex_unlock(&r->lock);
		return link_lost();
	}
	h->seq = ++r->next_seq;
	p = realloc(r->pend, (r->npend + 1) * sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&r->lock);
		return cudaErrorMemoryAllocation;
	}
	r->pend = p;
	memset(&r->pend[r->npend], 0, sizeof(*p));
	r->pend[r->npend++].seq = h->seq;
	pthread_mutex_unlock(&r->lock);

	if (send_msg(r, h, payload, plen, NULL, 0) < 0)
		mark_dead(r);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		for (i = 0; i < r->npend && r->pend[i].seq != h->seq; i++)
			;
		if (r->pend[i].done || r->dead)
			break;
		pthread_cond_wait(&r->cond, &r->lock);
	}
	if (!r->pend[i].done) {
		r->pend[i] = r->pend[--r->npend];
		pthread_mutex_unlock(&r->lock);
		return link_lost();
	}
	status = r->pend[i].status;
	memcpy(h->a, r->pend[i].a, sizeof(h->a));
	if (out && r->pend[i].data)
		memcpy(out, r->pend[i].data, r->pend[i].len < out_len ? r->pend[i].len : out_len);
	free(r->pend[i].data);
	r->pend[i] = r->pend[--r->npend];
	if (synchronising && !status && r->async_error) {
		status = r->async_error;
		r->async_error = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return status;
}

static struct rmt_hdr hdr(uint32_t op)
{
	struct rmt_hdr h;

	memset(&h, 0, sizeof(h));
	h.op = op;
	return h;
}

/* ---- operations ----------------------------------------------------------------- */

static int r_count(int *n)
{
	*n = 0;
	return cudaErrorNotSupported;   /* a bridge serves the GPU it was opened on */
}

static int r_info_of(int gpu, struct xmig_gpu_info *info)
{
	return cudaErrorNotSupported;
}

static int r_driver_version(int *v)
{
	*v = CUDART_VERSION;
	return 0;
}

/*
 * The job's library settings, for the executor to set before it opens the
 * device (its own environment is its node's): what this proxy runs with.
 */
static void send_job_env(struct rmt *r)
{
	extern char **environ;
	struct rmt_hdr h = hdr(RMT_ENV);
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int st;

	for (char **e = environ; *e; e++) {
		size_t n = strlen(*e) + 1;
		char *b;

		if (!xmig_env_for_libraries(*e))
			continue;
		if (len + n > cap) {
			cap = (len + n) * 2;
			if (!(b = realloc(buf, cap))) {
				free(buf);
				return;
			}
			buf = b;
		}
		memcpy(buf + len, *e, n);
		len += n;
	}
	if (len && (st = call(r, &h, buf, len, NULL, 0, false)))
		xmig_warn("the executor did not take the job's library settings (error %d); the "
			  "libraries there run with its node's", st);
	free(buf);
}

static int r_open(int gpu, uint64_t window, uint64_t window_size, void **out)
{
	const char *where = getenv("XMIG_REMOTE"), *token = getenv("XMIG_REMOTE_TOKEN");
	struct rmt_hdr h;
	struct rmt *r;
	int st;

	if (!where || !token || strlen(token) != 32) {
		xmig_error("remote device: XMIG_REMOTE (host:port) and XMIG_REMOTE_TOKEN are needed");
		return cudaErrorInvalidValue;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return cudaErrorMemoryAllocation;
	pthread_mutex_init(&r->send_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->window = window;
	r->window_size = window_size;
	r->fd = tcp_connect(where);
	/* The token must not outlive its one use in our environment. */
	if (r->fd < 0) {
		xmig_error_errno("cannot reach the executor at %s", where);
		free(r);
		return cudaErrorDevicesUnavailable;
	}
	if (pthread_create(&r->rx, NULL, rx_main, r) != 0) {
		close(r->fd);
		free(r);
		return cudaErrorOperatingSystem;
	}
	h = hdr(RMT_HELLO);
	if ((st = call(r, &h, token, 32, NULL, 0, false))) {
		xmig_error("the executor at %s refused us (wrong or used token?)", where);
		goto err;
	}
	/* used up; emptied in place (unsetenv would move entries under other threads' getenv) */
	setenv("XMIG_REMOTE_TOKEN", "", 1);
	send_job_env(r);
	h = hdr(RMT_OPEN);
	h.a[0] = (uint64_t)gpu;
	h.a[1] = window;
	h.a[2] = window_size;
	if ((st = call(r, &h, NULL, 0, NULL, 0, false))) {
		xmig_error("the executor cannot open GPU %d (error %d)", gpu, st);
		goto err;
	}
	/* never this node's host memory or functions: a graph runs there, away from them */
	r->captures = (unsigned)h.a[0] & ~(unsigned)(XMIG_CAPTURES_HOST_COPIES |
						     XMIG_CAPTURES_HOST_FUNCS);
	*out = r;
	return 0;
err:
	shutdown(r->fd, SHUT_RDWR);
	pthread_join(r->rx, NULL);
	close(r->fd);
	free(r);
	return st;
}

static void r_close(void *dev)
{
	struct rmt *r = dev;
	struct rmt_hdr h = hdr(RMT_BYE);

	if (!r)
		return;
	post(r, &h, NULL, 0, NULL, 0);
	shutdown(r->fd, SHUT_WR);
	pthread_join(r->rx, NULL);
	close(r->fd);
	free(r->pend);
	free(r->vars);
	free(r);
}

static int r_bind_thread(void *dev)
{
	return 0;
}

static int r_info(void *dev, struct xmig_gpu_info *info)
{
	struct rmt_hdr h = hdr(RMT_INFO);

	return call(dev, &h, NULL, 0, info, sizeof(*info), false);
}

static int r_attribute(void *dev, int attr, int *value)
{
	struct rmt_hdr h = hdr(RMT_ATTRIBUTE);
	int st;

	h.a[0] = (uint64_t)attr;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*value = (int)h.a[0];
	return st;
}

static int r_properties(void *dev, struct cudaDeviceProp *p)
{
	struct rmt_hdr h = hdr(RMT_PROPERTIES);

	return call(dev, &h, NULL, 0, p, sizeof(*p), false);
}

static int r_mem_map(void *dev, uint64_t va, uint64_t size, void **mem)
{
	struct rmt_hdr h = hdr(RMT_MEM_MAP);
	int st;

	h.a[0] = va;
	h.a[1] = size;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*mem = (void *)(uintptr_t)h.a[0];
	return st;
}

static int r_mem_unmap(void *dev, uint64_t va, uint64_t size, void *mem)
{
	struct rmt_hdr h = hdr(RMT_MEM_UNMAP);

	h.a[0] = va;
	h.a[1] = size;
	h.a[2] = (uint64_t)(uintptr_t)mem;
	return call(dev, &h, NULL, 0, NULL, 0, false);
}

static int r_mem_info(void *dev, uint64_t *free_b, uint64_t *total)
{
	struct rmt_hdr h = hdr(RMT_MEM_INFO);
	int st = call(dev, &h, NULL, 0, NULL, 0, false);

	*free_b = h.a[0];
	*total = h.a[1];
	return st;
}

static int r_no_export(void *dev, void *mem, int *fd)
{
	return cudaErrorNotSupported;   /* memory crosses nodes as bytes (xfer.c) */
}

static int r_no_import(void *dev, int fd, uint64_t va, uint64_t size, void **mem)
{
	close(fd);
	return cudaErrorNotSupported;
}

static int r_no_va(void *dev, uint64_t size, uint64_t *va)
{
	return cudaErrorNotSupported;
}

static int r_no_va_release(void *dev, uint64_t va, uint64_t size)
{
	return cudaErrorNotSupported;
}

static int r_host_register(void *dev, void *addr, uint64_t size, unsigned flags)
{
	return 0;   /* host memory stays here; copies carry the bytes */
}

static int r_host_unregister(void *dev, void *addr)
{
	return 0;
}

static int create(void *dev, uint32_t op, unsigned flags, int prio, void **out)
{
	struct rmt_hdr h = hdr(op);
	int st;

	h.a[0] = flags;
	h.a[1] = (uint64_t)(int64_t)prio;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*out = (void *)(uintptr_t)h.a[0];
	return st;
}

static int on_handle(void *dev, uint32_t op, void *x, bool wait, bool synchronising)
{
	struct rmt_hdr h = hdr(op);

	h.a[0] = (uint64_t)(uintptr_t)x;
	return wait ? call(dev, &h, NULL, 0, NULL, 0, synchronising) : post(dev, &h, NULL, 0, NULL, 0);
}

static int r_stream_create(void *dev, unsigned flags, int priority, void **s)
{
	return create(dev, RMT_STREAM_CREATE, flags, priority, s);
}

static int r_stream_destroy(void *dev, void *s)
{
	return on_handle(dev, RMT_STREAM_DESTROY, s, true, false);
}

static void *r_stream_special(void *dev, enum xmig_stream_kind kind)
{
	return (void *)(uintptr_t)(kind == XMIG_DEV_STREAM_LEGACY ? RMT_STREAM_LEGACY
								 : RMT_STREAM_PER_THREAD);
}

static int r_stream_sync(void *dev, void *s)
{
	return on_handle(dev, RMT_STREAM_SYNC, s, true, true);
}

static int r_stream_query(void *dev, void *s)
{
	return on_handle(dev, RMT_STREAM_QUERY, s, true, true);
}

/*
 * The function lives on this node and the stream on the other: wait for
 * the stream's work, then call it here, before the stream's later work is
 * sent (the proxy sends in order). Correct, and the stream's host function
 * holds up the job's other calls meanwhile. Never captured (r_captures).
 */
static int r_host_func(void *dev, void *s, void (*fn)(void *arg), void *arg)
{
	int r = r_stream_sync(dev, s);

	if (!r)
		fn(arg);
	return r;
}

static int r_stream_wait_event(void *dev, void *s, void *e, unsigned flags)
{
	struct rmt_hdr h = hdr(RMT_STREAM_WAIT_EVENT);

	h.a[0] = (uint64_t)(uintptr_t)s;
	h.a[1] = (uint64_t)(uintptr_t)e;
	h.a[2] = flags;
	return post(dev, &h, NULL, 0, NULL, 0);
}

static int r_priority_range(void *dev, int *least, int *greatest)
{
	struct rmt_hdr h = hdr(RMT_PRIORITY_RANGE);
	int st = call(dev, &h, NULL, 0, NULL, 0, false);

	*least = (int)(int64_t)h.a[0];
	*greatest = (int)(int64_t)h.a[1];
	return st;
}

static int r_event_create(void *dev, unsigned flags, void **e)
{
	return create(dev, RMT_EVENT_CREATE, flags, 0, e);
}

static int r_event_destroy(void *dev, void *e)
{
	return on_handle(dev, RMT_EVENT_DESTROY, e, true, false);
}

static int r_event_record(void *dev, void *e, void *s, unsigned flags)
{
	struct rmt_hdr h = hdr(RMT_EVENT_RECORD);

	h.a[0] = (uint64_t)(uintptr_t)e;
	h.a[1] = (uint64_t)(uintptr_t)s;
	h.a[2] = flags;
	return post(dev, &h, NULL, 0, NULL, 0);
}

static int r_event_sync(void *dev, void *e)
{
	return on_handle(dev, RMT_EVENT_SYNC, e, true, true);
}

static int r_event_query(void *dev, void *e)
{
	return on_handle(dev, RMT_EVENT_QUERY, e, true, true);
}

static int r_event_elapsed(void *dev, float *ms, void *start, void *end)
{
	struct rmt_hdr h = hdr(RMT_EVENT_ELAPSED);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)start;
	h.a[1] = (uint64_t)(uintptr_t)end;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	memcpy(ms, &h.a[0], sizeof(*ms));
	return st;
}

/* Device memory: the window, or a module variable of the executor's. */
static bool on_device(struct rmt *r, uint64_t addr)
{
	bool yes = addr - r->window < r->window_size;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; !yes && i < r->nvars; i++)
		yes = addr - r->vars[i].addr < r->vars[i].size;
	pthread_mutex_unlock(&r->lock);
	return yes;
}

static int r_memcpy_async(void *dev, uint64_t dst, uint64_t src, uint64_t size, void *s)
{
	struct rmt *r = dev;
	bool dd = on_device(r, dst), sd = on_device(r, src);
	struct rmt_hdr h;

	if (dd && sd) {
		h = hdr(RMT_MEMCPY_D2D);
		h.a[0] = dst;
		h.a[1] = src;
		h.a[2] = size;
		h.a[3] = (uint64_t)(uintptr_t)s;
		return post(r, &h, NULL, 0, NULL, 0);
	}
	if (sd) {
		/* comes back as DATA, in order, before any later reply */
		h = hdr(RMT_MEMCPY_D2H);
		h.a[0] = src;
		h.a[1] = size;
		h.a[2] = (uint64_t)(uintptr_t)s;
		h.a[3] = dst;
		return post(r, &h, NULL, 0, NULL, 0);
	}
	if (dd) {
		for (uint64_t off = 0; off < size; off += RMT_CHUNK) {
			uint64_t n = size - off < RMT_CHUNK ? size - off : RMT_CHUNK;
			int st;

			h = hdr(RMT_MEMCPY_H2D);
			h.a[0] = dst + off;
			h.a[1] = n;
			h.a[2] = (uint64_t)(uintptr_t)s;
			if ((st = post_checked(r, &h, (const void *)(uintptr_t)(src + off), n)))
				return st;
		}
		return 0;
	}
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, size);
	return 0;
}

static int r_memset_async(void *dev, uint64_t dst, uint8_t value, uint64_t size, void *s)
{
	struct rmt_hdr h = hdr(RMT_MEMSET);

	h.a[0] = dst;
	h.a[1] = value;
	h.a[2] = size;
	h.a[3] = (uint64_t)(uintptr_t)s;
	return post(dev, &h, NULL, 0, NULL, 0);
}

static int r_memset_wide(void *dev, uint64_t dst, uint32_t value, unsigned width, uint64_t count,
			 void *s)
{
	struct rmt_hdr h = hdr(RMT_MEMSET_WIDE);

	h.a[0] = dst;
	h.a[1] = value;
	h.a[2] = width;
	h.a[3] = (uint64_t)(uintptr_t)s;
	h.a[4] = count;
	return post(dev, &h, NULL, 0, NULL, 0);
}

static int r_ctx_sync(void *dev)
{
	struct rmt_hdr h = hdr(RMT_CTX_SYNC);

	return call(dev, &h, NULL, 0, NULL, 0, true);
}

static int r_module_load(void *dev, const void *image, size_t size, void **mod)
{
	struct rmt_hdr h = hdr(RMT_MODULE_LOAD);
	int st = call(dev, &h, image, size, NULL, 0, false);

	*mod = (void *)(uintptr_t)h.a[0];
	return st;
}

static int r_module_unload(void *dev, void *mod)
{
	return on_handle(dev, RMT_MODULE_UNLOAD, mod, true, false);
}

static int r_func_get(void *dev, void *mod, const char *name, void **fn,
		      struct xmig_param_layout *layout)
{
	struct rmt_hdr h = hdr(RMT_FUNC_GET);
	uint32_t buf[2 * 1024];
	int st;

	h.a[0] = (uint64_t)(uintptr_t)mod;
	st = call(dev, &h, name, strlen(name) + 1, buf, sizeof(buf), false);
	if (st)
		return st;
	*fn = (void *)(uintptr_t)h.a[0];
	layout->nparams = (uint32_t)h.a[1];
	layout->param_bytes = (uint32_t)h.a[2];
	if (layout->nparams > 1024)
		return cudaErrorNotSupported;
	layout->params = calloc(layout->nparams ? layout->nparams : 1, sizeof(*layout->params));
	if (!layout->params)
		return cudaErrorMemoryAllocation;
	memcpy(layout->params, buf, layout->nparams * sizeof(*layout->params));
	return 0;
}

static int r_var_get(void *dev, void *mod, const char *name, uint64_t size, uint64_t *addr,
		     uint64_t *actual)
{
	struct rmt *r = dev;
	struct rmt_hdr h = hdr(RMT_VAR_GET);
	struct var_range *n;
	int st;

	h.a[0] = (uint64_t)(uintptr_t)mod;
	h.a[1] = size;
	st = call(r, &h, name, strlen(name) + 1, NULL, 0, false);
	if (st)
		return st;
	*addr = h.a[0];
	*actual = h.a[1];
	/* Copies to and from it are device copies. */
	pthread_mutex_lock(&r->lock);
	n = realloc(r->vars, (r->nvars + 1) * sizeof(*n));
	if (n) {
		r->vars = n;
		r->vars[r->nvars++] = (struct var_range){ *addr, *actual };
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int r_func_attributes(void *dev, void *fn, struct cudaFuncAttributes *a)
{
	struct rmt_hdr h = hdr(RMT_FUNC_ATTRIBUTES);

	h.a[0] = (uint64_t)(uintptr_t)fn;
	return call(dev, &h, NULL, 0, a, sizeof(*a), false);
}

static int r_func_set_attribute(void *dev, void *fn, int attr, int value)
{
	struct rmt_hdr h = hdr(RMT_FUNC_SET_ATTRIBUTE);

	h.a[0] = (uint64_t)(uintptr_t)fn;
	h.a[1] = (uint64_t)attr;
	h.a[2] = (uint64_t)(int64_t)value;
	return call(dev, &h, NULL, 0, NULL, 0, false);
}

static int r_occupancy(void *dev, void *fn, int block, size_t smem, unsigned flags, int *blocks)
{
	struct rmt_hdr h = hdr(RMT_OCCUPANCY);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)fn;
	h.a[1] = (uint64_t)block;
	h.a[2] = smem;
	h.a[3] = flags;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*blocks = (int)h.a[0];
	return st;
}

static int r_launch(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
		    size_t shmem, void *s, void *params, size_t param_bytes)
{
	struct rmt_hdr h = hdr(RMT_LAUNCH);

	h.a[0] = (uint64_t)(uintptr_t)fn;
	h.a[1] = grid.x | (uint64_t)grid.y << 32;
	h.a[2] = grid.z | (uint64_t)block.x << 32;
	h.a[3] = block.y | (uint64_t)block.z << 32;
	h.a[4] = shmem;
	h.a[5] = (uint64_t)(uintptr_t)s;
	return post(dev, &h, params, param_bytes, NULL, 0);
}

/* ---- stream capture and CUDA graphs: the executor's backend captures ---- */

/* What the executor said at OPEN its backend captures, less copies of host memory. */
static unsigned r_captures(void *dev)
{
	return ((struct rmt *)dev)->captures;
}

static int r_capture_begin(void *dev, void *s)
{
	return on_handle(dev, RMT_CAPTURE_BEGIN, s, true, false);
}

static int r_capture_end(void *dev, void *s, void **graph)
{
	struct rmt_hdr h = hdr(RMT_CAPTURE_END);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)s;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*graph = st ? NULL : (void *)(uintptr_t)h.a[0];
	return st;
}

static int r_capture_info(void *dev, void *s, int *status, uint64_t *id)
{
	struct rmt_hdr h = hdr(RMT_CAPTURE_INFO);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)s;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*status = (int)h.a[0];
	*id = h.a[1];
	return st;
}

/* The open ends of a capture there: the executor's driver's nodes, opaque here. */
static int r_capture_deps(void *dev, void *s, uint64_t *nodes, size_t max, size_t *n)
{
	struct rmt_hdr h = hdr(RMT_CAPTURE_DEPS);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)s;
	h.a[1] = max;
	st = call(dev, &h, NULL, 0, nodes, max * sizeof(*nodes), false);
	*n = st ? 0 : h.a[0];
	return st;
}

static int r_capture_set_deps(void *dev, void *s, const uint64_t *nodes, size_t n)
{
	struct rmt_hdr h = hdr(RMT_CAPTURE_SET_DEPS);

	h.a[0] = (uint64_t)(uintptr_t)s;
	return call(dev, &h, nodes, n * sizeof(*nodes), NULL, 0, false);
}

static int r_graph_instantiate(void *dev, void *graph, uint64_t flags, void **exec)
{
	struct rmt_hdr h = hdr(RMT_GRAPH_INSTANTIATE);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)graph;
	h.a[1] = flags;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*exec = st ? NULL : (void *)(uintptr_t)h.a[0];
	return st;
}

/* Posted, like a kernel launch: a failure is an asynchronous error. */
static int r_graph_launch(void *dev, void *exec, void *s, bool upload)
{
	struct rmt_hdr h = hdr(RMT_GRAPH_LAUNCH);

	h.a[0] = (uint64_t)(uintptr_t)exec;
	h.a[1] = (uint64_t)(uintptr_t)s;
	h.a[2] = upload;
	return post(dev, &h, NULL, 0, NULL, 0);
}

static int r_graph_destroy(void *dev, void *graph)
{
	return on_handle(dev, RMT_GRAPH_DESTROY, graph, true, false);
}

static int r_graph_exec_destroy(void *dev, void *exec)
{
	return on_handle(dev, RMT_GRAPH_EXEC_DESTROY, exec, true, false);
}

static int r_graph_nodes(void *dev, void *graph, size_t *n)
{
	struct rmt_hdr h = hdr(RMT_GRAPH_NODES);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)graph;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*n = (size_t)h.a[0];
	return st;
}

static int r_graph_exec_update(void *dev, void *exec, void *graph, int *result)
{
	struct rmt_hdr h = hdr(RMT_GRAPH_EXEC_UPDATE);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)exec;
	h.a[1] = (uint64_t)(uintptr_t)graph;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*result = (int)h.a[0];
	return st;
}

static int r_set_limit(void *dev, int limit, size_t value)
{
	struct rmt_hdr h = hdr(RMT_SET_LIMIT);

	h.a[0] = (uint64_t)limit;
	h.a[1] = value;
	return call(dev, &h, NULL, 0, NULL, 0, false);
}

static int r_get_limit(void *dev, int limit, size_t *value)
{
	struct rmt_hdr h = hdr(RMT_GET_LIMIT);
	int st;

	h.a[0] = (uint64_t)limit;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*value = h.a[0];
	return st;
}

/* ---- cuBLAS: handles live in the executor; statuses are cublasStatus_t ---- */

/* A link failure is not a cuBLAS status: say what cuBLAS says of a failed run. */
static int blas_status(int st)
{
	return st == cudaErrorDevicesUnavailable ? CUBLAS_STATUS_EXECUTION_FAILED : st;
}

/*
 * The job's own library file, named to the executor once (libraries.c):
 * over there it loads the same. 0, or a cuBLAS status.
 */
static int name_library(struct rmt *r, const char *var, bool *named)
{
	const char *lib = getenv(var);
	struct rmt_hdr l = hdr(RMT_LIBRARY);
	char buf[PATH_MAX + 32];
	int n, st;

	if (*named || !lib || !*lib)
		return 0;
	n = snprintf(buf, sizeof(buf), "%s=%s", var, lib);
	if (n < 0 || n >= (int)sizeof(buf))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if ((st = call(r, &l, buf, (size_t)n, NULL, 0, false)))
		return st == 1 ? CUBLAS_STATUS_NOT_INITIALIZED : blas_status(st);
	*named = true;
	return 0;
}

/* A cuBLAS or cuBLASLt handle over there, the job's files named first. */
static int blas_new(void *dev, uint32_t op, void **out)
{
	struct rmt *r = dev;
	struct rmt_hdr h = hdr(op);
	int st;

	/* cuBLASLt first: the executor's cuBLAS then runs on it (blas-cuda.c) */
	if ((st = name_library(r, "XMIG_CUBLASLT", &r->cublaslt_named)) ||
	    (st = name_library(r, "XMIG_CUBLAS", &r->cublas_named)))
		return st;
	st = call(r, &h, NULL, 0, NULL, 0, false);
	*out = (void *)(uintptr_t)h.a[0];
	return blas_status(st);
}

static int blas_gone(void *dev, uint32_t op, void *b)
{
	struct rmt_hdr h = hdr(op);

	h.a[0] = (uint64_t)(uintptr_t)b;
	return blas_status(call(dev, &h, NULL, 0, NULL, 0, false));
}

static int r_blas_create(void *dev, void **out)
{
	return blas_new(dev, RMT_BLAS_CREATE, out);
}

static int r_blas_destroy(void *dev, void *b)
{
	return blas_gone(dev, RMT_BLAS_DESTROY, b);
}

/* Posted: torch sets the stream before every GEMM; no round trip for it. */
static int r_blas_set(void *dev, void *b, int what, uint64_t value, uint64_t size, void *s)
{
	struct rmt_hdr h = hdr(RMT_BLAS_SET);

	h.a[0] = (uint64_t)(uintptr_t)b;
	h.a[1] = (uint64_t)what;
	h.a[2] = value;
	h.a[3] = size;
	h.a[4] = (uint64_t)(uintptr_t)s;
	return blas_status(post(dev, &h, NULL, 0, NULL, 0));
}

static int r_blas_gemm(void *dev, void *b, const struct xmig_blas_gemm_req *g)
{
	struct rmt_hdr h = hdr(RMT_BLAS_GEMM);

	h.a[0] = (uint64_t)(uintptr_t)b;
	return blas_status(post(dev, &h, g, sizeof(*g), NULL, 0));
}

/* ---- cuBLASLt: Lt handles live in the executor, descriptors travel as records ---- */

static int r_blaslt_create(void *dev, void **out)
{
	return blas_new(dev, RMT_LT_CREATE, out);
}

static int r_blaslt_destroy(void *dev, void *b)
{
	return blas_gone(dev, RMT_LT_DESTROY, b);
}

static int r_blaslt_heuristic(void *dev, void *b, const struct xmig_lt_heuristic_req *q,
			      struct xmig_lt_heuristic_res *res)
{
	struct rmt_hdr h = hdr(RMT_LT_HEURISTIC);

	h.a[0] = (uint64_t)(uintptr_t)b;
	h.a[1] = (uint64_t)q->cublas_handle;
	return blas_status(call(dev, &h, q, sizeof(*q), res, sizeof(*res), false));
}

static int r_blaslt_matmul(void *dev, void *b, const struct xmig_lt_matmul_req *m, void *s)
{
	struct rmt_hdr h = hdr(RMT_LT_MATMUL);

	h.a[0] = (uint64_t)(uintptr_t)b;
	h.a[1] = (uint64_t)m->cublas_handle;
	h.a[2] = (uint64_t)(uintptr_t)s;
	return blas_status(post(dev, &h, m, sizeof(*m), NULL, 0));
}

/* ---- cuDNN's backend API: objects live in the executor, named by its ids ---- */

/* A link failure is not a cuDNN status: say what cuDNN says of a failed run. */
static int dnn_status(int st)
{
	return st == cudaErrorDevicesUnavailable ? CUDNN_STATUS_EXECUTION_FAILED : st;
}

static int dnn_named(struct rmt *r)
{
	return name_library(r, "XMIG_CUDNN", &r->cudnn_named) ? CUDNN_STATUS_NOT_INITIALIZED : 0;
}

static int r_dnn_info(void *dev, struct xmig_dnn_info_res *res)
{
	struct rmt_hdr h = hdr(RMT_DNN_INFO);
	int st;

	if ((st = dnn_named(dev)))
		return st;
	return dnn_status(call(dev, &h, NULL, 0, res, sizeof(*res), false));
}

static int dnn_new(void *dev, uint32_t op, int type, void **out)
{
	struct rmt_hdr h = hdr(op);
	int st;

	if ((st = dnn_named(dev)))
		return st;
	h.a[0] = (uint64_t)type;
	st = call(dev, &h, NULL, 0, NULL, 0, false);
	*out = (void *)(uintptr_t)h.a[0];
	return dnn_status(st);
}

static int r_dnn_create(void *dev, void **out)
{
	return dnn_new(dev, RMT_DNN_CREATE, 0, out);
}

static int r_dnn_desc_create(void *dev, int type, void **out)
{
	return dnn_new(dev, RMT_DNN_DESC_CREATE, type, out);
}

static int dnn_on(void *dev, uint32_t op, void *x)
{
	struct rmt_hdr h = hdr(op);

	h.a[0] = (uint64_t)(uintptr_t)x;
	return dnn_status(call(dev, &h, NULL, 0, NULL, 0, false));
}

static int r_dnn_destroy(void *dev, void *x)
{
	return dnn_on(dev, RMT_DNN_DESTROY, x);
}

static int r_dnn_desc_destroy(void *dev, void *x)
{
	return dnn_on(dev, RMT_DNN_DESC_DESTROY, x);
}

static int r_dnn_finalize(void *dev, void *x)
{
	return dnn_on(dev, RMT_DNN_FINALIZE, x);
}

/* Posted, like the executions it sets up. */
static int r_dnn_set_stream(void *dev, void *x, void *s)
{
	struct rmt_hdr h = hdr(RMT_DNN_SET_STREAM);

	h.a[0] = (uint64_t)(uintptr_t)x;
	h.a[1] = (uint64_t)(uintptr_t)s;
	return dnn_status(post(dev, &h, NULL, 0, NULL, 0));
}

/* Reference elements are this backend's handles: the executor's ids, as they are. */
static int r_dnn_set_attr(void *dev, void *x, int name, int type, int64_t count,
			  const void *elems)
{
	struct rmt_hdr h = hdr(RMT_DNN_SET_ATTR);

	h.a[0] = (uint64_t)(uintptr_t)x;
	h.a[1] = (uint64_t)name;
	h.a[2] = (uint64_t)type;
	h.a[3] = (uint64_t)count;
	return dnn_status(call(dev, &h, elems, (size_t)count * xmig_dnn_elem_size(type), NULL,
				    0, false));
}

static int r_dnn_get_attr(void *dev, void *x, int name, int type, int64_t requested,
			  int64_t *count, void *elems)
{
	struct rmt_hdr h = hdr(RMT_DNN_GET_ATTR);
	bool fills = type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
	size_t bytes = (size_t)requested * xmig_dnn_elem_size(type);
	int st;

	h.a[0] = (uint64_t)(uintptr_t)x;
	h.a[1] = (uint64_t)name;
	h.a[2] = (uint64_t)type;
	h.a[3] = (uint64_t)requested;
	st = call(dev, &h, fills && elems ? elems : NULL, fills && elems ? bytes : 0, elems,
		  elems ? bytes : 0, false);
	*count = (int64_t)h.a[0];
	return dnn_status(st);
}

/* One posted message: the variant pack is built over there (srv_dnn_execute_local). */
static int r_dnn_run(void *dev, void *x, void *plan, const struct xmig_dnn_execute_req *a)
{
	struct rmt_hdr h = hdr(RMT_DNN_RUN);

	h.a[0] = (uint64_t)(uintptr_t)x;
	h.a[1] = (uint64_t)(uintptr_t)plan;
	return dnn_status(post(dev, &h, a, sizeof(*a) + a->n * sizeof(a->entries[0]), NULL,
				    0));
}

static int r_dnn_execute(void *dev, void *x, void *plan, void *variant_pack)
{
	xmig_error("cuDNN: a variant pack descriptor cannot cross to another node");
	return CUDNN_STATUS_NOT_SUPPORTED;
}

static void r_dnn_last_error(void *dev, char *message, size_t size)
{
	struct rmt_hdr h = hdr(RMT_DNN_LAST_ERROR);
	struct xmig_dnn_error_res res = { { 0 } };

	if (call(dev, &h, NULL, 0, &res, sizeof(res), false))
		snprintf(res.message, sizeof(res.message), "the link to the GPU's node is lost");
	snprintf(message, size, "%s", res.message);
}

const struct xmig_device_ops xmig_device_remote = {
	.name = "remote",
	.open = r_open,
	.close = r_close,
	.bind_thread = r_bind_thread,
	.count = r_count,
	.info = r_info,
	.info_of = r_info_of,
	.attribute = r_attribute,
	.properties = r_properties,
	.driver_version = r_driver_version,
	.granularity = 2u << 20,
	.mem_map = r_mem_map,
	.mem_unmap = r_mem_unmap,
	.mem_info = r_mem_info,
	.mem_export = r_no_export,
	.mem_import = r_no_import,
	.va_reserve = r_no_va,
	.va_release = r_no_va_release,
	.host_register = r_host_register,
	.host_unregister = r_host_unregister,
	.stream_create = r_stream_create,
	.stream_destroy = r_stream_destroy,
	.stream_special = r_stream_special,
	.stream_sync = r_stream_sync,
	.stream_query = r_stream_query,
	.stream_wait_event = r_stream_wait_event,
	.priority_range = r_priority_range,
	.host_func = r_host_func,
	.event_create = r_event_create,
	.event_destroy = r_event_destroy,
	.event_record = r_event_record,
	.event_sync = r_event_sync,
	.event_query = r_event_query,
	.event_elapsed = r_event_elapsed,
	.memcpy_async = r_memcpy_async,
	.memset_async = r_memset_async,
	.memset_wide = r_memset_wide,
	.ctx_sync = r_ctx_sync,
	.module_load = r_module_load,
	.module_unload = r_module_unload,
	.func_get = r_func_get,
	.var_get = r_var_get,
	.func_attributes = r_func_attributes,
	.func_set_attribute = r_func_set_attribute,
	.occupancy = r_occupancy,
	.launch = r_launch,
	.set_limit = r_set_limit,
	.get_limit = r_get_limit,
	.captures = r_captures,
	.capture_begin = r_capture_begin,
	.capture_end = r_capture_end,
	.capture_info = r_capture_info,
	.capture_deps = r_capture_deps,
	.capture_set_deps = r_capture_set_deps,
	.graph_instantiate = r_graph_instantiate,
	.graph_launch = r_graph_launch,
	.graph_destroy = r_graph_destroy,
	.graph_nodes = r_graph_nodes,
	.graph_exec_destroy = r_graph_exec_destroy,
	.graph_exec_update = r_graph_exec_update,
	.blas_create = r_blas_create,
	.blas_destroy = r_blas_destroy,
	.blas_set = r_blas_set,
	.blas_gemm = r_blas_gemm,
	.blaslt_create = r_blaslt_create,
	.blaslt_destroy = r_blaslt_destroy,
	.blaslt_heuristic = r_blaslt_heuristic,
	.blaslt_matmul = r_blaslt_matmul,
	.dnn_info = r_dnn_info,
	.dnn_create = r_dnn_create,
	.dnn_destroy = r_dnn_destroy,
	.dnn_set_stream = r_dnn_set_stream,
	.dnn_desc_create = r_dnn_desc_create,
	.dnn_desc_destroy = r_dnn_desc_destroy,
	.dnn_set_attr = r_dnn_set_attr,
	.dnn_get_attr = r_dnn_get_attr,
	.dnn_finalize = r_dnn_finalize,
	.dnn_execute = r_dnn_execute,
	.dnn_last_error = r_dnn_last_error,
	.dnn_run = r_dnn_run,
};

int xmig_remote_probe(const char *where, const char *token)
{
	struct rmt *r = calloc(1, sizeof(*r));
	struct rmt_hdr h;
	int st;

	if (!r)
		return cudaErrorMemoryAllocation;
	pthread_mutex_init(&r->send_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->fd = tcp_connect(where);
	if (r->fd < 0) {
		free(r);
		return cudaErrorDevicesUnavailable;
	}
	pthread_create(&r->rx, NULL, rx_main, r);
	h = hdr(RMT_HELLO);
	st = call(r, &h, token, strlen(token), NULL, 0, false);
	shutdown(r->fd, SHUT_RDWR);
	pthread_join(r->rx, NULL);
	close(r->fd);
	free(r->pend);
	free(r);
	return st;
}
