/*
 * registered-ranges.c - the registered ranges, sorted, behind a sequence
 * lock: a reader walks the array and tries again when a writer changed it
 * meanwhile (writers are rare: one each cudaHostRegister and Unregister).
 * A grown array replaces the old one, which is never freed: a reader may
 * still be in it, and arrays double, so what is kept is at most the size
 * of the last.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "registered-ranges.h"

struct range {
	_Atomic uint64_t lo, hi;
};

/* (a reader may pair a count with an older, smaller array: it reads no further than it holds) */
struct table {
	size_t cap;
	struct range r[];
};

static struct table *_Atomic table;
static _Atomic size_t count;
static _Atomic unsigned seq;   /* odd while a writer changes the table */

static void write_begin(void)
{
	atomic_store_explicit(&seq, atomic_load_explicit(&seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void write_end(void)
{
	atomic_store_explicit(&seq, atomic_load_explicit(&seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

static uint64_t lo_at(struct range *t, size_t i)
{
	return atomic_load_explicit(&t[i].lo, memory_order_relaxed);
}

/* The index of the last range starting at or below a, or n when none does. */
static size_t last_at_or_below(struct range *t, size_t n, uint64_t a)
{
	size_t l = 0, r = n;

	while (l < r) {
		size_t m = l + (r - l) / 2;

		if (lo_at(t, m) <= a)
			l = m + 1;
		else
			r = m;
	}
	return l ? l - 1 : n;
}

int xmig_ranges_add(uint64_t lo, uint64_t hi)
{
	struct table *old = atomic_load_explicit(&table, memory_order_relaxed), *grown = NULL;
	size_t n = atomic_load_explicit(&count, memory_order_relaxed), at;
	struct range *t = old ? old->r : NULL;

	if (!old || n == old->cap) {
		size_t c = old ? old->cap * 2 : 16;

		if (!(grown = calloc(1, sizeof(*grown) + c * sizeof(grown->r[0]))))
			return -1;
		grown->cap = c;
		for (size_t i = 0; i < n; i++) {
			atomic_init(&grown->r[i].lo, lo_at(t, i));
			atomic_init(&grown->r[i].hi,
				    atomic_load_explicit(&t[i].hi, memory_order_relaxed));
		}
	}
	write_begin();
	if (grown) {
		atomic_store_explicit(&table, grown, memory_order_release);
		t = grown->r;
	}
	at = last_at_or_below(t, n, lo);
	at = at == n ? 0 : at + 1;
	for (size_t i = n; i > at; i--) {
		atomic_store_explicit(&t[i].lo, lo_at(t, i - 1), memory_order_relaxed);
		atomic_store_explicit(&t[i].hi, atomic_load_explicit(&t[i - 1].hi, memory_order_relaxed),
				      memory_order_relaxed);
	}
	atomic_store_explicit(&t[at].lo, lo, memory_order_relaxed);
	atomic_store_explicit(&t[at].hi, hi, memory_order_relaxed);
	atomic_store_explicit(&count, n + 1, memory_order_relaxed);
	write_end();
	return 0;
}

void xmig_ranges_remove(uint64_t lo)
{
	struct table *tb = atomic_load_explicit(&table, memory_order_acquire);
	size_t n = atomic_load_explicit(&count, memory_order_relaxed), at;
	struct range *t;

	if (!tb)
		return;
	t = tb->r;
	at = last_at_or_below(t, n, lo);
	if (at == n || lo_at(t, at) != lo)
		return;
	write_begin();
	for (size_t i = at; i + 1 < n; i++) {
		atomic_store_explicit(&t[i].lo, lo_at(t, i + 1), memory_order_relaxed);
		atomic_store_explicit(&t[i].hi, atomic_load_explicit(&t[i + 1].hi, memory_order_relaxed),
				      memory_order_relaxed);
	}
	atomic_store_explicit(&count, n - 1, memory_order_relaxed);
	write_end();
}

void xmig_ranges_clear(void)
{
	write_begin();
	atomic_store_explicit(&count, 0, memory_order_relaxed);
	write_end();
}

/*
 * The last range starting at or below key, as [*l, *h), read whole
 * between two writers: true, or false for none.
 */
static bool last_starting_at_or_below(uint64_t key, uint64_t *l, uint64_t *h)
{
	unsigned s;
	bool any;

	if (!atomic_load_explicit(&count, memory_order_acquire))
		return false;
	do {
		struct table *tb;
		size_t n, at;

		while ((s = atomic_load_explicit(&seq, memory_order_acquire)) & 1)
			;
		tb = atomic_load_explicit(&table, memory_order_acquire);
		n = atomic_load_explicit(&count, memory_order_relaxed);
		if (!tb)
			n = 0;
		else if (n > tb->cap)
			n = tb->cap;   /* (a count newer than the array: the check below retries) */
		at = n ? last_at_or_below(tb->r, n, key) : n;
		any = at != n;
		if (any) {
			*l = lo_at(tb->r, at);
			*h = atomic_load_explicit(&tb->r[at].hi, memory_order_relaxed);
		}
		atomic_thread_fence(memory_order_acquire);
	} while (atomic_load_explicit(&seq, memory_order_relaxed) != s);
	return any;
}

bool xmig_ranges_find(uint64_t a, uint64_t *lo, uint64_t *hi)
{
	uint64_t l, h;

	if (!last_starting_at_or_below(a, &l, &h) || a >= h)
		return false;
	if (lo)
		*lo = l;
	if (hi)
		*hi = h;
	return true;
}

bool xmig_ranges_overlap(uint64_t lo, uint64_t hi)
{
	uint64_t l, h;

	/* the last starting below hi: ranges do not overlap, so it alone can reach lo */
	return hi && last_starting_at_or_below(hi - 1, &l, &h) && l < hi && lo < h;
}
