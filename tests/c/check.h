/* check.h - the smallest test helper: CHECK() records a failure and goes
 * on; the program exits 1 when any check failed, and prints one line per
 * test so pytest shows what broke. */
#ifndef SCIO_CHECK_H
#define SCIO_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static const char *check_current = "";

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			check_failures++;                                  \
			fprintf(stderr, "FAIL %s: %s:%d: %s\n",           \
				check_current, __FILE__, __LINE__, #cond); \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long check_a = (long long)(a), check_b = (long long)(b); \
		if (check_a != check_b) {                                  \
			check_failures++;                                  \
			fprintf(stderr, "FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", \
				check_current, __FILE__, __LINE__, #a, #b, \
				check_a, check_b);                         \
		}                                                          \
	} while (0)

#define RUN(fn)                                                            \
	do {                                                               \
		int before = check_failures;                               \
		check_current = #fn;                                       \
		fn();                                                      \
		printf("%s %s\n", check_failures == before ? "ok" : "FAIL", #fn); \
	} while (0)

static inline int check_exit(void)
{
	printf("%d failed\n", check_failures);
	return check_failures ? 1 : 0;
}

#endif
