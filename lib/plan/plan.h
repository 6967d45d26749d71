/*
 * plan.h - internal interface of the consolidation planner (lib/plan/).
 *
 * The planner reads a cluster state (state.c, schema in
 * share/schema/cluster-state.schema.json), lets one algorithm propose moves,
 * orders them so every intermediate state fits (sequence.c), groups them into
 * waves (waves.c), and replays the result with the checker (check.c) before
 * it is written out (plan.c, share/schema/plan.schema.json). The same checker
 * replays any plan read back from a file, so a plan is only ever trusted after
 * a replay.
 *
 * Resources are integers so that fit checks are exact: a GPU's share is
 * XP_ONE units, CPUs are millicores, memory is bytes.
 */
#ifndef XMIG_PLAN_H
#define XMIG_PLAN_H

#include <limits.h>

#include "../xmig.h"

#define XP_ONE 1000000            /* a whole GPU in share units */
#define XP_MAX_TASK_GPUS 16
#define XP_MAX_NODE_GPUS 64
#define XP_MAX_MODELS 64

/* ---- JSON fields, errors naming their path (jfield.c) ------------------ */

/*
 * Each reads obj[key]; path names obj in messages ("state: nodes[3]"). A
 * missing optional field gives def. Return 0, or -1 after an error message.
 */
/*
 * The JSON document in file path ("-": standard input), or NULL after an
 * error that names it as what ("state", "plan"): missing or unreadable, a
 * directory, larger than 256 MiB, or not JSON (with the line and column).
 */
json_t *xp_json_load_file(const char *path, const char *what);
int xp_jint(json_t *obj, const char *key, const char *path, bool required,
	    long long min, long long max, long long def, long long *out);
int xp_jnum(json_t *obj, const char *key, const char *path, bool required,
	    double min, double max, double def, double *out);
int xp_jstr(json_t *obj, const char *key, const char *path, const char **out);
int xp_jbool(json_t *obj, const char *key, const char *path, bool required, bool def, bool *out);
/* Required array (may be empty) / object member. */
json_t *xp_jarray(json_t *obj, const char *key, const char *path);
json_t *xp_jobject(json_t *obj, const char *key, const char *path);

/* ---- cluster state (state.c) ----------------------------------------- */

struct xp_gpu {
	int node;             /* index into nodes */
	int index;            /* the GPU's index on its node ("gpuN") */
	int model;            /* index into models */
	uint64_t mem;         /* device memory, bytes */
};

struct xp_node {
	char *name;
	int64_t cpu_m;        /* millicores; INT64_MAX when the state gives none */
	uint64_t mem;         /* host memory; UINT64_MAX when the state gives none */
	int gpu0, ngpus;      /* its GPUs are gpus[gpu0 .. gpu0+ngpus-1] */
	int comp;             /* component: nodes no task can move between differ */
};

/* Where a task's GPU side is: one node, some of its GPUs (global ids). */
struct xp_place {
	int node, ngpus;
	int gpus[XP_MAX_TASK_GPUS];
};

struct xp_task {
	char *id, *job;
	long rank;
	struct xp_place home;  /* where it is in the state */
	int64_t share;         /* per GPU, XP_ONE = whole GPU */
	uint64_t bytes;        /* device bytes in all (what a move copies) */
	uint64_t bpg;          /* device bytes per GPU (bytes split evenly) */
	int64_t cpu_m;         /* host resources it holds where its GPU side runs */
	uint64_t mem;
	bool movable;
	uint64_t models;       /* bit m: may run on models[m] */
	int group;
};

/*
 * A group is the tasks of one job on one node: they move together, to one
 * node, so ranks that share NVLink are never split. A group is movable only
 * when every member is.
 */
struct xp_group {
	int first, n;          /* members: gtask[first .. first+n-1] */
	int node;
	bool movable;
	uint64_t bytes;
	int gpus;              /* GPUs its members hold in all */
};

struct xp_state {
	int nnodes, ngpus, ntasks, ngroups, nmodels, ncomps;
	struct xp_node *nodes;
	struct xp_gpu *gpus;
	struct xp_task *tasks;
	struct xp_group *groups;
	int *gtask;
	char *models[XP_MAX_MODELS];
	void *lookup;          /* sorted indices for lookups by name (state.c) */
};

/* Parse and validate; every problem is reported with its JSON path. On error st holds nothing. */
int xp_state_from_json(json_t *doc, struct xp_state *st);
/* Read a file ("-" = stdin). */
int xp_state_load(const char *path, struct xp_state *st);
void xp_state_free(struct xp_state *st);
json_t *xp_state_to_json(const struct xp_state *st);
int xp_find_node(const struct xp_state *st, const char *name);
/* Global GPU id of GPU `index` on node, or -1. */
int xp_find_gpu(const struct xp_state *st, int node, long long index);
int xp_find_task(const struct xp_state *st, const char *id);
bool xp_place_equal(const struct xp_place *a, const struct xp_place *b);
/* "node:gpu0,gpu1" */
const char *xp_place_str(const struct xp_state *st, const struct xp_place *p, char *buf, size_t len);

/*
 * Live mode (live.c): build a state document from `xmig nodes --json` and
 * `xmig ps --all --json` (schemas in xmig-plan(1)). Returns a new reference
 * or NULL after an error message.
 */
json_t *xp_state_from_live(json_t *nodes_doc, json_t *ps_doc);

/*
 * Run `xmig [--nodes FILE] nodes --json` and `xmig ps --all --json` (xmig is
 * the path of the binary) and convert. Returns 0, or the exit status to end
 * with: XMIG_EXIT_UNAVAILABLE when a command fails, XMIG_EXIT_BADINPUT when
 * its output is not what the schemas say.
 */
int xp_state_live(const char *xmig, const char *nodes_file, struct xp_state *st);

/* ---- subprocesses (spawn.c) ------------------------------------------ */

/* Start argv[0] (a path) with stdout on a pipe (*out_fd), stderr inherited. */
int xp_spawn(char *const argv[], pid_t *pid, int *out_fd);
/* Read a pipe to EOF into a NUL-terminated buffer; caller frees. */
char *xp_read_all(int fd);
/* Run argv to completion; *out gets stdout, *status the waitpid status. */
int xp_run_capture(char *const argv[], char **out, int *status);
/* "exit status 3", "killed by signal 9" */
const char *xp_status_str(int status, char *buf, size_t len);

/* ---- occupancy (usage.c) ---------------------------------------------- */

/* Told whenever a node's usage changes (an algorithm's index or cache). */
struct xp_watch {
	void (*touch)(struct xp_watch *w, const struct xp_state *st, int node);
};

struct xp_usage {
	int64_t *gshare;      /* per GPU */
	uint64_t *gmem;
	int *gcount;          /* tasks on the GPU */
	int64_t *ncpu;        /* per node */
	uint64_t *nmem;
	int *ncount;          /* tasks on the node */
	struct xp_watch *watch;  /* may be NULL */
};

int xp_usage_init(struct xp_usage *u, const struct xp_state *st);
void xp_usage_free(struct xp_usage *u);
/* Add (sign 1) or remove (sign -1) task t at p; host resources only if host. */
void xp_usage_apply(struct xp_usage *u, const struct xp_state *st, int t,
		    const struct xp_place *p, int sign, bool host);
/* Everything at its home. */
void xp_usage_fill_home(struct xp_usage *u, const struct xp_state *st);
/*
 * May task t be added at p? from_node is where the task holds its host
 * resources already (an intra-node move does not hold them twice), or -1.
 */
bool xp_fits(const struct xp_usage *u, const struct xp_state *st, int t,
	     const struct xp_place *p, int from_node);
/* Free share of a GPU, empty GPUs of a node. */
static inline int64_t xp_gfree(const struct xp_usage *u, int g) { return XP_ONE - u->gshare[g]; }
int xp_node_empty_gpus(const struct xp_usage *u, const struct xp_state *st, int n);

/* ---- options, moves and plans (plan.c) ------------------------------- */

enum xp_objective { XP_OBJ_NODES, XP_OBJ_GPUS };

struct xp_opts {
	enum xp_objective objective;
	long max_moves;           /* -1: no limit */
	int64_t max_bytes;        /* -1: no limit */
	int concurrency;          /* moves in flight per node in one wave */
	double intra_bw, inter_bw;/* bytes/s: peer copy in a node, link between nodes */
	double overhead;          /* seconds per move besides the copy */
	double time_limit;        /* seconds, for the exact (ilp) algorithm */
	double threshold;         /* descheduler: utilisation below it is "under" */
};
void xp_opts_default(struct xp_opts *o);

enum xp_why { XP_WHY_DRAIN, XP_WHY_REPAIR, XP_WHY_PARK };

struct xp_move {
	int task;
	struct xp_place from, to;
	int wave;              /* 1.. ; 0 until assigned */
	int unit;              /* moves of one unit (a group) run together */
	enum xp_why why;
	double est;            /* seconds */
	uint64_t bytes;        /* as claimed in a plan read back */
};

struct xp_summary {
	int nodes_before, nodes_after, gpus_before, gpus_after;
	int moves, waves, units;
	uint64_t bytes;
	double est_seconds;
	double plan_seconds;
};

struct xp_plan {
	char algorithm[32];
	struct xp_opts opts;
	struct xp_move *moves;
	int nmoves, cap;
	struct xp_summary sum;
	double *wave_est;      /* seconds of wave w at [w-1] (waves.c) */
	/* Read from a file: what its summary claims, checked by the replay. */
	bool has_claims;
	int claim_nodes_freed, claim_gpus_freed, claim_moves;
	uint64_t claim_bytes;
	json_t *notes;         /* array of strings: what the user should know */
	json_t *info;          /* algorithm's own report (ilp: status, bound), or NULL */
	json_t *freed_nodes;   /* names, filled by the replay */
};

void xp_plan_init(struct xp_plan *p, const char *algorithm, const struct xp_opts *o);
void xp_plan_free(struct xp_plan *p);
int xp_plan_add(struct xp_plan *p, int task, const struct xp_place *to, int unit, enum xp_why why);
void xp_plan_note(struct xp_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
json_t *xp_plan_to_json(const struct xp_state *st, const struct xp_plan *p);
/*
 * Read a plan document against a state. Returns 0, -1 when the document is
 * malformed (XMIG_EXIT_BADINPUT) or -2 when it names tasks, nodes or GPUs
 * the state lacks (the plan does not fit this state).
 */
int xp_plan_from_json(json_t *doc, const struct xp_state *st, struct xp_plan *p);
/* A plan document of a version this xmig reads (0), or said (-1). */
int xp_plan_version_ok(json_t *doc);
/* Seconds one move takes on its own under the bandwidth model. */
double xp_move_seconds(const struct xp_opts *o, uint64_t bytes, bool intra);

/* ---- making a plan (planner.c, sequence.c, waves.c) ------------------ */

/*
 * An algorithm adds moves (task -> destination, one unit per group moved,
 * wave 0) in the order it means them; from is filled in later. It must
 * respect opts' budgets and return 0, or -1 after an error message.
 */
typedef int (*xp_algo_fn)(const struct xp_state *st, struct xp_plan *p);

struct xp_algo {
	const char *name;
	const char *summary;
	xp_algo_fn run;
};
extern const struct xp_algo xp_algos[];
const struct xp_algo *xp_algo_find(const char *name);

/* Run an algorithm and finish its plan: sequence, waves, times, replay. */
int xp_plan_make(const struct xp_state *st, const char *algorithm,
		 const struct xp_opts *o, struct xp_plan *p);

/*
 * Put moves in an order where each fits when run alone after the ones before
 * it (the task holds both ends while it moves), parking a blocking group
 * elsewhere when moves wait on each other; moves that still cannot run are
 * dropped (noted). Fills from. Keeps budgets (cutting whole units).
 */
int xp_sequence(const struct xp_state *st, struct xp_plan *p);
/* Assign waves: runs in parallel, per-node cap, every wave fits. */
int xp_waves(const struct xp_state *st, struct xp_plan *p);

/* ---- replay (check.c) ------------------------------------------------- */

struct xp_check {
	bool ok;
	char error[512];       /* first reason a plan is rejected */
	int move;              /* index of the offending move, -1 if none */
	struct xp_summary sum; /* what the replay found (up to the error) */
	json_t *freed_nodes;   /* names of nodes used before and empty after */
};

/*
 * Replay p wave by wave on st. Rejects: non-movable tasks moved, moves from
 * where the task is not, GPU counts that split a task, GPU models a task may
 * not use, over-commit of share, device memory, CPUs or host memory while
 * moves are in flight, a task twice in a wave, waves out of order, more than
 * opts.concurrency moves at a node in a wave, ranks of a job that were on
 * one node ending a wave apart, budgets exceeded, device_bytes that are not
 * the task's, and summary claims the replay does not reproduce.
 */
void xp_check_plan(const struct xp_state *st, const struct xp_plan *p, struct xp_check *c);
void xp_check_free(struct xp_check *c);
/* Count used nodes and GPUs of a usage. */
void xp_count_used(const struct xp_usage *u, const struct xp_state *st, int *nodes, int *gpus);

/* ---- shared by the algorithms (search.c) ------------------------------ */

/* Is model m among the task's allowed ones. */
static inline bool xp_model_ok(const struct xp_state *st, int t, int model)
{
	return (st->tasks[t].models >> model) & 1;
}
/*
 * Best-fit place for task t on node n given u: the GPUs that leave the least
 * free share (empty GPUs for whole-GPU tasks, tightest memory after), with
 * the task's host resources counted unless from_node == n. Returns false if
 * it does not fit. skip (may be NULL) marks GPUs not to use.
 */
bool xp_bestfit_on_node(const struct xp_usage *u, const struct xp_state *st, int t, int n,
			int from_node, const bool *skip, struct xp_place *out);
/* Same, but the GPUs with the most free share (spread). */
bool xp_spread_on_node(const struct xp_usage *u, const struct xp_state *st, int t, int n,
		       int from_node, struct xp_place *out);
/*
 * Place every member of group g on node n (best-fit), adding each to u. cur
 * holds every task's position: members are still counted there (a move holds
 * both ends), so host resources are not added again on their own node. With
 * cur NULL the members are not in u at all. On success fills places[]
 * (member order) and leaves them added; on failure leaves u as it was.
 */
bool xp_group_place(struct xp_usage *u, const struct xp_state *st, int g, int n,
		    const struct xp_place *cur, const bool *skip, struct xp_place *places);
void xp_group_unplace(struct xp_usage *u, const struct xp_state *st, int g,
		      const struct xp_place *cur, const struct xp_place *places);
/* End of a move placed with cur: release the old places, cur := places. */
void xp_group_release(struct xp_usage *u, const struct xp_state *st, int g,
		      struct xp_place *cur, const struct xp_place *places);
/* Share-load of a node in [0,1] (used share over its GPUs). */
double xp_node_load(const struct xp_usage *u, const struct xp_state *st, int n);
/* qsort_r order of group indices, larger first: GPUs x share, CPUs, bytes. */
int xp_group_cmp_size(const void *a, const void *b, void *state);
/* The same, CPU-heaviest first; smallest first. */
int xp_group_cmp_cpu(const void *a, const void *b, void *state);
int xp_group_cmp_small(const void *a, const void *b, void *state);
/* Can any member of the group go to model m (all must). */
bool xp_group_model_ok(const struct xp_state *st, int g, int model);

/* ---- tasks on each node, kept current as tasks move (roster.c) --------- */

struct xp_roster {
	int **on, *n, *cap, *pos;
	int nnodes;
};
/* Starts with every task at its home. */
int xp_roster_init(struct xp_roster *r, const struct xp_state *st);
void xp_roster_free(struct xp_roster *r);
int xp_roster_move(struct xp_roster *r, int t, int from_node, int to_node);

/* ---- best-fit index over target GPUs and nodes (index.c) -------------- */

/*
 * GPUs in buckets of free share per model, nodes in buckets of empty GPUs
 * per component, each only while the algorithm says it may receive tasks.
 * It watches the usage it was built on and re-files a node when it changes.
 */
struct xp_index {
	struct xp_watch watch;
	const struct xp_state *st;
	const struct xp_usage *u;
	bool (*gpu_member)(void *arg, int g);
	bool (*node_member)(void *arg, int n);
	void *arg;
	int *ghead, *gnext, *gprev, *gbucket;
	uint64_t *gbits;        /* per model, a bit per share bucket that holds a GPU */
	int *nhead, *nnext, *nprev, *nbucket;
};
int xp_index_init(struct xp_index *ix, const struct xp_state *st, struct xp_usage *u,
		  bool (*gpu_member)(void *, int), bool (*node_member)(void *, int), void *arg);
void xp_index_free(struct xp_index *ix);
/* Re-file node n after its membership changed. */
void xp_index_refile(struct xp_index *ix, int n);
/* The first GPU of model m filed under share bucket b (free / 1000); -1 if none. */
int xp_index_bucket_first(const struct xp_index *ix, int m, int b);
/* The GPU after g in its bucket; -1 at the end. */
static inline int xp_index_bucket_next(const struct xp_index *ix, int g)
{
	return ix->gnext[g];
}
/* The first node of component c filed with e empty GPUs; -1 if none. */
int xp_index_empty_first(const struct xp_index *ix, int c, int e);
/* The node after n in its bucket; -1 at the end. */
static inline int xp_index_empty_next(const struct xp_index *ix, int n)
{
	return ix->nnext[n];
}
/* Tightest target GPU for a one-GPU task (any share); false if none. */
bool xp_index_gpu(const struct xp_index *ix, int t, const bool *skip, struct xp_place *out);
/* Target node with the fewest empty GPUs that takes whole-GPU task t. */
bool xp_index_node(const struct xp_index *ix, int t, const bool *skip, struct xp_place *out);

/* ---- sequential drain engine for the baselines (drain.c) -------------- */

/* What a destination chooser may use. */
struct xp_drain_ctx {
	const bool *node_ok;      /* nodes that may receive tasks */
	const bool *gpu_skip;     /* GPUs that may not (NULL: none) */
	const struct xp_place *cur;
};

struct xp_drain_policy {
	/* Order of candidate units, lower first; a unit is a node or a GPU. */
	double (*order)(const struct xp_state *st, const struct xp_usage *u, int unit, bool per_gpu,
			void *arg);
	/* Pick a destination for task t (it is still counted where it is). */
	bool (*dest)(const struct xp_state *st, const struct xp_usage *u, const struct xp_drain_ctx *cx,
		     int t, struct xp_place *out, void *arg);
	/* Leave a unit alone (descheduler: not under-utilised). May be NULL. */
	bool (*skip)(const struct xp_state *st, const struct xp_usage *u, int unit, bool per_gpu, void *arg);
	bool all_or_nothing;   /* undo a unit's moves when any group cannot go */
	bool per_gpu;          /* units are GPUs (objective gpus), else nodes */
	struct xp_watch *watch;/* installed on the engine's usage; may be NULL */
	void *arg;
};
int xp_drain_run(const struct xp_state *st, struct xp_plan *p, const struct xp_drain_policy *pol);
/* Best-fit destination: the tightest GPU, then the fullest node. */
bool xp_dest_bestfit(const struct xp_state *st, const struct xp_usage *u, const struct xp_drain_ctx *cx,
		     int t, struct xp_place *out, void *arg);
/* Unit order by load (share used over share there), ascending. */
double xp_order_load(const struct xp_state *st, const struct xp_usage *u, int unit, bool per_gpu,
		     void *arg);

/* ---- the algorithms (algo-*.c) ---------------------------------------- */

int xp_algo_xmig(const struct xp_state *st, struct xp_plan *p);
int xp_algo_ffd(const struct xp_state *st, struct xp_plan *p);
int xp_algo_bestfit(const struct xp_state *st, struct xp_plan *p);
int xp_algo_descheduler(const struct xp_state *st, struct xp_plan *p);
int xp_algo_fgd(const struct xp_state *st, struct xp_plan *p);
int xp_algo_ilp(const struct xp_state *st, struct xp_plan *p);

/* ---- apply (apply.c) ------------------------------------------------- */

struct xp_apply_opts {
	bool dry_run;
	bool stop_on_error;
	int concurrency;          /* migrate commands running at once */
	const char *migrate_cmd;  /* program run as `CMD migrate --job ...` */
	const char *nodes_file;   /* passed on as --nodes FILE, or NULL */
	/* Fresh state before each wave (live mode); NULL: keep the one given. */
	int (*refresh)(struct xp_state *st, void *arg);
	void *refresh_arg;
};

/*
 * Execute the plan document against st, which apply keeps current (moves
 * that succeed update it; refresh replaces it between waves). Returns 0 with
 * *report set (1: the same, but the state could not be read again before a
 * wave, whose moves and the later ones were skipped), -1 when the plan is
 * malformed, -2 when apply itself failed.
 */
int xp_apply(struct xp_state *st, json_t *plan_doc, const struct xp_apply_opts *o, json_t **report);

#endif
