/*
 * real-lib.c - dlopen NVIDIA's copy of a library in the proxy. The proxy
 * runs without xmig's facade directory, but a facade is refused anyway
 * (it exports xmig_facade_marker) in case one is named by hand.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../lib/xmig.h"
#include "real-lib.h"

void *xmig_open_real_library(const char *env, const char *soname, const char *what)
{
	const char *home = getenv("CUDA_HOME"), *explicit = getenv(env);
	char path[4][PATH_MAX + 32];
	int n = 0;

	if (explicit && *explicit)
		snprintf(path[n++], sizeof(path[0]), "%s", explicit);
	snprintf(path[n++], sizeof(path[0]), "%s", soname);
	if (home && *home)
		snprintf(path[n++], sizeof(path[0]), "%s/lib64/%s", home, soname);
	snprintf(path[n++], sizeof(path[0]), "/usr/local/cuda/lib64/%s", soname);
	for (int i = 0; i < n; i++) {
		void *h = dlopen(path[i], RTLD_NOW | RTLD_LOCAL);

		if (h && !dlsym(h, "xmig_facade_marker")) {
			struct link_map *lm;

			/* What a search found is what the job's next proxy loads
			 * (libraries.c): name the file. */
			if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm->l_name && *lm->l_name)
				setenv(env, lm->l_name, 1);
			return h;
		}
		if (h)
			dlclose(h);
	}
	xmig_error("cannot load %s (%s) in the proxy: %s; set %s to its path", what, soname,
		   dlerror() ?: "not found", env);
	return NULL;
}
