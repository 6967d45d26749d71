/* log.c - leveled messages on stderr, one line each, with a program prefix. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "xmig.h"

static const char *log_prefix = "xmig";
static enum xmig_log_level log_level = XMIG_LOG_INFO;
static int log_level_from_env = -1;

static void read_env_level(void)
{
	const char *e;

	if (log_level_from_env >= 0)
		return;
	log_level_from_env = 0;
	e = getenv("XMIG_LOG");
	if (!e)
		return;
	if (!strcmp(e, "debug"))
		log_level = XMIG_LOG_DEBUG;
	else if (!strcmp(e, "info"))
		log_level = XMIG_LOG_INFO;
	else if (!strcmp(e, "warn"))
		log_level = XMIG_LOG_WARN;
	else if (!strcmp(e, "error"))
		log_level = XMIG_LOG_ERROR;
}

void xmig_log_init(const char *prefix)
{
	log_prefix = prefix;
	read_env_level();
}

void xmig_log_set_level(enum xmig_log_level level)
{
	log_level_from_env = 0;
	log_level = level;
}

enum xmig_log_level xmig_log_level(void)
{
	read_env_level();
	return log_level;
}

/* The last error's text, without the prefix: a command's --json says it. */
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[1024];

const char *xmig_log_last_error(char *buf, size_t len)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(buf, len, "%s", last_error);
	pthread_mutex_unlock(&last_error_lock);
	return *buf ? buf : NULL;
}

static void vlog(enum xmig_log_level level, const char *fmt, va_list ap, const char *suffix)
{
	static const char *const names[] = { "error: ", "warning: ", "", "debug: " };
	char line[2048];
	int n;

	if (level > xmig_log_level())
		return;
	n = snprintf(line, sizeof(line), "%s: %s", log_prefix, names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (suffix) {
		size_t l = strlen(line);
		snprintf(line + l, sizeof(line) - l, ": %s", suffix);
	}
	if (level == XMIG_LOG_ERROR) {
		pthread_mutex_lock(&last_error_lock);
		snprintf(last_error, sizeof(last_error), "%s", line + n);
		pthread_mutex_unlock(&last_error_lock);
	}
	/* One write per line so lines of concurrent threads never interleave. */
	fprintf(stderr, "%s\n", line);
}

void xmig_log(enum xmig_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap, NULL);
	va_end(ap);
}

int xmig_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(XMIG_LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	return -1;
}

int xmig_error_errno(const char *fmt, ...)
{
	char buf[256];
	const char *msg;
	va_list ap;

	msg = strerror_r(errno, buf, sizeof(buf));
	va_start(ap, fmt);
	vlog(XMIG_LOG_ERROR, fmt, ap, msg);
	va_end(ap);
	return -1;
}

/*
 * XMIG_MOVE_TRACE=1: one line of a move's timeline. The stamp is
 * CLOCK_MONOTONIC in ms (modulo 1000 s), the same clock in every process
 * of the node, so the lines of the command and of both proxies sort into
 * one timeline of the downtime.
 */
bool xmig_move_tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = xmig_env_flag("XMIG_MOVE_TRACE");
	return on;
}

void xmig_move_trace(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!xmig_move_tracing())
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: @%.3f %s\n", log_prefix,
		(double)(xmig_now_ns() % 1000000000000ull) / 1e6, line);
}

void xmig_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(XMIG_LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(status);
}
