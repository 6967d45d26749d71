/*
 * cublas.c - the facade libcublas.so.13: every symbol of the real library.
 * cuBLAS has its CUDA runtime linked in statically, so the real library
 * must never run in the application (it would reach the driver itself);
 * these are the functions answered here. Everything else fails with
 * CUBLAS_STATUS_NOT_SUPPORTED and one line naming it: forwarding cuBLAS to
 * the proxy is not done yet (see the PyTorch issue).
 */
#include <stddef.h>

#include <cublas_api.h>

#define API __attribute__((visibility("default")))

API size_t cublasGetCudartVersion(void)
{
	return CUDART_VERSION;
}

API cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)
{
	if (!version)
		return CUBLAS_STATUS_INVALID_VALUE;
	*version = CUBLAS_VERSION;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetVersion(int *version)
{
	return cublasGetVersion_v2(NULL, version);
}

const char *xmig_cublas_status_name(int status);

API const char *cublasGetStatusName(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}

API const char *cublasGetStatusString(cublasStatus_t status)
{
	return xmig_cublas_status_name(status);
}
