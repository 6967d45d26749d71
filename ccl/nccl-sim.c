/*
 * nccl-sim.c - the sim device's NCCL: a TEST DOUBLE, never real NCCL.
 *
 * Device memory of the sim device is host memory at the device address,
 * so a collective is a computation in C. One rank: done at once. Several
 * ranks (each its own sim proxy): they meet in a POSIX shared-memory
 * segment named after the unique id; every collective copies each rank's
 * contribution there, waits for all, and each rank computes its own
 * result from all of them (in rank order, so sums are the same on every
 * rank). Calls wait for their peers, so the proxy runs them outside the
 * turn, as the GPU would run them after the call returned. A collective
 * given to a capturing stream is recorded in the capture (as the sim
 * device's library doubles are: sim-kernels.h) and runs, waiting for its
 * peers, at each launch of the graph. Sends and receives run at the end
 * of their group: to itself, paired in order; to a peer, through a
 * mailbox per ordered pair in the segment (one message of up to 1 MiB in
 * flight: a second send to the same peer waits until the first is taken),
 * every send of the group before its receives. A split of several ranks
 * meets them in the parent's segment; each colour's ranks then build a
 * communicator from an id derived from the parent's. A communicator's first
 * collective (or the first captured) meets every rank before it runs or
 * is recorded, as NCCL's runtime connect sets up connections in the call:
 * the proxy does that part in its turn (ccl_backend.connect), so a cut can
 * find a rank held there until its peers post theirs. fp8 types are not
 * simulated (a loud failure); neither are sends and receives in a capture.
 * Since 2.26 NCCL finalizes, destroys or aborts a communicator only once
 * every CUDA graph holding its work is gone, and waits for that, forever
 * if it never comes. The double counts the graphs' records of its calls
 * and waits too, up to $XMIG_SIM_CCL_GRAPH_WAIT_MS (10000), then fails
 * loudly, keeping the communicator for the graphs that still run on it.
 *
 * $XMIG_SIM_CCL_LOG: a file each process appends to, one line per
 * communicator made or ended ("PID init SERIAL NRANKS", "PID abort
 * SERIAL", "PID destroy SERIAL"), for tests of what a re-link does in
 * which order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <nccl.h>

#include "../lib/xmig.h"
#include "../proxy/server/sim-kernels.h"
#include "ccl.h"

#define SIM_MAGIC "XMIGSIMCCL"
#define SIM_AREA (8u << 20)            /* bytes of one rank's contribution */
#define SIM_WAIT_NS (120ull * 1000000000ull)
#define SIM_P2P (1u << 20)             /* bytes of one message between two ranks */

/* A message from one rank to another: full while the receiver has not taken it. */
struct sim_mailbox {
	_Atomic uint64_t full;
	uint64_t bytes;
	unsigned char data[SIM_P2P];
};

struct sim_seg {
	_Atomic uint64_t joined;
	_Atomic uint64_t arrived;          /* barrier: arrivals in this round */
	_Atomic uint64_t round;
	int32_t nranks, _pad;
	unsigned char areas[];             /* nranks x SIM_AREA, then nranks x nranks mailboxes */
};

struct sim_comm {
	int nranks, rank;
	unsigned serial;                   /* made in this process, from 1 */
	bool connected;                    /* its first collective met the peers */
	uint64_t id_hash;                  /* of its unique id: its splits' ids derive from it */
	uint64_t splits;                   /* splits made from it */
	struct sim_seg *seg;               /* NULL for one rank */
	size_t seg_size;
	struct sim_pending { struct xmig_ccl_op op; } *group;   /* self send/recv of a group */
	size_t ngroup;
	char last_error[256];
	int graph_holds;                   /* records of its calls that graphs hold (holds_lock) */
};

static pthread_mutex_t holds_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t holds_gone = PTHREAD_COND_INITIALIZER;

/*
 * A collective recorded in a capture, as it runs at the graph's launch: a
 * PreMulSum's scalar taken in at the capture, so that its op may be
 * destroyed once the call returned (NCCL allows it).
 */
struct captured {
	struct sim_comm *c;
	struct xmig_ccl_op o;
	int redop;
	double premul;
};

struct sim_redop { int datatype; double scalar; bool live; };
static struct sim_redop redops[256];
static __thread int group_depth;
static __thread struct sim_comm *group_comm;
static _Atomic unsigned serials;

static void note(const char *what, const struct sim_comm *c)
{
	const char *path = getenv("XMIG_SIM_CCL_LOG");
	char line[96];
	int fd, n;

	if (!path || !*path || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
		return;
	n = snprintf(line, sizeof(line), "%d %s %u %d\n", (int)getpid(), what, c->serial,
		     c->nranks);
	if (write(fd, line, (size_t)n) != n)
		xmig_debug("sim NCCL double: cannot write %s", path);
	close(fd);
}

static int fail(struct sim_comm *c, int r, const char *fmt, const char *what)
{
	if (c)
		snprintf(c->last_error, sizeof(c->last_error), fmt, what);
	xmig_error(fmt, what);
	return r;
}

static int sim_unique_id(void *dev, unsigned char id[XMIG_CCL_ID_BYTES])
{
	uint64_t r[2] = { xmig_now_ns() ^ ((uint64_t)getpid() << 32), 0 };
	FILE *f = fopen("/dev/urandom", "r");

	memset(id, 0, XMIG_CCL_ID_BYTES);
	if (f) {
		if (fread(r, sizeof(r), 1, f) != 1)
			r[1] = xmig_now_ns();
		fclose(f);
	}
	memcpy(id, SIM_MAGIC, sizeof(SIM_MAGIC));
	memcpy(id + 16, r, sizeof(r));
	return ncclSuccess;
}

/* Each rank's process (its proxy), after the areas and mailboxes; 0 until it joins. */
static _Atomic int32_t *seg_pids(struct sim_seg *g, int nranks)
{
	return (_Atomic int32_t *)(void *)(g->areas + (size_t)nranks * SIM_AREA +
					   (size_t)nranks * nranks * sizeof(struct sim_mailbox));
}

/* The rank whose process is gone, or -1. */
static int peer_gone(struct sim_seg *g, int nranks)
{
	_Atomic int32_t *pids = seg_pids(g, nranks);

	for (int r = 0; r < nranks; r++) {
		int32_t pid = atomic_load(&pids[r]);

		if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
			return r;
	}
	return -1;
}

/* The last failed wait of this thread: the rank whose process was gone, or -1 (the time). */
static __thread int gone_rank = -1;

/*
 * Wait until (*w == v) is `equal`, another rank's doing; false after
 * wait_ns, or as soon as a rank's process is gone (NCCL learns of a
 * remote process's exit through its sockets and fails the call).
 */
static bool wait_word_for(struct sim_seg *g, int nranks, _Atomic uint64_t *w, uint64_t v,
			  bool equal, uint64_t wait_ns)
{
	uint64_t now, deadline = xmig_now_ns() + wait_ns, look = 0;
	struct timespec ts = { 0, 20000 };

	gone_rank = -1;
	while ((atomic_load(w) == v) != equal) {
		now = xmig_now_ns();
		if (now > deadline)
			return false;
		if (now >= look) {
			look = now + 50000000ull;
			/* (looked at again after: a peer may have done its part, then exited) */
			if ((gone_rank = peer_gone(g, nranks)) >= 0 && (atomic_load(w) == v) != equal)
				return false;
			gone_rank = -1;
		}
		nanosleep(&ts, NULL);
	}
	return true;
}

static bool wait_word(struct sim_seg *g, int nranks, _Atomic uint64_t *w, uint64_t v, bool equal)
{
	return wait_word_for(g, nranks, w, v, equal, SIM_WAIT_NS);
}

/*
 * A barrier of all ranks in the segment; false after wait_ns or a rank
 * gone. (A rank that gave up leaves the count off: the segment's
 * communicator is of no more use, as an NCCL communicator whose call
 * failed is not.)
 */
static bool barrier_for(struct sim_seg *g, int nranks, uint64_t wait_ns)
{
	uint64_t round = atomic_load(&g->round);

	if (atomic_fetch_add(&g->arrived, 1) + 1 == (uint64_t)nranks) {
		atomic_store(&g->arrived, 0);
		atomic_fetch_add(&g->round, 1);
		return true;
	}
	return wait_word_for(g, nranks, &g->round, round, false, wait_ns);
}

static bool barrier(struct sim_seg *g, int nranks)
{
	return barrier_for(g, nranks, SIM_WAIT_NS);
}

/* A wait for the peers that failed (what: the time ran out), said. */
static int peers_failed(struct sim_comm *c, int st, const char *what)
{
	char msg[160];

	if (gone_rank < 0)
		return fail(c, st, "%s", what);
	snprintf(msg, sizeof(msg), "sim NCCL double: rank %d's process is gone (NCCL: a remote "
		 "process exited)", gone_rank);
	return fail(c, st, "%s", msg);
}

static int sim_init(void *dev, int nranks, int rank, int nids,
		    const unsigned char (*ids)[XMIG_CCL_ID_BYTES],
		    const struct xmig_ccl_config *cfg, void **comm)
{
	struct sim_comm *c;
	char name[64];
	int fd;

	if (memcmp(ids[0], SIM_MAGIC, sizeof(SIM_MAGIC)))
		return fail(NULL, ncclInvalidArgument, "%s", "sim NCCL double: the unique id was not made by a sim proxy");
	if (!(c = calloc(1, sizeof(*c))))
		return ncclSystemError;
	c->nranks = nranks;
	c->rank = rank;
	c->id_hash = xmig_hash64(ids[0], XMIG_CCL_ID_BYTES);
	if (nranks > 1) {
		snprintf(name, sizeof(name), "/xmig-sim-ccl-%016llx", (unsigned long long)c->id_hash);
		c->seg_size = sizeof(struct sim_seg) + (size_t)nranks * SIM_AREA +
			      (size_t)nranks * nranks * sizeof(struct sim_mailbox) +
			      (size_t)nranks * sizeof(int32_t);
		fd = shm_open(name, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)c->seg_size) < 0 ||
		    (c->seg = mmap(NULL, c->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
			    MAP_FAILED) {
			if (fd >= 0)
				close(fd);
			free(c);
			return fail(NULL, ncclSystemError, "sim NCCL double: cannot map %s", name);
		}
		close(fd);
		atomic_store(&seg_pids(c->seg, nranks)[rank], (int32_t)getpid());
		atomic_fetch_add(&c->seg->joined, 1);
		if (!barrier(c->seg, nranks)) {
			munmap(c->seg, c->seg_size);
			free(c);
			return peers_failed(NULL, ncclSystemError,
					    "sim NCCL double: the other ranks did not join within 120 s");
		}
		if (rank == 0)
			shm_unlink(name);   /* everyone has it mapped now */
	}
	c->serial = atomic_fetch_add(&serials, 1) + 1;
	note("init", c);
	*comm = c;
	return ncclSuccess;
}

/* What a rank asks of a split, left in its area of the parent's segment. */
struct sim_split_ask {
	int32_t color, key;
};

/*
 * Every rank of the parent calls: each leaves its colour and key in its
 * area, all meet, and each counts the ranks of its colour and its place
 * among them (by key, then by rank in the parent). The ranks of a colour
 * then build a communicator from an id they all derive from the parent's,
 * the split's ordinal and the colour, as NCCL's ranks agree on one.
 */
static int sim_split(void *dev, void *parent, int color, int key,
		     const struct xmig_ccl_config *cfg, void **comm)
{
	struct sim_comm *p = parent;
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	uint64_t derive[3] = { p->id_hash, p->splits++, (uint64_t)(int64_t)color };
	int n = 1, me = 0;

	*comm = NULL;
	if (p->nranks > 1) {
		struct sim_split_ask *mine = (void *)(p->seg->areas + (size_t)p->rank * SIM_AREA);

		*mine = (struct sim_split_ask){ color, key };
		if (!barrier(p->seg, p->nranks))
			return peers_failed(p, ncclRemoteError, "sim NCCL double: the other ranks did not split within 120 s");
		n = 0;
		for (int r = 0; r < p->nranks; r++) {
			const struct sim_split_ask *o = (const void *)(p->seg->areas + (size_t)r * SIM_AREA);

			if (o->color != color)
				continue;
			n++;
			me += o->key < key || (o->key == key && r < p->rank);
		}
		/* (the areas are the collectives' again once all have read them) */
		if (!barrier(p->seg, p->nranks))
			return peers_failed(p, ncclRemoteError, "sim NCCL double: the other ranks did not split within 120 s");
	}
	if (color == NCCL_SPLIT_NOCOLOR)
		return ncclSuccess;
	if (n == 1)
		sim_unique_id(dev, id[0]);
	else {
		memset(id[0], 0, XMIG_CCL_ID_BYTES);
		memcpy(id[0], SIM_MAGIC, sizeof(SIM_MAGIC));
		memcpy(id[0] + 16, derive, sizeof(derive));
	}
	return sim_init(dev, n, me, 1, (const unsigned char(*)[XMIG_CCL_ID_BYTES])id, cfg, comm);
}

static int sim_shrink(void *dev, void *parent, const int *exclude, int nexclude,
		      const struct xmig_ccl_config *cfg, int flags, void **comm)
{
	return fail(parent, ncclInvalidUsage, "%s", "sim NCCL double: ncclCommShrink is not simulated");
}

/* Wait (a while) until no graph holds c's work, as NCCL does (for ever). */
static int graphs_gone(struct sim_comm *c, int kind)
{
	const char *e = getenv("XMIG_SIM_CCL_GRAPH_WAIT_MS");
	long ms = e && *e ? strtol(e, NULL, 10) : 10000;
	struct timespec until;
	char msg[256];
	int held;

	until = xmig_timespec_in(CLOCK_REALTIME, ms > 0 ? (uint64_t)ms * 1000000ull : 0);
	pthread_mutex_lock(&holds_lock);
	while (c->graph_holds > 0 &&
	       pthread_cond_timedwait(&holds_gone, &holds_lock, &until) != ETIMEDOUT)
		;
	held = c->graph_holds;
	pthread_mutex_unlock(&holds_lock);
	if (!held)
		return ncclSuccess;
	snprintf(msg, sizeof(msg), "sim NCCL double: %s waits for the CUDA graphs holding %d of the "
		 "communicator's calls to be destroyed, as NCCL does since 2.26 (there for ever); "
		 "gave up after %ld ms: destroy the graphs first",
		 kind == XMIG_CCL_FINALIZE ? "ncclCommFinalize"
		 : kind == XMIG_CCL_ABORT ? "ncclCommAbort" : "ncclCommDestroy", held, ms);
	return fail(c, ncclInvalidUsage, "%s", msg);
}

static void hold_captured(const void *arg, int by)
{
	const struct captured *k = arg;

	pthread_mutex_lock(&holds_lock);
	k->c->graph_holds += by;
	if (!k->c->graph_holds)
		pthread_cond_broadcast(&holds_gone);
	pthread_mutex_unlock(&holds_lock);
}

static int sim_end(void *dev, void *comm, int kind)
{
	struct sim_comm *c = comm;
	int st;

	/* (kept when graphs still hold it: they run on it) */
	if ((st = graphs_gone(c, kind)) || kind == XMIG_CCL_FINALIZE)
		return st;
	note(kind == XMIG_CCL_ABORT ? "abort" : "destroy", c);
	if (c->seg)
		munmap(c->seg, c->seg_size);
	free(c->group);
	free(c);
	return ncclSuccess;
}

static int sim_size(void *dev, void *comm, int *nranks, int *rank)
{
	struct sim_comm *c = comm;

	*nranks = c->nranks;
	*rank = c->rank;
	return ncclSuccess;
}

static int sim_async_error(void *dev, void *comm, int *result)
{
	*result = ncclSuccess;
	return ncclSuccess;
}

static const char *sim_last_error(void *dev, void *comm)
{
	struct sim_comm *c = comm;

	return c ? c->last_error : "";
}

/* ---- element arithmetic ---------------------------------------------------- */

static size_t type_size(int t)
{
	switch (t) {
	case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
	case ncclFloat16: case ncclBfloat16: return 2;
	case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
	default: return 8;
	}
}

static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
						  : ldexpf((float)(m | 1024), e - 25);

	return h & 0x8000 ? -v : v;
}

static uint16_t float_to_half(float f)
{
	uint32_t x;
	uint32_t sign, e, m;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	e = (x >> 23) & 255;
	m = x & 0x7fffff;
	if (e == 255)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
	if (e > 142)
		return (uint16_t)(sign | 0x7c00);
	if (e < 113) {   /* subnormal or zero, round to nearest even */
		if (e < 102)
			return (uint16_t)sign;
		m |= 0x800000;
		uint32_t shift = 126 - e, r = m >> shift, rem = m & ((1u << shift) - 1),
			 half = 1u << (shift - 1);

		if (rem > half || (rem == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
	uint32_t r = ((e - 112) << 10) | (m >> 13), rem = m & 0x1fff;

	if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
		r++;
	return (uint16_t)(sign | r);
}

static float bf16_to_float(uint16_t b)
{
	uint32_t x = (uint32_t)b << 16;
	float f;

	memcpy(&f, &x, 4);
	return f;
}

static uint16_t float_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static double get(const void *p, size_t i, int t)
{
	switch (t) {
	case ncclInt8: return ((const int8_t *)p)[i];
	case ncclUint8: return ((const uint8_t *)p)[i];
	case ncclInt32: return ((const int32_t *)p)[i];
	case ncclUint32: return ((const uint32_t *)p)[i];
	case ncclInt64: return (double)((const int64_t *)p)[i];
	case ncclUint64: return (double)((const uint64_t *)p)[i];
	case ncclFloat16: return half_to_float(((const uint16_t *)p)[i]);
	case ncclBfloat16: return bf16_to_float(((const uint16_t *)p)[i]);
	case ncclFloat32: return ((const float *)p)[i];
	default: return ((const double *)p)[i];
	}
}

static void put(void *p, size_t i, int t, double v)
{
	switch (t) {
	case ncclInt8: ((int8_t *)p)[i] = (int8_t)v; break;
	case ncclUint8: ((uint8_t *)p)[i] = (uint8_t)v; break;
	case ncclInt32: ((int32_t *)p)[i] = (int32_t)v; break;
	case ncclUint32: ((uint32_t *)p)[i] = (uint32_t)v; break;
	case ncclInt64: ((int64_t *)p)[i] = (int64_t)v; break;
	case ncclUint64: ((uint64_t *)p)[i] = (uint64_t)v; break;
	case ncclFloat16: ((uint16_t *)p)[i] = float_to_half((float)v); break;
	case ncclBfloat16: ((uint16_t *)p)[i] = float_to_bf16((float)v); break;
	case ncclFloat32: ((float *)p)[i] = (float)v; break;
	default: ((double *)p)[i] = v; break;
	}
}

/* Types of 4 bytes or less are summed in float, as one element at a time on a GPU. */
static double combine(int t, int op, double a, double b)
{
	double r;

	switch (op) {
	case ncclProd: r = a * b; break;
	case ncclMax: r = a > b ? a : b; break;
	case ncclMin: r = a < b ? a : b; break;
	default: r = a + b; break;
	}
	if (t == ncclFloat16 || t == ncclBfloat16 || t == ncclFloat32)
		r = (float)r;
	return r;
}

/* ---- collectives ---------------------------------------------------------------- */

/* Contribution of this rank, pre-multiplied by scalar for PreMulSum, into dst. */
static void contribute(void *dst, const void *src, size_t n, int t, int redop, double scalar)
{
	if (redop < ncclNumOps) {
		memcpy(dst, src, n * type_size(t));
		return;
	}
	for (size_t i = 0; i < n; i++)
		put(dst, i, t, get(src, i, t) * scalar);
}

/* dst[i] = op over ranks of area_r[off + i] (areas: nranks x stride bytes). */
static void reduce_areas(void *dst, const unsigned char *areas, size_t stride, int nranks,
			 size_t off, size_t n, int t, int redop)
{
	int op = redop >= ncclNumOps ? ncclSum : redop;
	size_t es = type_size(t);

	for (size_t i = 0; i < n; i++) {
		double v = get(areas + off * es, i, t);

		for (int r = 1; r < nranks; r++)
			v = combine(t, op, v, get(areas + (size_t)r * stride + off * es, i, t));
		if (redop == ncclAvg)
			v = t < ncclFloat16 ? (double)((int64_t)v / nranks) : v / nranks;
		put(dst, i, t, v);
	}
}

/* premul: a PreMulSum op's scalar, read when the call was made (as NCCL does). */
static int run(struct sim_comm *c, const struct xmig_ccl_op *o, int redop, double premul)
{
	const void *send = (const void *)(uintptr_t)o->send;
	void *recv = (void *)(uintptr_t)o->recv;
	size_t es = type_size(o->datatype), n = o->count, in, stride;
	int R = c->nranks, me = c->rank;
	unsigned char *areas, *local = NULL;

	if (o->datatype == ncclFloat8e4m3 || o->datatype == ncclFloat8e5m2)
		return fail(c, ncclInvalidUsage, "%s", "sim NCCL double: fp8 types are not simulated");
	/* how many elements this rank contributes */
	switch (o->fn) {
	case XMIG_CCL_REDUCESCATTER: case XMIG_CCL_ALLTOALL: in = n * (size_t)R; break;
	case XMIG_CCL_SCATTER: in = me == o->peer ? n * (size_t)R : 0; break;
	case XMIG_CCL_BROADCAST: in = me == o->peer ? n : 0; break;
	default: in = n; break;
	}
	if (R == 1) {
		if (!(local = malloc(in * es + 1)))
			return ncclSystemError;
		areas = local;
		stride = in * es;
	} else {
		if (in * es > SIM_AREA)
			return fail(c, ncclInvalidUsage, "%s",
				    "sim NCCL double: a contribution over 8 MiB is not simulated");
		areas = c->seg->areas;
		stride = SIM_AREA;
	}
	contribute(areas + (size_t)me * stride, send, in, o->datatype,
		   o->fn == XMIG_CCL_ALLREDUCE || o->fn == XMIG_CCL_REDUCE ||
				   o->fn == XMIG_CCL_REDUCESCATTER ? redop : ncclSum, premul);
	if (R > 1 && !barrier(c->seg, R))
		return peers_failed(c, ncclRemoteError, "sim NCCL double: a peer did not post its part within 120 s");
	switch (o->fn) {
	case XMIG_CCL_ALLREDUCE:
		reduce_areas(recv, areas, stride, R, 0, n, o->datatype, redop);
		break;
	case XMIG_CCL_REDUCE:
		if (me == o->peer)
			reduce_areas(recv, areas, stride, R, 0, n, o->datatype, redop);
		break;
	case XMIG_CCL_REDUCESCATTER:
		reduce_areas(recv, areas, stride, R, (size_t)me * n, n, o->datatype, redop);
		break;
	case XMIG_CCL_BROADCAST:
		memmove(recv, areas + (size_t)o->peer * stride, n * es);
		break;
	case XMIG_CCL_ALLGATHER:
		for (int r = 0; r < R; r++)
			memmove((unsigned char *)recv + (size_t)r * n * es, areas + (size_t)r * stride, n * es);
		break;
	case XMIG_CCL_GATHER:
		if (me == o->peer)
			for (int r = 0; r < R; r++)
				memmove((unsigned char *)recv + (size_t)r * n * es,
					areas + (size_t)r * stride, n * es);
		break;
	case XMIG_CCL_ALLTOALL:
		for (int r = 0; r < R; r++)
			memmove((unsigned char *)recv + (size_t)r * n * es,
				areas + (size_t)r * stride + (size_t)me * n * es, n * es);
		break;
	case XMIG_CCL_SCATTER:
		memmove(recv, areas + (size_t)o->peer * stride + (size_t)me * n * es, n * es);
		break;
	}
	free(local);
	if (R > 1 && !barrier(c->seg, R))
		return peers_failed(c, ncclRemoteError, "sim NCCL double: a peer did not finish within 120 s");
	return ncclSuccess;
}

static int sim_redop_create(void *dev, void *comm, int datatype, int residence,
			    const void *scalar, int *op)
{
	for (int i = ncclNumOps; i < 256; i++)
		if (!redops[i].live) {
			const void *p = scalar;

			/* a device scalar is host memory on the sim device, read now */
			redops[i] = (struct sim_redop){ datatype, get(p, 0, datatype), true };
			*op = i;
			return ncclSuccess;
		}
	return ncclSystemError;
}

static int sim_redop_destroy(void *dev, void *comm, int op)
{
	if (op < ncclNumOps || op >= 256 || !redops[op].live)
		return ncclInvalidArgument;
	redops[op].live = false;
	return ncclSuccess;
}

static int sim_group_start(void *dev)
{
	group_depth++;
	return ncclSuccess;
}

static struct sim_mailbox *mailbox(struct sim_comm *c, int from, int to)
{
	return (struct sim_mailbox *)(c->seg->areas + (size_t)c->nranks * SIM_AREA) +
	       (size_t)from * c->nranks + to;
}

/* A group's sends to and receives from other ranks: every send, then every receive. */
static int p2p_peers(struct sim_comm *c)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->ngroup; i++) {
			const struct xmig_ccl_op *o = &c->group[i].op;
			size_t bytes = o->count * type_size(o->datatype);
			struct sim_mailbox *m;

			if (o->peer == c->rank || o->fn != (pass ? XMIG_CCL_RECV : XMIG_CCL_SEND))
				continue;
			if (bytes > SIM_P2P)
				return fail(c, ncclInvalidUsage, "%s", "sim NCCL double: a message over 1 MiB between two ranks is not simulated");
			m = pass ? mailbox(c, o->peer, c->rank) : mailbox(c, c->rank, o->peer);
			/* a receive waits for the message, a send for the box to be empty */
			if (!wait_word(c->seg, c->nranks, &m->full, pass ? 1 : 0, true))
				return peers_failed(c, ncclRemoteError, "sim NCCL double: a peer did not take or send its message within 120 s");
			if (!pass) {
				memcpy(m->data, (const void *)(uintptr_t)o->send, bytes);
				m->bytes = bytes;
				atomic_store(&m->full, 1);
			} else {
				if (m->bytes != bytes)
					return fail(c, ncclInvalidUsage, "%s", "sim NCCL double: a receive of another size than its send");
				memcpy((void *)(uintptr_t)o->recv, m->data, bytes);
				atomic_store(&m->full, 0);
			}
		}
	return ncclSuccess;
}

/*
 * The sends and receives of a group: to other ranks through the
 * mailboxes; to itself, paired up in order.
 */
static int sim_group_end(void *dev)
{
	struct sim_comm *c = group_comm;
	size_t s = 0, r = 0;
	int st = ncclSuccess;

	if (--group_depth > 0 || !c)
		return ncclSuccess;
	group_comm = NULL;
	if (c->nranks > 1 && (st = p2p_peers(c))) {
		c->ngroup = 0;
		return st;
	}
	for (;;) {
		while (s < c->ngroup && (c->group[s].op.fn != XMIG_CCL_SEND ||
					 c->group[s].op.peer != c->rank))
			s++;
		while (r < c->ngroup && (c->group[r].op.fn != XMIG_CCL_RECV ||
					 c->group[r].op.peer != c->rank))
			r++;
		if (s == c->ngroup && r == c->ngroup)
			break;
		if (s == c->ngroup || r == c->ngroup || c->group[s].op.count != c->group[r].op.count ||
		    c->group[s].op.datatype != c->group[r].op.datatype) {
			st = fail(c, ncclInvalidUsage, "%s", "sim NCCL double: sends and receives of a group do not pair up");
			break;
		}
		memmove((void *)(uintptr_t)c->group[r].op.recv,
			(const void *)(uintptr_t)c->group[s].op.send,
			c->group[s].op.count * type_size(c->group[s].op.datatype));
		s++;
		r++;
	}
	c->ngroup = 0;
	return st;
}

static int run_captured(const void *arg)
{
	const struct captured *k = arg;

	return run(k->c, &k->o, k->redop, k->premul);
}

/* A communicator's first collective of several ranks meets them all first. */
static int sim_connect(void *dev, void *comm, const struct xmig_ccl_op *o)
{
	struct sim_comm *c = comm;

	if (c->nranks == 1 || c->connected || o->fn == XMIG_CCL_SEND || o->fn == XMIG_CCL_RECV)
		return ncclSuccess;
	if (!barrier(c->seg, c->nranks))
		return peers_failed(c, ncclRemoteError, "sim NCCL double: the peers did not post their first collective within 120 s");
	c->connected = true;
	return ncclSuccess;
}

/*
 * Ahead of a re-link: the connect of a first collective, done now, waiting
 * timeout_ms at most. (Sends and receives need none here: the double's
 * mailboxes are in the segment already.)
 */
static int sim_connect_ahead(void *dev, void *comm, void *stream, int timeout_ms,
			     const int *send_to, int nsend, const int *recv_from, int nrecv,
			     void **scratch)
{
	struct sim_comm *c = comm;

	*scratch = NULL;
	if (c->nranks == 1 || c->connected)
		return ncclSuccess;
	if (!barrier_for(c->seg, c->nranks, (uint64_t)timeout_ms * 1000000ull))
		return peers_failed(c, ncclRemoteError, "sim NCCL double: the peers did not connect in time");
	c->connected = true;
	return ncclSuccess;
}

static int sim_coll(void *dev, void *comm, const struct xmig_ccl_op *o, int redop, void *stream)
{
	struct sim_comm *c = comm;
	struct captured k = { c, *o, redop, 0 };
	bool recorded;
	int st;

	if (redop >= ncclNumOps) {
		if (redop >= 256 || !redops[redop].live)
			return ncclInvalidArgument;
		k.premul = redops[redop].scalar;
	}
	if (o->fn == XMIG_CCL_SEND || o->fn == XMIG_CCL_RECV) {
		struct sim_pending *g;

		if (!group_depth || (group_comm && group_comm != c))
			return fail(c, ncclInvalidUsage, "%s", "sim NCCL double: a send/recv needs a group of one communicator");
		if (!(g = realloc(c->group, (c->ngroup + 1) * sizeof(*g))))
			return ncclSystemError;
		c->group = g;
		c->group[c->ngroup++].op = *o;
		group_comm = c;
		return ncclSuccess;
	}
	if ((st = sim_connect(dev, c, o)))
		return st;
	if (xmig_sim_capture_call(dev, stream, run_captured, hold_captured, &k, sizeof(k), &recorded))
		return fail(c, ncclSystemError, "%s", "sim NCCL double: the capture took no record");
	return recorded ? ncclSuccess : run(c, o, redop, k.premul);
}

const struct ccl_backend ccl_backend_sim = {
	.name = "sim",
	.calls_wait = true,
	.connect = sim_connect,
	.unique_id = sim_unique_id,
	.init = sim_init,
	.split = sim_split,
	.shrink = sim_shrink,
	.end = sim_end,
	.size = sim_size,
	.async_error = sim_async_error,
	.last_error = sim_last_error,
	.redop_create = sim_redop_create,
	.redop_destroy = sim_redop_destroy,
	.group_start = sim_group_start,
	.group_end = sim_group_end,
	.coll = sim_coll,
	.connect_ahead = sim_connect_ahead,
};
