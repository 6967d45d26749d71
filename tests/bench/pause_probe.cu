/*
 * pause_probe.cu - how long a move stops the application, seen from the
 * application: the longest wait of one small call.
 *
 *   pause_probe --mib N [--min-us U (100)]
 *
 * Holds N MiB of device memory (seeded with a pattern), then calls the GPU
 * without pause: a 4-byte cudaMemsetAsync and a cudaStreamSynchronize,
 * over and over, each pair timed. A pair that took longer than U us
 * prints
 *   stall END_NS US END_REAL_US
 * (END_NS: CLOCK_MONOTONIC when it returned, the clock of xmig's move
 * trace; END_REAL_US: CLOCK_REALTIME, the clock of bash's $EPOCHREALTIME,
 * which a script can read without starting a process) on stdout at once. A move
 * under it shows as one such line: the time from the last call the old
 * proxy served to the first the new one did, with everything between
 * (freeze, copy, restore, handover, the new proxy's workers starting)
 * whatever the command that moved it measured.
 *
 * Self-checking, as a workload to be moved must be: every 1024th pair
 * reads the word back, and on SIGTERM or SIGINT the whole memory is
 * compared with its pattern on the GPU. Last line: "PASS pause_probe
 * CALLS" (status 0) or "FAIL pause_probe: why" (status 1).
 */
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <cuda_runtime.h>

#define CHUNK_MIB 1024

#define CK(x)                                                                        \
	do {                                                                         \
		cudaError_t e_ = (x);                                                \
		if (e_ != cudaSuccess) {                                             \
			printf("FAIL pause_probe: %s: %s\n", #x, cudaGetErrorString(e_)); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC)
{
	timespec t;

	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__device__ __host__ static uint64_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + 0x70617573ull;

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

__global__ void pp_seed(uint64_t *p, size_t n, uint64_t base)
{
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = pattern(base + i);
}

__global__ void pp_verify(const uint64_t *p, size_t n, uint64_t base, unsigned long long *bad)
{
	unsigned long long local = 0;

	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		local += p[i] != pattern(base + i);
	if (local)
		atomicAdd(bad, local);
}

int main(int argc, char **argv)
{
	long mib = 0, min_us = 100;
	uint64_t *chunk[64], calls = 0;
	size_t words[64];
	int nchunk = 0;
	unsigned char *word, back;
	unsigned long long *bad, nbad = 0;
	cudaStream_t s;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mib"))
			mib = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--min-us"))
			min_us = atol(argv[i + 1]);
	}
	if (mib <= 0 || mib > 64L * CHUNK_MIB || min_us <= 0) {
		fprintf(stderr, "usage: pause_probe --mib N (1-65536) [--min-us U]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (long left = mib; left > 0; left -= CHUNK_MIB) {
		long m = left < CHUNK_MIB ? left : CHUNK_MIB;

		words[nchunk] = (size_t)m << 17;
		CK(cudaMalloc(&chunk[nchunk], words[nchunk] * 8));
		pp_seed<<<1024, 256, 0, s>>>(chunk[nchunk], words[nchunk],
					     (uint64_t)nchunk << 27);
		CK(cudaGetLastError());
		nchunk++;
	}
	CK(cudaMalloc(&word, 4));
	CK(cudaMalloc(&bad, sizeof(*bad)));
	CK(cudaStreamSynchronize(s));
	printf("ready\n");

	while (!stop) {
		uint64_t t0 = now_ns(), t1;

		CK(cudaMemsetAsync(word, (int)(calls & 0xff), 4, s));
		CK(cudaStreamSynchronize(s));
		t1 = now_ns();
		if (t1 - t0 > (uint64_t)min_us * 1000)
			printf("stall %llu %.1f %llu\n", (unsigned long long)t1, (double)(t1 - t0) / 1e3,
			       (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000));
		if ((calls & 1023) == 0) {
			CK(cudaMemcpy(&back, word + 3, 1, cudaMemcpyDeviceToHost));
			if (back != (unsigned char)(calls & 0xff)) {
				printf("FAIL pause_probe: call %llu wrote %u, read back %u\n",
				       (unsigned long long)calls, (unsigned)(calls & 0xff),
				       (unsigned)back);
				return 1;
			}
		}
		calls++;
	}

	CK(cudaMemset(bad, 0, sizeof(*bad)));
	for (int c = 0; c < nchunk; c++)
		pp_verify<<<1024, 256>>>(chunk[c], words[c], (uint64_t)c << 27, bad);
	CK(cudaGetLastError());
	CK(cudaMemcpy(&nbad, bad, sizeof(nbad), cudaMemcpyDeviceToHost));
	if (nbad) {
		printf("FAIL pause_probe: %llu words of device memory changed\n", nbad);
		return 1;
	}
	printf("PASS pause_probe %llu\n", (unsigned long long)calls);
	return 0;
}
