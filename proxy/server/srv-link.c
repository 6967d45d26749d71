/*
 * srv-link.c - the driver's JIT linker for the application (cuLinkCreate,
 * cuLinkAddData, cuLinkComplete: Numba links every kernel so), run by the
 * proxy's driver, which knows the GPU. The application sends the whole
 * job through bulk (proxy/client/cuda-link.c), the proxy links it and
 * sends back the cubin and the logs; the application then loads the cubin
 * as any module, so a move carries it as one.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "../../lib/xmig.h"
#include "server.h"

/* A job being sent, or its result being fetched. */
struct link {
	uint64_t id;
	unsigned char *job;
	uint64_t total, received;
	unsigned char *result;       /* cubin, info log, error log */
	uint64_t cubin_size, info_size, error_size;
	struct link *next;
};

/* (the calls of one job come from one ring, in turn: no lock) */
static struct link *links;

static struct link **find(uint64_t id)
{
	struct link **pp = &links;

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static void drop(struct link **pp)
{
	struct link *l = *pp;

	*pp = l->next;
	free(l->job);
	free(l->result);
	free(l);
}

static uint64_t up8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

/* The job's inputs, checked against its length; names copied NUL-terminated into names. */
static int parse(const unsigned char *job, uint64_t len, const struct xmig_link_job **head,
		 const struct xmig_link_opt **opts, struct xmig_link_piece **in, char **names)
{
	const struct xmig_link_job *h = (const void *)job;
	uint64_t off;
	char *n;

	if (len < sizeof(*h) || h->nopts > 64 || h->ninputs > 4096 ||
	    len < sizeof(*h) + (uint64_t)h->nopts * sizeof(**opts))
		return -1;
	*head = h;
	*opts = (const void *)(job + sizeof(*h));
	off = sizeof(*h) + (uint64_t)h->nopts * sizeof(**opts);
	*in = calloc(h->ninputs ? h->ninputs : 1, sizeof(**in));
	*names = n = malloc(len + h->ninputs + 1);   /* (every name, and a NUL each, fit) */
	if (!*in || !n)
		return -1;
	for (uint32_t i = 0; i < h->ninputs; i++) {
		struct xmig_link_input x;

		if (len - off < sizeof(x))
			return -1;
		memcpy(&x, job + off, sizeof(x));
		off += sizeof(x);
		if (len - off < up8(x.name_len) || len - off - up8(x.name_len) < x.size)
			return -1;
		memcpy(n, job + off, x.name_len);
		n[x.name_len] = '\0';
		(*in)[i] = (struct xmig_link_piece){ x.type, n, job + off + up8(x.name_len), x.size };
		n += x.name_len + 1;
		off += up8(x.name_len) + up8(x.size);
		if (off > len)
			off = len;
	}
	return 0;
}

static int run(struct srv *s, struct link *l, struct xmig_link_res *res)
{
	const struct xmig_link_job *h;
	const struct xmig_link_opt *opts;
	struct xmig_link_piece *in = NULL;
	char *names = NULL, *info = NULL, *err = NULL;
	void *out = NULL;
	size_t out_len = 0;
	int r = 0;

	if (parse(l->job, l->total, &h, &opts, &in, &names) < 0) {
		r = cudaErrorInvalidValue;
		goto out;
	}
	/* (the logs as long as the application's buffers, at most 1 MiB each) */
	info = calloc(1, h->info_size < (1u << 20) ? h->info_size + 1 : (1u << 20) + 1);
	err = calloc(1, h->error_size < (1u << 20) ? h->error_size + 1 : (1u << 20) + 1);
	if (!info || !err) {
		r = cudaErrorMemoryAllocation;
		goto out;
	}
	res->status = s->dev->link(s->devh, opts, h->nopts, in, h->ninputs, &out, &out_len, info,
				   h->info_size < (1u << 20) ? h->info_size + 1 : (1u << 20) + 1,
				   err, h->error_size < (1u << 20) ? h->error_size + 1 : (1u << 20) + 1);
	l->cubin_size = res->status ? 0 : out_len;
	l->info_size = strlen(info);
	l->error_size = strlen(err);
	if (!(l->result = malloc(l->cubin_size + l->info_size + l->error_size + 1))) {
		r = cudaErrorMemoryAllocation;
		goto out;
	}
	if (l->cubin_size)
		memcpy(l->result, out, l->cubin_size);
	memcpy(l->result + l->cubin_size, info, l->info_size);
	memcpy(l->result + l->cubin_size + l->info_size, err, l->error_size);
	res->cubin_size = l->cubin_size;
	res->info_size = l->info_size;
	res->error_size = l->error_size;
	free(l->job);
	l->job = NULL;
out:
	free(out);
	free(info);
	free(err);
	free(in);
	free(names);
	return r;
}

int d_LINK(struct xmig_call *c)
{
	const struct xmig_link_req *a = c->args;
	struct xmig_link_res *res = c->res;
	struct srv *s = c->srv;
	struct link **pp = find(a->link), *l = *pp;
	uint64_t all;

	memset(res, 0, sizeof(*res));
	c->res_len = sizeof(*res);
	if (!s->dev->link) {
		xmig_error("the %s device does not link (cuLinkComplete)", s->dev->name);
		return cudaErrorNotSupported;
	}
	switch (a->phase) {
	case XMIG_LINK_PUT:
		if (a->size > XMIG_BULK_HALF || a->offset > a->total ||
		    a->size > a->total - a->offset || a->total > (1ull << 31))
			return cudaErrorInvalidValue;
		if (!l) {
			if (a->offset || !(l = calloc(1, sizeof(*l))))
				return a->offset ? cudaErrorInvalidValue : cudaErrorMemoryAllocation;
			if (!(l->job = malloc(a->total ? a->total : 1))) {
				free(l);
				return cudaErrorMemoryAllocation;
			}
			l->id = a->link;
			l->total = a->total;
			l->next = links;
			links = l;
		}
		if (!l->job || a->total != l->total || a->offset != l->received)
			return cudaErrorInvalidValue;
		memcpy(l->job + a->offset, c->w->ring->bulk, a->size);
		l->received += a->size;
		return 0;
	case XMIG_LINK_RUN:
		if (!l || !l->job || l->received != l->total)
			return cudaErrorInvalidValue;
		return run(s, l, res);
	case XMIG_LINK_GET:
		all = l && l->result ? l->cubin_size + l->info_size + l->error_size : 0;
		if (!l || !l->result || a->size > XMIG_BULK_HALF || a->offset > all ||
		    a->size > all - a->offset)
			return cudaErrorInvalidValue;
		memcpy(c->w->ring->bulk, l->result + a->offset, a->size);
		return 0;
	case XMIG_LINK_DROP:
		if (l)
			drop(pp);
		return 0;
	default:
		return cudaErrorInvalidValue;
	}
}
