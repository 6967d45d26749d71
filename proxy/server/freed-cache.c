/*
 * freed-cache.c - physical device memory kept after a free (freed-cache.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "freed-cache.h"

#define DEFAULT_CAP_MIB 64

void freed_cache_init(struct freed_cache *c, uint64_t cap)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cap = cap;
}

void *freed_cache_take(struct freed_cache *c, uint64_t size)
{
	void *mem = NULL;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = c->n; i-- > 0;) {
		if (c->slot[i].size != size)
			continue;
		mem = c->slot[i].mem;
		c->bytes -= size;
		memmove(&c->slot[i], &c->slot[i + 1], (c->n - i - 1) * sizeof(c->slot[0]));
		c->n--;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return mem;
}

bool freed_cache_put(struct freed_cache *c, uint64_t size, void *mem, freed_release_fn *release,
		     void *arg)
{
	void *evicted[FREED_CACHE_SLOTS];
	unsigned nev = 0;

	/* (a quarter: one large piece would otherwise push out every small one) */
	if (!c->cap || size > c->cap / 4)
		return false;
	pthread_mutex_lock(&c->lock);
	while (c->n && (c->n == FREED_CACHE_SLOTS || c->bytes + size > c->cap)) {
		evicted[nev++] = c->slot[0].mem;
		c->bytes -= c->slot[0].size;
		memmove(&c->slot[0], &c->slot[1], (c->n - 1) * sizeof(c->slot[0]));
		c->n--;
	}
	c->slot[c->n].size = size;
	c->slot[c->n].mem = mem;
	c->n++;
	c->bytes += size;
	pthread_mutex_unlock(&c->lock);
	/* (outside the lock: releasing is a driver call) */
	for (unsigned i = 0; i < nev; i++)
		release(arg, evicted[i]);
	return true;
}

uint64_t freed_cache_drain(struct freed_cache *c, freed_release_fn *release, void *arg)
{
	void *out[FREED_CACHE_SLOTS];
	unsigned n;
	uint64_t bytes;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	bytes = c->bytes;
	for (unsigned i = 0; i < n; i++)
		out[i] = c->slot[i].mem;
	c->n = 0;
	c->bytes = 0;
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < n; i++)
		release(arg, out[i]);
	return bytes;
}

int freed_cache_cap_from_env(uint64_t *cap)
{
	const char *v = getenv("XMIG_FREED_CACHE_MIB");
	unsigned long long mib;
	char *end;

	*cap = (uint64_t)DEFAULT_CAP_MIB << 20;
	if (!v || !*v)
		return 0;
	errno = 0;
	mib = strtoull(v, &end, 10);
	if (errno || *end || v[0] == '-' || mib > (1ull << 24))
		return -1;
	*cap = (uint64_t)mib << 20;
	return 0;
}
