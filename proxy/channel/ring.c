/* ring.c - single-producer single-consumer request rings in shared memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "../../lib/xmig.h"
#include "../api/ops.h"

int xmig_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	long r;

	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tp = &ts;
	}
	/* Shared (not PRIVATE): the word lives in memory of two processes. */
	r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, tp, NULL, 0);
	return r < 0 ? -errno : 0;
}

void xmig_futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint64_t xmig_spin_ns(void)
{
	static uint64_t spin_ns = UINT64_MAX;

	if (spin_ns == UINT64_MAX) {
		const char *e = getenv("XMIG_SPIN_US");
		long us = 0;

		if (!e || xmig_parse_long(e, 0, 10000000, &us) < 0)
			us = 200;
		spin_ns = (uint64_t)us * 1000ull;
	}
	return spin_ns;
}

static inline uint32_t entry_len(uint32_t payload)
{
	return (uint32_t)((sizeof(struct xmig_req) + payload + 15u) & ~15u);
}

struct xmig_req *xmig_ring_begin(struct xmig_ring *r, uint64_t *pos, uint32_t op, uint32_t payload)
{
	uint32_t len = entry_len(payload);
	uint64_t head = *pos;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t off = head % XMIG_RING_BYTES;
	uint64_t pad = 0;
	struct xmig_req *req;

	if (off + len > XMIG_RING_BYTES)
		pad = XMIG_RING_BYTES - off;
	if (head + pad + len - tail > XMIG_RING_BYTES)
		return NULL;
	if (pad) {
		struct xmig_req *p = (struct xmig_req *)(r->data + off);

		/* Only the first 16 bytes: a pad can be that short, and the
		 * bulk area follows the ring's data. The reader needs op and len. */
		p->op = XMIG_OP_PAD;
		p->len = (uint32_t)pad;
		p->ticket = 0;
		head += pad;
		off = 0;
		/*
		 * The pad becomes visible with the entry after it: the server
		 * never sees a pad alone, so it never waits at the wrap.
		 */
	}
	*pos = head;
	req = (struct xmig_req *)(r->data + off);
	req->op = op;
	req->len = len;
	req->seq = 0;
	return req;
}

void xmig_ring_publish(struct xmig_shm_header *h, struct xmig_ring *r, struct xmig_req *req,
		       uint64_t pos)
{
	req->ticket = atomic_fetch_add_explicit(&h->ticket, 1, memory_order_relaxed);
	atomic_store_explicit(&r->head, pos + req->len, memory_order_seq_cst);
	if (atomic_load_explicit(&r->server_sleeping, memory_order_seq_cst)) {
		atomic_fetch_add(&r->doorbell, 1);
		xmig_futex_wake(&r->doorbell);
	}
}

bool xmig_ring_wait_space(struct xmig_ring *r, uint64_t pos, uint32_t need,
			  const _Atomic int *abort)
{
	uint64_t start = xmig_now_ns(), spin = xmig_spin_ns();
	uint32_t len = entry_len(need) * 2;   /* room for a wrap pad too */

	for (;;) {
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		uint32_t v;

		if (pos + len - tail <= XMIG_RING_BYTES)
			return true;
		if (abort && atomic_load(abort))
			return false;
		if (xmig_now_ns() - start < spin) {
			xmig_cpu_relax();
			continue;
		}
		v = atomic_load(&r->tail_futex);
		atomic_store(&r->space_waiters, 1);
		tail = atomic_load(&r->tail);
		if (pos + len - tail <= XMIG_RING_BYTES)
			return true;
		xmig_futex_wait(&r->tail_futex, v, 100000000ull);
	}
}

bool xmig_ring_wait_reply(struct xmig_ring *r, uint64_t seq, const _Atomic int *abort)
{
	uint64_t start = 0, now, spin = xmig_spin_ns();
	unsigned n = 0;

	for (;;) {
		uint32_t v;

		if (atomic_load_explicit(&r->done_seq, memory_order_acquire) >= seq)
			return true;
		/* Read the clock only now and then: the first microseconds matter. */
		if (++n < 64) {
			xmig_cpu_relax();
			continue;
		}
		if (!start)
			start = xmig_now_ns();
		if (abort && atomic_load(abort))
			return false;
		now = xmig_now_ns();
		if (now - start < spin ||
		    now < atomic_load_explicit(&r->spin_until_ns, memory_order_relaxed)) {
			n = 0;
			xmig_cpu_relax();
			continue;
		}
		v = atomic_load(&r->resp_futex);
		atomic_store(&r->client_waiting, 1);
		if (atomic_load(&r->done_seq) >= seq) {
			atomic_store(&r->client_waiting, 0);
			return true;
		}
		/* Wake up now and then anyway to notice a lost server. */
		xmig_futex_wait(&r->resp_futex, v, 100000000ull);
		atomic_store(&r->client_waiting, 0);
	}
}

struct xmig_req *xmig_ring_peek(struct xmig_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (;;) {
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		struct xmig_req *req;

		if (head == tail)
			return NULL;
		req = (struct xmig_req *)(r->data + tail % XMIG_RING_BYTES);
		/* (one that is not framed is the reader's to refuse: skipped, it could loop for ever) */
		if (req->op != XMIG_OP_PAD || !xmig_ring_framed(r, req))
			return req;
		tail += req->len;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
}

bool xmig_ring_framed(struct xmig_ring *r, const struct xmig_req *req)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t len = req->len;   /* (read once: the client's memory) */

	/* (a pad fills the ring to its end, and may be 16 bytes: only its op and len) */
	if (req->op == XMIG_OP_PAD)
		return len >= 16 && len % 16 == 0 && len <= head - tail &&
		       tail % XMIG_RING_BYTES + len == XMIG_RING_BYTES;
	return len >= sizeof(*req) && len % 16 == 0 && len - sizeof(*req) <= XMIG_REQ_MAX &&
	       len <= head - tail && tail % XMIG_RING_BYTES + len <= XMIG_RING_BYTES;
}

void xmig_ring_consume(struct xmig_ring *r, const struct xmig_req *req)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, tail + req->len, memory_order_seq_cst);
	if (atomic_load_explicit(&r->space_waiters, memory_order_seq_cst)) {
		atomic_store(&r->space_waiters, 0);
		atomic_fetch_add(&r->tail_futex, 1);
		xmig_futex_wake(&r->tail_futex);
	}
}

void xmig_ring_idle_wait(struct xmig_ring *r, uint64_t timeout_ns)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t start = xmig_now_ns(), spin = xmig_spin_ns();
	uint32_t v;

	while (xmig_now_ns() - start < spin) {
		for (int i = 0; i < 32; i++) {
			if (atomic_load_explicit(&r->head, memory_order_acquire) != tail)
				return;
			xmig_cpu_relax();
		}
	}
	/*
	 * A count, not a flag: during a handover the old proxy's worker and
	 * the new one's both wait on this ring, and the one that wakes must
	 * not clear the word for the other (the client would stop ringing).
	 */
	v = atomic_load(&r->doorbell);
	atomic_fetch_add(&r->server_sleeping, 1);
	if (atomic_load(&r->head) == tail)
		xmig_futex_wait(&r->doorbell, v, timeout_ns);
	atomic_fetch_sub(&r->server_sleeping, 1);
}

void xmig_ring_reply(struct xmig_ring *r, uint64_t seq)
{
	atomic_store_explicit(&r->done_seq, seq, memory_order_seq_cst);
	if (atomic_load_explicit(&r->client_waiting, memory_order_seq_cst)) {
		atomic_fetch_add(&r->resp_futex, 1);
		xmig_futex_wake(&r->resp_futex);
	}
}

void xmig_ring_wake_all(struct xmig_ring *r)
{
	atomic_fetch_add(&r->resp_futex, 1);
	xmig_futex_wake(&r->resp_futex);
	atomic_fetch_add(&r->tail_futex, 1);
	xmig_futex_wake(&r->tail_futex);
}
