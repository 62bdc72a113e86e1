/*
 * test_sm.c - the race's decisions (lib/sm.c), without sockets.
 *
 * Grouped by the RFC 8305 section each rule comes from; every test quotes
 * the sentence it checks.  Times are in microseconds; MS(x) is x ms.
 */
#include <errno.h>

#include "check.h"
#include "sm.h"

#define MS(x) ((int64_t)(x) * 1000)
#define DELAY MS(250)

static struct sm m;
static struct sm_slot slot[8];

static void setup(size_t n, size_t primary, int64_t delay, int64_t deadline)
{
	sm_init(&m, slot, n, primary, delay, deadline);
}

static int starts(int64_t now, size_t index)
{
	struct sm_action a = sm_next(&m, now);
	return a.kind == SM_START && a.index == index;
}

static int waits_until(int64_t now, int64_t until)
{
	struct sm_action a = sm_next(&m, now);
	return a.kind == SM_WAIT && a.until == until;
}

static int won_by(int64_t now, size_t index)
{
	struct sm_action a = sm_next(&m, now);
	return a.kind == SM_DONE && m.winner == (int)index && a.index == index;
}

static int failed_with(int64_t now, int error)
{
	struct sm_action a = sm_next(&m, now);
	return a.kind == SM_DONE && m.winner < 0 && a.error == error;
}

/* ---- Section 5: "one connection attempt to a single address is started
 * first, followed by the others in the list, one at a time." ---- */

static void first_attempt_starts_at_once(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(waits_until(0, DELAY));
}

/* "A simple implementation can have a fixed delay for how long to wait
 * before starting the next connection attempt. [...] One recommended value
 * for a default delay is 250 milliseconds." */
static void next_attempt_waits_for_the_delay(void)
{
	setup(3, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(waits_until(MS(249), DELAY));
	CHECK(starts(DELAY, 1));
	CHECK(waits_until(DELAY + 1, 2 * DELAY));
	CHECK(starts(2 * DELAY + 7, 2));
	/* nothing left to start: wait for events only */
	CHECK(waits_until(2 * DELAY + 8, SM_NEVER));
}

/* "Starting a new connection attempt does not affect previous attempts,
 * as multiple connection attempts may occur in parallel." */
static void earlier_attempt_can_still_win(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_connected(&m, 0, MS(300));
	CHECK(won_by(MS(300), 0));
	CHECK_EQ(m.slot[1].state, SM_ABANDONED);
}

/* "Once one of the connection attempts succeeds [...], all other
 * connections attempts that have not yet succeeded SHOULD be canceled.
 * Any address that was not yet attempted as a connection SHOULD be
 * ignored." */
static void success_ends_the_race(void)
{
	setup(4, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_connected(&m, 1, MS(260));
	CHECK(won_by(MS(260), 1));
	CHECK_EQ(m.slot[2].state, SM_IDLE);
	CHECK_EQ(m.slot[3].state, SM_IDLE);
	CHECK_EQ(m.slot[0].state, SM_ABANDONED);
	/* asking again changes nothing */
	CHECK(won_by(MS(900), 1));
}

static void later_success_does_not_replace_the_winner(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_connected(&m, 1, MS(260));
	sm_connected(&m, 0, MS(260));
	CHECK(won_by(MS(260), 1));
}

/* Timer edge: an attempt that connects at the very instant the delay
 * expires wins; no second attempt starts. */
static void success_at_the_delay_instant_starts_nothing(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	sm_connected(&m, 0, DELAY);
	CHECK(won_by(DELAY, 0));
	CHECK_EQ(m.slot[1].state, SM_IDLE);
}

/* An attempt that fails before the delay starts the next one at once
 * (docs/DESIGN.md: "or at once when every attempt in flight has failed"). */
static void early_failure_starts_next_at_once(void)
{
	setup(3, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	sm_failed(&m, 0, ECONNREFUSED, MS(3));
	CHECK(starts(MS(3), 1));
	CHECK(waits_until(MS(3), MS(3) + DELAY));
}

/* A failure while another attempt is still in flight does not hurry the
 * next start: the running attempt keeps its head start. */
static void failure_with_others_in_flight_keeps_the_timer(void)
{
	setup(3, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_failed(&m, 0, ETIMEDOUT, MS(300));
	CHECK(waits_until(MS(300), 2 * DELAY));
	CHECK(starts(2 * DELAY, 2));
}

/* "a subsequent connection MUST NOT be started within 10 milliseconds of
 * the previous attempt." */
static void delay_never_below_10ms(void)
{
	setup(3, 0, MS(1), SM_NEVER);
	CHECK_EQ(m.delay, MS(10));
	CHECK(starts(0, 0));
	CHECK(waits_until(MS(5), MS(10)));
	CHECK(starts(MS(10), 1));
}

/* ...unless the earlier one already failed: then waiting helps nobody. */
static void failed_attempts_need_no_spacing(void)
{
	setup(3, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	sm_failed(&m, 0, ENETUNREACH, 0);
	CHECK(starts(0, 1));
	sm_failed(&m, 1, ECONNREFUSED, 0);
	CHECK(starts(0, 2));
}

/* "a Connection Attempt Delay MUST have an upper bound [...] The current
 * recommended value is 2 seconds." */
static void delay_never_above_2s(void)
{
	setup(2, 0, MS(60000), SM_NEVER);
	CHECK_EQ(m.delay, MS(2000));
}

/* ---- Total failure: one deterministic errno (docs/DESIGN.md: "the error of
 * the address the caller asked for first") ---- */

static void all_fail_reports_the_primary_error(void)
{
	setup(3, 1, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	sm_failed(&m, 0, EHOSTUNREACH, MS(1));
	CHECK(starts(MS(1), 1));
	sm_failed(&m, 1, ECONNREFUSED, MS(2));
	CHECK(starts(MS(2), 2));
	sm_failed(&m, 2, ENETUNREACH, MS(3));
	CHECK(failed_with(MS(3), ECONNREFUSED));
}

static void all_fail_order_does_not_matter(void)
{
	/* same outcomes, reported in the other order: same errno */
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_failed(&m, 1, ECONNREFUSED, MS(300));
	sm_failed(&m, 0, ETIMEDOUT, MS(301));
	CHECK(failed_with(MS(301), ETIMEDOUT));

	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	sm_failed(&m, 0, ETIMEDOUT, MS(300));
	sm_failed(&m, 1, ECONNREFUSED, MS(301));
	CHECK(failed_with(MS(301), ETIMEDOUT));
}

static void race_goes_on_until_the_last_attempt_fails(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	CHECK(starts(0, 0));
	sm_failed(&m, 0, ECONNREFUSED, MS(1));
	CHECK(starts(MS(1), 1));
	CHECK(waits_until(MS(2), SM_NEVER));
	sm_connected(&m, 1, MS(40));
	CHECK(won_by(MS(40), 1));
}

/* ---- The caller's deadline ---- */

static void deadline_ends_the_race(void)
{
	setup(3, 0, DELAY, MS(400));
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	CHECK(waits_until(DELAY, MS(400)));
	CHECK(failed_with(MS(400), ETIMEDOUT));
	CHECK_EQ(m.slot[0].state, SM_ABANDONED);
	CHECK_EQ(m.slot[2].state, SM_IDLE);
}

static void deadline_before_the_delay_starts_nothing_more(void)
{
	setup(2, 0, DELAY, MS(100));
	CHECK(starts(0, 0));
	CHECK(waits_until(0, MS(100)));
	CHECK(failed_with(MS(100), ETIMEDOUT));
	CHECK_EQ(m.slot[1].state, SM_IDLE);
}

static void deadline_keeps_a_primary_refusal(void)
{
	setup(2, 0, DELAY, MS(400));
	CHECK(starts(0, 0));
	sm_failed(&m, 0, ECONNREFUSED, MS(1));
	CHECK(starts(MS(1), 1));
	CHECK(failed_with(MS(400), ECONNREFUSED));
}

/* ---- Stray events are ignored ---- */

static void events_for_unstarted_attempts_are_ignored(void)
{
	setup(2, 0, DELAY, SM_NEVER);
	sm_connected(&m, 1, 0);
	sm_failed(&m, 1, ECONNREFUSED, 0);
	sm_connected(&m, 7, 0);
	CHECK(starts(0, 0));
	CHECK_EQ(m.running, 1);
	CHECK_EQ(m.winner, -1);
}

int main(void)
{
	RUN(first_attempt_starts_at_once);
	RUN(next_attempt_waits_for_the_delay);
	RUN(earlier_attempt_can_still_win);
	RUN(success_ends_the_race);
	RUN(later_success_does_not_replace_the_winner);
	RUN(success_at_the_delay_instant_starts_nothing);
	RUN(early_failure_starts_next_at_once);
	RUN(failure_with_others_in_flight_keeps_the_timer);
	RUN(delay_never_below_10ms);
	RUN(failed_attempts_need_no_spacing);
	RUN(delay_never_above_2s);
	RUN(all_fail_reports_the_primary_error);
	RUN(all_fail_order_does_not_matter);
	RUN(race_goes_on_until_the_last_attempt_fails);
	RUN(deadline_ends_the_race);
	RUN(deadline_before_the_delay_starts_nothing_more);
	RUN(deadline_keeps_a_primary_refusal);
	RUN(events_for_unstarted_attempts_are_ignored);
	return check_exit();
}
