/*
 * nccl_ops.cu - NCCL through xmig: a communicator (of one rank by default,
 * or --nranks N with the unique id passed through --id-file), and each
 * round the collectives PyTorch's DDP uses: all-reduce (sum, average,
 * PreMulSum with a host scalar, in float, double and int32), broadcast,
 * all-gather, reduce-scatter, and a group of a send to the next rank
 * and a receive from the one before (itself, with one rank); the async
 * error is checked after every round.
 * A PreMulSum op made in one round is destroyed in the next.
 * Inputs are small integers, so every result is exact and is checked
 * against a CPU reference, on any GPU and on the sim device.
 * With --iters N it runs N rounds, --sleep-ms apart (a process to move
 * while its communicator lives). With --graph-rank R, rank R captures its
 * round's first all-reduce into a CUDA graph once and launches the graph
 * each round instead (its peers call it): xmig's cut counts the graph's
 * launches, and after a re-link the rank captures the graph again on the
 * new communicator, whether it moved or stayed. --graph-all: every rank
 * does so. With --graph-drop too, the graph is destroyed at once, never
 * launched, and rank R calls its all-reduce like its peers. With
 * --graph-premul, the graph's all-reduce is a PreMulSum by 1 (an op made
 * once, before the capture), which each replay of xmig's makes again for
 * itself. --open-capture-ms N: before the first round every rank waits
 * N ms, rank 0 holding a capture with an all-reduce in it open meanwhile
 * (then dropped): the job is not cut while it is open. --late-rank R
 * --late-ms N: rank R waits N ms after the communicator is made, so its
 * peers wait that long in their first collective (NCCL connecting).
 * --pause-file F: while F exists, each rank waits after its round (with
 * --pause-rank R, only rank R: its peers go on into their next collective
 * and wait there for it).
 * --split: a communicator split from it (one colour, ranks in reverse
 * order) all-reduces too each round, and is destroyed at the end.
 * --hold-file F: before its last round each rank waits while F exists, so
 * that a test's last command finds the job still running, however slowly
 * the machine runs it.
 * --linger-file F: once its communicators are destroyed, the process says
 * so and waits while F exists before it frees its memory and ends (a job
 * that ended its process group and goes on).
 *
 *   nccl_ops [--iters N (1)] [--sleep-ms N (0)] [--nranks N --rank R --id-file F]
 *            [--graph-rank R | --graph-all] [--graph-drop] [--graph-premul]
 *            [--open-capture-ms N] [--late-rank R --late-ms N]
 *            [--pause-file F [--pause-rank R]] [--hold-file F]
 *            [--split] [--linger-file F]
 */
#include <time.h>
#include <unistd.h>

#include <nccl.h>

#include "xtest.h"

#define N 4096

static void nk(ncclResult_t st, const char *what, int line)
{
	if (st != ncclSuccess)
		xt_fail("line %d: %s returned %s", line, what, ncclGetErrorString(st));
}
#define NK(call) nk((call), #call, __LINE__)

static int nranks = 1, rank;

static float val(int i, int r, int round)
{
	return (float)((i * 7 + r * 3 + round) % 13 - 6);
}

static void fill(float *h, int r, int round, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] = val((int)i, r, round);
}

/* What summing every rank's fill of a round gives. */
static void sum_of_ranks(float *want, int round)
{
	for (int i = 0; i < N; i++) {
		want[i] = 0;
		for (int r = 0; r < nranks; r++)
			want[i] += val(i, r, round);
	}
}

static void expect(const float *got, const float *want, size_t n, const char *what, int round)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			xt_fail("round %d: %s element %zu is %g, want %g", round, what, i, got[i],
				want[i]);
}

static void get_id(const char *file, ncclUniqueId *id)
{
	char tmp[512];
	FILE *f;

	if (rank == 0) {
		NK(ncclGetUniqueId(id));
		snprintf(tmp, sizeof(tmp), "%s.tmp", file);
		if (!(f = fopen(tmp, "w")) || fwrite(id, sizeof(*id), 1, f) != 1 || fclose(f) ||
		    rename(tmp, file))
			xt_fail("cannot write %s", file);
		return;
	}
	for (int i = 0; i < 6000; i++) {
		if ((f = fopen(file, "r"))) {
			size_t got = fread(id, sizeof(*id), 1, f);

			fclose(f);
			if (got == 1)
				return;
		}
		usleep(10000);
	}
	xt_fail("no unique id in %s", file);
}

int main(int argc, char **argv)
{
	long iters = 1, sleep_ms = 0, nr = 1, rk = 0, graph_rank = -1, open_ms = 0;
	long late_rank = -1, late_ms = 0, pause_rank = -1;
	cudaGraphExec_t graph = NULL;
	bool graph_drop = false, graph_all = false, graph_premul = false, split = false;
	ncclComm_t sub = NULL;
	ncclRedOp_t graph_op = ncclSum;
	const char *id_file = NULL, *pause_file = NULL, *linger_file = NULL, *hold_file = NULL;
	ncclComm_t comm;
	ncclRedOp_t held = ncclSum;   /* the last round's PreMulSum */
	ncclUniqueId id;
	cudaStream_t s;
	float *d_in, *d_out, *d_big, *h_in, *h_out, *want, *h_big;
	double *d_dbl, h_dbl[N];
	int *d_int, h_int[N];
	int count, me;

	const struct { const char *name; bool *on; } flags[] = {
		{ "--split", &split }, { "--graph-drop", &graph_drop },
		{ "--graph-all", &graph_all }, { "--graph-premul", &graph_premul },
	};
	size_t k;

	xt_begin("nccl_ops");
	for (int i = 1; i < argc; i++) {
		if (xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) ||
		    xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 100000, &sleep_ms) ||
		    xt_opt_long(argc, argv, &i, "--nranks", 1, 64, &nr) ||
		    xt_opt_long(argc, argv, &i, "--rank", 0, 63, &rk) ||
		    xt_opt_long(argc, argv, &i, "--graph-rank", 0, 63, &graph_rank) ||
		    xt_opt_long(argc, argv, &i, "--open-capture-ms", 0, 600000, &open_ms) ||
		    xt_opt_long(argc, argv, &i, "--late-rank", 0, 63, &late_rank) ||
		    xt_opt_long(argc, argv, &i, "--late-ms", 0, 600000, &late_ms) ||
		    xt_opt_long(argc, argv, &i, "--pause-rank", 0, 63, &pause_rank))
			continue;
		if (!strcmp(argv[i], "--pause-file") && i + 1 < argc) {
			pause_file = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--hold-file") && i + 1 < argc) {
			hold_file = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--linger-file") && i + 1 < argc) {
			linger_file = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--id-file") && i + 1 < argc) {
			id_file = argv[++i];
			continue;
		}
		for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
			if (!strcmp(argv[i], flags[k].name)) {
				*flags[k].on = true;
				break;
			}
		if (k == sizeof(flags) / sizeof(flags[0]))
			xt_fail("unknown option %s", argv[i]);
	}
	nranks = (int)nr;
	rank = (int)rk;
	if (nranks > 1 && !id_file)
		xt_fail("--nranks needs --id-file");
	if (nranks > 1)
		get_id(id_file, &id);
	else
		NK(ncclGetUniqueId(&id));
	CK(cudaSetDevice(0));
	CK(cudaStreamCreate(&s));
	NK(ncclCommInitRank(&comm, nranks, id, rank));
	NK(ncclCommCount(comm, &count));
	NK(ncclCommUserRank(comm, &me));
	if (count != nranks || me != rank)
		xt_fail("communicator of %d ranks, rank %d", count, me);
	printf("communicator: %d ranks\n", count);
	fflush(stdout);
	if (rank == late_rank)
		usleep((useconds_t)late_ms * 1000);
	if (split) {
		int sc, sr;

		NK(ncclCommSplit(comm, 0, nranks - 1 - rank, &sub, NULL));
		NK(ncclCommCount(sub, &sc));
		NK(ncclCommUserRank(sub, &sr));
		if (sc != nranks || sr != nranks - 1 - rank)
			xt_fail("split: %d ranks, rank %d", sc, sr);
		printf("split: %d ranks, reversed\n", sc);
	}

	CK(cudaMalloc(&d_in, N * sizeof(float)));
	CK(cudaMalloc(&d_out, N * sizeof(float)));
	CK(cudaMalloc(&d_big, (size_t)N * nranks * sizeof(float)));
	CK(cudaMalloc(&d_dbl, N * sizeof(double)));
	CK(cudaMalloc(&d_int, N * sizeof(int)));
	h_in = (float *)xt_malloc(N * sizeof(float));
	h_out = (float *)xt_malloc((size_t)N * nranks * sizeof(float));
	want = (float *)xt_malloc((size_t)N * nranks * sizeof(float));
	h_big = (float *)xt_malloc((size_t)N * nranks * sizeof(float));
	if (graph_rank == rank || graph_all) {
		cudaGraph_t g;
		float one = 1;

		if (graph_premul)
			NK(ncclRedOpCreatePreMulSum(&graph_op, &one, ncclFloat, ncclScalarHostImmediate,
						    comm));
		CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		NK(ncclAllReduce(d_in, d_out, N, ncclFloat, graph_op, comm, s));
		CK(cudaStreamEndCapture(s, &g));
		CK(cudaGraphInstantiate(&graph, g, 0));
		CK(cudaGraphDestroy(g));
		if (graph_drop) {
			CK(cudaGraphExecDestroy(graph));
			graph = NULL;
		}
	}

	if (open_ms) {
		cudaGraph_t g;

		/* connected first: the capture's all-reduce then waits for no peer in the call */
		CK(cudaMemsetAsync(d_in, 0, N * sizeof(float), s));
		NK(ncclAllReduce(d_in, d_out, N, ncclFloat, ncclSum, comm, s));
		CK(cudaStreamSynchronize(s));
		if (rank == 0) {
			CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
			NK(ncclAllReduce(d_in, d_out, N, ncclFloat, ncclSum, comm, s));
			printf("capture open\n");
			fflush(stdout);
		}
		usleep((useconds_t)open_ms * 1000);
		if (rank == 0) {
			CK(cudaStreamEndCapture(s, &g));
			CK(cudaGraphDestroy(g));
		}
	}

	for (int round = 0; round < iters; round++) {
		float scalar;
		ncclRedOp_t premul;
		ncclResult_t async;

		while (round == iters - 1 && hold_file && access(hold_file, F_OK) == 0)
			usleep(10000);
		/* all-reduce, sum */
		fill(h_in, rank, round, N);
		CK(cudaMemcpyAsync(d_in, h_in, N * sizeof(float), cudaMemcpyHostToDevice, s));
		/* (the last round left this very result there: one not made must show) */
		CK(cudaMemsetAsync(d_out, 0xff, N * sizeof(float), s));
		if (graph)
			CK(cudaGraphLaunch(graph, s));
		else
			NK(ncclAllReduce(d_in, d_out, N, ncclFloat, ncclSum, comm, s));
		CK(cudaMemcpyAsync(h_out, d_out, N * sizeof(float), cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		sum_of_ranks(want, round);
		expect(h_out, want, N, "all-reduce sum", round);

		/*
		 * all-reduce in place, PreMulSum (what DDP divides gradients
		 * with): made each round with its own scalar (exact: the inputs
		 * are small), the last round's destroyed after it, so one is
		 * held between rounds and a move finds it changed since its
		 * prelude.
		 */
		scalar = 0.5f + (float)(round % 64);
		NK(ncclRedOpCreatePreMulSum(&premul, &scalar, ncclFloat, ncclScalarHostImmediate,
					    comm));
		if (round > 0)
			NK(ncclRedOpDestroy(held, comm));
		held = premul;
		NK(ncclAllReduce(d_in, d_in, N, ncclFloat, premul, comm, s));
		CK(cudaMemcpyAsync(h_out, d_in, N * sizeof(float), cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		for (int i = 0; i < N; i++)
			want[i] *= scalar;
		expect(h_out, want, N, "all-reduce PreMulSum", round);

		/* average in double, sum in int32 */
		for (int i = 0; i < N; i++) {
			h_dbl[i] = 2.0 * nranks * val(i, 0, round);
			h_int[i] = (int)val(i, rank, round);
		}
		CK(cudaMemcpyAsync(d_dbl, h_dbl, sizeof(h_dbl), cudaMemcpyHostToDevice, s));
		CK(cudaMemcpyAsync(d_int, h_int, sizeof(h_int), cudaMemcpyHostToDevice, s));
		NK(ncclAllReduce(d_dbl, d_dbl, N, ncclDouble, ncclAvg, comm, s));
		NK(ncclAllReduce(d_int, d_int, N, ncclInt32, ncclSum, comm, s));
		CK(cudaMemcpyAsync(h_dbl, d_dbl, sizeof(h_dbl), cudaMemcpyDeviceToHost, s));
		CK(cudaMemcpyAsync(h_int, d_int, sizeof(h_int), cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		for (int i = 0; i < N; i++) {
			int sum = 0;

			for (int r = 0; r < nranks; r++)
				sum += (int)val(i, r, round);
			if (h_dbl[i] != 2.0 * nranks * val(i, 0, round) || h_int[i] != sum)
				xt_fail("round %d: average or int sum wrong at %d", round, i);
		}

		/* broadcast from the last rank, all-gather, reduce-scatter */
		fill(h_in, rank, round + 1, N);
		CK(cudaMemcpyAsync(d_in, h_in, N * sizeof(float), cudaMemcpyHostToDevice, s));
		NK(ncclBroadcast(d_in, d_out, N, ncclFloat, nranks - 1, comm, s));
		NK(ncclAllGather(d_in, d_big, N, ncclFloat, comm, s));
		CK(cudaMemcpyAsync(h_out, d_out, N * sizeof(float), cudaMemcpyDeviceToHost, s));
		CK(cudaMemcpyAsync(h_big, d_big, (size_t)N * nranks * sizeof(float),
				   cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		fill(want, nranks - 1, round + 1, N);
		expect(h_out, want, N, "broadcast", round);
		for (int r = 0; r < nranks; r++)
			fill(want + (size_t)r * N, r, round + 1, N);
		expect(h_big, want, (size_t)N * nranks, "all-gather", round);
		NK(ncclReduceScatter(d_big, d_out, N, ncclFloat, ncclSum, comm, s));
		CK(cudaMemcpyAsync(h_out, d_out, N * sizeof(float), cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		for (int i = 0; i < N; i++)
			want[i] = (float)nranks * val(i, rank, round + 1);
		expect(h_out, want, N, "reduce-scatter", round);

		/* a group: send to the next rank, receive from the one before (itself, alone) */
		{
			int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;

			NK(ncclGroupStart());
			NK(ncclSend(d_in, N, ncclFloat, next, comm, s));
			NK(ncclRecv(d_out, N, ncclFloat, prev, comm, s));
			NK(ncclGroupEnd());
			CK(cudaMemcpyAsync(h_out, d_out, N * sizeof(float), cudaMemcpyDeviceToHost, s));
			CK(cudaStreamSynchronize(s));
			fill(want, prev, round + 1, N);
			expect(h_out, want, N, "send/recv", round);
		}
		/* the split communicator: its rank r is rank nranks - 1 - r here */
		if (sub) {
			fill(h_in, rank, round + 2, N);
			CK(cudaMemcpyAsync(d_in, h_in, N * sizeof(float), cudaMemcpyHostToDevice, s));
			NK(ncclAllReduce(d_in, d_out, N, ncclFloat, ncclSum, sub, s));
			CK(cudaMemcpyAsync(h_out, d_out, N * sizeof(float), cudaMemcpyDeviceToHost, s));
			CK(cudaStreamSynchronize(s));
			sum_of_ranks(want, round + 2);
			expect(h_out, want, N, "split all-reduce", round);
			NK(ncclCommGetAsyncError(sub, &async));
			if (async != ncclSuccess)
				xt_fail("round %d: split async error %s", round, ncclGetErrorString(async));
		}
		NK(ncclCommGetAsyncError(comm, &async));
		if (async != ncclSuccess)
			xt_fail("round %d: async error %s", round, ncclGetErrorString(async));
		if (pause_file && (pause_rank < 0 || pause_rank == rank) &&
		    access(pause_file, F_OK) == 0) {
			printf("paused after round %d\n", round);
			fflush(stdout);
			while (access(pause_file, F_OK) == 0)
				usleep(10000);
		}
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %ld checked\n", iters);
	if (graph)
		CK(cudaGraphExecDestroy(graph));
	if (graph_op != ncclSum)
		NK(ncclRedOpDestroy(graph_op, comm));
	if (iters > 0)
		NK(ncclRedOpDestroy(held, comm));
	if (sub)
		NK(ncclCommDestroy(sub));
	NK(ncclCommFinalize(comm));
	NK(ncclCommDestroy(comm));
	if (linger_file) {
		printf("communicators destroyed\n");
		fflush(stdout);
		while (access(linger_file, F_OK) == 0)
			usleep(10000);
	}
	CK(cudaFree(d_in));
	CK(cudaFree(d_out));
	CK(cudaFree(d_big));
	CK(cudaFree(d_dbl));
	CK(cudaFree(d_int));
	CK(cudaStreamDestroy(s));
	return xt_pass();
}
