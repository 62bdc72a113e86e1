/* fuzz_config.c - the settings parser on arbitrary environments: the
 * input is NUL-separated NAME=VALUE pairs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

static const char *const *pairs;
static size_t npairs;

static const char *get(const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < npairs; i++)
		if (strncmp(pairs[i], name, len) == 0 && pairs[i][len] == '=')
			return pairs[i] + len + 1;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *list[32];
	memcpy(copy, data, size);
	copy[size] = '\0';
	npairs = 0;
	for (char *p = copy; p < copy + size && npairs < 32; p += strlen(p) + 1)
		list[npairs++] = p;
	pairs = list;

	struct scio_config c;
	char warn[256];
	int bad = scio_config_parse(&c, get, warn, sizeof(warn));
	if (c.connect_delay_ms < SCIO_CONNECT_DELAY_MIN_MS ||
	    c.connect_delay_ms > SCIO_CONNECT_DELAY_MAX_MS ||
	    (c.prefer_family != AF_UNSPEC && c.prefer_family != AF_INET &&
	     c.prefer_family != AF_INET6) || bad < 0 ||
	    strlen(warn) >= sizeof(warn))
		abort();
	/* paths: empty or absolute; warnings: printable, one per line */
	if ((c.log_file[0] && c.log_file[0] != '/') ||
	    (c.history_file[0] && c.history_file[0] != '/'))
		abort();
	for (const char *w = warn; *w; w++)
		if ((*w < 0x20 && *w != '\n') || *w == 0x7f)
			abort();
	char token[17];
	scio_config_fingerprint(get, token);
	if (strlen(token) != 16)
		abort();
	free(copy);
	return 0;
}
