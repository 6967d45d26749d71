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

/* Where a standby proxy's GPU is, when it is on another node. */
struct move_remote {
	const char *address;      /* host:port of the executor */
	const char *node;         /* its node's name */
	const char *kind;         /* cuda or sim, there */
	const char *token;        /* one-time, for the executor */
};

/* Start a standby proxy for the process on GPU gpu (remote: NULL for this
 * node's); its connection. */
struct xmig_conn *move_start_standby(const char *job, int rank, int client_pid, const char *keeper,
				     const char *device, int gpu, double share,
				     const struct move_remote *remote, int *pid);
/* 32 random hex digits. */
/* Is GPU `gpu` of this node there? 0 and its info, or an exit status (said). */
int move_check_gpu(const char *device, int gpu, struct xmig_gpu_info *info);
void move_token(char out[33]);
/* Print progress notifications on stderr (installed on a connection). */
void move_show_progress(struct xmig_conn *c, const char *label);
int move_exit_status(int rpc_code);

#endif
