/*
 * channel.h - the request rings, seen from either end.
 *
 * Client thread (producer)           Server worker (consumer)
 *   req = xmig_ring_begin(len)          req = xmig_ring_peek()
 *   fill req->payload                   wait for req->ticket's turn
 *   xmig_ring_publish(req)              run it; executed++
 *   [sync] xmig_ring_wait_reply()       xmig_ring_consume(req)
 *                                       [sync] xmig_ring_reply()
 *
 * Wake-ups spin first and fall back to futexes: the server spins while the
 * application is active and sleeps only when idle; a posting client makes a
 * syscall only when the server is asleep. A client waiting for a reply also
 * spins until the ring's spin_until_ns, which a move's new proxy sets for
 * the job's pause of under a few milliseconds.
 */
#ifndef XMIG_CHANNEL_H
#define XMIG_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "shm.h"

static inline void xmig_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Wait while *addr == val, at most timeout_ns (0 = forever). */
int xmig_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns);
void xmig_futex_wake(_Atomic uint32_t *addr);

/* How long each side spins before sleeping (XMIG_SPIN_US overrides). */
uint64_t xmig_spin_ns(void);

/* ---- producer ---- */

/*
 * Reserve an entry with `payload` bytes after the header; pos is the
 * producer's private head. Returns NULL if the ring is full (the caller
 * waits with xmig_ring_wait_space and tries again).
 */
struct xmig_req *xmig_ring_begin(struct xmig_ring *r, uint64_t *pos, uint32_t op, uint32_t payload);
/* Draw the ticket and make the entry visible; wake a sleeping server. */
void xmig_ring_publish(struct xmig_shm_header *h, struct xmig_ring *r, struct xmig_req *req,
		       uint64_t pos);
/* Wait until the ring has room; false if *abort became true. */
bool xmig_ring_wait_space(struct xmig_ring *r, uint64_t pos, uint32_t need,
			  const _Atomic int *abort);
/* Wait for the reply to seq; false if *abort became true first. */
bool xmig_ring_wait_reply(struct xmig_ring *r, uint64_t seq, const _Atomic int *abort);

/* ---- consumer ---- */

/* The next entry, skipping padding, or NULL if the ring is empty. */
struct xmig_req *xmig_ring_peek(struct xmig_ring *r);
/*
 * Whether req, the next entry, is framed as the client writes entries: a
 * whole header (a pad: 16 bytes or more, to the ring's end), a multiple of
 * 16 bytes, a payload of XMIG_REQ_MAX at most, published whole and inside
 * the ring. An entry that is not breaks every one after it: the ring
 * cannot be read on.
 */
bool xmig_ring_framed(struct xmig_ring *r, const struct xmig_req *req);
/* Release the entry's bytes to the producer. */
void xmig_ring_consume(struct xmig_ring *r, const struct xmig_req *req);
/* Wait for work: spin, then sleep on the doorbell (at most timeout_ns). */
void xmig_ring_idle_wait(struct xmig_ring *r, uint64_t timeout_ns);
/* Publish the reply to seq (status and resp[] already written). */
void xmig_ring_reply(struct xmig_ring *r, uint64_t seq);
/* Wake every waiter of the ring (used when the server is lost). */
void xmig_ring_wake_all(struct xmig_ring *r);

#endif
