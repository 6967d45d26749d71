/*
 * threads.cu - several host threads calling CUDA at once. Each worker has
 * its own stream, device buffer and pinned buffer and checks every
 * iteration; meanwhile two more threads take strict turns (a mutex and a
 * condition variable) enqueueing steps on one shared stream, whose result
 * depends on the order of the steps.
 *
 *   threads             (no arguments)
 */
#include <pthread.h>

#include "xtest.h"

#define WORKERS 6
#define ITERS 100
#define N 4096
#define BLOCK 256
#define TURNS 100                  /* steps on the shared stream, both threads */

struct worker {
	int id;
	pthread_t thread;
	uint64_t hash;
};

static uint32_t worker_input(int id, int it, int i)
{
	return (uint32_t)xf_mix64(((uint64_t)id << 40) ^ ((uint64_t)it << 20) ^ (uint64_t)i);
}

static uint32_t worker_mul(int id, int it) { return 2u * (uint32_t)(id * ITERS + it) + 1u; }
static uint32_t worker_add(int id, int it) { return (uint32_t)(id + 7 * it); }

/* One iteration: host -> device, two kernels, device -> host, check. */
static void worker_iter(struct worker *w, cudaStream_t s, uint32_t *d, uint32_t *h, int it)
{
	const size_t bytes = N * sizeof(uint32_t);
	uint32_t mul = worker_mul(w->id, it), add = worker_add(w->id, it);
	int i;

	for (i = 0; i < N; i++)
		h[i] = worker_input(w->id, it, i);
	CK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, s));
	xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, s>>>(d, N, mul, add);
	CK_LAUNCH();
	xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, s>>>(d, N, 3, (uint32_t)it);
	CK_LAUNCH();
	CK(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	for (i = 0; i < N; i++) {
		uint32_t want = xf_affine(xf_affine(worker_input(w->id, it, i), mul, add), 3, (uint32_t)it);

		if (h[i] != want)
			xt_fail("worker %d iteration %d: [%d] = %08x, want %08x", w->id, it, i, h[i], want);
	}
	w->hash = xf_mix64(w->hash + xt_hash(h, bytes));
}

static void *worker_main(void *arg)
{
	struct worker *w = (struct worker *)arg;
	cudaStream_t s;
	uint32_t *d, *h;
	int it;

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaMalloc(&d, N * sizeof(uint32_t)));
	/* Half the workers pin with each allocator. */
	if (w->id % 2)
		CK(cudaHostAlloc(&h, N * sizeof(uint32_t), cudaHostAllocPortable));
	else
		CK(cudaMallocHost(&h, N * sizeof(uint32_t)));
	for (it = 0; it < ITERS; it++)
		worker_iter(w, s, d, h, it);
	CK(cudaFreeHost(h));
	CK(cudaFree(d));
	CK(cudaStreamDestroy(s));
	return NULL;
}

/* The shared stream: thread j enqueues step t only when t % 2 == j. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int turn;
	cudaStream_t s;
	uint32_t *d;
};

struct sharer {
	struct shared *sh;
	int j;
	pthread_t thread;
};

static uint32_t turn_mul(int t) { return 2u * (uint32_t)t + 3u; }
static uint32_t turn_add(int t) { return (uint32_t)((t % 2) * 1000 + t); }

static void *sharer_main(void *arg)
{
	struct sharer *me = (struct sharer *)arg;
	struct shared *sh = me->sh;
	int n;

	for (n = 0; n < TURNS / 2; n++) {
		pthread_mutex_lock(&sh->mu);
		while (sh->turn % 2 != me->j)
			pthread_cond_wait(&sh->cv, &sh->mu);
		xt_affine<<<xt_blocks(N, BLOCK), BLOCK, 0, sh->s>>>(sh->d, N, turn_mul(sh->turn),
								 turn_add(sh->turn));
		CK_LAUNCH();
		sh->turn++;
		pthread_cond_broadcast(&sh->cv);
		pthread_mutex_unlock(&sh->mu);
	}
	return NULL;
}

static void shared_open(struct shared *sh, uint32_t *h)
{
	int i;

	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	sh->turn = 0;
	CK(cudaStreamCreateWithFlags(&sh->s, cudaStreamNonBlocking));
	CK(cudaMalloc(&sh->d, N * sizeof(uint32_t)));
	for (i = 0; i < N; i++)
		h[i] = (uint32_t)i;
	CK(cudaMemcpyAsync(sh->d, h, N * sizeof(uint32_t), cudaMemcpyHostToDevice, sh->s));
}

static void shared_check(struct shared *sh, uint32_t *h)
{
	int i, t;

	CK(cudaMemcpyAsync(h, sh->d, N * sizeof(uint32_t), cudaMemcpyDeviceToHost, sh->s));
	CK(cudaStreamSynchronize(sh->s));
	for (i = 0; i < N; i++) {
		uint32_t want = (uint32_t)i;

		for (t = 0; t < TURNS; t++)
			want = xf_affine(want, turn_mul(t), turn_add(t));
		if (h[i] != want)
			xt_fail("shared stream: [%d] = %08x, want %08x (steps out of order?)", i, h[i], want);
	}
	printf("shared stream: %d ordered steps ok hash=%016llx\n", TURNS,
	       (unsigned long long)xt_hash(h, N * sizeof(uint32_t)));
	CK(cudaFree(sh->d));
	CK(cudaStreamDestroy(sh->s));
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->cv);
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg))
		xt_fail("pthread_create failed");
}

int main(void)
{
	struct worker w[WORKERS];
	struct sharer sr[2];
	struct shared sh;
	uint32_t *h;
	int i;

	xt_begin("threads");
	CK(cudaMallocHost(&h, N * sizeof(uint32_t)));
	shared_open(&sh, h);
	for (i = 0; i < 2; i++) {
		sr[i].sh = &sh;
		sr[i].j = i;
		start(&sr[i].thread, sharer_main, &sr[i]);
	}
	for (i = 0; i < WORKERS; i++) {
		w[i].id = i;
		w[i].hash = 0;
		start(&w[i].thread, worker_main, &w[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(sr[i].thread, NULL);
	for (i = 0; i < WORKERS; i++) {
		pthread_join(w[i].thread, NULL);
		printf("worker %d: %d iterations ok hash=%016llx\n", i, ITERS,
		       (unsigned long long)w[i].hash);
	}
	shared_check(&sh, h);
	CK(cudaFreeHost(h));
	CK(cudaDeviceSynchronize());
	return xt_pass();
}
