/*
 * registry.c - the runtime directory is the registry: no daemon.
 *
 *   <runtime>/jobs/<job>/<client-pid>.sock   control socket of one proxy
 *   <runtime>/jobs/<job>/handover.<token>    a move's handover happened
 *                                            ("<command pid> <its start time>")
 *
 * A proxy registers by binding its socket and unregisters by unlinking it.
 * A socket nobody answers on is stale (its proxy died) and is skipped.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmig.h"

const char *xmig_runtime_dir(void)
{
	static char dir[PATH_MAX];
	const char *e;

	if (dir[0])
		return dir;
	e = getenv("XMIG_RUNTIME_DIR");
	if (e && *e)
		snprintf(dir, sizeof(dir), "%s", e);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/xmig");
	else if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
		snprintf(dir, sizeof(dir), "%s/xmig", e);
	else
		snprintf(dir, sizeof(dir), "/tmp/xmig-%u", (unsigned)geteuid());
	return dir;
}

bool xmig_job_name_valid(const char *job)
{
	size_t n = 0;

	if (!job || !*job || job[0] == '.')
		return false;
	for (; job[n]; n++) {
		unsigned char ch = (unsigned char)job[n];
		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return false;
	}
	return n <= 64;
}

int xmig_job_dir(const char *job, char *buf, size_t len)
{
	if (!xmig_job_name_valid(job)) {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(buf, len, "%s/jobs/%s", xmig_runtime_dir(), job) >= (int)len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int jobs_root(char *buf, size_t len)
{
	/*
	 * World-searchable: the sockets check peer credentials themselves, so
	 * `xmig ps` of another user can see that a job exists but not drive it.
	 */
	if (snprintf(buf, len, "%s/jobs", xmig_runtime_dir()) >= (int)len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return xmig_mkdir_p(buf, 0755);
}

int xmig_job_create(const char *job)
{
	char dir[PATH_MAX], root[PATH_MAX];

	if (jobs_root(root, sizeof(root)) < 0 || xmig_job_dir(job, dir, sizeof(dir)) < 0)
		return -1;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int xmig_job_allocate(char *buf, size_t len)
{
	char root[PATH_MAX], dir[PATH_MAX];
	int n;

	if (jobs_root(root, sizeof(root)) < 0)
		return -1;
	for (n = 1; n < 1000000; n++) {
		snprintf(dir, sizeof(dir), "%s/%d", root, n);
		if (mkdir(dir, 0755) == 0) {
			snprintf(buf, len, "%d", n);
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = ENOSPC;
	return -1;
}

int xmig_proxy_socket_path(const char *job, pid_t client_pid, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if (xmig_job_dir(job, dir, sizeof(dir)) < 0)
		return -1;
	/* 107: what fits a Unix socket address. */
	if (snprintf(buf, len, "%s/%d.sock", dir, (int)client_pid) >= (int)(len < 108 ? len : 108)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int add_job(const char *job, struct xmig_proxy_ref **out, size_t *n, size_t *cap)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (xmig_job_dir(job, dir, sizeof(dir)) < 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		struct xmig_proxy_ref *r;
		char *end;
		long pid;

		pid = strtol(de->d_name, &end, 10);
		if (end == de->d_name || strcmp(end, ".sock") != 0 || pid <= 0)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct xmig_proxy_ref *nr = realloc(*out, nc * sizeof(**out));
			if (!nr) {
				closedir(d);
				return -1;
			}
			*out = nr;
			*cap = nc;
		}
		r = &(*out)[(*n)++];
		memset(r, 0, sizeof(*r));
		snprintf(r->job, sizeof(r->job), "%s", job);
		r->client_pid = (pid_t)pid;
		snprintf(r->socket, sizeof(r->socket), "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct xmig_proxy_ref *x = a, *y = b;
	char *ex, *ey;
	long nx = strtol(x->job, &ex, 10), ny = strtol(y->job, &ey, 10);
	int c;

	/* Numeric job names in numeric order, before named ones. */
	if (!*ex && !*ey && nx != ny)
		return nx < ny ? -1 : 1;
	if (!*ex != !*ey)
		return !*ex ? -1 : 1;
	c = strcmp(x->job, y->job);
	if (c)
		return c;
	return (x->client_pid > y->client_pid) - (x->client_pid < y->client_pid);
}

int xmig_registry_list(const char *job, struct xmig_proxy_ref **out, size_t *n)
{
	char root[PATH_MAX];
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (job)
		return add_job(job, out, n, &cap);
	snprintf(root, sizeof(root), "%s/jobs", xmig_runtime_dir());
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		if (!xmig_job_name_valid(de->d_name))
			continue;
		if (add_job(de->d_name, out, n, &cap) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), ref_cmp);
	return 0;
}

/* Is the command that a handover mark names gone? (unreadable, or naming none: no) */
static bool mark_orphaned(int dfd, const char *name)
{
	char buf[64];
	unsigned long long start = 0;
	ssize_t n;
	int pid = 0, fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "%d %llu", &pid, &start) != 2 || pid <= 0)
		return false;
	return !xmig_proc_alive((pid_t)pid, (uint64_t)start);
}

/* Is name all of fmt, "<...>%d<...>%n" (the %d in *pid)? */
static bool named_by_pid(const char *name, const char *fmt, int *pid)
{
	int end = 0;

	return sscanf(name, fmt, pid, &end) == 1 && end && !name[end];
}

/* An offer's socket, <client pid>.xfer.<proxy pid> (the proxy's in *pid)? */
static bool offer_socket(const char *name, int *pid)
{
	int client, end = 0;

	return sscanf(name, "%d.xfer.%d%n", &client, pid, &end) == 2 && end && !name[end];
}

/*
 * An entry a dead process left, which nobody else will remove: a handover
 * mark whose command is gone, a keeper's socket whose application is gone
 * (<pid>.keeper), a standby's hidden socket (.<pid>.sock) or an offer's
 * (<client>.xfer.<proxy>) whose proxy is gone. A proxy's own <pid>.sock is
 * not judged here: ps decides, by asking it (cmd/jobs.c).
 */
static bool stale_entry(int dfd, const char *name)
{
	int pid = 0;

	if (!strncmp(name, "handover.", 9))
		return mark_orphaned(dfd, name);
	if (named_by_pid(name, "%d.keeper%n", &pid) || named_by_pid(name, ".%d.sock%n", &pid) ||
	    offer_socket(name, &pid))
		return pid > 0 && !xmig_proc_alive((pid_t)pid, 0);
	return false;
}

void xmig_registry_prune(const char *job)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (xmig_job_dir(job, dir, sizeof(dir)) < 0)
		return;
	if ((d = opendir(dir))) {
		while ((e = readdir(d)))
			if (stale_entry(dirfd(d), e->d_name))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(dir);  /* fails, harmlessly, while anything is left inside */
}

static int handover_path(const char *job, const char *token, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if (strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32 ||
	    xmig_job_dir(job, dir, sizeof(dir)) < 0) {
		errno = EINVAL;
		return -1;
	}
	return snprintf(buf, len, "%s/handover.%s", dir, token) < (int)len ? 0 : -1;
}

int xmig_handover_mark(const char *job, const char *token, pid_t command)
{
	char path[PATH_MAX], line[64];
	int fd, n, r = 0;

	if (handover_path(job, token, path, sizeof(path)) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof(line), "%d %llu\n", command > 0 ? (int)command : 0,
		     command > 0 ? (unsigned long long)xmig_proc_start_time(command) : 0ull);
	if (xmig_write_all(fd, line, (size_t)n) < 0) {
		r = -1;
		unlink(path);
	}
	close(fd);
	return r;
}

bool xmig_handover_marked(const char *job, const char *token)
{
	char path[PATH_MAX];

	return handover_path(job, token, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

void xmig_handover_unmark(const char *job, const char *token)
{
	char path[PATH_MAX];

	if (handover_path(job, token, path, sizeof(path)) == 0 && unlink(path) == 0)
		xmig_registry_prune(job);
}

