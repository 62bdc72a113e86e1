/*
 * signals.c - signals, timeouts and EINTR: when a signal ends a race, the
 * program's SO_SNDTIMEO, and the program's own connect bounded by a
 * temporary SO_SNDTIMEO with the thread's signals held.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include "internal.h"
#include "sys.h"
#include "core.h"

struct bounded {
	int fd;
	const struct timeval *mine;  /* the program's SO_SNDTIMEO */
	sigset_t mask;               /* the program's signal mask */
	int alone;                   /* no other thread can touch fd */
};

/* SO_SNDTIMEO in milliseconds; -1 when unset (0 means none there). */
int timeout_ms_of(const struct timeval *tv)
{
	if (tv->tv_sec == 0 && tv->tv_usec == 0)
		return -1;
	return scio_timeval_ms(tv);
}

/* The program's SO_SNDTIMEO as it set it. */
int own_send_timeout(int fd, struct timeval *tv)
{
	socklen_t len = sizeof(*tv);
	return getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, &len);
}

/* SO_SNDTIMEO bounds a blocking connect; -1 when unset. */
int send_timeout_ms(int fd)
{
	struct timeval tv;
	return own_send_timeout(fd, &tv) < 0 ? -1 : timeout_ms_of(&tv);
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

int interrupted(void *arg)
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

static void bounded_done(void *arg)
{
	const struct bounded *b = arg;
	setsockopt(b->fd, SOL_SOCKET, SO_SNDTIMEO, b->mine, sizeof(*b->mine));
	pthread_sigmask(SIG_SETMASK, &b->mask, NULL);
}

/* glibc's word that this is the process's only thread (weak: musl has
 * none, and every process then counts as threaded). */
extern char __libc_single_threaded __attribute__((weak));

static int threaded(void)
{
	return !&__libc_single_threaded || !__libc_single_threaded;
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
 * *cookie names the socket the connect ran on, for the race to check
 * that fd still names it (another thread may close fd meanwhile): taken
 * before the connect when other threads run, else only when the connect
 * did not succeed, still with signals held, when nothing but this thread
 * could have touched fd yet (0 when connected or unknown).
 *
 * How long it may take is the engine's rule (engine_own_bound).
 */
int own_connect_bounded(int fd, const struct sockaddr *dst, int64_t bound_us,
			const struct timeval *mine, int *interrupted_by, uint64_t *cookie)
{
	struct timeval limit = { bound_us / 1000000, bound_us % 1000000 };
	struct bounded b = { .fd = fd, .mine = mine };
	sigset_t all;
	int err;

	*interrupted_by = 0;
	*cookie = 0;
	sigfillset(&all);
	if (pthread_sigmask(SIG_BLOCK, &all, &b.mask) != 0)
		return -1;
	b.alone = !threaded();
	if (!b.alone)
		*cookie = scio_socket_cookie(fd);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0) {
		pthread_sigmask(SIG_SETMASK, &b.mask, NULL);
		return -1;
	}
	pthread_cleanup_push(bounded_done, &b);
	err = scio_sys.connect(fd, dst, scio_sockaddr_len(dst)) == 0 ? 0 : errno;
	if (err && b.alone)
		*cookie = scio_socket_cookie(fd);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, mine, sizeof(*mine));
	if (err)
		*interrupted_by = held_signal_interrupts(&b.mask, timeout_ms_of(mine) >= 0);
	pthread_cleanup_pop(0);
	pthread_sigmask(SIG_SETMASK, &b.mask, NULL);  /* held handlers run */
	return err;
}
