/*
 * graphs.cu - a CUDA graph made by stream capture: a fill, device and
 * pinned-host copies and kernels on two streams forked and joined by
 * events, captured once (the capture's own events, destroyed once it ended,
 * as PyTorch's NCCL process group does), instantiated (the graph destroyed at once: the
 * executable graph outlives it), uploaded and launched each round on new
 * input, on either stream; the capture status and id seen from both
 * streams; a capture invalidated by a synchronize. Then, with the graphs
 * destroyed, the same rounds run eagerly. Before the rounds, the
 * executable graph is updated (cudaGraphExecUpdate) from a capture of the
 * same work with another constant, which the rounds then compute (a move
 * must carry the update), and refused an update from a graph of another
 * shape, staying as it was. A graph launched into a
 * capturing stream is refused at the call (CUDA 13), and the capture fails.
 * --open-capture-ms N keeps a capture of nothing open for N ms first.
 *
 *   graphs [--rounds N (4)] [--after-rounds N (2)] [--sleep-ms N (0)]
 *          [--open-capture-ms N (0)]
 */
#include <unistd.h>

#include "xtest.h"

#define N 65539                /* not a multiple of the block */
#define BLOCK 256

__global__ void gr_mix(uint32_t *dst, const uint32_t *a, const uint32_t *b, int n, uint32_t k)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		dst[i] = xf_mix(a[i], b[i], k);
}

struct rig {
	cudaStream_t s1, s2;
	cudaEvent_t fork, join;
	uint32_t *x, *y, *w, *z;     /* device */
	uint32_t *in, *out;          /* pinned */
};

static const size_t bytes = N * sizeof(uint32_t);
static uint32_t mix_k = 3;     /* the last mix's constant: 11 once the graph is updated */

/*
 * The work, on s1 forked to s2 and joined: y = 3x + 1; then z = 7x + y on
 * s2 while w = 5x + 2 on s1; then z = 3w + z; z copied to out.
 */
static void work(struct rig *r)
{
	unsigned b = xt_blocks(N, BLOCK);

	CK(cudaMemsetAsync(r->z, 0, bytes, r->s1));
	CK(cudaMemcpyAsync(r->y, r->x, bytes, cudaMemcpyDeviceToDevice, r->s1));
	xt_affine<<<b, BLOCK, 0, r->s1>>>(r->y, N, 3, 1);
	CK_LAUNCH();
	CK(cudaEventRecord(r->fork, r->s1));
	CK(cudaStreamWaitEvent(r->s2, r->fork, 0));
	gr_mix<<<b, BLOCK, 0, r->s2>>>(r->z, r->x, r->y, N, 7);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(r->w, r->x, bytes, cudaMemcpyDeviceToDevice, r->s1));
	xt_affine<<<b, BLOCK, 0, r->s1>>>(r->w, N, 5, 2);
	CK_LAUNCH();
	CK(cudaEventRecord(r->join, r->s2));
	CK(cudaStreamWaitEvent(r->s1, r->join, 0));
	gr_mix<<<b, BLOCK, 0, r->s1>>>(r->z, r->w, r->z, N, mix_k);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(r->out, r->z, bytes, cudaMemcpyDeviceToHost, r->s1));
}

static uint32_t expect(uint32_t x)
{
	uint32_t y = xf_affine(x, 3, 1), w = xf_affine(x, 5, 2);

	return xf_mix(w, xf_mix(x, y, 7), mix_k);
}

/* New input for round k, copied in outside the graph; the output checked. */
static void round_in(struct rig *r, int k)
{
	for (int i = 0; i < N; i++)
		r->in[i] = (uint32_t)xf_mix64((uint64_t)k * N + i);
	memset(r->out, 0, bytes);
	CK(cudaMemcpyAsync(r->x, r->in, bytes, cudaMemcpyHostToDevice, r->s1));
}

static void round_check(struct rig *r, int k, const char *how)
{
	for (int i = 0; i < N; i++)
		if (r->out[i] != expect(r->in[i]))
			xt_fail("round %d (%s): element %d is %u, want %u", k, how, i, r->out[i],
				expect(r->in[i]));
	printf("round %d %s: %016llx\n", k, how, (unsigned long long)xt_hash(r->out, bytes));
	fflush(stdout);
}

static void capture_status(cudaStream_t s, const char *name, cudaStreamCaptureStatus want,
			   unsigned long long *id)
{
	cudaStreamCaptureStatus st;

	CK(cudaStreamIsCapturing(s, &st));
	if (st != want)
		xt_fail("%s: capture status %d, want %d", name, (int)st, (int)want);
	if (id)
		CK(cudaStreamGetCaptureInfo(s, &st, id, NULL, NULL, NULL, NULL));
}

int main(int argc, char **argv)
{
	long rounds = 4, after = 2, sleep_ms = 0, open_ms = 0;
	struct rig r;
	cudaGraph_t g, bad;
	cudaGraphExec_t ge;
	cudaEvent_t fork, join;     /* the rounds' (the capture has its own) */
	unsigned long long id1 = 0, id2 = 0;
	cudaError_t e1, e2;
	int k = 0;

	xt_begin("graphs");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--rounds", 0, 1000000, &rounds) &&
		    !xt_opt_long(argc, argv, &i, "--after-rounds", 0, 1000000, &after) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 3600000, &sleep_ms) &&
		    !xt_opt_long(argc, argv, &i, "--open-capture-ms", 0, 3600000, &open_ms))
			xt_fail("unknown argument %s", argv[i]);
	CK(cudaStreamCreateWithFlags(&r.s1, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&r.s2, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
	CK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
	CK(cudaMalloc(&r.x, bytes));
	CK(cudaMalloc(&r.y, bytes));
	CK(cudaMalloc(&r.w, bytes));
	CK(cudaMalloc(&r.z, bytes));
	CK(cudaMallocHost(&r.in, bytes));
	CK(cudaMallocHost(&r.out, bytes));

	if (open_ms) {
		CK(cudaStreamBeginCapture(r.s2, cudaStreamCaptureModeRelaxed));
		printf("capture open\n");
		fflush(stdout);
		usleep((useconds_t)open_ms * 1000);
		CK(cudaStreamEndCapture(r.s2, &g));
		CK(cudaGraphDestroy(g));
	}

	/*
	 * the capture: nothing runs; both streams report it, with one id. Its
	 * fork and join events are its own, gone once it ended: the graph
	 * holds the order they made, not them.
	 */
	capture_status(r.s1, "s1 before", cudaStreamCaptureStatusNone, NULL);
	CK(cudaEventCreateWithFlags(&r.fork, cudaEventDisableTiming));
	CK(cudaEventCreateWithFlags(&r.join, cudaEventDisableTiming));
	CK(cudaStreamBeginCapture(r.s1, cudaStreamCaptureModeGlobal));
	capture_status(r.s1, "s1 capturing", cudaStreamCaptureStatusActive, &id1);
	work(&r);
	CK(cudaEventRecord(r.fork, r.s1));
	CK(cudaStreamWaitEvent(r.s2, r.fork, 0));
	capture_status(r.s2, "s2 joined", cudaStreamCaptureStatusActive, &id2);
	CK(cudaEventRecord(r.join, r.s2));
	CK(cudaStreamWaitEvent(r.s1, r.join, 0));
	if (!id1 || id1 != id2)
		xt_fail("capture ids: s1 %llu, s2 %llu (want one, not 0)", id1, id2);
	CK(cudaStreamEndCapture(r.s1, &g));
	if (!g)
		xt_fail("cudaStreamEndCapture gave no graph");
	CK(cudaEventDestroy(r.fork));
	CK(cudaEventDestroy(r.join));
	r.fork = fork;
	r.join = join;
	capture_status(r.s1, "s1 after", cudaStreamCaptureStatusNone, NULL);
	capture_status(r.s2, "s2 after", cudaStreamCaptureStatusNone, NULL);
	{
		size_t nodes = 0;

		CK(cudaGraphGetNodes(g, NULL, &nodes));
		printf("captured: %zu nodes\n", nodes);
	}

	CK(cudaGraphInstantiate(&ge, g, 0));
	CK(cudaGraphDestroy(g));
	/* updated from the same work captured with another constant; not from another shape */
	{
		cudaGraphExecUpdateResultInfo info;

		mix_k = 11;
		CK(cudaStreamBeginCapture(r.s1, cudaStreamCaptureModeGlobal));
		work(&r);
		CK(cudaEventRecord(r.fork, r.s1));
		CK(cudaStreamWaitEvent(r.s2, r.fork, 0));
		CK(cudaEventRecord(r.join, r.s2));
		CK(cudaStreamWaitEvent(r.s1, r.join, 0));
		CK(cudaStreamEndCapture(r.s1, &g));
		CK(cudaGraphExecUpdate(ge, g, &info));
		printf("graph updated: result %d\n", (int)info.result);
		CK(cudaGraphDestroy(g));
		CK(cudaStreamBeginCapture(r.s1, cudaStreamCaptureModeGlobal));
		CK(cudaMemsetAsync(r.z, 0, bytes, r.s1));
		CK(cudaStreamEndCapture(r.s1, &g));
		e1 = cudaGraphExecUpdate(ge, g, &info);
		(void)cudaGetLastError();
		printf("update from a graph of another shape: %s, result %d\n", cudaGetErrorName(e1),
		       (int)info.result);
		CK(cudaGraphDestroy(g));
	}
	CK(cudaGraphUpload(ge, r.s1));
	/* a graph launched inside a capture: refused there and then */
	CK(cudaStreamBeginCapture(r.s1, cudaStreamCaptureModeGlobal));
	e1 = cudaGraphLaunch(ge, r.s1);
	e2 = cudaStreamEndCapture(r.s1, &bad);
	(void)cudaGetLastError();
	printf("graph launched while capturing: %s, then %s, graph %s\n", cudaGetErrorName(e1),
	       cudaGetErrorName(e2), bad ? "made" : "none");
	for (; k < rounds; k++) {
		cudaStream_t s = k % 2 ? r.s2 : r.s1;

		round_in(&r, k);
		if (s == r.s2) {
			CK(cudaEventRecord(r.fork, r.s1));
			CK(cudaStreamWaitEvent(r.s2, r.fork, 0));
		}
		CK(cudaGraphLaunch(ge, s));
		CK(cudaStreamSynchronize(s));
		round_check(&r, k, s == r.s1 ? "graph on s1" : "graph on s2");
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}

	/* a synchronize inside a capture invalidates it */
	CK(cudaStreamBeginCapture(r.s2, cudaStreamCaptureModeGlobal));
	e1 = cudaStreamSynchronize(r.s2);
	e2 = cudaStreamEndCapture(r.s2, &bad);
	(void)cudaGetLastError();
	printf("synchronize while capturing: %s, then %s, graph %s\n", cudaGetErrorName(e1),
	       cudaGetErrorName(e2), bad ? "made" : "none");

	CK(cudaGraphExecDestroy(ge));
	printf("graphs destroyed\n");
	fflush(stdout);
	for (long end = k + after; k < end; k++) {
		round_in(&r, k);
		work(&r);
		CK(cudaStreamSynchronize(r.s1));
		round_check(&r, k, "eager");
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	return xt_pass();
}
