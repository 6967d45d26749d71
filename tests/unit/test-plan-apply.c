/*
 * test-plan-apply.c - xp_apply between waves: the live state read again
 * before each later wave, and what apply reports when it cannot be.
 * The moves run a stand-in for `xmig migrate` (a script that succeeds).
 */
#include <sys/stat.h>

#include "unit.h"
#include "plan-fixture.h"

static char migrate[64];
static int reads, fail_from;

/* The live state read again: fails from read fail_from on (0: never). */
static int refresh(struct xp_state *st, void *arg)
{
	(void)st;
	(void)arg;
	reads++;
	return fail_from && reads >= fail_from ? xmig_error("live state: cannot be read") : 0;
}

/* Two nodes of two GPUs; a and b on n1, moved to n2 in waves 1 and 2. */
static int run(const char *plan_text, bool with_refresh, json_t **rep, const char **msg)
{
	json_t *doc = fx_state(), *plan = json_loads(plan_text, 0, NULL);
	struct xp_apply_opts o = { 0 };
	struct xp_state st;
	int r;

	fx_node(doc, "n1", 2, "A100", 40, 32, 256);
	fx_node(doc, "n2", 2, "A100", 40, 32, 256);
	fx_task(doc, "a", NULL, 0, "n1", "0", 1.0, 4, 1, true);
	fx_task(doc, "b", NULL, 0, "n1", "1", 1.0, 4, 1, true);
	if (fx_load(doc, &st) < 0 || !plan)
		return -9;
	o.concurrency = 1;
	o.stop_on_error = true;
	o.migrate_cmd = migrate;
	o.refresh = with_refresh ? refresh : NULL;
	reads = 0;
	fx_err_begin();
	r = xp_apply(&st, plan, &o, rep);
	*msg = fx_err_end();
	xp_state_free(&st);
	json_decref(plan);
	json_decref(doc);
	return r;
}

static json_int_t summary(json_t *rep, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(rep, "summary"), key));
}

#define MOVE(task, gpu, wave)                                                              \
	"{\"task\":\"" task "\",\"job\":\"" task "\",\"rank\":0,\"wave\":" #wave                  \
	",\"device_bytes\":4294967296,\"from\":{\"node\":\"n1\",\"gpus\":[" #gpu "]},"          \
	"\"to\":{\"node\":\"n2\",\"gpus\":[" #gpu "]}}"

static const char two_waves[] = "{\"version\":1,\"moves\":[" MOVE("a", 0, 1) "," MOVE("b", 1, 2) "]}";

int main(void)
{
	const char *msg;
	json_t *rep = NULL;
	FILE *f;
	int r;

	snprintf(migrate, sizeof(migrate), "/tmp/xmig-test-migrate.%d", (int)getpid());
	f = fopen(migrate, "w");
	fputs("#!/bin/sh\necho '{\"items\":[]}'\n", f);
	fclose(f);
	chmod(migrate, 0755);

	fail_from = 0;
	r = run(two_waves, true, &rep, &msg);
	CHECK(r == 0 && summary(rep, "moved") == 2 && reads == 1,
	      "two waves, the state read again before the second: both moved (%d, %d reads)", r, reads);
	json_decref(rep);

	fail_from = 1;
	r = run(two_waves, true, &rep, &msg);
	CHECK(r == 1 && rep && summary(rep, "moved") == 1 && summary(rep, "skipped") == 1 &&
		      json_is_true(json_object_get(json_object_get(rep, "summary"), "stopped")),
	      "the state not read again before wave 2: wave 1 moved, wave 2 skipped, said (%d)", r);
	CHECK(strstr(msg, "cannot be read"), "... and why: %s", msg);
	json_decref(rep);

	r = run(two_waves, false, &rep, &msg);
	CHECK(r == 0 && summary(rep, "moved") == 2, "from a state file (no reads): both moved");
	json_decref(rep);

	rep = NULL;
	r = run("{\"moves\":[" MOVE("a", 0, 1) "]}", true, &rep, &msg);
	CHECK(r == -1 && !rep && strstr(msg, "no \"version\""), "a plan of no version runs nothing: %s",
	      msg);

	unlink(migrate);
	return unit_done();
}
