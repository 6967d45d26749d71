/*
 * comm.c - the logical communicator table of one proxy: ids the
 * application holds, the keys that name a communicator on every rank, the
 * counters of what was posted, and the PreMulSum ops made again on every
 * rebuild.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "../lib/xmig.h"
#include "ccl.h"

void ccl_table_init(struct ccl_table *t)
{
	memset(t, 0, sizeof(*t));
	t->next_id = 1;
	pthread_mutex_init(&t->lock, NULL);
}

static void comm_free(struct ccl_comm *c)
{
	if (!c)
		return;
	free(c->sent);
	free(c->recvd);
	free(c->redops);
	free(c);
}

void ccl_table_free(struct ccl_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		comm_free(t->comms[i]);
	free(t->comms);
	pthread_mutex_destroy(&t->lock);
	ccl_table_init(t);
}

struct ccl_comm *ccl_comm_get(const struct ccl_table *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->comms[i]->id == id)
			return t->comms[i];
	return NULL;
}

struct ccl_comm *ccl_comm_by_key(const struct ccl_table *t, uint64_t key)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->comms[i]->key == key)
			return t->comms[i];
	return NULL;
}

struct ccl_comm *ccl_comm_new_at(struct ccl_table *t, uint64_t id, uint64_t key, int nranks,
				 int rank, const struct xmig_ccl_config *cfg)
{
	struct ccl_comm *c;

	if (!id || nranks < 1 || rank < 0 || rank >= nranks || ccl_comm_get(t, id))
		return NULL;
	if (!(c = calloc(1, sizeof(*c))) || !(c->sent = calloc((size_t)nranks, sizeof(uint64_t))) ||
	    !(c->recvd = calloc((size_t)nranks, sizeof(uint64_t)))) {
		comm_free(c);
		return NULL;
	}
	c->id = id;
	c->key = key;
	c->nranks = nranks;
	c->rank = rank;
	c->lock = &t->lock;
	if (cfg)
		c->cfg = *cfg;
	/* (names the client sent: ended here, whatever it wrote, before NCCL or JSON reads them) */
	c->cfg.net_name[sizeof(c->cfg.net_name) - 1] = '\0';
	c->cfg.comm_name[sizeof(c->cfg.comm_name) - 1] = '\0';
	pthread_mutex_lock(&t->lock);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct ccl_comm **n = realloc(t->comms, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&t->lock);
			comm_free(c);
			return NULL;
		}
		t->comms = n;
		t->cap = cap;
	}
	t->comms[t->n++] = c;
	if (id >= t->next_id)
		t->next_id = id + 1;
	pthread_mutex_unlock(&t->lock);
	return c;
}

struct ccl_comm *ccl_comm_new(struct ccl_table *t, uint64_t key, int nranks, int rank,
			      const struct xmig_ccl_config *cfg)
{
	return ccl_comm_new_at(t, t->next_id, key, nranks, rank, cfg);
}

void ccl_comm_remove(struct ccl_table *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (t->comms[i]->id == id) {
			comm_free(t->comms[i]);
			t->comms[i] = t->comms[--t->n];
			break;
		}
	pthread_mutex_unlock(&t->lock);
}

uint64_t ccl_key_root(int nids, const unsigned char (*ids)[XMIG_CCL_ID_BYTES])
{
	return xmig_hash64(ids, (size_t)nids * XMIG_CCL_ID_BYTES);
}

uint64_t ccl_key_split(uint64_t parent, uint64_t ordinal, int color)
{
	uint64_t v[3] = { parent, ordinal, (uint64_t)(uint32_t)color };

	return xmig_hash64(v, sizeof(v));
}

static bool is_p2p(int fn)
{
	return fn == XMIG_CCL_SEND || fn == XMIG_CCL_RECV;
}

void ccl_count(struct ccl_comm *c, const struct xmig_ccl_op *op)
{
	if (op->fn == XMIG_CCL_SEND)
		c->sent[op->peer]++;
	else if (op->fn == XMIG_CCL_RECV)
		c->recvd[op->peer]++;
	else
		c->colls++;
}

int ccl_op_check(const struct ccl_comm *c, const struct xmig_ccl_op *op)
{
	if (op->fn < XMIG_CCL_ALLREDUCE || op->fn > XMIG_CCL_RECV)
		return ncclInvalidArgument;
	if (op->datatype < 0 || op->datatype >= ncclNumTypes)
		return ncclInvalidArgument;
	/* the root of a rooted collective, the peer of a send or receive */
	if ((is_p2p(op->fn) || op->fn == XMIG_CCL_BROADCAST || op->fn == XMIG_CCL_REDUCE ||
	     op->fn == XMIG_CCL_GATHER || op->fn == XMIG_CCL_SCATTER) &&
	    (op->peer < 0 || op->peer >= c->nranks))
		return ncclInvalidArgument;
	if ((op->fn == XMIG_CCL_ALLREDUCE || op->fn == XMIG_CCL_REDUCE ||
	     op->fn == XMIG_CCL_REDUCESCATTER) && ccl_redop_physical(c, op->redop) < 0)
		return ncclInvalidArgument;
	return ncclSuccess;
}

/* Slot `index` (logical op ncclNumOps + index), made live; NULL when out of memory. */
static struct ccl_redop *redop_slot(struct ccl_comm *c, size_t index)
{
	struct ccl_redop *r;

	if (index >= c->nredops) {
		if (c->lock)
			pthread_mutex_lock(c->lock);
		if (!(r = realloc(c->redops, (index + 1) * sizeof(*r)))) {
			if (c->lock)
				pthread_mutex_unlock(c->lock);
			return NULL;
		}
		c->redops = r;
		for (size_t i = c->nredops; i <= index; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].logical = ncclNumOps + (int)i;
		}
		c->nredops = index + 1;
		if (c->lock)
			pthread_mutex_unlock(c->lock);
	}
	r = &c->redops[index];
	memset(r, 0, sizeof(*r));
	r->logical = ncclNumOps + (int)index;
	r->physical = -1;
	r->live = true;
	return r;
}

struct ccl_redop *ccl_redop_add(struct ccl_comm *c)
{
	size_t i;

	for (i = 0; i < c->nredops && c->redops[i].live; i++)
		;
	return i < CCL_REDOPS_MAX ? redop_slot(c, i) : NULL;
}

struct ccl_redop *ccl_redop_find(const struct ccl_comm *c, int logical)
{
	for (size_t i = 0; i < c->nredops; i++)
		if (c->redops[i].live && c->redops[i].logical == logical)
			return &c->redops[i];
	return NULL;
}

int ccl_redop_physical(const struct ccl_comm *c, int logical)
{
	const struct ccl_redop *r;

	if (logical >= 0 && logical < ncclNumOps)
		return logical;
	r = ccl_redop_find(c, logical);
	return r ? r->physical : -1;
}

/* ---- as JSON: status and the manifest ------------------------------------------- */

static json_t *u64_array(const uint64_t *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)v[i]));
	return a;
}

static json_t *config_json(const struct xmig_ccl_config *g)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
			 "s:s, s:s}",
			 "given", g->given, "blocking", g->blocking, "cga_cluster_size",
			 g->cga_cluster_size, "min_ctas", g->min_ctas, "max_ctas", g->max_ctas,
			 "split_share", g->split_share, "traffic_class", g->traffic_class,
			 "collnet_enable", g->collnet_enable, "cta_policy", g->cta_policy,
			 "shrink_share", g->shrink_share, "nvls_ctas", g->nvls_ctas,
			 "channels_per_net_peer", g->channels_per_net_peer,
			 "nvlink_centric_sched", g->nvlink_centric_sched, "net_name", g->net_name,
			 "comm_name", g->comm_name);
}

json_t *ccl_comm_json(const struct ccl_comm *c)
{
	json_t *o, *ops = json_array();

	for (size_t i = 0; i < c->nredops; i++) {
		const struct ccl_redop *r = &c->redops[i];
		char hex[33];

		if (!r->live)
			continue;
		for (int k = 0; k < 16; k++)
			snprintf(hex + 2 * k, 3, "%02x", r->scalar[k]);
		json_array_append_new(ops, json_pack("{s:i, s:i, s:i, s:I, s:s}", "op", r->logical,
						     "datatype", r->datatype, "residence",
						     r->residence, "scalar_ptr",
						     (json_int_t)r->scalar_ptr, "scalar", hex));
	}
	o = json_pack("{s:I, s:s, s:i, s:i, s:I, s:I, s:I, s:b, s:f, s:f}", "id",
		      (json_int_t)c->id, "key", "", "nranks", c->nranks, "rank", c->rank,
		      "generation", (json_int_t)c->generation, "splits", (json_int_t)c->nsplits,
		      "collectives", (json_int_t)c->colls, "linked", c->phys != NULL, "init_s",
		      c->init_s, "rebuild_s", c->rebuild_s);
	/* 64-bit keys as hex: JSON integers are signed */
	json_object_set_new(o, "key", json_sprintf("%016llx", (unsigned long long)c->key));
	json_object_set_new(o, "sent", u64_array(c->sent, c->nranks));
	json_object_set_new(o, "recvd", u64_array(c->recvd, c->nranks));
	json_object_set_new(o, "config", config_json(&c->cfg));
	json_object_set_new(o, "redops", ops);
	return o;
}

json_t *ccl_table_json(struct ccl_table *t)
{
	json_t *a = json_array();

	if (!t)
		return a;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(a, ccl_comm_json(t->comms[i]));
	pthread_mutex_unlock(&t->lock);
	return a;
}

static int get_int(json_t *o, const char *k)
{
	return (int)json_integer_value(json_object_get(o, k));
}

static void read_u64s(json_t *a, uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = (uint64_t)json_integer_value(json_array_get(a, (size_t)i));
}

void ccl_comm_counters_from_json(struct ccl_comm *c, json_t *o)
{
	c->generation = (uint64_t)json_integer_value(json_object_get(o, "generation"));
	c->nsplits = (uint64_t)json_integer_value(json_object_get(o, "splits"));
	c->colls = (uint64_t)json_integer_value(json_object_get(o, "collectives"));
	read_u64s(json_object_get(o, "sent"), c->sent, c->nranks);
	read_u64s(json_object_get(o, "recvd"), c->recvd, c->nranks);
}

/* A manifest's redop entry, as the fields it stands for (scalar: 16 bytes in hex). */
static bool redop_fields(json_t *r, struct ccl_redop *v)
{
	const char *hex = json_string_value(json_object_get(r, "scalar")) ?: "";

	memset(v, 0, sizeof(*v));
	v->logical = get_int(r, "op");
	v->datatype = get_int(r, "datatype");
	v->residence = get_int(r, "residence");
	v->scalar_ptr = (uint64_t)json_integer_value(json_object_get(r, "scalar_ptr"));
	for (int k = 0; k < 16 && hex[2 * k] && hex[2 * k + 1]; k++) {
		char b[3] = { hex[2 * k], hex[2 * k + 1], 0 };

		v->scalar[k] = (unsigned char)strtoul(b, NULL, 16);
	}
	/* (a value far past any live op's would make an array that large: a damaged entry) */
	return v->logical >= ncclNumOps && v->logical - ncclNumOps < CCL_REDOPS_MAX;
}

struct ccl_redop *ccl_redop_from_json(struct ccl_comm *c, json_t *r)
{
	struct ccl_redop v, *op;

	/* under the same logical value as before */
	if (!redop_fields(r, &v) || !(op = redop_slot(c, (size_t)(v.logical - ncclNumOps))))
		return NULL;
	op->datatype = v.datatype;
	op->residence = v.residence;
	op->scalar_ptr = v.scalar_ptr;
	memcpy(op->scalar, v.scalar, sizeof(op->scalar));
	return op;
}

bool ccl_redop_matches(const struct ccl_redop *op, json_t *r)
{
	struct ccl_redop v;

	return op->live && redop_fields(r, &v) && v.logical == op->logical &&
	       v.datatype == op->datatype && v.residence == op->residence &&
	       v.scalar_ptr == op->scalar_ptr && !memcmp(v.scalar, op->scalar, sizeof(v.scalar));
}

struct ccl_comm *ccl_comm_from_json(struct ccl_table *t, json_t *o)
{
	json_t *g = json_object_get(o, "config"), *r;
	struct xmig_ccl_config cfg = { 0 };
	struct ccl_comm *c;
	const char *key = json_string_value(json_object_get(o, "key"));
	size_t i;

	if (!key || !json_is_object(g))
		return NULL;
	cfg.given = get_int(g, "given");
	cfg.blocking = get_int(g, "blocking");
	cfg.cga_cluster_size = get_int(g, "cga_cluster_size");
	cfg.min_ctas = get_int(g, "min_ctas");
	cfg.max_ctas = get_int(g, "max_ctas");
	cfg.split_share = get_int(g, "split_share");
	cfg.traffic_class = get_int(g, "traffic_class");
	cfg.collnet_enable = get_int(g, "collnet_enable");
	cfg.cta_policy = get_int(g, "cta_policy");
	cfg.shrink_share = get_int(g, "shrink_share");
	cfg.nvls_ctas = get_int(g, "nvls_ctas");
	cfg.channels_per_net_peer = get_int(g, "channels_per_net_peer");
	cfg.nvlink_centric_sched = get_int(g, "nvlink_centric_sched");
	snprintf(cfg.net_name, sizeof(cfg.net_name), "%s",
		 json_string_value(json_object_get(g, "net_name")) ?: "");
	snprintf(cfg.comm_name, sizeof(cfg.comm_name), "%s",
		 json_string_value(json_object_get(g, "comm_name")) ?: "");
	c = ccl_comm_new_at(t, (uint64_t)json_integer_value(json_object_get(o, "id")),
			    strtoull(key, NULL, 16), get_int(o, "nranks"), get_int(o, "rank"), &cfg);
	if (!c)
		return NULL;
	ccl_comm_counters_from_json(c, o);
	c->init_s = json_real_value(json_object_get(o, "init_s"));
	json_array_foreach(json_object_get(o, "redops"), i, r)
		if (!ccl_redop_from_json(c, r))
			goto err;
	return c;
err:
	ccl_comm_remove(t, c->id);
	return NULL;
}
