/*
 * telar-sys.c - signals, the clock and the descriptor limit.
 *
 * SIGTERM, SIGINT and SIGCHLD are blocked except while telar waits in
 * ppoll()/epoll_pwait(), so their handlers only set flags that the loops
 * look at right after the wait returns: no race between checking a flag
 * and going to sleep, and no work in signal context.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "telar.h"

volatile sig_atomic_t telar_stop_requested;
volatile sig_atomic_t telar_child_exited;

static void on_stop_signal(int sig)
{
	(void)sig;
	telar_stop_requested = 1;
}

static void on_child_signal(int sig)
{
	(void)sig;
	telar_child_exited = 1;
}

static int set_handler(int sig, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = sig == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : SA_RESTART;
	return sigaction(sig, &sa, NULL);
}

int signals_setup(sigset_t *wait_mask)
{
	sigset_t handled;

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &handled, wait_mask) == -1)
		return -1;
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGCHLD);

	if (set_handler(SIGPIPE, SIG_IGN) == -1 ||
	    set_handler(SIGTERM, on_stop_signal) == -1 ||
	    set_handler(SIGINT, on_stop_signal) == -1 ||
	    set_handler(SIGCHLD, on_child_signal) == -1)
		return -1;
	return 0;
}

void signals_reset_in_child(void)
{
	sigset_t none;

	/* SIGPIPE stays ignored: a client that goes away is an EPIPE. */
	set_handler(SIGTERM, SIG_DFL);
	set_handler(SIGINT, SIG_DFL);
	set_handler(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

int64_t now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long raise_fd_limit(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t target = want;

		if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
			target = rl.rlim_max;
		if (target > rl.rlim_cur) {
			struct rlimit raised = { target, rl.rlim_max };

			if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
				rl.rlim_cur = target;
		}
	}
	return rl.rlim_cur == RLIM_INFINITY ? want : (unsigned long)rl.rlim_cur;
}
