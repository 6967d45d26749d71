/*
 * chunk-pipe.h - a stream read ahead, chunk by chunk, by a thread of its
 * own into a few buffers, so that reading chunk k+1 overlaps what the
 * caller does with chunk k (stream-mode transfers: xfer.c).
 */
#ifndef XMIG_CHUNK_PIPE_H
#define XMIG_CHUNK_PIPE_H

#include <stddef.h>
#include <stdint.h>

struct chunk {
	void *buf;           /* cap bytes, the pipe's */
	size_t cap;
	uint64_t len;        /* bytes filled */
	uint64_t tag[4];     /* the filler's words about them */
};

/* On the pipe's thread: fill c; 1 filled, 0 the stream ended, -1 it broke. */
typedef int chunk_fill_fn(void *arg, struct chunk *c);

struct chunk_pipe_stats {
	uint64_t chunks;
	uint64_t fill_ns;         /* the thread, filling */
	uint64_t wait_free_ns;    /* the thread, waiting for the caller to give a buffer back */
	uint64_t wait_chunk_ns;   /* the caller, waiting for a chunk in chunk_pipe_next */
};

/*
 * Start filling nbuf buffers of cap bytes. wake_fd (or -1): the fd fill
 * reads, shut down for reading if the pipe is stopped before the stream
 * ends, so that a fill blocked on it returns. NULL without memory or thread.
 */
struct chunk_pipe *chunk_pipe_start(unsigned nbuf, size_t cap, chunk_fill_fn *fill, void *arg,
				    int wake_fd);

/* The next chunk, in order: 1 and *c, 0 at the end of the stream, -1 if it broke. */
int chunk_pipe_next(struct chunk_pipe *p, struct chunk **c);

/* Done with the oldest chunk had from next: its buffer may be filled again. */
void chunk_pipe_done(struct chunk_pipe *p, struct chunk *c);

/* Stop the thread (at once, if the stream has not ended), join it, free all. */
void chunk_pipe_stop(struct chunk_pipe *p, struct chunk_pipe_stats *stats);

#endif
