/*
 * hostmem.h - pinned host allocations of this process, for the keeper.
 */
#ifndef XMIG_HOSTMEM_H
#define XMIG_HOSTMEM_H

#include <stddef.h>
#include <stdint.h>

struct xmig_hostmem_region {
	uint64_t addr, size, ino;
	int fd;
	unsigned flags;
};

size_t xmig_hostmem_count(void);
int xmig_hostmem_at_index(size_t i, struct xmig_hostmem_region *r);
/* The region containing addr. */
int xmig_hostmem_find(uint64_t addr, struct xmig_hostmem_region *r);

#endif
