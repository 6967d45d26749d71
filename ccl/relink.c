/*
 * relink.c - what a re-link after a move does around NCCL's build, off its
 * critical path: the process made ready ahead (ccl_warm_up: the standby
 * proxy, while the job still runs), and the old physical communicators
 * ended after it (the retire list: the new one is built first, the old one
 * is aborted by a background thread once the job runs again, or at the
 * latest when the proxy exits). ncclCommAbort can take hundreds of
 * milliseconds; nobody waits for it now.
 *
 * A retired communicator is out of every table before it is queued: its
 * only holder is the list, so no NCCL call reaches it while it is aborted.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xmig.h"
#include "ccl.h"

int ccl_warm_up(const struct ccl_backend *b, void *dev, const struct ccl_cache_files *f,
		int rank, double *secs)
{
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	struct xmig_ccl_config cfg = { 0 };
	struct ccl_cache_files topo;
	uint64_t t0 = xmig_now_ns();
	void *comm = NULL;
	char r[16];
	int st;

	if (f) {
		/* the node's topology only (read, or dumped by this one-rank build) */
		topo = *f;
		topo.graph[0] = 0;
		ccl_cache_setenv(&topo, 0);
		/*
		 * NCCL reads the graph dump rank once per process, at its first
		 * init (this one): make it this process's rank in the job's
		 * communicators, so that its later builds dump their graphs.
		 */
		snprintf(r, sizeof(r), "%d", rank);
		ccl_env_set("NCCL_GRAPH_DUMP_FILE_RANK", r);
	}
	if (!(st = b->unique_id(dev, id[0])) &&
	    !(st = b->init(dev, 1, 0, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])id, &cfg, &comm)))
		st = b->end(dev, comm, XMIG_CCL_DESTROY);
	if (f) {
		ccl_cache_unset();
		ccl_cache_keep(&topo);
	}
	if (secs)
		*secs = (double)(xmig_now_ns() - t0) / 1e9;
	return st;
}

/* ---- the retire list ------------------------------------------------------------ */

struct ccl_retired {
	void *comm;
	uint64_t key;
	bool released;                  /* may be aborted now */
	struct ccl_retired *next;
};

void ccl_retire_init(struct ccl_retire *r, const struct ccl_backend *b, void *dev,
		     int (*bind)(void *dev))
{
	memset(r, 0, sizeof(*r));
	r->b = b;
	r->dev = dev;
	r->bind = bind;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

/* The first released entry, unlinked; all of them when stopping. Under the lock. */
static struct ccl_retired *take(struct ccl_retire *r)
{
	for (struct ccl_retired **p = &r->head; *p; p = &(*p)->next)
		if ((*p)->released || r->stop) {
			struct ccl_retired *e = *p;

			*p = e->next;
			return e;
		}
	return NULL;
}

static void abort_one(struct ccl_retire *r, struct ccl_retired *e)
{
	uint64_t t0 = xmig_now_ns();
	int st = r->b->end(r->dev, e->comm, XMIG_CCL_ABORT);
	double s = (double)(xmig_now_ns() - t0) / 1e9;

	if (st)
		xmig_warn("aborting the old NCCL communicator %016llx returned %d",
			  (unsigned long long)e->key, st);
	else
		xmig_debug("old NCCL communicator %016llx aborted in %.1f ms, off the critical path",
			   (unsigned long long)e->key, s * 1e3);
	pthread_mutex_lock(&r->lock);
	r->aborted++;
	r->abort_s += s;
	r->busy = false;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(e);
}

static void *retire_main(void *arg)
{
	struct ccl_retire *r = arg;

	pthread_setname_np(pthread_self(), "xmig-retire");
	if (r->bind && r->bind(r->dev))
		xmig_warn("the NCCL retire thread cannot bind the device context");
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct ccl_retired *e = take(r);

		if (e) {
			r->busy = true;
			pthread_mutex_unlock(&r->lock);
			abort_one(r, e);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		if (r->stop)
			break;
		pthread_cond_wait(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void ccl_retire(struct ccl_retire *r, void *comm, uint64_t key)
{
	struct ccl_retired *e = calloc(1, sizeof(*e));

	if (!comm)
		goto out;
	pthread_mutex_lock(&r->lock);
	if (e && !r->started && !r->stop)
		r->started = pthread_create(&r->th, NULL, retire_main, r) == 0;
	if (!e || !r->started || r->stop) {
		/* no list to put it on: ended here and now, as before */
		pthread_mutex_unlock(&r->lock);
		r->b->end(r->dev, comm, XMIG_CCL_ABORT);
		pthread_mutex_lock(&r->lock);
		r->aborted++;
		pthread_mutex_unlock(&r->lock);
		goto out;
	}
	e->comm = comm;
	e->key = key;
	e->next = r->head;
	r->head = e;
	r->queued++;
	e = NULL;
	pthread_mutex_unlock(&r->lock);
out:
	free(e);
}

void ccl_retire_release(struct ccl_retire *r)
{
	bool any = false;

	pthread_mutex_lock(&r->lock);
	for (struct ccl_retired *e = r->head; e; e = e->next)
		any |= !e->released, e->released = true;
	if (any)
		pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

size_t ccl_retire_pending(struct ccl_retire *r)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct ccl_retired *e = r->head; e; e = e->next)
		n++;
	n += r->busy;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void ccl_retire_drain(struct ccl_retire *r)
{
	bool joined;

	pthread_mutex_lock(&r->lock);
	r->stop = true;
	joined = r->started;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (joined)
		pthread_join(r->th, NULL);   /* it aborted everything queued, released or not */
	pthread_mutex_lock(&r->lock);
	r->started = false;
	r->stop = false;               /* usable again: a later ccl_retire starts a new thread */
	pthread_mutex_unlock(&r->lock);
}
