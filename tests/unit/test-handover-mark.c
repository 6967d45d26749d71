/*
 * test-handover-mark.c - a move's handover mark in the runtime directory
 * (lib/registry.c): made, seen, removed with its job directory once empty;
 * tokens that are not the move's 32 hex digits, or bad job names, refused;
 * a mark whose command is gone pruned with its job directory, one whose
 * command lives (or is not known) kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/xmig.h"
#include "unit.h"

int main(void)
{
	char root[] = "/tmp/xmig-unit-mark.XXXXXX", dir[4096], path[4200];
	const char *tok = "0123456789abcdef0123456789abcdef";
	unsigned long long start = 0;
	struct stat st;
	pid_t child;
	FILE *f;
	int pid = 0;

	if (!mkdtemp(root))
		return 1;
	setenv("XMIG_RUNTIME_DIR", root, 1);
	CHECK(xmig_job_create("j1") == 0 && xmig_job_dir("j1", dir, sizeof(dir)) == 0,
	      "a job directory");
	CHECK(!xmig_handover_marked("j1", tok), "no mark before one is made");
	CHECK(xmig_handover_mark("j1", tok, getpid()) == 0 && xmig_handover_marked("j1", tok),
	      "a mark made is seen");
	CHECK(!xmig_handover_marked("j1", "fedcba9876543210fedcba9876543210"),
	      "another move's token sees none");
	xmig_handover_unmark("j1", tok);
	CHECK(!xmig_handover_marked("j1", tok), "removed");
	CHECK(stat(dir, &st) < 0 && errno == ENOENT,
	      "the job directory, empty then, goes with it (no socket left in it)");
	CHECK(xmig_handover_mark("j1", "0123456789ABCDEF0123456789abcdef", getpid()) < 0 && errno == EINVAL,
	      "upper-case hex is not a move's token");
	CHECK(xmig_handover_mark("j1", "0123", getpid()) < 0 && errno == EINVAL, "a short token is refused");
	CHECK(xmig_handover_mark("j1", "../../tmp/0123456789abcdef012345", getpid()) < 0 && errno == EINVAL,
	      "a token of 32 characters with a path in it is refused");
	CHECK(xmig_handover_mark("../j", tok, getpid()) < 0 && !xmig_handover_marked("../j", tok),
	      "a bad job name is refused");
	CHECK(xmig_handover_mark("gone", tok, getpid()) < 0 && errno == ENOENT,
	      "no mark for a job without a directory");
	/* a command killed after the handover: its mark goes with the job */
	CHECK(xmig_job_create("j2") == 0 && xmig_job_dir("j2", dir, sizeof(dir)) == 0,
	      "another job directory");
	CHECK(xmig_handover_mark("j2", tok, getpid()) == 0, "a mark naming this process");
	snprintf(path, sizeof(path), "%s/handover.%s", dir, tok);
	CHECK((f = fopen(path, "r")) && fscanf(f, "%d %llu", &pid, &start) == 2 &&
	      pid == (int)getpid() && start == (unsigned long long)xmig_proc_start_time(getpid()),
	      "names its command: pid and start time");
	if (f)
		fclose(f);
	xmig_registry_prune("j2");
	CHECK(xmig_handover_marked("j2", tok) && stat(dir, &st) == 0,
	      "kept by a prune while its command lives (it may still read it)");
	if ((child = fork()) == 0)
		_exit(0);
	CHECK(child > 0 && waitpid(child, NULL, 0) == child, "a process that is gone");
	CHECK(xmig_handover_mark("j2", tok, child) == 0, "a mark naming it");
	xmig_registry_prune("j2");
	CHECK(!xmig_handover_marked("j2", tok) && stat(dir, &st) < 0 && errno == ENOENT,
	      "pruned with its job directory once its command is gone");
	CHECK(xmig_job_create("j3") == 0 && xmig_job_dir("j3", dir, sizeof(dir)) == 0 &&
	      xmig_handover_mark("j3", tok, 0) == 0, "a mark naming no command");
	xmig_registry_prune("j3");
	CHECK(xmig_handover_marked("j3", tok) && stat(dir, &st) == 0, "kept: not known to be gone");
	xmig_handover_unmark("j3", tok);
	CHECK(stat(dir, &st) < 0 && errno == ENOENT, "removed by its command as ever");
	rmdir(root);
	return unit_done();
}
