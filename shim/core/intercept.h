/*
 * intercept.h - what the preload shim does, as ordinary functions that a
 * test can call without any interposition.  shim/ only forwards to these.
 */
#ifndef SCIO_INTERCEPT_H
#define SCIO_INTERCEPT_H

#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>

/* connect(): race when docs/DESIGN.md's conditions hold, else libc's connect. */
int scio_intercept_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* getaddrinfo(): libc's answer, recorded when it can be raced later. */
int scio_intercept_getaddrinfo(const char *node, const char *service,
			       const struct addrinfo *hints,
			       struct addrinfo **res);

/*
 * The program waits for fd alone to become writable, for timeout_ms (-1:
 * forever).  When fd has a pending non-blocking connect of this thread,
 * runs its race within that time.  sigmask: the mask of the program's
 * ppoll or pselect, which every wait of the race then waits with (the
 * kernel sets it for the wait alone, as for the program's call); NULL for
 * poll and select.
 */
enum scio_wait_outcome {
	SCIO_WAIT_NOT_OURS,    /* no pending race: do the program's wait */
	SCIO_WAIT_WON,         /* fd is connected: report it writable */
	SCIO_WAIT_TIMEOUT,     /* the wait timed out, fd still connecting */
	SCIO_WAIT_FAILED,      /* every attempt failed: fd holds its error */
	SCIO_WAIT_INTERRUPTED, /* a signal: EINTR (the race resumes later) */
	SCIO_WAIT_CLOSED,      /* another thread closed fd during the race:
				  the program's wait goes on with whatever
				  the number names now */
};
enum scio_wait_outcome scio_wait_race(int fd, int timeout_ms, const sigset_t *sigmask);

#endif
