/*
 * handover_floor.cu - the physical floor of a same-GPU copy move: what the
 * GPU itself takes to go from one process's context to another's with the
 * job's memory copied on the way, no xmig in it.
 *
 *   handover_floor GIB...
 *
 * Two processes, each with its own context on GPU 0, as the old and the new
 * proxy of a move. The "old" one calls the GPU without pause (a 4-byte
 * memset and a wait, as tests/bench/pause_probe does) until told to stop.
 * Then the "new" one runs one such call alone, or copies GIB GiB between
 * two of its own buffers and then runs one. Printed, the fastest of five:
 *   switch SECONDS           the old one's last call to the new one's first
 *   handover GIB SECONDS     the same with the copy between them
 * On an H200 the switch alone took about 0.15 ms, however long the GPU had
 * been idle before (up to 0.5 ms tried), and the same whichever context
 * ran the copy: the first call of a context other than the last one to
 * run waits for the GPU to change contexts. So a move's pause cannot be
 * shorter than one copy plus one such change.
 */
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <new>
#include <csignal>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda.h>

#define CK(x)                                                                           \
	do {                                                                            \
		CUresult r_ = (x);                                                      \
		if (r_) {                                                               \
			fprintf(stderr, "handover_floor: %s failed (%d)\n", #x, (int)r_); \
			_exit(1);                                                       \
		}                                                                       \
	} while (0)

enum { IDLE, CALLING, QUIT };

struct shared {
	std::atomic<int> cmd, ready, stopped;
	std::atomic<double> stop_us;   /* when the old one's last call returned */
};

static double now_us()
{
	timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void context()
{
	CUdevice d;
	CUcontext c;

	CK(cuInit(0));
	CK(cuDeviceGet(&d, 0));
	CK(cuDevicePrimaryCtxRetain(&c, d));
	CK(cuCtxSetCurrent(c));
}

/* One small call and its wait, spinning (as a proxy serving the job does). */
static void small_call(CUdeviceptr word, CUstream s)
{
	CK(cuMemsetD8Async(word, 1, 4, s));
	while (cuStreamQuery(s) == CUDA_ERROR_NOT_READY)
		;
}

static void old_context(shared *sh)
{
	CUdeviceptr word;
	CUstream s;

	context();
	CK(cuMemAlloc(&word, 4));
	CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	sh->ready = 1;
	for (;;) {
		int c = sh->cmd.load();

		if (c == QUIT)
			_exit(0);
		if (c != CALLING) {
			usleep(20);
			continue;
		}
		while (sh->cmd.load() == CALLING)
			small_call(word, s);
		sh->stop_us = now_us();
		sh->stopped = 1;
	}
}

/* Let the old context call the GPU for a while, then stop it: when it stopped. */
static double run_old(shared *sh)
{
	double t0;

	sh->stopped = 0;
	sh->cmd = CALLING;
	usleep(3000);
	sh->cmd = IDLE;
	t0 = now_us();
	while (!sh->stopped.load())
		if (now_us() - t0 > 5e6) {
			fprintf(stderr, "handover_floor: the other process does not answer\n");
			exit(1);
		}
	return sh->stop_us;
}

int main(int argc, char **argv)
{
	shared *sh = (shared *)mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CUdeviceptr word;
	CUstream s;
	pid_t pid;
	double best = 1e18;

	if (argc < 2) {
		fprintf(stderr, "usage: handover_floor GIB...\n");
		return 2;
	}
	if (sh == MAP_FAILED)
		return 1;
	new (sh) shared();
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);   /* (gone with its parent, however it ends) */
		old_context(sh);
	}
	context();   /* (after the fork: a context does not survive one) */
	CK(cuMemAlloc(&word, 4));
	CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	for (double t0 = now_us(); !sh->ready.load(); usleep(100))
		if (now_us() - t0 > 60e6) {
			fprintf(stderr, "handover_floor: the other process has no context\n");
			return 1;
		}
	small_call(word, s);
	for (int rep = 0; rep < 5; rep++) {
		double stop = run_old(sh);

		small_call(word, s);
		if (now_us() - stop < best)
			best = now_us() - stop;
	}
	printf("switch %.6f\n", best / 1e6);
	fflush(stdout);
	for (int a = 1; a < argc; a++) {
		size_t bytes = strtoull(argv[a], NULL, 10) << 30;
		CUdeviceptr src, dst;

		CK(cuMemAlloc(&src, bytes));
		CK(cuMemAlloc(&dst, bytes));
		CK(cuMemsetD8(src, 7, bytes));
		CK(cuMemcpyAsync(dst, src, bytes, s));
		CK(cuStreamSynchronize(s));
		best = 1e18;
		for (int rep = 0; rep < 5; rep++) {
			double stop = run_old(sh), t;

			CK(cuMemcpyAsync(dst, src, bytes, s));
			small_call(word, s);   /* (after the copy, on its stream) */
			t = now_us() - stop;
			if (t < best)
				best = t;
		}
		printf("handover %s %.6f\n", argv[a], best / 1e6);
		fflush(stdout);
		CK(cuMemFree(src));
		CK(cuMemFree(dst));
	}
	sh->cmd = QUIT;
	waitpid(pid, NULL, 0);
	return 0;
}
