/*
 * drain.c - waiting for the device to finish what it was given, within a
 * deadline.
 *
 * A freeze waits for the device (ctx_sync), and that wait takes in every
 * host function queued (cudaLaunchHostFunc), which runs in the
 * application, whose calls wait for the freeze: a host function waiting
 * for one of them would hold the freeze, and the job, for good. So where
 * a job queued host functions, the wait is made on a thread of its own and
 * bounded: past the deadline the freeze gives up and the job goes on; the
 * thread ends when the device does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../../lib/xmig.h"
#include "../channel/channel.h"
#include "drain.h"

struct drain {
	const struct xmig_device_ops *ops;
	void *devh;
	int status;                /* ctx_sync's, once done */
	_Atomic uint32_t done;     /* a futex: 1 once ctx_sync returned */
	_Atomic int refs;          /* the waiter's and the thread's */
};

static void put(struct drain *d)
{
	if (atomic_fetch_sub(&d->refs, 1) == 1)
		free(d);
}

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	int r = d->ops->bind_thread(d->devh);

	d->status = r ? r : d->ops->ctx_sync(d->devh);
	atomic_store(&d->done, 1);
	xmig_futex_wake(&d->done);
	put(d);
	return NULL;
}

int srv_drain_within(const struct xmig_device_ops *ops, void *devh, uint64_t timeout_ns,
		     int *status)
{
	uint64_t deadline = xmig_now_ns() + timeout_ns;
	struct drain *d = timeout_ns ? calloc(1, sizeof(*d)) : NULL;
	sigset_t all, old;
	pthread_t th;
	int r = 0, made;

	/* (no deadline, or no memory for one: the wait as it always was) */
	if (!d) {
		*status = ops->ctx_sync(devh);
		return 0;
	}
	d->ops = ops;
	d->devh = devh;
	atomic_store(&d->refs, 2);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	made = pthread_create(&th, NULL, drain_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (made) {
		free(d);
		*status = ops->ctx_sync(devh);
		return 0;
	}
	pthread_detach(th);
	while (!atomic_load(&d->done)) {
		uint64_t now = xmig_now_ns();

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		xmig_futex_wait(&d->done, 0, deadline - now);
	}
	if (!r)
		*status = d->status;
	put(d);
	return r;
}
