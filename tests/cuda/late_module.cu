/*
 * late_module.cu - two fat binaries (this file's and parts/late_module_b.cu's),
 * both registered before main, one first used late: from the round after
 * the file GO appears. Module ids follow registration, loading follows first
 * use, so the module loaded late may have the lower id; a move between the
 * two must still carry its image.
 *
 *   late_module --late a|b --go-file GO [--rounds N (200)] [--sleep-ms MS (20)]
 *
 * a: this file's kernel (xt_affine) is the late one; b: the other file's
 * (lm_affine). Each round applies the early kernel, and the late one once it
 * is in use, to a buffer that is checked against the CPU every round.
 */
#include <unistd.h>

#include "xtest.h"

#define N 4099

cudaError_t lm_step(uint32_t *x, int n, uint32_t mul, uint32_t add);

static cudaError_t a_step(uint32_t *x, int n, uint32_t mul, uint32_t add)
{
	xt_affine<<<xt_blocks(n, 256), 256>>>(x, n, mul, add);
	return cudaGetLastError();
}

int main(int argc, char **argv)
{
	long rounds = 200, sleep_ms = 20;
	const char *go = NULL, *late = NULL;
	uint32_t *host, *want, *dx;
	long r, late_from = -1;
	int i;

	xt_begin("late_module");
	for (i = 1; i < argc; i++) {
		if (xt_opt_long(argc, argv, &i, "--rounds", 1, 100000, &rounds) ||
		    xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 10000, &sleep_ms))
			continue;
		if (!strcmp(argv[i], "--late") && i + 1 < argc)
			late = argv[++i];
		else if (!strcmp(argv[i], "--go-file") && i + 1 < argc)
			go = argv[++i];
		else
			xt_fail("usage: late_module --late a|b --go-file GO [--rounds N] [--sleep-ms MS]");
	}
	if (!go || !late || (strcmp(late, "a") && strcmp(late, "b")))
		xt_fail("usage: late_module --late a|b --go-file GO [--rounds N] [--sleep-ms MS]");
	cudaError_t (*early_step)(uint32_t *, int, uint32_t, uint32_t) = *late == 'a' ? lm_step : a_step;
	cudaError_t (*late_step)(uint32_t *, int, uint32_t, uint32_t) = *late == 'a' ? a_step : lm_step;

	host = (uint32_t *)xt_malloc(N * sizeof(*host));
	want = (uint32_t *)xt_malloc(N * sizeof(*want));
	for (i = 0; i < N; i++)
		want[i] = (uint32_t)xf_mix64((uint64_t)i);
	CK(cudaMalloc(&dx, N * sizeof(*dx)));
	CK(cudaMemcpy(dx, want, N * sizeof(*dx), cudaMemcpyHostToDevice));
	for (r = 0; r < rounds; r++) {
		uint32_t mul = 2 * (uint32_t)r + 3, add = (uint32_t)r * 7919u;

		if (late_from < 0 && access(go, F_OK) == 0) {
			late_from = r;
			printf("late module in use\n");
			fflush(stdout);
		}
		CK(early_step(dx, N, mul, add));
		for (i = 0; i < N; i++)
			want[i] = xf_affine(want[i], mul, add);
		if (late_from >= 0) {
			CK(late_step(dx, N, add | 1, mul));
			for (i = 0; i < N; i++)
				want[i] = xf_affine(want[i], add | 1, mul);
		}
		CK(cudaMemcpy(host, dx, N * sizeof(*host), cudaMemcpyDeviceToHost));
		for (i = 0; i < N; i++)
			if (host[i] != want[i])
				xt_fail("round %ld: x[%d] = %u, want %u", r, i, host[i], want[i]);
		usleep((useconds_t)sleep_ms * 1000);
	}
	if (late_from < 0)
		xt_fail("%s never appeared: the late module was not used", go);
	printf("rounds %ld checked\n", rounds);
	CK(cudaFree(dx));
	free(host);
	free(want);
	return xt_pass();
}
