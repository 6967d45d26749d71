/*
 * server.h - internals of xmig-proxy, the per-process proxy server.
 *
 * One proxy serves one application process on one GPU. Its threads:
 *   main      libuv loop: control socket (JSON-RPC), the client session
 *   ringmgr   starts a worker for each ring the client opens
 *   worker/N  executes ring N's requests, in global ticket order
 * Everything a worker does "in turn" (holding the next ticket) is
 * serialised across all workers, so the object tables below need no locks
 * for that; the control side touches them only while the server is frozen.
 */
#ifndef XMIG_SERVER_H
#define XMIG_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../lib/xmig.h"
#include "../api/ops.h"
#include "../channel/channel.h"
#include "device.h"

/* ---- object tables: logical id -> backend handle ------------------------- */

#define SRV_TABLE_CHUNK 1024
#define SRV_TABLE_CHUNKS 1024

struct srv_table {
	void **chunks[SRV_TABLE_CHUNKS];
	uint64_t next;          /* next never-used id */
	uint64_t *free_ids;     /* ids to reuse */
	size_t nfree, capfree;
	uint64_t first;         /* lowest valid id */
	size_t count;
	uint64_t changes;       /* puts and removes, ever (a move's refresh asks if any) */
};

void srv_table_init(struct srv_table *t, uint64_t first);
uint64_t srv_table_add(struct srv_table *t, void *obj);     /* 0 on failure */
int srv_table_put(struct srv_table *t, uint64_t id, void *obj); /* at a given id */
uint64_t srv_table_reserve(struct srv_table *t);               /* an id for a later put */
void *srv_table_get(const struct srv_table *t, uint64_t id);
void *srv_table_remove(struct srv_table *t, uint64_t id);
/* Visit every live entry in id order. */
void srv_table_each(const struct srv_table *t, void (*fn)(uint64_t id, void *obj, void *arg),
		    void *arg);

#include "dnn-log.h"

struct srv_stream {
	uint64_t id;
	void *h;                /* backend stream */
	unsigned flags;
	int priority;
	bool remade;            /* made at a move's freeze, not ahead of it */
	json_t *entry;          /* its manifest entry, made once (state.c) */
};

struct srv_event {
	uint64_t id;
	void *h;
	unsigned flags;
	bool recorded;          /* recorded at least once */
};

struct srv_module {
	void *h;
	void *image;            /* kept for replay after a move */
	uint64_t size, hash;
	uint64_t received;      /* bytes of the image received so far */
	json_t *entry;          /* its manifest entry, made once loaded (NULL: not yet) */
	/*
	 * A prelude sending the image while the job runs (xfer.c) pins it;
	 * unloaded meanwhile, it is freed by the last unpin (both under
	 * state_lock).
	 */
	int pins;
	bool unloaded;
};

struct srv_func {
	uint64_t module;
	char *name;
	void *h;
	struct xmig_param_layout layout;
	int max_dyn_smem;       /* attribute set by the app, replayed */
	int cache_config;
	uint32_t attrs_set;     /* other attributes set (bit per cudaFuncAttribute), replayed */
	int attr_value[32];
	json_t *entry;          /* its manifest entry (NULL: not made, or changed since) */
};

struct srv_var {
	uint64_t module;
	char *name;
	uint64_t size;
	uint64_t addr;          /* address in the current context */
	json_t *entry;          /* its manifest entry, made once (NULL: not yet) */
};

/* A cuBLAS handle and the settings a new proxy gives it again. */
struct srv_blas {
	uint64_t id;
	void *h;
	uint64_t stream;        /* logical stream id */
	uint64_t workspace, workspace_size;
	int math_mode, pointer_mode, atomics_mode;
};

/* A cuBLASLt handle: it has no settings (descriptors travel with each call). */
struct srv_blaslt {
	uint64_t id;
	void *h;
};

/* ---- memory ------------------------------------------------------------- */

struct srv_alloc {
	uint64_t va, size;      /* size rounded to the granularity */
	uint64_t requested;     /* what the application asked for */
	uint64_t serial;        /* which allocation: an address can be reused */
	bool async;             /* made by cudaMallocAsync: a free puts it in the pool */
	bool pooled;            /* freed into the pool: kept mapped for the next of its size */
	void *mem;              /* backend handle */
	json_t *entry;          /* its manifest entry (NULL: not made, or changed since) */
};

/* A predecessor's allocation, mapped here to be copied from (xfer.c). */
struct srv_source {
	uint64_t va, size, serial;
	uint64_t tmp;           /* where it is mapped here */
	void *mem;
	bool copied;            /* queued at the freeze, before the manifest came */
	bool peer;              /* another GPU's memory */
};

struct srv_host_region {
	uint64_t addr, size, ino;
	int fd;
	bool registered;
	bool own;   /* the application's own memory (cudaHostRegister), outside the window */
};

struct srv_memory {
	uint64_t window, window_size, granularity;
	struct srv_alloc *allocs;   /* sorted by va */
	size_t nallocs, cap;
	uint64_t bytes;             /* sum of requested sizes (the pool's allocations too) */
	uint64_t next_serial;
	uint64_t mapped;            /* sum of mapped sizes */
	struct srv_host_region *regions;
	size_t nregions, capregions;
	/* the client's hdr->host_regions_gen when regions was last made its list */
	uint64_t regions_gen;
	bool regions_gen_known;
	/*
	 * cudaFreeAsync'd allocations, each let go (into the pool) once the
	 * event recorded after the work before it on its stream is done
	 * (srv_mem_reap), and
	 * spare events for the next.
	 */
	struct srv_pending_free {
		uint64_t va;
		void *event;
	} *pending;
	size_t npending, cappending;
	void **spare_events;
	size_t nspare, capspare;
	/*
	 * The stream-ordered allocations' pool: freed ones kept mapped, at
	 * their addresses and with their serials, for the next allocation of
	 * their size; trimmed to the release threshold at each synchronise.
	 * Address and serial stay, so a move's prelude still holds them.
	 */
	uint64_t pooled_bytes, pool_threshold;
};

/* ---- workers ------------------------------------------------------------ */

struct srv;

struct srv_worker {
	struct srv *srv;
	unsigned index;
	struct xmig_ring *ring;
	pthread_t thread;
	bool started;
	_Atomic bool finished;
	_Atomic bool ready;     /* bound and pinned: serves once the gate opens */
	bool bulk_registered;
	void *pool_event;       /* for deferred waits */
};

/*
 * A call being executed. Handlers run "in turn"; a handler that must wait
 * for the GPU sets defer/defer_arg, which the worker runs after giving up
 * the turn (so other threads' calls proceed meanwhile).
 */
struct xmig_call {
	struct srv *srv;
	struct srv_worker *w;
	const struct xmig_req *req;
	const void *args;       /* request payload */
	void *res;              /* reply buffer (ring->resp) */
	uint32_t res_len;
	int (*defer)(struct xmig_call *c);
	void *defer_obj;        /* stream/event the deferred part waits on */
	uint64_t defer_u64[4];
};

/* ---- the server ---------------------------------------------------------- */

#define SRV_LIMITS 16

struct ctl_conn;
struct offer;
struct ccl_table;
struct ccl_cut;
struct ccl_retire;
struct srv_prelink;
struct srv_gemm_shapes;
struct srv_lt_shapes;
struct srv_dnn_runs;
struct srv_capture;
struct dep_sets;

struct srv {
	/* identity */
	char job[80];
	int rank;
	pid_t client_pid;
	uid_t owner_uid;
	int gpu;                /* in the numbering of visible_devices and device_order: */
	const char *visible_devices, *device_order;   /* CUDA_*'s at the start; NULL: unset */
	uint64_t attach_id;
	double started;         /* wall clock */
	const char *node;       /* where the GPU context runs */
	const char *host;       /* where the application runs (this node) */
	char device_kind[16];   /* cuda or sim (a bridge: its executor's) */
	double share;           /* fraction of the GPU the job declared */

	/* the client */
	struct xmig_shm_header *hdr;
	int shm_fd;
	int session_fd;         /* connection to the client's keeper */
	pthread_mutex_t session_lock;
	char keeper_path[512];
	char socket_path[512];  /* our control socket */

	/* the device */
	const struct xmig_device_ops *dev;
	void *devh;
	struct xmig_gpu_info gpu_info;

	/* state (in-turn only, or frozen) */
	struct srv_table streams, events, modules, funcs, vars, blas, blaslt;
	struct srv_table graphs, graph_execs;   /* CUDA graphs (srv-graph.c) */
	struct srv_capture *captures;   /* captures in progress */
	size_t ncaptures;
	bool replaying;                 /* a graph's log is being captured again (srv-graph.c) */
	struct dep_sets *replay_sets;   /* ... the open ends its CAPTURE_DEPS records kept */
	_Atomic int graphs_unmovable;   /* graphs and executable graphs not made again, */
	const char *_Atomic graphs_unmovable_why;   /* ... and why (the last) */
	_Atomic int graphs_host;        /* ... whose capture copies to or from host memory */
	_Atomic int graphs_pending;     /* ... without a driver graph: captured again at first use */
	_Atomic bool host_funcs;        /* it queued host functions: a drain may wait for the application */
	struct dnn_log dnn;             /* cuDNN handles and descriptors */
	struct srv_memory mem;
	struct srv_stream legacy, per_thread;
	size_t limits[SRV_LIMITS];      /* set by the application, replayed */
	bool limit_set[SRV_LIMITS];

	/* moves (move.c) */
	bool standby;                   /* started as the target of a move */
	bool serve_remote;              /* an executor (executor.c), not a proxy */
	char listen_addr[256];
	int control_fd;                 /* standby: connection to the orchestrator */
	struct ctl_conn *orchestrator;
	bool ccl_relink;                /* standby: the orchestrator re-links multi-rank communicators */
	/* standby, under move.c's lock: a receive runs; the orchestrator left meanwhile */
	bool receiving, abandoned;
	bool ccl_warm;                  /* NCCL's once-per-process set-up done (srv-ccl.c) */
	struct {                        /* the last object restore (state.c): how many */
		unsigned made, kept;    /* made by it; kept from one made ahead */
		/* the arrays the kernels and variables were made from ahead (referenced) */
		json_t *funcs, *vars;
	} restored;
	char listen_path[512];          /* where the control socket is bound */
	struct ctl_conn *freeze_holder; /* thaw if this connection goes away */
	/*
	 * The holder's freeze is what stopped the job (a move's own): its
	 * successor runs at once. Otherwise (frozen by hand or at a cut
	 * before) the successor stays frozen.
	 */
	bool move_froze;
	/* The __device__ variables' pinned staging, kept for the next move (xfer.c). */
	char *var_staging;
	uint64_t var_staging_len;
	bool var_staging_pinned;
	bool handed_over;               /* ownership given up (a move or suspend) */
	bool has_successor;             /* a move: the successor takes our socket path */
	struct offer *offer;            /* state offered to a successor (xfer.c) */
	int xfer_fd;                    /* successor: prepared connection, -1 */
	uint64_t xfer_base;             /* successor: hash of the prelude whose cuDNN log
					 * dnn holds (replayed ahead), 0: none */
	json_t *xfer_prelude;           /* successor: the prelude's manifest, until the freeze */
	uint64_t xfer_prelude_hash;     /* ... and the hash of its text */
	bool dnn_ahead;                 /* dnn is a prelude's log, replayed ahead */
	struct srv_source *sources;     /* successor, copy mode: the old memory */
	size_t nsources;
	/* successor, copy mode: the copy's second stream, its bytes queued on
	 * each (legacy, second), and the event that joins it to legacy (xfer.c) */
	void *copy_stream, *copy_joined;
	uint64_t copy_queued[2];

	/* workers */
	struct srv_worker workers[XMIG_MAX_RINGS];
	pthread_t ringmgr;
	bool workers_running;       /* the ring manager was started */
	_Atomic uint32_t workers_gate;  /* 1: started ahead by a standby, held until it resumes */
	_Atomic bool workers_soon;      /* the move's frozen part began: the gate opens soon */
	_Atomic bool stopping;

	/* freeze: see worker.c */
	uint64_t froze_at_ns;       /* CLOCK_MONOTONIC: the last freeze stopped taking calls */
	uint64_t serving_at_ns;     /* ... and a resume opened the workers */
	_Atomic int freeze_requested;
	/*
	 * Brief holds of the turn (a move's prelude reading the tables): the
	 * workers park for them as for a freeze, but a hold's end never ends
	 * a freeze begun meanwhile (it took freeze_requested back to 0 once).
	 */
	_Atomic int turn_holds;
	_Atomic int in_turn;
	_Atomic int deferred;       /* deferred waits in flight */
	_Atomic uint32_t freeze_futex;
	_Atomic uint64_t calls;     /* requests executed, for status */
	pthread_mutex_t state_lock;

	/* Flexible CCL (srv-ccl.c, ccl/) */
	struct ccl_table *ccl;              /* logical communicators (in turn, or frozen) */
	struct ccl_cut *_Atomic ccl_cut;    /* a cut's targets while one runs: the gate */
	struct ccl_retire *_Atomic ccl_retire;  /* old communicators to abort (ccl/relink.c) */
	struct srv_prelink *ccl_prelinks;   /* built ahead of a re-link (ccl.prelink) */
	struct srv_gemm_shapes *blas_shapes;    /* the job's GEMMs, run by a standby (blas-warm.c) */
	struct srv_lt_shapes *lt_shapes;        /* its cuBLASLt matmuls, likewise (blaslt-warm.c) */
	struct srv_dnn_runs *dnn_runs;          /* its cuDNN plans executed, likewise (dnn-warm.c) */
};

extern struct srv *the_srv;

/* dispatch.c: the deferred part waits for everything queued on st so far (a capturing
 * stream: the driver's own answer at once, a refusal) */
int srv_defer_until_done(struct xmig_call *c, struct srv_stream *st);

/* objects.c */
int srv_objects_init(struct srv *s);
struct srv_stream *srv_stream(struct xmig_call *c, uint64_t id);
struct srv_stream *srv_stream_of(struct srv *s, uint64_t id);
struct srv_event *srv_event(struct xmig_call *c, uint64_t id);
/* An event of the table, made (flags as cudaEventCreateWithFlags') and dropped. */
int srv_event_new(struct srv *s, unsigned flags, uint64_t *id);
int srv_event_drop(struct srv *s, struct srv_event *e);
struct srv_func *srv_func(struct xmig_call *c, uint64_t id);

/* memory.c */
int srv_memory_init(struct srv *s);
int srv_mem_alloc(struct srv *s, uint64_t size, uint64_t *va);
int srv_mem_free(struct srv *s, uint64_t va);
/* Let va go once what stream (a device stream) holds now is done; *size: its requested size. */
int srv_mem_free_after(struct srv *s, uint64_t va, void *stream, uint64_t *size);
/*
 * The pending frees that are due: a stream-ordered allocation into the pool,
 * another freed (wait: all of them, waiting for their streams).
 */
void srv_mem_reap(struct srv *s, bool wait);
/* Is va freed already, waiting for its stream? */
bool srv_mem_pending(struct srv *s, uint64_t va);
/* A stream-ordered allocation: from the pool if it holds one of the size, else new. */
int srv_mem_alloc_async(struct srv *s, uint64_t size, uint64_t *va);
/*
 * Unmap pooled allocations, highest addresses first, until the pool reserves
 * keep bytes or less (those in use counted, as CUDA counts them).
 */
void srv_mem_pool_trim(struct srv *s, uint64_t keep);
/* A synchronise: the pool lets go of what passes its release threshold, as CUDA's does. */
void srv_mem_pool_synced(struct srv *s);
/* Record an allocation mapped elsewhere (a restore); sorted insert. */
int srv_mem_adopt(struct srv *s, const struct srv_alloc *a);
/* The allocation containing [va, va+len), or NULL. */
struct srv_alloc *srv_mem_find(struct srv *s, uint64_t va, uint64_t len);
/*
 * Where the job's memory, taken in order as moves and snapshots send it,
 * goes on from allocation *at, offset *off: past the allocations it has
 * finished. False once past the last.
 */
bool srv_mem_next_byte(const struct srv_memory *m, size_t *at, uint64_t *off);
int srv_host_register(struct srv *s, uint64_t addr, uint64_t size, uint64_t ino, unsigned flags);
int srv_host_unregister(struct srv *s, uint64_t addr);
bool srv_host_contains(struct srv *s, uint64_t addr, uint64_t len);

/* session.c: talking to the client's fd keeper */
struct xmig_host_region_info {
	uint64_t addr, size, ino;
	unsigned flags;   /* cudaHostRegister's (ReadOnly) or cudaHostAlloc's */
};
int srv_session_attach(struct srv *s);
/* Send our stderr where the application's goes. */
int srv_session_stderr(struct srv *s);
/* The client's pinned region number `index` (-1 past the last). */
int srv_session_region(struct srv *s, uint64_t index, struct xmig_host_region_info *info);
int srv_session_region_fd(struct srv *s, uint64_t addr, uint64_t *size, uint64_t *ino);

/* worker.c */
/* gated: started ahead (a standby): they bind and pin, and serve once opened */
int srv_workers_start(struct srv *s, bool gated);
void srv_workers_open(struct srv *s);
/*
 * Stop the workers; -1 if one still runs after timeout_ns, as a call
 * waiting on the GPU for a kernel that never ends does.
 */
int srv_workers_stop(struct srv *s, uint64_t timeout_ns);
void srv_rings_spin_until(struct srv *s, uint64_t until_ns);
int srv_freeze(struct srv *s, uint64_t timeout_ns);
void srv_thaw(struct srv *s);
bool srv_frozen(struct srv *s);

/* dispatch.c */
int srv_dispatch(struct xmig_call *c);
/* The operation's name in ops.h (LAUNCH, BLAS_GEMM, ...), for traces. */
const char *srv_op_name(uint32_t op);
/* What a trace names of the call: " of KERNEL" for a launch, a GEMM's shape, else "". */
const char *srv_call_detail(const struct xmig_call *c);

/* srv-cublas.c: the cuBLAS operations, and a handle made again after a move */
int d_BLAS_CREATE(struct xmig_call *c);
int d_BLAS_DESTROY(struct xmig_call *c);
int d_BLAS_SET(struct xmig_call *c);
int d_BLAS_GEMM(struct xmig_call *c);
int srv_blas_recreate(struct srv *s, struct srv_blas *b);
/* Give an existing backend handle b's settings (its stream may be new). */
int srv_blas_configure(struct srv *s, struct srv_blas *b);
/* blas-warm.c: each distinct GEMM the job ran (in turn), for a standby to run once ahead */
void srv_blas_shape_note(struct srv *s, const struct xmig_blas_gemm_req *g, int math_mode,
			 uint64_t workspace);
json_t *srv_blas_shapes_json(struct srv *s);
void srv_blas_shapes_free(struct srv *s);
/* Standby, ahead: run each shape once on scratch of its own (*ran: how many). 0 or a status. */
int srv_blas_warm(struct srv *s, json_t *shapes, unsigned *ran);
/* blaslt-warm.c: the same for the job's cuBLASLt matmuls. */
void srv_lt_shape_note(struct srv *s, const struct xmig_lt_matmul_req *m);
json_t *srv_lt_shapes_json(struct srv *s);
void srv_lt_shapes_free(struct srv *s);
int srv_lt_warm(struct srv *s, json_t *shapes, unsigned *ran);
/*
 * dnn-warm.c: the same for the plans the job executed (serial: the plan
 * object's); the standby's warm-up needs its log made ahead. *sized: those
 * it could lay out on scratch; *ran: those executed.
 */
void srv_dnn_run_note(struct srv *s, const struct xmig_dnn_execute_req *a, uint64_t serial);
/* Did this proxy, a standby then, run that plan ahead? */
bool srv_dnn_ran_ahead(struct srv *s, uint64_t plan, uint64_t serial);
json_t *srv_dnn_runs_json(struct srv *s);
void srv_dnn_runs_free(struct srv *s);
int srv_dnn_warm(struct srv *s, json_t *runs, unsigned *ran, unsigned *sized);

/* srv-cudnn.c: cuDNN's backend API, and its objects made again after a move */
int d_DNN_INFO(struct xmig_call *c);
int d_DNN_CREATE(struct xmig_call *c);
int d_DNN_DESTROY(struct xmig_call *c);
int d_DNN_SET_STREAM(struct xmig_call *c);
int d_DNN_DESC_CREATE(struct xmig_call *c);
int d_DNN_DESC_DESTROY(struct xmig_call *c);
int d_DNN_SET_ATTR(struct xmig_call *c);
int d_DNN_GET_ATTR(struct xmig_call *c);
int d_DNN_FINALIZE(struct xmig_call *c);
int d_DNN_EXECUTE(struct xmig_call *c);
int d_DNN_LAST_ERROR(struct xmig_call *c);
/*
 * Make the cuDNN objects of a manifest's section again. ahead: from the
 * prelude, while the job still runs; later, with the final manifest, what
 * was made ahead is kept where the log still holds it (dnn_log_advance).
 * A move's final manifest may carry the log as a delta to the prelude's
 * ("cudnn_delta", dnn-delta.h) instead of whole ("cudnn").
 * 0, -1 when the section is malformed, or a failing cudnnStatus_t.
 */
int srv_dnn_restore(struct srv *s, json_t *manifest, bool ahead);
/* Build a variant pack from the request and execute the plan with it. */
int srv_dnn_execute_local(const struct xmig_device_ops *d, void *devh,
			  const struct xmig_dnn_execute_req *a, void *handle, void *plan);
/* What a captured Execute depends on, kept in the capture's log with it. */
struct srv_dnn_captured {
	uint64_t stream;                  /* the handle's logical stream at the call */
	uint64_t handle_serial, plan_serial;
};
/* Those of Execute a, which just succeeded. 0, or -1: a is not a live handle's and plan's. */
int srv_dnn_captured(struct srv *s, const struct xmig_dnn_execute_req *a,
		     struct srv_dnn_captured *out);
/*
 * Before a captured Execute is captured again: its handle and plan still the
 * same objects, the handle set to the stream it had then (srv_dnn_restream
 * sets it back). 0, or a cudaError_t having said why.
 */
int srv_dnn_rebind(struct srv *s, const struct srv_dnn_captured *was,
		   const struct xmig_dnn_execute_req *a);
/* Every cuDNN handle on its own stream again. 0, or a cudnnStatus_t. */
int srv_dnn_restream(struct srv *s);
/* srv-driver.c: the driver API's own operations (libcuda facade) */
int d_MODULE_UNLOAD(struct xmig_call *c);
int d_LAUNCH_EX(struct xmig_call *c);
int d_OCCUPANCY_CLUSTERS(struct xmig_call *c);
int d_TENSOR_MAP(struct xmig_call *c);
int d_MEM_RANGE(struct xmig_call *c);
/* dispatch.c */
int d_MEMSET_WIDE(struct xmig_call *c);
/* srv-cublaslt.c: the cuBLASLt operations, and a handle made again after a move */
int d_LT_CREATE(struct xmig_call *c);
int d_LT_DESTROY(struct xmig_call *c);
int d_LT_HEURISTIC(struct xmig_call *c);
int d_LT_MATMUL(struct xmig_call *c);
int srv_blaslt_recreate(struct srv *s, struct srv_blaslt *b);
/* srv-ccl.c: NCCL calls, the cut's gate, communicators in a move's state */
int d_CCL_UNIQUE_ID(struct xmig_call *c);
int d_CCL_INIT(struct xmig_call *c);
int d_CCL_SPLIT(struct xmig_call *c);
int d_CCL_END(struct xmig_call *c);
int d_CCL_QUERY(struct xmig_call *c);
int d_CCL_REDOP(struct xmig_call *c);
int d_CCL_COLL(struct xmig_call *c);
int d_CCL_GROUP(struct xmig_call *c);
/* While a cut runs: must this request wait (it would pass the cut, or the cut is reached)? */
bool srv_ccl_hold(struct srv *s, const struct xmig_req *req);
void srv_ccl_manifest(struct srv *s, json_t *manifest);
int srv_ccl_check(struct srv *s, json_t *manifest, char *why, size_t len);
/*
 * Is the process frozen (or being stopped at a cut) for another control
 * connection, a move's or a cut's? One such command at a time (move.c).
 */
bool srv_held_by_another(struct srv *s, struct ctl_conn *cc);
#define SRV_BUSY_MSG "another command is moving this process or stopping it at a cut; " \
		     "nothing was done, try again when it is over"

/* The most ranks of a communicator the process holds with peers; 0: none. Frozen. */
int srv_ccl_peers(struct srv *s);
/* How many ranks logical communicator comm has (0: no such communicator). In turn. */
int srv_ccl_ranks(struct srv *s, uint64_t comm);
/* The making of comm's live PreMulSum op `logical`, as a create request (op: logical). 0 or -1. */
int srv_ccl_redop_def(struct srv *s, uint64_t comm, int logical, struct xmig_ccl_redop_req *def);
/* ncclRedOpDestroy of comm's logical op: 0 or an ncclResult_t. */
int srv_ccl_redop_drop(struct srv *s, uint64_t comm, int logical);
/* Has communicator comm an NCCL communicator under it (built, or re-linked)? */
bool srv_ccl_linked(struct srv *s, uint64_t comm);
/* Do the backend's NCCL calls wait for their peers in the call (the sim double)? */
bool srv_ccl_calls_wait(struct srv *s);
/* NCCL calls a graph launch posted: counted for the cut. */
void srv_ccl_count(struct srv *s, const struct xmig_ccl_op *ops, size_t n);
/* One-rank communicators built again. ahead: from the prelude, while the
 * job runs; later, with the final manifest, those still the same are kept. */
int srv_ccl_restore(struct srv *s, json_t *manifest, bool ahead);
/* Changes whenever the job makes or ends a communicator (in its turn). */
uint64_t srv_ccl_generation(const struct srv *s);
/* The job runs again: communicators replaced at a re-link are aborted now, in the background. */
void srv_ccl_thawed(struct srv *s);
/* At exit: every old communicator aborted, the retiring thread joined. */
void srv_ccl_shutdown(struct srv *s);
/* A control connection closed: the communicators it had built ahead are retired. */
void srv_ccl_conn_closed(struct srv *s, struct ctl_conn *cc);

/* srv-link.c: the driver's JIT linker for the application (cuLink*) */
int d_LINK(struct xmig_call *c);

/* srv-host-func.c: host functions, run by the application's host-function thread */
int d_HOST_FUNC(struct xmig_call *c);

/* srv-graph.c: stream capture and CUDA graphs */
int d_CAPTURE_BEGIN(struct xmig_call *c);
int d_CAPTURE_END(struct xmig_call *c);
int d_CAPTURE_INFO(struct xmig_call *c);
int d_CAPTURE_DEPS(struct xmig_call *c);
int d_GRAPH_INSTANTIATE(struct xmig_call *c);
int d_GRAPH_LAUNCH(struct xmig_call *c);
int d_GRAPH_DESTROY(struct xmig_call *c);
int d_GRAPH_NODES(struct xmig_call *c);
int d_GRAPH_EXEC_UPDATE(struct xmig_call *c);
/* The id of the capture stream st is in (0: none). */
uint64_t srv_graph_capture_of(struct srv *s, struct srv_stream *st);
/* While a capture runs: must this request fail (a backend that captures no library calls)? */
bool srv_graph_refuses(struct xmig_call *c);
/* While a capture runs: a request that succeeded, kept in the log of the capture it landed in. */
void srv_graph_note(struct xmig_call *c);
/* The graphs, executable graphs and their capture logs, into a manifest. */
void srv_graph_manifest(struct srv *s, json_t *manifest);
/*
 * Make a manifest's graphs again, by capturing their logs on this proxy
 * (after its streams, events, kernels, variables, handles and pinned
 * memory are back); those made ahead with the same log are kept, others
 * dropped. 0, or -1 having said why.
 */
int srv_graph_restore(struct srv *s, json_t *manifest);
/* cudaDeviceReset: every graph and executable graph destroyed, no capture left. */
void srv_graph_reset(struct srv *s);
/* 0, or -1 and why: a capture is in progress, or a graph's log cannot be replayed. */
int srv_graph_held(struct srv *s, char *why, size_t len);
/* A cuDNN handle or descriptor (by serial) is destroyed: the logs whose Executes name it cannot be replayed. */
void srv_graph_dnn_destroyed(struct srv *s, uint64_t serial);
/*
 * 0, or -1 and why: a capture in progress holds an NCCL call on a
 * communicator with peers, or a graph holding one cannot be captured again,
 * so the process's ranks may not be cut nor re-linked (every rank of a job
 * is, when one moves). Called frozen (the tables are the workers').
 */
int srv_graph_refuses_relink(struct srv *s, char *why, size_t len);
/*
 * Communicator comm was re-linked (frozen): the driver graphs whose NCCL
 * calls ran on its old communicator are released, each captured again at
 * its next use. How many.
 */
size_t srv_graph_relinked(struct srv *s, uint64_t comm);
/* The NCCL calls of a CCL_COLL or CCL_GROUP body of len bytes (*n of them); NULL if none or short. */
const struct xmig_ccl_op *srv_ccl_ops_of(uint32_t op, const void *body, size_t len, uint32_t *n);
/* A request's NCCL calls if it launches a graph holding some (the cut's gate), else NULL. */
const struct xmig_ccl_op *srv_graph_launch_ops(struct srv *s, const struct xmig_req *req,
					       size_t *n);

/* move.c: the control side of freezes and moves */
void srv_move_conn_closed(struct srv *s, struct ctl_conn *cc);

#endif
