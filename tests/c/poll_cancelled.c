/*
 * poll_cancelled.c - a thread connects to HOST PORT's first address and
 * tests/preload/cancelat.so cancels it somewhere inside the shim's race:
 *
 *   poll_cancelled HOST PORT poll       non-blocking, then poll (the race
 *                                       runs inside that poll)
 *   poll_cancelled HOST PORT blocking   a blocking connect
 *   poll_cancelled ADDR PORT literal4   a blocking connect of an AF_INET
 *                                       socket to an IPv4 literal, no lookup
 *                                       (NAT64's way on an IPv6-only host)
 *
 * Prints whether the thread was cancelled, how many sockets the process
 * has open after it (its own connect's, never closed: 1) and, with
 * SCIO_LOG_FILE set, how many descriptors it has on that file (1).
 */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct addrinfo *first;
static int blocking;

/* Descriptors whose link starts with prefix. */
static int open_on(const char *prefix)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	char path[300], target[600];
	size_t plen = strlen(prefix);
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		n += len >= (ssize_t)plen && strncmp(target, prefix, plen) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

static void *connect_and_poll(void *arg)
{
	(void)arg;
	int fd = socket(first->ai_family, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
	if (fd < 0)
		return NULL;
	int rc = connect(fd, first->ai_addr, first->ai_addrlen);
	fprintf(stderr, "connect rc=%d errno=%s\n", rc, rc < 0 ? strerror(errno) : "0");
	if (blocking) {
		pthread_testcancel();  /* the program's next cancellation point */
		return NULL;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	rc = poll(&p, 1, 10000);
	fprintf(stderr, "poll rc=%d revents=%#x\n", rc, (unsigned)p.revents);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: poll_cancelled HOST PORT poll|blocking\n");
		return 2;
	}
	blocking = strcmp(argv[3], "poll") != 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	if (strcmp(argv[3], "literal4") == 0)
		hints.ai_flags = AI_NUMERICHOST, hints.ai_family = AF_INET;
	if (getaddrinfo(argv[1], argv[2], &hints, &first) != 0)
		return 2;
	pthread_t t;
	void *res;
	if (pthread_create(&t, NULL, connect_and_poll, NULL) != 0 || pthread_join(t, &res) != 0)
		return 2;
	printf("thread %s sockets=%d", res == PTHREAD_CANCELED ? "cancelled" : "returned",
	       open_on("socket:"));
	const char *log = getenv("SCIO_LOG_FILE");
	if (log && *log)
		printf(" log_fds=%d", open_on(log));
	printf("\n");
	freeaddrinfo(first);
	return 0;
}
