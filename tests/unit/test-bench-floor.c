/*
 * test-bench-floor.c - the floors under a plan's device bytes that
 * plan-bench prints (tests/bench/floor.c), on made-up states where the
 * right answer is plain.
 */
#include "unit.h"
#include "plan-fixture.h"
#include "tests/bench/floor.c"

#define GIB (1024ULL * 1024 * 1024)

/* Parse and let go of the document (CHECK evaluates its condition twice). */
static int load(json_t *doc, struct xp_state *st)
{
	int r = fx_load(doc, st);

	json_decref(doc);
	return r;
}

/* Three one-GPU nodes a, b, c, each with one task of these shares and 6, 5, 7 GiB. */
static json_t *three(double sa, double sb, double sc)
{
	json_t *doc = fx_state();

	fx_node(doc, "a", 1, "A100", 40, 32, 64);
	fx_node(doc, "b", 1, "A100", 40, 32, 64);
	fx_node(doc, "c", 1, "A100", 40, 32, 64);
	fx_task(doc, "ta", NULL, 0, "a", "0", sa, 6, 1, true);
	fx_task(doc, "tb", NULL, 0, "b", "0", sb, 5, 1, true);
	fx_task(doc, "tc", NULL, 0, "c", "0", sc, 7, 1, true);
	return doc;
}

int main(void)
{
	struct xp_state st;
	json_t *doc, *freed;
	int r;

	/*
	 * Three one-GPU nodes, each with a task of 0.6 GPU: 1.8 GPUs of share
	 * fit on two, so the loose floor lets one go (the cheapest), but no two
	 * of those tasks share a GPU, so none can go.
	 */
	r = load(three(0.6, 0.6, 0.6), &st);
	CHECK(r == 0, "state of three 0.6 tasks");
	CHECK(bytes_floor(&st, 1) == 5 * GIB, "loose floor frees the cheapest node");
	CHECK(bytes_floor(&st, 2) == UINT64_MAX, "loose floor: two are out of reach");
	CHECK(bytes_floor_tight(&st, 1) == UINT64_MAX, "tight floor: shares over half a GPU do not pair");
	xp_state_free(&st);

	/* The same with 0.6 + 0.3 + 0.1: both bounds let one node go. */
	r = load(three(0.6, 0.3, 0.1), &st);
	CHECK(r == 0, "state of 0.6, 0.3, 0.1");
	CHECK(bytes_floor_tight(&st, 1) == 5 * GIB, "tight floor: small shares pack");
	CHECK(bytes_floor_tight(&st, 2) == (5 + 6) * GIB, "tight floor: all fit one GPU, the two cheapest go");
	xp_state_free(&st);

	/* CPUs bind: two tasks of 6 CPUs do not fit one 8-CPU node, whatever the GPUs. */
	doc = fx_state();
	fx_node(doc, "a", 2, "A100", 40, 8, 64);
	fx_node(doc, "b", 2, "A100", 40, 8, 64);
	fx_task(doc, "ta", NULL, 0, "a", "0", 0.2, 3, 6, true);
	fx_task(doc, "tb", NULL, 0, "b", "0", 0.2, 4, 6, true);
	r = load(doc, &st);
	CHECK(r == 0, "state of CPU-heavy tasks");
	CHECK(bytes_floor(&st, 1) == 3 * GIB, "loose floor ignores CPUs");
	CHECK(bytes_floor_tight(&st, 1) == UINT64_MAX, "tight floor counts CPUs");
	xp_state_free(&st);

	/* Per model: the cheapest used nodes of each model, as many as were freed there. */
	doc = fx_state();
	fx_node(doc, "a1", 1, "A100", 40, 32, 64);
	fx_node(doc, "a2", 1, "A100", 40, 32, 64);
	fx_node(doc, "a3", 1, "A100", 40, 32, 64);
	fx_node(doc, "t1", 1, "T4", 16, 32, 64);
	fx_node(doc, "t2", 1, "T4", 16, 32, 64);
	fx_task(doc, "x1", NULL, 0, "a1", "0", 0.2, 9, 1, true);
	fx_task(doc, "x2", NULL, 0, "a2", "0", 0.2, 8, 1, true);
	fx_task(doc, "x3", NULL, 0, "a3", "0", 0.2, 30, 1, true);
	fx_task(doc, "y1", NULL, 0, "t1", "0", 0.2, 1, 1, true);
	fx_task(doc, "y2", NULL, 0, "t2", "0", 0.2, 2, 1, true);
	r = load(doc, &st);
	CHECK(r == 0, "state of two models");
	freed = json_pack("[s, s, s]", "a3", "a1", "t2");
	CHECK(bytes_floor_models(&st, freed) == (8 + 9 + 1) * GIB, "two A100 nodes and a T4 node at the least");
	json_decref(freed);
	freed = json_array();
	CHECK(bytes_floor_models(&st, freed) == 0, "nothing freed, nothing moved");
	json_decref(freed);
	CHECK(bytes_floor(&st, 3) == (1 + 8 + 9) * GIB, "loose floor: cheapest across models, one T4 node stays");
	xp_state_free(&st);
	return unit_done();
}
