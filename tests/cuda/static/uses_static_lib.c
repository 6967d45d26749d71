/*
 * uses_static_lib.c - a program with no CUDA of its own that loads a
 * library carrying a static CUDA runtime (static_lib.cu) and calls it.
 *
 *   uses_static_lib LIBRARY
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	void *h = argc == 2 ? dlopen(argv[1], RTLD_NOW) : NULL;
	int (*touch)(void) = h ? (int (*)(void))dlsym(h, "static_lib_touch") : NULL;

	if (!touch) {
		fprintf(stderr, "usage: uses_static_lib LIBRARY (%s)\n", dlerror());
		return 2;
	}
	printf("static_lib_touch -> %d\n", touch());
	return 0;
}
