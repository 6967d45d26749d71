/*
 * dnn-backends.h - the backends' cuDNN: NVIDIA's library on a real GPU
 * (dnn-cuda.c), a recording test double on the sim device (dnn-sim.c).
 * Both return cudnnStatus_t values; see device.h.
 */
#ifndef XMIG_DNN_BACKENDS_H
#define XMIG_DNN_BACKENDS_H

#include "../../lib/xmig.h"
#include "../api/ops.h"

#define XMIG_DNN_BACKEND(prefix)                                                          \
	int prefix##_info(void *dev, struct xmig_dnn_info_res *r);                        \
	int prefix##_create(void *dev, void **h);                                         \
	int prefix##_destroy(void *dev, void *h);                                         \
	int prefix##_set_stream(void *dev, void *h, void *stream);                        \
	int prefix##_desc_create(void *dev, int type, void **d);                          \
	int prefix##_desc_destroy(void *dev, void *d);                                    \
	int prefix##_set_attr(void *dev, void *d, int name, int type, int64_t count,      \
			      const void *elems);                                         \
	int prefix##_get_attr(void *dev, void *d, int name, int type, int64_t requested, \
			      int64_t *count, void *elems);                               \
	int prefix##_finalize(void *dev, void *d);                                        \
	int prefix##_execute(void *dev, void *h, void *plan, void *variant_pack);         \
	void prefix##_last_error(void *dev, char *message, size_t size);

XMIG_DNN_BACKEND(xmig_dnn_cuda)
XMIG_DNN_BACKEND(xmig_dnn_sim)

/* The members of struct xmig_device_ops for one of them. */
#define XMIG_DNN_OPS(prefix)                                                         \
	.dnn_info = prefix##_info, .dnn_create = prefix##_create,                    \
	.dnn_destroy = prefix##_destroy, .dnn_set_stream = prefix##_set_stream,      \
	.dnn_desc_create = prefix##_desc_create,                                     \
	.dnn_desc_destroy = prefix##_desc_destroy, .dnn_set_attr = prefix##_set_attr, \
	.dnn_get_attr = prefix##_get_attr, .dnn_finalize = prefix##_finalize,        \
	.dnn_execute = prefix##_execute, .dnn_last_error = prefix##_last_error

#endif
