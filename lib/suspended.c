/*
 * suspended.c - records of suspended processes in the registry:
 * <runtime>/jobs/<job>/<client-pid>.suspended, a JSON object written by the
 * proxy that suspended it (where its state went). Apart from registry.c so
 * that the client library, which has no JSON, does not pull it in.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmig.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

/*
 * The record at path, of an application (pid) that ended while suspended:
 * nothing can resume it. The record goes, and so does its state if xmig
 * chose where it went (no -o: <job>-rank<R>-pid<pid>, which a resume
 * would have removed), checked by its name; said either way.
 */
static void forget(const char *job, const char *path, long pid)
{
	json_t *rec = json_load_file(path, 0, NULL);
	const char *dir = json_string_value(json_object_get(rec, "dir")), *base;
	long long rank = (long long)json_integer_value(json_object_get(rec, "rank"));
	char ours[NAME_MAX + 1];
	bool removed = false;

	snprintf(ours, sizeof(ours), "%s-rank%lld-pid%ld", job, rank, pid);
	base = dir ? strrchr(dir, '/') : NULL;
	if (json_is_true(json_object_get(rec, "temporary")) && base && !strcmp(base + 1, ours))
		removed = nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0;
	xmig_warn("job %s rank %lld: its application (pid %ld) ended while suspended; forgotten%s%s%s",
		  job, rank, pid, !dir ? "" : removed ? ", its state in " : ", its state stays in ",
		  dir ?: "", removed ? " removed" : "");
	unlink(path);
	json_decref(rec);
}

static void add_suspended(const char *job, json_t *out)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	bool forgot = false;
	DIR *d;

	if (xmig_job_dir(job, dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		json_t *rec;

		if (end == de->d_name || strcmp(end, ".suspended") != 0 || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!xmig_proc_alive((pid_t)pid, 0)) {
			forget(job, path, pid);   /* the application is gone: nothing to resume */
			forgot = true;
			continue;
		}
		rec = json_load_file(path, 0, NULL);
		if (json_is_object(rec)) {
			json_object_set_new(rec, "record", json_string(path));
			json_array_append_new(out, rec);
		} else {
			json_decref(rec);
		}
	}
	closedir(d);
	/* (and what it left: its keeper's socket, then the job's directory if that was all) */
	if (forgot)
		xmig_registry_prune(job);
}

json_t *xmig_registry_suspended(const char *job)
{
	char root[PATH_MAX];
	struct dirent *de;
	json_t *out = json_array();
	DIR *d;

	if (job) {
		add_suspended(job, out);
		return out;
	}
	snprintf(root, sizeof(root), "%s/jobs", xmig_runtime_dir());
	d = opendir(root);
	if (!d)
		return out;
	while ((de = readdir(d)))
		if (xmig_job_name_valid(de->d_name))
			add_suspended(de->d_name, out);
	closedir(d);
	return out;
}
