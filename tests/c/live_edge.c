/*
 * live_edge.c - a program that does odd things to a socket while scio has
 * a live race for it, for tests/test_waits.py:
 *
 *   live_edge cancel|reuse|vfork|efault HOST PORT
 *
 * Connects (non-blocking) to HOST's first address and polls it (epoll:
 * epoll_wait on a set holding it) once for 100 ms (the race is then under way, an attempt in flight), then
 *   cancel  does that in a thread, which is cancelled as it closes the
 *           socket; the main thread then connects and closes again;
 *   reuse   polls again for 1 s while another thread closes the socket
 *           and opens a UDP socket with the same number (writable at once);
 *   vfork   a vfork child closes the socket and exits; the parent waits
 *           for its socket up to 2 s more;
 *   efault  polls a bad address, then a negative ppoll timeout;
 *   epclose (epoll) closes the epoll set while the socket is out of it
 *           for its race, makes a new set (the same number) and adds the
 *           socket to it, then waits on it up to 2 s;
 *   dup2    (epoll) dup2s a UDP socket over the socket while it is out of
 *           the set for its race, then adds the fd to the set;
 *   pollep  registers the socket in an epoll set, polls it for 1.5 s,
 *           then changes its registration (MOD) and waits on the set.
 * Prints key=value lines, "end" last.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static struct addrinfo *ai;

static int connect_one(void)
{
	int sock = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = connect(sock, ai->ai_addr, ai->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	return sock;
}

static int poll_one(int sock, int ms)
{
	struct pollfd p = { sock, POLLOUT, 0 };
	int rc = poll(&p, 1, ms);
	printf("wait rc=%d revents=0x%x\n", rc, (unsigned)p.revents);
	return rc;
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- cancel ---- */

static pthread_barrier_t barrier;

static void *cancelled_thread(void *arg)
{
	(void)arg;
	int sock = connect_one();
	poll_one(sock, 100);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_barrier_wait(&barrier);  /* main cancels now */
	pthread_barrier_wait(&barrier);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	close(sock);  /* a cancellation point: the cancel acts here */
	printf("close returned\n");
	return NULL;
}

static int do_cancel(void)
{
	pthread_t t;
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_create(&t, NULL, cancelled_thread, NULL);
	pthread_barrier_wait(&barrier);
	pthread_cancel(t);
	pthread_barrier_wait(&barrier);
	void *res;
	pthread_join(t, &res);
	printf("joined cancelled=%d\n", res == PTHREAD_CANCELED);
	int sock = connect_one();
	poll_one(sock, 100);
	close(sock);
	printf("second close done\n");
	return 0;
}

/* ---- reuse ---- */

static int reused_fd = -1;

static void *reusing_thread(void *arg)
{
	int sock = *(int *)arg;
	pause_ms(200);  /* the main thread is inside its poll */
	close(sock);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	__atomic_store_n(&reused_fd, u, __ATOMIC_RELEASE);
	return NULL;
}

static int do_reuse(void)
{
	int sock = connect_one();
	poll_one(sock, 100);
	pthread_t t;
	pthread_create(&t, NULL, reusing_thread, &sock);
	double t0 = now_ms();
	struct pollfd p = { sock, POLLOUT, 0 };
	int rc = poll(&p, 1, 1000);
	pthread_join(t, NULL);
	printf("reuse rc=%d same_number=%d ms=%.0f\n", rc, reused_fd == sock, now_ms() - t0);
	int type = -1;
	socklen_t len = sizeof(type);
	getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len);
	printf("after type=%s\n", type == SOCK_DGRAM ? "dgram" : type == SOCK_STREAM ? "stream" : "?");
	close(reused_fd);
	return 0;
}

/* ---- vfork ---- */

static int do_vfork(void)
{
	int sock = connect_one();
	double t0 = now_ms();
	poll_one(sock, 100);
	pid_t child = vfork();
	if (child == 0) {
		close(sock);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	struct pollfd p = { sock, POLLOUT, 0 };
	int rc = poll(&p, 1, 2000);
	int err = -1;
	socklen_t len = sizeof(err);
	getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len);
	printf("parent rc=%d so_error=%s ms=%.0f\n", rc, errname(err), now_ms() - t0);
	close(sock);
	return 0;
}

/* ---- efault ---- */

static int do_efault(void)
{
	int sock = connect_one();
	poll_one(sock, 100);
	/* through a volatile pointer: the compiler must not see the bad one */
	struct pollfd *volatile bad = (struct pollfd *)8;
	int rc = poll(bad, 1, 10);
	printf("badptr rc=%d errno=%s\n", rc, rc < 0 ? errname(errno) : "0");
	struct pollfd p = { sock, POLLOUT, 0 };
	struct timespec neg = { -1, 0 };
	rc = ppoll(&p, 1, &neg, NULL);
	printf("negative rc=%d errno=%s\n", rc, rc < 0 ? errname(errno) : "0");
	close(sock);
	return 0;
}

/* ---- epoll ---- */

static int epoll_with(int sock, uint64_t data)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event reg = { .events = EPOLLOUT, .data.u64 = data };
	epoll_ctl(ep, EPOLL_CTL_ADD, sock, &reg);
	return ep;
}

static void epoll_report(const char *what, int ep, int ms)
{
	struct epoll_event ev[4];
	double t0 = now_ms();
	int rc = epoll_wait(ep, ev, 4, ms);
	printf("%s rc=%d data=%llu ms=%.0f\n", what, rc,
	       rc > 0 ? (unsigned long long)ev[0].data.u64 : 0ULL, now_ms() - t0);
}

static void ctl_report(const char *what, int ep, int op, int fd, uint64_t data)
{
	struct epoll_event reg = { .events = EPOLLOUT, .data.u64 = data };
	int rc = epoll_ctl(ep, op, fd, &reg);
	printf("%s rc=%d errno=%s\n", what, rc, rc ? errname(errno) : "0");
}

static int do_epclose(void)
{
	int sock = connect_one();
	int ep = epoll_with(sock, 1);
	epoll_report("first", ep, 100);
	close(ep);
	int ep2 = epoll_create1(EPOLL_CLOEXEC);
	printf("same_number=%d\n", ep2 == ep);
	ctl_report("add", ep2, EPOLL_CTL_ADD, sock, 2);
	epoll_report("second", ep2, 2000);
	close(sock);
	close(ep2);
	return 0;
}

static int do_dup2(void)
{
	int sock = connect_one();
	int ep = epoll_with(sock, 1);
	epoll_report("first", ep, 100);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	dup2(u, sock);
	close(u);
	ctl_report("add", ep, EPOLL_CTL_ADD, sock, 3);
	epoll_report("second", ep, 100);
	close(sock);
	close(ep);
	return 0;
}

static int do_pollep(void)
{
	int sock = connect_one();
	int ep = epoll_with(sock, 5);
	poll_one(sock, 1500);
	ctl_report("mod", ep, EPOLL_CTL_MOD, sock, 5);
	epoll_report("second", ep, 2000);
	close(sock);
	close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4) {
		fprintf(stderr, "usage: live_edge cancel|reuse|vfork|efault HOST PORT\n");
		return 2;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	if (getaddrinfo(argv[2], argv[3], &hints, &ai) != 0) {
		printf("gai failed\n");
		return 3;
	}
	const char *mode = argv[1];
	int rc = !strcmp(mode, "cancel") ? do_cancel()
		 : !strcmp(mode, "reuse") ? do_reuse()
		 : !strcmp(mode, "vfork") ? do_vfork()
		 : !strcmp(mode, "efault") ? do_efault()
		 : !strcmp(mode, "epclose") ? do_epclose()
		 : !strcmp(mode, "dup2") ? do_dup2()
		 : !strcmp(mode, "pollep") ? do_pollep() : 2;
	printf("end\n");
	return rc;
}
