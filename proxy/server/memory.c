/*
 * memory.c - device memory at chosen addresses, and pinned host memory.
 *
 * Device allocations are carved from the device window (first fit, at the
 * backend's granularity) and backed with memory mapped at exactly that
 * address, so a pointer the application holds stays valid on any proxy
 * that maps the same window after a move. The sorted allocation list is
 * the memory map a snapshot walks.
 *
 * Pinned host memory is a memfd of the client's, mapped here at the same
 * address (inside the reserved host window) and registered with the driver.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "state.h"

int srv_memory_init(struct srv *s)
{
	s->mem.window = s->hdr->device_window;
	s->mem.window_size = XMIG_DEVICE_WINDOW_SIZE;
	s->mem.granularity = s->dev->granularity;
	return 0;
}

bool srv_mem_next_byte(const struct srv_memory *m, size_t *at, uint64_t *off)
{
	while (*at < m->nallocs && *off >= m->allocs[*at].size) {
		++*at;
		*off = 0;
	}
	return *at < m->nallocs;
}

/* (a size past the last whole granule saturates: nothing that large fits, none wraps to 0) */
static uint64_t round_up(uint64_t v, uint64_t g)
{
	return v > UINT64_MAX - (g - 1) ? UINT64_MAX / g * g : (v + g - 1) / g * g;
}

/* Index of the first allocation with va >= addr. */
static size_t lower_bound(const struct srv_memory *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nallocs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->allocs[mid].va < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int insert_alloc(struct srv_memory *m, size_t at, const struct srv_alloc *a)
{
	if (m->nallocs == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct srv_alloc *n = realloc(m->allocs, cap * sizeof(*n));

		if (!n)
			return -1;
		m->allocs = n;
		m->cap = cap;
	}
	memmove(&m->allocs[at + 1], &m->allocs[at], (m->nallocs - at) * sizeof(*a));
	m->allocs[at] = *a;
	m->nallocs++;
	return 0;
}

int srv_mem_alloc(struct srv *s, uint64_t size, uint64_t *va)
{
	struct srv_memory *m = &s->mem;
	uint64_t need = round_up(size ? size : 1, m->granularity);
	uint64_t cur = m->window, end = m->window + m->window_size;
	struct srv_alloc a = { 0 };
	size_t i;
	int r;

	/* First fit: lowest gap that holds it, keeping the window compact. */
	for (i = 0;; i++) {
		uint64_t next = i < m->nallocs ? m->allocs[i].va : end;

		if (next - cur >= need)
			break;
		if (i == m->nallocs)   /* (no gap after the last one either) */
			return cudaErrorMemoryAllocation;
		cur = m->allocs[i].va + m->allocs[i].size;
	}
	r = s->dev->mem_map(s->devh, cur, need, &a.mem);
	if (r)
		return r;
	a.va = cur;
	a.size = need;
	a.requested = size;
	a.serial = ++m->next_serial;
	if (insert_alloc(m, i, &a) < 0) {
		s->dev->mem_unmap(s->devh, cur, need, a.mem);
		return cudaErrorMemoryAllocation;
	}
	m->bytes += size;
	m->mapped += need;
	*va = cur;
	return 0;
}

int srv_mem_adopt(struct srv *s, const struct srv_alloc *a)
{
	struct srv_memory *m = &s->mem;
	size_t i = lower_bound(m, a->va);

	if ((i < m->nallocs && m->allocs[i].va < a->va + a->size) ||
	    (i > 0 && m->allocs[i - 1].va + m->allocs[i - 1].size > a->va))
		return xmig_error("allocation at %#llx overlaps another", (unsigned long long)a->va);
	if (insert_alloc(m, i, a) < 0)
		return -1;
	m->bytes += a->requested;
	m->mapped += a->size;
	if (a->pooled)
		m->pooled_bytes += a->size;
	if (a->serial > m->next_serial)
		m->next_serial = a->serial;   /* new ones after a restore stay unique */
	return 0;
}

int srv_mem_free(struct srv *s, uint64_t va)
{
	struct srv_memory *m = &s->mem;
	size_t i = lower_bound(m, va);
	struct srv_alloc a;

	if (i >= m->nallocs || m->allocs[i].va != va)
		return cudaErrorInvalidValue;
	a = m->allocs[i];
	memmove(&m->allocs[i], &m->allocs[i + 1], (m->nallocs - i - 1) * sizeof(a));
	m->nallocs--;
	m->bytes -= a.requested;
	m->mapped -= a.size;
	if (a.pooled)
		m->pooled_bytes -= a.size;
	srv_state_entry_changed(&a.entry);
	/* No backing yet: a record still waiting for its memory (a restore). */
	return a.mem ? s->dev->mem_unmap(s->devh, a.va, a.size, a.mem) : 0;
}

struct srv_alloc *srv_mem_find(struct srv *s, uint64_t va, uint64_t len)
{
	struct srv_memory *m = &s->mem;
	size_t i = lower_bound(m, va + 1);
	struct srv_alloc *a;

	if (i == 0)
		return NULL;
	a = &m->allocs[i - 1];
	if (va < a->va || va + len > a->va + a->size || va + len < va)
		return NULL;
	return a;
}

/* ---- stream-ordered frees (cudaFreeAsync) --------------------------------- */

bool srv_mem_pending(struct srv *s, uint64_t va)
{
	for (size_t i = 0; i < s->mem.npending; i++)
		if (s->mem.pending[i].va == va)
			return true;
	return false;
}

static void *take_event(struct srv *s)
{
	void *e = NULL;

	if (s->mem.nspare)
		return s->mem.spare_events[--s->mem.nspare];
	return s->dev->event_create(s->devh, cudaEventDisableTiming, &e) ? NULL : e;
}

static void give_event(struct srv *s, void *e)
{
	struct srv_memory *m = &s->mem;

	if (m->nspare == m->capspare) {
		size_t cap = m->capspare ? m->capspare * 2 : 16;
		void **n = realloc(m->spare_events, cap * sizeof(*n));

		if (!n) {
			s->dev->event_destroy(s->devh, e);
			return;
		}
		m->spare_events = n;
		m->capspare = cap;
	}
	m->spare_events[m->nspare++] = e;
}

int srv_mem_free_after(struct srv *s, uint64_t va, void *stream, uint64_t *size)
{
	struct srv_memory *m = &s->mem;
	struct srv_alloc *a = srv_mem_find(s, va, 1);
	void *e;
	int r;

	if (!a || a->va != va || a->pooled || srv_mem_pending(s, va))
		return cudaErrorInvalidValue;
	/* (what leaves the pool's use: cudaMalloc's memory never counted there) */
	*size = a->async ? a->requested : 0;
	if (m->npending == m->cappending) {
		size_t cap = m->cappending ? m->cappending * 2 : 16;
		struct srv_pending_free *n = realloc(m->pending, cap * sizeof(*n));

		if (!n)
			return cudaErrorMemoryAllocation;
		m->pending = n;
		m->cappending = cap;
	}
	if (!(e = take_event(s)))
		return cudaErrorMemoryAllocation;
	if ((r = s->dev->event_record(s->devh, e, stream, 0))) {
		give_event(s, e);
		return r;
	}
	m->pending[m->npending++] = (struct srv_pending_free){ va, e };
	return 0;
}

/* A due stream-ordered free: into the pool (a plain allocation's: freed). */
static void to_pool(struct srv *s, uint64_t va)
{
	struct srv_alloc *a = srv_mem_find(s, va, 1);

	if (!a || a->va != va)
		return;
	if (!a->async) {
		srv_mem_free(s, va);
		return;
	}
	a->pooled = true;
	s->mem.pooled_bytes += a->size;
	srv_state_entry_changed(&a->entry);
}

void srv_mem_reap(struct srv *s, bool wait)
{
	struct srv_memory *m = &s->mem;
	size_t i = 0;

	while (i < m->npending) {
		struct srv_pending_free *p = &m->pending[i];
		/* (a faulted context answers with its error: nothing runs there any more) */
		int r = wait ? s->dev->event_sync(s->devh, p->event)
			     : s->dev->event_query(s->devh, p->event);

		if (r == cudaErrorNotReady) {
			i++;
			continue;
		}
		to_pool(s, p->va);
		give_event(s, p->event);
		*p = m->pending[--m->npending];
	}
}

int srv_mem_alloc_async(struct srv *s, uint64_t size, uint64_t *va)
{
	struct srv_memory *m = &s->mem;
	uint64_t need = round_up(size ? size : 1, m->granularity);
	int r;

	for (size_t i = 0; i < m->nallocs; i++) {
		struct srv_alloc *a = &m->allocs[i];

		if (!a->pooled || a->size != need)
			continue;
		/* (address and serial kept: a move's prelude that holds it holds it still) */
		a->pooled = false;
		m->pooled_bytes -= a->size;
		m->bytes += size - a->requested;
		a->requested = size;
		srv_state_entry_changed(&a->entry);
		*va = a->va;
		return 0;
	}
	if ((r = srv_mem_alloc(s, size, va)))
		return r;
	srv_mem_find(s, *va, 1)->async = true;
	return 0;
}

void srv_mem_pool_synced(struct srv *s)
{
	srv_mem_reap(s, false);
	srv_mem_pool_trim(s, s->mem.pool_threshold);
}

void srv_mem_pool_trim(struct srv *s, uint64_t keep)
{
	struct srv_memory *m = &s->mem;
	uint64_t in_use = 0;

	/* (nothing to give back, or the pool may keep all it could reserve: no count needed) */
	if (!m->pooled_bytes || m->mapped <= keep)
		return;
	/* (keep counts the pool's reserved bytes, as CUDA's does: those in use among them) */
	for (size_t i = 0; i < m->nallocs; i++)
		if (m->allocs[i].async && !m->allocs[i].pooled)
			in_use += m->allocs[i].size;
	keep = keep > in_use ? keep - in_use : 0;
	for (size_t i = m->nallocs; i-- > 0 && m->pooled_bytes > keep;)
		if (m->allocs[i].pooled)
			srv_mem_free(s, m->allocs[i].va);
}

/* ---- pinned host memory ------------------------------------------------ */

static struct srv_host_region *find_region(struct srv_memory *m, uint64_t addr, uint64_t len)
{
	size_t i;

	for (i = 0; i < m->nregions; i++) {
		struct srv_host_region *r = &m->regions[i];

		if (addr >= r->addr && addr + len <= r->addr + r->size && addr + len >= addr)
			return r;
	}
	return NULL;
}

/* Whether [addr, addr+len) is clear of the device and host windows. */
static bool outside_windows(struct srv *s, uint64_t addr, uint64_t len)
{
	uint64_t hw = s->hdr->host_window;

	return (addr + len <= s->mem.window || addr >= s->mem.window + s->mem.window_size) &&
	       (addr + len <= hw || addr >= hw + XMIG_HOST_WINDOW_SIZE);
}

/*
 * The application's own registered memory, at its address: a place this
 * process must have free. Its own mappings keep clear of where the
 * application's are (main.c: the bottom-up layout), so a clash is rare;
 * it fails the registration (or the move) loudly, never maps over.
 */
static int map_own(uint64_t addr, uint64_t size, int fd, bool read_only)
{
	void *p = mmap((void *)addr, size, PROT_READ | (read_only ? 0 : PROT_WRITE),
		       MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);

	if (p == (void *)addr)
		return 0;
	if (p != MAP_FAILED)
		munmap(p, size);   /* (a kernel that took the address as a hint) */
	if (p != MAP_FAILED || errno == EEXIST) {
		xmig_error("cannot map the application's registered memory at %#llx-%#llx: this "
			   "proxy has memory of its own there (cudaHostRegister fails, or the move "
			   "is refused)",
			   (unsigned long long)addr, (unsigned long long)(addr + size));
		return cudaErrorNotSupported;
	}
	xmig_error_errno("cannot map the application's registered memory at %#llx",
			 (unsigned long long)addr);
	return cudaErrorMemoryAllocation;
}

/* A region's pages given up: back to the window's reservation, or unmapped outside it. */
static void unmap_region(uint64_t addr, uint64_t size, bool own)
{
	if (own)
		munmap((void *)addr, size);
	else
		mmap((void *)addr, size, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

bool srv_host_contains(struct srv *s, uint64_t addr, uint64_t len)
{
	return find_region(&s->mem, addr, len) != NULL;
}

int srv_host_register(struct srv *s, uint64_t addr, uint64_t size, uint64_t ino, unsigned flags)
{
	struct srv_memory *m = &s->mem;
	struct srv_host_region *r;
	uint64_t got_size = 0, got_ino = 0;
	uint64_t lo = s->hdr->host_window + XMIG_PINNED_OFFSET;
	uint64_t hi = s->hdr->host_window + XMIG_HOST_WINDOW_SIZE;
	int fd, e;
	bool own, read_only;

	if (find_region(m, addr, size))
		return 0;   /* already mapped (replayed after an attach) */
	if (addr + size < addr || addr % 4096 || size % 4096 || !size)
		return cudaErrorInvalidValue;
	own = outside_windows(s, addr, size);
	/* (registered read-only: so mapped here, and so registered, as natively) */
	read_only = own && (flags & cudaHostRegisterReadOnly);
	if (!own && (addr < lo || addr + size > hi))
		return cudaErrorInvalidValue;
	if (m->nregions == m->capregions) {
		size_t cap = m->capregions ? m->capregions * 2 : 16;
		struct srv_host_region *n = realloc(m->regions, cap * sizeof(*n));

		if (!n)
			return cudaErrorMemoryAllocation;
		m->regions = n;
		m->capregions = cap;
	}
	fd = srv_session_region_fd(s, addr, &got_size, &got_ino);
	if (fd < 0)
		return cudaErrorMemoryAllocation;
	if (got_size != size || (ino && got_ino != ino)) {
		close(fd);
		xmig_error("pinned region at %#llx: the client describes it differently",
			   (unsigned long long)addr);
		return cudaErrorInvalidValue;
	}
	if (own) {
		if ((e = map_own(addr, size, fd, read_only))) {
			close(fd);
			return e;
		}
	} else if (mmap((void *)addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			0) == MAP_FAILED) {
		xmig_error_errno("cannot map pinned memory at %#llx", (unsigned long long)addr);
		close(fd);
		return cudaErrorMemoryAllocation;
	}
	close(fd);
	e = s->dev->host_register(s->devh, (void *)addr, size, read_only ? XMIG_HOST_READ_ONLY : 0);
	if (e) {
		unmap_region(addr, size, own);
		return e;
	}
	r = &m->regions[m->nregions++];
	memset(r, 0, sizeof(*r));
	r->addr = addr;
	r->size = size;
	r->ino = got_ino;
	r->fd = -1;
	r->registered = true;
	r->own = own;
	return 0;
}

int srv_host_unregister(struct srv *s, uint64_t addr)
{
	struct srv_memory *m = &s->mem;
	size_t i;

	for (i = 0; i < m->nregions; i++) {
		struct srv_host_region *r = &m->regions[i];

		if (r->addr != addr)
			continue;
		s->dev->host_unregister(s->devh, (void *)addr);
		unmap_region(addr, r->size, r->own);
		m->regions[i] = m->regions[--m->nregions];
		return 0;
	}
	/*
	 * The application's own range, which this proxy never mapped: the
	 * client took it off its list before it said so here, and this proxy
	 * (a move's) read the list in between. Nothing to undo.
	 */
	return outside_windows(s, addr, 1) ? 0 : cudaErrorInvalidValue;
}
