/*
 * test-dnn-log.c - the cuDNN object log on its own, replayed into a fake
 * backend that records its calls: the element sizes of every attribute
 * type, ids to backend objects, the replay order (handles, descriptors,
 * then the steps in call order), destroyed objects kept while a live step
 * needs them, stand-ins for dropped fill targets, the manifest round trip
 * a failing replay that leaves nothing behind, and the delta a move's
 * freeze sends instead of the whole log (and its refusal of a wrong base).
 */
#include <string.h>

#include "proxy/server/dnn-delta.c"
#include "proxy/server/dnn-log.c"
#include "proxy/server/objects.c"
#include "unit.h"

/* ---- a fake backend: objects are small integers, calls are a string ---- */

static char trace[4096];
static uintptr_t next_h = 100;
static int fail_finalize_of = -1;   /* a descriptor type whose finalize fails */
static int live_objects;

static void say(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(trace);

	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

static int f_create(void *ctx, struct dnn_obj *o)
{
	o->h = (void *)next_h++;
	live_objects++;
	if (o->kind == DNN_HANDLE)
		say("H%llu ", (unsigned long long)o->id);
	else
		say("C%d ", o->type);
	return 0;
}

static int f_destroy(void *ctx, struct dnn_obj *o)
{
	live_objects--;
	say("D%d ", o->type);
	return 0;
}

static int f_set(void *ctx, struct dnn_obj *o, int name, int type, int64_t count,
		 const void *elems)
{
	say("S%d.%d", o->type, name);
	if (xmig_dnn_type_is_ref(type))
		for (int64_t i = 0; i < count; i++)
			say("%s%lu", i ? "," : "=", (unsigned long)(uintptr_t)((void *const *)elems)[i]);
	say(" ");
	return 0;
}

static int f_finalize(void *ctx, struct dnn_obj *o)
{
	say("F%d ", o->type);
	return o->type == fail_finalize_of ? CUDNN_STATUS_NOT_SUPPORTED : 0;
}

static int f_fill(void *ctx, struct dnn_obj *src, int name, int type, int64_t count,
		  void *const *targets)
{
	say("G%d>%lld ", src->type, (long long)count);
	return 0;
}

static const struct dnn_replay_ops fake = { f_create, f_destroy, f_set, f_finalize, f_fill };

static void reset(void)
{
	trace[0] = '\0';
	next_h = 100;
	live_objects = 0;
}

/* ---- helpers ---- */

static uint64_t desc(struct dnn_log *l, int type)
{
	return dnn_log_add(l, DNN_DESC, type, (void *)next_h++);
}

static void set_refs(struct dnn_log *l, uint64_t d, int name, int type, int n, ...)
{
	uint64_t ids[8];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		ids[i] = va_arg(ap, uint64_t);
	va_end(ap);
	dnn_log_set(l, d, name, type, n, ids);
}

enum { T = CUDNN_BACKEND_TENSOR_DESCRIPTOR, OP = CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
       HEUR = CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CFG = CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
       PLAN = CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR };

/* A handle, two tensors, an operation on them, heuristics filling two
 * engine configs, a plan from the first. Ids: h 1, t1 2, t2 3, op 4,
 * heur 5, e1 6, e2 7, plan 8. */
static void build(struct dnn_log *l)
{
	int64_t uid = 7;
	uint64_t fill[2];

	dnn_log_init(l);
	dnn_log_add(l, DNN_HANDLE, 0, (void *)next_h++);
	desc(l, T);
	desc(l, T);
	dnn_log_set(l, 2, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	dnn_log_finalize(l, 2);
	dnn_log_finalize(l, 3);
	desc(l, OP);
	set_refs(l, 4, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 (uint64_t)2);
	set_refs(l, 4, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 (uint64_t)3);
	dnn_log_finalize(l, 4);
	desc(l, HEUR);
	desc(l, CFG);
	desc(l, CFG);
	fill[0] = 6, fill[1] = 7;
	dnn_log_fill(l, 5, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, fill);
	desc(l, PLAN);
	set_refs(l, 8, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, (uint64_t)1);
	set_refs(l, 8, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 (uint64_t)6);
	dnn_log_finalize(l, 8);
}

static void forget_handles(struct dnn_log *l)
{
	for (uint64_t id = l->objs.first; id < l->objs.next; id++)
		if (dnn_log_get(l, id))
			dnn_log_get(l, id)->h = NULL;
}


/* The log as a new proxy reads it from a manifest (no backend objects). */
static void copy_log(struct dnn_log *to, const struct dnn_log *from)
{
	json_t *j = dnn_log_to_json(from);

	dnn_log_init(to);
	dnn_log_from_json(to, j);
	json_decref(j);
}

static void test_advance(void)
{
	struct dnn_log app, ahead, now;
	void *kept_plan;
	uint64_t vp, t3;
	int64_t uid = 9;
	int r;

	/* the prelude: the application's log so far, made ahead */
	reset();
	fail_finalize_of = -1;
	build(&app);
	copy_log(&ahead, &app);
	r = dnn_log_replay(&ahead, &fake, NULL);
	CHECK(r == 0 && live_objects == 8, "made ahead from the prelude (%d objects)", live_objects);
	kept_plan = dnn_log_get(&ahead, 8)->h;

	/* the job runs on: a variant pack made, used and destroyed (its id is
	 * freed and reused), a tensor dropped, a new tensor finalized */
	dnn_log_destroy(&app, 7);   /* e2: only the fill names it */
	vp = desc(&app, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
	dnn_log_finalize(&app, vp);
	dnn_log_destroy(&app, vp);
	t3 = desc(&app, T);
	CHECK(t3 == vp, "a freed id is given out again (%llu)", (unsigned long long)t3);
	dnn_log_set(&app, t3, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	dnn_log_finalize(&app, t3);

	/* the freeze: the final manifest */
	copy_log(&now, &app);
	trace[0] = '\0';
	r = dnn_log_advance(&ahead, &now, &fake, NULL);
	CHECK(r == 0, "brought up to date (%d)", r);
	CHECK(!strcmp(trace, "C17 S17.906 F17 D3 "),
	      "only the new tensor is made and set up; the dropped config destroyed (%s)", trace);
	CHECK(dnn_log_get(&now, 8)->h == kept_plan && dnn_log_get(&now, 1)->h,
	      "the plan and the handle made ahead are kept");
	CHECK(live_objects == 8 && !dnn_log_get(&ahead, 8)->h,
	      "every object alive once, and the earlier log holds none (%d)", live_objects);
	dnn_log_release(&now, &fake, NULL);
	CHECK(live_objects == 0, "released: nothing left (%d)", live_objects);
	dnn_log_clear(&now);
	dnn_log_clear(&ahead);

	/* an id reused by an object of the same type: not mistaken for the old one */
	reset();
	copy_log(&ahead, &app);
	dnn_log_replay(&ahead, &fake, NULL);
	dnn_log_destroy(&app, t3);
	t3 = desc(&app, T);
	dnn_log_finalize(&app, t3);
	copy_log(&now, &app);
	trace[0] = '\0';
	r = dnn_log_advance(&ahead, &now, &fake, NULL);
	CHECK(r == 0 && !strcmp(trace, "C17 F17 D17 "),
	      "a new tensor under an old tensor's id is made anew, the old one destroyed (%s)",
	      trace);
	dnn_log_release(&now, &fake, NULL);
	dnn_log_clear(&now);
	dnn_log_clear(&ahead);

	/* a value set again before finalizing replaces a step: start over */
	reset();
	{
		uint64_t d = desc(&app, T);
		int64_t a = 1, b = 2;

		dnn_log_set(&app, d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &a);
		copy_log(&ahead, &app);
		dnn_log_replay(&ahead, &fake, NULL);
		dnn_log_set(&app, d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &b);
	}
	copy_log(&now, &app);
	{
		int before = live_objects;

		trace[0] = '\0';
		r = dnn_log_advance(&ahead, &now, &fake, NULL);
		CHECK(r == -1 && !trace[0] && live_objects == before &&
		      dnn_log_get(&ahead, 8)->h && !dnn_log_get(&now, 8)->h,
		      "a log that does not continue the earlier one: -1, nothing changed");
	}
	dnn_log_release(&ahead, &fake, NULL);
	CHECK(live_objects == 0, "... and what was made ahead can be released (%d)", live_objects);
	dnn_log_clear(&now);
	dnn_log_clear(&ahead);
	dnn_log_clear(&app);
}

/* Whole entries (not references) in a delta's list. */
static size_t whole(json_t *delta, const char *list)
{
	size_t n = 0, i;
	json_t *e;

	json_array_foreach(json_object_get(delta, list), i, e)
		n += json_is_object(e);
	return n;
}

static void test_delta(void)
{
	struct dnn_log app, standby, rebuilt, other;
	struct dnn_base base;
	json_t *delta, *a, *b;
	uint64_t vp, t3;
	int64_t uid = 9;
	int r;

	/* the prelude: what the standby holds, and what the old proxy remembers of it */
	reset();
	build(&app);
	copy_log(&standby, &app);
	r = dnn_base_take(&base, &app);
	CHECK(r == 0 && base.nobjs == 8 && base.nsteps == app.nsteps,
	      "the prelude's log remembered (%zu objects, %zu steps)", base.nobjs, base.nsteps);

	/* unchanged: nothing crosses whole */
	delta = dnn_log_delta(&app, &base);
	CHECK(whole(delta, "objects") == 0 && whole(delta, "steps") == 0 &&
	      json_array_size(json_object_get(delta, "steps")) == 1,
	      "an unchanged log is one run of references");
	dnn_log_init(&rebuilt);
	r = dnn_log_from_delta(&rebuilt, delta, &standby);
	CHECK(r == 0 && dnn_log_digest(&rebuilt) == dnn_log_digest(&app),
	      "... and rebuilds the same log");
	dnn_log_clear(&rebuilt);
	CHECK(dnn_delta_is_base(delta, &standby), "... which the standby knows for its own");
	copy_log(&other, &standby);
	other.steps[0].elems[0] ^= 1;
	CHECK(!dnn_delta_is_base(delta, &other), "... and not for another of the same shape");
	dnn_log_clear(&other);
	dnn_log_init(&other);
	a = dnn_log_delta(&other, &(struct dnn_base){ 0 });
	CHECK(dnn_delta_is_base(a, &other), "an empty log's delta is the empty base");
	json_decref(a);
	dnn_log_clear(&other);
	json_decref(delta);

	/* the job runs on: a config dropped (its fill changes in place), a
	 * variant pack made and dropped, a new tensor under the freed id, a
	 * tensor finalized before now destroyed while the op still names it */
	dnn_log_destroy(&app, 7);
	vp = desc(&app, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
	dnn_log_finalize(&app, vp);
	dnn_log_destroy(&app, vp);
	t3 = desc(&app, T);
	dnn_log_set(&app, t3, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	dnn_log_finalize(&app, t3);
	dnn_log_destroy(&app, 3);
	delta = dnn_log_delta(&app, &base);
	CHECK(whole(delta, "objects") == 2 && whole(delta, "steps") == 3,
	      "only what changed crosses whole: the tensors new and destroyed, the fill, the new "
	      "tensor's steps (%zu objects, %zu steps)", whole(delta, "objects"),
	      whole(delta, "steps"));
	dnn_log_init(&rebuilt);
	r = dnn_log_from_delta(&rebuilt, delta, &standby);
	a = dnn_log_to_json(&app);
	b = dnn_log_to_json(&rebuilt);
	CHECK(r == 0 && json_equal(a, b), "the standby rebuilds the old proxy's log from it");
	CHECK(!dnn_delta_is_base(delta, &standby), "... and does not take it for the prelude's");
	CHECK(dnn_log_get(&rebuilt, 3)->refs == dnn_log_get(&app, 3)->refs,
	      "... with who names what");
	json_decref(a);
	json_decref(b);
	dnn_log_clear(&rebuilt);

	/* a standby without the prelude's log, or with another: refused */
	dnn_log_init(&other);
	dnn_log_init(&rebuilt);
	r = dnn_log_from_delta(&rebuilt, delta, &other);
	CHECK(r == -1, "a delta needs its base");
	dnn_log_clear(&rebuilt);
	dnn_log_clear(&other);
	copy_log(&other, &standby);
	other.steps[0].elems[0] ^= 1;   /* the tensor's unique id, another */
	dnn_log_init(&rebuilt);
	r = dnn_log_from_delta(&rebuilt, delta, &other);
	CHECK(r == -1, "a base that differs is caught by the digest");
	dnn_log_clear(&rebuilt);
	json_decref(delta);
	dnn_log_clear(&other);
	dnn_base_free(&base);
	dnn_log_clear(&standby);
	dnn_log_clear(&app);
}

/* A tensor: uid, type, dims and strides (n of each). */
static uint64_t tensor(struct dnn_log *l, int64_t uid, int32_t type, int n, const int64_t *dims,
		       const int64_t *strides)
{
	uint64_t t = desc(l, T);

	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, n, dims);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, n, strides);
	return t;
}

static uint64_t span_of(const struct dnn_tensor_span *s, long n, int64_t uid)
{
	for (long i = 0; i < n; i++)
		if (s[i].uid == uid)
			return s[i].bytes;
	return 12345;   /* (not there) */
}

/*
 * The tensors a plan reaches: through its engine config, filled by the
 * heuristics of an operation graph, to the graph's operation and its
 * tensors; not a virtual one, nor one of another graph.
 */
static void test_plan_tensors(void)
{
	struct dnn_log l;
	struct dnn_tensor_span sp[16];
	int64_t d3[] = { 2, 3, 4 }, s3[] = { 12, 4, 1 }, d2[] = { 4, 5 }, s2[] = { 5, 1 };
	int64_t neg[] = { 5, -1 }, huge[] = { (int64_t)1 << 40, 1 }, four = 4;
	bool yes = true;
	uint64_t x, w, y, z, bad, vec, big, op, graph, heur, cfg, plan, fill[1];
	long n;

	dnn_log_init(&l);
	x = tensor(&l, 1, CUDNN_DATA_FLOAT, 3, d3, s3);
	w = tensor(&l, 2, CUDNN_DATA_HALF, 2, d2, s2);
	y = tensor(&l, 3, CUDNN_DATA_FLOAT, 3, d3, s3);
	dnn_log_set(&l, y, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
	bad = tensor(&l, 4, 999, 2, d2, s2);
	vec = tensor(&l, 5, CUDNN_DATA_INT8, 2, d2, s2);
	dnn_log_set(&l, vec, CUDNN_ATTR_TENSOR_VECTOR_COUNT, CUDNN_TYPE_INT64, 1, &four);
	big = tensor(&l, 6, CUDNN_DATA_DOUBLE, 2, huge, huge);
	z = tensor(&l, 9, CUDNN_DATA_FLOAT, 2, d2, neg);   /* another graph's */
	op = desc(&l, OP);
	set_refs(&l, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 x);
	set_refs(&l, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 w);
	set_refs(&l, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 y);
	graph = desc(&l, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
	set_refs(&l, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, op);
	/* (more of the graph's tensors, on a second operation) */
	op = desc(&l, OP);
	set_refs(&l, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 3,
		 bad, vec, big);
	set_refs(&l, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2,
		 graph - 1, op);
	heur = desc(&l, HEUR);
	set_refs(&l, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 graph);
	cfg = desc(&l, CFG);
	fill[0] = cfg;
	dnn_log_fill(&l, heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		     fill);
	plan = desc(&l, PLAN);
	set_refs(&l, plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
		 1, cfg);
	/* another graph's operation names z */
	op = desc(&l, OP);
	set_refs(&l, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
		 z);

	n = dnn_log_plan_tensors(&l, plan, sp, 16);
	CHECK(n == 5, "the plan reaches its graph's five non-virtual tensors (%ld)", n);
	CHECK(span_of(sp, n, 1) == 24 * 4, "a float tensor 2x3x4, packed: 96 bytes (%llu)",
	      (unsigned long long)span_of(sp, n, 1));
	CHECK(span_of(sp, n, 2) == (1 + 3 * 5 + 4 * 1) * 2,
	      "a half tensor spans (1 + the sum of (dim - 1) x stride) elements");
	CHECK(span_of(sp, n, 3) == 12345, "a virtual tensor is not in the variant pack");
	CHECK(span_of(sp, n, 9) == 12345, "another graph's tensor is not reached");
	CHECK(span_of(sp, n, 4) == 0 && span_of(sp, n, 5) == 0,
	      "a type it does not know, or a vectorised layout: not sized (0)");
	CHECK(span_of(sp, n, 6) == DNN_TOO_BIG, "dimensions of 2^40: too big, not wrapped");
	CHECK(dnn_log_plan_tensors(&l, plan, sp, 2) == 5, "a short array: the count all the same");
	CHECK(dnn_log_plan_tensors(&l, 999, sp, 16) == 0, "an id that is no object reaches nothing");
	CHECK(dnn_log_plan_tensors(&l, op, sp, 16) == 1, "another operation reaches its own tensor");
	CHECK(span_of(sp, 1, 9) == 0, "... a negative stride: not sized");
	dnn_log_clear(&l);
}

int main(void)
{
	struct dnn_log l, back;
	uint64_t ids[2] = { 2, 3 }, bad[1] = { 99 }, hid[1] = { 1 };
	void *native[2];
	json_t *j;
	int bad_types = 0, r;

	/* element sizes */
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_HANDLE) == 8 &&
	      xmig_dnn_elem_size(CUDNN_TYPE_BACKEND_DESCRIPTOR) == 8 &&
	      xmig_dnn_elem_size(CUDNN_TYPE_VOID_PTR) == 8, "handles, descriptors, pointers: 8 bytes");
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_BOOLEAN) == 1 && xmig_dnn_elem_size(CUDNN_TYPE_CHAR) == 1,
	      "booleans are C++ bools, strings chars: 1 byte");
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_INT64) == 8 && xmig_dnn_elem_size(CUDNN_TYPE_DOUBLE) == 8 &&
	      xmig_dnn_elem_size(CUDNN_TYPE_FLOAT) == 4 && xmig_dnn_elem_size(CUDNN_TYPE_INT32) == 4,
	      "numbers: their C sizes");
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_FRACTION) == 16, "a fraction is two int64");
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_DATA_TYPE) == sizeof(cudnnDataType_t) &&
	      xmig_dnn_elem_size(CUDNN_TYPE_POINTWISE_MODE) == sizeof(cudnnPointwiseMode_t) &&
	      xmig_dnn_elem_size(CUDNN_TYPE_HEUR_MODE) == sizeof(cudnnBackendHeurMode_t),
	      "enums: the size of the enum");
	for (int t = CUDNN_TYPE_HANDLE; t <= CUDNN_TYPE_MOE_GROUPED_MATMUL_MODE; t++)
		bad_types += xmig_dnn_elem_size(t) == 0;
	CHECK(bad_types == 0, "every type of cudnn_graph.h has a size");
	CHECK(xmig_dnn_elem_size(CUDNN_TYPE_MOE_GROUPED_MATMUL_MODE + 1) == 0 &&
	      xmig_dnn_elem_size(-1) == 0, "an unknown type has none (the call fails loudly)");
	CHECK(xmig_dnn_type_is_ref(CUDNN_TYPE_HANDLE) && xmig_dnn_type_is_ref(CUDNN_TYPE_BACKEND_DESCRIPTOR) &&
	      !xmig_dnn_type_is_ref(CUDNN_TYPE_VOID_PTR), "handles and descriptors travel as ids, pointers as they are");

	/* ids to backend objects */
	reset();
	build(&l);
	CHECK(dnn_log_native(&l, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, ids, native) == 0 &&
	      native[0] == dnn_log_get(&l, 2)->h && native[1] == dnn_log_get(&l, 3)->h,
	      "descriptor ids become the backend's descriptors");
	CHECK(dnn_log_native(&l, CUDNN_TYPE_HANDLE, 1, hid, native) == 0 &&
	      native[0] == dnn_log_get(&l, 1)->h, "a handle id becomes the backend's handle");
	CHECK(dnn_log_native(&l, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, bad, native) < 0,
	      "an unknown id is refused");
	CHECK(dnn_log_native(&l, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, hid, native) < 0,
	      "a handle where a descriptor belongs is refused");
	CHECK(dnn_log_handle_id(&l, dnn_log_get(&l, 1)->h) == 1, "a backend handle maps back to its id");
	CHECK(l.nsteps == 10, "ten steps logged (%zu)", l.nsteps);

	/* set again before finalize: the last value only */
	{
		uint64_t d = desc(&l, T);
		int64_t a = 1, b = 2;

		dnn_log_set(&l, d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &a);
		dnn_log_set(&l, d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &b);
		CHECK(l.nsteps == 11 && !memcmp(l.steps[10].elems, &b, 8),
		      "a value set twice before finalizing is logged once, the last");
		dnn_log_destroy(&l, d);
		CHECK(l.nsteps == 10 && !dnn_log_get(&l, d), "destroyed and unused: gone with its steps");
	}

	/* destroyed but needed: kept; a dropped fill target: a stand-in */
	dnn_log_destroy(&l, 2);   /* t1: op 4 names it */
	dnn_log_destroy(&l, 7);   /* e2: only the fill names it, as its target */
	CHECK(dnn_log_get(&l, 2) && dnn_log_get(&l, 2)->destroyed && !dnn_log_get(&l, 2)->h,
	      "a destroyed tensor an operation names is kept, without a backend object");
	CHECK(!dnn_log_get(&l, 7), "a destroyed engine config nothing else names is dropped");
	CHECK(!dnn_log_live(&l, 2, DNN_DESC), "... and is not live for the application");

	forget_handles(&l);
	reset();
	r = dnn_log_replay(&l, &fake, NULL);   /* CHECK evaluates its condition twice */
	CHECK(r == 0, "the replay succeeds");
	CHECK(!strcmp(trace, "H1 C17 C17 C13 C4 C3 C5 "
			     "S17.906 F17 F17 S13.751=101 S13.753=102 F13 "
			     "C3 G4>2 D3 "
			     "S5.400=100 S5.401=105 F5 D17 "),
	      "handles, then descriptors by id, then the steps in call order; a stand-in "
	      "for the dropped target; the destroyed tensor last (%s)", trace);
	CHECK(live_objects == 6 && !dnn_log_get(&l, 2)->h && dnn_log_get(&l, 8)->h,
	      "live objects have backend objects again, the destroyed one not");

	/* everything destroyed: nothing left */
	for (uint64_t id = 1; id <= 8; id++)
		if (dnn_log_live(&l, id, DNN_DESC) || dnn_log_live(&l, id, DNN_HANDLE))
			dnn_log_destroy(&l, id);
	CHECK(l.objs.count == 0 && l.nsteps == 0, "all destroyed: no objects, no steps (%zu, %zu)",
	      l.objs.count, l.nsteps);
	dnn_log_clear(&l);

	/* the manifest section, and a replay from it */
	reset();
	build(&l);
	dnn_log_destroy(&l, 3);
	j = dnn_log_to_json(&l);
	dnn_log_init(&back);
	r = dnn_log_from_json(&back, j);
	CHECK(r == 0 && back.nsteps == l.nsteps &&
	      back.objs.count == l.objs.count, "the log survives the manifest");
	CHECK(dnn_log_get(&back, 3)->destroyed && dnn_log_get(&back, 3)->refs == 1,
	      "... with what was destroyed and who names it");
	reset();
	dnn_log_replay(&l, &fake, NULL);
	{
		char first[4096];

		strcpy(first, trace);
		reset();
		forget_handles(&back);
		dnn_log_replay(&back, &fake, NULL);
		CHECK(!strcmp(first, trace), "... and replays the same calls");
	}
	json_decref(j);
	json_t *broken = json_pack("{s:[], s:[{s:s, s:i, s:i, s:i, s:i, s:s}]}", "objects", "steps",
				   "op", "set", "desc", 1, "name", 1, "type", CUDNN_TYPE_INT64,
				   "count", 2, "elements", "0011");
	dnn_log_clear(&back);
	r = dnn_log_from_json(&back, broken);
	CHECK(r < 0, "a step whose elements do not match its count is refused");
	json_decref(broken);
	/* 2^61 + 1 handles of 8 bytes: 8 bytes, once the product wraps */
	broken = json_pack("{s:[], s:[{s:s, s:i, s:i, s:i, s:I, s:s}]}", "objects", "steps", "op",
			   "set", "desc", 1, "name", 1, "type", CUDNN_TYPE_HANDLE, "count",
			   (json_int_t)((1ull << 61) + 1), "elements", "0000000000000000");
	dnn_log_clear(&back);
	r = dnn_log_from_json(&back, broken);
	CHECK(r < 0, "a step whose count would wrap its size around is refused, not walked");
	json_decref(broken);

	/* a failing replay leaves no backend object behind */
	forget_handles(&l);
	reset();
	fail_finalize_of = PLAN;
	r = dnn_log_replay(&l, &fake, NULL);
	CHECK(r == CUDNN_STATUS_NOT_SUPPORTED,
	      "a replay stops at the first failing call, with its status");
	CHECK(live_objects == 0, "... and destroys what it made (%d left)", live_objects);
	dnn_log_clear(&l);
	dnn_log_clear(&back);   /* (what the refused step's log had taken) */
	test_advance();
	test_delta();
	test_plan_tensors();
	return unit_done();
}
