/*
 * host_func.cu - host functions on streams: cudaLaunchHostFunc,
 * cudaStreamAddCallback and the driver's cuLaunchHostFunc and
 * cuStreamAddCallback (through cudaGetDriverEntryPoint, as c10 finds the
 * driver), each checked against the stream's order both ways.
 *
 * - Rounds on one stream: a copy in from pinned memory, a kernel, a copy
 *   out, then a host function that checks the copy out against the input
 *   and writes the next round's input into the same pinned buffer. The next
 *   round's copy in must wait for it, and it for the copy out: either
 *   broken, a check fails.
 * - A graph captured with a host function between a kernel and the next:
 *   each launch calls it, after a copy out of the first kernel's result,
 *   which it checks against its own model. As cuda.core does, the graph
 *   being captured (from cudaStreamGetCaptureInfo) is given a user object
 *   that keeps the function's data; destroyed with the executable graph.
 *   The capture's open ends: none at its begin, one after each node.
 * - 100 host functions and callbacks interleaved on one stream run in
 *   order; a callback gets its stream and cudaSuccess; the legacy and the
 *   per-thread default streams take them too; a host function on one
 *   stream orders work on another through an event; flags other than 0
 *   are refused.
 *
 *   host_func [--iters N (3)] [--sleep-ms N (0)] [--no-graph] [--slow-ms N (0)]
 *             [--cuda-inside]
 *
 * --slow-ms: the first round's host function takes N ms more (a move then
 * waits for it: the output is the same).
 * --no-graph: no graph, and neither of its two lines (a graph that calls a
 * host function keeps a job on its node; the rest moves anywhere).
 * --cuda-inside: only that a host function calls cudaStreamQuery, which
 * CUDA does not permit (what it returns is printed; natively the driver
 * may or may not refuse it).
 * Rounds and graph launches alternate, --sleep-ms apart, after the line
 * "looping" (the moves of the migrate tests come there).
 */
#include <atomic>
#include <cuda.h>
#include <unistd.h>

#include "xtest.h"

#define N 4099                 /* not a multiple of the block */
#define BLOCK 256

static std::atomic<int> failures{0};

static void failed(const char *what, long round, int i, uint32_t got, uint32_t want)
{
	if (failures.fetch_add(1) == 0)
		printf("FAIL host_func: %s, round %ld, element %d: %u, want %u\n", what, round, i,
		       got, want);
}

static uint32_t next_input(uint32_t out, int i, long round)
{
	return out ^ (uint32_t)(i * 2654435761u + (uint32_t)round);
}

/* ---- rounds: copy in, kernel, copy out, check and refill on the host ---- */

struct rounds {
	cudaStream_t s;
	uint32_t *d, *in, *out;      /* device; pinned; pinned */
	long round;                  /* the host function's count */
};

static void round_done(void *arg)
{
	struct rounds *r = (struct rounds *)arg;

	for (int i = 0; i < N; i++) {
		uint32_t want = xf_affine(r->in[i], 3u, (uint32_t)r->round);

		if (r->out[i] != want)
			return failed("copy out before the host function", r->round, i, r->out[i],
				      want);
	}
	for (int i = 0; i < N; i++)
		r->in[i] = next_input(r->out[i], i, r->round);
	r->round++;
}

static void take_time(void *arg)
{
	usleep((useconds_t)*(long *)arg * 1000);
}

static void queue_round(struct rounds *r, long k)
{
	CK(cudaMemcpyAsync(r->d, r->in, N * 4, cudaMemcpyHostToDevice, r->s));
	xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, r->s>>>(r->d, N, 3u, (uint32_t)k);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(r->out, r->d, N * 4, cudaMemcpyDeviceToHost, r->s));
	CK(cudaLaunchHostFunc(r->s, round_done, r));
}

/* ---- a graph with a host node between two kernels ---- */

struct graphed {
	cudaStream_t s;
	uint32_t *y, *yh;            /* device; pinned */
	uint32_t model[N];           /* y as the host function expects it before a launch */
	long launches;
};

static void graph_node(void *arg)
{
	struct graphed *g = (struct graphed *)arg;

	for (int i = 0; i < N; i++) {
		uint32_t want = xf_affine(g->model[i], 5u, 1u);

		if (g->yh[i] != want)
			return failed("graph's copy out before its host node", g->launches, i,
				      g->yh[i], want);
		g->model[i] = xf_affine(want, 7u, 3u);
	}
	g->launches++;
}

static std::atomic<int> data_released{0};

static void release_data(void *arg)
{
	data_released.fetch_add(1);
}

static cudaGraphExec_t capture_graph(struct graphed *g)
{
	cudaGraph_t graph, building;
	cudaGraphExec_t exec;
	cudaStreamCaptureStatus st;
	cudaUserObject_t keep;

	const cudaGraphNode_t *ends;
	const cudaGraphEdgeData *edges;
	size_t nends[2];
	static const cudaGraphEdgeData plain = {};

	CK(cudaStreamBeginCapture(g->s, cudaStreamCaptureModeGlobal));
	CK(cudaStreamGetCaptureInfo(g->s, &st, NULL, &building, &ends, NULL, &nends[0]));
	CK(cudaUserObjectCreate(&keep, g, release_data, 1, cudaUserObjectNoDestructorSync));
	CK(cudaGraphRetainUserObject(building, keep, 1, cudaGraphUserObjectMove));
	xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, g->s>>>(g->y, N, 5u, 1u);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(g->yh, g->y, N * 4, cudaMemcpyDeviceToHost, g->s));
	CK(cudaLaunchHostFunc(g->s, graph_node, g));
	CK(cudaStreamGetCaptureInfo(g->s, &st, NULL, NULL, &ends, &edges, &nends[1]));
	if (nends[1] != 1 || !ends[0] || (edges && memcmp(&edges[0], &plain, sizeof(plain))))
		xt_fail("the capture's open end after its host function: %zu of them", nends[1]);
	printf("open ends of the capture: %zu at its begin, %zu after its host function\n",
	       nends[0], nends[1]);
	xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, g->s>>>(g->y, N, 7u, 3u);
	CK_LAUNCH();
	CK(cudaStreamEndCapture(g->s, &graph));
	if (graph != building)
		xt_fail("the graph captured is not the one being captured");
	{
		/* (instantiated and uploaded in one, as cuda.core does) */
		cudaGraphInstantiateParams ip = {};

		ip.flags = cudaGraphInstantiateFlagUpload;
		ip.uploadStream = g->s;
		CK(cudaGraphInstantiateWithParams(&exec, graph, &ip));
		if (ip.result_out != cudaGraphInstantiateSuccess)
			xt_fail("cudaGraphInstantiateWithParams: result %d", (int)ip.result_out);
	}
	CK(cudaGraphDestroy(graph));
	return exec;
}

/* ---- order on one stream, callbacks, default streams, across streams ---- */

struct order {
	int seen[100];
	std::atomic<int> n{0};
	cudaStream_t want_stream;
	int bad_callbacks;
};

struct step {
	struct order *o;
	int k;
};

static void order_fn(void *arg)
{
	struct step *st = (struct step *)arg;

	st->o->seen[st->o->n.fetch_add(1)] = st->k;
}

static void CUDART_CB order_cb(cudaStream_t s, cudaError_t status, void *arg)
{
	struct step *st = (struct step *)arg;

	if (s != st->o->want_stream || status != cudaSuccess)
		st->o->bad_callbacks++;
	order_fn(arg);
}

static void count_fn(void *arg)
{
	((std::atomic<int> *)arg)->fetch_add(1);
}

static void set_value(void *arg)
{
	*(volatile uint32_t *)arg = 0xC0FFEEu;
}

static void CUDA_CB driver_cb(CUstream s, CUresult status, void *arg)
{
	struct step *st = (struct step *)arg;

	if ((cudaStream_t)s != st->o->want_stream || status != CUDA_SUCCESS)
		st->o->bad_callbacks++;
	order_fn(arg);
}

static void one_off_checks(void)
{
	struct order o;
	struct step steps[100];
	std::atomic<int> count{0};
	cudaStream_t s, s2;
	cudaEvent_t e;
	uint32_t *flag, *d, *back;
	typedef CUresult (*launch_host_fn)(CUstream, CUhostFn, void *);
	typedef CUresult (*add_callback_fn)(CUstream, CUstreamCallback, void *, unsigned);
	launch_host_fn cu_launch = (launch_host_fn)xt_driver_fn("cuLaunchHostFunc");
	add_callback_fn cu_callback = (add_callback_fn)xt_driver_fn("cuStreamAddCallback");

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	o.want_stream = s;
	o.bad_callbacks = 0;
	for (int k = 0; k < 100; k++) {
		steps[k] = (struct step){ &o, k };
		switch (k % 4) {
		case 0: CK(cudaLaunchHostFunc(s, order_fn, &steps[k])); break;
		case 1: CK(cudaStreamAddCallback(s, order_cb, &steps[k], 0)); break;
		case 2:
			if (cu_launch((CUstream)s, order_fn, &steps[k]) != CUDA_SUCCESS)
				xt_fail("cuLaunchHostFunc failed");
			break;
		default:
			if (cu_callback((CUstream)s, driver_cb, &steps[k], 0) != CUDA_SUCCESS)
				xt_fail("cuStreamAddCallback failed");
		}
	}
	CK(cudaStreamSynchronize(s));
	for (int k = 0; k < 100; k++)
		if (o.n.load() != 100 || o.seen[k] != k)
			xt_fail("host functions out of order: %d ran, #%d was %d", o.n.load(), k,
				o.seen[k]);
	printf("host functions and callbacks in order: %d, callbacks with a wrong stream or "
	       "status: %d\n", o.n.load(), o.bad_callbacks);

	CK(cudaLaunchHostFunc(0, count_fn, &count));
	CK(cudaLaunchHostFunc(cudaStreamPerThread, count_fn, &count));
	CK(cudaDeviceSynchronize());
	printf("on the default streams: %d\n", count.load());

	/* a host function on s writes what s2 copies in, after an event */
	CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
	CK(cudaMallocHost(&flag, 4));
	CK(cudaMallocHost(&back, 4));
	CK(cudaMalloc(&d, 4));
	*flag = 0;
	CK(cudaLaunchHostFunc(s, set_value, flag));
	CK(cudaEventRecord(e, s));
	CK(cudaStreamWaitEvent(s2, e, 0));
	CK(cudaMemcpyAsync(d, flag, 4, cudaMemcpyHostToDevice, s2));
	xt_affine<<<1, 1, 0, s2>>>(d, 1, 1u, 1u);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(back, d, 4, cudaMemcpyDeviceToHost, s2));
	CK(cudaStreamSynchronize(s2));
	printf("across streams: %x\n", *back);

	printf("refused: flags 1 %s, driver flags 1 %d\n",
	       cudaGetErrorName(cudaStreamAddCallback(s, order_cb, &steps[0], 1)),
	       (int)cu_callback((CUstream)s, driver_cb, &steps[0], 1));
	(void)cudaGetLastError();   /* (the refusal is the thread's last error) */
	CK(cudaStreamSynchronize(s));
	CK(cudaFree(d));
	CK(cudaFreeHost(flag));
	CK(cudaFreeHost(back));
	CK(cudaEventDestroy(e));
	CK(cudaStreamDestroy(s2));
	CK(cudaStreamDestroy(s));
}

static void call_cuda(void *arg)
{
	*(cudaError_t *)arg = cudaStreamQuery(0);
}

static int cuda_inside(void)
{
	cudaStream_t s;
	cudaError_t got = cudaErrorUnknown;

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaLaunchHostFunc(s, call_cuda, &got));
	CK(cudaStreamSynchronize(s));
	printf("a CUDA call in a host function returned %s\n", cudaGetErrorName(got));
	CK(cudaStreamDestroy(s));
	return xt_pass();
}

int main(int argc, char **argv)
{
	long iters = 3, sleep_ms = 0, slow_ms = 0;
	bool graph = true;
	struct rounds r = {};
	struct graphed *g = (struct graphed *)xt_malloc(sizeof(*g));
	cudaGraphExec_t exec = NULL;
	uint32_t *model = (uint32_t *)xt_malloc(N * 4);
	uint32_t *y = (uint32_t *)xt_malloc(N * 4);

	xt_begin("host_func");
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--cuda-inside"))
			return cuda_inside();
		else if (!strcmp(argv[i], "--no-graph"))
			graph = false;
		else if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
			 !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms) &&
			 !xt_opt_long(argc, argv, &i, "--slow-ms", 0, 100000, &slow_ms))
			xt_fail("unknown argument %s", argv[i]);

	one_off_checks();

	CK(cudaStreamCreateWithFlags(&r.s, cudaStreamNonBlocking));
	CK(cudaMalloc(&r.d, N * 4));
	CK(cudaMallocHost(&r.in, N * 4));
	CK(cudaMallocHost(&r.out, N * 4));
	for (int i = 0; i < N; i++)
		model[i] = r.in[i] = xf_mix64((uint64_t)i) & 0xffffffffu;

	memset(g, 0, sizeof(*g));
	CK(cudaStreamCreateWithFlags(&g->s, cudaStreamNonBlocking));
	CK(cudaMalloc(&g->y, N * 4));
	CK(cudaMallocHost(&g->yh, N * 4));
	for (int i = 0; i < N; i++)
		y[i] = g->model[i] = (uint32_t)i * 7919u;
	CK(cudaMemcpy(g->y, y, N * 4, cudaMemcpyHostToDevice));
	if (graph) {
		exec = capture_graph(g);
		printf("nothing ran at capture: %ld\n", g->launches);
	}

	printf("looping\n");
	for (long k = 0; k < iters; k++) {
		if (k == 0 && slow_ms)
			CK(cudaLaunchHostFunc(r.s, take_time, &slow_ms));
		queue_round(&r, k);
		if (graph)
			CK(cudaGraphLaunch(exec, g->s));
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	CK(cudaDeviceSynchronize());
	if (failures.load())
		return 1;

	/* the host's model of the whole run */
	for (long k = 0; k < iters; k++)
		for (int i = 0; i < N; i++)
			model[i] = next_input(xf_affine(model[i], 3u, (uint32_t)k), i, k);
	for (int i = 0; i < N; i++)
		if (r.in[i] != model[i])
			xt_fail("input after the rounds: element %d is %u, want %u", i, r.in[i],
				model[i]);
	printf("rounds %ld checked\n", r.round);
	CK(cudaMemcpy(y, g->y, N * 4, cudaMemcpyDeviceToHost));
	for (int i = 0; i < N; i++)
		if (y[i] != g->model[i])
			xt_fail("graph's result: element %d is %u, want %u", i, y[i], g->model[i]);
	if (graph) {
		printf("graph host node ran %ld times\n", g->launches);
		if (data_released.load())
			xt_fail("the graph's user object was released while the graph lived");
		CK(cudaGraphExecDestroy(exec));
		/* (CUDA runs the destructor on a thread of its own, soon after) */
		for (int i = 0; i < 5000 && !data_released.load(); i++)
			usleep(1000);
		printf("user object of the graph released: %d\n", data_released.load());
	}
	CK(cudaFree(r.d));
	CK(cudaFreeHost(r.in));
	CK(cudaFreeHost(r.out));
	CK(cudaFree(g->y));
	CK(cudaFreeHost(g->yh));
	CK(cudaStreamDestroy(r.s));
	CK(cudaStreamDestroy(g->s));
	free(g);
	free(model);
	free(y);
	return xt_pass();
}
