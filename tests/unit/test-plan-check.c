/*
 * test-plan-check.c - the plan checker replays a plan and rejects each kind of
 * broken plan (and accepts good ones); plans read back from JSON likewise.
 */
#include "unit.h"
#include "plan-fixture.h"

static json_t *doc;
static struct xp_state st;

static void build(void)
{
	json_t *t;

	doc = fx_state();
	fx_node(doc, "n1", 2, "A100", 40, 32, 256);
	fx_node(doc, "n2", 2, "A100", 40, 32, 256);
	fx_node(doc, "n3", 4, "A100", 40, 32, 256);
	fx_node(doc, "n4", 2, "V100", 16, 32, 256);
	fx_node(doc, "n5", 2, "A100", 40, 8, 16);
	fx_node(doc, "n6", 2, "A100", 40, 32, 256);
	fx_node(doc, "n7", 2, "A100", 40, 32, 256);   /* empty */
	fx_node(doc, "n8", 2, "V100", 16, 32, 256);
	fx_task(doc, "a", NULL, 0, "n1", "0", 0.6, 10, 4, true);
	fx_task(doc, "pin", NULL, 0, "n1", "1", 0.2, 1, 0, false);
	fx_task(doc, "b", NULL, 0, "n2", "0", 0.6, 10, 4, true);
	fx_task(doc, "big", NULL, 0, "n2", "1", 0.1, 35, 6, true);
	fx_task(doc, "r0", "J", 0, "n3", "0", 1.0, 20, 2, true);
	fx_task(doc, "r1", "J", 1, "n3", "1", 1.0, 20, 2, true);
	fx_task(doc, "c", NULL, 0, "n3", "2", 0.25, 5, 6, true);
	t = fx_task(doc, "mem", NULL, 0, "n3", "3", 0.25, 5, 1, true);
	json_object_set_new(t, "memory_bytes", json_integer(12LL << 30));
	fx_task(doc, "v", NULL, 0, "n4", "0", 0.5, 4, 1, true);
	fx_task(doc, "mg", NULL, 0, "n6", "0,1", 1.0, 40, 4, true);
	fx_task(doc, "v2", NULL, 0, "n8", "0", 0.3, 4, 1, true);
}

/* Check a plan made by fill(); expect it accepted (want NULL) or rejected saying want. */
static void expect(const char *what, void (*fill)(struct xp_plan *), const char *want)
{
	struct xp_opts o;
	struct xp_plan p;
	struct xp_check c;
	bool ok;

	xp_opts_default(&o);
	xp_plan_init(&p, "test", &o);
	fill(&p);
	xp_check_plan(&st, &p, &c);
	ok = want ? !c.ok && strstr(c.error, want) != NULL : c.ok;
	CHECK(ok, "%s: %s", what, c.ok ? "accepted" : c.error);
	xp_check_free(&c);
	xp_plan_free(&p);
}

static void p_good(struct xp_plan *p)
{
	fx_move(p, &st, "a", NULL, "n3:3", 1);        /* 0.6 + mem 0.25 */
	fx_move(p, &st, "c", NULL, "n1:0", 2);        /* where a was */
}
static void p_group(struct xp_plan *p)
{
	fx_move(p, &st, "r0", NULL, "n7:0", 1);
	fx_move(p, &st, "r1", NULL, "n7:1", 1);
}
static void p_group_back(struct xp_plan *p)
{
	fx_move(p, &st, "mg", NULL, "n3:2,3", 1);    /* not free: c and mem are there */
}
static void p_chain(struct xp_plan *p)
{
	fx_move(p, &st, "c", NULL, "n3:3", 1);        /* 0.25 + mem 0.25 */
	fx_move(p, &st, "c", "n3:3", "n3:2", 2);      /* and back, a later wave */
}
static void p_share(struct xp_plan *p)
{
	fx_move(p, &st, "a", NULL, "n2:0", 1);        /* b holds 0.6 there */
}
static void p_transient(struct xp_plan *p)
{
	/* A swap fits at the end but not while both hold both ends. */
	fx_move(p, &st, "a", NULL, "n2:0", 1);
	fx_move(p, &st, "b", NULL, "n1:0", 1);
}
static void p_devmem(struct xp_plan *p)
{
	fx_move(p, &st, "big", NULL, "n1:1", 1);      /* 35 GiB + pin: fits */
	fx_move(p, &st, "c", NULL, "n1:1", 1);        /* 35 + 1 + 5 > 40 GiB */
}
static void p_cpu(struct xp_plan *p)
{
	fx_move(p, &st, "c", NULL, "n5:0", 1);        /* 6 CPUs of 8 */
	fx_move(p, &st, "a", NULL, "n5:1", 1);        /* + 4 */
}
static void p_hostmem(struct xp_plan *p)
{
	fx_move(p, &st, "mem", NULL, "n5:0", 1);      /* 12 GiB of host memory on 16 */
	fx_move(p, &st, "r0", NULL, "n3:2", 1);
	fx_move(p, &st, "r1", NULL, "n3:3", 1);
	p->moves[1].wave = p->moves[2].wave = 2;
	p->moves[1].to = p->moves[0].to;              /* overwritten below */
	fx_move(p, &st, "c", NULL, "n5:1", 1);        /* fits its CPUs */
	p->nmoves = 1;
	{
		/* A second host-memory user on n5: reuse "mem" of another size. */
		struct xp_task *t = &((struct xp_state *)&st)->tasks[xp_find_task(&st, "c")];

		t->mem = 8ULL << 30;
		fx_move(p, &st, "c", NULL, "n5:1", 1);
	}
}
static void p_split_task(struct xp_plan *p)
{
	fx_move(p, &st, "mg", NULL, "n2:1", 1);
	p->moves[0].to.ngpus = 1;
}
static void p_dup_gpu(struct xp_plan *p)
{
	fx_move(p, &st, "mg", NULL, "n5:0,0", 1);
}
static void p_split_job(struct xp_plan *p)
{
	fx_move(p, &st, "r0", NULL, "n7:0", 1);       /* r1 stays on n3 */
}
static void p_split_waves(struct xp_plan *p)
{
	fx_move(p, &st, "r0", NULL, "n5:0", 1);
	fx_move(p, &st, "r1", NULL, "n5:1", 2);       /* apart at the end of wave 1 */
}
static void p_model(struct xp_plan *p)
{
	fx_move(p, &st, "a", NULL, "n4:1", 1);
}
static void p_pinned(struct xp_plan *p)
{
	fx_move(p, &st, "pin", NULL, "n7:0", 1);
}
static void p_from(struct xp_plan *p)
{
	fx_move(p, &st, "a", "n1:1", "n7:0", 1);
}
static void p_twice(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n4:1", 1);
	fx_move(p, &st, "v", "n4:1", "n4:0", 1);
}
static void p_order(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n4:1", 2);
	fx_move(p, &st, "a", NULL, "n6:0", 1);
}
static void p_wave0(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n4:1", 0);
}
static void p_conc(struct xp_plan *p)
{
	p->opts.concurrency = 1;
	fx_move(p, &st, "a", NULL, "n7:0", 1);
	fx_move(p, &st, "b", NULL, "n7:1", 1);        /* two moves into n7 */
}
static void p_conc_group(struct xp_plan *p)
{
	p->opts.concurrency = 1;
	fx_move(p, &st, "r0", NULL, "n7:0", 1);       /* one group: one move per end */
	fx_move(p, &st, "r1", NULL, "n7:1", 1);
}
static void p_self(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n4:0", 1);
}
static void p_moves_budget(struct xp_plan *p)
{
	p->opts.max_moves = 1;
	fx_move(p, &st, "a", NULL, "n7:0", 1);
	fx_move(p, &st, "b", NULL, "n7:1", 1);
}
static void p_bytes_budget(struct xp_plan *p)
{
	p->opts.max_bytes = 15LL << 30;
	fx_move(p, &st, "a", NULL, "n7:0", 1);
	fx_move(p, &st, "b", NULL, "n7:1", 2);
}
static void p_bytes_claim(struct xp_plan *p)
{
	fx_move(p, &st, "a", NULL, "n7:0", 1);
	p->moves[0].bytes = 1;
}
static void p_summary_claim(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n4:1", 1);
	p->has_claims = true;
	p->claim_nodes_freed = 1;                     /* nothing is freed */
	p->claim_moves = 1;
	p->claim_bytes = st.tasks[xp_find_task(&st, "v")].bytes;
}
static void p_summary_true(struct xp_plan *p)
{
	fx_move(p, &st, "v", NULL, "n8:0", 1);        /* frees n4: 0.5 + 0.3 */
	p->has_claims = true;
	p->claim_nodes_freed = 1;
	p->claim_gpus_freed = 1;
	p->claim_moves = 1;
	p->claim_bytes = st.tasks[xp_find_task(&st, "v")].bytes;
}

/* Read plan JSON text back against the state. */
static int from_text(const char *text, struct xp_plan *p, const char **msg)
{
	json_t *d = json_loads(text, 0, NULL);
	int r;

	fx_err_begin();
	r = xp_plan_from_json(d, &st, p);
	*msg = fx_err_end();
	json_decref(d);
	return r;
}

int main(void)
{
	struct xp_plan p;
	struct xp_check c;
	const char *msg;
	int r;

	build();
	r = fx_load(doc, &st);
	CHECK(r == 0, "fixture parses");
	expect("a valid plan", p_good, NULL);
	expect("a valid chain over two waves", p_chain, NULL);
	expect("a multi-GPU task onto GPUs still in use", p_group_back, "over-committed");
	expect("over-committed share", p_share, "n2:gpu0 over-committed while moves run: share 1.200");
	expect("a swap that only fits once both moves end", p_transient, "over-committed while moves run");
	expect("over-committed device memory", p_devmem, "n1:gpu1 over-committed while moves run");
	expect("over-committed CPUs", p_cpu, "node n5 over-committed while moves run: 10.000 of 8.000 CPUs");
	expect("over-committed host memory", p_hostmem, "node n5 over-committed while moves run");
	expect("a task given fewer GPUs", p_split_task, "holds 2 GPU(s) but the move gives it 1");
	expect("a GPU named twice", p_dup_gpu, "GPU 0 named twice");
	expect("ranks of a job split", p_split_job, "splits job J: rank 0 is on n7, rank 1 on n3");
	expect("ranks of a job moved in different waves", p_split_waves, "wave 1 splits job J");
	expect("the wrong GPU model", p_model, "task a may not run on V100");
	expect("a non-movable task moved", p_pinned, "task pin is not movable");
	expect("a move from where the task is not", p_from, "task a is not at n1:gpu1 (it is at n1:gpu0)");
	expect("a task twice in one wave", p_twice, "task v moves twice in wave 1");
	expect("waves out of order", p_order, "out of order");
	expect("wave 0", p_wave0, "out of order");
	expect("more moves at a node than the cap", p_conc, "node n7 has more than 1 moves in flight");
	expect("a group counts as one move", p_conc_group, NULL);
	expect("a group moving together", p_group, NULL);
	expect("a move to where the task is", p_self, "moves to where it already is");
	expect("more moves than --max-moves", p_moves_budget, "more than its limit of 1");
	expect("more bytes than --max-bytes", p_bytes_budget, "more than its limit of");
	expect("device_bytes not the task's", p_bytes_claim, "device_bytes 1 is not the task's");
	expect("a summary the replay does not reproduce", p_summary_claim, "the summary claims 1 nodes");
	expect("a true summary", p_summary_true, NULL);

	/* The replay's own numbers. */
	{
		struct xp_opts o;

		xp_opts_default(&o);
		xp_plan_init(&p, "test", &o);
		p_summary_true(&p);
		xp_check_plan(&st, &p, &c);
		CHECK(c.ok && c.sum.nodes_before - c.sum.nodes_after == 1 && c.sum.moves == 1 &&
		      json_array_size(c.freed_nodes) == 1 &&
		      !strcmp(json_string_value(json_array_get(c.freed_nodes, 0)), "n4"), "replay frees n4");
		xp_check_free(&c);
		xp_plan_free(&p);
	}

	/* Plans read from JSON. */
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"v\",\"from\":{\"node\":\"n4\",\"gpus\":[0]},"
		      "\"to\":{\"node\":\"n8\",\"gpus\":[0]},\"device_bytes\":4294967296,\"wave\":1}],"
		      "\"summary\":{\"nodes_freed\":1,\"gpus_freed\":1,\"moves\":1,\"device_bytes\":4294967296}}",
		      &p, &msg);
	CHECK(r == 0 && p.nmoves == 1 && p.has_claims, "a plan document reads");
	xp_check_plan(&st, &p, &c);
	CHECK(c.ok, "and holds: %s", c.ok ? "ok" : c.error);
	xp_check_free(&c);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"zz\",\"from\":{\"node\":\"n4\",\"gpus\":[0]},"
		      "\"to\":{\"node\":\"n6\",\"gpus\":[1]},\"device_bytes\":1,\"wave\":1}]}", &p, &msg);
	CHECK(r == -2 && strstr(msg, "task \"zz\" is not in the cluster state"), "unknown task: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"v\",\"from\":{\"node\":\"n4\",\"gpus\":[0]},"
		      "\"to\":{\"node\":\"n9\",\"gpus\":[1]},\"device_bytes\":1,\"wave\":1}]}", &p, &msg);
	CHECK(r == -2 && strstr(msg, "node \"n9\" is not in the cluster state"), "unknown node: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"v\",\"from\":{\"node\":\"n4\",\"gpus\":[0]},"
		      "\"to\":{\"node\":\"n4\",\"gpus\":[5]},\"device_bytes\":1,\"wave\":1}]}", &p, &msg);
	CHECK(r == -2 && strstr(msg, "node n4 has no GPU 5"), "unknown GPU: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"v\",\"to\":{\"node\":\"n4\",\"gpus\":[1]},"
		      "\"device_bytes\":1,\"wave\":1}]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "moves[0].from: expected an object"), "missing from: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":{}}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "plan.moves: expected an array"), "moves not an array: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"moves\":[{\"task\":\"v\",\"from\":{\"node\":\"n4\",\"gpus\":[0]},"
		      "\"to\":{\"node\":\"n4\",\"gpus\":[1]},\"device_bytes\":1}]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "missing \"wave\""), "missing wave: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":1,\"objective\":\"racks\",\"moves\":[]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "plan.objective"), "bad objective: %s", msg);
	xp_plan_free(&p);
	/* A plan of no version, or of one this xmig does not read: refused, never guessed at. */
	r = from_text("{\"moves\":[]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "no \"version\""), "no version: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":99,\"moves\":[]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "version 99 is not read by this xmig"), "version 99: %s", msg);
	xp_plan_free(&p);
	r = from_text("{\"version\":\"1\",\"moves\":[]}", &p, &msg);
	CHECK(r == -1 && strstr(msg, "plan.version: expected an integer"), "version a string: %s", msg);
	xp_plan_free(&p);

	xp_state_free(&st);
	json_decref(doc);
	return unit_done();
}
