/*
 * eligible.c - which connects the shim may race: a TCP socket of the
 * destination's family, unbound (or bound to the wildcard with port 0),
 * to an INET/INET6 address.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"
#include "core.h"

/* Set once the program made a non-blocking connect that could race: its
 * connects read their status flags first from then on. */
static int nonblocking_seen;

/* A TCP socket (the only kind the shim races); *flags its status flags. */
int tcp_socket(int fd, int *flags)
{
	int proto = 0;
	socklen_t plen = sizeof(proto);

	*flags = fcntl(fd, F_GETFL);
	if (*flags < 0)
		return 0;
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) == 0 &&
	       proto == IPPROTO_TCP;
}

/* Of dst's family and bound to no local address or port yet, or bound by
 * the program to the wildcard with port 0. */
int unbound_socket(int fd, int family)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    local.ss_family != family)
		return 0;
	int any, port0;
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&local;
		any = in->sin_addr.s_addr == htonl(INADDR_ANY);
		port0 = in->sin_port == 0;
	} else {
		const struct sockaddr_in6 *in6 = (const void *)&local;
		any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
		port0 = in6->sin6_port == 0;
	}
	return any && (port0 || wildcard_bound(fd));
}

/* The destination, when it is an INET/INET6 address worth looking up.
 * Pointers into the first page are left to the kernel (EFAULT). */
int usable_destination(const struct sockaddr *addr, socklen_t len)
{
	if ((uintptr_t)addr < 4096 || len < sizeof(struct sockaddr_in))
		return 0;
	return addr->sa_family == AF_INET ||
	       (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6));
}

/* A TCP socket, its status flags read now or left for later
 * (SCIO_FLAGS_LATER): until the program shows a non-blocking connect,
 * a blocking one is expected, and the connect's own EINPROGRESS says
 * when it was not (see learn_flags). */
int tcp_socket_lazy(int fd, int *flags)
{
	if (__atomic_load_n(&nonblocking_seen, __ATOMIC_RELAXED))
		return tcp_socket(fd, flags);
	int proto = 0;
	socklen_t plen = sizeof(proto);
	*flags = SCIO_FLAGS_LATER;
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) == 0 &&
	       proto == IPPROTO_TCP;
}

/* The status flags, read now when they were left for later; -1 when
 * they cannot be read. */
int learn_flags(int fd, int *flags)
{
	if (*flags != SCIO_FLAGS_LATER)
		return *flags;
	*flags = fcntl(fd, F_GETFL);
	if (*flags >= 0 && (*flags & O_NONBLOCK))
		__atomic_store_n(&nonblocking_seen, 1, __ATOMIC_RELAXED);
	return *flags;
}

/*
 * Sockets the program bound to the wildcard with port 0 (the kernel picks
 * the port at bind time, so getsockname cannot tell them from a program's
 * own port): as good as unbound, so raced.  Kept by SO_COOKIE, the last
 * WILDCARD_MAX of them; no lock (a lost entry only means no race).
 */
#define WILDCARD_MAX 64

static uint64_t wildcard[WILDCARD_MAX];
static unsigned wildcard_next;

static int raw_bind(int fd, const struct sockaddr *a, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, a, len);
}

int (*scio_bind_sys)(int, const struct sockaddr *, socklen_t) = raw_bind;

static int wildcard_port0(const struct sockaddr *a, socklen_t len)
{
	if (!a || (uintptr_t)a < 4096)
		return 0;
	if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)a;
		return in->sin_port == 0 && in->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		return in6->sin6_port == 0 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	}
	return 0;
}

int scio_intercept_bind(int fd, const struct sockaddr *a, socklen_t len)
{
	int rc = scio_bind_sys(fd, a, len);
	if (rc == 0 && wildcard_port0(a, len)) {
		int saved = errno;
		uint64_t cookie = scio_socket_cookie(fd);
		unsigned i = __atomic_fetch_add(&wildcard_next, 1, __ATOMIC_RELAXED);
		if (cookie)
			__atomic_store_n(&wildcard[i % WILDCARD_MAX], cookie, __ATOMIC_RELAXED);
		errno = saved;
	}
	return rc;
}

int wildcard_bound(int fd)
{
	if (__atomic_load_n(&wildcard_next, __ATOMIC_RELAXED) == 0)
		return 0;
	uint64_t cookie = scio_socket_cookie(fd);
	for (int i = 0; cookie && i < WILDCARD_MAX; i++)
		if (__atomic_load_n(&wildcard[i], __ATOMIC_RELAXED) == cookie)
			return 1;
	return 0;
}

/* An attempt of a race whose program socket was bound to the wildcard
 * gets the same bind, as the program asked. */
int bind_wildcard(int fd, int family)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in);
	return scio_bind_sys(fd, (struct sockaddr *)&ss, len);
}
