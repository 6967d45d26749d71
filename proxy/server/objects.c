/*
 * objects.c - handle tables: the logical ids the application holds, mapped
 * to the backend objects of the current proxy. Ids survive a move: the
 * next proxy recreates each object under the same id.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void srv_table_init(struct srv_table *t, uint64_t first)
{
	memset(t, 0, sizeof(*t));
	t->first = first;
	t->next = first;
}

static void **slot(const struct srv_table *t, uint64_t id, bool create)
{
	uint64_t c = id / SRV_TABLE_CHUNK;
	void **chunk;

	if (c >= SRV_TABLE_CHUNKS)
		return NULL;
	chunk = t->chunks[c];
	if (!chunk) {
		if (!create)
			return NULL;
		chunk = calloc(SRV_TABLE_CHUNK, sizeof(void *));
		if (!chunk)
			return NULL;
		((struct srv_table *)t)->chunks[c] = chunk;
	}
	return &chunk[id % SRV_TABLE_CHUNK];
}

int srv_table_put(struct srv_table *t, uint64_t id, void *obj)
{
	void **p = id >= t->first ? slot(t, id, true) : NULL;

	if (!p || *p)
		return -1;
	*p = obj;
	t->count++;
	t->changes++;
	if (id >= t->next)
		t->next = id + 1;
	return 0;
}

uint64_t srv_table_add(struct srv_table *t, void *obj)
{
	uint64_t id;

	/* A freed id may have been taken again by a put (a restore): skip it. */
	while (t->nfree > 0) {
		id = t->free_ids[--t->nfree];
		if (!srv_table_get(t, id))
			return srv_table_put(t, id, obj) < 0 ? 0 : id;
	}
	id = t->next;
	if (srv_table_put(t, id, obj) < 0)
		return 0;
	return id;
}

/*
 * An id no add will give, for an object put there later (a captured
 * graph's, handed out while its capture goes on). Never put: a hole.
 */
uint64_t srv_table_reserve(struct srv_table *t)
{
	return t->next++;
}

void *srv_table_get(const struct srv_table *t, uint64_t id)
{
	void **p = id >= t->first ? slot(t, id, false) : NULL;

	return p ? *p : NULL;
}

void *srv_table_remove(struct srv_table *t, uint64_t id)
{
	void **p = id >= t->first ? slot(t, id, false) : NULL;
	void *obj;

	if (!p || !*p)
		return NULL;
	obj = *p;
	*p = NULL;
	t->count--;
	t->changes++;
	if (t->nfree == t->capfree) {
		size_t cap = t->capfree ? t->capfree * 2 : 64;
		uint64_t *n = realloc(t->free_ids, cap * sizeof(*n));
		if (!n)
			return obj;   /* the id is simply not reused */
		t->free_ids = n;
		t->capfree = cap;
	}
	t->free_ids[t->nfree++] = id;
	return obj;
}

void srv_table_each(const struct srv_table *t, void (*fn)(uint64_t id, void *obj, void *arg),
		    void *arg)
{
	uint64_t id;

	for (id = t->first; id < t->next; id++) {
		void *obj = srv_table_get(t, id);

		if (obj)
			fn(id, obj, arg);
	}
}

int srv_objects_init(struct srv *s)
{
	srv_table_init(&s->streams, XMIG_STREAM_FIRST_USER);
	srv_table_init(&s->events, 1);
	srv_table_init(&s->modules, 1);
	srv_table_init(&s->funcs, 1);
	srv_table_init(&s->vars, 1);
	srv_table_init(&s->blas, 1);
	dnn_log_init(&s->dnn);
	srv_table_init(&s->blaslt, 1);
	srv_table_init(&s->graphs, 1);
	srv_table_init(&s->graph_execs, 1);
	s->legacy.h = s->dev->stream_special(s->devh, XMIG_DEV_STREAM_LEGACY);
	s->per_thread.h = s->dev->stream_special(s->devh, XMIG_DEV_STREAM_PER_THREAD);
	s->legacy.id = XMIG_STREAM_LEGACY;
	s->per_thread.id = XMIG_STREAM_PER_THREAD;
	return 0;
}

struct srv_stream *srv_stream_of(struct srv *s, uint64_t id)
{
	if (id == XMIG_STREAM_LEGACY)
		return &s->legacy;
	if (id == XMIG_STREAM_PER_THREAD)
		return &s->per_thread;
	return srv_table_get(&s->streams, id);
}

struct srv_stream *srv_stream(struct xmig_call *c, uint64_t id)
{
	return srv_stream_of(c->srv, id);
}

struct srv_event *srv_event(struct xmig_call *c, uint64_t id)
{
	return srv_table_get(&c->srv->events, id);
}

struct srv_func *srv_func(struct xmig_call *c, uint64_t id)
{
	return srv_table_get(&c->srv->funcs, id);
}
