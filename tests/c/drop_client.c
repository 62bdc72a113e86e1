/*
 * drop_client.c - a program that gives up on a non-blocking connect while
 * scio may have a race pending for it, for tests/test_waits.py:
 *
 *   drop_client [-w poll|epoll] close|del|fork HOST PORT
 *
 * Connects (non-blocking) to HOST's first address, waits once for 100 ms
 * (poll, or epoll_wait on a set holding the socket), then
 *   close  closes the socket and never waits again;
 *   del    removes it from the epoll set (EPOLL_CTL_DEL), keeps it open;
 *   fork   forks: the child sleeps and exits, the parent waits up to 2 s
 *          more for the socket.
 * 1.5 s later (past a retransmitted SYN's answer) it counts its open fds
 * against those it had before the connect plus what it still holds
 * itself; the child of fork does the same.  Prints:
 *
 *   connect rc=-1 errno=EINPROGRESS
 *   wait rc=0 ms=100
 *   end fds_left=1 expect=1               (the child: child fds_left=...)
 *   parent rc=1 so_error=0 peer=... ms=... (fork only)
 *   hold
 *
 * and then reads stdin until end of file, so that a test can count the
 * server's connections while this process still lives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static int use_epoll;

static int wait_sock(int ep, int sock, int ms)
{
	if (use_epoll) {
		struct epoll_event ev[2];
		return epoll_wait(ep, ev, 2, ms);
	}
	struct pollfd p = { sock, POLLOUT, 0 };
	return poll(&p, 1, ms);
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void report_peer(int sock, int rc, double t0)
{
	int err = -1;
	socklen_t len = sizeof(err);
	getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len);
	char host[64];
	peer_of(sock, host, sizeof(host));
	printf("parent rc=%d so_error=%s peer=%s ms=%.0f\n", rc, errname(err), host,
	       now_ms() - t0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int c;
	while ((c = getopt(argc, argv, "w:")) != -1) {
		if (c != 'w')
			return 2;
		use_epoll = !strcmp(optarg, "epoll");
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: drop_client [-w poll|epoll] close|del|fork HOST PORT\n");
		return 2;
	}
	const char *mode = argv[optind];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	if (getaddrinfo(argv[optind + 1], argv[optind + 2], &hints, &ai) != 0) {
		printf("gai failed\n");
		return 3;
	}
	int before = count_fds();
	double t0 = now_ms();
	int sock = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = connect(sock, ai->ai_addr, ai->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	int ep = -1;
	if (use_epoll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event reg = { .events = EPOLLOUT, .data.fd = sock };
		epoll_ctl(ep, EPOLL_CTL_ADD, sock, &reg);
	}
	rc = wait_sock(ep, sock, 100);
	printf("wait rc=%d ms=%.0f\n", rc, now_ms() - t0);
	int held = 1 + use_epoll;
	pid_t child = -1;
	if (!strcmp(mode, "close")) {
		close(sock);
		held--;
	} else if (!strcmp(mode, "del")) {
		rc = epoll_ctl(ep, EPOLL_CTL_DEL, sock, NULL);
		printf("del rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	} else if (!strcmp(mode, "fork")) {
		child = fork();
		if (child == 0) {
			pause_ms(1500);
			printf("child fds_left=%d expect=%d\n", count_fds() - before, held);
			_exit(0);
		}
		waitpid(child, NULL, 0);
		rc = wait_sock(ep, sock, 2000);
		report_peer(sock, rc, t0);
	} else {
		fprintf(stderr, "drop_client: mode %s: want close, del or fork\n", mode);
		return 2;
	}
	if (child < 0)
		pause_ms(1500);
	printf("end fds_left=%d expect=%d\n", count_fds() - before, held);
	printf("hold\n");
	char buf[64];
	while (read(0, buf, sizeof(buf)) > 0)
		;
	freeaddrinfo(ai);
	return 0;
}
