/*
 * telar-log.c - messages: "telar: ..." lines on stderr, or syslog (-s).
 *
 * Errors, warnings and notices (the user telar runs as) are always
 * logged; informational lines (one per connection, start and stop) only
 * with -v.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "telar.h"

static int log_to_syslog;
static int log_verbose;

void log_open(int use_syslog, int verbose)
{
	log_verbose = verbose;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(TELAR_PROGNAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_is_verbose(void)
{
	return log_verbose;
}

/* One message, written with one write(2) so lines never interleave. */
static TELAR_PRINTF(2, 0)
void log_emit(int priority, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog) {
		syslog(priority, "%s", msg);
	} else {
		char line[sizeof(msg) + sizeof(TELAR_PROGNAME ": \n")];
		int len = snprintf(line, sizeof(line), "%s: %s\n",
				   TELAR_PROGNAME, msg);

		if (len > 0) {
			size_t n = (size_t)len < sizeof(line) ? (size_t)len
							      : sizeof(line) - 1;
			/* Nothing sensible to do when stderr is gone. */
			ssize_t w = write(STDERR_FILENO, line, n);
			(void)w;
		}
	}
	errno = saved_errno;
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, fmt, ap);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_NOTICE, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap);
	va_end(ap);
}
