#!/usr/bin/env bats
# blaslt.bats - cuBLASLt on the sim device where it stops: what it does not
# compute fails loudly (a heuristic at once, a posted matmul at the next
# synchronising call, each with one line naming what), and so do the
# attribute and the functions that are not forwarded. The computing cases
# are tests/cuda/blaslt_matmul.cu's (programs.bats, migrate.bats).

load ../helpers

setup() {
	xmig_setup
	cat >"$BATS_TEST_TMPDIR/t.c" <<-'C'
	#include <stdio.h>
	#include <string.h>
	#include <cuda_runtime_api.h>
	#include <cublasLt.h>
	int main(void)
	{
		cublasLtHandle_t h;
		cublasLtMatmulDesc_t d;
		cublasLtMatrixLayout_t l16, l32;
		cublasLtMatmulPreference_t p;
		cublasLtMatmulHeuristicResult_t r;
		cublasLtMatmulAlgo_t foreign;
		void *buf, *emu = NULL;
		float one = 1;
		int n = 0;

		if (cublasLtCreate(&h) || cudaMalloc(&buf, 1 << 20))
			return 1;
		cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
		cublasLtMatrixLayoutCreate(&l16, CUDA_R_16F, 8, 8, 8);
		cublasLtMatrixLayoutCreate(&l32, CUDA_R_32F, 8, 8, 8);
		cublasLtMatmulPreferenceCreate(&p);
		printf("heuristic, half: %d (%d found)\n",
		       cublasLtMatmulAlgoGetHeuristic(h, d, l16, l16, l16, l16, p, 1, &r, &n), n);
		printf("matmul, half: %d\n", cublasLtMatmul(h, d, &one, buf, l16, buf, l16, &one, buf,
							    l16, buf, l16, NULL, NULL, 0, 0));
		printf("... then sync: %d\n", cudaDeviceSynchronize());
		memset(&foreign, 0, sizeof(foreign));
		printf("matmul, an algo from elsewhere: %d\n",
		       cublasLtMatmul(h, d, &one, buf, l32, buf, l32, &one, buf, l32, buf, l32, &foreign,
				      NULL, 0, 0));
		printf("... then sync: %d\n", cudaDeviceSynchronize());
		int st = cublasLtMatmulAlgoGetHeuristic(h, d, l32, l32, l32, l32, p, 1, &r, &n);
		printf("heuristic, float: %d (%d found)\n", st, n);
		st = cublasLtMatmul(h, d, &one, buf, l32, buf, l32, &one, buf, l32, buf, l32, &r.algo, NULL, 0, 0);
		printf("matmul with it: %d, sync %d\n", st, cudaDeviceSynchronize());
		printf("set amax pointer: %d\n",
		       cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, &buf, sizeof(buf)));
		printf("heuristic with it: %d\n",
		       cublasLtMatmulAlgoGetHeuristic(h, d, l32, l32, l32, l32, p, 1, &r, &n));
		printf("set emulation descriptor: %d\n",
		       cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR, &emu, sizeof(emu)));
		printf("matrix transform: %d\n",
		       cublasLtMatrixTransform(h, NULL, &one, buf, l32, &one, buf, l32, buf, l32, 0));
		printf("destroy: %d, without a handle: %d\n", cublasLtDestroy(h), cublasLtDestroy(NULL));
		return 0;
	}
	C
	cc -I"${CUDA_HOME:-/usr/local/cuda}/include" -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" \
		-L"${CUDA_HOME:-/usr/local/cuda}/lib64" -lcudart -lcublasLt 2>/dev/null ||
		skip "no C compiler or cuBLASLt headers"
}
teardown() { xmig_teardown; }

@test "blaslt: what the sim device does not compute, and what is not forwarded, fails loudly" {
	run --separate-stderr "$XMIG" run -- "$BATS_TEST_TMPDIR/t"
	assert_success
	assert_output "heuristic, half: 15 (0 found)
matmul, half: 0
... then sync: 999
matmul, an algo from elsewhere: 0
... then sync: 999
heuristic, float: 0 (1 found)
matmul with it: 0, sync 0
set amax pointer: 0
heuristic with it: 15
set emulation descriptor: 15
matrix transform: 15
destroy: 0, without a handle: 1"
	assert_equal "$(printf '%s\n' "$stderr" | sed 's/^xmig-proxy\[[0-9]*\]/xmig-proxy/')" \
"xmig-proxy: error: sim device: cublasLtMatmul with data type 2 is not implemented
xmig-proxy: error: sim device: cublasLtMatmul with data type 2 is not implemented
xmig-proxy: error: cublasLtMatmul (8x8x8) failed with status 15
xmig-proxy: error: sim device: cublasLtMatmul with an algorithm its heuristic did not give
xmig-proxy: error: cublasLtMatmul (8x8x8) failed with status 7
xmig-proxy: error: sim device: cublasLtMatmul with CUBLASLT_MATMUL_DESC_AMAX_D_POINTER set is not implemented
xmig: error: cublasLtMatmulDescSetAttribute(CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR) is not supported
xmig: error: cublasLtMatrixTransform is not supported"
}
