/*
 * test-freed-cache.c - freed device memory kept for the next allocation of
 * the same size: exact sizes only, newest first, within the byte cap and
 * the slots (the oldest released to make room), nothing kept past a
 * quarter of the cap or with the cache off, all released by a drain; the
 * cap read from XMIG_FREED_CACHE_MIB.
 */
#include <stdlib.h>

#include "proxy/server/freed-cache.c"
#include "unit.h"

#define MIB (1ull << 20)

static void *released[64];
static unsigned nreleased;

static void release(void *arg, void *mem)
{
	(void)arg;
	released[nreleased++ % 64] = mem;
}

/* a distinct "memory" per number */
static void *piece(unsigned i)
{
	static char pieces[64];

	return &pieces[i];
}

int main(void)
{
	struct freed_cache c;
	uint64_t cap;

	freed_cache_init(&c, 64 * MIB);
	CHECK(!freed_cache_take(&c, 2 * MIB), "an empty cache gives nothing");
	CHECK(freed_cache_put(&c, 2 * MIB, piece(1), release, NULL) && c.bytes == 2 * MIB,
	      "a freed 2 MiB piece is kept");
	CHECK(!freed_cache_take(&c, 4 * MIB), "not for another size");
	CHECK(freed_cache_take(&c, 2 * MIB) == piece(1) && c.bytes == 0 && c.n == 0,
	      "the next 2 MiB allocation gets it, and it is no longer kept");
	CHECK(!freed_cache_take(&c, 2 * MIB), "nor given twice");

	freed_cache_put(&c, 2 * MIB, piece(1), release, NULL);
	freed_cache_put(&c, 4 * MIB, piece(2), release, NULL);
	freed_cache_put(&c, 2 * MIB, piece(3), release, NULL);
	CHECK(freed_cache_take(&c, 2 * MIB) == piece(3) &&
	      freed_cache_take(&c, 2 * MIB) == piece(1) &&
	      freed_cache_take(&c, 4 * MIB) == piece(2) && c.bytes == 0,
	      "newest first among pieces of one size; other sizes kept meanwhile");

	nreleased = 0;
	for (unsigned i = 0; i < 4; i++)
		freed_cache_put(&c, 16 * MIB, piece(10 + i), release, NULL);
	CHECK(c.bytes == 64 * MIB && nreleased == 0, "up to the cap kept (4 x 16 MiB of 64)");
	CHECK(freed_cache_put(&c, 2 * MIB, piece(20), release, NULL) && nreleased == 1 &&
	      released[0] == piece(10) && c.bytes == 50 * MIB,
	      "past the cap the oldest is released to make room");
	CHECK(!freed_cache_put(&c, 17 * MIB, piece(21), release, NULL) && nreleased == 1 &&
	      c.bytes == 50 * MIB, "a piece over a quarter of the cap is not kept (the caller releases it)");

	nreleased = 0;
	CHECK(freed_cache_drain(&c, release, NULL) == 50 * MIB && nreleased == 4 && c.n == 0 &&
	      c.bytes == 0 && !freed_cache_take(&c, 16 * MIB), "a drain releases every piece");
	CHECK(freed_cache_drain(&c, release, NULL) == 0 && nreleased == 4, "an empty drain releases none");

	nreleased = 0;
	for (unsigned i = 0; i < FREED_CACHE_SLOTS + 1; i++)
		freed_cache_put(&c, 1, piece(i), release, NULL);
	CHECK(c.n == FREED_CACHE_SLOTS && nreleased == 1 && released[0] == piece(0),
	      "%u slots: one more releases the oldest", FREED_CACHE_SLOTS);
	freed_cache_drain(&c, release, NULL);

	freed_cache_init(&c, 0);
	CHECK(!freed_cache_put(&c, 2 * MIB, piece(1), release, NULL) && c.n == 0,
	      "a cache with no room (XMIG_FREED_CACHE_MIB=0) keeps nothing");

	unsetenv("XMIG_FREED_CACHE_MIB");
	CHECK(freed_cache_cap_from_env(&cap) == 0 && cap == 64 * MIB, "default cap 64 MiB");
	setenv("XMIG_FREED_CACHE_MIB", "0", 1);
	CHECK(freed_cache_cap_from_env(&cap) == 0 && cap == 0, "0: off");
	setenv("XMIG_FREED_CACHE_MIB", "512", 1);
	CHECK(freed_cache_cap_from_env(&cap) == 0 && cap == 512 * MIB, "512: 512 MiB");
	const char *bad[] = { "x", "12x", "-1", "1e3", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("XMIG_FREED_CACHE_MIB", bad[i], 1);
		CHECK(freed_cache_cap_from_env(&cap) == -1, "'%s' refused", bad[i]);
	}
	return unit_done();
}
