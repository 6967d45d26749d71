/*
 * apply.c - execute a plan, wave by wave.
 *
 * Before a wave, each group's moves are checked again against the state as
 * it is now (the live cluster is read again between waves): the task still
 * exists, is movable, is where the plan says it starts, and its destination
 * still has room with the wave's other moves counted. A group that fails any
 * of this is skipped whole, with the reason, and later moves that needed it
 * fail their own check the same way. Moves that pass run as
 * `xmig migrate --job J --rank R --to NODE:gpuN --json`, up to `concurrency`
 * at once; a failed migrate has rolled itself back, and the policy decides
 * whether later waves still run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"

enum ms { M_PENDING, M_MOVED, M_SKIPPED, M_FAILED, M_DRYRUN };
static const char *const ms_names[] = { "pending", "moved", "skipped", "failed", "dry-run" };

struct end {
	const char *node;
	int gpus[XP_MAX_TASK_GPUS], n;
};

struct amove {
	const char *task, *job;
	long rank;
	int wave, unit;
	struct end from, to;
	json_t *jfrom, *jto;
	uint64_t bytes;
	enum ms status;
	char reason[512];
	double seconds;
	json_t *result;
	/* while running */
	int task_ix;
	bool reserved;
	pid_t pid;
	int fd;
	char *out;
	size_t outn, outcap;
	uint64_t t0;
};

static int parse_end(json_t *o, const char *path, struct end *e)
{
	json_t *gpus, *g;
	size_t i;

	if (!json_is_object(o))
		return xmig_error("%s: expected {\"node\",\"gpus\"}", path);
	if (xp_jstr(o, "node", path, &e->node) < 0 || !(gpus = xp_jarray(o, "gpus", path)))
		return -1;
	if (!json_array_size(gpus) || json_array_size(gpus) > XP_MAX_TASK_GPUS)
		return xmig_error("%s.gpus: 1 to %d GPU indices expected", path, XP_MAX_TASK_GPUS);
	e->n = 0;
	json_array_foreach(gpus, i, g) {
		int k;

		if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 1023)
			return xmig_error("%s.gpus[%zu]: expected a GPU index", path, i);
		for (k = 0; k < e->n; k++)
			if (e->gpus[k] == json_integer_value(g))
				return xmig_error("%s.gpus: GPU %d listed twice", path, e->gpus[k]);
		e->gpus[e->n++] = (int)json_integer_value(g);
	}
	return 0;
}

static int parse_moves(json_t *doc, struct amove **out, int *n)
{
	json_t *moves = json_is_object(doc) ? xp_jarray(doc, "moves", "plan") : NULL, *jm;
	struct amove *mv;
	size_t i;
	int last = 1, first = 0;

	if (xp_plan_version_ok(doc) < 0 || !moves)
		return -1;
	mv = calloc(json_array_size(moves) + 1, sizeof(*mv));
	if (!mv)
		return xmig_error("out of memory");
	*out = mv;
	*n = (int)json_array_size(moves);
	json_array_foreach(moves, i, jm) {
		struct amove *m = &mv[i];
		long long rank, wave, unit, bytes;
		char path[64], sub[80];

		snprintf(path, sizeof(path), "plan: moves[%zu]", i);
		if (!json_is_object(jm))
			return xmig_error("%s: expected an object", path);
		if (xp_jstr(jm, "task", path, &m->task) < 0 || xp_jstr(jm, "job", path, &m->job) < 0 ||
		    xp_jint(jm, "rank", path, true, 0, INT32_MAX, 0, &rank) < 0 ||
		    xp_jint(jm, "wave", path, true, 1, INT32_MAX, 0, &wave) < 0 ||
		    xp_jint(jm, "unit", path, false, 0, INT32_MAX, (long long)i + 1, &unit) < 0 ||
		    xp_jint(jm, "device_bytes", path, false, 0, LLONG_MAX, 0, &bytes) < 0)
			return -1;
		if (wave < last)
			return xmig_error("%s.wave: waves must not go back (%lld after %d)", path, wave, last);
		if (wave != last)
			first = (int)i;
		last = (int)wave;
		/* Two migrations of one process at once: refused before anything runs. */
		for (int k = first; k < (int)i; k++)
			if (!strcmp(mv[k].task, m->task))
				return xmig_error("%s: task %s moves twice in wave %lld", path, m->task, wave);
		m->rank = (long)rank;
		m->wave = (int)wave;
		m->unit = (int)unit;
		m->bytes = (uint64_t)bytes;
		m->jfrom = json_object_get(jm, "from");
		m->jto = json_object_get(jm, "to");
		snprintf(sub, sizeof(sub), "%s.from", path);
		if (parse_end(m->jfrom, sub, &m->from) < 0)
			return -1;
		snprintf(sub, sizeof(sub), "%s.to", path);
		if (parse_end(m->jto, sub, &m->to) < 0)
			return -1;
		m->fd = -1;
	}
	return 0;
}

static void skip(struct amove *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void skip(struct amove *m, const char *fmt, ...)
{
	va_list ap;

	m->status = M_SKIPPED;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
}

static int resolve(const struct xp_state *st, const struct end *e, struct xp_place *pl, char *why, size_t len)
{
	int i;

	if ((pl->node = xp_find_node(st, e->node)) < 0) {
		snprintf(why, len, "node %s is not in the cluster now", e->node);
		return -1;
	}
	pl->ngpus = e->n;
	for (i = 0; i < e->n; i++)
		if ((pl->gpus[i] = xp_find_gpu(st, pl->node, e->gpus[i])) < 0) {
			snprintf(why, len, "node %s has no GPU %d now", e->node, e->gpus[i]);
			return -1;
		}
	return 0;
}

/* Check one move against the state now; reserve its destination. */
static bool precheck(const struct xp_state *st, struct xp_usage *u, struct amove *m)
{
	struct xp_place from, to;
	char why[256], a[128];
	const struct xp_task *tk;
	int t;

	if ((t = xp_find_task(st, m->task)) < 0) {
		skip(m, "task %s is gone", m->task);
		return false;
	}
	tk = &st->tasks[t];
	if (strcmp(tk->job, m->job) || tk->rank != m->rank) {
		skip(m, "task %s is now job %s rank %ld", m->task, tk->job, tk->rank);
		return false;
	}
	if (!tk->movable) {
		skip(m, "task %s cannot be moved now", m->task);
		return false;
	}
	if (resolve(st, &m->from, &from, why, sizeof(why)) < 0 || !xp_place_equal(&from, &tk->home)) {
		skip(m, "task %s is at %s now, not where the plan starts it", m->task,
		     xp_place_str(st, &tk->home, a, sizeof(a)));
		return false;
	}
	if (resolve(st, &m->to, &to, why, sizeof(why)) < 0) {
		skip(m, "%s", why);
		return false;
	}
	if (!xp_fits(u, st, t, &to, tk->home.node)) {
		skip(m, "no room for task %s at %s now", m->task, xp_place_str(st, &to, a, sizeof(a)));
		return false;
	}
	xp_usage_apply(u, st, t, &to, 1, to.node != tk->home.node);
	m->task_ix = t;
	m->reserved = true;
	return true;
}

static void to_arg(const struct end *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s:gpu%d", e->node, e->gpus[0]);
}

static int start(struct amove *m, const struct xp_apply_opts *o)
{
	char rank[32], to[96];
	char *argv[16];
	int a = 0;

	argv[a++] = (char *)o->migrate_cmd;
	if (o->nodes_file) {
		argv[a++] = "--nodes";
		argv[a++] = (char *)o->nodes_file;
	}
	argv[a++] = "migrate";
	argv[a++] = "--job";
	argv[a++] = (char *)m->job;
	argv[a++] = "--rank";
	snprintf(rank, sizeof(rank), "%ld", m->rank);
	argv[a++] = rank;
	/* (one GPU: run_wave fails a task on several) */
	to_arg(&m->to, to, sizeof(to));
	argv[a++] = "--to";
	argv[a++] = to;
	argv[a++] = "--json";
	argv[a] = NULL;
	m->t0 = xmig_now_ns();
	xmig_info("apply: wave %d: moving job %s rank %ld: %s -> %s", m->wave, m->job, m->rank,
		  m->from.node, to);
	if (xp_spawn(argv, &m->pid, &m->fd) < 0) {
		m->status = M_FAILED;
		snprintf(m->reason, sizeof(m->reason), "cannot run %s", o->migrate_cmd);
		return -1;
	}
	return 0;
}

/* The command's last line of output, as JSON if it is. */
static json_t *last_json(const char *out)
{
	const char *end = out + strlen(out), *p;

	while (end > out && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	for (p = end; p > out && p[-1] != '\n'; p--)
		;
	return json_loadb(p, (size_t)(end - p), 0, NULL);
}

static void finish(struct amove *m, int status)
{
	json_t *err;
	char sbuf[64];

	m->seconds = (double)(xmig_now_ns() - m->t0) / 1e9;
	m->result = m->out ? last_json(m->out) : NULL;
	free(m->out);
	m->out = NULL;
	if (WIFEXITED(status) && !WEXITSTATUS(status)) {
		m->status = M_MOVED;
		xmig_info("apply: wave %d: job %s rank %ld moved in %.1f s", m->wave, m->job, m->rank, m->seconds);
		return;
	}
	err = m->result ? json_object_get(m->result, "error") : NULL;
	if (json_is_object(err))
		err = json_object_get(err, "message");
	/*
	 * Status 3: the job (it may have ended during its move), its rank or
	 * its target is gone; nothing moved. What no longer holds is skipped,
	 * as the checks before a wave skip it, not a failure that stops the rest.
	 */
	if (WIFEXITED(status) && WEXITSTATUS(status) == XMIG_EXIT_NOTFOUND) {
		skip(m, "no longer there (migrate: status 3%s%s)", json_is_string(err) ? ", " : "",
		     json_is_string(err) ? json_string_value(err) : "");
		xmig_warn("apply: wave %d: job %s rank %ld: skipped: %s", m->wave, m->job, m->rank,
			  m->reason);
		return;
	}
	m->status = M_FAILED;
	snprintf(m->reason, sizeof(m->reason), "migrate failed (%s)%s%s", xp_status_str(status, sbuf, sizeof(sbuf)),
		 json_is_string(err) ? ": " : "", json_is_string(err) ? json_string_value(err) : "");
	xmig_error("apply: wave %d: job %s rank %ld: %s", m->wave, m->job, m->rank, m->reason);
}

static int read_some(struct amove *m)
{
	ssize_t r;

	if (m->outn + 4097 > m->outcap) {
		size_t cap = m->outcap ? m->outcap * 2 : 8192;
		char *b = realloc(m->out, cap);

		if (!b)
			return xmig_error("out of memory");
		m->out = b;
		m->outcap = cap;
	}
	do
		r = read(m->fd, m->out + m->outn, 4096);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		m->outn += (size_t)r;
		m->out[m->outn] = '\0';
		return 1;
	}
	return 0;
}

/* Run the moves in run[0..n), at most k at once. */
static int run_pool(struct amove **run, int n, const struct xp_apply_opts *o)
{
	struct pollfd pfd[64];
	struct amove *live[64];
	int k = o->concurrency < 1 ? 1 : o->concurrency > 64 ? 64 : o->concurrency;
	int next = 0, nlive = 0, i;

	while (next < n || nlive) {
		while (nlive < k && next < n) {
			struct amove *m = run[next++];

			if (start(m, o) == 0)
				live[nlive++] = m;
		}
		for (i = 0; i < nlive; i++) {
			pfd[i].fd = live[i]->fd;
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nlive, -1) < 0 && errno != EINTR)
			return xmig_error_errno("poll");
		for (i = nlive - 1; i >= 0; i--) {
			struct amove *m = live[i];
			int status, r;

			if (!pfd[i].revents)
				continue;
			if ((r = read_some(m)) < 0)
				return -1;
			if (r)
				continue;
			close(m->fd);
			m->fd = -1;
			while (waitpid(m->pid, &status, 0) < 0)
				if (errno != EINTR)
					return xmig_error_errno("waitpid");
			finish(m, status);
			live[i] = live[--nlive];
		}
	}
	return 0;
}

static json_t *report(const struct amove *mv, int n, const struct xp_apply_opts *o, bool stopped, double secs)
{
	json_t *moves = json_array();
	int i, c[5] = { 0 };
	uint64_t moved_b = 0, dry_b = 0;

	for (i = 0; i < n; i++) {
		const struct amove *m = &mv[i];

		c[m->status]++;
		if (m->status == M_MOVED)
			moved_b += m->bytes;
		if (m->status == M_DRYRUN)
			dry_b += m->bytes;
		json_array_append_new(moves, json_pack(
			"{s:i, s:s, s:s, s:I, s:i, s:O, s:O, s:I, s:s, s:o, s:f, s:O}",
			"seq", i + 1, "task", m->task, "job", m->job, "rank", (json_int_t)m->rank,
			"wave", m->wave, "from", m->jfrom, "to", m->jto, "device_bytes", (json_int_t)m->bytes,
			"status", ms_names[m->status], "reason", m->reason[0] ? json_string(m->reason) : json_null(),
			"seconds", m->seconds, "result", m->result ? m->result : json_null()));
	}
	return json_pack("{s:b, s:s, s:i, s:o, s:{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:b}}",
			 "dry_run", o->dry_run, "on_error", o->stop_on_error ? "stop" : "continue",
			 "concurrency", o->concurrency, "moves", moves, "summary",
			 "moves", n, "moved", c[M_MOVED], "skipped", c[M_SKIPPED], "failed", c[M_FAILED],
			 "dry_run", c[M_DRYRUN], "device_bytes_moved", (json_int_t)moved_b,
			 "device_bytes_dry_run", (json_int_t)dry_b, "seconds", secs, "stopped", stopped);
}

/* Check and run the moves of one wave, mv[lo..hi). */
static int run_wave(struct xp_state *st, struct amove *mv, int lo, int hi, const struct xp_apply_opts *o)
{
	struct amove **run = malloc(sizeof(*run) * (size_t)(hi - lo + 1));
	struct xp_usage u;
	int i, k, nrun = 0, rc = -1;

	if (!run || xp_usage_init(&u, st) < 0) {
		free(run);
		return xmig_error("out of memory");
	}
	xp_usage_fill_home(&u, st);
	for (i = lo; i < hi; i = k) {
		bool ok = true;
		int wide = -1;

		for (k = i; k < hi && mv[k].unit == mv[i].unit; k++) {
			ok = ok && precheck(st, &u, &mv[k]);
			if (mv[k].to.n > 1)
				wide = k;
		}
		if (ok && wide < 0)
			continue;
		/* A group moves whole or not at all. */
		for (int j = i; j < k; j++) {
			if (mv[j].reserved) {
				const struct xp_task *tk = &st->tasks[mv[j].task_ix];
				struct xp_place to;
				char why[64];

				if (resolve(st, &mv[j].to, &to, why, sizeof(why)) == 0)
					xp_usage_apply(&u, st, mv[j].task_ix, &to, -1, to.node != tk->home.node);
				mv[j].reserved = false;
			}
			/*
			 * A process under xmig has one GPU context, and migrate moves it
			 * to one GPU: a task on several (a what-if state's) fails.
			 */
			if (ok) {
				mv[j].status = M_FAILED;
				snprintf(mv[j].reason, sizeof(mv[j].reason), "%s %s spans %d GPUs; xmig "
					 "moves one GPU context per process, to one GPU",
					 j == wide ? "task" : "another rank of its job on the same node,",
					 mv[wide].task, mv[wide].to.n);
				xmig_error("apply: wave %d: job %s rank %ld: %s", mv[j].wave, mv[j].job,
					   mv[j].rank, mv[j].reason);
			} else if (mv[j].status == M_PENDING) {
				skip(&mv[j], "another rank of its job on the same node cannot move");
			}
		}
	}
	for (i = lo; i < hi; i++) {
		if (mv[i].status != M_PENDING)
			continue;
		if (o->dry_run)
			mv[i].status = M_DRYRUN;
		else
			run[nrun++] = &mv[i];
	}
	if (nrun && run_pool(run, nrun, o) < 0)
		goto out;
	/* What moved (or would have) is where it went, for the next wave. */
	for (i = lo; i < hi; i++) {
		struct xp_place to;
		char why[64];

		if ((mv[i].status == M_MOVED || mv[i].status == M_DRYRUN) &&
		    resolve(st, &mv[i].to, &to, why, sizeof(why)) == 0)
			st->tasks[mv[i].task_ix].home = to;
	}
	rc = 0;
out:
	xp_usage_free(&u);
	free(run);
	return rc;
}

int xp_apply(struct xp_state *st, json_t *plan_doc, const struct xp_apply_opts *o, json_t **rep)
{
	struct amove *mv = NULL;
	uint64_t t0 = xmig_now_ns();
	int n = 0, lo, hi, i, skipped = 0, rc = -2;
	bool stopped = false, first = true, unread = false;

	*rep = NULL;
	if (parse_moves(plan_doc, &mv, &n) < 0) {
		rc = -1;
		goto out;
	}
	for (lo = 0; lo < n; lo = hi) {
		for (hi = lo; hi < n && mv[hi].wave == mv[lo].wave; hi++)
			;
		if (stopped) {
			for (i = lo; i < hi; i++)
				skip(&mv[i], "not run: an earlier move failed and --on-error is stop");
			continue;
		}
		if (!first && o->refresh && !o->dry_run && o->refresh(st, o->refresh_arg) < 0) {
			for (i = lo; i < n; i++)
				skip(&mv[i], "not run: the cluster state could not be read again");
			stopped = unread = true;
			break;
		}
		first = false;
		if (run_wave(st, mv, lo, hi, o) < 0)
			goto out;
		for (i = lo; i < hi; i++)
			if (mv[i].status == M_FAILED && o->stop_on_error)
				stopped = true;
	}
	for (i = 0; i < n; i++)
		skipped += mv[i].status == M_SKIPPED;
	if (skipped)
		xmig_warn("apply: %d of %d move(s) skipped; see the report for why", skipped, n);
	*rep = report(mv, n, o, stopped, (double)(xmig_now_ns() - t0) / 1e9);
	rc = unread;
out:
	for (i = 0; mv && i < n; i++) {
		json_decref(mv[i].result);
		free(mv[i].out);
	}
	free(mv);
	return rc;
}
