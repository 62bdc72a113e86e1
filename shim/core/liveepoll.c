/*
 * liveepoll.c - the live races inside the program's epoll_wait,
 * epoll_pwait and epoll_pwait2.  A socket of the set whose race is
 * undecided is kept out of the set (EPOLL_CTL_DEL: a registration with
 * no events would still report the own attempt's error); the wait is a
 * poll of the epoll fd and the attempt sockets, with the program's
 * timeout and mask; when the epoll fd is ready, libc's epoll_wait with no
 * timeout fills the program's events.  A decided race's fd goes back
 * into the set with the program's events and data (epolltab.c), where
 * the kernel reports it as it would report the program's own socket:
 * one writable event, edge-triggered or one-shot as registered.
 */
#include <errno.h>
#include <pthread.h>
#include "engine.h"
#include "epolltab.h"
#include "internal.h"
#include "live.h"

static int in_set(void *arg, int fd)
{
	return scio_epoll_watches(*(const int *)arg, fd);
}

/* Keeps each race's fd out of epfd; a race whose fd is not there (the
 * program closed it, or took it out) goes back to the table untouched. */
static void hide_all(struct scio_races *rs, int epfd)
{
	for (int k = 0; k < rs->n;) {
		struct scio_live *l = rs->p[k].live;
		if (l->hidden_epfd == epfd && scio_epoll_hidden(epfd, l->fd)) {
			k++;
		} else if (scio_epoll_hide(epfd, l->fd) == 0) {
			__atomic_store_n(&l->hidden_epfd, epfd, __ATOMIC_RELEASE);
			k++;
		} else {
			scio_pending_put_back(&rs->p[k]);
			rs->p[k] = rs->p[--rs->n];
		}
	}
}

enum scio_handled scio_live_epoll(int epfd, struct epoll_event *events, int maxevents,
				  int timeout_ms, const sigset_t *mask, int *ret)
{
	if (scio_locks_held || maxevents <= 0)
		return SCIO_PASS;
	struct scio_races rs;
	int saved = errno;
	if (scio_live_take(&rs, in_set, &epfd) == 0)
		return SCIO_PASS;
	hide_all(&rs, epfd);
	if (rs.n == 0) {
		errno = saved;
		return SCIO_PASS;
	}
	int64_t deadline = scio_live_deadline(timeout_ms);
	int rc;
	/* libc's epoll_wait is a cancellation point too, even with no timeout */
	pthread_cleanup_push(scio_live_cancelled, &rs);
	for (;;) {
		struct pollfd set = { .fd = epfd, .events = POLLIN };
		rc = scio_live_drive(&set, 1, &rs, deadline, mask);
		if (rc <= 0)
			break;
		rc = scio_epoll_sys.wait(epfd, events, maxevents, 0);
		/* 0: another thread took the events first */
		if (rc != 0 || scio_now_us() >= deadline)
			break;
	}
	pthread_cleanup_pop(0);
	int err = errno;
	scio_live_put_back(&rs);
	errno = rc < 0 ? err : saved;
	*ret = rc;
	return SCIO_DONE;
}
