/*
 * clock.h - scio's one time module: the monotonic clock in microseconds
 * (races, answers, timeouts), the wall clock in milliseconds (history,
 * shared between processes and reboots), and the programs' timeouts in
 * the milliseconds poll() takes.
 */
#ifndef SCIO_CLOCK_H
#define SCIO_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline int64_t scio_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t scio_wall_ms(void);

/* Milliseconds for poll() until `until` (µs; ENGINE_NEVER, INT64_MAX:
 * -1), rounded up. */
int scio_poll_timeout(int64_t until, int64_t now);

/* A program's timeout in milliseconds, rounded up, at most INT_MAX,
 * negative as 0; NULL: -1 (none), as select, pselect and ppoll take it. */
int scio_timeval_ms(const struct timeval *tv);
int scio_timespec_ms(const struct timespec *t);

/* A timeout the kernel refuses (EINVAL: negative, or nanoseconds or
 * microseconds out of range): such a call goes to libc untouched. */
static inline int scio_timespec_bad(const struct timespec *t)
{
	return t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000L);
}

static inline int scio_timeval_bad(const struct timeval *tv)
{
	return tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000L);
}

#endif
