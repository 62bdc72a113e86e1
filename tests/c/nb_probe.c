/*
 * nb_probe.c - non-blocking connects the way programs with a connect
 * timeout do them, for the shim tests:
 *
 *   nb_probe poll|ppoll|select|pselect HOST PORT TIMEOUT_MS
 *        connect non-blocking, wait for the fd alone, SO_ERROR
 *   nb_probe two HOST PORT TIMEOUT_MS
 *        connect two sockets (both families) and poll both: a program
 *        racing on its own
 *   nb_probe close-first HOST PORT TIMEOUT_MS
 *        connect, close the fd, reuse the number for a pipe, poll it
 *   nb_probe other-thread HOST PORT TIMEOUT_MS
 *        connect in this thread, poll from another
 *   nb_probe eintr HOST PORT TIMEOUT_MS
 *        a handler interrupts the wait at 100 ms
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static struct addrinfo *resolve(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		printf("gai failed\n");
		exit(3);
	}
	return res;
}

static int start(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	return fd;
}

static int wait_fd(const char *how, int fd, int timeout)
{
	if (!strcmp(how, "poll") || !strcmp(how, "ppoll")) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };
		int rc = how[0] == 'p' && how[1] == 'p'
			? ppoll(&p, 1, timeout < 0 ? NULL : &ts, NULL)
			: poll(&p, 1, timeout);
		printf("wait rc=%d revents=%d errno=%s\n", rc, p.revents,
		       rc < 0 ? errname(errno) : "0");
		return rc;
	}
	fd_set w;
	FD_ZERO(&w);
	FD_SET(fd, &w);
	struct timeval tv = { timeout / 1000, (timeout % 1000) * 1000 };
	struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };
	int rc = !strcmp(how, "select")
		? select(fd + 1, NULL, &w, NULL, timeout < 0 ? NULL : &tv)
		: pselect(fd + 1, NULL, &w, NULL, timeout < 0 ? NULL : &ts, NULL);
	printf("wait rc=%d isset=%d errno=%s\n", rc, FD_ISSET(fd, &w),
	       rc < 0 ? errname(errno) : "0");
	return rc;
}

static void report(int fd)
{
	int err = -1, nodelay = -1;
	socklen_t len = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	len = sizeof(nodelay);
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
	char host[64];
	peer_of(fd, host, sizeof(host));
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	printf("so_error=%s peer=%s nonblock=%d cloexec=%d nodelay=%d\n",
	       errname(err), host, !!(fl & O_NONBLOCK), !!(fdfl & FD_CLOEXEC), nodelay);
}

static int wait_fd_global;
static int timeout_global;

static void *poller(void *arg)
{
	(void)arg;
	wait_fd("poll", wait_fd_global, timeout_global);
	return NULL;
}

static void quiet(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	arm_failalloc();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5) {
		fprintf(stderr, "usage: nb_probe MODE HOST PORT TIMEOUT_MS\n");
		return 2;
	}
	const char *mode = argv[1];
	int timeout = atoi(argv[4]);
	struct addrinfo *res = resolve(argv[2], argv[3]);
	double t0 = now_ms();

	if (!strcmp(mode, "two")) {
		int a = start(res), b = res->ai_next ? start(res->ai_next) : -1;
		struct pollfd p[2] = { { a, POLLOUT, 0 }, { b, POLLOUT, 0 } };
		int rc = poll(p, 2, timeout);
		printf("wait rc=%d revents=%d,%d ms=%.0f\n", rc, p[0].revents,
		       p[1].revents, now_ms() - t0);
		return 0;
	}
	if (!strcmp(mode, "close-first")) {
		int fd = start(res);
		close(fd);
		int pp[2];
		if (pipe(pp) < 0)
			return 1;
		if (pp[1] != fd)
			dup2(pp[1], fd);
		wait_fd("poll", fd, timeout);
		printf("ms=%.0f\n", now_ms() - t0);
		return 0;
	}
	if (!strcmp(mode, "other-thread")) {
		pthread_t t;
		wait_fd_global = start(res);
		timeout_global = timeout;
		pthread_create(&t, NULL, poller, NULL);
		pthread_join(t, NULL);
		printf("ms=%.0f\n", now_ms() - t0);
		return 0;
	}
	int fd = start(res);
	if (!strcmp(mode, "eintr")) {
		struct sigaction sa = { .sa_handler = quiet };
		sigaction(SIGALRM, &sa, NULL);
		ualarm(100000, 0);
		mode = "poll";
	}
	wait_fd(mode, fd, timeout);
	printf("ms=%.0f\n", now_ms() - t0);
	report(fd);
	freeaddrinfo(res);
	return 0;
}
