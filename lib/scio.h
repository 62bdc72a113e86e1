/*
 * scio.h - the SCIO library: dual-stack TCP connects that do not hang when
 * one address family is broken (Happy Eyeballs, RFC 8305), plus buffered
 * line I/O for simple text protocols.
 *
 * Every function that takes a `const struct scio_options *` accepts NULL
 * for the defaults.  Functions that fail return -1 (or NULL) with errno set.
 */
#ifndef SCIO_H
#define SCIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCIO_VERSION "0.1.0"

#if defined(__GNUC__)
#define SCIO_API __attribute__((visibility("default")))
#else
#define SCIO_API
#endif

#define SCIO_CONNECT_DELAY_DEFAULT_MS 250
#define SCIO_CONNECT_DELAY_MIN_MS 10
#define SCIO_CONNECT_DELAY_MAX_MS 2000
/* scio_options.connect_delay_ms: learn it (the default) */
#define SCIO_CONNECT_DELAY_LEARN (-1)
#define SCIO_RESOLUTION_DELAY_DEFAULT_MS 50

enum scio_log_level {
	SCIO_LOG_OFF = 0,
	SCIO_LOG_WARN,
	SCIO_LOG_INFO,
	SCIO_LOG_DEBUG,
};

struct scio_report;

struct scio_options {
	/* Connection Attempt Delay.  SCIO_CONNECT_DELAY_LEARN (-1, what
	 * scio_options_init sets): scio_connect uses the user's history as
	 * the preloaded shim does (addresses that failed lately go last, the
	 * race is recorded, and the delay follows the connect times recorded
	 * for the first address or its network: 2 x the smoothed time within
	 * 100..2000 ms, 250 ms when none is known); the environment's
	 * SCIO_CONNECT_DELAY_MS, SCIO_HISTORY and SCIO_HISTORY_FILE apply.
	 * 10..2000 (clamped): that fixed delay, and no history read or
	 * written. */
	int connect_delay_ms;
	int resolution_delay_ms; /* wait for the other family's answer */
	int prefer_family;       /* family of the first attempt: AF_UNSPEC (default)
				    for the system's order (RFC 6724, gai.conf),
				    AF_INET6 or AF_INET */
	int family;              /* AF_UNSPEC (default), AF_INET or AF_INET6 only */
	int timeout_ms;          /* whole connect; -1 (default): no deadline */
	struct scio_report *report; /* if non-NULL, filled with what happened */
};

/* Fills *o with the defaults above. */
SCIO_API void scio_options_init(struct scio_options *o);

/*
 * Resolves host:service (AF_UNSPEC unless o->family says otherwise,
 * SOCK_STREAM; A and AAAA raced as the shim races them, with the
 * environment's SCIO_RESOLVER) and races the addresses.  Returns a connected socket in
 * blocking mode with FD_CLOEXEC set, or -1 with errno set.  A name that
 * does not resolve is told apart by scio_last_gai_error().
 */
SCIO_API int scio_connect(const char *host, const char *service,
		 const struct scio_options *o);

/* The classic loop: one address after the other, each bounded by
 * o->timeout_ms when it is set.  Same return convention as scio_connect. */
SCIO_API int scio_connect_serial(const char *host, const char *service,
			const struct scio_options *o);

/*
 * After scio_connect or scio_connect_serial failed, returns the
 * getaddrinfo code (EAI_NONAME, EAI_AGAIN, EAI_SERVICE, ...) when the
 * failure was name resolution, for gai_strerror(), else 0.  Per thread.
 * errno is then EAGAIN for EAI_AGAIN, ENOMEM for EAI_MEMORY, the system's
 * errno for EAI_SYSTEM, and ENXIO for every other resolution failure.
 */
SCIO_API int scio_last_gai_error(void);

/* ---- what a race did: one entry per attempt, in start order ---- */

#define SCIO_REPORT_MAX 16

struct scio_attempt {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int64_t start_us;   /* microseconds since the race began */
	int64_t end_us;     /* -1 while still in flight when the race ended */
	int error;          /* 0 for the winner, else the attempt's errno */
	int won;
};

struct scio_report {
	size_t count;        /* attempts recorded (at most SCIO_REPORT_MAX) */
	size_t candidates;   /* addresses there were to try */
	int winner;          /* index into attempt[], or -1 */
	int error;           /* errno of the whole race, 0 on success */
	int64_t elapsed_us;  /* whole race */
	struct scio_attempt attempt[SCIO_REPORT_MAX];
};

/* Writes "2001:db8::1 port 25" style text for an address; returns buf. */
SCIO_API const char *scio_addr_str(const struct sockaddr *sa, char *buf, size_t size);

/* ---- the lower-level race over given addresses ---- */

struct scio_race {
	const struct sockaddr_storage *addrs; /* candidates, in attempt order */
	size_t naddrs;
	size_t primary;       /* its error is the race's error on total failure */
	int connect_delay_ms; /* clamped to 10..2000; SCIO_CONNECT_DELAY_LEARN: 250 (no history here) */
	int timeout_ms;       /* -1: none; counted from the race's start */
	/* called on each socket the race creates, before its connect; a
	 * non-zero return fails that attempt with errno */
	int (*prepare)(int fd, const struct sockaddr *dst, void *arg);
	void *prepare_arg;
	struct scio_report *report; /* may be NULL */
};

/*
 * Races r->addrs.  Returns the connected socket (non-blocking as created),
 * or -1 with errno: the primary address's error on total failure,
 * ETIMEDOUT when the deadline passed.  Every socket the race created and
 * did not return is closed.
 */
SCIO_API int scio_race_connect(const struct scio_race *r);

/* ---- buffered line I/O ---- */

struct scio_stream;

SCIO_API struct scio_stream *scio_stream_open(int fd);
/*
 * Reads one line into buf (NUL-terminated, line ending removed).  Returns
 * its length, 0 for an empty line or at end of stream (scio_stream_eof()
 * tells which), -1 with errno: EMSGSIZE
 * when the line does not fit (the rest of that line is discarded, so the
 * next call reads the next line), EPROTO when the peer closed mid-line
 * (the partial line is in buf), EINVAL for size 0.
 */
SCIO_API ssize_t scio_getline(struct scio_stream *s, char *buf, size_t size);
/* 1 once the peer has closed and every line has been read. */
SCIO_API int scio_stream_eof(const struct scio_stream *s);
/* Writes line and CRLF completely.  0, or -1 with errno. */
SCIO_API int scio_putline(struct scio_stream *s, const char *line);
/* Frees the stream and closes its fd. */
SCIO_API int scio_stream_close(struct scio_stream *s);

#ifdef __cplusplus
}
#endif

#endif
