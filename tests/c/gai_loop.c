/*
 * gai_loop.c - an ordinary program (it knows nothing of scio) that looks
 * a name up COUNT times (AF_UNSPEC, SOCK_STREAM), freeing each answer,
 * for tests/test_musl.py.  Prints the first answer's addresses in order,
 * how long the first lookup took, and how much the resident memory grew
 * over the later lookups (from the 11th on, so that first-use
 * allocations do not count):
 *
 *   addr=2001:db8::10
 *   addr=192.0.2.10
 *   first_ms=3.1 rss_growth_kb=0
 *
 * or "gai error=MESSAGE ms=..." (exit 3).  Usage: gai_loop NAME [COUNT]
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long rss_kb(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * 4;
}

static void print_addrs(const struct addrinfo *res)
{
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char host[NI_MAXHOST];
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host),
				NULL, 0, NI_NUMERICHOST) == 0)
			printf("addr=%s\n", host);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: gai_loop NAME [COUNT]\n");
		return 2;
	}
	int count = argc == 3 ? atoi(argv[2]) : 1;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	double first_ms = 0;
	long rss_before = 0;
	for (int i = 0; i < count; i++) {
		struct addrinfo *res;
		double t0 = now_ms();
		if (i == 10)
			rss_before = rss_kb();
		int rc = getaddrinfo(argv[1], "7000", &hints, &res);
		if (rc) {
			printf("gai error=%s ms=%.1f\n", gai_strerror(rc), now_ms() - t0);
			return 3;
		}
		if (i == 0) {
			first_ms = now_ms() - t0;
			print_addrs(res);
		}
		freeaddrinfo(res);
	}
	printf("first_ms=%.1f rss_growth_kb=%ld\n", first_ms,
	       count > 10 ? rss_kb() - rss_before : 0);
	return 0;
}
