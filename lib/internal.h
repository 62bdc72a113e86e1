/* internal.h - helpers shared inside the SCIO library (not installed). */
#ifndef SCIO_INTERNAL_H
#define SCIO_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define SCIO_HIDDEN __attribute__((visibility("hidden")))

static inline int64_t scio_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds for poll() until `until` (µs), rounded up; -1 for never. */
int scio_poll_timeout(int64_t until, int64_t now);

/* After poll() reported a connecting socket: 0 when connected,
 * EINPROGRESS when not yet, else the connect's error. */
int scio_connect_finish(int fd, const struct sockaddr *dst);

/* Clears O_NONBLOCK; 0 or -1 with errno. */
int scio_set_blocking(int fd);

socklen_t scio_sockaddr_len(const struct sockaddr *sa);

#endif
