/*
 * engine.h - the connection race's decisions, without any system call.
 *
 * Every RFC 8305 rule scio applies lives here, and nowhere else:
 * - the order of the candidates (section 4): the program's own address
 *   first, the others alternating families, history's verdicts last;
 * - the Connection Attempt Delay between starts, and the early start when
 *   every attempt in flight has failed (section 5);
 * - the bound of the program's own blocking connect (3/4 of the delay);
 * - late answers joining the race while a family may still come
 *   (section 3);
 * - which outcomes a fallback loop replays, and the error of a failed race.
 *
 * The caller (a driver: lib/race.c's poll loop, the shim's waits) feeds
 * events (an attempt connected, an attempt failed, addresses arrived) and
 * the current time, and asks engine_next() what to do: start attempt i,
 * wait until t, or stop with a winner or an error.  Time is in
 * microseconds on any monotonic clock.  docs/DESIGN.md explains the rules.
 */
#ifndef SCIO_ENGINE_H
#define SCIO_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ENGINE_NEVER INT64_MAX
#define ENGINE_MIN_DELAY_US 10000
#define ENGINE_MAX_DELAY_US 2000000
#define ENGINE_LATE_POLL_US 20000   /* how often to ask for late addresses */

enum engine_state {
	ENGINE_IDLE,      /* not started */
	ENGINE_RUNNING,
	ENGINE_FAILED,
	ENGINE_WON,
	ENGINE_ABANDONED, /* still in flight when the race ended */
};

struct engine_slot {
	enum engine_state state;
	int error;
	int64_t start;
	int64_t end;
};

struct engine {
	struct engine_slot *slot;
	size_t n;          /* candidates, in attempt order */
	size_t primary;    /* whose error the race reports on total failure */
	size_t next;       /* next candidate to start */
	size_t running;
	int64_t delay;     /* Connection Attempt Delay */
	int64_t deadline;  /* ENGINE_NEVER: none */
	int64_t last_start;
	int64_t more_until; /* late addresses may come until then; 0: none */
	int winner;        /* -1 until an attempt connects */
	int done;
	int error;         /* set once done without a winner */
};

enum engine_order_kind {
	ENGINE_START,  /* start attempt .index now, then report its outcome */
	ENGINE_WAIT,   /* wait for an event, or until .until (ENGINE_NEVER:
			  no timer); .ask_late: ask for late addresses then */
	ENGINE_DONE,   /* .index won, or .error when the race failed */
};

struct engine_order {
	enum engine_order_kind kind;
	size_t index;
	int64_t until;
	int error;
	int ask_late;
};

/* slot[] has room for n entries; delay is clamped to 10 ms..2 s. */
void engine_init(struct engine *e, struct engine_slot *slot, size_t n,
		 size_t primary, int64_t delay, int64_t deadline);
void engine_connected(struct engine *e, size_t i, int64_t now);
void engine_failed(struct engine *e, size_t i, int error, int64_t now);
struct engine_order engine_next(struct engine *e, int64_t now);
/* Appends `count` candidates (slot[] must have room); they start like any
 * other, after the delay or at once when nothing is in flight. */
void engine_add(struct engine *e, size_t count);
/* Late addresses may come until `until` (0: no more will): running out of
 * candidates before then means waiting, not failing. */
void engine_more_coming(struct engine *e, int64_t until);

/* The candidates of a race, in place: cand[0] is the address the program
 * asked for and stays first (its own socket needs no swap when it wins);
 * the others alternate families starting with the other one (RFC 8305
 * section 4, First Address Family Count 1), each family in the resolver's
 * order.  scratch has room for n entries. */
void engine_order_candidates(struct sockaddr_storage *cand, size_t n,
			     struct sockaddr_storage *scratch);

/* History: the addresses whose destination or network failed recently
 * (broken[i], for cand as ordered now) go last, keeping their order; they
 * are still tried, so that a repaired path is noticed.  Returns where
 * cand[0], the program's address, is now. */
size_t engine_broken_last(struct sockaddr_storage *cand, size_t n,
			  const unsigned char *broken,
			  struct sockaddr_storage *scratch);

/* Families alternate, starting with `first`, each keeping its order. */
void engine_interleave(struct sockaddr_storage *a, size_t n, int first,
		       struct sockaddr_storage *scratch);

/* How long the program's own blocking connect may run before the race
 * starts: 3/4 of the delay, since a socket timeout fires up to 1/8 late
 * and the race's own wait, which is precise, takes the rest. */
int64_t engine_own_bound(int64_t delay);

/* 1 for an outcome a fallback connect to the same address would repeat
 * (refused, unreachable, timed out, still in flight), which the program's
 * next connect to it gets at once; local trouble (EMFILE...) is not. */
int engine_replayable(int error);

#endif
