/*
 * host_register.cu - the application's own memory pinned with
 * cudaHostRegister, as PyTorch's pinned allocator and offloading code do:
 *
 *   - what the driver refuses, and how: NULL, no bytes, unknown flags, a
 *     range registered already or overlapping one, pinned or device memory,
 *     a read-only mapping (unless registered read-only), pages missing;
 *     unregistering a pointer inside a range, one never registered or
 *     cudaHostAlloc's; cudaFreeHost of registered memory;
 *   - the bytes a range held before it was registered are still there, and
 *     after it is unregistered; a forked child reads them, and what it
 *     writes stays its own;
 *   - three ranges in rounds: 3 MiB (plus odd bytes) of malloc memory at an
 *     unaligned start, 60 KiB of the malloc heap, and 16 MiB of anonymous
 *     mmap registered mapped: async copies both ways through the first two
 *     and a kernel that reads and writes the third through its host pointer
 *     (zero copy), every word checked each round;
 *   - flags, device pointers and pointer attributes of registered memory,
 *     and the driver's cuMemHostRegister.
 *
 *   host_register [--iters N] [--sleep-ms MS] [--copies-only]
 *
 * --copies-only: the third range is registered unmapped and only copied
 * through, by a kernel on device memory between (a GPU on another node
 * cannot reach host memory: such a job may move there).
 *
 * The rounds come after the line "looping" (the moves of the migrate tests
 * start there), --sleep-ms apart.
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xtest.h"

#define BIG_WORDS ((3u << 18) + 25)   /* 3 MiB and 100 bytes */
#define HEAP_WORDS (15u << 10)        /* 60 KiB */
#define MAPPED_BYTES (16u << 20)
#define MAPPED_WORDS (MAPPED_BYTES / 4)

static cudaStream_t s;
static bool copies_only;

static void say(const char *what, cudaError_t e)
{
	printf("%s: %s\n", what, cudaGetErrorName(e));
	cudaGetLastError();   /* (a refusal is not left for the next check) */
}

static void refusals(char *big, void *pinned, void *dev)
{
	char *ro, *holed;

	say("register NULL", cudaHostRegister(NULL, 4096, 0));
	say("register no bytes", cudaHostRegister(big, 0, 0));
	say("register with unknown flags", cudaHostRegister(big, 4096, 0x100));
	say("register it again", cudaHostRegister(big, 4096, 0));
	say("register a range inside it", cudaHostRegister(big + 8192, 4096, 0));
	say("register a range around it", cudaHostRegister(big - 64, BIG_WORDS * 4 + 128, 0));
	say("register cudaHostAlloc memory", cudaHostRegister(pinned, 4096, 0));
	say("register device memory", cudaHostRegister(dev, 4096, 0));
	ro = (char *)mmap(NULL, 1 << 16, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	holed = (char *)mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	if (ro == MAP_FAILED || holed == MAP_FAILED || munmap(holed + 4096, 4096))
		xt_fail("mmap");
	say("register a read-only mapping", cudaHostRegister(ro, 1 << 16, 0));
	say("... registered read-only", cudaHostRegister(ro, 1 << 16, cudaHostRegisterReadOnly));
	say("... and unregistered", cudaHostUnregister(ro));
	say("register pages with one missing", cudaHostRegister(holed, 1 << 16, 0));
	say("unregister inside a range", cudaHostUnregister(big + 4096));
	say("unregister what was never registered", cudaHostUnregister(holed));
	say("unregister cudaHostAlloc memory", cudaHostUnregister(pinned));
	say("cudaFreeHost of registered memory", cudaFreeHost(big));
	munmap(ro, 1 << 16);
	munmap(holed, 4096);
	munmap(holed + 8192, (1 << 16) - 8192);
}

static void attributes(char *big, uint32_t *mapped)
{
	struct cudaPointerAttributes a;
	unsigned fb, fm;
	void *d;

	CK(cudaHostGetFlags(&fb, big));
	CK(cudaHostGetFlags(&fm, mapped + 1000));
	printf("flags: %u, mapped and portable %u\n", fb, fm);
	if (!copies_only) {   /* (a device pointer taken: the job is the node's) */
		CK(cudaHostGetDevicePointer(&d, big + 10, 0));
		printf("device pointer is the host pointer: %d", d == big + 10);
		CK(cudaHostGetDevicePointer(&d, mapped, 0));
		printf(" %d\n", d == mapped);
	}
	CK(cudaPointerGetAttributes(&a, big + 5));
	printf("pointer attributes: type %d, device pointer %d, host pointer %d\n", (int)a.type,
	       a.devicePointer == big + 5, a.hostPointer == big + 5);
}

/* The driver's entry points, as a driver-API program calls them. */
static void driver_api(void)
{
	typedef int (*reg_fn)(void *, size_t, unsigned);
	typedef int (*unreg_fn)(void *);
	reg_fn reg = (reg_fn)xt_driver_fn("cuMemHostRegister");
	unreg_fn unreg = (unreg_fn)xt_driver_fn("cuMemHostUnregister");
	uint32_t *p = (uint32_t *)xt_malloc(1 << 20), *d;
	int r1, r2, r3;

	for (int i = 0; i < (1 << 18); i++)
		p[i] = (uint32_t)i;
	r1 = reg(p, 1 << 20, 0);
	r2 = reg(p, 1 << 20, 0);
	CK(cudaMalloc(&d, 1 << 20));
	CK(cudaMemcpyAsync(d, p, 1 << 20, cudaMemcpyHostToDevice, s));
	xt_affine<<<1 << 10, 256, 0, s>>>(d, 1 << 18, 2, 1);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(p, d, 1 << 20, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	for (int i = 0; i < (1 << 18); i++)
		if (p[i] != xf_affine((uint32_t)i, 2, 1))
			xt_fail("driver-registered memory: word %d = %u", i, p[i]);
	r3 = unreg(p);
	printf("driver: cuMemHostRegister %d, again %d, copies through it ok, unregistered %d\n",
	       r1, r2, r3);
	CK(cudaFree(d));
	free(p);
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0;
	uint32_t *big, *heap, *mapped, *want_mapped, *dbig, *dheap, *dmapped = NULL;
	char *big_alloc, *heap_alloc;
	void *pinned;
	int v[3];
	uint64_t h;

	xt_begin("host_register");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms) &&
		    !(copies_only = copies_only || !strcmp(argv[i], "--copies-only")))
			xt_fail("unknown argument %s", argv[i]);

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaDeviceGetAttribute(&v[0], cudaDevAttrHostRegisterSupported, 0));
	CK(cudaDeviceGetAttribute(&v[1], cudaDevAttrCanUseHostPointerForRegisteredMem, 0));
	CK(cudaDeviceGetAttribute(&v[2], cudaDevAttrHostRegisterReadOnlySupported, 0));
	printf("registration supported %d, host pointer usable %d, read-only %d\n", v[0], v[1],
	       v[2]);

	/* What each range holds before it is registered must still be there after. */
	big_alloc = (char *)xt_malloc(BIG_WORDS * 4 + 100);
	big = (uint32_t *)(big_alloc + 100);
	heap_alloc = (char *)xt_malloc(HEAP_WORDS * 4);
	heap = (uint32_t *)heap_alloc;
	mapped = (uint32_t *)mmap(NULL, MAPPED_BYTES, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	want_mapped = (uint32_t *)xt_malloc(MAPPED_BYTES);
	if (mapped == MAP_FAILED)
		xt_fail("mmap of %u bytes", MAPPED_BYTES);
	for (uint32_t i = 0; i < BIG_WORDS; i++)
		big[i] = (uint32_t)xf_mix64(i);
	for (uint32_t i = 0; i < HEAP_WORDS; i++)
		heap[i] = ~i;
	for (uint32_t i = 0; i < MAPPED_WORDS; i++)
		want_mapped[i] = mapped[i] = i * 7;
	memcpy(big_alloc, "head", 4);   /* (bytes before the range, on its first page) */
	CK(cudaHostRegister(big, BIG_WORDS * 4, cudaHostRegisterDefault));
	CK(cudaHostRegister(heap, HEAP_WORDS * 4, cudaHostRegisterPortable));
	CK(cudaHostRegister(mapped, MAPPED_BYTES,
			    (copies_only ? 0 : cudaHostRegisterMapped) | cudaHostRegisterPortable));
	for (uint32_t i = 0; i < BIG_WORDS; i++)
		if (big[i] != (uint32_t)xf_mix64(i))
			xt_fail("registering changed word %u of the malloc range", i);
	for (uint32_t i = 0; i < HEAP_WORDS; i++)
		if (heap[i] != ~i)
			xt_fail("registering changed word %u of the heap range", i);
	if (memcmp(mapped, want_mapped, MAPPED_BYTES) || memcmp(big_alloc, "head", 4))
		xt_fail("registering changed the mapped range or the bytes before one");
	printf("registered: their bytes kept\n");

	/* A forked child reads the bytes; what it writes stays its own, as natively. */
	{
		int status;
		pid_t child = fork();

		if (child == 0)
			_exit(big[7] == (uint32_t)xf_mix64(7) && (big[7] = 42, heap[3] = 42) ? 0 : 1);
		if (child < 0 || waitpid(child, &status, 0) != child)
			xt_fail("fork");
		printf("a forked child read the registered bytes %d; its writes stayed its own %d\n",
		       WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       big[7] == (uint32_t)xf_mix64(7) && heap[3] == ~3u);
	}

	CK(cudaHostAlloc(&pinned, 1 << 16, 0));
	CK(cudaMalloc(&dbig, BIG_WORDS * 4));
	CK(cudaMalloc(&dheap, HEAP_WORDS * 4));
	if (copies_only)
		CK(cudaMalloc(&dmapped, MAPPED_BYTES));
	refusals((char *)big, pinned, dbig);
	attributes((char *)big, mapped);
	driver_api();

	printf("looping\n");
	for (long r = 1; r <= iters; r++) {
		uint32_t add = (uint32_t)r;

		for (uint32_t i = 0; i < BIG_WORDS; i++)
			big[i] = (uint32_t)xf_mix64(r * BIG_WORDS + i);
		for (uint32_t i = 0; i < HEAP_WORDS; i++)
			heap[i] = i ^ add;
		CK(cudaMemcpyAsync(dbig, big, BIG_WORDS * 4, cudaMemcpyHostToDevice, s));
		CK(cudaMemcpyAsync(dheap, heap, HEAP_WORDS * 4, cudaMemcpyHostToDevice, s));
		xt_affine<<<xt_blocks(BIG_WORDS, 256), 256, 0, s>>>(dbig, BIG_WORDS, 3, add);
		CK_LAUNCH();
		xt_affine<<<xt_blocks(HEAP_WORDS, 256), 256, 0, s>>>(dheap, HEAP_WORDS, 5, add);
		CK_LAUNCH();
		if (copies_only) {
			CK(cudaMemcpyAsync(dmapped, mapped, MAPPED_BYTES, cudaMemcpyHostToDevice, s));
			xt_affine<<<xt_blocks(MAPPED_WORDS, 256), 256, 0, s>>>(dmapped, MAPPED_WORDS,
										 7, add);
			CK_LAUNCH();
			CK(cudaMemcpyAsync(mapped, dmapped, MAPPED_BYTES, cudaMemcpyDeviceToHost, s));
		} else {
			/* the GPU at host memory through its own pointer */
			xt_affine<<<xt_blocks(MAPPED_WORDS, 256), 256, 0, s>>>(mapped, MAPPED_WORDS, 7,
									       add);
			CK_LAUNCH();
		}
		CK(cudaMemcpyAsync(big, dbig, BIG_WORDS * 4, cudaMemcpyDeviceToHost, s));
		CK(cudaMemcpyAsync(heap, dheap, HEAP_WORDS * 4, cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		for (uint32_t i = 0; i < BIG_WORDS; i++)
			if (big[i] != xf_affine((uint32_t)xf_mix64(r * BIG_WORDS + i), 3, add))
				xt_fail("round %ld: word %u of the malloc range is %u", r, i, big[i]);
		for (uint32_t i = 0; i < HEAP_WORDS; i++)
			if (heap[i] != xf_affine(i ^ add, 5, add))
				xt_fail("round %ld: word %u of the heap range is %u", r, i, heap[i]);
		for (uint32_t i = 0; i < MAPPED_WORDS; i++) {
			want_mapped[i] = xf_affine(want_mapped[i], 7, add);
			if (mapped[i] != want_mapped[i])
				xt_fail("round %ld: word %u of the mapped range is %u, want %u", r, i,
					mapped[i], want_mapped[i]);
		}
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	h = xt_hash(mapped, MAPPED_BYTES);
	printf("rounds %ld checked\n", iters);

	/* Unregistered, the memory is the application's as before, bytes and all. */
	CK(cudaHostUnregister(big));
	CK(cudaHostUnregister(heap));
	CK(cudaHostUnregister(mapped));
	if (xt_hash(mapped, MAPPED_BYTES) != h || memcmp(big_alloc, "head", 4))
		xt_fail("unregistering changed the bytes");
	for (uint32_t i = 0; i < BIG_WORDS; i++)
		big[i] = i;
	say("unregistered: its bytes kept; registered again", cudaHostRegister(big, 4096, 0));
	say("... and unregistered", cudaHostUnregister(big));
	free(heap_alloc);
	free(big_alloc);
	munmap(mapped, MAPPED_BYTES);
	free(want_mapped);
	CK(cudaFreeHost(pinned));
	CK(cudaFree(dbig));
	CK(cudaFree(dheap));
	CK(cudaFree(dmapped));
	return xt_pass();
}
