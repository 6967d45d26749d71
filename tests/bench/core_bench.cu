/*
 * core_bench.cu - costs of the CUDA calls that matter for the channel,
 * measured the same way natively and under `xmig run`:
 *
 *   launch_async_us     time of one cudaLaunchKernel on the calling thread,
 *                       in bursts of 1000 launches between synchronisations
 *                       (the application's own cost while the GPU keeps up)
 *   launch_stream_us    the same over 200000 launches in a row: bounded by
 *                       how fast launches drain (back-pressure)
 *   launches_per_s      empty kernels launched and completed per second
 *   launch_sync_us      launch + cudaStreamSynchronize round trip (median)
 *   query_sync_us       cudaStreamQuery on an idle stream (median): a bare
 *                       synchronous call
 *   host_func_sync_us   cudaLaunchHostFunc of an empty function +
 *                       cudaStreamSynchronize (median): the driver's thread
 *                       (under xmig: the proxy's, then the client's) and back
 *   host_funcs_per_s    20000 host functions queued in a row on one stream,
 *                       each run once the one before returned
 *   graph32_build_us    a chain of 32 empty kernels built node by node
 *                       (cudaGraphCreate, cudaGraphAddKernelNode), instantiated
 *                       and destroyed (median; under xmig the instantiation
 *                       captures the chain in the proxy: a round trip a node)
 *   graph32_launch_us   that chain's executable graph launched + synchronised
 *   graph32_node_set_us cudaGraphExecKernelNodeSetParams of one of its nodes
 *                       (median; under xmig the chain captured again, changed,
 *                       and the executable graph updated from it)
 *   malloc_free_us      cudaMalloc(1 MiB) + cudaFree (median)
 *   copy_4k_*_us        4 KiB copies, pageable and pinned, H2D and D2H (median)
 *   copy_256m_*_gbs     256 MiB copies, pageable, pinned and registered
 *                       (median of 5)
 *   host_register_256m_ms, host_unregister_256m_ms
 *                       cudaHostRegister and cudaHostUnregister of 256 MiB
 *                       of malloc memory (median of 5)
 *   copy2d_frame_*_gbs  cudaMemcpy2D of a 1920x1080 RGBA frame (7680-byte
 *                       rows, host rows 7744 apart) to and from pitched
 *                       device memory, pageable and pinned (median of 20)
 *
 * Output: one "name value" line per metric.
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include <cuda_runtime.h>

#define CK(x)                                                                      \
	do {                                                                       \
		cudaError_t e_ = (x);                                              \
		if (e_ != cudaSuccess) {                                           \
			fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x,  \
				cudaGetErrorName(e_));                             \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

__global__ void empty_kernel() {}

static void count_host(void *arg)
{
	++*(long *)arg;
}

static double now_us()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

template <typename F> static double median_us(int n, F f)
{
	std::vector<double> t(n);
	for (int i = 0; i < n; i++) {
		double a = now_us();
		f();
		t[i] = now_us() - a;
	}
	return median(t);
}

int main(int argc, char **argv)
{
	const size_t big = 256u << 20, small = 4096;
	cudaStream_t s;
	void *dev, *pinned;
	char *pageable;

	CK(cudaStreamCreate(&s));
	empty_kernel<<<1, 1, 0, s>>>();
	CK(cudaStreamSynchronize(s));

	/* The calling thread's cost per launch, in bursts the GPU absorbs. */
	std::vector<double> burst;
	for (int r = 0; r < 50; r++) {
		double a = now_us();
		for (int i = 0; i < 1000; i++)
			empty_kernel<<<1, 1, 0, s>>>();
		burst.push_back((now_us() - a) / 1000);
		CK(cudaStreamSynchronize(s));
	}
	printf("launch_async_us %.3f\n", median(burst));

	/* Launch rate: a long run, the calling thread and the whole pipeline. */
	const int n = 200000;
	double t0 = now_us();
	for (int i = 0; i < n; i++)
		empty_kernel<<<1, 1, 0, s>>>();
	double t1 = now_us();
	CK(cudaStreamSynchronize(s));
	double t2 = now_us();
	CK(cudaGetLastError());
	printf("launch_stream_us %.3f\n", (t1 - t0) / n);
	printf("launches_per_s %.0f\n", n / ((t2 - t0) * 1e-6));

	printf("launch_sync_us %.2f\n", median_us(20000, [&] {
		       empty_kernel<<<1, 1, 0, s>>>();
		       CK(cudaStreamSynchronize(s));
	       }));
	printf("query_sync_us %.2f\n", median_us(20000, [&] { CK(cudaStreamQuery(s)); }));
	long ran = 0;
	printf("host_func_sync_us %.2f\n", median_us(5000, [&] {
		       CK(cudaLaunchHostFunc(s, count_host, &ran));
		       CK(cudaStreamSynchronize(s));
	       }));
	const int nh = 20000;
	t0 = now_us();
	for (int i = 0; i < nh; i++)
		CK(cudaLaunchHostFunc(s, count_host, &ran));
	CK(cudaStreamSynchronize(s));
	t1 = now_us();
	if (ran != 5000 + nh) {
		fprintf(stderr, "host functions ran %ld times, want %d\n", ran, 5000 + nh);
		exit(1);
	}
	printf("host_funcs_per_s %.0f\n", nh / ((t1 - t0) * 1e-6));
	{
		const int nodes = 32;
		cudaKernelNodeParams kp = {};
		cudaGraphExec_t exec;
		cudaGraph_t g;
		cudaGraphNode_t v[nodes];
		auto build = [&] {
			CK(cudaGraphCreate(&g, 0));
			for (int i = 0; i < nodes; i++)
				CK(cudaGraphAddKernelNode(&v[i], g, i ? &v[i - 1] : NULL, i ? 1 : 0,
							  &kp));
		};

		kp.func = (void *)empty_kernel;
		kp.gridDim = dim3(1);
		kp.blockDim = dim3(1);
		printf("graph32_build_us %.2f\n", median_us(200, [&] {
			       build();
			       CK(cudaGraphInstantiate(&exec, g, 0));
			       CK(cudaGraphExecDestroy(exec));
			       CK(cudaGraphDestroy(g));
		       }));
		build();
		CK(cudaGraphInstantiate(&exec, g, 0));
		printf("graph32_launch_us %.2f\n", median_us(2000, [&] {
			       CK(cudaGraphLaunch(exec, s));
			       CK(cudaStreamSynchronize(s));
		       }));
		printf("graph32_node_set_us %.2f\n", median_us(500, [&] {
			       CK(cudaGraphExecKernelNodeSetParams(exec, v[nodes / 2], &kp));
		       }));
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		CK(cudaGraphExecDestroy(exec));
		CK(cudaGraphDestroy(g));
	}
	printf("malloc_free_us %.2f\n", median_us(2000, [&] {
		       void *p;
		       CK(cudaMalloc(&p, 1 << 20));
		       CK(cudaFree(p));
	       }));

	CK(cudaMalloc(&dev, big));
	CK(cudaMallocHost(&pinned, big));
	pageable = (char *)malloc(big);
	memset(pageable, 1, big);
	memset(pinned, 2, big);
	CK(cudaMemset(dev, 0, big));
	CK(cudaDeviceSynchronize());

	printf("copy_4k_h2d_pageable_us %.2f\n",
	       median_us(5000, [&] { CK(cudaMemcpy(dev, pageable, small, cudaMemcpyHostToDevice)); }));
	printf("copy_4k_d2h_pageable_us %.2f\n",
	       median_us(5000, [&] { CK(cudaMemcpy(pageable, dev, small, cudaMemcpyDeviceToHost)); }));
	printf("copy_4k_h2d_pinned_us %.2f\n",
	       median_us(5000, [&] { CK(cudaMemcpy(dev, pinned, small, cudaMemcpyHostToDevice)); }));
	printf("copy_4k_d2h_pinned_us %.2f\n",
	       median_us(5000, [&] { CK(cudaMemcpy(pinned, dev, small, cudaMemcpyDeviceToHost)); }));

	struct {
		const char *name;
		void *dst;
		const void *src;
		cudaMemcpyKind kind;
	} bigs[] = {
		{ "copy_256m_h2d_pageable_gbs", dev, pageable, cudaMemcpyHostToDevice },
		{ "copy_256m_d2h_pageable_gbs", pageable, dev, cudaMemcpyDeviceToHost },
		{ "copy_256m_h2d_pinned_gbs", dev, pinned, cudaMemcpyHostToDevice },
		{ "copy_256m_d2h_pinned_gbs", pinned, dev, cudaMemcpyDeviceToHost },
	};
	for (auto &b : bigs) {
		CK(cudaMemcpy(b.dst, b.src, big, b.kind));   /* warm-up */
		double us = median_us(5, [&] { CK(cudaMemcpy(b.dst, b.src, big, b.kind)); });
		printf("%s %.2f\n", b.name, big / (us * 1e-6) / 1e9);
	}

	/*
	 * The application's own memory pinned, as PyTorch's host-register
	 * allocator does it (under xmig the bytes move onto shared pages
	 * and back), and copies through it.
	 */
	{
		char *own = (char *)malloc(big);
		std::vector<double> reg, unreg;

		memset(own, 1, big);
		for (int i = 0; i < 5; i++) {
			double a = now_us(), b;

			CK(cudaHostRegister(own, big, cudaHostRegisterDefault));
			b = now_us();
			CK(cudaHostUnregister(own));
			reg.push_back((b - a) / 1000);
			unreg.push_back((now_us() - b) / 1000);
		}
		printf("host_register_256m_ms %.2f\n", median(reg));
		printf("host_unregister_256m_ms %.2f\n", median(unreg));
		CK(cudaHostRegister(own, big, cudaHostRegisterDefault));
		struct {
			const char *name;
			void *dst;
			const void *src;
			cudaMemcpyKind kind;
		} regs[] = {
			{ "copy_256m_h2d_registered_gbs", dev, own, cudaMemcpyHostToDevice },
			{ "copy_256m_d2h_registered_gbs", own, dev, cudaMemcpyDeviceToHost },
		};
		for (auto &b : regs) {
			CK(cudaMemcpy(b.dst, b.src, big, b.kind));   /* warm-up */
			double us = median_us(5, [&] { CK(cudaMemcpy(b.dst, b.src, big, b.kind)); });
			printf("%s %.2f\n", b.name, big / (us * 1e-6) / 1e9);
		}
		CK(cudaHostUnregister(own));
		free(own);
	}

	/* an image frame's rows, as OpenCV and NPP copy them */
	const size_t fw = 1920 * 4, fh = 1080, hp = fw + 64;
	size_t dp;
	void *frame;
	CK(cudaMallocPitch(&frame, &dp, fw, fh));
	struct {
		const char *name;
		void *dst;
		size_t dpitch;
		const void *src;
		size_t spitch;
	} frames[] = {
		{ "copy2d_frame_h2d_pageable_gbs", frame, dp, pageable, hp },
		{ "copy2d_frame_d2h_pageable_gbs", pageable, hp, frame, dp },
		{ "copy2d_frame_h2d_pinned_gbs", frame, dp, pinned, hp },
		{ "copy2d_frame_d2h_pinned_gbs", pinned, hp, frame, dp },
	};
	for (auto &f : frames) {
		auto once = [&] {
			CK(cudaMemcpy2D(f.dst, f.dpitch, f.src, f.spitch, fw, fh, cudaMemcpyDefault));
		};
		once();   /* warm-up */
		printf("%s %.2f\n", f.name, fw * fh / (median_us(20, once) * 1e-6) / 1e9);
	}
	CK(cudaFree(frame));
	CK(cudaFree(dev));
	CK(cudaFreeHost(pinned));
	free(pageable);
	return 0;
}
