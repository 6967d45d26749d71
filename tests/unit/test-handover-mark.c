/*
 * test-handover-mark.c - a move's handover mark in the runtime directory
 * (lib/registry.c): made, seen, removed with its job directory once empty;
 * tokens that are not the move's 32 hex digits, or bad job names, refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xmig.h"
#include "unit.h"

int main(void)
{
	char root[] = "/tmp/xmig-unit-mark.XXXXXX", dir[4096];
	const char *tok = "0123456789abcdef0123456789abcdef";
	struct stat st;

	if (!mkdtemp(root))
		return 1;
	setenv("XMIG_RUNTIME_DIR", root, 1);
	CHECK(xmig_job_create("j1") == 0 && xmig_job_dir("j1", dir, sizeof(dir)) == 0,
	      "a job directory");
	CHECK(!xmig_handover_marked("j1", tok), "no mark before one is made");
	CHECK(xmig_handover_mark("j1", tok) == 0 && xmig_handover_marked("j1", tok),
	      "a mark made is seen");
	CHECK(!xmig_handover_marked("j1", "fedcba9876543210fedcba9876543210"),
	      "another move's token sees none");
	xmig_handover_unmark("j1", tok);
	CHECK(!xmig_handover_marked("j1", tok), "removed");
	CHECK(stat(dir, &st) < 0 && errno == ENOENT,
	      "the job directory, empty then, goes with it (no socket left in it)");
	CHECK(xmig_handover_mark("j1", "0123456789ABCDEF0123456789abcdef") < 0 && errno == EINVAL,
	      "upper-case hex is not a move's token");
	CHECK(xmig_handover_mark("j1", "0123") < 0 && errno == EINVAL, "a short token is refused");
	CHECK(xmig_handover_mark("j1", "../../tmp/0123456789abcdef012345") < 0 && errno == EINVAL,
	      "a token of 32 characters with a path in it is refused");
	CHECK(xmig_handover_mark("../j", tok) < 0 && !xmig_handover_marked("../j", tok),
	      "a bad job name is refused");
	CHECK(xmig_handover_mark("gone", tok) < 0 && errno == ENOENT,
	      "no mark for a job without a directory");
	rmdir(root);
	return unit_done();
}
