/*
 * ccl.h - Flexible CCL: the proxy's NCCL layer.
 *
 * The application holds logical communicators (ids); under each the proxy
 * keeps a physical one made by a backend (nccl-real.c: the job's own NCCL,
 * dlopened; nccl-sim.c: the sim test double). A move tears the physical
 * communicator out and builds another under the same logical id, from the
 * caches (cache.c); the old one is retired, ended off the critical path
 * (relink.c). Every proxy counts what it posted on each communicator
 * so that the ranks of a job can stop at one consistent cut (cut.c).
 * Results are ncclResult_t values.
 */
#ifndef XMIG_CCL_H
#define XMIG_CCL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../proxy/api/ops.h"

/* ---- backends ------------------------------------------------------------ */

struct ccl_backend {
	const char *name;               /* "nccl" or "sim" */
	/* Calls wait for their peers (the sim double): run them outside the turn. */
	bool calls_wait;
	/*
	 * With calls_wait: set up what op needs of comm's connections, meeting
	 * the peers, as NCCL's runtime connect (its default since 2.22) does in
	 * a communicator's first collective, holding its caller until every
	 * rank posted one. The proxy calls it in the turn, before the call
	 * runs outside it. NULL: nothing to set up.
	 */
	int (*connect)(void *dev, void *comm, const struct xmig_ccl_op *op);
	/* Entry points the loaded library has beyond 2.28's (e.g. "ncclCommGrow"). */
	const char *(*extras)(void);
	int (*unique_id)(void *dev, unsigned char id[XMIG_CCL_ID_BYTES]);
	int (*init)(void *dev, int nranks, int rank, int nids,
		    const unsigned char (*ids)[XMIG_CCL_ID_BYTES],
		    const struct xmig_ccl_config *cfg, void **comm);
	/* *comm NULL: this rank is in no part (NCCL_SPLIT_NOCOLOR). */
	int (*split)(void *dev, void *parent, int color, int key,
		     const struct xmig_ccl_config *cfg, void **comm);
	int (*shrink)(void *dev, void *parent, const int *exclude, int nexclude,
		      const struct xmig_ccl_config *cfg, int flags, void **comm);
	int (*end)(void *dev, void *comm, int kind);   /* enum xmig_ccl_end_kind */
	int (*size)(void *dev, void *comm, int *nranks, int *rank);
	int (*async_error)(void *dev, void *comm, int *result);
	const char *(*last_error)(void *dev, void *comm);
	/* A PreMulSum op; scalar: the value (host) or its device address. */
	int (*redop_create)(void *dev, void *comm, int datatype, int residence,
			    const void *scalar, int *op);
	int (*redop_destroy)(void *dev, void *comm, int op);
	int (*group_start)(void *dev);
	int (*group_end)(void *dev);
	/* One call; redop already physical; stream a device backend stream. */
	int (*coll)(void *dev, void *comm, const struct xmig_ccl_op *op, int redop, void *stream);
	/*
	 * Make comm's connections before its first collective (a re-link built
	 * ahead, ccl.prelink), meeting every rank: small and large all-reduces,
	 * then one element sent to each of send_to and received from each of
	 * recv_from in one group (the peers the job exchanges with: NCCL
	 * connects point-to-point channels per peer), enqueued on stream,
	 * their buffer in *scratch until the stream is done (scratch_free; the
	 * caller waits timeout_ms at most); or, with calls_wait, the connect
	 * itself, done on return, waiting timeout_ms at most (*scratch NULL).
	 * NULL: not supported (the first collective connects, as it always did).
	 */
	int (*connect_ahead)(void *dev, void *comm, void *stream, int timeout_ms,
			     const int *send_to, int nsend, const int *recv_from, int nrecv,
			     void **scratch);
	void (*scratch_free)(void *dev, void *scratch);
};

extern const struct ccl_backend ccl_backend_nccl;
extern const struct ccl_backend ccl_backend_sim;

/* ---- logical communicators (comm.c) --------------------------------------- */

/* A PreMulSum op the application holds; made again on every rebuild. */
struct ccl_redop {
	int logical, physical;
	int datatype, residence;
	unsigned char scalar[16];
	uint64_t scalar_ptr;
	bool live;
};

struct ccl_comm {
	uint64_t id;                    /* what the application holds */
	uint64_t key;                   /* the same on every rank: hash of how it was made */
	int nranks, rank;
	struct xmig_ccl_config cfg;
	void *phys;                     /* backend communicator; NULL while unlinked */
	uint64_t generation;            /* physical communicators it has had */
	uint64_t nsplits;               /* splits made from it, for their keys */
	uint64_t colls;                 /* collectives posted: the cut counter */
	uint64_t *sent, *recvd;         /* point-to-point calls posted, per peer */
	int async_error;                /* first failure of a posted call */
	char last_error[256];
	struct ccl_redop *redops;
	size_t nredops;
	double init_s, rebuild_s;       /* how long the first and the last build took */
	pthread_mutex_t *lock;          /* its table's: around a change to redops */
};

struct ccl_table {
	struct ccl_comm **comms;
	size_t n, cap;
	uint64_t next_id;
	/*
	 * Around a change to comms (or a communicator's redops) and around
	 * ccl_table_json: the proxy changes the table in the job's turn and
	 * describes it to a control call that does not wait for the turn.
	 */
	pthread_mutex_t lock;
};

void ccl_table_init(struct ccl_table *t);
void ccl_table_free(struct ccl_table *t);
/* A new logical communicator (not linked yet); NULL when out of memory. */
struct ccl_comm *ccl_comm_new(struct ccl_table *t, uint64_t key, int nranks, int rank,
			      const struct xmig_ccl_config *cfg);
/* Under a given id (a restore); NULL if taken or out of memory. */
struct ccl_comm *ccl_comm_new_at(struct ccl_table *t, uint64_t id, uint64_t key, int nranks,
				 int rank, const struct xmig_ccl_config *cfg);
struct ccl_comm *ccl_comm_get(const struct ccl_table *t, uint64_t id);
struct ccl_comm *ccl_comm_by_key(const struct ccl_table *t, uint64_t key);
void ccl_comm_remove(struct ccl_table *t, uint64_t id);

/* Keys: the root's unique ids; a split's: its parent's, which split, which colour. */
uint64_t ccl_key_root(int nids, const unsigned char (*ids)[XMIG_CCL_ID_BYTES]);
uint64_t ccl_key_split(uint64_t parent, uint64_t ordinal, int color);

/* Count a posted call (it passed the checks). */
void ccl_count(struct ccl_comm *c, const struct xmig_ccl_op *op);
/* Is op well formed for c (ranks, types)? 0 or an ncclResult_t. */
int ccl_op_check(const struct ccl_comm *c, const struct xmig_ccl_op *op);

/* Live PreMulSum ops of one communicator, at most (values ncclNumOps on): past it, refused. */
#define CCL_REDOPS_MAX 65536

/* PreMulSum ops: logical values from ncclNumOps up, per communicator. */
struct ccl_redop *ccl_redop_add(struct ccl_comm *c);
struct ccl_redop *ccl_redop_find(const struct ccl_comm *c, int logical);
/* The physical op for a logical one (built-in ops map to themselves); -1 if none. */
int ccl_redop_physical(const struct ccl_comm *c, int logical);
/* A manifest's redop entry r made live in c under its logical value (its
 * physical op still to make); NULL if r is malformed or out of memory. */
struct ccl_redop *ccl_redop_from_json(struct ccl_comm *c, json_t *r);
/* Is op live and what manifest entry r describes? */
bool ccl_redop_matches(const struct ccl_redop *op, json_t *r);

/* Describe the table for status / a manifest, and read one back. */
json_t *ccl_comm_json(const struct ccl_comm *c);
/* Every communicator's ccl_comm_json, under the table's lock (any thread). */
json_t *ccl_table_json(struct ccl_table *t);
struct ccl_comm *ccl_comm_from_json(struct ccl_table *t, json_t *o);
/* The counters of a manifest entry (generation, splits, collectives, p2p). */
void ccl_comm_counters_from_json(struct ccl_comm *c, json_t *o);

/* ---- the consistent cut (cut.c) -------------------------------------------- */

/* Targets for one communicator: collectives, and p2p[a * nranks + b], calls from a to b. */
struct ccl_target {
	uint64_t key;
	int nranks;
	uint64_t colls;
	uint64_t *p2p;
};

struct ccl_cut {
	struct ccl_target *t;
	size_t n;
};

/* This proxy's counters: [{key, nranks, rank, colls, sent, recvd}]. */
json_t *ccl_cut_report(const struct ccl_table *t);
/*
 * From every rank's report (an array of reports), the targets every rank
 * must reach and not pass: most collectives any rank posted, and for each
 * pair the most calls either end posted. NULL and why if the reports
 * disagree (ranks missing, counts that differ).
 */
json_t *ccl_cut_targets(json_t *reports, char *why, size_t len);
int ccl_cut_parse(json_t *targets, struct ccl_cut *cut, char *why, size_t len);
void ccl_cut_free(struct ccl_cut *cut);
/* May these calls (one, or a group) run without passing a target? */
bool ccl_cut_admits(const struct ccl_table *t, const struct ccl_cut *cut,
		    const struct xmig_ccl_op *ops, size_t nops);
/* Has every communicator reached its targets? */
bool ccl_cut_reached(const struct ccl_table *t, const struct ccl_cut *cut);

/* ---- caches per communicator and node (cache.c) ------------------------------ */

struct ccl_cache_files {
	char topo[512], graph[512], info[512];
	bool have_topo, have_graph;
	char topo_dump[540], graph_dump[540];   /* where this process's build dumps them */
};

/*
 * The cache directory: $XMIG_CCL_CACHE, else RUNTIME/ccl-cache/NODE. The
 * topology is per node; the graphs per communicator and placement (which
 * GPUs its ranks are on: `layout`, or this GPU alone for one rank).
 */
int ccl_cache_dir(const char *runtime_dir, const char *node, char *dir, size_t len);
void ccl_cache_files(const char *dir, uint64_t key, const char *layout,
		     struct ccl_cache_files *f);
/*
 * Point NCCL at the cache for the next init: read what is there, dump what
 * is not (NCCL_TOPO_FILE / NCCL_TOPO_DUMP_FILE, NCCL_GRAPH_FILE /
 * NCCL_GRAPH_DUMP_FILE; f->graph empty: the topology only). The variables
 * are the process's: callers hold one lock from here to the init's end.
 * ccl_cache_unset takes them away again; ccl_cache_keep then puts what the
 * init dumped (to files of this process: the ranks of a node share the
 * directory) in place, whole, by rename.
 */
void ccl_cache_setenv(struct ccl_cache_files *f, int rank);
void ccl_cache_unset(void);
void ccl_cache_keep(const struct ccl_cache_files *f);
/* Record what a build found (bootstrap facts, times) beside the files. */
int ccl_cache_note(const struct ccl_cache_files *f, const struct ccl_comm *c,
		   const char *gpu_uuid, bool rebuilt);

/* ---- NCCL's variables for one build (env.c) ------------------------------------ */

/* xmig's defaults for the job's NCCL (RAS off unless the job sets it); at the proxy's start. */
void ccl_env_defaults(void);
/*
 * At the proxy's start, before any thread and any NCCL call: NCCL_ENV_PLUGIN
 * names xmig's plugin (plugin), opened here first. -1: not (the job has
 * its own, or the file is unusable); the variables then go through the
 * environment.
 */
int ccl_env_arm(const char *plugin);
/* Do the variables go through the plugin? (The job's NCCL is 2.28.7 or later.) */
bool ccl_env_via_plugin(void);
/* Set name for NCCL's next init; value NULL: the job's own value again. */
int ccl_env_set(const char *name, const char *value);
/* The job's own value of name, whatever xmig set since; NULL if none. */
const char *ccl_env_own(const char *name);
/* After an init: if NCCL did not take the plugin up, go through the environment. */
void ccl_env_after_init(void);
/* The job's NCCL version code (22809 for 2.28.9), loading it; 0 when it cannot be loaded. */
int ccl_nccl_version(void);

/* ---- around a re-link (relink.c) ---------------------------------------------- */

/*
 * What the standby proxy does ahead of a move, while the job still runs:
 * NCCL's once-per-process set-up (loading, threads, the node's topology)
 * paid by a one-rank communicator, made and destroyed. f: the node's cache
 * (its topology is read, or dumped by this build; NULL: none); rank: the
 * process's rank in the job's communicators. 0 or an ncclResult_t.
 */
int ccl_warm_up(const struct ccl_backend *b, void *dev, const struct ccl_cache_files *f,
		int rank, double *secs);

/*
 * Old physical communicators, replaced by a re-link: queued (ccl_retire),
 * aborted by a background thread once released (ccl_retire_release: the
 * job runs again), all of them, released or not, by ccl_retire_drain,
 * which joins the thread (at exit; the list is usable again after it).
 */
struct ccl_retired;
struct ccl_retire {
	const struct ccl_backend *b;
	void *dev;
	int (*bind)(void *dev);         /* the device current on the thread; NULL: none */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ccl_retired *head;
	pthread_t th;
	bool started, stop, busy;
	uint64_t queued, aborted;       /* communicators so far */
	double abort_s;                 /* time spent in their aborts */
};

void ccl_retire_init(struct ccl_retire *r, const struct ccl_backend *b, void *dev,
		     int (*bind)(void *dev));
/* Take comm (no longer anyone's) to be aborted later; aborted now if no thread can run. */
void ccl_retire(struct ccl_retire *r, void *comm, uint64_t key);
void ccl_retire_release(struct ccl_retire *r);
/* Queued or being aborted. */
size_t ccl_retire_pending(struct ccl_retire *r);
void ccl_retire_drain(struct ccl_retire *r);

#endif
