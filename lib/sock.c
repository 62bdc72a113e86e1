/* sock.c - small socket helpers shared by the race and the serial loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "internal.h"
#include "engine.h"
#include "sys.h"

int scio_connect_finish(int fd, const struct sockaddr *dst)
{
	/* A second connect() reports the outcome (and clears it, like
	 * SO_ERROR) and moves a connected socket to the state a blocking
	 * connect leaves, so that a later connect() gives EISCONN. */
	if (scio_sys.connect(fd, dst, scio_sockaddr_len(dst)) == 0 || errno == EISCONN)
		return 0;
	if (errno == EALREADY || errno == EINTR)
		return EINPROGRESS;
	return errno;
}

int scio_set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	if (!(fl & O_NONBLOCK))
		return 0;
	return fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

socklen_t scio_sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

uint64_t scio_socket_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}
