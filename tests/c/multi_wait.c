/*
 * multi_wait.c - a non-blocking connect waited for together with another
 * fd, the way programs with a wake-up pipe (ruby, event loops) wait:
 *
 *   multi_wait [-H] poll|ppoll|select|pselect|epoll HOST PORT
 *
 * -H: the socket and the pipe get fd numbers above FD_SETSIZE (1500 and
 * up; not for select and pselect, which cannot take them).
 *
 * A child process forked first writes one byte into a pipe at +100 ms.
 * The program connects (non-blocking) to HOST's first address and waits,
 * up to 5 s each time, for the socket to be writable or the pipe readable,
 * reading the byte when it comes, until the socket is writable.  Prints:
 *
 *   connect rc=-1 errno=EINPROGRESS
 *   wait rc=1 sock=0x0 pipe=0x1 ms=100      (each wait's return; revents
 *                                             in poll's bits, for all five)
 *   done so_error=0 peer=::ffff:192.0.2.10 fds_left=0
 *
 * fds_left: open fds beyond those before the connect, the socket (and the
 * epoll fd) closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

#define WAIT_MS 5000

/* One wait on both fds; revents of each in poll's bits. */
static int wait_both(const char *how, int sock, int rd, int ep, short *rs, short *rp)
{
	*rs = *rp = 0;
	if (!strcmp(how, "poll") || !strcmp(how, "ppoll")) {
		struct pollfd p[2] = { { sock, POLLOUT, 0 }, { rd, POLLIN, 0 } };
		struct timespec ts = { WAIT_MS / 1000, 0 };
		int rc = how[1] == 'p' ? ppoll(p, 2, &ts, NULL) : poll(p, 2, WAIT_MS);
		*rs = p[0].revents;
		*rp = p[1].revents;
		return rc;
	}
	if (!strcmp(how, "epoll")) {
		struct epoll_event ev[4];
		int rc = epoll_wait(ep, ev, 4, WAIT_MS);
		for (int i = 0; i < rc; i++) {
			short bits = (short)(ev[i].events & 0xffff);
			if (ev[i].data.fd == sock)
				*rs = bits;
			else if (ev[i].data.fd == rd)
				*rp = bits;
		}
		return rc;
	}
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(rd, &r);
	FD_SET(sock, &w);
	int nfds = (sock > rd ? sock : rd) + 1;
	struct timeval tv = { WAIT_MS / 1000, 0 };
	struct timespec ts = { WAIT_MS / 1000, 0 };
	int rc = !strcmp(how, "select") ? select(nfds, &r, &w, NULL, &tv)
					: pselect(nfds, &r, &w, NULL, &ts, NULL);
	*rs = FD_ISSET(sock, &w) ? POLLOUT : 0;
	*rp = FD_ISSET(rd, &r) ? POLLIN : 0;
	return rc;
}

/* fd moved to the lowest free number from at up. */
static int move_high(int fd, int at)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, at);
	if (high < 0) {
		printf("dupfd errno=%s\n", errname(errno));
		exit(1);
	}
	close(fd);
	return high;
}

/* The writer: forked before anything else, writes at t0 + 100 ms. */
static pid_t start_writer(int wr, const struct timespec *t0)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	struct timespec at = *t0;
	at.tv_nsec += 100 * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
	if (write(wr, "x", 1) != 1)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int high = argc > 1 && !strcmp(argv[1], "-H");
	argv += high;
	argc -= high;
	if (argc != 4) {
		fprintf(stderr, "usage: multi_wait [-H] poll|ppoll|select|pselect|epoll HOST PORT\n");
		return 2;
	}
	const char *how = argv[1];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	if (getaddrinfo(argv[2], argv[3], &hints, &ai) != 0) {
		printf("gai failed\n");
		return 3;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	if (high)
		p[0] = move_high(p[0], 1500);
	int before = count_fds();
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double start = now_ms();
	pid_t writer = start_writer(p[1], &t0);

	int sock = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (high)
		sock = move_high(sock, 1600);
	int rc = connect(sock, ai->ai_addr, ai->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	int ep = -1;
	if (!strcmp(how, "epoll")) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event a = { .events = EPOLLOUT, .data.fd = sock };
		struct epoll_event b = { .events = EPOLLIN, .data.fd = p[0] };
		epoll_ctl(ep, EPOLL_CTL_ADD, sock, &a);
		epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &b);
	}
	short rs = 0, rp;
	for (int i = 0; i < 4 && !(rs & (POLLOUT | POLLERR | POLLHUP)); i++) {
		rc = wait_both(how, sock, p[0], ep, &rs, &rp);
		printf("wait rc=%d sock=0x%x pipe=0x%x ms=%.0f\n", rc, (unsigned)rs & 0xffff,
		       (unsigned)rp & 0xffff, now_ms() - start);
		char byte;
		if (rp & POLLIN && read(p[0], &byte, 1) != 1)
			return 1;
	}
	int err = -1;
	socklen_t len = sizeof(err);
	getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len);
	char host[64];
	peer_of(sock, host, sizeof(host));
	close(sock);
	if (ep >= 0)
		close(ep);
	waitpid(writer, NULL, 0);
	printf("done so_error=%s peer=%s fds_left=%d\n", errname(err), host, count_fds() - before);
	freeaddrinfo(ai);
	return 0;
}
