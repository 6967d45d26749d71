/*
 * nccl.c - the facade libnccl.so.2: NCCL is not forwarded yet (see the
 * Flexible CCL issue); the version and error strings here, every other
 * symbol fails with ncclInvalidUsage and one line naming it.
 */
#include <nccl.h>

#define API __attribute__((visibility("default")))

API ncclResult_t ncclGetVersion(int *version)
{
	if (!version)
		return ncclInvalidArgument;
	*version = NCCL_VERSION_CODE;
	return ncclSuccess;
}

API ncclResult_t pncclGetVersion(int *version)
{
	return ncclGetVersion(version);
}

API const char *ncclGetErrorString(ncclResult_t result)
{
	return result == ncclSuccess ? "no error"
	       : result == ncclInvalidUsage ? "invalid usage (NCCL is not forwarded by xmig yet)"
					    : "NCCL error";
}

API const char *pncclGetErrorString(ncclResult_t result)
{
	return ncclGetErrorString(result);
}

API const char *ncclGetLastError(ncclComm_t comm)
{
	return "NCCL is not forwarded by xmig yet";
}

API const char *pncclGetLastError(ncclComm_t comm)
{
	return ncclGetLastError(comm);
}
