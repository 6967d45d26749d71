/*
 * dlreal.c - opening NVIDIA's own copy of a library in the proxy, never
 * xmig's facade of it (a facade exports xmig_facade_marker).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "xmig.h"

void *xmig_dlopen_real(const char *env, const char *soname)
{
	const char *home = getenv("CUDA_HOME"), *explicit = getenv(env);
	char path[4][512];
	int n = 0;

	if (explicit && *explicit)
		snprintf(path[n++], sizeof(path[0]), "%s", explicit);
	snprintf(path[n++], sizeof(path[0]), "%s", soname);
	if (home && *home)
		snprintf(path[n++], sizeof(path[0]), "%s/lib64/%s", home, soname);
	snprintf(path[n++], sizeof(path[0]), "/usr/local/cuda/lib64/%s", soname);
	for (int i = 0; i < n; i++) {
		void *h = dlopen(path[i], RTLD_NOW | RTLD_LOCAL);

		if (h && !dlsym(h, "xmig_facade_marker"))
			return h;
		if (h)
			dlclose(h);
	}
	xmig_error("cannot load %s in the proxy: %s; set %s to its path", soname,
		   dlerror() ?: "not found", env);
	return NULL;
}
