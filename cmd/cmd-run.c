/*
 * cmd-run.c - xmig run [OPTIONS] [--] COMMAND [ARGS...]
 *
 * Runs COMMAND with its CUDA calls served by a proxy server: preloads the
 * facades (the CUDA runtime and the libraries that carry their own copy of
 * it: cuBLAS, cuBLASLt, cuDNN, NCCL; preloaded because frameworks find the
 * real ones through their RPATH), puts the facade directory (libcuda.so.1 of
 * xmig) first on the library path, names the job, and execs. The proxy itself starts on
 * the program's first CUDA call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

struct run_opts {
	const char *job;
	const char *device;
	long gpu;
	double share;
	long rank;
	int first;      /* index of COMMAND in argv */
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct run_opts *o = state->input;
	char *end;

	switch (key) {
	case 'J':
	case 'j':   /* the first spelling, kept; -j is --json in every other command */
		if (!xmig_job_name_valid(arg))
			argp_error(state, "invalid job name '%s' (letters, digits, '.', '_', '-')",
				   arg);
		o->job = arg;
		return 0;
	case 'g':
		if (!strncmp(arg, "gpu", 3))
			arg += 3;
		if (xmig_parse_long(arg, 0, 4095, &o->gpu) < 0)
			argp_error(state, "invalid GPU '%s'", arg);
		return 0;
	case 's':
		o->share = strtod(arg, &end);
		if (*end || !(o->share > 0.0 && o->share <= 1.0))
			argp_error(state, "invalid share '%s': a fraction in (0,1]", arg);
		return 0;
	case 'd':
		if (strcmp(arg, "cuda") && strcmp(arg, "sim"))
			argp_error(state, "invalid device '%s' (cuda, or sim for tests)", arg);
		o->device = arg;
		return 0;
	case 'r':
		if (xmig_parse_long(arg, 0, INT32_MAX, &o->rank) < 0)
			argp_error(state, "invalid rank '%s'", arg);
		return 0;
	case ARGP_KEY_ARG:
		/* The program starts here: its options are its own. */
		o->first = state->next - 1;
		state->next = state->argc;
		return 0;
	case ARGP_KEY_END:
		if (!o->first)
			argp_error(state, "no command given");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "job", 'J', "NAME", 0, "Name the job (default: the next free number)", 0 },
	{ NULL, 'j', NULL, OPTION_ALIAS | OPTION_HIDDEN, NULL, 0 },
	{ "gpu", 'g', "N", 0, "GPU of this node to start on (default 0, or $XMIG_GPU)", 0 },
	{ "share", 's', "F", 0, "Fraction of the GPU the job needs, in (0,1] (default 1)", 0 },
	{ "device", 'd', "KIND", 0, "cuda (default), or sim: the software test device", 0 },
	{ "rank", 'r', "R", 0, "Rank of this process in its job (default: $RANK, else 0)", 0 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, "[--] COMMAND [ARGS...]",
	"Run COMMAND with its GPU work in a proxy server that xmig can freeze, snapshot and "
	"move.\vThe job name, GPU and device reach the program's proxy through the "
	"environment (XMIG_JOB, XMIG_GPU, XMIG_DEVICE, XMIG_SHARE). xmig run execs COMMAND: "
	"its exit status is the program's own, or 126/127 if it cannot be run. A program "
	"with the CUDA runtime linked statically (nvcc's default) is stopped at its first "
	"CUDA call with status 7 and a hint to rebuild it with `nvcc -cudart shared`.",
	NULL, NULL, NULL
};

static int prepend_env(const char *name, const char *value, char sep)
{
	const char *old = getenv(name);
	char *v;
	int r;

	if (!old || !*old)
		return setenv(name, value, 1);
	if (asprintf(&v, "%s%c%s", value, sep, old) < 0)
		return -1;
	r = setenv(name, v, 1);
	free(v);
	return r;
}

static int check_file(const char *path, const char *what)
{
	if (access(path, R_OK) == 0)
		return 0;
	return xmig_error("%s not found at %s (is xmig installed completely?)", what, path);
}

/* The runtime first: the other facades resolve their CUDA calls to it. */
static const char *const preloaded[] = {
	"libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcudnn.so.9", "libnccl.so.2",
};

static int preload_facades(const char *facade)
{
	char path[PATH_MAX];
	for (int i = (int)(sizeof(preloaded) / sizeof(preloaded[0])) - 1; i >= 0; i--) {
		snprintf(path, sizeof(path), "%s/%s", facade, preloaded[i]);
		if (access(path, R_OK) < 0)
			return xmig_error("the facade %s is missing (is xmig installed completely?)",
					  path);
		if (prepend_env("LD_PRELOAD", path, ':') < 0)
			return -1;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	struct run_opts o = { .gpu = -1, .rank = -1 };
	char lib[PATH_MAX], path[PATH_MAX], facade[PATH_MAX], cudart[PATH_MAX], proxy[PATH_MAX];
	char job[80], buf[64];
	const char *dir = xmig_self_dir();
	int ignored, first;

	if (cmd_parse(&argp, argc, argv, &o, &ignored) < 0)
		return XMIG_EXIT_USAGE;
	first = o.first;
	snprintf(lib, sizeof(lib), "%s/../lib/xmig", dir);
	snprintf(path, sizeof(path), "%s/facade", lib);
	if (!realpath(path, facade)) {
		xmig_error("the facade libraries are missing at %s (is xmig installed completely?)",
			   path);
		return XMIG_EXIT_UNAVAILABLE;
	}
	snprintf(cudart, sizeof(cudart), "%s/libcudart.so.13", facade);
	snprintf(path, sizeof(path), "%s/../libexec/xmig/xmig-proxy", dir);
	if (check_file(cudart, "the CUDA runtime facade") < 0 || check_file(path, "xmig-proxy") < 0 ||
	    !realpath(path, proxy))
		return XMIG_EXIT_UNAVAILABLE;

	if (o.job) {
		snprintf(job, sizeof(job), "%s", o.job);
		if (xmig_job_create(job) < 0) {
			xmig_error_errno("cannot create job %s under %s", job, xmig_runtime_dir());
			return XMIG_EXIT_FAIL;
		}
	} else if (xmig_job_allocate(job, sizeof(job)) < 0) {
		xmig_error_errno("cannot create a job under %s", xmig_runtime_dir());
		return XMIG_EXIT_FAIL;
	}
	/* Every process of the job, and their proxies, agree on these. */
	setenv("XMIG_RUNTIME_DIR", xmig_runtime_dir(), 1);
	setenv("XMIG_JOB", job, 1);
	setenv("XMIG_PROXY", proxy, 1);
	setenv("XMIG_FACADE_DIR", facade, 1);
	if (o.device)
		setenv("XMIG_DEVICE", o.device, 1);
	if (o.gpu >= 0) {
		snprintf(buf, sizeof(buf), "%ld", o.gpu);
		setenv("XMIG_GPU", buf, 1);
	}
	if (o.share > 0) {
		snprintf(buf, sizeof(buf), "%g", o.share);
		setenv("XMIG_SHARE", buf, 1);
	}
	if (o.rank >= 0) {
		snprintf(buf, sizeof(buf), "%ld", o.rank);
		setenv("XMIG_RANK", buf, 1);
	}
	/*
	 * The application sees one GPU, its proxy's, wherever that moves.
	 * Libraries that count GPUs through NVML (PyTorch does) must count one
	 * as well; the proxy gets the user's own setting back (client.c).
	 */
	if (setenv("XMIG_CUDA_VISIBLE_DEVICES", getenv("CUDA_VISIBLE_DEVICES") ?: "", 1) < 0 ||
	    setenv("CUDA_VISIBLE_DEVICES", "0", 1) < 0)
		return xmig_error_errno("cannot set up the environment"), XMIG_EXIT_FAIL;
	if (preload_facades(facade) < 0 || prepend_env("LD_LIBRARY_PATH", facade, ':') < 0)
		return xmig_error_errno("cannot set up the environment"), XMIG_EXIT_FAIL;
	xmig_debug("job %s: exec %s", job, argv[first]);
	execvp(argv[first], argv + first);
	xmig_error_errno("cannot run '%s'", argv[first]);
	return errno == ENOENT ? XMIG_EXIT_NOCMD : XMIG_EXIT_NOEXEC;
}

const struct xmig_cmd cmd_run = { "run", "run a program with its GPU work under xmig", run };
