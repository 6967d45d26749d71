/*
 * copy_many.cu - how a copy move's new proxy should copy a job of many
 * allocations: what it costs to queue the copy and how long the GPU takes.
 *
 *   copy_many [MIB [N]]      (default 1198 66: a GPT's 1.2 GiB in 66 pieces)
 *
 * N allocations of MIB in all (a fifth of them 2 MiB, the rest equal, every
 * size a multiple of 2 MiB as the proxy's are), copied to N others on GPU 0:
 *   one stream      a cuMemcpyAsync each, on one stream
 *   two streams     each on the stream with fewer bytes queued, joined by an
 *                   event (what the proxy does without its kernel)
 *   batch           one cuMemcpyBatchAsync
 *   kernel          the proxy's own xmig_copy_chunks (proxy/server/
 *                   pieces-ptx.h), cut and launched as device-cuda.c does
 * and, as the floor, one copy of the same bytes. Printed for each, the
 * fastest of five: the time to queue, to the end of the copy (wall), and
 * the GPU's time between two events. The kernel's copy is checked.
 */
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda.h>

#include "../../proxy/server/pieces-ptx.h"

#define CK(x)                                                                         \
	do {                                                                          \
		CUresult r_ = (x);                                                    \
		if (r_) {                                                             \
			fprintf(stderr, "copy_many: %s failed (%d)\n", #x, (int)r_);  \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

static double now_ms()
{
	return std::chrono::duration<double, std::milli>(
		       std::chrono::steady_clock::now().time_since_epoch()).count();
}

enum how { ONE_STREAM, TWO_STREAMS, BATCH, KERNEL, FLOOR, HOWS };
static const char *const names[HOWS] = { "one stream", "two streams", "batch", "kernel",
					  "floor: one copy" };

struct setup {
	std::vector<CUdeviceptr> src, dst;
	std::vector<size_t> size;
	size_t total;
	CUstream st[2];
	CUevent joined, e0, e1;
	CUfunction chunks;
	unsigned long long *list;   /* pinned, as the proxy's */
	int sms;
	CUdeviceptr big_src, big_dst;
};

/* The proxy's cut (device-cuda.c, cuda_memcpy_chunks): 2730 entries, 512 KiB at least. */
static unsigned long long cut(setup &s)
{
	const unsigned long long max = (64u << 10) / 24, min = 512ull << 10;
	unsigned long long chunk = (s.total / (max - s.src.size()) + 16) & ~15ull, k = 0;

	if (chunk < min)
		chunk = min;
	for (size_t i = 0; i < s.src.size(); i++)
		for (unsigned long long off = 0; off < s.size[i]; off += chunk, k++) {
			s.list[3 * k] = s.dst[i] + off;
			s.list[3 * k + 1] = s.src[i] + off;
			s.list[3 * k + 2] = s.size[i] - off < chunk ? s.size[i] - off : chunk;
		}
	return k;
}

/* Queue the copy one way; its time to queue in *queued. */
static void copy(setup &s, how h, double *queued)
{
	double t0 = now_ms();
	size_t n = s.src.size();

	if (h == ONE_STREAM) {
		for (size_t i = 0; i < n; i++)
			CK(cuMemcpyAsync(s.dst[i], s.src[i], s.size[i], s.st[0]));
	} else if (h == TWO_STREAMS) {
		size_t q[2] = { 0, 0 };

		for (size_t i = 0; i < n; i++) {
			int k = q[1] < q[0];

			CK(cuMemcpyAsync(s.dst[i], s.src[i], s.size[i], s.st[k]));
			q[k] += s.size[i];
		}
		CK(cuEventRecord(s.joined, s.st[1]));
		CK(cuStreamWaitEvent(s.st[0], s.joined, 0));
	} else if (h == BATCH) {
		CUmemcpyAttributes a = {};
		size_t idx = 0;

		a.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
		CK(cuMemcpyBatchAsync(s.dst.data(), s.src.data(), s.size.data(), n, &a, &idx, 1,
				      s.st[0]));
	} else if (h == KERNEL) {
		unsigned long long k = cut(s);
		unsigned long long *list = s.list;
		void *args[2] = { &list, &k };
		unsigned grid = k < 4ull * s.sms ? (unsigned)k : 4u * s.sms;

		CK(cuLaunchKernel(s.chunks, grid, 1, 1, 512, 1, 1, 0, s.st[0], args, NULL));
	} else {
		CK(cuMemcpyAsync(s.big_dst, s.big_src, s.total, s.st[0]));
	}
	*queued = now_ms() - t0;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1198;
	size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 66, small = n / 5, bad = 0;
	CUdevice dev;
	CUcontext ctx;
	CUmodule mod;
	setup s;

	if (n < 2 || mib < 2 * n || n >= 1000) {
		fprintf(stderr, "usage: copy_many [MIB [N]] (2 <= N < 1000, MIB >= 2 N)\n");
		return 2;
	}
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuDeviceGetAttribute(&s.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
	CK(cuModuleLoadData(&mod, pieces_ptx));
	CK(cuModuleGetFunction(&s.chunks, mod, "xmig_copy_chunks"));
	s.total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t rest = ((mib - 2 * small) / (n - small)) & ~1ull;
		size_t sz = (i < small ? 2 : rest) << 20;
		CUdeviceptr a, b;

		CK(cuMemAlloc(&a, sz));
		CK(cuMemAlloc(&b, sz));
		CK(cuMemsetD8(a, (unsigned char)(i + 1), sz));
		s.src.push_back(a);
		s.dst.push_back(b);
		s.size.push_back(sz);
		s.total += sz;
	}
	CK(cuMemAlloc(&s.big_src, s.total));
	CK(cuMemAlloc(&s.big_dst, s.total));
	for (int k = 0; k < 2; k++)
		CK(cuStreamCreate(&s.st[k], CU_STREAM_NON_BLOCKING));
	CK(cuEventCreate(&s.joined, CU_EVENT_DISABLE_TIMING));
	CK(cuEventCreate(&s.e0, 0));
	CK(cuEventCreate(&s.e1, 0));
	CK(cuMemHostAlloc((void **)&s.list, 64 << 10, CU_MEMHOSTALLOC_DEVICEMAP));
	printf("# %zu allocations, %.1f MiB, GPU 0, %d SMs\n", n, s.total / 1048576.0, s.sms);
	printf("| copy | queued (ms) | to the end, wall (ms) | GPU (ms) | GB/s |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (int h = 0; h < HOWS; h++) {
		double best_q = 1e9, best_w = 1e9, q;
		float best_g = 1e9f, g;

		for (int rep = 0; rep < 6; rep++) {
			CK(cuCtxSynchronize());
			double t0 = now_ms();

			CK(cuEventRecord(s.e0, s.st[0]));
			copy(s, (how)h, &q);
			CK(cuEventRecord(s.e1, s.st[0]));
			CK(cuStreamSynchronize(s.st[0]));
			double w = now_ms() - t0;

			CK(cuEventElapsedTime(&g, s.e0, s.e1));
			if (rep == 0)
				continue;   /* (the first: set-up) */
			best_q = q < best_q ? q : best_q;
			best_w = w < best_w ? w : best_w;
			best_g = g < best_g ? g : best_g;
		}
		printf("| %s | %.3f | %.3f | %.3f | %.0f |\n", names[h], best_q, best_w, best_g,
		       s.total / (best_g * 1e6));
	}
	/* the kernel's copy, checked: each destination filled, copied, then read */
	for (size_t i = 0; i < n; i++)
		CK(cuMemsetD8(s.dst[i], 0, s.size[i]));
	/* (the memsets are on the legacy stream, which the copy's stream does not wait for) */
	CK(cuCtxSynchronize());
	double q;
	copy(s, KERNEL, &q);
	CK(cuCtxSynchronize());
	std::vector<unsigned char> back;
	for (size_t i = 0; i < n; i++) {
		back.resize(s.size[i]);
		CK(cuMemcpyDtoH(back.data(), s.dst[i], s.size[i]));
		for (size_t k = 0; k < s.size[i]; k++)
			bad += back[k] != (unsigned char)(i + 1);
	}
	printf("# the kernel's copy: %s\n", bad ? "WRONG" : "every byte as the source");
	return bad ? 1 : 0;
}
