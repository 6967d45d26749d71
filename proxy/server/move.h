/* move.h - control methods of freezes and moves (move.c). */
#ifndef XMIG_MOVE_H
#define XMIG_MOVE_H

#include "control.h"
#include "server.h"

extern const struct ctl_method srv_move_methods[];

/* Take over the channel (after a handover or a restore) and serve; frozen:
 * stay frozen, as the job was before its move. */
int srv_resume(struct srv *s, bool frozen, char *why, size_t len);

#endif
