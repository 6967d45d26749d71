/*
 * blas_gemm.cu - cuBLAS through xmig: a handle on a user stream with a
 * workspace, Sgemm and Dgemm with every transpose pair, strided batches,
 * GemmEx in float, scalars in device memory (pointer mode device), and the
 * argument errors cuBLAS gives at once. Inputs are small integers, so every
 * product and sum is exact in any order and the results equal a CPU
 * reference bit for bit, on any GPU and on the sim device.
 * With --iters N the whole set runs N times, --sleep-ms apart (a process to
 * move while its handle lives: each round is checked again).
 * --capture instead captures one Sgemm (handle on the capture's stream,
 * alpha and beta in device memory) into a CUDA graph, then sets the handle
 * to another stream with host scalars; each round writes new A, alpha and
 * beta, launches the graph and checks C, then checks an eager Sgemm on
 * the handle as it is now. A new proxy must capture the GEMM with the
 * handle's settings of the capture to make the graph again. --update too:
 * before each round the GEMM is captured again into the round's output (C
 * or E, in turn) and the executable graph updated from that capture
 * (cudaGraphExecUpdate), so a graph not updated writes the wrong one.
 * cublasSetStream gives the handle's workspace back to cuBLAS's own pool:
 * --capture then keeps its own bytes in what was the workspace and checks
 * them each round, so a proxy that still hands cuBLAS that memory is caught.
 *
 *   blas_gemm [--iters N (1)] [--sleep-ms N (0)] [--capture [--update]]
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cublas_v2.h>

#include "xtest.h"

static void bk(cublasStatus_t st, const char *what, int line)
{
	if (st != CUBLAS_STATUS_SUCCESS)
		xt_fail("line %d: %s returned %s", line, what, cublasGetStatusName(st));
}
#define BK(call) bk((call), #call, __LINE__)

static cublasHandle_t handle;
static cudaStream_t stream;
static void *ws;   /* the handle's workspace, until a cublasSetStream gives it back */
enum { WS_BYTES = 4 << 20 };

static double val(int i, int salt)
{
	return (double)((i * 7 + salt * 3) % 13 - 6);
}

/* op(X)(i, j) of a column-major matrix. */
static double at(const double *x, int ld, cublasOperation_t op, int i, int j)
{
	return op == CUBLAS_OP_N ? x[i + (size_t)j * ld] : x[j + (size_t)i * ld];
}

/*
 * One GEMM of each flavour at this shape: C = alpha op(A) op(B) + beta C,
 * on `batch` matrices. Returns a hash of the float results.
 */
static uint64_t gemm_case(int which, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			  int k, int batch, double alpha, double beta, int round)
{
	int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
	int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
	int lda = ar + 3, ldb = br + 1, ldc = m + 2;
	size_t sa = (size_t)lda * ac, sb = (size_t)ldb * bc, sc = (size_t)ldc * n;
	double *A = (double *)xt_malloc(sa * batch * sizeof(double));
	double *B = (double *)xt_malloc(sb * batch * sizeof(double));
	double *C = (double *)xt_malloc(sc * batch * sizeof(double));
	double *R = (double *)xt_malloc(sc * batch * sizeof(double));
	bool dbl = which == 1;
	size_t es = dbl ? sizeof(double) : sizeof(float);
	size_t most = sa > sb ? (sa > sc ? sa : sc) : (sb > sc ? sb : sc);
	void *hbuf = xt_malloc(most * batch * sizeof(double));
	void *dA, *dB, *dC;
	uint64_t h;

	for (size_t i = 0; i < sa * batch; i++) A[i] = val((int)i, 1 + round);
	for (size_t i = 0; i < sb * batch; i++) B[i] = val((int)i, 2);
	for (size_t i = 0; i < sc * batch; i++) C[i] = val((int)i, 3);
	for (int bi = 0; bi < batch; bi++)
		for (int j = 0; j < n; j++)
			for (int i = 0; i < m; i++) {
				double sum = 0;

				for (int l = 0; l < k; l++)
					sum += at(A + bi * sa, lda, ta, i, l) * at(B + bi * sb, ldb, tb, l, j);
				size_t o = bi * sc + i + (size_t)j * ldc;
				R[o] = alpha * sum + beta * C[o];
			}
	/* Outside the m rows (padding up to ld), C must stay as it was. */
	for (int bi = 0; bi < batch; bi++)
		for (int j = 0; j < n; j++)
			for (int i = m; i < ldc; i++)
				R[bi * sc + i + (size_t)j * ldc] = C[bi * sc + i + (size_t)j * ldc];

	CK(cudaMalloc(&dA, sa * batch * es));
	CK(cudaMalloc(&dB, sb * batch * es));
	CK(cudaMalloc(&dC, sc * batch * es));
#define UPLOAD(T, dst, src, cnt)                                                       \
	do {                                                                           \
		T *t_ = (T *)hbuf;                                                     \
		for (size_t i_ = 0; i_ < (cnt); i_++) t_[i_] = (T)(src)[i_];          \
		CK(cudaMemcpyAsync(dst, hbuf, (cnt) * sizeof(T), cudaMemcpyHostToDevice, stream)); \
		CK(cudaStreamSynchronize(stream));                                     \
	} while (0)
	if (dbl) {
		UPLOAD(double, dA, A, sa * batch);
		UPLOAD(double, dB, B, sb * batch);
		UPLOAD(double, dC, C, sc * batch);
	} else {
		UPLOAD(float, dA, A, sa * batch);
		UPLOAD(float, dB, B, sb * batch);
		UPLOAD(float, dC, C, sc * batch);
	}
	float fa = (float)alpha, fb = (float)beta;
	switch (which) {
	case 0:   /* Sgemm, or its strided batch */
		if (batch == 1)
			BK(cublasSgemm(handle, ta, tb, m, n, k, &fa, (float *)dA, lda, (float *)dB,
				       ldb, &fb, (float *)dC, ldc));
		else
			BK(cublasSgemmStridedBatched(handle, ta, tb, m, n, k, &fa, (float *)dA, lda,
						     sa, (float *)dB, ldb, sb, &fb, (float *)dC,
						     ldc, sc, batch));
		break;
	case 1:   /* Dgemm, or its strided batch */
		if (batch == 1)
			BK(cublasDgemm(handle, ta, tb, m, n, k, &alpha, (double *)dA, lda,
				       (double *)dB, ldb, &beta, (double *)dC, ldc));
		else
			BK(cublasDgemmStridedBatched(handle, ta, tb, m, n, k, &alpha, (double *)dA,
						     lda, sa, (double *)dB, ldb, sb, &beta,
						     (double *)dC, ldc, sc, batch));
		break;
	case 2:   /* GemmEx in float, or its strided batch */
		if (batch == 1)
			BK(cublasGemmEx(handle, ta, tb, m, n, k, &fa, dA, CUDA_R_32F, lda, dB,
					CUDA_R_32F, ldb, &fb, dC, CUDA_R_32F, ldc,
					CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
		else
			BK(cublasGemmStridedBatchedEx(handle, ta, tb, m, n, k, &fa, dA, CUDA_R_32F,
						      lda, sa, dB, CUDA_R_32F, ldb, sb, &fb, dC,
						      CUDA_R_32F, ldc, sc, batch,
						      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
		break;
	case 3: { /* Sgemm with alpha and beta in device memory */
		float *scal;

		CK(cudaMalloc(&scal, 2 * sizeof(float)));
		float hs[2] = { fa, fb };
		CK(cudaMemcpy(scal, hs, sizeof(hs), cudaMemcpyHostToDevice));
		BK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_DEVICE));
		BK(cublasSgemm(handle, ta, tb, m, n, k, scal, (float *)dA, lda, (float *)dB, ldb,
			       scal + 1, (float *)dC, ldc));
		BK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
		CK(cudaStreamSynchronize(stream));
		CK(cudaFree(scal));
		break;
	}
	}
	CK(cudaMemcpyAsync(hbuf, dC, sc * batch * es, cudaMemcpyDeviceToHost, stream));
	CK(cudaStreamSynchronize(stream));
	for (size_t i = 0; i < sc * batch; i++) {
		double got = dbl ? ((double *)hbuf)[i] : (double)((float *)hbuf)[i];

		if (got != R[i])
			xt_fail("gemm %d %c%c %dx%dx%d batch %d: C[%zu] is %g, not %g", which,
				"NTC"[ta], "NTC"[tb], m, n, k, batch, i, got, R[i]);
	}
	h = xt_hash(hbuf, sc * batch * es);
	CK(cudaFree(dA));
	CK(cudaFree(dB));
	CK(cudaFree(dC));
	free(A), free(B), free(C), free(R), free(hbuf);
	return h;
}

static void round_of_gemms(int round, bool print)
{
	static const cublasOperation_t ops[] = { CUBLAS_OP_N, CUBLAS_OP_T };
	static const int shapes[][3] = { { 1, 1, 1 }, { 64, 64, 64 }, { 129, 65, 257 }, { 7, 300, 33 } };
	static const char *const names[] = { "sgemm", "dgemm", "gemmex", "sgemm-devptr" };

	for (int which = 0; which < 4; which++)
		for (int s = 0; s < 4; s++)
			for (int a = 0; a < 2; a++)
				for (int b = 0; b < 2; b++) {
					int batch = which < 3 && s == 1 ? 3 : 1;
					double alpha = s == 2 ? -1 : 2, beta = s % 2 ? 1 : 0;
					uint64_t h = gemm_case(which, ops[a], ops[b], shapes[s][0],
							       shapes[s][1], shapes[s][2], batch,
							       alpha, beta, round);
					if (print)
						printf("%s %c%c %dx%dx%d batch %d hash=%016llx\n",
						       names[which], "NT"[a], "NT"[b], shapes[s][0],
						       shapes[s][1], shapes[s][2], batch,
						       (unsigned long long)h);
				}
}

/* C = alpha A B^T + beta C (n x n) of the CPU, to compare. */
static void reference(const float *A, const float *B, const float *C, float alpha, float beta,
		      int n, float *R)
{
	for (int j = 0; j < n; j++)
		for (int i = 0; i < n; i++) {
			float sum = 0;

			for (int l = 0; l < n; l++)
				sum += A[i + l * n] * B[j + l * n];
			R[i + j * n] = alpha * sum + beta * C[i + j * n];
		}
}

static void expect(const float *got, const float *want, size_t n, const char *what, long r)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			xt_fail("round %ld: %s[%zu] is %g, not %g", r, what, i, got[i], want[i]);
}

/* The captured GEMM: C = s[0] A B^T + s[1] C, scalars in device memory, on stream. */
static cudaGraph_t capture_gemm(int n, const float *dS, const float *dA, const float *dB,
				float *dC)
{
	cudaGraph_t graph;

	BK(cublasSetStream(handle, stream));
	BK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_DEVICE));
	CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
	BK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, dS, dA, n, dB, n, dS + 1, dC, n));
	CK(cudaStreamEndCapture(stream, &graph));
	return graph;
}

/* Byte i of what the program keeps in the workspace cublasSetStream gave back. */
static unsigned char kept_byte(size_t i)
{
	return (unsigned char)(i * 7 + 1);
}

/* The workspace given back: the program's bytes, for cuBLAS to leave alone. */
static void check_workspace_kept(long r)
{
	unsigned char *got = (unsigned char *)xt_malloc(WS_BYTES);

	CK(cudaMemcpy(got, ws, WS_BYTES, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < WS_BYTES; i++)
		if (got[i] != kept_byte(i))
			xt_fail("round %ld: byte %zu of the former workspace is %#x, not %#x: cuBLAS "
				"used it after cublasSetStream gave it back", r, i, got[i], kept_byte(i));
	free(got);
}

/* --capture: see the top of the file. */
static void run_captured(long iters, long sleep_ms, bool update)
{
	enum { n = 48 };
	size_t bytes = n * n * sizeof(float);
	float *A = (float *)xt_malloc(bytes), *B = (float *)xt_malloc(bytes);
	float *C0 = (float *)xt_malloc(bytes), *got = (float *)xt_malloc(bytes);
	float *R = (float *)xt_malloc(bytes), *zero = (float *)xt_malloc(bytes);
	float *dA, *dB, *dC, *dD, *dE, *dS, *out, one = 1, none = 0;
	cudaStream_t other;
	cudaGraph_t graph;
	cudaGraphExec_t exec;

	for (int i = 0; i < n * n; i++) {
		B[i] = (float)val(i, 2);
		C0[i] = (float)val(i, 3);
		zero[i] = 0;
	}
	CK(cudaMalloc(&dA, bytes));
	CK(cudaMalloc(&dB, bytes));
	CK(cudaMalloc(&dC, bytes));
	CK(cudaMalloc(&dD, bytes));
	CK(cudaMalloc(&dE, bytes));
	CK(cudaMalloc(&dS, 2 * sizeof(float)));
	CK(cudaMemcpy(dB, B, bytes, cudaMemcpyHostToDevice));
	CK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
	graph = capture_gemm(n, dS, dA, dB, dC);
	CK(cudaGraphInstantiate(&exec, graph, 0));
	CK(cudaGraphDestroy(graph));
	BK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
	BK(cublasSetStream(handle, other));
	{
		unsigned char *mine = (unsigned char *)xt_malloc(WS_BYTES);

		for (size_t i = 0; i < WS_BYTES; i++)
			mine[i] = kept_byte(i);
		CK(cudaMemcpy(ws, mine, WS_BYTES, cudaMemcpyHostToDevice));
		free(mine);
	}
	printf("captured: one Sgemm, scalars in device memory; the handle on another stream since\n");
	for (long r = 0; r < iters; r++) {
		float s[2] = { (float)(r % 3 + 1), (float)(r % 2) };

		out = update && r % 2 ? dE : dC;
		if (update) {
			cudaGraphExecUpdateResultInfo info;

			graph = capture_gemm(n, dS, dA, dB, out);
			CK(cudaGraphExecUpdate(exec, graph, &info));
			CK(cudaGraphDestroy(graph));
			BK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
			BK(cublasSetStream(handle, other));
		}
		for (int i = 0; i < n * n; i++)
			A[i] = (float)val(i, (int)(r % 5) + 1);
		CK(cudaMemcpy(dA, A, bytes, cudaMemcpyHostToDevice));
		CK(cudaMemcpy(dC, C0, bytes, cudaMemcpyHostToDevice));
		CK(cudaMemcpy(dE, C0, bytes, cudaMemcpyHostToDevice));
		CK(cudaMemcpy(dS, s, sizeof(s), cudaMemcpyHostToDevice));   /* read at the launch */
		CK(cudaGraphLaunch(exec, stream));
		CK(cudaStreamSynchronize(stream));
		CK(cudaMemcpy(got, out, bytes, cudaMemcpyDeviceToHost));
		reference(A, B, C0, s[0], s[1], n, R);
		expect(got, R, n * n, "the graph's C", r);
		BK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, &one, dA, n, dB, n, &none,
			       dD, n));
		CK(cudaStreamSynchronize(other));
		CK(cudaMemcpy(got, dD, bytes, cudaMemcpyDeviceToHost));
		reference(A, B, zero, 1, 0, n, R);
		expect(got, R, n * n, "the eager D", r);
		check_workspace_kept(r);
		printf("graph round %ld: C = %g A B^T + %g C; the eager GEMM after it, on the other "
		       "stream, as computed here\n", r, s[0], s[1]);
		if (sleep_ms) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	CK(cudaGraphExecDestroy(exec));
	CK(cudaStreamDestroy(other));
	CK(cudaFree(dA)), CK(cudaFree(dB)), CK(cudaFree(dC)), CK(cudaFree(dD)), CK(cudaFree(dE));
	CK(cudaFree(dS));
	free(A), free(B), free(C0), free(got), free(R), free(zero);
	printf("graph rounds %ld checked\n", iters);
}

int main(int argc, char **argv)
{
	long iters = 1, sleep_ms = 0;
	bool capture = false, update = false;

	xt_begin("blas_gemm");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 60000, &sleep_ms)) {
			if (!strcmp(argv[i], "--capture"))
				capture = true;
			else if (!strcmp(argv[i], "--update"))
				update = true;
			else
				xt_fail("usage: blas_gemm [--iters N] [--sleep-ms N] [--capture [--update]]");
		}

	if (update && !capture)
		xt_fail("--update goes with --capture");
	BK(cublasCreate(&handle));
	CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
	BK(cublasSetStream(handle, stream));
	CK(cudaMalloc(&ws, WS_BYTES));
	BK(cublasSetWorkspace(handle, ws, WS_BYTES));
	cudaStream_t got;
	cublasMath_t math;
	BK(cublasGetStream(handle, &got));
	BK(cublasGetMathMode(handle, &math));
	printf("stream kept %d, math mode default %d\n", got == stream, math == CUBLAS_DEFAULT_MATH);
	if (capture) {
		run_captured(iters, sleep_ms, update);
		BK(cublasDestroy(handle));
		CK(cudaStreamDestroy(stream));
		CK(cudaFree(ws));
		return xt_pass();
	}

	/*
	 * Errors cuBLAS reports at once. NVIDIA's library also prints a line
	 * about them on stdout ("** On entry to SGEMM ..."), which is not part
	 * of what is compared: stdout is closed meanwhile.
	 */
	float one = 1;
	cublasStatus_t e[3];
	fflush(stdout);
	int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 1);
	e[0] = cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, (float *)ws, 4,
			   (float *)ws, 8, &one, (float *)ws, 8);
	e[1] = cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, -1, 8, 8, &one, (float *)ws, 8,
			   (float *)ws, 8, &one, (float *)ws, 8);
	e[2] = cublasSgemm(NULL, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, (float *)ws, 8,
			   (float *)ws, 8, &one, (float *)ws, 8);
	fflush(stdout);
	dup2(saved, 1);
	close(saved), close(devnull);
	printf("lda too small: %s\n", cublasGetStatusName(e[0]));
	printf("negative m: %s\n", cublasGetStatusName(e[1]));
	printf("no handle: %s\n", cublasGetStatusName(e[2]));

	for (long r = 0; r < iters; r++) {
		round_of_gemms((int)(r % 5), r == 0);
		if (sleep_ms) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	printf("rounds %ld checked\n", iters);
	BK(cublasDestroy(handle));
	CK(cudaStreamDestroy(stream));
	CK(cudaFree(ws));
	return xt_pass();
}
