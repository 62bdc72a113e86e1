/*
 * sigmask_probe.c - ppoll and pselect with a signal mask, for the shim
 * tests: SIGUSR1 is blocked and pending, the wait's mask unblocks it, so
 * the wait must end at once with EINTR, the handler having run inside it.
 *
 *   sigmask_probe ppoll|pselect race HOST PORT TIMEOUT_MS
 *        connect non-blocking (a pending race), wait for that fd
 *   sigmask_probe ppoll|pselect race-again HOST PORT TIMEOUT_MS
 *        the same, then waits again (nothing pending): "again rc=.."
 *   sigmask_probe ppoll|pselect other-fd HOST PORT TIMEOUT_MS
 *        connect non-blocking, then wait for a pipe's read end to become
 *        writable (never): a wait the shim looks at and leaves alone
 *
 * Prints "wait rc=.. errno=.. ms=.. handled=.. blocked_after=.." where
 * handled counts the handler's runs and blocked_after says whether the
 * thread's own mask still blocks SIGUSR1 after the wait.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "probe_util.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

static int start_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		printf("gai failed\n");
		exit(3);
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	printf("connect rc=%d errno=%s\n", rc, rc ? errname(errno) : "0");
	freeaddrinfo(res);
	return fd;
}

/* SIGUSR1 caught without SA_RESTART, blocked and pending; returns the
 * mask for the wait: the thread's, less SIGUSR1. */
static sigset_t arm_pending_usr1(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr1, wait_mask;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &wait_mask);
	raise(SIGUSR1);
	sigdelset(&wait_mask, SIGUSR1);
	return wait_mask;
}

static int wait_masked(const char *how, int fd, int timeout, const sigset_t *mask)
{
	struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };
	if (!strcmp(how, "ppoll")) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		return ppoll(&p, 1, &ts, mask);
	}
	fd_set w;
	FD_ZERO(&w);
	FD_SET(fd, &w);
	return pselect(fd + 1, NULL, &w, NULL, &ts, mask);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 6 || (strcmp(argv[1], "ppoll") && strcmp(argv[1], "pselect")) ||
	    (strcmp(argv[2], "race") && strcmp(argv[2], "race-again") &&
	     strcmp(argv[2], "other-fd"))) {
		fprintf(stderr, "usage: sigmask_probe ppoll|pselect "
				"race|race-again|other-fd HOST PORT TIMEOUT_MS\n");
		return 2;
	}
	int fd = start_connect(argv[3], argv[4]);
	if (!strcmp(argv[2], "other-fd")) {
		int pp[2];
		if (pipe(pp) < 0)
			return 1;
		fd = pp[0];
	}
	sigset_t mask = arm_pending_usr1();
	double t0 = now_ms();
	int rc = wait_masked(argv[1], fd, atoi(argv[5]), &mask);
	int err = errno;
	double ms = now_ms() - t0;
	sigset_t after;
	sigprocmask(SIG_BLOCK, NULL, &after);
	printf("wait rc=%d errno=%s ms=%.0f handled=%d blocked_after=%d\n", rc,
	       rc < 0 ? errname(err) : "0", ms, (int)handled,
	       sigismember(&after, SIGUSR1));
	if (!strcmp(argv[2], "race-again")) {
		t0 = now_ms();
		rc = wait_masked(argv[1], fd, atoi(argv[5]), &mask);
		printf("again rc=%d errno=%s ms=%.0f\n", rc,
		       rc < 0 ? errname(errno) : "0", now_ms() - t0);
	}
	return 0;
}
