/*
 * cut.c - the consistent cut across the ranks of a job.
 *
 * Every proxy counts, per communicator, the collectives it posted and the
 * sends and receives per peer. To freeze a job without leaving a
 * collective half-posted (posted on some ranks only: those would wait on
 * the GPU forever), the orchestrator first stops every rank at a call
 * boundary and collects the counters; the targets are the most
 * collectives any rank posted, and for every pair the most calls either
 * end posted. Each rank then runs on until it reaches the targets, never
 * past them; only then is its GPU drained, which now completes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccl.h"

json_t *ccl_cut_report(const struct ccl_table *t)
{
	json_t *a = json_array();

	for (size_t i = 0; i < t->n; i++) {
		const struct ccl_comm *c = t->comms[i];
		json_t *o = ccl_comm_json(c);
		json_t *r = json_pack("{s:O, s:i, s:i, s:I, s:O, s:O}", "key",
				      json_object_get(o, "key"), "nranks", c->nranks, "rank",
				      c->rank, "collectives", (json_int_t)c->colls, "sent",
				      json_object_get(o, "sent"), "recvd", json_object_get(o, "recvd"));

		json_decref(o);
		json_array_append_new(a, r);
	}
	return a;
}

static uint64_t u64(json_t *j)
{
	return json_is_integer(j) && json_integer_value(j) > 0 ? (uint64_t)json_integer_value(j) : 0;
}

/* One communicator's targets being built from the reports. */
struct acc {
	const char *key;
	int nranks;
	uint64_t colls;
	uint64_t *p2p;          /* nranks x nranks: calls from a to b */
	char *seen;             /* which ranks reported */
};

static struct acc *acc_find(struct acc *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].key, key))
			return &v[i];
	return NULL;
}

json_t *ccl_cut_targets(json_t *reports, char *why, size_t len)
{
	struct acc *v = NULL, *a;
	size_t n = 0, i, j, k;
	json_t *rep, *c, *out = NULL;

	json_array_foreach(reports, i, rep) {
		json_array_foreach(rep, j, c) {
			const char *key = json_string_value(json_object_get(c, "key"));
			int nranks = (int)json_integer_value(json_object_get(c, "nranks"));
			int rank = (int)json_integer_value(json_object_get(c, "rank"));
			json_t *sent = json_object_get(c, "sent"), *recvd = json_object_get(c, "recvd");

			if (!key || nranks < 1 || rank < 0 || rank >= nranks ||
			    json_array_size(sent) != (size_t)nranks ||
			    json_array_size(recvd) != (size_t)nranks) {
				snprintf(why, len, "report %zu is malformed", i);
				goto out;
			}
			if (!(a = acc_find(v, n, key))) {
				struct acc *nv = realloc(v, (n + 1) * sizeof(*v));

				if (!nv)
					goto oom;
				v = nv;
				a = &v[n++];
				a->key = key;
				a->nranks = nranks;
				a->colls = 0;
				a->p2p = calloc((size_t)nranks * (size_t)nranks, sizeof(uint64_t));
				a->seen = calloc((size_t)nranks, 1);
				if (!a->p2p || !a->seen)
					goto oom;
			}
			if (a->nranks != nranks) {
				snprintf(why, len, "communicator %s has %d ranks on one rank, %d on another",
					 key, a->nranks, nranks);
				goto out;
			}
			if (a->seen[rank]) {
				snprintf(why, len, "communicator %s: rank %d reported twice", key, rank);
				goto out;
			}
			a->seen[rank] = 1;
			if (u64(json_object_get(c, "collectives")) > a->colls)
				a->colls = u64(json_object_get(c, "collectives"));
			for (k = 0; k < (size_t)nranks; k++) {
				uint64_t *to = &a->p2p[(size_t)rank * nranks + k];      /* rank -> k */
				uint64_t *from = &a->p2p[k * nranks + (size_t)rank];    /* k -> rank */
				uint64_t s = u64(json_array_get(sent, k)), r = u64(json_array_get(recvd, k));

				if (s > *to)
					*to = s;
				if (r > *from)
					*from = r;
			}
		}
	}
	out = json_array();
	for (i = 0; i < n; i++) {
		json_t *p2p = json_array();

		for (k = 0; k < (size_t)v[i].nranks; k++)
			if (!v[i].seen[k]) {
				snprintf(why, len, "communicator %s: rank %zu did not report", v[i].key, k);
				json_decref(p2p);
				json_decref(out);
				out = NULL;
				goto out;
			}
		for (k = 0; k < (size_t)v[i].nranks * (size_t)v[i].nranks; k++)
			json_array_append_new(p2p, json_integer((json_int_t)v[i].p2p[k]));
		json_array_append_new(out, json_pack("{s:s, s:i, s:I, s:o}", "key", v[i].key,
						     "nranks", v[i].nranks, "collectives",
						     (json_int_t)v[i].colls, "p2p", p2p));
	}
	goto out;
oom:
	snprintf(why, len, "out of memory");
out:
	for (i = 0; i < n; i++) {
		free(v[i].p2p);
		free(v[i].seen);
	}
	free(v);
	return out;
}

int ccl_cut_parse(json_t *targets, struct ccl_cut *cut, char *why, size_t len)
{
	json_t *o;
	size_t i;

	memset(cut, 0, sizeof(*cut));
	if (!json_is_array(targets)) {
		snprintf(why, len, "targets must be an array");
		return -1;
	}
	if (!(cut->t = calloc(json_array_size(targets) + 1, sizeof(*cut->t))))
		return -1;
	json_array_foreach(targets, i, o) {
		struct ccl_target *t = &cut->t[cut->n];
		const char *key = json_string_value(json_object_get(o, "key"));
		json_t *p2p = json_object_get(o, "p2p");

		t->nranks = (int)json_integer_value(json_object_get(o, "nranks"));
		if (!key || t->nranks < 1 ||
		    json_array_size(p2p) != (size_t)t->nranks * (size_t)t->nranks) {
			snprintf(why, len, "target %zu is malformed", i);
			ccl_cut_free(cut);
			return -1;
		}
		t->key = strtoull(key, NULL, 16);
		t->colls = u64(json_object_get(o, "collectives"));
		if (!(t->p2p = calloc(json_array_size(p2p), sizeof(uint64_t)))) {
			ccl_cut_free(cut);
			return -1;
		}
		for (size_t k = 0; k < json_array_size(p2p); k++)
			t->p2p[k] = u64(json_array_get(p2p, k));
		cut->n++;
	}
	return 0;
}

void ccl_cut_free(struct ccl_cut *cut)
{
	for (size_t i = 0; i < cut->n; i++)
		free(cut->t[i].p2p);
	free(cut->t);
	memset(cut, 0, sizeof(*cut));
}

static const struct ccl_target *target_of(const struct ccl_cut *cut, const struct ccl_comm *c)
{
	for (size_t i = 0; i < cut->n; i++)
		if (cut->t[i].key == c->key && cut->t[i].nranks == c->nranks)
			return &cut->t[i];
	return NULL;
}

/* Calls of `ops` on c: collectives, sends and receives per peer. */
static void tally(const struct ccl_comm *c, const struct xmig_ccl_op *ops, size_t nops,
		  uint64_t *colls, uint64_t *sent, uint64_t *recvd)
{
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].comm != c->id)
			continue;
		/* (a peer outside the communicator: refused at its dispatch, not counted here) */
		if ((ops[i].fn == XMIG_CCL_SEND || ops[i].fn == XMIG_CCL_RECV) &&
		    (ops[i].peer < 0 || ops[i].peer >= c->nranks))
			continue;
		if (ops[i].fn == XMIG_CCL_SEND)
			sent[ops[i].peer]++;
		else if (ops[i].fn == XMIG_CCL_RECV)
			recvd[ops[i].peer]++;
		else
			(*colls)++;
	}
}

bool ccl_cut_admits(const struct ccl_table *t, const struct ccl_cut *cut,
		    const struct xmig_ccl_op *ops, size_t nops)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ccl_comm *c = t->comms[i];
		const struct ccl_target *tg = target_of(cut, c);
		uint64_t colls = 0, *sent, *recvd;
		bool ok = true;
		int n = c->nranks;

		if (!(sent = calloc((size_t)n * 2, sizeof(uint64_t))))
			return false;
		recvd = sent + n;
		tally(c, ops, nops, &colls, sent, recvd);
		/* A communicator the cut does not know (made since) may post nothing. */
		if (!tg) {
			ok = !colls;
			for (int p = 0; ok && p < n; p++)
				ok = !sent[p] && !recvd[p];
		} else {
			ok = c->colls + colls <= tg->colls;
			for (int p = 0; ok && p < n; p++)
				ok = c->sent[p] + sent[p] <= tg->p2p[(size_t)c->rank * n + p] &&
				     c->recvd[p] + recvd[p] <= tg->p2p[(size_t)p * n + c->rank];
		}
		free(sent);
		if (!ok)
			return false;
	}
	return true;
}

bool ccl_cut_reached(const struct ccl_table *t, const struct ccl_cut *cut)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ccl_comm *c = t->comms[i];
		const struct ccl_target *tg = target_of(cut, c);
		int n = c->nranks;

		if (!tg)
			continue;
		if (c->colls != tg->colls)
			return false;
		for (int p = 0; p < n; p++)
			if (c->sent[p] != tg->p2p[(size_t)c->rank * n + p] ||
			    c->recvd[p] != tg->p2p[(size_t)p * n + c->rank])
				return false;
	}
	return true;
}
