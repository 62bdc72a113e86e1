/* bind.c - the interposed bind(): libc's, and a bind to the wildcard with
 * port 0 is remembered so that the socket's connect may still race
 * (shim/core/eligible.c). */
#include <sys/socket.h>

#include "intercept.h"
#include "shim.h"

SHIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	shim_ready();
	return scio_intercept_bind(fd, addr, len);
}
