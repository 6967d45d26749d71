/* test-plan-state.c - the cluster state: what is read, and every kind of bad input refused by name. */
#include "unit.h"
#include "plan-fixture.h"

static json_t *good(void)
{
	json_t *st = fx_state();

	fx_node(st, "n1", 2, "A100", 40, 32, 256);
	fx_node(st, "n2", 4, "A100", 40, 32, 256);
	fx_task(st, "a", "job1", 0, "n1", "0", 0.5, 10, 4, true);
	fx_task(st, "b", "job1", 1, "n1", "1", 1.0, 20, 4, true);
	fx_task(st, "c", NULL, 0, "n2", "0,1", 1.0, 60, 8, false);
	return st;
}

/* Apply a JSON change to a good state, parse it, expect a refusal naming want. */
static void refused(const char *what, void (*edit)(json_t *), const char *want)
{
	json_t *doc = good();
	struct xp_state st;
	const char *msg;
	int rc;

	edit(doc);
	fx_err_begin();
	rc = fx_load(doc, &st);
	msg = fx_err_end();
	CHECK(rc < 0 && strstr(msg, want), "%s refused: %s", what, msg);
	xp_state_free(&st);
	json_decref(doc);
}

static json_t *task(json_t *d, int i)
{
	return json_array_get(json_object_get(d, "tasks"), (size_t)i);
}

static json_t *node(json_t *d, int i)
{
	return json_array_get(json_object_get(d, "nodes"), (size_t)i);
}

static void e_no_nodes(json_t *d) { json_object_set_new(d, "nodes", json_array()); }
static void e_no_tasks_key(json_t *d) { json_object_del(d, "tasks"); }
static void e_dup_node(json_t *d) { json_object_set_new(node(d, 1), "name", json_string("n1")); }
static void e_dup_gpu(json_t *d)
{
	json_object_set_new(json_array_get(json_object_get(node(d, 1), "gpus"), 1), "index", json_integer(0));
}
static void e_gpu_mem(json_t *d)
{
	json_object_set_new(json_array_get(json_object_get(node(d, 0), "gpus"), 0), "memory_bytes", json_integer(0));
}
static void e_unknown_node(json_t *d) { json_object_set_new(task(d, 0), "node", json_string("n9")); }
static void e_unknown_gpu(json_t *d) { json_object_set_new(task(d, 0), "gpus", json_pack("[i]", 7)); }
static void e_dup_task(json_t *d) { json_object_set_new(task(d, 1), "id", json_string("a")); }
static void e_dup_rank(json_t *d) { json_object_set_new(task(d, 1), "rank", json_integer(0)); }
static void e_share_big(json_t *d) { json_object_set_new(task(d, 0), "share", json_real(1.5)); }
static void e_share_zero(json_t *d) { json_object_set_new(task(d, 0), "share", json_real(0)); }
static void e_split_share(json_t *d) { json_object_set_new(task(d, 2), "share", json_real(0.5)); }
static void e_overcommit(json_t *d) { json_object_set_new(task(d, 0), "gpus", json_pack("[i]", 1)); }
static void e_overmem(json_t *d) { json_object_set_new(task(d, 0), "device_bytes", json_integer(50LL << 30)); }
static void e_cpu(json_t *d) { json_object_set_new(task(d, 0), "cpus", json_real(40)); }
static void e_model(json_t *d) { json_object_set_new(task(d, 0), "gpu_model", json_string("H100")); }
static void e_movable_type(json_t *d) { json_object_set_new(task(d, 0), "movable", json_string("yes")); }
static void e_no_movable(json_t *d) { json_object_del(task(d, 0), "movable"); }
static void e_rank_neg(json_t *d) { json_object_set_new(task(d, 0), "rank", json_integer(-1)); }
static void e_no_gpus(json_t *d) { json_object_set_new(task(d, 0), "gpus", json_array()); }
static void e_twice_gpu(json_t *d) { json_object_set_new(task(d, 2), "gpus", json_pack("[i,i]", 0, 0)); }
static void e_not_object(json_t *d) { json_array_set_new(json_object_get(d, "tasks"), 0, json_integer(3)); }

int main(void)
{
	struct xp_state st;
	json_t *doc = good(), *back;
	struct xp_state st2;
	const char *msg;
	int a, b, c;

	a = fx_load(doc, &st);
	CHECK(a == 0, "a good state parses");
	CHECK(st.nnodes == 2 && st.ngpus == 6 && st.ntasks == 3, "nodes, GPUs and tasks counted");
	a = xp_find_task(&st, "a");
	b = xp_find_task(&st, "b");
	c = xp_find_task(&st, "c");
	CHECK(a >= 0 && b >= 0 && c >= 0 && xp_find_task(&st, "zz") < 0, "tasks found by id");
	CHECK(st.tasks[a].share == XP_ONE / 2 && st.tasks[b].share == XP_ONE, "shares in units");
	CHECK(st.tasks[c].bpg == (uint64_t)(30 * FX_GIB), "device bytes split over a task's GPUs");
	CHECK(st.tasks[a].group == st.tasks[b].group && st.tasks[a].group != st.tasks[c].group,
	      "ranks of one job on one node form one group");
	CHECK(!st.groups[st.tasks[c].group].movable, "a non-movable task makes its group stay");
	CHECK(st.tasks[a].cpu_m == 4000 && st.nodes[0].cpu_m == 32000, "CPUs in millicores");
	CHECK(st.nodes[0].comp == st.nodes[1].comp, "nodes of one model share a component");
	back = xp_state_to_json(&st);
	a = fx_load(back, &st2);
	CHECK(a == 0 && st2.ntasks == 3 && st2.tasks[xp_find_task(&st2, "c")].bytes == st.tasks[c].bytes,
	      "a state written back reads the same");
	xp_state_free(&st2);
	json_decref(back);
	xp_state_free(&st);
	json_decref(doc);

	refused("no nodes", e_no_nodes, "no nodes");
	refused("missing tasks", e_no_tasks_key, "missing \"tasks\"");
	refused("duplicate node", e_dup_node, "node name \"n1\" appears twice");
	refused("duplicate GPU index", e_dup_gpu, "GPU index 0 appears twice");
	refused("GPU without memory", e_gpu_mem, "nodes[0].gpus[0].memory_bytes");
	refused("unknown node", e_unknown_node, "node \"n9\" is not in the state's nodes");
	refused("unknown GPU", e_unknown_gpu, "node n1 has no GPU 7");
	refused("duplicate task id", e_dup_task, "task id \"a\" appears twice");
	refused("duplicate rank", e_dup_rank, "job \"job1\" rank 0 appears twice");
	refused("share above 1", e_share_big, "tasks[0].share");
	refused("movable task without share", e_share_zero, "share must be more than 0");
	refused("fraction of several GPUs", e_split_share, "must use them whole");
	refused("over-committed share", e_overcommit, "n1:gpu1 is over-committed: tasks share 1.500");
	refused("over-committed memory", e_overmem, "n1:gpu0 is over-committed: tasks hold");
	refused("over-committed CPUs", e_cpu, "node n1 is over-committed: tasks use 44.000 of its 32.000 CPUs");
	refused("model it does not run on", e_model, "which its gpu_model does not allow");
	refused("movable not a boolean", e_movable_type, "movable: expected true or false");
	refused("movable missing", e_no_movable, "missing \"movable\"");
	refused("negative rank", e_rank_neg, "rank: -1 is out of range");
	refused("task without GPUs", e_no_gpus, "a task holds 1 to 16 GPUs");
	refused("GPU listed twice", e_twice_gpu, "GPU 0 listed twice");
	refused("task not an object", e_not_object, "tasks[0]: expected an object");

	fx_err_begin();
	a = xp_state_load("/nonexistent/state.json", &st);
	msg = fx_err_end();
	CHECK(a < 0 && strstr(msg, "cannot read state /nonexistent/state.json"), "missing file named");
	return unit_done();
}
