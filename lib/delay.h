/*
 * delay.h - the Connection Attempt Delay (RFC 8305 section 5), learnt
 * from the connect times history recorded for the destination or its
 * network.
 *
 * scio_delay_choose is pure (the engine stays sans-IO: it is given the
 * delay); scio_delay_for asks history and the settings, then calls it.
 */
#ifndef SCIO_DELAY_H
#define SCIO_DELAY_H

#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* No second attempt within 10 ms of the previous one, whatever asks. */
#define SCIO_DELAY_FLOOR_MS 10
/* A delay learnt from history goes no lower ("Minimum Connection
 * Attempt Delay"); an explicit setting may, down to the floor. */
#define SCIO_DELAY_LEARNT_MIN_MS 100
/* "Maximum Connection Attempt Delay". */
#define SCIO_DELAY_MAX_MS 2000

/* What is known when a race starts. */
struct scio_delay_in {
	int configured_ms;  /* SCIO_CONNECT_DELAY_MS, or the 250 ms default */
	int explicit;       /* 1: configured_ms was set on purpose: it wins */
	uint32_t srtt_us;   /* smoothed connect time of the first candidate's
			       destination (else its network); 0: unknown */
};

/* The delay in milliseconds: the explicit setting (within 10..2000);
 * else twice the smoothed connect time, within 100..2000; else the
 * configured default. */
int scio_delay_choose(const struct scio_delay_in *in);

/* The delay for a race whose first attempt goes to `first`, from the
 * process's settings and the user's history. */
int scio_delay_for(const struct sockaddr *first, const struct scio_config *cfg);

#endif
