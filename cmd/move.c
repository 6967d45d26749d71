/*
 * move.c - shared by freeze, thaw, snapshot, suspend, resume and migrate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jobs.h"
#include "../proxy/server/device.h"
#include "move.h"

static error_t parse_common(int key, char *arg, struct argp_state *state)
{
	struct move_opts *o = state->input;

	switch (key) {
	case 'J':
		if (!xmig_job_name_valid(arg))
			argp_error(state, "invalid job name '%s'", arg);
		o->job = arg;
		return 0;
	case 'r':
		if (xmig_parse_long(arg, 0, INT32_MAX, &o->rank) < 0)
			argp_error(state, "invalid rank '%s'", arg);
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case ARGP_KEY_INIT:
		o->rank = -1;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

error_t move_parse_default(int key, char *arg, struct argp_state *state)
{
	if (key == ARGP_KEY_INIT) {
		state->child_inputs[0] = state->input;
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static const struct argp_option common_options[] = {
	{ "job", 'J', "JOB", 0, "The job (see 'xmig ps')", 0 },
	{ "rank", 'r', "R", 0, "Only this rank of the job (default: every rank)", 0 },
	{ "json", 'j', NULL, 0, "Print the result as one JSON object on stdout", 0 },
	{ 0 }
};

const struct argp move_common_argp = { common_options, parse_common, NULL, NULL, NULL, NULL,
				       NULL };

int move_exit_status(int code)
{
	switch (code) {
	case XMIG_RPC_PERMISSION:
	case XMIG_RPC_REFUSED:
	case XMIG_RPC_BUSY:
		return XMIG_EXIT_REFUSED;
	case XMIG_RPC_NOTFOUND:
		return XMIG_EXIT_NOTFOUND;
	case XMIG_RPC_INVALID_PARAMS:
		return XMIG_EXIT_USAGE;
	case 0:
		return XMIG_EXIT_UNAVAILABLE;   /* no answer at all */
	default:
		return XMIG_EXIT_FAIL;
	}
}

int move_find(const struct move_opts *o, struct proc **procs, size_t *n)
{
	json_t *items, *it;
	int status;
	size_t i, k = 0;

	*procs = NULL;
	*n = 0;
	if (!o->job) {
		xmig_error("--job is required");
		return XMIG_EXIT_USAGE;
	}
	items = cmd_jobs_find(o->job, (int)o->rank, &status);
	if (status)
		goto out;
	*procs = calloc(json_array_size(items), sizeof(**procs));
	json_array_foreach(items, i, it) {
		struct proc *p = &(*procs)[k++];
		const char *sock = json_string_value(json_object_get(it, "socket"));
		char why[256];

		p->status = json_incref(it);
		snprintf(p->label_buf, sizeof(p->label_buf), "job %s rank %lld", o->job,
			 (long long)json_integer_value(json_object_get(it, "rank")));
		p->label = p->label_buf;
		if (!sock) {
			/* suspended, lost, or not ours: the caller decides */
			continue;
		}
		p->conn = cmd_connect(sock, why, sizeof(why));
		if (!p->conn) {
			xmig_error("%s: cannot reach its proxy: %s", p->label, why);
			status = strstr(why, "permission") ? XMIG_EXIT_REFUSED : XMIG_EXIT_UNAVAILABLE;
			goto out;
		}
	}
	*n = k;
out:
	json_decref(items);
	if (status) {
		move_free(*procs, k);
		*procs = NULL;
		*n = 0;
	}
	return status;
}

void move_free(struct proc *procs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(procs[i].status);
		xmig_conn_close(procs[i].conn);
	}
	free(procs);
}

int move_each(const struct move_opts *o, struct proc *procs, size_t n, int status,
	      const char *no_proxy, move_each_fn one, void *arg)
{
	json_t *items = json_array();

	for (size_t i = 0; i < n && !status; i++) {
		json_t *r;

		if (!procs[i].conn) {
			xmig_error("%s is %s%s", procs[i].label,
				   json_string_value(json_object_get(procs[i].status, "state")),
				   no_proxy);
			status = XMIG_EXIT_REFUSED;
			break;
		}
		if (!(r = one(&procs[i], n, arg, &status)))
			break;
		json_object_set(r, "job", json_object_get(procs[i].status, "job"));
		json_object_set(r, "rank", json_object_get(procs[i].status, "rank"));
		json_array_append_new(items, r);
	}
	if (o->json)
		cmd_print_result(json_pack("{s:o}", "items", items), status);
	else
		json_decref(items);
	move_free(procs, n);
	return status;
}

json_t *move_call(struct proc *p, struct xmig_conn *c, const char *method, json_t *params,
		  int timeout_ms, int *status)
{
	json_int_t id;
	int wait_ms = move_send(c, method, params, &id, timeout_ms);

	return move_wait(p, c, method, id, wait_ms, status);
}

int move_send(struct xmig_conn *c, const char *method, json_t *params, json_int_t *id,
	      int timeout_ms)
{
	int wait_ms;

	/* (no memory to make the request: the wait fails at once) */
	return xmig_rpc_send(c, method, params, timeout_ms, id, &wait_ms) < 0 ? 0 : wait_ms;
}

json_t *move_wait(struct proc *p, struct xmig_conn *c, const char *method, json_int_t id,
		  int timeout_ms, int *status)
{
	json_t *res = NULL;
	char *msg = NULL;
	int code = 0;

	if (xmig_rpc_wait(c, id, timeout_ms, &res, &code, &msg) < 0) {
		xmig_error("%s: %s: %s", p->label, method, msg ? msg : "no answer");
		free(msg);
		p->held_by_another |= code == XMIG_RPC_BUSY;
		*status = move_exit_status(code);
		return NULL;
	}
	*status = 0;
	return res;
}

struct xmig_conn *move_start_standby(const char *job, int rank, int client_pid, const char *keeper,
				     const char *device, int gpu, double share,
				     const struct move_remote *remote, const char *job_env,
				     int *pid_out)
{
	char proxy[4096], spid[32], srank[32], sgpu[32], sshare[32];
	struct job_env env;
	int sv[2];
	pid_t pid;
	int devnull;

	snprintf(proxy, sizeof(proxy), "%s/../libexec/xmig/xmig-proxy", xmig_self_dir());
	snprintf(spid, sizeof(spid), "%d", client_pid);
	snprintf(srank, sizeof(srank), "%d", rank);
	snprintf(sgpu, sizeof(sgpu), "%d", gpu);
	snprintf(sshare, sizeof(sshare), "%g", share > 0 ? share : 1.0);
	if (access(proxy, X_OK) < 0) {
		xmig_error("xmig-proxy not found at %s", proxy);
		return NULL;
	}
	/* The proxy must agree with the job's proxies on the runtime directory. */
	setenv("XMIG_RUNTIME_DIR", xmig_runtime_dir(), 1);
	if (job_env_make(&env, job_env, remote ? remote->token : NULL) < 0)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		job_env_free(&env);
		return NULL;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		/* Its own session: a Ctrl-C meant for us must not reach it. */
		setsid();
		dup2(sv[1], 3);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		/* stderr stays ours until it attaches, then it takes the job's. */
		if (remote) {
			char *const argv[] = { "xmig-proxy", "--standby", "--control-fd", "3",
					       "--job", (char *)job, "--client-pid", spid,
					       "--keeper", (char *)keeper, "--rank", srank, "--gpu",
					       sgpu, "--remote", (char *)remote->address,
					       "--remote-node", (char *)remote->node,
					       "--remote-device", (char *)remote->kind, "--share",
					       sshare, NULL };

			execve(proxy, argv, env.env);
		} else {
			char *const argv[] = { "xmig-proxy", "--standby", "--control-fd", "3",
					       "--job", (char *)job, "--client-pid", spid,
					       "--keeper", (char *)keeper, "--rank", srank, "--gpu",
					       sgpu, "--device", (char *)device, "--share", sshare,
					       NULL };

			execve(proxy, argv, env.env);
		}
		_exit(127);
	}
	job_env_free(&env);
	close(sv[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(sv[0]);
		return NULL;
	}
	if (pid_out)
		*pid_out = (int)pid;
	return xmig_conn_from_fd(sv[0]);
}

/* Is GPU `gpu` there? Asks the backend (the sim device reads its settings). */
int move_check_gpu(const char *device, int gpu, struct xmig_gpu_info *info)
{
	const struct xmig_device_ops *d = xmig_device_by_name(device);
	int n = 0;

	if (!d || d->count(&n) || gpu >= n) {
		xmig_error("no GPU %d on this node (%d %s GPU%s)", gpu, n, device, n == 1 ? "" : "s");
		return XMIG_EXIT_NOTFOUND;
	}
	if (d->info_of(gpu, info)) {
		xmig_error("cannot query GPU %d", gpu);
		return XMIG_EXIT_UNAVAILABLE;
	}
	return 0;
}

void move_token(char out[33])
{
	unsigned char b[16];
	size_t i;

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		for (i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(rand() ^ (int)xmig_now_ns());
	for (i = 0; i < sizeof(b); i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[32] = '\0';
}

static void progress(const char *method, json_t *params, void *arg)
{
	const char *label = arg, *phase = json_string_value(json_object_get(params, "phase"));
	json_int_t done = json_integer_value(json_object_get(params, "done"));
	json_int_t total = json_integer_value(json_object_get(params, "total"));
	static json_int_t last_pct = -1;
	static uint64_t t0;
	char d[32], t[32], r[32];
	json_int_t pct = total > 0 ? done * 100 / total : 100;
	double s;

	if (!t0 || pct < last_pct)
		t0 = xmig_now_ns();
	/* Every 10%: enough to see it move, not a flood. */
	if (pct / 10 == last_pct / 10 && pct != 100)
		return;
	last_pct = pct;
	s = (double)(xmig_now_ns() - t0) / 1e9;
	/* A rate over less than a millisecond says nothing. */
	if (s < 1e-3)
		snprintf(r, sizeof(r), "-");
	else
		xmig_format_bytes((uint64_t)((double)done / s), r, sizeof(r));
	xmig_info("%s: %s %lld%% (%s of %s, %s/s)", label, phase ? phase : "progress",
		  (long long)pct, xmig_format_bytes((uint64_t)done, d, sizeof(d)),
		  xmig_format_bytes((uint64_t)total, t, sizeof(t)), r);
}

void move_show_progress(struct xmig_conn *c, const char *label)
{
	xmig_conn_on_notify(c, progress, (void *)label);
}
