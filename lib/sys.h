/*
 * sys.h - the libc calls the library makes that the preload shim also
 * interposes.  Inside libscio-preload.so a plain call to connect() would
 * land in the shim's own connect(); the shim therefore points these at
 * libc's (dlsym RTLD_NEXT) before anything else runs.  In libscio.a and
 * libscio.so they are libc's own functions.
 */
#ifndef SCIO_SYS_H
#define SCIO_SYS_H

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

struct scio_sys {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	void (*freeaddrinfo)(struct addrinfo *);
	int (*poll)(struct pollfd *, nfds_t, int);
};

extern struct scio_sys scio_sys;

#endif
