/*
 * registered-ranges.h - where the application's own registered memory
 * (cudaHostRegister) lies: looked up without a lock, as every copy
 * classifies its pointers; changed only under hostmem.c's lock.
 */
#ifndef XMIG_REGISTERED_RANGES_H
#define XMIG_REGISTERED_RANGES_H

#include <stdbool.h>
#include <stdint.h>

/* [lo, hi) into the index: 0, or -1 when out of memory. */
int xmig_ranges_add(uint64_t lo, uint64_t hi);
/* The range starting at lo out of it. */
void xmig_ranges_remove(uint64_t lo);
/* All of them out (a forked child's; no allocation). */
void xmig_ranges_clear(void);
/* The range holding a, as [*lo, *hi) (either may be NULL): true, else false. */
bool xmig_ranges_find(uint64_t a, uint64_t *lo, uint64_t *hi);
/* Whether [lo, hi) overlaps one. */
bool xmig_ranges_overlap(uint64_t lo, uint64_t hi);

#endif
