/*
 * nodes.c - the node list (nodes.conf) and running programs on a node
 * through its command prefix. No daemon anywhere: `ssh -T node3 xmig ps
 * --json` is how one node asks another.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xmig.h"

/* Whitespace-separated words of s, each strdup'd; NULL-terminated. */
static char **split_words(const char *s, size_t *count)
{
	char **v = calloc(1, sizeof(char *));
	size_t n = 0;

	while (v && *s) {
		const char *start;
		char **nv;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		start = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv)
			break;
		v = nv;
		v[n++] = strndup(start, (size_t)(s - start));
		v[n] = NULL;
	}
	*count = n;
	return v;
}

static void free_words(char **w)
{
	for (size_t i = 0; w && w[i]; i++)
		free(w[i]);
	free(w);
}

static bool name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.')
			return false;
	return n > 0 && n < 64;
}

const struct xmig_node *xmig_nodes_find(const struct xmig_nodes *nodes, const char *name)
{
	for (size_t i = 0; i < nodes->n; i++)
		if (!strcmp(nodes->nodes[i].name, name))
			return &nodes->nodes[i];
	return NULL;
}

bool xmig_node_is_self(const char *name)
{
	return !strcmp(name, xmig_hostname());
}

void xmig_nodes_free(struct xmig_nodes *nodes)
{
	for (size_t i = 0; i < nodes->n; i++)
		free_words(nodes->nodes[i].prefix);
	free(nodes->nodes);
	memset(nodes, 0, sizeof(*nodes));
}

int xmig_nodes_load(const char *path, struct xmig_nodes *out)
{
	char *text, *line, *rest;
	size_t lineno = 0, len = 0;

	memset(out, 0, sizeof(*out));
	if (!path)
		path = getenv("XMIG_NODES");
	if (!path || !*path) {
		path = "/etc/xmig/nodes.conf";
		if (access(path, F_OK) < 0)
			return 0;   /* a cluster of this node alone */
	}
	snprintf(out->path, sizeof(out->path), "%s", path);
	/* 16 MiB is some 100000 nodes: more is not a node list. */
	text = xmig_read_file_max(path, 16u << 20, &len);
	if (!text)
		return xmig_error_errno("cannot read the node list %s", path);
	/* (the lines after a NUL would be dropped unseen) */
	if (memchr(text, '\0', len)) {
		free(text);
		return xmig_error("the node list %s is not text (it holds a NUL byte)", path);
	}
	/* (strsep, not strtok: a blank line is a line, for the numbers in errors) */
	for (rest = text; (line = strsep(&rest, "\n"));) {
		char *hash = strchr(line, '#'), **w;
		struct xmig_node *nn;
		size_t nw;

		lineno++;
		if (hash)
			*hash = '\0';
		w = split_words(line, &nw);
		if (!w || nw == 0) {
			free_words(w);
			continue;
		}
		if (nw < 2 || !name_ok(w[0]) || strlen(w[1]) >= sizeof(out->nodes->address)) {
			xmig_error("%s:%zu: want NAME ADDRESS [PREFIX...]", path, lineno);
			goto bad;
		}
		if (xmig_nodes_find(out, w[0])) {
			xmig_error("%s:%zu: node %s is listed twice", path, lineno, w[0]);
			goto bad;
		}
		nn = realloc(out->nodes, (out->n + 1) * sizeof(*nn));
		if (!nn)
			goto bad;
		out->nodes = nn;
		nn = &out->nodes[out->n++];
		memset(nn, 0, sizeof(*nn));
		snprintf(nn->name, sizeof(nn->name), "%s", w[0]);
		snprintf(nn->address, sizeof(nn->address), "%s", w[1]);
		/* the rest of the line is the prefix: keep those words */
		free(w[0]);
		free(w[1]);
		memmove(w, w + 2, (nw - 1) * sizeof(char *));
		nn->prefix = w;
		continue;
bad:
		free_words(w);
		free(text);
		xmig_nodes_free(out);
		return -1;
	}
	free(text);
	return 0;
}

int xmig_node_run(const struct xmig_node *node, char *const argv[], const char *input, char **out)
{
	size_t np = 0, na = 0, i;
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status;
	char **full;
	pid_t pid;
	size_t len = 0, cap = 4096;
	char *buf;

	while (node && node->prefix && node->prefix[np])
		np++;
	while (argv[na])
		na++;
	full = calloc(np + na + 1, sizeof(char *));
	buf = malloc(cap);
	if (!full || !buf || pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		goto err;
	for (i = 0; i < np; i++)
		full[i] = node->prefix[i];
	for (i = 0; i < na; i++)
		full[np + i] = argv[i];
	pid = fork();
	if (pid < 0)
		goto err;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		execvp(full[0], full);
		fprintf(stderr, "xmig: cannot run '%s' on node %s: %s\n", full[0],
			node ? node->name : "here", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	if (input)
		xmig_write_all(in[1], input, strlen(input));
	close(in[1]);
	in[1] = -1;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(outp[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(outp[0]);
	buf[len] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(full);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
err:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	free(full);
	free(buf);
	return -1;
}
