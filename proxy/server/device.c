/* device.c - the device backends by name. */
#include <string.h>

#include "device.h"

const struct xmig_device_ops *xmig_device_by_name(const char *name)
{
	if (!name || !strcmp(name, "cuda"))
		return &xmig_device_cuda;
	if (!strcmp(name, "sim"))
		return &xmig_device_sim;
	if (!strcmp(name, "remote"))
		return &xmig_device_remote;
	return NULL;
}
