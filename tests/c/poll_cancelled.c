/*
 * poll_cancelled.c - a thread connects to HOST PORT's first address and
 * tests/preload/cancelat.so cancels it somewhere inside the shim's race:
 *
 *   poll_cancelled HOST PORT poll       non-blocking, then poll (the race
 *                                       runs inside that poll)
 *   poll_cancelled HOST PORT blocking   a blocking connect
 *
 * Prints whether the thread was cancelled, and how many sockets the
 * process has open after it (its own connect's, never closed: 1).
 */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct addrinfo *first;
static int blocking;

static int sockets_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	char path[300], target[64];
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		n += len > 7 && strncmp(target, "socket:", 7) == 0;
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
	if (blocking)
		return NULL;
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
	blocking = strcmp(argv[3], "blocking") == 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	if (getaddrinfo(argv[1], argv[2], &hints, &first) != 0)
		return 2;
	pthread_t t;
	void *res;
	if (pthread_create(&t, NULL, connect_and_poll, NULL) != 0 || pthread_join(t, &res) != 0)
		return 2;
	printf("thread %s sockets=%d\n", res == PTHREAD_CANCELED ? "cancelled" : "returned",
	       sockets_open());
	freeaddrinfo(first);
	return 0;
}
