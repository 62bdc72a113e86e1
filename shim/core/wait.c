/*
 * wait.c - a blocking connect() retried after a signal interrupted its
 * race: the race resumes, bound by the socket's SO_SNDTIMEO.  (A
 * non-blocking connect's race lives in the program's waits: live.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "delay.h"
#include "history.h"
#include "internal.h"
#include "race.h"
#include "core.h"
#include "live.h"

/* What the resumed race leaves the program. */
static enum scio_wait_outcome settle(const struct held *h, struct scio_pending *p,
				     struct scio_report *rep, int family, int flags,
				     int winner, int err)
{
	int fd = h->fd, sock = h->sock;
	unmap_report(rep);
	if (winner < 0 && rep->count == 0)
		return SCIO_WAIT_NOT_OURS;  /* no race possible: the plain wait */
	if (names_the_socket(h))  /* else it saw another file: nothing to learn */
		scio_history_record(rep, scio_wall_ms());
	if (!still_names(h)) {
		if (winner >= 0 && winner != sock)
			close(winner);
		return SCIO_WAIT_CLOSED;
	}
	if (winner >= 0 && winner != sock)
		log_family_change(fd, family, winner);
	if (winner >= 0 && winner != sock && adopt_winner(fd, winner, flags) < 0) {
		close(winner);
		winner = -1;
		err = EIO;
	}
	if (winner >= 0) {
		log_race(&p->m, rep, 0);
		return SCIO_WAIT_WON;
	}
	if (err == EINTR) {
		scio_pending_put_back(p);
		return SCIO_WAIT_INTERRUPTED;
	}
	log_race(&p->m, rep, err);
	/* the program's own attempt still under way: its wait timed out */
	int own_running = rep->count > 0 && rep->attempt[0].end_us < 0;
	return own_running ? SCIO_WAIT_TIMEOUT : SCIO_WAIT_FAILED;
}

static enum scio_wait_outcome wait_held(const struct held *h, struct scio_pending *p,
				       struct cands *c, int timeout_ms)
{
	const struct scio_config *cfg = scio_config();
	int sock = h->sock;
	struct sockaddr_storage *cand = c->a;
	size_t n = c->n;
	struct attempt_ctx ctx = { .m = &p->m, .own_fd = sock, .family = cand[0].ss_family,
				   .sndtimeo = timeout_ms >= 0 };
	struct scio_report rep = { .count = 0 };
	int64_t waited = (scio_now_us() - p->started) / 1000;
	struct scio_race_in r = {
		.pub = { .addrs = cand, .naddrs = n, .primary = 0,
			 .connect_delay_ms = scio_delay_for((struct sockaddr *)cand, cfg),
			 .timeout_ms = timeout_ms < 0 ? -1 : timeout_ms + (int)waited,
			 .prepare = prepare_attempt, .prepare_arg = &ctx,
			 .report = &rep },
		.own_fd = sock, .own_index = 0, .own_started = 1, .started_us = p->started,
		.interrupted = interrupted,
		.late = p->m.pending ? late_addresses : NULL, .late_arg = &ctx,
	};
	int flags = fcntl(sock, F_GETFL);
	map_for_socket(sock, ctx.family, cand, n);
	int winner = flags < 0 ? -1 : scio_race_run(&r, h->level);
	int err = errno, cs;
	/* as blocking.c's: no cancel acts while the race's end is settled */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	enum scio_wait_outcome o = settle(h, p, &rep, ctx.family, flags, winner, err);
	pthread_setcancelstate(cs, NULL);
	return o;
}

__attribute__((noinline)) enum scio_wait_outcome wait_race(int fd, int timeout_ms)
{
	if (scio_locks_held)
		return SCIO_WAIT_NOT_OURS;  /* a handler's connect, inside the library */
	struct scio_pending p;
	if (!scio_pending_take(fd, &p))
		return SCIO_WAIT_NOT_OURS;
	if (p.live) {
		/* a non-blocking connect's race, made blocking since: its own
		 * socket goes on alone */
		scio_live_free(p.live, SCIO_LIVE_GIVEN_BACK);
		return SCIO_WAIT_NOT_OURS;
	}
	int saved = errno;
	struct cands c;
	if (cands_fetch(&c, &p.m) < 0)
		return SCIO_WAIT_NOT_OURS;  /* the answer is gone: the plain wait */
	struct held h = hold_socket(fd);
	struct cancel_ctx cc = { .h = &h, .flags = -1, .heap = c.heap };
	enum scio_wait_outcome o;
	pthread_cleanup_push(race_cancelled, &cc);
	o = wait_held(&h, &p, &c, timeout_ms);
	pthread_cleanup_pop(0);
	release_socket(&h);
	cands_free(&c);
	errno = saved;
	return o;
}
