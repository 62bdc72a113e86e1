/* freeaddrinfo.c - the interposed freeaddrinfo(), for musl only: a list
 * the resolution race joined from two lookups goes back to musl one
 * family at a time (lib/sys.c).  glibc frees any list node by node. */
#include <netdb.h>

#include "shim.h"
#include "sys.h"

#ifndef __GLIBC__
SHIM_EXPORT void freeaddrinfo(struct addrinfo *res)
{
	shim_ready();
	scio_freeaddrinfo(res);
}
#endif
