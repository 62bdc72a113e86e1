/*
 * blocking.c - the shim's connect(): a blocking connect runs as the
 * program asked for 3/4 of the delay, then races the other addresses of
 * its answer; a non-blocking one is remembered for the program's wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "addrs.h"
#include "delay.h"
#include "engine.h"
#include "history.h"
#include "internal.h"
#include "race.h"
#include "log.h"
#include "sys.h"
#include "core.h"

static int started_later(int fd, const struct scio_match *m, int64_t t0,
			 int rc, int err);
static int connect_later(int fd, const struct sockaddr *addr, socklen_t len,
			 const struct scio_match *m);

/* The program's call made: its result in *ret (errno set with it). */
static enum scio_handled done(int *ret, int rc)
{
	*ret = rc;
	return SCIO_DONE;
}

/* What race() decided before the race: the candidates, and what the
 * program's own connect has done so far. */
struct plan {
	struct cands *c;
	size_t own;
	int timeout_ms;     /* the program's SO_SNDTIMEO, -1 for none */
	int64_t started;    /* when the own connect began, 0: not yet */
	int own_err;        /* its error when it already failed */
	int delay_ms;       /* Connection Attempt Delay (lib/delay.c) */
};

/* The own attempt's real error where the race could only see that it
 * failed (it leaves a started connect's error on the socket). */
static void own_error_into(struct scio_report *rep, const struct plan *p, int sock)
{
	for (size_t k = 0; k < rep->count; k++) {
		struct scio_attempt *a = &rep->attempt[k];
		if (a->error != EIO || a->won ||
		    !scio_same_addr((struct sockaddr *)&a->addr,
				    (const struct sockaddr *)&p->c->a[p->own]))
			continue;
		int err = p->own_err;
		socklen_t len = sizeof(err);
		if (!err && getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = 0;
		if (err)
			a->error = err;
	}
}

/* What a race that ran on h leaves the program: its winner on the fd,
 * or the error its own connect would have had. */
static enum scio_handled settle(const struct held *h, int flags, const struct scio_match *m,
				struct plan *p, int *ret, struct scio_report *rep,
				const struct attempt_ctx *ctx, int winner, int err, int64_t start)
{
	int fd = h->fd, sock = h->sock;
	if (names_the_socket(h))  /* the number may be another file's now */
		fcntl(sock, F_SETFL, flags);
	unmap_report(rep);
	for (size_t i = 0; i < p->c->n; i++)
		scio_unmap_v4(&p->c->a[i]);

	if (winner < 0 && rep->count == 0)
		return SCIO_PASS;  /* the race could not even start (no memory) */
	if (!names_the_socket(h)) {
		/* it ran on the fd number itself, which another thread gave to
		 * another file meanwhile: what it saw there is not the
		 * program's connect, nor anything for history to learn */
		if (winner >= 0 && winner != sock)
			close(winner);
		scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during its race; "
			 "nothing is put in its place", fd);
		errno = EBADF;
		return done(ret, -1);
	}
	if (p->started)
		own_error_into(rep, p, sock);
	scio_history_record(rep, scio_wall_ms());
	int ours = still_names(h);
	if (winner >= 0 && winner != sock) {
		if (!ours) {
			/* the winner has nowhere to go */
			close(winner);
			log_race(m, rep, EBADF);
			errno = EBADF;
			return done(ret, -1);
		}
		log_family_change(fd, ctx->family, winner);
		if (adopt_winner(fd, winner, flags) < 0) {
			err = errno;
			close(winner);
			scio_log(SCIO_LOG_WARN, "could not move the winning socket onto fd %d: %s",
				 fd, errdesc(err));
			errno = err;
			return done(ret, -1);
		}
	}
	if (winner >= 0) {
		log_race(m, rep, 0);
		return done(ret, 0);
	}
	/* what the program's own connect would have returned, closed fd
	 * or not (the kernel finishes a connect whose fd is closed) */
	int own_err = own_outcome(rep, (struct sockaddr *)&p->c->a[p->own], err);
	log_race(m, rep, own_err);
	if (own_err == EINTR && ours)
		scio_pending_add(fd, m, start);  /* a retried connect resumes */
	else
		remember_failure(m, p->c);
	errno = own_err;
	return done(ret, -1);
}

static enum scio_handled race_held(const struct held *h, int flags,
				   const struct scio_match *m, struct plan *p, int *ret)
{
	int sock = h->sock;
	struct attempt_ctx ctx = { .m = m, .own_fd = sock, .family = p->c->a[p->own].ss_family,
				   .sndtimeo = p->timeout_ms >= 0 };
	struct scio_report rep = { .count = 0 };
	struct scio_race_in r = {
		.pub = { .addrs = p->c->a, .naddrs = p->c->n, .primary = p->own,
			 .connect_delay_ms = p->delay_ms,
			 .timeout_ms = p->timeout_ms,
			 .prepare = prepare_attempt, .prepare_arg = &ctx,
			 .report = &rep },
		.own_fd = sock, .own_index = p->own,
		.own_started = p->started != 0, .started_us = p->started,
		.interrupted = interrupted,
		.late = m->pending ? late_addresses : NULL, .late_arg = &ctx,
		.outcome = p->c->outcome,
	};

	if (fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0)
		return SCIO_PASS;  /* cannot race */
	map_for_socket(sock, ctx.family, p->c->a, p->c->n);
	int64_t start = p->started ? p->started : scio_now_us();
	int winner = scio_race_run(&r, h->level);
	int err = errno, cs;
	/* the race is over and its list no longer holds the winner: a cancel
	 * acting at a close or a log write from here on would leave it open */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	enum scio_handled v = settle(h, flags, m, p, ret, &rep, &ctx, winner, err, start);
	int saved = errno;
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return v;
}

/* The own connect won before any race: history and -v still hear of it. */
static void own_won(const struct scio_match *m, const struct plan *p, int64_t t0)
{
	struct scio_report rep;  /* only attempt[0] is read: the rest stays unset */
	rep.count = 1;
	rep.candidates = p->c->n;
	rep.winner = 0;
	rep.error = 0;
	rep.elapsed_us = scio_now_us() - t0;
	rep.attempt[0] = (struct scio_attempt){
		.addr = p->c->a[p->own],
		.addrlen = scio_sockaddr_len((const struct sockaddr *)&p->c->a[p->own]),
		.end_us = rep.elapsed_us, .won = 1 };
	scio_history_record(&rep, scio_wall_ms());
	log_race(m, &rep, 0);
}

/* *later: the socket turned out non-blocking before its connect began;
 * the caller starts it, for the program's wait to race (SCIO_DONE). */
static enum scio_handled race_cands(int fd, int flags, const struct scio_match *m,
				    const struct scio_config *cfg, struct cands *c,
				    int *ret, int *later)
{
	struct plan p = { .c = c };
	p.own = history_order(c);
	p.delay_ms = scio_delay_for((const struct sockaddr *)&c->a[0], cfg);
	struct timeval mine;
	if (own_send_timeout(fd, &mine) < 0)
		return SCIO_PASS;
	p.timeout_ms = timeout_ms_of(&mine);

	/* The own connect goes first unless history put another address
	 * before it or the program's own timeout is shorter than the delay. */
	uint64_t cookie = 0;
	int signalled = 0;
	if (p.own == 0 && (p.timeout_ms < 0 || p.timeout_ms > p.delay_ms)) {
		int64_t t0 = scio_now_us();
		const struct sockaddr *dst = (const struct sockaddr *)&p.c->a[0];
		int64_t bound = engine_own_bound(p.delay_ms * 1000LL);
		int err = own_connect_bounded(fd, dst, bound, &mine, &signalled, &cookie);
		if (err == 0) {
			own_won(m, &p, t0);
			return done(ret, 0);
		}
		if (err > 0) {
			p.started = t0;
			if (err != EINPROGRESS && err != EINTR)
				p.own_err = err;  /* failed at once: the race goes on */
		}
	}
	struct held h = hold_socket(fd);
	enum scio_handled v = SCIO_DONE;
	if (p.started && (h.sock == h.fd ? fcntl(fd, F_GETFD) < 0 ||
			  (cookie && scio_socket_cookie(fd) != cookie) :
			  cookie && h.cookie != cookie)) {
		/* another thread closed fd while the own connect ran */
		scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during "
			 "its race; nothing is put in its place", fd);
		errno = EBADF;
		*ret = -1;
	} else if (learn_flags(h.sock, &flags) < 0) {
		errno = EBADF;
		v = p.started ? done(ret, -1) : SCIO_PASS;
	} else if (known_nonblocking(flags)) {
		/* learnt from the own connect's EINPROGRESS, or before any */
		if (p.started)
			*ret = started_later(fd, m, p.started, -1,
					     p.own_err ? p.own_err : EINPROGRESS);
		else
			*later = 1;
	} else if (signalled && p.started && !p.own_err) {
		scio_pending_add(fd, m, p.started);  /* a retried connect resumes */
		errno = EINTR;
		*ret = -1;
	} else {
		struct cancel_ctx cc = { .h = &h, .flags = flags, .heap = p.c->heap };
		pthread_cleanup_push(race_cancelled, &cc);
		v = race_held(&h, flags, m, &p, ret);
		pthread_cleanup_pop(0);
	}
	release_socket(&h);
	return v;
}

static __attribute__((noinline)) enum scio_handled
race(int fd, const struct sockaddr *addr, socklen_t len, int flags,
     const struct scio_match *m, const struct scio_config *cfg, int *ret)
{
	struct cands c;
	int later = 0;
	if (cands_fetch(&c, m) < 0)
		return SCIO_PASS;
	enum scio_handled v = race_cands(fd, flags, m, cfg, &c, ret, &later);
	cands_free(&c);
	if (later)  /* non-blocking after all: its race waits for the program */
		*ret = connect_later(fd, addr, len, m);
	return v;
}

static int replay(const struct scio_match *m, const struct sockaddr *dst)
{
	char a[80];
	scio_log(SCIO_LOG_DEBUG, "%s: %s already failed in this race: %s",
		 m->name, scio_addr_str(dst, a, sizeof(a)),
		 errdesc(m->replay_error));
	errno = m->replay_error;
	return -1;
}

/*
 * A non-blocking connect: started as the program asked; the race runs
 * when the program waits for it (scio_wait_race).  A second socket to the
 * same answer means the program races on its own: it is left alone.
 */
static int connect_later(int fd, const struct sockaddr *addr, socklen_t len,
			 const struct scio_match *m)
{
	int64_t now = scio_now_us();
	int rc = scio_sys.connect(fd, addr, len);
	return started_later(fd, m, now, rc, errno);
}

/* A non-blocking connect started at t0 with this outcome. */
static int started_later(int fd, const struct scio_match *m, int64_t t0,
			 int rc, int err)
{
	if (scio_pending_drop_answer(m->id))
		scio_log(SCIO_LOG_DEBUG, "%s: the program races on its own; left alone",
			 m->name);
	else if (rc < 0 && err == EINPROGRESS)
		scio_pending_add(fd, m, t0);
	errno = err;
	return rc;
}

/* A blocking connect() again on a socket whose race a signal interrupted:
 * the race resumes where it stopped. */
static enum scio_handled resume_connect(int fd, int *ret)
{
	switch (wait_race(fd, send_timeout_ms(fd))) {
	case SCIO_WAIT_WON:
		return done(ret, 0);
	case SCIO_WAIT_TIMEOUT:
		errno = EINPROGRESS;
		return done(ret, -1);
	case SCIO_WAIT_INTERRUPTED:
		errno = EINTR;
		return done(ret, -1);
	case SCIO_WAIT_CLOSED:  /* by another thread, during the race */
		errno = EBADF;
		return done(ret, -1);
	case SCIO_WAIT_FAILED: {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		errno = err ? err : ECONNREFUSED;
		return done(ret, -1);
	}
	default:
		return SCIO_PASS;
	}
}

int scio_intercept_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	/* a signal handler that interrupted this thread inside the library
	 * (internal.h): straight to the kernel */
	if (scio_locks_held)
		return scio_sys.connect(fd, addr, len);
	int saved = errno;
	const struct scio_config *cfg = scio_config();
	struct scio_match m;
	int flags, rc;

	if (cfg->disabled || !usable_destination(addr, len))
		goto pass;
	if (scio_pending_in_this_thread() && tcp_socket(fd, &flags) &&
	    !(flags & O_NONBLOCK) && resume_connect(fd, &rc) == SCIO_DONE)
		return rc;
	/* cheapest first: most connects leave after a table lookup */
	int64_t now = scio_now_us();
	if (!scio_answers_match(scio_answers_global(), addr, now, &m) ||
	    !tcp_socket_lazy(fd, &flags) || !unbound_socket(fd, addr->sa_family) ||
	    (m.asked != 0 && learn_flags(fd, &flags) < 0))
		goto pass;
	if (known_nonblocking(flags)) {
		if (m.asked != 0)
			goto pass;
		errno = saved;
		return connect_later(fd, addr, len, &m);
	}
	int fallback = scio_answers_take_replay(scio_answers_global(), &m, now);
	if (m.replay_error)
		return replay(&m, addr);
	/* the program's first choice, or the next step of a failed race's
	 * fallback loop: anything else is the program's own business */
	if (m.asked != 0 && !fallback)
		goto pass;
	if (race(fd, addr, len, flags, &m, cfg, &rc) == SCIO_DONE) {
		if (rc == 0)
			errno = saved;
		return rc;
	}
pass:
	errno = saved;
	rc = scio_sys.connect(fd, addr, len);
	if (rc < 0 && (errno == ENETUNREACH || errno == EHOSTUNREACH)) {
		rc = scio_nat64_connect(fd, addr, len, errno);  /* IPv6-only host? */
		if (rc == 0)
			errno = saved;
	}
	return rc;
}
