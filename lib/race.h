/*
 * race.h - the race over given addresses, with what only the shim and the
 * library's own scio_connect need: the program's socket as one attempt,
 * late addresses, each candidate's outcome, the program's signal mask.
 * The public struct scio_race (scio.h) is the part a program may set.
 */
#ifndef SCIO_RACE_H
#define SCIO_RACE_H

#include <poll.h>
#include <signal.h>
#include <stdint.h>

#include "engine.h"
#include "scio.h"

struct scio_race_in {
	struct scio_race pub;  /* candidates, delay, timeout, prepare, report */
	int own_fd;            /* -1, or a caller's socket to use for own_index */
	size_t own_index;
	/* own_fd's connect was already started, at started_us (CLOCK_MONOTONIC
	 * µs, own_index must be 0); its outcome is read from poll() alone so
	 * that its SO_ERROR and connect state stay the program's to read */
	int own_started;
	int64_t started_us;
	/* 1: return EINTR when poll is interrupted, 0: keep racing (called
	 * with pub.prepare_arg) */
	int (*interrupted)(void *arg);
	/* optional: addresses learnt during the race (a late DNS answer).
	 * Writes up to cap new ones to out and returns how many; sets *more
	 * while others may still come.  Called when the engine asks. */
	size_t (*late)(void *arg, struct sockaddr_storage *out, size_t cap,
		       int *more);
	void *late_arg;
	/* optional: pub.naddrs entries, each given candidate's error when the
	 * race ends (EINPROGRESS: still in flight; 0: won or never started) */
	int *outcome;
	/* the mask of the program's ppoll or pselect that the race runs
	 * inside: the race waits with ppoll and it; NULL: plain poll */
	const sigset_t *sigmask;
};

/*
 * The race as steps, for drivers that wait in their own way (the shim's
 * waits inside the program's poll, select and epoll, between which the
 * race lives on); scio_race_run is a loop over the same steps.
 *   scio_race_begin   copies the candidates, starts the clock;
 *   scio_race_step    carries out the engine's orders until it says wait
 *                     (0: poll io->pfd[0..io->npfd) for POLLOUT until
 *                     *until, ENGINE_NEVER: no timer) or done (1);
 *   scio_race_feed    hands the revents the driver got for io->pfd to the
 *                     engine (call scio_race_step again next);
 *   scio_race_end     closes every attempt but the winner, fills the
 *                     report and outcomes: the winner's fd, or -1 with
 *                     errno (stopped: the driver gave up undecided, with
 *                     that errno, e.g. EINTR; 0 when the race is done).
 * The io keeps a pointer to r, which must outlive it.
 */
struct scio_race_io {
	const struct scio_race_in *r;
	struct sockaddr_storage *addr;  /* candidates: given, then late ones */
	size_t cap;
	int more;                /* late addresses may still come */
	int ask_late;            /* the engine asked for them after this wait */
	struct engine eng;
	struct engine_slot *slot;
	int *fd;                 /* per candidate, -1 when none */
	struct pollfd *pfd;      /* what to wait for, npfd of them */
	size_t *pfd_owner;       /* candidate index of each pollfd */
	size_t npfd;
	int64_t t0;
	void *heap;              /* the arrays, when not the caller's */
	int level;               /* of this race's sockets (orphans.h) */
};

/* Room the caller may lend for a race's arrays (the stack: no malloc on
 * a connect path a signal handler may take). */
#define SCIO_RACE_STACK 32
struct scio_race_bufs {
	struct engine_slot slot[SCIO_RACE_STACK];
	int fd[SCIO_RACE_STACK];
	struct pollfd pfd[SCIO_RACE_STACK];
	size_t owner[SCIO_RACE_STACK];
	struct sockaddr_storage addr[SCIO_RACE_STACK];
};

/* bufs NULL: the arrays go to the heap.  0, or -1 with errno. */
int scio_race_begin(struct scio_race_io *io, const struct scio_race_in *r,
		    int level, struct scio_race_bufs *bufs);
int scio_race_step(struct scio_race_io *io, int64_t *until);
void scio_race_feed(struct scio_race_io *io, int64_t now);
int scio_race_end(struct scio_race_io *io, int stopped);

/* The race, its sockets in the caller's level (orphans.h); the winner is
 * no longer in it on return.  Else as scio_race_connect. */
int scio_race_run(const struct scio_race_in *r, int level);

/* The same in a level of its own, as scio_race_connect. */
int scio_race_run_alone(const struct scio_race_in *r);

#endif
