/* snapshot.h - a frozen proxy's state in a directory, and back. */
#ifndef XMIG_SNAPSHOT_H
#define XMIG_SNAPSHOT_H

#include <jansson.h>

#include "server.h"

struct ctl_conn;

/* Write the state of a frozen proxy to dir; statistics, or NULL and why. */
json_t *srv_snapshot_write(struct srv *s, struct ctl_conn *cc, const char *dir, char *why,
			   size_t len);
/* Restore into this (standby) proxy; statistics, or NULL with *code and why. */
json_t *srv_snapshot_restore(struct srv *s, struct ctl_conn *cc, const char *dir, int *code,
			     char *why, size_t len);

#endif
