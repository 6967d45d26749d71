/*
 * test-dnn-warm.c - the cuDNN plans a standby executes once ahead of a
 * move (proxy/server/dnn-warm.c): each plan noted once (by id and serial;
 * not with intermediates; 64 at most), carried through the prelude's JSON,
 * and laid out on scratch: every tensor of the variant pack with the bytes
 * the plan's log gives it, by-value scalars carried as they were, the
 * workspace the plan asks for; not run when the plan is gone or another
 * object has its id, when a tensor cannot be sized, or when the workspace
 * is past the limit.
 */
#include <string.h>

#include "proxy/server/blas-warm.c"
#include "proxy/server/dnn-log.c"
#include "proxy/server/dnn-warm.c"
#include "proxy/server/objects.c"
#include "unit.h"

#define BASE 4096ull

/* (srv_dnn_warm's executes are not called here: request() is what is tested) */
int srv_dnn_execute_local(const struct xmig_device_ops *d, void *devh,
			  const struct xmig_dnn_execute_req *a, void *handle, void *plan)
{
	return CUDNN_STATUS_NOT_SUPPORTED;
}

static int64_t workspace_bytes = 4096;

static int fake_get_attr(void *dev, void *d, int name, int type, int64_t requested,
			 int64_t *count, void *elems)
{
	if (name != CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE || type != CUDNN_TYPE_INT64)
		return CUDNN_STATUS_BAD_PARAM;
	*count = 1;
	memcpy(elems, &workspace_bytes, sizeof(workspace_bytes));
	return 0;
}

static struct xmig_device_ops fake_dev = { .name = "fake", .dnn_get_attr = fake_get_attr };
static uintptr_t next_h = 100;

static uint64_t obj(struct dnn_log *l, int kind, int type)
{
	return dnn_log_add(l, kind, type, (void *)next_h++);
}

static uint64_t tensor(struct dnn_log *l, int64_t uid, int64_t n)
{
	uint64_t t = obj(l, DNN_DESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
	int32_t type = CUDNN_DATA_FLOAT;
	int64_t dims[] = { 1, n }, strides[] = { n, 1 };

	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 2, dims);
	dnn_log_set(l, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 2, strides);
	return t;
}

/* A plan over an operation naming ids[0..n): its id. */
static uint64_t plan_of(struct dnn_log *l, const uint64_t *ids, int n)
{
	uint64_t op = obj(l, DNN_DESC, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
	uint64_t plan = obj(l, DNN_DESC, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);

	dnn_log_set(l, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, n,
		    ids);
	dnn_log_set(l, plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
		    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
	return plan;
}

/* An execute request of plan on handle: entries for uids (a value where value_bytes). */
static struct xmig_dnn_execute_req *execute(uint64_t handle, uint64_t plan, int n,
					    const int64_t *uids, const uint32_t *value_bytes)
{
	struct xmig_dnn_execute_req *a = calloc(1, sizeof(*a) + n * sizeof(a->entries[0]));

	a->handle = handle;
	a->plan = plan;
	a->n = (uint32_t)n;
	a->has_workspace = 1;
	a->workspace = 7 << 20;
	for (int i = 0; i < n; i++) {
		a->entries[i].uid = uids[i];
		a->entries[i].ptr = (uint64_t)(i + 1) << 20;   /* the job's: never kept */
		a->entries[i].value_bytes = value_bytes ? value_bytes[i] : 0;
		memset(a->entries[i].value, 0x40 + i, XMIG_DNN_VALUE_MAX);
	}
	return a;
}

int main(void)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct xmig_dnn_execute_req *a, *q = NULL;
	struct dnn_obj *p, *h;
	uint64_t ids[3], handle, plan, plan2, b;
	int64_t uids[] = { 11, 12, 13 };
	uint32_t scalar[] = { 0, 0, 4 };
	json_t *j;

	s->dev = &fake_dev;
	dnn_log_init(&s->dnn);
	handle = obj(&s->dnn, DNN_HANDLE, 0);
	ids[0] = tensor(&s->dnn, 11, 1000);   /* 4000 bytes */
	ids[1] = tensor(&s->dnn, 12, 10);     /* 40 bytes */
	ids[2] = tensor(&s->dnn, 13, 1);      /* a by-value scalar's */
	plan = plan_of(&s->dnn, ids, 3);

	/* noted once per plan */
	a = execute(handle, plan, 3, uids, scalar);
	srv_dnn_run_note(s, a, dnn_log_get(&s->dnn, plan)->serial);
	a->entries[0].ptr += 4096;
	srv_dnn_run_note(s, a, dnn_log_get(&s->dnn, plan)->serial);
	CHECK(s->dnn_runs && s->dnn_runs->n == 1, "a plan executed again is noted once");
	srv_dnn_run_note(s, a, 999);
	CHECK(s->dnn_runs->n == 2, "another object under the same id (another serial) is another");
	a->nintermediates = 1;
	srv_dnn_run_note(s, a, 1000);
	CHECK(s->dnn_runs->n == 2, "a plan executed with intermediates is not noted");
	a->nintermediates = 0;
	for (uint64_t i = 0; i < 100; i++)
		srv_dnn_run_note(s, a, 2000 + i);
	CHECK(s->dnn_runs->n == 64, "64 at most (%zu)", s->dnn_runs->n);
	CHECK(!srv_dnn_ran_ahead(s, plan, dnn_log_get(&s->dnn, plan)->serial),
	      "noted from the job's call: not run ahead");

	/* through the prelude's JSON, laid out on scratch */
	srv_dnn_runs_free(s);
	srv_dnn_run_note(s, a, dnn_log_get(&s->dnn, plan)->serial);
	j = srv_dnn_runs_json(s);
	b = run_request(s, json_array_get(j, 0), BASE, &q, &p, &h);
	CHECK(q && p == dnn_log_get(&s->dnn, plan) && h == dnn_log_get(&s->dnn, handle),
	      "the plan and the handle are found again by id");
	CHECK(b == 4096 + 256 + 4096, "two tensors and the plan's workspace, aligned: %llu bytes",
	      (unsigned long long)b);
	CHECK(q && q->entries[0].ptr == BASE && q->entries[1].ptr == BASE + 4096 &&
		      q->workspace == BASE + 4096 + 256 && q->has_workspace,
	      "each tensor and the workspace on the scratch, none at the job's addresses");
	CHECK(q && q->entries[2].value_bytes == 4 && q->entries[2].value[0] == 0x42 &&
		      q->entries[2].ptr == 0,
	      "a by-value scalar goes as its bytes");
	CHECK(q && q->n == 3 && q->entries[1].uid == 12 && !q->nintermediates,
	      "the variant pack's unique ids, in order");
	free(q);

	/* not run */
	workspace_bytes = (int64_t)SCRATCH_MAX + 1;
	CHECK(run_request(s, json_array_get(j, 0), BASE, &q, &p, &h) == 0 && !q,
	      "a workspace past the limit");
	workspace_bytes = 4096;
	json_object_set_new(json_array_get(j, 0), "serial", json_integer(12345));
	CHECK(run_request(s, json_array_get(j, 0), BASE, &q, &p, &h) == 0 && !q,
	      "another object under the plan's id");
	json_decref(j);
	plan2 = plan_of(&s->dnn, ids, 2);
	a->plan = plan2;
	a->entries[2].value_bytes = 0;   /* (uid 13, now a pointer, is not in plan2's graph) */
	srv_dnn_runs_free(s);
	srv_dnn_run_note(s, a, dnn_log_get(&s->dnn, plan2)->serial);
	j = srv_dnn_runs_json(s);
	CHECK(run_request(s, json_array_get(j, 0), BASE, &q, &p, &h) == 0 && !q,
	      "a tensor the plan's log does not size");
	dnn_log_destroy(&s->dnn, plan2);
	CHECK(run_request(s, json_array_get(j, 0), BASE, &q, &p, &h) == 0 && !q,
	      "a plan the job destroyed since");
	json_decref(j);

	srv_dnn_runs_free(s);
	free(a);
	dnn_log_clear(&s->dnn);
	free(s);
	return unit_done();
}
