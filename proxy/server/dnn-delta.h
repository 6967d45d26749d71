/*
 * dnn-delta.h - the cuDNN log of a move's freeze as what changed since the
 * prelude's (which the standby replayed ahead), instead of all of it.
 */
#ifndef XMIG_DNN_DELTA_H
#define XMIG_DNN_DELTA_H

#include <jansson.h>

#include "server.h"   /* dnn-log.h, after the tables */

/* What the old proxy sent of its log in a prelude, in the prelude's order. */
struct dnn_base {
	size_t nobjs, nsteps;
	struct dnn_base_obj {
		uint64_t id, serial;
		bool destroyed, finalized;
	} *objs;                        /* by id, as the section lists them */
	struct dnn_base_step {
		uint64_t serial;
		size_t pos;             /* in the prelude's steps */
	} *steps;                       /* by serial */
};

/* Remember l as it is sent now (in a prelude). 0, or -1 (out of memory). */
int dnn_base_take(struct dnn_base *b, const struct dnn_log *l);
void dnn_base_free(struct dnn_base *b);

/*
 * l as a delta to the base: objects and steps in l's order, each either
 * [position, n] (n of the base's, consecutive from position) or a whole
 * entry as dnn_log_to_json writes it; and l's digest, to check the result.
 */
json_t *dnn_log_delta(const struct dnn_log *l, const struct dnn_base *b);

/*
 * Rebuild the log the delta describes into the empty log l, from base (the
 * prelude's log, as the standby holds it: dnn_log_from_json of the same
 * section). 0, or -1 when the delta is malformed or does not fit base.
 */
int dnn_log_from_delta(struct dnn_log *l, json_t *delta, const struct dnn_log *base);

/*
 * Does the delta say base, unchanged (one run of all its objects, one of
 * all its steps, and base's digest)? Then the log it describes is base:
 * nothing to rebuild.
 */
bool dnn_delta_is_base(json_t *delta, const struct dnn_log *base);

/* A hash of what the log says (not its backend objects): equal logs, equal digests. */
uint64_t dnn_log_digest(const struct dnn_log *l);

#endif
