/*
 * dnn-log.h - cuDNN objects of the proxy (handles and backend descriptors)
 * under the logical ids the application holds, and the log of what was
 * done to them, from which a new proxy makes them again after a move.
 *
 * Included by server.h (after struct srv_table). The log is kept apart
 * from the backends: replay calls them through struct dnn_replay_ops, so
 * the unit tests can drive it with a recording fake.
 */
#ifndef XMIG_DNN_LOG_H
#define XMIG_DNN_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum dnn_kind { DNN_HANDLE = 1, DNN_DESC };

struct dnn_obj {
	uint64_t id;
	int kind;               /* enum dnn_kind */
	int type;               /* a descriptor's cudnnBackendDescriptorType_t */
	void *h;                /* backend object; NULL once the application destroyed it */
	bool destroyed;         /* by the application; kept while steps need it */
	bool finalized;
	uint64_t refs;          /* live steps naming it other than as their owner */
	uint64_t stream;        /* a handle's logical stream id */
	uint64_t serial;        /* which object: ids are reused, serials not (0: unknown) */
	uint64_t bound_stream;  /* a handle's logical stream its backend object is set to */
};

/*
 * What was done, in call order: replaying the steps in that order meets
 * every dependency, since a call can only name objects that existed and
 * were set up before it.
 *   SET       cudnnBackendSetAttribute on desc (elements in wire form:
 *             handles and descriptors as ids)
 *   FINALIZE  cudnnBackendFinalize on desc
 *   FILL      cudnnBackendGetAttribute of type BACKEND_DESCRIPTOR on desc
 *             (the source), which filled the `count` target descriptors
 *             (ids in elems; their types in target_types)
 */
enum dnn_step_kind { DNN_STEP_SET = 1, DNN_STEP_FINALIZE, DNN_STEP_FILL };

struct dnn_step {
	int kind;
	uint64_t desc;
	int32_t name, type;
	int64_t count;
	unsigned char *elems;
	size_t bytes;
	int32_t *target_types;  /* FILL */
	uint64_t serial;        /* this proxy's: which step, as recorded (a changed one gets another) */
	json_t *json;           /* its manifest entry, made once (NULL: not yet, or changed since) */
};

struct dnn_log {
	struct srv_table objs;
	struct dnn_step *steps;
	size_t nsteps, cap;
	uint64_t next_serial;
	uint64_t next_step;     /* step serials */
	size_t kept;            /* objects the last dnn_log_advance kept */
};

/* The backend, as the replay sees it: cudnnStatus_t values. */
struct dnn_replay_ops {
	int (*create)(void *ctx, struct dnn_obj *o);     /* sets o->h (a handle: and its stream) */
	int (*destroy)(void *ctx, struct dnn_obj *o);
	int (*set)(void *ctx, struct dnn_obj *o, int name, int type, int64_t count,
		   const void *elems);
	int (*finalize)(void *ctx, struct dnn_obj *o);
	int (*fill)(void *ctx, struct dnn_obj *src, int name, int type, int64_t count,
		    void *const *targets);
};

void dnn_log_init(struct dnn_log *l);
/* A new object under a fresh id (0 if out of memory). */
uint64_t dnn_log_add(struct dnn_log *l, int kind, int type, void *h);
struct dnn_obj *dnn_log_get(const struct dnn_log *l, uint64_t id);
/* A live object of this kind (not destroyed), or NULL. */
struct dnn_obj *dnn_log_live(const struct dnn_log *l, uint64_t id, int kind);
/* The id of the live handle whose backend object is h (0 if none). */
uint64_t dnn_log_handle_id(const struct dnn_log *l, void *h);

/* Wire elements (ids) to backend pointers; -1 if one names no live object. */
int dnn_log_native(const struct dnn_log *l, int type, int64_t count, const void *wire,
		   void *native);

/* Record a successful call. 0, or -1 when out of memory. */
int dnn_log_set(struct dnn_log *l, uint64_t desc, int name, int type, int64_t count,
		const void *wire);
int dnn_log_finalize(struct dnn_log *l, uint64_t desc);
int dnn_log_fill(struct dnn_log *l, uint64_t src, int name, int type, int64_t count,
		 const uint64_t *targets);
/* The application destroyed it (its backend object is gone already). */
void dnn_log_destroy(struct dnn_log *l, uint64_t id);

/* Make every object of the log again through ops, then destroy those the
 * application had destroyed. 0, or the first failing status. */
int dnn_log_replay(struct dnn_log *l, const struct dnn_replay_ops *ops, void *ctx);

/*
 * Bring the backend objects made ahead from an earlier log (l, replayed
 * while the job still ran) up to a later log of the same proxy (now, read
 * from the final manifest, no backend objects yet): objects both logs have
 * from the same creation keep theirs, new ones are made, the steps logged
 * since are replayed, and what the application dropped in between is
 * destroyed. Then now holds every backend object and l none.
 * -1, changing nothing, when now does not continue l (the caller replays
 * from scratch); else 0 or the first failing status (nothing left made).
 */
int dnn_log_advance(struct dnn_log *l, struct dnn_log *now, const struct dnn_replay_ops *ops,
		    void *ctx);
/* Destroy every backend object the log holds (the records stay). */
void dnn_log_release(struct dnn_log *l, const struct dnn_replay_ops *ops, void *ctx);

/* The log as a manifest section, and back (into an empty log). */
json_t *dnn_log_to_json(const struct dnn_log *l);
int dnn_log_from_json(struct dnn_log *l, json_t *j);
/* One object or step of the section, and back into l (objects before the steps
 * that name them; dnn-delta.c uses these). */
json_t *dnn_obj_to_json(const struct dnn_obj *o);
json_t *dnn_step_to_json(const struct dnn_step *st);
int dnn_log_put_obj_json(struct dnn_log *l, json_t *o);
int dnn_log_put_step_json(struct dnn_log *l, json_t *o);
/* Add a copy of object o, or of step st, to l. */
int dnn_log_put_obj(struct dnn_log *l, const struct dnn_obj *o);
int dnn_log_put_step(struct dnn_log *l, const struct dnn_step *st);
/* Backend objects and records gone (the proxy ends or starts over). */
void dnn_log_clear(struct dnn_log *l);

/*
 * The tensors a plan reaches in the log (through the descriptors its
 * steps name, and back from a filled descriptor to what it was filled
 * from: an engine configuration to its heuristics, and so to the
 * operation graph): each non-virtual one's unique id and the bytes its
 * dimensions and strides span (0: not sized here, such as a type xmig
 * does not know or a vectorised layout; DNN_TOO_BIG: more than 2^40).
 * How many (at most cap written), or -1 out of memory.
 */
#define DNN_TOO_BIG UINT64_MAX
struct dnn_tensor_span {
	int64_t uid;
	uint64_t bytes;
};
long dnn_log_plan_tensors(const struct dnn_log *l, uint64_t plan, struct dnn_tensor_span *out,
			  size_t cap);

#endif
