/*
 * unit.h - a tiny TAP harness for the C unit tests (tests/unit/test-*.c).
 *
 *   int main(void) { CHECK(1 + 1 == 2, "arithmetic"); return unit_done(); }
 */
#ifndef XMIG_UNIT_H
#define XMIG_UNIT_H

#include <stdio.h>

static int unit_n, unit_failed;

/* cond is evaluated once: a check may call what it checks. */
#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		int unit_ok_ = !!(cond);                                     \
		unit_n++;                                                    \
		if (unit_ok_) {                                              \
			printf("ok %d - ", unit_n);                          \
		} else {                                                     \
			unit_failed++;                                       \
			printf("not ok %d - ", unit_n);                      \
		}                                                            \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
		if (!unit_ok_)                                               \
			printf("#   failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
		fflush(stdout);                                              \
	} while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}

#endif
