/*
 * test-plan-live.c - the live cluster state from canned `xmig nodes --json`
 * and `xmig ps --all --json` output (their schemas as agreed in issue 8).
 */
#include <math.h>

#include "unit.h"
#include "plan-fixture.h"

static const char *nodes_json =
	"{\"nodes\":["
	" {\"name\":\"n1\",\"cpus\":64,\"memory_bytes\":274877906944,\"gpus\":["
	"  {\"index\":0,\"model\":\"H200\",\"memory_bytes\":150323855360,\"memory_free_bytes\":100000000000,\"pinned_bytes\":0},"
	"  {\"index\":1,\"model\":\"H200\",\"memory_bytes\":150323855360,\"memory_free_bytes\":100000000000,\"pinned_bytes\":2147483648}]},"
	" {\"name\":\"n2\",\"cpus\":64,\"memory_bytes\":274877906944,\"gpus\":["
	"  {\"index\":0,\"model\":\"H200\",\"memory_bytes\":150323855360,\"memory_free_bytes\":150323855360,\"pinned_bytes\":0},"
	"  {\"index\":1,\"model\":\"H200\",\"memory_bytes\":150323855360,\"memory_free_bytes\":150323855360,\"pinned_bytes\":0}]},"
	" {\"name\":\"n3\",\"cpus\":8,\"memory_bytes\":34359738368,\"gpus\":["
	"  {\"index\":0,\"model\":\"T4\",\"memory_bytes\":17179869184,\"memory_free_bytes\":0,\"pinned_bytes\":0},"
	"  {\"index\":1,\"model\":\"T4\",\"memory_bytes\":17179869184,\"memory_free_bytes\":0,\"pinned_bytes\":0}]}]}";

static const char *ps_json =
	"{\"items\":["
	" {\"job\":\"17\",\"rank\":0,\"pid\":100,\"node\":\"n1\",\"gpu\":0,\"state\":\"running\",\"device_bytes\":1073741824,"
	"  \"share\":0.5,\"device\":\"cuda\",\"gpu_model\":null,\"host\":\"n1\"},"
	" {\"job\":\"17\",\"rank\":1,\"pid\":101,\"node\":\"n1\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":1073741824,"
	"  \"share\":0.25,\"device\":\"cuda\",\"gpu_model\":null,\"host\":\"n1\"},"
	" {\"job\":\"train\",\"rank\":0,\"pid\":200,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\",\"device_bytes\":2147483648,"
	"  \"share\":null,\"device\":\"cuda\",\"gpu_model\":\"H200\",\"host\":\"n3\"},"
	" {\"job\":\"train\",\"rank\":0,\"pid\":201,\"node\":\"n2\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":2147483648,"
	"  \"share\":null,\"device\":\"cuda\",\"gpu_model\":null,\"host\":\"n3\"},"
	" {\"job\":18,\"rank\":0,\"pid\":300,\"node\":\"n3\",\"gpu\":0,\"state\":\"frozen\",\"device_bytes\":0,"
	"  \"share\":0.1,\"device\":\"sim\",\"gpu_model\":null,\"host\":\"n2\"},"
	" {\"job\":19,\"rank\":0,\"pid\":400,\"node\":\"n3\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":0,"
	"  \"device\":\"sim\",\"gpu_model\":null,\"host\":\"n2\"},"
	" {\"job\":20,\"rank\":0,\"pid\":500,\"node\":\"n3\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":0,"
	"  \"share\":0.5,\"device\":\"sim\",\"gpu_model\":null,\"host\":\"n2\"},"
	" {\"job\":21,\"rank\":0,\"pid\":600,\"node\":\"n3\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":0,"
	"  \"device\":\"sim\",\"gpu_model\":null,\"host\":\"n2\"},"
	" {\"job\":22,\"rank\":0,\"pid\":700,\"node\":\"n2\",\"gpu\":1,\"state\":\"running\",\"device_bytes\":0,"
	"  \"device\":\"sim\",\"gpu_model\":null,\"host\":\"n2\"}]}";

static json_t *task_by_id(json_t *doc, const char *id)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(doc, "tasks"), i, t)
		if (!strcmp(json_string_value(json_object_get(t, "id")), id))
			return t;
	return NULL;
}

static const char *convert_error(const char *nodes, const char *ps)
{
	json_t *n = json_loads(nodes, 0, NULL), *p = json_loads(ps, 0, NULL), *d;

	fx_err_begin();
	d = xp_state_from_live(n, p);
	json_decref(d);
	json_decref(n);
	json_decref(p);
	return d ? "" : fx_err_end();
}

int main(void)
{
	json_t *n = json_loads(nodes_json, 0, NULL), *p = json_loads(ps_json, 0, NULL);
	json_t *doc = xp_state_from_live(n, p), *t;
	struct xp_state st;
	const char *msg;
	int r;

	CHECK(doc != NULL, "canned nodes and ps convert");
	t = task_by_id(doc, "17:0");
	CHECK(t && !strcmp(json_string_value(json_object_get(t, "node")), "n1") &&
	      json_real_value(json_object_get(t, "share")) == 0.5 && json_is_true(json_object_get(t, "movable")),
	      "a task per (job, rank), on the node where its GPU side runs");
	t = task_by_id(doc, "train:0");
	CHECK(t && json_array_size(json_object_get(t, "gpus")) == 2 &&
	      json_integer_value(json_object_get(t, "device_bytes")) == 4294967296LL &&
	      json_real_value(json_object_get(t, "share")) == 1.0 &&
	      !strcmp(json_string_value(json_object_get(t, "gpu_model")), "H200"),
	      "a rank's processes join: GPUs, bytes summed, whole GPUs, declared model kept");
	t = task_by_id(doc, "18:0");
	CHECK(t && json_is_false(json_object_get(t, "movable")), "a frozen job is not movable; numeric job ids become names");
	t = task_by_id(doc, "19:0");
	CHECK(t && json_real_value(json_object_get(t, "share")) == 0.25 && json_is_true(json_object_get(t, "movable")),
	      "two tasks declaring no share split what is left of their GPU");
	t = task_by_id(doc, "pinned:n1:gpu1");
	CHECK(t && json_is_false(json_object_get(t, "movable")) &&
	      json_integer_value(json_object_get(t, "device_bytes")) == 2147483648LL &&
	      fabs(json_real_value(json_object_get(t, "share")) - 0.75) < 1e-9,
	      "memory used outside xmig is a task that stays, with the share xmig's tasks leave");
	t = task_by_id(doc, "22:0");
	CHECK(t && json_real_value(json_object_get(t, "share")) == 0 && json_is_false(json_object_get(t, "movable")),
	      "a task on a GPU another holds whole stays where it is");
	r = xp_state_from_json(doc, &st);
	CHECK(r == 0 && st.ntasks == 9 && st.nnodes == 3, "the converted state passes validation");
	if (r == 0) {
		struct xp_plan pl;
		struct xp_opts o;

		xp_opts_default(&o);
		r = xp_plan_make(&st, "xmig", &o, &pl);
		CHECK(r == 0 && pl.sum.nodes_before - pl.sum.nodes_after == 0,
		      "nothing to free: the frozen job, pinned memory and the T4 model hold every node");
		xp_plan_free(&pl);
	}
	xp_state_free(&st);
	json_decref(doc);
	json_decref(n);
	json_decref(p);

	/* What a move would be refused for now, or across nodes (which freeing one takes). */
	n = json_loads(nodes_json, 0, NULL);
	p = json_loads("{\"items\":["
		       "{\"job\":\"p\",\"rank\":0,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\","
		       " \"cuda_graphs\":0,\"cuda_graphs_unmovable\":null,\"symbol_address_taken\":false,"
		       " \"host_mapped\":false},"
		       "{\"job\":\"g\",\"rank\":0,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\","
		       " \"cuda_graphs\":2,\"cuda_graphs_unmovable\":null,\"cuda_graphs_host_copies\":0},"
		       "{\"job\":\"c\",\"rank\":0,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\","
		       " \"cuda_graphs\":2,\"cuda_graphs_host_copies\":1},"
		       "{\"job\":\"u\",\"rank\":0,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\","
		       " \"cuda_graphs_unmovable\":\"the process is capturing a CUDA graph\"},"
		       "{\"job\":\"s\",\"rank\":0,\"node\":\"n2\",\"gpu\":1,\"state\":\"running\","
		       " \"symbol_address_taken\":true},"
		       "{\"job\":\"h\",\"rank\":0,\"node\":\"n2\",\"gpu\":1,\"state\":\"running\","
		       " \"host_mapped\":true}]}", 0, NULL);
	doc = xp_state_from_live(n, p);
	CHECK(doc && json_is_true(json_object_get(task_by_id(doc, "p:0"), "movable")) &&
	      json_is_true(json_object_get(task_by_id(doc, "g:0"), "movable")) &&
	      json_is_false(json_object_get(task_by_id(doc, "c:0"), "movable")) &&
	      json_is_false(json_object_get(task_by_id(doc, "u:0"), "movable")) &&
	      json_is_false(json_object_get(task_by_id(doc, "s:0"), "movable")) &&
	      json_is_false(json_object_get(task_by_id(doc, "h:0"), "movable")),
	      "a task whose CUDA graphs copy to or from host memory, capturing, with a symbol's "
	      "address taken or mapped pinned memory stays; one with none of them, or only "
	      "graphs of device work, is movable");
	json_decref(doc);
	json_decref(n);
	json_decref(p);

	msg = convert_error(nodes_json,
			    "{\"items\":[{\"job\":\"a\",\"rank\":0,\"node\":\"n1\",\"gpu\":0,\"state\":\"running\"},"
			    "{\"job\":\"a\",\"rank\":0,\"node\":\"n2\",\"gpu\":0,\"state\":\"running\"}]}");
	CHECK(strstr(msg, "job a rank 0 runs on both n1 and n2"), "a rank on two nodes refused: %s", msg);
	msg = convert_error(nodes_json, "{\"items\":[{\"job\":\"a\",\"rank\":0,\"node\":\"n1\",\"gpu\":5}]}");
	CHECK(strstr(msg, "node n1 has no GPU 5"), "an unknown GPU refused: %s", msg);
	msg = convert_error(nodes_json, "{\"items\":[{\"job\":\"a\",\"rank\":0,\"node\":\"n9\",\"gpu\":0}]}");
	CHECK(strstr(msg, "node n9 has no GPU 0"), "an unknown node refused: %s", msg);
	msg = convert_error(nodes_json, "{\"items\":[{\"job\":\"a\",\"rank\":0,\"node\":\"n1\","
					"\"gpu\":null,\"proxy_gpu\":0,\"state\":\"running\"}]}");
	CHECK(strstr(msg, "job a rank 0 is on a GPU this command does not see"),
	      "a GPU hidden from the command (its CUDA_VISIBLE_DEVICES) refused: %s", msg);
	msg = convert_error(nodes_json, "{\"processes\":[]}");
	CHECK(strstr(msg, "xmig ps: missing \"items\""), "ps without items refused: %s", msg);
	msg = convert_error("{\"nodes\":[{\"name\":\"n1\"}]}", "{\"items\":[]}");
	CHECK(strstr(msg, "nodes[0]: expected an object with \"gpus\""), "a node without GPUs refused: %s", msg);
	msg = convert_error(nodes_json, "{\"items\":[{\"rank\":0,\"node\":\"n1\",\"gpu\":0}]}");
	CHECK(strstr(msg, "items[0].job: expected a job name"), "an item without job refused: %s", msg);
	return unit_done();
}
