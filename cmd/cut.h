/*
 * cut.h - the ranks of a job that share NCCL communicators, stopped
 * together at a consistent cut (no collective half-posted) and, after some
 * of them moved, re-linked from a fresh unique id (ccl/README.md).
 */
#ifndef XMIG_CMD_CUT_H
#define XMIG_CMD_CUT_H

#include "move.h"

/* The most ranks of any NCCL communicator the job's processes hold (0: none). */
int cut_comm_ranks(struct proc *procs, size_t n);
/* Does any process of the job hold a communicator of several ranks? */
bool cut_needed(struct proc *procs, size_t n);

/*
 * Stop every rank at a call boundary (ccl.cut_begin), compute the targets
 * from their counters and run every rank up to them, concurrently
 * (ccl.cut_advance): each is then frozen and drained, held by its
 * connection. *reports: each rank's counters, in procs' order. On failure
 * every rank is thawed, and the exit status (said) is returned. *thawed
 * (may be NULL): the ranks ran on and were stopped again meanwhile (a
 * thaw withdraws what a move offered ahead).
 */
int cut_freeze(struct proc *procs, size_t n, long timeout_ms, json_t **reports, bool *thawed);

/* Where a rank will be after a move, and whom to ask there (its standby, or its proxy). */
struct cut_place {
	struct xmig_conn *conn;
	const char *node;
	int gpu;
};

/*
 * Before the cut, while the job runs: every communicator of several ranks
 * built from a fresh id and connected, on every rank where it will be
 * (at[i], procs' order; ccl.prelink), so that the cut's re-link only puts
 * it in place. {key: {id, ahead_ms}} for each (null: not built ahead,
 * said; the cut builds it). What is built ahead lives as long as those
 * connections.
 */
json_t *cut_prelink(struct proc *procs, size_t n, const struct cut_place *at);

/*
 * Re-link every communicator of several ranks: the id it was built from
 * ahead (ahead: cut_prelink's, or NULL), else a fresh id from the proxy of
 * its rank 0; then ccl.relink on all its ranks at once (an init blocks
 * until every rank joins). The job stays frozen. Appends to lines, for
 * each one re-linked, {key, ranks, built_ahead, relink_ms, build_ms,
 * ahead_ms} (migrate --json's communicators). 0 or an exit status (said).
 */
int cut_relink(struct proc *procs, size_t n, json_t *reports, json_t *ahead, json_t *lines);

/* Thaw every rank (explicitly: a freeze held by a connection included). */
void cut_thaw(struct proc *procs, size_t n);

/* After a failed cut: did the job end meanwhile (no rank's process left)? */
bool cut_job_ended(struct proc *procs, size_t n);

#endif
