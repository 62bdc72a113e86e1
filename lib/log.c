/* log.c - one write() per line, to stderr or an append-only file that is
 * opened per line so that the shim holds no fd of its own. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

static const struct scio_config *log_config;

void scio_log_set(const struct scio_config *c)
{
	__atomic_store_n(&log_config, c, __ATOMIC_RELEASE);
}

int scio_log_enabled(enum scio_log_level level)
{
	const struct scio_config *c = __atomic_load_n(&log_config, __ATOMIC_ACQUIRE);
	enum scio_log_level current = c ? c->log_level : SCIO_LOG_WARN;
	return level != SCIO_LOG_OFF && level <= current;
}

void scio_log(enum scio_log_level level, const char *fmt, ...)
{
	if (!scio_log_enabled(level))
		return;
	int saved = errno;
	char line[1024];
	int n = snprintf(line, sizeof(line), "scio[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';

	const struct scio_config *c = __atomic_load_n(&log_config, __ATOMIC_ACQUIRE);
	int fd = 2, opened = 0;
	if (c && c->log_file[0]) {
		fd = open(c->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			  O_NOCTTY, 0600);
		opened = fd >= 0;
		if (!opened)
			fd = 2;
	}
	ssize_t w = write(fd, line, len);
	(void)w;
	if (opened)
		close(fd);
	errno = saved;
}
