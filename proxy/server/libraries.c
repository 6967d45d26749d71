/*
 * libraries.c - which copies of the NVIDIA libraries this proxy loads, kept
 * in its state so that the next proxy of the job loads the same files.
 *
 * The backends (blas-cuda.c, ...) open the file a variable of libraries.h
 * names, if set: the client sets them for the first proxy from what the
 * application would have loaded, a backend that had to search sets its
 * variable to what it found, and a proxy started by a move or a resume
 * takes them from the manifest before it recreates any library handle.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../api/libraries.h"
#include "server.h"

static const char *const vars[] = {
#define X(soname, var) var,
	XMIG_LIBRARIES(X)
#undef X
};

/*
 * Each variable made now, empty if unset (empty reads as unset): called at
 * the start, before any thread. A later setenv (a backend naming what its
 * search found, a move adopting the manifest's) then replaces a value in
 * place; adding a name would reallocate the array that other threads'
 * getenv walk, which glibc before 2.40 frees under them.
 */
void srv_libraries_reserve(void)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		setenv(vars[i], "", 0);
}

json_t *srv_libraries_manifest(void)
{
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			json_object_set_new(o, vars[i], json_string(v));
	}
	return o;
}

bool srv_libraries_known(const char *var)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (!strcmp(var, vars[i]))
			return true;
	return false;
}

/* The path recorded for VAR, or NULL. */
const char *srv_libraries_path(json_t *m, const char *var)
{
	return json_string_value(json_object_get(json_object_get(m, "libraries"), var));
}

void srv_libraries_adopt(json_t *m)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = srv_libraries_path(m, vars[i]);

		if (v && *v)
			setenv(vars[i], v, 1);
	}
}
