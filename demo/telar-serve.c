/*
 * telar-serve.c - one client served with blocking waits, and the two
 * models that use it: --fork (a child process per connection, the
 * classic design) and -i (inetd: the client is on stdin/stdout).
 *
 * Serving a client: write the line, end our side of the connection
 * (shutdown), then read and discard until the client closes its side,
 * all within the -w timeout.  Waiting for the client's close, instead of
 * closing at once, means input the client sent (a telnet client's option
 * negotiation) never turns our close into a reset that could destroy the
 * line before the client read it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "telar.h"

#define ACCEPT_BATCH 32

/* ------------------------------------------------------ one client */

/* Waits until fd is ready for events (or has an error or hangup, which the
 * next read or write reports).  0, or -1 with errno ETIMEDOUT at the
 * deadline. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			errno = ETIMEDOUT;
		else if (errno == EINTR)
			continue;
		return -1;
	}
}

/* MSG_MORE holds the line back until shutdown() adds the FIN, so one
 * segment carries both.  In -i mode stdout may be a pipe: write() then. */
static ssize_t write_some(int fd, const char *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n == -1 && errno == ENOTSOCK)
		n = write(fd, buf, len);
	return n;
}

static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n;

		if (wait_fd(fd, POLLOUT, deadline) == -1)
			return -1;
		n = write_some(fd, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* Reads and discards until the peer closes, fails, or the deadline. */
static void drain_until_closed(int fd, int64_t deadline)
{
	char buf[4096];

	for (;;) {
		ssize_t n;

		if (wait_fd(fd, POLLIN, deadline) == -1)
			return;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

int serve_blocking(int in_fd, int out_fd, const struct telar_peer *peer,
		   unsigned timeout_s)
{
	char line[TELAR_LINE_MAX];
	size_t len = format_line(peer, line, sizeof(line));
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;

	if (write_all(out_fd, line, len, deadline) == -1) {
		log_info("%s: line not delivered: %s", peer->text,
			 errno == ETIMEDOUT ? "write timeout" : strerror(errno));
		return -1;
	}
	/* ENOTSOCK when stdout is a pipe in -i mode: then there is no
	 * half-close, and exiting ends the output. */
	if (shutdown(out_fd, SHUT_WR) == -1 && errno != ENOTSOCK)
		return 0;
	drain_until_closed(in_fd, deadline);
	return 0;
}

/* -------------------------------------------------------------- inetd */

int run_inetd(const struct telar_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct telar_peer peer;

	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == -1) {
		log_error("-i: standard input is not a connected socket: %s",
			  strerror(errno));
		return TELAR_EXIT_FAILURE;
	}
	if (peer_from_sockaddr(&peer, (struct sockaddr *)&ss, len) == -1) {
		log_error("-i: standard input is not a TCP/IP connection "
			  "(address family %d)", ss.ss_family);
		return TELAR_EXIT_FAILURE;
	}
	log_info("connection from %s over IPv%c", peer.text, peer.family_digit);
	if (serve_blocking(STDIN_FILENO, STDOUT_FILENO, &peer, cfg->timeout_s) == -1)
		return TELAR_EXIT_FAILURE;
	return TELAR_EXIT_OK;
}

/* ------------------------------------------------------------- --fork */

struct fork_server {
	struct telar_listeners *ls;
	const struct telar_config *cfg;
	struct client_cap cap;      /* children alive */
	int64_t paused_until;       /* 0: accepting */
};

static void reap_children(struct fork_server *fs)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		cap_release(&fs->cap);
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGINT)
			log_error("child %ld killed by signal %d (%s)", (long)pid,
				  WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
}

TELAR_NORETURN
static void child_main(struct fork_server *fs, int fd, const struct telar_peer *peer)
{
	signals_reset_in_child();
	listeners_close(fs->ls);
	reserve_fd_close();
	log_info("connection from %s over IPv%c", peer->text, peer->family_digit);
	_exit(serve_blocking(fd, fd, peer, fs->cfg->timeout_s) == 0 ? 0 : 1);
}

static void spawn_child(struct fork_server *fs, int fd, const struct telar_peer *peer)
{
	pid_t pid;

	if (!cap_admit(&fs->cap)) {
		refuse_client(fd, peer);
		return;
	}
	pid = fork();
	if (pid == 0)
		child_main(fs, fd, peer);
	close(fd);
	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		cap_release(&fs->cap);
		fs->paused_until = now_ms() + TELAR_BACKOFF_MS;
	}
}

static void accept_batch(struct fork_server *fs, const struct telar_listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH && fs->paused_until == 0; i++) {
		struct telar_peer peer;
		int fd = accept_client(l, &peer);

		if (fd == TELAR_ACCEPT_EMPTY)
			return;
		if (fd == TELAR_ACCEPT_PAUSE) {
			fs->paused_until = now_ms() + TELAR_BACKOFF_MS;
			return;
		}
		spawn_child(fs, fd, &peer);
	}
}

/* Fills pfd for the next wait; while accepting is paused the listeners
 * are left out (fd -1).  Returns the poll timeout in ms, -1 for none. */
static int prepare_poll(struct fork_server *fs, struct pollfd *pfd)
{
	int64_t left = fs->paused_until ? fs->paused_until - now_ms() : 0;

	if (fs->paused_until && left <= 0) {
		fs->paused_until = 0;
		reserve_fd_open();
	}
	for (size_t i = 0; i < fs->ls->n; i++) {
		pfd[i].fd = fs->paused_until ? -1 : fs->ls->l[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	return fs->paused_until ? (int)left : -1;
}

int run_fork(struct telar_listeners *ls, const struct telar_config *cfg,
	     const sigset_t *wait_mask)
{
	struct fork_server fs = { .ls = ls, .cfg = cfg };
	struct pollfd pfd[TELAR_MAX_LISTENERS];

	fs.cap.max = cfg->max_clients;
	while (!telar_stop_requested) {
		int timeout, n;
		struct timespec ts;

		if (telar_child_exited) {
			telar_child_exited = 0;
			reap_children(&fs);
		}
		timeout = prepare_poll(&fs, pfd);
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000;
		n = ppoll(pfd, ls->n, timeout >= 0 ? &ts : NULL, wait_mask);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return TELAR_EXIT_FAILURE;
		}
		for (size_t i = 0; i < ls->n && n > 0; i++) {
			if (pfd[i].revents)
				accept_batch(&fs, &ls->l[i]);
		}
	}
	reap_children(&fs);
	return TELAR_EXIT_OK;
}
