/*
 * client.c - the application side of the call channel.
 *
 * On load: reserve the device and host windows, so no mapping of this
 * process ever lands where device memory or shared host memory will be.
 * On the first CUDA call: create the channel segment, start the fd keeper
 * thread, start the proxy server (double fork, its own session) and wait
 * until it owns the channel. Then every thread that calls CUDA claims a
 * ring of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "../api/libraries.h"
#include "../channel/keeper.h"
#include "client.h"
#include "host-func.h"
#include "hostmem.h"
#include "registered-ranges.h"
#include "reallib.h"

extern char **environ;

enum conn_state { CONN_NEW, CONN_READY, CONN_FAILED, CONN_FORKED };

static struct {
	pthread_mutex_t lock;
	enum conn_state state;
	cudaError_t fail_error;       /* returned by every call once failed */
	_Atomic int dead;             /* the server was lost */
	int windows_ok;
	uint64_t device_window, host_window;
	struct xmig_shm_header *hdr;
	int shm_fd;
	char job[80];
	int rank;
	char keeper_path[PATH_MAX];
	int keeper_fd;
	pthread_t keeper;
	int keeper_wake[2];           /* pipe: stop the keeper (at fork) */
	pthread_key_t thread_key;
	struct xmig_client_info info;
	pid_t proxy_pid;
} cl = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.shm_fd = -1,
	.keeper_fd = -1,
	.keeper_wake = { -1, -1 },
};

static __thread struct xmig_thread *tls;

/* ---- windows ------------------------------------------------------------- */

static uint64_t window_base(void)
{
	const char *e = getenv("XMIG_WINDOW");
	unsigned long long v;
	char *end;

	if (e && *e) {
		v = strtoull(e, &end, 16);
		if (!*end && v && v % (1ull << 30) == 0)
			return v;
		xmig_warn("ignoring XMIG_WINDOW=%s (want a hex address aligned to 1 GiB)", e);
	}
	return XMIG_DEVICE_WINDOW_BASE;
}

static void reserve(uint64_t base, uint64_t size, const char *what)
{
	void *p = mmap((void *)base, size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED) {
		xmig_error("cannot reserve the %s window at %#llx: %s (set XMIG_WINDOW to a "
			   "free base)", what, (unsigned long long)base, strerror(errno));
		cl.windows_ok = 0;
	}
}

__attribute__((constructor)) static void client_load(void)
{
	xmig_log_init("xmig");
	cl.device_window = window_base();
	cl.host_window = cl.device_window + XMIG_DEVICE_WINDOW_SIZE;
	cl.windows_ok = 1;
	cl.info.device_window = cl.device_window;
	cl.info.host_window = cl.host_window;
	reserve(cl.device_window, XMIG_DEVICE_WINDOW_SIZE, "device");
	reserve(cl.host_window, XMIG_HOST_WINDOW_SIZE, "host");
}

/*
 * Device memory outside the window: module globals whose address the
 * application took (cudaGetSymbolAddress). Few; a small locked list.
 */
static struct { uint64_t addr, size; } extra_ranges[64];
static _Atomic int nextra;

void xmig_cl_add_device_range(uint64_t addr, uint64_t size)
{
	int n = atomic_load(&nextra);

	for (int i = 0; i < n; i++)
		if (extra_ranges[i].addr == addr)
			return;
	if (n < 64) {
		extra_ranges[n].addr = addr;
		extra_ranges[n].size = size;
		atomic_store(&nextra, n + 1);
	}
}

static bool is_extra_device_range(uint64_t a)
{
	int n = atomic_load(&nextra);

	for (int i = 0; i < n; i++)
		if (a - extra_ranges[i].addr < extra_ranges[i].size)
			return true;
	return false;
}

enum xmig_mem_class xmig_cl_classify(const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;

	if (a - cl.device_window < XMIG_DEVICE_WINDOW_SIZE)
		return XMIG_MEM_DEVICE;
	if (a - (cl.host_window + XMIG_PINNED_OFFSET) < XMIG_HOST_WINDOW_SIZE - XMIG_PINNED_OFFSET)
		return XMIG_MEM_PINNED;
	if (is_extra_device_range(a))
		return XMIG_MEM_DEVICE;
	if (xmig_ranges_find(a, NULL, NULL))
		return XMIG_MEM_PINNED;   /* registered memory of its own (cudaHostRegister) */
	return XMIG_MEM_HOST;
}

/* ---- handles ------------------------------------------------------------- */

/*
 * Stream and event handles point into the reserved handle space of the host
 * window: unique, stable across moves, and a fault if ever dereferenced.
 */
#define HANDLE_STRIDE 16u
#define EVENT_SPACE (XMIG_HANDLES_SIZE / 2)

uint64_t xmig_cl_stream_id(cudaStream_t s, int per_thread_default)
{
	uint64_t v = (uint64_t)(uintptr_t)s;
	uint64_t base = cl.host_window + XMIG_HANDLES_OFFSET;

	if (v == 0)
		return per_thread_default ? XMIG_STREAM_PER_THREAD : XMIG_STREAM_LEGACY;
	if (s == cudaStreamLegacy)
		return XMIG_STREAM_LEGACY;
	if (s == cudaStreamPerThread)
		return XMIG_STREAM_PER_THREAD;
	if (v - base < EVENT_SPACE && (v - base) % HANDLE_STRIDE == 0)
		return (v - base) / HANDLE_STRIDE;
	return UINT64_MAX;   /* not ours: the server answers invalid handle */
}

cudaStream_t xmig_cl_stream_handle(uint64_t id)
{
	return (cudaStream_t)(uintptr_t)(cl.host_window + XMIG_HANDLES_OFFSET + id * HANDLE_STRIDE);
}

uint64_t xmig_cl_event_id(cudaEvent_t e)
{
	uint64_t v = (uint64_t)(uintptr_t)e;
	uint64_t base = cl.host_window + XMIG_HANDLES_OFFSET + EVENT_SPACE;

	if (v - base < EVENT_SPACE && (v - base) % HANDLE_STRIDE == 0 && v != base)
		return (v - base) / HANDLE_STRIDE;
	return UINT64_MAX;
}

cudaEvent_t xmig_cl_event_handle(uint64_t id)
{
	return (cudaEvent_t)(uintptr_t)(cl.host_window + XMIG_HANDLES_OFFSET + EVENT_SPACE +
					id * HANDLE_STRIDE);
}

/* ---- the keeper ------------------------------------------------------------ */

struct session {
	int fd;
	uint64_t attach_id;
	pid_t pid;
};

static void server_lost(pid_t pid)
{
	static _Atomic bool said;
	unsigned i;

	if (atomic_exchange(&said, true))
		return;
	/*
	 * Said before the calls that wait learn it: one of them failing can
	 * end the program at once, and the line would be lost.
	 */
	xmig_error("the proxy server of this process (pid %d) is gone; CUDA calls fail from "
		   "now on", (int)pid);
	atomic_store(&cl.dead, 1);
	atomic_store(&cl.hdr->state, XMIG_SEG_DEAD);
	for (i = 0; i < XMIG_MAX_RINGS; i++)
		xmig_ring_wake_all(xmig_shm_ring(cl.hdr, i));
}

static void keeper_reply(int fd, int32_t status, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
			 int pass_fd)
{
	struct xmig_keeper_reply rep = { XMIG_KEEPER_MAGIC, status, a, b, c, d };

	xmig_sock_send_fds(fd, &rep, sizeof(rep), &pass_fd, pass_fd >= 0 ? 1 : 0);
}

/* One request on a session; false if the session must be closed. */
static bool keeper_serve(struct session *s)
{
	struct xmig_keeper_req req;
	struct xmig_hostmem_region r;
	ssize_t n = xmig_read_full(s->fd, &req, sizeof(req));

	if (n != (ssize_t)sizeof(req) || req.magic != XMIG_KEEPER_MAGIC)
		return false;
	switch (req.op) {
	case XMIG_KEEPER_ATTACH:
		s->attach_id = req.a;
		s->pid = (pid_t)req.b;
		keeper_reply(s->fd, 0, cl.host_window, cl.device_window, XMIG_SEGMENT_SIZE,
			     xmig_hostmem_count(), cl.shm_fd);
		return true;
	case XMIG_KEEPER_REGION:
		if (xmig_hostmem_at_index((size_t)req.a, &r) < 0) {
			keeper_reply(s->fd, -ENOENT, 0, 0, 0, 0, -1);
			return true;
		}
		keeper_reply(s->fd, 0, r.addr, r.size, r.ino, r.flags, r.fd);
		close(r.fd);
		return true;
	case XMIG_KEEPER_REGION_AT:
		if (xmig_hostmem_find(req.a, &r) < 0) {
			keeper_reply(s->fd, -ENOENT, 0, 0, 0, 0, -1);
			return true;
		}
		keeper_reply(s->fd, 0, r.addr, r.size, r.ino, r.flags, r.fd);
		close(r.fd);
		return true;
	case XMIG_KEEPER_STDERR:
		keeper_reply(s->fd, 0, 0, 0, 0, 0, 2);
		return true;
	default:
		keeper_reply(s->fd, -EINVAL, 0, 0, 0, 0, -1);
		return true;
	}
}

static void *keeper_main(void *arg)
{
	struct session sessions[32];
	size_t nsess = 0, i;
	sigset_t all;

	/* Signals belong to the application's threads, not to this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "xmig-keeper");
	for (;;) {
		struct pollfd pfd[34];
		size_t np = 0;

		pfd[np++] = (struct pollfd){ .fd = cl.keeper_fd, .events = POLLIN };
		pfd[np++] = (struct pollfd){ .fd = cl.keeper_wake[0], .events = POLLIN };
		for (i = 0; i < nsess; i++)
			pfd[np++] = (struct pollfd){ .fd = sessions[i].fd, .events = POLLIN | POLLRDHUP };
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		for (i = nsess; i-- > 0;) {
			short ev = pfd[2 + i].revents;
			bool keep = true;

			if (!ev)
				continue;
			if (ev & POLLIN)
				keep = keeper_serve(&sessions[i]);
			if (!keep || (ev & (POLLHUP | POLLERR | POLLRDHUP) && !(ev & POLLIN))) {
				struct session s = sessions[i];

				close(s.fd);
				sessions[i] = sessions[--nsess];
				/* Only the owner's session matters; others are old or aborted. */
				if (s.attach_id && s.attach_id == atomic_load(&cl.hdr->owner_id) &&
				    atomic_load(&cl.hdr->state) != XMIG_SEG_SUSPENDED)
					server_lost(s.pid);
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(cl.keeper_fd, NULL, NULL, SOCK_CLOEXEC);
			uid_t uid;

			if (fd < 0)
				continue;
			if (xmig_sock_peer(fd, NULL, &uid, NULL) < 0 ||
			    !xmig_sock_peer_allowed(uid, getuid()) || nsess == 32) {
				close(fd);
				continue;
			}
			sessions[nsess++] = (struct session){ .fd = fd };
		}
	}
	for (i = 0; i < nsess; i++)
		close(sessions[i].fd);
	return NULL;
}

/* ---- starting the proxy ------------------------------------------------------ */

static const char *proxy_path(char *buf, size_t len)
{
	const char *e = getenv("XMIG_PROXY");
	char self[PATH_MAX];
	FILE *maps;

	if (e && *e)
		return e;
	/* Next to this library: <prefix>/lib/xmig/ -> <prefix>/libexec/xmig/ */
	maps = fopen("/proc/self/maps", "re");
	if (maps) {
		char line[PATH_MAX + 128];

		while (fgets(line, sizeof(line), maps)) {
			char *p = strstr(line, "/libxmig-client.so");

			if (p && (p = strchr(line, '/'))) {
				char *slash;

				snprintf(self, sizeof(self), "%s", p);
				self[strcspn(self, "\n")] = '\0';
				slash = strrchr(self, '/');
				if (slash)
					*slash = '\0';
				snprintf(buf, len, "%s/../../libexec/xmig/xmig-proxy", self);
				fclose(maps);
				return buf;
			}
		}
		fclose(maps);
	}
	return "xmig-proxy";
}

/*
 * The proxy must load the real driver: drop our preload and facade dir,
 * and see the GPUs the user let it see (not the application's one).
 * It must also load the application's own copies of the NVIDIA libraries:
 * name them (libraries.h), unless the user already did.
 */
static char **proxy_environment(void)
{
	static const char *const libs[][2] = {
#define X(soname, var) { soname, var },
		XMIG_LIBRARIES(X)
#undef X
	};
	const size_t nlibs = sizeof(libs) / sizeof(libs[0]);
	const char *facade = getenv("XMIG_FACADE_DIR");
	/* xmig run's "CUDA_VISIBLE_DEVICES=0" is for the application only */
	const char *user_cvd = getenv("XMIG_CUDA_VISIBLE_DEVICES");
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + nlibs + 2, sizeof(char *));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!strncmp(environ[i], "LD_PRELOAD=", 11))
			continue;
		if (user_cvd && !strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21))
			continue;
		if (facade && *facade && !strncmp(environ[i], "LD_LIBRARY_PATH=", 16)) {
			const char *v = environ[i] + 16;
			size_t fl = strlen(facade);
			char *out = malloc(strlen(environ[i]) + 1), *o;

			if (!out)
				continue;
			o = out + sprintf(out, "LD_LIBRARY_PATH=");
			while (*v) {
				size_t l = strcspn(v, ":");

				if (!(l == fl && !strncmp(v, facade, l))) {
					if (o[-1] != '=')
						*o++ = ':';
					memcpy(o, v, l);
					o += l;
				}
				v += l;
				if (*v == ':')
					v++;
			}
			*o = '\0';
			env[k++] = out;
			continue;
		}
		env[k++] = environ[i];
	}
	for (i = 0; i < nlibs; i++) {
		char path[PATH_MAX];

		if (getenv(libs[i][1]) || xmig_real_library(libs[i][0], facade, path, sizeof(path)))
			continue;
		if (asprintf(&env[k], "%s=%s", libs[i][1], path) >= 0)
			k++;
	}
	if (user_cvd && *user_cvd && asprintf(&env[k], "CUDA_VISIBLE_DEVICES=%s", user_cvd) >= 0)
		k++;
	env[k] = NULL;
	return env;
}

static pid_t spawn_proxy(void)
{
	char pathbuf[PATH_MAX], pidbuf[32], gpubuf[32], rankbuf[32];
	const char *path = proxy_path(pathbuf, sizeof(pathbuf));
	const char *gpu = getenv("XMIG_GPU"), *device = getenv("XMIG_DEVICE");
	const char *share = getenv("XMIG_SHARE");
	char *argv[20];
	char **env = proxy_environment();
	int pipefd[2], argc = 0, status, devnull;
	pid_t child, grandchild = -1;

	if (!env || pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	snprintf(gpubuf, sizeof(gpubuf), "%s", gpu && *gpu ? gpu : "0");
	snprintf(rankbuf, sizeof(rankbuf), "%d", cl.rank);
	argv[argc++] = "xmig-proxy";
	argv[argc++] = "--job";
	argv[argc++] = cl.job;
	argv[argc++] = "--client-pid";
	argv[argc++] = pidbuf;
	argv[argc++] = "--keeper";
	argv[argc++] = cl.keeper_path;
	argv[argc++] = "--rank";
	argv[argc++] = rankbuf;
	argv[argc++] = "--gpu";
	argv[argc++] = gpubuf;
	argv[argc++] = "--device";
	argv[argc++] = (char *)(device && *device ? device : "cuda");
	if (share && *share) {
		argv[argc++] = "--share";
		argv[argc++] = (char *)share;
	}
	argv[argc] = NULL;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* Only async-signal-safe calls between fork and exec. */
	child = fork();
	if (child == 0) {
		pid_t g;

		setsid();
		g = fork();
		if (g == 0) {
			if (devnull >= 0) {
				dup2(devnull, 0);
				dup2(devnull, 1);
			}
			execve(path, argv, env);
			_exit(127);
		}
		if (write(pipefd[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);
	}
	if (devnull >= 0)
		close(devnull);
	close(pipefd[1]);
	if (child > 0) {
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		if (xmig_read_full(pipefd[0], &grandchild, sizeof(grandchild)) !=
		    (ssize_t)sizeof(grandchild))
			grandchild = -1;
	}
	close(pipefd[0]);
	for (size_t i = 0; env[i]; i++)
		if (!strncmp(env[i], "LD_LIBRARY_PATH=", 16))
			free(env[i]);
	free(env);
	return grandchild;
}

/* ---- connecting ------------------------------------------------------------- */

static int env_rank(void)
{
	static const char *const vars[] = { "XMIG_RANK", "RANK", "OMPI_COMM_WORLD_RANK",
					    "PMI_RANK", "SLURM_PROCID" };
	size_t i;
	long v;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *e = getenv(vars[i]);

		if (e && xmig_parse_long(e, 0, INT32_MAX, &v) == 0)
			return (int)v;
	}
	return 0;
}

static cudaError_t connect_failed(cudaError_t e)
{
	cl.state = CONN_FAILED;
	cl.fail_error = e;
	return e;
}

static void on_thread_exit(void *p);

static cudaError_t wait_for_server(pid_t proxy)
{
	uint64_t deadline = xmig_now_ns() + 300ull * 1000000000ull;

	for (;;) {
		uint32_t v = atomic_load(&cl.hdr->state_futex);
		uint32_t st = atomic_load(&cl.hdr->state);

		if (st == XMIG_SEG_RUNNING)
			return cudaSuccess;
		if (!xmig_proc_alive(proxy, 0)) {
			xmig_error("the proxy server failed to start (see its messages above); "
				   "no GPU for this process");
			return cudaErrorNoDevice;
		}
		if (xmig_now_ns() > deadline) {
			xmig_error("the proxy server did not start within 300 s");
			return cudaErrorNoDevice;
		}
		xmig_futex_wait(&cl.hdr->state_futex, v, 50000000ull);
	}
}

static cudaError_t hello(struct xmig_thread *t);
static struct xmig_thread *claim_ring(void);

static cudaError_t do_connect(void)
{
	const char *job = getenv("XMIG_JOB");
	char dir[PATH_MAX];
	void *seg;
	int r;

	if (!cl.windows_ok)
		return connect_failed(cudaErrorOperatingSystem);
	if (job && *job) {
		if (!xmig_job_name_valid(job)) {
			xmig_error("XMIG_JOB='%s' is not a valid job name", job);
			return connect_failed(cudaErrorInvalidValue);
		}
		snprintf(cl.job, sizeof(cl.job), "%s", job);
		if (xmig_job_create(cl.job) < 0) {
			xmig_error_errno("cannot create the job directory under %s",
					 xmig_runtime_dir());
			return connect_failed(cudaErrorOperatingSystem);
		}
	} else if (xmig_job_allocate(cl.job, sizeof(cl.job)) < 0) {
		xmig_error_errno("cannot create a job directory under %s", xmig_runtime_dir());
		return connect_failed(cudaErrorOperatingSystem);
	}
	cl.rank = env_rank();

	/* The segment: header and rings, at its place in the host window. */
	cl.shm_fd = memfd_create("xmig-channel", MFD_CLOEXEC);
	if (cl.shm_fd < 0 || ftruncate(cl.shm_fd, (off_t)XMIG_SEGMENT_SIZE) < 0) {
		xmig_error_errno("cannot create the call channel");
		return connect_failed(cudaErrorMemoryAllocation);
	}
	seg = mmap((void *)(cl.host_window + XMIG_SEGMENT_OFFSET), XMIG_SEGMENT_SIZE,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, cl.shm_fd, 0);
	if (seg == MAP_FAILED) {
		xmig_error_errno("cannot map the call channel");
		return connect_failed(cudaErrorMemoryAllocation);
	}
	cl.hdr = seg;
	cl.hdr->magic = XMIG_SHM_MAGIC;
	cl.hdr->version = XMIG_SHM_VERSION;
	cl.hdr->size = XMIG_SEGMENT_SIZE;
	cl.hdr->host_window = cl.host_window;
	cl.hdr->device_window = cl.device_window;
	cl.hdr->client_pid = (int32_t)getpid();
	cl.hdr->client_uid = (uint32_t)getuid();
	cl.hdr->rank = cl.rank;
	snprintf(cl.hdr->job, sizeof(cl.hdr->job), "%s", cl.job);

	/* The keeper: proxies fetch our memfds here. */
	if (xmig_job_dir(cl.job, dir, sizeof(dir)) < 0 ||
	    snprintf(cl.keeper_path, sizeof(cl.keeper_path), "%s/%d.keeper", dir,
		     (int)getpid()) >= (int)sizeof(cl.keeper_path)) {
		xmig_error("runtime directory path too long");
		return connect_failed(cudaErrorOperatingSystem);
	}
	cl.keeper_fd = xmig_sock_listen(cl.keeper_path, 0666);
	/* a prune of the job's directory, empty until now, may have come in between */
	for (int tries = 0; cl.keeper_fd < 0 && errno == ENOENT && tries < 3; tries++)
		if (xmig_job_create(cl.job) == 0)
			cl.keeper_fd = xmig_sock_listen(cl.keeper_path, 0666);
	if (cl.keeper_fd < 0 || pipe2(cl.keeper_wake, O_CLOEXEC) < 0) {
		xmig_error_errno("cannot listen on %s", cl.keeper_path);
		return connect_failed(cudaErrorOperatingSystem);
	}
	if ((r = pthread_create(&cl.keeper, NULL, keeper_main, NULL)) != 0) {
		xmig_error("cannot start the keeper thread: %s", strerror(r));
		return connect_failed(cudaErrorOperatingSystem);
	}
	pthread_key_create(&cl.thread_key, on_thread_exit);

	cl.proxy_pid = spawn_proxy();
	if (cl.proxy_pid <= 0) {
		xmig_error_errno("cannot start the proxy server");
		return connect_failed(cudaErrorNoDevice);
	}
	if ((r = wait_for_server(cl.proxy_pid)) != cudaSuccess)
		return connect_failed(r);
	cl.state = CONN_READY;
	tls = claim_ring();
	if (!tls)
		return connect_failed(cudaErrorMemoryAllocation);
	if ((r = hello(tls)) != cudaSuccess)
		return connect_failed(r);
	return cudaSuccess;
}

/* ---- fork ----------------------------------------------------------------- */

static void atfork_child(void)
{
	/*
	 * CUDA itself cannot be used in a child forked after initialisation;
	 * neither can our channel (the keeper thread did not come along).
	 */
	if (cl.state == CONN_READY) {
		cl.state = CONN_FORKED;
		if (cl.keeper_fd >= 0)
			close(cl.keeper_fd);
		cl.keeper_fd = -1;
	}
	tls = NULL;
	pthread_mutex_init(&cl.lock, NULL);
}

__attribute__((constructor)) static void client_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

/* ---- threads and rings ------------------------------------------------------ */

static struct xmig_thread *claim_ring(void)
{
	struct xmig_thread *t = calloc(1, sizeof(*t));
	unsigned i;

	if (!t)
		return NULL;
	for (i = 0; i < XMIG_MAX_RINGS; i++) {
		struct xmig_ring *r = xmig_shm_ring(cl.hdr, i);
		uint32_t expected = XMIG_RING_FREE;

		if (!atomic_compare_exchange_strong(&r->state, &expected, XMIG_RING_ACTIVE))
			continue;
		atomic_store(&r->head, 0);
		atomic_store(&r->tail, 0);
		atomic_store(&r->done_seq, 0);
		atomic_store(&r->async_error, 0);
		atomic_store(&r->server_sleeping, 0);
		atomic_store(&r->client_waiting, 0);
		atomic_store(&r->space_waiters, 0);
		r->tid = (int32_t)syscall(SYS_gettid);
		r->generation++;
		t->ring = r;
		t->index = i;
		atomic_fetch_add(&cl.hdr->rings_active, 1);
		atomic_fetch_add(&cl.hdr->rings_futex, 1);
		xmig_futex_wake(&cl.hdr->rings_futex);
		pthread_setspecific(cl.thread_key, t);
		return t;
	}
	free(t);
	xmig_error("more than %d threads call CUDA at once", XMIG_MAX_RINGS);
	return NULL;
}

static void on_thread_exit(void *p)
{
	struct xmig_thread *t = p;

	/* Hand the ring back once the server has run what is left in it. */
	if (cl.state == CONN_READY && !atomic_load(&cl.dead) &&
	    xmig_cl_begin(t, XMIG_OP_RING_CLOSE, 0)) {
		xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
		atomic_fetch_sub(&cl.hdr->rings_active, 1);
	}
	if (tls == t)
		tls = NULL;
	free(t);
}

cudaError_t xmig_cl_lost(void)
{
	if (cl.state == CONN_FORKED)
		return cudaErrorInitializationError;
	if (cl.state == CONN_FAILED)
		return cl.fail_error;
	return cudaErrorDevicesUnavailable;
}

cudaError_t xmig_cl_enter(struct xmig_thread **t)
{
	cudaError_t e = cudaSuccess;

	if (__builtin_expect(tls != NULL && !atomic_load_explicit(&cl.dead, memory_order_relaxed),
			     1)) {
		*t = tls;
		return cudaSuccess;
	}
	if (atomic_load(&cl.dead))
		return cudaErrorDevicesUnavailable;
	/* (CUDA forbids it, and a call waiting for the stream that waits for us would hang) */
	if (xmig_host_func_running_here()) {
		static _Atomic int said;

		if (!atomic_exchange(&said, 1))
			xmig_error("a host function called the CUDA API, which CUDA does not permit: "
				   "cudaErrorNotPermitted");
		return cudaErrorNotPermitted;
	}
	pthread_mutex_lock(&cl.lock);
	if (cl.state == CONN_NEW)
		e = do_connect();
	else if (cl.state != CONN_READY)
		e = xmig_cl_lost();
	pthread_mutex_unlock(&cl.lock);
	if (e) {
		if (cl.state == CONN_FORKED) {
			static _Atomic int said;

			if (!atomic_exchange(&said, 1))
				xmig_error("CUDA cannot be used in a process forked after CUDA was "
					   "initialised in its parent");
		}
		return e;
	}
	if (!tls) {
		tls = claim_ring();
		if (!tls)
			return cudaErrorMemoryAllocation;
	}
	*t = tls;
	return cudaSuccess;
}

void *xmig_cl_begin(struct xmig_thread *t, uint32_t op, uint32_t payload)
{
	struct xmig_req *req;

	if (payload > XMIG_REQ_MAX)
		return NULL;
	for (;;) {
		req = xmig_ring_begin(t->ring, &t->pos, op, payload);
		if (req)
			break;
		if (!xmig_ring_wait_space(t->ring, t->pos, payload, &cl.dead))
			return NULL;
	}
	t->cur = req;
	return req->payload;
}

static void publish(struct xmig_thread *t)
{
	uint32_t len = t->cur->len;

	xmig_ring_publish(cl.hdr, t->ring, t->cur, t->pos);
	t->pos += len;
	t->cur = NULL;
}

cudaError_t xmig_cl_end(struct xmig_thread *t, enum xmig_call_kind kind, void **res)
{
	uint64_t seq;
	cudaError_t e;

	if (kind == XMIG_CALL_ASYNC) {
		publish(t);
		return cudaSuccess;
	}
	seq = ++t->seq;
	t->cur->seq = seq;
	publish(t);
	if (!xmig_ring_wait_reply(t->ring, seq, &cl.dead))
		return cudaErrorDevicesUnavailable;
	e = (cudaError_t)t->ring->status;
	if (res)
		*res = t->ring->resp;
	if (kind == XMIG_CALL_SYNCW && e == cudaSuccess)
		e = xmig_cl_take_async_error(t);
	return e;
}

uint64_t xmig_cl_post_seq(struct xmig_thread *t)
{
	uint64_t seq = ++t->seq;

	t->cur->seq = seq;
	publish(t);
	return seq;
}

cudaError_t xmig_cl_wait(struct xmig_thread *t, uint64_t seq)
{
	if (!xmig_ring_wait_reply(t->ring, seq, &cl.dead))
		return cudaErrorDevicesUnavailable;
	return cudaSuccess;
}

cudaError_t xmig_cl_bulk_idle(struct xmig_thread *t)
{
	cudaError_t e = cudaSuccess;

	for (int h = 0; h < 2 && !e; h++)
		if (t->bulk_seq[h])
			e = xmig_cl_wait(t, t->bulk_seq[h]);
	return e;
}

cudaError_t xmig_cl_take_async_error(struct xmig_thread *t)
{
	return (cudaError_t)atomic_exchange(&t->ring->async_error, 0);
}

cudaError_t xmig_cl_peek_async_error(struct xmig_thread *t)
{
	return (cudaError_t)atomic_load(&t->ring->async_error);
}

cudaError_t xmig_cl_record(struct xmig_thread *t, cudaError_t e)
{
	if (e != cudaSuccess && t)
		t->last_error = e;
	return e;
}

cudaError_t xmig_cl_record_here(cudaError_t e)
{
	struct xmig_thread *t;

	if (e && !xmig_cl_enter(&t))
		xmig_cl_record(t, e);
	return e;
}

struct xmig_shm_header *xmig_cl_header(void)
{
	return cl.hdr;
}

const struct xmig_client_info *xmig_cl_info(void)
{
	return &cl.info;
}

void xmig_cl_host_regions_changed(void)
{
	atomic_fetch_add_explicit(&cl.hdr->host_regions_gen, 1, memory_order_release);
}

static cudaError_t hello(struct xmig_thread *t)
{
	struct xmig_hello_res *r;
	cudaError_t e;
	uint32_t abi = (uint32_t)(sizeof(struct xmig_shm_header) ^
				  (sizeof(struct xmig_ring) << 8) ^ XMIG_OP_COUNT);

	if (!xmig_cl_begin(t, XMIG_OP_HELLO, 0))
		return xmig_cl_lost();
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	if (e)
		return e;
	if (r->abi != abi) {
		xmig_error("the proxy server comes from another xmig build");
		return cudaErrorInsufficientDriver;
	}
	cl.info.device_window = cl.device_window;
	cl.info.host_window = cl.host_window;
	cl.info.driver_version = r->driver_version;
	cl.info.runtime_version = r->runtime_version;
	snprintf(cl.info.device, sizeof(cl.info.device), "%s", r->device);
	return cudaSuccess;
}

void xmig_cl_unsupported(const char *name)
{
	/* Once per function: a few distinct names, guarded by a tiny table. */
	static const char *seen[256];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < 256 && seen[i]; i++)
		if (seen[i] == name || !strcmp(seen[i], name)) {
			pthread_mutex_unlock(&lock);
			return;
		}
	if (i < 256)
		seen[i] = name;
	pthread_mutex_unlock(&lock);
	xmig_error("%s is not supported", name);
}

void xmig_cl_note_host_mapped(void)
{
	if (cl.hdr)
		atomic_store(&cl.hdr->host_mapped, 1);
}

uint64_t xmig_cl_owner_id(void)
{
	return cl.hdr ? atomic_load(&cl.hdr->owner_id) : 0;
}

void xmig_cl_note_symbol_address(void)
{
	if (cl.hdr)
		atomic_store(&cl.hdr->symbol_address_taken, 1);
}
