/*
 * test-manifest-delta.c - the freeze's manifest less what the successor
 * holds: entries as in the prelude go by id, changed and new ones whole,
 * removed ones not at all; an array of the prelude's very entries goes as
 * a whole; the successor makes the same manifest again (through its text,
 * as it crosses), and refuses an id its prelude lacks.
 */
#include <string.h>

#include "proxy/server/manifest-delta.c"
#include "unit.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fprintf(stderr, "bad fixture: %s\n", e.text);
	return j;
}

/* Is j the JSON of text? */
static int is(json_t *j, const char *text)
{
	json_t *want = parse(text);
	int r = json_equal(j, want);

	json_decref(want);
	return r;
}

/* A new array holding the very entries of arr (as the old proxy shares them). */
static json_t *shared(json_t *arr)
{
	json_t *a = json_array(), *o;
	size_t i;

	json_array_foreach(arr, i, o)
		json_array_append(a, o);
	return a;
}

/* m sent to a successor holding prelude, as text, and made whole there. */
static json_t *cross(json_t *m, json_t *prelude, char *why, size_t len)
{
	json_t *wire = manifest_delta(m, prelude), *got;
	char *text = json_dumps(wire, JSON_COMPACT);

	got = json_loads(text, 0, NULL);
	free(text);
	json_decref(wire);
	if (got && manifest_expand(got, prelude, why, len) < 0) {
		json_decref(got);
		return NULL;
	}
	return got;
}

int main(void)
{
	/* The prelude: two modules, three kernels, three variables. */
	json_t *prelude = parse(
		"{\"format\":1,\"allocations\":[{\"va\":1}],"
		"\"modules\":[{\"id\":1,\"size\":10,\"xxh3\":\"a\"},{\"id\":2,\"size\":20,\"xxh3\":\"b\"}],"
		"\"funcs\":[{\"id\":3,\"module\":1,\"name\":\"k3\",\"attributes\":[]},"
		"{\"id\":1,\"module\":1,\"name\":\"k1\",\"attributes\":[]},"
		"{\"id\":2,\"module\":2,\"name\":\"k2\",\"attributes\":[]}],"
		"\"vars\":[{\"id\":1,\"module\":1,\"name\":\"v1\",\"size\":1},"
		"{\"id\":2,\"module\":2,\"name\":\"v2\",\"size\":8},"
		"{\"id\":3,\"module\":2,\"name\":\"v3\",\"size\":4}]}");
	/*
	 * At the freeze: module 2 and its kernel and variables unloaded,
	 * module 3 loaded with a variable, kernel 1 given an attribute.
	 */
	json_t *now = parse(
		"{\"format\":1,\"allocations\":[{\"va\":1},{\"va\":2}],"
		"\"modules\":[{\"id\":1,\"size\":10,\"xxh3\":\"a\"},{\"id\":3,\"size\":30,\"xxh3\":\"c\"}],"
		"\"funcs\":[{\"id\":1,\"module\":1,\"name\":\"k1\",\"attributes\":[[8,1]]},"
		"{\"id\":3,\"module\":1,\"name\":\"k3\",\"attributes\":[]}],"
		"\"vars\":[{\"id\":1,\"module\":1,\"name\":\"v1\",\"size\":1},"
		"{\"id\":4,\"module\":3,\"name\":\"v4\",\"size\":2}]}");
	json_t *wire, *got, *bad;
	char why[256] = "";

	CHECK(prelude && now, "fixtures parse");
	wire = manifest_delta(now, prelude);
	CHECK(wire && is(json_object_get(json_object_get(wire, "unchanged"), "modules"), "[1]"),
	      "a module as in the prelude goes by id");
	CHECK(is(json_object_get(json_object_get(wire, "unchanged"), "funcs"), "[3]"),
	      "a kernel as in the prelude goes by id (the prelude listed it out of order)");
	CHECK(json_array_size(json_object_get(wire, "funcs")) == 1 &&
	      json_integer_value(json_object_get(json_array_get(json_object_get(wire, "funcs"), 0),
						 "id")) == 1,
	      "a kernel whose attributes changed goes whole");
	CHECK(is(json_object_get(wire, "vars"), "[{\"id\":4,\"module\":3,\"name\":\"v4\",\"size\":2}]") &&
	      is(json_object_get(json_object_get(wire, "unchanged"), "vars"), "[1]"),
	      "a new variable goes whole, a kept one by id, a removed one not at all");
	CHECK(json_equal(json_object_get(wire, "allocations"), json_object_get(now, "allocations")),
	      "the rest of the manifest goes as it is");
	CHECK(json_array_size(json_object_get(now, "vars")) == 2 && !json_object_get(now, "unchanged"),
	      "the manifest itself is left as it was (the sender still reads it)");
	json_decref(wire);

	got = cross(now, prelude, why, sizeof(why));
	CHECK(got && json_equal(got, now), "the successor makes the same manifest again");
	json_decref(got);

	/* A manifest sent whole passes through. */
	got = json_deep_copy(now);
	CHECK(manifest_expand(got, NULL, why, sizeof(why)) == 0 && json_equal(got, now),
	      "a manifest sent whole is taken as it is");
	json_decref(got);

	/* The successor must hold what the old proxy leaves out. */
	wire = manifest_delta(now, prelude);
	CHECK(manifest_expand(wire, NULL, why, sizeof(why)) < 0 &&
	      strstr(why, "does not hold"), "no prelude here: refused (%s)", why);
	json_decref(wire);
	wire = manifest_delta(now, prelude);
	bad = parse("{\"vars\":[{\"id\":2,\"module\":2,\"name\":\"v2\",\"size\":8}]}");
	CHECK(manifest_expand(wire, bad, why, sizeof(why)) < 0 && strstr(why, "entry 1"),
	      "an id the prelude here lacks: refused (%s)", why);
	json_decref(wire);
	json_decref(bad);

	/*
	 * At a later freeze the old proxy's manifest shares the prelude's
	 * entries: variables and allocations all of them, kernels all but one
	 * (changed since: a new entry; listed by id, as the proxy lists them),
	 * modules none (entries equal but made anew).
	 */
	json_t *later = json_deep_copy(prelude), *pf = json_object_get(prelude, "funcs");
	json_t *fl = json_pack("[o, O, O]", parse("{\"id\":1,\"module\":1,\"name\":\"k1\","
						  "\"attributes\":[[8,2]]}"),
			       json_array_get(pf, 2), json_array_get(pf, 0));

	json_object_set_new(later, "vars", shared(json_object_get(prelude, "vars")));
	json_object_set_new(later, "allocations", shared(json_object_get(prelude, "allocations")));
	json_object_set_new(later, "funcs", fl);
	wire = manifest_delta(later, prelude);
	CHECK(wire && json_is_true(json_object_get(json_object_get(wire, "unchanged"), "vars")) &&
	      !json_object_get(wire, "vars") &&
	      json_is_true(json_object_get(json_object_get(wire, "unchanged"), "allocations")) &&
	      !json_object_get(wire, "allocations"),
	      "arrays of the prelude's very entries go as a whole (true), not sent");
	CHECK(is(json_object_get(json_object_get(wire, "unchanged"), "funcs"), "[2,3]") &&
	      json_array_size(json_object_get(wire, "funcs")) == 1,
	      "one kernel changed: the others go by id, that one whole");
	CHECK(is(json_object_get(json_object_get(wire, "unchanged"), "modules"), "[1,2]"),
	      "equal entries made anew go by id, not as a whole (compared as JSON)");
	json_decref(wire);
	got = cross(later, prelude, why, sizeof(why));
	CHECK(got && json_equal(got, later), "the successor makes that manifest again");
	CHECK(got && json_object_get(got, "vars") == json_object_get(prelude, "vars"),
	      "an array unchanged as a whole is the prelude's own there");
	json_decref(got);
	/* Malformed: a whole array the prelude lacks, or one sent as well. */
	wire = manifest_delta(later, prelude);
	bad = json_deep_copy(prelude);
	json_object_del(bad, "vars");
	CHECK(manifest_expand(wire, bad, why, sizeof(why)) < 0 && strstr(why, "(vars)"),
	      "an array unchanged as a whole that the prelude here lacks: refused (%s)", why);
	json_decref(wire);
	json_decref(bad);
	wire = manifest_delta(later, prelude);
	json_object_set_new(wire, "vars", json_array());
	CHECK(manifest_expand(wire, prelude, why, sizeof(why)) < 0 && strstr(why, "(vars)"),
	      "an array both sent and unchanged as a whole: refused (%s)", why);
	json_decref(wire);
	json_decref(later);

	/* CUDA graphs' capture logs, named by hash: those the prelude had go by name. */
	json_t *gp = parse("{\"graph_logs\":{\"aa\":{\"origin\":2,\"records\":\"00\"}}}");
	json_t *gm = parse("{\"graphs\":[{\"id\":1,\"log\":\"aa\"}],\"graph_logs\":{"
			   "\"aa\":{\"origin\":2,\"records\":\"00\"},"
			   "\"bb\":{\"origin\":3,\"records\":\"01\"}}}");
	wire = manifest_delta(gm, gp);
	CHECK(wire && is(json_object_get(json_object_get(wire, "unchanged"), "graph_logs"),
			 "[\"aa\"]") &&
	      is(json_object_get(wire, "graph_logs"),
		 "{\"bb\":{\"origin\":3,\"records\":\"01\"}}"),
	      "graph logs the prelude had go by name, new ones whole");
	CHECK(json_object_size(json_object_get(gm, "graph_logs")) == 2,
	      "... and the manifest itself keeps them all");
	json_decref(wire);
	got = cross(gm, gp, why, sizeof(why));
	CHECK(got && json_equal(json_object_get(got, "graph_logs"), json_object_get(gm, "graph_logs")) &&
	      json_equal(json_object_get(got, "graphs"), json_object_get(gm, "graphs")),
	      "the successor makes the graphs and their logs again");
	json_decref(got);
	wire = manifest_delta(gm, gp);
	bad = parse("{}");
	CHECK(manifest_expand(wire, bad, why, sizeof(why)) < 0 &&
	      strstr(why, "(graph_logs)"), "a log name the prelude here lacks: refused (%s)", why);
	json_decref(wire);
	json_decref(bad);

	/* The graphs' arrays of shared entries, none made or dropped since: unchanged as a whole. */
	json_object_set(gp, "graphs", json_object_get(gm, "graphs"));
	json_object_set_new(gp, "graph_execs", json_array());
	json_array_append(json_object_get(gp, "graph_execs"),
			  json_array_get(json_object_get(gm, "graphs"), 0));
	json_object_set_new(gm, "graph_execs", json_array());
	json_array_append(json_object_get(gm, "graph_execs"),
			  json_array_get(json_object_get(gp, "graph_execs"), 0));
	wire = manifest_delta(gm, gp);
	CHECK(wire && !json_object_get(wire, "graphs") && !json_object_get(wire, "graph_execs") &&
	      json_is_true(json_object_get(json_object_get(wire, "unchanged"), "graphs")) &&
	      json_is_true(json_object_get(json_object_get(wire, "unchanged"), "graph_execs")),
	      "graphs and executable graphs as in the prelude: unchanged as a whole");
	json_decref(wire);
	got = cross(gm, gp, why, sizeof(why));
	CHECK(got && json_equal(json_object_get(got, "graphs"), json_object_get(gm, "graphs")) &&
	      json_equal(json_object_get(got, "graph_execs"), json_object_get(gm, "graph_execs")),
	      "... and the successor has them from its prelude");
	json_decref(got);
	json_array_append_new(json_object_get(gm, "graph_execs"),
			      parse("{\"id\":2,\"log\":\"bb\",\"flags\":0}"));
	wire = manifest_delta(gm, gp);
	CHECK(wire && is(json_object_get(wire, "graph_execs"),
			 "[{\"id\":1,\"log\":\"aa\"},{\"id\":2,\"log\":\"bb\",\"flags\":0}]") &&
	      json_is_true(json_object_get(json_object_get(wire, "unchanged"), "graphs")),
	      "an executable graph made since: that array goes whole, the other unchanged");
	json_decref(wire);
	json_decref(gp);
	json_decref(gm);

	json_decref(prelude);
	json_decref(now);
	return unit_done();
}
