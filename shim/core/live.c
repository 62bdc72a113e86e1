/*
 * live.c - a race that lives between the program's waits (live.h): its
 * start from a pending connect, its steps, its end (the winner onto the
 * program's fd) and its drop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "delay.h"
#include "history.h"
#include "internal.h"
#include "log.h"
#include "live.h"

struct scio_live *scio_live_start(const struct scio_pending *p)
{
	const struct scio_config *cfg = scio_config();
	struct scio_live *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->fd = p->fd;
	l->cookie = p->cookie;
	l->hidden_epfd = -1;
	l->m = p->m;
	if (cands_fetch(&l->c, &l->m) < 0) {
		free(l);
		return NULL;  /* the answer is gone */
	}
	l->ctx = (struct attempt_ctx){ .m = &l->m, .own_fd = p->fd,
				       .family = l->c.a[0].ss_family };
	int delay_ms = scio_delay_for((const struct sockaddr *)&l->c.a[0], cfg);
	map_for_socket(p->fd, l->ctx.family, l->c.a, l->c.n);
	l->in = (struct scio_race_in){
		.pub = { .addrs = l->c.a, .naddrs = l->c.n, .primary = 0,
			 .connect_delay_ms = delay_ms, .timeout_ms = -1,
			 .prepare = prepare_attempt, .prepare_arg = &l->ctx,
			 .report = &l->rep },
		.own_fd = p->fd, .own_index = 0, .own_started = 1,
		.started_us = p->started,
		.late = l->m.pending ? late_addresses : NULL, .late_arg = &l->ctx,
	};
	/* no orphans level: the race outlives the call that started it */
	if (scio_race_begin(&l->io, &l->in, -1, NULL) < 0) {
		cands_free(&l->c);
		free(l);
		return NULL;
	}
	return l;
}

static void live_release(struct scio_live *l)
{
	cands_free(&l->c);
	free(l);
}

/* Whether l->fd still names the program's socket: a number closed and
 * reused meanwhile (by another thread, while this race was out of the
 * table in a wait) names another file, which no race may touch. */
static int own_fd_is_ours(const struct scio_live *l)
{
	return scio_socket_cookie(l->fd) == l->cookie;
}

static int epfd_gone(const struct scio_live *l)
{
	return __atomic_load_n(&l->gone, __ATOMIC_ACQUIRE) & SCIO_LIVE_EPFD_GONE;
}

int scio_live_fd_gone(const struct scio_live *l)
{
	return __atomic_load_n(&l->gone, __ATOMIC_ACQUIRE) & SCIO_LIVE_FD_GONE;
}

void scio_live_free(struct scio_live *l, enum scio_live_end how)
{
	int saved = errno, cs;
	/* it closes (cancellation points): cancelled half way, the rest of
	 * the race would stay open */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	int rc = scio_race_end(&l->io, l->done ? 0 : ECANCELED);
	if (rc >= 0 && rc != l->fd)
		close(rc);
	/* a child's epoll sets are its parent's too: left as they are; a
	 * closed fd left its sets with its file */
	if (epfd_gone(l))
		;  /* the close hook forgot the slot: the set is not ours */
	else if (how == SCIO_LIVE_GIVEN_BACK && l->hidden_epfd >= 0 && own_fd_is_ours(l))
		scio_epoll_unhide(l->hidden_epfd, l->fd);
	else if (l->hidden_epfd >= 0)
		scio_epoll_forget(l->hidden_epfd, l->fd);
	live_release(l);
	pthread_setcancelstate(cs, NULL);
	errno = saved;
}

int scio_live_step(struct scio_live *l, int64_t *until)
{
	if (!l->done)
		l->done = scio_race_step(&l->io, until);
	return l->done;
}

/* Moves the winner onto the program's fd, unless the program closed it
 * meanwhile.  1 when fd is now the winner. */
static int move_winner(struct scio_live *l, int winner)
{
	int fd = l->fd;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || scio_socket_cookie(fd) != l->cookie) {
		scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during its "
			 "race; nothing is put in its place", fd);
		close(winner);
		errno = EBADF;
		return 0;
	}
	log_family_change(fd, l->ctx.family, winner);
	if (adopt_winner(fd, winner, flags) < 0) {
		int err = errno;
		scio_log(SCIO_LOG_WARN, "could not move the winning socket onto fd %d: %s",
			 fd, errdesc(err));
		close(winner);
		errno = err;
		return 0;
	}
	return 1;
}

/* The program's fd was closed during the race, its number maybe reused:
 * what the race saw of it was another file's, so neither history nor the
 * log hears of it, and nothing is put in its place. */
static int finish_closed(struct scio_live *l, int winner)
{
	scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during its "
		 "race; the race is dropped", l->fd);
	if (winner >= 0 && winner != l->fd)
		close(winner);
	if (l->hidden_epfd >= 0 && !epfd_gone(l))
		scio_epoll_forget(l->hidden_epfd, l->fd);
	live_release(l);
	return 0;
}

int scio_live_finish(struct scio_live *l)
{
	int saved = errno, cs;
	/* as scio_live_free: it closes and logs, and cancelled half way the
	 * race would be ended again by its cleanup handler */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	scio_pending_unhold(l);
	int winner = scio_race_end(&l->io, 0);
	int err = errno;
	if (scio_live_fd_gone(l) || !own_fd_is_ours(l)) {
		finish_closed(l, winner);
		pthread_setcancelstate(cs, NULL);
		errno = saved;
		return 0;
	}
	unmap_report(&l->rep);
	scio_history_record(&l->rep, scio_wall_ms());
	int connected = winner >= 0 &&
			(winner == l->fd || move_winner(l, winner));
	if (winner >= 0 && !connected)
		err = errno;
	log_race(&l->m, &l->rep, connected ? 0 : err);
	if (l->hidden_epfd >= 0 && !epfd_gone(l))
		scio_epoll_unhide(l->hidden_epfd, l->fd);
	live_release(l);
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return connected;
}
