/*
 * fork_storm.c - fork() from a signal handler that interrupted the
 * library while this thread held (or was taking, or releasing) one of its
 * locks: the library's own atfork handlers must not wait for the lock this
 * thread holds, and the child, whose interrupted code then lets go of the
 * lock, must be able to use the library.
 *
 *   fork_storm SECONDS
 *
 * The main thread loops over the pending-connect table and the history
 * (each call takes a library lock) while SIGALRM comes every millisecond;
 * the handler forks when no child is running.  Each child goes on with the
 * interrupted call, then makes a few more calls and exits 0.  A child that
 * has not exited after 10 s is killed and counted as hung.  Prints
 * "forks=N inside_lock=N children_ok=N hung=N iterations=N".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "history.h"
#include "internal.h"
#include "pending.h"
#include "probe_util.h"

static volatile sig_atomic_t in_child;
static volatile pid_t child;          /* running child, 0: none */
static volatile long forks, inside_lock;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	if (!in_child && !child) {
		int held = scio_locks_held > 0;
		pid_t pid = fork();
		if (pid == 0) {
			in_child = 1;  /* return into the interrupted call */
		} else if (pid > 0) {
			child = pid;
			forks++;
			inside_lock += held;
		}
	}
	errno = saved;
}

static struct scio_report failed_attempt(void)
{
	struct scio_report rep = { .count = 1, .candidates = 2, .winner = -1,
				   .error = ETIMEDOUT };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&rep.attempt[0].addr;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(7000);
	a->sin6_addr.s6_addr[0] = 0x20;
	a->sin6_addr.s6_addr[1] = 0x01;
	a->sin6_addr.s6_addr[2] = 0x0d;
	a->sin6_addr.s6_addr[3] = 0xb8;
	a->sin6_addr.s6_addr[15] = 0x10;
	rep.attempt[0].addrlen = sizeof(*a);
	rep.attempt[0].end_us = 250000;
	rep.attempt[0].error = ETIMEDOUT;
	return rep;
}

/* One round of library calls, each under a library lock. */
static void library_round(int fd, const struct scio_report *rep)
{
	struct scio_match m = { .id = 7, .n = 2 };
	struct scio_pending p;
	scio_pending_add(fd, &m, scio_now_us());
	scio_pending_in_this_thread();
	scio_pending_take(fd, &p);
	scio_pending_drop_answer(7);
	scio_history_record(rep, scio_wall_ms());
}

static void child_goes_on(int fd, const struct scio_report *rep)
{
	for (int i = 0; i < 100; i++)
		library_round(fd, rep);
	_exit(scio_locks_held == 0 ? 0 : 3);
}

/* Reaps the child when it is done; kills it after 10 s. */
static void reap(double *child_since, long *ok, long *hung)
{
	if (!child)
		return;
	if (*child_since == 0)
		*child_since = now_ms();
	int status;
	pid_t pid = waitpid(child, &status, WNOHANG);
	if (pid == 0 && now_ms() - *child_since > 10000) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		(*hung)++;
		pid = child;
	} else if (pid == child) {
		*ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	if (pid == child) {
		*child_since = 0;
		child = 0;
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: fork_storm SECONDS\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct scio_report rep = failed_attempt();
	scio_history_configure(SCIO_HISTORY_PROCESS, NULL);
	library_round(fd, &rep);  /* the one-time setup, before any signal */

	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &every_ms, NULL);

	long iterations = 0, ok = 0, hung = 0;
	double t0 = now_ms(), child_since = 0;
	while (now_ms() - t0 < seconds * 1000) {
		library_round(fd, &rep);
		if (in_child)
			child_goes_on(fd, &rep);
		iterations++;
		reap(&child_since, &ok, &hung);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	while (child)
		reap(&child_since, &ok, &hung);
	printf("forks=%ld inside_lock=%ld children_ok=%ld hung=%ld iterations=%ld\n",
	       (long)forks, (long)inside_lock, ok, hung, iterations);
	return 0;
}
