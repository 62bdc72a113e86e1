/*
 * test_engine.c - the race's decisions (lib/engine.c), without sockets.
 *
 * Grouped by the RFC 8305 section each rule comes from; every test quotes
 * the sentence it checks.  Times are in microseconds; MS(x) is x ms.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "engine.h"

#define MS(x) ((int64_t)(x) * 1000)
#define DELAY MS(250)

static struct engine m;
static struct engine_slot slot[80];

static void setup(size_t n, size_t primary, int64_t delay, int64_t deadline)
{
	engine_init(&m, slot, n, primary, delay, deadline);
}

static int starts(int64_t now, size_t index)
{
	struct engine_order a = engine_next(&m, now);
	return a.kind == ENGINE_START && a.index == index;
}

static int waits_until(int64_t now, int64_t until)
{
	struct engine_order a = engine_next(&m, now);
	return a.kind == ENGINE_WAIT && a.until == until;
}

static int won_by(int64_t now, size_t index)
{
	struct engine_order a = engine_next(&m, now);
	return a.kind == ENGINE_DONE && m.winner == (int)index && a.index == index;
}

static int failed_with(int64_t now, int error)
{
	struct engine_order a = engine_next(&m, now);
	return a.kind == ENGINE_DONE && m.winner < 0 && a.error == error;
}

/* ---- Section 5: "one connection attempt to a single address is started
 * first, followed by the others in the list, one at a time." ---- */

static void first_attempt_starts_at_once(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(waits_until(0, DELAY));
}

/* "A simple implementation can have a fixed delay for how long to wait
 * before starting the next connection attempt. [...] One recommended value
 * for a default delay is 250 milliseconds." */
static void next_attempt_waits_for_the_delay(void)
{
	setup(3, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(waits_until(MS(249), DELAY));
	CHECK(starts(DELAY, 1));
	CHECK(waits_until(DELAY + 1, 2 * DELAY));
	CHECK(starts(2 * DELAY + 7, 2));
	/* nothing left to start: wait for events only */
	CHECK(waits_until(2 * DELAY + 8, ENGINE_NEVER));
}

/* "Starting a new connection attempt does not affect previous attempts,
 * as multiple connection attempts may occur in parallel." */
static void earlier_attempt_can_still_win(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_connected(&m, 0, MS(300));
	CHECK(won_by(MS(300), 0));
	CHECK_EQ(m.slot[1].state, ENGINE_ABANDONED);
}

/* "Once one of the connection attempts succeeds [...], all other
 * connections attempts that have not yet succeeded SHOULD be canceled.
 * Any address that was not yet attempted as a connection SHOULD be
 * ignored." */
static void success_ends_the_race(void)
{
	setup(4, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_connected(&m, 1, MS(260));
	CHECK(won_by(MS(260), 1));
	CHECK_EQ(m.slot[2].state, ENGINE_IDLE);
	CHECK_EQ(m.slot[3].state, ENGINE_IDLE);
	CHECK_EQ(m.slot[0].state, ENGINE_ABANDONED);
	/* asking again changes nothing */
	CHECK(won_by(MS(900), 1));
}

static void later_success_does_not_replace_the_winner(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_connected(&m, 1, MS(260));
	engine_connected(&m, 0, MS(260));
	CHECK(won_by(MS(260), 1));
}

/* Timer edge: an attempt that connects at the very instant the delay
 * expires wins; no second attempt starts. */
static void success_at_the_delay_instant_starts_nothing(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	engine_connected(&m, 0, DELAY);
	CHECK(won_by(DELAY, 0));
	CHECK_EQ(m.slot[1].state, ENGINE_IDLE);
}

/* An attempt that fails before the delay starts the next one at once
 * (docs/DESIGN.md: "or at once when every attempt in flight has failed"). */
static void early_failure_starts_next_at_once(void)
{
	setup(3, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ECONNREFUSED, MS(3));
	CHECK(starts(MS(3), 1));
	CHECK(waits_until(MS(3), MS(3) + DELAY));
}

/* A failure while another attempt is still in flight does not hurry the
 * next start: the running attempt keeps its head start. */
static void failure_with_others_in_flight_keeps_the_timer(void)
{
	setup(3, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_failed(&m, 0, ETIMEDOUT, MS(300));
	CHECK(waits_until(MS(300), 2 * DELAY));
	CHECK(starts(2 * DELAY, 2));
}

/* "a subsequent connection MUST NOT be started within 10 milliseconds of
 * the previous attempt." */
static void delay_never_below_10ms(void)
{
	setup(3, 0, MS(1), ENGINE_NEVER);
	CHECK_EQ(m.delay, MS(10));
	CHECK(starts(0, 0));
	CHECK(waits_until(MS(5), MS(10)));
	CHECK(starts(MS(10), 1));
}

/* ...unless the earlier one already failed: then waiting helps nobody. */
static void failed_attempts_need_no_spacing(void)
{
	setup(3, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ENETUNREACH, 0);
	CHECK(starts(0, 1));
	engine_failed(&m, 1, ECONNREFUSED, 0);
	CHECK(starts(0, 2));
}

/* "a Connection Attempt Delay MUST have an upper bound [...] The current
 * recommended value is 2 seconds." */
static void delay_never_above_2s(void)
{
	setup(2, 0, MS(60000), ENGINE_NEVER);
	CHECK_EQ(m.delay, MS(2000));
}

/* ---- Total failure: one deterministic errno (docs/DESIGN.md: "the error of
 * the address the caller asked for first") ---- */

static void all_fail_reports_the_primary_error(void)
{
	setup(3, 1, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	engine_failed(&m, 0, EHOSTUNREACH, MS(1));
	CHECK(starts(MS(1), 1));
	engine_failed(&m, 1, ECONNREFUSED, MS(2));
	CHECK(starts(MS(2), 2));
	engine_failed(&m, 2, ENETUNREACH, MS(3));
	CHECK(failed_with(MS(3), ECONNREFUSED));
}

static void all_fail_order_does_not_matter(void)
{
	/* same outcomes, reported in the other order: same errno */
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_failed(&m, 1, ECONNREFUSED, MS(300));
	engine_failed(&m, 0, ETIMEDOUT, MS(301));
	CHECK(failed_with(MS(301), ETIMEDOUT));

	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	CHECK(starts(DELAY, 1));
	engine_failed(&m, 0, ETIMEDOUT, MS(300));
	engine_failed(&m, 1, ECONNREFUSED, MS(301));
	CHECK(failed_with(MS(301), ETIMEDOUT));
}

static void race_goes_on_until_the_last_attempt_fails(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ECONNREFUSED, MS(1));
	CHECK(starts(MS(1), 1));
	CHECK(waits_until(MS(2), ENGINE_NEVER));
	engine_connected(&m, 1, MS(40));
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
	CHECK_EQ(m.slot[0].state, ENGINE_ABANDONED);
	CHECK_EQ(m.slot[2].state, ENGINE_IDLE);
}

static void deadline_before_the_delay_starts_nothing_more(void)
{
	setup(2, 0, DELAY, MS(100));
	CHECK(starts(0, 0));
	CHECK(waits_until(0, MS(100)));
	CHECK(failed_with(MS(100), ETIMEDOUT));
	CHECK_EQ(m.slot[1].state, ENGINE_IDLE);
}

static void deadline_keeps_a_primary_refusal(void)
{
	setup(2, 0, DELAY, MS(400));
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ECONNREFUSED, MS(1));
	CHECK(starts(MS(1), 1));
	CHECK(failed_with(MS(400), ECONNREFUSED));
}

/* ---- Stray events are ignored ---- */

static void events_for_unstarted_attempts_are_ignored(void)
{
	setup(2, 0, DELAY, ENGINE_NEVER);
	engine_connected(&m, 1, 0);
	engine_failed(&m, 1, ECONNREFUSED, 0);
	engine_connected(&m, 7, 0);
	CHECK(starts(0, 0));
	CHECK_EQ(m.running, 1);
	CHECK_EQ(m.winner, -1);
}


/* ---- Section 3: "If new positive responses arrive while connection
 * attempts are in progress, but before any connection has been
 * established, then the newly received addresses are incorporated into
 * the list of available candidate addresses" ---- */

static void late_addresses_join_the_race(void)
{
	setup(1, 0, DELAY, ENGINE_NEVER);
	engine_more_coming(&m, ENGINE_NEVER);
	CHECK(starts(0, 0));
	struct engine_order o = engine_next(&m, MS(1));
	CHECK(o.kind == ENGINE_WAIT && o.ask_late && o.until == MS(1) + ENGINE_LATE_POLL_US);
	engine_add(&m, 1);
	engine_more_coming(&m, 0);
	CHECK(waits_until(MS(30), DELAY));
	CHECK(starts(DELAY, 1));
}

static void waiting_for_late_addresses_is_not_failing(void)
{
	/* the only attempt failed while the other family may still come */
	setup(1, 0, DELAY, ENGINE_NEVER);
	engine_more_coming(&m, MS(2000));
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ECONNREFUSED, MS(1));
	struct engine_order o = engine_next(&m, MS(1));
	CHECK(o.kind == ENGINE_WAIT && o.ask_late);
	engine_add(&m, 1);
	CHECK(starts(MS(21), 1));  /* nothing in flight: at once */
	engine_connected(&m, 1, MS(22));
	CHECK(won_by(MS(22), 1));
}

static void no_late_addresses_after_their_time(void)
{
	setup(1, 0, DELAY, ENGINE_NEVER);
	engine_more_coming(&m, MS(100));
	CHECK(starts(0, 0));
	engine_failed(&m, 0, ECONNREFUSED, MS(1));
	CHECK(failed_with(MS(100), ECONNREFUSED));
}

/* ---- Section 4: "Next, the client SHOULD modify the ordered list to
 * interleave address families.  Whichever address family is first in
 * the list should be followed by an address of the other address family;
 * that is, if the first address in the sorted list is IPv6, then the
 * first IPv4 address should be moved up in the list to be second in the
 * list." ---- */

static struct sockaddr_storage addr6(int last)
{
	struct sockaddr_storage ss = { .ss_family = AF_INET6 };
	((unsigned char *)&((struct sockaddr_in6 *)&ss)->sin6_addr)[15] = (unsigned char)last;
	return ss;
}

static struct sockaddr_storage addr4(int last)
{
	struct sockaddr_storage ss = { .ss_family = AF_INET };
	((unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr)[3] = (unsigned char)last;
	return ss;
}

/* "6.1" style names of a list, to compare orders at a glance */
static const char *names(const struct sockaddr_storage *a, size_t n)
{
	static char buf[512];
	size_t used = 0;
	for (size_t i = 0; i < n && used < sizeof(buf) - 8; i++) {
		int v6 = a[i].ss_family == AF_INET6;
		int last = v6 ? ((const unsigned char *)&((const struct sockaddr_in6 *)&a[i])->sin6_addr)[15]
			      : ((const unsigned char *)&((const struct sockaddr_in *)&a[i])->sin_addr)[3];
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%d.%d",
					 i ? " " : "", v6 ? 6 : 4, last);
	}
	return buf;
}

static void families_alternate_after_the_programs_address(void)
{
	struct sockaddr_storage a[6] = { addr6(1), addr6(2), addr6(3), addr4(1), addr4(2), addr4(3) };
	struct sockaddr_storage scratch[6];
	engine_order_candidates(a, 6, scratch);
	CHECK(strcmp(names(a, 6), "6.1 4.1 6.2 4.2 6.3 4.3") == 0);
}

static void the_programs_ipv4_address_comes_first(void)
{
	/* the program asked for IPv4: it starts, IPv6 follows */
	struct sockaddr_storage a[4] = { addr4(2), addr6(1), addr4(1), addr6(2) };
	struct sockaddr_storage scratch[4];
	engine_order_candidates(a, 4, scratch);
	CHECK(strcmp(names(a, 4), "4.2 6.1 4.1 6.2") == 0);
}

static void one_family_keeps_its_order(void)
{
	struct sockaddr_storage a[3] = { addr6(3), addr6(1), addr6(2) };
	struct sockaddr_storage scratch[3];
	engine_order_candidates(a, 3, scratch);
	CHECK(strcmp(names(a, 3), "6.3 6.1 6.2") == 0);
}

static void any_number_of_addresses(void)
{
	enum { K = 40 };
	struct sockaddr_storage a[2 * K], scratch[2 * K];
	for (int i = 0; i < K; i++) {
		a[i] = addr6(i);
		a[K + i] = addr4(i);
	}
	engine_interleave(a, 2 * K, AF_INET6, scratch);
	for (int i = 0; i < K; i++) {
		CHECK(a[2 * i].ss_family == AF_INET6 && a[2 * i + 1].ss_family == AF_INET);
	}
	CHECK(strcmp(names(a + 2 * (K - 1), 2), "6.39 4.39") == 0);
}

/* Section 4 allows a stateful client to reorder by what it knows of each
 * destination: scio puts the addresses history saw fail recently last,
 * and still tries them, so that a repaired path is noticed. */

static void history_puts_broken_addresses_last(void)
{
	struct sockaddr_storage a[4] = { addr6(1), addr4(1), addr6(2), addr4(2) };
	struct sockaddr_storage scratch[4];
	unsigned char broken[4] = { 1, 0, 1, 0 };
	size_t own = engine_broken_last(a, 4, broken, scratch);
	CHECK(strcmp(names(a, 4), "4.1 4.2 6.1 6.2") == 0);
	CHECK_EQ(own, 2);  /* the program's address moved behind the good ones */
}

static void history_with_nothing_broken_changes_nothing(void)
{
	struct sockaddr_storage a[3] = { addr6(1), addr4(1), addr6(2) };
	struct sockaddr_storage scratch[3];
	unsigned char broken[3] = { 0, 0, 0 };
	CHECK_EQ(engine_broken_last(a, 3, broken, scratch), 0);
	CHECK(strcmp(names(a, 3), "6.1 4.1 6.2") == 0);
}

static void history_with_everything_broken_changes_nothing(void)
{
	struct sockaddr_storage a[3] = { addr6(1), addr4(1), addr6(2) };
	struct sockaddr_storage scratch[3];
	unsigned char broken[3] = { 1, 1, 1 };
	CHECK_EQ(engine_broken_last(a, 3, broken, scratch), 0);
	CHECK(strcmp(names(a, 3), "6.1 4.1 6.2") == 0);
}

/* ---- The program's own connect, and its fallback loop ---- */

static void own_connect_blocks_for_three_quarters_of_the_delay(void)
{
	/* a socket timeout fires up to 1/8 late; the race's own wait takes
	 * the rest, so the second attempt still starts at the delay */
	CHECK_EQ(engine_own_bound(DELAY), MS(187) + 500);
	CHECK_EQ(engine_own_bound(MS(10)), 7500);
	CHECK(engine_own_bound(0) > 0);
}

static void network_outcomes_are_replayed_local_ones_are_not(void)
{
	CHECK(engine_replayable(ECONNREFUSED));
	CHECK(engine_replayable(ETIMEDOUT));
	CHECK(engine_replayable(EHOSTUNREACH));
	CHECK(engine_replayable(ENETUNREACH));
	CHECK(engine_replayable(EINPROGRESS));
	CHECK(!engine_replayable(0));
	CHECK(!engine_replayable(EMFILE));
	CHECK(!engine_replayable(ENOBUFS));
	CHECK(!engine_replayable(EINTR));
}

/* ---- A fake transport: per-address outcomes in, the timeline out ---- */

struct fake { int error; int64_t after; };  /* error 0: connects */

/* Runs the engine against outcomes that come `after` each start; returns
 * the winner (or -1) and writes each start time to start[]. */
static int simulate(const struct fake *f, size_t n, int64_t delay, int64_t *start,
		    int *error)
{
	struct engine_slot s[64];
	struct engine e;
	int64_t now = 0, due[64];
	engine_init(&e, s, n, 0, delay, ENGINE_NEVER);
	for (size_t i = 0; i < n; i++)
		due[i] = ENGINE_NEVER;
	for (;;) {
		struct engine_order o = engine_next(&e, now);
		if (o.kind == ENGINE_START) {
			start[o.index] = now;
			due[o.index] = now + f[o.index].after;
			continue;
		}
		if (o.kind == ENGINE_DONE) {
			*error = o.error;
			return e.winner;
		}
		int64_t next = o.until;  /* the earliest outcome or the timer */
		size_t who = n;
		for (size_t i = 0; i < n; i++)
			if (due[i] < next) {
				next = due[i];
				who = i;
			}
		if (next == ENGINE_NEVER)
			return -2;  /* would wait for ever */
		now = next;
		if (who < n) {
			due[who] = ENGINE_NEVER;
			if (f[who].error)
				engine_failed(&e, who, f[who].error, now);
			else
				engine_connected(&e, who, now);
		}
	}
}

static void blackholed_ipv6_then_ipv4_wins_at_the_delay(void)
{
	struct fake f[2] = { { ETIMEDOUT, MS(127000) }, { 0, MS(1) } };
	int64_t start[2];
	int err;
	CHECK_EQ(simulate(f, 2, DELAY, start, &err), 1);
	CHECK_EQ(start[1], DELAY);
}

static void k_dead_addresses_cost_k_delays(void)
{
	/* 2K candidates, all but the last two blackholed: the first live one
	 * starts after 2K - 2 delays (issue 18's large answers) */
	enum { K = 32 };
	struct fake f[2 * K];
	int64_t start[2 * K];
	int err;
	for (int i = 0; i < 2 * K; i++)
		f[i] = (struct fake){ ETIMEDOUT, MS(3000) };
	f[2 * K - 2] = (struct fake){ 0, MS(1) };
	f[2 * K - 1] = (struct fake){ 0, MS(1) };
	CHECK_EQ(simulate(f, 2 * K, MS(20), start, &err), 2 * K - 2);
	CHECK_EQ(start[2 * K - 2], (2 * K - 2) * MS(20));
}

static void refusals_cost_nothing(void)
{
	struct fake f[3] = { { ECONNREFUSED, MS(1) }, { ECONNREFUSED, MS(1) }, { 0, MS(1) } };
	int64_t start[3];
	int err;
	CHECK_EQ(simulate(f, 3, DELAY, start, &err), 2);
	CHECK_EQ(start[2], MS(2));
}

static void every_address_dead_fails_with_the_first_ones_error(void)
{
	struct fake f[2] = { { ECONNREFUSED, MS(1) }, { ENETUNREACH, MS(1) } };
	int64_t start[2];
	int err;
	CHECK_EQ(simulate(f, 2, DELAY, start, &err), -1);
	CHECK_EQ(err, ECONNREFUSED);
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
	RUN(late_addresses_join_the_race);
	RUN(waiting_for_late_addresses_is_not_failing);
	RUN(no_late_addresses_after_their_time);
	RUN(families_alternate_after_the_programs_address);
	RUN(the_programs_ipv4_address_comes_first);
	RUN(one_family_keeps_its_order);
	RUN(any_number_of_addresses);
	RUN(history_puts_broken_addresses_last);
	RUN(history_with_nothing_broken_changes_nothing);
	RUN(history_with_everything_broken_changes_nothing);
	RUN(own_connect_blocks_for_three_quarters_of_the_delay);
	RUN(network_outcomes_are_replayed_local_ones_are_not);
	RUN(blackholed_ipv6_then_ipv4_wins_at_the_delay);
	RUN(k_dead_addresses_cost_k_delays);
	RUN(refusals_cost_nothing);
	RUN(every_address_dead_fails_with_the_first_ones_error);
	return check_exit();
}
