/*
 * blas-handle.h - what the cuBLAS and cuBLASLt facades share (blas-handle.c).
 *
 * Both facades' handles start with the same head, because cuBLAS lets a
 * cublasHandle_t be used as a cublasLtHandle_t by a cast, and PyTorch does
 * exactly that: the Lt facade must tell the two apart.
 */
#ifndef XMIG_BLAS_HANDLE_H
#define XMIG_BLAS_HANDLE_H

#include <stdint.h>

#include <cublas_api.h>

enum xmig_blas_kind {
	XMIG_HANDLE_CUBLAS = 0x53414c42,     /* "BLAS" */
	XMIG_HANDLE_CUBLASLT = 0x544c4c42,   /* "BLLT" */
};

struct xmig_blas_handle_head {
	uint32_t kind;                       /* enum xmig_blas_kind */
	uint32_t _pad;
	uint64_t id;                         /* the proxy's logical id */
};

const char *xmig_cublas_status_name(int status);
/* Make a handle with op (XMIG_OP_BLAS_CREATE, XMIG_OP_LT_CREATE): its id. */
cublasStatus_t xmig_blas_handle_create(uint32_t op, uint64_t *id);
cublasStatus_t xmig_blas_handle_destroy(uint32_t op, uint64_t id);
/* cublasGetProperty and cublasLtGetProperty: one cuBLAS, one version. */
cublasStatus_t xmig_blas_property(libraryPropertyType type, int *value);

#endif
