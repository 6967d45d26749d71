/*
 * host-func.c - host functions of the application (cudaLaunchHostFunc,
 * cudaStreamAddCallback, cuLaunchHostFunc, cuStreamAddCallback), run in the
 * application on a thread of ours, as the driver runs them on one of its.
 *
 * The function and its data stay here under an id; the proxy gets only the
 * id (HOST_FUNC) and, when the stream reaches it, hands it back through a
 * slot of the shared header (shm.h, proxy/server/srv-host-func.c) and holds
 * the stream until the slot says DONE. An id is forgotten once its call ran,
 * unless a graph holds it: a graph calls it at each launch. Calls made while
 * this process captures get ids kept for good, one per distinct function,
 * data and stream, so that a job capturing the same graph again and again
 * does not grow the table.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "host-func.h"

struct entry {
	uint64_t id;
	struct xmig_host_fn f;
	bool kept;                 /* named while capturing: never forgotten */
	struct entry *next;        /* in its bucket */
	struct entry *next_kept;   /* in the list of kept ones, where kept */
};

/* (untouched buckets cost no memory: a burst of queued functions stays cheap to find) */
#define NBUCKETS 16384u

static struct {
	pthread_mutex_t lock;
	struct entry *buckets[NBUCKETS];
	struct entry *kept;
	uint64_t next_id;
	pthread_once_t started;
	bool running;              /* the thread was made */
	struct xmig_shm_header *hdr;
} hf = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.next_id = 1,
	.started = PTHREAD_ONCE_INIT,
};

static __thread bool in_host_function;

bool xmig_host_func_running_here(void)
{
	return in_host_function;
}

static struct entry **bucket(uint64_t id)
{
	return &hf.buckets[(id ^ id >> 10) % NBUCKETS];
}

/* A kept entry naming the same call, or NULL (under the lock). */
static struct entry *find_kept(const struct xmig_host_fn *f)
{
	for (struct entry *e = hf.kept; e; e = e->next_kept)
		if (e->f.kind == f->kind && e->f.fn == f->fn && e->f.data == f->data &&
		    e->f.stream == f->stream)
			return e;
	return NULL;
}

static void keep(struct entry *e)
{
	if (!e->kept) {
		e->kept = true;
		e->next_kept = hf.kept;
		hf.kept = e;
	}
}

/* An id for f: a fresh one, or where it is to be kept the kept one of the same call. */
static int name_call(const struct xmig_host_fn *f, bool kept, uint64_t *id)
{
	struct entry *e;

	pthread_mutex_lock(&hf.lock);
	if (kept && (e = find_kept(f))) {
		*id = e->id;
		pthread_mutex_unlock(&hf.lock);
		return 0;
	}
	if (!(e = malloc(sizeof(*e)))) {
		pthread_mutex_unlock(&hf.lock);
		return -1;
	}
	e->id = hf.next_id++;
	e->f = *f;
	e->kept = false;
	if (kept)
		keep(e);
	e->next = *bucket(e->id);
	*bucket(e->id) = e;
	*id = e->id;
	pthread_mutex_unlock(&hf.lock);
	return 0;
}

/* The call named id, taken out of the table unless it must stay; false if unknown. */
static bool take_call(uint64_t id, bool from_graph, struct xmig_host_fn *f)
{
	struct entry **pp, *e;

	pthread_mutex_lock(&hf.lock);
	for (pp = bucket(id); (e = *pp) && e->id != id; pp = &e->next)
		;
	if (e) {
		*f = e->f;
		if (!e->kept && !from_graph) {
			*pp = e->next;
			free(e);
		} else {
			keep(e);   /* (a graph's node: its launches call it again) */
		}
	}
	pthread_mutex_unlock(&hf.lock);
	return e != NULL;
}

static void run(const struct xmig_host_fn *f)
{
	in_host_function = true;
	if (f->kind == XMIG_HOST_FN_CALLBACK)
		/* (cudaStreamCallback_t and CUstreamCallback: the stream, a success status, the data) */
		((void (*)(void *, int, void *))f->fn)(f->stream, 0, f->data);
	else
		((void (*)(void *))f->fn)(f->data);
	in_host_function = false;
}

/* Run every slot that is READY; true if one was. */
static bool run_ready(struct xmig_shm_header *h)
{
	bool any = false;

	for (unsigned i = 0; i < XMIG_HOST_CALL_SLOTS; i++) {
		struct xmig_host_call *hc = &h->host_calls[i];
		uint32_t want = XMIG_HOST_CALL_READY;
		struct xmig_host_fn f;

		if (atomic_load_explicit(&hc->state, memory_order_relaxed) != want ||
		    !atomic_compare_exchange_strong(&hc->state, &want, XMIG_HOST_CALL_RUNNING))
			continue;
		any = true;
		if (take_call(hc->id, hc->from_graph, &f))
			run(&f);
		else
			xmig_error("the proxy called host function %llu, which this process does "
				   "not know: not called", (unsigned long long)hc->id);
		atomic_store(&hc->state, XMIG_HOST_CALL_DONE);
		xmig_futex_wake(&hc->state);
	}
	return any;
}

static void *host_func_main(void *arg)
{
	struct xmig_shm_header *h = arg;
	uint64_t idle_since = xmig_now_ns();

	for (;;) {
		uint32_t seen = atomic_load(&h->host_calls_futex);

		if (run_ready(h)) {
			idle_since = xmig_now_ns();
			continue;
		}
		/* (spin a while after a call: a stream's host functions often come in a row) */
		if (xmig_now_ns() - idle_since < xmig_spin_ns()) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&h->host_calls_sleeping, 1);
		if (!run_ready(h))
			xmig_futex_wait(&h->host_calls_futex, seen, 0);
		atomic_fetch_sub(&h->host_calls_sleeping, 1);
		idle_since = xmig_now_ns();
	}
	return NULL;
}

static void start(void)
{
	pthread_attr_t at;
	sigset_t all, old;
	pthread_t th;

	/* (the application's signals go to its own threads, as with the driver's) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (!pthread_create(&th, &at, host_func_main, hf.hdr)) {
		pthread_setname_np(th, "xmig-hostfn");
		hf.running = true;
	}
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

cudaError_t xmig_cl_host_func(struct xmig_thread *t, uint64_t stream, const struct xmig_host_fn *f,
			      bool capturing)
{
	struct xmig_host_func_req *a;
	uint64_t id;

	if (!f->fn)
		return cudaErrorInvalidValue;
	hf.hdr = xmig_cl_header();
	pthread_once(&hf.started, start);
	if (!hf.running) {
		xmig_error("cannot start the thread that runs host functions");
		return cudaErrorMemoryAllocation;
	}
	if (name_call(f, capturing, &id) < 0)
		return cudaErrorMemoryAllocation;
	if (!(a = xmig_cl_begin(t, XMIG_OP_HOST_FUNC, sizeof(*a))))
		return xmig_cl_lost();
	a->stream = stream;
	a->id = id;
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}
