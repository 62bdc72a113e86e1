/* config.c - parse SCIO_* settings; bad values warn and keep defaults. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "internal.h"
#include "history.h"
#include "log.h"

static void add_warning(char *warn, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(warn, size);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(warn + used, size - used, fmt, ap);
	va_end(ap);
}

/* Strict decimal integer: digits only (optional sign), no overflow. */
static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int parse_ms(const char *name, const char *v, int lo, int hi, int *out,
		    char *warn, size_t size)
{
	long n;
	if (parse_long(v, &n) < 0 || n < 0) {
		add_warning(warn, size, "%s=\"%.40s\" is not a number of milliseconds; using %d\n",
			    name, v, *out);
		return 1;
	}
	if (n < lo || n > hi) {
		*out = n < lo ? lo : hi;
		add_warning(warn, size, "%s=%ld is out of range %d..%d; using %d\n",
			    name, n, lo, hi, *out);
		return 1;
	}
	*out = (int)n;
	return 0;
}

static int parse_choice(const char *name, const char *v,
			const char *const *words, const int *values, int *out,
			char *warn, size_t size)
{
	for (size_t i = 0; words[i]; i++) {
		if (strcmp(v, words[i]) == 0) {
			*out = values[i];
			return 0;
		}
	}
	add_warning(warn, size, "%s=\"%.40s\" is not one of", name, v);
	for (size_t i = 0; words[i]; i++)
		add_warning(warn, size, " %s", words[i]);
	add_warning(warn, size, "; ignored\n");
	return 1;
}

int scio_config_parse(struct scio_config *c, scio_getenv_fn get,
		      char *warn, size_t warn_size)
{
	static const char *const log_words[] = { "off", "warn", "info", "debug", NULL };
	static const int log_values[] = { SCIO_LOG_OFF, SCIO_LOG_WARN,
					  SCIO_LOG_INFO, SCIO_LOG_DEBUG };
	static const char *const fam_words[] = { "system", "ipv6", "ipv4", NULL };
	static const int fam_values[] = { AF_UNSPEC, AF_INET6, AF_INET };
	static const char *const bool_words[] = { "0", "1", NULL };
	static const char *const hist_words[] = { "off", "process", "on", NULL };
	static const int hist_values[] = { SCIO_HISTORY_OFF, SCIO_HISTORY_PROCESS,
					   SCIO_HISTORY_SHARED };
	static const int bool_values[] = { 0, 1 };
	const char *v;
	int bad = 0, level = SCIO_LOG_WARN;

	*c = (struct scio_config){
		.connect_delay_ms = SCIO_CONNECT_DELAY_DEFAULT_MS,
		.resolution_delay_ms = SCIO_RESOLUTION_DELAY_DEFAULT_MS,
		.prefer_family = AF_UNSPEC,  /* the system's order */
		.log_level = SCIO_LOG_WARN,
		.history = SCIO_HISTORY_SHARED,
	};
	if (warn && warn_size)
		warn[0] = '\0';
	else
		warn_size = 0;

	if ((v = get("SCIO_DISABLE")) && *v)
		bad += parse_choice("SCIO_DISABLE", v, bool_words, bool_values,
				    &c->disabled, warn, warn_size);
	if ((v = get("SCIO_CONNECT_DELAY_MS")) && *v)
		bad += parse_ms("SCIO_CONNECT_DELAY_MS", v, SCIO_CONNECT_DELAY_MIN_MS,
				SCIO_CONNECT_DELAY_MAX_MS, &c->connect_delay_ms,
				warn, warn_size);
	if ((v = get("SCIO_RESOLUTION_DELAY_MS")) && *v)
		bad += parse_ms("SCIO_RESOLUTION_DELAY_MS", v, 0, 2000,
				&c->resolution_delay_ms, warn, warn_size);
	if ((v = get("SCIO_PREFER")) && *v)
		bad += parse_choice("SCIO_PREFER", v, fam_words, fam_values,
				    &c->prefer_family, warn, warn_size);
	if ((v = get("SCIO_LOG")) && *v) {
		bad += parse_choice("SCIO_LOG", v, log_words, log_values, &level,
				    warn, warn_size);
		c->log_level = (enum scio_log_level)level;
	}
	if ((v = get("SCIO_HISTORY")) && *v)
		bad += parse_choice("SCIO_HISTORY", v, hist_words, hist_values,
				    &c->history, warn, warn_size);
	if ((v = get("SCIO_HISTORY_FILE")) && *v) {
		if (strlen(v) >= sizeof(c->history_file) || v[0] != '/') {
			add_warning(warn, warn_size, "SCIO_HISTORY_FILE must be an absolute path; using the default\n");
			bad++;
		} else {
			strcpy(c->history_file, v);
		}
	}
	if ((v = get("SCIO_LOG_FILE")) && *v) {
		if (strlen(v) >= sizeof(c->log_file)) {
			add_warning(warn, warn_size, "SCIO_LOG_FILE is too long; logging to stderr\n");
			bad++;
		} else {
			strcpy(c->log_file, v);
		}
	}
	return bad;
}

static struct scio_config the_config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static const char *env_get(const char *name)
{
	return secure_getenv(name);
}

static void load_config(void)
{
	char warn[1024];
	int bad = scio_config_parse(&the_config, env_get, warn, sizeof(warn));
	scio_log_set(&the_config);
	scio_history_configure(the_config.disabled ? SCIO_HISTORY_OFF
						   : (enum scio_history_mode)the_config.history,
			       the_config.history_file);
	if (bad == 0)
		return;
	for (char *line = warn, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		scio_log(SCIO_LOG_WARN, "%s", line);
	}
}

const struct scio_config *scio_config(void)
{
	scio_once(&config_once, load_config);
	return &the_config;
}

void scio_config_reset(void)
{
	config_once = PTHREAD_ONCE_INIT;
}
