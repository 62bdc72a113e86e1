/* clock.c - the clocks and timeout conversions (see clock.h). */
#include <limits.h>

#include "clock.h"

int64_t scio_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int scio_poll_timeout(int64_t until, int64_t now)
{
	if (until == INT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	int64_t ms = (until - now + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int clamp_ms(int64_t ms)
{
	return ms > INT_MAX ? INT_MAX : ms < 0 ? 0 : (int)ms;
}

int scio_timeval_ms(const struct timeval *tv)
{
	if (!tv)
		return -1;
	return clamp_ms((int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
}

int scio_timespec_ms(const struct timespec *t)
{
	if (!t)
		return -1;
	return clamp_ms((int64_t)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000);
}
