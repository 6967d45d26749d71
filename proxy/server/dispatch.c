/*
 * dispatch.c - from a request to its implementation.
 *
 * The generic functions' unpacking and handle translation are generated
 * from cudart.def; the hand-written operations (memory, copies, modules,
 * launches) are here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "srv-api.h"
#include "state.h"

/* ---- generated: unpack, translate handles, call srv_<name> ---------------- */

#define XMIG_SRV_LOOKUP_VAL(T, N)
#define XMIG_SRV_LOOKUP_OUT(T, N)
#define XMIG_SRV_LOOKUP_OUTOPT(T, N)
#define XMIG_SRV_LOOKUP_OUTSTREAM(T, N)
#define XMIG_SRV_LOOKUP_OUTEVENT(T, N)
#define XMIG_SRV_LOOKUP_NONE(T, N)
#define XMIG_SRV_LOOKUP_STREAM(T, N) \
	struct srv_stream *h_##N = srv_stream(c, a->N); \
	if (!h_##N) return cudaErrorInvalidResourceHandle;
#define XMIG_SRV_LOOKUP_EVENT(T, N) \
	struct srv_event *h_##N = srv_event(c, a->N); \
	if (!h_##N) return cudaErrorInvalidResourceHandle;
#define XMIG_SRV_LOOKUP_FUNC(T, N) \
	struct srv_func *h_##N = srv_func(c, a->N); \
	if (!h_##N) return cudaErrorInvalidDeviceFunction;

#define XMIG_SRV_ARG_VAL(T, N) a->N
#define XMIG_SRV_ARG_STREAM(T, N) h_##N
#define XMIG_SRV_ARG_EVENT(T, N) h_##N
#define XMIG_SRV_ARG_FUNC(T, N) h_##N
#define XMIG_SRV_ARG_OUT(T, N) &r->N
#define XMIG_SRV_ARG_OUTOPT(T, N) &r->N
#define XMIG_SRV_ARG_OUTSTREAM(T, N) &r->N
#define XMIG_SRV_ARG_OUTEVENT(T, N) &r->N
#define XMIG_SRV_ARG_NONE(T, N) 0

#define XMIG_FN(name, call, pt, ...)                                          \
	static int d_##name(struct xmig_call *c)                              \
	{                                                                     \
		const struct xmig_req_##name *a = c->args;                    \
		struct xmig_res_##name *r = c->res;                           \
		(void)a;                                                      \
		memset(r, 0, sizeof(*r));                                     \
		c->res_len = sizeof(*r);                                      \
		XMIG_EACH(XMIG_SRV_LOOKUP, __VA_ARGS__)                       \
		return srv_##name(c, XMIG_LIST(XMIG_SRV_ARG, __VA_ARGS__));   \
	}
#include "../api/cudart.def"
#undef XMIG_FN

/* ---- hand-written operations ---------------------------------------- */

static int d_HELLO(struct xmig_call *c)
{
	struct xmig_hello_res *r = c->res;
	struct srv *s = c->srv;

	memset(r, 0, sizeof(*r));
	r->abi = (uint32_t)(sizeof(struct xmig_shm_header) ^ (sizeof(struct xmig_ring) << 8) ^
			    XMIG_OP_COUNT);
	s->dev->driver_version(&r->driver_version);
	r->runtime_version = CUDART_VERSION;
	r->device_count = 1;
	snprintf(r->device, sizeof(r->device), "%s", s->dev->name);
	r->gpu = s->gpu;
	c->res_len = sizeof(*r);
	return 0;
}

/*
 * Memory for an allocation: the stream-ordered frees that are due are let
 * go first (into the pool, where the next async allocation of their size
 * finds them); a full device waits for the ones still pending, and takes
 * back what the pool keeps.
 */
static int alloc(struct srv *s, uint64_t size, bool async, uint64_t *va)
{
	int (*get)(struct srv *, uint64_t, uint64_t *) = async ? srv_mem_alloc_async : srv_mem_alloc;
	int r;

	srv_mem_reap(s, false);
	r = get(s, size, va);
	if (r == cudaErrorMemoryAllocation && (s->mem.npending || s->mem.pooled_bytes)) {
		srv_mem_reap(s, true);
		srv_mem_pool_trim(s, 0);
		r = get(s, size, va);
	}
	return r;
}

static int d_MALLOC(struct xmig_call *c)
{
	const struct xmig_malloc_req *a = c->args;
	struct xmig_malloc_res *r = c->res;

	c->res_len = sizeof(*r);
	r->addr = 0;
	if (a->size == 0)
		return 0;   /* cudaMalloc(&p, 0) gives NULL and succeeds */
	return alloc(c->srv, a->size, false, &r->addr);
}

static int d_FREE(struct xmig_call *c)
{
	const struct xmig_free_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_alloc *al;

	if (a->addr == 0)
		return 0;
	/* (freed already: into the pool, or waiting for its stream) */
	if (!(al = srv_mem_find(s, a->addr, 1)) || al->va != a->addr || al->pooled ||
	    srv_mem_pending(s, a->addr))
		return cudaErrorInvalidValue;
	/* cudaFree waits for work that may still use the memory. */
	s->dev->ctx_sync(s->devh);
	srv_mem_reap(s, false);
	return srv_mem_free(s, a->addr);
}

/*
 * Stream-ordered allocation, from the device's one pool: the memory is
 * mapped at once (work after it in stream order may use it, and earlier
 * is allowed), and put into the pool once the work queued on the stream
 * before the free is done. Not while the stream captures: that would make graph
 * memory nodes, which are not served.
 */
static int stream_ordered(struct xmig_call *c, struct srv_stream *st, const char *call)
{
	struct srv *s = c->srv;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (s->ncaptures && srv_graph_capture_of(s, st)) {
		xmig_error("%s while its stream captures (a graph memory node) is not supported",
			   call);
		return cudaErrorNotSupported;
	}
	return 0;
}

static int d_MALLOC_ASYNC(struct xmig_call *c)
{
	const struct xmig_malloc_async_req *a = c->args;
	struct xmig_malloc_res *r = c->res;
	int st;

	c->res_len = sizeof(*r);
	r->addr = 0;
	if ((st = stream_ordered(c, srv_stream(c, a->stream), "cudaMallocAsync")))
		return st;
	if (a->size == 0)
		return 0;
	return alloc(c->srv, a->size, true, &r->addr);
}

static int d_FREE_ASYNC(struct xmig_call *c)
{
	const struct xmig_free_async_req *a = c->args;
	struct xmig_free_async_res *r = c->res;
	struct srv_stream *st = srv_stream(c, a->stream);
	int e;

	c->res_len = sizeof(*r);
	r->size = 0;
	if ((e = stream_ordered(c, st, "cudaFreeAsync")))
		return e;
	if (a->addr == 0)
		return 0;
	srv_mem_reap(c->srv, false);
	return srv_mem_free_after(c->srv, a->addr, st->h, &r->size);
}

static int d_MEMPOOL(struct xmig_call *c)
{
	const struct xmig_mempool_req *a = c->args;
	struct srv *s = c->srv;

	switch (a->what) {
	case XMIG_MEMPOOL_THRESHOLD:
		s->mem.pool_threshold = a->value;
		return 0;
	case XMIG_MEMPOOL_TRIM:
		srv_mem_reap(s, false);
		srv_mem_pool_trim(s, a->value);
		return 0;
	default:
		return cudaErrorInvalidValue;
	}
}

static int d_HOST_REGISTER(struct xmig_call *c)
{
	const struct xmig_host_register_req *a = c->args;

	c->srv->mem.regions_gen_known = false;   /* (served: no longer a list taken whole) */
	return srv_host_register(c->srv, a->addr, a->size, a->ino, a->flags);
}

static int d_HOST_UNREGISTER(struct xmig_call *c)
{
	const struct xmig_host_unregister_req *a = c->args;
	struct srv *s = c->srv;

	s->dev->ctx_sync(s->devh);
	s->mem.regions_gen_known = false;
	return srv_host_unregister(s, a->addr);
}

/* Is [addr, addr+len) something the server may touch on the device's behalf? */
static bool valid_range(struct srv *s, uint64_t addr, uint64_t len, bool device)
{
	if (device) {
		if (srv_mem_find(s, addr, len))
			return true;
		/* module globals live outside the window */
		for (uint64_t id = s->vars.first; id < s->vars.next; id++) {
			struct srv_var *v = srv_table_get(&s->vars, id);

			if (v && addr >= v->addr && addr + len <= v->addr + v->size)
				return true;
		}
		return false;
	}
	return srv_host_contains(s, addr, len);
}

static int wait_event(struct xmig_call *c)
{
	struct srv *s = c->srv;

	return s->dev->event_sync(s->devh, c->defer_obj);
}

int srv_defer_until_done(struct xmig_call *c, struct srv_stream *st)
{
	struct srv *s = c->srv;
	int r;

	/* A capturing stream: the driver's own answer (it refuses, and the capture is invalidated). */
	if (s->ncaptures && srv_graph_capture_of(s, st))
		return s->dev->stream_sync(s->devh, st->h);

	if (!c->w->pool_event) {
		r = s->dev->event_create(s->devh, cudaEventDisableTiming, &c->w->pool_event);
		if (r)
			return r;
	}
	r = s->dev->event_record(s->devh, c->w->pool_event, st->h, 0);
	if (r)
		return r;
	c->defer = wait_event;
	c->defer_obj = c->w->pool_event;
	return 0;
}

/* Address of [off, off+len) of variable `var`, or `off` itself if var == 0. */
static int var_address(struct srv *s, uint64_t var, uint64_t off, uint64_t len, uint64_t *addr)
{
	struct srv_var *v;

	if (!var) {
		*addr = off;
		return 0;
	}
	v = srv_table_get(&s->vars, var);
	if (!v)
		return cudaErrorInvalidSymbol;
	if (off > v->size || len > v->size - off)
		return cudaErrorInvalidValue;
	*addr = v->addr + off;
	return 0;
}

/*
 * The bytes a side of a 2D copy spans: height rows of width, pitch apart
 * (pitch >= width); false where that overflows or the pitch is short.
 */
static bool rows_extent(uint64_t pitch, uint64_t width, uint64_t height, uint64_t *len)
{
	if (height > 1 && pitch < width)
		return false;
	if (height > 1 && (height - 1) > (UINT64_MAX - width) / (pitch ? pitch : 1))
		return false;
	*len = (height - 1) * pitch + width;
	return true;
}

/* height rows of width bytes on stream s: one copy where the rows touch, else the backend's 2D copy, else row by row. */
static int copy_rows(struct srv *s, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch,
		     uint64_t width, uint64_t height, void *st)
{
	int r = 0;

	if (height == 1 || (dpitch == width && spitch == width))
		return s->dev->memcpy_async(s->devh, dst, src, width * height, st);
	if (s->dev->memcpy_2d)
		return s->dev->memcpy_2d(s->devh, dst, dpitch, src, spitch, width, height, st);
	for (uint64_t i = 0; i < height && !r; i++)
		r = s->dev->memcpy_async(s->devh, dst + i * dpitch, src + i * spitch, width, st);
	return r;
}

static int d_MEMCPY_2D(struct xmig_call *c)
{
	const struct xmig_memcpy2d_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	bool dst_dev = a->kind == XMIG_COPY_H2D || a->kind == XMIG_COPY_D2D;
	bool src_dev = a->kind == XMIG_COPY_D2H || a->kind == XMIG_COPY_D2D;
	uint64_t dlen, slen;
	int r;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (a->width == 0 || a->height == 0)
		return 0;
	if (!rows_extent(a->dpitch, a->width, a->height, &dlen) ||
	    !rows_extent(a->spitch, a->width, a->height, &slen))
		return cudaErrorInvalidPitchValue;
	if (!valid_range(s, a->dst, dlen, dst_dev) || !valid_range(s, a->src, slen, src_dev))
		return cudaErrorInvalidValue;
	r = copy_rows(s, a->dst, a->dpitch, a->src, a->spitch, a->width, a->height, st->h);
	if (r || !a->sync)
		return r;
	return srv_defer_until_done(c, st);
}

static int d_MEMSET_2D(struct xmig_call *c)
{
	const struct xmig_memset2d_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	uint64_t len;
	int r = 0;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if ((a->elem != 1 && a->elem != 2 && a->elem != 4) || a->dst % a->elem ||
	    a->pitch % a->elem || a->width > UINT64_MAX / 4)
		return cudaErrorInvalidValue;
	if (a->width == 0 || a->height == 0)
		return 0;
	if (!rows_extent(a->pitch, a->width * a->elem, a->height, &len))
		return cudaErrorInvalidPitchValue;
	if (!valid_range(s, a->dst, len, true))
		return cudaErrorInvalidValue;
	if (s->dev->memset_2d)
		return s->dev->memset_2d(s->devh, a->dst, a->pitch, a->value, a->elem, a->width,
					 a->height, st->h);
	if (a->elem > 1 && !s->dev->memset_wide)
		return xmig_error("16- and 32-bit fills: not available on a %s device",
				  s->dev->name), cudaErrorNotSupported;
	for (uint64_t i = 0; i < a->height && !r; i++)
		r = a->elem == 1 ? s->dev->memset_async(s->devh, a->dst + i * a->pitch,
							(uint8_t)a->value, a->width, st->h)
				 : s->dev->memset_wide(s->devh, a->dst + i * a->pitch, a->value,
						       a->elem, a->width, st->h);
	return r;
}

static int d_MEMCPY(struct xmig_call *c)
{
	const struct xmig_memcpy_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	bool dst_dev = a->kind == XMIG_COPY_H2D || a->kind == XMIG_COPY_D2D;
	bool src_dev = a->kind == XMIG_COPY_D2H || a->kind == XMIG_COPY_D2D;
	uint64_t dst, src;
	int r;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (a->size == 0)
		return 0;
	if ((r = var_address(s, a->dst_var, a->dst, a->size, &dst)) ||
	    (r = var_address(s, a->src_var, a->src, a->size, &src)))
		return r;
	if (!valid_range(s, dst, a->size, dst_dev) || !valid_range(s, src, a->size, src_dev))
		return cudaErrorInvalidValue;
	r = s->dev->memcpy_async(s->devh, dst, src, a->size, st->h);
	if (r || !a->sync)
		return r;
	return srv_defer_until_done(c, st);
}

static int d_MEMSET(struct xmig_call *c)
{
	const struct xmig_memset_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	int r;

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (a->size == 0)
		return 0;
	if (!valid_range(s, a->dst, a->size, true))
		return cudaErrorInvalidValue;
	r = s->dev->memset_async(s->devh, a->dst, (uint8_t)a->value, a->size, st->h);
	if (r || !a->sync)
		return r;
	return srv_defer_until_done(c, st);
}

/* cuMemsetD16/D32: count elements of 2 or 4 bytes, posted. */
int d_MEMSET_WIDE(struct xmig_call *c)
{
	const struct xmig_memset_wide_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);

	if (!st)
		return cudaErrorInvalidResourceHandle;
	if ((a->width != 2 && a->width != 4) || a->dst % a->width || a->count > UINT64_MAX / 4)
		return cudaErrorInvalidValue;
	if (a->count == 0)
		return 0;
	if (!valid_range(s, a->dst, a->count * a->width, true))
		return cudaErrorInvalidValue;
	if (!s->dev->memset_wide) {
		xmig_error("16- and 32-bit fills (cuMemsetD16, cuMemsetD32): not available on a %s "
			   "device", s->dev->name);
		return cudaErrorNotSupported;
	}
	return s->dev->memset_wide(s->devh, a->dst, a->value, a->width, a->count, st->h);
}

static int bulk_done(struct xmig_call *c)
{
	int r = wait_event(c);

	if (r) {
		int32_t zero = 0;

		/* A failed chunk may not be the one the client waits on. */
		atomic_compare_exchange_strong(&c->w->ring->async_error, &zero, r);
	}
	return r;
}

static int bulk_copy(struct xmig_call *c, bool to_device)
{
	const struct xmig_bulk_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_stream *st = srv_stream(c, a->stream);
	uint64_t bulk = (uint64_t)(uintptr_t)(c->w->ring->bulk + (a->half ? XMIG_BULK_HALF : 0));
	uint64_t rows = a->rows ? a->rows : 1, dev = 0, span = 0;
	int r;

	/* (rows: packed in bulk, pitch apart on the device) */
	if (!st)
		r = cudaErrorInvalidResourceHandle;
	else if (a->size > XMIG_BULK_HALF || a->size * rows > XMIG_BULK_HALF || a->half > 1 ||
		 !rows_extent(a->pitch, a->size, rows, &span))
		r = cudaErrorInvalidValue;
	else if ((r = var_address(s, a->var, a->devaddr, span, &dev)))
		;
	else if (!valid_range(s, dev, span, true))
		r = cudaErrorInvalidValue;
	else if (to_device)
		r = copy_rows(s, dev, a->pitch, bulk, a->size, a->size, rows, st->h);
	else
		r = copy_rows(s, bulk, a->size, dev, a->pitch, a->size, rows, st->h);
	if (!r && !(r = srv_defer_until_done(c, st)))
		c->defer = bulk_done;
	if (r) {
		int32_t zero = 0;

		atomic_compare_exchange_strong(&c->w->ring->async_error, &zero, r);
	}
	return r;
}

static int d_MEMCPY_H2D_BULK(struct xmig_call *c)
{
	return bulk_copy(c, true);
}

static int d_MEMCPY_D2H_BULK(struct xmig_call *c)
{
	return bulk_copy(c, false);
}

static int d_MODULE_LOAD(struct xmig_call *c)
{
	const struct xmig_module_load_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_module *m = srv_table_get(&s->modules, a->module);
	int r;

	/* (past any fat binary's size, a total is a broken request, not a buffer that large) */
	if (a->size > XMIG_BULK_HALF || a->total > XMIG_MODULE_MAX || a->offset > a->total ||
	    a->size > a->total - a->offset || !a->module)
		return cudaErrorInvalidValue;
	if (!m) {
		if (a->offset != 0)
			return cudaErrorInvalidValue;
		m = calloc(1, sizeof(*m));
		if (!m || !(m->image = malloc(a->total ? a->total : 1))) {
			free(m);
			return cudaErrorMemoryAllocation;
		}
		m->size = a->total;
		m->hash = a->hash;
		if (srv_table_put(&s->modules, a->module, m) < 0) {
			free(m->image);
			free(m);
			return cudaErrorInvalidValue;
		}
	}
	if (m->h)
		return 0;   /* loaded already */
	/* (sent again from the start: a move came between its pieces) */
	if (a->offset == 0 && a->total == m->size && a->hash == m->hash)
		m->received = 0;
	if (a->offset != m->received || a->total != m->size)
		return cudaErrorInvalidValue;
	memcpy((char *)m->image + a->offset, c->w->ring->bulk, a->size);
	m->received += a->size;
	if (m->received < m->size)
		return 0;
	if (xmig_hash64(m->image, m->size) != m->hash) {
		xmig_error("fat binary %llu arrived damaged", (unsigned long long)a->module);
		srv_table_remove(&s->modules, a->module);
		free(m->image);
		free(m);
		return cudaErrorInvalidKernelImage;
	}
	r = s->dev->module_load(s->devh, m->image, m->size, &m->h);
	if (r) {
		srv_table_remove(&s->modules, a->module);
		free(m->image);
		free(m);
	}
	return r;
}

static int d_FUNC_GET(struct xmig_call *c)
{
	const struct xmig_func_get_req *a = c->args;
	struct xmig_func_get_res *r = c->res;
	struct srv *s = c->srv;
	struct srv_module *m = srv_table_get(&s->modules, a->module);
	struct srv_func *f;
	uint64_t id;
	uint32_t i;
	int e;

	if (!m || !m->h)
		return cudaErrorInvalidResourceHandle;
	if (memchr(a->name, '\0', sizeof(a->name)) == NULL)
		return cudaErrorInvalidValue;
	f = calloc(1, sizeof(*f));
	if (!f)
		return cudaErrorMemoryAllocation;
	e = s->dev->func_get(s->devh, m->h, a->name, &f->h, &f->layout);
	if (e) {
		free(f->layout.params);
		free(f);
		return e;
	}
	if (f->layout.nparams > XMIG_MAX_PARAMS) {
		free(f->layout.params);
		free(f);
		return cudaErrorNotSupported;
	}
	f->module = a->module;
	f->name = strdup(a->name);
	f->max_dyn_smem = -1;
	f->cache_config = -1;
	id = srv_table_add(&s->funcs, f);
	if (!id) {
		free(f->name);
		free(f->layout.params);
		free(f);
		return cudaErrorMemoryAllocation;
	}
	r->func = id;
	r->nparams = f->layout.nparams;
	r->param_bytes = f->layout.param_bytes;
	for (i = 0; i < f->layout.nparams; i++) {
		r->params[i].offset = f->layout.params[i].offset;
		r->params[i].size = f->layout.params[i].size;
	}
	c->res_len = (uint32_t)offsetof(struct xmig_func_get_res, params) +
		     f->layout.nparams * (uint32_t)sizeof(r->params[0]);
	return 0;
}

/* The variable of module `module` named name, if asked for before; its id in *id. */
static struct srv_var *known_var(struct srv *s, uint64_t module, const char *name, uint64_t *id)
{
	for (*id = s->vars.first; *id < s->vars.next; (*id)++) {
		struct srv_var *v = srv_table_get(&s->vars, *id);

		if (v && v->module == module && !strcmp(v->name, name))
			return v;
	}
	return NULL;
}

/*
 * A module global, by name. Asked again (cuModuleGetGlobal in a loop, or
 * the runtime's symbol address after a move) it is the same entry: one
 * name, one address, and its bytes read once at a freeze.
 */
static int d_VAR_GET(struct xmig_call *c)
{
	const struct xmig_var_get_req *a = c->args;
	struct xmig_var_get_res *r = c->res;
	struct srv *s = c->srv;
	struct srv_module *m = srv_table_get(&s->modules, a->module);
	struct srv_var *v;
	uint64_t id;
	int e;

	if (!m || !m->h)
		return cudaErrorInvalidResourceHandle;
	if (memchr(a->name, '\0', sizeof(a->name)) == NULL)
		return cudaErrorInvalidValue;
	if ((v = known_var(s, a->module, a->name, &id)))
		goto out;
	v = calloc(1, sizeof(*v));
	if (!v)
		return cudaErrorMemoryAllocation;
	e = s->dev->var_get(s->devh, m->h, a->name, a->size, &v->addr, &v->size);
	if (e) {
		free(v);
		return e;
	}
	v->module = a->module;
	v->name = strdup(a->name);
	id = srv_table_add(&s->vars, v);
	if (!id || srv_state_var_entry(id, v) < 0) {
		if (id)
			srv_table_remove(&s->vars, id);
		free(v->name);
		free(v);
		return cudaErrorMemoryAllocation;
	}
out:
	r->var = id;
	r->addr = v->addr;
	r->size = v->size;
	c->res_len = sizeof(*r);
	return 0;
}

static int d_LAUNCH(struct xmig_call *c)
{
	const struct xmig_launch_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_func *f = srv_func(c, a->func);
	struct srv_stream *st = srv_stream(c, a->stream);
	struct xmig_dim3 grid = { a->grid[0], a->grid[1], a->grid[2] };
	struct xmig_dim3 block = { a->block[0], a->block[1], a->block[2] };

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (a->param_bytes != f->layout.param_bytes)
		return cudaErrorInvalidValue;
	return s->dev->launch(s->devh, f->h, grid, block, a->shmem, st->h, (void *)a->params,
			      a->param_bytes);
}

static void destroy_stream(uint64_t id, void *obj, void *arg)
{
	struct srv *s = arg;
	struct srv_stream *st = srv_table_remove(&s->streams, id);

	s->dev->stream_destroy(s->devh, st->h);
	json_decref(st->entry);
	free(st);
}

static void destroy_event(uint64_t id, void *obj, void *arg)
{
	struct srv *s = arg;
	struct srv_event *e = srv_table_remove(&s->events, id);

	s->dev->event_destroy(s->devh, e->h);
	free(e);
}

static int d_DEVICE_RESET(struct xmig_call *c)
{
	struct srv *s = c->srv;

	/* What cudaDeviceReset promises: idle device, memory and objects gone. */
	s->dev->ctx_sync(s->devh);
	/* (pending stream-ordered frees first: none may name an address used again) */
	srv_mem_reap(s, true);
	while (s->mem.nallocs > 0)
		srv_mem_free(s, s->mem.allocs[0].va);
	srv_graph_reset(s);
	srv_table_each(&s->streams, destroy_stream, s);
	srv_table_each(&s->events, destroy_event, s);
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

typedef int (*handler_fn)(struct xmig_call *c);

static int d_invalid(struct xmig_call *c)
{
	return cudaErrorInvalidValue;
}

#define d_PAD d_invalid
#define d_RING_CLOSE d_invalid

static const handler_fn handlers[XMIG_OP_COUNT] = {
#define X(n) [XMIG_OP_##n] = d_##n,
	XMIG_HAND_OPS(X)
#undef X
#define XMIG_FN(name, call, pt, ...) [XMIG_OP_##name] = d_##name,
#include "../api/cudart.def"
#undef XMIG_FN
};

static const char *const op_names[XMIG_OP_COUNT] = {
#define X(n) [XMIG_OP_##n] = #n,
	XMIG_HAND_OPS(X)
#undef X
#define XMIG_FN(name, call, pt, ...) [XMIG_OP_##name] = #name,
#include "../api/cudart.def"
#undef XMIG_FN
};

const char *srv_op_name(uint32_t op)
{
	return op < XMIG_OP_COUNT && op_names[op] ? op_names[op] : "an unknown operation";
}

const char *srv_call_detail(const struct xmig_call *c)
{
	static __thread char what[160];
	const struct srv_func *f = NULL;

	if (c->req->op == XMIG_OP_BLAS_GEMM) {
		const struct xmig_blas_gemm_req *g = c->args;

		snprintf(what, sizeof(what), " (kind %d, %c%c, %dx%dx%d, batch %d, types %d %d %d%s)",
			 g->fn, g->transa ? 'T' : 'N', g->transb ? 'T' : 'N', g->m, g->n, g->k,
			 g->batch, g->atype, g->btype, g->ctype,
			 g->scalars_on_device ? ", scalars on the device" : "");
		return what;
	}
	if (c->req->op == XMIG_OP_DNN_EXECUTE) {
		const struct xmig_dnn_execute_req *x = c->args;
		const struct dnn_obj *p = dnn_log_get(&c->srv->dnn, x->plan);

		snprintf(what, sizeof(what), " of plan %llu (%u tensors; %s)",
			 (unsigned long long)x->plan, x->n,
			 p && srv_dnn_ran_ahead(c->srv, x->plan, p->serial) ? "run ahead"
									    : "not run ahead");
		return what;
	}
	/* (LAUNCH_EX's request begins as LAUNCH's: the kernel's id first) */
	if (c->req->op == XMIG_OP_LAUNCH || c->req->op == XMIG_OP_LAUNCH_EX)
		f = srv_table_get(&c->srv->funcs, ((const struct xmig_launch_req *)c->args)->func);
	if (!f)
		return "";
	{
		/* (its local memory: a new context grows it at the first launch needing more) */
		struct cudaFuncAttributes at;

		if (c->srv->dev->func_attributes &&
		    !c->srv->dev->func_attributes(c->srv->devh, f->h, &at))
			snprintf(what, sizeof(what), " of %.100s (local %zu bytes a thread)", f->name,
				 at.localSizeBytes);
		else
			snprintf(what, sizeof(what), " of %.140s", f->name);
	}
	return what;
}

int srv_dispatch(struct xmig_call *c)
{
	uint32_t op = c->req->op;
	int r;

	if (op >= XMIG_OP_COUNT || !handlers[op]) {
		xmig_error("request with unknown operation %u", op);
		return cudaErrorNotSupported;
	}
	if (c->srv->ncaptures && srv_graph_refuses(c))
		return cudaErrorStreamCaptureUnsupported;
	r = handlers[op](c);
	/* (what a capture took in is kept, so that another proxy can make its graph again) */
	if (!r && c->srv->ncaptures)
		srv_graph_note(c);
	return r;
}
