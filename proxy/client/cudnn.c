/*
 * cudnn.c - the facade libcudnn.so.9: cuDNN is not forwarded (neither its
 * legacy API nor its backend graph API); versions and error strings here,
 * every other symbol fails with CUDNN_STATUS_NOT_SUPPORTED and one line
 * naming it. PyTorch falls back to its own kernels where cuDNN is
 * unavailable only if torch.backends.cudnn.enabled is False.
 */
#include <stdio.h>
#include <string.h>

#include <cudnn_graph.h>

#define API __attribute__((visibility("default")))

API size_t cudnnGetVersion(void)
{
	return CUDNN_VERSION;
}

API size_t cudnnGetMaxDeviceVersion(void)
{
	return 0;
}

API size_t cudnnGetCudartVersion(void)
{
	return CUDART_VERSION;
}

API const char *cudnnGetErrorString(cudnnStatus_t status)
{
	return status == CUDNN_STATUS_SUCCESS ? "CUDNN_STATUS_SUCCESS"
	       : status == CUDNN_STATUS_NOT_SUPPORTED ? "CUDNN_STATUS_NOT_SUPPORTED (xmig does not forward cuDNN)"
						      : "CUDNN_STATUS_ERROR";
}

API void cudnnGetLastErrorString(char *message, size_t max_size)
{
	if (message && max_size)
		snprintf(message, max_size, "cuDNN is not available under xmig");
}
