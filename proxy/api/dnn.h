/*
 * dnn.h - cuDNN's backend (graph) API on the call channel: the payloads of
 * the DNN_* operations (ops.h) and the size of one element of each
 * attribute type, which both ends and the replay log need.
 *
 * Handles and descriptors travel as logical ids (uint64_t, the size of the
 * pointers they stand for), so an attribute's elements have the same size
 * on the wire as in cudnnBackendSetAttribute. Statuses are cudnnStatus_t
 * values in the reply's status.
 */
#ifndef XMIG_DNN_H
#define XMIG_DNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cudnn_graph.h>

/* Bytes of one element of an attribute type; 0 for a type xmig does not know. */
static inline size_t xmig_dnn_elem_size(int type)
{
	switch (type) {
	case CUDNN_TYPE_HANDLE:
	case CUDNN_TYPE_BACKEND_DESCRIPTOR:
	case CUDNN_TYPE_VOID_PTR:
		return sizeof(void *);
	case CUDNN_TYPE_BOOLEAN:
		return sizeof(bool);
	case CUDNN_TYPE_CHAR:
		return sizeof(char);
	case CUDNN_TYPE_INT64:
		return sizeof(int64_t);
	case CUDNN_TYPE_DOUBLE:
		return sizeof(double);
	case CUDNN_TYPE_FLOAT:
		return sizeof(float);
	case CUDNN_TYPE_INT32:
		return sizeof(int32_t);
	case CUDNN_TYPE_FRACTION:
		return sizeof(cudnnFraction_t);
	case CUDNN_TYPE_DATA_TYPE:
	case CUDNN_TYPE_CONVOLUTION_MODE:
	case CUDNN_TYPE_HEUR_MODE:
	case CUDNN_TYPE_KNOB_TYPE:
	case CUDNN_TYPE_NAN_PROPOGATION:
	case CUDNN_TYPE_NUMERICAL_NOTE:
	case CUDNN_TYPE_LAYOUT_TYPE:
	case CUDNN_TYPE_ATTRIB_NAME:
	case CUDNN_TYPE_POINTWISE_MODE:
	case CUDNN_TYPE_GENSTATS_MODE:
	case CUDNN_TYPE_BN_FINALIZE_STATS_MODE:
	case CUDNN_TYPE_REDUCTION_OPERATOR_TYPE:
	case CUDNN_TYPE_BEHAVIOR_NOTE:
	case CUDNN_TYPE_TENSOR_REORDERING_MODE:
	case CUDNN_TYPE_RESAMPLE_MODE:
	case CUDNN_TYPE_PADDING_MODE:
	case CUDNN_TYPE_SIGNAL_MODE:
	case CUDNN_TYPE_NORM_MODE:
	case CUDNN_TYPE_NORM_FWD_PHASE:
	case CUDNN_TYPE_RNG_DISTRIBUTION:
	case CUDNN_TYPE_MOE_GROUPED_MATMUL_MODE:
		return sizeof(int);   /* C enums */
	default:
		return 0;
	}
}

/* Elements that name other objects: ids on the wire and in the log. */
static inline bool xmig_dnn_type_is_ref(int type)
{
	return type == CUDNN_TYPE_HANDLE || type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
}

/* Largest attribute payload of one call (a serialised plan is a few KiB). */
#define XMIG_DNN_ATTR_MAX (192u << 10)
/* Largest GetAttribute answer: it must fit the reply area. */
#define XMIG_DNN_GET_MAX (60u << 10)
/* Tensors of one variant pack. */
#define XMIG_DNN_VP_MAX 256
/* Bytes of a by-value scalar carried with an Execute (cudnnFraction_t, complex double). */
#define XMIG_DNN_VALUE_MAX 16

struct xmig_dnn_info_res {
	int64_t version, cudart_version, max_device_version;
	int32_t real;                /* 1: NVIDIA's cuDNN answers; 0: the sim test double */
	int32_t _pad;
};

struct xmig_dnn_id_res { uint64_t id; };
struct xmig_dnn_id_req { uint64_t id; };

struct xmig_dnn_stream_req { uint64_t id, stream; };   /* stream: logical id */

struct xmig_dnn_desc_create_req { int32_t type, _pad; };

struct xmig_dnn_attr_req {
	uint64_t id;
	int32_t name, type;
	int64_t count;               /* SetAttribute: elements that follow */
	unsigned char elems[];       /* count * xmig_dnn_elem_size(type) */
};
/* GetAttribute: count is the requested count; elems carries the target
 * descriptors' ids when type is CUDNN_TYPE_BACKEND_DESCRIPTOR. */
struct xmig_dnn_get_res {
	int64_t count;               /* elements the descriptor holds */
	unsigned char elems[];
};

/* One tensor of a variant pack. A pageable host pointer (a by-value
 * scalar) travels as its bytes; every other address is the same there. */
struct xmig_dnn_vp_entry {
	int64_t uid;
	uint64_t ptr;
	uint32_t value_bytes;        /* > 0: ptr is replaced by a copy of value */
	uint32_t _pad;
	unsigned char value[XMIG_DNN_VALUE_MAX];
};
struct xmig_dnn_execute_req {
	uint64_t handle, plan;
	uint64_t workspace;
	uint32_t n, nintermediates;
	uint32_t has_workspace, _pad;
	uint64_t intermediates[4];
	struct xmig_dnn_vp_entry entries[];
};

struct xmig_dnn_error_res { char message[1024]; };

#endif
