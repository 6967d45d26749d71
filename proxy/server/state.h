/* state.h - a frozen proxy's state as a manifest, and its replay. */
#ifndef XMIG_STATE_H
#define XMIG_STATE_H

#include <jansson.h>

#include "server.h"

#define SRV_STATE_FORMAT 1

/* The manifest of a frozen proxy (new reference). */
json_t *srv_state_manifest(struct srv *s);
/*
 * Can this proxy take this state? 0 yes; -1 no (incompatible or malformed);
 * -2 no, not enough free device memory. The reason goes to why.
 */
int srv_state_check(struct srv *s, json_t *manifest, char *why, size_t len);
/* Recreate the memory map (map=true: with fresh backing). */
int srv_state_restore_memory(struct srv *s, json_t *manifest, bool map);

/* Supplies module `id`'s image (malloc'd, `size` bytes) or NULL. */
typedef void *(*srv_image_fn)(void *arg, uint64_t id, uint64_t size);
/* Recreate modules, kernels, variables, streams, events and limits. */
int srv_state_restore_objects(struct srv *s, json_t *manifest, srv_image_fn image, void *arg);

#endif
