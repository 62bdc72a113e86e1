/*
 * live.h - a race that lives between the program's calls.  A pending
 * non-blocking connect (pending.h) gets one at the first wait of the
 * program that includes its socket; the entry then owns the engine's
 * state and the attempt sockets, and each later wait (poll, select,
 * epoll, any timeout) advances it.  The program's own socket stays the
 * program's fd; a winner from another socket moves onto it.
 */
#ifndef SCIO_SHIM_LIVE_H
#define SCIO_SHIM_LIVE_H

#include <poll.h>
#include <signal.h>
#include <stdint.h>

#include "core.h"
#include "race.h"

struct scio_live {
	int fd;                  /* the program's */
	uint64_t cookie;         /* its socket's: fd still names it? */
	int hidden_epfd;         /* the epoll set fd is kept out of, or -1
				  * (written by the holder atomically: the
				  * close hook reads it) */
	struct scio_match m;
	struct cands c;
	struct attempt_ctx ctx;
	struct scio_report rep;
	struct scio_race_in in;
	struct scio_race_io io;
	int done;                /* scio_race_step said so */
	int gone;                /* SCIO_LIVE_*_GONE: the close hook saw it (atomic) */
};

/* What the close hook saw closed while a wait held the race. */
enum {
	SCIO_LIVE_FD_GONE = 1,    /* the program's fd */
	SCIO_LIVE_EPFD_GONE = 2,  /* hidden_epfd: its slot is forgotten */
};

/* What became of the program's socket when a race is dropped. */
enum scio_live_end {
	SCIO_LIVE_GIVEN_BACK, /* still the program's: it waits for it itself */
	SCIO_LIVE_CLOSED,     /* the program closed it (the number may be reused) */
	SCIO_LIVE_FORKED,     /* a forked child's copy: close our fds, nothing else */
};

/* Starts the race of a pending connect; NULL when it cannot (the answer
 * is gone, no memory): the program's socket is then left alone. */
struct scio_live *scio_live_start(const struct scio_pending *p);

/* Drops an undecided race: every attempt socket is closed. */
void scio_live_free(struct scio_live *l, enum scio_live_end how);

/* Whether the close hook saw the program close fd while a wait held l. */
int scio_live_fd_gone(const struct scio_live *l);

/* Carries out the engine's orders; 1 when the race is decided. */
int scio_live_step(struct scio_live *l, int64_t *until);

/* A decided race ends: the winner moves onto the program's fd, history
 * and the log hear of it, l is freed.  1 when fd is now connected, 0 when
 * it holds its own failure. */
int scio_live_finish(struct scio_live *l);

/* The races of one wait of the program, taken out of the pending table
 * (livepoll.c). */
struct scio_races {
	struct scio_pending p[SCIO_PENDING_MAX];
	int n;
};

/* Takes this thread's entries whose fd wanted(arg, fd) picks and starts
 * their races; how many. */
int scio_live_take(struct scio_races *rs, int (*wanted)(void *arg, int fd), void *arg);
/* Puts the undecided ones back for the next wait. */
void scio_live_put_back(struct scio_races *rs);
/* A cleanup handler (pthread_cleanup_push) for a wait holding the races
 * rs (struct scio_races *): dropped, the program's sockets given back. */
void scio_live_cancelled(void *rs);
/* µs deadline of a wait of timeout_ms (-1: ENGINE_NEVER). */
int64_t scio_live_deadline(int timeout_ms);
/* Waits for fds (the racing fds hidden) and the races' sockets until an
 * fd of the program's shows an event, a race is decided (its fd then
 * shows what the kernel gives it) or deadline: as poll returns. */
int scio_live_drive(struct pollfd *fds, nfds_t nfds, struct scio_races *rs,
		    int64_t deadline, const sigset_t *mask);

/* epolltab.c's table: fd goes back into the program's epoll set with the
 * program's events and data (the race that kept it out is over). */
void scio_epoll_unhide(int epfd, int fd);
/* The same without the system call: fd is gone from epfd for good. */
void scio_epoll_forget(int epfd, int fd);

#endif
