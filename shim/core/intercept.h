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

/* bind(): libc's; a bind to the wildcard with port 0 is remembered (such
 * a socket is raced as an unbound one). */
int scio_intercept_bind(int fd, const struct sockaddr *addr, socklen_t len);

/* getaddrinfo(): libc's answer, recorded when it can be raced later. */
int scio_intercept_getaddrinfo(const char *node, const char *service,
			       const struct addrinfo *hints,
			       struct addrinfo **res);

/*
 * What a driver did with the program's call: SCIO_DONE, it made the call
 * (its result in *ret, errno as the call leaves it); SCIO_PASS, libc's
 * own call is to run (errno untouched).
 */
enum scio_handled { SCIO_PASS, SCIO_DONE };

/*
 * The program's poll/ppoll (select and pselect turned into poll): when
 * its set holds a socket of this thread with a pending race, asking for
 * writability, the race advances inside the wait (shim/core/livepoll.c);
 * SCIO_PASS when there is none.  mask: the ppoll/pselect mask, or NULL.
 */
#include <poll.h>
enum scio_handled scio_live_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms,
				 const sigset_t *mask, int *ret);

/* The same for the program's epoll_wait/epoll_pwait(2) on epfd
 * (shim/core/liveepoll.c). */
struct epoll_event;
enum scio_handled scio_live_epoll(int epfd, struct epoll_event *events, int maxevents,
				  int timeout_ms, const sigset_t *mask, int *ret);

#endif
