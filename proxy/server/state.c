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

#include "state.h"

/* ---- building ---------------------------------------------------------- */

static const char *hex64(uint64_t v, char *buf)
{
	snprintf(buf, 17, "%016llx", (unsigned long long)v);
	return buf;
}

static void add_stream(uint64_t id, void *obj, void *arg)
{
	struct srv_stream *st = obj;

	json_array_append_new(arg, json_pack("{s:I, s:i, s:i}", "id", (json_int_t)id, "flags",
					     (int)st->flags, "priority", st->priority));
}

static void add_event(uint64_t id, void *obj, void *arg)
{
	struct srv_event *e = obj;

	json_array_append_new(arg, json_pack("{s:I, s:i, s:b}", "id", (json_int_t)id, "flags",
					     (int)e->flags, "recorded", e->recorded));
}

static void add_module(uint64_t id, void *obj, void *arg)
{
	struct srv_module *m = obj;

	if (!m->h)
		return;   /* still arriving: the client sends it again */
	/* 64-bit hashes as hex: JSON integers are signed. */
	json_array_append_new(arg, json_pack("{s:I, s:I, s:s}", "id", (json_int_t)id, "size",
					     (json_int_t)m->size, "xxh3",
					     hex64(m->hash, (char[17]){ 0 })));
}

static void add_func(uint64_t id, void *obj, void *arg)
{
	struct srv_func *f = obj;
	json_t *attrs = json_array();

	/* Other attributes the application set (cuFuncSetAttribute): [attribute, value]. */
	for (int i = 0; i < 32; i++)
		if (f->attrs_set & (1u << i))
			json_array_append_new(attrs, json_pack("[i, i]", i, f->attr_value[i]));
	json_array_append_new(arg, json_pack("{s:I, s:I, s:s, s:i, s:i, s:o}", "id", (json_int_t)id,
					     "module", (json_int_t)f->module, "name", f->name,
					     "max_dyn_smem", f->max_dyn_smem, "cache_config",
					     f->cache_config, "attributes", attrs));
}

static void add_var(uint64_t id, void *obj, void *arg)
{
	struct srv_var *v = obj;

	json_array_append_new(arg, json_pack("{s:I, s:I, s:s, s:I}", "id", (json_int_t)id,
					     "module", (json_int_t)v->module, "name", v->name,
					     "size", (json_int_t)v->size));
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

json_t *srv_state_manifest(struct srv *s)
{
	json_t *allocs = json_array(), *streams = json_array(), *events = json_array();
	json_t *modules = json_array(), *funcs = json_array(), *vars = json_array();
	json_t *limits = json_array(), *blas = json_array(), *blaslt = json_array(), *m;
	size_t i;

	for (i = 0; i < s->mem.nallocs; i++) {
		const struct srv_alloc *a = &s->mem.allocs[i];

		json_array_append_new(allocs, json_pack("{s:I, s:I, s:I, s:I}", "va",
							(json_int_t)a->va, "size", (json_int_t)a->size,
							"requested", (json_int_t)a->requested,
							"serial", (json_int_t)a->serial));
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
	json_object_set_new(m, "streams", streams);
	json_object_set_new(m, "events", events);
	json_object_set_new(m, "modules", modules);
	json_object_set_new(m, "funcs", funcs);
	json_object_set_new(m, "vars", vars);
	json_object_set_new(m, "limits", limits);
	json_object_set_new(m, "blas_handles", blas);
	json_object_set_new(m, "cudnn", dnn_log_to_json(&s->dnn));
	json_object_set_new(m, "libraries", srv_libraries_manifest());
	json_object_set_new(m, "blaslt_handles", blaslt);
	srv_ccl_manifest(s, m);
	return m;
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
	if (json_array_size(json_object_get(json_object_get(m, "cudnn"), "objects")) &&
	    !s->dev->dnn_create) {
		snprintf(why, len, "the job holds cuDNN handles or descriptors, and cuDNN is not "
			 "forwarded to a %s device yet", s->dev->name);
		return -1;
	}
	if (json_array_size(json_object_get(json_object_get(m, "cudnn"), "objects")) &&
	    library_missing(m, "XMIG_CUDNN", "cuDNN", why, len))
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
	if (needs_memory && s->dev->mem_info(s->devh, &free_b, &total) == 0 && need > free_b) {
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

int srv_state_reconcile_memory(struct srv *s, json_t *m, bool map)
{
	json_t *list = json_object_get(m, "allocations"), *a;
	size_t i, k;

	/* Prepared allocations the job has freed since: gone. */
	for (k = s->mem.nallocs; k-- > 0;) {
		const struct srv_alloc *p = &s->mem.allocs[k];
		bool keep = false;

		json_array_foreach(list, i, a) {
			uint64_t va = 0, size = 0, serial = 0;

			get_u64(a, "va", &va);
			get_u64(a, "size", &size);
			get_u64(a, "serial", &serial);
			if (va == p->va && size == p->size && serial == p->serial) {
				keep = true;
				break;
			}
		}
		if (!keep && srv_mem_free(s, p->va))
			return xmig_error("cannot drop a prepared allocation");
	}
	/* New ones, and the requested sizes of all (they may differ). */
	json_array_foreach(list, i, a) {
		struct srv_alloc al = { 0 }, *have;
		int r;

		get_u64(a, "va", &al.va);
		get_u64(a, "size", &al.size);
		get_u64(a, "requested", &al.requested);
		get_u64(a, "serial", &al.serial);
		if ((have = prepared(s, al.va, al.size, al.serial))) {
			s->mem.bytes += al.requested - have->requested;
			have->requested = al.requested;
			continue;
		}
		if (map && (r = s->dev->mem_map(s->devh, al.va, al.size, &al.mem)))
			return xmig_error("cannot allocate %llu bytes at %#llx on GPU %d (error %d)",
					  (unsigned long long)al.size, (unsigned long long)al.va,
					  s->gpu, r);
		if (srv_mem_adopt(s, &al) < 0)
			return -1;
	}
	return 0;
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
			free(mod->image);
			free(mod);
			return xmig_error("fat binary %llu of the state is damaged",
					  (unsigned long long)id);
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

int srv_state_restore_objects(struct srv *s, json_t *m, srv_image_fn image, void *arg)
{
	json_t *o;
	size_t i;
	int r;

	srv_libraries_adopt(m);
	if (srv_state_load_modules(s, m, image, arg) < 0)
		return -1;
	json_array_foreach(json_object_get(m, "funcs"), i, o) {
		struct srv_func *f = calloc(1, sizeof(*f));
		struct srv_module *mod;
		uint64_t id = 0;
		json_t *attr;
		size_t k;

		if (!f)
			return -1;
		get_u64(o, "id", &id);
		get_u64(o, "module", &f->module);
		f->name = strdup(json_string_value(json_object_get(o, "name")) ?: "");
		f->max_dyn_smem = (int)json_integer_value(json_object_get(o, "max_dyn_smem"));
		f->cache_config = (int)json_integer_value(json_object_get(o, "cache_config"));
		mod = srv_table_get(&s->modules, f->module);
		if (!mod || (r = s->dev->func_get(s->devh, mod->h, f->name, &f->h, &f->layout)) ||
		    srv_table_put(&s->funcs, id, f) < 0)
			return xmig_error("cannot find kernel %s again", f->name);
		if (f->max_dyn_smem >= 0 &&
		    s->dev->func_set_attribute(s->devh, f->h,
					       cudaFuncAttributeMaxDynamicSharedMemorySize,
					       f->max_dyn_smem))
			return xmig_error("cannot set kernel %s's shared memory again", f->name);
		json_array_foreach(json_object_get(o, "attributes"), k, attr) {
			int which = (int)json_integer_value(json_array_get(attr, 0));
			int value = (int)json_integer_value(json_array_get(attr, 1));

			if (which < 0 || which >= 32 ||
			    s->dev->func_set_attribute(s->devh, f->h, which, value))
				return xmig_error("cannot set attribute %d of kernel %s again", which,
						  f->name);
			f->attrs_set |= 1u << which;
			f->attr_value[which] = value;
		}
	}
	json_array_foreach(json_object_get(m, "vars"), i, o) {
		struct srv_var *v = calloc(1, sizeof(*v));
		struct srv_module *mod;
		uint64_t id = 0, size = 0;

		if (!v)
			return -1;
		get_u64(o, "id", &id);
		get_u64(o, "module", &v->module);
		get_u64(o, "size", &size);
		v->name = strdup(json_string_value(json_object_get(o, "name")) ?: "");
		mod = srv_table_get(&s->modules, v->module);
		if (!mod || s->dev->var_get(s->devh, mod->h, v->name, size, &v->addr, &v->size) ||
		    v->size != size || srv_table_put(&s->vars, id, v) < 0)
			return xmig_error("cannot find variable %s again", v->name);
	}
	json_array_foreach(json_object_get(m, "streams"), i, o) {
		struct srv_stream *st = calloc(1, sizeof(*st));

		if (!st)
			return -1;
		get_u64(o, "id", &st->id);
		st->flags = (unsigned)json_integer_value(json_object_get(o, "flags"));
		st->priority = (int)json_integer_value(json_object_get(o, "priority"));
		if (s->dev->stream_create(s->devh, st->flags, st->priority, &st->h) ||
		    srv_table_put(&s->streams, st->id, st) < 0)
			return xmig_error("cannot create stream %llu again",
					  (unsigned long long)st->id);
	}
	json_array_foreach(json_object_get(m, "events"), i, o) {
		struct srv_event *e = calloc(1, sizeof(*e));

		if (!e)
			return -1;
		get_u64(o, "id", &e->id);
		e->flags = (unsigned)json_integer_value(json_object_get(o, "flags"));
		e->recorded = json_is_true(json_object_get(o, "recorded"));
		if (s->dev->event_create(s->devh, e->flags, &e->h) ||
		    srv_table_put(&s->events, e->id, e) < 0)
			return xmig_error("cannot create event %llu again", (unsigned long long)e->id);
		/* The work it marked is complete (the GPU was drained): so is it. */
		if (e->recorded && s->dev->event_record(s->devh, e->h, s->legacy.h, 0))
			return xmig_error("cannot record event %llu again",
					  (unsigned long long)e->id);
	}
	json_array_foreach(json_object_get(m, "blas_handles"), i, o) {
		struct srv_blas *b = calloc(1, sizeof(*b));
		int st;

		if (!b)
			return -1;
		get_u64(o, "id", &b->id);
		get_u64(o, "stream", &b->stream);
		get_u64(o, "workspace", &b->workspace);
		get_u64(o, "workspace_size", &b->workspace_size);
		b->math_mode = (int)json_integer_value(json_object_get(o, "math_mode"));
		b->pointer_mode = (int)json_integer_value(json_object_get(o, "pointer_mode"));
		b->atomics_mode = (int)json_integer_value(json_object_get(o, "atomics_mode"));
		if ((st = srv_blas_recreate(s, b)) || srv_table_put(&s->blas, b->id, b) < 0) {
			uint64_t id = b->id;

			free(b);
			return xmig_error("cannot make cuBLAS handle %llu again (status %d)",
					  (unsigned long long)id, st);
		}
	}
	json_array_foreach(json_object_get(m, "blaslt_handles"), i, o) {
		struct srv_blaslt *b = calloc(1, sizeof(*b));
		int st;

		if (!b)
			return -1;
		get_u64(o, "id", &b->id);
		if ((st = srv_blaslt_recreate(s, b)) || srv_table_put(&s->blaslt, b->id, b) < 0) {
			uint64_t id = b->id;

			if (!st)
				s->dev->blaslt_destroy(s->devh, b->h);
			free(b);
			return xmig_error("cannot make cuBLASLt handle %llu again (status %d)",
					  (unsigned long long)id, st);
		}
	}
	/* cuDNN after streams (handles work on them): the log, replayed. */
	if (json_object_get(m, "cudnn")) {
		int st;

		dnn_log_clear(&s->dnn);
		if (dnn_log_from_json(&s->dnn, json_object_get(m, "cudnn")) < 0)
			return xmig_error("the state's cuDNN log is malformed");
		if ((st = srv_dnn_recreate(s)))
			return xmig_error("cannot make the cuDNN handles and descriptors again "
					  "(status %d)", st);
	}
	json_array_foreach(json_object_get(m, "limits"), i, o) {
		int limit = (int)json_integer_value(json_object_get(o, "limit"));
		uint64_t value = 0;

		get_u64(o, "value", &value);
		if (limit < 0 || limit >= SRV_LIMITS || s->dev->set_limit(s->devh, limit, value))
			return xmig_error("cannot set limit %d again", limit);
		s->limits[limit] = value;
		s->limit_set[limit] = true;
	}
	/* last: a communicator's PreMulSum scalars may live in device memory */
	return srv_ccl_restore(s, m);
}
