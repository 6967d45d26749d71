/*
 * cublaslt.c - the facade libcublasLt.so.13 (see cublas.c): versions and
 * status names here, every other symbol fails loudly with
 * CUBLAS_STATUS_NOT_SUPPORTED.
 */
#include <stddef.h>

#include <cublasLt.h>

#define API __attribute__((visibility("default")))

const char *xmig_cublas_status_name(int status);

API size_t cublasLtGetVersion(void)
{
	return CUBLAS_VERSION;
}

API size_t cublasLtGetCudartVersion(void)
{
	return CUDART_VERSION;
}

API const char *cublasLtGetStatusName(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

API const char *cublasLtGetStatusString(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}
