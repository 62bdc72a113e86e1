/*
 * intercept.h - what the preload shim does, as ordinary functions that a
 * test can call without any interposition.  shim/ only forwards to these.
 */
#ifndef SCIO_INTERCEPT_H
#define SCIO_INTERCEPT_H

#include <netdb.h>
#include <sys/socket.h>

/* connect(): race when DESIGN.md's conditions hold, else libc's connect. */
int scio_intercept_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* getaddrinfo(): libc's answer, recorded when it can be raced later. */
int scio_intercept_getaddrinfo(const char *node, const char *service,
			       const struct addrinfo *hints,
			       struct addrinfo **res);

#endif
