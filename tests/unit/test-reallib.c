/*
 * test-reallib.c - the client finds the library copy the application would
 * have loaded (proxy/client/reallib.c). The Makefile builds stand-ins under
 * build/tests/unit/reallib/: this program needs libxmigfake.so.1 through its
 * RUNPATH ($ORIGIN/reallib/run), other/ holds one loaded by path, path/ and
 * facade/ are for LD_LIBRARY_PATH.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../proxy/client/reallib.c"
#include "unit.h"

int reallib_fake(void);

int main(void)
{
	char exe[PATH_MAX], dir[PATH_MAX], want[PATH_MAX], got[PATH_MAX], llp[2 * PATH_MAX + 2];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	void *h;

	if (n <= 0)
		return 1;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(dir, sizeof(dir), "%s/reallib", exe);
	CHECK(reallib_fake() == 42, "the stand-in is linked");

	snprintf(want, sizeof(want), "%s/run/libxmigfake.so.1", dir);
	CHECK(xmig_real_library("libxmigfake.so.1", NULL, got, sizeof(got)) == 0 &&
	      !strcmp(got, want), "a needed library is found where the RUNPATH ($ORIGIN) points: %s",
	      got);

	snprintf(want, sizeof(want), "%s/other/libxmigother.so.1", dir);
	h = dlopen(want, RTLD_NOW);
	CHECK(h && xmig_real_library("libxmigother.so.1", NULL, got, sizeof(got)) == 0 &&
	      !strcmp(got, want), "a copy loaded by path is that copy: %s", got);

	CHECK(xmig_real_library("libxmig-no-such.so.7", NULL, got, sizeof(got)) == -1,
	      "an unknown library is not found");

	snprintf(llp, sizeof(llp), "%s/facade:%s/path", dir, dir);
	setenv("LD_LIBRARY_PATH", llp, 1);
	snprintf(want, sizeof(want), "%s/path/libxmigthird.so.1", dir);
	snprintf(llp, sizeof(llp), "%s/facade", dir);
	CHECK(xmig_real_library("libxmigthird.so.1", llp, got, sizeof(got)) == 0 &&
	      !strcmp(got, want), "LD_LIBRARY_PATH is searched, skipping the facade directory: %s",
	      got);
	snprintf(want, sizeof(want), "%s/facade/libxmigthird.so.1", dir);
	h = dlopen(want, RTLD_NOW);
	CHECK(h && xmig_real_library("libxmigthird.so.1", NULL, got, sizeof(got)) == 0 &&
	      strstr(got, "/path/"), "a loaded facade (it has xmig_facade_marker) is never taken: %s",
	      got);
	return unit_done();
}
