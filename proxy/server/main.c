/*
 * main.c - xmig-proxy: the proxy server of one application process.
 *
 *   xmig-proxy --job J --client-pid P --keeper PATH [--rank R] [--gpu N]
 *              [--device cuda|sim] [--share F]
 *
 * Started by the client library on the application's first CUDA call (and,
 * for moves, by `xmig migrate`/`xmig resume`). It attaches to the client's
 * keeper, maps the call channel, opens its GPU, takes ownership of the
 * channel and serves until the application exits.
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../ccl/ccl.h"
#include "control.h"
#include "executor.h"
#include "server.h"
#include "state.h"
#include "xfer.h"

struct srv *the_srv;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xmig-proxy --job J --client-pid P --keeper PATH [--rank R] [--gpu N]\n"
		"                  [--device cuda|sim] [--share F] [--standby --control-fd FD]\n"
		"                  [--remote HOST:PORT]   (GPU of another node; token in\n"
		"                                          XMIG_REMOTE_TOKEN)\n"
		"       xmig-proxy --serve-remote --gpu N --device cuda|sim --listen ADDR\n"
		"                  (token on stdin; prints \"port P pid Q\")\n"
		"       xmig-proxy --probe-remote HOST:PORT   (does that executor take the\n"
		"                  token in XMIG_REMOTE_TOKEN? for diagnostics and tests)\n"
		"The proxy server of one application process under xmig. It is started by\n"
		"xmig itself; see xmig(1).\n");
}

static int parse_args(struct srv *s, int argc, char **argv, const char **device)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "client-pid", required_argument, NULL, 'p' },
		{ "keeper", required_argument, NULL, 'k' },
		{ "rank", required_argument, NULL, 'r' },
		{ "gpu", required_argument, NULL, 'g' },
		{ "device", required_argument, NULL, 'd' },
		{ "share", required_argument, NULL, 's' },
		{ "standby", no_argument, NULL, 'S' },
		{ "control-fd", required_argument, NULL, 'c' },
		{ "remote", required_argument, NULL, 'R' },
		{ "remote-node", required_argument, NULL, 'N' },
		{ "remote-device", required_argument, NULL, 'D' },
		{ "serve-remote", no_argument, NULL, 'E' },
		{ "listen", required_argument, NULL, 'L' },
		{ "probe-remote", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	long v;
	int c;

	s->gpu = 0;
	s->share = 1.0;
	s->control_fd = -1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!xmig_job_name_valid(optarg))
				return xmig_error("invalid job name '%s'", optarg);
			snprintf(s->job, sizeof(s->job), "%s", optarg);
			break;
		case 'p':
			if (xmig_parse_long(optarg, 1, INT32_MAX, &v) < 0)
				return xmig_error("invalid --client-pid '%s'", optarg);
			s->client_pid = (pid_t)v;
			break;
		case 'k':
			snprintf(s->keeper_path, sizeof(s->keeper_path), "%s", optarg);
			break;
		case 'r':
			if (xmig_parse_long(optarg, 0, INT32_MAX, &v) < 0)
				return xmig_error("invalid --rank '%s'", optarg);
			s->rank = (int)v;
			break;
		case 'g':
			if (xmig_parse_long(optarg, 0, 4095, &v) < 0)
				return xmig_error("invalid --gpu '%s'", optarg);
			s->gpu = (int)v;
			break;
		case 'd':
			*device = optarg;
			break;
		case 's':
			s->share = strtod(optarg, NULL);
			if (!(s->share > 0.0 && s->share <= 1.0))
				return xmig_error("invalid --share '%s': a fraction in (0,1]", optarg);
			break;
		case 'S':
			s->standby = true;
			break;
		case 'c':
			if (xmig_parse_long(optarg, 0, 1 << 20, &v) < 0)
				return xmig_error("invalid --control-fd '%s'", optarg);
			s->control_fd = (int)v;
			break;
		case 'R':
			/* the bridge's executor; the token comes in XMIG_REMOTE_TOKEN */
			setenv("XMIG_REMOTE", optarg, 1);
			*device = "remote";
			break;
		case 'E':
			s->serve_remote = true;
			break;
		case 'N':
			s->node = strdup(optarg);
			break;
		case 'D':
			snprintf(s->device_kind, sizeof(s->device_kind), "%s", optarg);
			break;
		case 'L':
			snprintf(s->listen_addr, sizeof(s->listen_addr), "%s", optarg);
			break;
		case 'P': {
			/* Diagnostics: does the executor there take XMIG_REMOTE_TOKEN? */
			const char *tok = getenv("XMIG_REMOTE_TOKEN");
			int r = xmig_remote_probe(optarg, tok ? tok : "");

			printf("%s\n", r == 0 ? "accepted" : r == cudaErrorDevicesUnavailable ?
			       "unreachable" : "refused");
			exit(r == 0 ? XMIG_EXIT_OK : r == cudaErrorDevicesUnavailable ?
			     XMIG_EXIT_UNAVAILABLE : XMIG_EXIT_REFUSED);
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (s->serve_remote)
		return s->listen_addr[0] ? 0 : xmig_error("--serve-remote needs --listen ADDR");
	if (!s->job[0] || !s->client_pid || !s->keeper_path[0]) {
		usage(stderr);
		return -1;
	}
	if (s->standby && s->control_fd < 0)
		return xmig_error("--standby needs --control-fd");
	return 0;
}

/* Become the server of the channel. */
static int take_ownership(struct srv *s)
{
	uint64_t expected = 0;

	if (!atomic_compare_exchange_strong(&s->hdr->owner_id, &expected, s->attach_id))
		return xmig_error("the channel already has a server");
	atomic_store(&s->hdr->owner_pid, (int32_t)getpid());
	atomic_store(&s->hdr->state, XMIG_SEG_RUNNING);
	atomic_fetch_add(&s->hdr->state_futex, 1);
	xmig_futex_wake(&s->hdr->state_futex);
	return 0;
}

/*
 * A crash says where, on the stderr the application shares: otherwise a
 * proxy that dies inside a vendor library leaves only "the proxy is gone".
 */
static void on_fatal(int sig)
{
	static const char head[] = "xmig-proxy: fatal signal; backtrace:\n";
	void *frames[48];
	int n = backtrace(frames, 48);

	if (write(2, head, sizeof(head) - 1) < 0) {
		/* nothing more to do */
	}
	backtrace_symbols_fd(frames, n, 2);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void say_where_on_crash(void)
{
	int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	void *warm[1];

	backtrace(warm, 1);   /* loads libgcc now, not inside the handler */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_fatal);
}

/* How long the workers have to finish their calls once the proxy stops. */
#define STOP_GRACE_NS 2000000000ull

/*
 * A worker still waits on the GPU after the grace: a kernel that never
 * ends, as an NCCL collective whose peers never come spins for ever
 * (NCCL's kernels wait without a timeout). Closing the context would wait
 * for it too. Exit as a killed process does instead: the driver ends the
 * context and its kernels with the process. Only the files are ours to
 * clean up; atexit handlers (the CUDA libraries') are skipped with them.
 */
static void __attribute__((noreturn)) exit_with_a_call_stuck(struct srv *s, const char *why)
{
	xmig_warn("%s, and a call still waits on the GPU %.0f s later (a collective whose peers "
		  "never came?): exiting without it, as a killed process does", why,
		  STOP_GRACE_NS / 1e9);
	if (!s->has_successor)
		ctl_unlink_socket(s);
	if (!xmig_proc_alive(s->client_pid, 0))
		unlink(s->keeper_path);
	xmig_registry_prune(s->job);
	fflush(NULL);
	_exit(XMIG_EXIT_OK);
}

/*
 * The bottom-up (legacy) address layout, taken by executing itself again
 * once: this process's own mappings (its libraries, the driver's, thread
 * stacks) then grow up from a third of the address space, clear of where
 * the application's mmaps lie (top-down from its stack), so that the
 * application's own registered memory (cudaHostRegister), which must be
 * mapped here at its address, finds the place free. Without it (exec
 * refused), a clash is only likelier, and is refused loudly.
 */
static void take_bottom_up_layout(char **argv)
{
	static const char once[] = "XMIG_PROXY_REEXECUTED";
	int p = personality(0xffffffff);

	/* (once: an exec the kernel deems secure clears the flag again) */
	if (getenv(once)) {
		unsetenv(once);
		return;
	}
	if (p < 0 || (p & ADDR_COMPAT_LAYOUT) || personality((unsigned long)p | ADDR_COMPAT_LAYOUT) < 0)
		return;
	setenv(once, "1", 1);
	execv("/proc/self/exe", argv);
	unsetenv(once);
	personality((unsigned long)p);
}

int main(int argc, char **argv)
{
	static char prefix[64];
	struct srv *s = calloc(1, sizeof(*s));
	const char *device = "cuda", *why;
	int r;

	take_bottom_up_layout(argv);
	snprintf(prefix, sizeof(prefix), "xmig-proxy[%d]", (int)getpid());
	xmig_log_init(prefix);
	signal(SIGPIPE, SIG_IGN);
	say_where_on_crash();
	if (!s || parse_args(s, argc, argv, &device) < 0)
		return XMIG_EXIT_USAGE;
	srv_libraries_reserve();
	the_srv = s;
	s->owner_uid = getuid();
	s->started = xmig_wall_seconds();
	s->host = xmig_hostname();
	if (!s->node)
		s->node = s->host;
	s->session_fd = -1;
	s->shm_fd = -1;
	s->xfer_fd = -1;
	pthread_mutex_init(&s->session_lock, NULL);
	pthread_mutex_init(&s->state_lock, NULL);
	if (getrandom(&s->attach_id, sizeof(s->attach_id), 0) != sizeof(s->attach_id) ||
	    !s->attach_id)
		s->attach_id = xmig_now_ns() ^ ((uint64_t)getpid() << 32);
	/* what --gpu counts in (ps translates it for a command that counts otherwise) */
	if (getenv("CUDA_VISIBLE_DEVICES"))
		s->visible_devices = strdup(getenv("CUDA_VISIBLE_DEVICES"));
	if (getenv("CUDA_DEVICE_ORDER"))
		s->device_order = strdup(getenv("CUDA_DEVICE_ORDER"));
	ccl_env_defaults();   /* one thread yet: the environment may still be written */
	if (s->serve_remote)
		return srv_executor_main(device, s->gpu, s->listen_addr);
	s->dev = xmig_device_by_name(device);
	if (!s->dev) {
		xmig_error("unknown device backend '%s' (cuda or sim)", device);
		return XMIG_EXIT_USAGE;
	}
	/*
	 * The job's NCCL runs in a CUDA proxy; it reads the caches' variables
	 * from xmig's environment plugin (armed now: one thread, no NCCL yet).
	 */
	if (s->dev == &xmig_device_cuda) {
		char plugin[PATH_MAX];

		snprintf(plugin, sizeof(plugin), "%s/libnccl-env-xmig.so", xmig_self_dir());
		ccl_env_arm(plugin);
	}
	if (s->dev != &xmig_device_remote)
		snprintf(s->device_kind, sizeof(s->device_kind), "%s", s->dev->name);
	else if (!s->device_kind[0])
		return xmig_error("--remote needs --remote-device cuda|sim"), XMIG_EXIT_USAGE;
	if (xmig_proxy_socket_path(s->job, s->client_pid, s->socket_path,
				   sizeof(s->socket_path)) < 0) {
		xmig_error("bad job or runtime directory");
		return XMIG_EXIT_FAIL;
	}
	/* A standby proxy registers under its final name only when it resumes. */
	if (s->standby) {
		char dir[512];

		/* Hidden from the registry (not <pid>.sock) until it resumes. */
		xmig_job_dir(s->job, dir, sizeof(dir));
		snprintf(s->listen_path, sizeof(s->listen_path), "%s/.%d.sock", dir, (int)getpid());
	} else
		snprintf(s->listen_path, sizeof(s->listen_path), "%s", s->socket_path);
	if (srv_session_attach(s) < 0)
		return XMIG_EXIT_FAIL;
	/*
	 * A standby proxy outlives the command that started it: it must not
	 * hold that command's output open.
	 */
	if (s->standby)
		srv_session_stderr(s);
	s->rank = s->hdr->rank;
	r = s->dev->open(s->gpu, s->hdr->device_window, XMIG_DEVICE_WINDOW_SIZE, &s->devh);
	if (r) {
		xmig_error("cannot open %s GPU %d (error %d)", s->dev->name, s->gpu, r);
		return XMIG_EXIT_FAIL;
	}
	s->dev->info(s->devh, &s->gpu_info);
	if (srv_objects_init(s) < 0 || srv_memory_init(s) < 0)
		return XMIG_EXIT_FAIL;
	if (xmig_job_create(s->job) < 0) {
		xmig_error_errno("cannot create the job directory under %s", xmig_runtime_dir());
		return XMIG_EXIT_FAIL;
	}
	if (!s->standby && (take_ownership(s) < 0 || srv_workers_start(s, false) < 0))
		return XMIG_EXIT_FAIL;
	why = ctl_run(s);
	xmig_debug("shutting down: %s", why);
	ctl_finish_calls();
	/* an offer still open (its application died mid-move): its socket goes */
	srv_xfer_close(s);
	xmig_move_trace("exit: %s", why);
	/* (a standby's workers, started ahead, too) */
	if (s->workers_running && srv_workers_stop(s, STOP_GRACE_NS) < 0)
		exit_with_a_call_stuck(s, why);
	srv_ccl_shutdown(s);   /* before the context goes: old communicators aborted, thread joined */
	srv_blas_shapes_free(s);
	srv_lt_shapes_free(s);
	srv_dnn_runs_free(s);
	/*
	 * After a move the successor renames its socket over ours at its own
	 * pace: unlinking here could remove the successor's instead.
	 */
	if (!s->has_successor)
		ctl_unlink_socket(s);
	xmig_move_trace("exit: closing the GPU context");
	s->dev->close(s->devh);
	xmig_move_trace("exit: GPU context closed");
	/* The application is gone: its keeper socket is ours to clean up. */
	if (!xmig_proc_alive(s->client_pid, 0))
		unlink(s->keeper_path);
	xmig_registry_prune(s->job);
	return XMIG_EXIT_OK;
}
