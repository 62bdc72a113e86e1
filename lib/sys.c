/* sys.c - libc's functions, unless the shim points them elsewhere. */
#include "sys.h"

struct scio_sys scio_sys = {
	.connect = connect,
	.getaddrinfo = getaddrinfo,
	.freeaddrinfo = freeaddrinfo,
	.poll = poll,
};
