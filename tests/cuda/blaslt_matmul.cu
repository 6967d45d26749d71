/*
 * blaslt_matmul.cu - cuBLASLt through xmig, the way PyTorch's addmm and
 * linear use it: an Lt handle, matmul descriptors, matrix layouts and a
 * preference made for each call, the heuristic's first algorithm, a
 * workspace, a user stream; also a cuBLAS handle cast to an Lt handle, which
 * cuBLAS allows and PyTorch does. Float and bfloat16 (A and B bfloat16, C and D
 * bfloat16 or float; compute in float), every transpose pair, strided
 * batches, alpha and beta (also in device memory), epilogues DEFAULT,
 * BIAS, RELU, RELU_BIAS, GELU and GELU_BIAS; attribute round trips and the
 * argument errors cuBLASLt gives at once. Inputs are small integers, so
 * every product and sum is exact in float in any order: results equal a
 * CPU reference bit for bit (bfloat16 outputs after the one rounding, to
 * nearest even), on any GPU and on the sim device, and their hashes are
 * printed. GELU's results depend on the device's tanh: they are checked
 * against the reference within a tolerance and not printed.
 * With --iters N the whole set runs N times, --sleep-ms apart (a process to
 * move while its handle and its long-lived descriptors live: each round is
 * checked again, with those descriptors too).
 *
 *   blaslt_matmul [--iters N (1)] [--sleep-ms N (0)]
 */
#include <math.h>
#include <time.h>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "xtest.h"

static void lk(cublasStatus_t st, const char *what, int line)
{
	if (st != CUBLAS_STATUS_SUCCESS)
		xt_fail("line %d: %s returned %s", line, what, cublasLtGetStatusName(st));
}
#define LK(call) lk((call), #call, __LINE__)

static cublasLtHandle_t handle;
static cublasHandle_t blas;   /* used as an Lt handle too, as PyTorch does */
static cudaStream_t stream;
static void *workspace;
static const size_t workspace_size = 4 << 20;

/* Made once, used every round: they must outlive moves of the process. */
static cublasLtMatmulDesc_t kept_desc;
static cublasLtMatrixLayout_t kept_a, kept_b, kept_c;
static cublasLtMatmulPreference_t kept_pref;

enum kind { F32, BF16, BF16_F32 };   /* A and B / C and D types */
static const char *const kind_names[] = { "f32", "bf16", "bf16-f32" };

static double val(int i, int salt)
{
	return (double)((i * 7 + salt * 3) % 13 - 6);
}

static uint16_t to_bf16(float f)
{
	uint32_t bits;

	memcpy(&bits, &f, sizeof(bits));
	bits += 0x7fff + ((bits >> 16) & 1);
	return (uint16_t)(bits >> 16);
}

static float from_bf16(uint16_t v)
{
	uint32_t bits = (uint32_t)v << 16;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

static double gelu(double x)
{
	return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* Host values to the device in type t (float or bfloat16). */
static void *upload(const double *v, size_t n, cudaDataType t)
{
	size_t es = t == CUDA_R_16BF ? 2 : 4;
	unsigned char *h = (unsigned char *)xt_malloc(n * es);
	void *d;

	for (size_t i = 0; i < n; i++) {
		if (t == CUDA_R_16BF)
			((uint16_t *)h)[i] = to_bf16((float)v[i]);
		else
			((float *)h)[i] = (float)v[i];
	}
	CK(cudaMalloc(&d, n * es));
	CK(cudaMemcpyAsync(d, h, n * es, cudaMemcpyHostToDevice, stream));
	CK(cudaStreamSynchronize(stream));
	free(h);
	return d;
}

static cublasLtMatrixLayout_t layout(cudaDataType t, int rows, int cols, int ld, int batch,
				     long long stride)
{
	cublasLtMatrixLayout_t l;

	LK(cublasLtMatrixLayoutCreate(&l, t, rows, cols, ld));
	if (batch > 1) {
		LK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
						    sizeof(batch)));
		LK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
						    &stride, sizeof(stride)));
	}
	return l;
}

/* A preference as PyTorch makes one; reductions only in float (exact). */
static cublasLtMatmulPreference_t preference(void)
{
	cublasLtMatmulPreference_t p;
	uint64_t ws = workspace_size;
	uint32_t mask = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;

	LK(cublasLtMatmulPreferenceCreate(&p));
	LK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
						sizeof(ws)));
	LK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
						&mask, sizeof(mask)));
	return p;
}

struct gemm {
	enum kind kind;
	cublasOperation_t ta, tb;
	int m, n, k, batch;
	cublasLtEpilogue_t epilogue;
	double alpha, beta;
	bool scalars_on_device, kept;   /* kept: the long-lived descriptors */
	bool via_cublas;                /* on the cuBLAS handle, cast */
};

/*
 * D = epilogue(alpha op(A) op(B) + beta C + bias) on the device and on the
 * CPU; the device's D must equal the reference (GELU: be near it). Returns
 * a hash of D (0 for GELU).
 */
static uint64_t run_case(const struct gemm *g, int round)
{
	cudaDataType ab = g->kind == F32 ? CUDA_R_32F : CUDA_R_16BF;
	cudaDataType cd = g->kind == BF16 ? CUDA_R_16BF : CUDA_R_32F;
	bool ta = g->ta != CUBLAS_OP_N, tb = g->tb != CUBLAS_OP_N;
	int ar = ta ? g->k : g->m, ac = ta ? g->m : g->k, br = tb ? g->n : g->k, bc = tb ? g->k : g->n;
	int lda = ar + 1, ldb = br + 2, ldc = g->m + 3;
	long long sa = (long long)lda * ac, sb = (long long)ldb * bc, sc = (long long)ldc * g->n;
	bool bias = g->epilogue & CUBLASLT_EPILOGUE_BIAS, is_gelu = g->epilogue & CUBLASLT_EPILOGUE_GELU;
	size_t nc = (size_t)sc * g->batch, es = cd == CUDA_R_16BF ? 2 : 4;
	double *A = (double *)xt_malloc(sizeof(double) * sa * g->batch);
	double *B = (double *)xt_malloc(sizeof(double) * sb * g->batch);
	double *C = (double *)xt_malloc(sizeof(double) * nc);
	double *R = (double *)xt_malloc(sizeof(double) * nc);
	double *bv = (double *)xt_malloc(sizeof(double) * g->m * g->batch);
	unsigned char *got = (unsigned char *)xt_malloc(nc * es);
	uint64_t h = 0;

	for (long long i = 0; i < sa * g->batch; i++) A[i] = val((int)i, 1 + round);
	for (long long i = 0; i < sb * g->batch; i++) B[i] = val((int)i, 2);
	for (size_t i = 0; i < nc; i++) C[i] = val((int)i, 3);
	for (int i = 0; i < g->m * g->batch; i++) bv[i] = val(i, 4 + round);
	for (int b = 0; b < g->batch; b++)
		for (int j = 0; j < g->n; j++)
			for (int i = 0; i < g->m; i++) {
				double sum = 0, v;

				for (int l = 0; l < g->k; l++)
					sum += (ta ? A[b * sa + l + (size_t)i * lda] : A[b * sa + i + (size_t)l * lda]) *
					       (tb ? B[b * sb + j + (size_t)l * ldb] : B[b * sb + l + (size_t)j * ldb]);
				size_t o = b * sc + i + (size_t)j * ldc;
				v = g->alpha * sum + g->beta * C[o] + (bias ? bv[b * g->m + i] : 0);
				if ((g->epilogue & CUBLASLT_EPILOGUE_RELU) && v < 0)
					v = 0;
				if (is_gelu)
					v = gelu(v);
				R[o] = v;
			}
	/* D is C here (in place, as addmm does): rows past m keep C's values. */
	for (int b = 0; b < g->batch; b++)
		for (int j = 0; j < g->n; j++)
			for (int i = g->m; i < ldc; i++)
				R[b * sc + i + (size_t)j * ldc] = C[b * sc + i + (size_t)j * ldc];

	void *dA = upload(A, sa * g->batch, ab), *dB = upload(B, sb * g->batch, ab);
	void *dC = upload(C, nc, cd), *dbias = upload(bv, (size_t)g->m * g->batch, cd);
	float alpha = (float)g->alpha, beta = (float)g->beta, *dscal = NULL;
	cublasLtMatmulDesc_t desc = kept_desc;
	cublasLtMatrixLayout_t la = kept_a, lb = kept_b, lc = kept_c;
	cublasLtMatmulPreference_t pref = kept_pref;

	if (!g->kept) {   /* made afresh for this call, as PyTorch does */
		LK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
		LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &g->ta,
						  sizeof(g->ta)));
		LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &g->tb,
						  sizeof(g->tb)));
		la = layout(ab, ar, ac, lda, g->batch, sa);
		lb = layout(ab, br, bc, ldb, g->batch, sb);
		lc = layout(cd, g->m, g->n, ldc, g->batch, sc);
		pref = preference();
	}
	LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &g->epilogue,
					  sizeof(g->epilogue)));
	if (bias) {
		long long bstride = g->m;

		LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias,
						  sizeof(dbias)));
		if (g->batch > 1)
			LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE,
							  &bstride, sizeof(bstride)));
	}
	cublasLtPointerMode_t pm = g->scalars_on_device ? CUBLASLT_POINTER_MODE_DEVICE
							: CUBLASLT_POINTER_MODE_HOST;
	LK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof(pm)));
	if (g->scalars_on_device) {
		float hs[2] = { alpha, beta };

		CK(cudaMalloc(&dscal, sizeof(hs)));
		CK(cudaMemcpy(dscal, hs, sizeof(hs), cudaMemcpyHostToDevice));
	}

	cublasLtMatmulHeuristicResult_t res[4];
	cublasLtHandle_t lt = g->via_cublas ? (cublasLtHandle_t)blas : handle;
	int found = 0;
	LK(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 4, res, &found));
	if (found < 1 || found > 4 || res[0].state != CUBLAS_STATUS_SUCCESS ||
	    res[0].workspaceSize > workspace_size)
		xt_fail("heuristic gave %d algorithms (first: state %d, workspace %zu)", found,
			res[0].state, res[0].workspaceSize);
	LK(cublasLtMatmul(lt, desc, g->scalars_on_device ? (void *)dscal : (void *)&alpha, dA,
			  la, dB, lb, g->scalars_on_device ? (void *)(dscal + 1) : (void *)&beta,
			  dC, lc, dC, lc, &res[0].algo, workspace, workspace_size, stream));
	CK(cudaMemcpyAsync(got, dC, nc * es, cudaMemcpyDeviceToHost, stream));
	CK(cudaStreamSynchronize(stream));

	/*
	 * A bfloat16 result may be rounded twice on a GPU (the product, then
	 * with the bias or C added): one unit in the last place either way,
	 * so such results are checked to that and not hashed.
	 */
	bool bf16_out = cd == CUDA_R_16BF;

	for (size_t i = 0; i < nc; i++) {
		double d = bf16_out ? from_bf16(((uint16_t *)got)[i]) : ((float *)got)[i];
		double want = bf16_out ? from_bf16(to_bf16((float)R[i])) : (float)R[i];
		double ulp = want ? ldexp(1.0, ilogb(want) - 7) : 0;
		bool ok = is_gelu ? fabs(d - R[i]) <= 1e-2 * (fabs(R[i]) > 1 ? fabs(R[i]) : 1)
			  : bf16_out ? fabs(d - want) <= ulp
				     : d == want;

		if (!ok)
			xt_fail("%s %c%c %dx%dx%d batch %d epilogue %d: D[%zu] is %.9g, not %.9g",
				kind_names[g->kind], "NT"[ta], "NT"[tb], g->m, g->n, g->k, g->batch,
				(int)g->epilogue, i, d, R[i]);
	}
	if (!is_gelu && !bf16_out) {
		/* -0 and +0 are the same result; a GPU kernel may give either */
		for (size_t i = 0; i < nc; i++)
			if (((float *)got)[i] == 0)
				((float *)got)[i] = 0;
		h = xt_hash(got, nc * es);
	}

	if (!g->kept) {
		LK(cublasLtMatmulPreferenceDestroy(pref));
		LK(cublasLtMatrixLayoutDestroy(la));
		LK(cublasLtMatrixLayoutDestroy(lb));
		LK(cublasLtMatrixLayoutDestroy(lc));
		LK(cublasLtMatmulDescDestroy(desc));
	}
	CK(cudaFree(dA));
	CK(cudaFree(dB));
	CK(cudaFree(dC));
	CK(cudaFree(dbias));
	if (dscal)
		CK(cudaFree(dscal));
	free(A), free(B), free(C), free(R), free(bv), free(got);
	return h;
}

static const char *epilogue_name(cublasLtEpilogue_t e)
{
	switch (e) {
	case CUBLASLT_EPILOGUE_DEFAULT: return "default";
	case CUBLASLT_EPILOGUE_BIAS: return "bias";
	case CUBLASLT_EPILOGUE_RELU: return "relu";
	case CUBLASLT_EPILOGUE_RELU_BIAS: return "relu-bias";
	case CUBLASLT_EPILOGUE_GELU: return "gelu";
	case CUBLASLT_EPILOGUE_GELU_BIAS: return "gelu-bias";
	default: return "?";
	}
}

static void report(const struct gemm *g, uint64_t h, bool print)
{
	if (!print)
		return;
	printf("%s %s %c%c %dx%dx%d batch %d%s%s ", kind_names[g->kind], epilogue_name(g->epilogue),
	       "NT"[g->ta != CUBLAS_OP_N], "NT"[g->tb != CUBLAS_OP_N], g->m, g->n, g->k, g->batch,
	       g->scalars_on_device ? " scalars-on-device" : g->kept ? " kept-descriptors" : "",
	       g->via_cublas ? " cublas-handle" : "");
	if (g->epilogue & CUBLASLT_EPILOGUE_GELU)
		printf("near the reference\n");
	else
		printf("hash=%016llx\n", (unsigned long long)h);
}

static void round_of_matmuls(int round, bool print)
{
	static const cublasOperation_t ops[] = { CUBLAS_OP_N, CUBLAS_OP_T };
	static const int shapes[][4] = { { 1, 1, 1, 1 }, { 64, 48, 40, 3 }, { 129, 65, 57, 1 } };
	static const cublasLtEpilogue_t epilogues[] = {
		CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_RELU, CUBLASLT_EPILOGUE_RELU_BIAS,
		CUBLASLT_EPILOGUE_GELU, CUBLASLT_EPILOGUE_GELU_BIAS,
	};

	for (int kind = F32; kind <= BF16_F32; kind++) {
		for (int s = 0; s < 3; s++)
			for (int a = 0; a < 2; a++)
				for (int b = 0; b < 2; b++) {
					struct gemm g = { (enum kind)kind, ops[a], ops[b], shapes[s][0],
							  shapes[s][1], shapes[s][2], shapes[s][3],
							  CUBLASLT_EPILOGUE_DEFAULT, s == 2 ? -1.0 : 2.0,
							  s % 2 ? 1.0 : 0.0 };
					report(&g, run_case(&g, round), print);
				}
		for (int e = 0; e < 5; e++)
			for (int a = 0; a < 2; a++) {
				struct gemm g = { (enum kind)kind, ops[a], CUBLAS_OP_N, 129, 65, 57, 1,
						  epilogues[e], 1.0, 1.0 };
				report(&g, run_case(&g, round), print);
			}
		struct gemm d = { (enum kind)kind, CUBLAS_OP_T, CUBLAS_OP_N, 33, 17, 9, 2,
				  CUBLASLT_EPILOGUE_BIAS, 2.0, -1.0, true };
		report(&d, run_case(&d, round), print);
	}
	/* The long-lived descriptors: float, TN, 32x24x16, bias; on either handle. */
	for (int via = 0; via < 2; via++) {
		struct gemm k = { F32, CUBLAS_OP_T, CUBLAS_OP_N, 32, 24, 16, 1,
				  CUBLASLT_EPILOGUE_BIAS, 1.0, 1.0, false, true, via == 1 };
		report(&k, run_case(&k, round), print);
	}
	/* PyTorch's addmm in bfloat16: on the cuBLAS handle, made afresh. */
	struct gemm t = { BF16, CUBLAS_OP_T, CUBLAS_OP_N, 96, 40, 64, 1, CUBLASLT_EPILOGUE_BIAS,
			  1.0, 1.0, false, false, true };
	report(&t, run_case(&t, round), print);
}

static void make_kept(void)
{
	cublasOperation_t t = CUBLAS_OP_T;

	LK(cublasLtMatmulDescCreate(&kept_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LK(cublasLtMatmulDescSetAttribute(kept_desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
	kept_a = layout(CUDA_R_32F, 16, 32, 17, 1, 0);   /* as run_case lays them out */
	kept_b = layout(CUDA_R_32F, 16, 24, 18, 1, 0);
	kept_c = layout(CUDA_R_32F, 32, 24, 35, 1, 0);
	kept_pref = preference();
}

/* What the descriptors answer, and the errors cuBLASLt gives at once. */
static void attributes_and_errors(void)
{
	cublasLtMatmulDesc_t d;
	cublasLtMatrixLayout_t l;
	cublasLtMatmulPreference_t p;
	int32_t ct = 0, batch = 0;
	uint32_t ep = 0, u32 = 0;
	uint64_t ws = 1;
	size_t written = 0;

	LK(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LK(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, &ct, sizeof(ct),
					  &written));
	LK(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep), NULL));
	printf("desc: compute type %s, epilogue default %d, size written %zu\n",
	       ct == CUBLAS_COMPUTE_32F ? "32F" : "?", ep == CUBLASLT_EPILOGUE_DEFAULT, written);
	LK(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, NULL, 0, &written));
	printf("desc: bias pointer takes %zu bytes\n", written);
	ep = CUBLASLT_EPILOGUE_RELU_BIAS;
	LK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep)));
	ep = 0;
	LK(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep), NULL));
	printf("desc: epilogue set to relu-bias reads back %d\n", ep == CUBLASLT_EPILOGUE_RELU_BIAS);
	LK(cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, 8, 4, 8));
	LK(cublasLtMatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
					    sizeof(batch), NULL));
	LK(cublasLtMatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_TYPE, &u32, sizeof(u32), NULL));
	printf("layout: batch count %d, type bf16 %d\n", batch, u32 == CUDA_R_16BF);
	LK(cublasLtMatmulPreferenceCreate(&p));
	LK(cublasLtMatmulPreferenceGetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
						sizeof(ws), NULL));
	printf("preference: max workspace %llu\n", (unsigned long long)ws);

	float one = 1;
	cublasLtMatmulHeuristicResult_t r;
	int found = 7;
	cublasLtMatrixLayout_t wrong;
	LK(cublasLtMatrixLayoutCreate(&wrong, CUDA_R_16BF, 5, 4, 8));
	printf("set with a wrong size: %s\n",
	       cublasLtGetStatusName(cublasLtMatmulDescSetAttribute(
		       d, CUBLASLT_MATMUL_DESC_EPILOGUE, &ws, sizeof(ws))));
	printf("get without size or size written: %s\n",
	       cublasLtGetStatusName(cublasLtMatmulDescGetAttribute(
		       d, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, 0, NULL)));
	printf("set a null value: %s\n",
	       cublasLtGetStatusName(cublasLtMatrixLayoutSetAttribute(
		       l, CUBLASLT_MATRIX_LAYOUT_LD, NULL, sizeof(int64_t))));
	printf("heuristic for no algorithm: %s\n",
	       cublasLtGetStatusName(cublasLtMatmulAlgoGetHeuristic(handle, d, l, l, l, l, p, 0,
								    &r, &found)));
	printf("matmul without a handle: %s\n",
	       cublasLtGetStatusName(cublasLtMatmul(NULL, d, &one, workspace, l, workspace, l,
						    &one, workspace, l, workspace, l, NULL,
						    NULL, 0, stream)));
	printf("matmul of shapes that do not fit: %s\n",
	       cublasLtGetStatusName(cublasLtMatmul(handle, d, &one, workspace, l, workspace,
						    wrong, &one, workspace, l, workspace, l,
						    NULL, NULL, 0, stream)));
	LK(cublasLtMatrixLayoutDestroy(wrong));
	LK(cublasLtMatmulPreferenceDestroy(p));
	LK(cublasLtMatrixLayoutDestroy(l));
	LK(cublasLtMatmulDescDestroy(d));
}

int main(int argc, char **argv)
{
	long iters = 1, sleep_ms = 0;

	xt_begin("blaslt_matmul");
	for (int i = 1; i < argc; i++)
		if (!xt_opt_long(argc, argv, &i, "--iters", 1, 1000000, &iters) &&
		    !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 60000, &sleep_ms))
			xt_fail("usage: blaslt_matmul [--iters N] [--sleep-ms N]");

	LK(cublasLtCreate(&handle));
	if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS)
		xt_fail("cublasCreate failed");
	CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
	CK(cudaMalloc(&workspace, workspace_size));
	attributes_and_errors();
	make_kept();
	for (long r = 0; r < iters; r++) {
		round_of_matmuls((int)(r % 5), r == 0);
		if (sleep_ms) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	printf("rounds %ld checked\n", iters);
	LK(cublasLtMatmulPreferenceDestroy(kept_pref));
	LK(cublasLtMatrixLayoutDestroy(kept_a));
	LK(cublasLtMatrixLayoutDestroy(kept_b));
	LK(cublasLtMatrixLayoutDestroy(kept_c));
	LK(cublasLtMatmulDescDestroy(kept_desc));
	LK(cublasLtDestroy(handle));
	if (cublasDestroy(blas) != CUBLAS_STATUS_SUCCESS)
		xt_fail("cublasDestroy failed");
	CK(cudaStreamDestroy(stream));
	CK(cudaFree(workspace));
	return xt_pass();
}
