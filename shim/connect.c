/* connect.c - the interposed connect(): see shim/core/blocking.c. */
#include <sys/socket.h>

#include "intercept.h"
#include "shim.h"

SHIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	shim_ready();
	return scio_intercept_connect(fd, addr, len);
}
