/*
 * cudart-legacy.c - deprecated runtime calls that some programs still make,
 * answered as the GPUs xmig serves answer them: shared memory banks have
 * been a fixed four bytes wide since Maxwell, so setting them does nothing
 * and reading them gives four bytes (the runtime's documented behaviour
 * on such devices).
 */
#include <cuda_runtime_api.h>

#include "cudart-facade.h"
#include "fatbin.h"

static bool bank_config_valid(enum cudaSharedMemConfig c)
{
	return c == cudaSharedMemBankSizeDefault || c == cudaSharedMemBankSizeFourByte ||
	       c == cudaSharedMemBankSizeEightByte;
}

API cudaError_t cudaDeviceSetSharedMemConfig(enum cudaSharedMemConfig config)
{
	ENTER(t);
	RETURN(t, bank_config_valid(config) ? cudaSuccess : cudaErrorInvalidValue);
}

API cudaError_t cudaDeviceGetSharedMemConfig(enum cudaSharedMemConfig *pConfig)
{
	ENTER(t);
	if (!pConfig)
		RETURN(t, cudaErrorInvalidValue);
	*pConfig = cudaSharedMemBankSizeFourByte;
	return cudaSuccess;
}

API cudaError_t cudaFuncSetSharedMemConfig(const void *func, enum cudaSharedMemConfig config)
{
	ENTER(t);
	if (!xmig_fatbin_function(func))
		RETURN(t, cudaErrorInvalidDeviceFunction);
	RETURN(t, bank_config_valid(config) ? cudaSuccess : cudaErrorInvalidValue);
}
