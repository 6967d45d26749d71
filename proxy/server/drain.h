/*
 * drain.h - waiting for the device to finish what it was given, within a
 * deadline (drain.c).
 */
#ifndef XMIG_DRAIN_H
#define XMIG_DRAIN_H

#include <stdint.h>

#include "device.h"

/*
 * Wait until the device ran everything queued (ops->ctx_sync), at most
 * timeout_ns (0: as long as it takes, on this thread). 0 and *status the
 * device's answer, or -ETIMEDOUT: the device is still busy (the wait goes
 * on on a thread of its own, which ends when the device does).
 */
int srv_drain_within(const struct xmig_device_ops *ops, void *devh, uint64_t timeout_ns,
		     int *status);

#endif
