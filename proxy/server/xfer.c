/*
 * xfer.c - handing a frozen proxy's state to its successor, over a Unix
 * socket on this node. The successor is an ordinary proxy (a move on this
 * node) or a bridge whose device is an executor on another node (a move
 * across nodes: "stream" mode below, the bridge writing what it receives
 * through its remote backend; the checksummed chunks are checked here,
 * the link to the executor has TCP's own checks only).
 *
 * The orchestrator asks the old proxy to offer its state behind a one-time
 * token (over the authenticated control socket), then tells the new proxy
 * where to fetch it. The old proxy listens on a Unix socket in the job's
 * directory, checks the peer's credentials and the token, and sends:
 *
 *   MANIFEST (json) | IMAGE xN | VAR xN (contents) | ALLOC xN (+ fd) | DONE
 *
 * Device memory crosses as shareable handles (POSIX fds over SCM_RIGHTS):
 * the new proxy either maps the very same physical memory at the same
 * address (zero-copy, same GPU) or maps its own and copies from the
 * imported one (device to device, or peer to peer from another GPU).
 * The new proxy answers ACK once everything is restored; the old one stays
 * frozen and owner until it hands over: asked by the orchestrator, or
 * (COMMIT instead of ACK, when the orchestrator lets the transfer commit)
 * at once, answering ACK; the new proxy then resumes without the two
 * round trips through the orchestrator.
 *
 * To keep the frozen part short, the successor may connect while the job
 * still runs: it gets a PRELUDE (the manifest and fat binaries, read during
 * a pause of a few microseconds that does not drain the GPU), maps its own
 * memory, loads the modules, pins the host memory and makes the objects
 * (library handles, cuDNN plans, one-rank communicators: srv_state_prebuild),
 * starts its workers (held at a gate until the resume), and says GO when
 * the orchestrator asks it to take the state. Before it says it is ready,
 * it may ask for the prelude again (REFRESH, answered as the prelude is,
 * less the images and memory handles it holds): what the job changed
 * while it prepared is then made ahead too (refresh_ahead). The old proxy
 * freezes at GO, for the orchestrator's connection (an offer made with
 * "freeze"; else it waits for the orchestrator's own freeze call). Only
 * then does the state above follow, and only what changed in between
 * costs downtime:
 *
 *   GO (aux: the prelude's hash, if its cuDNN log was replayed ahead;
 *       id: the same, if the successor holds the prelude's manifest;
 *       status: GO_TELL_FROZEN)
 *   FROZEN (if asked: status was_frozen or -1, id the freeze's ns, aux
 *   when it stopped the job) | MANIFEST | IMAGE (new ones) | VAR xN |
 *   ALLOC_KEEP (one, for all that came in the prelude) | ALLOC (new ones,
 *   + fd) | DONE
 *
 * FROZEN lets a copy-mode successor start copying the memory it mapped in
 * the prelude the moment the freeze holds, while the old proxy still makes
 * its manifest; what the manifest then says changed is copied after. A
 * freeze that cannot be made answers GO with REFUSE (status: -1 the GPU
 * did not drain, -2 another command's freeze, -3 the move called off).
 *
 * The manifest then names the kernels, modules and variables that are as
 * in the prelude by id only (manifest-delta.c).
 *
 * When GO names the prelude, the manifest carries the cuDNN log as a delta
 * to the prelude's ("cudnn_delta", dnn-delta.c); otherwise (the replay
 * ahead failed) the whole log, as a snapshot has it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunk-pipe.h"
#include "control.h"
#include "dnn-delta.h"
#include "manifest-delta.h"
#include "state.h"
#include "move.h"
#include "xfer.h"

enum xfer_type {
	XFER_TOKEN = 1, XFER_MANIFEST, XFER_IMAGE,
	XFER_VARS,        /* every __device__ variable: id of them, as (id, len)
			   * pairs of uint64, then their bytes in that order */
	XFER_ALLOC, XFER_DONE, XFER_ACK, XFER_REFUSE,
	XFER_PRELUDE,     /* the state while running: memory map and images, ahead */
	XFER_GO,          /* the successor is ready; the old proxy is frozen now */
	XFER_ALLOC_KEEP,  /* these came in the prelude already: id of them, as
			   * (index, serial) pairs of uint64 */
	XFER_DATA,        /* stream mode: a chunk of allocation id at aux, its len bytes
			   * followed by their XXH3 (xmig_write_checked) */
	XFER_COMMIT,      /* ACK, and hand the channel over to attach id id now;
			   * answered by ACK (status 0: handed over) */
	XFER_FROZEN,      /* the freeze holds: the memory the prelude mapped may be
			   * copied now (before MANIFEST, when GO asked for it) */
	XFER_REFRESH,     /* successor, before GO: the prelude again, only what it lacks */
};

/* PRELUDE's status: what the old proxy says of itself. */
#define PRELUDE_REFRESHES 1   /* it answers REFRESH (an older one knows only GO) */
#define PRELUDE_FROZEN 2      /* the job is frozen: nothing changes before GO */
#define PRELUDE_UNCHANGED 4   /* (a refresh) nothing worth it changed: no manifest */

/* GO's status: flags of what the successor wants. */
#define GO_TELL_FROZEN 1

#define STREAM_CHUNK (16u << 20)
/*
 * The receiver reads up to this many chunks ahead of what it writes; the
 * bytes are hashed in pieces as they land, while still in the cache.
 */
#define STREAM_AHEAD 3

/* An allocation whose handle went out in the prelude. */
struct sent_alloc {
	uint64_t va, size, serial;
};

/* What the successor holds of the last prelude (or refresh) sent. */
struct prelude_sent {
	struct srv_ids images;     /* fat binaries */
	struct sent_alloc *sent;   /* the allocations, by address; size 0: its handle did not go */
	size_t nsent;
	struct dnn_base base;      /* the cuDNN log, which a delta at the freeze builds on */
	uint64_t hash;             /* of the manifest's text, which GO names */
	json_t *manifest;
	uint64_t fingerprint;      /* state_fingerprint() as the tables were read */
};

/* A REFUSE's status, from the sender's freeze at GO: a graph found held once frozen. */
#define REFUSE_GRAPH (-4)

struct xfer_msg {
	uint32_t type;
	int32_t status;
	uint64_t id;
	uint64_t len;      /* bytes following */
	uint64_t aux;
	uint64_t hash;     /* (unused: a DATA chunk's XXH3 follows its bytes) */
};

#define TOKEN_LEN 32

static int send_msg(int fd, uint32_t type, uint64_t id, const void *data, uint64_t len, int pass_fd)
{
	struct xfer_msg m = { type, 0, id, len, 0, 0 };

	if (xmig_sock_send_fds(fd, &m, sizeof(m), &pass_fd, pass_fd >= 0 ? 1 : 0) !=
	    (ssize_t)sizeof(m))
		return -1;
	return len ? xmig_write_all(fd, data, len) : 0;
}

/* A message without payload: ALLOC (index, serial, fd), GO (aux: the prelude). */
static int send_head(int fd, uint32_t type, uint64_t index, uint64_t aux, int pass_fd)
{
	struct xfer_msg m = { type, 0, index, 0, aux, 0 };

	return xmig_sock_send_fds(fd, &m, sizeof(m), &pass_fd, pass_fd >= 0 ? 1 : 0) ==
	       (ssize_t)sizeof(m) ? 0 : -1;
}

static int send_ack(int fd, int32_t status)
{
	struct xfer_msg m = { XFER_ACK, status, 0, 0, 0, 0 };

	return xmig_write_all(fd, &m, sizeof(m));
}

static int recv_msg(int fd, struct xfer_msg *m, int *got_fd)
{
	int fds[1], n = 0;
	ssize_t r = xmig_sock_recv_fds(fd, m, sizeof(*m), fds, &n, 1);

	if (got_fd)
		*got_fd = n ? fds[0] : -1;
	else if (n)
		close(fds[0]);
	if (r > 0 && r < (ssize_t)sizeof(*m) &&
	    xmig_read_full(fd, (char *)m + r, sizeof(*m) - (size_t)r) != (ssize_t)sizeof(*m) - r)
		return -1;
	return r > 0 ? 0 : -1;
}

/*
 * A message the job waits for, expected within about a millisecond (the
 * freeze's FROZEN, the commit and its answer): spin on the socket for up
 * to spin_us first. Waking a thread blocked in recv costs 20-50 us, each
 * added to the job's pause; spinning costs one core for that long.
 */
static int recv_msg_soon(int fd, struct xfer_msg *m, unsigned spin_us)
{
	uint64_t t0 = xmig_now_ns();
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (xmig_now_ns() - t0 < (uint64_t)spin_us * 1000 && poll(&p, 1, 0) == 0)
		xmig_cpu_relax();
	return recv_msg(fd, m, NULL);
}

/* Past any manifest or module image: a length beyond it is a broken stream, not a large blob. */
#define XFER_BLOB_MAX (16ull << 30)

static void *read_blob(int fd, uint64_t len)
{
	char *p;
	ssize_t got;

	if (len > XFER_BLOB_MAX) {
		xmig_error("transfer: a message of %llu bytes (at most %llu): the stream is broken",
			   (unsigned long long)len, XFER_BLOB_MAX);
		return NULL;
	}
	if (!(p = malloc(len + 1)))
		return NULL;
	got = xmig_read_full(fd, p, len);
	if (got < 0 || (uint64_t)got != len) {
		free(p);
		return NULL;
	}
	p[len] = '\0';
	return p;
}

/* ---- the old proxy: offering --------------------------------------------------- */

struct offer {
	struct srv *s;
	const void *holder;        /* the move's control connection */
	pid_t command;             /* the process at its other end (0: not known) */
	_Atomic bool over;         /* taken, expired or withdrawn */
	bool stream;               /* memory as bytes (another node), not handles */
	bool freeze_at_go;         /* the move's freeze is made here, at GO */
	pthread_t thread;
	_Atomic bool cancel;
	_Atomic int active_fd;     /* the connection being served, -1 */
	int lfd;
	char path[512];
	char token[TOKEN_LEN + 1];
	uint64_t deadline;
};

/*
 * A host buffer for device copies: page-aligned, and pinned where the
 * device allows it (else the copies still work, each waiting by itself).
 * NULL without memory.
 */
static void *staging_alloc(struct srv *s, size_t len, bool *pinned)
{
	void *buf;

	*pinned = false;
	if (posix_memalign(&buf, 4096, len ? len : 1) != 0)
		return NULL;
	*pinned = s->dev->host_register(s->devh, buf, len ? len : 1, 0) == 0;
	return buf;
}

static void staging_free(struct srv *s, void *buf, bool pinned)
{
	if (pinned)
		s->dev->host_unregister(s->devh, buf);
	free(buf);
}

/*
 * The pinned buffer the __device__ variables' bytes pass through, kept
 * from move to move and made ahead (with the prelude, on either side):
 * registering host memory with the driver costs more than the copies.
 * Grown if the job has more by the freeze.
 */
static char *var_staging(struct srv *s, uint64_t len)
{
	len = (len + 4095) & ~(uint64_t)4095;
	if (s->var_staging && len <= s->var_staging_len)
		return s->var_staging;
	staging_free(s, s->var_staging, s->var_staging_pinned);
	s->var_staging = staging_alloc(s, len, &s->var_staging_pinned);
	s->var_staging_len = s->var_staging ? len : 0;
	return s->var_staging;
}

/* The bytes of a manifest's variables. */
static uint64_t var_bytes(json_t *m)
{
	uint64_t n = 0;
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(m, "vars"), i, o)
		n += (uint64_t)json_integer_value(json_object_get(o, "size"));
	return n;
}

/*
 * Many small copies between device and host, made as one: a PyTorch job
 * has hundreds of one-byte __device__ variables, and copied one by one
 * they took milliseconds of a move's downtime on each side.
 */
struct pieces {
	size_t n;
	uint64_t *dst, *src, *size;
};

static struct pieces *pieces_new(size_t cap)
{
	struct pieces *p = malloc(sizeof(*p) + 3 * (cap ? cap : 1) * sizeof(uint64_t));

	if (!p)
		return NULL;
	p->n = 0;
	p->dst = (uint64_t *)(p + 1);
	p->src = p->dst + (cap ? cap : 1);
	p->size = p->src + (cap ? cap : 1);
	return p;
}

static void pieces_add(struct pieces *p, uint64_t dst, uint64_t src, uint64_t size)
{
	if (!size)
		return;   /* a batch takes no empty copy */
	p->dst[p->n] = dst;
	p->src[p->n] = src;
	p->size[p->n++] = size;
}

/*
 * Made and waited for; 0 or the device's error. pinned: the host side of
 * every piece is pinned memory, which one kernel reaches (memcpy_pieces).
 */
static int pieces_copy(struct srv *s, const struct pieces *p, bool pinned)
{
	int r = 0, w;

	if (pinned && s->dev->memcpy_pieces &&
	    (r = s->dev->memcpy_pieces(s->devh, p->dst, p->src, p->size, p->n)) !=
		    cudaErrorNotSupported)
		return r;
	if (s->dev->memcpy_batch &&
	    (r = s->dev->memcpy_batch(s->devh, p->dst, p->src, p->size, p->n)) !=
		    cudaErrorNotSupported)
		return r;
	r = 0;
	for (size_t i = 0; i < p->n && !r; i++)
		r = s->dev->memcpy_async(s->devh, p->dst[i], p->src[i], p->size[i], s->legacy.h);
	/* (waited for even after a failure: the caller frees the buffers) */
	w = s->dev->stream_sync(s->devh, s->legacy.h);
	return r ? r : w;
}

/* The n variables v, their bytes one after another (len in all) in the staging buffer: it, or NULL. */
static char *read_vars(struct srv *s, struct srv_var *const *v, size_t n, uint64_t len)
{
	char *buf = var_staging(s, len);
	struct pieces *pieces;
	uint64_t off = 0;
	int r;

	if (!buf || !(pieces = pieces_new(n)))
		return NULL;
	for (size_t i = 0; i < n; off += v[i++]->size)
		pieces_add(pieces, (uint64_t)(uintptr_t)(buf + off), v[i]->addr, v[i]->size);
	r = pieces_copy(s, pieces, s->var_staging_pinned);
	free(pieces);
	return r ? NULL : buf;
}

/*
 * Every variable's bytes, read in id order (as the manifest lists them)
 * at the freeze, before the successor is told: once its copy of the
 * job's memory runs, the GPU serves that context first and a read here
 * waited for the whole copy (0.4-0.6 ms for a GPT's 608 one-byte
 * variables, which take 0.04-0.08 ms alone). 0, or -1 (read later).
 */
struct vars_read {
	size_t n;
	uint64_t *ids;
};

static int vars_read_now(struct srv *s, struct vars_read *vr)
{
	size_t cap = s->vars.count + 1;
	struct srv_var **v = malloc(cap * sizeof(*v));
	uint64_t len = 0, id, t0 = xmig_now_ns();
	int r = -1;

	vr->n = 0;
	free(vr->ids);   /* (read again after a failure) */
	vr->ids = NULL;
	if (!v || !(vr->ids = malloc(cap * sizeof(*vr->ids))))
		goto out;
	for (id = s->vars.first; id < s->vars.next && vr->n < cap; id++) {
		struct srv_var *var = srv_table_get(&s->vars, id);

		if (var) {
			vr->ids[vr->n] = id;
			v[vr->n++] = var;
			len += var->size;
		}
	}
	if (!vr->n || !read_vars(s, v, vr->n, len))
		goto out;
	r = 0;
	xmig_move_trace("send: %zu __device__ variables read at the freeze in %.3f ms", vr->n,
			(double)(xmig_now_ns() - t0) / 1e6);
out:
	free(v);
	if (r < 0)
		vr->n = 0;
	return r;
}

/*
 * The __device__ variables (the manifest's: the same frozen table), as
 * one VARS message. A PyTorch job has hundreds of a few bytes: they are
 * read into one pinned buffer with one wait (one piece each: neighbours
 * may lie in different allocations, and a copy must not span two), and go
 * as one message: one each cost the receiver two reads and an allocation
 * apiece, a millisecond.
 */
static int send_vars(struct srv *s, int fd, struct vars_read *pre)
{
	uint64_t len = 0, t0 = xmig_now_ns(), *pairs;
	struct xfer_msg h = { XFER_VARS, 0, 0, 0, 0, 0 };
	char *wire = NULL;
	size_t n, i;
	int r = -1;

	/* (read at the freeze already, unless that read failed) */
	if (!s->vars.count)
		return 0;
	if (!pre->n && vars_read_now(s, pre) < 0)
		return xmig_error("cannot read the job's __device__ variables");
	n = pre->n;
	for (i = 0; i < n; i++)
		len += ((struct srv_var *)srv_table_get(&s->vars, pre->ids[i]))->size;
	h.id = n;
	h.len = 2 * n * sizeof(uint64_t) + len;
	if (!(wire = malloc(sizeof(h) + h.len)))
		return -1;
	memcpy(wire, &h, sizeof(h));
	pairs = (uint64_t *)(wire + sizeof(h));
	for (i = 0; i < n; i++) {
		pairs[2 * i] = pre->ids[i];
		pairs[2 * i + 1] = ((struct srv_var *)srv_table_get(&s->vars, pre->ids[i]))->size;
	}
	memcpy(pairs + 2 * n, s->var_staging, len);
	r = xmig_write_all(fd, wire, sizeof(h) + h.len) < 0 ? -1 : 0;
	if (xmig_move_tracing())
		xmig_move_trace("send: %zu __device__ variables, %llu bytes, in %.3f ms",
			n, (unsigned long long)len, (double)(xmig_now_ns() - t0) / 1e6);
	free(wire);
	return r;
}

/*
 * Stream mode: every allocation as checksummed chunks, read via the
 * backend; the next chunk is read from the GPU while this one is sent.
 */
struct chunk_ref {
	size_t alloc;
	uint64_t off, n;
};

/* The chunk after c ({0, 0, 0}: the first); false past the last. */
static bool next_chunk(struct srv *s, struct chunk_ref *c)
{
	uint64_t off = c->off + c->n;
	size_t i = c->alloc;

	if (!srv_mem_next_byte(&s->mem, &i, &off))
		return false;
	c->alloc = i;
	c->off = off;
	c->n = s->mem.allocs[i].size - off < STREAM_CHUNK ? s->mem.allocs[i].size - off
							    : STREAM_CHUNK;
	return true;
}

static int send_memory(struct srv *s, int fd)
{
	void *buf[2] = { NULL, NULL };
	bool reg[2] = { false, false };
	struct chunk_ref cur = { 0, 0, 0 }, nxt;
	uint64_t t, t0 = xmig_now_ns(), t_dev = 0, t_write = 0, nchunks = 0;
	bool have;
	int r = 0, k = 0;

	for (int i = 0; i < 2; i++)
		if (!(buf[i] = staging_alloc(s, STREAM_CHUNK, &reg[i]))) {
			staging_free(s, buf[0], reg[0]);
			return -1;
		}
	have = next_chunk(s, &cur);
	if (have)
		r = s->dev->memcpy_async(s->devh, (uint64_t)(uintptr_t)buf[0],
					 s->mem.allocs[cur.alloc].va + cur.off, cur.n, s->legacy.h);
	while (have && !r) {
		struct xfer_msg m = { XFER_DATA, 0, cur.alloc, cur.n, cur.off, 0 };

		/* the chunk in buf[k] is in host memory once this returns */
		t = xmig_now_ns();
		if ((r = s->dev->stream_sync(s->devh, s->legacy.h)))
			break;
		nxt = cur;
		have = next_chunk(s, &nxt);
		if (have && (r = s->dev->memcpy_async(s->devh, (uint64_t)(uintptr_t)buf[!k],
						      s->mem.allocs[nxt.alloc].va + nxt.off, nxt.n,
						      s->legacy.h)))
			break;
		t_dev += xmig_now_ns() - t;
		/* the checksum follows the bytes, hashed piece by piece as they go */
		t = xmig_now_ns();
		if (xmig_write_checked(fd, &m, sizeof(m), buf[k], cur.n) < 0)
			r = -1;
		t_write += xmig_now_ns() - t;
		nchunks++;
		cur = nxt;
		k = !k;
	}
	if (r > 0)
		xmig_error("cannot read the job's memory (error %d)", r);
	/* writing includes waiting for the receiver to take the bytes */
	if (xmig_move_tracing())
		xmig_move_trace("send: stream %llu chunks in %.3f ms: waiting for the "
			"device %.3f ms, hashing and writing %.3f ms",
			(unsigned long long)nchunks, (double)(xmig_now_ns() - t0) / 1e6,
			(double)t_dev / 1e6, (double)t_write / 1e6);
	s->dev->stream_sync(s->devh, s->legacy.h);
	for (int i = 0; i < 2; i++)
		staging_free(s, buf[i], reg[i]);
	return r ? -1 : 0;
}

/*
 * Those of our allocations that came in the prelude (sent, by address as
 * the map is): one message of (index, serial) pairs, not one each.
 */
static int send_kept(struct srv *s, int fd, const struct sent_alloc *sent, size_t nsent,
		     bool *kept)
{
	uint64_t *pairs = calloc(2 * s->mem.nallocs + 1, sizeof(*pairs)), n = 0;
	struct xfer_msg m = { XFER_ALLOC_KEEP, 0, 0, 0, 0, 0 };
	size_t k = 0;
	int r;

	if (!pairs)
		return -1;
	for (size_t i = 0; i < s->mem.nallocs; i++) {
		const struct srv_alloc *a = &s->mem.allocs[i];

		while (k < nsent && sent[k].va < a->va)
			k++;
		kept[i] = k < nsent && sent[k].va == a->va && sent[k].size == a->size &&
			  sent[k].serial == a->serial;
		if (kept[i]) {
			pairs[2 * n] = i;
			pairs[2 * n + 1] = a->serial;
			n++;
		}
	}
	m.id = n;
	m.len = n * 2 * sizeof(*pairs);
	r = xmig_write_all(fd, &m, sizeof(m)) < 0 || xmig_write_all(fd, pairs, m.len) < 0 ? -1 : 0;
	free(pairs);
	return r;
}

/* base: the prelude's cuDNN log, which the successor holds (NULL: it does not). */
static int send_state(struct srv *s, int fd, const struct srv_ids *images_sent,
		      const struct sent_alloc *sent, size_t nsent, bool stream,
		      const struct dnn_base *base, json_t *held, struct vars_read *pre)
{
	uint64_t t0 = xmig_now_ns();
	json_t *m = base ? srv_state_manifest_since(s, base) : srv_state_manifest(s), *o;
	uint64_t t_made = xmig_now_ns();
	/* (a delta that cannot be made: the whole manifest) */
	json_t *wire = held ? manifest_delta(m, held) : NULL;
	char *text = json_dumps(wire ? wire : m, JSON_COMPACT);
	bool *kept = NULL;
	size_t i, late = 0;
	int r = -1;

	if (xmig_move_tracing() && text)
		xmig_move_trace("send: manifest of %zu bytes (%s) made in %.3f ms, "
			"written as JSON in %.3f ms", strlen(text),
			wire ? "entries as in the prelude by id" : "whole",
			(double)(t_made - t0) / 1e6, (double)(xmig_now_ns() - t_made) / 1e6);
	json_decref(wire);
	if (!text || send_msg(fd, XFER_MANIFEST, 0, text, strlen(text), -1) < 0)
		goto out;
	json_array_foreach(json_object_get(m, "modules"), i, o) {
		uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
		struct srv_module *mod = srv_table_get(&s->modules, id);

		if (srv_ids_has(images_sent, id))
			continue;   /* in the prelude already; modules never change */
		if (send_msg(fd, XFER_IMAGE, id, mod->image, mod->size, -1) < 0)
			goto out;
	}
	if (send_vars(s, fd, pre) < 0)
		goto out;
	if (stream) {
		if (send_memory(s, fd) < 0)
			goto out;
		r = send_msg(fd, XFER_DONE, 0, NULL, 0, -1);
		goto out;
	}
	if (!(kept = calloc(s->mem.nallocs + 1, sizeof(*kept))) ||
	    send_kept(s, fd, sent, nsent, kept) < 0)
		goto out;
	t_made = xmig_now_ns();
	for (i = 0; i < s->mem.nallocs; i++) {
		struct srv_alloc *a = &s->mem.allocs[i];
		int efd = -1;

		if (kept[i])
			continue;
		late++;
		if ((r = s->dev->mem_export(s->devh, a->mem, &efd))) {
			xmig_error("cannot export the allocation at %#llx (error %d)",
				   (unsigned long long)a->va, r);
			r = -1;
			goto out;
		}
		r = send_head(fd, XFER_ALLOC, i, a->serial, efd);
		close(efd);
		if (r < 0)
			goto out;
	}
	if (xmig_move_tracing())
		xmig_move_trace("send: %zu allocations as in the prelude; %zu made since, exported "
				"while frozen in %.3f ms", s->mem.nallocs - late, late,
				(double)(xmig_now_ns() - t_made) / 1e6);
	r = send_msg(fd, XFER_DONE, 0, NULL, 0, -1);
out:
	free(kept);
	free(text);
	json_decref(m);
	return r;
}

/*
 * XMIG_FAULT=<name>=N sleeps N ms where the code names it: xfer-delay-ms
 * slows each allocation's transfer down (so that the fault tests can kill
 * a proxy or the orchestrator mid-transfer); ahead-pause-ms holds a
 * successor between its prelude and the freeze (so that the job's state
 * surely changes in between); commit-delay-ms holds it between the
 * restore and its word to commit (so that the move can be called off at
 * the commit point); prelude-export-delay-ms holds an old proxy between
 * letting the job go on and exporting its prelude's memory handles (so
 * that the job surely frees some of them in between); prelude-hold-ms
 * holds the job's turn that long while the prelude's tables are read (so
 * that a freeze surely begins meanwhile).
 */
static void fault_delay(const char *name)
{
	const char *f = getenv("XMIG_FAULT");
	size_t n = strlen(name);
	long ms;

	if (f && !strncmp(f, name, n) && f[n] == '=' &&
	    xmig_parse_long(f + n + 1, 0, 60000, &ms) == 0)
		usleep((useconds_t)ms * 1000);
}

/*
 * Hold the job's turn (nothing changes the tables outside one), as a
 * freeze does but apart from it (turn_holds: a freeze begun meanwhile
 * stays). Not when frozen: false then, and nothing to release.
 */
static bool hold_turn(struct srv *s)
{
	if (srv_frozen(s))
		return false;
	atomic_fetch_add(&s->turn_holds, 1);
	while (atomic_load(&s->in_turn))
		xmig_cpu_relax();
	return true;
}

static void release_turn(struct srv *s, bool held)
{
	if (!held)
		return;
	atomic_fetch_sub(&s->turn_holds, 1);
	atomic_fetch_add(&s->freeze_futex, 1);
	xmig_futex_wake(&s->freeze_futex);
}

/*
 * What a refresh of the prelude is worth making for, read in the job's
 * turn: the memory map, pinned memory, the modules loaded, and every table
 * whose objects take a frozen move time to make (kernels, variables,
 * library handles, cuDNN objects, communicators, graphs). Streams and
 * events are left out (the freeze makes one in about 0.1 ms, and a DDP
 * job makes an event every step), and so are changes to an object's
 * settings and counters: the freeze's delta carries those.
 */
static uint64_t state_fingerprint(struct srv *s)
{
	uint64_t v[15] = { s->mem.next_serial, s->mem.nallocs,
			   atomic_load(&s->hdr->host_regions_gen), s->modules.changes,
			   s->funcs.changes, s->vars.changes, s->blas.changes, s->blaslt.changes,
			   s->graphs.changes, s->graph_execs.changes, s->dnn.next_serial,
			   s->dnn.next_step, srv_ccl_generation(s) };
	uint64_t id;

	/* (a module is in its table from its registration; loaded at its first use) */
	for (id = s->modules.first; id < s->modules.next; id++) {
		struct srv_module *m = srv_table_get(&s->modules, id);

		v[13] += m && m->h;
		v[14] += m && m->h ? id : 0;
	}
	return xmig_hash64(v, sizeof(v));
}

/*
 * A handle of mem for the successor into *fd (-1: none). One that cannot
 * be exported is not listed as sent (a size no allocation has): the
 * freeze exports it again, or fails the move, rather than the successor
 * finding at the keep that it lacks it. XMIG_FAULT=prelude-export-fail:
 * the prelude's first export fails (first).
 */
static void export_for_successor(struct srv *s, void *mem, int *fd, struct sent_alloc *sent,
				 bool first)
{
	const char *f = getenv("XMIG_FAULT");

	if (first && f && !strcmp(f, "prelude-export-fail")) {
		xmig_warn("XMIG_FAULT=prelude-export-fail: the prelude's first handle not exported");
		*fd = -1;
	} else if (s->dev->mem_export(s->devh, mem, fd)) {
		*fd = -1;
	}
	if (*fd < 0)
		sent->size = 0;
}

/*
 * Read the tables of a running proxy: hold the turn for a moment (nothing
 * changes them outside a turn) without draining the GPU. The memory
 * handles are only held then (mem_hold: a free meanwhile leaves them
 * exportable) and exported once the job goes on: an export takes the
 * driver 0.1-0.3 ms a handle, milliseconds the job would wait for.
 */
/* The loaded modules, pinned (the job held: none is unloaded meanwhile). */
struct pinned {
	struct srv_module **v;
	uint64_t *ids;
	size_t n;
};

static void pin_module(uint64_t id, void *obj, void *arg)
{
	struct srv_module *m = obj;
	struct pinned *p = arg;

	if (!m->h || !p->v)
		return;
	m->pins++;
	p->ids[p->n] = id;
	p->v[p->n++] = m;
}

static void pin_modules(struct srv *s, struct pinned *p)
{
	size_t cap = s->modules.count + 1;

	p->n = 0;
	p->v = calloc(cap, sizeof(*p->v));
	p->ids = calloc(cap, sizeof(*p->ids));
	if (!p->ids) {
		free(p->v);
		p->v = NULL;
	}
	pthread_mutex_lock(&s->state_lock);
	srv_table_each(&s->modules, pin_module, p);
	pthread_mutex_unlock(&s->state_lock);
}

/* Unpinned; those the job unloaded since go now. */
static void unpin_modules(struct srv *s, struct pinned *p)
{
	pthread_mutex_lock(&s->state_lock);
	for (size_t i = 0; i < p->n; i++)
		if (--p->v[i]->pins == 0 && p->v[i]->unloaded) {
			free(p->v[i]->image);
			free(p->v[i]);
		}
	pthread_mutex_unlock(&s->state_lock);
	free(p->v);
	free(p->ids);
}

static struct srv_module *pinned_module(const struct pinned *p, uint64_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ids[i] == id)
			return p->v[i];
	return NULL;
}

static json_t *paused_manifest(struct srv *s, int **fds, struct sent_alloc **sent, size_t *n,
			       bool stream, struct dnn_base *base, const struct prelude_sent *before,
			       uint64_t *fingerprint, bool *was_paused, struct pinned *pins)
{
	bool lend = !stream && s->dev->mem_hold;
	uint64_t t0 = xmig_now_ns(), t_turn, t_held;
	bool paused = hold_turn(s);
	void **held = NULL;
	json_t *m;
	size_t i, k = 0, again = 0;

	t_turn = xmig_now_ns();
	if (!before)
		fault_delay("prelude-hold-ms");
	*fingerprint = state_fingerprint(s);
	m = srv_state_manifest(s);
	/* (their images are sent after the hold: a module unloaded meanwhile stays till then) */
	pin_modules(s, pins);
	/* (the prelude only: what the standby runs once ahead, blas-warm.c) */
	json_object_set_new(m, "blas_shapes", srv_blas_shapes_json(s));
	json_object_set_new(m, "blaslt_shapes", srv_lt_shapes_json(s));
	json_object_set_new(m, "dnn_runs", srv_dnn_runs_json(s));
	/* what a delta at the freeze builds on (none: the whole log then) */
	if (dnn_base_take(base, &s->dnn) < 0)
		memset(base, 0, sizeof(*base));
	*n = s->mem.nallocs;
	*fds = calloc(*n ? *n : 1, sizeof(**fds));
	*sent = calloc(*n ? *n : 1, sizeof(**sent));
	held = calloc(*n ? *n : 1, sizeof(*held));
	for (i = 0; i < *n; i++) {
		struct srv_alloc *a = &s->mem.allocs[i];

		(*sent)[i] = (struct sent_alloc){ a->va, a->size, a->serial };
		if (*fds)
			(*fds)[i] = -1;
		if (stream)
			continue;
		if (!*fds || !a->mem) {
			(*sent)[i].size = 0;   /* (not sent: exported at the freeze) */
			continue;
		}
		/* (a refresh: the successor holds this one's handle; both lists by address) */
		while (before && k < before->nsent && before->sent[k].va < a->va)
			k++;
		if (before && k < before->nsent && before->sent[k].va == a->va &&
		    before->sent[k].size == a->size && before->sent[k].serial == a->serial) {
			again++;
			continue;
		}
		/* (without a hold, or memory for it: exported now, the job held) */
		if (lend && held && !s->dev->mem_hold(s->devh, a->mem))
			held[i] = a->mem;
		else
			export_for_successor(s, a->mem, &(*fds)[i], &(*sent)[i], !before && !i);
	}
	release_turn(s, paused);
	t_held = xmig_now_ns();
	if (lend)
		fault_delay("prelude-export-delay-ms");
	for (i = 0; held && i < *n; i++) {
		if (!held[i])
			continue;
		export_for_successor(s, held[i], &(*fds)[i], &(*sent)[i], !before && !i);
		s->dev->mem_drop(s->devh, held[i]);
	}
	free(held);
	if (xmig_move_tracing())
		xmig_move_trace("send: %s's tables read %s for %.3f ms (waiting for its "
				"turn %.3f ms); %zu handles exported after, in %.3f ms",
				before ? "refresh" : "prelude",
				paused ? "with the job held" : "frozen",
				(double)(t_held - t0) / 1e6, (double)(t_turn - t0) / 1e6,
				*n - again, (double)(xmig_now_ns() - t_held) / 1e6);
	*was_paused = paused;
	return m;
}

/*
 * PRELUDE (its status: PRELUDE_*) | IMAGE xN | ALLOC xN (+ fd) | DONE:
 * the prelude, into *ps. before: the one sent already (a refresh: only
 * the images and handles the successor lacks go, ps then replaces it).
 */
static int send_prelude(struct srv *s, int fd, bool stream, const struct prelude_sent *before,
			struct prelude_sent *ps)
{
	int *fds = NULL;
	bool paused;
	struct pinned pins = { 0 };
	json_t *m = paused_manifest(s, &fds, &ps->sent, &ps->nsent, stream, &ps->base, before,
				    &ps->fingerprint, &paused, &pins), *o;
	char *text = json_dumps(m, JSON_COMPACT);
	struct xfer_msg head = { XFER_PRELUDE, PRELUDE_REFRESHES | (paused ? 0 : PRELUDE_FROZEN),
				 0, text ? strlen(text) : 0, 0, 0 };
	size_t i, images = 0;
	int r = -1;

	var_staging(s, var_bytes(m));   /* ahead of the freeze (none: made then) */

	if (!text || xmig_write_all(fd, &head, sizeof(head)) < 0 ||
	    xmig_write_all(fd, text, head.len) < 0)
		goto out;
	/* named in GO */
	ps->hash = xmig_hash64(text, strlen(text)) ?: 1;
	/*
	 * Images never change once loaded: no pause needed to read them. The
	 * freeze sends those not sent here: a set, not the highest id, since
	 * ids are given when a fat binary is registered and it is loaded at
	 * its first use, so one with a lower id can be loaded after this.
	 */
	json_array_foreach(json_object_get(m, "modules"), i, o) {
		uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
		struct srv_module *mod = pinned_module(&pins, id);

		if (before && srv_ids_has(&before->images, id))
			continue;
		if (!mod || send_msg(fd, XFER_IMAGE, id, mod->image, mod->size, -1) < 0)
			goto out;
		images++;
	}
	if (srv_ids_of(json_object_get(m, "modules"), &ps->images) < 0)
		goto out;
	for (i = 0; i < ps->nsent && !stream; i++) {
		if (fds[i] < 0)
			continue;   /* (not exported, or the successor holds it) */
		if (send_head(fd, XFER_ALLOC, i, ps->sent[i].serial, fds[i]) < 0)
			goto out;
	}
	r = send_msg(fd, XFER_DONE, 0, NULL, 0, -1);
	if (r == 0)
		ps->manifest = json_incref(m);
	if (before)
		xmig_move_trace("send: refresh of %zu bytes, %zu images", strlen(text), images);
out:
	unpin_modules(s, &pins);
	for (i = 0; fds && i < ps->nsent; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(text);
	json_decref(m);
	return r;
}

static void prelude_sent_free(struct prelude_sent *ps)
{
	free(ps->images.v);
	free(ps->sent);
	dnn_base_free(&ps->base);
	json_decref(ps->manifest);
	memset(ps, 0, sizeof(*ps));
}

/* Has nothing worth a refresh changed since the prelude ps (or its last refresh)? */
static bool refresh_unchanged(struct srv *s, const struct prelude_sent *ps)
{
	bool held = hold_turn(s);
	uint64_t now = state_fingerprint(s);

	release_turn(s, held);
	return now == ps->fingerprint;
}

/*
 * The prelude, then REFRESH as often as the successor asks (each the
 * prelude again, what changed since; or only PRELUDE_UNCHANGED), until
 * GO: 0, with GO in *go.
 */
static int send_preludes(struct srv *s, int fd, bool stream, struct prelude_sent *ps,
			 struct xfer_msg *go)
{
	if (send_prelude(s, fd, stream, NULL, ps) < 0)
		return -1;
	for (;;) {
		struct prelude_sent now = { 0 };

		if (recv_msg(fd, go, NULL) < 0)
			return -1;
		if (go->type == XFER_GO)
			return 0;
		if (go->type != XFER_REFRESH)
			return -1;
		/* XMIG_FAULT=refresh-hangup: this proxy hangs up when asked for a refresh */
		if (getenv("XMIG_FAULT") && !strcmp(getenv("XMIG_FAULT"), "refresh-hangup"))
			return -1;
		if (refresh_unchanged(s, ps)) {
			struct xfer_msg same = { XFER_PRELUDE, PRELUDE_REFRESHES | PRELUDE_UNCHANGED,
						 0, 0, 0, 0 };

			xmig_move_trace("send: refresh: nothing changed worth one");
			if (xmig_write_all(fd, &same, sizeof(same)) < 0)
				return -1;
			continue;
		}
		if (send_prelude(s, fd, stream, ps, &now) < 0) {
			prelude_sent_free(&now);
			return -1;
		}
		prelude_sent_free(ps);
		*ps = now;
	}
}

/*
 * GO may come while the freeze of its move still drains the GPU (the
 * orchestrator asks for both at once, so that the successor's word is not
 * a round trip of the downtime): wait until that freeze, or one by hand,
 * holds. Not for another move's freeze, and not once the move is called
 * off or the successor hangs up.
 */
static bool wait_frozen(struct offer *o, int fd)
{
	uint64_t t0 = xmig_now_ns();

	while (xmig_now_ns() < o->deadline) {
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };
		int r = srv_frozen_for(o->s, o->holder, &o->cancel);

		if (r)
			return r > 0;
		if (poll(&p, 1, 0) > 0)
			return false;
		/* a drain is usually short; past a few ms, no hurry */
		usleep(xmig_now_ns() - t0 < 5000000ull ? 20 : 1000);
	}
	return false;
}

/* Serve one connection; 1 when the state went out and was taken. */
static int serve(struct offer *o, int fd)
{
	struct xfer_msg m;
	struct prelude_sent ps = { 0 };
	struct vars_read pre = { 0 };
	uint64_t freeze_ns = 0;
	bool was = false;
	uid_t uid;
	char *tok;
	int ok = 0;

	if (xmig_sock_peer(fd, NULL, &uid, NULL) < 0 ||
	    !xmig_sock_peer_allowed(uid, o->s->owner_uid)) {
		send_msg(fd, XFER_REFUSE, 0, NULL, 0, -1);
		return 0;
	}
	if (recv_msg(fd, &m, NULL) < 0 || m.type != XFER_TOKEN || m.len != TOKEN_LEN)
		return 0;
	tok = read_blob(fd, TOKEN_LEN);
	if (!tok || strcmp(tok, o->token)) {
		free(tok);
		xmig_warn("a transfer with a wrong token was refused");
		send_msg(fd, XFER_REFUSE, 0, NULL, 0, -1);
		return 0;
	}
	free(tok);
	/*
	 * The prelude (ahead of the freeze while the job runs; at once for a
	 * job frozen already) and its refreshes, then wait for GO: by then it
	 * must be frozen.
	 */
	if (send_preludes(o->s, fd, o->stream, &ps, &m) < 0)
		goto out;
	xmig_move_trace("send: go");
	/*
	 * The move's freeze, now that the successor waits for the state: the
	 * job stops when the transfer can start, not a control round trip
	 * before or after.
	 */
	if (o->freeze_at_go) {
		uint64_t t = xmig_now_ns();
		int r = srv_freeze_for(o->s, o->holder, &o->cancel, &was);

		freeze_ns = xmig_now_ns() - t;
		xmig_move_trace("freeze: %s", r ? "failed" : was ? "frozen already" : "frozen");
		if (r < 0) {
			struct xfer_msg no = { XFER_REFUSE, r, 0, 0, 0, 0 };

			xmig_write_all(fd, &no, sizeof(no));
			goto out;
		}
	}
	if (!wait_frozen(o, fd)) {
		send_msg(fd, XFER_REFUSE, 0, NULL, 0, -1);
		goto out;
	}
	xmig_move_trace("send: frozen for this move");
	/* (a graph made since the offer's check: the move is called off, the job goes on) */
	{
		char why[256];

		if (srv_graph_held(o->s, why, sizeof(why)) < 0) {
			struct xfer_msg no = { XFER_REFUSE, REFUSE_GRAPH, 0, 0, 0, 0 };

			xmig_error("not moved: %s", why);
			xmig_write_all(fd, &no, sizeof(no));
			goto out;
		}
	}
	/* the variables first: before the successor's copy holds the GPU */
	vars_read_now(o->s, &pre);
	/* FROZEN: status was_frozen, id the freeze's ns, aux when it stopped the job */
	if (m.status & GO_TELL_FROZEN) {
		struct xfer_msg fz = { XFER_FROZEN, o->freeze_at_go ? was : -1, freeze_ns, 0,
				       o->freeze_at_go && !was ? o->s->froze_at_ns : 0, 0 };

		if (xmig_write_all(fd, &fz, sizeof(fz)) < 0)
			goto out;
	}
	/*
	 * The cuDNN log as a delta only to a successor that holds this
	 * prelude's (aux), the manifest only to one that holds its manifest (id).
	 */
	if (send_state(o->s, fd, &ps.images, ps.sent, ps.nsent, o->stream,
		       m.aux == ps.hash && ps.base.objs ? &ps.base : NULL,
		       m.id == ps.hash ? ps.manifest : NULL, &pre) < 0)
		goto out;
	xmig_move_trace("send: state sent");
	if (recv_msg_soon(fd, &m, o->stream ? 0 : 2000) < 0)
		goto out;
	xmig_move_trace("send: the new proxy's word");
	if (m.type == XFER_ACK && m.status == 0)
		ok = 1;
	if (m.type == XFER_COMMIT) {
		char why[128];
		bool stay_frozen;

		ok = 1;   /* taken, whether or not the move still stands */
		/* marked first: a command that finds no mark knows there was no handover */
		if (xmig_handover_mark(o->s->job, o->token, o->command) < 0) {
			xmig_error_errno("no handover: cannot mark it in the job's directory");
			send_ack(fd, -1);
		} else if (srv_hand_over(o->s, m.id, &o->cancel, &stay_frozen, why, sizeof(why)) < 0) {
			xmig_handover_unmark(o->s->job, o->token);
			xmig_warn("no handover at the end of the transfer: %s", why);
			send_ack(fd, -1);
		} else {
			/* aux: the successor keeps the job frozen */
			m = (struct xfer_msg){ XFER_ACK, 0, 0, 0, stay_frozen, 0 };
			if (xmig_write_all(fd, &m, sizeof(m)) < 0)
				xmig_warn("handed over; the new proxy did not hear it (it resumes "
					  "when it finds it owns the job)");
			xmig_move_trace("send: handed over");
			ctl_request_stop("handed over");
		}
	}
out:
	free(pre.ids);
	prelude_sent_free(&ps);
	return ok;
}

static void *offer_main(void *arg)
{
	struct offer *o = arg;

	pthread_setname_np(pthread_self(), "xmig-offer");
	/* Sending __device__ variables reads device memory. */
	o->s->dev->bind_thread(o->s->devh);
	/* Offered while frozen; withdrawn before a thaw (a rollback), or taken. */
	while (xmig_now_ns() < o->deadline && !atomic_load(&o->cancel)) {
		struct pollfd p = { .fd = o->lfd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		atomic_store(&o->active_fd, fd);
		if (atomic_load(&o->cancel)) {
			atomic_store(&o->active_fd, -1);
			close(fd);
			break;
		}
		if (serve(o, fd)) {
			atomic_store(&o->active_fd, -1);
			close(fd);
			break;   /* one use only: a replayed token finds nobody */
		}
		atomic_store(&o->active_fd, -1);
		close(fd);
	}
	close(o->lfd);
	unlink(o->path);
	atomic_store(&o->over, true);
	return NULL;
}

bool srv_xfer_offered_to_another(struct srv *s, const void *holder)
{
	return s->offer && s->offer->holder != holder && !atomic_load(&s->offer->over);
}

void srv_xfer_withdraw_of(struct srv *s, const void *holder)
{
	if (s->offer && s->offer->holder == holder)
		srv_xfer_withdraw(s);
}

void srv_xfer_withdraw(struct srv *s)
{
	struct offer *o = s->offer;
	int fd;

	if (!o)
		return;
	atomic_store(&o->cancel, true);
	fd = atomic_load(&o->active_fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);   /* a send in progress fails at once */
	pthread_join(o->thread, NULL);
	s->offer = NULL;
	free(o);
}

void srv_xfer_close(struct srv *s)
{
	srv_xfer_withdraw(s);
	json_decref(s->xfer_prelude);
	s->xfer_prelude = NULL;
	staging_free(s, s->var_staging, s->var_staging_pinned);
	s->var_staging = NULL;
	s->var_staging_len = 0;
}

int srv_xfer_offer(struct srv *s, const void *holder, pid_t command, const char *token,
		   bool stream, bool freeze_at_go, unsigned timeout_s, char *path, size_t len)
{
	struct offer *o;
	char dir[512];

	srv_xfer_withdraw(s);
	/* (the move's target may be this very GPU: freed memory kept is its room) */
	if (s->dev->mem_trim)
		s->dev->mem_trim(s->devh);
	o = calloc(1, sizeof(*o));
	if (!o || strlen(token) != TOKEN_LEN)
		goto err;
	o->s = s;
	o->holder = holder;
	o->command = command;
	o->stream = stream;
	o->freeze_at_go = freeze_at_go;
	atomic_init(&o->active_fd, -1);
	snprintf(o->token, sizeof(o->token), "%s", token);
	if (xmig_job_dir(s->job, dir, sizeof(dir)) < 0)
		goto err;
	snprintf(o->path, sizeof(o->path), "%s/%d.xfer.%d", dir, (int)s->client_pid, (int)getpid());
	o->lfd = xmig_sock_listen(o->path, 0666);
	if (o->lfd < 0)
		goto err;
	o->deadline = xmig_now_ns() + (uint64_t)timeout_s * 1000000000ull;
	if (pthread_create(&o->thread, NULL, offer_main, o) != 0) {
		close(o->lfd);
		unlink(o->path);
		goto err;
	}
	s->offer = o;
	snprintf(path, len, "%s", o->path);
	return 0;
err:
	free(o);
	return -1;
}

/* ---- the new proxy: receiving ---------------------------------------------------- */

struct images {
	uint64_t *ids;
	void **data;
	uint64_t *sizes;
	size_t n;
};

static void *take_image(void *arg, uint64_t id, uint64_t size)
{
	struct images *im = arg;
	size_t i;

	for (i = 0; i < im->n; i++)
		if (im->ids[i] == id && im->sizes[i] == size) {
			void *p = im->data[i];

			im->data[i] = NULL;
			return p;
		}
	return NULL;
}

static void progress(struct ctl_conn *cc, const char *phase, uint64_t done, uint64_t total)
{
	if (cc)
		ctl_notify(cc, "progress", json_pack("{s:s, s:I, s:I}", "phase", phase, "done",
						     (json_int_t)done, "total", (json_int_t)total));
}

struct var_blob {
	uint64_t id;
	void *data;
	uint64_t len;
};

/* The VARS message: n variables, their data inside blob. */
struct vars_in {
	void *blob;
	struct var_blob *v;
	size_t n;
};

static void vars_in_free(struct vars_in *vi)
{
	free(vi->blob);
	free(vi->v);
	*vi = (struct vars_in){ 0 };
}

/* Take a VARS message of msg->len bytes (one per transfer); -1 if malformed. */
static int vars_in_read(int fd, const struct xfer_msg *msg, struct vars_in *vi)
{
	uint64_t n = msg->id, off, *pairs;

	if (vi->blob || n > msg->len / (2 * sizeof(uint64_t)) || !(vi->blob = read_blob(fd, msg->len)) ||
	    !(vi->v = calloc(n + 1, sizeof(*vi->v))))
		return -1;
	pairs = vi->blob;
	off = 2 * n * sizeof(uint64_t);
	for (uint64_t i = 0; i < n; i++) {
		if (pairs[2 * i + 1] > msg->len - off)
			return -1;
		vi->v[i] = (struct var_blob){ pairs[2 * i], (char *)vi->blob + off, pairs[2 * i + 1] };
		off += pairs[2 * i + 1];
	}
	vi->n = n;
	return off == msg->len ? 0 : -1;
}

/*
 * The variables' bytes, gathered in one pinned buffer and written with one
 * wait (one copy each: a copy must not span two allocations).
 */
static int restore_vars(struct srv *s, struct var_blob *vb, size_t n)
{
	uint64_t len = 0, off = 0;
	struct pieces *pieces;
	char *buf;
	size_t i;
	int r = 0;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		struct srv_var *v = srv_table_get(&s->vars, vb[i].id);

		if (!v || v->size != vb[i].len)
			return xmig_error("cannot restore a __device__ variable");
		len += vb[i].len;
	}
	if (!(buf = var_staging(s, len)) || !(pieces = pieces_new(n)))
		return -1;
	for (i = 0; i < n; off += vb[i++].len) {
		struct srv_var *v = srv_table_get(&s->vars, vb[i].id);

		memcpy(buf + off, vb[i].data, vb[i].len);
		pieces_add(pieces, v->addr, (uint64_t)(uintptr_t)(buf + off), vb[i].len);
	}
	if ((r = pieces_copy(s, pieces, s->var_staging_pinned)))
		r = xmig_error("cannot restore a __device__ variable (error %d)", r);
	free(pieces);
	return r;
}

/* Copy mode: the predecessor's memory, mapped here to copy from. */
static int add_source(struct srv *s, const struct srv_alloc *a, int fd)
{
	struct srv_source src = { a->va, a->size, a->serial, 0, NULL }, *n;
	size_t i;
	int r;

	if ((r = s->dev->va_reserve(s->devh, a->size, &src.tmp))) {
		close(fd);
		return xmig_error("cannot reserve staging addresses (error %d)", r);
	}
	if ((r = s->dev->mem_import(s->devh, fd, src.tmp, a->size, &src.mem))) {
		s->dev->va_release(s->devh, src.tmp, a->size);
		return xmig_error("cannot import the source memory (error %d)", r);
	}
	src.peer = s->dev->mem_peer && s->dev->mem_peer(s->devh, src.mem);
	n = realloc(s->sources, (s->nsources + 1) * sizeof(*n));
	if (!n) {
		s->dev->mem_unmap(s->devh, src.tmp, src.size, src.mem);
		s->dev->va_release(s->devh, src.tmp, src.size);
		return -1;
	}
	s->sources = n;
	/* by address, as they mostly come */
	for (i = s->nsources; i > 0 && s->sources[i - 1].va > src.va; i--)
		s->sources[i] = s->sources[i - 1];
	s->sources[i] = src;
	s->nsources++;
	return 0;
}

/* Bisection: a GPT has hundreds of allocations, each looked up twice. */
static struct srv_source *find_source(struct srv *s, const struct srv_alloc *a)
{
	size_t lo = 0, hi = s->nsources;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->sources[mid].va < a->va)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->nsources && s->sources[lo].va == a->va; lo++)
		if (s->sources[lo].size == a->size && s->sources[lo].serial == a->serial)
			return &s->sources[lo];
	return NULL;
}

static void release_source(struct srv *s, struct srv_source *src)
{
	s->dev->mem_unmap(s->devh, src->tmp, src->size, src->mem);
	s->dev->va_release(s->devh, src->tmp, src->size);
}

/* Sources of allocations the job freed between the prelude and the freeze
 * (the others keep their order). */
static void drop_stale_sources(struct srv *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->nsources; i++) {
		struct srv_source *src = &s->sources[i];
		struct srv_alloc *a = srv_mem_find(s, src->va, 1);

		if (a && a->va == src->va && a->size == src->size && a->serial == src->serial)
			s->sources[k++] = *src;
		else
			release_source(s, src);
	}
	s->nsources = k;
}

static void *release_main(void *arg)
{
	struct srv *s = arg;
	struct srv_source *list;
	size_t n;

	s->dev->bind_thread(s->devh);
	pthread_mutex_lock(&s->state_lock);
	list = s->sources;
	n = s->nsources;
	s->sources = NULL;
	s->nsources = 0;
	pthread_mutex_unlock(&s->state_lock);
	for (size_t i = 0; i < n; i++)
		release_source(s, &list[i]);
	free(list);
	return NULL;
}

void srv_xfer_release_sources(struct srv *s)
{
	pthread_t th;

	/* Off the critical path: the job runs again meanwhile. */
	if (s->nsources && pthread_create(&th, NULL, release_main, s) == 0)
		pthread_detach(th);
}

/* Allocation index of our memory map came with the prelude (its handle). */
static int keep_alloc(struct srv *s, uint64_t index, uint64_t serial, bool zero_copy)
{
	struct srv_alloc *a = index < s->mem.nallocs ? &s->mem.allocs[index] : NULL;

	fault_delay("xfer-delay-ms");
	if (!a || a->serial != serial)
		return xmig_error("allocation %llu is not the one announced",
				  (unsigned long long)index);
	if (zero_copy ? !a->mem : !find_source(s, a))
		return xmig_error("allocation at %#llx was not prepared", (unsigned long long)a->va);
	return 0;
}

/* One ALLOC message for allocation msg->id of our memory map. */
static int take_alloc(struct srv *s, const struct xfer_msg *msg, int fd, bool zero_copy)
{
	/* (copy and zero-copy modes: memory handles of this node) */
	struct srv_alloc *a = &s->mem.allocs[msg->id];

	fault_delay("xfer-delay-ms");
	if (a->serial != msg->aux) {
		if (fd >= 0)
			close(fd);
		return xmig_error("allocation %llu is not the one announced",
				  (unsigned long long)msg->id);
	}
	if (fd < 0)
		return xmig_error("allocation at %#llx came without its memory",
				  (unsigned long long)a->va);
	if (!zero_copy)
		return add_source(s, a, fd);
	if (a->mem) {
		close(fd);
		return 0;
	}
	/* Zero-copy: the very same memory, at the same address. */
	if (s->dev->mem_import(s->devh, fd, a->va, a->size, &a->mem))
		return xmig_error("cannot map the same memory at %#llx", (unsigned long long)a->va);
	return 0;
}

/*
 * Copy mode: the copy goes over two streams, each allocation on the one
 * with fewer bytes queued. On one stream a copy starts only when the one
 * before it has ended: a GPT's 66 allocations (1.2 GiB) took 0.80 ms on
 * one and 0.65 on two, one copy of as many bytes 0.59 (tests/bench/
 * copy_many, an H200). The second
 * stream joins the legacy one by an event (copy_join), so that all work
 * queued there after it waits for the whole copy. Without a second stream
 * (none could be made), the copy is on the legacy stream alone.
 */
static void copy_streams_open(struct srv *s)
{
	s->copy_queued[0] = s->copy_queued[1] = 0;
	if (s->copy_stream)
		return;
	/* (1: non-blocking, as the legacy stream's work must not wait for it; 2: no timing) */
	if (s->dev->stream_create(s->devh, 1, 0, &s->copy_stream)) {
		s->copy_stream = NULL;
	} else if (s->dev->event_create(s->devh, 2, &s->copy_joined)) {
		s->dev->stream_destroy(s->devh, s->copy_stream);
		s->copy_stream = s->copy_joined = NULL;
	}
}

static void copy_streams_close(struct srv *s)
{
	if (s->copy_joined)
		s->dev->event_destroy(s->devh, s->copy_joined);
	if (s->copy_stream)
		s->dev->stream_destroy(s->devh, s->copy_stream);
	s->copy_stream = s->copy_joined = NULL;
}

/* The legacy stream waits for all that is queued on the second one so far. */
static int copy_join(struct srv *s)
{
	int r;

	if (!s->copy_stream || !s->copy_queued[1])
		return 0;
	if ((r = s->dev->event_record(s->devh, s->copy_joined, s->copy_stream, 0)) ||
	    (r = s->dev->stream_wait_event(s->devh, s->legacy.h, s->copy_joined, 0)))
		return xmig_error("cannot order the job's work after its copy (error %d)", r);
	return 0;
}

/* One source to the allocation at its address, queued (copy_join then orders it). */
static int copy_source(struct srv *s, struct srv_source *src)
{
	int second = s->copy_stream && s->copy_queued[1] < s->copy_queued[0];
	int r = s->dev->memcpy_async(s->devh, src->va, src->tmp, src->size,
				     second ? s->copy_stream : s->legacy.h);

	if (r)
		return xmig_error("copying %#llx failed (error %d)", (unsigned long long)src->va, r);
	s->copy_queued[second] += src->size;
	src->copied = true;
	return 0;
}

/*
 * Copy mode, frozen: every allocation from its source, queued on the
 * legacy stream; the caller makes the objects meanwhile and then waits
 * (whatever else it queues there runs after the copy).
 */
static int copy_from_sources(struct srv *s, uint64_t *done)
{
	size_t i;

	for (i = 0; i < s->mem.nallocs; i++) {
		struct srv_alloc *a = &s->mem.allocs[i];
		struct srv_source *src = find_source(s, a);

		if (!src)
			return xmig_error("no source for the memory at %#llx",
					  (unsigned long long)a->va);
		if (!src->copied && copy_source(s, src) < 0)   /* (else at the freeze already) */
			return -1;
		*done += a->size;
	}
	return copy_join(s);
}

/*
 * Copy mode, ahead: one small copy from the old memory to ours on each
 * stream, so that the context's first copy (its setup) is not one the
 * job waits for. What it writes is overwritten at the freeze.
 */
static void warm_copy(struct srv *s)
{
	uint64_t n;

	if (!s->nsources)
		return;
	n = s->sources[0].size < 65536 ? s->sources[0].size : 65536;
	copy_streams_open(s);
	if (!s->dev->memcpy_async(s->devh, s->sources[0].va, s->sources[0].tmp, n, s->legacy.h))
		s->dev->stream_sync(s->devh, s->legacy.h);
	if (s->copy_stream &&
	    !s->dev->memcpy_async(s->devh, s->sources[0].va, s->sources[0].tmp, n, s->copy_stream))
		s->dev->stream_sync(s->devh, s->copy_stream);
}

/*
 * Many allocations that each take little time to copy go by one kernel
 * (memcpy_chunks): a copy engine's copy costs 6-8 us to queue, and a GPT's
 * 66 (1.2 GiB) took 0.4-0.55 ms of the pause to queue, while the engines
 * copy one large allocation about 10% faster than the kernel. Below this
 * size on average, the kernel; another GPU's memory, the engines.
 */
#define KERNEL_COPY_BELOW (128ull << 20)

/* 0: all queued by one kernel; 1: not this way (copy them one by one); -1: failed */
static int copy_by_kernel(struct srv *s)
{
	uint64_t *dst, *src, *size, total = 0;
	size_t n = s->nsources, i;
	int r = 1;

	if (!s->dev->memcpy_chunks || n < 2)
		return 1;
	for (i = 0; i < n; i++) {
		if (s->sources[i].peer || s->sources[i].copied)
			return 1;
		total += s->sources[i].size;
	}
	if (total / n >= KERNEL_COPY_BELOW)
		return 1;
	dst = malloc(3 * n * sizeof(*dst));
	if (!dst)
		return 1;
	src = dst + n;
	size = src + n;
	for (i = 0; i < n; i++) {
		dst[i] = s->sources[i].va;
		src[i] = s->sources[i].tmp;
		size[i] = s->sources[i].size;
	}
	r = s->dev->memcpy_chunks(s->devh, dst, src, size, n, s->legacy.h);
	free(dst);
	if (r == cudaErrorNotSupported)
		return 1;
	if (r)
		return xmig_error("copying the job's memory failed (error %d)", r);
	for (i = 0; i < n; i++)
		s->sources[i].copied = true;
	return 0;
}

/*
 * Copy mode, at FROZEN: the memory the prelude mapped, before the manifest
 * says what changed (the old proxy is frozen and drained: these bytes are
 * final unless the job freed the allocation, and then they are not read).
 */
static int copy_at_freeze(struct srv *s)
{
	int r = copy_by_kernel(s);

	if (r <= 0)
		return r;
	for (size_t i = 0; i < s->nsources; i++)
		if (copy_source(s, &s->sources[i]) < 0)
			return -1;
	return copy_join(s);
}

/*
 * Map the client's pinned regions here, as the old proxy has them: those
 * not mapped yet, and drop those mapped ahead (in the prelude) that the
 * client has released since.
 */
int srv_restore_host_regions(struct srv *s)
{
	struct xmig_host_region_info *now = NULL;
	uint64_t n = 0;
	uint64_t gen = atomic_load_explicit(&s->hdr->host_regions_gen, memory_order_acquire);
	int r = 0;

	/* (the list is as when this proxy last took it: a move's freeze, mostly) */
	if (s->mem.regions_gen_known && gen == s->mem.regions_gen)
		return 0;

	/*
	 * Read whole, again while the client changed it meanwhile (a thread
	 * of the job's may register or unregister its own memory while the
	 * job is frozen: a region taken off the list moves another into its
	 * place, which a reading by index could miss).
	 */
	for (int tries = 0;; tries++) {
		uint64_t again;

		for (n = 0;;) {
			struct xmig_host_region_info info, *more;

			if (srv_session_region(s, n, &info) < 0)
				break;   /* past the last one */
			if (!(more = realloc(now, (n + 1) * sizeof(*now)))) {
				r = -1;
				goto out;
			}
			now = more;
			now[n++] = info;
		}
		again = atomic_load_explicit(&s->hdr->host_regions_gen, memory_order_acquire);
		if (again == gen)
			break;
		if (tries == 1000) {
			r = xmig_error("the job's pinned memory keeps changing: cannot read its list");
			goto out;
		}
		gen = again;
	}
	/*
	 * Those the client no longer has, or has again otherwise (released and
	 * made anew at that address), dropped first: a range of the
	 * application's own registered since may lie where one of them is.
	 */
	for (size_t i = s->mem.nregions; i-- > 0;) {
		const struct srv_host_region *old = &s->mem.regions[i];
		uint64_t k;

		for (k = 0; k < n; k++)
			if (now[k].addr == old->addr && now[k].size == old->size &&
			    now[k].ino == old->ino)
				break;
		if (k == n)
			srv_host_unregister(s, old->addr);
	}
	for (uint64_t k = 0; k < n; k++)
		if (srv_host_register(s, now[k].addr, now[k].size, now[k].ino, now[k].flags)) {
			r = xmig_error("cannot map pinned memory at %#llx again",
				       (unsigned long long)now[k].addr);
			goto out;
		}
	s->mem.regions_gen = gen;
	s->mem.regions_gen_known = true;
out:
	free(now);
	return r;
}

/* XMIG_MOVE_TRACE=1: where a frozen receive spends its time, on stderr. */
static void step(const char *what, uint64_t *t)
{
	uint64_t now;

	if (!t || !xmig_move_tracing())
		return;
	now = xmig_now_ns();
	xmig_move_trace("receive: %s %.3f ms", what, (double)(now - *t) / 1e6);
	*t = now;
}

/*
 * XMIG_MOVE_TRACE=1, copy mode: the copy's own time on the GPU (two events
 * around it), next to the wall clock of "copy done" that also holds the
 * queueing and the wait.
 */
struct copy_clock {
	void *ev[2];
	bool started, ended;
};

static void copy_clock_mark(struct srv *s, struct copy_clock *c, int which)
{
	if (!xmig_move_tracing() || (which ? c->ended : c->started))
		return;
	if (!c->ev[which] && s->dev->event_create(s->devh, 0, &c->ev[which]))
		return;
	if (!s->dev->event_record(s->devh, c->ev[which], s->legacy.h, 0))
		*(which ? &c->ended : &c->started) = true;
}

static void copy_clock_free(struct srv *s, struct copy_clock *c)
{
	for (int i = 0; i < 2; i++)
		if (c->ev[i])
			s->dev->event_destroy(s->devh, c->ev[i]);
	*c = (struct copy_clock){ 0 };
}

/* (after the copy was waited for) */
static void copy_clock_end(struct srv *s, struct copy_clock *c, uint64_t bytes)
{
	float ms;

	if (c->started && c->ended && !s->dev->event_elapsed(s->devh, &ms, c->ev[0], c->ev[1]))
		xmig_move_trace("receive: the copy on the GPU %.3f ms (%.1f GB/s)", ms,
				ms > 0 ? (double)bytes / ms / 1e6 : 0.0);
	copy_clock_free(s, c);
}

/*
 * How long the job's clients spin for their replies once GO is sent: a
 * bound on the pause, not a guess at it (a same-GPU copy runs at about
 * 2 GB/ms; this allows 1 GB/ms and 2 ms more), at most 50 ms.
 */
static uint64_t pause_bound_ns(const struct srv *s, enum xfer_mode mode)
{
	uint64_t bytes = 0;

	if (mode == XFER_COPY)
		for (size_t i = 0; i < s->nsources; i++)
			bytes += s->sources[i].size;
	bytes = 2000000ull + bytes / 1000;
	return bytes < 50000000ull ? bytes : 50000000ull;
}

/* The old proxy's REFUSE after GO: why (its status: srv_freeze_for's, or 0). */
static void refused(int32_t status, int *code, char *why, size_t len)
{
	if (status == REFUSE_GRAPH) {
		*code = XMIG_RPC_REFUSED;
		snprintf(why, len, "the process began capturing a CUDA graph, or made one xmig "
			 "cannot make again, between the move's check and its freeze (the old "
			 "proxy's log says which); nothing was done, the job goes on");
	} else if (status == -2) {
		*code = XMIG_RPC_BUSY;
		snprintf(why, len, SRV_BUSY_MSG);
	} else if (status == -1) {
		snprintf(why, len, "the old proxy's GPU did not drain in time; the job goes on");
	} else if (status == -3) {
		snprintf(why, len, "the move was called off");
	} else {
		snprintf(why, len, "the old proxy is not frozen");
	}
}

/* Connect to the old proxy's offer and present the token; first reply in msg. */
static int xfer_connect(const char *path, const char *token, struct xfer_msg *msg, int *code,
			char *why, size_t len)
{
	int fd = xmig_sock_connect(path);

	if (fd < 0) {
		snprintf(why, len, "cannot reach the old proxy at %s: %s", path, strerror(errno));
		return -1;
	}
	if (send_msg(fd, XFER_TOKEN, 0, token, strlen(token), -1) < 0 || recv_msg(fd, msg, NULL) < 0) {
		snprintf(why, len, "the old proxy hung up");
		close(fd);
		return -1;
	}
	if (msg->type == XFER_REFUSE) {
		*code = XMIG_RPC_PERMISSION;
		snprintf(why, len, "the old proxy refused the transfer (wrong or used token, or "
			 "not frozen)");
		close(fd);
		return -1;
	}
	return fd;
}

/* Fat binaries and variable contents until DONE or the first allocation. */
static int read_blobs(int fd, struct images *im, struct vars_in *vars, struct xfer_msg *msg,
		      int *afd)
{
	for (;;) {
		void *data, *v;

		*afd = -1;
		if (recv_msg(fd, msg, afd) < 0)
			return -1;
		if (msg->type != XFER_VARS && msg->type != XFER_IMAGE)
			return 0;
		/* (only an allocation's message carries a descriptor: one here is dropped) */
		if (*afd >= 0) {
			close(*afd);
			*afd = -1;
		}
		if (msg->type == XFER_VARS) {
			if (vars_in_read(fd, msg, vars) < 0)
				return -1;
			continue;
		}
		if (!(data = read_blob(fd, msg->len)))
			return -1;
		/* (each array grown on its own: one that failed keeps what it held) */
		if ((v = realloc(im->ids, (im->n + 1) * sizeof(*im->ids))))
			im->ids = v;
		if (v && (v = realloc(im->data, (im->n + 1) * sizeof(*im->data))))
			im->data = v;
		if (v && (v = realloc(im->sizes, (im->n + 1) * sizeof(*im->sizes))))
			im->sizes = v;
		if (!v) {
			free(data);
			return xmig_error("out of memory for the job's module images");
		}
		im->ids[im->n] = msg->id;
		im->data[im->n] = data;
		im->sizes[im->n++] = msg->len;
	}
}

static void free_images(struct images *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->data[i]);
	free(im->ids);
	free(im->data);
	free(im->sizes);
	memset(im, 0, sizeof(*im));
}

/*
 * Stream mode: the DATA chunks, read on the pipe's thread. The tags: the
 * allocation's index, the offset in it, and whether the bytes are intact.
 */
struct data_in {
	int fd;
	struct xfer_msg first;   /* its header came with the blobs already */
	bool have_first;
	struct xfer_msg last;    /* the message after the chunks (DONE) */
};

static int read_data(void *arg, struct chunk *c)
{
	struct data_in *in = arg;
	struct xfer_msg m;
	int r;

	if (in->have_first) {
		m = in->first;
		in->have_first = false;
	} else if (recv_msg(in->fd, &m, NULL) < 0) {
		return -1;
	}
	if (m.type != XFER_DATA) {
		in->last = m;
		return 0;
	}
	if (m.len > c->cap || (r = xmig_read_checked(in->fd, c->buf, m.len)) == -1)
		return -1;
	c->len = m.len;
	c->tag[0] = m.id;
	c->tag[1] = m.aux;
	c->tag[2] = r == 0;
	return 1;
}

/*
 * Stream mode: the chunks from msg (a DATA header) on. A thread reads and
 * checks chunk k+1 while this one writes chunk k to the device, which for
 * a bridge means sending it on to the executor: without it the bridge
 * took turns (read from the old proxy, hash, send over TCP), and a move to
 * another node took the time of all three instead of the slowest. msg
 * becomes the message after the chunks.
 */
static int receive_stream(struct srv *s, struct ctl_conn *cc, int fd, struct xfer_msg *msg,
			  uint64_t total, uint64_t *done, char *why, size_t len)
{
	struct data_in in = { .fd = fd, .first = *msg, .have_first = true };
	struct chunk_pipe *p;
	struct chunk_pipe_stats st;
	struct chunk *c;
	uint64_t t0 = xmig_now_ns();
	size_t at = 0;          /* where the next chunk must start: allocation at, offset off */
	uint64_t off = 0;
	int more, r;

	if (!(p = chunk_pipe_start(STREAM_AHEAD, STREAM_CHUNK, read_data, &in, fd))) {
		snprintf(why, len, "cannot start reading the memory stream");
		return -1;
	}
	while ((more = chunk_pipe_next(p, &c)) > 0) {
		struct srv_alloc *a = c->tag[0] < s->mem.nallocs ? &s->mem.allocs[c->tag[0]] : NULL;

		fault_delay("xfer-delay-ms");
		if (!a || c->tag[1] > a->size || c->len > a->size - c->tag[1]) {
			snprintf(why, len, "the memory stream named memory the job does not have");
			goto err;
		}
		/*
		 * (the sender goes through the allocations in order: a chunk
		 * anywhere else, sent twice or after a gap, would leave some
		 * memory as it was while the byte count still added up)
		 */
		if (!srv_mem_next_byte(&s->mem, &at, &off) || c->tag[0] != at || c->tag[1] != off ||
		    !c->len) {
			snprintf(why, len, "the memory stream went out of order (memory at %#llx "
				 "where %#llx was next)", (unsigned long long)(a->va + c->tag[1]),
				 (unsigned long long)(at < s->mem.nallocs ? s->mem.allocs[at].va + off : 0));
			goto err;
		}
		off += c->len;
		if (!c->tag[2]) {
			snprintf(why, len, "a chunk of the memory at %#llx arrived damaged",
				 (unsigned long long)(a->va + c->tag[1]));
			goto err;
		}
		/* (from pageable memory: the buffer is free again when this returns) */
		if ((r = s->dev->memcpy_async(s->devh, a->va + c->tag[1],
					      (uint64_t)(uintptr_t)c->buf, c->len, s->legacy.h))) {
			snprintf(why, len, "writing the memory at %#llx failed (error %d)",
				 (unsigned long long)(a->va + c->tag[1]), r);
			goto err;
		}
		*done += c->len;
		chunk_pipe_done(p, c);   /* c is the reader's again: not to be read after this */
		progress(cc, "transfer", *done, total);
	}
	if (more < 0) {
		snprintf(why, len, "the memory stream broke off");
		goto err;
	}
	chunk_pipe_stop(p, &st);
	*msg = in.last;
	/* Reading ahead works when the writer hardly waits and the reader does. */
	if (xmig_move_tracing())
		xmig_move_trace("receive: stream %llu chunks in %.3f ms: reading and "
			"checking %.3f ms, reader waiting for a buffer %.3f ms, writer waiting "
			"for a chunk %.3f ms", (unsigned long long)st.chunks,
			(double)(xmig_now_ns() - t0) / 1e6, (double)st.fill_ns / 1e6,
			(double)st.wait_free_ns / 1e6, (double)st.wait_chunk_ns / 1e6);
	return 0;
err:
	chunk_pipe_stop(p, NULL);
	return -1;
}

/*
 * A standby's run of the job's first library uses, ahead (blas-warm.c,
 * blaslt-warm.c, dnn-warm.c): cuBLAS's and cuDNN's set-up and kernel
 * loading, each otherwise paid by the job's first step after the move. A
 * failure only costs that. What ran: {gemm_shapes, blaslt_matmuls,
 * dnn_plans}.
 */
static json_t *run_first_uses(struct srv *s, json_t *prelude, uint64_t *t_step)
{
	unsigned gemms = 0, matmuls = 0, plans = 0, sized = 0;
	const char *env = getenv("XMIG_RUN_AHEAD");
	char what[80];
	int st;

	/* XMIG_RUN_AHEAD=0 (the migrate command's): a same-GPU move's job keeps its GPU to itself */
	if (env && !strcmp(env, "0")) {
		step("prelude: the job's first library uses not run ahead (XMIG_RUN_AHEAD=0)", t_step);
		return json_pack("{s:i, s:i, s:i}", "gemm_shapes", 0, "blaslt_matmuls", 0,
				 "dnn_plans", 0);
	}

	if ((st = srv_blas_warm(s, json_object_get(prelude, "blas_shapes"), &gemms)))
		xmig_warn("the job's GEMMs could not be run once ahead (status %d); its first "
			  "step after the move loads cuBLAS's kernels", st);
	snprintf(what, sizeof(what), "prelude: %u of the job's GEMM shapes run once", gemms);
	step(what, t_step);
	if ((st = srv_lt_warm(s, json_object_get(prelude, "blaslt_shapes"), &matmuls)))
		xmig_warn("the job's cuBLASLt matmuls could not be run once ahead (status %d); its "
			  "first step after the move loads their kernels", st);
	snprintf(what, sizeof(what), "prelude: %u of the job's cuBLASLt matmuls run once", matmuls);
	step(what, t_step);
	if ((st = srv_dnn_warm(s, json_object_get(prelude, "dnn_runs"), &plans, &sized)))
		xmig_warn("the job's cuDNN plans could not be run once ahead (status %d); its first "
			  "step after the move runs them first", st);
	snprintf(what, sizeof(what), "prelude: %u of the job's cuDNN plans run once (%u sized)",
		 plans, sized);
	step(what, t_step);
	return json_pack("{s:i, s:i, s:i}", "gemm_shapes", (int)gemms, "blaslt_matmuls",
			 (int)matmuls, "dnn_plans", (int)plans);
}

/*
 * The rest of a prelude (or of a refresh: what), after its manifest: the
 * fat binaries into im, the memory handles mapped (*n of them) until DONE.
 */
static int take_prelude_memory(struct srv *s, int fd, enum xfer_mode mode, struct images *im,
			       size_t *n, const char *what, char *why, size_t len)
{
	struct vars_in vars = { 0 };   /* (none come ahead) */
	struct xfer_msg msg;
	int afd, r = -1;

	for (;;) {
		if (read_blobs(fd, im, &vars, &msg, &afd) < 0) {
			snprintf(why, len, "the old proxy hung up during %s", what);
			break;
		}
		if (msg.type == XFER_DONE) {
			if (afd >= 0)   /* (a descriptor that came with it is nobody's) */
				close(afd);
			r = 0;
			break;
		}
		if (msg.type != XFER_ALLOC || mode == XFER_STREAM || msg.id >= s->mem.nallocs) {
			if (afd >= 0)
				close(afd);
			snprintf(why, len, "unexpected message %u during %s", msg.type, what);
			break;
		}
		/* (the handle is take_alloc's from here) */
		if (take_alloc(s, &msg, afd, mode == XFER_ZERO_COPY) < 0) {
			snprintf(why, len, "the memory of %s could not be mapped here", what);
			break;
		}
		if (n)
			++*n;
	}
	vars_in_free(&vars);
	return r;
}

/*
 * A prelude (or a refresh of it), its manifest m read: checked, the job's
 * memory mapped (copy mode: ours, while the job still runs; what it freed
 * since the last one, gone with its source), then the rest taken
 * (take_prelude_memory) and made ahead, since each costs milliseconds
 * frozen: fat binaries loaded, pinned memory mapped, the variables'
 * staging, library handles, cuDNN plans, communicators and graphs (a
 * failure there only costs that time at the freeze). The first prelude
 * also warms the copy and traces its steps (t_step). *handles: the old
 * proxy's memory handles mapped. 0, or -1 with why and *code.
 */
static int take_prelude(struct srv *s, int fd, enum xfer_mode mode, json_t *m, bool refresh,
			struct images *im, size_t *handles, uint64_t *t_step, int *code, char *why,
			size_t len)
{
	bool zero_copy = mode == XFER_ZERO_COPY;
	int st;

	if ((st = srv_state_check(s, m, !zero_copy, why, len)) < 0) {
		*code = st == -2 ? XMIG_RPC_REFUSED : XMIG_RPC_FAILED;
		return -1;
	}
	if (srv_state_reconcile_memory(s, m, !zero_copy) < 0) {
		snprintf(why, len, "cannot map the job's memory on GPU %d", s->gpu);
		return -1;
	}
	drop_stale_sources(s);
	step("prelude: state checked, own memory mapped", t_step);
	if (take_prelude_memory(s, fd, mode, im, handles,
				refresh ? "a refresh of its prelude" : "the prelude", why, len) < 0)
		return -1;
	step("prelude: the predecessor's memory mapped", t_step);
	if (srv_state_load_modules(s, m, take_image, im) < 0) {
		snprintf(why, len, "cannot load the job's fat binaries on GPU %d", s->gpu);
		return -1;
	}
	step("prelude: modules loaded", t_step);
	if (srv_restore_host_regions(s) < 0) {
		snprintf(why, len, "cannot map the job's pinned memory here");
		return -1;
	}
	step("prelude: pinned memory mapped", t_step);
	var_staging(s, var_bytes(m));   /* ahead of the freeze (none: made then) */
	if (!refresh)
		warm_copy(s);
	step("prelude: staging and a first copy", t_step);
	if (srv_state_prebuild(s, m) < 0 || srv_graph_restore(s, m) < 0)
		xmig_warn("could not make the job's objects ahead; they are made after the freeze");
	step("prelude: objects made ahead", t_step);
	return 0;
}

/*
 * A refresh of the prelude, taken as the prelude was: the new memory map
 * (what the job allocated since, with its handles; what it freed, gone),
 * the fat binaries it loaded, its pinned memory and the objects it made
 * or dropped. It becomes the prelude the freeze's delta builds on.
 * *made: objects made; *changed: whether enough did for another refresh
 * to be worth it (memory, modules, more than REFRESH_FEW objects: a DDP
 * job makes an event every step, which the freeze makes in 0.1 ms). 1,
 * 0 when the old proxy says nothing worth it changed (state_fingerprint),
 * or -1 with why (the move fails, the job goes on).
 */
#define REFRESH_FEW 4

static int refresh_one(struct srv *s, int fd, enum xfer_mode mode, unsigned *made, bool *changed,
		       int *code, char *why, size_t len)
{
	struct xfer_msg msg = { XFER_REFRESH, 0, 0, 0, 0, 0 };
	struct images im = { 0 };
	uint64_t t0 = xmig_now_ns(), hash;
	size_t modules = s->modules.count, handles = 0, nallocs = s->mem.nallocs;
	json_t *m = NULL;
	char *text = NULL;
	int r = -1;

	if (xmig_write_all(fd, &msg, sizeof(msg)) < 0 || recv_msg(fd, &msg, NULL) < 0 ||
	    msg.type != XFER_PRELUDE) {
		snprintf(why, len, "the old proxy sent no refresh of its prelude");
		goto out;
	}
	if (msg.status & PRELUDE_UNCHANGED) {
		xmig_move_trace("receive: prelude not refreshed: nothing worth it changed, said in "
				"%.3f ms", (double)(xmig_now_ns() - t0) / 1e6);
		*changed = false;
		r = 0;
		goto out;
	}
	if (!(text = read_blob(fd, msg.len)) || !(m = json_loadb(text, msg.len, 0, NULL))) {
		snprintf(why, len, "the old proxy sent no refresh of its prelude");
		goto out;
	}
	hash = xmig_hash64(text, msg.len) ?: 1;
	if (take_prelude(s, fd, mode, m, true, &im, &handles, NULL, code, why, len) < 0)
		goto out;
	*made += s->restored.made;
	*changed = s->modules.count != modules || handles || s->restored.made > REFRESH_FEW ||
		   s->mem.nallocs != nallocs;
	xmig_move_trace("receive: prelude refreshed in %.3f ms: %zu modules loaded, %zu "
			"allocations' handles taken, %u objects made",
			(double)(xmig_now_ns() - t0) / 1e6, s->modules.count - modules, handles,
			s->restored.made);
	json_decref(s->xfer_prelude);
	s->xfer_prelude = json_incref(m);
	s->xfer_prelude_hash = hash;
	s->xfer_base = s->dnn_ahead ? hash : 0;
	r = 1;
out:
	json_decref(m);
	free(text);
	free_images(&im);
	return r;
}

/*
 * What the job changed while this proxy prepared (a fat binary first
 * used, memory allocated, a handle made) would otherwise be made while
 * it is frozen: a module's load took 10-12 ms of a pause on an H200. So
 * the prelude is refreshed before this proxy says it is ready: again
 * while the last refresh changed enough and the window since the one
 * before is longer than REFRESH_WINDOW_NS, at most REFRESH_MAX times (each
 * window is as long as the refresh before it; one that loads modules
 * takes milliseconds each). Not for a job frozen already, nor with
 * XMIG_PRELUDE_REFRESH=0. since: when the prelude came. *n: refreshes
 * made (an answer that nothing changed ends them, and is not one).
 */
#define REFRESH_MAX 3
#define REFRESH_WINDOW_NS 2000000ull

static int refresh_ahead(struct srv *s, int fd, enum xfer_mode mode, uint64_t since, unsigned *n,
			 unsigned *made, int *code, char *why, size_t len)
{
	const char *env = getenv("XMIG_PRELUDE_REFRESH");

	*n = 0;
	if (env && !strcmp(env, "0"))
		return 0;
	for (bool changed = true; changed && *n < REFRESH_MAX &&
				  xmig_now_ns() - since > REFRESH_WINDOW_NS;) {
		int r;

		since = xmig_now_ns();
		if ((r = refresh_one(s, fd, mode, made, &changed, code, why, len)) < 0)
			return -1;
		*n += (unsigned)r;
	}
	return 0;
}

json_t *srv_xfer_prepare(struct srv *s, struct ctl_conn *cc, const char *path, const char *token,
			 enum xfer_mode mode, int *code, char *why, size_t len)
{
	struct images im = { 0 };
	json_t *prelude = NULL, *result = NULL, *run_ahead = NULL;
	struct xfer_msg msg;
	uint64_t t0 = xmig_now_ns(), t_step = t0, hash = 0;
	unsigned ahead = 0, nrefresh = 0;
	char *text = NULL;
	int fd;

	*code = XMIG_RPC_FAILED;
	if (s->xfer_fd >= 0) {
		snprintf(why, len, "already prepared");
		return NULL;
	}
	fd = xfer_connect(path, token, &msg, code, why, len);
	if (fd < 0)
		return NULL;
	if (msg.type != XFER_PRELUDE || !(text = read_blob(fd, msg.len)) ||
	    !(prelude = json_loadb(text, msg.len, 0, NULL))) {
		snprintf(why, len, "the old proxy sent no prelude");
		goto out;
	}
	/* named in GO: the cuDNN log may then come as a delta to this one's */
	hash = xmig_hash64(text, msg.len) ?: 1;
	/* (an old proxy older than refreshes sends status 0: none then) */
	bool refreshes = (msg.status & PRELUDE_REFRESHES) && !(msg.status & PRELUDE_FROZEN);

	if (take_prelude(s, fd, mode, prelude, false, &im, NULL, &t_step, code, why, len) < 0)
		goto out;
	ahead = s->restored.made;
	run_ahead = run_first_uses(s, prelude, &t_step);
	fault_delay("ahead-pause-ms");
	s->xfer_base = s->dnn_ahead ? hash : 0;
	s->xfer_prelude = json_incref(prelude);   /* what the freeze's manifest builds on */
	s->xfer_prelude_hash = hash;
	if (refreshes &&
	    refresh_ahead(s, fd, mode, t0, &nrefresh, &ahead, code, why, len) < 0) {
		json_decref(s->xfer_prelude);
		s->xfer_prelude = NULL;
		goto out;
	}
	if (xmig_move_tracing()) {
		char what[64];

		snprintf(what, sizeof(what), "prelude: %u refreshes of it", nrefresh);
		step(what, &t_step);
	}
	s->xfer_fd = fd;
	fd = -1;
	/*
	 * The workers too, held at a gate until the resume: a thread per ring,
	 * its context and its pinned buffer took 1-3 ms after the resume on
	 * an H200, each a millisecond the job waited for its next call.
	 */
	if (!s->workers_running && srv_workers_start(s, true) < 0)
		xmig_warn("could not start the workers ahead; they start at the resume");
	result = json_pack("{s:I, s:f, s:i, s:i, s:o}", "prepared_bytes",
			   (json_int_t)s->mem.mapped, "seconds", (double)(xmig_now_ns() - t0) / 1e9,
			   "objects_ahead", (int)ahead, "refreshes", (int)nrefresh, "run_ahead",
			   run_ahead);
	run_ahead = NULL;
out:
	if (fd >= 0)
		close(fd);
	json_decref(run_ahead);
	json_decref(prelude);
	free(text);
	free_images(&im);
	return result;
}

/* ALLOC_KEEP: msg->id allocations that came in the prelude, as (index, serial)
 * pairs; their bytes are added to *bytes. */
static int keep_allocs(struct srv *s, int fd, const struct xfer_msg *msg, bool zero_copy,
		       uint64_t *bytes)
{
	uint64_t *pairs;
	int r = 0;

	if (msg->id > s->mem.nallocs || msg->len != msg->id * 2 * sizeof(*pairs) ||
	    !(pairs = read_blob(fd, msg->len)))
		return xmig_error("a malformed list of kept allocations");
	/* XMIG_FAULT=xfer-keep-bad: the list's last entry names another allocation */
	if (msg->id && getenv("XMIG_FAULT") && !strcmp(getenv("XMIG_FAULT"), "xfer-keep-bad"))
		pairs[2 * msg->id - 1]++;
	for (uint64_t i = 0; i < msg->id && !r; i++)
		if (!(r = keep_alloc(s, pairs[2 * i], pairs[2 * i + 1], zero_copy)))
			*bytes += s->mem.allocs[pairs[2 * i]].size;
	free(pairs);
	return r;
}

/*
 * The end of a transfer that commits: ask the old proxy to hand over, and
 * resume. The shared owner id says whether it did, whatever its answer.
 * 1: handed over (*resumed: and serving), 0: not, -1: no answer at all.
 */
static int commit(struct srv *s, int fd, bool frozen, bool *resumed, char *why, size_t len)
{
	struct xfer_msg m = { XFER_COMMIT, 0, s->attach_id, 0, 0, 0 };
	char rwhy[256];
	int answered;
	uint64_t t = xmig_now_ns();

	*resumed = false;
	fault_delay("commit-delay-ms");
	answered = xmig_write_all(fd, &m, sizeof(m)) == 0 && recv_msg_soon(fd, &m, 1000) == 0 &&
		   m.type == XFER_ACK;
	step("the old proxy's answer", &t);
	if (atomic_load(&s->hdr->owner_id) != s->attach_id) {
		snprintf(why, len, answered ? "the old proxy did not hand over (the move was called "
			 "off)" : "the old proxy hung up at the end");
		return answered ? 0 : -1;
	}
	/* XMIG_FAULT=commit-then-exit: gone between the commit point and serving */
	if (getenv("XMIG_FAULT") && !strcmp(getenv("XMIG_FAULT"), "commit-then-exit"))
		_exit(70);
	/* (handed over, answer lost: as the orchestrator last saw the job) */
	if (srv_resume(s, answered ? m.aux != 0 : frozen, rwhy, sizeof(rwhy)) < 0)
		xmig_error("handed over, but cannot resume yet: %s", rwhy);
	else
		*resumed = true;
	return 1;
}

json_t *srv_xfer_receive(struct srv *s, struct ctl_conn *cc, const char *path, const char *token,
			 enum xfer_mode mode, const struct xfer_commit *cm, int *code, char *why,
			 size_t len)
{
	uint64_t t_commit;
	bool resumed = false;
	struct images im = { 0 };
	struct vars_in vars = { 0 };
	size_t i, nalloc = 0;
	json_t *manifest = NULL, *result = NULL;
	struct xfer_msg msg;
	uint64_t t0 = xmig_now_ns(), t_mem = 0, total = 0, done = 0, t_step = t0, kept_bytes = 0;
	bool zero_copy = mode == XFER_ZERO_COPY, early = false, same_map = false;
	struct xfer_msg frozen = { 0, -1, 0, 0, 0, 0 };   /* FROZEN, if it came */
	struct copy_clock clock = { 0 };
	void *chunk = NULL;
	char what[96];
	int fd, r, afd = -1;

	*code = XMIG_RPC_FAILED;
	if (s->xfer_fd >= 0) {
		/* Prepared: the old proxy waits for our word (and which cuDNN log we hold). */
		fd = s->xfer_fd;
		s->xfer_fd = -1;
		struct xfer_msg go = { XFER_GO, GO_TELL_FROZEN,
				       s->xfer_prelude ? s->xfer_prelude_hash : 0, 0, s->xfer_base, 0 };

		xmig_move_trace("receive: go");
		/* (a stream takes hundreds of ms: nothing to gain by spinning then) */
		atomic_store(&s->workers_soon, mode != XFER_STREAM);
		if (mode != XFER_STREAM) {
			uint64_t bound = pause_bound_ns(s, mode);

			srv_rings_spin_until(s, xmig_now_ns() + bound);
			xmig_move_trace("receive: the job's clients spin through the pause, "
					"%.1f ms at most", (double)bound / 1e6);
		}
		if (xmig_write_all(fd, &go, sizeof(go)) < 0 ||
		    recv_msg_soon(fd, &msg, mode != XFER_STREAM ? 1000 : 0) < 0) {
			snprintf(why, len, "the old proxy hung up");
			goto out;
		}
		if (msg.type == XFER_REFUSE) {
			refused(msg.status, code, why, len);
			goto out;
		}
		if (msg.type == XFER_FROZEN) {
			uint64_t t_frozen = xmig_now_ns();

			frozen = msg;
			early = mode == XFER_COPY && s->nsources;
			if (early)
				copy_clock_mark(s, &clock, 0);
			if (early && copy_at_freeze(s) < 0) {
				snprintf(why, len, "copying the job's memory on GPU %d failed",
					 s->gpu);
				goto out;
			}
			/* (no copy to start: the GPU takes our context on meanwhile) */
			if (!early && s->dev->wake)
				s->dev->wake(s->devh);
			if (xmig_move_tracing()) {
				uint64_t now = xmig_now_ns();

				xmig_move_trace("receive: frozen, after %.3f ms; the copy of %zu "
						"allocations queued in %.3f ms (%s)",
						(double)(t_frozen - t_step) / 1e6,
						early ? s->nsources : (size_t)0,
						(double)(now - t_frozen) / 1e6,
						!early ? "none" : s->copy_queued[0] ? "copy engines"
						: "one kernel");
				t_step = now;
			}
			if (recv_msg(fd, &msg, NULL) < 0) {
				snprintf(why, len, "the old proxy hung up");
				goto out;
			}
		}
	} else if ((fd = xfer_connect(path, token, &msg, code, why, len)) < 0) {
		return NULL;
	}
	if (msg.type != XFER_MANIFEST || !(chunk = read_blob(fd, msg.len)) ||
	    !(manifest = json_loadb(chunk, msg.len, 0, NULL))) {
		snprintf(why, len, "the old proxy sent no state");
		goto out;
	}
	free(chunk);
	chunk = NULL;   /* (freed at out too, for a manifest that does not parse) */
	if (manifest_expand(manifest, s->xfer_prelude, why, len) < 0) {
		send_ack(fd, -1);
		goto out;
	}
	/* the prelude's own memory map, unchanged (as mapped here then) */
	same_map = s->xfer_prelude && json_object_get(manifest, "allocations") ==
					      json_object_get(s->xfer_prelude, "allocations");
	snprintf(what, sizeof(what), "go and manifest (%llu bytes, cuDNN log %s)",
		 (unsigned long long)msg.len,
		 json_object_get(manifest, "cudnn_delta") ? "as a delta" : "whole");
	step(what, &t_step);
	if ((r = srv_state_check(s, manifest, !zero_copy, why, len)) < 0) {
		*code = r == -2 ? XMIG_RPC_REFUSED : XMIG_RPC_FAILED;
		send_ack(fd, -1);
		goto out;
	}
	json_array_foreach(json_object_get(manifest, "allocations"), i, result)
		total += (uint64_t)json_integer_value(json_object_get(result, "size"));
	result = NULL;
	/*
	 * Memory the job freed since the prelude goes now, and with it its
	 * source: no copy queued at the freeze may still run there.
	 */
	if (!same_map && early && !srv_state_memory_unchanged(s, manifest) &&
	    (r = s->dev->stream_sync(s->devh, s->legacy.h))) {
		snprintf(why, len, "copying the job's memory on GPU %d failed (error %d)", s->gpu, r);
		goto out;
	}
	/* What changed since the prelude (everything, without one). */
	if (!same_map && srv_state_reconcile_memory(s, manifest, !zero_copy) < 0) {
		snprintf(why, len, "cannot map the job's memory on GPU %d", s->gpu);
		goto out;
	}
	drop_stale_sources(s);
	step("check and memory map", &t_step);
	for (;;) {
		if (read_blobs(fd, &im, &vars, &msg, &afd) < 0) {
			snprintf(why, len, "the old proxy hung up during the transfer");
			goto out;
		}
		if (msg.type == XFER_DATA && mode == XFER_STREAM) {
			/* all of them; then msg is the message after them */
			if (!t_mem)
				t_mem = xmig_now_ns();
			if (receive_stream(s, cc, fd, &msg, total, &done, why, len) < 0)
				goto out;
		}
		if (msg.type == XFER_DONE)
			break;
		if (msg.type == XFER_ALLOC_KEEP && mode != XFER_STREAM && afd < 0) {
			if (!t_mem)
				t_mem = xmig_now_ns();
			if (keep_allocs(s, fd, &msg, zero_copy, &kept_bytes) < 0) {
				snprintf(why, len, "the memory prepared ahead could not be kept");
				goto out;
			}
			nalloc += msg.id;
			if (zero_copy) {
				done += kept_bytes;
				progress(cc, "transfer", done, total);
			}
			continue;
		}
		if (msg.type != XFER_ALLOC || mode == XFER_STREAM || msg.id >= s->mem.nallocs) {
			snprintf(why, len, "unexpected transfer message %u", msg.type);
			goto out;
		}
		if (!t_mem)
			t_mem = xmig_now_ns();
		r = take_alloc(s, &msg, afd, zero_copy);
		afd = -1;
		if (r < 0) {
			snprintf(why, len, "could not take the memory at %#llx",
				 (unsigned long long)s->mem.allocs[msg.id].va);
			goto out;
		}
		nalloc++;
		if (zero_copy) {
			done += s->mem.allocs[msg.id].size;
			progress(cc, "transfer", done, total);
		}
	}
	if (mode == XFER_STREAM) {
		/* every byte of every allocation, once, and written */
		if (done != total) {
			snprintf(why, len, "the memory stream was incomplete (%llu of %llu bytes)",
				 (unsigned long long)done, (unsigned long long)total);
			goto out;
		}
		/* (a bridge: a copy that arrived damaged on the other node fails here) */
		if ((r = s->dev->stream_sync(s->devh, s->legacy.h))) {
			snprintf(why, len, "writing the job's memory failed (error %d)", r);
			goto out;
		}
	} else if (nalloc != s->mem.nallocs) {
		snprintf(why, len, "the transfer lacked %zu allocations", s->mem.nallocs - nalloc);
		goto out;
	} else if (zero_copy) {
		/* (counted, one may have come twice and another not at all: each is mapped) */
		for (size_t k = 0; k < s->mem.nallocs; k++)
			if (!s->mem.allocs[k].mem) {
				snprintf(why, len, "the transfer lacked the memory at %#llx",
					 (unsigned long long)s->mem.allocs[k].va);
				goto out;
			}
	}
	step("allocations", &t_step);
	/* The copy runs while the objects are made (their work queues behind it). */
	if (mode == XFER_COPY) {
		copy_clock_mark(s, &clock, 0);
		if (copy_from_sources(s, &done) < 0) {
			snprintf(why, len, "copying the job's memory on GPU %d failed", s->gpu);
			goto out;
		}
		copy_clock_mark(s, &clock, 1);
	}
	step("copy queued", &t_step);
	if (srv_state_restore_objects(s, manifest, take_image, &im) < 0)
		goto objects_failed;
	step("objects", &t_step);
	if (srv_restore_host_regions(s) < 0)
		goto objects_failed;
	step("pinned memory", &t_step);
	/* (captured again on the streams, handles and pinned memory just made) */
	if (srv_graph_restore(s, manifest) < 0)
		goto objects_failed;
	step("graphs", &t_step);
	if (restore_vars(s, vars.v, vars.n) < 0)
		goto objects_failed;
	step("variables", &t_step);
	if ((r = s->dev->stream_sync(s->devh, s->legacy.h))) {
		snprintf(why, len, "copying the job's memory on GPU %d failed (error %d)", s->gpu, r);
		goto out;
	}
	if (mode == XFER_COPY)
		progress(cc, "transfer", done, total);
	step("copy done", &t_step);
	copy_clock_end(s, &clock, done);
	t_commit = xmig_now_ns();
	if (!cm) {
		if (send_ack(fd, 0) < 0) {
			snprintf(why, len, "the old proxy hung up at the end");
			goto out;
		}
	} else if (commit(s, fd, cm->frozen, &resumed, why, len) <= 0) {
		goto out;
	}
	step(cm ? "handed over and resumed" : "acknowledged", &t_step);
	result = json_pack("{s:I, s:I, s:f, s:f, s:s, s:{s:i, s:i}}", "device_bytes",
			   (json_int_t)s->mem.bytes, "moved_bytes", (json_int_t)done,
			   "transfer_s", t_mem ? (double)(t_commit - t_mem) / 1e9 : 0.0,
			   "total_s", (double)(xmig_now_ns() - t0) / 1e9, "mode",
			   zero_copy ? "zero-copy" : mode == XFER_STREAM ? "stream" : "copy",
			   "objects", "kept", (int)s->restored.kept, "made",
			   (int)s->restored.made);
	/* the freeze, when the old proxy made it at GO */
	if (frozen.status >= 0)
		json_object_update_new(result, json_pack("{s:b, s:f, s:I}", "was_frozen",
							 frozen.status != 0, "freeze_s",
							 (double)frozen.id / 1e9, "froze_at_ns",
							 (json_int_t)frozen.aux));
	if (cm)
		json_object_update_new(result, json_pack("{s:b, s:b, s:f, s:I}", "handed_over", 1,
							 "resumed", resumed, "handover_s",
							 (double)(xmig_now_ns() - t_commit) / 1e9,
							 "serving_at_ns",
							 (json_int_t)(resumed ? s->serving_at_ns : 0)));
	goto out;
objects_failed:
	snprintf(why, len, "could not recreate the job's objects on GPU %d", s->gpu);
out:
	copy_clock_free(s, &clock);
	copy_streams_close(s);   /* (its work, if any is left after a failure, still runs) */
	if (afd >= 0)
		close(afd);
	close(fd);
	free(chunk);
	json_decref(manifest);
	json_decref(s->xfer_prelude);   /* one transfer per prelude */
	s->xfer_prelude = NULL;
	free_images(&im);
	vars_in_free(&vars);
	return result;
}
