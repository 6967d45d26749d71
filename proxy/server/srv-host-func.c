/*
 * srv-host-func.c - host functions (cudaLaunchHostFunc, cudaStreamAddCallback
 * and the driver's cuLaunchHostFunc, cuStreamAddCallback).
 *
 * The function and its data live in the application, which has no device
 * context. So the proxy queues a host function of its own on the stream;
 * when the GPU reaches it, that function hands the client's id to the
 * client's host-function thread through a slot of the shared header
 * (shm.h) and waits until the application ran it. The stream's later work
 * waits as long, as in CUDA. A captured graph keeps the proxy's host
 * function, so each launch calls the application's again; the capture's log
 * keeps the request, so a move's new proxy captures it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "server.h"

/* The proxy whose header the backend's threads write to (one proxy a process). */
static struct srv *_Atomic host_srv;

/* The argument the backend calls back with: the client's id, and whether a graph holds it. */
#define GRAPH_BIT 1ull

static struct xmig_host_call *take_slot(struct srv *s)
{
	for (;;) {
		for (unsigned i = 0; i < XMIG_HOST_CALL_SLOTS; i++) {
			struct xmig_host_call *hc = &s->hdr->host_calls[i];
			uint32_t want = XMIG_HOST_CALL_FREE;

			if (atomic_compare_exchange_strong(&hc->state, &want,
							   XMIG_HOST_CALL_FILLING))
				return hc;
		}
		/* (every slot holds a stream up: one frees as the application runs them) */
		if (!xmig_proc_alive(s->client_pid, 0))
			return NULL;
		usleep(1000);
	}
}

/* Wait until the application ran it; false if the application is gone. */
static bool wait_done(struct srv *s, struct xmig_host_call *hc)
{
	uint64_t spin_until = xmig_now_ns() + xmig_spin_ns();
	uint32_t st;

	while ((st = atomic_load(&hc->state)) != XMIG_HOST_CALL_DONE) {
		if (xmig_now_ns() < spin_until) {
			sched_yield();
			continue;
		}
		/* (checked every 100 ms: a host function that never returns leaves the stream waiting, as in CUDA) */
		if (xmig_futex_wait(&hc->state, st, 100000000ull) == -ETIMEDOUT &&
		    !xmig_proc_alive(s->client_pid, 0))
			return false;
	}
	return true;
}

/* Called by the backend (a driver thread) when the stream reaches the function. */
static void reached(void *arg)
{
	struct srv *s = atomic_load(&host_srv);
	uint64_t v = (uint64_t)(uintptr_t)arg;
	struct xmig_host_call *hc;

	if (!s || !(hc = take_slot(s)))
		return;
	hc->id = v >> 1;
	hc->from_graph = (uint32_t)(v & GRAPH_BIT);
	atomic_store(&hc->state, XMIG_HOST_CALL_READY);
	atomic_fetch_add(&s->hdr->host_calls_futex, 1);
	if (atomic_load(&s->hdr->host_calls_sleeping))
		xmig_futex_wake(&s->hdr->host_calls_futex);
	if (!wait_done(s, hc)) {
		xmig_warn("the application exited while its host function %llu was due",
			  (unsigned long long)(v >> 1));
		return;   /* (the slot stays taken: nobody will read it) */
	}
	atomic_store(&hc->state, XMIG_HOST_CALL_FREE);
}

int d_HOST_FUNC(struct xmig_call *c)
{
	const struct xmig_host_func_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	uint64_t v;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (!s->dev->host_func) {
		xmig_error("the %s device does not run host functions", s->dev->name);
		return cudaErrorNotSupported;
	}
	if (a->id > UINT64_MAX >> 1)
		return cudaErrorInvalidValue;
	atomic_store(&host_srv, s);
	atomic_store(&s->host_funcs, true);
	/* (captured, now or again by a move's replay: each launch of the graph calls it) */
	v = a->id << 1 |
	    (s->replaying || srv_graph_capture_of(s, st) ? GRAPH_BIT : 0);
	return s->dev->host_func(s->devh, st->h, reached, (void *)(uintptr_t)v);
}
