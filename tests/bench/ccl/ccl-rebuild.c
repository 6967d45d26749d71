/*
 * ccl-rebuild.c - how long a communicator takes to come back after a rank
 * moves under xmig, against ncclCommInitRank in a new job and in a warm
 * process. Natively (no proxy), but the proxy's own code around NCCL
 * (ccl/: the job's NCCL through nccl-real.c, the node's caches of cache.c,
 * the warm-up and the retire list of relink.c), one process per GPU,
 * forked before any CUDA call, like one proxy per rank.
 *
 *   cold     a new process's first ncclCommInitRank, every rank (what a
 *            restarted job pays; the CUDA context is made before the timer)
 *   fresh    ncclCommInitRank again in the same processes, no caches
 *   rebuild  what xmig does when a rank moves: the moved rank is a NEW
 *            process that has made its CUDA context and done the standby
 *            proxy's warm-up (ccl_warm_up) before the timer, and its old
 *            process has exited (the handover comes before the re-link);
 *            the staying ranks keep their old communicator and build a
 *            new one beside it; all from a fresh unique id (made by rank
 *            0's process) through the node's cached topology and graphs;
 *            after the timer the staying ranks retire the old one
 *            (aborted in the background)
 *
 * The unique id is made before each timer. Each is timed from the first
 * rank's init starting to the last rank's returning; the median of --reps
 * runs is printed, then the ratios. With one GPU (a smoke test) the moved
 * rank is rank 0 in a new process; with several, --moved (the last rank).
 * Progress on stderr, results on stdout.
 *
 * --nccl-log DIR: NCCL's own log of every init (NCCL_DEBUG=INFO, INIT and
 * ENV) in DIR, one file per process; at the end its "Init timings" lines
 * (NCCL's split of an init: bootstrap, allgathers, topology, graphs,
 * connections, ...) are printed per build, the moved rank's marked: where
 * a rebuild's time goes. The logging itself slows the inits a little. A
 * NCCL_DEBUG_SUBSYS already set (say INIT,ENV,PROFILE) is kept.
 *
 * NCCL's RAS is off, as in the proxies (ccl_env_defaults), unless
 * NCCL_RAS_ENABLE is set: NCCL_RAS_ENABLE=1 shows what it costs.
 *
 * Where a rebuild's spread comes from: --old-exits after keeps the moved
 * rank's old process until the rebuild is timed (the driver tears its
 * context down after it), and --settle-ms N waits N ms between that exit
 * and the timer. Both only move the old process's exit; the default is
 * what a move does.
 *
 *   ccl-rebuild [--gpus N (all)] [--reps N (5)] [--moved R] [--cache DIR (a fresh one)]
 *               [--nccl-log DIR] [--old-exits before|after] [--settle-ms N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "../../../ccl/ccl.h"
#include "../../../lib/xmig.h"

#define MAX_RANKS 64
#define MAX_REPS 64

enum op { OP_READY, OP_ID, OP_BUILD, OP_DESTROY, OP_RETIRE, OP_DRAIN, OP_GONE, OP_QUIT };

/* One request to a rank's process, and its answer. */
struct msg {
	int op, st;
	bool cached;                       /* OP_BUILD: through the node's cache */
	unsigned char id[XMIG_CCL_ID_BYTES];
	uint64_t t0, t1;                   /* the init, on CLOCK_MONOTONIC (every process's) */
	double secs;                       /* OP_READY: the warm-up; OP_DRAIN: aborts so far */
};

struct rank_proc {
	pid_t pid;
	int fd, rank;
};

static int nranks, reps = 5, moved = -1;
static char cache_dir[512], layout[MAX_RANKS * 16], nccl_log[512];
static pid_t moved_pids[MAX_REPS];   /* the moved rank's new process, per rebuild */
static bool old_exits_after;         /* --old-exits after */
static int settle_ms;                /* --settle-ms */
static const uint64_t key = 0xbe7c4;   /* the communicator's, as a proxy would name it */
static struct rank_proc procs[MAX_RANKS];
static int my_gpu;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ccl-rebuild: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void xfer(int fd, struct msg *m, bool out)
{
	ssize_t n = out ? write(fd, m, sizeof(*m)) : read(fd, m, sizeof(*m));

	if (n != (ssize_t)sizeof(*m)) {
		say("%s a rank's process failed: %s", out ? "writing to" : "reading from",
		    n < 0 ? strerror(errno) : "it went away");
		exit(1);
	}
}

/* ---- a rank's process ------------------------------------------------------------- */

static int bind_gpu(void *dev)
{
	return cudaSetDevice(my_gpu) == cudaSuccess ? 0 : -1;
}

static void cache_files(struct ccl_cache_files *f)
{
	ccl_cache_files(cache_dir, key, layout, f);
}

static void build(int rank, struct msg *m, void **comm, void **old)
{
	struct ccl_cache_files f;
	void *phys = NULL;

	if (m->cached) {
		cache_files(&f);
		ccl_cache_setenv(&f, rank);
	}
	m->t0 = xmig_now_ns();
	m->st = ccl_backend_nccl.init(NULL, nranks, rank, 1,
				      (const unsigned char(*)[XMIG_CCL_ID_BYTES])m->id, NULL, &phys);
	m->t1 = xmig_now_ns();
	if (m->cached) {
		ccl_cache_unset();
		ccl_cache_keep(&f);
	}
	if (!m->st) {
		*old = *comm;   /* a rebuild: the old one lives on until retired */
		*comm = phys;
	}
}

/* Serve the parent's requests; warm: the moved rank's new process (a standby proxy). */
static void rank_main(int rank, int fd, bool warm)
{
	struct ccl_retire retire;
	struct ccl_cache_files f;
	struct msg m = { .op = OP_READY };
	void *comm = NULL, *old = NULL;

	my_gpu = rank;
	if (cudaSetDevice(my_gpu) != cudaSuccess || cudaFree(0) != cudaSuccess) {
		say("rank %d: no CUDA context on GPU %d", rank, my_gpu);
		m.st = -1;
	}
	ccl_retire_init(&retire, &ccl_backend_nccl, NULL, bind_gpu);
	if (!m.st && warm) {
		cache_files(&f);
		m.st = ccl_warm_up(&ccl_backend_nccl, NULL, &f, rank, &m.secs);
	}
	xfer(fd, &m, true);
	for (;;) {
		xfer(fd, &m, false);
		m.st = 0;
		switch (m.op) {
		case OP_ID:
			m.st = ccl_backend_nccl.unique_id(NULL, m.id);
			break;
		case OP_BUILD:
			build(rank, &m, &comm, &old);
			break;
		case OP_DESTROY:
			if (comm)
				m.st = ccl_backend_nccl.end(NULL, comm, XMIG_CCL_DESTROY);
			comm = NULL;
			break;
		case OP_RETIRE:
			ccl_retire(&retire, old, key);
			old = NULL;
			ccl_retire_release(&retire);   /* the job runs again */
			break;
		case OP_DRAIN:
			ccl_retire_drain(&retire);
			m.secs = retire.abort_s;
			break;
		case OP_GONE:
			/* the moved rank's old proxy after the handover: exits, communicator and all */
			_exit(0);
		case OP_QUIT:
			ccl_retire_drain(&retire);
			if (comm)
				ccl_backend_nccl.end(NULL, comm, XMIG_CCL_DESTROY);
			xfer(fd, &m, true);
			exit(0);
		}
		xfer(fd, &m, true);
	}
}

/* ---- the parent: no CUDA here, so that forks stay clean ------------------------------ */

static struct rank_proc spawn(int rank, bool warm)
{
	struct rank_proc p = { .rank = rank };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || (p.pid = fork()) < 0) {
		say("cannot start rank %d's process: %s", rank, strerror(errno));
		exit(1);
	}
	if (p.pid == 0) {
		close(sv[0]);
		for (int r = 0; r < nranks; r++)
			if (procs[r].pid > 0)
				close(procs[r].fd);
		rank_main(rank, sv[1], warm);
		_exit(0);
	}
	close(sv[1]);
	p.fd = sv[0];
	return p;
}

static double ready(struct rank_proc *p)
{
	struct msg m;

	xfer(p->fd, &m, false);
	if (m.st) {
		say("rank %d's process could not get ready (%d)", p->rank, m.st);
		exit(1);
	}
	return m.secs;
}

static void ask_all(struct rank_proc *const *set, int n, int op)
{
	struct msg m = { .op = op };

	for (int i = 0; i < n; i++)
		xfer(set[i]->fd, &m, true);
	for (int i = 0; i < n; i++) {
		xfer(set[i]->fd, &m, false);
		if (m.st)
			say("rank %d: request %d returned %d", set[i]->rank, op, m.st);
	}
}

/* A fresh id from rank 0's process (not timed), then every rank's init (timed): ms. */
static double timed_build(struct rank_proc *const *set, bool cached, double *per_rank_ms)
{
	struct msg m = { .op = OP_ID };
	uint64_t first = UINT64_MAX, last = 0;

	xfer(set[0]->fd, &m, true);
	xfer(set[0]->fd, &m, false);
	if (m.st) {
		say("ncclGetUniqueId failed with %d", m.st);
		exit(1);
	}
	m.op = OP_BUILD;
	m.cached = cached;
	for (int r = 0; r < nranks; r++)
		xfer(set[r]->fd, &m, true);
	for (int r = 0; r < nranks; r++) {
		xfer(set[r]->fd, &m, false);
		if (m.st) {
			say("rank %d: init failed with %d", r, m.st);
			exit(1);
		}
		first = m.t0 < first ? m.t0 : first;
		last = m.t1 > last ? m.t1 : last;
		if (per_rank_ms)
			per_rank_ms[r] = (double)(m.t1 - m.t0) / 1e6;
	}
	return (double)(last - first) / 1e6;
}

/* The moved rank's old process exits, communicator, context and all. */
static void gone_now(struct rank_proc *gone)
{
	struct msg m = { .op = OP_GONE };

	xfer(gone->fd, &m, true);
	waitpid(gone->pid, NULL, 0);
	close(gone->fd);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp);
	return s[n / 2];
}

/* NCCL logs into DIR, one file per process (set before any fork). */
static void log_nccl(const char *dir)
{
	char file[600];

	snprintf(file, sizeof(file), "%s/nccl.%%p.log", dir);
	setenv("NCCL_DEBUG", "INFO", 1);
	setenv("NCCL_DEBUG_SUBSYS", "INIT,ENV", 0);   /* a caller's wider set (PROFILE, ...) kept */
	setenv("NCCL_DEBUG_FILE", file, 1);
}

/* Every "Init timings" line NCCL logged in dir, with its process, the moved rank's marked. */
static void print_nccl_timings(const char *dir)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	char path[1024], line[1024];

	if (!dp) {
		say("cannot read NCCL's logs in %s: %s", dir, strerror(errno));
		return;
	}
	printf("NCCL's own split of each init (s), from %s:\n", dir);
	while ((d = readdir(dp))) {
		int pid;
		bool is_moved = false;
		FILE *f;

		if (sscanf(d->d_name, "nccl.%d.log", &pid) != 1)
			continue;
		for (int i = 0; i < reps; i++)
			is_moved |= moved_pids[i] == pid;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			char *t = strstr(line, "Init timings");

			if (t)
				printf("  pid %d%s: %s", pid, is_moved ? " (moved rank's new process)" : "",
				       t);
		}
		fclose(f);
	}
	closedir(dp);
}

/* How many GPUs, asked in a child: the parent makes no CUDA call. */
static int count_gpus(void)
{
	int fd[2], n = 0;
	pid_t pid;

	if (pipe(fd) < 0 || (pid = fork()) < 0)
		return 0;
	if (pid == 0) {
		if (cudaGetDeviceCount(&n) != cudaSuccess)
			n = 0;
		_exit(write(fd[1], &n, sizeof(n)) == sizeof(n) ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], &n, sizeof(n)) != sizeof(n))
		n = 0;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return n;
}

int main(int argc, char **argv)
{
	double cold, fresh[MAX_REPS], rebuild[MAX_REPS], warm[MAX_REPS], fill;
	double per[MAX_REPS][MAX_RANKS], rank_ms[MAX_REPS], aborts = 0;
	struct rank_proc *set[MAX_RANKS];
	struct ccl_cache_files f;
	int want = 0, ngpus;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--gpus") && i + 1 < argc)
			want = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--moved") && i + 1 < argc)
			moved = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
			snprintf(cache_dir, sizeof(cache_dir), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--nccl-log") && i + 1 < argc)
			snprintf(nccl_log, sizeof(nccl_log), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--old-exits") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "before") || !strcmp(argv[i + 1], "after")))
			old_exits_after = !strcmp(argv[++i], "after");
		else if (!strcmp(argv[i], "--settle-ms") && i + 1 < argc)
			settle_ms = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: ccl-rebuild [--gpus N] [--reps N] [--moved R] "
				"[--cache DIR] [--nccl-log DIR] [--old-exits before|after] "
				"[--settle-ms N]\n");
			return 2;
		}
	}
	if (*nccl_log) {
		if (mkdir(nccl_log, 0700) < 0 && errno != EEXIST) {
			say("cannot make %s: %s", nccl_log, strerror(errno));
			return 2;
		}
		log_nccl(nccl_log);
	}
	/* as a CUDA proxy does: its NCCL defaults (RAS off unless set), the cache
	 * variables through xmig's env plugin */
	ccl_env_defaults();
	{
		char plugin[1024];

		snprintf(plugin, sizeof(plugin), "%s/../../libexec/xmig/libnccl-env-xmig.so",
			 xmig_self_dir());
		ccl_env_arm(plugin);
	}
	ngpus = count_gpus();
	nranks = want > 0 && want < ngpus ? want : ngpus;
	if (moved < 0)
		moved = nranks - 1;
	if (nranks < 1 || nranks > MAX_RANKS || reps < 1 || reps > MAX_REPS || moved >= nranks) {
		say("%d GPUs, %d reps, moved rank %d: nothing to measure", nranks, reps, moved);
		return 1;
	}
	if (!*cache_dir) {
		char tmpl[] = "/tmp/xmig-ccl-bench.XXXXXX";

		if (!mkdtemp(tmpl))
			return 1;
		snprintf(cache_dir, sizeof(cache_dir), "%s", tmpl);
	}
	for (int r = 0; r < nranks; r++)
		snprintf(layout + strlen(layout), sizeof(layout) - strlen(layout), "%sbench:gpu%d",
			 r ? "," : "", r);

	/* a new job: one process per GPU, CUDA contexts made before the timer */
	for (int r = 0; r < nranks; r++) {
		procs[r] = spawn(r, false);
		set[r] = &procs[r];
	}
	for (int r = 0; r < nranks; r++)
		ready(&procs[r]);
	cold = timed_build(set, false, NULL);
	ask_all(set, nranks, OP_DESTROY);
	say("cold init %.1f ms", cold);
	for (int i = 0; i < reps; i++) {
		fresh[i] = timed_build(set, false, NULL);
		ask_all(set, nranks, OP_DESTROY);
		say("fresh init %d: %.1f ms", i, fresh[i]);
	}
	/* the job's own first build under xmig: through the cache, which it fills */
	fill = timed_build(set, true, NULL);
	cache_files(&f);
	say("first build through the cache %.1f ms: topology %s, graphs %s", fill,
	    f.have_topo ? "cached" : "MISSING", f.have_graph ? "cached" : "MISSING");
	printf("# %d GPUs (one process each), %d reps, moved rank %d; cache %s: topology %s, "
	       "graphs %s; the old process exits %s the rebuild%s; NCCL_RAS_ENABLE=%s\n", nranks,
	       reps, moved, cache_dir, f.have_topo ? "cached" : "MISSING",
	       f.have_graph ? "cached" : "MISSING", old_exits_after ? "after" : "before",
	       settle_ms > 0 ? ", then a settle" : "", getenv("NCCL_RAS_ENABLE"));
	fflush(stdout);

	for (int i = 0; i < reps; i++) {
		struct rank_proc next = spawn(moved, true), gone = procs[moved];
		struct rank_proc *stay[MAX_RANKS];
		int nstay = 0;

		moved_pids[i] = next.pid;
		/* the standby: context and warm-up while the job still runs */
		warm[i] = ready(&next) * 1e3;
		/* the handover: the moved rank's old proxy exits before the re-link */
		if (!old_exits_after)
			gone_now(&gone);
		if (settle_ms > 0)
			usleep(settle_ms * 1000);
		set[moved] = &next;
		rebuild[i] = timed_build(set, true, per[i]);
		if (old_exits_after)
			gone_now(&gone);
		/* after the timer: the old ones retired */
		for (int r = 0; r < nranks; r++)
			if (r != moved)
				stay[nstay++] = &procs[r];
		ask_all(stay, nstay, OP_RETIRE);
		procs[moved] = next;
		set[moved] = &procs[moved];
		/* and aborted, before the next move is timed */
		ask_all(stay, nstay, OP_DRAIN);
		say("rebuild %d: %.1f ms (warm-up ahead %.1f ms)", i, rebuild[i], warm[i]);
	}
	for (int r = 0; r < nranks; r++) {
		struct msg m = { .op = OP_DRAIN };

		if (r == moved)
			continue;
		xfer(procs[r].fd, &m, true);
		xfer(procs[r].fd, &m, false);
		aborts += m.secs;
	}
	ask_all(set, nranks, OP_QUIT);
	for (int r = 0; r < nranks; r++)
		waitpid(procs[r].pid, NULL, 0);

	double c = cold, fr = median(fresh, reps), rb = median(rebuild, reps);

	printf("| what | ms |\n|---|---:|\n");
	printf("| cold: a new process's first ncclCommInitRank, every rank | %.1f |\n", c);
	printf("| fresh: ncclCommInitRank again in a warm process, no caches (median) | %.1f |\n", fr);
	printf("| rebuild: xmig after a move, old comms kept, caches, warmed standby (median) | %.1f |\n",
	       rb);
	for (int r = 0; r < nranks; r++) {
		for (int i = 0; i < reps; i++)
			rank_ms[i] = per[i][r];
		printf("| rebuild, rank %d%s: its own init (median) | %.1f |\n", r,
		       r == moved ? " (moved)" : "", median(rank_ms, reps));
	}
	printf("| not timed: the standby's warm-up, ahead (median) | %.1f |\n", median(warm, reps));
	if (nranks > 1)
		printf("| not timed: aborting the old communicators, in the background (mean per rank "
		       "and move) | %.1f |\n", aborts * 1e3 / (nranks - 1) / reps);
	printf("fresh/rebuild %.1fx, cold/rebuild %.1fx\n", fr / rb, c / rb);
	printf("12x target (a rebuild against a new job's ncclCommInitRank, cold/rebuild): %s\n",
	       c / rb >= 12 ? "MET" : "NOT MET");
	if (*nccl_log)
		print_nccl_timings(nccl_log);
	return 0;
}
