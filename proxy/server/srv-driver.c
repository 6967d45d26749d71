/*
 * srv-driver.c - operations only the driver API needs (the libcuda facade:
 * Triton, torch.compile, PyTorch's NVRTC kernels): unloading a module,
 * launches with launch attributes and their cluster occupancy, TMA
 * descriptors, and the allocation that holds an address.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "srv-api.h"
#include "state.h"

/* Once per what: a program may retry a failing call in a loop. */
static int not_here(struct srv *s, const char *what)
{
	static const char *said;

	if (said != what) {
		said = what;
		xmig_error("%s: not available on a %s device", what, s->dev->name);
	}
	return cudaErrorNotSupported;
}

/* ---- cuModuleUnload ------------------------------------------------------- */

struct drop {
	struct srv *s;
	uint64_t module;
};

static void drop_func(uint64_t id, void *obj, void *arg)
{
	struct drop *d = arg;
	struct srv_func *f = obj;

	if (f->module != d->module)
		return;
	srv_table_remove(&d->s->funcs, id);
	srv_state_entry_changed(&f->entry);
	free(f->name);
	free(f->layout.params);
	free(f);
}

static void drop_var(uint64_t id, void *obj, void *arg)
{
	struct drop *d = arg;
	struct srv_var *v = obj;

	if (v->module != d->module)
		return;
	srv_table_remove(&d->s->vars, id);
	json_decref(v->entry);
	free(v->name);
	free(v);
}

int d_MODULE_UNLOAD(struct xmig_call *c)
{
	const struct xmig_module_unload_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_module *m = srv_table_get(&s->modules, a->module);
	struct drop d = { s, a->module };
	int r;

	if (!m || !m->h)
		return cudaErrorInvalidResourceHandle;
	/* Its kernels and variables go with it; the next proxy must not look for them. */
	srv_table_each(&s->funcs, drop_func, &d);
	srv_table_each(&s->vars, drop_var, &d);
	r = s->dev->module_unload(s->devh, m->h);
	pthread_mutex_lock(&s->state_lock);
	srv_table_remove(&s->modules, a->module);
	srv_state_entry_changed(&m->entry);
	m->unloaded = true;
	if (!m->pins) {
		free(m->image);
		free(m);
	}
	pthread_mutex_unlock(&s->state_lock);
	return r;
}

/* ---- launches with attributes -------------------------------------------- */

/*
 * Attributes that hold nothing but values. Those naming events or graph
 * nodes (programmatic event, launch completion event, updatable node) are
 * refused by the client already; this is the server's own guard.
 */
static bool value_only(uint32_t id)
{
	switch (id) {
	case 7:    /* CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT */
	case 12:   /* CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT */
	case 13:   /* CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE */
		return false;
	default:
		return true;
	}
}

static int check_attrs(const struct xmig_launch_ex_req *a)
{
	unsigned i;

	if (a->nattrs > XMIG_MAX_LAUNCH_ATTRS)
		return cudaErrorInvalidValue;
	for (i = 0; i < a->nattrs; i++)
		if (!value_only(a->attrs[i].id))
			return cudaErrorNotSupported;
	return 0;
}

int d_LAUNCH_EX(struct xmig_call *c)
{
	const struct xmig_launch_ex_req *a = c->args;
	struct srv *s = c->srv;
	struct srv_func *f = srv_func(c, a->func);
	struct srv_stream *st = srv_stream(c, a->stream);
	struct xmig_dim3 grid = { a->grid[0], a->grid[1], a->grid[2] };
	struct xmig_dim3 block = { a->block[0], a->block[1], a->block[2] };
	int r;

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if (!st)
		return cudaErrorInvalidResourceHandle;
	if (a->param_bytes != f->layout.param_bytes)
		return cudaErrorInvalidValue;
	if ((r = check_attrs(a)))
		return r;
	if (!s->dev->launch_ex)
		return not_here(s, "launches with attributes (cuLaunchKernelEx)");
	return s->dev->launch_ex(s->devh, f->h, grid, block, a->shmem, st->h, (void *)a->params,
				 a->param_bytes, a->attrs, a->nattrs);
}

int d_OCCUPANCY_CLUSTERS(struct xmig_call *c)
{
	const struct xmig_launch_ex_req *a = c->args;
	struct xmig_occupancy_clusters_res *res = c->res;
	struct srv *s = c->srv;
	struct srv_func *f = srv_func(c, a->func);
	struct xmig_dim3 grid = { a->grid[0], a->grid[1], a->grid[2] };
	struct xmig_dim3 block = { a->block[0], a->block[1], a->block[2] };
	int r;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if ((r = check_attrs(a)))
		return r;
	if (!s->dev->occupancy_clusters)
		return not_here(s, "cluster occupancy (cuOccupancyMaxActiveClusters)");
	return s->dev->occupancy_clusters(s->devh, f->h, grid, block, a->shmem, a->attrs, a->nattrs,
					  &res->clusters);
}

/* ---- TMA descriptors ------------------------------------------------------- */

/*
 * A descriptor holds the global address, which a move keeps, and the
 * tensor's shape: encoded once, it stays valid on the next GPU of the same
 * compute capability (a move requires that).
 */
int d_TENSOR_MAP(struct xmig_call *c)
{
	const struct xmig_tensor_map_req *a = c->args;
	struct xmig_tensor_map_res *r = c->res;
	struct srv *s = c->srv;

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (a->rank < 1 || a->rank > 5)
		return cudaErrorInvalidValue;
	if (!s->dev->tensor_map_encode)
		return not_here(s, "TMA descriptors (cuTensorMapEncodeTiled, cuTensorMapEncodeIm2col)");
	return s->dev->tensor_map_encode(s->devh, a, r->map);
}

/* ---- cuMemGetAddressRange, cuPointerGetAttribute(RANGE_*) ------------------ */

int d_MEM_RANGE(struct xmig_call *c)
{
	const struct xmig_mem_range_req *a = c->args;
	struct xmig_mem_range_res *r = c->res;
	struct srv *s = c->srv;
	struct srv_alloc *al = srv_mem_find(s, a->addr, 1);

	memset(r, 0, sizeof(*r));
	c->res_len = sizeof(*r);
	if (al && a->addr < al->va + al->requested) {
		r->base = al->va;
		r->size = al->requested;
		return 0;
	}
	/* A module global is a range of its own. */
	for (uint64_t id = s->vars.first; id < s->vars.next; id++) {
		struct srv_var *v = srv_table_get(&s->vars, id);

		if (v && a->addr >= v->addr && a->addr < v->addr + v->size) {
			r->base = v->addr;
			r->size = v->size;
			return 0;
		}
	}
	return cudaErrorInvalidValue;
}
