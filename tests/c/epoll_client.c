/*
 * epoll_client.c - a non-blocking connect waited for with epoll, the way
 * event loops (libuv, asyncio, most C servers' client sides) do it, for
 * the tests of the shim's race inside epoll (tests/test_waits.py):
 *
 *   epoll_client [options] level|edge|oneshot HOST PORT
 *
 *   -b ADDR   bind the socket to ADDR ("::", "0.0.0.0", or a specific
 *             address) before connecting, as some runtimes do
 *   -p LPORT  the local port of that bind (default 0: the kernel's pick)
 *   -w WAIT   epoll_wait (default), epoll_pwait or epoll_pwait2
 *   -s MS     each wait's timeout, the program's slice (default 5000)
 *   -t MS     give up connecting after MS in all (default 5000)
 *   -2        register the socket in a second epoll set as well
 *   -T        wait from another thread than the one that connected
 *
 * Resolves HOST (AF_UNSPEC), connects to the first address only, registers
 * the socket for EPOLLOUT (with EPOLLET or EPOLLONESHOT per mode) with a
 * data value of its own, and waits in slices until an event comes.  Then:
 * one more wait of 200 ms (level: the event again; edge and oneshot: none),
 * EPOLL_CTL_MOD to EPOLLIN on the same fd number (fails with ENOENT when
 * the registration is not on the socket the fd now names), and the
 * server's greeting line.  Prints key=value lines:
 *
 *   connect rc=-1 errno=EINPROGRESS family=10
 *   event n=1 events=0x4 data=0x5c10... ms=254     (each wait's return)
 *   connected so_error=0 peer=::ffff:192.0.2.10 data_ok=1 ms=254
 *   after n=0 events=0x0 data_ok=1
 *   mod rc=0 errno=0
 *   greeting line=hello from 192.0.2.10 port 7000 via ipv4
 *   second n=1 data_ok=1 mod=0                        (with -2)
 *   end waits=3 writable=1 fds_left=0
 *
 * writable counts the EPOLLOUT events reported for the socket before the
 * MOD; fds_left is the process's open fds at the end beyond those it had
 * before the connect (the socket and the epoll fd are closed by then).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe_util.h"

#define MAGIC 0x5c10da7a00000000ull

struct opts {
	const char *bind_addr;
	int bind_port;
	const char *wait_fn;
	int slice_ms, total_ms;
	uint32_t flags;
	int second_set, other_thread;
};

static int parse_ms(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 600000) {
		fprintf(stderr, "epoll_client: bad number %s\n", s);
		exit(2);
	}
	return (int)v;
}

static int wait_once(const struct opts *o, int ep, struct epoll_event *ev, int max, int ms)
{
	if (!strcmp(o->wait_fn, "epoll_pwait")) {
		sigset_t none;
		sigemptyset(&none);
		return epoll_pwait(ep, ev, max, ms, &none);
	}
	if (!strcmp(o->wait_fn, "epoll_pwait2")) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		return epoll_pwait2(ep, ev, max, &ts, NULL);
	}
	return epoll_wait(ep, ev, max, ms);
}

static void bind_wildcard(int fd, int family, const struct opts *o)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(o->bind_port);
		inet_pton(AF_INET6, o->bind_addr, &a->sin6_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(o->bind_port);
		inet_pton(AF_INET, o->bind_addr, &a->sin_addr);
		len = sizeof(*a);
	}
	int rc = bind(fd, (struct sockaddr *)&ss, len);
	printf("bind addr=%s port=%d rc=%d errno=%s\n", o->bind_addr, o->bind_port,
	       rc, rc ? errname(errno) : "0");
}

/* Waits for the greeting after EPOLL_CTL_MOD to EPOLLIN; prints it. */
static int greeting(const struct opts *o, int ep, int fd, int *waits)
{
	struct epoll_event want = { .events = EPOLLIN | o->flags, .data.u64 = MAGIC | (uint64_t)fd };
	int rc = epoll_ctl(ep, EPOLL_CTL_MOD, fd, &want);
	printf("mod rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	if (rc)
		return 1;
	struct epoll_event ev[4];
	int n = wait_once(o, ep, ev, 4, 2000);
	(*waits)++;
	if (n != 1 || ev[0].data.u64 != (MAGIC | (uint64_t)fd)) {
		printf("greeting n=%d\n", n);
		return 1;
	}
	char line[256];
	ssize_t got = read(fd, line, sizeof(line) - 1);
	if (got <= 0) {
		printf("greeting read=%zd errno=%s\n", got, errname(errno));
		return 1;
	}
	line[got] = 0;
	line[strcspn(line, "\r\n")] = 0;
	printf("greeting line=%s\n", line);
	return 0;
}

/* The socket in a second epoll set of the program's (-2), never waited
 * on until the connect is over: it must then report the socket, with its
 * own data, and take an EPOLL_CTL_MOD. */
static void second_set(int ep2, int fd)
{
	if (ep2 < 0)
		return;
	struct epoll_event ev[4];
	int n = epoll_wait(ep2, ev, 4, 0);
	struct epoll_event mod = { .events = EPOLLIN, .data.u64 = ~MAGIC };
	int rc = epoll_ctl(ep2, EPOLL_CTL_MOD, fd, &mod);
	printf("second n=%d data_ok=%d mod=%d\n", n, n == 1 && ev[0].data.u64 == ~MAGIC, rc);
	close(ep2);
}

struct run_state {
	const struct opts *o;
	int fd, ep, before;
	double t0;
	int bad, waits, writable;
};

/* Waits for the connect in slices, then checks what epoll reports. */
static void *wait_and_check(void *arg)
{
	struct run_state *st = arg;
	const struct opts *o = st->o;
	uint64_t data = MAGIC | (uint64_t)st->fd;
	int waits = 0, writable = 0, done = 0;
	struct epoll_event ev[4];
	while (!done && now_ms() - st->t0 < o->total_ms) {
		int n = wait_once(o, st->ep, ev, 4, o->slice_ms);
		waits++;
		for (int i = 0; i < n; i++) {
			printf("event n=%d events=0x%x data=0x%llx ms=%.0f\n", n, ev[i].events,
			       (unsigned long long)ev[i].data.u64, now_ms() - st->t0);
			writable += !!(ev[i].events & EPOLLOUT);
			done = 1;
		}
		if (n < 0) {
			printf("wait errno=%s\n", errname(errno));
			st->bad = 1;
			return NULL;
		}
	}
	if (!done) {
		printf("timeout ms=%.0f waits=%d\n", now_ms() - st->t0, waits);
		return NULL;
	}
	int err = -1;
	socklen_t len = sizeof(err);
	getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	char peer[64];
	printf("connected so_error=%s peer=%s data_ok=%d ms=%.0f\n", errname(err),
	       peer_of(st->fd, peer, sizeof(peer)), ev[0].data.u64 == data, now_ms() - st->t0);
	int n = wait_once(o, st->ep, ev, 4, 200);
	waits++;
	for (int i = 0; i < n; i++)
		writable += !!(ev[i].events & EPOLLOUT);
	printf("after n=%d events=0x%x data_ok=%d\n", n, n > 0 ? ev[0].events : 0,
	       n > 0 ? ev[0].data.u64 == data : 1);
	st->bad = err ? 0 : greeting(o, st->ep, st->fd, &waits);
	st->waits = waits;
	st->writable = writable;
	return NULL;
}

static int run(const struct opts *o, const struct addrinfo *ai)
{
	struct run_state st = { .o = o, .before = count_fds(), .t0 = now_ms() };
	st.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (o->bind_addr)
		bind_wildcard(st.fd, ai->ai_family, o);
	int rc = connect(st.fd, ai->ai_addr, ai->ai_addrlen);
	printf("connect rc=%d errno=%s family=%d\n", rc, rc ? errname(errno) : "0", ai->ai_family);
	st.ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event reg = { .events = EPOLLOUT | o->flags, .data.u64 = MAGIC | (uint64_t)st.fd };
	if (epoll_ctl(st.ep, EPOLL_CTL_ADD, st.fd, &reg) < 0) {
		printf("add errno=%s\n", errname(errno));
		return 1;
	}
	int ep2 = -1;
	if (o->second_set) {
		ep2 = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event reg2 = { .events = EPOLLOUT, .data.u64 = ~MAGIC };
		epoll_ctl(ep2, EPOLL_CTL_ADD, st.fd, &reg2);
	}
	pthread_t waiter;
	if (o->other_thread && pthread_create(&waiter, NULL, wait_and_check, &st) == 0)
		pthread_join(waiter, NULL);
	else
		wait_and_check(&st);
	second_set(ep2, st.fd);
	close(st.fd);
	close(st.ep);
	printf("end waits=%d writable=%d fds_left=%d\n", st.waits, st.writable,
	       count_fds() - st.before);
	return st.bad;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct opts o = { .wait_fn = "epoll_wait", .slice_ms = 5000, .total_ms = 5000 };
	int c;
	while ((c = getopt(argc, argv, "b:p:w:s:t:2T")) != -1) {
		switch (c) {
		case '2': o.second_set = 1; break;
		case 'T': o.other_thread = 1; break;
		case 'b': o.bind_addr = optarg; break;
		case 'p': o.bind_port = parse_ms(optarg); break;
		case 'w': o.wait_fn = optarg; break;
		case 's': o.slice_ms = parse_ms(optarg); break;
		case 't': o.total_ms = parse_ms(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: epoll_client [-b ADDR] [-p LPORT] [-w WAIT] [-s MS] [-t MS] "
				"level|edge|oneshot HOST PORT\n");
		return 2;
	}
	const char *mode = argv[optind];
	o.flags = !strcmp(mode, "edge") ? EPOLLET : !strcmp(mode, "oneshot") ? EPOLLONESHOT : 0;
	if (o.flags == 0 && strcmp(mode, "level")) {
		fprintf(stderr, "epoll_client: mode %s: want level, edge or oneshot\n", mode);
		return 2;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	if (getaddrinfo(argv[optind + 1], argv[optind + 2], &hints, &res) != 0) {
		printf("gai failed\n");
		return 3;
	}
	int rc = run(&o, res);
	freeaddrinfo(res);
	return rc;
}
