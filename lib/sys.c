/* sys.c - libc's functions, unless the shim points them elsewhere. */
#include "addrs.h"
#include "sys.h"

#ifdef __GLIBC__
/* glibc's fortified entry points (not declared without _FORTIFY_SOURCE) */
extern int __poll_chk(struct pollfd *, nfds_t, int, size_t);
extern int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *,
		       const sigset_t *, size_t);
#define LIBC_POLL_CHK __poll_chk
#define LIBC_PPOLL_CHK __ppoll_chk
#else
/* musl has no fortified poll: its plain calls stand in */
static int plain_poll(struct pollfd *fds, nfds_t n, int timeout, size_t len)
{
	(void)len;
	return poll(fds, n, timeout);
}

static int plain_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		       const sigset_t *mask, size_t len)
{
	(void)len;
	return ppoll(fds, n, t, mask);
}
#define LIBC_POLL_CHK plain_poll
#define LIBC_PPOLL_CHK plain_ppoll
#endif

struct scio_sys scio_sys = {
	.connect = connect,
	.getaddrinfo = getaddrinfo,
	.freeaddrinfo = freeaddrinfo,
	.poll = poll,
	.ppoll = ppoll,
	.select = select,
	.pselect = pselect,
	.poll_chk = LIBC_POLL_CHK,
	.ppoll_chk = LIBC_PPOLL_CHK,
};

/* glibc frees a list node by node.  musl frees a getaddrinfo result as one
 * block, the block of the list's last node, less as many references as
 * the list has nodes: a joined list (one lookup per family) would leak
 * both blocks, so each family's nodes go back as a list of their own. */
void scio_freeaddrinfo(struct addrinfo *res)
{
#ifndef __GLIBC__
	struct addrinfo *v6, *rest;
	scio_split_family(res, AF_INET6, &v6, &rest);
	if (v6)
		scio_sys.freeaddrinfo(v6);
	res = rest;
#endif
	if (res)
		scio_sys.freeaddrinfo(res);
}
