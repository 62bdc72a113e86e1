/*
 * test_delay.c - the Connection Attempt Delay that learns (lib/delay.c,
 * RFC 8305 section 5): the pure choice from what is known, the history's
 * connect times it is fed with, and the setting that overrides it.
 * Grouped by the sentence of section 5 each check holds scio to.
 */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "delay.h"
#include "history.h"

#define T0 ((int64_t)1700000000000)  /* a wall-clock time in ms */

static int choose(int configured, int explicit, uint32_t srtt_us)
{
	struct scio_delay_in in = { .configured_ms = configured, .explicit = explicit,
				    .srtt_us = srtt_us };
	return scio_delay_choose(&in);
}

/* "One recommended value for a default delay is 250 milliseconds." */
static void nothing_known_is_the_250_ms_default(void)
{
	CHECK_EQ(choose(SCIO_CONNECT_DELAY_DEFAULT_MS, 0, 0), 250);
	CHECK_EQ(choose(300, 0, 0), 300);
}

/* "If the client has historical RTT data gathered from other connections
 * to the same host or prefix, it can use this information to influence
 * its delay."  (Issue 18 asks it to: the delay SHOULD be dynamic, using
 * historical RTT data.) */
static void known_connect_times_set_the_delay(void)
{
	CHECK_EQ(choose(250, 0, 150 * 1000), 300);       /* 2 x 150 ms */
	CHECK_EQ(choose(250, 0, 600 * 1000), 1200);      /* a satellite path */
	CHECK_EQ(choose(250, 0, 600 * 1000 + 1), 1201);  /* rounded up */
	CHECK(choose(250, 0, 600 * 1000) > 600);         /* longer than its RTT */
}

/* "A more nuanced implementation's delay should correspond to the time
 * when the previous attempt is sending its second TCP SYN, based on the
 * TCP's retransmission timer [RFC6298]": one RTO is at least the RTT, so
 * the delay never ends before an answer could have come. */
static void the_delay_outlasts_the_known_rtt(void)
{
	for (uint32_t ms = 1; ms <= 1000; ms += 37)
		CHECK(choose(250, 0, ms * 1000) >= (int)ms);
}

/* "The recommended minimum value is 100 milliseconds, which is referred
 * to as the 'Minimum Connection Attempt Delay'." */
static void a_learnt_delay_is_at_least_100_ms(void)
{
	CHECK_EQ(choose(250, 0, 1), 100);
	CHECK_EQ(choose(250, 0, 1000), 100);       /* a 1 ms network */
	CHECK_EQ(choose(250, 0, 50 * 1000), 100);
	CHECK_EQ(choose(250, 0, 51 * 1000), 102);
}

/* "The Connection Attempt Delay MUST have a lower bound ... a subsequent
 * connection MUST NOT be started within 10 milliseconds of the previous
 * attempt." */
static void never_below_10_ms_whatever_asks(void)
{
	CHECK_EQ(choose(1, 1, 0), SCIO_DELAY_FLOOR_MS);
	CHECK_EQ(choose(0, 0, 0), SCIO_DELAY_FLOOR_MS);
	CHECK_EQ(choose(-1, 1, 1000), SCIO_DELAY_FLOOR_MS);
	CHECK_EQ(choose(20, 1, 0), 20);  /* an explicit setting may go under 100 */
}

/* "Additionally, the Connection Attempt Delay MUST have an upper bound,
 * referred to as the 'Maximum Connection Attempt Delay'.  The current
 * recommended value is 2 seconds." */
static void never_above_2_s(void)
{
	CHECK_EQ(choose(250, 0, 1000 * 1000), 2000);
	CHECK_EQ(choose(250, 0, UINT32_MAX), 2000);
	CHECK_EQ(choose(5000, 1, 0), 2000);
	CHECK_EQ(choose(5000, 0, 0), 2000);
}

/* SCIO_CONNECT_DELAY_MS set on purpose is what the user wants: it wins
 * over history (explicit), and the parser tells set from default. */
static const char *delay_value;
static const char *get(const char *name)
{
	return strcmp(name, "SCIO_CONNECT_DELAY_MS") == 0 ? delay_value : NULL;
}

static void an_explicit_setting_overrides_history(void)
{
	CHECK_EQ(choose(250, 1, 600 * 1000), 250);
	CHECK_EQ(choose(40, 1, 1000), 40);

	struct scio_config c;
	char warn[256];
	delay_value = NULL;
	scio_config_parse(&c, get, warn, sizeof(warn));
	CHECK_EQ(c.connect_delay_explicit, 0);
	delay_value = "";
	scio_config_parse(&c, get, warn, sizeof(warn));
	CHECK_EQ(c.connect_delay_explicit, 0);
	delay_value = "250";
	scio_config_parse(&c, get, warn, sizeof(warn));
	CHECK_EQ(c.connect_delay_explicit, 1);
	delay_value = "5";  /* clamped to 10, still a fixed delay asked for */
	scio_config_parse(&c, get, warn, sizeof(warn));
	CHECK_EQ(c.connect_delay_explicit, 1);
	CHECK_EQ(c.connect_delay_ms, 10);
	delay_value = "fast";  /* not a number: the default, learning */
	scio_config_parse(&c, get, warn, sizeof(warn));
	CHECK_EQ(c.connect_delay_explicit, 0);
}

/* A race to text won in rtt_us, at now. */
static void won(const char *text, int64_t rtt_us, int64_t now)
{
	struct scio_report rep;
	memset(&rep, 0, sizeof(rep));
	rep.count = 1;
	rep.candidates = 1;
	rep.attempt[0].addr = check_addr(text);
	rep.attempt[0].end_us = rtt_us;
	rep.attempt[0].won = 1;
	scio_history_record(&rep, now);
}

static uint32_t rtt(const char *text, int64_t now)
{
	struct sockaddr_storage ss = check_addr(text);
	return scio_history_rtt((struct sockaddr *)&ss, now);
}

/* "... from other connections to the same host or prefix": the
 * destination's own connect time first, else its network's (/64, /24). */
static void history_gives_the_host_else_its_prefix(void)
{
	scio_history_configure(SCIO_HISTORY_PROCESS, NULL);
	CHECK_EQ(rtt("2001:db8::10", T0), 0);
	won("2001:db8::10", 600000, T0);
	CHECK_EQ(rtt("2001:db8::10", T0 + 1), 600000);
	CHECK_EQ(rtt("2001:db8::99", T0 + 1), 600000);   /* same /64 */
	CHECK_EQ(rtt("2001:db8:1::10", T0 + 1), 0);      /* another /64 */
	CHECK_EQ(rtt("192.0.2.10", T0 + 1), 0);
	won("2001:db8::99", 8000, T0 + 2000);
	CHECK_EQ(rtt("2001:db8::99", T0 + 3000), 8000);   /* its own */
	CHECK_EQ(rtt("2001:db8::10", T0 + 3000), 600000); /* its own */
	/* smoothed: one quick connect moves it an eighth of the way */
	won("2001:db8::10", 200000, T0 + 4000);
	CHECK_EQ(rtt("2001:db8::10", T0 + 5000), 550000);
	/* a connect that took a retransmitted SYN (over the 1 s initial
	 * RTO) says nothing of the path: the delay does not learn from it */
	won("2001:db8::10", 3 * 1000 * 1000, T0 + 6000);
	CHECK_EQ(rtt("2001:db8::10", T0 + 7000), 550000);
	won("2001:db8:2::1", 1000 * 1000, T0 + 8000);
	CHECK_EQ(rtt("2001:db8:2::1", T0 + 9000), 0);
	/* a success dated in the future (a clock gone back) is not believed */
	CHECK_EQ(rtt("2001:db8::10", T0 - 3600 * 1000), 0);
	scio_history_configure(SCIO_HISTORY_OFF, NULL);
	CHECK_EQ(rtt("2001:db8::10", T0 + 5000), 0);
}

int main(void)
{
	RUN(nothing_known_is_the_250_ms_default);
	RUN(known_connect_times_set_the_delay);
	RUN(the_delay_outlasts_the_known_rtt);
	RUN(a_learnt_delay_is_at_least_100_ms);
	RUN(never_below_10_ms_whatever_asks);
	RUN(never_above_2_s);
	RUN(an_explicit_setting_overrides_history);
	RUN(history_gives_the_host_else_its_prefix);
	return check_exit();
}
