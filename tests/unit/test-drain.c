/*
 * test-drain.c - srv_drain_within: the device's answer when it drains in
 * time, on a thread bound to it; -ETIMEDOUT when it does not, the wait
 * going on until the device is done; no deadline: on the caller's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "proxy/channel/ring.c"
#include "proxy/server/drain.c"
#include "unit.h"

static _Atomic int release;      /* the fake device is done once set */
static _Atomic int syncs_ended;
static _Atomic pthread_t bound;  /* the thread bind_thread was called on */
static pthread_t main_thread;

static int fake_bind(void *dev)
{
	atomic_store(&bound, pthread_self());
	return 0;
}

static int fake_sync(void *dev)
{
	while (!atomic_load(&release))
		usleep(1000);
	atomic_fetch_add(&syncs_ended, 1);
	return 42;
}

static const struct xmig_device_ops fake = {
	.name = "fake",
	.bind_thread = fake_bind,
	.ctx_sync = fake_sync,
};

int main(void)
{
	uint64_t t0;
	int st = -1, r;

	main_thread = pthread_self();
	atomic_store(&bound, main_thread);

	atomic_store(&release, 1);
	r = srv_drain_within(&fake, NULL, 0, &st);
	CHECK(r == 0 && st == 42 && pthread_equal(atomic_load(&bound), main_thread),
	      "no deadline: the device's answer, waited for here (%d, %d)", r, st);

	st = -1;
	r = srv_drain_within(&fake, NULL, 5000000000ull, &st);
	CHECK(r == 0 && st == 42, "drained in time: the device's answer (%d, %d)", r, st);
	CHECK(!pthread_equal(atomic_load(&bound), main_thread),
	      "... waited for on a thread bound to the device");

	atomic_store(&release, 0);
	atomic_store(&syncs_ended, 0);
	st = -1;
	t0 = xmig_now_ns();
	r = srv_drain_within(&fake, NULL, 100000000ull, &st);
	CHECK(r == -ETIMEDOUT && st == -1, "still busy past the deadline: -ETIMEDOUT (%d)", r);
	CHECK(xmig_now_ns() - t0 >= 100000000ull && xmig_now_ns() - t0 < 5000000000ull,
	      "... at the deadline, not before");
	CHECK(atomic_load(&syncs_ended) == 0, "... the device's wait still going on");
	atomic_store(&release, 1);
	for (int i = 0; i < 5000 && atomic_load(&syncs_ended) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&syncs_ended) == 1, "... and it ends when the device is done");
	usleep(10000);   /* (its thread frees what it shared: valgrind's to judge) */
	return unit_done();
}
