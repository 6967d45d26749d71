/*
 * control.h - the control socket's method table and helpers for methods.
 */
#ifndef XMIG_CONTROL_H
#define XMIG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct srv;
struct ctl_conn;

/*
 * A method returns its result (a new reference) or NULL with *err_code
 * (enum xmig_rpc_code) and a message. Slow methods run off the loop thread.
 */
struct ctl_method {
	const char *name;
	json_t *(*fn)(struct srv *s, struct ctl_conn *cc, json_t *params, int *err_code,
		      char *err_msg, size_t err_len);
	bool slow;
};

const struct ctl_method *ctl_method_find(const char *name);
/* methods.c: what the proxy counts its GPU among ({"visible_devices","device_order"}) */
json_t *srv_gpu_numbering(const struct srv *s);
/* srv-ccl.c: the consistent cut and re-linking (ccl.*) */
extern const struct ctl_method srv_ccl_methods[];

/* Is the connection going (its close under way: srv_move_conn_closed comes, or came)? Any thread. */
bool ctl_conn_closing(struct ctl_conn *cc);
/* The process at the other end (SO_PEERCRED; 0 if not known). */
pid_t ctl_conn_peer_pid(const struct ctl_conn *cc);
/* Send a notification (e.g. "progress") to the caller; any thread. */
void ctl_notify(struct ctl_conn *cc, const char *method, json_t *params /* stolen */);
/* Serve until the client goes away or a stop is requested; returns why. */
const char *ctl_run(struct srv *s);
void ctl_request_stop(const char *why);
/* After ctl_run: wait for the control calls still running on the pool. */
void ctl_finish_calls(void);
void ctl_unlink_socket(struct srv *s);
/* Move the control socket from listen_path to its registered name. */
int ctl_take_socket_path(struct srv *s);

#endif
