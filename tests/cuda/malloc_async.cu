/*
 * malloc_async.cu - stream-ordered allocation, as PyTorch's cudaMallocAsync
 * backend, cuda.core and RAPIDS use it:
 *   - the device's pool: the default is the current one (by device and by
 *     location), a release threshold and a reuse flag read back;
 *   - a free waits for the work queued before it: a 256 MiB buffer filled,
 *     copied to pinned memory and freed on one stream while another
 *     stream at once allocates and fills the same size; the copy holds
 *     the first fill, every byte;
 *   - across streams: allocated on one, used on another after an event,
 *     freed there;
 *   - the pool's used-memory counters, and their high mark reset;
 *   - cudaMallocFromPoolAsync, and the driver's cuMemAllocAsync,
 *     cuMemAllocFromPoolAsync, cuMemFreeAsync and pool handle;
 *   - what a bad free and a free of NULL return;
 *   - rounds: a ring of 8 live blocks of 1-5 MiB, each round freeing the
 *     oldest and allocating and filling a new one, every live block
 *     checked whole at the end (a move can happen between rounds);
 *   - after every free, a synchronise and a trim of the pool,
 *     cudaMemGetInfo reports the free memory of the start (within 16 MiB).
 *
 *   malloc_async [--iters N] [--sleep-ms M]
 */
#include <cuda.h>
#include <unistd.h>

#include "xtest.h"

#define MIB (1ul << 20)
#define RING 8

static void cu_check(CUresult r, const char *what, int line)
{
	if (r != CUDA_SUCCESS)
		xt_fail("line %d: %s returned %d", line, what, (int)r);
}
#define CU(call) cu_check((call), #call, __LINE__)

static uint64_t pool_u64(cudaMemPool_t pool, enum cudaMemPoolAttr attr)
{
	uint64_t v = 0;

	CK(cudaMemPoolGetAttribute(pool, attr, &v));
	return v;
}

int main(int argc, char **argv)
{
	int iters = 20, sleep_ms = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sleep-ms") && i + 1 < argc)
			sleep_ms = atoi(argv[++i]);
		else
			xt_fail("usage: malloc_async [--iters N] [--sleep-ms M]");
	}
	xt_begin("malloc_async");
	CK(cudaFree(0));
	size_t free0, free1, total;
	CK(cudaMemGetInfo(&free0, &total));

	/* The pool. */
	int supported = 0, reuse = -1;
	cudaMemPool_t pool, current, by_location;
	struct cudaMemLocation here = { cudaMemLocationTypeDevice, 0 };
	uint64_t threshold = UINT64_MAX;
	CK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, 0));
	CK(cudaDeviceGetDefaultMemPool(&pool, 0));
	CK(cudaDeviceGetMemPool(&current, 0));
	CK(cudaMemGetDefaultMemPool(&by_location, &here, cudaMemAllocationTypePinned));
	CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
	CK(cudaMemPoolGetAttribute(pool, cudaMemPoolReuseAllowOpportunistic, &reuse));
	printf("pools supported %d; default pool current %d, the location's %d; threshold %d, "
	       "opportunistic reuse %d\n", supported, pool == current, pool == by_location,
	       pool_u64(pool, cudaMemPoolAttrReleaseThreshold) == UINT64_MAX, reuse);

	/* A free waits for the work queued before it. */
	cudaStream_t s1, s2;
	CK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	size_t big = 256 * MIB;
	uint8_t *h;
	void *p, *q;
	CK(cudaMallocHost((void **)&h, big));
	CK(cudaMallocAsync(&p, big, s1));
	CK(cudaMemsetAsync(p, 7, big, s1));
	CK(cudaMemcpyAsync(h, p, big, cudaMemcpyDeviceToHost, s1));
	CK(cudaFreeAsync(p, s1));
	CK(cudaMallocAsync(&q, big, s2));
	CK(cudaMemsetAsync(q, 9, big, s2));
	CK(cudaStreamSynchronize(s1));
	for (size_t k = 0; k < big; k++)
		if (h[k] != 7)
			xt_fail("byte %zu copied before the free is %02x, want 07", k, h[k]);
	CK(cudaFreeAsync(q, s2));
	printf("a free waits for the work queued before it: every byte as filled\n");

	/* Across streams. */
	cudaEvent_t ev;
	void *r;
	CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	CK(cudaMallocAsync(&r, MIB, s1));
	CK(cudaMemsetAsync(r, 3, MIB, s1));
	CK(cudaEventRecord(ev, s1));
	CK(cudaStreamWaitEvent(s2, ev, 0));
	CK(cudaMemcpyAsync(h, r, MIB, cudaMemcpyDeviceToHost, s2));
	CK(cudaFreeAsync(r, s2));
	CK(cudaStreamSynchronize(s2));
	for (size_t k = 0; k < MIB; k++)
		if (h[k] != 3)
			xt_fail("byte %zu used on the other stream is %02x, want 03", k, h[k]);
	printf("allocated on one stream, used and freed on another: ok\n");

	/* The counters. */
	void *b[3];
	CK(cudaDeviceSynchronize());
	uint64_t used0 = pool_u64(pool, cudaMemPoolAttrUsedMemCurrent);
	for (int i = 0; i < 3; i++)
		CK(cudaMallocAsync(&b[i], MIB, s1));
	uint64_t used3 = pool_u64(pool, cudaMemPoolAttrUsedMemCurrent);
	for (int i = 0; i < 3; i++)
		CK(cudaFreeAsync(b[i], s1));
	CK(cudaDeviceSynchronize());
	uint64_t used_after = pool_u64(pool, cudaMemPoolAttrUsedMemCurrent);
	uint64_t high = pool_u64(pool, cudaMemPoolAttrUsedMemHigh), zero = 0;
	CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));
	printf("used: 3 MiB more while held %d, as before once freed %d; high mark held it %d, "
	       "reset %d; reserved >= used %d\n", used3 >= used0 + 3 * MIB, used_after == used0,
	       high >= used0 + 3 * MIB, pool_u64(pool, cudaMemPoolAttrUsedMemHigh) < high,
	       pool_u64(pool, cudaMemPoolAttrReservedMemCurrent) >= used_after);

	/* From the pool by name, and through the driver. */
	void *fp;
	CK(cudaMallocFromPoolAsync(&fp, 5 * MIB, pool, s1));
	CK(cudaMemsetAsync(fp, 5, 5 * MIB, s1));
	CK(cudaStreamSynchronize(s1));
	xt_expect_bytes(fp, 5 * MIB, 5, "from the pool", 0);
	CK(cudaFreeAsync(fp, s1));
	CUmemoryPool cpool;
	CUdeviceptr d1, d2;
	uint64_t cthreshold = 0;
	CU(cuDeviceGetDefaultMemPool(&cpool, 0));
	CU(cuMemPoolGetAttribute(cpool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &cthreshold));
	CU(cuMemAllocAsync(&d1, 2 * MIB, (CUstream)s1));
	CU(cuMemAllocFromPoolAsync(&d2, 3 * MIB, cpool, (CUstream)s1));
	CU(cuMemsetD8Async(d1, 1, 2 * MIB, (CUstream)s1));
	CU(cuMemsetD8Async(d2, 2, 3 * MIB, (CUstream)s1));
	CU(cuStreamSynchronize((CUstream)s1));
	xt_expect_bytes((void *)d1, 2 * MIB, 1, "driver", 1);
	xt_expect_bytes((void *)d2, 3 * MIB, 2, "driver from the pool", 2);
	CU(cuMemFreeAsync(d1, (CUstream)s1));
	CU(cuMemFreeAsync(d2, (CUstream)s1));
	printf("cudaMallocFromPoolAsync, cuMemAllocAsync, cuMemAllocFromPoolAsync: ok; the driver's "
	       "pool is the runtime's %d, its threshold %d\n", (void *)cpool == (void *)pool,
	       cthreshold == UINT64_MAX);

	/* Bad frees. */
	printf("free of host memory -> %d, of NULL -> %d\n", (int)cudaFreeAsync(h, s1),
	       (int)cudaFreeAsync(NULL, s1));
	cudaGetLastError();

	/* Rounds. */
	void *ring[RING] = { 0 };
	size_t len[RING];
	uint8_t byte[RING];
	for (int k = 0; k < iters; k++) {
		int i = k % RING;

		if (ring[i])
			CK(cudaFreeAsync(ring[i], s1));
		len[i] = (size_t)(1 + k % 5) * MIB + (size_t)k * 4096;
		byte[i] = (uint8_t)(0x40 + k);
		CK(cudaMallocAsync(&ring[i], len[i], s1));
		CK(cudaMemsetAsync(ring[i], byte[i], len[i], s1));
		CK(cudaStreamSynchronize(s1));
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	for (int i = 0; i < RING && i < iters; i++)
		xt_expect_bytes(ring[i], len[i], byte[i], "live block", i);
	for (int i = 0; i < RING && i < iters; i++)
		CK(cudaFreeAsync(ring[i], s2));
	printf("rounds %d: every live block as filled\n", iters);

	CK(cudaDeviceSynchronize());
	CK(cudaMemPoolTrimTo(pool, 0));   /* (the threshold set above lets a pool keep it all) */
	CK(cudaMemGetInfo(&free1, &total));
	if (free1 + 16 * MIB < free0)
		xt_fail("after every free, %zu MiB free, %zu MiB at the start", free1 / MIB,
			free0 / MIB);
	printf("after every free: the free memory of the start\n");
	CK(cudaEventDestroy(ev));
	CK(cudaStreamDestroy(s1));
	CK(cudaStreamDestroy(s2));
	CK(cudaFreeHost(h));
	return xt_pass();
}
