/* select.c - the interposed select()/pselect(): like poll.c, for the
 * programs that wait for a connecting socket with select. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>

#include "intercept.h"
#include "internal.h"
#include "pending.h"
#include "shim.h"
#include "sys.h"

/* The one fd the program waits for, when it waits for one fd to become
 * writable (and maybe readable or in error); else -1. */
static int single_write_fd(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	int fd = -1;
	if (!w || nfds <= 0 || nfds > FD_SETSIZE)
		return -1;
	for (int i = 0; i < nfds; i++) {
		if (!FD_ISSET(i, w))
			continue;
		if (fd >= 0)
			return -1;
		fd = i;
	}
	for (int i = 0; i < nfds && fd >= 0; i++) {
		if (i != fd && ((r && FD_ISSET(i, r)) || (e && FD_ISSET(i, e))))
			return -1;
	}
	return fd;
}

/* Like race_in_poll: a pselect's mask goes to each wait of the race. */
static int race_in_select(int fd, fd_set *r, fd_set *w, fd_set *e,
			  int timeout, const sigset_t *mask, int nfds)
{
	switch (scio_wait_race(fd, timeout, mask)) {
	case SCIO_WAIT_WON:
		if (r)
			FD_CLR(fd, r);
		if (e)
			FD_CLR(fd, e);
		return 1;
	case SCIO_WAIT_TIMEOUT:
		if (r)
			FD_CLR(fd, r);
		if (e)
			FD_CLR(fd, e);
		FD_CLR(fd, w);
		return 0;
	case SCIO_WAIT_INTERRUPTED:
		errno = EINTR;
		return -1;
	case SCIO_WAIT_FAILED: {
		struct timeval zero = { 0, 0 };
		static const struct timespec zero_ts = { 0, 0 };
		return mask ? scio_sys.pselect(nfds, r, w, e, &zero_ts, mask)
			    : scio_sys.select(nfds, r, w, e, &zero);
	}
	default:
		return -2;
	}
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
	int fd;
	if (scio_pending_in_this_thread() && (fd = single_write_fd(nfds, r, w, e)) >= 0) {
		int64_t start = scio_now_us();
		int rc = race_in_select(fd, r, w, e, scio_timeval_ms(tv), NULL, nfds);
		if (rc != -2) {
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
	int fd;
	if (scio_pending_in_this_thread() && (fd = single_write_fd(nfds, r, w, e)) >= 0) {
		int rc = race_in_select(fd, r, w, e, scio_timespec_ms(t), mask, nfds);
		if (rc != -2)
			return rc;
	}
	return scio_sys.pselect(nfds, r, w, e, t, mask);
}
