/*
 * intercept.c - the shim's connect(): decide whether a connect can be
 * raced, race it over the other addresses of the same getaddrinfo answer,
 * and leave the program's fd exactly as a plain connect would have, only
 * connected sooner.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "addrs.h"
#include "answers.h"
#include "config.h"
#include "history.h"
#include "intercept.h"
#include "internal.h"
#include "log.h"
#include "orphans.h"
#include "pending.h"
#include "resolve.h"
#include "scio.h"
#include "sockopts.h"
#include "sys.h"

static const char *errdesc(int err)
{
#ifdef __GLIBC__
	const char *d = strerrordesc_np(err);
#else
	const char *d = strerror(err);  /* musl's: a constant, never NULL */
#endif
	return d ? d : "unknown error";
}

struct attempt_ctx {
	const struct scio_match *m;
	int own_fd;
	int family;         /* of the program's socket */
	int captured;       /* opts holds the program's options */
	size_t late_seen;   /* late addresses already handed to the race */
	int sndtimeo;       /* the program's socket has SO_SNDTIMEO */
	struct scio_sockopts opts;
};

/* A TCP socket (the only kind the shim races); *flags its status flags. */
static int tcp_socket(int fd, int *flags)
{
	int proto = 0;
	socklen_t plen = sizeof(proto);

	*flags = fcntl(fd, F_GETFL);
	if (*flags < 0)
		return 0;
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) == 0 &&
	       proto == IPPROTO_TCP;
}

/* Of dst's family and bound to no local address or port yet. */
static int unbound_socket(int fd, int family)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    local.ss_family != family)
		return 0;
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&local;
		return in->sin_port == 0 && in->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	const struct sockaddr_in6 *in6 = (const void *)&local;
	return in6->sin6_port == 0 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
}

/* SO_SNDTIMEO in milliseconds; -1 when unset. */
static int timeout_ms_of(const struct timeval *tv)
{
	if (tv->tv_sec == 0 && tv->tv_usec == 0)
		return -1;
	int64_t ms = (int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* SO_SNDTIMEO bounds a blocking connect; -1 when unset. */
static int send_timeout_ms(int fd)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) < 0)
		return -1;
	return timeout_ms_of(&tv);
}

static int prepare_attempt(int fd, const struct sockaddr *dst, void *arg)
{
	struct attempt_ctx *c = arg;
	(void)dst;
	if (!c->captured) {
		if (scio_sockopts_capture(c->own_fd, c->family, &c->opts) < 0)
			c->opts.n = 0;
		c->captured = 1;
	}
	int failed = scio_sockopts_apply(fd, dst->sa_family, &c->opts);
	if (failed)
		scio_log(SCIO_LOG_DEBUG, "%d socket option(s) could not be copied", failed);
	return 0;
}

/*
 * A blocking connect() is restarted after a handler installed with
 * SA_RESTART and fails with EINTR otherwise.  poll() cannot say which
 * signal came, so the race stops when any signal that could have come
 * lacks SA_RESTART: one that is caught, not blocked in this thread, and
 * not a fault signal (SIGSEGV and friends, whose handlers crash reporters
 * and sanitizers install, come from faults, not from outside).  When that
 * guess gives EINTR too eagerly, a program that retries its connect (or
 * waits for the fd) resumes the race: see scio_pending_add in race().
 */
static int is_fault_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS;
}

static int interrupted(void *arg)
{
	const struct attempt_ctx *c = arg;
	sigset_t blocked;
	/* with SO_SNDTIMEO the kernel cannot restart a connect: EINTR */
	if (c->sndtimeo)
		return 1;
	if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0)
		sigemptyset(&blocked);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || is_fault_signal(sig) ||
		    sigismember(&blocked, sig) == 1 || sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return 1;
	}
	return 0;
}

/*
 * The race's candidates: the program's address first (it is the program's
 * choice, and its own socket needs no swap when it wins), then the rest of
 * the answer alternating families (RFC 8305 section 4), less the addresses
 * an earlier race of the same fallback loop already saw fail.  Any answer
 * size: the usual one fits the stack (no malloc on a connect path that a
 * signal handler may take); a larger one goes to the heap.
 */
#define STACK_CANDIDATES 16

struct cands {
	struct sockaddr_storage *a;  /* n candidates, then room for n more */
	int *outcome;                /* each one's error after the race */
	size_t n;
	void *heap;
	struct sockaddr_storage stack[2 * STACK_CANDIDATES];
	int stack_outcome[STACK_CANDIDATES];
};

static int cands_fetch(struct cands *c, const struct scio_match *m)
{
	size_t cap = m->n;
	c->heap = NULL;
	c->a = c->stack;
	c->outcome = c->stack_outcome;
	if (cap > STACK_CANDIDATES) {
		c->heap = malloc(cap * (2 * sizeof(*c->a) + sizeof(*c->outcome)));
		if (!c->heap)
			return -1;
		c->a = c->heap;
		c->outcome = (int *)(c->a + 2 * cap);
	}
	c->n = scio_answers_candidates(scio_answers_global(), m, c->a, cap);
	if (c->n == 0) {
		free(c->heap);
		return -1;  /* the answer is gone */
	}
	memset(c->outcome, 0, c->n * sizeof(*c->outcome));
	int other = c->a[0].ss_family == AF_INET6 ? AF_INET : AF_INET6;
	scio_interleave(c->a + 1, c->n - 1, other, c->a + c->n);
	return 0;
}

static void cands_free(struct cands *c)
{
	free(c->heap);
}

/*
 * On the program's AF_INET6 socket, IPv4 candidates race as IPv4-mapped
 * addresses, so that a winner keeps the program's family: getpeername,
 * getsockname and IPv6 socket options then behave as for a program that
 * connected the socket to ::ffff:a.b.c.d itself.  Not on an IPV6_V6ONLY
 * socket, which refuses them.
 */
static void map_for_socket(int sock, int family, struct sockaddr_storage *cand,
			   size_t n)
{
	int v6only = 1;
	socklen_t len = sizeof(v6only);
	if (family != AF_INET6 ||
	    getsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 || v6only)
		return;
	for (size_t i = 0; i < n; i++)
		scio_map_v4(&cand[i]);
}

/* The report speaks of the addresses of the answer: history, the log and
 * the fallback loop's replay know IPv4 addresses as IPv4. */
static void unmap_report(struct scio_report *rep)
{
	for (size_t k = 0; k < rep->count; k++) {
		struct scio_attempt *a = &rep->attempt[k];
		scio_unmap_v4(&a->addr);
		a->addrlen = scio_sockaddr_len((const struct sockaddr *)&a->addr);
	}
}

/* Only a socket that no address of its own family could connect changes
 * family: an AF_INET socket won by IPv6, an IPV6_V6ONLY one by IPv4. */
static void log_family_change(int fd, int family, int winner)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(winner, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family == family)
		return;
	scio_log(SCIO_LOG_INFO, "fd %d is now an %s socket: an address of the "
		 "other family won", fd, ss.ss_family == AF_INET6 ? "AF_INET6" : "AF_INET");
}

/* Addresses a late DNS answer added to the program's answer mid-race. */
static size_t late_addresses(void *arg, struct sockaddr_storage *out, size_t cap,
			     int *more)
{
	struct attempt_ctx *c = arg;
	size_t n = scio_answers_more(scio_answers_global(), c->m, c->m->n + c->late_seen,
				     out, cap, more, scio_now_us());
	c->late_seen += n;
	return n;
}

/*
 * The race works on its own reference to the program's socket, never on
 * the number: another thread may close fd meanwhile (a program bug) and
 * the number may then name someone else's file, which the race must not
 * poll, connect, change or replace.  The reference belongs to the race's
 * level (orphans.h), so a siglongjmp out of the race does not leak it.
 * Without a spare fd the race uses fd itself.
 */
struct held {
	int fd;           /* the program's */
	int sock;         /* the race's reference, or fd */
	int level;
	uint64_t cookie;  /* the socket's SO_COOKIE, 0 when unknown */
};

static struct held hold_socket(int fd)
{
	struct held h = { .fd = fd, .level = scio_orphans_enter() };
	h.sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (h.sock < 0)
		h.sock = fd;
	else
		h.cookie = scio_orphans_add(h.level, h.sock);
	return h;
}

/* pthread_cancel acted inside the race: the race's sockets (the
 * reference among them) are closed, the program's socket keeps its
 * status flags, as after a cancelled blocking connect. */
struct cancel_ctx {
	const struct held *h;
	int flags;        /* the program's status flags to put back, or -1 */
	void *heap;       /* the candidates, when they did not fit the stack */
};

static void race_cancelled(void *arg)
{
	const struct cancel_ctx *c = arg;
	if (c->flags >= 0)
		fcntl(c->h->sock, F_SETFL, c->flags);
	scio_orphans_cancelled(c->h->level);
	free(c->heap);
}

static void release_socket(const struct held *h)
{
	int saved = errno;
	if (h->sock != h->fd) {
		close(h->sock);
		scio_orphans_forget(h->level, h->sock);
	}
	scio_orphans_leave(h->level);
	errno = saved;
}

/* Does the program's fd still name the socket the race held?  (Its
 * cookie is unique for the kernel's lifetime; without one, the inode
 * number, which the reference keeps alive.)  Checked before the number
 * is touched again; a close in the few system calls between this check
 * and dup3 cannot be seen by anyone. */
static int same_socket(const struct held *h)
{
	struct stat a, b;
	if (h->cookie)
		return scio_socket_cookie(h->fd) == h->cookie;
	return fstat(h->fd, &a) == 0 && fstat(h->sock, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int still_names(const struct held *h)
{
	if (h->sock == h->fd || same_socket(h))
		return 1;
	scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during its race; "
		 "nothing is put in its place", h->fd);
	return 0;
}

/* Moves the winner onto the program's fd with the program's flags. */
static int adopt_winner(int fd, int winner, int flags)
{
	int fdflags = fcntl(fd, F_GETFD);
	if (fdflags < 0 || fcntl(winner, F_SETFL, flags) < 0)
		return -1;
	if (flags & O_ASYNC) {
		struct f_owner_ex owner;
		if (fcntl(fd, F_GETOWN_EX, &owner) == 0)
			fcntl(winner, F_SETOWN_EX, &owner);
	}
	if (dup3(winner, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -1;
	close(winner);
	return 0;
}

/* What the program's own connect would have returned. */
static int own_outcome(const struct scio_report *rep,
		       const struct sockaddr *own, int race_error)
{
	if (race_error == EINTR)
		return EINTR;
	for (size_t k = 0; k < rep->count; k++) {
		const struct scio_attempt *a = &rep->attempt[k];
		if (!scio_same_addr((const struct sockaddr *)&a->addr, own))
			continue;
		if (a->end_us < 0 && race_error == ETIMEDOUT)
			return EINPROGRESS;  /* SO_SNDTIMEO expired mid-connect */
		return a->error;
	}
	/* the deadline came before its turn: a timed-out connect */
	return race_error == ETIMEDOUT ? EINPROGRESS : race_error;
}

static void log_race(const struct scio_match *m, const struct scio_report *rep,
		     int result)
{
	if (!scio_log_enabled(SCIO_LOG_INFO))
		return;
	char line[900] = "", addr[80];
	size_t used = 0;
	for (size_t i = 0; i < rep->count && used < sizeof(line) - 100; i++) {
		const struct scio_attempt *a = &rep->attempt[i];
		scio_addr_str((const struct sockaddr *)&a->addr, addr, sizeof(addr));
		int w = snprintf(line + used, sizeof(line) - used,
				 "%s%s (IPv%c) at +%lld ms: %s",
				 i ? "; " : "", addr,
				 a->addr.ss_family == AF_INET6 ? '6' : '4',
				 (long long)(a->start_us / 1000),
				 a->won ? "won" : a->end_us < 0 ? "cancelled" :
				 errdesc(a->error));
		if (w > 0)
			used += (size_t)w;
	}
	unsigned port = ntohs(m->port);
	if (result == 0) {
		const struct scio_attempt *w = &rep->attempt[rep->winner];
		scio_addr_str((const struct sockaddr *)&w->addr, addr, sizeof(addr));
		scio_log(SCIO_LOG_INFO, "%s port %u: connected to %s over IPv%c in %lld ms [%s]",
			 m->name, port, addr, w->addr.ss_family == AF_INET6 ? '6' : '4',
			 (long long)(rep->elapsed_us / 1000), line);
	} else {
		scio_log(SCIO_LOG_INFO, "%s port %u: failed (%s) after %lld ms [%s]",
			 m->name, port, errdesc(result),
			 (long long)(rep->elapsed_us / 1000), line);
	}
}

/* Network outcomes a fallback connect to the same address would repeat;
 * local trouble (EMFILE, ENOBUFS, ...) is not replayed. */
static int replayable(int err)
{
	switch (err) {
	case ECONNREFUSED: case ETIMEDOUT: case EHOSTUNREACH:
	case ENETUNREACH: case EINPROGRESS: case EACCES: case EADDRNOTAVAIL:
		return 1;
	default:
		return 0;
	}
}

/* The fallback loop that follows a failed race gets each address's
 * outcome at once instead of waiting for it again. */
static void remember_failure(const struct scio_match *m, struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (!replayable(c->outcome[i]))
			c->outcome[i] = 0;
	scio_answers_failed(scio_answers_global(), m, c->a, c->outcome, c->n,
			    scio_now_us());
}

/* History: addresses whose destination or network failed recently go
 * after the others (they are still tried, so recovery is noticed).
 * Returns the new index of candidate 0 (the program's own). */
static size_t history_order(struct cands *c)
{
	struct sockaddr_storage *bad = c->a + c->n;
	size_t ng = 0, nb = 0;
	int own_bad = 0;
	int64_t now = scio_wall_ms();
	for (size_t i = 0; i < c->n; i++) {
		if (scio_history_broken((struct sockaddr *)&c->a[i], now)) {
			own_bad |= i == 0;
			bad[nb++] = c->a[i];
		} else {
			c->a[ng++] = c->a[i];
		}
	}
	memcpy(c->a + ng, bad, nb * sizeof(*bad));
	return own_bad && ng > 0 ? ng : 0;
}

/* What race() decided before the race: the candidates, and what the
 * program's own connect has done so far. */
struct plan {
	struct cands *c;
	size_t own;
	int timeout_ms;     /* the program's SO_SNDTIMEO, -1 for none */
	int64_t started;    /* when the own connect began, 0: not yet */
	int own_err;        /* its error when it already failed */
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

static int race_held(const struct held *h, int flags, const struct scio_match *m,
		     const struct scio_config *cfg, struct plan *p)
{
	int fd = h->fd, sock = h->sock;
	struct attempt_ctx ctx = { .m = m, .own_fd = sock, .family = p->c->a[p->own].ss_family,
				   .sndtimeo = p->timeout_ms >= 0 };
	struct scio_report rep = { .count = 0 };
	struct scio_race r = {
		.addrs = p->c->a, .naddrs = p->c->n, .primary = p->own,
		.own_fd = sock, .own_index = p->own,
		.own_started = p->started != 0, .started_us = p->started,
		.connect_delay_ms = cfg->connect_delay_ms,
		.timeout_ms = p->timeout_ms,
		.prepare = prepare_attempt, .prepare_arg = &ctx,
		.interrupted = interrupted,
		.late = m->pending ? late_addresses : NULL, .late_arg = &ctx,
		.report = &rep, .outcome = p->c->outcome,
	};

	if (fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0)
		return -2;  /* cannot race: pass through */
	map_for_socket(sock, ctx.family, p->c->a, p->c->n);
	int64_t start = p->started ? p->started : scio_now_us();
	int winner = scio_race_connect_in(&r, h->level);
	int err = errno;
	fcntl(sock, F_SETFL, flags);
	unmap_report(&rep);
	for (size_t i = 0; i < p->c->n; i++)
		scio_unmap_v4(&p->c->a[i]);

	if (winner < 0 && rep.count == 0)
		return -2;  /* the race could not even start (no memory) */
	if (p->started)
		own_error_into(&rep, p, sock);
	scio_history_record(&rep, scio_wall_ms());
	int ours = still_names(h);
	if (winner >= 0 && winner != sock) {
		if (!ours) {
			/* the winner has nowhere to go */
			close(winner);
			log_race(m, &rep, EBADF);
			errno = EBADF;
			return -1;
		}
		log_family_change(fd, ctx.family, winner);
		if (adopt_winner(fd, winner, flags) < 0) {
			err = errno;
			close(winner);
			scio_log(SCIO_LOG_WARN, "could not move the winning socket onto fd %d: %s",
				 fd, errdesc(err));
			errno = err;
			return -1;
		}
	}
	if (winner >= 0) {
		log_race(m, &rep, 0);
		return 0;
	}
	/* what the program's own connect would have returned, closed fd
	 * or not (the kernel finishes a connect whose fd is closed) */
	int own_err = own_outcome(&rep, (struct sockaddr *)&p->c->a[p->own], err);
	log_race(m, &rep, own_err);
	if (own_err == EINTR && ours)
		scio_pending_add(fd, m, start);  /* a retried connect resumes */
	else
		remember_failure(m, p->c);
	errno = own_err;
	return -1;
}

/* The program's SO_SNDTIMEO as it set it. */
static int own_send_timeout(int fd, struct timeval *tv)
{
	socklen_t len = sizeof(*tv);
	return getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, &len);
}

/* Would one of the signals that came while they were held have
 * interrupted a blocking connect?  A caught one without SA_RESTART would;
 * with SO_SNDTIMEO set, any caught one (the kernel cannot restart it). */
static int held_signal_interrupts(const sigset_t *program_mask, int sndtimeo)
{
	sigset_t pend;
	if (sigpending(&pend) != 0)
		return 0;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigismember(&pend, sig) != 1 || sigismember(program_mask, sig) == 1 ||
		    sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (sndtimeo || !(sa.sa_flags & SA_RESTART))
			return 1;
	}
	return 0;
}

struct bounded {
	int fd;
	const struct timeval *mine;  /* the program's SO_SNDTIMEO */
	sigset_t mask;               /* the program's signal mask */
};

static void bounded_done(void *arg)
{
	const struct bounded *b = arg;
	setsockopt(b->fd, SOL_SOCKET, SO_SNDTIMEO, b->mine, sizeof(*b->mine));
	pthread_sigmask(SIG_SETMASK, &b->mask, NULL);
}

/*
 * Most connects finish within the Connection Attempt Delay and need no
 * race at all.  So the program's own connect goes first as the program
 * asked, blocking, with SO_SNDTIMEO set for the time of the call: 0 when
 * it connected, EINPROGRESS when the time passed (the connect goes on,
 * and the race starts from there), or its error.  -1 when the timeout
 * could not be set.
 *
 * The temporary SO_SNDTIMEO must never outlive the call: signals are held
 * during it, so no handler can leave it with siglongjmp (one that came is
 * delivered when the call ends, at most 3/4 of the delay later, and
 * *interrupted says whether it interrupts the connect), and a
 * cancellation of the thread puts it back through a cleanup handler.
 *
 * The kernel's timer wheel lets such a timeout fire up to 1/8 late (282
 * ms for 250 here), so the call gets 3/4 of the delay and the race's own
 * poll, which is precise, waits for the rest.
 */
static int own_connect_bounded(int fd, const struct sockaddr *dst, int delay_ms,
			       const struct timeval *mine, int *interrupted_by)
{
	struct timeval limit = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	struct bounded b = { .fd = fd, .mine = mine };
	sigset_t all;
	int err;

	*interrupted_by = 0;
	sigfillset(&all);
	if (pthread_sigmask(SIG_BLOCK, &all, &b.mask) != 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0) {
		pthread_sigmask(SIG_SETMASK, &b.mask, NULL);
		return -1;
	}
	pthread_cleanup_push(bounded_done, &b);
	err = scio_sys.connect(fd, dst, scio_sockaddr_len(dst)) == 0 ? 0 : errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, mine, sizeof(*mine));
	if (err)
		*interrupted_by = held_signal_interrupts(&b.mask, timeout_ms_of(mine) >= 0);
	pthread_cleanup_pop(0);
	pthread_sigmask(SIG_SETMASK, &b.mask, NULL);  /* held handlers run */
	return err;
}

/* The own connect won before any race: history and -v still hear of it. */
static void own_won(const struct scio_match *m, const struct plan *p, int64_t t0)
{
	struct scio_report rep = { .count = 1, .candidates = p->c->n, .winner = 0,
				   .elapsed_us = scio_now_us() - t0 };
	rep.attempt[0] = (struct scio_attempt){
		.addr = p->c->a[p->own],
		.addrlen = scio_sockaddr_len((const struct sockaddr *)&p->c->a[p->own]),
		.end_us = rep.elapsed_us, .won = 1 };
	scio_history_record(&rep, scio_wall_ms());
	log_race(m, &rep, 0);
}

static int race_cands(int fd, int flags, const struct scio_match *m,
		      const struct scio_config *cfg, struct cands *c)
{
	struct plan p = { .c = c };
	p.own = history_order(c);
	struct timeval mine;
	if (own_send_timeout(fd, &mine) < 0)
		return -2;
	p.timeout_ms = timeout_ms_of(&mine);

	/* The own connect goes first unless history put another address
	 * before it or the program's own timeout is shorter than the delay. */
	uint64_t cookie = 0;
	if (p.own == 0 && (p.timeout_ms < 0 || p.timeout_ms > cfg->connect_delay_ms)) {
		cookie = scio_socket_cookie(fd);
		int64_t t0 = scio_now_us();
		const struct sockaddr *dst = (const struct sockaddr *)&p.c->a[0];
		int bound = cfg->connect_delay_ms * 3 / 4;
		int signalled;
		int err = own_connect_bounded(fd, dst, bound > 0 ? bound : 1, &mine,
					      &signalled);
		if (err == 0) {
			own_won(m, &p, t0);
			return 0;
		}
		if (signalled && (err == EINPROGRESS || err == EINTR)) {
			scio_pending_add(fd, m, t0);  /* a retried connect resumes */
			errno = EINTR;
			return -1;
		}
		if (err > 0) {
			p.started = t0;
			if (err != EINPROGRESS && err != EINTR)
				p.own_err = err;  /* failed at once: the race goes on */
		}
	}
	struct held h = hold_socket(fd);
	int rc;
	if (p.started && (h.sock == h.fd ? fcntl(fd, F_GETFD) < 0 :
			  cookie && h.cookie != cookie)) {
		/* another thread closed fd while the own connect ran */
		scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during "
			 "its race; nothing is put in its place", fd);
		errno = EBADF;
		rc = -1;
	} else {
		struct cancel_ctx cc = { .h = &h, .flags = flags, .heap = p.c->heap };
		pthread_cleanup_push(race_cancelled, &cc);
		rc = race_held(&h, flags, m, cfg, &p);
		pthread_cleanup_pop(0);
	}
	release_socket(&h);
	return rc;
}

static __attribute__((noinline)) int race(int fd, int flags,
					   const struct scio_match *m,
					   const struct scio_config *cfg)
{
	struct cands c;
	if (cands_fetch(&c, m) < 0)
		return -2;
	int rc = race_cands(fd, flags, m, cfg, &c);
	cands_free(&c);
	return rc;
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

/* The destination, when it is an INET/INET6 address worth looking up.
 * Pointers into the first page are left to the kernel (EFAULT). */
static int usable_destination(const struct sockaddr *addr, socklen_t len)
{
	if ((uintptr_t)addr < 4096 || len < sizeof(struct sockaddr_in))
		return 0;
	return addr->sa_family == AF_INET ||
	       (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6));
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
	int own_race = scio_pending_drop_answer(m->id);
	int rc = scio_sys.connect(fd, addr, len);
	int err = errno;
	if (own_race)
		scio_log(SCIO_LOG_DEBUG, "%s: the program races on its own; left alone",
			 m->name);
	else if (rc < 0 && err == EINPROGRESS)
		scio_pending_add(fd, m, now);
	errno = err;
	return rc;
}

static enum scio_wait_outcome wait_race(int fd, int timeout_ms, int blocking);

/* A blocking connect() again on a socket whose race a signal interrupted:
 * the race resumes where it stopped. */
static int resume_connect(int fd)
{
	switch (wait_race(fd, send_timeout_ms(fd), 1)) {
	case SCIO_WAIT_WON:
		return 0;
	case SCIO_WAIT_TIMEOUT:
		errno = EINPROGRESS;
		return -1;
	case SCIO_WAIT_INTERRUPTED:
		errno = EINTR;
		return -1;
	case SCIO_WAIT_CLOSED:  /* by another thread, during the race */
		errno = EBADF;
		return -1;
	case SCIO_WAIT_FAILED: {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		errno = err ? err : ECONNREFUSED;
		return -1;
	}
	default:
		return -2;
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
	    !(flags & O_NONBLOCK) && (rc = resume_connect(fd)) != -2)
		return rc;
	/* cheapest first: most connects leave after a table lookup */
	if (!scio_answers_match(scio_answers_global(), addr, scio_now_us(), &m) ||
	    !tcp_socket(fd, &flags) || !unbound_socket(fd, addr->sa_family))
		goto pass;
	if (flags & O_NONBLOCK) {
		if (m.asked != 0)
			goto pass;
		errno = saved;
		return connect_later(fd, addr, len, &m);
	}
	int fallback = scio_answers_take_replay(scio_answers_global(), &m,
						scio_now_us());
	if (m.replay_error)
		return replay(&m, addr);
	/* the program's first choice, or the next step of a failed race's
	 * fallback loop: anything else is the program's own business */
	if (m.asked != 0 && !fallback)
		goto pass;
	rc = race(fd, flags, &m, cfg);
	if (rc == 0)
		errno = saved;
	if (rc != -2)
		return rc;
pass:
	errno = saved;
	return scio_sys.connect(fd, addr, len);
}

/* The family to list first: the preferred one, unless history says its
 * first address (or network) fails and the other family's does not. */
static int history_prefer(const struct addrinfo *res, int prefer)
{
	const struct sockaddr *mine = NULL, *other = NULL;
	for (const struct addrinfo *ai = res; ai && !(mine && other); ai = ai->ai_next) {
		if (ai->ai_family == prefer && !mine)
			mine = ai->ai_addr;
		else if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
			 ai->ai_family != prefer && !other)
			other = ai->ai_addr;
	}
	int64_t now = scio_wall_ms();
	if (mine && other && scio_history_broken(mine, now) &&
	    !scio_history_broken(other, now))
		return other->sa_family;
	return prefer;
}

/* A host name for the resolver, not an address written out: the lookup
 * of a literal names one address, which the program wants and no other. */
static int names_a_host(const char *node, const struct addrinfo *hints)
{
	struct in_addr v4;
	if (hints && (hints->ai_flags & AI_NUMERICHOST))
		return 0;
	return !strchr(node, ':') && inet_aton(node, &v4) == 0;
}

/* What the shim records of a lookup for its connects. */
static int answer_flags(const char *node, const struct addrinfo *hints, int pending)
{
	int family = hints ? hints->ai_family : AF_UNSPEC;
	int socktype = hints ? hints->ai_socktype : 0;
	int raceable = family == AF_UNSPEC && names_a_host(node, hints) &&
		       (socktype == 0 || socktype == SOCK_STREAM);
	return (raceable ? SCIO_ANSWER_RACEABLE : 0) | (pending ? SCIO_ANSWER_PENDING : 0);
}

int scio_intercept_getaddrinfo(const char *node, const char *service,
			       const struct addrinfo *hints,
			       struct addrinfo **res)
{
	if (scio_locks_held)  /* a signal handler's call, inside the library */
		return scio_sys.getaddrinfo(node, service, hints, res);
	int saved = errno;
	const struct scio_config *cfg = scio_config();
	int rc, pending = 0, raced = 0;

	if (!cfg->disabled && scio_resolve_worth_racing(node, hints)) {
		struct scio_resolve_opts o = {
			.delay_ms = cfg->resolution_delay_ms,
			.prefer_family = cfg->prefer_family,
			.late = scio_answers_late_global,
		};
		rc = scio_resolve(node, service, hints, &o, res);
		pending = o.pending;
		raced = 1;
	} else {
		errno = saved;
		rc = scio_sys.getaddrinfo(node, service, hints, res);
	}
	if (rc != 0 || !node || !res || !*res || cfg->disabled)
		return rc;
	saved = errno;
	int family = hints ? hints->ai_family : AF_UNSPEC;
	if (family == AF_UNSPEC) {
		/* RFC 8305 section 4: interleave after the system's sort,
		 * starting with the family it put first */
		int first = cfg->prefer_family != AF_UNSPEC ? cfg->prefer_family
			    : scio_first_family(*res, !raced);
		*res = scio_addrinfo_interleave(*res, history_prefer(*res, first));
	}
	scio_answers_record(scio_answers_global(), node, *res,
			    answer_flags(node, hints, pending), scio_now_us());
	errno = saved;
	return rc;
}

/* ---- the race of a pending non-blocking connect, inside poll/select ---- */

static int always_interrupted(void *arg)
{
	(void)arg;
	return 1;  /* poll and select are never restarted after a handler */
}

static enum scio_wait_outcome wait_held(const struct held *h, struct scio_pending *p,
				       struct cands *c, int timeout_ms, int blocking,
				       const sigset_t *sigmask)
{
	const struct scio_config *cfg = scio_config();
	int fd = h->fd, sock = h->sock;
	struct sockaddr_storage *cand = c->a;
	size_t n = c->n;
	struct attempt_ctx ctx = { .m = &p->m, .own_fd = sock, .family = cand[0].ss_family,
				   .sndtimeo = blocking && timeout_ms >= 0 };
	struct scio_report rep = { .count = 0 };
	int64_t waited = (scio_now_us() - p->started) / 1000;
	struct scio_race r = {
		.addrs = cand, .naddrs = n, .primary = 0,
		.own_fd = sock, .own_index = 0, .own_started = 1, .started_us = p->started,
		.connect_delay_ms = cfg->connect_delay_ms,
		.timeout_ms = timeout_ms < 0 ? -1 : timeout_ms + (int)waited,
		.prepare = prepare_attempt, .prepare_arg = &ctx,
		.interrupted = blocking ? interrupted : always_interrupted,
		.late = p->m.pending ? late_addresses : NULL, .late_arg = &ctx,
		.report = &rep,
	};
	int flags = fcntl(sock, F_GETFL);
	map_for_socket(sock, ctx.family, cand, n);
	int winner = flags < 0 ? -1 : scio_race_connect_masked(&r, h->level, sigmask);
	int err = errno;
	unmap_report(&rep);
	if (winner < 0 && rep.count == 0)
		return SCIO_WAIT_NOT_OURS;  /* no race possible: the plain wait */
	scio_history_record(&rep, scio_wall_ms());
	if (!still_names(h)) {
		if (winner >= 0 && winner != sock)
			close(winner);
		return SCIO_WAIT_CLOSED;
	}
	if (winner >= 0 && winner != sock)
		log_family_change(fd, ctx.family, winner);
	if (winner >= 0 && winner != sock && adopt_winner(fd, winner, flags) < 0) {
		close(winner);
		winner = -1;
		err = EIO;
	}
	if (winner >= 0) {
		log_race(&p->m, &rep, 0);
		return SCIO_WAIT_WON;
	}
	if (err == EINTR) {
		scio_pending_put_back(p);
		return SCIO_WAIT_INTERRUPTED;
	}
	log_race(&p->m, &rep, err);
	/* the program's own attempt still under way: its wait timed out */
	int own_running = rep.count > 0 && rep.attempt[0].end_us < 0;
	return own_running ? SCIO_WAIT_TIMEOUT : SCIO_WAIT_FAILED;
}

static __attribute__((noinline)) enum scio_wait_outcome
wait_race_masked(int fd, int timeout_ms, int blocking, const sigset_t *sigmask)
{
	if (scio_locks_held)
		return SCIO_WAIT_NOT_OURS;  /* a handler's wait, inside the library */
	const struct scio_config *cfg = scio_config();
	struct scio_pending p;
	/* A wait shorter than the delay is a program with its own schedule
	 * (curl waits 200 ms before its own second attempt): not ours.  The
	 * entry stays; the program's second connect to the answer drops it. */
	if (!blocking && timeout_ms >= 0 && timeout_ms < cfg->connect_delay_ms)
		return SCIO_WAIT_NOT_OURS;
	if (!scio_pending_take(fd, &p))
		return SCIO_WAIT_NOT_OURS;
	int saved = errno;
	struct cands c;
	if (cands_fetch(&c, &p.m) < 0)
		return SCIO_WAIT_NOT_OURS;  /* the answer is gone: the plain wait */
	struct held h = hold_socket(fd);
	struct cancel_ctx cc = { .h = &h, .flags = -1, .heap = c.heap };
	enum scio_wait_outcome o;
	pthread_cleanup_push(race_cancelled, &cc);
	o = wait_held(&h, &p, &c, timeout_ms, blocking, sigmask);
	pthread_cleanup_pop(0);
	release_socket(&h);
	cands_free(&c);
	errno = saved;
	return o;
}

static enum scio_wait_outcome wait_race(int fd, int timeout_ms, int blocking)
{
	return wait_race_masked(fd, timeout_ms, blocking, NULL);
}

enum scio_wait_outcome scio_wait_race(int fd, int timeout_ms, const sigset_t *sigmask)
{
	return wait_race_masked(fd, timeout_ms, 0, sigmask);
}
