/*
 * blas-handle.c - what the cuBLAS and cuBLASLt facades share: a library
 * handle made or destroyed in the proxy under a logical id (the proxy
 * makes it again after a move), and the library's version properties.
 */
#include <cublas_api.h>

#include "blas-handle.h"
#include "client.h"

cublasStatus_t xmig_blas_handle_create(uint32_t op, uint64_t *id)
{
	struct xmig_blas_create_res *r = NULL;
	struct xmig_thread *t;
	cudaError_t e;

	if (xmig_cl_enter(&t) || !xmig_cl_begin(t, op, 0))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	if (e || !r)
		return e ? (cublasStatus_t)e : CUBLAS_STATUS_INTERNAL_ERROR;
	*id = r->id;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t xmig_blas_handle_destroy(uint32_t op, uint64_t id)
{
	struct xmig_blas_id_req *a;
	struct xmig_thread *t;

	if (xmig_cl_enter(&t) || !(a = xmig_cl_begin(t, op, sizeof(*a))))
		return CUBLAS_STATUS_NOT_INITIALIZED;
	a->id = id;
	return (cublasStatus_t)xmig_cl_end(t, XMIG_CALL_SYNC, NULL);
}

cublasStatus_t xmig_blas_property(libraryPropertyType type, int *value)
{
	if (!value)
		return CUBLAS_STATUS_INVALID_VALUE;
	switch (type) {
	case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; break;
	case MINOR_VERSION: *value = CUBLAS_VER_MINOR; break;
	case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; break;
	default: return CUBLAS_STATUS_INVALID_VALUE;
	}
	return CUBLAS_STATUS_SUCCESS;
}
