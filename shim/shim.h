/* shim.h - the preload shim's only state: libc's real functions. */
#ifndef SCIO_SHIM_H
#define SCIO_SHIM_H

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Points scio_sys at libc's functions; cheap after the first call. */
void shim_init(void);

#endif
