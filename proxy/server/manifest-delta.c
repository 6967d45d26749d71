/*
 * manifest-delta.c - the freeze's manifest, less what the successor holds.
 *
 * A successor that took the prelude holds its manifest. At the freeze the
 * kernels, modules and __device__ variables are mostly the prelude's, and
 * a PyTorch job has hundreds of variables with long C++ names: written out
 * again, parsed again, they were a good part of its downtime. Entries the
 * same as the prelude's (compared as JSON, so a changed attribute is sent)
 * go by id under "unchanged"; the successor takes them from its copy of
 * the prelude before it reads the manifest as ever.
 *
 * Most often nothing of an array changed at all: the old proxy keeps each
 * object's entry and shares it with every manifest (state.c), so its
 * manifest at the freeze holds the prelude's very entries, in order. Such
 * an array goes as "unchanged": {"<key>": true}, not even by id, and the
 * successor takes the prelude's array itself (allocations, too, which
 * have no id, and streams go this way or whole).
 *
 * CUDA graphs' capture logs are named by their hash: those the prelude
 * had go by name, under "unchanged": {"graph_logs": [names]}. The graphs
 * and executable graphs themselves go whole or as unchanged arrays (their
 * entries are shared too: srv-graph.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest-delta.h"

/* The arrays of the manifest sent by id: entries that rarely change. */
static const char *const keys[] = { "modules", "funcs", "vars" };
/* Those that may go as a whole. */
static const char *const whole_keys[] = { "allocations", "streams", "modules", "funcs", "vars",
					  "graphs", "graph_execs" };

struct entry {
	json_int_t id;
	json_t *o;
};

static int by_id(const void *a, const void *b)
{
	json_int_t x = ((const struct entry *)a)->id, y = ((const struct entry *)b)->id;

	return (x > y) - (x < y);
}

/* arr's entries sorted by id (NULL: no memory, or an entry without one). */
static struct entry *index_of(json_t *arr, size_t *n)
{
	struct entry *e = malloc((json_array_size(arr) + 1) * sizeof(*e));
	json_t *o;
	size_t i;

	*n = 0;
	if (!e)
		return NULL;
	json_array_foreach(arr, i, o) {
		json_t *id = json_object_get(o, "id");

		if (!json_is_integer(id)) {
			free(e);
			return NULL;
		}
		e[(*n)++] = (struct entry){ json_integer_value(id), o };
	}
	qsort(e, *n, sizeof(*e), by_id);
	return e;
}

static json_t *find(const struct entry *e, size_t n, json_int_t id)
{
	struct entry key = { id, NULL }, *hit = bsearch(&key, e, n, sizeof(*e), by_id);

	return hit ? hit->o : NULL;
}

/* Does now hold the very entries of was, in order (shared, so unchanged)? */
static bool same_entries(json_t *now, json_t *was)
{
	size_t n = json_array_size(now);

	if (!json_is_array(now) || !json_is_array(was) || json_array_size(was) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_array_get(now, i) != json_array_get(was, i))
			return false;
	return true;
}

json_t *manifest_delta(json_t *m, json_t *prelude)
{
	json_t *wire = json_copy(m), *unchanged = json_object();

	if (!wire || !unchanged)
		goto err;
	for (size_t k = 0; k < sizeof(whole_keys) / sizeof(whole_keys[0]); k++)
		if (same_entries(json_object_get(m, whole_keys[k]),
				 json_object_get(prelude, whole_keys[k]))) {
			json_object_del(wire, whole_keys[k]);
			json_object_set_new(unchanged, whole_keys[k], json_true());
		}
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		json_t *now = json_object_get(m, keys[k]), *left, *ids;
		size_t n, i;
		struct entry *was;
		json_t *o;

		if (json_object_get(unchanged, keys[k]))
			continue;   /* as a whole */
		left = json_array();
		ids = json_array();
		was = index_of(json_object_get(prelude, keys[k]), &n);
		if (!was || !left || !ids) {
			free(was);
			json_decref(left);
			json_decref(ids);
			continue;   /* this array goes whole */
		}
		json_array_foreach(now, i, o) {
			json_int_t id = json_integer_value(json_object_get(o, "id"));
			json_t *before = find(was, n, id);

			if (before && json_equal(before, o))
				json_array_append_new(ids, json_integer(id));
			else
				json_array_append(left, o);
		}
		free(was);
		json_object_set_new(wire, keys[k], left);
		json_object_set_new(unchanged, keys[k], ids);
	}
	{
		/* (the wire's own copy: json_copy shares the manifest's objects) */
		json_t *logs = json_copy(json_object_get(m, "graph_logs"));
		json_t *had = json_object_get(prelude, "graph_logs"), *names = json_array(), *o;
		const char *key;
		void *tmp;

		json_object_foreach_safe(logs, tmp, key, o)
			if (json_object_get(had, key)) {
				json_array_append_new(names, json_string(key));
				json_object_del(logs, key);
			}
		if (logs)
			json_object_set_new(wire, "graph_logs", logs);
		if (json_array_size(names))
			json_object_set_new(unchanged, "graph_logs", names);
		else
			json_decref(names);
	}
	json_object_set_new(wire, "unchanged", unchanged);
	return wire;
err:
	json_decref(wire);
	json_decref(unchanged);
	return NULL;
}

int manifest_expand(json_t *m, json_t *prelude, char *why, size_t len)
{
	json_t *unchanged = json_object_get(m, "unchanged");

	if (!unchanged)
		return 0;
	if (!prelude) {
		snprintf(why, len, "the old proxy left out state this proxy does not hold");
		return -1;
	}
	for (size_t k = 0; k < sizeof(whole_keys) / sizeof(whole_keys[0]); k++) {
		json_t *was = json_object_get(prelude, whole_keys[k]);

		if (!json_is_true(json_object_get(unchanged, whole_keys[k])))
			continue;
		if (!json_is_array(was) || json_object_get(m, whole_keys[k])) {
			snprintf(why, len, "a malformed manifest (%s)", whole_keys[k]);
			return -1;
		}
		/* the prelude's own array (read-only here, as the manifest is) */
		json_object_set(m, whole_keys[k], was);
	}
	{
		json_t *names = json_object_get(unchanged, "graph_logs"), *name;
		json_t *had = json_object_get(prelude, "graph_logs"), *logs = json_object_get(m,
											 "graph_logs");
		size_t i;

		json_array_foreach(names, i, name) {
			json_t *o = json_object_get(had, json_string_value(name) ?: "");

			if (!o) {
				snprintf(why, len, "a malformed manifest (graph_logs)");
				return -1;
			}
			if (!logs)
				json_object_set_new(m, "graph_logs", logs = json_object());
			json_object_set(logs, json_string_value(name), o);
		}
	}
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		json_t *ids = json_object_get(unchanged, keys[k]), *now = json_object_get(m, keys[k]);
		json_t *id, *o, *all;
		size_t n, nnow, i;
		struct entry *was, *merged;

		if (!json_is_array(ids) || !json_array_size(ids))
			continue;
		if (!json_is_array(now) || !(was = index_of(json_object_get(prelude, keys[k]), &n))) {
			snprintf(why, len, "a malformed manifest (%s)", keys[k]);
			return -1;
		}
		merged = malloc((json_array_size(ids) + json_array_size(now) + 1) * sizeof(*merged));
		if (!merged || !(all = json_array())) {
			free(was);
			free(merged);
			snprintf(why, len, "out of memory");
			return -1;
		}
		nnow = 0;
		json_array_foreach(ids, i, id) {
			if (!(o = find(was, n, json_integer_value(id)))) {
				snprintf(why, len, "the old proxy named %s entry %lld, which this "
					 "proxy's prelude lacks", keys[k],
					 (long long)json_integer_value(id));
				free(was);
				free(merged);
				json_decref(all);
				return -1;
			}
			merged[nnow++] = (struct entry){ json_integer_value(id), o };
		}
		json_array_foreach(now, i, o)
			merged[nnow++] = (struct entry){ json_integer_value(json_object_get(o, "id")), o };
		/* in id order, as the old proxy lists them */
		qsort(merged, nnow, sizeof(*merged), by_id);
		for (i = 0; i < nnow; i++)
			json_array_append(all, merged[i].o);
		free(was);
		free(merged);
		json_object_set_new(m, keys[k], all);
	}
	json_object_del(m, "unchanged");
	return 0;
}
