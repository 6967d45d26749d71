/*
 * state.c - everything of a frozen proxy except memory contents, as one
 * JSON document (the manifest), and the replay that recreates it in a new
 * proxy under the same ids and at the same addresses.
 *
 * The manifest is what a move transfers and what a snapshot directory
 * keeps (share/schema/snapshot.schema.json). Module images travel beside
 * it; memory contents are the transfer's business (xfer.c, snapshot.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnn-delta.h"
#include "state.h"

/* ---- building ---------------------------------------------------------- */

static const char *hex64(uint64_t v, char *buf)
{
	snprintf(buf, 17, "%016llx", (unsigned long long)v);
	return buf;
}

/*
 * Entries of objects that rarely change (streams, modules, kernels,
 * variables, allocations) are made once and kept with the object, and every manifest
 * shares them (read-only: snapshot.c copies before adding); a change drops
 * the kept one (srv_state_entry_changed). A PyTorch job has hundreds:
 * made anew, they took about a millisecond of each freeze and of each
 * prelude's hold on the job. Shared, a manifest at the freeze holds the
 * prelude's very entries where nothing changed, which its delta finds by
 * pointer (manifest-delta.c).
 */
void srv_state_add_entry(json_t *list, json_t **entry, json_t *made)
{
	if (!*entry)
		*entry = made;
	else
		json_decref(made);   /* (NULL: json_pack was not called) */
	if (*entry)
		json_array_append(list, *entry);
}

/* (PyTorch's stream pool makes 128 streams: their entries are shared, as above) */
static void add_stream(uint64_t id, void *obj, void *arg)
{
	struct srv_stream *st = obj;

	srv_state_add_entry(arg, &st->entry, st->entry ? NULL :
		  json_pack("{s:I, s:i, s:i}", "id", (json_int_t)id, "flags", (int)st->flags,
			    "priority", st->priority));
}

static void add_event(uint64_t id, void *obj, void *arg)
{
	struct srv_event *e = obj;

	json_array_append_new(arg, json_pack("{s:I, s:i, s:b}", "id", (json_int_t)id, "flags",
					     (int)e->flags, "recorded", e->recorded));
}

void srv_state_entry_changed(json_t **entry)
{
	json_decref(*entry);
	*entry = NULL;
}

static void add_module(uint64_t id, void *obj, void *arg)
{
	struct srv_module *m = obj;

	if (!m->h)
		return;   /* still arriving: the client sends it again */
	/* 64-bit hashes as hex: JSON integers are signed. */
	srv_state_add_entry(arg, &m->entry, m->entry ? NULL :
		  json_pack("{s:I, s:I, s:s}", "id", (json_int_t)id, "size", (json_int_t)m->size,
			    "xxh3", hex64(m->hash, (char[17]){ 0 })));
}

static json_t *func_entry(uint64_t id, const struct srv_func *f)
{
	json_t *attrs = json_array();

	/* Other attributes the application set (cuFuncSetAttribute): [attribute, value]. */
	for (int i = 0; i < 32; i++)
		if (f->attrs_set & (1u << i))
			json_array_append_new(attrs, json_pack("[i, i]", i, f->attr_value[i]));
	return json_pack("{s:I, s:I, s:s, s:i, s:i, s:o}", "id", (json_int_t)id, "module",
			 (json_int_t)f->module, "name", f->name, "max_dyn_smem", f->max_dyn_smem,
			 "cache_config", f->cache_config, "attributes", attrs);
}

static void add_func(uint64_t id, void *obj, void *arg)
{
	struct srv_func *f = obj;

	srv_state_add_entry(arg, &f->entry, f->entry ? NULL : func_entry(id, f));
}

/* A variable never changes under its id: its entry is made with it. */
int srv_state_var_entry(uint64_t id, struct srv_var *v)
{
	if (!v->entry)
		v->entry = json_pack("{s:I, s:I, s:s, s:I}", "id", (json_int_t)id, "module",
				     (json_int_t)v->module, "name", v->name, "size",
				     (json_int_t)v->size);
	return v->entry ? 0 : -1;
}

static void add_var(uint64_t id, void *obj, void *arg)
{
	struct srv_var *v = obj;

	if (!srv_state_var_entry(id, v))
		json_array_append(arg, v->entry);
}

static void add_blas(uint64_t id, void *obj, void *arg)
{
	struct srv_blas *b = obj;

	json_array_append_new(arg, json_pack("{s:I, s:I, s:I, s:I, s:i, s:i, s:i}", "id",
					     (json_int_t)id, "stream", (json_int_t)b->stream,
					     "workspace", (json_int_t)b->workspace, "workspace_size",
					     (json_int_t)b->workspace_size, "math_mode", b->math_mode,
					     "pointer_mode", b->pointer_mode, "atomics_mode",
					     b->atomics_mode));
}

static void add_blaslt(uint64_t id, void *obj, void *arg)
{
	json_array_append_new(arg, json_pack("{s:I}", "id", (json_int_t)id));
}

/* The manifest; base: its cuDNN log as a delta to that prelude's (dnn-delta.h). */
static json_t *manifest(struct srv *s, const struct dnn_base *base)
{
	json_t *allocs = json_array(), *streams = json_array(), *events = json_array();
	json_t *modules = json_array(), *funcs = json_array(), *vars = json_array();
	json_t *limits = json_array(), *blas = json_array(), *blaslt = json_array(), *m;
	size_t i;

	for (i = 0; i < s->mem.nallocs; i++) {
		struct srv_alloc *a = &s->mem.allocs[i];

		json_t *e = NULL;

		if (!a->entry) {
			e = json_pack("{s:I, s:I, s:I, s:I}", "va", (json_int_t)a->va, "size",
				      (json_int_t)a->size, "requested", (json_int_t)a->requested,
				      "serial", (json_int_t)a->serial);
			/* (only when set: a plain allocation's entry stays as it was) */
			if (a->async)
				json_object_set_new(e, "async", json_true());
			if (a->pooled)
				json_object_set_new(e, "pooled", json_true());
		}
		srv_state_add_entry(allocs, &a->entry, e);
	}
	srv_table_each(&s->streams, add_stream, streams);
	srv_table_each(&s->events, add_event, events);
	srv_table_each(&s->modules, add_module, modules);
	srv_table_each(&s->funcs, add_func, funcs);
	srv_table_each(&s->vars, add_var, vars);
	srv_table_each(&s->blas, add_blas, blas);
	srv_table_each(&s->blaslt, add_blaslt, blaslt);
	for (i = 0; i < SRV_LIMITS; i++)
		if (s->limit_set[i])
			json_array_append_new(limits, json_pack("{s:i, s:I}", "limit", (int)i,
								"value", (json_int_t)s->limits[i]));
	m = json_pack("{s:i, s:s, s:i, s:s, s:s, s:[i,i], s:I, s:I, s:I, s:I}",
		      "format", SRV_STATE_FORMAT, "job", s->job, "rank", s->rank,
		      "device", s->device_kind, "gpu_name", s->gpu_info.name,
		      "compute_capability", s->gpu_info.major, s->gpu_info.minor,
		      "device_window", (json_int_t)s->mem.window,
		      "host_window", (json_int_t)s->hdr->host_window,
		      "device_bytes", (json_int_t)s->mem.bytes,
		      "mapped_bytes", (json_int_t)s->mem.mapped);
	json_object_set_new(m, "allocations", allocs);
	if (s->mem.pool_threshold)
		json_object_set_new(m, "pool_threshold", json_integer((json_int_t)s->mem.pool_threshold));
	json_object_set_new(m, "streams", streams);
	json_object_set_new(m, "events", events);
	json_object_set_new(m, "modules", modules);
	json_object_set_new(m, "funcs", funcs);
	json_object_set_new(m, "vars", vars);
	json_object_set_new(m, "limits", limits);
	json_object_set_new(m, "blas_handles", blas);
	if (base)
		json_object_set_new(m, "cudnn_delta", dnn_log_delta(&s->dnn, base));
	else
		json_object_set_new(m, "cudnn", dnn_log_to_json(&s->dnn));
	json_object_set_new(m, "libraries", srv_libraries_manifest());
	json_object_set_new(m, "blaslt_handles", blaslt);
	srv_ccl_manifest(s, m);
	srv_graph_manifest(s, m);
	return m;
}

json_t *srv_state_manifest(struct srv *s)
{
	return manifest(s, NULL);
}

json_t *srv_state_manifest_since(struct srv *s, const struct dnn_base *base)
{
	return manifest(s, base);
}

/* ---- checking a manifest before anything is changed ------------------------ */

static int get_u64(json_t *o, const char *key, uint64_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

/* Is this very allocation here already (prepared ahead)? */
static struct srv_alloc *prepared(struct srv *s, uint64_t va, uint64_t size, uint64_t serial)
{
	struct srv_alloc *a = srv_mem_find(s, va, 1);

	return a && a->va == va && a->size == size && a->serial == serial ? a : NULL;
}

/* Is the library file the job's state names (VAR) missing on this node? Says so. */
static bool library_missing(json_t *m, const char *var, const char *what, char *why, size_t len)
{
	const char *lib = srv_libraries_path(m, var);

	if (!lib || !access(lib, R_OK))
		return false;
	snprintf(why, len, "the job's %s, %s, is not on this node", what, lib);
	return true;
}

int srv_state_check(struct srv *s, json_t *m, bool needs_memory, char *why, size_t len)
{
	json_t *a, *cc = json_object_get(m, "compute_capability");
	uint64_t window, need = 0, free_b = 0, total = 0, v = 0;
	/* whole, or a move's delta: an entry there means objects */
	bool dnn_objects = json_array_size(json_object_get(json_object_get(m, "cudnn"), "objects")) ||
			   json_array_size(json_object_get(json_object_get(m, "cudnn_delta"),
							   "objects"));
	size_t i;

	if (json_integer_value(json_object_get(m, "format")) != SRV_STATE_FORMAT) {
		snprintf(why, len, "state format %lld is not %d",
			 (long long)json_integer_value(json_object_get(m, "format")), SRV_STATE_FORMAT);
		return -1;
	}
	if (strcmp(json_string_value(json_object_get(m, "device")) ?: "", s->device_kind)) {
		snprintf(why, len, "the state comes from a %s device, this proxy runs %s",
			 json_string_value(json_object_get(m, "device")) ?: "?", s->device_kind);
		return -1;
	}
	if (json_integer_value(json_array_get(cc, 0)) != s->gpu_info.major ||
	    json_integer_value(json_array_get(cc, 1)) != s->gpu_info.minor) {
		snprintf(why, len, "compute capability %lld.%lld differs from GPU %d's %d.%d",
			 (long long)json_integer_value(json_array_get(cc, 0)),
			 (long long)json_integer_value(json_array_get(cc, 1)), s->gpu,
			 s->gpu_info.major, s->gpu_info.minor);
		return -1;
	}
	if (json_array_size(json_object_get(m, "blaslt_handles")) && !s->dev->blaslt_create) {
		snprintf(why, len, "the job holds cuBLASLt handles, and cuBLASLt is not forwarded "
			 "to a %s device yet", s->dev->name);
		return -1;
	}
	if (json_array_size(json_object_get(m, "blas_handles")) && !s->dev->blas_create) {
		snprintf(why, len, "the job holds cuBLAS handles, and cuBLAS is not forwarded to a "
			 "%s device yet", s->dev->name);
		return -1;
	}
	if (json_array_size(json_object_get(m, "blas_handles")) &&
	    library_missing(m, "XMIG_CUBLAS", "cuBLAS", why, len))
		return -1;
	if (dnn_objects && !s->dev->dnn_create) {
		snprintf(why, len, "the job holds cuDNN handles or descriptors, and cuDNN is not "
			 "forwarded to a %s device yet", s->dev->name);
		return -1;
	}
	if (dnn_objects && library_missing(m, "XMIG_CUDNN", "cuDNN", why, len))
		return -1;
	if (srv_ccl_check(s, m, why, len) < 0)
		return -1;
	if (get_u64(m, "device_window", &window) < 0 || window != s->mem.window) {
		snprintf(why, len, "the device window differs");
		return -1;
	}
	json_array_foreach(json_object_get(m, "allocations"), i, a) {
		uint64_t va, size;

		if (get_u64(a, "va", &va) < 0 || get_u64(a, "size", &size) < 0 ||
		    va < window || va + size > window + XMIG_DEVICE_WINDOW_SIZE ||
		    size % s->mem.granularity) {
			snprintf(why, len, "allocation %zu of the state is malformed", i);
			return -1;
		}
		v += size;
		if (!prepared(s, va, size, (uint64_t)json_integer_value(json_object_get(a, "serial"))))
			need += size;
	}
	if (get_u64(m, "mapped_bytes", &total) < 0 || total != v) {
		snprintf(why, len, "the state's memory map does not add up");
		return -1;
	}
	total = 0;
	/* (nothing new to map, as at most freezes: no driver call) */
	if (needs_memory && need && s->dev->mem_info(s->devh, &free_b, &total) == 0 &&
	    need > free_b) {
		char nb[32], fb[32];

		snprintf(why, len, "GPU %d has %s free, the job needs %s", s->gpu,
			 xmig_format_bytes(free_b, fb, sizeof(fb)),
			 xmig_format_bytes(need, nb, sizeof(nb)));
		return -2;
	}
	return 0;
}

/* ---- replay -------------------------------------------------------------------- */

int srv_state_restore_memory(struct srv *s, json_t *m, bool map)
{
	return srv_state_reconcile_memory(s, m, map);
}

static int cmp_va(const void *a, const void *b)
{
	uint64_t x = ((const struct srv_alloc *)a)->va, y = ((const struct srv_alloc *)b)->va;

	return x < y ? -1 : x > y;
}

/* One entry of the manifest's "allocations" (absent members: 0). */
static void read_alloc(json_t *a, struct srv_alloc *al)
{
	*al = (struct srv_alloc){ 0 };
	get_u64(a, "va", &al->va);
	get_u64(a, "size", &al->size);
	get_u64(a, "requested", &al->requested);
	get_u64(a, "serial", &al->serial);
	al->async = json_is_true(json_object_get(a, "async"));
	al->pooled = json_is_true(json_object_get(a, "pooled"));
}

bool srv_state_memory_unchanged(struct srv *s, json_t *m)
{
	json_t *list = json_object_get(m, "allocations"), *a;
	size_t i, found = 0;

	json_array_foreach(list, i, a) {
		struct srv_alloc al;

		read_alloc(a, &al);
		found += prepared(s, al.va, al.size, al.serial) != NULL;
	}
	return found == s->mem.nallocs;
}

int srv_state_reconcile_memory(struct srv *s, json_t *m, bool map)
{
	json_t *list = json_object_get(m, "allocations"), *a;
	size_t n = json_array_size(list), i, k;
	/* the manifest's map read once, by address (hundreds of allocations) */
	struct srv_alloc *want = calloc(n + 1, sizeof(*want));
	int r = -1;

	if (!want)
		return -1;
	/* (absent: 0, CUDA's default) */
	s->mem.pool_threshold = (uint64_t)json_integer_value(json_object_get(m, "pool_threshold"));
	json_array_foreach(list, i, a)
		read_alloc(a, &want[i]);
	qsort(want, n, sizeof(*want), cmp_va);
	/* Prepared allocations the job has freed since: gone. */
	for (k = s->mem.nallocs; k-- > 0;) {
		const struct srv_alloc *p = &s->mem.allocs[k];
		const struct srv_alloc *w = bsearch(p, want, n, sizeof(*want), cmp_va);

		if (w && w->size == p->size && w->serial == p->serial)
			continue;
		if (srv_mem_free(s, p->va)) {
			xmig_error("cannot drop a prepared allocation");
			goto out;
		}
	}
	/* New ones, and the requested sizes of all (they may differ). */
	for (i = 0; i < n; i++) {
		struct srv_alloc al = want[i], *have;
		int e;

		if ((have = prepared(s, al.va, al.size, al.serial))) {
			s->mem.bytes += al.requested - have->requested;
			s->mem.pooled_bytes += (al.pooled ? al.size : 0) - (have->pooled ? have->size : 0);
			if (have->requested != al.requested || have->pooled != al.pooled ||
			    have->async != al.async)
				srv_state_entry_changed(&have->entry);
			have->requested = al.requested;
			have->pooled = al.pooled;
			have->async = al.async;
			continue;
		}
		if (map && (e = s->dev->mem_map(s->devh, al.va, al.size, &al.mem))) {
			xmig_error("cannot allocate %llu bytes at %#llx on GPU %d (error %d)",
				   (unsigned long long)al.size, (unsigned long long)al.va, s->gpu, e);
			goto out;
		}
		if (srv_mem_adopt(s, &al) < 0)
			goto out;
	}
	r = 0;
out:
	free(want);
	return r;
}

int srv_state_load_modules(struct srv *s, json_t *m, srv_image_fn image, void *arg)
{
	json_t *o;
	size_t i;
	int r;

	json_array_foreach(json_object_get(m, "modules"), i, o) {
		struct srv_module *mod, *have;
		uint64_t id = 0, size = 0, hash;

		get_u64(o, "id", &id);
		get_u64(o, "size", &size);
		hash = strtoull(json_string_value(json_object_get(o, "xxh3")) ?: "0", NULL, 16);
		have = srv_table_get(&s->modules, id);
		if (have && have->h && have->size == size && have->hash == hash)
			continue;   /* loaded ahead, in the prelude */
		if (have)
			return xmig_error("fat binary %llu changed", (unsigned long long)id);
		mod = calloc(1, sizeof(*mod));
		if (!mod)
			return -1;
		mod->size = size;
		mod->hash = hash;
		mod->image = image(arg, id, mod->size);
		if (!mod->image || xmig_hash64(mod->image, mod->size) != mod->hash) {
			bool absent = !mod->image;

			free(mod->image);
			free(mod);
			return xmig_error("fat binary %llu of the state %s", (unsigned long long)id,
					  absent ? "did not come with it" : "is damaged");
		}
		mod->received = mod->size;
		if ((r = s->dev->module_load(s->devh, mod->image, mod->size, &mod->h)) ||
		    srv_table_put(&s->modules, id, mod) < 0) {
			free(mod->image);
			free(mod);
			return xmig_error("cannot load fat binary %llu again (error %d)",
					  (unsigned long long)id, r);
		}
	}
	return 0;
}

/*
 * Objects may be here already, made ahead from the prelude's manifest
 * while the job still ran (srv_state_prebuild): what the final manifest
 * names the same way is kept, what changed is made again, and what the
 * job dropped in between is destroyed. On a fresh proxy every table is
 * empty and everything is made.
 */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int srv_ids_of(json_t *list, struct srv_ids *ids)
{
	json_t *o;
	size_t i;

	ids->n = json_array_size(list);
	ids->v = calloc(ids->n + 1, sizeof(*ids->v));
	if (!ids->v)
		return -1;
	json_array_foreach(list, i, o)
		get_u64(o, "id", &ids->v[i]);
	qsort(ids->v, ids->n, sizeof(*ids->v), cmp_u64);
	return 0;
}

bool srv_ids_has(const struct srv_ids *ids, uint64_t id)
{
	return ids->n && bsearch(&id, ids->v, ids->n, sizeof(*ids->v), cmp_u64);
}

/* Drop the table's objects whose ids the manifest's list lacks. */
static int sweep(struct srv *s, struct srv_table *t, json_t *list,
		 void (*drop)(struct srv *s, void *obj))
{
	struct srv_ids ids;

	if (srv_ids_of(list, &ids) < 0)
		return -1;
	for (uint64_t id = t->first; t->count && id < t->next; id++) {
		void *obj = srv_table_get(t, id);

		if (obj && !srv_ids_has(&ids, id)) {
			srv_table_remove(t, id);
			drop(s, obj);
		}
	}
	free(ids.v);
	return 0;
}

static void drop_func(struct srv *s, void *obj)
{
	struct srv_func *f = obj;

	json_decref(f->entry);
	free(f->name);
	free(f->layout.params);
	free(f);
}

static void drop_var(struct srv *s, void *obj)
{
	struct srv_var *v = obj;

	json_decref(v->entry);
	free(v->name);
	free(v);
}

static void drop_stream(struct srv *s, void *obj)
{
	struct srv_stream *st = obj;

	s->dev->stream_destroy(s->devh, st->h);
	json_decref(st->entry);
	free(st);
}

static void drop_event(struct srv *s, void *obj)
{
	struct srv_event *e = obj;

	s->dev->event_destroy(s->devh, e->h);
	free(e);
}

static void drop_blas(struct srv *s, void *obj)
{
	struct srv_blas *b = obj;

	s->dev->blas_destroy(s->devh, b->h);
	free(b);
}

static void drop_blaslt(struct srv *s, void *obj)
{
	struct srv_blaslt *b = obj;

	s->dev->blaslt_destroy(s->devh, b->h);
	free(b);
}

/* The object under id, made ahead, if same() says it is still the one; a
 * different one is dropped (the caller makes it again). */
static void *kept(struct srv *s, struct srv_table *t, uint64_t id, json_t *o,
		  bool (*same)(void *obj, json_t *o), void (*drop)(struct srv *s, void *obj))
{
	void *obj = srv_table_get(t, id);

	if (!obj)
		return NULL;
	if (same(obj, o)) {
		s->restored.kept++;
		return obj;
	}
	srv_table_remove(t, id);
	drop(s, obj);
	return NULL;
}

static bool same_func(void *obj, json_t *o)
{
	struct srv_func *f = obj;
	uint64_t module = 0;

	get_u64(o, "module", &module);
	return f->module == module &&
	       !strcmp(f->name, json_string_value(json_object_get(o, "name")) ?: "");
}

static int set_func_attr(struct srv *s, struct srv_func *f, int which, int value)
{
	if (which < 0 || which >= 32)
		return -1;
	if ((f->attrs_set & (1u << which)) && f->attr_value[which] == value)
		return 0;   /* so made ahead */
	if (s->dev->func_set_attribute(s->devh, f->h, which, value))
		return -1;
	f->attrs_set |= 1u << which;
	f->attr_value[which] = value;
	return 0;
}

/*
 * At the freeze, an array the delta left unchanged as a whole is the very
 * one the table was made from ahead (manifest_expand hands on the
 * prelude's): nothing to compare, entry by entry, for hundreds of them.
 */
static bool made_ahead_from(struct srv *s, json_t *list, json_t *from)
{
	if (!list || list != from)
		return false;
	s->restored.kept += (unsigned)json_array_size(list);
	return true;
}

/* (ahead) the table was made from list, all of it */
static void made_from(json_t **from, json_t *list, bool ahead)
{
	if (ahead && list) {
		json_decref(*from);
		*from = json_incref(list);
	}
}

static int restore_funcs(struct srv *s, json_t *m, bool ahead)
{
	json_t *o, *attr, *list = json_object_get(m, "funcs");
	size_t i, k;
	int r = 0;

	if (!ahead && made_ahead_from(s, list, s->restored.funcs))
		return 0;
	if (sweep(s, &s->funcs, list, drop_func) < 0)
		return -1;
	json_array_foreach(list, i, o) {
		struct srv_func *f;
		struct srv_module *mod;
		uint64_t id = 0;
		int smem = (int)json_integer_value(json_object_get(o, "max_dyn_smem"));

		get_u64(o, "id", &id);
		if (!(f = kept(s, &s->funcs, id, o, same_func, drop_func))) {
			if (!(f = calloc(1, sizeof(*f))))
				return -1;
			get_u64(o, "module", &f->module);
			f->name = strdup(json_string_value(json_object_get(o, "name")) ?: "");
			f->max_dyn_smem = -1;
			s->restored.made++;
			mod = srv_table_get(&s->modules, f->module);
			if (!f->name || !mod ||
			    (r = s->dev->func_get(s->devh, mod->h, f->name, &f->h, &f->layout)) ||
			    srv_table_put(&s->funcs, id, f) < 0) {
				xmig_error("cannot find kernel %s again", f->name ?: "?");
				drop_func(s, f);
				return -1;
			}
		}
		srv_state_entry_changed(&f->entry);   /* (made again from what is set now) */
		f->cache_config = (int)json_integer_value(json_object_get(o, "cache_config"));
		if (smem >= 0 && smem != f->max_dyn_smem &&
		    s->dev->func_set_attribute(s->devh, f->h,
					       cudaFuncAttributeMaxDynamicSharedMemorySize, smem))
			return xmig_error("cannot set kernel %s's shared memory again", f->name);
		f->max_dyn_smem = smem;
		json_array_foreach(json_object_get(o, "attributes"), k, attr) {
			int which = (int)json_integer_value(json_array_get(attr, 0));

			if (set_func_attr(s, f, which,
					  (int)json_integer_value(json_array_get(attr, 1))) < 0)
				return xmig_error("cannot set attribute %d of kernel %s again",
						  which, f->name);
		}
	}
	made_from(&s->restored.funcs, list, ahead);
	return 0;
}

static bool same_var(void *obj, json_t *o)
{
	struct srv_var *v = obj;
	uint64_t module = 0, size = 0;

	get_u64(o, "module", &module);
	get_u64(o, "size", &size);
	return v->module == module && v->size == size &&
	       !strcmp(v->name, json_string_value(json_object_get(o, "name")) ?: "");
}

static int restore_vars(struct srv *s, json_t *m, bool ahead)
{
	json_t *o, *list = json_object_get(m, "vars");
	size_t i;

	if (!ahead && made_ahead_from(s, list, s->restored.vars))
		return 0;
	if (sweep(s, &s->vars, list, drop_var) < 0)
		return -1;
	json_array_foreach(list, i, o) {
		struct srv_var *v;
		struct srv_module *mod;
		uint64_t id = 0, size = 0;

		get_u64(o, "id", &id);
		if (kept(s, &s->vars, id, o, same_var, drop_var))
			continue;
		if (!(v = calloc(1, sizeof(*v))))
			return -1;
		get_u64(o, "module", &v->module);
		get_u64(o, "size", &size);
		v->name = strdup(json_string_value(json_object_get(o, "name")) ?: "");
		s->restored.made++;
		mod = srv_table_get(&s->modules, v->module);
		if (!v->name || !mod ||
		    s->dev->var_get(s->devh, mod->h, v->name, size, &v->addr, &v->size) ||
		    v->size != size || srv_state_var_entry(id, v) < 0 ||
		    srv_table_put(&s->vars, id, v) < 0) {
			xmig_error("cannot find variable %s again", v->name ?: "?");
			drop_var(s, v);
			return -1;
		}
	}
	made_from(&s->restored.vars, list, ahead);
	return 0;
}

static bool same_stream(void *obj, json_t *o)
{
	struct srv_stream *st = obj;

	return st->flags == (unsigned)json_integer_value(json_object_get(o, "flags")) &&
	       st->priority == (int)json_integer_value(json_object_get(o, "priority"));
}

static int restore_streams(struct srv *s, json_t *m, bool ahead)
{
	json_t *o;
	size_t i;

	if (sweep(s, &s->streams, json_object_get(m, "streams"), drop_stream) < 0)
		return -1;
	json_array_foreach(json_object_get(m, "streams"), i, o) {
		struct srv_stream *st;
		uint64_t id = 0;

		get_u64(o, "id", &id);
		if (kept(s, &s->streams, id, o, same_stream, drop_stream))
			continue;
		if (!(st = calloc(1, sizeof(*st))))
			return -1;
		st->id = id;
		st->flags = (unsigned)json_integer_value(json_object_get(o, "flags"));
		st->priority = (int)json_integer_value(json_object_get(o, "priority"));
		st->remade = !ahead;   /* handles made ahead on it need it again */
		s->restored.made++;
		if (s->dev->stream_create(s->devh, st->flags, st->priority, &st->h)) {
			free(st);
			return xmig_error("cannot create stream %llu again", (unsigned long long)id);
		}
		if (srv_table_put(&s->streams, id, st) < 0) {
			drop_stream(s, st);
			return -1;
		}
	}
	return 0;
}

static bool same_event(void *obj, json_t *o)
{
	return ((struct srv_event *)obj)->flags ==
	       (unsigned)json_integer_value(json_object_get(o, "flags"));
}

static int restore_events(struct srv *s, json_t *m, bool ahead)
{
	json_t *o;
	size_t i;

	if (sweep(s, &s->events, json_object_get(m, "events"), drop_event) < 0)
		return -1;
	json_array_foreach(json_object_get(m, "events"), i, o) {
		struct srv_event *e;
		uint64_t id = 0;

		get_u64(o, "id", &id);
		if (!(e = kept(s, &s->events, id, o, same_event, drop_event))) {
			if (!(e = calloc(1, sizeof(*e))))
				return -1;
			e->id = id;
			e->flags = (unsigned)json_integer_value(json_object_get(o, "flags"));
			s->restored.made++;
			if (s->dev->event_create(s->devh, e->flags, &e->h)) {
				free(e);
				return xmig_error("cannot create event %llu again",
						  (unsigned long long)id);
			}
			if (srv_table_put(&s->events, id, e) < 0) {
				drop_event(s, e);
				return -1;
			}
		}
		e->recorded = json_is_true(json_object_get(o, "recorded"));
		/* The work it marked is complete (the GPU was drained): so is it. */
		if (!ahead && e->recorded && s->dev->event_record(s->devh, e->h, s->legacy.h, 0))
			return xmig_error("cannot record event %llu again", (unsigned long long)id);
	}
	return 0;
}

static bool always(void *obj, json_t *o)
{
	return true;
}

static int restore_blas(struct srv *s, json_t *m)
{
	json_t *o;
	size_t i;

	if (sweep(s, &s->blas, json_object_get(m, "blas_handles"), drop_blas) < 0)
		return -1;
	json_array_foreach(json_object_get(m, "blas_handles"), i, o) {
		uint64_t id = 0;
		struct srv_blas *b, *have;
		int st;

		get_u64(o, "id", &id);
		have = kept(s, &s->blas, id, o, always, drop_blas);
		if (!(b = have) && !(b = calloc(1, sizeof(*b))))
			return -1;
		b->id = id;
		get_u64(o, "stream", &b->stream);
		get_u64(o, "workspace", &b->workspace);
		get_u64(o, "workspace_size", &b->workspace_size);
		b->math_mode = (int)json_integer_value(json_object_get(o, "math_mode"));
		b->pointer_mode = (int)json_integer_value(json_object_get(o, "pointer_mode"));
		b->atomics_mode = (int)json_integer_value(json_object_get(o, "atomics_mode"));
		/* A handle made ahead gets the settings of now (its stream may be new). */
		st = have ? srv_blas_configure(s, b) : srv_blas_recreate(s, b);
		s->restored.made += !have;
		if (!st && !have && srv_table_put(&s->blas, id, b) < 0) {
			drop_blas(s, b);
			return -1;
		}
		if (st) {
			if (!have)
				free(b);
			return xmig_error("cannot make cuBLAS handle %llu again (status %d)",
					  (unsigned long long)id, st);
		}
	}
	return 0;
}

static int restore_blaslt(struct srv *s, json_t *m)
{
	json_t *o;
	size_t i;

	if (sweep(s, &s->blaslt, json_object_get(m, "blaslt_handles"), drop_blaslt) < 0)
		return -1;
	json_array_foreach(json_object_get(m, "blaslt_handles"), i, o) {
		struct srv_blaslt *b;
		uint64_t id = 0;
		int st;

		get_u64(o, "id", &id);
		if (kept(s, &s->blaslt, id, o, always, drop_blaslt))
			continue;   /* made ahead: it has no settings */
		s->restored.made++;
		if (!(b = calloc(1, sizeof(*b))))
			return -1;
		b->id = id;
		if ((st = srv_blaslt_recreate(s, b)) || srv_table_put(&s->blaslt, id, b) < 0) {
			if (!st)
				s->dev->blaslt_destroy(s->devh, b->h);
			free(b);
			return xmig_error("cannot make cuBLASLt handle %llu again (status %d)",
					  (unsigned long long)id, st);
		}
	}
	return 0;
}

static int restore_limits(struct srv *s, json_t *m)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(m, "limits"), i, o) {
		int limit = (int)json_integer_value(json_object_get(o, "limit"));
		uint64_t value = 0;

		get_u64(o, "value", &value);
		if (limit < 0 || limit >= SRV_LIMITS || s->dev->set_limit(s->devh, limit, value))
			return xmig_error("cannot set limit %d again", limit);
		s->limits[limit] = value;
		s->limit_set[limit] = true;
	}
	return 0;
}

/*
 * XMIG_MOVE_TRACE: what each kind of object cost at the freeze, and how
 * many were made there rather than ahead (what a move's pause went to).
 */
struct objects_trace {
	bool on;
	uint64_t t;
	unsigned made;
	char line[400];
	size_t len;
};

static void objects_trace_start(struct objects_trace *ot, bool ahead)
{
	ot->on = !ahead && xmig_move_tracing();
	ot->t = xmig_now_ns();
	ot->made = 0;
	ot->len = 0;
	ot->line[0] = '\0';
}

static void objects_trace_kind(struct objects_trace *ot, struct srv *s, const char *kind,
			       unsigned uncounted)
{
	uint64_t now;
	int n;

	if (!ot->on)
		return;
	now = xmig_now_ns();
	n = snprintf(ot->line + ot->len, sizeof(ot->line) - ot->len, "%s%s %u made %.3f ms",
		     ot->len ? ", " : "", kind, s->restored.made - ot->made + uncounted,
		     (double)(now - ot->t) / 1e6);
	if (n > 0 && (size_t)n < sizeof(ot->line) - ot->len)
		ot->len += (size_t)n;
	ot->made = s->restored.made;
	ot->t = now;
}

static int restore_objects(struct srv *s, json_t *m, srv_image_fn image, void *arg, bool ahead)
{
	struct objects_trace ot;
	size_t n_modules;
	int st;

	s->restored.made = s->restored.kept = 0;
	objects_trace_start(&ot, ahead);
	srv_libraries_adopt(m);
	/* (ahead, the modules were loaded with the prelude's images) */
	n_modules = s->modules.count;
	if (image && srv_state_load_modules(s, m, image, arg) < 0)
		return -1;
	/* (modules are not in the objects' count: the trace counts those loaded) */
	objects_trace_kind(&ot, s, "modules", (unsigned)(s->modules.count - n_modules));
	if (restore_funcs(s, m, ahead) < 0)
		return -1;
	objects_trace_kind(&ot, s, "kernels", 0);
	if (restore_vars(s, m, ahead) < 0)
		return -1;
	objects_trace_kind(&ot, s, "variables", 0);
	if (restore_streams(s, m, ahead) < 0 || restore_events(s, m, ahead) < 0)
		return -1;
	objects_trace_kind(&ot, s, "streams and events", 0);
	if (restore_blas(s, m) < 0 || restore_blaslt(s, m) < 0)
		return -1;
	objects_trace_kind(&ot, s, "cuBLAS(Lt) handles", 0);
	/* cuDNN after streams (handles work on them): the log, replayed. */
	if ((st = srv_dnn_restore(s, m, ahead)) == -1)
		return xmig_error("the state's cuDNN log is malformed, or does not continue the "
				  "one made ahead");
	if (st)
		return xmig_error("cannot make the cuDNN handles and descriptors again (status %d)",
				  st);
	objects_trace_kind(&ot, s, "cuDNN", 0);
	if (!ahead && restore_limits(s, m) < 0)
		return -1;
	/* last: a communicator's PreMulSum scalars may live in device memory */
	st = srv_ccl_restore(s, m, ahead);
	objects_trace_kind(&ot, s, "communicators", 0);
	if (ot.on)
		xmig_move_trace("objects, each kind made and its time: %s", ot.line);
	return st;
}

int srv_state_restore_objects(struct srv *s, json_t *m, srv_image_fn image, void *arg)
{
	int r = restore_objects(s, m, image, arg, false);

	/* (what was made ahead is used up: the tables are the job's from now on) */
	json_decref(s->restored.funcs);
	json_decref(s->restored.vars);
	s->restored.funcs = s->restored.vars = NULL;
	return r;
}

int srv_state_prebuild(struct srv *s, json_t *prelude)
{
	return restore_objects(s, prelude, NULL, NULL, true);
}
