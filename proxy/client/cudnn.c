/*
 * cudnn.c - the facade libcudnn.so.9. cuDNN carries its own copy of the
 * CUDA runtime, so the real library runs only in the proxy. Forwarded:
 * the backend (graph) API that cuDNN's frontend, and through it PyTorch's
 * attention, uses (cudnnBackendCreateDescriptor, SetAttribute,
 * GetAttribute, Finalize, Execute, DestroyDescriptor), handles and their
 * stream (cudnnCreate, cudnnDestroy, cudnnSetStream, cudnnGetStream), and
 * versions, properties and error strings. The legacy API (convolutions,
 * RNNs, batch norm, ...) is not: each such call fails with
 * CUDNN_STATUS_NOT_SUPPORTED and one line naming it (generated stubs).
 *
 * A handle or descriptor here is a small record holding the proxy's
 * logical id. Variant packs are the exception: they stay here until
 * cudnnBackendExecute, which posts the plan with its tensors in one
 * request, so a step costs no round trip. Setup calls wait for the
 * proxy's status.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn_graph.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "cudnn-status.h"

#define API __attribute__((visibility("default")))

#define DNN_MAGIC 0x786d6e64u   /* "xmnd": a record of this facade */

struct dnn_obj {
	uint32_t magic;
	int kind;                   /* 1 handle, 2 descriptor */
	int type;                   /* a descriptor's type */
	uint64_t id;                /* the proxy's; 0 for a variant pack */
	cudaStream_t stream;        /* a handle's */
	/* a tensor: what a by-value scalar's size is found from */
	int64_t uid;
	int dtype;
	bool by_value;
	/* a variant pack, kept here */
	bool finalized;
	int64_t nuids, nptrs, ninter;
	int64_t uids[XMIG_DNN_VP_MAX];
	void *ptrs[XMIG_DNN_VP_MAX];
	void *inter[4];
	void *workspace;
	bool has_workspace;
};

enum { KIND_HANDLE = 1, KIND_DESC = 2 };

static struct dnn_obj *obj_of(const void *p, int kind)
{
	struct dnn_obj *o = (struct dnn_obj *)p;

	return o && o->magic == DNN_MAGIC && o->kind == kind ? o : NULL;
}

static bool is_vp(const struct dnn_obj *o)
{
	return o->type == CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR;
}

/* A status from the channel: a cuDNN status, or the channel's own trouble. */
static cudnnStatus_t status_of(cudaError_t e)
{
	if (e == cudaSuccess || e >= 1000)
		return (cudnnStatus_t)e;
	return CUDNN_STATUS_EXECUTION_FAILED_CUDART;
}

/* ---- versions, properties, errors ----------------------------------------- */

/* The proxy's cuDNN answers (PyTorch and the frontend check its version). */
static struct xmig_dnn_info_res proxy_info;

static void ask_info(void)
{
	struct xmig_dnn_info_res *r;
	struct xmig_thread *t;

	/* The headers' versions if the proxy cannot say. */
	proxy_info = (struct xmig_dnn_info_res){ .version = CUDNN_VERSION,
						 .cudart_version = CUDART_VERSION };
	if (xmig_cl_enter(&t) || !xmig_cl_begin(t, XMIG_OP_DNN_INFO, 0))
		return;
	if (xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r) == cudaSuccess && r)
		proxy_info = *r;
}

static const struct xmig_dnn_info_res *info(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, ask_info);
	return &proxy_info;
}

API size_t cudnnGetVersion(void)
{
	return (size_t)info()->version;
}

API size_t cudnnGetMaxDeviceVersion(void)
{
	return (size_t)info()->max_device_version;
}

API size_t cudnnGetCudartVersion(void)
{
	return (size_t)info()->cudart_version;
}

API cudnnStatus_t cudnnGetProperty(libraryPropertyType type, int *value)
{
	int64_t v = info()->version;

	if (!value)
		return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
	switch (type) {
	case MAJOR_VERSION: *value = (int)(v / 10000); break;
	case MINOR_VERSION: *value = (int)(v % 10000 / 100); break;
	case PATCH_LEVEL: *value = (int)(v % 100); break;
	default: return CUDNN_STATUS_BAD_PARAM;
	}
	return CUDNN_STATUS_SUCCESS;
}

API const char *cudnnGetErrorString(cudnnStatus_t status)
{
	switch ((int)status) {
#define X(name, value) case value: return #name;
	XMIG_CUDNN_STATUSES(X)
#undef X
	case 2001: return "CUDNN_STATUS_INVALID_VALUE";
	default: return "CUDNN_STATUS_UNKNOWN";
	}
}

API void cudnnGetLastErrorString(char *message, size_t max_size)
{
	struct xmig_dnn_error_res *r;
	struct xmig_thread *t;

	if (!message || !max_size)
		return;
	message[0] = '\0';
	if (xmig_cl_enter(&t) || !xmig_cl_begin(t, XMIG_OP_DNN_LAST_ERROR, 0))
		return;
	if (xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r) == cudaSuccess && r)
		snprintf(message, max_size, "%.*s", (int)sizeof(r->message), r->message);
}

/* ---- handles ----------------------------------------------------------------- */

/* Ask for a new object of the proxy's; its id, or 0 and *st. */
static uint64_t create_remote(uint32_t op, int type, cudnnStatus_t *st)
{
	struct xmig_dnn_desc_create_req *a;
	struct xmig_dnn_id_res *r = NULL;
	struct xmig_thread *t;
	cudaError_t e;

	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, op, sizeof(*a)))) {
		*st = CUDNN_STATUS_NOT_INITIALIZED;
		return 0;
	}
	a->type = type;
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	*st = e ? status_of(e) : r && r->id ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR;
	return *st ? 0 : r->id;
}

static cudnnStatus_t destroy_remote(uint32_t op, uint64_t id)
{
	struct xmig_dnn_id_req *a;
	struct xmig_thread *t;

	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, op, sizeof(*a))))
		return CUDNN_STATUS_NOT_INITIALIZED;
	a->id = id;
	return status_of(xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
}

/* Live handles, to answer a GetAttribute of type HANDLE with the caller's. */
static struct dnn_obj *handles[256];
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_handle(struct dnn_obj *h, bool live)
{
	pthread_mutex_lock(&handles_lock);
	for (size_t i = 0; i < 256; i++)
		if (live ? !handles[i] : handles[i] == h) {
			handles[i] = live ? h : NULL;
			break;
		}
	pthread_mutex_unlock(&handles_lock);
}

static void *handle_by_id(uint64_t id)
{
	struct dnn_obj *h = NULL;

	pthread_mutex_lock(&handles_lock);
	for (size_t i = 0; i < 256 && !h; i++)
		if (handles[i] && handles[i]->id == id)
			h = handles[i];
	pthread_mutex_unlock(&handles_lock);
	return h;
}

API cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
	struct dnn_obj *h;
	cudnnStatus_t st;

	if (!handle)
		return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
	if (!(h = calloc(1, sizeof(*h))))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	if (!(h->id = create_remote(XMIG_OP_DNN_CREATE, 0, &st))) {
		free(h);
		return st;
	}
	h->magic = DNN_MAGIC;
	h->kind = KIND_HANDLE;
	note_handle(h, true);
	*handle = (cudnnHandle_t)(void *)h;
	return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
	struct dnn_obj *h = obj_of(handle, KIND_HANDLE);
	cudnnStatus_t st;

	if (!h)
		return CUDNN_STATUS_BAD_PARAM;
	st = destroy_remote(XMIG_OP_DNN_DESTROY, h->id);
	note_handle(h, false);
	h->magic = 0;
	free(h);
	return st;
}

API cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream)
{
	struct dnn_obj *h = obj_of(handle, KIND_HANDLE);
	struct xmig_dnn_stream_req *a;
	struct xmig_thread *t;

	if (!h)
		return CUDNN_STATUS_BAD_PARAM;
	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_DNN_SET_STREAM, sizeof(*a))))
		return CUDNN_STATUS_NOT_INITIALIZED;
	/* Always sent (posted, so cheap): a stream handle's value can be reused. */
	a->id = h->id;
	a->stream = xmig_cl_stream_id(stream, 0);
	xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
	h->stream = stream;
	return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t *stream)
{
	struct dnn_obj *h = obj_of(handle, KIND_HANDLE);

	if (!h)
		return CUDNN_STATUS_BAD_PARAM;
	if (!stream)
		return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
	*stream = h->stream;
	return CUDNN_STATUS_SUCCESS;
}

/* ---- descriptors ----------------------------------------------------------- */

API cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t type,
					       cudnnBackendDescriptor_t *descriptor)
{
	struct dnn_obj *d;
	cudnnStatus_t st = CUDNN_STATUS_SUCCESS;

	if (!descriptor)
		return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
	if (!(d = calloc(1, sizeof(*d))))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	d->type = type;
	if (!is_vp(d) && !(d->id = create_remote(XMIG_OP_DNN_DESC_CREATE, type, &st))) {
		free(d);
		return st;
	}
	d->magic = DNN_MAGIC;
	d->kind = KIND_DESC;
	*descriptor = d;
	return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor)
{
	struct dnn_obj *d = obj_of(descriptor, KIND_DESC);
	cudnnStatus_t st = CUDNN_STATUS_SUCCESS;

	if (!d)
		return CUDNN_STATUS_BAD_PARAM;
	if (!is_vp(d))
		st = destroy_remote(XMIG_OP_DNN_DESC_DESTROY, d->id);
	d->magic = 0;
	free(d);
	return st;
}

/* By-value scalars' sizes by tensor uid, from the tensors finalized so far. */
static struct { int64_t uid; uint32_t size; } by_value[256];
static size_t nby_value;
static pthread_mutex_t by_value_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t dtype_size(int dtype)
{
	switch (dtype) {
	case CUDNN_DATA_DOUBLE: case CUDNN_DATA_INT64: return 8;
	case CUDNN_DATA_FLOAT: case CUDNN_DATA_INT32: case CUDNN_DATA_UINT32: return 4;
	case CUDNN_DATA_HALF: case CUDNN_DATA_BFLOAT16: return 2;
	case CUDNN_DATA_INT8: case CUDNN_DATA_UINT8: case CUDNN_DATA_BOOLEAN:
	case CUDNN_DATA_FP8_E4M3: case CUDNN_DATA_FP8_E5M2: case CUDNN_DATA_FP8_E8M0: return 1;
	case CUDNN_DATA_COMPLEX_FP32: return 8;
	case CUDNN_DATA_COMPLEX_FP64: return 16;
	default: return 0;
	}
}

static void note_by_value(const struct dnn_obj *tensor)
{
	size_t i;

	pthread_mutex_lock(&by_value_lock);
	for (i = 0; i < nby_value && by_value[i].uid != tensor->uid; i++)
		;
	if (i < 256) {
		by_value[i].uid = tensor->uid;
		by_value[i].size = dtype_size(tensor->dtype);
		if (i == nby_value)
			nby_value++;
	}
	pthread_mutex_unlock(&by_value_lock);
}

static uint32_t by_value_size(int64_t uid)
{
	uint32_t size = 0;

	pthread_mutex_lock(&by_value_lock);
	for (size_t i = 0; i < nby_value; i++)
		if (by_value[i].uid == uid)
			size = by_value[i].size;
	pthread_mutex_unlock(&by_value_lock);
	return size;
}

/* What this facade itself needs of a tensor's attributes. */
static void note_tensor(struct dnn_obj *d, int name, int type, int64_t count, const void *e)
{
	if (d->type != CUDNN_BACKEND_TENSOR_DESCRIPTOR || count != 1)
		return;
	if (name == CUDNN_ATTR_TENSOR_UNIQUE_ID && type == CUDNN_TYPE_INT64)
		memcpy(&d->uid, e, sizeof(d->uid));
	else if (name == CUDNN_ATTR_TENSOR_DATA_TYPE && type == CUDNN_TYPE_DATA_TYPE)
		memcpy(&d->dtype, e, sizeof(d->dtype));
	else if (name == CUDNN_ATTR_TENSOR_IS_BY_VALUE && type == CUDNN_TYPE_BOOLEAN)
		d->by_value = *(const bool *)e;
}

static cudnnStatus_t not_forwarded(const char *fn, int name)
{
	char what[160], *kept;

	/* Logged once per function and attribute: the log keeps the name. */
	snprintf(what, sizeof(what), "%s (attribute %d)", fn, name);
	if ((kept = strdup(what)))
		xmig_cl_unsupported(kept);
	return CUDNN_STATUS_NOT_SUPPORTED;
}

/* A variant pack's attributes, kept here until Execute. */
static cudnnStatus_t vp_set(struct dnn_obj *d, int name, int type, int64_t count,
			    const void *e)
{
	if (d->finalized)
		return CUDNN_STATUS_BAD_PARAM;
	if (count < 0 || (count && !e))
		return CUDNN_STATUS_BAD_PARAM;
	switch (name) {
	case CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS:
		if (type != CUDNN_TYPE_INT64 || count > XMIG_DNN_VP_MAX)
			return CUDNN_STATUS_BAD_PARAM;
		memcpy(d->uids, e, count * sizeof(int64_t));
		d->nuids = count;
		return CUDNN_STATUS_SUCCESS;
	case CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS:
		if (type != CUDNN_TYPE_VOID_PTR || count > XMIG_DNN_VP_MAX)
			return CUDNN_STATUS_BAD_PARAM;
		memcpy(d->ptrs, e, count * sizeof(void *));
		d->nptrs = count;
		return CUDNN_STATUS_SUCCESS;
	case CUDNN_ATTR_VARIANT_PACK_WORKSPACE:
		if (type != CUDNN_TYPE_VOID_PTR || count != 1)
			return CUDNN_STATUS_BAD_PARAM;
		memcpy(&d->workspace, e, sizeof(void *));
		d->has_workspace = true;
		return CUDNN_STATUS_SUCCESS;
	case CUDNN_ATTR_VARIANT_PACK_INTERMEDIATES:
		if (type != CUDNN_TYPE_VOID_PTR)
			return CUDNN_STATUS_BAD_PARAM;
		if (count > 4)
			return not_forwarded("cudnnBackendSetAttribute of more than 4 intermediates",
					     name);
		memcpy(d->inter, e, count * sizeof(void *));
		d->ninter = count;
		return CUDNN_STATUS_SUCCESS;
	default:
		return not_forwarded("cudnnBackendSetAttribute of a variant pack", name);
	}
}

static cudnnStatus_t vp_get(struct dnn_obj *d, int name, int type, int64_t requested,
			    int64_t *count, void *e)
{
	const void *src;
	int64_t n;
	size_t size = xmig_dnn_elem_size(type);

	switch (name) {
	case CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS: src = d->uids, n = d->nuids; break;
	case CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS: src = d->ptrs, n = d->nptrs; break;
	case CUDNN_ATTR_VARIANT_PACK_WORKSPACE: src = &d->workspace, n = d->has_workspace; break;
	case CUDNN_ATTR_VARIANT_PACK_INTERMEDIATES: src = d->inter, n = d->ninter; break;
	default: return not_forwarded("cudnnBackendGetAttribute of a variant pack", name);
	}
	if (type != (name == CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS ? CUDNN_TYPE_INT64
								 : CUDNN_TYPE_VOID_PTR))
		return CUDNN_STATUS_BAD_PARAM;
	if (count)
		*count = n;
	if (e && requested > 0)
		memcpy(e, src, (size_t)(requested < n ? requested : n) * size);
	return CUDNN_STATUS_SUCCESS;
}

/* Handles and descriptors to the proxy's ids; false if one is not ours. */
static bool refs_to_ids(int type, int64_t count, const void *e, uint64_t *ids)
{
	for (int64_t i = 0; i < count; i++) {
		struct dnn_obj *o = obj_of(((void *const *)e)[i],
					   type == CUDNN_TYPE_HANDLE ? KIND_HANDLE : KIND_DESC);

		if (!o || !o->id)
			return false;
		ids[i] = o->id;
	}
	return true;
}

/* What any attribute call checks first: SUCCESS to go on. */
static cudnnStatus_t attr_call_check(const struct dnn_obj *d, int type, int64_t count,
				     const void *elements, const char *unknown_type)
{
	if (!d)
		return CUDNN_STATUS_BAD_PARAM;
	if (!xmig_dnn_elem_size(type)) {
		xmig_cl_unsupported(unknown_type);
		return CUDNN_STATUS_NOT_SUPPORTED;
	}
	if (count < 0 || (count && !elements))
		return CUDNN_STATUS_BAD_PARAM;
	return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor,
					   cudnnBackendAttributeName_t name,
					   cudnnBackendAttributeType_t type, int64_t count,
					   const void *elements)
{
	struct dnn_obj *d = obj_of(descriptor, KIND_DESC);
	size_t size = xmig_dnn_elem_size(type), bytes;
	struct xmig_dnn_attr_req *a;
	struct xmig_thread *t;
	cudnnStatus_t st;

	if ((st = attr_call_check(d, type, count, elements,
				  "cudnnBackendSetAttribute of an attribute type unknown to xmig")))
		return st;
	if (is_vp(d))
		return vp_set(d, name, type, count, elements);
	if ((uint64_t)count > XMIG_DNN_ATTR_MAX / size)
		return not_forwarded("cudnnBackendSetAttribute larger than xmig carries", name);
	bytes = (size_t)count * size;
	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, XMIG_OP_DNN_SET_ATTR, sizeof(*a) + bytes)))
		return CUDNN_STATUS_NOT_INITIALIZED;
	a->id = d->id;
	a->name = name;
	a->type = type;
	a->count = count;
	if (!xmig_dnn_type_is_ref(type))
		memcpy(a->elems, elements, bytes);
	else if (!refs_to_ids(type, count, elements, (uint64_t *)a->elems))
		memset(a->elems, 0, bytes);   /* the proxy answers BAD_PARAM, as cuDNN would */
	st = status_of(xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
	if (!st)
		note_tensor(d, name, type, count, elements);
	return st;
}

static cudnnStatus_t get_attribute(cudnnBackendDescriptor_t const descriptor,
				   cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
				   int64_t requested, int64_t *count, void *elements);

/* XMIG_DNN_TRACE=1: every GetAttribute the facade answers with a failure, on stderr. */
API cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor,
					   cudnnBackendAttributeName_t name,
					   cudnnBackendAttributeType_t type,
					   int64_t requested, int64_t *count, void *elements)
{
	static int on = -1;
	cudnnStatus_t st = get_attribute(descriptor, name, type, requested, count, elements);

	if (on < 0)
		on = xmig_env_flag("XMIG_DNN_TRACE");
	if (on && st)
		fprintf(stderr, "xmig: cuDNN GetAttribute(%p, name %d, type %d, requested %lld, "
			"count %p, elements %p) -> %d\n", descriptor, (int)name, (int)type,
			(long long)requested, (void *)count, elements, (int)st);
	return st;
}

static cudnnStatus_t get_attribute(cudnnBackendDescriptor_t const descriptor,
				   cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
				   int64_t requested, int64_t *count, void *elements)
{
	struct dnn_obj *d = obj_of(descriptor, KIND_DESC);
	size_t size = xmig_dnn_elem_size(type), bytes;
	bool fills = type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
	struct xmig_dnn_get_res *r = NULL;
	struct xmig_dnn_attr_req *a;
	struct xmig_thread *t;
	cudnnStatus_t st;

	/* No elements: cuDNN answers the count alone (cuDNN's frontend asks so). */
	if (!elements)
		requested = 0;
	if ((st = attr_call_check(d, type, requested, elements,
				  "cudnnBackendGetAttribute of an attribute type unknown to xmig")))
		return st;
	if (is_vp(d))
		return vp_get(d, name, type, requested, count, elements);
	if ((uint64_t)requested > XMIG_DNN_GET_MAX / size)
		return not_forwarded("cudnnBackendGetAttribute larger than xmig carries", name);
	bytes = (size_t)requested * size;
	if (xmig_cl_enter(&t) ||
	    !(a = xmig_cl_begin(t, XMIG_OP_DNN_GET_ATTR, sizeof(*a) + (fills ? bytes : 0))))
		return CUDNN_STATUS_NOT_INITIALIZED;
	a->id = d->id;
	a->name = name;
	a->type = type;
	a->count = requested;
	/* Descriptors to be filled are the caller's, made beforehand. */
	if (fills && !refs_to_ids(type, requested, elements, (uint64_t *)a->elems))
		memset(a->elems, 0, bytes);
	st = status_of(xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r));
	if (st || !r)
		return st ? st : CUDNN_STATUS_INTERNAL_ERROR;
	if (count)
		*count = r->count;
	if (requested && !fills) {
		int64_t n = r->count < requested ? r->count : requested;

		if (type == CUDNN_TYPE_HANDLE)
			for (int64_t i = 0; i < n; i++) {
				uint64_t id;

				memcpy(&id, r->elems + i * sizeof(id), sizeof(id));
				((void **)elements)[i] = handle_by_id(id);
			}
		else
			memcpy(elements, r->elems, (size_t)n * size);
	}
	return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor)
{
	struct dnn_obj *d = obj_of(descriptor, KIND_DESC);
	cudnnStatus_t st;

	if (!d)
		return CUDNN_STATUS_BAD_PARAM;
	if (is_vp(d)) {
		if (d->finalized || d->nuids != d->nptrs)
			return CUDNN_STATUS_BAD_PARAM;
		d->finalized = true;
		return CUDNN_STATUS_SUCCESS;
	}
	st = destroy_remote(XMIG_OP_DNN_FINALIZE, d->id);   /* the same request: an id */
	if (!st && d->type == CUDNN_BACKEND_TENSOR_DESCRIPTOR && d->by_value)
		note_by_value(d);
	return st;
}

/*
 * Posted. Device and pinned addresses are the same in the proxy; a
 * pageable host address can only be a by-value scalar's, whose bytes
 * travel in the request.
 */
API cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle,
				      cudnnBackendDescriptor_t executionPlan,
				      cudnnBackendDescriptor_t variantPack)
{
	struct dnn_obj *h = obj_of(handle, KIND_HANDLE), *p = obj_of(executionPlan, KIND_DESC);
	struct dnn_obj *vp = obj_of(variantPack, KIND_DESC);
	struct xmig_dnn_execute_req *a;
	struct xmig_thread *t;

	if (!h || !p || !vp || !is_vp(vp) || p->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)
		return CUDNN_STATUS_BAD_PARAM;
	if (!vp->finalized)
		return CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED;
	for (int64_t i = 0; i < vp->nptrs; i++)
		if (vp->ptrs[i] && xmig_cl_classify(vp->ptrs[i]) == XMIG_MEM_HOST &&
		    !by_value_size(vp->uids[i])) {
			xmig_error("cudnnBackendExecute: tensor %lld's data pointer is pageable host "
				   "memory and not a by-value scalar; xmig forwards device and pinned "
				   "memory", (long long)vp->uids[i]);
			return CUDNN_STATUS_NOT_SUPPORTED;
		}
	if (xmig_cl_enter(&t) ||
	    !(a = xmig_cl_begin(t, XMIG_OP_DNN_EXECUTE,
				sizeof(*a) + vp->nptrs * sizeof(a->entries[0]))))
		return CUDNN_STATUS_NOT_INITIALIZED;
	a->handle = h->id;
	a->plan = p->id;
	a->workspace = (uint64_t)(uintptr_t)vp->workspace;
	a->has_workspace = vp->has_workspace;
	a->n = (uint32_t)vp->nptrs;
	a->nintermediates = (uint32_t)vp->ninter;
	for (int64_t i = 0; i < vp->ninter; i++)
		a->intermediates[i] = (uint64_t)(uintptr_t)vp->inter[i];
	for (int64_t i = 0; i < vp->nptrs; i++) {
		struct xmig_dnn_vp_entry *e = &a->entries[i];

		e->uid = vp->uids[i];
		e->ptr = (uint64_t)(uintptr_t)vp->ptrs[i];
		e->value_bytes = 0;
		if (vp->ptrs[i] && xmig_cl_classify(vp->ptrs[i]) == XMIG_MEM_HOST) {
			e->value_bytes = by_value_size(vp->uids[i]);
			memcpy(e->value, vp->ptrs[i], e->value_bytes);
		}
	}
	xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
	return CUDNN_STATUS_SUCCESS;
}
