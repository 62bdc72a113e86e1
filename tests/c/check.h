/* check.h - the smallest test helper: CHECK() records a failure and goes
 * on; the program exits 1 when any check failed, and prints one line per
 * test so pytest shows what broke. */
#ifndef SCIO_CHECK_H
#define SCIO_CHECK_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

/* An address of text (IPv6 or IPv4), port 7000. */
static inline struct sockaddr_storage check_addr(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(7000);
	} else if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(7000);
	}
	return ss;
}

#endif
