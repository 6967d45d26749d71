/*
 * test-ccl.c - Flexible CCL without a GPU: the logical communicator table,
 * keys, counters and PreMulSum ops (and their round trip through a move's
 * manifest), the consistent cut's targets and gate, the per-node caches,
 * the sim NCCL test double with one rank and with two (threads meeting
 * in its shared-memory segment), what surrounds a re-link: the warm-up
 * and the retire list that aborts old communicators later, and how the
 * caches' variables reach NCCL (the environment, or xmig's NCCL
 * environment plugin, opened here as NCCL opens it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nccl.h>

#include "unit.h"
#include "../../ccl/cache.c"
#include "../../ccl/comm.c"
#include "../../ccl/cut.c"
#include "../../ccl/env.c"
#include "../../ccl/nccl-sim.c"
#include "../../ccl/relink.c"

/*
 * No sim device here: every collective runs at once, except on the stream
 * CAPTURING, where it is recorded as a graph would (one record, held).
 */
#define CAPTURING ((void *)0x5eed)
static struct { void *arg; sim_hold_fn hold; } recorded_call;

int xmig_sim_capture_call(void *dev, void *s, sim_call_fn call, sim_hold_fn hold, const void *arg,
			  size_t len, bool *recorded)
{
	*recorded = s == CAPTURING;
	if (!*recorded)
		return 0;
	if (!(recorded_call.arg = malloc(len)))
		return 2;
	memcpy(recorded_call.arg, arg, len);
	recorded_call.hold = hold;
	hold(recorded_call.arg, 1);
	return 0;
}

/* The graph holding the record destroyed. */
static void drop_recorded_call(void)
{
	recorded_call.hold(recorded_call.arg, -1);
	free(recorded_call.arg);
	recorded_call.arg = NULL;
}

/* Which NCCL "is loaded", for env.c (no real NCCL here). */
static int fake_nccl_version;
int ccl_nccl_version(void)
{
	return fake_nccl_version;
}

static struct xmig_ccl_op op(uint64_t comm, int fn, int peer)
{
	struct xmig_ccl_op o = { .comm = comm, .fn = fn, .peer = peer, .datatype = ncclFloat,
				 .redop = ncclSum, .count = 1 };

	return o;
}

static void test_table(void)
{
	struct ccl_table t;
	struct xmig_ccl_config cfg = { .given = 1, .blocking = 0 };
	unsigned char ids[2][XMIG_CCL_ID_BYTES] = { { 1 }, { 2 } };
	struct ccl_comm *a, *b;

	ccl_table_init(&t);
	a = ccl_comm_new(&t, ccl_key_root(1, ids), 4, 1, &cfg);
	b = ccl_comm_new(&t, ccl_key_root(1, ids + 1), 2, 0, NULL);
	CHECK(a && b && a->id == 1 && b->id == 2, "logical ids are handed out from 1");
	CHECK(ccl_key_root(1, ids) == a->key && a->key != b->key, "a root key is the hash of its id");
	CHECK(ccl_comm_get(&t, 2) == b && ccl_comm_by_key(&t, a->key) == a, "found by id and by key");
	CHECK(!ccl_comm_new_at(&t, 1, 7, 1, 0, NULL), "an id in use is refused");
	CHECK(!ccl_comm_new(&t, 7, 2, 2, NULL), "a rank outside the communicator is refused");
	CHECK(ccl_key_split(a->key, 0, 3) != ccl_key_split(a->key, 1, 3) &&
		      ccl_key_split(a->key, 0, 3) != ccl_key_split(a->key, 0, 4) &&
		      ccl_key_split(a->key, 0, 3) == ccl_key_split(a->key, 0, 3),
	      "split keys differ by ordinal and colour, and agree across ranks");
	ccl_comm_remove(&t, 1);
	CHECK(!ccl_comm_get(&t, 1) && ccl_comm_get(&t, 2) == b && t.n == 1, "removed, the rest kept");
	a = ccl_comm_new(&t, 9, 1, 0, NULL);
	CHECK(a && a->id == 3, "ids are not reused");
	ccl_table_free(&t);
}

static _Atomic bool churned;
/* 1: the worker waits for a read begun after it set this; 2: that read done */
static _Atomic int halfway;

/* What a proxy's worker does in the job's turn: communicators and PreMulSum ops made and dropped. */
static void *churn(void *arg)
{
	struct ccl_table *t = arg;

	for (int i = 0; i < 20000; i++) {
		struct ccl_comm *c = ccl_comm_new(t, (uint64_t)i, 2, i & 1, NULL);

		for (int k = 0; c && k < 3; k++)
			ccl_redop_add(c);
		/* (the oldest of 64 goes: the last one is moved into its place) */
		if (c && c->id > 64)
			ccl_comm_remove(t, c->id - 64);
		/*
		 * On a loaded machine the whole churn can fit in one time slice
		 * of the reader's: wait once for a read of a full table.
		 */
		if (i == 100) {
			atomic_store(&halfway, 1);
			while (atomic_load(&halfway) != 2)
				sched_yield();
		}
	}
	atomic_store(&churned, true);
	return NULL;
}

/*
 * ccl.status describes the table from the control thread, not in the
 * turn, while the worker changes it: the table's lock keeps a reader off
 * an array or a redop list being moved (under ASan a miss is a
 * use-after-free; unguarded it could crash the proxy).
 */
static void test_table_read_while_changed(void)
{
	struct ccl_table t;
	pthread_t th;
	size_t most = 0, seen;
	bool sane = true;

	ccl_table_init(&t);
	pthread_create(&th, NULL, churn, &t);
	while (!atomic_load(&churned)) {
		int phase = atomic_load(&halfway);
		json_t *a = ccl_table_json(&t), *o;
		size_t k;

		json_array_foreach(a, k, o)
			sane &= json_integer_value(json_object_get(o, "nranks")) == 2;
		seen = json_array_size(a);
		if (seen > most)
			most = seen;
		json_decref(a);
		if (phase == 1)
			atomic_store(&halfway, 2);
	}
	pthread_join(th, NULL);
	CHECK(sane && most > 0, "the table described while the worker changes it (up to %zu "
	      "communicators seen, each whole)", most);
	CHECK(t.n == 64, "every communicator made and not dropped is there (%zu)", t.n);
	ccl_table_free(&t);
}

static void test_counts_and_ops(void)
{
	struct ccl_table t;
	struct ccl_comm *c, *back;
	struct ccl_redop *r1, *r2, *r3;
	struct xmig_ccl_op o;
	json_t *j;

	ccl_table_init(&t);
	c = ccl_comm_new(&t, 42, 3, 1, &(struct xmig_ccl_config){ .given = 1, .blocking = 1,
								  .comm_name = "pg0" });
	o = op(c->id, XMIG_CCL_ALLREDUCE, 0);
	CHECK(ccl_op_check(c, &o) == ncclSuccess, "an all-reduce with a built-in op is well formed");
	o.redop = 7;
	CHECK(ccl_op_check(c, &o) == ncclInvalidArgument, "an op nobody made is refused");
	o = op(c->id, XMIG_CCL_SEND, 3);
	CHECK(ccl_op_check(c, &o) == ncclInvalidArgument, "a peer outside the communicator is refused");
	o = op(c->id, XMIG_CCL_BROADCAST, 2);
	ccl_count(c, &o);
	ccl_count(c, &o);
	o = op(c->id, XMIG_CCL_SEND, 2);
	ccl_count(c, &o);
	o = op(c->id, XMIG_CCL_RECV, 0);
	ccl_count(c, &o);
	CHECK(c->colls == 2 && c->sent[2] == 1 && c->recvd[0] == 1 && !c->sent[0],
	      "collectives counted apart from sends and receives per peer");

	r1 = ccl_redop_add(c);
	r2 = ccl_redop_add(c);
	r1 = ccl_redop_find(c, ncclNumOps);   /* the second add may have moved the table */
	CHECK(r1 && r2 && r1->logical == ncclNumOps && r2->logical == ncclNumOps + 1,
	      "PreMulSum ops get logical values from ncclNumOps");
	r1->physical = 11;
	r2->physical = 12;
	r2->datatype = ncclFloat;
	r2->scalar[0] = 0xab;
	CHECK(ccl_redop_physical(c, ncclSum) == ncclSum && ccl_redop_physical(c, ncclNumOps + 1) == 12,
	      "built-in ops map to themselves, made ones to the physical op");
	r1->live = false;
	r3 = ccl_redop_add(c);
	CHECK(r3->logical == ncclNumOps, "a destroyed op's value is reused");
	r3->live = false;
	{
		/* a damaged manifest entry's value far past any live op's: no table that large */
		json_t *far = json_pack("{s:i, s:i, s:i}", "op", 2147483647, "datatype", ncclFloat,
					"residence", 0);
		size_t before = c->nredops;

		CHECK(!ccl_redop_from_json(c, far) && c->nredops == before,
		      "a PreMulSum entry of value 2^31-1 is refused, the table as it was");
		json_decref(far);
	}

	/* a move: the manifest entry makes the same communicator in a new table */
	c->rebuild_s = 0;
	j = ccl_comm_json(c);
	{
		struct ccl_table t2;

		ccl_table_init(&t2);
		back = ccl_comm_from_json(&t2, j);
		CHECK(back && back->id == c->id && back->key == 42 && back->nranks == 3 &&
			      back->rank == 1 && !back->phys,
		      "a manifest entry gives the same logical communicator, not linked yet");
		CHECK(back && back->colls == 2 && back->sent[2] == 1 && back->recvd[0] == 1,
		      "... with its counters");
		CHECK(back && back->cfg.blocking == 1 && !strcmp(back->cfg.comm_name, "pg0"),
		      "... and its configuration");
		CHECK(back && ccl_redop_find(back, ncclNumOps + 1) && !ccl_redop_find(back, ncclNumOps) &&
			      ccl_redop_find(back, ncclNumOps + 1)->scalar[0] == 0xab,
		      "... and its live PreMulSum ops under the same values");
		ccl_table_free(&t2);
	}
	json_decref(j);
	ccl_table_free(&t);
}

/* Two ranks' tables for the same communicator. */
static void test_cut(void)
{
	struct ccl_table r0, r1;
	struct ccl_comm *c0, *c1;
	struct ccl_cut cut;
	struct xmig_ccl_op o;
	json_t *reports, *targets, *bad;
	char why[256] = "";
	int i;

	ccl_table_init(&r0);
	ccl_table_init(&r1);
	c0 = ccl_comm_new(&r0, 77, 2, 0, NULL);
	c1 = ccl_comm_new(&r1, 77, 2, 1, NULL);
	/* rank 0 is two collectives and a send ahead */
	o = op(c0->id, XMIG_CCL_ALLREDUCE, 0);
	for (i = 0; i < 5; i++)
		ccl_count(c0, &o);
	o = op(c1->id, XMIG_CCL_ALLREDUCE, 0);
	for (i = 0; i < 3; i++)
		ccl_count(c1, &o);
	o = op(c0->id, XMIG_CCL_SEND, 1);
	ccl_count(c0, &o);

	reports = json_pack("[o, o]", ccl_cut_report(&r0), ccl_cut_report(&r1));
	targets = ccl_cut_targets(reports, why, sizeof(why));
	i = targets ? ccl_cut_parse(targets, &cut, why, sizeof(why)) : -1;
	CHECK(targets && json_array_size(targets) == 1, "one target per communicator (%s)", why);
	CHECK(i == 0 && cut.n == 1 &&
		      cut.t[0].colls == 5 && cut.t[0].p2p[0 * 2 + 1] == 1 && cut.t[0].p2p[1 * 2 + 0] == 0,
	      "targets: the most collectives any rank posted, sends from 0 to 1 matched by receives");
	CHECK(ccl_cut_reached(&r0, &cut), "the rank ahead is at the cut already");
	CHECK(!ccl_cut_reached(&r1, &cut), "the rank behind is not");
	o = op(c0->id, XMIG_CCL_ALLREDUCE, 0);
	CHECK(!ccl_cut_admits(&r0, &cut, &o, 1), "the rank ahead may post no further collective");
	o = op(c1->id, XMIG_CCL_ALLREDUCE, 0);
	CHECK(ccl_cut_admits(&r1, &cut, &o, 1), "the rank behind may post the next one");
	{
		struct xmig_ccl_op g[3] = { op(c1->id, XMIG_CCL_ALLREDUCE, 0),
					    op(c1->id, XMIG_CCL_ALLREDUCE, 0),
					    op(c1->id, XMIG_CCL_ALLREDUCE, 0) };

		CHECK(!ccl_cut_admits(&r1, &cut, g, 3), "a group that would pass the cut is held whole");
		CHECK(ccl_cut_admits(&r1, &cut, g, 2), "one that reaches it runs");
		ccl_count(c1, &g[0]);
		ccl_count(c1, &g[1]);
	}
	CHECK(!ccl_cut_reached(&r1, &cut), "the receive matching rank 0's send is still missing");
	o = op(c1->id, XMIG_CCL_RECV, 0);
	CHECK(ccl_cut_admits(&r1, &cut, &o, 1), "the matching receive may run");
	ccl_count(c1, &o);
	CHECK(!ccl_cut_admits(&r1, &cut, &o, 1), "a second receive may not");
	CHECK(ccl_cut_reached(&r1, &cut), "now both ranks are at the same cut");
	{
		struct ccl_comm *later = ccl_comm_new(&r1, 99, 1, 0, NULL);

		o = op(later->id, XMIG_CCL_ALLREDUCE, 0);
		CHECK(!ccl_cut_admits(&r1, &cut, &o, 1), "a communicator made since the cut may not post");
	}
	ccl_cut_free(&cut);
	json_decref(targets);

	bad = json_pack("[O]", json_array_get(reports, 0));
	targets = ccl_cut_targets(bad, why, sizeof(why));
	CHECK(!targets && strstr(why, "did not report"),
	      "a rank that did not report is named: %s", why);
	json_decref(bad);
	bad = json_pack("[O, O]", json_array_get(reports, 0), json_array_get(reports, 0));
	targets = ccl_cut_targets(bad, why, sizeof(why));
	CHECK(!targets && strstr(why, "twice"),
	      "a rank reported twice is refused: %s", why);
	json_decref(bad);
	json_decref(reports);
	ccl_table_free(&r0);
	ccl_table_free(&r1);
}

static void test_cache(void)
{
	char tmpl[] = "/tmp/xmig-ccl-cache.XXXXXX", dir[512];
	struct ccl_cache_files f, g;
	struct ccl_table t;
	struct ccl_comm *c;
	FILE *fp;

	bool made = mkdtemp(tmpl) != NULL;

	CHECK(made, "a scratch directory");
	unsetenv("XMIG_CCL_CACHE");
	made = ccl_cache_dir(tmpl, "node7", dir, sizeof(dir)) == 0;
	CHECK(made && strstr(dir, "/ccl-cache/node7"),
	      "the cache is per node under the runtime directory: %s", dir);
	ccl_cache_files(dir, 0x1234, "n1:gpu0,n1:gpu1", &f);
	ccl_cache_files(dir, 0x1234, "n1:gpu0,n2:gpu0", &g);
	CHECK(!strcmp(f.topo, g.topo) && strcmp(f.graph, g.graph),
	      "one topology per node, graphs per communicator and placement");
	CHECK(!f.have_topo && !f.have_graph, "nothing cached at first");
	ccl_cache_setenv(&f, 3);
	CHECK(!strcmp(getenv("NCCL_TOPO_DUMP_FILE") ?: "", f.topo_dump) &&
		      !strcmp(getenv("NCCL_GRAPH_DUMP_FILE") ?: "", f.graph_dump) &&
		      !strncmp(f.topo_dump, f.topo, strlen(f.topo)) && strcmp(f.topo_dump, f.topo) &&
		      !getenv("NCCL_TOPO_FILE") && !strcmp(getenv("NCCL_TOPO_DUMP_FILE_RANK") ?: "", "3"),
	      "a first build dumps topology and graphs, to files of its own");
	fp = fopen(f.topo_dump, "w");
	fputs("<system version=\"1\"/>\n", fp);
	fclose(fp);
	ccl_cache_unset();
	ccl_cache_keep(&f);
	CHECK(access(f.topo, R_OK) == 0 && access(f.topo_dump, F_OK) != 0 &&
		      access(f.graph, F_OK) != 0,
	      "what it dumped is renamed into place; what it did not, is not made up");
	ccl_cache_files(dir, 0x1234, "n1:gpu0,n1:gpu1", &f);
	ccl_cache_setenv(&f, 3);
	CHECK(f.have_topo && !strcmp(getenv("NCCL_TOPO_FILE") ?: "", f.topo) &&
		      !getenv("NCCL_TOPO_DUMP_FILE") && getenv("NCCL_GRAPH_DUMP_FILE"),
	      "a rebuild reads the cached topology and still dumps the missing graphs");
	ccl_cache_unset();
	CHECK(!getenv("NCCL_TOPO_FILE") && !getenv("NCCL_GRAPH_DUMP_FILE"),
	      "the variables are gone after the build");
	ccl_table_init(&t);
	c = ccl_comm_new(&t, 0x1234, 2, 1, NULL);
	c->generation = 2;
	made = ccl_cache_note(&f, c, "GPU-x", true) == 0;
	CHECK(made && access(f.info, R_OK) == 0,
	      "the bootstrap record is written beside them");
	ccl_table_free(&t);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
		CHECK(system(cmd) == 0, "scratch removed");
	}
}

/* ---- the sim double ---------------------------------------------------------------- */

static void test_sim_one_rank(void)
{
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	float in[4] = { 1, 2, -3, 4 }, out[4] = { 0 }, half = 0.5f;
	void *comm;
	int op, n, r;
	struct xmig_ccl_op o = { .fn = XMIG_CCL_ALLREDUCE, .datatype = ncclFloat, .count = 4 };

	o.send = (uint64_t)(uintptr_t)in;
	o.recv = (uint64_t)(uintptr_t)out;
	int st;

	st = ccl_backend_sim.unique_id(NULL, id[0]);
	st |= ccl_backend_sim.init(NULL, 1, 0, 1, (const void *)id, NULL, &comm);
	CHECK(st == 0, "sim: a communicator of one");
	st = ccl_backend_sim.size(NULL, comm, &n, &r);
	CHECK(st == 0 && n == 1 && r == 0, "sim: its size and rank");
	st = ccl_backend_sim.redop_create(NULL, comm, ncclFloat, ncclScalarHostImmediate, &half, &op);
	CHECK(st == 0, "sim: a PreMulSum op");
	st = ccl_backend_sim.coll(NULL, comm, &o, op, NULL);
	CHECK(st == 0 && out[0] == 0.5f && out[2] == -1.5f, "sim: all-reduce with PreMulSum multiplies");
	o.fn = XMIG_CCL_SEND;
	o.peer = 0;
	st = ccl_backend_sim.coll(NULL, comm, &o, 0, NULL);
	CHECK(st != 0, "sim: a send outside a group fails loudly");
	o.datatype = ncclFloat8e4m3;
	o.fn = XMIG_CCL_ALLREDUCE;
	st = ccl_backend_sim.coll(NULL, comm, &o, 0, NULL);
	CHECK(st == ncclInvalidUsage, "sim: fp8 is not simulated, and says so");
	ccl_backend_sim.end(NULL, comm, XMIG_CCL_DESTROY);
}

static void *drop_later(void *arg)
{
	usleep(100 * 1000);
	drop_recorded_call();
	return NULL;
}

/* NCCL (2.26 on) ends a communicator only once no graph holds its work; the double too. */
static void test_sim_graph_holds(void)
{
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	float in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	struct xmig_ccl_op o = { .fn = XMIG_CCL_ALLREDUCE, .datatype = ncclFloat, .count = 4,
				 .send = (uint64_t)(uintptr_t)in, .recv = (uint64_t)(uintptr_t)out };
	uint64_t t0;
	pthread_t th;
	void *comm;
	int st;

	setenv("XMIG_SIM_CCL_GRAPH_WAIT_MS", "200", 1);
	st = ccl_backend_sim.unique_id(NULL, id[0]);
	st |= ccl_backend_sim.init(NULL, 1, 0, 1, (const void *)id, NULL, &comm);
	st |= ccl_backend_sim.coll(NULL, comm, &o, ncclSum, CAPTURING);
	CHECK(st == 0 && out[0] == 0 && recorded_call.arg, "sim: an all-reduce captured is recorded, not run");
	t0 = xmig_now_ns();
	st = ccl_backend_sim.end(NULL, comm, XMIG_CCL_FINALIZE);
	CHECK(st == ncclInvalidUsage && xmig_now_ns() - t0 >= 190 * 1000000ull,
	      "sim: a finalize waits for the graph holding the call, then fails loudly");
	CHECK(strstr(ccl_backend_sim.last_error(NULL, comm), "destroy the graphs first") != NULL,
	      "... saying what to do");
	st = ccl_backend_sim.end(NULL, comm, XMIG_CCL_DESTROY);
	CHECK(st == ncclInvalidUsage, "sim: so does a destroy, the communicator kept for the graph");
	setenv("XMIG_SIM_CCL_GRAPH_WAIT_MS", "5000", 1);
	pthread_create(&th, NULL, drop_later, NULL);
	t0 = xmig_now_ns();
	st = ccl_backend_sim.end(NULL, comm, XMIG_CCL_DESTROY);
	pthread_join(th, NULL);
	CHECK(st == 0 && xmig_now_ns() - t0 < 4000 * 1000000ull,
	      "sim: a destroy goes on as soon as the graph is destroyed");
	unsetenv("XMIG_SIM_CCL_GRAPH_WAIT_MS");
}

struct rank_arg {
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	int rank, st;
	float in[8], sum[8], gathered[16], scattered[4];
};

static void *rank_main(void *p)
{
	struct rank_arg *a = p;
	void *comm;
	struct xmig_ccl_op o = { .datatype = ncclFloat };

	if ((a->st = ccl_backend_sim.init(NULL, 2, a->rank, 1, (const void *)a->id, NULL, &comm)))
		return NULL;
	o.fn = XMIG_CCL_ALLREDUCE;
	o.count = 8;
	o.send = (uint64_t)(uintptr_t)a->in;
	o.recv = (uint64_t)(uintptr_t)a->sum;
	a->st |= ccl_backend_sim.coll(NULL, comm, &o, ncclSum, NULL);
	o.fn = XMIG_CCL_ALLGATHER;
	o.recv = (uint64_t)(uintptr_t)a->gathered;
	a->st |= ccl_backend_sim.coll(NULL, comm, &o, 0, NULL);
	o.fn = XMIG_CCL_REDUCESCATTER;
	o.count = 4;
	o.recv = (uint64_t)(uintptr_t)a->scattered;
	a->st |= ccl_backend_sim.coll(NULL, comm, &o, ncclSum, NULL);
	ccl_backend_sim.end(NULL, comm, XMIG_CCL_DESTROY);
	return NULL;
}

static void test_sim_two_ranks(void)
{
	struct rank_arg a[2];
	pthread_t th[2];
	bool ok = true;

	memset(a, 0, sizeof(a));
	ccl_backend_sim.unique_id(NULL, a[0].id[0]);
	memcpy(a[1].id, a[0].id, sizeof(a[0].id));
	for (int r = 0; r < 2; r++) {
		a[r].rank = r;
		for (int i = 0; i < 8; i++)
			a[r].in[i] = (float)(i + 10 * r);
		pthread_create(&th[r], NULL, rank_main, &a[r]);
	}
	for (int r = 0; r < 2; r++)
		pthread_join(th[r], NULL);
	CHECK(a[0].st == 0 && a[1].st == 0, "sim: two ranks meet in the shared segment");
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 8; i++) {
			ok &= a[r].sum[i] == (float)(2 * i + 10);
			ok &= a[r].gathered[i] == (float)i && a[r].gathered[8 + i] == (float)(i + 10);
			if (i < 4)
				ok &= a[r].scattered[i] == (float)(2 * (4 * r + i) + 10);
		}
	CHECK(ok, "sim: all-reduce, all-gather and reduce-scatter of two ranks are right on both");
}

/* A peer whose process exits: the other rank's collective fails at once, saying so. */
static void test_sim_peer_gone(void)
{
	unsigned char id[1][XMIG_CCL_ID_BYTES];
	float in[4] = { 1, 2, 3, 4 }, out[4];
	struct xmig_ccl_op o = { .fn = XMIG_CCL_ALLREDUCE, .datatype = ncclFloat, .count = 4,
				 .send = (uint64_t)(uintptr_t)in, .recv = (uint64_t)(uintptr_t)out };
	uint64_t t0;
	void *comm = NULL;
	pid_t child;
	int st;

	ccl_backend_sim.unique_id(NULL, id[0]);
	fflush(NULL);
	if ((child = fork()) == 0) {
		/* rank 1 joins, then its process ends before any collective */
		_exit(ccl_backend_sim.init(NULL, 2, 1, 1, (const void *)id, NULL, &comm) ? 1 : 0);
	}
	st = ccl_backend_sim.init(NULL, 2, 0, 1, (const void *)id, NULL, &comm);
	waitpid(child, NULL, 0);
	CHECK(st == 0, "sim: two ranks, one per process, meet");
	t0 = xmig_now_ns();
	st = ccl_backend_sim.coll(NULL, comm, &o, ncclSum, NULL);
	CHECK(st == ncclRemoteError && xmig_now_ns() - t0 < 5000 * 1000000ull,
	      "sim: a collective whose peer's process is gone fails at once, not after 120 s");
	CHECK(strstr(ccl_backend_sim.last_error(NULL, comm), "rank 1's process is gone") != NULL,
	      "... saying which rank");
	ccl_backend_sim.end(NULL, comm, XMIG_CCL_ABORT);
}

/* ---- around a re-link ------------------------------------------------------------- */

/* A backend that records what was ended, how, and on which thread; aborts are slow. */
static struct {
	pthread_mutex_t lock;
	int log[16], n;                 /* +comm: aborted, -comm: destroyed */
	pthread_t thread[16];
	int binds;
	pthread_t bound;
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int rec_end(void *dev, void *comm, int kind)
{
	int c = (int)(intptr_t)comm;

	if (kind == XMIG_CCL_ABORT) {
		struct timespec ts = { 0, 50 * 1000000 };

		nanosleep(&ts, NULL);   /* ncclCommAbort takes its time */
	}
	pthread_mutex_lock(&rec.lock);
	if (rec.n < 16) {
		rec.thread[rec.n] = pthread_self();
		rec.log[rec.n++] = kind == XMIG_CCL_ABORT ? c : -c;
	}
	pthread_mutex_unlock(&rec.lock);
	return ncclSuccess;
}

static int rec_bind(void *dev)
{
	rec.binds++;
	rec.bound = pthread_self();
	return 0;
}

static int rec_count(void)
{
	int n;

	pthread_mutex_lock(&rec.lock);
	n = rec.n;
	pthread_mutex_unlock(&rec.lock);
	return n;
}

static void test_retire(void)
{
	struct ccl_backend b = ccl_backend_sim;
	struct ccl_retire r;
	int waited = 0;

	b.end = rec_end;
	ccl_retire_init(&r, &b, NULL, rec_bind);
	ccl_retire(&r, (void *)(intptr_t)1, 0x11);
	ccl_retire(&r, (void *)(intptr_t)2, 0x22);
	/* (no time bound: a preempted test would fail it; an abort in the caller would count) */
	CHECK(rec_count() == 0 && ccl_retire_pending(&r) == 2,
	      "retire: two old communicators queued at once, neither aborted while held");
	usleep(120 * 1000);
	CHECK(rec_count() == 0, "retire: still nothing aborted before the release (the job is frozen)");
	ccl_retire_release(&r);
	while (ccl_retire_pending(&r) && waited++ < 200)
		usleep(10 * 1000);
	CHECK(rec_count() == 2 && rec.log[0] > 0 && rec.log[1] > 0 && r.aborted == 2,
	      "retire: released, both aborted (not destroyed) in the background");
	CHECK(rec.binds == 1 && pthread_equal(rec.bound, rec.thread[0]) &&
		      !pthread_equal(rec.thread[0], pthread_self()),
	      "retire: on its own thread, with the device bound there");
	ccl_retire(&r, (void *)(intptr_t)3, 0x33);
	ccl_retire_drain(&r);
	CHECK(rec_count() == 3 && rec.log[2] == 3 && ccl_retire_pending(&r) == 0 && !r.started,
	      "retire: drained at exit, one never released is aborted too, the thread joined");
	ccl_retire(&r, (void *)(intptr_t)4, 0x44);
	ccl_retire_drain(&r);
	CHECK(rec_count() == 4 && rec.log[3] == 4 && r.queued == 4,
	      "retire: usable again after a drain");
	ccl_retire_drain(&r);
	CHECK(rec_count() == 4, "retire: draining an empty list does nothing");
}

static void test_warm_up_and_log(void)
{
	char tmpl[] = "/tmp/xmig-ccl-warm.XXXXXX", log[600], line[128];
	struct ccl_cache_files f;
	double secs = -1;
	int st, inits = 0, destroys = 0;
	FILE *fp;

	bool made = mkdtemp(tmpl) != NULL;

	CHECK(made, "a scratch directory");
	snprintf(log, sizeof(log), "%s/sim.log", tmpl);
	setenv("XMIG_SIM_CCL_LOG", log, 1);
	ccl_cache_files(tmpl, 0, NULL, &f);
	st = ccl_warm_up(&ccl_backend_sim, NULL, &f, 1, &secs);
	CHECK(st == 0 && secs >= 0, "warm-up: a one-rank communicator made and destroyed");
	CHECK(!getenv("NCCL_TOPO_DUMP_FILE") && !getenv("NCCL_GRAPH_DUMP_FILE") &&
		      !strcmp(getenv("NCCL_GRAPH_DUMP_FILE_RANK") ?: "", "1"),
	      "warm-up: the cache variables are gone after it; graph dumps are left to rank 1");
	unsetenv("XMIG_SIM_CCL_LOG");
	unsetenv("NCCL_GRAPH_DUMP_FILE_RANK");
	unsetenv("NCCL_TOPO_DUMP_FILE_RANK");
	if ((fp = fopen(log, "r"))) {
		while (fgets(line, sizeof(line), fp)) {
			inits += strstr(line, " init ") != NULL;
			destroys += strstr(line, " destroy ") != NULL;
		}
		fclose(fp);
	}
	CHECK(inits == 1 && destroys == 1, "sim: $XMIG_SIM_CCL_LOG has a line per communicator made and ended");
	snprintf(line, sizeof(line), "rm -rf %s", tmpl);
	made = system(line) == 0;
	CHECK(made, "scratch removed");
}

/* The plugin's face to NCCL, as its env plugin interface version 1 lays it out. */
struct env_v1 {
	const char *name;
	ncclResult_t (*init)(uint8_t, uint8_t, uint8_t, const char *);
	ncclResult_t (*finalize)(void);
	const char *(*get_env)(const char *);
};

/* env.c back to a process that has set nothing (its statics: included above). */
static void env_fresh(int version)
{
	for (int i = 0; i < nown; i++)
		free(own[i].value);
	nown = 0;
	via_plugin = -1;
	fake_nccl_version = version;
}

static void test_env_plugin(void)
{
	char tmpl[] = "/tmp/xmig-ccl-env.XXXXXX", exe[512], plugin[600], topo[600];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const struct env_v1 *e;
	struct ccl_cache_files f;
	bool armed;
	void *h;
	FILE *fp;

	exe[n > 0 ? n : 0] = 0;
	*strrchr(exe, '/') = 0;   /* build/tests/unit */
	snprintf(plugin, sizeof(plugin), "%s/../../libexec/xmig/libnccl-env-xmig.so", exe);
	h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
	e = h ? dlsym(h, "ncclEnvPlugin_v1") : NULL;
	CHECK(e && !strcmp(e->name, "xmig") && e->get_env("HOME") == getenv("HOME"),
	      "the plugin is what NCCL looks for; names xmig did not set are the environment's");
	if (!e)
		return;

	/* the job's own plugin (or none) wins: nothing armed */
	setenv("NCCL_ENV_PLUGIN", "none", 1);
	armed = ccl_env_arm(plugin) == 0;
	CHECK(!armed && !strcmp(getenv("NCCL_ENV_PLUGIN"), "none"),
	      "a job's own NCCL_ENV_PLUGIN is left alone");
	unsetenv("NCCL_ENV_PLUGIN");
	armed = ccl_env_arm(plugin) == 0;
	CHECK(armed && !strcmp(getenv("NCCL_ENV_PLUGIN") ?: "", plugin),
	      "armed: NCCL_ENV_PLUGIN names xmig's plugin");

	mkdtemp(tmpl);
	snprintf(topo, sizeof(topo), "%s/topo.xml", tmpl);
	fp = fopen(topo, "w");
	fputs("<system version=\"1\"/>\n", fp);
	fclose(fp);
	ccl_cache_files(tmpl, 0x77, "n1:gpu0", &f);

	/* an NCCL before 2.28.7 asks no plugin: the environment it is */
	env_fresh(22705);
	ccl_cache_setenv(&f, 0);
	CHECK(!ccl_env_via_plugin() && !strcmp(getenv("NCCL_TOPO_FILE") ?: "", topo),
	      "NCCL 2.27.5: the cache's variables go through the environment");
	ccl_cache_unset();

	/* 2.28.9 that never called the plugin's init: back to the environment, after one build */
	env_fresh(22809);
	ccl_cache_setenv(&f, 0);
	CHECK(ccl_env_via_plugin() && !getenv("NCCL_TOPO_FILE") &&
		      !strcmp(e->get_env("NCCL_TOPO_FILE") ?: "", topo),
	      "NCCL 2.28.9: the topology file is the plugin's answer; the environment is untouched");
	ccl_cache_unset();
	ccl_cache_setenv(&f, 0);
	CHECK(!ccl_env_via_plugin() && !strcmp(getenv("NCCL_TOPO_FILE") ?: "", topo),
	      "an NCCL that did not take the plugin up gets the environment from the next build on");
	ccl_cache_unset();
	CHECK(!getenv("NCCL_TOPO_FILE"), "and it is unset after the build");

	/* taken up (NCCL called init): the environment is never written */
	env_fresh(22809);
	CHECK(e->init(2, 28, 9, "") == ncclSuccess, "NCCL's init of the plugin");
	ccl_cache_setenv(&f, 2);
	CHECK(!getenv("NCCL_TOPO_FILE") && !getenv("NCCL_GRAPH_DUMP_FILE") &&
		      !strcmp(e->get_env("NCCL_TOPO_FILE") ?: "", topo) &&
		      !strcmp(e->get_env("NCCL_GRAPH_DUMP_FILE") ?: "", f.graph_dump) &&
		      !strcmp(e->get_env("NCCL_GRAPH_DUMP_FILE_RANK") ?: "", "2"),
	      "a build's variables are the plugin's alone");
	ccl_cache_unset();
	CHECK(ccl_env_via_plugin() && !e->get_env("NCCL_TOPO_FILE") &&
		      !e->get_env("NCCL_GRAPH_DUMP_FILE"),
	      "and unset for NCCL after the build");

	/* a topology file of the job's own environment is NCCL's to read, not the cache's */
	env_fresh(22809);
	setenv("NCCL_TOPO_FILE", "/etc/vm-topo.xml", 1);
	ccl_cache_setenv(&f, 0);
	CHECK(!strcmp(e->get_env("NCCL_TOPO_FILE") ?: "", "/etc/vm-topo.xml") &&
		      !e->get_env("NCCL_TOPO_DUMP_FILE"),
	      "the job's own NCCL_TOPO_FILE is kept, and nothing is dumped over it");
	ccl_cache_unset();
	CHECK(!strcmp(e->get_env("NCCL_TOPO_FILE") ?: "", "/etc/vm-topo.xml"),
	      "and it is still there after the build");
	env_fresh(22705);
	ccl_cache_setenv(&f, 0);
	ccl_cache_unset();
	CHECK(!strcmp(getenv("NCCL_TOPO_FILE") ?: "", "/etc/vm-topo.xml"),
	      "through the environment too");
	unsetenv("NCCL_TOPO_FILE");
	unsetenv("NCCL_ENV_PLUGIN");
	env_fresh(0);
	plugin_set = NULL;
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
		CHECK(system(cmd) == 0, "scratch removed");
	}
}

/* NCCL's RAS off in the proxies, unless the job says otherwise. */
static void test_env_defaults(void)
{
	unsetenv("NCCL_RAS_ENABLE");
	ccl_env_defaults();
	CHECK(!strcmp(getenv("NCCL_RAS_ENABLE") ?: "", "0"), "RAS off when the job does not set it");
	setenv("NCCL_RAS_ENABLE", "1", 1);
	ccl_env_defaults();
	CHECK(!strcmp(getenv("NCCL_RAS_ENABLE") ?: "", "1"), "the job's NCCL_RAS_ENABLE=1 is kept");
	setenv("NCCL_RAS_ENABLE", "", 1);
	ccl_env_defaults();
	CHECK(!strcmp(getenv("NCCL_RAS_ENABLE") ?: "?", ""), "so is an empty one (NCCL's default)");
	unsetenv("NCCL_RAS_ENABLE");
}

int main(void)
{
	test_table();
	test_table_read_while_changed();
	test_counts_and_ops();
	test_cut();
	test_cache();
	test_env_plugin();
	test_env_defaults();
	test_sim_one_rank();
	test_sim_two_ranks();
	test_sim_graph_holds();
	test_sim_peer_gone();
	test_retire();
	test_warm_up_and_log();
	return unit_done();
}
