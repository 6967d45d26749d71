/*
 * ccl-rebuild.c - how long a communicator takes to come back after a rank
 * moves under xmig, against a fresh ncclCommInitRank of the same
 * communicator. One thread per GPU of this machine (rank = GPU), natively
 * (no proxy): it runs the proxy's own build code (ccl/: the job's NCCL
 * through nccl-real.c, the per-node caches of cache.c).
 *
 *   cold     the first ncclCommInitRank in the process (what a new job's
 *            rank pays: NCCL's one-time set-up, topology detection, graph
 *            search, connections)
 *   fresh    ncclCommInitRank again in the same process, no caches
 *   rebuild  what xmig does after a move: every rank aborts its
 *            communicator and builds one from a fresh unique id handed out
 *            by the orchestrator, reading the topology and graphs cached
 *            on this node (NCCL_TOPO_FILE, NCCL_GRAPH_FILE)
 *
 * Each is timed from the first rank starting to the last rank done; the
 * median of --reps runs is printed, then the ratios. Needs 2 or more GPUs
 * for a meaningful number (1 works, as a smoke test).
 *
 *   ccl-rebuild [--gpus N (all)] [--reps N (5)] [--cache DIR (a fresh one)]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "../../../ccl/ccl.h"
#include "../../../lib/xmig.h"

static int ngpus, reps = 5;
static unsigned char uid[1][XMIG_CCL_ID_BYTES];
static pthread_barrier_t bar;
static const uint64_t key = 0xbe7c4;   /* the communicator's, as a proxy would name it */
static void *phys[64];
static char cache_dir[512];
static uint64_t t_start, t_end[64];

enum mode { COLD, FRESH, REBUILD };
static enum mode mode;
static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

static void *rank_main(void *arg)
{
	int r = (int)(intptr_t)arg, st;
	struct ccl_cache_files f;

	cudaSetDevice(r);
	cudaFree(0);   /* the CUDA context is not what is measured */
	pthread_barrier_wait(&bar);
	if (mode == REBUILD) {
		/* the variables are process-wide: set once for all ranks, as one proxy would */
		pthread_mutex_lock(&env_lock);
		if (r == 0) {
			ccl_cache_files(cache_dir, key, "bench", &f);
			ccl_cache_setenv(&f, 0);
		}
		pthread_mutex_unlock(&env_lock);
	}
	pthread_barrier_wait(&bar);
	if (r == 0)
		t_start = xmig_now_ns();
	pthread_barrier_wait(&bar);
	if (mode == REBUILD && phys[r])
		ccl_backend_nccl.end(NULL, phys[r], XMIG_CCL_ABORT);
	phys[r] = NULL;
	st = ccl_backend_nccl.init(NULL, ngpus, r, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])uid,
				   NULL, &phys[r]);
	t_end[r] = xmig_now_ns();
	if (st) {
		fprintf(stderr, "rank %d: init failed with %d\n", r, st);
		exit(1);
	}
	return NULL;
}

static double run(enum mode m)
{
	pthread_t th[64];
	uint64_t last = 0;

	mode = m;
	if (ccl_backend_nccl.unique_id(NULL, uid[0])) {
		fprintf(stderr, "ncclGetUniqueId failed\n");
		exit(1);
	}
	for (int r = 0; r < ngpus; r++)
		pthread_create(&th[r], NULL, rank_main, (void *)(intptr_t)r);
	for (int r = 0; r < ngpus; r++)
		pthread_join(th[r], NULL);
	for (int r = 0; r < ngpus; r++)
		if (t_end[r] > last)
			last = t_end[r];
	ccl_cache_unset();
	return (double)(last - t_start) / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static void destroy_all(void)
{
	for (int r = 0; r < ngpus; r++)
		if (phys[r]) {
			cudaSetDevice(r);
			ccl_backend_nccl.end(NULL, phys[r], XMIG_CCL_DESTROY);
			phys[r] = NULL;
		}
}

int main(int argc, char **argv)
{
	double cold, fresh[64], rebuild[64];
	struct ccl_cache_files f;

	cudaGetDeviceCount(&ngpus);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--gpus") && i + 1 < argc)
			ngpus = atoi(argv[++i]) < ngpus ? atoi(argv[i]) : ngpus;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
			snprintf(cache_dir, sizeof(cache_dir), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: ccl-rebuild [--gpus N] [--reps N] [--cache DIR]\n");
			return 2;
		}
	}
	if (ngpus < 1 || ngpus > 64 || reps < 1 || reps > 64) {
		fprintf(stderr, "ccl-rebuild: %d GPUs, %d reps: nothing to measure\n", ngpus, reps);
		return 1;
	}
	if (pthread_barrier_init(&bar, NULL, (unsigned)ngpus)) {
		fprintf(stderr, "ccl-rebuild: cannot make the ranks' barrier\n");
		return 1;
	}
	if (!*cache_dir) {
		char tmpl[] = "/tmp/xmig-ccl-bench.XXXXXX";

		if (!mkdtemp(tmpl))
			return 1;
		snprintf(cache_dir, sizeof(cache_dir), "%s", tmpl);
	}

	cold = run(COLD);
	destroy_all();
	fprintf(stderr, "ccl-rebuild: cold init %.1f ms\n", cold);
	for (int i = 0; i < reps; i++) {
		fresh[i] = run(FRESH);
		destroy_all();
	}
	fprintf(stderr, "ccl-rebuild: %d fresh inits done\n", reps);
	/* the first build under xmig fills the cache (NCCL dumps topology and graphs) */
	ccl_cache_files(cache_dir, key, "bench", &f);
	ccl_cache_setenv(&f, 0);
	run(FRESH);
	ccl_cache_files(cache_dir, key, "bench", &f);
	printf("# %d GPUs, %d reps; cache %s: topology %s, graphs %s\n", ngpus, reps, cache_dir,
	       f.have_topo ? "cached" : "MISSING", f.have_graph ? "cached" : "MISSING");
	fflush(stdout);
	for (int i = 0; i < reps; i++) {
		rebuild[i] = run(REBUILD);
		fprintf(stderr, "ccl-rebuild: rebuild %d: %.1f ms\n", i, rebuild[i]);
	}
	destroy_all();
	printf("| what | ms |\n|---|---:|\n");
	printf("| cold ncclCommInitRank (first in the process) | %.1f |\n", cold);
	printf("| fresh ncclCommInitRank (median) | %.1f |\n", median(fresh, reps));
	printf("| xmig rebuild after a move, from the caches (median) | %.1f |\n",
	       median(rebuild, reps));
	printf("speedup vs cold %.1fx, vs fresh %.1fx (target: 12x)\n", cold / median(rebuild, reps),
	       median(fresh, reps) / median(rebuild, reps));
	return 0;
}
