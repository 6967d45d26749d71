/*
 * host-register.c - cudaHostRegister: memory of the application's own,
 * pinned.
 *
 * The proxy must reach the very pages the application writes, and at the
 * same address: kernels dereference registered memory through its host
 * pointer. So the range's pages are moved onto a memfd in place: their
 * bytes copied into it, then the memfd mapped over the same addresses in one
 * mremap. The proxy maps that memfd at the same address and registers it
 * with the driver, as it does cudaHostAlloc's memory; every later proxy of
 * the job does the same. Unregistering moves the bytes back onto private
 * anonymous pages.
 *
 * A forked child gets the pages as a private mapping of the memfd: what
 * it writes stays its own, as natively. What the move cannot keep, and
 * says so in the README: a write another thread makes to the range while
 * its bytes are copied is lost, and a forked child still sees what the
 * parent writes later to a page the child has not written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "hostmem.h"

/* Registrations one at a time: a range checked free stays free until listed. */
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

static bool special(const char *path)
{
	return !strcmp(path, "[stack]") || !strncmp(path, "[vvar", 5) ||
	       !strncmp(path, "[vdso", 5) || !strcmp(path, "[vsyscall]");
}

/*
 * The pages [lo, hi) must be private mappings (anonymous, the heap, or a
 * file's private copy), readable, writable unless registered read-only,
 * and one protection throughout: 0 and *prot, else the error to return.
 */
static cudaError_t check_mappings(uint64_t lo, uint64_t hi, unsigned flags, int *prot)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char *line = NULL;
	size_t cap = 0;
	uint64_t at = lo;
	cudaError_t e = cudaSuccess;

	*prot = -1;
	if (!f)
		return cudaErrorMemoryAllocation;
	while (at < hi && getline(&line, &cap, f) > 0) {
		unsigned long long s, end, off, ino;
		char perms[8], dev[32];
		int n = 0, p;
		char *path;

		if (sscanf(line, "%llx-%llx %7s %llx %31s %llu %n", &s, &end, perms, &off, dev, &ino,
			   &n) < 6 || end <= at)
			continue;
		if (s > at)
			break;   /* a hole */
		path = line + n;
		path[strcspn(path, "\n")] = '\0';
		if (perms[3] != 'p' || special(path)) {
			xmig_error("cudaHostRegister of %s memory (%#llx-%#llx%s%s) is not supported: "
				   "only private memory (the heap, anonymous or a file's private "
				   "mapping) can be shared with the proxy",
				   perms[3] != 'p' ? "shared" : "special", s, end, *path ? " " : "", path);
			e = cudaErrorNotSupported;
			goto out;
		}
		if (perms[0] != 'r' || (perms[1] != 'w' && !(flags & cudaHostRegisterReadOnly))) {
			e = cudaErrorInvalidValue;   /* (the driver's answer) */
			goto out;
		}
		p = PROT_READ | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
		if (*prot >= 0 && p != *prot) {
			xmig_error("cudaHostRegister of a range whose pages differ in protection "
				   "(%#llx-%#llx) is not supported",
				   (unsigned long long)lo, (unsigned long long)hi);
			e = cudaErrorNotSupported;
			goto out;
		}
		*prot = p;
		at = end;
	}
	if (at < hi)
		e = cudaErrorInvalidValue;   /* unmapped pages in the range, as the driver says */
out:
	free(line);
	fclose(f);
	return e;
}

struct copy_part {
	char *dst;
	const char *src;
	size_t len;
};

static void *copy_part(void *arg)
{
	struct copy_part *c = arg;

	memcpy(c->dst, c->src, c->len);
	return NULL;
}

/*
 * A large copy in parts on threads of its own: most of its time is the
 * kernel giving each new page, which threads do side by side (256 MiB on
 * a 2-core machine: 1.25 s on one thread, 0.48 s on two). Whatever thread
 * cannot start, the caller's does its part.
 */
#define COPY_THREADS 8
#define COPY_PART_MIN (32u << 20)

static void copy_in_parts(char *dst, const char *src, size_t len)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = len / COPY_PART_MIN, per;
	struct copy_part parts[COPY_THREADS];
	pthread_t th[COPY_THREADS];
	bool started[COPY_THREADS] = { false };
	sigset_t all, old;

	if (n > COPY_THREADS)
		n = COPY_THREADS;
	if (cpus > 0 && n > (size_t)cpus)
		n = (size_t)cpus;
	if (n < 2) {
		memcpy(dst, src, len);
		return;
	}
	per = (len / n + 4095) & ~(size_t)4095;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);   /* (the helpers take no signal) */
	for (size_t i = 0; i < n; i++) {
		size_t off = i * per;

		parts[i] = (struct copy_part){ dst + off, src + off,
					       off >= len ? 0 : len - off < per ? len - off : per };
		if (i > 0)
			started[i] = pthread_create(&th[i], NULL, copy_part, &parts[i]) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	copy_part(&parts[0]);
	for (size_t i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			copy_part(&parts[i]);
	}
}

/* The bytes at [lo, lo+len) onto fd (or private anonymous pages, fd < 0), in place. */
static int move_pages(uint64_t lo, uint64_t len, int prot, int fd)
{
	void *tmp = fd >= 0 ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			    : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (tmp == MAP_FAILED)
		return -1;
	copy_in_parts(tmp, (const char *)(uintptr_t)lo, len);
	if ((prot != (PROT_READ | PROT_WRITE) && mprotect(tmp, len, prot) < 0) ||
	    mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)lo) ==
		    MAP_FAILED) {
		munmap(tmp, len);
		return -1;
	}
	return 0;
}

static cudaError_t host_register(struct xmig_thread *t, void *ptr, size_t size, unsigned flags)
{
	const unsigned known = cudaHostRegisterPortable | cudaHostRegisterMapped |
			       cudaHostRegisterIoMemory | cudaHostRegisterReadOnly;
	uint64_t p = (uint64_t)(uintptr_t)ptr, lo, hi;
	struct xmig_hostmem_region r = { .fd = -1 };
	struct stat st;
	cudaError_t e;
	int prot;

	if (!ptr || !size || (flags & ~known) || size > UINT64_MAX - 4095 - p)
		return cudaErrorInvalidValue;
	if (flags & cudaHostRegisterIoMemory) {
		xmig_cl_unsupported("cudaHostRegister of I/O memory (cudaHostRegisterIoMemory)");
		return cudaErrorNotSupported;
	}
	lo = p & ~4095ull;
	hi = (p + size + 4095) & ~4095ull;
	/* device memory, or pinned memory already: the driver says invalid value */
	if (xmig_cl_classify(ptr) != XMIG_MEM_HOST && !xmig_hostmem_overlaps_registered(p, size))
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&register_lock);
	if (xmig_hostmem_overlaps_registered(lo, hi - lo)) {
		e = cudaErrorHostMemoryAlreadyRegistered;
		goto out;
	}
	if ((e = check_mappings(lo, hi, flags, &prot)))
		goto out;
	r.fd = memfd_create("xmig-registered", MFD_CLOEXEC);
	if (r.fd < 0 || ftruncate(r.fd, (off_t)(hi - lo)) < 0 || fstat(r.fd, &st) < 0 ||
	    move_pages(lo, hi - lo, prot, r.fd) < 0) {
		xmig_error_errno("cudaHostRegister: cannot move %llu bytes at %#llx onto shared memory",
				 (unsigned long long)(hi - lo), (unsigned long long)lo);
		e = cudaErrorMemoryAllocation;
		goto out;
	}
	r.addr = lo;
	r.size = hi - lo;
	r.ino = st.st_ino;
	r.flags = flags & (cudaHostRegisterPortable | cudaHostRegisterMapped |
			   cudaHostRegisterReadOnly);
	r.registered = p;
	r.prot = prot;
	if ((e = xmig_hostmem_add_registered(&r)))
		goto back;
	/* Not under the table's lock: the keeper serves the proxy's fd request meanwhile. */
	if ((e = xmig_hostmem_announce(t, &r))) {
		xmig_hostmem_remove_registered(p, &r);
		goto back;
	}
	if (flags & cudaHostRegisterMapped)
		xmig_cl_note_host_mapped();
	pthread_mutex_unlock(&register_lock);
	xmig_debug("cudaHostRegister: %llu bytes at %#llx on shared pages",
		   (unsigned long long)(hi - lo), (unsigned long long)lo);
	return cudaSuccess;
back:
	if (move_pages(lo, hi - lo, prot, -1) < 0)
		xmig_warn("cudaHostRegister failed; its memory stays on shared pages: %s", strerror(errno));
out:
	pthread_mutex_unlock(&register_lock);
	if (r.fd >= 0)
		close(r.fd);
	return e;
}

static cudaError_t host_unregister(struct xmig_thread *t, void *ptr)
{
	uint64_t p = (uint64_t)(uintptr_t)ptr;
	struct xmig_hostmem_region r;
	cudaError_t e;

	if (!ptr)
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&register_lock);
	if (xmig_hostmem_remove_registered(p, &r) < 0) {
		pthread_mutex_unlock(&register_lock);
		/* inside a registered range but not where it began, or pinned memory
		 * (cudaHostAlloc's; both classify pinned): the driver's invalid value */
		return xmig_cl_classify(ptr) == XMIG_MEM_PINNED ? cudaErrorInvalidValue
								: cudaErrorHostMemoryNotRegistered;
	}
	e = xmig_hostmem_withdraw(t, r.addr);
	if (move_pages(r.addr, r.size, r.prot, -1) < 0)
		xmig_warn("cudaHostUnregister: the memory at %#llx stays on shared pages: %s",
			  (unsigned long long)r.addr, strerror(errno));
	pthread_mutex_unlock(&register_lock);
	close(r.fd);
	return e;
}

/* (the runtime's calls set its last error; the driver's leave it be) */
/* ---- fork: the child's writes its own ------------------------------------ */

static void before_fork(void)
{
	pthread_mutex_lock(&register_lock);
	xmig_hostmem_hold();
}

static void after_fork_in_parent(void)
{
	xmig_hostmem_release();
	pthread_mutex_unlock(&register_lock);
}

static void after_fork_in_child(void)
{
	xmig_hostmem_privatise_registered_held();
	after_fork_in_parent();
}

__attribute__((constructor)) static void host_register_load(void)
{
	pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

cudaError_t xmig_cl_host_register(void *ptr, size_t size, unsigned flags, bool runtime)
{
	struct xmig_thread *t;
	cudaError_t e;

	if ((e = xmig_cl_enter(&t)))
		return e;
	e = host_register(t, ptr, size, flags);
	return runtime ? xmig_cl_record(t, e) : e;
}

cudaError_t xmig_cl_host_unregister(void *ptr, bool runtime)
{
	struct xmig_thread *t;
	cudaError_t e;

	if ((e = xmig_cl_enter(&t)))
		return e;
	e = host_unregister(t, ptr);
	return runtime ? xmig_cl_record(t, e) : e;
}
