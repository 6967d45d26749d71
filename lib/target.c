/* target.c - parse where a job should go: "gpu2", "2", "node3:gpu2", "node3:2". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xmig.h"

static int parse_gpu(const char *s, int *gpu)
{
	long v;

	if (!strncmp(s, "gpu", 3))
		s += 3;
	if (xmig_parse_long(s, 0, 4095, &v) < 0)
		return -1;
	*gpu = (int)v;
	return 0;
}

int xmig_target_parse(const char *s, struct xmig_target *t)
{
	const char *colon;

	memset(t, 0, sizeof(*t));
	t->gpu = -1;
	if (!s || !*s) {
		errno = EINVAL;
		return -1;
	}
	colon = strrchr(s, ':');
	if (colon) {
		size_t n = (size_t)(colon - s);

		if (n == 0 || n >= sizeof(t->node)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(t->node, s, n);
		t->node[n] = '\0';
		s = colon + 1;
	}
	if (parse_gpu(s, &t->gpu) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}
