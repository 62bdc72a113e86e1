/* log.h - the shim's log: stderr or SCIO_LOG_FILE, never stdout. */
#ifndef SCIO_LOG_H
#define SCIO_LOG_H

#include "config.h"

void scio_log_set(const struct scio_config *c);
int scio_log_enabled(enum scio_log_level level);
/* One line, written with a single write(); errno is preserved. */
void scio_log(enum scio_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
