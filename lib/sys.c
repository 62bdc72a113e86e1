/* sys.c - libc's functions, unless the shim points them elsewhere. */
#include "sys.h"

/* glibc's fortified entry points (not declared without _FORTIFY_SOURCE) */
extern int __poll_chk(struct pollfd *, nfds_t, int, size_t);
extern int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *,
		       const sigset_t *, size_t);

struct scio_sys scio_sys = {
	.connect = connect,
	.getaddrinfo = getaddrinfo,
	.freeaddrinfo = freeaddrinfo,
	.poll = poll,
	.ppoll = ppoll,
	.select = select,
	.pselect = pselect,
	.poll_chk = __poll_chk,
	.ppoll_chk = __ppoll_chk,
};
