/*
 * test-registry-prune.c - a job directory's prune (lib/registry.c): what a
 * dead process left goes (a keeper's socket of an application gone, a
 * standby's or an offer's socket of a proxy gone), what a living one holds
 * stays, a proxy's own <pid>.sock and a suspend record are not judged there;
 * the directory goes once empty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/xmig.h"
#include "unit.h"

static char dir[4096];

static void path_of(char *path, size_t len, const char *fmt, int a, int b)
{
	char name[256];

	snprintf(name, sizeof(name), fmt, a, b);
	snprintf(path, len, "%s/%s", dir, name);
}

static void touch(const char *fmt, int a, int b)
{
	char path[4400];
	int fd;

	path_of(path, sizeof(path), fmt, a, b);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static void rm(const char *fmt, int a, int b)
{
	char path[4400];

	path_of(path, sizeof(path), fmt, a, b);
	unlink(path);
}

static int there(const char *fmt, int a, int b)
{
	char path[4400];

	path_of(path, sizeof(path), fmt, a, b);
	return access(path, F_OK) == 0;
}

int main(void)
{
	char root[] = "/tmp/xmig-unit-prune.XXXXXX";
	int me = (int)getpid(), gone;
	struct stat st;
	pid_t child;

	if (!mkdtemp(root))
		return 1;
	setenv("XMIG_RUNTIME_DIR", root, 1);
	if ((child = fork()) == 0)
		_exit(0);
	CHECK(child > 0 && waitpid(child, NULL, 0) == child, "a process that is gone");
	gone = (int)child;
	CHECK(xmig_job_create("j") == 0 && xmig_job_dir("j", dir, sizeof(dir)) == 0,
	      "a job directory");
	/* a living one's, and what the prune does not judge (ps does, or resume) */
	const struct { const char *fmt; int a, b; } stays[] = {
		{ "%d.keeper", me, 0 },      { ".%d.sock", me, 0 },
		{ "%d.xfer.%d", gone, me },  { "%d.sock", gone, 0 },
		{ "%d.suspended", gone, 0 }, { "%d.keeperx", gone, 0 },
	};

	/* what the dead left, then what stays */
	touch("%d.keeper", gone, 0);
	touch(".%d.sock", gone, 0);
	touch("%d.xfer.%d", me, gone);
	for (size_t i = 0; i < sizeof(stays) / sizeof(stays[0]); i++)
		touch(stays[i].fmt, stays[i].a, stays[i].b);
	xmig_registry_prune("j");
	CHECK(!there("%d.keeper", gone, 0), "a keeper's socket of an application gone goes");
	CHECK(!there(".%d.sock", gone, 0), "a standby's socket of a proxy gone goes");
	CHECK(!there("%d.xfer.%d", me, gone), "an offer's socket of a proxy gone goes");
	CHECK(there("%d.keeper", me, 0) && there(".%d.sock", me, 0),
	      "a living application's keeper and a living standby's socket stay");
	CHECK(there("%d.xfer.%d", gone, me), "an offer of a living proxy stays (its client gone)");
	CHECK(there("%d.sock", gone, 0) && there("%d.suspended", gone, 0),
	      "a proxy's own socket and a suspend record are not the prune's to judge");
	CHECK(there("%d.keeperx", gone, 0), "a name not quite a keeper's stays");
	CHECK(stat(dir, &st) == 0, "the directory stays while anything is in it");

	/* what stays, taken away */
	for (size_t i = 0; i < sizeof(stays) / sizeof(stays[0]); i++)
		rm(stays[i].fmt, stays[i].a, stays[i].b);
	touch("%d.keeper", gone, 0);
	xmig_registry_prune("j");
	CHECK(stat(dir, &st) < 0 && errno == ENOENT,
	      "with only what the dead left, the directory goes too");
	rmdir(root);
	return unit_done();
}
