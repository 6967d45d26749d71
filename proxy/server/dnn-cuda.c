/*
 * dnn-cuda.c - cuDNN in the proxy: NVIDIA's library, dlopened on first
 * use, running in the proxy's context on the proxy's streams. Only the
 * backend (graph) API and the handle calls it needs are used.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn_graph.h>

#include "dnn-backends.h"
#include "real-lib.h"

#define CUDNN_FNS(X) \
	X(cudnnGetVersion) X(cudnnGetCudartVersion) X(cudnnGetMaxDeviceVersion) \
	X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream) X(cudnnGetLastErrorString) \
	X(cudnnBackendCreateDescriptor) X(cudnnBackendDestroyDescriptor) \
	X(cudnnBackendSetAttribute) X(cudnnBackendGetAttribute) X(cudnnBackendFinalize) \
	X(cudnnBackendExecute)

static struct {
#define X(n) __typeof__(n) *n;
	CUDNN_FNS(X)
#undef X
} dn;
static int loaded = -1;   /* -1 not tried, 0 failed, 1 loaded */

static int load(void)
{
	void *h;

	if (loaded >= 0)
		return loaded;
	loaded = 0;
	if (!(h = xmig_open_real_library("XMIG_CUDNN", "libcudnn.so.9", "cuDNN")))
		return 0;
#define X(n)                                                                   \
	if (!(dn.n = (__typeof__(n) *)dlsym(h, #n))) {                         \
		xmig_error("the cuDNN found lacks %s (need cuDNN 9)", #n);    \
		return 0;                                                      \
	}
	CUDNN_FNS(X)
#undef X
	return loaded = 1;
}

int xmig_dnn_cuda_info(void *dev, struct xmig_dnn_info_res *r)
{
	if (!load())
		return CUDNN_STATUS_NOT_INITIALIZED;
	r->version = (int64_t)dn.cudnnGetVersion();
	r->cudart_version = (int64_t)dn.cudnnGetCudartVersion();
	r->max_device_version = (int64_t)dn.cudnnGetMaxDeviceVersion();
	r->real = 1;
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_cuda_create(void *dev, void **h)
{
	if (!load())
		return CUDNN_STATUS_NOT_INITIALIZED;
	return dn.cudnnCreate((cudnnHandle_t *)h);
}

int xmig_dnn_cuda_destroy(void *dev, void *h)
{
	return dn.cudnnDestroy(h);
}

int xmig_dnn_cuda_set_stream(void *dev, void *h, void *stream)
{
	return dn.cudnnSetStream(h, stream);
}

int xmig_dnn_cuda_desc_create(void *dev, int type, void **d)
{
	if (!load())
		return CUDNN_STATUS_NOT_INITIALIZED;
	return dn.cudnnBackendCreateDescriptor((cudnnBackendDescriptorType_t)type, d);
}

int xmig_dnn_cuda_desc_destroy(void *dev, void *d)
{
	return dn.cudnnBackendDestroyDescriptor(d);
}

int xmig_dnn_cuda_set_attr(void *dev, void *d, int name, int type, int64_t count,
			   const void *elems)
{
	return dn.cudnnBackendSetAttribute(d, (cudnnBackendAttributeName_t)name,
					   (cudnnBackendAttributeType_t)type, count, elems);
}

int xmig_dnn_cuda_get_attr(void *dev, void *d, int name, int type, int64_t requested,
			   int64_t *count, void *elems)
{
	return dn.cudnnBackendGetAttribute(d, (cudnnBackendAttributeName_t)name,
					   (cudnnBackendAttributeType_t)type, requested, count,
					   elems);
}

int xmig_dnn_cuda_finalize(void *dev, void *d)
{
	return dn.cudnnBackendFinalize(d);
}

int xmig_dnn_cuda_execute(void *dev, void *h, void *plan, void *variant_pack)
{
	return dn.cudnnBackendExecute(h, plan, variant_pack);
}

void xmig_dnn_cuda_last_error(void *dev, char *message, size_t size)
{
	if (load())
		dn.cudnnGetLastErrorString(message, size);
	else
		snprintf(message, size, "cuDNN could not be loaded in the xmig proxy");
}
