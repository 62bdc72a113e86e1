/*
 * telar-net.c - listening sockets, systemd socket activation, accepting
 * (with a reserve descriptor for EMFILE), and the line a client gets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scio.h"
#include "telar.h"

#define SD_LISTEN_FDS_START 3

/* ---------------------------------------------------------------- names */

static void listener_name(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}

/* ------------------------------------------------------------- binding */

static int set_int_option(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

/* SO_REUSEPORT and SO_INCOMING_CPU: the kernel hands a connection to the
 * listener of the group whose CPU took its first packet, so the worker
 * pinned there is woken on the CPU that already has the connection in its
 * caches, with no wake-up of another CPU.  The first listener binds
 * before it joins the group: bind then fails like a plain one when
 * anything else holds the port, including another telar (a second group
 * of SO_REUSEPORT sockets of the same user would silently get half of the
 * connections). */
static int share_before_bind(int fd, enum listen_share share)
{
	return share == LISTEN_JOIN ? set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1)
				    : 0;
}

static int share_after_bind(int fd, enum listen_share share, int cpu, const char **what)
{
	if (share == LISTEN_ALONE)
		return 0;
	*what = "SO_REUSEPORT";
	if (share == LISTEN_FIRST && set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1) == -1)
		return -1;
	*what = "SO_INCOMING_CPU";
	if (cpu >= 0 && set_int_option(fd, SOL_SOCKET, SO_INCOMING_CPU, cpu) == -1)
		return -1;
	return 0;
}

/* Opens one listening socket; an IPv6 one never accepts IPv4 (V6ONLY).
 * Returns the fd, or -1 with errno (and *what naming the failed step). */
static int listen_on(const struct sockaddr *sa, socklen_t len,
		     enum listen_share share, int cpu, const char **what)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int saved_errno;

	*what = "socket";
	if (fd == -1)
		return -1;
	*what = "SO_REUSEADDR";
	if (set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) == -1)
		goto fail;
	*what = "IPV6_V6ONLY";
	if (sa->sa_family == AF_INET6 &&
	    set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) == -1)
		goto fail;
	*what = "SO_REUSEPORT";
	if (share_before_bind(fd, share) == -1)
		goto fail;
	*what = "bind";
	if (bind(fd, sa, len) == -1)
		goto fail;
	if (share_after_bind(fd, share, cpu, what) == -1)
		goto fail;
	*what = "listen";
	if (listen(fd, SOMAXCONN) == -1)
		goto fail;
	return fd;
fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

static int add_listener(struct telar_listeners *ls, const struct sockaddr *sa,
			socklen_t len, int optional, enum listen_share share)
{
	struct telar_listener *l;
	const char *what;

	if (ls->n >= TELAR_MAX_LISTENERS) {
		log_error("too many listening sockets (at most %d)", TELAR_MAX_LISTENERS);
		return -1;
	}
	l = &ls->l[ls->n];
	listener_name(sa, l->name, sizeof(l->name));
	l->fd = listen_on(sa, len, share, ls->cpu, &what);
	if (l->fd >= 0) {
		ls->n++;
		return 0;
	}
	if (optional && errno == EAFNOSUPPORT) {
		if (share != LISTEN_JOIN) /* said once, not per worker */
			log_warning("not listening on %s: %s", l->name,
				    strerror(errno));
		return 0;
	}
	log_error("cannot listen on %s: %s: %s", l->name, what, strerror(errno));
	return -1;
}

static int open_wildcards(struct telar_listeners *ls, uint16_t port,
			  enum listen_share share)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(port);
	in.sin_addr.s_addr = htonl(INADDR_ANY);
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(port);
	in6.sin6_addr = in6addr_any;

	/* A kernel without one of the families still serves the other. */
	if (add_listener(ls, (struct sockaddr *)&in, sizeof(in), 1, share) == -1 ||
	    add_listener(ls, (struct sockaddr *)&in6, sizeof(in6), 1, share) == -1)
		return -1;
	if (ls->n == 0) {
		log_error("neither IPv4 nor IPv6 is available");
		return -1;
	}
	return 0;
}

int listeners_open(struct telar_listeners *ls, const struct telar_config *cfg,
		   enum listen_share share, int cpu)
{
	ls->cpu = cpu;
	if (cfg->nbinds == 0)
		return open_wildcards(ls, cfg->port, share);
	for (size_t i = 0; i < cfg->nbinds; i++) {
		const struct telar_bind_addr *b = &cfg->binds[i];

		if (add_listener(ls, (const struct sockaddr *)&b->addr, b->len, 0,
				 share) == -1)
			return -1;
	}
	return 0;
}

void listeners_close(struct telar_listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->l[i].fd >= 0)
			close(ls->l[i].fd);
		ls->l[i].fd = -1;
	}
	ls->n = 0;
}

/* ------------------------------------------------- socket activation */

/* LISTEN_PID must name this process, else the variables were meant for
 * another one (and are left alone). */
static int activation_count(void)
{
	const char *pid_text = getenv("LISTEN_PID");
	const char *fds_text = getenv("LISTEN_FDS");
	char *end;
	unsigned long pid, n;

	if (!pid_text || !fds_text)
		return 0;
	errno = 0;
	pid = strtoul(pid_text, &end, 10);
	if (errno || *end || end == pid_text || pid != (unsigned long)getpid())
		return 0;
	errno = 0;
	n = strtoul(fds_text, &end, 10);
	if (errno || *end || end == fds_text || *fds_text == '-' ||
	    n > TELAR_MAX_LISTENERS) {
		log_error("LISTEN_FDS=%s: want a number from 0 to %d",
			  fds_text, TELAR_MAX_LISTENERS);
		return -1;
	}
	return (int)n;
}

static int get_int_option(int fd, int level, int name, int *value)
{
	socklen_t len = sizeof(*value);

	return getsockopt(fd, level, name, value, &len);
}

/* A passed descriptor must be a listening TCP socket of either family. */
static int adopt_listener(struct telar_listeners *ls, int fd)
{
	struct telar_listener *l = &ls->l[ls->n];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type, listening, flags;

	if (get_int_option(fd, SOL_SOCKET, SO_TYPE, &type) == -1 ||
	    get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_error("socket activation: fd %d: %s", fd, strerror(errno));
		return -1;
	}
	if (type != SOCK_STREAM || !listening ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		log_error("socket activation: fd %d is not a listening TCP socket "
			  "(with Accept=yes, run telar -i)", fd);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_error("socket activation: fd %d: fcntl: %s", fd, strerror(errno));
		return -1;
	}
	l->fd = fd;
	listener_name((struct sockaddr *)&ss, l->name, sizeof(l->name));
	ls->n++;
	return 0;
}

int listeners_from_activation(struct telar_listeners *ls)
{
	int n = activation_count();

	ls->cpu = -1;
	if (n <= 0)
		return n;
	/* Nothing we start should believe these were meant for it. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n; i++) {
		if (adopt_listener(ls, SD_LISTEN_FDS_START + i) == -1)
			return -1;
	}
	return n;
}

/* ------------------------------------------------------------ accepting */

static int reserve_fd = -1;

void reserve_fd_open(void)
{
	if (reserve_fd < 0)
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void reserve_fd_close(void)
{
	if (reserve_fd >= 0)
		close(reserve_fd);
	reserve_fd = -1;
}

/* Out of descriptors: give the reserve one up for a moment to accept the
 * waiting connection and close it at once, so that clients are turned
 * away rather than left hanging, and poll() does not report the same
 * pending connection forever.  0 when one was shed. */
static int shed_connection(int lfd)
{
	static int64_t last_warning = INT64_MIN / 2;
	int64_t t = now_ms();
	int fd;

	if (t - last_warning >= 10000) {
		log_warning("out of file descriptors: closing new connections");
		last_warning = t;
	}
	if (reserve_fd < 0)
		return -1;
	reserve_fd_close();
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	reserve_fd_open();
	return fd >= 0 ? 0 : -1;
}

/* Errors accept(2) passes on from a connection that went away before it
 * was accepted, or from the network: try the next connection. */
static int accept_error_is_transient(int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case ETIMEDOUT:
		return 1;
	default:
		return 0;
	}
}

int accept_client(const struct telar_listener *l, struct telar_peer *peer)
{
	for (int tries = 0; tries < 16; tries++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (peer_from_sockaddr(peer, (struct sockaddr *)&ss, len) == 0)
				return fd;
			close(fd); /* not IP: cannot happen on these sockets */
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TELAR_ACCEPT_EMPTY;
		if (accept_error_is_transient(errno))
			continue;
		if (errno == EMFILE || errno == ENFILE)
			return shed_connection(l->fd) == 0 ? TELAR_ACCEPT_EMPTY
							   : TELAR_ACCEPT_PAUSE;
		log_error("accept on %s: %s", l->name, strerror(errno));
		return TELAR_ACCEPT_PAUSE;
	}
	return TELAR_ACCEPT_EMPTY;
}

void refuse_client(int fd, const struct telar_peer *peer)
{
	static const char busy[] = TELAR_BUSY_LINE;
	ssize_t n = send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);

	(void)n; /* best effort: the client is turned away either way */
	log_info("refused %s: too many clients", peer->text);
	close(fd);
}

/* 1 and counted in, or 0 when the shared count is already at max. */
static int shared_admit(struct client_cap *cap)
{
	if (__atomic_add_fetch(cap->shared_active, 1, __ATOMIC_RELAXED) > cap->max) {
		__atomic_sub_fetch(cap->shared_active, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_store_n(cap->mine, *cap->mine + 1, __ATOMIC_RELAXED);
	return 1;
}

int cap_admit(struct client_cap *cap)
{
	int64_t t;

	if (cap->shared_active) {
		if (shared_admit(cap))
			return 1;
	} else if (cap->active < cap->max) {
		cap->active++;
		return 1;
	}
	t = now_ms();
	if (!cap->warned || t - cap->last_warning >= 60000) {
		log_warning("%u clients at once: turning new connections away "
			    "(see -c)", cap->max);
		cap->warned = 1;
		cap->last_warning = t;
	}
	return 0;
}

void cap_release(struct client_cap *cap)
{
	if (cap->shared_active) {
		__atomic_store_n(cap->mine, *cap->mine - 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(cap->shared_active, 1, __ATOMIC_RELAXED);
	} else if (cap->active > 0) {
		cap->active--;
	}
}

/* ------------------------------------------------------------- the line */

int peer_from_sockaddr(struct telar_peer *peer, const struct sockaddr *sa,
		       socklen_t len)
{
	struct sockaddr_in unmapped;

	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* A dual-stack socket someone else made (inetd, socat,
			 * systemd): the client came over IPv4. */
			memset(&unmapped, 0, sizeof(unmapped));
			unmapped.sin_family = AF_INET;
			unmapped.sin_port = in6->sin6_port;
			memcpy(&unmapped.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *)&unmapped;
		}
	} else if (sa->sa_family != AF_INET || len < sizeof(struct sockaddr_in)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	scio_addr_str(sa, peer->text, sizeof(peer->text));
	peer->family_digit = sa->sa_family == AF_INET6 ? '6' : '4';
	return 0;
}

/* Put together by hand rather than with snprintf: it is made for every
 * connection, and formatting showed in the profile. */
size_t format_line(const struct telar_peer *peer, char *line, size_t size)
{
	static const char head[] = "You connected from ";
	static const char tail[] = " over IPv?\r\n";
	size_t text_len = strnlen(peer->text, sizeof(peer->text));
	size_t len = sizeof(head) - 1 + text_len + sizeof(tail) - 1;
	char *p = line;

	if (len >= size)
		return 0;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	memcpy(p, peer->text, text_len);
	p += text_len;
	memcpy(p, tail, sizeof(tail));
	p[sizeof(" over IPv") - 1] = peer->family_digit;
	return len;
}
