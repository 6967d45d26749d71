/*
 * hostmem.h - pinned host memory of this process: its allocations in the
 * host window and the ranges of its own it registered, for the keeper.
 */
#ifndef XMIG_HOSTMEM_H
#define XMIG_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

struct xmig_thread;

struct xmig_hostmem_region {
	uint64_t addr, size, ino;
	int fd;
	unsigned flags;
	/* cudaHostRegister's: the pointer given, the pages' protection (else 0) */
	uint64_t registered;
	int prot;
};

size_t xmig_hostmem_count(void);
/* Region i, or the one containing addr: 0, its fd a copy the caller closes; -1 for none. */
int xmig_hostmem_at_index(size_t i, struct xmig_hostmem_region *r);
int xmig_hostmem_find(uint64_t addr, struct xmig_hostmem_region *r);

/*
 * A registered range (r->registered set) into the list, or
 * cudaErrorHostMemoryAlreadyRegistered where it overlaps one there.
 */
int xmig_hostmem_add_registered(const struct xmig_hostmem_region *r);
/* Whether [addr, addr+size) overlaps a registered range. */
bool xmig_hostmem_overlaps_registered(uint64_t addr, uint64_t size);
/* Out of the list: the registered range given as p. 0, or -1 for none. */
int xmig_hostmem_remove_registered(uint64_t p, struct xmig_hostmem_region *r);
/*
 * Around a fork: the list held still (hold, release); in the child, while
 * held, each registered range made a private mapping of its memfd (what
 * the child writes is its own) and the list forgets them.
 */
void xmig_hostmem_hold(void);
void xmig_hostmem_release(void);
void xmig_hostmem_privatise_registered_held(void);

/* The proxy told of a region (mapped there and registered), or of its end. */
cudaError_t xmig_hostmem_announce(struct xmig_thread *t, const struct xmig_hostmem_region *r);
cudaError_t xmig_hostmem_withdraw(struct xmig_thread *t, uint64_t addr);

#endif
