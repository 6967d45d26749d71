/* move.h - control methods of freezes and moves (move.c). */
#ifndef XMIG_MOVE_H
#define XMIG_MOVE_H

#include "control.h"
#include "server.h"

extern const struct ctl_method srv_move_methods[];

/* Take over the channel (after a handover or a restore) and serve; frozen:
 * stay frozen, as the job was before its move. */
int srv_resume(struct srv *s, bool frozen, char *why, size_t len);

/*
 * Is the proxy frozen for the move of holder (its controller's connection):
 * by that connection, or by hand? 1, 0 (not yet), -1 (the move was called
 * off: cancel, as for srv_hand_over).
 */
int srv_frozen_for(struct srv *s, const void *holder, _Atomic bool *cancel);

/*
 * The freeze of holder's move, made by its offer's thread when the
 * successor says GO: as `freeze` with hold "connection" over holder, so
 * that the connection's loss thaws it. 0 (*was_frozen: by hand or at a cut
 * already), -1 (the GPU did not drain), -2 (another command's freeze
 * holds), -3 (the move was called off: cancel).
 */
int srv_freeze_for(struct srv *s, const void *holder, _Atomic bool *cancel, bool *was_frozen);

/*
 * The commit point of a move: the channel goes to the proxy with attach id
 * next, if this one is still frozen and the move was not called off. From
 * an offer's thread (cancel: its flag, set by whoever withdraws it) or a
 * control call (cancel NULL). *stay_frozen: the job was frozen before the
 * move's own freeze (by hand, or at a cut), and its successor keeps it so.
 * 0, or -1 with why. The caller then stops this proxy (ctl_request_stop),
 * once its answer is out.
 */
int srv_hand_over(struct srv *s, uint64_t next, _Atomic bool *cancel, bool *stay_frozen,
		  char *why, size_t len);

#endif
