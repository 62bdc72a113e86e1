/*
 * delay.c - the Connection Attempt Delay that follows the recorded
 * connect times (see delay.h).
 *
 * RFC 8305 section 5 would have the delay end when the first attempt
 * sends its second SYN, that is one retransmission timeout (RFC 6298:
 * SRTT + 4 RTTVAR, 3 RTT after a single sample, close to SRTT on a steady
 * path).  History keeps no variance, so the delay is 2 SRTT: a path that
 * answered in 600 ms is given 1.2 s before the other family starts, and a
 * 1 ms network falls back after the 100 ms minimum instead of 250 ms.
 */
#include "clock.h"
#include "delay.h"
#include "history.h"

static int clamp(int64_t v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

int scio_delay_choose(const struct scio_delay_in *in)
{
	if (in->explicit || in->srtt_us == 0)
		return clamp(in->configured_ms, SCIO_DELAY_FLOOR_MS, SCIO_DELAY_MAX_MS);
	int64_t twice_ms = (2 * (int64_t)in->srtt_us + 999) / 1000;
	return clamp(twice_ms, SCIO_DELAY_LEARNT_MIN_MS, SCIO_DELAY_MAX_MS);
}

int scio_delay_for(const struct sockaddr *first, const struct scio_config *cfg)
{
	struct scio_delay_in in = {
		.configured_ms = cfg->connect_delay_ms,
		.explicit = cfg->connect_delay_explicit,
	};
	if (!in.explicit)
		in.srtt_us = scio_history_rtt(first, scio_wall_ms());
	return scio_delay_choose(&in);
}
