/*
 * hostmem.c - pinned host memory (cudaMallocHost, cudaHostAlloc).
 *
 * Each allocation is a memfd mapped in the host window; the proxy maps the
 * same memfd at the same address and registers it with the driver, so
 * host pointers need no translation and async copies are true DMA. The
 * memfds stay with this process (the keeper hands them to each proxy).
 * The list also holds the ranges of the application's own memory it
 * registered (host-register.c), outside the window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "hostmem.h"
#include "registered-ranges.h"

struct range {
	uint64_t addr, size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct xmig_hostmem_region *regions;
static size_t nregions, capregions;
static struct range *holes;          /* free ranges of the pinned area, sorted */
static size_t nholes, capholes;
static uint64_t bump;                /* start of never-used space */

static uint64_t area_start(void)
{
	return xmig_cl_info()->host_window + XMIG_PINNED_OFFSET;
}

static uint64_t area_end(void)
{
	return xmig_cl_info()->host_window + XMIG_HOST_WINDOW_SIZE;
}

/* Addresses: reuse a hole (first fit), else bump. Called with lock held. */
static uint64_t carve(uint64_t size)
{
	size_t i;
	uint64_t a;

	for (i = 0; i < nholes; i++) {
		if (holes[i].size < size)
			continue;
		a = holes[i].addr;
		holes[i].addr += size;
		holes[i].size -= size;
		if (!holes[i].size)
			memmove(&holes[i], &holes[i + 1], (--nholes - i) * sizeof(*holes));
		return a;
	}
	if (!bump)
		bump = area_start();
	if (area_end() - bump < size)
		return 0;
	a = bump;
	bump += size;
	return a;
}

static void give_back(uint64_t addr, uint64_t size)
{
	size_t i = 0;

	while (i < nholes && holes[i].addr < addr)
		i++;
	if (nholes == capholes) {
		size_t cap = capholes ? capholes * 2 : 16;
		struct range *n = realloc(holes, cap * sizeof(*n));

		if (!n)
			return;   /* the addresses are lost, nothing worse */
		holes = n;
		capholes = cap;
	}
	memmove(&holes[i + 1], &holes[i], (nholes - i) * sizeof(*holes));
	holes[i] = (struct range){ addr, size };
	nholes++;
	/* Merge with neighbours. */
	if (i + 1 < nholes && holes[i].addr + holes[i].size == holes[i + 1].addr) {
		holes[i].size += holes[i + 1].size;
		memmove(&holes[i + 1], &holes[i + 2], (nholes - i - 2) * sizeof(*holes));
		nholes--;
	}
	if (i > 0 && holes[i - 1].addr + holes[i - 1].size == holes[i].addr) {
		holes[i - 1].size += holes[i].size;
		memmove(&holes[i], &holes[i + 1], (nholes - i - 1) * sizeof(*holes));
		nholes--;
	}
}

static void unreserve_to_prot_none(uint64_t addr, uint64_t size)
{
	mmap((void *)addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
	     -1, 0);
}

static ssize_t index_of(uint64_t addr)
{
	size_t i;

	for (i = 0; i < nregions; i++)
		if (addr - regions[i].addr < regions[i].size)
			return (ssize_t)i;
	return -1;
}

static cudaError_t register_with_server(struct xmig_thread *t, uint64_t addr, uint64_t size,
					uint64_t ino, unsigned flags)
{
	struct xmig_host_register_req *a = xmig_cl_begin(t, XMIG_OP_HOST_REGISTER, sizeof(*a));

	if (!a)
		return xmig_cl_lost();
	a->addr = addr;
	a->size = size;
	a->ino = ino;
	a->flags = flags;
	return xmig_cl_end(t, XMIG_CALL_SYNC, NULL);
}

cudaError_t xmig_hostmem_announce(struct xmig_thread *t, const struct xmig_hostmem_region *r)
{
	return register_with_server(t, r->addr, r->size, r->ino, r->flags);
}

cudaError_t xmig_hostmem_withdraw(struct xmig_thread *t, uint64_t addr)
{
	struct xmig_host_unregister_req *a = xmig_cl_begin(t, XMIG_OP_HOST_UNREGISTER, sizeof(*a));

	if (!a)
		return xmig_cl_lost();
	a->addr = addr;
	return xmig_cl_end(t, XMIG_CALL_SYNC, NULL);
}

/* Called with lock held: room for one more. */
static int grow(void)
{
	size_t cap;
	struct xmig_hostmem_region *n;

	if (nregions < capregions)
		return 0;
	cap = capregions ? capregions * 2 : 16;
	if (!(n = realloc(regions, cap * sizeof(*n))))
		return -1;
	regions = n;
	capregions = cap;
	return 0;
}

void xmig_hostmem_hold(void)
{
	pthread_mutex_lock(&lock);
}

void xmig_hostmem_release(void)
{
	pthread_mutex_unlock(&lock);
}

void xmig_hostmem_privatise_registered_held(void)
{
	size_t i;

	/*
	 * Every range private first, and only then the list changed: the list
	 * (malloc's) may lie on a registered page, which until then the
	 * parent shares. (System calls only: the child of a threaded process.)
	 */
	for (i = 0; i < nregions; i++)
		if (regions[i].registered)
			mmap((void *)(uintptr_t)regions[i].addr, regions[i].size, regions[i].prot,
			     MAP_PRIVATE | MAP_FIXED, regions[i].fd, 0);
	for (i = 0; i < nregions;) {
		if (!regions[i].registered) {
			i++;
			continue;
		}
		close(regions[i].fd);
		regions[i] = regions[--nregions];
	}
	xmig_ranges_clear();
}

bool xmig_hostmem_overlaps_registered(uint64_t addr, uint64_t size)
{
	return addr + size >= addr && xmig_ranges_overlap(addr, addr + size);
}

bool xmig_cl_host_runs_past_registered(uint64_t addr, uint64_t len)
{
	uint64_t hi;

	return xmig_ranges_find(addr, NULL, &hi) && len > hi - addr;
}

int xmig_hostmem_add_registered(const struct xmig_hostmem_region *r)
{
	int e = 0;

	pthread_mutex_lock(&lock);
	if (xmig_ranges_overlap(r->addr, r->addr + r->size))
		e = cudaErrorHostMemoryAlreadyRegistered;
	else if (grow() < 0 || xmig_ranges_add(r->addr, r->addr + r->size) < 0)
		e = cudaErrorMemoryAllocation;
	if (!e) {
		regions[nregions++] = *r;
		xmig_cl_host_regions_changed();
	}
	pthread_mutex_unlock(&lock);
	return e;
}

int xmig_hostmem_remove_registered(uint64_t p, struct xmig_hostmem_region *r)
{
	int e = -1;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nregions; i++) {
		if (!regions[i].registered || regions[i].registered != p)
			continue;
		*r = regions[i];
		regions[i] = regions[--nregions];
		xmig_ranges_remove(r->addr);
		xmig_cl_host_regions_changed();
		e = 0;
		break;
	}
	pthread_mutex_unlock(&lock);
	return e;
}

cudaError_t xmig_cl_host_alloc(void **p, size_t size, unsigned flags)
{
	struct xmig_thread *t;
	struct xmig_hostmem_region r = { 0 };
	struct stat st;
	cudaError_t e;
	uint64_t sz;

	if (!p)
		return cudaErrorInvalidValue;
	if ((e = xmig_cl_enter(&t)))
		return e;
	*p = NULL;
	if (size == 0)
		return cudaSuccess;
	sz = (size + 4095) & ~4095ull;
	r.fd = memfd_create("xmig-pinned", MFD_CLOEXEC);
	if (r.fd < 0 || ftruncate(r.fd, (off_t)sz) < 0 || fstat(r.fd, &st) < 0) {
		if (r.fd >= 0)
			close(r.fd);
		return xmig_cl_record(t, cudaErrorMemoryAllocation);
	}
	pthread_mutex_lock(&lock);
	r.addr = carve(sz);
	if (!r.addr || mmap((void *)r.addr, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			    r.fd, 0) == MAP_FAILED) {
		if (r.addr)
			give_back(r.addr, sz);
		pthread_mutex_unlock(&lock);
		close(r.fd);
		return xmig_cl_record(t, cudaErrorMemoryAllocation);
	}
	r.size = sz;
	r.ino = st.st_ino;
	r.flags = flags;
	if (grow() < 0) {
		unreserve_to_prot_none(r.addr, sz);
		give_back(r.addr, sz);
		pthread_mutex_unlock(&lock);
		close(r.fd);
		return xmig_cl_record(t, cudaErrorMemoryAllocation);
	}
	regions[nregions++] = r;
	xmig_cl_host_regions_changed();
	pthread_mutex_unlock(&lock);

	/* Not under the lock: the keeper serves the proxy's fd request meanwhile. */
	e = register_with_server(t, r.addr, sz, r.ino, flags);
	if (e) {
		pthread_mutex_lock(&lock);
		ssize_t i = index_of(r.addr);
		if (i >= 0)
			regions[i] = regions[--nregions];
		xmig_cl_host_regions_changed();
		unreserve_to_prot_none(r.addr, sz);
		give_back(r.addr, sz);
		pthread_mutex_unlock(&lock);
		close(r.fd);
		return xmig_cl_record(t, e == cudaErrorMemoryAllocation ? e : cudaErrorMemoryAllocation);
	}
	*p = (void *)(uintptr_t)r.addr;
	return cudaSuccess;
}

cudaError_t xmig_cl_host_free(void *p)
{
	uint64_t addr = (uint64_t)(uintptr_t)p;
	struct xmig_hostmem_region r;
	struct xmig_thread *t;
	cudaError_t e;
	ssize_t i;

	if (!p)
		return cudaSuccess;
	if ((e = xmig_cl_enter(&t)))
		return e;
	pthread_mutex_lock(&lock);
	i = index_of(addr);
	/* (memory of the application's own, registered, is not cudaFreeHost's to free) */
	if (i < 0 || regions[i].addr != addr || regions[i].registered) {
		pthread_mutex_unlock(&lock);
		return xmig_cl_record(t, cudaErrorInvalidValue);
	}
	r = regions[i];
	pthread_mutex_unlock(&lock);
	e = xmig_hostmem_withdraw(t, addr);
	pthread_mutex_lock(&lock);
	i = index_of(addr);
	if (i >= 0)
		regions[i] = regions[--nregions];
	xmig_cl_host_regions_changed();
	unreserve_to_prot_none(r.addr, r.size);
	give_back(r.addr, r.size);
	pthread_mutex_unlock(&lock);
	close(r.fd);
	return xmig_cl_record(t, e);
}

bool xmig_cl_host_lookup(const void *p, void **base, size_t *size, unsigned *flags)
{
	ssize_t i;
	bool found = false;

	pthread_mutex_lock(&lock);
	i = index_of((uint64_t)(uintptr_t)p);
	if (i >= 0) {
		if (base)
			*base = (void *)(uintptr_t)regions[i].addr;
		if (size)
			*size = regions[i].size;
		if (flags)
			*flags = regions[i].flags;
		found = true;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

size_t xmig_hostmem_count(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = nregions;
	pthread_mutex_unlock(&lock);
	return n;
}

/* (its fd a copy, taken under the lock: the region may be released and its fd closed meanwhile) */
static int copy_out(size_t i, struct xmig_hostmem_region *r)
{
	*r = regions[i];
	r->fd = fcntl(regions[i].fd, F_DUPFD_CLOEXEC, 3);
	return r->fd < 0 ? -1 : 0;
}

int xmig_hostmem_at_index(size_t i, struct xmig_hostmem_region *r)
{
	int ret = -1;

	pthread_mutex_lock(&lock);
	if (i < nregions)
		ret = copy_out(i, r);
	pthread_mutex_unlock(&lock);
	return ret;
}

int xmig_hostmem_find(uint64_t addr, struct xmig_hostmem_region *r)
{
	ssize_t i;
	int ret = -1;

	pthread_mutex_lock(&lock);
	i = index_of(addr);
	if (i >= 0)
		ret = copy_out((size_t)i, r);
	pthread_mutex_unlock(&lock);
	return ret;
}
