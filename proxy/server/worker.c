/*
 * worker.c - one worker thread per client ring, executing in ticket order,
 * and the freeze that stops them all at one consistent point.
 *
 * Turn taking: a request may run only when hdr->executed equals its
 * ticket; running it and bumping `executed` is "the turn". Only the
 * enqueue part of a call runs in turn; a wait for the GPU (a synchronise, a
 * copy back to the host) runs after the turn is given up.
 *
 * Freeze: set freeze_requested, then wait until nobody holds the turn and
 * no deferred wait is left, then drain the GPU. A worker that reaches its
 * turn while freeze_requested is set parks there without running it, so
 * the point where the server stopped is a ticket number: every request
 * below it ran, none at or above it did. Requests keep queueing in the
 * rings meanwhile; the application blocks only when it waits for a reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain.h"
#include "server.h"

static void nap(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

/* Is a freeze, or a hold of the turn, asked for? */
static bool stopped_here(struct srv *s)
{
	return atomic_load(&s->freeze_requested) || atomic_load(&s->turn_holds);
}

/* Park while frozen (or held); false if the server is stopping (hand over, exit). */
static bool park(struct srv *s)
{
	while (stopped_here(s) && !atomic_load(&s->stopping)) {
		uint32_t v = atomic_load(&s->freeze_futex);

		if (!stopped_here(s))
			break;
		xmig_futex_wait(&s->freeze_futex, v, 100000000ull);
	}
	return !atomic_load(&s->stopping);
}

/* Wait for this ticket's turn. False: stop without running it. */
static bool take_turn(struct srv *s, const struct xmig_req *req)
{
	uint64_t ticket = req->ticket;
	unsigned n = 0;

	for (;;) {
		if (atomic_load_explicit(&s->hdr->executed, memory_order_acquire) == ticket) {
			atomic_store(&s->in_turn, 1);
			/* a consistent cut runs: a call that would pass it stops here */
			if (atomic_load_explicit(&s->ccl_cut, memory_order_relaxed) &&
			    srv_ccl_hold(s, req))
				atomic_store(&s->freeze_requested, 1);
			if (!stopped_here(s))
				return true;
			atomic_store(&s->in_turn, 0);
			if (!park(s))
				return false;
			continue;
		}
		if (atomic_load(&s->stopping))
			return false;
		/* The holder is another ring's worker: usually a few hundred ns. */
		if (++n < 4096)
			xmig_cpu_relax();
		else if (n < 8192)
			sched_yield();
		else
			nap(20);
	}
}

static void release_turn(struct srv *s, uint64_t ticket)
{
	atomic_store_explicit(&s->hdr->executed, ticket + 1, memory_order_release);
	atomic_store(&s->in_turn, 0);
}

static void finish_ring(struct srv_worker *w)
{
	struct srv *s = w->srv;

	if (w->bulk_registered) {
		s->dev->host_unregister(s->devh, w->ring->bulk);
		w->bulk_registered = false;
	}
}

static void *worker_main(void *arg)
{
	struct srv_worker *w = arg;
	struct srv *s = w->srv;
	struct xmig_ring *ring = w->ring;
	bool first_after_gate = false;
	uint64_t slow_until = 0, t_call;
	char name[16];

	snprintf(name, sizeof(name), "xmig-w%u", w->index);
	pthread_setname_np(pthread_self(), name);
	if (s->dev->bind_thread(s->devh))
		xmig_error("worker %u: cannot bind the device context", w->index);
	if (s->dev->host_register(s->devh, ring->bulk, XMIG_BULK_BYTES, 0) == 0)
		w->bulk_registered = true;
	xmig_move_trace("worker %u: ready", w->index);
	atomic_store(&w->ready, true);
	if (atomic_load(&s->workers_gate)) {
		/*
		 * Started ahead, before the handover: the thread, its context
		 * and its pinned buffer cost milliseconds that would otherwise
		 * come after the resume, on the job's time. Until the gate
		 * opens the old proxy serves this ring: touch nothing in it.
		 */
		uint64_t spin_from = 0;

		while (atomic_load(&s->workers_gate) && !atomic_load(&s->stopping)) {
			/*
			 * Once the transfer runs, the gate opens within
			 * milliseconds and the job waits for this thread:
			 * spin rather than wait to be woken (20-50 us), for
			 * 100 ms at most (a move across nodes takes longer).
			 */
			if (atomic_load(&s->workers_soon) && !spin_from)
				spin_from = xmig_now_ns();
			if (spin_from && xmig_now_ns() - spin_from < 100000000ull) {
				xmig_cpu_relax();
				continue;
			}
			xmig_futex_wait(&s->workers_gate, 1, spin_from ? 100000000ull : 1000000ull);
		}
		if (atomic_load(&s->stopping))
			goto out;
		xmig_move_trace("worker %u: serving", w->index);
		first_after_gate = xmig_move_tracing();
		slow_until = first_after_gate ? xmig_now_ns() + 2000000000ull : 0;
		/* its thread ended meanwhile: the ring manager starts one if it comes back */
		if (atomic_load(&ring->state) != XMIG_RING_ACTIVE) {
			finish_ring(w);
			goto out;
		}
	}

	for (;;) {
		struct xmig_req *req = xmig_ring_peek(ring);
		struct xmig_call c;
		uint64_t seq, ticket;
		int status;

		if (!req) {
			if (atomic_load(&s->stopping))
				break;
			xmig_ring_idle_wait(ring, 100000000ull);
			continue;
		}
		ticket = req->ticket;
		/*
		 * (an entry the client did not frame as it frames them: nothing
		 * after it can be read; the application's thread is served no
		 * more, its turn passed on so that its others go on)
		 */
		if (!xmig_ring_framed(ring, req)) {
			xmig_error("worker %u: a request of %u bytes (operation %u) breaks the call "
				   "channel's framing: this thread of the application is served no more",
				   w->index, req->len, req->op);
			if (take_turn(s, req))
				release_turn(s, ticket);
			atomic_store(&ring->state, XMIG_RING_BROKEN);
			break;
		}
		if (!take_turn(s, req))
			break;
		if (req->op == XMIG_OP_RING_CLOSE) {
			release_turn(s, ticket);
			xmig_ring_consume(ring, req);
			finish_ring(w);
			atomic_store(&ring->state, XMIG_RING_FREE);
			break;
		}
		memset(&c, 0, sizeof(c));
		c.srv = s;
		c.w = w;
		c.req = req;
		c.args = req->payload;
		c.res = ring->resp;
		t_call = slow_until ? xmig_now_ns() : 0;
		status = srv_dispatch(&c);
		/* (the job's calls that take long on a new proxy, its first 2 s: what a move costs after it) */
		if (t_call && xmig_now_ns() - t_call > 2000000ull)
			xmig_move_trace("worker %u: %s%s took %.1f ms", w->index, srv_op_name(req->op),
					srv_call_detail(&c), (double)(xmig_now_ns() - t_call) / 1e6);
		if (t_call > slow_until)
			slow_until = 0;
		if (first_after_gate) {
			/* (what the job's first call costs on a new context, when it matters) */
			xmig_move_trace("worker %u: first call (%s) run", w->index,
					srv_op_name(req->op));
			first_after_gate = false;
		}
		seq = req->seq;
		if (c.defer)
			atomic_fetch_add(&s->deferred, 1);
		release_turn(s, ticket);
		atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
		xmig_ring_consume(ring, req);
		if (c.defer) {
			int r = c.defer(&c);

			if (!status)
				status = r;
			atomic_fetch_sub(&s->deferred, 1);
		}
		if (seq) {
			ring->status = status;
			ring->resp_len = c.res_len;
			xmig_ring_reply(ring, seq);
		} else if (status) {
			int32_t zero = 0;

			/* Surfaces at the client's next synchronising call. */
			atomic_compare_exchange_strong(&ring->async_error, &zero, status);
		}
	}
out:
	if (atomic_load(&s->stopping))
		finish_ring(w);
	atomic_store(&w->finished, true);
	atomic_fetch_add(&s->hdr->rings_futex, 1);
	xmig_futex_wake(&s->hdr->rings_futex);
	return NULL;
}

static void *ringmgr_main(void *arg)
{
	struct srv *s = arg;
	unsigned i;

	pthread_setname_np(pthread_self(), "xmig-rings");
	for (;;) {
		uint32_t v = atomic_load(&s->hdr->rings_futex);
		bool stopping = atomic_load(&s->stopping);

		for (i = 0; i < XMIG_MAX_RINGS; i++) {
			struct srv_worker *w = &s->workers[i];
			struct xmig_ring *ring = xmig_shm_ring(s->hdr, i);

			if (w->started && atomic_load(&w->finished)) {
				pthread_join(w->thread, NULL);
				w->started = false;
			}
			if (!stopping && !w->started &&
			    atomic_load(&ring->state) == XMIG_RING_ACTIVE) {
				w->srv = s;
				w->index = i;
				w->ring = ring;
				atomic_store(&w->finished, false);
				atomic_store(&w->ready, false);
				if (pthread_create(&w->thread, NULL, worker_main, w) == 0)
					w->started = true;
				else
					xmig_error("cannot start a worker for ring %u", i);
			}
		}
		if (stopping) {
			bool any = false;

			for (i = 0; i < XMIG_MAX_RINGS; i++)
				any |= s->workers[i].started;
			if (!any)
				break;
		}
		xmig_futex_wait(&s->hdr->rings_futex, v, 50000000ull);
	}
	return NULL;
}

/*
 * The job's clients spin for their replies until `until_ns` (see the ring's
 * spin_until_ns): every ring, so a thread that opens one meanwhile spins too.
 */
void srv_rings_spin_until(struct srv *s, uint64_t until_ns)
{
	for (unsigned i = 0; i < XMIG_MAX_RINGS; i++)
		atomic_store_explicit(&xmig_shm_ring(s->hdr, i)->spin_until_ns, until_ns,
				      memory_order_relaxed);
}

/* Started ahead: every ring the client has open has a worker at the gate. */
static bool all_ready(struct srv *s)
{
	for (unsigned i = 0; i < XMIG_MAX_RINGS; i++)
		if (atomic_load(&xmig_shm_ring(s->hdr, i)->state) == XMIG_RING_ACTIVE &&
		    !atomic_load(&s->workers[i].ready))
			return false;
	return true;
}

int srv_workers_start(struct srv *s, bool gated)
{
	uint64_t deadline = xmig_now_ns() + 2000000000ull;

	atomic_store(&s->workers_gate, gated);
	if (pthread_create(&s->ringmgr, NULL, ringmgr_main, s) != 0)
		return xmig_error("cannot start the ring manager");
	s->workers_running = true;
	/*
	 * Ahead of a move: back only once they are ready, or their start
	 * (a cuMemHostRegister of each ring's buffer) lands in the frozen
	 * part and holds up the transfer's own driver calls.
	 */
	while (gated && !all_ready(s) && xmig_now_ns() < deadline)
		nap(100);
	return 0;
}

void srv_workers_open(struct srv *s)
{
	atomic_store(&s->workers_gate, 0);
	xmig_futex_wake(&s->workers_gate);
}

int srv_workers_stop(struct srv *s, uint64_t timeout_ns)
{
	struct timespec until;
	unsigned i;

	atomic_store(&s->stopping, true);
	atomic_fetch_add(&s->freeze_futex, 1);
	xmig_futex_wake(&s->freeze_futex);
	xmig_futex_wake(&s->workers_gate);
	for (i = 0; i < XMIG_MAX_RINGS; i++) {
		struct xmig_ring *ring = xmig_shm_ring(s->hdr, i);

		atomic_fetch_add(&ring->doorbell, 1);
		xmig_futex_wake(&ring->doorbell);
	}
	atomic_fetch_add(&s->hdr->rings_futex, 1);
	xmig_futex_wake(&s->hdr->rings_futex);
	until = xmig_timespec_in(CLOCK_MONOTONIC, timeout_ns);
	return pthread_clockjoin_np(s->ringmgr, NULL, CLOCK_MONOTONIC, &until) ? -1 : 0;
}

int srv_freeze(struct srv *s, uint64_t timeout_ns)
{
	uint64_t deadline = xmig_now_ns() + timeout_ns;
	int r;

	s->froze_at_ns = xmig_now_ns();
	atomic_store(&s->freeze_requested, 1);
	while (atomic_load(&s->in_turn) || atomic_load(&s->deferred)) {
		if (timeout_ns && xmig_now_ns() > deadline) {
			srv_thaw(s);
			return xmig_error("the GPU did not drain within %.1f s",
					  (double)timeout_ns / 1e9);
		}
		/*
		 * A turn or a synchronising call usually ends within tens of
		 * microseconds, and the job waits for this loop: a sleep would
		 * add its own 60-100 us to every move. Spin that long first.
		 */
		if (xmig_now_ns() - s->froze_at_ns < 200000ull)
			xmig_cpu_relax();
		else
			nap(50);
	}
	/*
	 * No new work can start now; let what was enqueued finish. Not while
	 * the job captures a CUDA graph: a device-wide synchronise would fail
	 * and invalidate its capture, and whatever needs a drained GPU (a
	 * move, a suspend, a snapshot) refuses a capture in progress anyway.
	 */
	if (__atomic_load_n(&s->ncaptures, __ATOMIC_RELAXED)) {
		xmig_debug("frozen mid-capture: the GPU is not drained");
	} else {
		/*
		 * A host function runs in the application, whose calls now
		 * wait: one waiting for them would hold the drain for good. So
		 * where the job queued any, the drain is bounded by the
		 * freeze's deadline (drain.c); otherwise it is waited for here.
		 */
		uint64_t left = 0;

		if (atomic_load(&s->host_funcs) && timeout_ns) {
			uint64_t now = xmig_now_ns();

			left = now < deadline ? deadline - now : 1;
		}
		if (srv_drain_within(s->dev, s->devh, left, &r) < 0) {
			srv_thaw(s);
			return xmig_error("the GPU did not drain within %.1f s: a host function of "
					  "the application's may be waiting for the job",
					  (double)timeout_ns / 1e9);
		}
		/* A faulted context still freezes: its state is what it is. */
		if (r)
			xmig_warn("draining the GPU reported error %d", r);
	}
	/* (stream-ordered frees now due: into the pool, as the state a move or a snapshot takes says) */
	srv_mem_reap(s, false);
	atomic_store(&s->hdr->state, XMIG_SEG_FROZEN);
	atomic_fetch_add(&s->hdr->state_futex, 1);
	xmig_futex_wake(&s->hdr->state_futex);
	return 0;
}

void srv_thaw(struct srv *s)
{
	atomic_store(&s->hdr->state, XMIG_SEG_RUNNING);
	atomic_fetch_add(&s->hdr->state_futex, 1);
	xmig_futex_wake(&s->hdr->state_futex);
	atomic_store(&s->freeze_requested, 0);
	s->move_froze = false;
	atomic_fetch_add(&s->freeze_futex, 1);
	xmig_futex_wake(&s->freeze_futex);
	srv_ccl_thawed(s);
}

bool srv_frozen(struct srv *s)
{
	if (!atomic_load(&s->freeze_requested))
		return false;
	/*
	 * Drained by srv_freeze: a worker whose ticket comes up still sets
	 * in_turn for the moment it takes to see the request and park; that
	 * runs nothing, so it does not make the proxy less frozen.
	 */
	if (atomic_load(&s->hdr->state) == XMIG_SEG_FROZEN)
		return true;
	return !atomic_load(&s->in_turn) && !atomic_load(&s->deferred);
}
