/* state.h - a frozen proxy's state as a manifest, and its replay. */
#ifndef XMIG_STATE_H
#define XMIG_STATE_H

#include <jansson.h>

#include "server.h"

#define SRV_STATE_FORMAT 1

/* The manifest of a frozen proxy (new reference). */
json_t *srv_state_manifest(struct srv *s);
/*
 * The same for a move's successor that holds the cuDNN log of the prelude
 * described by base: that log as a delta ("cudnn_delta" for "cudnn").
 */
struct dnn_base;
json_t *srv_state_manifest_since(struct srv *s, const struct dnn_base *base);
/*
 * Make v->entry, the manifest entry of variable id, when the variable is
 * made (not while a prelude holds the job): 0, or -1 without memory.
 */
int srv_state_var_entry(uint64_t id, struct srv_var *v);
/*
 * The manifest entry kept with an object (a module, kernel or allocation)
 * no longer says what the object is, or the object goes: the entry is
 * dropped (the next manifest makes it anew). Manifests still holding it
 * keep their reference.
 */
void srv_state_entry_changed(json_t **entry);
/*
 * Append an object's manifest entry to list: *entry, kept with the object
 * and shared by every manifest, or made (made; NULL when *entry is there).
 */
void srv_state_add_entry(json_t *list, json_t **entry, json_t *made);
/*
 * Can this proxy take this state? 0 yes; -1 no (incompatible or malformed);
 * -2 no, not enough free device memory. The reason goes to why.
 */
int srv_state_check(struct srv *s, json_t *manifest, bool needs_memory, char *why, size_t len);
/* Recreate the memory map (map=true: with fresh backing). */
int srv_state_restore_memory(struct srv *s, json_t *manifest, bool map);
/* Does the manifest still name every allocation this proxy has (same size, serial)? */
bool srv_state_memory_unchanged(struct srv *s, json_t *manifest);
/* Make the memory map the manifest's, keeping what was prepared ahead. */
int srv_state_reconcile_memory(struct srv *s, json_t *manifest, bool map);

/* Supplies module `id`'s image (malloc'd, `size` bytes) or NULL. */
typedef void *(*srv_image_fn)(void *arg, uint64_t id, uint64_t size);
/* Load the manifest's fat binaries (those not loaded yet). */
int srv_state_load_modules(struct srv *s, json_t *manifest, srv_image_fn image, void *arg);
/*
 * Recreate modules, kernels, variables, streams, events, library handles
 * (cuBLAS, cuBLASLt, cuDNN, one-rank NCCL communicators) and limits; what
 * srv_state_prebuild made ahead is kept where the manifest still names it.
 */
int srv_state_restore_objects(struct srv *s, json_t *manifest, srv_image_fn image, void *arg);
/*
 * A move's standby, while the job still runs: make the objects of the
 * prelude's manifest (modules loaded already), so that the frozen part of
 * the move only makes what changed since. Events are not recorded, limits
 * not set, multi-rank communicators left to the re-link. 0, or -1 (what
 * was made stays; the final restore reconciles it).
 */
int srv_state_prebuild(struct srv *s, json_t *prelude);
/*
 * The ids a manifest list names (its entries' "id"), sorted for lookups;
 * srv_ids_of: 0, or -1 without memory. Free ids->v.
 */
struct srv_ids {
	uint64_t *v;
	size_t n;
};
int srv_ids_of(json_t *list, struct srv_ids *ids);
bool srv_ids_has(const struct srv_ids *ids, uint64_t id);

/* libraries.c: the library files the proxy loads, in the manifest. */
/* At the start, before any thread: the library variables exist (setenv later only replaces). */
void srv_libraries_reserve(void);
json_t *srv_libraries_manifest(void);
const char *srv_libraries_path(json_t *manifest, const char *var);
/* Is VAR one of libraries.h's variables? */
bool srv_libraries_known(const char *var);
/* Load what the manifest names from now on (before handles are remade). */
void srv_libraries_adopt(json_t *manifest);

#endif
