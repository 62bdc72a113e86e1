/*
 * race.h - the race over given addresses, with what only the shim and the
 * library's own scio_connect need: the program's socket as one attempt,
 * late addresses, each candidate's outcome, the program's signal mask.
 * The public struct scio_race (scio.h) is the part a program may set.
 */
#ifndef SCIO_RACE_H
#define SCIO_RACE_H

#include <signal.h>
#include <stdint.h>

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

/* The race, its sockets in the caller's level (orphans.h); the winner is
 * no longer in it on return.  Else as scio_race_connect. */
int scio_race_run(const struct scio_race_in *r, int level);

/* The same in a level of its own, as scio_race_connect. */
int scio_race_run_alone(const struct scio_race_in *r);

#endif
