/*
 * test-ring.c - the request ring between two threads: order, content,
 * wrap-around, tickets, replies, and the futex paths (no spinning).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proxy/channel/ring.c"
#include "unit.h"

#define N 200000

static struct xmig_shm_header *hdr;
static struct xmig_ring *ring;
static int bad_order, bad_payload, bad_ticket, served;

static uint32_t payload_len(unsigned i)
{
	return (i * 2654435761u) % 3000u;   /* 0..2999 bytes: many wraps */
}

static void *consumer(void *arg)
{
	uint64_t last_ticket = 0;
	unsigned i = 0;

	while (i < N) {
		struct xmig_req *req = xmig_ring_peek(ring);
		uint32_t n, k;

		if (!req) {
			xmig_ring_idle_wait(ring, 100000000ull);
			continue;
		}
		n = payload_len(i);
		if (req->op != 100 + i % 7 || req->len < sizeof(*req) + n)
			bad_order++;
		for (k = 0; k < n; k++)
			if (req->payload[k] != (unsigned char)(i + k))
				bad_payload++;
		if (i && req->ticket != last_ticket + 1)
			bad_ticket++;
		last_ticket = req->ticket;
		if (req->seq) {
			uint64_t seq = req->seq;

			xmig_ring_consume(ring, req);
			ring->status = (int32_t)i;
			xmig_ring_reply(ring, seq);
		} else {
			xmig_ring_consume(ring, req);
		}
		served++;
		i++;
	}
	return NULL;
}

/*
 * Two servers waiting on one ring, as the old and the new proxy's workers
 * do during a handover: the one whose wait ends first must not stop the
 * client from ringing for the other.
 */
struct sleeper {
	uint64_t timeout_ns, woke_ns;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *sl = arg;

	xmig_ring_idle_wait(ring, sl->timeout_ns);
	sl->woke_ns = xmig_now_ns();
	return NULL;
}

static void two_sleepers(void)
{
	struct sleeper brief = { 20000000ull, 0 }, patient = { 5000000000ull, 0 };
	pthread_t a, b;
	uint64_t pos = atomic_load(&ring->head), t0;
	struct xmig_req *req;

	pthread_create(&b, NULL, sleeper_main, &patient);
	while (atomic_load(&ring->server_sleeping) < 1)
		sched_yield();
	pthread_create(&a, NULL, sleeper_main, &brief);
	pthread_join(a, NULL);   /* its 20 ms are over; the other still waits */
	CHECK(atomic_load(&ring->server_sleeping) == 1,
	      "one server's wait ending leaves the other counted as asleep (%u)",
	      atomic_load(&ring->server_sleeping));
	t0 = xmig_now_ns();
	req = xmig_ring_begin(ring, &pos, 7, 0);
	xmig_ring_publish(hdr, ring, req, pos);
	pthread_join(b, NULL);
	CHECK(patient.woke_ns - t0 < 1000000000ull,
	      "the other server is rung awake by the next request (%.0f ms, not its 5 s)",
	      (double)(patient.woke_ns - t0) / 1e6);
	xmig_ring_consume(ring, xmig_ring_peek(ring));
}

/*
 * A move's pause: while the ring's spin_until_ns lies ahead, a client
 * waiting for its reply spins instead of sleeping, so the first reply after
 * the pause needs no wake-up. (XMIG_SPIN_US is 0 here: without the
 * deadline, every wait goes to sleep at once.)
 */
struct late_reply {
	uint64_t seq;
	bool expect_sleep;
	uint32_t client_slept;
};

/*
 * The pause: 20 ms; where the client should sleep, until it is seen asleep
 * (2 s at most: a loaded machine may not have run it yet).
 */
static void *reply_late(void *arg)
{
	struct late_reply *lr = arg;
	uint64_t t0 = xmig_now_ns(), t;

	while ((t = xmig_now_ns() - t0) < 20000000ull ||
	       (lr->expect_sleep && !lr->client_slept && t < 2000000000ull))
		if (atomic_load(&ring->client_waiting))
			lr->client_slept = 1;
	xmig_ring_reply(ring, lr->seq);
	return NULL;
}

static uint32_t wait_through_pause(uint64_t spin_until_ns, bool expect_sleep)
{
	struct late_reply lr = { atomic_load(&ring->done_seq) + 1, expect_sleep, 0 };
	pthread_t th;

	atomic_store(&ring->spin_until_ns, spin_until_ns);
	pthread_create(&th, NULL, reply_late, &lr);
	xmig_ring_wait_reply(ring, lr.seq, NULL);
	pthread_join(th, NULL);
	atomic_store(&ring->spin_until_ns, 0);
	return lr.client_slept;
}

static void spin_through_a_pause(void)
{
	CHECK(wait_through_pause(0, true) == 1,
	      "without a pause deadline, a waiting client sleeps (XMIG_SPIN_US=0)");
	CHECK(wait_through_pause(xmig_now_ns() + 5000000000ull, false) == 0,
	      "until the pause deadline, a waiting client spins and never sleeps");
	CHECK(wait_through_pause(xmig_now_ns() - 1, true) == 1,
	      "a deadline in the past changes nothing");
}

int main(void)
{
	size_t size = XMIG_SEGMENT_SIZE;
	void *seg = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_t th;
	uint64_t pos = 0, seq = 0;
	int wrong_status = 0, waits_failed = 0;
	unsigned i;

	setenv("XMIG_SPIN_US", "0", 1);   /* every wait takes the futex path */
	CHECK(seg != MAP_FAILED, "segment mapped");
	hdr = seg;
	ring = xmig_shm_ring(hdr, 3);
	CHECK((uintptr_t)ring->bulk % 4096 == 0, "bulk area is page aligned");
	CHECK(sizeof(struct xmig_ring) % 4096 == 0, "rings are whole pages");
	pthread_create(&th, NULL, consumer, NULL);
	for (i = 0; i < N; i++) {
		uint32_t n = payload_len(i);
		struct xmig_req *req;

		while (!(req = xmig_ring_begin(ring, &pos, 100 + i % 7, n)))
			xmig_ring_wait_space(ring, pos, n, NULL);
		for (uint32_t k = 0; k < n; k++)
			req->payload[k] = (unsigned char)(i + k);
		if (i % 1000 == 999) {
			req->seq = ++seq;
			xmig_ring_publish(hdr, ring, req, pos);
			pos += req->len;
			if (!xmig_ring_wait_reply(ring, seq, NULL))
				waits_failed++;
			if (ring->status != (int32_t)i)
				wrong_status++;
		} else {
			uint32_t len = req->len;

			xmig_ring_publish(hdr, ring, req, pos);
			pos += len;
		}
	}
	pthread_join(th, NULL);
	CHECK(served == N, "all %d requests served (%d)", N, served);
	CHECK(bad_order == 0, "ops in order, lengths right (%d bad)", bad_order);
	CHECK(bad_payload == 0, "payloads intact across wraps (%d bad bytes)", bad_payload);
	CHECK(bad_ticket == 0, "tickets consecutive (%d bad)", bad_ticket);
	CHECK(waits_failed == 0 && wrong_status == 0, "every sync reply matched its request");
	CHECK(atomic_load(&hdr->ticket) == N, "ticket counter advanced N times");
	CHECK(atomic_load(&ring->tail) == atomic_load(&ring->head), "ring drained");

	/*
	 * The smallest pad: 16 bytes left before the end of the ring. It must
	 * not write past the ring's data, where the bulk area begins.
	 */
	uint64_t off = pos % XMIG_RING_BYTES, fill = XMIG_RING_BYTES - 16 - off;
	struct xmig_req *req;

	if (fill < sizeof(struct xmig_req))
		fill += XMIG_RING_BYTES;
	while (fill) {   /* entries up to 16 bytes before the end */
		uint32_t len = fill > 4096 ? 4096 : (uint32_t)fill;

		if (fill - len && fill - len < sizeof(struct xmig_req))
			len -= 64;
		req = xmig_ring_begin(ring, &pos, 100, len - (uint32_t)sizeof(struct xmig_req));
		xmig_ring_publish(hdr, ring, req, pos);
		pos += req->len;
		xmig_ring_consume(ring, xmig_ring_peek(ring));
		fill -= len;
	}
	memset(ring->bulk, 0xab, 16);
	req = xmig_ring_begin(ring, &pos, 42, 64);
	CHECK(req && pos % XMIG_RING_BYTES == 0, "an entry that does not fit in 16 bytes wraps");
	CHECK(ring->bulk[0] == 0xab && !memcmp(ring->bulk, ring->bulk + 8, 8),
	      "a 16-byte pad leaves the bulk area after the ring alone");
	xmig_ring_publish(hdr, ring, req, pos);
	CHECK(xmig_ring_peek(ring) == req, "the reader skips the pad to the entry");
	xmig_ring_consume(ring, req);
	{
		/*
		 * Entries a broken client wrote: a pad of 0 bytes (skipping it
		 * would loop for ever), 8 bytes, not a multiple of 16, longer
		 * than published: handed to the reader, who refuses them.
		 */
		static const uint32_t lens[] = { 0, 8, 40, 4096 };

		pos = atomic_load(&ring->head);   /* (the entry above was published, not counted) */
		for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			uint32_t len;

			req = xmig_ring_begin(ring, &pos, 42, 64);
			len = req->len;
			xmig_ring_publish(hdr, ring, req, pos);
			pos += len;
			req->op = k ? 42 : XMIG_OP_PAD;
			req->len = lens[k];
			CHECK(xmig_ring_peek(ring) == req && !xmig_ring_framed(ring, req),
			      "an entry of %u bytes (%s) is the reader's to refuse", lens[k],
			      k ? "a call" : "a pad, not at the ring's end");
			/* (put right, for the next) */
			req->op = 42;
			req->len = len;
			CHECK(xmig_ring_framed(ring, req), "... once framed, it is read");
			xmig_ring_consume(ring, req);
		}
	}
	two_sleepers();
	spin_through_a_pause();
	return unit_done();
}
