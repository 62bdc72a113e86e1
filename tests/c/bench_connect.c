/*
 * bench_connect.c - connects COUNT times to HOST on a fresh local port and
 * prints the mean time per connect:
 *
 *   bench_connect plain HOST COUNT   getaddrinfo + the classic loop
 *   bench_connect race HOST COUNT    scio_connect
 *
 * HOST must resolve to loopback addresses: the program listens on ::1 and
 * 127.0.0.1 itself (a fresh port each run, so TIME_WAIT sockets of an
 * earlier run do not get in the way) and accepts in a second thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scio.h"

static int listeners[2];

static int listen_on(int family, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		in6->sin6_port = htons((uint16_t)port);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_port = htons((uint16_t)port);
		len = sizeof(*in);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_in6 in6;
	socklen_t len = sizeof(in6);
	getsockname(fd, (struct sockaddr *)&in6, &len);
	return ntohs(in6.sin6_port);
}

static void *acceptor(void *arg)
{
	(void)arg;
	struct pollfd p[2] = { { listeners[0], POLLIN, 0 }, { listeners[1], POLLIN, 0 } };
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int c = accept(p[i].fd, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	return NULL;
}

static int plain_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	int fd = -1;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_connect plain|race HOST COUNT\n");
		return 2;
	}
	int race = strcmp(argv[1], "race") == 0;
	long count = strtol(argv[3], NULL, 10);
	for (int tries = 0; tries < 50; tries++) {
		listeners[0] = listen_on(AF_INET6, 0);
		listeners[1] = listen_on(AF_INET, local_port(listeners[0]));
		if (listeners[1] >= 0)
			break;
		close(listeners[0]);
	}
	if (listeners[0] < 0 || listeners[1] < 0) {
		perror("listen");
		return 1;
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", local_port(listeners[0]));
	pthread_t t;
	pthread_create(&t, NULL, acceptor, NULL);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long failures = 0;
	for (long i = 0; i < count; i++) {
		int fd = race ? scio_connect(argv[2], port, NULL)
			      : plain_connect(argv[2], port);
		if (fd < 0)
			failures++;
		else
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3;
	printf("us_per_connect=%.2f failures=%ld\n", us / (double)count, failures);
	return failures ? 1 : 0;
}
