/*
 * test-manifest-delta.c - the freeze's manifest less what the successor
 * holds: entries as in the prelude go by id, changed and new ones whole,
 * removed ones not at all; the successor makes the same manifest again
 * (through its text, as it crosses), and refuses an id its prelude lacks.
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

	json_decref(prelude);
	json_decref(now);
	return unit_done();
}
