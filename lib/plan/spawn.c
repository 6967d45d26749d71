/*
 * spawn.c - run a helper command (`xmig nodes`, `xmig ps`, `xmig migrate`)
 * with its stdout captured and its stderr passed through, so the user sees
 * its messages and we get its JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"

extern char **environ;

int xp_spawn(char *const argv[], pid_t *pid, int *out_fd)
{
	posix_spawn_file_actions_t fa;
	int p[2], e;

	if (pipe2(p, O_CLOEXEC) < 0)
		return xmig_error_errno("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	e = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e) {
		close(p[0]);
		errno = e;
		return xmig_error_errno("cannot run %s", argv[0]);
	}
	*out_fd = p[0];
	return 0;
}

char *xp_read_all(int fd)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return buf;
}

int xp_run_capture(char *const argv[], char **out, int *status)
{
	pid_t pid;
	int fd;

	*out = NULL;
	if (xp_spawn(argv, &pid, &fd) < 0)
		return -1;
	*out = xp_read_all(fd);
	close(fd);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return xmig_error_errno("waitpid");
	return *out ? 0 : xmig_error("out of memory");
}

const char *xp_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status %d", status);
	return buf;
}
