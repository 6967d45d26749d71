/*
 * module.c - modules, kernels and launches on the wire, shared by both
 * facades: the runtime's registered fat binaries (fatbin.c) and the driver
 * API's cuModuleLoadData images (cuda-module.c). Module ids come from one
 * counter here, so the two never collide in the proxy's table.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "../../lib/xmig.h"
#include "client.h"

static _Atomic uint64_t next_module_id = 1;

uint64_t xmig_cl_module_id(void)
{
	return atomic_fetch_add(&next_module_id, 1);
}

cudaError_t xmig_cl_module_send(struct xmig_thread *t, uint64_t id, const void *image,
				size_t size)
{
	uint64_t hash, off = 0, owner = xmig_cl_owner_id();
	int restarts = 0;
	cudaError_t e;

	if ((e = xmig_cl_bulk_idle(t)))
		return e;
	hash = xmig_hash64(image, size);
	do {
		uint64_t n = size - off < XMIG_BULK_HALF ? size - off : XMIG_BULK_HALF;
		struct xmig_module_load_req *a;

		memcpy(t->ring->bulk, (const char *)image + off, n);
		a = xmig_cl_begin(t, XMIG_OP_MODULE_LOAD, sizeof(*a));
		if (!a)
			return xmig_cl_lost();
		a->module = id;
		a->total = size;
		a->offset = off;
		a->size = n;
		a->hash = hash;
		e = xmig_cl_end(t, XMIG_CALL_SYNC, NULL);
		/*
		 * An image still arriving stays with its proxy: after a move
		 * between its pieces the new proxy has none of it, and is sent
		 * it again from the start.
		 */
		if (e == cudaErrorInvalidValue && off && xmig_cl_owner_id() != owner &&
		    restarts++ < 3) {
			owner = xmig_cl_owner_id();
			off = 0;
			continue;
		}
		if (e)
			return e;
		off += n;
	} while (off < size);
	return cudaSuccess;
}

cudaError_t xmig_cl_func_get(struct xmig_thread *t, uint64_t module, const char *name,
			     struct xmig_cl_kernel *k)
{
	struct xmig_func_get_req *a;
	struct xmig_func_get_res *r;
	cudaError_t e;

	if (strlen(name) >= sizeof(a->name))
		return cudaErrorInvalidDeviceFunction;
	a = xmig_cl_begin(t, XMIG_OP_FUNC_GET, sizeof(*a));
	if (!a)
		return xmig_cl_lost();
	a->module = module;
	snprintf(a->name, sizeof(a->name), "%s", name);
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return e;
	k->params = malloc((r->nparams ? r->nparams : 1) * sizeof(*k->params));
	if (!k->params)
		return cudaErrorMemoryAllocation;
	memcpy(k->params, r->params, r->nparams * sizeof(*k->params));
	k->nparams = r->nparams;
	k->param_bytes = r->param_bytes;
	k->server_id = r->func;
	return cudaSuccess;
}

/*
 * The parameters go packed at the kernel's offsets: from args (one pointer
 * per parameter, as cudaLaunchKernel and cuLaunchKernel take them) or, when
 * args is NULL, from a buffer already packed (cuLaunchKernel's "extra").
 */
static void pack(unsigned char *dst, const struct xmig_cl_kernel *k, void **args,
		 const void *packed)
{
	uint32_t i;

	if (!args) {
		memcpy(dst, packed, k->param_bytes);
		return;
	}
	for (i = 0; i < k->nparams; i++)
		memcpy(dst + k->params[i].offset, args[i], k->params[i].size);
}

/* What LAUNCH and LAUNCH_EX requests begin with. */
#define LAUNCH_HEAD(a, k, d)                                      \
	do {                                                      \
		(a)->func = (k)->server_id;                       \
		memcpy((a)->grid, (d)->grid, sizeof((a)->grid));  \
		memcpy((a)->block, (d)->block, sizeof((a)->block)); \
		(a)->shmem = (d)->shmem;                          \
		(a)->stream = (d)->stream;                        \
		(a)->param_bytes = (k)->param_bytes;              \
	} while (0)

int xmig_cl_extra_buffer(void *const *extra, uint32_t need, const void **buf)
{
	static __thread unsigned char *padded;
	static __thread uint32_t padded_size;
	bool sized = false;
	size_t size = 0;

	*buf = NULL;
	for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
		if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
			*buf = extra[i + 1];
		} else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1]) {
			size = *(const size_t *)extra[i + 1];
			sized = true;
		} else {
			return -1;
		}
	}
	if (sized && size > need)
		return -2;   /* (the driver takes 1 byte up to the end of the last parameter) */
	if (!need)
		return 0;
	if (!*buf || !sized)
		return -1;
	if (size < need) {
		if (padded_size < need) {
			unsigned char *n = realloc(padded, need);

			if (!n)
				return -1;
			padded = n;
			padded_size = need;
		}
		memcpy(padded, *buf, size);
		memset(padded + size, 0, need - size);
		*buf = padded;
	}
	return 0;
}

cudaError_t xmig_cl_launch(struct xmig_thread *t, const struct xmig_cl_kernel *k,
			   const struct xmig_cl_launch_dims *d, void **args, const void *packed)
{
	struct xmig_launch_req *a;

	a = xmig_cl_begin(t, XMIG_OP_LAUNCH, (uint32_t)sizeof(*a) + k->param_bytes);
	if (!a)
		return xmig_cl_lost();
	LAUNCH_HEAD(a, k, d);
	pack(a->params, k, args, packed);
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}

/*
 * The runtime's cudaLaunchAttribute and the driver's CUlaunchAttribute are
 * one layout with one numbering: an id, then a 64-byte value. Values only
 * travel; attributes naming events or graph nodes could not follow the job.
 */
cudaError_t xmig_cl_launch_attrs(const void *in, unsigned n, struct xmig_launch_attr *out,
				 unsigned *nout)
{
	const CUlaunchAttribute *a = in;

	*nout = 0;
	if (n && !in)
		return cudaErrorInvalidValue;
	for (unsigned i = 0; i < n; i++) {
		switch (a[i].id) {
		case CU_LAUNCH_ATTRIBUTE_IGNORE:
			continue;
		case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
		case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT:
		case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
			xmig_cl_unsupported("a launch with an event or graph-node launch attribute");
			return cudaErrorNotSupported;
		default:
			break;
		}
		if (*nout == XMIG_MAX_LAUNCH_ATTRS)
			return cudaErrorInvalidValue;
		memcpy(&out[(*nout)++], &a[i], sizeof(*out));
	}
	return cudaSuccess;
}

cudaError_t xmig_cl_max_active_clusters(struct xmig_thread *t, const struct xmig_cl_kernel *k,
					const struct xmig_cl_launch_dims *d,
					const struct xmig_launch_attr *attrs, unsigned nattrs,
					int *clusters)
{
	struct xmig_launch_ex_req *a;
	struct xmig_occupancy_clusters_res *r;
	cudaError_t e;

	if (nattrs > XMIG_MAX_LAUNCH_ATTRS)
		return cudaErrorInvalidValue;
	if (!(a = xmig_cl_begin(t, XMIG_OP_OCCUPANCY_CLUSTERS, sizeof(*a))))
		return xmig_cl_lost();
	LAUNCH_HEAD(a, k, d);
	a->nattrs = nattrs;
	memcpy(a->attrs, attrs, nattrs * sizeof(*attrs));
	a->param_bytes = 0;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return e;
	*clusters = r->clusters;
	return cudaSuccess;
}

cudaError_t xmig_cl_launch_ex(struct xmig_thread *t, const struct xmig_cl_kernel *k,
			      const struct xmig_cl_launch_dims *d, const struct xmig_launch_attr *attrs,
			      unsigned nattrs, void **args, const void *packed)
{
	struct xmig_launch_ex_req *a;

	if (nattrs > XMIG_MAX_LAUNCH_ATTRS)
		return cudaErrorInvalidValue;
	a = xmig_cl_begin(t, XMIG_OP_LAUNCH_EX, (uint32_t)sizeof(*a) + k->param_bytes);
	if (!a)
		return xmig_cl_lost();
	LAUNCH_HEAD(a, k, d);
	a->nattrs = nattrs;
	memcpy(a->attrs, attrs, nattrs * sizeof(*attrs));
	pack(a->params, k, args, packed);
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}
