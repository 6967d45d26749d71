/*
 * ckpt_bench.cu - NVIDIA's driver checkpoint as the baseline of a move, and
 * the device-to-device copy rate as its physical floor.
 *
 *   ckpt_bench GIB...
 *
 * For each size: a child process allocates GIB GiB (cudaMalloc, filled),
 * then the parent times cuCheckpointProcessLock / Checkpoint / Restore /
 * Unlock on it (the driver moves the device memory to host memory and
 * back). Then, in one process, a device-to-device cudaMemcpy of the same
 * size gives the floor of a same-GPU copy move.
 *
 * Output, one line per size:
 *   ckpt GIB lock_s checkpoint_s restore_s unlock_s total_s
 *   d2d GIB seconds (the fastest of five copies)
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda.h>
#include <cuda_runtime.h>

#define CK(x)                                                                         \
	do {                                                                          \
		auto e_ = (x);                                                        \
		if (e_) {                                                             \
			fprintf(stderr, "%s:%d %s failed: %d\n", __FILE__, __LINE__, #x, \
				(int)e_);                                             \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

static double now()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void hold(size_t gib, int ready_fd)
{
	for (size_t i = 0; i < gib; i++) {
		void *p;
		CK(cudaMalloc(&p, 1ull << 30));
		CK(cudaMemset(p, (int)i + 1, 1ull << 30));
	}
	CK(cudaDeviceSynchronize());
	if (write(ready_fd, "r", 1) != 1)
		exit(1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	/* ckpt_bench --hold GIB FD: the child, exec'd fresh (CUDA forbids fork). */
	if (argc == 4 && !strcmp(argv[1], "--hold"))
		hold(strtoul(argv[2], NULL, 10), atoi(argv[3]));
	for (int a = 1; a < argc; a++) {
		size_t gib = strtoul(argv[a], NULL, 10);
		int fds[2];
		char c, fdbuf[16];

		if (pipe(fds))
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			snprintf(fdbuf, sizeof(fdbuf), "%d", fds[1]);
			execl("/proc/self/exe", argv[0], "--hold", argv[a], fdbuf, (char *)NULL);
			_exit(127);
		}
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1) {
			fprintf(stderr, "the holder of %zu GiB failed\n", gib);
			return 1;
		}
		CK(cuInit(0));
		CUcheckpointLockArgs lock = {};
		CUcheckpointCheckpointArgs ck = {};
		CUcheckpointRestoreArgs rs = {};
		CUcheckpointUnlockArgs un = {};
		double t0 = now();
		CK(cuCheckpointProcessLock(pid, &lock));
		double t1 = now();
		CK(cuCheckpointProcessCheckpoint(pid, &ck));
		double t2 = now();
		CK(cuCheckpointProcessRestore(pid, &rs));
		double t3 = now();
		CK(cuCheckpointProcessUnlock(pid, &un));
		double t4 = now();
		printf("ckpt %zu %.3f %.3f %.3f %.3f %.3f\n", gib, t1 - t0, t2 - t1, t3 - t2, t4 - t3,
		       t4 - t0);
		fflush(stdout);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	/* The floor: one device-to-device copy of each size, after a warm-up. */
	for (int a = 1; a < argc; a++) {
		size_t bytes = strtoul(argv[a], NULL, 10) << 30;
		void *src, *dst;

		CK(cudaMalloc(&src, bytes));
		CK(cudaMalloc(&dst, bytes));
		CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
		CK(cudaDeviceSynchronize());
		/* the fastest of five: a floor, to the microsecond */
		double best = 1e9;
		for (int rep = 0; rep < 5; rep++) {
			double t0 = now();
			CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
			CK(cudaDeviceSynchronize());
			double dt = now() - t0;
			if (dt < best)
				best = dt;
		}
		printf("d2d %s %.6f\n", argv[a], best);
		CK(cudaFree(src));
		CK(cudaFree(dst));
	}
	return 0;
}
