/*
 * test_history.c - the history's verdicts (lib/history.c) in memory
 * (SCIO_HISTORY=process), without sockets or files: which destinations
 * and networks count as broken, and what times are believed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "check.h"
#include "history.h"

#define T0 ((int64_t)1700000000000)  /* a wall-clock time in ms */
#define HOUR ((int64_t)3600 * 1000)

/* A race of one attempt to text that worked (ok) or timed out, at now. */
static void record(const char *text, int ok, int64_t now)
{
	struct scio_report rep;
	memset(&rep, 0, sizeof(rep));
	rep.count = 1;
	rep.candidates = 1;
	rep.winner = ok ? 0 : -1;
	rep.error = ok ? 0 : ETIMEDOUT;
	rep.attempt[0].addr = check_addr(text);
	rep.attempt[0].addrlen = sizeof(struct sockaddr_in6);
	rep.attempt[0].end_us = 1000;
	rep.attempt[0].error = ok ? 0 : ETIMEDOUT;
	rep.attempt[0].won = ok;
	scio_history_record(&rep, now);
}

static int broken(const char *text, int64_t now)
{
	struct sockaddr_storage ss = check_addr(text);
	return scio_history_broken((struct sockaddr *)&ss, now);
}

static void fresh(void)
{
	scio_history_configure(SCIO_HISTORY_PROCESS, NULL);
}

static void one_failing_destination_does_not_condemn_its_network(void)
{
	fresh();
	record("2001:db8::10", 0, T0);
	record("192.0.2.10", 0, T0);
	CHECK(broken("2001:db8::10", T0 + 1));
	CHECK(broken("192.0.2.10", T0 + 1));
	CHECK(!broken("2001:db8::20", T0 + 1));
	CHECK(!broken("192.0.2.20", T0 + 1));
}

static void two_failing_destinations_condemn_their_network(void)
{
	fresh();
	record("2001:db8::10", 0, T0);
	record("2001:db8::11", 0, T0 + 10);
	record("192.0.2.10", 0, T0);
	record("192.0.2.11", 0, T0 + 10);
	CHECK(broken("2001:db8::20", T0 + 20));
	CHECK(broken("192.0.2.20", T0 + 20));
	/* another network is not concerned */
	CHECK(!broken("2001:db8:1::20", T0 + 20));
	CHECK(!broken("198.51.100.20", T0 + 20));
	/* the same destination failing twice is still one destination */
	fresh();
	record("2001:db8::10", 0, T0);
	record("2001:db8::10", 0, T0 + 10);
	CHECK(!broken("2001:db8::20", T0 + 20));
}

static void a_success_anywhere_in_the_network_clears_it(void)
{
	fresh();
	record("2001:db8::10", 0, T0);
	record("2001:db8::11", 0, T0 + 10);
	record("2001:db8::30", 1, T0 + 20);
	CHECK(!broken("2001:db8::20", T0 + 30));
	CHECK(broken("2001:db8::10", T0 + 30));  /* its own failure stands */
	/* one new failure after the success is again one destination */
	record("2001:db8::12", 0, T0 + 40);
	CHECK(!broken("2001:db8::20", T0 + 50));
	record("2001:db8::13", 0, T0 + 60);
	CHECK(broken("2001:db8::20", T0 + 70));
}

static void the_verdict_lasts_the_ttl_and_no_longer(void)
{
	fresh();
	record("2001:db8::10", 0, T0);
	CHECK(broken("2001:db8::10", T0 + SCIO_HISTORY_TTL_MS - 1));
	CHECK(!broken("2001:db8::10", T0 + SCIO_HISTORY_TTL_MS));
}

static void a_failure_dated_after_now_is_not_believed(void)
{
	/* recorded before the clock was stepped back an hour */
	fresh();
	record("2001:db8::10", 0, T0 + HOUR);
	CHECK(!broken("2001:db8::10", T0));
	CHECK(!broken("2001:db8::10", T0 + HOUR / 2));
	/* a few ms of skew between processes is believed */
	fresh();
	record("2001:db8::10", 0, T0 + 50);
	CHECK(broken("2001:db8::10", T0));
	/* a failure "for ever" */
	fresh();
	record("2001:db8::10", 0, (int64_t)1 << 62);
	CHECK(!broken("2001:db8::10", T0));
}

static void a_success_dated_after_now_hides_no_failure(void)
{
	fresh();
	record("2001:db8::10", 1, T0 + HOUR);
	record("2001:db8::10", 0, T0);
	CHECK(broken("2001:db8::10", T0 + 1));
}

int main(void)
{
	RUN(one_failing_destination_does_not_condemn_its_network);
	RUN(two_failing_destinations_condemn_their_network);
	RUN(a_success_anywhere_in_the_network_clears_it);
	RUN(the_verdict_lasts_the_ttl_and_no_longer);
	RUN(a_failure_dated_after_now_is_not_believed);
	RUN(a_success_dated_after_now_hides_no_failure);
	return check_exit();
}
