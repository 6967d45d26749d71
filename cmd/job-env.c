/*
 * job-env.c - the environment of a proxy that a command starts for a job.
 * It is the job's own, as its proxy ran with it (what the libraries there
 * read: CUBLAS_WORKSPACE_CONFIG, NCCL_*, CUDA_* settings...), so that a
 * move or a resume changes none of it. xmig's own settings (XMIG_*) and
 * which GPUs are seen, in what order (CUDA_VISIBLE_DEVICES,
 * CUDA_DEVICE_ORDER), are the command's: the new proxy is given a GPU
 * number of the command's numbering.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/xmig.h"
#include "move.h"

extern char **environ;

/* Is entry one of this command's to give (xmig's settings, the GPU numbering)? */
static bool commands_own(const char *entry)
{
	return !strncmp(entry, "XMIG_", 5) || !strncmp(entry, "CUDA_VISIBLE_DEVICES=", 21) ||
	       !strncmp(entry, "CUDA_DEVICE_ORDER=", 18);
}

/* Append entry (kept by pointer) to *env; -1 when out of memory. */
static int add(struct job_env *e, char *entry)
{
	char **v;

	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;

		if (!(v = realloc(e->env, cap * sizeof(*v))))
			return -1;
		e->env = v;
		e->cap = cap;
	}
	e->env[e->n++] = entry;
	e->env[e->n] = NULL;
	return 0;
}

int job_env_make(struct job_env *e, const char *job_file, const char *remote_token)
{
	size_t len = 0;

	memset(e, 0, sizeof(*e));
	if (job_file && !(e->text = xmig_read_file(job_file, &len)))
		xmig_warn("cannot read the job's environment (%s: %s); the new proxy runs "
			  "with this command's", job_file, strerror(errno));
	for (size_t off = 0; e->text && off < len; off += strlen(e->text + off) + 1)
		if (strchr(e->text + off, '=') && !commands_own(e->text + off) &&
		    add(e, e->text + off) < 0)
			goto err;
	for (char **p = environ; *p; p++)
		if ((!e->text || commands_own(*p)) && strncmp(*p, "XMIG_REMOTE_TOKEN=", 18) &&
		    add(e, *p) < 0)
			goto err;
	/* by environment, not on a command line that others read */
	if (remote_token && (asprintf(&e->token, "XMIG_REMOTE_TOKEN=%s", remote_token) < 0 ||
			     add(e, e->token) < 0))
		goto err;
	if (!e->env && add(e, NULL) < 0)
		goto err;
	return 0;
err:
	job_env_free(e);
	return xmig_error("out of memory for the new proxy's environment");
}

void job_env_free(struct job_env *e)
{
	free(e->env);
	free(e->text);
	free(e->token);
	memset(e, 0, sizeof(*e));
}

char *job_env_read(int proxy_pid, size_t *len)
{
	char src[64], *text;

	snprintf(src, sizeof(src), "/proc/%d/environ", proxy_pid);
	if (!(text = xmig_read_file(src, len)))
		xmig_warn("cannot read the job's environment from %s: %s", src, strerror(errno));
	return text;
}

int job_env_write(const char *dir, const char *text, size_t len)
{
	char dst[4096];

	snprintf(dst, sizeof(dst), "%s/environ", dir);
	/*
	 * The job's secrets may be in there: its owner's alone. Whole or not
	 * at all: a resume would start the proxy with a cut environment.
	 */
	return xmig_write_file_atomic(dst, text, len, 0600) < 0
		? xmig_error_errno("cannot write %s", dst) : 0;
}
