/*
 * bench_gai.c - getaddrinfo(NAME, "80", AF_UNSPEC, SOCK_STREAM) COUNT
 * times; prints the mean time per call and how many failed.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_gai NAME COUNT\n");
		return 2;
	}
	long count = strtol(argv[2], NULL, 10), failures = 0;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		struct addrinfo *res;
		if (getaddrinfo(argv[1], "80", &hints, &res) != 0) {
			failures++;
			continue;
		}
		freeaddrinfo(res);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3;
	printf("us_per_call=%.2f failures=%ld\n", us / (double)count, failures);
	return failures ? 1 : 0;
}
