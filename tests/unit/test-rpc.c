/* test-rpc.c - NDJSON framing, JSON-RPC envelopes, size and byte parsing. */
#include <stdlib.h>
#include <string.h>

#include "lib/xmig.h"
#include "unit.h"

struct seen {
	int lines, oversize;
	char last[256];
};

static void on_line(const char *line, size_t len, void *arg)
{
	struct seen *s = arg;

	s->lines++;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, line);
}

static void on_oversize(void *arg)
{
	((struct seen *)arg)->oversize++;
}

int main(void)
{
	struct xmig_ndjson nd;
	struct seen s = { 0 };
	char *big;
	uint64_t v;
	long l;
	json_t *m;
	char *line;
	struct xmig_target t;

	xmig_ndjson_init(&nd);
	xmig_ndjson_feed(&nd, "{\"a\":1}\n{\"b\"", 12, on_line, on_oversize, &s);
	CHECK(s.lines == 1 && !strcmp(s.last, "{\"a\":1}"), "first complete line delivered");
	xmig_ndjson_feed(&nd, ":2}\n", 4, on_line, on_oversize, &s);
	CHECK(s.lines == 2 && !strcmp(s.last, "{\"b\":2}"), "line split across reads joined");
	xmig_ndjson_feed(&nd, "\n\n", 2, on_line, on_oversize, &s);
	CHECK(s.lines == 2, "empty lines ignored");

	big = malloc(XMIG_RPC_MAX_LINE + 10);
	memset(big, 'x', XMIG_RPC_MAX_LINE + 10);
	xmig_ndjson_feed(&nd, big, XMIG_RPC_MAX_LINE + 10, on_line, on_oversize, &s);
	xmig_ndjson_feed(&nd, big, 100, on_line, on_oversize, &s);
	xmig_ndjson_feed(&nd, "\n{\"c\":3}\n", 9, on_line, on_oversize, &s);
	CHECK(s.oversize == 1, "oversized line reported once (got %d)", s.oversize);
	CHECK(s.lines == 3 && !strcmp(s.last, "{\"c\":3}"), "framing recovers after an oversized line");
	free(big);
	xmig_ndjson_free(&nd);

	m = xmig_rpc_error(NULL, XMIG_RPC_PARSE_ERROR, "bad %s", "json");
	line = xmig_rpc_dump_line(m);
	CHECK(line && !strcmp(line, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"bad json\"},\"id\":null}\n"),
	      "error envelope: %s", line ? line : "(null)");
	free(line);
	json_decref(m);
	m = xmig_rpc_request("status", NULL, 7);
	CHECK(json_integer_value(json_object_get(m, "id")) == 7 &&
	      !strcmp(json_string_value(json_object_get(m, "method")), "status"), "request envelope");
	json_decref(m);

	CHECK(xmig_parse_bytes("8GiB", &v) == 0 && v == 8ull << 30, "parse 8GiB");
	CHECK(xmig_parse_bytes("512M", &v) == 0 && v == 512ull << 20, "parse 512M");
	CHECK(xmig_parse_bytes("4096", &v) == 0 && v == 4096, "parse 4096");
	CHECK(xmig_parse_bytes("12Q", &v) < 0, "reject 12Q");
	CHECK(xmig_parse_bytes("-1", &v) < 0, "reject -1");
	CHECK(xmig_parse_long("17", 0, 100, &l) == 0 && l == 17, "parse long");
	CHECK(xmig_parse_long("170", 0, 100, &l) < 0, "long out of range");

	CHECK(xmig_target_parse("gpu2", &t) == 0 && t.gpu == 2 && !t.node[0], "target gpu2");
	CHECK(xmig_target_parse("node3:gpu1", &t) == 0 && t.gpu == 1 && !strcmp(t.node, "node3"),
	      "target node3:gpu1");
	CHECK(xmig_target_parse("node3:", &t) < 0, "target without gpu rejected");
	CHECK(xmig_target_parse("gpux", &t) < 0, "target gpux rejected");
	CHECK(xmig_job_name_valid("17") && xmig_job_name_valid("train-a.1"), "job names valid");
	CHECK(!xmig_job_name_valid("../x") && !xmig_job_name_valid(".hidden") &&
	      !xmig_job_name_valid(""), "job names rejected");
	return unit_done();
}
