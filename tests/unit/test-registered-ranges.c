/*
 * test-registered-ranges.c - the index of registered ranges: lookups find
 * exactly the ranges there (ends excluded), overlaps are seen whichever
 * side sticks out, removal and growth keep it sorted, clear empties it;
 * and readers racing a writer that adds and removes (and grows the array)
 * never see a range that was not there, nor miss one that always was.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "proxy/client/registered-ranges.c"
#include "unit.h"

#define PAGE 4096ull
#define BASE (1ull << 40)

static _Atomic int stop;
static _Atomic long wrong;

/* Ranges at BASE + 2k pages, one page each: the odd pages are never in one. */
static uint64_t at(unsigned k)
{
	return BASE + 2 * k * PAGE;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		for (unsigned k = 0; k < 300; k++) {
			uint64_t lo, hi;

			/* the one that stays */
			if (!xmig_ranges_find(at(0) + 5, &lo, &hi) || lo != at(0) || hi != at(0) + PAGE)
				atomic_fetch_add(&wrong, 1);
			/* a page no range ever held */
			if (xmig_ranges_find(at(k) + PAGE + 1, NULL, NULL))
				atomic_fetch_add(&wrong, 1);
			/* one that is there or not, but never another's bounds */
			if (xmig_ranges_find(at(k) + 7, &lo, &hi) && (lo != at(k) || hi != at(k) + PAGE))
				atomic_fetch_add(&wrong, 1);
		}
	return NULL;
}

int main(void)
{
	uint64_t lo = 0, hi = 0;
	pthread_t th[2];

	CHECK(!xmig_ranges_find(BASE, NULL, NULL), "empty: nothing found");
	CHECK(!xmig_ranges_overlap(0, UINT64_MAX), "empty: nothing overlaps");
	CHECK(xmig_ranges_add(at(5), at(5) + PAGE) == 0 && xmig_ranges_add(at(1), at(1) + PAGE) == 0 &&
		      xmig_ranges_add(at(3), at(3) + 3 * PAGE / 2) == 0,
	      "three added out of order");
	CHECK(xmig_ranges_find(at(3), &lo, &hi) && lo == at(3) && hi == at(3) + 3 * PAGE / 2,
	      "the first byte of a range finds it, with its bounds");
	CHECK(xmig_ranges_find(at(5) + PAGE - 1, NULL, NULL), "its last byte too");
	CHECK(!xmig_ranges_find(at(5) + PAGE, NULL, NULL) && !xmig_ranges_find(at(1) - 1, NULL, NULL),
	      "the byte past the end, and the one before the start: none");
	CHECK(!xmig_ranges_find(0, NULL, NULL) && !xmig_ranges_find(UINT64_MAX, NULL, NULL),
	      "the ends of the address space: none");
	CHECK(xmig_ranges_overlap(at(1) - PAGE, at(1) + 1) && xmig_ranges_overlap(at(5) + 10, at(5) + 20) &&
		      xmig_ranges_overlap(at(3) + PAGE, at(6)) && xmig_ranges_overlap(0, UINT64_MAX),
	      "overlaps from below, inside, from above and around are seen");
	CHECK(!xmig_ranges_overlap(at(1) + PAGE, at(3)) && !xmig_ranges_overlap(at(5) + PAGE, at(9)),
	      "a gap between ranges and the space past the last overlap none");
	xmig_ranges_remove(at(3));
	xmig_ranges_remove(at(3) + 1);   /* (not a start: nothing) */
	CHECK(!xmig_ranges_find(at(3), NULL, NULL) && xmig_ranges_find(at(1), NULL, NULL) &&
		      xmig_ranges_find(at(5), NULL, NULL),
	      "a removed range is gone, the others stay");
	for (unsigned k = 10; k < 200; k++)
		xmig_ranges_add(at(k), at(k) + PAGE);
	int all = 1;
	for (unsigned k = 10; k < 200; k++)
		all &= xmig_ranges_find(at(k) + 100, &lo, &hi) && lo == at(k);
	CHECK(all, "190 more (the array grown several times): each found");
	xmig_ranges_clear();
	CHECK(!xmig_ranges_find(at(1), NULL, NULL) && !xmig_ranges_overlap(0, UINT64_MAX),
	      "cleared: none left");

	/* Readers racing a writer. */
	xmig_ranges_add(at(0), at(0) + PAGE);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	for (int round = 0; round < 300; round++) {
		for (unsigned k = 1; k < 300; k++)
			xmig_ranges_add(at(k), at(k) + PAGE);
		for (unsigned k = 1; k < 300; k++)
			xmig_ranges_remove(at(k));
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&wrong) == 0, "readers racing 180000 changes saw no wrong answer (%ld)",
	      (long)atomic_load(&wrong));
	return unit_done();
}
