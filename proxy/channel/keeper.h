/*
 * keeper.h - the client's fd keeper protocol.
 *
 * The application process owns every shared-memory object (the channel
 * segment, each pinned host allocation). A thread of the client library,
 * the keeper, listens on <runtime>/jobs/<job>/<pid>.keeper and hands those
 * memfds to any proxy of the same user (or root) that asks: the first proxy,
 * the target of a migration, the proxy that resumes a suspended job. The
 * proxy's connection to the keeper is its session: when it closes without
 * a handover, the client knows its server is gone.
 *
 * Messages are fixed-size structs; replies may carry one fd (SCM_RIGHTS).
 */
#ifndef XMIG_KEEPER_H
#define XMIG_KEEPER_H

#include <stdint.h>

#define XMIG_KEEPER_MAGIC 0x5045454bu   /* "KEEP" */

enum xmig_keeper_op {
	XMIG_KEEPER_ATTACH = 1,      /* a = attach id, b = proxy pid; fd: segment */
	XMIG_KEEPER_REGION = 2,      /* a = index; fd: that pinned region's memfd */
	XMIG_KEEPER_REGION_AT = 3,   /* a = address; fd: the region holding it */
	XMIG_KEEPER_STDERR = 4,      /* fd: the application's stderr, for the
				      * proxy's messages */
};

struct xmig_keeper_req {
	uint32_t magic, op;
	uint64_t a, b;
};

struct xmig_keeper_reply {
	uint32_t magic;
	int32_t status;              /* 0 or -errno */
	uint64_t a, b, c, d;
};

#endif
