/*
 * shm.h - the call channel's shared memory, as both sides see it.
 *
 * One segment (a memfd) per client process, mapped at the SAME address in
 * the application and in its proxy server, so pointers into it need no
 * translation. It holds a header and one request ring per application thread
 * that calls CUDA. Next to it, in the same "host window", live the pinned
 * host allocations (memfds, also at the same address on both sides).
 *
 *   host window (1 TiB, reserved PROT_NONE in both processes)
 *   +0        segment: header, rings[XMIG_MAX_RINGS]
 *   +2 GiB    handle space: stream/event handles the app holds point here
 *   +4 GiB    pinned host memory (cudaMallocHost, cudaHostAlloc)
 *
 *   device window (1 TiB): every device allocation, at addresses that the
 *   next proxy (after a move) reserves again.
 *
 * Ordering across threads: each request carries a ticket drawn from one
 * process-wide counter when it is published; the server executes the
 * enqueue part of requests strictly in ticket order, whatever ring they are
 * in. That is the order in which the application's calls returned, so work
 * a thread posted is on the GPU stream before any work another thread posts
 * after synchronising with it on the host (PyTorch's autograd thread relies
 * on this).
 */
#ifndef XMIG_SHM_H
#define XMIG_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define XMIG_SHM_MAGIC   0x58474d58u  /* "XMGX" */
#define XMIG_SHM_VERSION 3u

#define XMIG_HOST_WINDOW_SIZE   (1ull << 40)
#define XMIG_DEVICE_WINDOW_SIZE (1ull << 40)
/* Defaults; XMIG_WINDOW=<hex base> moves both (device window first). */
#define XMIG_DEVICE_WINDOW_BASE 0x200000000000ull
#define XMIG_HOST_WINDOW_BASE   (XMIG_DEVICE_WINDOW_BASE + XMIG_DEVICE_WINDOW_SIZE)

#define XMIG_SEGMENT_OFFSET  0ull
#define XMIG_HANDLES_OFFSET  (2ull << 30)
#define XMIG_HANDLES_SIZE    (2ull << 30)
#define XMIG_PINNED_OFFSET   (4ull << 30)

#define XMIG_MAX_RINGS   128
#define XMIG_RING_BYTES  (1u << 20)     /* requests of one thread */
#define XMIG_RESP_BYTES  (64u << 10)    /* reply of the current sync call */
#define XMIG_BULK_BYTES  (8u << 20)     /* staging for pageable copies */
#define XMIG_BULK_HALF   (XMIG_BULK_BYTES / 2)
/* Largest request payload: keeps a request well inside the ring. */
#define XMIG_REQ_MAX     (XMIG_RING_BYTES / 4)

/* Segment states (hdr->state). */
enum xmig_seg_state {
	XMIG_SEG_STARTING = 0,   /* no server yet */
	XMIG_SEG_RUNNING = 1,
	XMIG_SEG_FROZEN = 2,     /* requests wait in the rings */
	XMIG_SEG_SUSPENDED = 3,  /* no server at all; the app waits */
	XMIG_SEG_DEAD = 4,       /* server lost: calls fail */
};

/* Ring slot states (ring->state). */
enum xmig_ring_state {
	XMIG_RING_FREE = 0,
	XMIG_RING_ACTIVE = 1,    /* a client thread owns it */
	XMIG_RING_BROKEN = 2,    /* its client broke its framing: served no more */
};

/* Host functions that may wait for the client at once (cudaLaunchHostFunc). */
#define XMIG_HOST_CALL_SLOTS 64

/* A host-call slot's states (xmig_host_call.state). */
enum xmig_host_call_state {
	XMIG_HOST_CALL_FREE = 0,
	XMIG_HOST_CALL_FILLING = 1,   /* a proxy thread took it and writes the call */
	XMIG_HOST_CALL_READY = 2,     /* for the client's host-function thread */
	XMIG_HOST_CALL_RUNNING = 3,   /* the function runs in the application */
	XMIG_HOST_CALL_DONE = 4,      /* it returned; the proxy frees the slot */
};

#define XMIG_CACHELINE 64
#define XMIG_ALIGNED __attribute__((aligned(XMIG_CACHELINE)))

struct xmig_req {
	uint32_t op;          /* enum xmig_op, or XMIG_OP_PAD */
	uint32_t len;         /* whole entry, header included, multiple of 16 */
	uint64_t ticket;      /* global execution order */
	uint64_t seq;         /* != 0: the client waits for this reply */
	uint64_t _pad;
	unsigned char payload[];
};

struct xmig_ring {
	/* written by the client thread */
	XMIG_ALIGNED _Atomic uint64_t head;        /* bytes published */
	_Atomic uint32_t doorbell;                 /* futex: server wake-ups */
	_Atomic uint32_t state;                    /* enum xmig_ring_state */
	int32_t tid;                               /* client thread id, for ps */
	uint32_t generation;                       /* bumped on each reuse */

	/* written by the server worker */
	XMIG_ALIGNED _Atomic uint64_t tail;        /* bytes consumed */
	_Atomic uint32_t server_sleeping;          /* workers waiting for the doorbell */
	_Atomic uint32_t space_waiters;            /* client waits for tail */
	_Atomic uint32_t tail_futex;               /* bumped when space frees up */

	/* the reply to the last synchronous request */
	XMIG_ALIGNED _Atomic uint64_t done_seq;
	_Atomic uint32_t resp_futex;               /* bumped with each reply */
	_Atomic uint32_t client_waiting;
	int32_t status;                            /* cudaError_t / CUresult */
	uint32_t resp_len;
	/* first error of a posted (asynchronous) call, taken by the client */
	_Atomic int32_t async_error;
	/* bulk halves released by the server (pageable H2D staging) */
	_Atomic uint64_t bulk_released[2];
	/*
	 * CLOCK_MONOTONIC ns: until then a client waiting for its reply spins
	 * instead of sleeping. A move's new proxy sets it as the job's short
	 * pause begins, so the first reply after the pause does not also wait
	 * for the client's wake-up (20-50 us). 0 (older proxies): never.
	 */
	_Atomic uint64_t spin_until_ns;

	/* page-aligned: the server registers bulk with the driver */
	__attribute__((aligned(4096))) unsigned char resp[XMIG_RESP_BYTES];
	__attribute__((aligned(4096))) unsigned char data[XMIG_RING_BYTES];
	__attribute__((aligned(4096))) unsigned char bulk[XMIG_BULK_BYTES];
};

/*
 * One host function the GPU reached: the proxy's thread that the driver
 * called blocks the stream until the application ran it (state DONE).
 */
struct xmig_host_call {
	_Atomic uint32_t state;       /* enum xmig_host_call_state; a futex the proxy waits on */
	uint32_t from_graph;          /* a graph's node: its id stays valid after the call */
	uint64_t id;                  /* the client's (proxy/client/host-func.c) */
};

struct xmig_shm_header {
	uint32_t magic, version;
	uint64_t size;                    /* of the whole segment */
	uint64_t host_window, device_window;
	int32_t client_pid;
	uint32_t client_uid;
	char job[80];
	int32_t rank;
	int32_t _pad0;

	/* who serves: set by the server that takes over, read by the client */
	XMIG_ALIGNED _Atomic uint32_t state;       /* enum xmig_seg_state */
	_Atomic uint32_t state_futex;              /* bumped on state changes */
	_Atomic int32_t owner_pid;
	_Atomic uint64_t owner_id;                 /* attach id of the owner */

	/* execution order */
	XMIG_ALIGNED _Atomic uint64_t ticket;      /* next ticket (client side) */
	XMIG_ALIGNED _Atomic uint64_t executed;    /* next ticket to run (server) */

	/* ring allocation: the server's ring manager waits on this */
	XMIG_ALIGNED _Atomic uint32_t rings_futex;
	_Atomic uint32_t rings_active;
	/* the application maps pinned memory into kernels (cudaHostAllocMapped,
	 * cudaHostGetDevicePointer): its GPU context cannot leave this node */
	_Atomic uint32_t host_mapped;
	/* it took a __device__ variable's address (cudaGetSymbolAddress) */
	_Atomic uint32_t symbol_address_taken;
	/*
	 * Bumped (release) after each change to the client's list of pinned
	 * regions: a move's new proxy that listed them ahead of the freeze
	 * (one keeper round trip a region) sees at the freeze, in one load,
	 * whether it must list them again.
	 */
	_Atomic uint64_t host_regions_gen;

	/*
	 * Host functions (cudaLaunchHostFunc, cudaStreamAddCallback): a proxy
	 * fills a slot and bumps host_calls_futex; the client's host-function
	 * thread runs the function and marks the slot DONE. Here, not in a
	 * ring, because it is the application's for the job's whole life: a
	 * move's new proxy takes it over as it is (a drained GPU has none busy).
	 */
	XMIG_ALIGNED _Atomic uint32_t host_calls_futex;
	_Atomic uint32_t host_calls_sleeping;      /* the client thread waits on the futex */
	struct xmig_host_call host_calls[XMIG_HOST_CALL_SLOTS];
};

#define XMIG_SEGMENT_SIZE \
	(((sizeof(struct xmig_shm_header) + 4095) & ~4095ull) + \
	 (uint64_t)XMIG_MAX_RINGS * sizeof(struct xmig_ring))

static inline struct xmig_ring *xmig_shm_ring(struct xmig_shm_header *h, unsigned i)
{
	unsigned char *base = (unsigned char *)h + ((sizeof(*h) + 4095) & ~4095ull);

	return (struct xmig_ring *)(base + (uint64_t)i * sizeof(struct xmig_ring));
}

#endif
