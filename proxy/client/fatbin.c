/*
 * fatbin.c - kernels and variables the application registers at load time.
 *
 * nvcc's static constructors call __cudaRegisterFatBinary and
 * __cudaRegisterFunction/__cudaRegisterVar before main(). Here they only
 * record metadata: nothing reaches the proxy until a kernel of a fat binary
 * is first used. Then the image travels once (through the bulk area, with
 * a checksum), the server loads it and answers the kernel's parameter
 * layout (cuFuncGetParamInfo there), which is cached here per kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "fatbin.h"

#define FATBIN_WRAPPER_MAGIC 0x466243b1u
#define FATBIN_MAGIC 0xba55ed50u

struct fatbin_wrapper {
	int magic;
	int version;
	const unsigned long long *data;
	void *filename_or_fatbins;
};

struct fatbin_header {
	uint32_t magic;
	uint16_t version;
	uint16_t header_size;
	uint64_t fat_size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Pointer -> kernel, for host stubs and for our own cudaKernel_t values. */
struct map_entry {
	const void *key;
	void *value;
};
static struct map_entry *map;
static size_t map_cap, map_len;

static struct xmig_var *vars;       /* all variables, a list */

static size_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static void map_put(const void *key, void *value);

static void map_grow(void)
{
	struct map_entry *old = map;
	size_t old_cap = map_cap, i;

	map_cap = map_cap ? map_cap * 2 : 1024;
	map = calloc(map_cap, sizeof(*map));
	map_len = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].key)
			map_put(old[i].key, old[i].value);
	free(old);
}

static void map_put(const void *key, void *value)
{
	size_t i;

	if ((map_len + 1) * 2 > map_cap)
		map_grow();
	for (i = hash_ptr(key) & (map_cap - 1);; i = (i + 1) & (map_cap - 1)) {
		if (!map[i].key) {
			map[i].key = key;
			map[i].value = value;
			map_len++;
			return;
		}
		if (map[i].key == key) {
			map[i].value = value;
			return;
		}
	}
}

static void *map_get(const void *key)
{
	size_t i;

	if (!map_cap)
		return NULL;
	for (i = hash_ptr(key) & (map_cap - 1); map[i].key; i = (i + 1) & (map_cap - 1))
		if (map[i].key == key)
			return map[i].value;
	return NULL;
}

/* ---- registration (before main) --------------------------------------------- */

void **xmig_fatbin_register(void *fat_cubin)
{
	const struct fatbin_wrapper *w = fat_cubin;
	struct xmig_module *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->magic = XMIG_MODULE_MAGIC;
	m->id = xmig_cl_module_id();
	if (w && w->magic == (int)FATBIN_WRAPPER_MAGIC && w->data) {
		const struct fatbin_header *h = (const void *)w->data;

		if (h->magic == FATBIN_MAGIC) {
			m->image = h;
			m->size = h->header_size + h->fat_size;
		}
	}
	/* An unknown format fails loudly at first use, not here before main. */
	return (void **)m;
}

void xmig_fatbin_register_function(void **handle, const void *host_fun, const char *device_name)
{
	struct xmig_module *m = (struct xmig_module *)handle;
	struct xmig_func *f = calloc(1, sizeof(*f));

	if (!f || !m || m->magic != XMIG_MODULE_MAGIC) {
		free(f);
		return;
	}
	f->magic = XMIG_FUNC_MAGIC;
	f->module = m;
	f->host_fun = host_fun;
	f->name = strdup(device_name);
	pthread_mutex_lock(&lock);
	map_put(host_fun, f);
	map_put(f, f);
	pthread_mutex_unlock(&lock);
}

void xmig_fatbin_register_var(void **handle, const void *host_var, const char *device_name,
			      size_t size, int constant)
{
	struct xmig_module *m = (struct xmig_module *)handle;
	struct xmig_var *v = calloc(1, sizeof(*v));

	if (!v || !m || m->magic != XMIG_MODULE_MAGIC) {
		free(v);
		return;
	}
	v->module = m;
	v->host_var = host_var;
	v->name = strdup(device_name);
	v->size = size;
	v->constant = constant;
	pthread_mutex_lock(&lock);
	v->next = vars;
	vars = v;
	v->next_in_module = m->vars;
	m->vars = v;
	pthread_mutex_unlock(&lock);
}

void xmig_fatbin_unregister(void **handle)
{
	/* At exit: the proxy goes away with the process; nothing to send. */
	(void)handle;
}

/* ---- first use ----------------------------------------------------------------- */

/* v's id and address in the proxy that serves now (a new id each time). */
static cudaError_t var_get(struct xmig_thread *t, struct xmig_var *v, uint64_t *id)
{
	struct xmig_var_get_req *a = xmig_cl_begin(t, XMIG_OP_VAR_GET, sizeof(*a));
	struct xmig_var_get_res *r;
	cudaError_t e;

	if (!a)
		return xmig_cl_lost();
	a->module = v->module->id;
	a->size = v->size;
	snprintf(a->name, sizeof(a->name), "%s", v->name);
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)) == cudaSuccess) {
		*id = r->var;
		v->addr = r->addr;
		v->addr_owner = xmig_cl_owner_id();
	}
	return e;
}

static cudaError_t load_module(struct xmig_thread *t, struct xmig_module *m)
{
	cudaError_t e;
	struct xmig_var *v;

	if (!m->image) {
		xmig_error("a fat binary of this program has a format xmig does not know "
			   "(relocatable device code linked at run time?)");
		return cudaErrorInvalidKernelImage;
	}
	if ((e = xmig_cl_module_send(t, m->id, m->image, m->size)))
		return e;

	/* The module's variables: their ids (and, on the sim device, storage). */
	for (v = m->vars; v; v = v->next_in_module) {
		uint64_t id;

		if ((e = var_get(t, v, &id)) == cudaSuccess)
			v->server_id = id;
		else if (e == cudaErrorDevicesUnavailable)
			return e;
		else   /* optimised away in the image: only its own use fails */
			xmig_debug("variable %s: error %d", v->name, e);
	}
	m->loaded = true;
	return cudaSuccess;
}

cudaError_t xmig_fatbin_variable_address(struct xmig_thread *t, struct xmig_var *v,
					 uint64_t *addr)
{
	cudaError_t e = cudaSuccess;
	uint64_t id;

	/* The next proxy loaded the module again, elsewhere: ask it. */
	pthread_mutex_lock(&lock);
	if (v->addr_owner != xmig_cl_owner_id())
		e = var_get(t, v, &id);
	*addr = v->addr;
	pthread_mutex_unlock(&lock);
	return e;
}

static cudaError_t resolve_function(struct xmig_thread *t, struct xmig_func *f)
{
	cudaError_t e;

	if (!f->module->loaded && (e = load_module(t, f->module)))
		return e;
	if ((e = xmig_cl_func_get(t, f->module->id, f->name, &f->k)))
		return e;
	atomic_store_explicit(&f->server_id, f->k.server_id, memory_order_release);
	return cudaSuccess;
}

struct xmig_func *xmig_fatbin_function(const void *p)
{
	static __thread const void *last_key;
	static __thread struct xmig_func *last;
	struct xmig_func *f;

	if (p == last_key && last)
		return last;
	pthread_mutex_lock(&lock);
	f = map_get(p);
	pthread_mutex_unlock(&lock);
	if (f) {
		last_key = p;
		last = f;
	}
	return f;
}

cudaError_t xmig_fatbin_ready(struct xmig_thread *t, struct xmig_func *f)
{
	cudaError_t e = cudaSuccess;

	if (atomic_load_explicit(&f->server_id, memory_order_acquire))
		return cudaSuccess;
	/* One thread resolves; the others find it done. */
	pthread_mutex_lock(&lock);
	if (!atomic_load(&f->server_id))
		e = resolve_function(t, f);
	pthread_mutex_unlock(&lock);
	return e;
}

cudaError_t xmig_fatbin_variable(struct xmig_thread *t, const void *symbol, struct xmig_var **out)
{
	struct xmig_var *v;
	cudaError_t e = cudaSuccess;

	pthread_mutex_lock(&lock);
	for (v = vars; v; v = v->next)
		if (v->host_var == symbol)
			break;
	if (v && !v->module->loaded)
		e = load_module(t, v->module);
	pthread_mutex_unlock(&lock);
	if (!v)
		return cudaErrorInvalidSymbol;
	if (e)
		return e;
	if (!v->server_id)
		return cudaErrorInvalidSymbol;
	*out = v;
	return cudaSuccess;
}
