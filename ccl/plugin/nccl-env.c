/*
 * nccl-env.c - libnccl-env-xmig.so, the NCCL environment plugin of the
 * proxy. NCCL 2.28.7 and later ask an environment plugin for every
 * variable they read (the ncclEnvPlugin_v1 struct, found by dlsym in the
 * library NCCL_ENV_PLUGIN names). The proxy points each build of a
 * communicator at the node's caches (NCCL_TOPO_FILE, NCCL_GRAPH_DUMP_FILE,
 * ...: ccl/cache.c); with setenv, while other threads of the proxy call
 * getenv, a glibc older than 2.40 may free the array getenv is reading.
 * So the proxy opens this same file first and sets those names here
 * (xmig_nccl_env_set); they are then this table's, and every other name
 * stays the process environment's.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#define API __attribute__((visibility("default")))
#define MAX_NAMES 16

/* The layout NCCL's env plugin interface, version 1, documents. */
struct nccl_env_v1 {
	const char *name;
	ncclResult_t (*init)(uint8_t major, uint8_t minor, uint8_t patch, const char *suffix);
	ncclResult_t (*finalize)(void);
	const char *(*get_env)(const char *name);
};

/* A value NCCL was handed stays valid: values are kept, each once. */
struct value {
	struct value *next;
	char s[];
};

static struct {
	char *name;
	const char *value;   /* NULL: unset */
} names[MAX_NAMES];
static int nnames;
static struct value *values;
static bool adopted;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *keep(const char *s)
{
	struct value *v;

	for (v = values; v; v = v->next)
		if (!strcmp(v->s, s))
			return v->s;
	if (!(v = malloc(sizeof(*v) + strlen(s) + 1)))
		return NULL;
	strcpy(v->s, s);
	v->next = values;
	values = v;
	return v->s;
}

/* name takes value (NULL: unset) for NCCL from now on; -1 when out of room. */
API int xmig_nccl_env_set(const char *name, const char *value)
{
	int i, r = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nnames && strcmp(names[i].name, name); i++)
		;
	if (i == nnames) {
		if (nnames == MAX_NAMES || !(names[i].name = strdup(name))) {
			r = -1;
			goto out;
		}
		names[i].value = NULL;
		nnames++;
	}
	if (value && !(value = keep(value)))
		r = -1;   /* unset rather than stale */
	names[i].value = value;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

/* Has an NCCL taken this plugin up (called its init)? */
API bool xmig_nccl_env_adopted(void)
{
	return __atomic_load_n(&adopted, __ATOMIC_ACQUIRE);
}

static ncclResult_t env_init(uint8_t major, uint8_t minor, uint8_t patch, const char *suffix)
{
	(void)major, (void)minor, (void)patch, (void)suffix;
	__atomic_store_n(&adopted, true, __ATOMIC_RELEASE);
	return ncclSuccess;
}

static ncclResult_t env_finalize(void)
{
	return ncclSuccess;
}

static const char *env_get(const char *name)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nnames; i++)
		if (!strcmp(names[i].name, name)) {
			const char *v = names[i].value;

			pthread_mutex_unlock(&lock);
			return v;
		}
	pthread_mutex_unlock(&lock);
	return getenv(name);
}

API const struct nccl_env_v1 ncclEnvPlugin_v1 = {
	.name = "xmig",
	.init = env_init,
	.finalize = env_finalize,
	.get_env = env_get,
};
