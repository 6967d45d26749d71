/*
 * freed-cache.h - physical device memory kept after a cudaFree, for the next
 * allocation of the same size.
 *
 * Every allocation the proxy makes is a VMM handle (so that a move can map
 * it at the same address elsewhere): making and releasing a 2 MiB one took
 * 17-18 us on an H200, of the 73-76 us that making, mapping, unmapping
 * and releasing it took, against 58-63 us for a native cudaMalloc(1 MiB)
 * + cudaFree. Keeping a few freed ones, within a byte cap, spares those
 * 17-18 us for programs that free and allocate the same sizes in a loop.
 * The memory stays the proxy's meanwhile, so other processes on the GPU
 * see up to the cap less free; the owner gives it all back before it
 * tells the program how much memory is free, when an allocation finds the
 * device full, and when a move begins.
 *
 * The cache only stores (size, memory) pairs; what the memory is, and how
 * it is released, is the caller's. Thread-safe.
 */
#ifndef XMIG_FREED_CACHE_H
#define XMIG_FREED_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FREED_CACHE_SLOTS 32

struct freed_cache {
	pthread_mutex_t lock;
	uint64_t cap;          /* bytes it may hold; 0: off */
	uint64_t bytes;        /* bytes it holds */
	unsigned n;            /* slots used, oldest first */
	struct {
		uint64_t size;
		void *mem;
	} slot[FREED_CACHE_SLOTS];
};

typedef void freed_release_fn(void *arg, void *mem);

/* cap bytes at most (a piece larger than a quarter of it is not kept). */
void freed_cache_init(struct freed_cache *c, uint64_t cap);

/* The most recently kept piece of exactly size bytes, now the caller's, or NULL. */
void *freed_cache_take(struct freed_cache *c, uint64_t size);

/*
 * Keep mem (size bytes), releasing the oldest pieces to make room; false
 * when it is not kept (too large, or the cache is off): the caller
 * releases it.
 */
bool freed_cache_put(struct freed_cache *c, uint64_t size, void *mem, freed_release_fn *release,
		     void *arg);

/* Release every piece; the bytes released. */
uint64_t freed_cache_drain(struct freed_cache *c, freed_release_fn *release, void *arg);

/* The cap from XMIG_FREED_CACHE_MIB (default 64 MiB; 0: off); -1 if it is not a number. */
int freed_cache_cap_from_env(uint64_t *cap);

#endif
