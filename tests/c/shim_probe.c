/*
 * shim_probe.c - an ordinary program (it knows nothing of scio) that the
 * shim tests run with and without LD_PRELOAD and compare.  Output is
 * key=value lines.
 *
 *   shim_probe fidelity HOST PORT   options, flags and fd number kept
 *   shim_probe passthrough HOST PORT  calls the shim must not touch
 *   shim_probe alarm HOST PORT      alarm(1), handler without SA_RESTART
 *   shim_probe alarm-restart HOST PORT  same with SA_RESTART
 *   shim_probe sndtimeo HOST PORT   SO_SNDTIMEO of 1 s
 *   shim_probe loop HOST PORT       the classic loop over every address
 *   shim_probe threads HOST PORT N M  N threads x M connects
 *   shim_probe fork HOST PORT       connect in parent and child
 *   shim_probe eintr-retry HOST PORT  EINTR at 100 ms, connect() again
 *   shim_probe sndtimeo-restart HOST PORT  SO_SNDTIMEO 2 s, SA_RESTART alarm
 *   shim_probe longjmp HOST PORT    alarm + siglongjmp out of connect, 5 times
 *   shim_probe emfile HOST PORT     the classic loop with room for one socket
 *   shim_probe storm HOST PORT N RESTART  SIGALRM every ms, N connects
 *   shim_probe fork-race HOST PORT  fork while another thread races
 *   shim_probe fork-loop HOST PORT US  another thread forks in a loop;
 *                                   US µs later, one lookup and connect
 *   shim_probe close-race HOST PORT BLOCKING  another thread closes the fd
 *                                   100 ms into the race and reuses the
 *                                   number for a non-blocking pipe
 *   shim_probe handler-connect HOST PORT  a SIGALRM handler (SA_RESTART)
 *                                   connects too, 100 ms into the race of
 *                                   the connect it interrupted
 *   shim_probe handler-storm HOST PORT N  N connects while a SIGALRM
 *                                   handler connects too, every ms
 *   shim_probe other-port HOST PORT PORT2  resolve without a port; every
 *                                   address refuses PORT2; then PORT on the
 *                                   second address
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static const char *host, *port;

/* PROBE_NO_HINTS: getaddrinfo without hints, as older programs call it
 * (glibc then takes AI_V4MAPPED | AI_ADDRCONFIG). */
static struct addrinfo *resolve(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(host, port, getenv("PROBE_NO_HINTS") ? NULL : &hints, &res);
	if (rc) {
		printf("gai error=%s\n", gai_strerror(rc));
		exit(3);
	}
	return res;
}

static const char *ntop(const struct sockaddr *sa, char *buf, size_t n)
{
	const void *a = sa->sa_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	return inet_ntop(sa->sa_family, a, buf, (socklen_t)n);
}

static int intopt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

static void print_peer(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[64] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		ntop((struct sockaddr *)&ss, buf, sizeof(buf));
	printf("peer=%s\n", buf);
}

static int fidelity(void)
{
	struct addrinfo *res = resolve();
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, sndbuf = 65536, tos = 0x20;
	struct timeval rcvtimeo = { 7, 0 };
	struct linger lg = { 1, 5 };

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, sizeof(rcvtimeo));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
	else
		setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_APPEND);
	int before_sndbuf = intopt(fd, SOL_SOCKET, SO_SNDBUF);

	double t0 = now_ms();
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("connect rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(errno) : "0",
	       now_ms() - t0);
	printf("fd=%d\n", fd);
	print_peer(fd);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getpeername(fd, (struct sockaddr *)&ss, &len);
	int fam = ss.ss_family;
	printf("cloexec=%d\n", !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	int fl = fcntl(fd, F_GETFL);
	printf("nonblock=%d append=%d\n", !!(fl & O_NONBLOCK), !!(fl & O_APPEND));
	printf("nodelay=%d\n", intopt(fd, IPPROTO_TCP, TCP_NODELAY));
	printf("maxseg=%d\n", intopt(fd, IPPROTO_TCP, TCP_MAXSEG));
	printf("keepalive=%d\n", intopt(fd, SOL_SOCKET, SO_KEEPALIVE));
	printf("sndbuf_same=%d\n", intopt(fd, SOL_SOCKET, SO_SNDBUF) == before_sndbuf);
	struct timeval tv;
	len = sizeof(tv);
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
	printf("rcvtimeo=%ld\n", (long)tv.tv_sec);
	len = sizeof(lg);
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
	printf("linger=%d/%d\n", lg.l_onoff, lg.l_linger);
	printf("tos=%d\n", fam == AF_INET6 ? intopt(fd, IPPROTO_IPV6, IPV6_TCLASS)
					   : intopt(fd, IPPROTO_IP, IP_TOS));
	char line[128] = "";
	ssize_t n = read(fd, line, sizeof(line) - 1);
	if (n > 0)
		line[strcspn(line, "\r\n")] = '\0';
	printf("line=%s\n", n > 0 ? line : "(none)");
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static void show(const char *what, int rc)
{
	printf("%s rc=%d errno=%s\n", what, rc, rc < 0 ? errname(errno) : "0");
}

static int passthrough(void)
{
	struct addrinfo *res = resolve();
	struct addrinfo *ai = res;
	int fd;

	/* non-blocking connect: EINPROGRESS, untouched */
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	show("nonblocking", connect(fd, ai->ai_addr, ai->ai_addrlen));
	close(fd);
	/* UDP connect to a raced name's address */
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	show("udp", connect(fd, ai->ai_addr, ai->ai_addrlen));
	close(fd);
	/* AF_UNIX */
	struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/nonexistent/scio" };
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	show("unix", connect(fd, (struct sockaddr *)&un, sizeof(un)));
	close(fd);
	/* bound socket */
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	struct sockaddr_storage local;
	memset(&local, 0, sizeof(local));
	local.ss_family = (sa_family_t)ai->ai_family;
	bind(fd, (struct sockaddr *)&local, ai->ai_addrlen);
	show("bound", connect(fd, ai->ai_addr, ai->ai_addrlen));
	close(fd);
	/* errors */
	show("ebadf", connect(9999, ai->ai_addr, ai->ai_addrlen));
	int p[2];
	pipe(p);
	show("enotsock", connect(p[0], ai->ai_addr, ai->ai_addrlen));
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	show("einval", connect(fd, ai->ai_addr, 3));
	show("efault", connect(fd, (struct sockaddr *)8, ai->ai_addrlen));
	close(fd);
	/* EISCONN on a second connect of a connected socket */
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	show("first", connect(fd, ai->ai_addr, ai->ai_addrlen));
	show("eisconn", connect(fd, ai->ai_addr, ai->ai_addrlen));
	close(fd);
	/* errno untouched by a successful pass-through connect */
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	errno = 4242;
	connect(fd, ai->ai_addr, ai->ai_addrlen);
	printf("errno_kept=%d\n", errno == 4242);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "handler ran\n";
	write(1, msg, sizeof(msg) - 1);
}

static int with_alarm(int restart)
{
	struct addrinfo *res = resolve();
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = restart ? SA_RESTART : 0 };
	sigaction(SIGALRM, &sa, NULL);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	alarm(1);
	double t0 = now_ms();
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	int err = errno;
	fflush(stdout);
	printf("connect rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(err) : "0", now_ms() - t0);
	print_peer(fd);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static int sndtimeo(void)
{
	struct addrinfo *res = resolve();
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	struct timeval tv = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	double t0 = now_ms();
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	int err = errno;
	printf("connect rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(err) : "0", now_ms() - t0);
	print_peer(fd);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

/* The classic loop: each address in turn until one connects. */
static int loop(void)
{
	struct addrinfo *res = resolve();
	double t0 = now_ms();
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char buf[64];
		if (ai->ai_socktype != SOCK_STREAM)
			continue;  /* without hints: UDP and raw too */
		int fd = socket(ai->ai_family, SOCK_STREAM, 0);
		struct timeval tv = { 1, 0 };
		if (getenv("PROBE_SNDTIMEO"))
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		double t = now_ms();
		int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		printf("try addr=%s rc=%d errno=%s ms=%.0f\n",
		       ntop(ai->ai_addr, buf, sizeof(buf)), rc,
		       rc ? errname(errno) : "0", now_ms() - t);
		if (rc == 0) {
			print_peer(fd);
			break;
		}
		close(fd);
	}
	printf("total ms=%.0f\n", now_ms() - t0);
	freeaddrinfo(res);
	return 0;
}

static void quiet(int sig)
{
	(void)sig;
}

/* A signal without SA_RESTART interrupts the connect; the program tries
 * again on the same socket, as many do. */
static int eintr_retry(void)
{
	struct addrinfo *res = resolve();
	struct sigaction sa = { .sa_handler = quiet };
	sigaction(SIGALRM, &sa, NULL);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	double t0 = now_ms();
	ualarm(100000, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("first rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(errno) : "0", now_ms() - t0);
	while (rc < 0 && errno == EINTR)
		rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("retry rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(errno) : "0", now_ms() - t0);
	print_peer(fd);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

/* With SO_SNDTIMEO set, the kernel cannot restart an interrupted connect:
 * EINTR even for an SA_RESTART handler. */
static int sndtimeo_restart(void)
{
	struct addrinfo *res = resolve();
	struct sigaction sa = { .sa_handler = quiet, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	double t0 = now_ms();
	ualarm(300000, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("connect rc=%d errno=%s ms=%.0f\n", rc, rc ? errname(errno) : "0", now_ms() - t0);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static int connect_port(const struct sockaddr *sa, socklen_t len, int to)
{
	struct sockaddr_storage ss;
	memcpy(&ss, sa, len);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)to);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)to);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	int rc = connect(fd, (struct sockaddr *)&ss, len);
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* Resolved without a port (like wget): a failed race on one port must
 * not fail a connect to another port. */
static int other_port(int port2)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res->ai_next)
		return 3;
	int rc = connect_port(res->ai_addr, res->ai_addrlen, port2);
	printf("first rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	rc = connect_port(res->ai_next->ai_addr, res->ai_next->ai_addrlen, atoi(port));
	printf("second rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	freeaddrinfo(res);
	return 0;
}

static int loop(void);

/* Room for the program's own socket only: the race's extra sockets get
 * EMFILE, and the program's connects work as without scio. */
static int emfile(void)
{
	struct addrinfo *res = resolve();
	int probe = dup(0);
	close(probe);
	struct rlimit rl = { (rlim_t)probe + 1, (rlim_t)probe + 1 };
	setrlimit(RLIMIT_NOFILE, &rl);
	freeaddrinfo(res);
	return loop();
}

static volatile sig_atomic_t ticks;

static void tick(int sig)
{
	(void)sig;
	ticks++;
}

/* A SIGALRM every millisecond while connecting N times (EINTR retried,
 * as careful programs do). */
static int storm(int n, int restart)
{
	struct sigaction sa = { .sa_handler = tick, .sa_flags = restart ? SA_RESTART : 0 };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	int ok = 0, eintr = 0;
	for (int i = 0; i < n; i++) {
		struct addrinfo *res = resolve();
		int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int rc = connect(fd, res->ai_addr, res->ai_addrlen);
		while (rc < 0 && errno == EINTR) {
			eintr++;
			rc = connect(fd, res->ai_addr, res->ai_addrlen);
		}
		if (rc < 0 && errno == EISCONN)
			rc = 0;
		char buf[64];
		ssize_t got = -1;
		while (rc == 0 && (got = read(fd, buf, sizeof(buf))) < 0 && errno == EINTR)
			;  /* the same careful program retries its read */
		if (got > 0)
			ok++;
		close(fd);
		freeaddrinfo(res);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("storm ok=%d of=%d eintr=%d ticks=%d fds=%d\n", ok, n, eintr, (int)ticks,
	       count_fds());
	return 0;
}

static void *racer(void *arg)
{
	(void)arg;
	struct addrinfo *res = resolve();
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("thread rc=%d\n", rc);
	close(fd);
	freeaddrinfo(res);
	return NULL;
}

/* fork() while another thread is inside a race: the child connects too. */
static int fork_race(void)
{
	pthread_t t;
	pthread_create(&t, NULL, racer, NULL);
	usleep(100000);  /* the thread is in its race now */
	pid_t pid = fork();
	if (pid == 0) {
		struct addrinfo *res = resolve();
		int fd = socket(res->ai_family, SOCK_STREAM, 0);
		int rc = connect(fd, res->ai_addr, res->ai_addrlen);
		printf("child rc=%d\n", rc);
		fflush(stdout);
		_exit(rc == 0 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	pthread_join(t, NULL);
	printf("child_status=%d\n", status);
	return 0;
}

static volatile int forking;

static void *fork_forever(void *arg)
{
	(void)arg;
	for (;;) {
		forking = 1;
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	return NULL;
}

/* The first lookup and connect of a process while another of its
 * threads forks all the time: the library's locks and its atfork
 * handlers, taken for the first time, in every order. */
static int fork_loop(long us)
{
	pthread_t t;
	pthread_create(&t, NULL, fork_forever, NULL);
	while (!forking)
		sched_yield();
	usleep((useconds_t)us);
	struct addrinfo *res = resolve();
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("rc=%d\n", rc);
	fflush(stdout);
	_exit(0);
}

static sigjmp_buf jump;

static void jump_out(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

/* The classic alarm() connect timeout (wget --connect-timeout does this):
 * the handler jumps out of connect(); the program closes the socket. */
static int longjmp_out(void)
{
	struct addrinfo *res = resolve();
	struct sigaction sa = { .sa_handler = jump_out };
	sigaction(SIGALRM, &sa, NULL);
	int before = -1;
	for (int i = 0; i < 5; i++) {
		int fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (sigsetjmp(jump, 1) == 0) {
			ualarm(400000, 0);  /* after the second attempt started */
			connect(fd, res->ai_addr, res->ai_addrlen);
			ualarm(0, 0);
		}
		close(fd);
		if (i == 0)
			before = count_fds();
	}
	/* one more connect lets scio close what the jumps left behind */
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (sigsetjmp(jump, 1) == 0) {
		ualarm(100000, 0);
		connect(fd, res->ai_addr, res->ai_addrlen);
		ualarm(0, 0);
	}
	close(fd);
	printf("fds after_first=%d at_end=%d\n", before, count_fds());
	freeaddrinfo(res);
	return 0;
}

struct closer {
	int fd;
	int pipe_w;       /* write end of the pipe that took fd's number */
	int reused;       /* the pipe's read end got fd's number */
};

static void *close_and_reuse(void *arg)
{
	struct closer *c = arg;
	usleep(100000);  /* the race is under way */
	close(c->fd);
	int p[2];
	if (pipe2(p, O_NONBLOCK) == 0) {
		c->reused = p[0] == c->fd;
		c->pipe_w = p[1];
	}
	return NULL;
}

/* The pipe that took the number must come out of the race untouched:
 * still a pipe, still non-blocking, still carrying its bytes. */
static void check_pipe(const struct closer *c)
{
	char b = 0;
	int fl = fcntl(c->fd, F_GETFL);
	int wrote = write(c->pipe_w, "x", 1) == 1;
	int got = read(c->fd, &b, 1) == 1 && b == 'x';
	printf("reused=%d pipe_nonblock=%d pipe_works=%d\n", c->reused,
	       fl >= 0 && (fl & O_NONBLOCK), wrote && got);
}

/* close() of the fd by another thread while this one races on it (a
 * program bug, but the shim must not turn it into a worse one: the
 * number may already name another file). */
static int close_race(int blocking)
{
	struct addrinfo *res = resolve();
	struct closer c = { .pipe_w = -1 };
	int before = count_fds();
	c.fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
		      (blocking ? 0 : SOCK_NONBLOCK), 0);
	pthread_t t;
	pthread_create(&t, NULL, close_and_reuse, &c);
	double t0 = now_ms();
	int rc = connect(c.fd, res->ai_addr, res->ai_addrlen);
	int err = errno;
	if (!blocking && rc < 0 && err == EINPROGRESS) {
		struct pollfd pfd = { .fd = c.fd, .events = POLLOUT };
		rc = poll(&pfd, 1, 1500);
		err = rc < 0 ? errno : 0;
		printf("poll rc=%d revents=%d\n", rc, rc > 0 ? pfd.revents : 0);
	} else {
		printf("connect rc=%d errno=%s\n", rc, rc ? errname(err) : "0");
	}
	printf("ms=%.0f\n", now_ms() - t0);
	pthread_join(t, NULL);
	check_pipe(&c);
	/* the pipe's two ends are new; nothing of the race is left */
	printf("fds_added=%d\n", count_fds() - before);
	freeaddrinfo(res);
	return 0;
}

static struct addrinfo *handler_res;
static volatile sig_atomic_t handler_rc = -2, handler_err, handler_read;

/* connect() is async-signal-safe: a handler may call it, even while the
 * connect it interrupted is racing. */
static void connect_in_handler(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = socket(handler_res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	handler_rc = connect(fd, handler_res->ai_addr, handler_res->ai_addrlen);
	handler_err = handler_rc ? errno : 0;
	char buf[64];
	handler_read = handler_rc == 0 && read(fd, buf, sizeof(buf)) > 0;
	close(fd);
	errno = saved;
}

static int handler_connect(void)
{
	struct addrinfo *res = resolve();
	handler_res = res;
	struct sigaction sa = { .sa_handler = connect_in_handler, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	int before = count_fds();
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ualarm(100000, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	print_peer(fd);
	char buf[64];
	printf("read_ok=%d nonblock=%d\n", read(fd, buf, sizeof(buf)) > 0,
	       !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
	printf("handler rc=%d errno=%s read_ok=%d\n", (int)handler_rc,
	       handler_err ? errname(handler_err) : "0", (int)handler_read);
	close(fd);
	printf("fds_added=%d\n", count_fds() - before);
	freeaddrinfo(res);
	return 0;
}

static volatile sig_atomic_t storm_calls, storm_ok;

static void connect_every_tick(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = socket(handler_res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	storm_calls++;
	if (connect(fd, handler_res->ai_addr, handler_res->ai_addrlen) == 0)
		storm_ok++;
	close(fd);
	errno = saved;
}

/* The handler's connects land anywhere in the program's, sooner or later
 * while this thread holds one of the library's locks. */
static int handler_storm(int n)
{
	struct addrinfo *res = resolve();
	handler_res = res;
	struct sigaction sa = { .sa_handler = connect_every_tick, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	int ok = 0;
	for (int i = 0; i < n; i++) {
		struct addrinfo *again = resolve();
		int fd = socket(again->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int rc = connect(fd, again->ai_addr, again->ai_addrlen);
		while (rc < 0 && errno == EINTR)
			rc = connect(fd, again->ai_addr, again->ai_addrlen);
		ok += rc == 0 || errno == EISCONN;
		close(fd);
		freeaddrinfo(again);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("storm ok=%d of %d handler_calls=%d handler_ok=%d\n", ok, n,
	       (int)storm_calls, (int)storm_ok);
	freeaddrinfo(res);
	return 0;
}

static int per_thread;

static int last_failure;  /* an errno, for the record */

static void *connector(void *arg)
{
	long *fails = arg;
	for (int i = 0; i < per_thread; i++) {
		struct addrinfo *res = resolve();
		int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
			++*fails;
			__atomic_store_n(&last_failure, errno, __ATOMIC_RELAXED);
		}
		close(fd);
		freeaddrinfo(res);
	}
	return NULL;
}

static int threads(int n, int m)
{
	pthread_t t[64];
	long fails[64] = { 0 }, total = 0;
	int before = count_fds();
	per_thread = m;
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, connector, &fails[i]);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += fails[i];
	}
	printf("connects=%d failures=%ld fds_before=%d fds_after=%d last_failure=%s\n",
	       n * m, total, before, count_fds(), errname(last_failure));
	return 0;
}

static int forked(void)
{
	struct addrinfo *res = resolve();
	pid_t pid = fork();
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("%s rc=%d errno=%s\n", pid == 0 ? "child" : "parent", rc,
	       rc ? errname(errno) : "0");
	fflush(stdout);
	close(fd);
	freeaddrinfo(res);
	if (pid == 0)
		_exit(0);
	int status;
	waitpid(pid, &status, 0);
	printf("child_status=%d\n", status);
	return 0;
}

int main(int argc, char **argv)
{
	arm_failalloc();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: shim_probe MODE HOST PORT [N M]\n");
		return 2;
	}
	const char *mode = argv[1];
	host = argv[2];
	port = argv[3];
	if (!strcmp(mode, "fidelity"))
		return fidelity();
	if (!strcmp(mode, "passthrough"))
		return passthrough();
	if (!strcmp(mode, "alarm"))
		return with_alarm(0);
	if (!strcmp(mode, "alarm-restart"))
		return with_alarm(1);
	if (!strcmp(mode, "sndtimeo"))
		return sndtimeo();
	if (!strcmp(mode, "loop"))
		return loop();
	if (!strcmp(mode, "threads") && argc == 6)
		return threads(atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(mode, "fork"))
		return forked();
	if (!strcmp(mode, "longjmp"))
		return longjmp_out();
	if (!strcmp(mode, "emfile"))
		return emfile();
	if (!strcmp(mode, "storm") && argc == 6)
		return storm(atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(mode, "fork-loop") && argc == 5)
		return fork_loop(atol(argv[4]));
	if (!strcmp(mode, "fork-race"))
		return fork_race();
	if (!strcmp(mode, "eintr-retry"))
		return eintr_retry();
	if (!strcmp(mode, "sndtimeo-restart"))
		return sndtimeo_restart();
	if (!strcmp(mode, "close-race") && argc == 5)
		return close_race(atoi(argv[4]));
	if (!strcmp(mode, "handler-connect"))
		return handler_connect();
	if (!strcmp(mode, "handler-storm") && argc == 5)
		return handler_storm(atoi(argv[4]));
	if (!strcmp(mode, "other-port") && argc == 5)
		return other_port(atoi(argv[4]));
	fprintf(stderr, "shim_probe: unknown mode %s\n", mode);
	return 2;
}
