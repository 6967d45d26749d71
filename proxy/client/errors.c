/*
 * errors.c - names and messages of CUDA runtime errors, from the table
 * generated out of the toolkit's driver_types.h at build time.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda-errors.h"

#define API __attribute__((visibility("default")))

static const struct {
	int value;
	const char *name;
} names[] = {
#define X(name, value) { value, #name },
	XMIG_CUDART_ERRORS(X)
#undef X
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

static int find(int value)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (names[i].value == value)
			return (int)i;
	return -1;
}

API const char *cudaGetErrorName(cudaError_t error)
{
	int i = find(error);

	return i >= 0 ? names[i].name : "cudaErrorUnknown";
}

/* "cudaErrorInvalidDevicePointer" -> "invalid device pointer" */
static void describe(const char *name, char *out, size_t len)
{
	const char *p = name + strlen("cudaError");
	size_t o = 0;

	for (; *p && o + 2 < len; p++) {
		if (isupper((unsigned char)*p) && o > 0 &&
		    (islower((unsigned char)p[1]) || islower((unsigned char)p[-1])))
			out[o++] = ' ';
		out[o++] = (char)tolower((unsigned char)*p);
	}
	out[o] = '\0';
}

static char text[NNAMES][96];

static void fill_texts(void)
{
	for (size_t k = 0; k < NNAMES; k++)
		describe(names[k].name, text[k], sizeof(text[k]));
	snprintf(text[find(cudaSuccess)], sizeof(text[0]), "no error");
}

API const char *cudaGetErrorString(cudaError_t error)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int i;

	pthread_once(&once, fill_texts);
	i = find(error);
	return i >= 0 ? text[i] : "unrecognized error code";
}
