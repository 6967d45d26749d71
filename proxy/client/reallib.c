/*
 * reallib.c - find the copy of an NVIDIA library this application would
 * have loaded without xmig, so that its proxy loads the very same file.
 *
 * Under `xmig run` the facades answer to the libraries' sonames, so the
 * dynamic linker never looks for the real ones; this file repeats its
 * search for one soname, far enough for the cases that matter: a copy
 * already loaded by path (PyTorch's wheels preload theirs), the run paths
 * of the objects that need the library, and LD_LIBRARY_PATH. The system
 * search (ld.so.cache, default directories) is left to the proxy's own
 * dlopen, which does exactly that.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reallib.h"

struct search {
	const char *soname, *facade;
	char *out;
	size_t len;
	int found;
	int pass;          /* 0: loaded by path, 1: RPATH, 2: RUNPATH */
};

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A facade, ours, is never the real library. */
static int is_facade(const char *path, const char *facade)
{
	char dir[PATH_MAX], real[PATH_MAX];
	void *h;
	int marked;

	if (facade && *facade && realpath(facade, dir) && realpath(path, real)) {
		size_t n = strlen(dir);

		if (!strncmp(real, dir, n) && real[n] == '/')
			return 1;
	}
	if (!(h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD)))
		return 0;
	marked = dlsym(h, "xmig_facade_marker") != NULL;
	dlclose(h);
	return marked;
}

static int take(struct search *s, const char *path)
{
	char real[PATH_MAX];

	if (!is_file(path) || is_facade(path, s->facade) || !realpath(path, real))
		return 0;
	snprintf(s->out, s->len, "%s", real);
	return s->found = 1;
}

/* Try DIR/soname for each directory of a colon list, $ORIGIN expanded. */
static int search_list(struct search *s, const char *list, const char *origin)
{
	while (list && *list) {
		size_t l = strcspn(list, ":");
		char dir[PATH_MAX], path[PATH_MAX];

		if (l && l < sizeof(dir)) {
			memcpy(dir, list, l);
			dir[l] = '\0';
			if (!strncmp(dir, "$ORIGIN", 7) || !strncmp(dir, "${ORIGIN}", 9))
				snprintf(path, sizeof(path), "%s%s/%s", origin,
					 dir + (dir[1] == '{' ? 9 : 7), s->soname);
			else
				snprintf(path, sizeof(path), "%s/%s", dir, s->soname);
			if (take(s, path))
				return 1;
		}
		list += l;
		if (*list == ':')
			list++;
	}
	return 0;
}

static const char *object_path(const struct dl_phdr_info *info, char *buf, size_t len)
{
	ssize_t n;

	if (info->dlpi_name && *info->dlpi_name)
		return info->dlpi_name;
	n = readlink("/proc/self/exe", buf, len - 1);   /* the main program */
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static int visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct search *s = arg;
	const ElfW(Dyn) *dyn = NULL;
	const char *strtab = NULL, *path, *base;
	char exe[PATH_MAX], origin[PATH_MAX];
	ElfW(Addr) rpath = 0, runpath = 0;
	int needs = 0, has_rpath = 0, has_runpath = 0;

	if (!(path = object_path(info, exe, sizeof(exe))))
		return 0;
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (s->pass == 0)
		return !strcmp(base, s->soname) && take(s, path);

	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (!dyn)
		return 0;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_STRTAB) {
			/* glibc relocates this entry in place on x86-64; the vDSO's is not. */
			ElfW(Addr) p = d->d_un.d_ptr;

			strtab = (const char *)(p < info->dlpi_addr ? p + info->dlpi_addr : p);
		} else if (d->d_tag == DT_RPATH) {
			rpath = d->d_un.d_val;
			has_rpath = 1;
		} else if (d->d_tag == DT_RUNPATH) {
			runpath = d->d_un.d_val;
			has_runpath = 1;
		}
	}
	if (!strtab)
		return 0;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_NEEDED && !strcmp(strtab + d->d_un.d_val, s->soname))
			needs = 1;
	if (!needs)
		return 0;
	snprintf(origin, sizeof(origin), "%s", path);
	if (strrchr(origin, '/'))
		*strrchr(origin, '/') = '\0';
	else
		snprintf(origin, sizeof(origin), ".");
	/* The linker's order: RPATH (ignored when RUNPATH exists), then
	 * LD_LIBRARY_PATH (pass 2 starts with it), then RUNPATH. */
	if (s->pass == 1 && has_rpath && !has_runpath)
		return search_list(s, strtab + rpath, origin);
	if (s->pass == 2 && has_runpath)
		return search_list(s, strtab + runpath, origin);
	return 0;
}

int xmig_real_library(const char *soname, const char *facade, char *out, size_t len)
{
	struct search s = { .soname = soname, .facade = facade, .out = out, .len = len };

	for (s.pass = 0; s.pass < 3 && !s.found; s.pass++) {
		if (s.pass == 2) {
			/* The facade directory is in it too: take() skips facades. */
			if (search_list(&s, getenv("LD_LIBRARY_PATH"), "."))
				break;
		}
		dl_iterate_phdr(visit, &s);
	}
	return s.found ? 0 : -1;
}
