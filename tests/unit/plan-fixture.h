/*
 * plan-fixture.h - synthetic cluster states and plans for the planner's unit
 * tests (tests/unit/test-plan-*.c), and a way to read what an error said.
 * Everything here is made up: no trace data.
 */
#ifndef XMIG_PLAN_FIXTURE_H
#define XMIG_PLAN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/plan/plan.h"

#define FX_GIB (1024.0 * 1024 * 1024)

static inline json_t *fx_state(void)
{
	return json_pack("{s:[], s:[]}", "nodes", "tasks");
}

static inline void fx_node(json_t *st, const char *name, int ngpus, const char *model, double gib,
			   double cpus, double mem_gib)
{
	json_t *gpus = json_array();
	int i;

	for (i = 0; i < ngpus; i++)
		json_array_append_new(gpus, json_pack("{s:i, s:s, s:I}", "index", i, "model", model, "memory_bytes",
						      (json_int_t)(gib * FX_GIB)));
	json_array_append_new(json_object_get(st, "nodes"),
			      json_pack("{s:s, s:f, s:I, s:o}", "name", name, "cpus", cpus, "memory_bytes",
					(json_int_t)(mem_gib * FX_GIB), "gpus", gpus));
}

/* gpus: "0" or "0,1"; job NULL: the task is its own job. */
static inline json_t *fx_task(json_t *st, const char *id, const char *job, int rank, const char *node,
			      const char *gpus, double share, double gib, double cpus, bool movable)
{
	json_t *gl = json_array(), *t;
	char buf[64], *save, *g;

	snprintf(buf, sizeof(buf), "%s", gpus);
	for (g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save))
		json_array_append_new(gl, json_integer(atoi(g)));
	t = json_pack("{s:s, s:s, s:i, s:s, s:o, s:f, s:I, s:f, s:I, s:b, s:n}", "id", id, "job",
		      job ? job : id, "rank", rank, "node", node, "gpus", gl, "share", share, "device_bytes",
		      (json_int_t)(gib * FX_GIB), "cpus", cpus, "memory_bytes", (json_int_t)0, "movable", movable,
		      "gpu_model");
	json_array_append_new(json_object_get(st, "tasks"), t);
	return t;
}

/* Parse; the document is kept by the caller. */
static inline int fx_load(json_t *doc, struct xp_state *st)
{
	return xp_state_from_json(doc, st);
}

/* A move of task id from where it is (or from, "node:g,g") to "node:g,g". */
static inline void fx_move(struct xp_plan *p, const struct xp_state *st, const char *id, const char *from,
			   const char *to, int wave)
{
	struct xp_place pf, pt;
	const char *spec[2] = { from, to };
	struct xp_place *pl[2] = { &pf, &pt };
	int t = xp_find_task(st, id), k;

	for (k = 0; k < 2; k++) {
		char buf[64], *colon, *save, *g;

		if (!spec[k]) {
			*pl[k] = st->tasks[t].home;
			continue;
		}
		snprintf(buf, sizeof(buf), "%s", spec[k]);
		colon = strchr(buf, ':');
		*colon = '\0';
		pl[k]->node = xp_find_node(st, buf);
		pl[k]->ngpus = 0;
		for (g = strtok_r(colon + 1, ",", &save); g; g = strtok_r(NULL, ",", &save))
			pl[k]->gpus[pl[k]->ngpus++] = xp_find_gpu(st, pl[k]->node, atoi(g));
	}
	xp_plan_add(p, t, &pt, p->nmoves + 1, XP_WHY_DRAIN);
	p->moves[p->nmoves - 1].from = pf;
	p->moves[p->nmoves - 1].wave = wave;
	p->moves[p->nmoves - 1].bytes = st->tasks[t].bytes;
}

/* Capture stderr between fx_err_begin() and fx_err_end(). */
static int fx_saved_fd = -1;
static FILE *fx_tmp;
static char fx_errbuf[8192];

static inline void fx_err_begin(void)
{
	fflush(stderr);
	fx_tmp = tmpfile();
	fx_saved_fd = dup(2);
	dup2(fileno(fx_tmp), 2);
}

static inline const char *fx_err_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(fx_saved_fd, 2);
	close(fx_saved_fd);
	rewind(fx_tmp);
	n = fread(fx_errbuf, 1, sizeof(fx_errbuf) - 1, fx_tmp);
	/* One TAP line: newlines become " | ". */
	while (n > 0 && fx_errbuf[n - 1] == '\n')
		n--;
	fx_errbuf[n] = '\0';
	for (char *c = fx_errbuf; (c = strchr(c, '\n'));)
		*c = ' ';
	fclose(fx_tmp);
	return fx_errbuf;
}

#endif
