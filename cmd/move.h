/*
 * move.h - what the commands that move jobs share: finding the processes,
 * talking to their proxies, starting a standby proxy on a target GPU,
 * progress on stderr.
 */
#ifndef XMIG_CMD_MOVE_H
#define XMIG_CMD_MOVE_H

#include <stdbool.h>

#include "../proxy/server/device.h"
#include "cmd.h"

/* Options every move command takes. */
struct move_opts {
	const char *job;
	long rank;                 /* -1: every rank */
	bool json;
	const char *dir;
	const char *to;
	bool dry_run, zero_copy;
	long timeout_ms;
};

/* argp options --job --rank --json, parsed into struct move_opts; no
 * positional arguments. */
extern const struct argp move_common_argp;
/* What a command's own parser returns for keys it does not take: hands
 * its struct move_opts to move_common_argp (its first child). */
error_t move_parse_default(int key, char *arg, struct argp_state *state);

/* A proxy, connected and described. */
struct proc {
	json_t *status;            /* from "status" */
	struct xmig_conn *conn;
	const char *label;         /* "job 3 rank 0" */
	char label_buf[128];
	bool held_by_another;      /* a call was refused: another command is moving it */
};

/* Connect to each process of the job (the rank, or all). Exit status. */
int move_find(const struct move_opts *o, struct proc **procs, size_t *n);
void move_free(struct proc *procs, size_t n);

/*
 * The loop of the commands that act on each process of a job: in turn, up
 * to the first failure (status, if not 0, is one from move_find already).
 * A process without a proxy is refused with "LABEL is STATE<no_proxy>";
 * one() does the command's part and returns its result, or NULL with
 * *status set. Results get "job" and "rank" and print as {"items":[...]}
 * with --json. Frees procs; returns the exit status.
 */
typedef json_t *(*move_each_fn)(struct proc *p, size_t n, void *arg, int *status);
int move_each(const struct move_opts *o, struct proc *procs, size_t n, int status,
	      const char *no_proxy, move_each_fn one, void *arg);

/* Call a method; on error print it (prefixed by the label) and map the
 * JSON-RPC code to an exit status in *status. */
json_t *move_call(struct proc *p, struct xmig_conn *c, const char *method, json_t *params,
		  int timeout_ms, int *status);
/*
 * move_call's halves, to have calls to two proxies in flight at once:
 * send gives the timeout for wait to use.
 */
int move_send(struct xmig_conn *c, const char *method, json_t *params, json_int_t *id,
	      int timeout_ms);
json_t *move_wait(struct proc *p, struct xmig_conn *c, const char *method, json_int_t id,
		  int timeout_ms, int *status);

/* Where a standby proxy's GPU is, when it is on another node. */
struct move_remote {
	const char *address;      /* host:port of the executor */
	const char *node;         /* its node's name */
	const char *kind;         /* cuda or sim, there */
	const char *token;        /* one-time, for the executor */
};

/*
 * Start a standby proxy for the process on GPU gpu (remote: NULL for this
 * node's), in the job's environment read from job_env (job-env.c: the old
 * proxy's /proc/PID/environ, or a suspend's copy; NULL: this command's);
 * its connection.
 */
struct xmig_conn *move_start_standby(const char *job, int rank, int client_pid, const char *keeper,
				     const char *device, int gpu, double share,
				     const struct move_remote *remote, const char *job_env,
				     int *pid);
/* Is GPU `gpu` of this node there? 0 and its info, or an exit status (said). */
int move_check_gpu(const char *device, int gpu, struct xmig_gpu_info *info);
/* 32 random hex digits. */
void move_token(char out[33]);

/* ---- the environment of a proxy started for a job (job-env.c) ------------------ */

struct job_env {
	char **env;          /* for execve */
	char *text, *token;  /* what its entries point into */
	size_t n, cap;
};
/*
 * The job's environment from job_file (NUL-separated entries; NULL or
 * unreadable, said: this command's), XMIG_*, CUDA_VISIBLE_DEVICES and
 * CUDA_DEVICE_ORDER from this command's, and the remote token if any.
 */
int job_env_make(struct job_env *e, const char *job_file, const char *remote_token);
void job_env_free(struct job_env *e);
/* proxy_pid's environment (NULL, said, if unreadable), to keep in a suspend's
 * dir/environ (mode 0600) for the resume. */
char *job_env_read(int proxy_pid, size_t *len);
int job_env_write(const char *dir, const char *text, size_t len);
/* Print progress notifications on stderr (installed on a connection). */
void move_show_progress(struct xmig_conn *c, const char *label);
int move_exit_status(int rpc_code);

#endif
