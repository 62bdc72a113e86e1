/* poll.c - the interposed poll() family: a wait whose set holds a socket
 * with a pending race (asking for writability) advances that race
 * (shim/core/livepoll.c, scio_live_poll); everything else goes straight
 * to libc after one thread-local check. */
#include <errno.h>
#include <poll.h>
#include <signal.h>

#include "clock.h"
#include "intercept.h"
#include "pending.h"
#include "shim.h"
#include "sys.h"

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	shim_ready();
	if (scio_pending_in_this_thread()) {
		int rc;
		if (scio_live_poll(fds, nfds, timeout, NULL, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_sys.poll(fds, nfds, timeout);
}

/* A ppoll's mask goes to each wait of the race: the thread's own mask is
 * never changed. */
SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *t,
		      const sigset_t *mask)
{
	shim_ready();
	if (scio_pending_in_this_thread() && !scio_timespec_bad(t)) {
		int rc;
		if (scio_live_poll(fds, nfds, scio_timespec_ms(t), mask, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_sys.ppoll(fds, nfds, t, mask);
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout,
			   size_t fdslen)
{
	shim_ready();
	if (scio_pending_in_this_thread() && fdslen / sizeof(*fds) >= nfds) {
		int rc;
		if (scio_live_poll(fds, nfds, timeout, NULL, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_sys.poll_chk(fds, nfds, timeout, fdslen);
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds,
			    const struct timespec *t, const sigset_t *mask,
			    size_t fdslen)
{
	shim_ready();
	if (scio_pending_in_this_thread() && fdslen / sizeof(*fds) >= nfds &&
	    !scio_timespec_bad(t)) {
		int rc;
		if (scio_live_poll(fds, nfds, scio_timespec_ms(t), mask, &rc) == SCIO_DONE)
			return rc;
	}
	return scio_sys.ppoll_chk(fds, nfds, t, mask, fdslen);
}
