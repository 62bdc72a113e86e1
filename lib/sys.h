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
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

struct scio_sys {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	void (*freeaddrinfo)(struct addrinfo *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	/* _FORTIFY_SOURCE builds call these instead of poll/ppoll */
	int (*poll_chk)(struct pollfd *, nfds_t, int, size_t);
	int (*ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *,
			 const sigset_t *, size_t);
};

extern struct scio_sys scio_sys;

/* Frees a getaddrinfo list, also one that joins the lists of two lookups
 * (the resolution race's, lib/resolve.c). */
void scio_freeaddrinfo(struct addrinfo *res);

#endif
