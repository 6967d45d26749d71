/*
 * malloc_reuse.cu - device memory freed and allocated again, as programs
 * that allocate in a loop do (a layer may keep freed memory for the next
 * allocation of the same size: the proxy does, proxy/server/freed-cache.h):
 *   - 24 live blocks of eight sizes (1 byte to 12 MiB + 5), each filled
 *     with its own byte; every other one freed and allocated again with
 *     another byte; every byte of every block then as written (a block
 *     handed out twice would show the other's byte);
 *   - 2000 rounds of cudaMalloc, cudaMemset, cudaFree of 1 MiB, every
 *     100th read back;
 *   - after every free, cudaMemGetInfo reports the free memory of the
 *     start (within 16 MiB): nothing freed is held back from the program;
 *   - right after freeing 24 more blocks, one allocation of all but 32 MiB
 *     of that free memory succeeds, its last byte written and read back.
 */
#include "xtest.h"

#define MIB (1ul << 20)
#define NBLOCKS 24

static size_t size_of(unsigned i)
{
	static const size_t sizes[] = { 1, 4096, MIB, 2 * MIB, 2 * MIB + 1, 3 * MIB, 8 * MIB,
					12 * MIB + 5 };

	return sizes[i % 8];
}

int main(void)
{
	void *p[NBLOCKS], *big;
	size_t free0, free1, total, big_len;
	uint8_t last;

	xt_begin("malloc_reuse");
	CK(cudaFree(0));
	CK(cudaMemGetInfo(&free0, &total));

	for (unsigned i = 0; i < NBLOCKS; i++) {
		CK(cudaMalloc(&p[i], size_of(i)));
		CK(cudaMemset(p[i], (int)(i + 1), size_of(i)));
	}
	for (unsigned i = 1; i < NBLOCKS; i += 2)
		CK(cudaFree(p[i]));
	for (unsigned i = 1; i < NBLOCKS; i += 2) {
		CK(cudaMalloc(&p[i], size_of(i)));
		CK(cudaMemset(p[i], (int)(0x80 + i), size_of(i)));
	}
	for (unsigned i = 0; i < NBLOCKS; i++)
		xt_expect_bytes(p[i], size_of(i), (uint8_t)(i % 2 ? 0x80 + i : i + 1), "block", i);
	printf("%d blocks, %d freed and allocated again: every byte as written\n", NBLOCKS,
	       NBLOCKS / 2);

	for (unsigned k = 0; k < 2000; k++) {
		void *q;

		CK(cudaMalloc(&q, MIB));
		CK(cudaMemset(q, (int)(k & 0xff), MIB));
		if (k % 100 == 99)
			xt_expect_bytes(q, MIB, (uint8_t)(k & 0xff), "round", k);
		CK(cudaFree(q));
	}
	printf("2000 rounds of cudaMalloc, cudaMemset, cudaFree (1 MiB): ok\n");

	for (unsigned i = 0; i < NBLOCKS; i++)
		CK(cudaFree(p[i]));
	CK(cudaMemGetInfo(&free1, &total));
	if (free1 + 16 * MIB < free0)
		xt_fail("after every free, %zu MiB free, %zu MiB at the start", free1 / MIB,
			free0 / MIB);
	printf("after every free: the free memory of the start\n");

	for (unsigned i = 0; i < NBLOCKS; i++)
		CK(cudaMalloc(&p[i], size_of(i)));
	for (unsigned i = 0; i < NBLOCKS; i++)
		CK(cudaFree(p[i]));
	big_len = free0 - 32 * MIB;
	CK(cudaMalloc(&big, big_len));
	CK(cudaMemset((char *)big + big_len - MIB, 0x5a, MIB));
	CK(cudaMemcpy(&last, (char *)big + big_len - 1, 1, cudaMemcpyDeviceToHost));
	if (last != 0x5a)
		xt_fail("the last byte of the large allocation is %02x, want 5a", last);
	CK(cudaFree(big));
	printf("right after frees, one allocation of all but 32 MiB of the free memory: ok\n");
	return xt_pass();
}
