/*
 * zdtm.cu - a long-running, self-verifying workload to migrate under
 * (after CRIU's zdtm tests). It seeds --mib MiB of device memory with a
 * pattern, then runs --iters iterations of:
 *   stream A: H2D of this iteration's input from pinned memory, then a
 *             kernel mixing the input into a window of the device memory;
 *   stream B: after event A, a kernel folding the input into a ledger;
 *   stream C: after event B, D2H of the ledger into pinned memory;
 *   host:     wait for event C, check the ledger against its own copy,
 *             sleep --sleep-ms (the gap where a migration usually lands).
 * At the end it prints a checksum of all device state (computed on the GPU)
 * and the number of checks. The same arguments give the same output on any
 * device and whatever happened to the process in between. Up to 1024 MiB the
 * host also recomputes the whole state and compares the checksum.
 *
 * --churn-kib N also allocates a new N KiB scratch buffer (then frees the old) every
 * iteration, fills it and reads it back (a job whose allocations come and go
 * while it is moved; the output does not change). --churn-pinned-kib N does
 * the same with pinned host memory: an N KiB buffer freed and allocated
 * anew (cudaHostAlloc) every iteration, and device memory copied into it
 * asynchronously.
 *
 *   zdtm [--mib N (64, up to 32768)] [--iters N (200)] [--sleep-ms N (20)]
 *        [--progress N (0: never; else "iter K" on stderr every N)]
 *        [--churn-kib N (0)] [--churn-pinned-kib N (0)]
 */
#include <errno.h>
#include <time.h>

#include "xtest.h"

#define MAX_BUFS 16
#define BUF_MIB 2048              /* largest single allocation */
#define REF_MAX_MIB 1024          /* largest state the host recomputes */
#define WINDOW (32 * 1024)        /* words a mix kernel touches */
#define M 4096                    /* words of input and of the ledger */
#define SEED 0x7a64746dull
#define BLOCK 256

__global__ void zd_seed(uint64_t *p, size_t n, uint64_t base, uint64_t seed)
{
	size_t i;

	for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = xf_zd_seed(seed, base + i);
}

__global__ void zd_mix(uint64_t *w, size_t n, const uint64_t *in, int m, uint64_t k)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		w[i] = xf_zd_mix(w[i], in[i % m], k);
}

__global__ void zd_ledger(uint64_t *ledger, const uint64_t *in, int m, uint64_t k)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < m)
		ledger[i] = xf_zd_ledger(ledger[i], in[i], k);
}

/* *sum += the terms of p[0..n), word i counted as index base + i. blockDim.x % 32 == 0. */
__global__ void zd_checksum(const uint64_t *p, size_t n, uint64_t base, unsigned long long *sum)
{
	uint64_t local = 0;
	size_t i;
	int off;

	for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		local += xf_zd_term(p[i], base + i);
	for (off = 16; off > 0; off >>= 1)
		local += __shfl_down_sync(0xffffffffu, local, off);
	if ((threadIdx.x & 31) == 0)
		atomicAdd(sum, (unsigned long long)local);
}

struct opts {
	long mib, iters, sleep_ms, progress, churn_kib, churn_pinned_kib;
};

struct zd {
	int nbuf;
	uint64_t *buf[MAX_BUFS];
	size_t words[MAX_BUFS], base[MAX_BUFS], total;
	uint64_t *d_in, *d_ledger;
	unsigned long long *d_sum;
	uint64_t *h_in, *h_out;           /* pinned: cudaMallocHost, cudaHostAlloc */
	cudaStream_t sa, sb, sc;
	cudaEvent_t ea, eb, ec;
	uint64_t ledger[M];               /* the host's copy */
	uint64_t *ref;                    /* the host's copy of all words, or NULL */
	unsigned char *scratch;           /* --churn-kib: reallocated every iteration */
	unsigned char *pinned, *d_pinned; /* --churn-pinned-kib: the first reallocated */
	long checks;
};

static void parse(int argc, char **argv, struct opts *o)
{
	int i;

	o->mib = 64;
	o->iters = 200;
	o->sleep_ms = 20;
	o->progress = 0;
	o->churn_kib = 0;
	o->churn_pinned_kib = 0;
	for (i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--mib", 1, MAX_BUFS * BUF_MIB, &o->mib) &&
		    !xt_opt_long(argc, argv, &i, "--iters", 0, 1000000000, &o->iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 3600000, &o->sleep_ms) &&
		    !xt_opt_long(argc, argv, &i, "--progress", 0, 1000000000, &o->progress) &&
		    !xt_opt_long(argc, argv, &i, "--churn-kib", 0, 1 << 20, &o->churn_kib) &&
		    !xt_opt_long(argc, argv, &i, "--churn-pinned-kib", 0, 1 << 20,
				 &o->churn_pinned_kib))
			xt_fail("usage: zdtm [--mib N] [--iters N] [--sleep-ms N] [--progress N] "
				"[--churn-kib N] [--churn-pinned-kib N]");
}

static void seed_host(struct zd *z)
{
	size_t i;

	for (i = 0; i < z->total; i++)
		z->ref[i] = xf_zd_seed(SEED, i);
}

/* Device memory in buffers of at most BUF_MIB, seeded; streams, events, pinned memory. */
static void zd_open(struct zd *z, const struct opts *o)
{
	long left = o->mib;
	int b;

	memset(z, 0, sizeof(*z));
	for (b = 0; left > 0; b++, left -= BUF_MIB) {
		z->words[b] = (size_t)(left < BUF_MIB ? left : BUF_MIB) << 17;   /* MiB -> words */
		z->base[b] = z->total;
		z->total += z->words[b];
		CK(cudaMalloc(&z->buf[b], z->words[b] * 8));
		zd_seed<<<xt_stride_blocks(z->words[b], BLOCK), BLOCK>>>(z->buf[b], z->words[b],
								       z->base[b], SEED);
		CK_LAUNCH();
	}
	z->nbuf = b;
	CK(cudaMalloc(&z->d_in, M * 8));
	CK(cudaMalloc(&z->d_ledger, M * 8));
	CK(cudaMemset(z->d_ledger, 0, M * 8));
	CK(cudaMalloc(&z->d_sum, sizeof(*z->d_sum)));
	CK(cudaMallocHost(&z->h_in, M * 8));
	CK(cudaHostAlloc(&z->h_out, M * 8, cudaHostAllocDefault));
	CK(cudaStreamCreateWithFlags(&z->sa, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&z->sb, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&z->sc, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&z->ea, cudaEventDisableTiming));
	CK(cudaEventCreateWithFlags(&z->eb, cudaEventDisableTiming));
	CK(cudaEventCreateWithFlags(&z->ec, cudaEventDisableTiming));
	CK(cudaDeviceSynchronize());
	if (o->mib <= REF_MAX_MIB) {
		z->ref = (uint64_t *)xt_malloc(z->total * 8);
		seed_host(z);
	}
}

static void zd_close(struct zd *z)
{
	int b;

	for (b = 0; b < z->nbuf; b++)
		CK(cudaFree(z->buf[b]));
	CK(cudaFree(z->d_in));
	CK(cudaFree(z->d_ledger));
	CK(cudaFree(z->d_sum));
	CK(cudaFree(z->scratch));
	CK(cudaFree(z->d_pinned));
	CK(cudaFreeHost(z->pinned));
	CK(cudaFreeHost(z->h_in));
	CK(cudaFreeHost(z->h_out));
	CK(cudaStreamDestroy(z->sa));
	CK(cudaStreamDestroy(z->sb));
	CK(cudaStreamDestroy(z->sc));
	CK(cudaEventDestroy(z->ea));
	CK(cudaEventDestroy(z->eb));
	CK(cudaEventDestroy(z->ec));
	free(z->ref);
}

/* Iteration k's window: a buffer in turn, an offset spread over it. */
static void window(const struct zd *z, long k, int *b, size_t *off)
{
	*b = (int)(k % z->nbuf);
	*off = (size_t)(((uint64_t)k * XF_GOLDEN >> 11) % (z->words[*b] - WINDOW + 1));
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

static void host_iter(struct zd *z, long k, int b, size_t off)
{
	size_t j, g = z->base[b] + off;
	int i;

	for (i = 0; i < M; i++) {
		z->ledger[i] = xf_zd_ledger(z->ledger[i], xf_zd_input(k, i), k);
		if (z->h_out[i] != z->ledger[i])
			xt_fail("iteration %ld: ledger[%d] = %016llx, want %016llx", k, i,
				(unsigned long long)z->h_out[i], (unsigned long long)z->ledger[i]);
	}
	z->checks++;
	if (z->ref)
		for (j = 0; j < WINDOW; j++)
			z->ref[g + j] = xf_zd_mix(z->ref[g + j], xf_zd_input(k, j % M), k);
}

static void iter(struct zd *z, long k)
{
	size_t off;
	int b, i;

	window(z, k, &b, &off);
	for (i = 0; i < M; i++)
		z->h_in[i] = xf_zd_input(k, i);
	CK(cudaMemcpyAsync(z->d_in, z->h_in, M * 8, cudaMemcpyHostToDevice, z->sa));
	zd_mix<<<xt_blocks(WINDOW, BLOCK), BLOCK, 0, z->sa>>>(z->buf[b] + off, WINDOW, z->d_in, M, k);
	CK_LAUNCH();
	CK(cudaEventRecord(z->ea, z->sa));
	CK(cudaStreamWaitEvent(z->sb, z->ea, 0));
	zd_ledger<<<xt_blocks(M, BLOCK), BLOCK, 0, z->sb>>>(z->d_ledger, z->d_in, M, k);
	CK_LAUNCH();
	CK(cudaEventRecord(z->eb, z->sb));
	CK(cudaStreamWaitEvent(z->sc, z->eb, 0));
	CK(cudaMemcpyAsync(z->h_out, z->d_ledger, M * 8, cudaMemcpyDeviceToHost, z->sc));
	CK(cudaEventRecord(z->ec, z->sc));
	CK(cudaEventSynchronize(z->ec));
	host_iter(z, k, b, off);
}

/*
 * --churn-kib: a new scratch buffer allocated, the old one freed, the new
 * one filled and read back. Allocating before freeing means that, at any
 * instant, the buffer alive is younger than one iteration: a move's refresh
 * of its prelude always finds one (free first, and a refresh that fell
 * between the two calls saw only a removal).
 */
static void churn(struct zd *z, long k, long kib)
{
	size_t n = (size_t)kib << 10;
	unsigned char first, last, *old = z->scratch;

	CK(cudaMalloc(&z->scratch, n));
	CK(cudaFree(old));
	CK(cudaMemset(z->scratch, (int)(k & 0xff), n));
	CK(cudaMemcpy(&first, z->scratch, 1, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(&last, z->scratch + n - 1, 1, cudaMemcpyDeviceToHost));
	if (first != (k & 0xff) || last != (k & 0xff))
		xt_fail("iteration %ld: scratch holds %02x..%02x, want %02lx", k, first, last,
			k & 0xff);
}

/*
 * --churn-pinned-kib: the pinned buffer freed and allocated anew, device
 * memory filled and copied into it on a stream, and checked.
 */
static void churn_pinned(struct zd *z, long k, long kib)
{
	size_t n = (size_t)kib << 10, i;

	if (!z->d_pinned)
		CK(cudaMalloc(&z->d_pinned, n));
	CK(cudaFreeHost(z->pinned));
	CK(cudaHostAlloc(&z->pinned, n, cudaHostAllocDefault));
	CK(cudaMemsetAsync(z->d_pinned, (int)(k & 0xff), n, z->sa));
	CK(cudaMemcpyAsync(z->pinned, z->d_pinned, n, cudaMemcpyDeviceToHost, z->sa));
	CK(cudaStreamSynchronize(z->sa));
	for (i = 0; i < n; i++)
		if (z->pinned[i] != (k & 0xff))
			xt_fail("iteration %ld: pinned byte %zu is %02x, want %02lx", k, i,
				z->pinned[i], k & 0xff);
}

/* The checksum of every buffer and the ledger, on the device. */
static uint64_t device_checksum(struct zd *z)
{
	unsigned long long sum = 0;
	int b;

	CK(cudaMemset(z->d_sum, 0, sizeof(sum)));
	for (b = 0; b < z->nbuf; b++) {
		zd_checksum<<<xt_stride_blocks(z->words[b], BLOCK), BLOCK>>>(z->buf[b], z->words[b],
									   z->base[b], z->d_sum);
		CK_LAUNCH();
	}
	zd_checksum<<<xt_blocks(M, BLOCK), BLOCK>>>(z->d_ledger, M, z->total, z->d_sum);
	CK_LAUNCH();
	CK(cudaMemcpy(&sum, z->d_sum, sizeof(sum), cudaMemcpyDeviceToHost));
	return sum;
}

static uint64_t host_checksum(const struct zd *z)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < z->total; i++)
		sum += xf_zd_term(z->ref[i], i);
	for (i = 0; i < M; i++)
		sum += xf_zd_term(z->ledger[i], z->total + i);
	return sum;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct zd *z;
	uint64_t sum;
	long k;

	xt_begin("zdtm");
	parse(argc, argv, &o);
	z = (struct zd *)xt_malloc(sizeof(*z));
	zd_open(z, &o);
	printf("zdtm: mib %ld, iters %ld, buffers %d\n", o.mib, o.iters, z->nbuf);
	for (k = 0; k < o.iters; k++) {
		if (o.churn_kib)
			churn(z, k, o.churn_kib);
		if (o.churn_pinned_kib)
			churn_pinned(z, k, o.churn_pinned_kib);
		iter(z, k);
		if (o.progress && (k + 1) % o.progress == 0)
			fprintf(stderr, "iter %ld\n", k + 1);
		if (o.sleep_ms)
			sleep_ms(o.sleep_ms);
	}
	sum = device_checksum(z);
	printf("checks %ld\n", z->checks);
	printf("checksum %016llx\n", (unsigned long long)sum);
	if (!z->ref)
		printf("reference: skipped (over %d MiB)\n", REF_MAX_MIB);
	else if (host_checksum(z) != sum)
		xt_fail("checksum %016llx, the host computed %016llx", (unsigned long long)sum,
			(unsigned long long)host_checksum(z));
	else
		printf("reference: ok\n");
	zd_close(z);
	free(z);
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
