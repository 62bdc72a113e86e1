/* shim.h - the preload shim's only state: libc's real functions. */
#ifndef SCIO_SHIM_H
#define SCIO_SHIM_H

#include <time.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Points scio_sys at libc's functions (once, from any thread). */
void shim_init(void);

extern int shim_initialised;

/* libc's close, or the raw system call until shim_init found it. */
extern int (*shim_libc_close)(int);

/* What every interposed function does first: one load once initialised. */
static inline void shim_ready(void)
{
	if (__builtin_expect(!__atomic_load_n(&shim_initialised, __ATOMIC_ACQUIRE), 0))
		shim_init();
}

#endif
