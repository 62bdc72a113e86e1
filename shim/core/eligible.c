/*
 * eligible.c - which connects the shim may race: a TCP socket of the
 * destination's family, unbound, to an INET/INET6 address.
 */
#include <fcntl.h>
#include <netinet/in.h>
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

/* Of dst's family and bound to no local address or port yet. */
int unbound_socket(int fd, int family)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    local.ss_family != family)
		return 0;
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&local;
		return in->sin_port == 0 && in->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	const struct sockaddr_in6 *in6 = (const void *)&local;
	return in6->sin6_port == 0 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
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
