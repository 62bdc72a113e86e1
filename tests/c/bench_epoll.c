/* bench_epoll.c - epoll on a pipe COUNT times, a program that never
 * connects: `wait` calls epoll_wait (timeout 0) on a set holding the
 * pipe's writable end, `ctl` re-registers it with EPOLL_CTL_MOD.  Prints
 * the mean time per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "wait") && strcmp(argv[1], "ctl"))) {
		fprintf(stderr, "usage: bench_epoll wait|ctl COUNT\n");
		return 2;
	}
	int ctl = !strcmp(argv[1], "ctl");
	long count = strtol(argv[2], NULL, 10);
	int p[2];
	if (pipe(p) < 0)
		return 1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event reg = { .events = EPOLLOUT, .data.fd = p[1] }, ev;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &reg) < 0)
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		if (ctl ? epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &reg) != 0
			: epoll_wait(ep, &ev, 1, 0) != 1)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("ns_per_call=%.1f\n", ns / (double)count);
	return 0;
}
