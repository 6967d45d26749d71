/* manifest-delta.h - the freeze's manifest, less what the successor holds (manifest-delta.c). */
#ifndef XMIG_MANIFEST_DELTA_H
#define XMIG_MANIFEST_DELTA_H

#include <stddef.h>

#include <jansson.h>

/*
 * Old proxy: manifest m as sent to a successor that holds prelude: its
 * modules, kernels and variables that are as in the prelude go by id
 * under "unchanged", and an array (these, or the allocations) that holds
 * the prelude's very entries goes as `true` there. A new object (m is
 * left as it is), NULL without memory.
 */
json_t *manifest_delta(json_t *m, json_t *prelude);

/*
 * New proxy: m made whole again from the prelude this proxy took (an
 * array unchanged as a whole is the prelude's own, shared: read-only). 0
 * (also for a manifest sent whole), or -1 with why (an entry the prelude
 * lacks).
 */
int manifest_expand(json_t *m, json_t *prelude, char *why, size_t len);

#endif
