/*
 * livepoll.c - the live races inside the program's poll and ppoll (and
 * select and pselect, which shim/select.c turns into poll).  The racing
 * sockets are kept out of the program's set while their race is
 * undecided (the program's own attempt failing must not show); the
 * attempt sockets are polled alongside the program's fds, whose events
 * are returned on time; a decided race's fd is shown with the events the
 * kernel gives it then (a poll with no timeout).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "engine.h"
#include "epolltab.h"
#include "internal.h"
#include "live.h"
#include "log.h"
#include "sys.h"

#define ON_STACK 64

struct set {
	struct pollfd *fds;
	nfds_t n;
};

/* A socket also in an epoll set is not raced here: the winner's dup3
 * would silently take it out of that set. */
static int asks_pollout(void *arg, int fd)
{
	const struct set *s = arg;
	if (scio_epoll_registered(fd))
		return 0;
	for (nfds_t i = 0; i < s->n; i++)
		if (s->fds[i].fd == fd && (s->fds[i].events & POLLOUT))
			return 1;
	return 0;
}

static int racing(const struct scio_races *rs, int fd)
{
	for (int k = 0; k < rs->n; k++)
		if (rs->p[k].fd == fd)
			return 1;
	return 0;
}

static void forget(struct scio_races *rs, int k)
{
	rs->p[k] = rs->p[--rs->n];
}

/* Each entry's race, started at its first wait. */
static void start_races(struct scio_races *rs)
{
	int saved = errno;
	for (int k = 0; k < rs->n;) {
		if (!rs->p[k].live)
			rs->p[k].live = scio_live_start(&rs->p[k]);
		if (rs->p[k].live)
			k++;
		else
			forget(rs, k);  /* left to the program */
	}
	errno = saved;
}

int scio_live_take(struct scio_races *rs, int (*wanted)(void *arg, int fd), void *arg)
{
	rs->n = scio_pending_take_fds(wanted, arg, rs->p, SCIO_PENDING_MAX);
	if (rs->n)
		start_races(rs);
	for (int k = 0; k < rs->n; k++)
		scio_pending_hold(rs->p[k].live);
	return rs->n;
}

void scio_live_put_back(struct scio_races *rs)
{
	for (int k = 0; k < rs->n; k++)
		scio_pending_put_back(&rs->p[k]);
	rs->n = 0;
}

static void drop_held(struct scio_live *l, enum scio_live_end how)
{
	scio_pending_unhold(l);
	scio_live_free(l, how);
}

/* Steps every race; the decided ones end.  Lowers *until to the earliest
 * timer of the others; returns how many were decided. */
static int step_all(struct scio_races *rs, int64_t *until)
{
	int decided = 0;
	for (int k = 0; k < rs->n;) {
		int64_t u = ENGINE_NEVER;
		if (scio_live_fd_gone(rs->p[k].live)) {
			/* the fd is not ours to show any more */
			scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread "
				 "during its race; the race is dropped", rs->p[k].fd);
			drop_held(rs->p[k].live, SCIO_LIVE_CLOSED);
			forget(rs, k);
			continue;
		}
		if (scio_live_step(rs->p[k].live, &u)) {
			/* ended with cancellation held off (live.c): a
			 * pending cancel acts at the next wait, once the race
			 * is forgotten, not inside its end, whose cleanup
			 * handler would end it again */
			scio_live_finish(rs->p[k].live);
			forget(rs, k);
			decided++;
			continue;
		}
		if (u < *until)
			*until = u;
		k++;
	}
	return decided;
}

static size_t race_fds(const struct scio_races *rs)
{
	size_t n = 0;
	for (int k = 0; k < rs->n; k++)
		n += rs->p[k].live->io.npfd;
	return n;
}

/* The program's set with the racing fds hidden, then the races' sockets. */
static void build(struct pollfd *all, const struct set *s, const struct scio_races *rs)
{
	size_t off = s->n;
	for (nfds_t i = 0; i < s->n; i++) {
		all[i] = s->fds[i];
		all[i].revents = 0;
		if (all[i].fd >= 0 && racing(rs, all[i].fd))
			all[i].fd = -1;
	}
	for (int k = 0; k < rs->n; k++) {
		const struct scio_race_io *io = &rs->p[k].live->io;
		memcpy(all + off, io->pfd, io->npfd * sizeof(*all));
		off += io->npfd;
	}
}

static void feed_all(struct scio_races *rs, const struct pollfd *theirs, int64_t now)
{
	for (int k = 0; k < rs->n; k++) {
		struct scio_race_io *io = &rs->p[k].live->io;
		for (size_t j = 0; j < io->npfd; j++)
			io->pfd[j].revents = theirs[j].revents;
		theirs += io->npfd;
		scio_race_feed(io, now);
	}
}

static int shown(struct set *s, const struct pollfd *all)
{
	int n = 0;
	for (nfds_t i = 0; i < s->n; i++) {
		s->fds[i].revents = all[i].revents;
		n += all[i].revents != 0;
	}
	return n;
}

static int sys_wait(struct pollfd *all, size_t n, int timeout_ms, const sigset_t *mask)
{
	if (!mask)
		return scio_sys.poll(all, n, timeout_ms);
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	return scio_sys.ppoll(all, n, timeout_ms < 0 ? NULL : &ts, mask);
}

/* One wait of the program's set and the races' sockets until `until`:
 * the program's events, 0, or -1 with errno. */
static int wait_once(struct set *s, struct scio_races *rs, int64_t until,
		     const sigset_t *mask)
{
	size_t total = s->n + race_fds(rs);
	struct pollfd stack[ON_STACK], *all = stack;
	if (total > ON_STACK && !(all = malloc(total * sizeof(*all)))) {
		errno = ENOMEM;
		return -1;
	}
	build(all, s, rs);
	int rc = sys_wait(all, total, scio_poll_timeout(until, scio_now_us()), mask);
	if (rc >= 0) {
		feed_all(rs, all + s->n, scio_now_us());
		rc = shown(s, all);
	}
	if (all != stack) {
		int saved = errno;
		free(all);
		errno = saved;
	}
	return rc;
}

/* A decided race's fd shows what the kernel gives it at once (a wait with
 * no timeout); the program's wait goes on to its own timeout when nothing
 * of its set shows (a race whose fd the program closed meanwhile). */
static int drive(struct set *s, struct scio_races *rs, int64_t deadline, const sigset_t *mask)
{
	for (;;) {
		int64_t until = deadline;
		int decided = step_all(rs, &until);
		int rc = wait_once(s, rs, decided ? 0 : until, mask);
		if (rc != 0 || scio_now_us() >= deadline)
			return rc;
	}
}

/* pthread_cancel acted in one of the waits: the thread is going, and so
 * are its races (the program's sockets given back as they are). */
void scio_live_cancelled(void *arg)
{
	struct scio_races *rs = arg;
	for (int k = 0; k < rs->n; k++)
		drop_held(rs->p[k].live, SCIO_LIVE_GIVEN_BACK);
	rs->n = 0;
}

int scio_live_drive(struct pollfd *fds, nfds_t nfds, struct scio_races *rs,
		    int64_t deadline, const sigset_t *mask)
{
	struct set s = { fds, nfds };
	int rc;
	pthread_cleanup_push(scio_live_cancelled, rs);
	rc = drive(&s, rs, deadline, mask);
	pthread_cleanup_pop(0);
	return rc;
}

int64_t scio_live_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? ENGINE_NEVER
			      : scio_now_us() + (int64_t)timeout_ms * 1000;
}

/* A set the kernel refuses (EINVAL: more fds than RLIMIT_NOFILE; EFAULT:
 * an address in the never mapped first page) or an empty one goes to
 * libc untouched: its error, never a fault of ours reading it. */
static int set_refused(const struct pollfd *fds, nfds_t nfds)
{
	if (nfds == 0 || (uintptr_t)fds < 4096)
		return 1;
	struct rlimit rl;
	int saved = errno;
	int too_many = getrlimit(RLIMIT_NOFILE, &rl) == 0 && nfds > rl.rlim_cur;
	errno = saved;
	return too_many;
}

enum scio_handled scio_live_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms,
				 const sigset_t *mask, int *ret)
{
	if (scio_locks_held || set_refused(fds, nfds))
		return SCIO_PASS;  /* a handler's wait, inside the library; a bad set */
	struct set s = { fds, nfds };
	struct scio_races rs;
	int saved = errno;
	if (scio_live_take(&rs, asks_pollout, &s) == 0)
		return SCIO_PASS;
	int rc = scio_live_drive(fds, nfds, &rs, scio_live_deadline(timeout_ms), mask);
	int err = errno;
	scio_live_put_back(&rs);
	errno = rc < 0 ? err : saved;
	*ret = rc;
	return SCIO_DONE;
}
