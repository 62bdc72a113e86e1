/* getaddrinfo.c - the interposed getaddrinfo(): see shim/core/lookup.c. */
#include <netdb.h>

#include "intercept.h"
#include "shim.h"

SHIM_EXPORT int getaddrinfo(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res)
{
	shim_ready();
	return scio_intercept_getaddrinfo(node, service, hints, res);
}
