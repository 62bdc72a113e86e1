/* bench_poll.c - poll() on a pipe COUNT times (a program that never
 * connects): prints the mean time per call. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	int p[2];
	if (pipe(p) < 0)
		return 1;
	struct pollfd fd = { .fd = p[1], .events = POLLOUT };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++)
		if (poll(&fd, 1, 0) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("ns_per_poll=%.1f\n", ns / (double)count);
	return 0;
}
