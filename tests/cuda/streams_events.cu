/*
 * streams_events.cu - streams (non-blocking, prioritised, blocking), pinned
 * memory from cudaMallocHost and cudaHostAlloc, async copies, and a chain of
 * kernels across three streams ordered only by events. The first kernels
 * spin about a millisecond before writing, so a wait that is not honoured
 * reads the previous round's data and the check fails.
 *
 *   streams_events      (no arguments)
 */
#include "xtest.h"

#define N (1 << 16)
#define BLOCK 256
#define ROUNDS 6
#define SPIN_CYCLES 2000000ll   /* about 1 ms: timing only, results ignore it */

__global__ void se_step(uint32_t *dst, const uint32_t *src, int n, uint32_t mul, uint32_t add,
			long long spin)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (spin > 0) {
		long long t0 = clock64();

		while (clock64() - t0 < spin)
			;
	}
	if (i < n)
		dst[i] = xf_affine(src[i], mul, add);
}

struct rig {
	cudaStream_t s1, s2, s3;          /* non-blocking, high priority, blocking */
	cudaEvent_t a, b, t0, t1;         /* a, b: ordering only; t0, t1: timing */
	uint32_t *h_in, *h_out;           /* cudaMallocHost, cudaHostAlloc */
	uint32_t *x, *y, *z, *w;          /* device */
};

static void rig_open(struct rig *r)
{
	int least, greatest, prio;
	unsigned flags;
	const size_t bytes = N * sizeof(uint32_t);

	CK(cudaStreamCreateWithFlags(&r->s1, cudaStreamNonBlocking));
	CK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
	CK(cudaStreamCreateWithPriority(&r->s2, cudaStreamNonBlocking, greatest));
	CK(cudaStreamGetPriority(r->s2, &prio));
	CK(cudaStreamGetFlags(r->s1, &flags));
	if (prio != greatest || flags != cudaStreamNonBlocking)
		xt_fail("stream attributes: priority %d (want %d), flags %u", prio, greatest, flags);
	CK(cudaStreamCreate(&r->s3));
	CK(cudaEventCreateWithFlags(&r->a, cudaEventDisableTiming));
	CK(cudaEventCreateWithFlags(&r->b, cudaEventDisableTiming));
	CK(cudaEventCreate(&r->t0));
	CK(cudaEventCreate(&r->t1));
	CK(cudaMallocHost(&r->h_in, bytes));
	CK(cudaHostAlloc(&r->h_out, bytes, cudaHostAllocDefault));
	CK(cudaMalloc(&r->x, bytes));
	CK(cudaMalloc(&r->y, bytes));
	CK(cudaMalloc(&r->z, bytes));
	CK(cudaMalloc(&r->w, bytes));
}

static void rig_close(struct rig *r)
{
	CK(cudaFree(r->x));
	CK(cudaFree(r->y));
	CK(cudaFree(r->z));
	CK(cudaFree(r->w));
	CK(cudaFreeHost(r->h_in));
	CK(cudaFreeHost(r->h_out));
	CK(cudaEventDestroy(r->a));
	CK(cudaEventDestroy(r->b));
	CK(cudaEventDestroy(r->t0));
	CK(cudaEventDestroy(r->t1));
	CK(cudaStreamDestroy(r->s1));
	CK(cudaStreamDestroy(r->s2));
	CK(cudaStreamDestroy(r->s3));
}

/* Poll a query until it reports completion; "not ready" is the only other answer allowed. */
static void poll_done(cudaError_t (*query)(void *), void *what, const char *name)
{
	cudaError_t e;

	while ((e = query(what)) == cudaErrorNotReady)
		;
	if (e != cudaSuccess)
		xt_fail("%s returned %s", name, cudaGetErrorName(e));
	/* Some runtimes also leave "not ready" as the last error: clear it. */
	e = cudaGetLastError();
	if (e != cudaSuccess && e != cudaErrorNotReady)
		xt_fail("after %s: last error %s", name, cudaGetErrorName(e));
}

static cudaError_t query_event(void *e) { return cudaEventQuery((cudaEvent_t)e); }
static cudaError_t query_stream(void *s) { return cudaStreamQuery((cudaStream_t)s); }

/* Wait for the round's last event, three ways in turn. */
static void wait_round(struct rig *r, int round)
{
	switch (round % 3) {
	case 0:
		CK(cudaEventSynchronize(r->t1));
		break;
	case 1:
		poll_done(query_event, r->t1, "cudaEventQuery");
		break;
	default:
		poll_done(query_stream, r->s3, "cudaStreamQuery");
		CK(cudaStreamSynchronize(r->s3));
		break;
	}
}

static uint32_t chain_want(uint32_t v, int round)
{
	v = xf_affine(v, 3, round + 1);
	v = xf_affine(v, 5, round + 2);
	return xf_affine(v, 7, round + 3);
}

/* x -> y on s1, y -> z on s2 after event a, z -> w and back to the host on s3 after event b. */
static void chain_round(struct rig *r, int round)
{
	const size_t bytes = N * sizeof(uint32_t);
	const unsigned grid = xt_blocks(N, BLOCK);
	float ms = -1.0f;
	int i;

	for (i = 0; i < N; i++)
		r->h_in[i] = (uint32_t)xf_mix64((uint64_t)round * N + i);
	CK(cudaEventRecord(r->t0, r->s1));
	CK(cudaMemcpyAsync(r->x, r->h_in, bytes, cudaMemcpyHostToDevice, r->s1));
	se_step<<<grid, BLOCK, 0, r->s1>>>(r->y, r->x, N, 3, round + 1, SPIN_CYCLES);
	CK_LAUNCH();
	CK(cudaEventRecord(r->a, r->s1));
	CK(cudaStreamWaitEvent(r->s2, r->a, 0));
	se_step<<<grid, BLOCK, 0, r->s2>>>(r->z, r->y, N, 5, round + 2, SPIN_CYCLES);
	CK_LAUNCH();
	CK(cudaEventRecord(r->b, r->s2));
	CK(cudaStreamWaitEvent(r->s3, r->b, 0));
	se_step<<<grid, BLOCK, 0, r->s3>>>(r->w, r->z, N, 7, round + 3, 0);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(r->h_out, r->w, bytes, cudaMemcpyDeviceToHost, r->s3));
	CK(cudaEventRecord(r->t1, r->s3));
	wait_round(r, round);
	CK(cudaEventElapsedTime(&ms, r->t0, r->t1));
	if (!(ms >= 0.0f))
		xt_fail("round %d: cudaEventElapsedTime gave a negative time", round);
	for (i = 0; i < N; i++)
		if (r->h_out[i] != chain_want(r->h_in[i], round))
			xt_fail("round %d: out[%d] = %08x, want %08x (a stream wait not honoured?)",
				round, i, r->h_out[i], chain_want(r->h_in[i], round));
	printf("chain round %d hash=%016llx\n", round,
	       (unsigned long long)xt_hash(r->h_out, bytes));
}

/* The legacy stream waits for work on a blocking stream before it starts. */
static void legacy_stream_case(struct rig *r)
{
	const size_t bytes = N * sizeof(uint32_t);
	int i;

	CK(cudaMemsetAsync(r->w, 0, bytes, r->s3));
	se_step<<<xt_blocks(N, BLOCK), BLOCK, 0, r->s3>>>(r->w, r->x, N, 11, 13, SPIN_CYCLES);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(r->h_out, r->w, bytes, cudaMemcpyDeviceToHost, 0));
	CK(cudaStreamSynchronize(0));
	for (i = 0; i < N; i++) {
		uint32_t x = r->h_in[i];    /* x still holds the last round's input */

		if (r->h_out[i] != xf_affine(x, 11, 13))
			xt_fail("legacy stream: out[%d] = %08x, want %08x", i, r->h_out[i],
				xf_affine(x, 11, 13));
	}
	printf("legacy stream after blocking stream: ok\n");
}

int main(void)
{
	struct rig r;
	int round;

	xt_begin("streams_events");
	rig_open(&r);
	poll_done(query_stream, r.s2, "cudaStreamQuery (idle stream)");
	for (round = 0; round < ROUNDS; round++)
		chain_round(&r, round);
	legacy_stream_case(&r);
	CK(cudaDeviceSynchronize());
	rig_close(&r);
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
