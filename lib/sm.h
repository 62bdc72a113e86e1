/*
 * sm.h - the connection race's decisions, without any I/O.
 *
 * The caller feeds events (an attempt connected, an attempt failed) and the
 * current time, and asks sm_next() what to do: start the next attempt, wait
 * until a given time (or for an event), or stop with a winner or an error.
 * Time is in microseconds on any monotonic clock.  The rules are those of
 * RFC 8305 section 5 as docs/DESIGN.md applies them.
 */
#ifndef SCIO_SM_H
#define SCIO_SM_H

#include <stddef.h>
#include <stdint.h>

#define SM_NEVER INT64_MAX

enum sm_slot_state {
	SM_IDLE,      /* not started */
	SM_RUNNING,
	SM_FAILED,
	SM_WON,
	SM_ABANDONED, /* still in flight when the race ended */
};

struct sm_slot {
	enum sm_slot_state state;
	int error;
	int64_t start;
	int64_t end;
};

struct sm {
	struct sm_slot *slot;
	size_t n;          /* candidates, in attempt order */
	size_t primary;    /* whose error the race reports on total failure */
	size_t next;       /* next candidate to start */
	size_t running;
	int64_t delay;     /* Connection Attempt Delay */
	int64_t deadline;  /* SM_NEVER: none */
	int64_t last_start;
	int winner;        /* -1 until an attempt connects */
	int more_coming;   /* candidates may still be added (late answers) */
	int done;
	int error;         /* set once done without a winner */
};

enum sm_action_kind {
	SM_START,  /* start attempt .index now, then report its outcome */
	SM_WAIT,   /* wait for an event, or until .until (SM_NEVER: no timer) */
	SM_DONE,   /* .index won, or .error when the race failed */
};

struct sm_action {
	enum sm_action_kind kind;
	size_t index;
	int64_t until;
	int error;
};

#define SM_MIN_DELAY_US 10000
#define SM_MAX_DELAY_US 2000000

/* slot[] has room for n entries; delay is clamped to 10 ms..2 s. */
void sm_init(struct sm *m, struct sm_slot *slot, size_t n, size_t primary,
	     int64_t delay, int64_t deadline);
void sm_connected(struct sm *m, size_t i, int64_t now);
void sm_failed(struct sm *m, size_t i, int error, int64_t now);
struct sm_action sm_next(struct sm *m, int64_t now);
/* Appends `count` candidates (slot[] must have room); they start like any
 * other, after the delay or at once when nothing is in flight. */
void sm_add(struct sm *m, size_t count);
/* While set, running out of candidates means waiting, not failing. */
void sm_more_coming(struct sm *m, int yes);

#endif
