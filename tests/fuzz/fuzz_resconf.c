/* fuzz_resconf.c - the nsswitch.conf and resolv.conf parsers (as glibc
 * 2.36 reads them) on arbitrary contents: the input up to the first
 * 0xff byte is the nsswitch.conf, the rest the resolv.conf.  What they
 * hand the DNS stub must be within glibc's bounds. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "resconf.h"

static void check_servers(const struct scio_resconf *c)
{
	if (c->nservers < 1 || c->nservers > SCIO_RESCONF_MAXNS)
		abort();
	for (int i = 0; i < c->nservers; i++) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&c->server[i];
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&c->server[i];
		if (s4->sin_family == AF_INET ? s4->sin_port != htons(53) :
		    s6->sin6_family != AF_INET6 || s6->sin6_port != htons(53) ||
		    s6->sin6_scope_id != 0)
			abort();
	}
}

static void check_search(const struct scio_resconf *c)
{
	if (c->nsearch < 0 || c->nsearch > SCIO_RESCONF_MAXSEARCH)
		abort();
	size_t at = 0;
	for (int i = 0; i < c->nsearch; i++) {
		size_t n = strnlen(c->search + at, sizeof(c->search) - at);
		if (n == 0 || at + n >= sizeof(c->search))
			abort();
		for (size_t j = 0; j < n; j++) {
			char ch = c->search[at + j];
			if (ch <= ' ' || ch >= 0x7f)
				abort();
		}
		at += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *cut = memchr(data, 0xff, size);
	size_t nss_len = cut ? (size_t)(cut - data) : size;
	(void)scio_resconf_parse_nsswitch(text, nss_len);

	const char *res = cut ? text + nss_len + 1 : text;
	size_t res_len = cut ? size - nss_len - 1 : size;
	struct scio_resconf c;
	memset(&c, 0xa5, sizeof(c));
	if (!scio_resconf_parse_resolv(res, res_len, &c))
		return 0;
	check_servers(&c);
	if (c.ndots < 0 || c.ndots > 15 || c.timeout_s < 1 || c.timeout_s > 30 ||
	    c.attempts < 1 || c.attempts > 5 || (c.trust_ad != 0 && c.trust_ad != 1) ||
	    (c.edns0 != 0 && c.edns0 != 1))
		abort();
	check_search(&c);
	return 0;
}
