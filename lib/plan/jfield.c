/*
 * jfield.c - state and plan files, and typed reads of their JSON members
 * whose errors name the member's path, so a bad state or plan file says
 * exactly what is wrong and where.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/*
 * The largest state or plan read: a 9704-node state is 8-11 MiB. Past
 * it (a generator that never stops, `yes ' '`), an error, not a wait.
 */
#define XP_JSON_MAX (256u << 20)

json_t *xp_json_load_file(const char *path, const char *what)
{
	bool in = !strcmp(path, "-");
	size_t len = 0;
	char *text = xmig_read_file_max(in ? "/dev/stdin" : path, XP_JSON_MAX, &len);
	json_error_t err;
	json_t *doc;

	if (!text) {
		if (errno == EISDIR)
			xmig_error("%s %s is a directory, not a %s file", what, path, what);
		else if (errno == EFBIG)
			xmig_error("%s %s is larger than %u MiB: not a %s file", what, path,
				   XP_JSON_MAX >> 20, what);
		else
			xmig_error("cannot read %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	doc = json_loadb(text, len, 0, &err);
	free(text);
	if (!doc)
		xmig_error("%s %s is not JSON: line %d column %d: %s", what, path, err.line,
			   err.column, err.text);
	return doc;
}

/*
 * 1: present, in *v; 0: absent and optional (null counts as absent), so the
 * default applies; -1: required and missing (said so).
 */
static int member(json_t *obj, const char *key, const char *path, bool required, json_t **v)
{
	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (!*v && required)
		return xmig_error("%s: missing \"%s\"", path, key);
	return *v && !(json_is_null(*v) && !required);
}

int xp_jint(json_t *obj, const char *key, const char *path, bool required,
	    long long min, long long max, long long def, long long *out)
{
	json_t *v;
	int r = member(obj, key, path, required, &v);
	double d = json_is_real(v) ? json_real_value(v) : 0.5;

	if (r <= 0) {
		*out = def;
		return r;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (d == floor(d) && fabs(d) < 9e18) {
		/* 1e9 written by a tool that does not know integers is still exact. */
		*out = (long long)d;
	} else {
		return xmig_error("%s.%s: expected an integer", path, key);
	}
	if (*out < min || *out > max)
		return xmig_error("%s.%s: %lld is out of range [%lld, %lld]", path, key, *out, min, max);
	return 0;
}

int xp_jnum(json_t *obj, const char *key, const char *path, bool required,
	    double min, double max, double def, double *out)
{
	json_t *v;
	int r = member(obj, key, path, required, &v);

	if (r <= 0) {
		*out = def;
		return r;
	}
	if (!json_is_number(v))
		return xmig_error("%s.%s: expected a number", path, key);
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < min || *out > max)
		return xmig_error("%s.%s: %g is out of range [%g, %g]", path, key, *out, min, max);
	return 0;
}

int xp_jstr(json_t *obj, const char *key, const char *path, const char **out)
{
	json_t *v;

	if (member(obj, key, path, true, &v) < 0)
		return -1;
	if (!json_is_string(v) || !json_string_length(v))
		return xmig_error("%s.%s: expected a non-empty string", path, key);
	*out = json_string_value(v);
	return 0;
}

int xp_jbool(json_t *obj, const char *key, const char *path, bool required, bool def, bool *out)
{
	json_t *v;
	int r = member(obj, key, path, required, &v);

	if (r <= 0) {
		*out = def;
		return r;
	}
	if (!json_is_boolean(v))
		return xmig_error("%s.%s: expected true or false", path, key);
	*out = json_is_true(v);
	return 0;
}

json_t *xp_jarray(json_t *obj, const char *key, const char *path)
{
	json_t *v;

	if (member(obj, key, path, true, &v) < 0)
		return NULL;
	if (!json_is_array(v)) {
		xmig_error("%s.%s: expected an array", path, key);
		return NULL;
	}
	return v;
}

json_t *xp_jobject(json_t *obj, const char *key, const char *path)
{
	json_t *v;

	if (member(obj, key, path, true, &v) < 0)
		return NULL;
	if (!json_is_object(v)) {
		xmig_error("%s.%s: expected an object", path, key);
		return NULL;
	}
	return v;
}
