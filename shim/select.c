/* select.c - the interposed select()/pselect(): a wait whose write set
 * holds a socket with a pending race runs as a poll of the same fds
 * (shim/core/livepoll.c), its result turned back into the sets as the
 * kernel's select would fill them.  Only sets within FD_SETSIZE are read;
 * none is ever built beyond it. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>

#include "intercept.h"
#include "internal.h"
#include "pending.h"
#include "shim.h"
#include "sys.h"

/* The kernel's select: readable on POLLIN, POLLHUP or POLLERR, writable
 * on POLLOUT or POLLERR, exceptional on POLLPRI. */
#define READ_SET (POLLIN | POLLHUP | POLLERR)
#define WRITE_SET (POLLOUT | POLLERR)

static nfds_t to_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, struct pollfd *p)
{
	nfds_t n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return n;
}

static void mark(fd_set *set, int fd, int on, int *count)
{
	if (set && on) {
		FD_SET(fd, set);
		(*count)++;
	}
}

static int from_poll(const struct pollfd *p, nfds_t n, int nfds,
		     fd_set *r, fd_set *w, fd_set *e)
{
	for (nfds_t k = 0; k < n; k++) {
		if (p[k].revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
	}
	for (int fd = 0; fd < nfds; fd++) {
		if (r)
			FD_CLR(fd, r);
		FD_CLR(fd, w);
		if (e)
			FD_CLR(fd, e);
	}
	int count = 0;
	for (nfds_t k = 0; k < n; k++) {
		short ev = p[k].events, re = p[k].revents;
		mark(r, p[k].fd, (ev & POLLIN) && (re & READ_SET), &count);
		mark(w, p[k].fd, (ev & POLLOUT) && (re & WRITE_SET), &count);
		mark(e, p[k].fd, (ev & POLLPRI) && (re & POLLPRI), &count);
	}
	return count;
}

/* The select as a poll of the same fds, when a race is in the wait. */
static enum scio_handled race_in_select(int nfds, fd_set *r, fd_set *w, fd_set *e,
					int timeout, const sigset_t *mask, int *ret)
{
	if (!w || nfds <= 0 || nfds > FD_SETSIZE)
		return SCIO_PASS;
	struct pollfd p[FD_SETSIZE];
	nfds_t n = to_poll(nfds, r, w, e, p);
	if (scio_live_poll(p, n, timeout, mask, ret) == SCIO_PASS)
		return SCIO_PASS;
	if (*ret >= 0)
		*ret = from_poll(p, n, nfds, r, w, e);
	return SCIO_DONE;
}

/* Linux's select writes back the time left. */
static void time_left(struct timeval *tv, int64_t start)
{
	if (!tv)
		return;
	int64_t left = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec -
		       (scio_now_us() - start);
	if (left < 0)
		left = 0;
	tv->tv_sec = left / 1000000;
	tv->tv_usec = left % 1000000;
}

SHIM_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e,
		       struct timeval *tv)
{
	shim_ready();
	if (scio_pending_in_this_thread() && !scio_timeval_bad(tv)) {
		int64_t start = scio_now_us();
		int rc;
		if (race_in_select(nfds, r, w, e, scio_timeval_ms(tv), NULL, &rc) == SCIO_DONE) {
			int saved = errno;
			time_left(tv, start);
			errno = saved;
			return rc;
		}
	}
	return scio_sys.select(nfds, r, w, e, tv);
}

SHIM_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
			const struct timespec *t, const sigset_t *mask)
{
	shim_ready();
	if (scio_pending_in_this_thread() && !scio_timespec_bad(t)) {
		int rc;
		if (race_in_select(nfds, r, w, e, scio_timespec_ms(t), mask, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_sys.pselect(nfds, r, w, e, t, mask);
}
