/* shim.h - the preload shim's only state: libc's real functions. */
#ifndef SCIO_SHIM_H
#define SCIO_SHIM_H

#include <time.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The milliseconds a timespec timeout stands for, rounded up; -1: none. */
static inline int timespec_ms(const struct timespec *t)
{
	if (!t)
		return -1;
	long long ms = (long long)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000;
	return ms > 0x7fffffff ? 0x7fffffff : ms < 0 ? 0 : (int)ms;
}

/* Points scio_sys at libc's functions (once, from any thread). */
void shim_init(void);

extern int shim_initialised;

/* What every interposed function does first: one load once initialised. */
static inline void shim_ready(void)
{
	if (__builtin_expect(!__atomic_load_n(&shim_initialised, __ATOMIC_ACQUIRE), 0))
		shim_init();
}

#endif
