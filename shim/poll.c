/* poll.c - the interposed poll() family: a single-fd wait for
 * writability may run a pending race (shim/core/wait.c, scio_wait_race);
 * everything else goes straight to libc after one thread-local check. */
#include <errno.h>
#include <poll.h>
#include <signal.h>

#include "clock.h"
#include "intercept.h"
#include "pending.h"
#include "shim.h"
#include "sys.h"

static int one_writable_wait(const struct pollfd *fds, nfds_t nfds)
{
	return nfds == 1 && fds[0].fd >= 0 && (fds[0].events & POLLOUT);
}

/* Runs the race for fds[0] if it has one; returns what poll returns, or
 * -2 when the program's own wait must run.  A ppoll's mask goes to each
 * wait of the race: the thread's own mask is never changed. */
static int race_in_poll(struct pollfd *fds, int timeout, const sigset_t *mask)
{
	static const struct timespec zero = { 0, 0 };
	switch (scio_wait_race(fds[0].fd, timeout, mask)) {
	case SCIO_WAIT_WON:
		fds[0].revents = fds[0].events & (POLLOUT | POLLWRNORM);
		return 1;
	case SCIO_WAIT_TIMEOUT:
		fds[0].revents = 0;
		return 0;
	case SCIO_WAIT_INTERRUPTED:
		errno = EINTR;
		return -1;
	case SCIO_WAIT_FAILED:  /* the program's socket tells its own error */
		return mask ? scio_sys.ppoll(fds, 1, &zero, mask) : scio_sys.poll(fds, 1, 0);
	default:
		return -2;
	}
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	shim_ready();
	if (scio_pending_in_this_thread() && one_writable_wait(fds, nfds)) {
		int rc = race_in_poll(fds, timeout, NULL);
		if (rc != -2)
			return rc;
	}
	return scio_sys.poll(fds, nfds, timeout);
}

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *t,
		      const sigset_t *mask)
{
	shim_ready();
	if (scio_pending_in_this_thread() && one_writable_wait(fds, nfds)) {
		int rc = race_in_poll(fds, scio_timespec_ms(t), mask);
		if (rc != -2)
			return rc;
	}
	return scio_sys.ppoll(fds, nfds, t, mask);
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout,
			   size_t fdslen)
{
	shim_ready();
	if (scio_pending_in_this_thread() && one_writable_wait(fds, nfds)) {
		int rc = race_in_poll(fds, timeout, NULL);
		if (rc != -2)
			return rc;
	}
	return scio_sys.poll_chk(fds, nfds, timeout, fdslen);
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds,
			    const struct timespec *t, const sigset_t *mask,
			    size_t fdslen)
{
	shim_ready();
	if (scio_pending_in_this_thread() && one_writable_wait(fds, nfds)) {
		int rc = race_in_poll(fds, scio_timespec_ms(t), mask);
		if (rc != -2)
			return rc;
	}
	return scio_sys.ppoll_chk(fds, nfds, t, mask, fdslen);
}
