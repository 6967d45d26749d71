/*
 * dnn-sim.c - cuDNN on the sim device: a TEST DOUBLE, not cuDNN. It runs
 * no kernels; it keeps handles, descriptors and their attributes, so that
 * the forwarding, the log and the replay after a move run in CI.
 *   - SetAttribute keeps the elements; GetAttribute answers what was set;
 *   - GetAttribute of a descriptor-typed attribute nobody set (heuristics'
 *     results, say) fills one target descriptor, marked as filled from the
 *     source, and answers a count of 1;
 *   - Execute fails with CUDNN_STATUS_NOT_SUPPORTED and says why.
 * With XMIG_SIM_CUDNN_LOG=FILE every call that makes or changes something
 * appends one line to FILE, starting with the proxy's pid: tests read what
 * a proxy made, and what a next proxy made again.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnn-backends.h"

struct sim_attr {
	int name, type;
	int64_t count;
	unsigned char *elems;
};

struct sim_dnn_desc {
	int type;
	bool finalized;
	const struct sim_dnn_desc *filled_from;
	struct sim_attr *attrs;
	size_t nattrs;
};

struct sim_dnn_handle {
	void *stream;
};

static _Thread_local char last_error[256];

static void trace(const char *fmt, ...)
{
	const char *path = getenv("XMIG_SIM_CUDNN_LOG");
	char line[4096];
	va_list ap;
	int n, fd;

	if (!path || !*path)
		return;
	n = snprintf(line, sizeof(line), "%d ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return;
	if (write(fd, line, n) != n)   /* one write: lines of several proxies stay whole */
		xmig_error("sim device: cannot write %s", path);
	close(fd);
}

/* Elements as text: values in hex, descriptors by their type. */
static void describe(int type, int64_t count, const void *elems, char *out, size_t len)
{
	size_t size = xmig_dnn_elem_size(type), at = 0;

	out[0] = '\0';
	for (int64_t i = 0; i < count && at + 40 < len; i++) {
		const unsigned char *e = (const unsigned char *)elems + i * size;

		if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
			const struct sim_dnn_desc *d = *(void *const *)e;

			at += snprintf(out + at, len - at, "%sd%d", i ? "," : "", d ? d->type : -1);
		} else if (type == CUDNN_TYPE_HANDLE) {
			at += snprintf(out + at, len - at, "%shandle", i ? "," : "");
		} else if (type == CUDNN_TYPE_VOID_PTR) {
			at += snprintf(out + at, len - at, "%sptr", i ? "," : "");
		} else {
			at += snprintf(out + at, len - at, "%s", i ? "," : "");
			for (size_t b = 0; b < size; b++)
				at += snprintf(out + at, len - at, "%02x", e[b]);
		}
	}
}

int xmig_dnn_sim_info(void *dev, struct xmig_dnn_info_res *r)
{
	r->version = CUDNN_VERSION;
	r->cudart_version = CUDART_VERSION;
	r->max_device_version = 0;
	r->real = 0;
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_create(void *dev, void **h)
{
	if (!(*h = calloc(1, sizeof(struct sim_dnn_handle))))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	trace("create handle");
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_destroy(void *dev, void *h)
{
	free(h);
	trace("destroy handle");
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_set_stream(void *dev, void *h, void *stream)
{
	((struct sim_dnn_handle *)h)->stream = stream;
	trace("stream handle");
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_desc_create(void *dev, int type, void **d)
{
	struct sim_dnn_desc *s;

	if (type < 0 || type > CUDNN_BACKEND_OPERATION_SDPA_BWD_DESCRIPTOR)
		return CUDNN_STATUS_BAD_PARAM;
	if (!(s = calloc(1, sizeof(*s))))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	s->type = type;
	*d = s;
	trace("create descriptor %d", type);
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_desc_destroy(void *dev, void *d)
{
	struct sim_dnn_desc *s = d;

	trace("destroy descriptor %d", s->type);
	for (size_t i = 0; i < s->nattrs; i++)
		free(s->attrs[i].elems);
	free(s->attrs);
	free(s);
	return CUDNN_STATUS_SUCCESS;
}

static struct sim_attr *find(struct sim_dnn_desc *s, int name)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (s->attrs[i].name == name)
			return &s->attrs[i];
	return NULL;
}

int xmig_dnn_sim_set_attr(void *dev, void *d, int name, int type, int64_t count,
			  const void *elems)
{
	struct sim_dnn_desc *s = d;
	size_t bytes = (size_t)count * xmig_dnn_elem_size(type);
	struct sim_attr *a = find(s, name);
	unsigned char *copy;
	char text[1024];

	if (s->finalized)
		return CUDNN_STATUS_BAD_PARAM;
	if (!(copy = malloc(bytes ? bytes : 1)))
		return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
	memcpy(copy, elems, bytes);
	if (!a) {
		struct sim_attr *n = realloc(s->attrs, (s->nattrs + 1) * sizeof(*n));

		if (!n) {
			free(copy);
			return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
		}
		s->attrs = n;
		a = &s->attrs[s->nattrs++];
	} else {
		free(a->elems);
	}
	*a = (struct sim_attr){ .name = name, .type = type, .count = count, .elems = copy };
	describe(type, count, elems, text, sizeof(text));
	trace("set d%d attr %d type %d count %lld [%s]", s->type, name, type, (long long)count,
	      text);
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_get_attr(void *dev, void *d, int name, int type, int64_t requested,
			  int64_t *count, void *elems)
{
	struct sim_dnn_desc *s = d;
	struct sim_attr *a = find(s, name);
	char text[1024];

	if (a) {
		if (a->type != type)
			return CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE;
		*count = a->count;
		if (elems)
			memcpy(elems, a->elems,
			       (size_t)(requested < a->count ? requested : a->count) *
				       xmig_dnn_elem_size(type));
		return CUDNN_STATUS_SUCCESS;
	}
	if (type != CUDNN_TYPE_BACKEND_DESCRIPTOR) {
		snprintf(last_error, sizeof(last_error),
			 "sim device (test double): attribute %d of a type-%d descriptor was never set",
			 name, s->type);
		return CUDNN_STATUS_NOT_SUPPORTED;
	}
	if (!s->finalized)
		return CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED;
	/* What the double "finds": one result, made from the source. */
	*count = 1;
	if (requested > 0 && elems) {
		struct sim_dnn_desc *t = *(struct sim_dnn_desc **)elems;

		t->filled_from = s;
		t->finalized = true;
		describe(type, 1, elems, text, sizeof(text));
		trace("fill d%d attr %d -> [%s]", s->type, name, text);
	}
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_finalize(void *dev, void *d)
{
	struct sim_dnn_desc *s = d;

	if (s->finalized)
		return CUDNN_STATUS_BAD_PARAM;
	s->finalized = true;
	trace("finalize d%d", s->type);
	return CUDNN_STATUS_SUCCESS;
}

int xmig_dnn_sim_execute(void *dev, void *h, void *plan, void *variant_pack)
{
	snprintf(last_error, sizeof(last_error),
		 "sim device (test double): cudnnBackendExecute cannot run, there are no cuDNN "
		 "kernels here");
	xmig_error("%s", last_error);
	trace("execute d%d: not supported", ((struct sim_dnn_desc *)plan)->type);
	return CUDNN_STATUS_NOT_SUPPORTED;
}

void xmig_dnn_sim_last_error(void *dev, char *message, size_t size)
{
	snprintf(message, size, "%s", last_error);
	last_error[0] = '\0';
}
