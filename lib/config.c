/* config.c - parse SCIO_* settings; bad values warn and keep defaults. */
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "internal.h"
#include "history.h"
#include "log.h"

static __attribute__((format(printf, 3, 4)))
void add_warning(char *warn, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(warn, size);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(warn + used, size - used, fmt, ap);
	va_end(ap);
}

/* A value as it may appear in a message: at most 40 bytes, anything that
 * is not printable ASCII (a terminal escape, say) shown as '?'. */
static void quote_value(const char *v, char *out, size_t size)
{
	size_t i = 0, max = size - 4;
	if (max > 40)
		max = 40;
	for (; v[i] && i < max; i++)
		out[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	out[i] = '\0';
	if (v[i])
		strcpy(out + i, "...");
}

/*
 * The one rule for every number: decimal digits only, nothing around
 * them (no blank, no sign).  Values past LONG_MAX saturate there (they
 * are out of every range).  -1 when v is not such a number.
 */
static int parse_digits(const char *v, long *out)
{
	long n = 0;
	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		int d = *v - '0';
		n = n > (LONG_MAX - d) / 10 ? LONG_MAX : n * 10 + d;
	}
	*out = n;
	return 0;
}

static int parse_ms(const char *name, const char *v, int lo, int hi, int *out,
		    char *warn, size_t size)
{
	char shown[48];
	long n;
	quote_value(v, shown, sizeof(shown));
	if (parse_digits(v, &n) < 0) {
		add_warning(warn, size, "%s=\"%s\" is not a number of milliseconds (digits only); using %d\n",
			    name, shown, *out);
		return 1;
	}
	if (n < lo || n > hi) {
		*out = n < lo ? lo : hi;
		add_warning(warn, size, "%s=%s is out of range %d..%d; using %d\n",
			    name, shown, lo, hi, *out);
		return 1;
	}
	*out = (int)n;
	return 0;
}

/* An absolute path that fits in out[SCIO_PATH_MAX]; else a warning that
 * says which of the two it is not. */
static int parse_path(const char *name, const char *v, char *out,
		      const char *instead, char *warn, size_t size)
{
	char shown[48];
	quote_value(v, shown, sizeof(shown));
	if (v[0] != '/') {
		add_warning(warn, size, "%s=\"%s\" is not an absolute path; %s\n",
			    name, shown, instead);
		return 1;
	}
	size_t len = strlen(v);
	if (len >= SCIO_PATH_MAX) {
		add_warning(warn, size, "%s is too long (%zu bytes, at most %d); %s\n",
			    name, len, SCIO_PATH_MAX - 1, instead);
		return 1;
	}
	memcpy(out, v, len + 1);
	return 0;
}

/* SCIO_NAT64_PREFIX: "off", or a prefix of a length RFC 6052 allows. */
static int parse_nat64(const char *v, struct scio_config *c, char *warn, size_t size)
{
	if (strcmp(v, "off") == 0) {
		c->nat64 = SCIO_NAT64_OFF;
		return 0;
	}
	if (scio_nat64_parse_prefix(v, &c->nat64_prefix) == 0) {
		c->nat64 = SCIO_NAT64_CONFIGURED;
		return 0;
	}
	char shown[48];
	quote_value(v, shown, sizeof(shown));
	add_warning(warn, size, "SCIO_NAT64_PREFIX=\"%s\" is neither off nor an IPv6 "
		    "prefix of length 32, 40, 48, 56, 64 or 96 with no bits after it "
		    "(e.g. 64:ff9b::/96); discovering the prefix instead\n", shown);
	return 1;
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
	char shown[48];
	quote_value(v, shown, sizeof(shown));
	add_warning(warn, size, "%s=\"%s\" is not one of", name, shown);
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
	static const char *const resolver_words[] = { "stub", "system", NULL };
	static const int resolver_values[] = { SCIO_RESOLVER_STUB, SCIO_RESOLVER_SYSTEM };
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
	if ((v = get("SCIO_CONNECT_DELAY_MS")) && *v) {
		long n;
		bad += parse_ms("SCIO_CONNECT_DELAY_MS", v, SCIO_CONNECT_DELAY_MIN_MS,
				SCIO_CONNECT_DELAY_MAX_MS, &c->connect_delay_ms,
				warn, warn_size);
		/* a number, even clamped, is a fixed delay asked for */
		c->connect_delay_explicit = parse_digits(v, &n) == 0;
	}
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
	if ((v = get("SCIO_HISTORY_FILE")) && *v)
		bad += parse_path("SCIO_HISTORY_FILE", v, c->history_file,
				  "using the default", warn, warn_size);
	if ((v = get("SCIO_LOG_FILE")) && *v)
		bad += parse_path("SCIO_LOG_FILE", v, c->log_file,
				  "logging to stderr", warn, warn_size);
	if ((v = get("SCIO_RESOLVER")) && *v)
		bad += parse_choice("SCIO_RESOLVER", v, resolver_words, resolver_values,
				    &c->resolver, warn, warn_size);
	if ((v = get("SCIO_NAT64_PREFIX")) && *v)
		bad += parse_nat64(v, c, warn, warn_size);
	return bad;
}

/* Every setting the shim reads; scripts/scio-run names them too. */
static const char *const setting_names[] = {
	"SCIO_DISABLE", "SCIO_CONNECT_DELAY_MS", "SCIO_RESOLUTION_DELAY_MS",
	"SCIO_PREFER", "SCIO_LOG", "SCIO_LOG_FILE", "SCIO_HISTORY",
	"SCIO_HISTORY_FILE", "SCIO_NAT64_PREFIX", "SCIO_RESOLVER", NULL
};

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void scio_config_fingerprint(scio_getenv_fn get, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; setting_names[i]; i++) {
		const char *v = get(setting_names[i]);
		if (!v || !*v)
			continue;  /* the parser ignores empty values too */
		h = fnv1a(h, setting_names[i], strlen(setting_names[i]) + 1);
		h = fnv1a(h, v, strlen(v) + 1);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int scio_config_already_checked(scio_getenv_fn get)
{
	const char *said = get("SCIO_SETTINGS_CHECKED");
	char now[17];
	if (!said)
		return 0;
	scio_config_fingerprint(get, now);
	return strcmp(said, now) == 0;
}

static void log_warnings(char *warn)
{
	for (char *line = warn, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		scio_log(SCIO_LOG_WARN, "%s", line);
	}
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
	if (bad && !scio_config_already_checked(env_get))
		log_warnings(warn);
}

int scio_config_check_settings(FILE *token_out)
{
	static struct scio_config checked;
	char warn[1024], token[17];
	int bad = scio_config_parse(&checked, env_get, warn, sizeof(warn));
	scio_log_set(&checked);
	if (bad == 0)
		return 0;
	if (!scio_config_already_checked(env_get))
		log_warnings(warn);
	scio_config_fingerprint(env_get, token);
	fprintf(token_out, "%s\n", token);
	return bad;
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
