/* xfer.h - state handover between two proxies of one node. */
#ifndef XMIG_XFER_H
#define XMIG_XFER_H

#include <jansson.h>

#include "server.h"

struct ctl_conn;

/*
 * Old proxy: listen for the successor with a one-time token (32 hex
 * characters) for at most timeout_s seconds; the socket path goes to path.
 * holder: the move's control connection. It replaces an offer of its own.
 * command: the process at its other end (named in the handover mark).
 * freeze_at_go: freeze for holder when the successor says GO (srv_freeze_for).
 */
int srv_xfer_offer(struct srv *s, const void *holder, pid_t command, const char *token,
		   bool stream, bool freeze_at_go, unsigned timeout_s, char *path, size_t len);
/* Is an offer of another move's (not holder's) still open? */
bool srv_xfer_offered_to_another(struct srv *s, const void *holder);
/* holder's offer, if it is the one open: withdrawn (its move's controller is gone). */
void srv_xfer_withdraw_of(struct srv *s, const void *holder);

/*
 * How memory crosses: the same physical memory (zero-copy, same GPU), a
 * copy from an imported handle (same node), or bytes through the
 * connection (stream: another node, or a bridge on either side).
 */
enum xfer_mode { XFER_COPY, XFER_ZERO_COPY, XFER_STREAM };

/* Withdraw the offer (before a thaw): stops a transfer in progress. */
void srv_xfer_withdraw(struct srv *s);
/* At exit, before the device closes: the offer withdrawn, what moves kept freed. */
void srv_xfer_close(struct srv *s);

/*
 * New proxy, while the job still runs: fetch the memory map and fat
 * binaries ahead, map memory (copy mode) and load the modules. The
 * connection stays open for srv_xfer_receive.
 */
json_t *srv_xfer_prepare(struct srv *s, struct ctl_conn *cc, const char *path, const char *token,
			 enum xfer_mode mode, int *code, char *why, size_t len);

/* A transfer that ends with the handover and the resume (see srv_xfer_receive). */
struct xfer_commit {
	bool frozen;   /* the job stays frozen after the move, as it was before */
};

/*
 * New proxy: fetch and restore the state (zero_copy: map the same memory).
 * With cm, the old proxy hands over at the end and this one resumes (the
 * result says "handed_over"; NULL if it did not); without, the
 * orchestrator asks for both. Returns statistics, or NULL with *code
 * (enum xmig_rpc_code) and why.
 */
json_t *srv_xfer_receive(struct srv *s, struct ctl_conn *cc, const char *path, const char *token,
			 enum xfer_mode mode, const struct xfer_commit *cm, int *code, char *why,
			 size_t len);

/* Let the predecessor's memory go (after the resume, in the background). */
void srv_xfer_release_sources(struct srv *s);

/* Map and register the client's pinned regions (after a restore). */
int srv_restore_host_regions(struct srv *s);

#endif
