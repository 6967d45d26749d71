/*
 * dnn-warm.c - the job's cuDNN plans, executed once by a standby proxy
 * ahead of a move, as blas-warm.c does for its GEMMs: cuDNN's first
 * execute of a plan in a process took 2-6 ms of the job's first step on a
 * new proxy (a GPT's one or two per move on an H200), and 18-21 ms for a
 * convolutional network's (RESULTS.md). The old proxy notes each plan the
 * job executes (its id and serial, its handle, the variant pack's unique
 * ids and by-value scalars; 64 at most), the prelude carries them, and the
 * standby, whose log holds the plans made again ahead, executes each once
 * on zeroed scratch of its own: every tensor sized by what the plan's
 * log says of its dimensions and strides (dnn_log_plan_tensors), the
 * workspace as the plan asks. A plan with a tensor it cannot size, or
 * with intermediates, is left for the job's first step. Never the job's
 * memory (a zero-copy standby maps the job's own).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "blas-warm.h"
#include "server.h"

#define MAX_RUNS 64

struct dnn_run {
	uint64_t plan, serial, handle;
	uint32_t n, has_workspace;
	bool ran_ahead;           /* by this proxy, a standby then */
	int64_t *uid;
	/* by-value scalars: their bytes (value_bytes 0: a pointer to size) */
	uint32_t *value_bytes;
	unsigned char (*value)[XMIG_DNN_VALUE_MAX];
};

struct srv_dnn_runs {
	size_t n;
	struct dnn_run run[MAX_RUNS];
};

static struct dnn_run *noted(struct srv *s, uint64_t plan, uint64_t serial)
{
	struct srv_dnn_runs *t = s->dnn_runs;

	for (size_t i = 0; t && i < t->n; i++)
		if (t->run[i].plan == plan && t->run[i].serial == serial)
			return &t->run[i];
	return NULL;
}

void srv_dnn_run_note(struct srv *s, const struct xmig_dnn_execute_req *a, uint64_t serial)
{
	struct srv_dnn_runs *t = s->dnn_runs;
	struct dnn_run *r;

	if (a->nintermediates || !a->n || a->n > XMIG_DNN_VP_MAX ||
	    noted(s, a->plan, serial) ||
	    (!t && !(t = s->dnn_runs = calloc(1, sizeof(*t)))))
		return;
	if (t->n == MAX_RUNS)
		return;
	r = &t->run[t->n];
	memset(r, 0, sizeof(*r));
	if (!(r->uid = calloc(a->n, sizeof(*r->uid))) ||
	    !(r->value_bytes = calloc(a->n, sizeof(*r->value_bytes))) ||
	    !(r->value = calloc(a->n, sizeof(*r->value)))) {
		free(r->uid);
		free(r->value_bytes);
		return;
	}
	r->plan = a->plan;
	r->serial = serial;
	r->handle = a->handle;
	r->n = a->n;
	r->has_workspace = a->has_workspace;
	for (uint32_t i = 0; i < a->n; i++) {
		r->uid[i] = a->entries[i].uid;
		r->value_bytes[i] = a->entries[i].value_bytes <= XMIG_DNN_VALUE_MAX
					    ? a->entries[i].value_bytes : 0;
		memcpy(r->value[i], a->entries[i].value, r->value_bytes[i]);
	}
	t->n++;
}

bool srv_dnn_ran_ahead(struct srv *s, uint64_t plan, uint64_t serial)
{
	struct dnn_run *r = noted(s, plan, serial);

	return r && r->ran_ahead;
}

json_t *srv_dnn_runs_json(struct srv *s)
{
	struct srv_dnn_runs *t = s->dnn_runs;
	json_t *a = json_array();

	for (size_t i = 0; t && i < t->n; i++) {
		const struct dnn_run *r = &t->run[i];
		json_t *e = json_array();

		for (uint32_t k = 0; k < r->n; k++)
			json_array_append_new(e, json_pack("{s:I, s:o}", "uid", (json_int_t)r->uid[k],
							   "value", r->value_bytes[k]
								   ? srv_warm_hex(r->value[k],
										  r->value_bytes[k])
								   : json_null()));
		json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:b, s:o}", "plan",
						   (json_int_t)r->plan, "serial",
						   (json_int_t)r->serial, "handle",
						   (json_int_t)r->handle, "workspace",
						   (int)r->has_workspace, "entries", e));
	}
	return a;
}

void srv_dnn_runs_free(struct srv *s)
{
	struct srv_dnn_runs *t = s->dnn_runs;

	for (size_t i = 0; t && i < t->n; i++) {
		free(t->run[i].uid);
		free(t->run[i].value_bytes);
		free(t->run[i].value);
	}
	free(t);
	s->dnn_runs = NULL;
}

static uint64_t get_u64(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

/*
 * The noted run o as an execute request on scratch from base (malloc'd
 * into *req, its objects in *plan and *handle); the bytes it spans, 0: not
 * run here (a plan gone or another since, a tensor not sized), or more
 * than SCRATCH_MAX.
 */
static uint64_t run_request(struct srv *s, json_t *o, uint64_t base,
			    struct xmig_dnn_execute_req **req, struct dnn_obj **plan,
			    struct dnn_obj **handle)
{
	json_t *entries = json_object_get(o, "entries"), *e;
	struct dnn_tensor_span span[XMIG_DNN_VP_MAX];
	struct xmig_dnn_execute_req *q;
	uint64_t at = base, ws = 0;
	long nspan;
	size_t i, n = json_array_size(entries);
	int64_t count = 0;

	*req = NULL;
	*plan = dnn_log_live(&s->dnn, get_u64(o, "plan"), DNN_DESC);
	*handle = dnn_log_live(&s->dnn, get_u64(o, "handle"), DNN_HANDLE);
	if (!*plan || !*handle || (*plan)->serial != get_u64(o, "serial") || !(*plan)->h ||
	    !(*handle)->h || !n || n > XMIG_DNN_VP_MAX ||
	    (nspan = dnn_log_plan_tensors(&s->dnn, (*plan)->id, span, XMIG_DNN_VP_MAX)) < 0)
		return 0;
	if (nspan > XMIG_DNN_VP_MAX)
		nspan = XMIG_DNN_VP_MAX;
	if (!(q = calloc(1, sizeof(*q) + n * sizeof(q->entries[0]))))
		return 0;
	q->handle = get_u64(o, "handle");
	q->plan = get_u64(o, "plan");
	q->n = (uint32_t)n;
	json_array_foreach(entries, i, e) {
		struct xmig_dnn_vp_entry *v = &q->entries[i];
		const char *hex = json_string_value(json_object_get(e, "value"));
		uint64_t bytes = 0;

		v->uid = json_integer_value(json_object_get(e, "uid"));
		if (hex) {
			size_t len = strlen(hex) / 2;

			if (!len || len > XMIG_DNN_VALUE_MAX || !srv_warm_unhex(hex, v->value, len))
				goto no;
			v->value_bytes = (uint32_t)len;
			continue;
		}
		for (long k = 0; k < nspan; k++)
			if (span[k].uid == v->uid && span[k].bytes > bytes)
				bytes = span[k].bytes;
		if (!bytes || bytes > SCRATCH_MAX)   /* (not sized, or too big: left to the job) */
			goto no;
		v->ptr = srv_warm_place(&at, bytes);
	}
	/* the workspace the plan asks for */
	if (json_is_true(json_object_get(o, "workspace"))) {
		if (s->dev->dnn_get_attr(s->devh, (*plan)->h, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
					 CUDNN_TYPE_INT64, 1, &count, &ws) || count != 1 ||
		    (int64_t)ws < 0 || ws > SCRATCH_MAX)
			goto no;
		q->has_workspace = 1;
		q->workspace = ws ? srv_warm_place(&at, ws) : 0;
	}
	*req = q;
	return at > base ? at - base : 256;   /* (scalars only: a scratch all the same) */
no:
	free(q);
	return 0;
}

int srv_dnn_warm(struct srv *s, json_t *runs, unsigned *ran, unsigned *sized)
{
	/* (the sim's cuDNN double runs no kernels: its plans are sized, not run) */
	bool sim = !strcmp(s->dev->name, "sim");
	struct xmig_dnn_execute_req *q;
	struct dnn_obj *p, *h;
	struct dnn_run *r;
	struct srv_warm_scratch w;
	bool ok;
	uint64_t need = 0, b, cap;
	json_t *o;
	size_t i;
	int st = 0, end;

	*ran = *sized = 0;
	/* (a remote device builds the variant pack over there: not from here) */
	if (!json_array_size(runs) || !s->dev->dnn_execute || s->dev->dnn_run ||
	    !s->dev->va_reserve)
		return 0;
	cap = srv_warm_cap(s);
	json_array_foreach(runs, i, o) {
		b = run_request(s, o, 0, &q, &p, &h);
		free(q);
		if (b && b <= cap) {
			(*sized)++;
			need = b > need ? b : need;
		}
	}
	if (!need || sim)
		return 0;
	if ((st = srv_warm_scratch_open(s, need, &w)))
		return st;
	/* (zeroed: a plan's index or sequence-length tensors then point nowhere outside) */
	if ((st = s->dev->memset_async(s->devh, w.va, 0, w.size, w.stream)) ||
	    (st = s->dev->stream_sync(s->devh, w.stream)))
		goto out;
	json_array_foreach(runs, i, o) {
		if (!(b = run_request(s, o, w.va, &q, &p, &h)) || b > cap) {
			free(q);
			continue;
		}
		/*
		 * On the plan's own handle, so on the job's stream as made in this
		 * standby (unused until the job resumes here), waited for below; a
		 * plan cuDNN refuses here is the job's first step's to find.
		 */
		ok = !srv_dnn_execute_local(s->dev, s->devh, q, h->h, p->h);
		/* this proxy's next move runs it too */
		srv_dnn_run_note(s, q, p->serial);
		if (ok && (r = noted(s, q->plan, p->serial))) {
			r->ran_ahead = true;
			(*ran)++;
		}
		free(q);
	}
	st = s->dev->ctx_sync(s->devh);
out:
	end = srv_warm_scratch_close(s, &w);
	return st ? st : end;
}
