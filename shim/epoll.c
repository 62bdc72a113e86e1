/* epoll.c - the interposed epoll_ctl (recorded, shim/core/epolltab.c) and
 * epoll_wait/epoll_pwait/epoll_pwait2: a wait on a set holding a socket
 * with a pending race advances that race (shim/core/liveepoll.c);
 * everything else goes straight to libc after one thread-local check. */
#include <sys/epoll.h>

#include "clock.h"
#include "epolltab.h"
#include "intercept.h"
#include "pending.h"
#include "shim.h"

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	shim_ready();
	return scio_epoll_ctl(epfd, op, fd, ev);
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	shim_ready();
	if (scio_pending_in_this_thread()) {
		int rc;
		if (scio_live_epoll(epfd, ev, max, timeout, NULL, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_epoll_sys.wait(epfd, ev, max, timeout);
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
			    const sigset_t *mask)
{
	shim_ready();
	if (scio_pending_in_this_thread()) {
		int rc;
		if (scio_live_epoll(epfd, ev, max, timeout, mask, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_epoll_sys.pwait(epfd, ev, max, timeout, mask);
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max,
			     const struct timespec *t, const sigset_t *mask)
{
	shim_ready();
	if (scio_pending_in_this_thread() && !scio_timespec_bad(t)) {
		int rc;
		if (scio_live_epoll(epfd, ev, max, scio_timespec_ms(t), mask, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_epoll_sys.pwait2(epfd, ev, max, t, mask);
}
