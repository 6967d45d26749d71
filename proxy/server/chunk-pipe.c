/*
 * chunk-pipe.c - a reader thread and a ring of buffers (chunk-pipe.h).
 *
 * Buffers are filled and given back in ring order, so two counters say
 * everything: `filled` chunks were filled so far, `freed` were given back;
 * the thread may fill while filled - freed < n, and the caller may take
 * chunk `taken` while taken < filled. One lock, one condition: a chunk is
 * milliseconds of work, the lock is held for nanoseconds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../../lib/xmig.h"
#include "chunk-pipe.h"

struct chunk_pipe {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	chunk_fill_fn *fill;
	void *arg;
	int wake_fd;
	unsigned n;
	uint64_t filled, taken, freed;   /* counts of chunks, in ring order */
	int end;                         /* 0 running, 1 the stream ended, -1 it broke */
	bool stop;
	struct chunk_pipe_stats stats;
	struct chunk c[];
};

static void *fill_main(void *arg)
{
	struct chunk_pipe *p = arg;

	pthread_setname_np(pthread_self(), "xmig-xfer-read");
	for (;;) {
		struct chunk *c;
		uint64_t t = xmig_now_ns();
		int r;

		pthread_mutex_lock(&p->lock);
		while (!p->stop && p->filled - p->freed == p->n)
			pthread_cond_wait(&p->cond, &p->lock);
		c = p->stop ? NULL : &p->c[p->filled % p->n];
		pthread_mutex_unlock(&p->lock);
		p->stats.wait_free_ns += xmig_now_ns() - t;
		if (!c)
			break;
		t = xmig_now_ns();
		r = p->fill(p->arg, c);
		p->stats.fill_ns += xmig_now_ns() - t;
		pthread_mutex_lock(&p->lock);
		if (r > 0)
			p->filled++;
		else
			p->end = r < 0 ? -1 : 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (r <= 0)
			break;
	}
	return NULL;
}

struct chunk_pipe *chunk_pipe_start(unsigned nbuf, size_t cap, chunk_fill_fn *fill, void *arg,
				    int wake_fd)
{
	struct chunk_pipe *p = calloc(1, sizeof(*p) + nbuf * sizeof(p->c[0]));
	unsigned i = 0;

	if (!p || !nbuf)
		goto err;
	p->fill = fill;
	p->arg = arg;
	p->wake_fd = wake_fd;
	p->n = nbuf;
	for (i = 0; i < nbuf; i++) {
		if (posix_memalign(&p->c[i].buf, 4096, cap) != 0)
			goto err;
		p->c[i].cap = cap;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, fill_main, p) != 0) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		goto err;
	}
	return p;
err:
	while (p && i-- > 0)
		free(p->c[i].buf);
	free(p);
	return NULL;
}

int chunk_pipe_next(struct chunk_pipe *p, struct chunk **c)
{
	uint64_t t = xmig_now_ns();
	int r;

	pthread_mutex_lock(&p->lock);
	while (p->taken == p->filled && !p->end)
		pthread_cond_wait(&p->cond, &p->lock);
	/* chunks filled before the end are the caller's still */
	if (p->taken < p->filled) {
		*c = &p->c[p->taken++ % p->n];
		r = 1;
	} else {
		r = p->end > 0 ? 0 : -1;
	}
	pthread_mutex_unlock(&p->lock);
	p->stats.wait_chunk_ns += xmig_now_ns() - t;
	return r;
}

void chunk_pipe_done(struct chunk_pipe *p, struct chunk *c)
{
	pthread_mutex_lock(&p->lock);
	if (c == &p->c[p->freed % p->n] && p->freed < p->taken) {
		p->freed++;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
}

void chunk_pipe_stop(struct chunk_pipe *p, struct chunk_pipe_stats *stats)
{
	bool early;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	early = !p->end;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* A fill blocked in read() sees the end of the stream; the peer, soon, a closed fd. */
	if (early && p->wake_fd >= 0)
		shutdown(p->wake_fd, SHUT_RD);
	pthread_join(p->thread, NULL);
	p->stats.chunks = p->filled;
	if (stats)
		*stats = p->stats;
	for (unsigned i = 0; i < p->n; i++)
		free(p->c[i].buf);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
