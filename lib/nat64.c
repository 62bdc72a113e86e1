/*
 * nat64.c - RFC 6052 address synthesis and RFC 7050 prefix discovery
 * (see nat64.h).  /96 holds the IPv4 address in bytes 12..15; shorter
 * prefixes put it right after themselves around the u octet.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat64.h"

static const unsigned char wkp[12] = { 0, 0x64, 0xff, 0x9b };

int scio_nat64_len_ok(int len)
{
	return len == 32 || len == 40 || len == 48 || len == 56 || len == 64 ||
	       len == 96;
}

int scio_nat64_is_wkp(const struct scio_nat64_prefix *p)
{
	return p->len == 96 && memcmp(p->addr.s6_addr, wkp, sizeof(wkp)) == 0;
}

struct v4net { uint32_t net; int len; };

/* IANA's IPv4 special-purpose registry, the blocks not marked global
 * (192.0.0.9 and .10 are, inside a block that is not). */
static const struct v4net not_global[] = {
	{ 0x00000000, 8 },  { 0x0a000000, 8 },  { 0x64400000, 10 },
	{ 0x7f000000, 8 },  { 0xa9fe0000, 16 }, { 0xac100000, 12 },
	{ 0xc0000000, 24 }, { 0xc0000200, 24 }, { 0xc0586300, 24 },
	{ 0xc0a80000, 16 }, { 0xc6120000, 15 }, { 0xc6336400, 24 },
	{ 0xcb007100, 24 }, { 0xe0000000, 4 },  { 0xf0000000, 4 },
};

int scio_nat64_v4_global(const struct in_addr *v4)
{
	uint32_t a = ntohl(v4->s_addr);
	if (a == 0xc0000009 || a == 0xc000000a)
		return 1;
	for (size_t i = 0; i < sizeof(not_global) / sizeof(not_global[0]); i++) {
		uint32_t mask = ~0u << (32 - not_global[i].len);
		if ((a & mask) == not_global[i].net)
			return 0;
	}
	return 1;
}

/* Where the 4 IPv4 bytes go for a prefix of len bits: byte 8 (bits
 * 64..71, the u octet) is skipped, so the bytes after it move one on. */
static int v4_byte_at(int len, int i)
{
	int pos = len / 8 + i;
	return len < 96 && pos >= 8 ? pos + 1 : pos;
}

/* 0.0.0.0/8 and 127.0.0.0/8 name this host (RFC 1122): no translator
 * reaches them, whatever its prefix may carry. */
static int v4_this_host(const struct in_addr *v4)
{
	uint8_t first = (uint8_t)(ntohl(v4->s_addr) >> 24);
	return first == 0 || first == 127;
}

int scio_nat64_synthesize(const struct scio_nat64_prefix *p,
			  const struct in_addr *v4, struct in6_addr *out)
{
	if (!scio_nat64_len_ok(p->len) || v4_this_host(v4) ||
	    (scio_nat64_is_wkp(p) && !scio_nat64_v4_global(v4)))
		return -1;
	const unsigned char *b = (const unsigned char *)&v4->s_addr;
	memset(out, 0, sizeof(*out));
	memcpy(out->s6_addr, p->addr.s6_addr, (size_t)p->len / 8);
	for (int i = 0; i < 4; i++)
		out->s6_addr[v4_byte_at(p->len, i)] = b[i];
	return 0;
}

int scio_nat64_extract(const struct in6_addr *a, int len, struct in_addr *v4)
{
	if (!scio_nat64_len_ok(len))
		return -1;
	unsigned char used[16] = { 0 }, *b = (unsigned char *)&v4->s_addr;
	for (int i = 0; i < 4; i++) {
		int at = v4_byte_at(len, i);
		b[i] = a->s6_addr[at];
		used[at] = 1;
	}
	/* the u octet and the suffix are zero in a synthesized address */
	for (int k = len / 8; k < 16; k++)
		if (!used[k] && a->s6_addr[k] != 0)
			return -1;
	return 0;
}

int scio_nat64_parse_prefix(const char *text, struct scio_nat64_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	if (!slash || (size_t)(slash - text) >= sizeof(buf))
		return -1;
	memcpy(buf, text, (size_t)(slash - text));
	buf[slash - text] = '\0';
	char *end;
	long len = strtol(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end || !scio_nat64_len_ok((int)len))
		return -1;
	struct in6_addr a;
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return -1;
	for (int k = (int)len / 8; k < 16; k++)
		if (a.s6_addr[k])
			return -1;
	p->addr = a;
	p->len = (int)len;
	return 0;
}

const char *scio_nat64_prefix_str(const struct scio_nat64_prefix *p,
				  char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(AF_INET6, &p->addr, a, sizeof(a)))
		strcpy(a, "?");
	snprintf(out, size, "%s/%d", a, p->len);
	return out;
}

int scio_nat64_prefix_of(const struct in6_addr *a, struct scio_nat64_prefix *p)
{
	static const int lens[] = { 96, 64, 56, 48, 40, 32 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct in_addr v4;
		if (scio_nat64_extract(a, lens[i], &v4) < 0)
			continue;
		uint32_t h = ntohl(v4.s_addr);
		if (h != 0xc00000aa && h != 0xc00000ab)
			continue;
		memset(p, 0, sizeof(*p));
		memcpy(p->addr.s6_addr, a->s6_addr, (size_t)lens[i] / 8);
		p->len = lens[i];
		return 0;
	}
	return -1;
}

/* The offset after the (possibly compressed) name at off, or 0. */
static size_t skip_name(const unsigned char *m, size_t len, size_t off)
{
	while (off < len) {
		unsigned char l = m[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
	}
	return 0;
}

static unsigned get16(const unsigned char *b)
{
	return (unsigned)b[0] << 8 | b[1];
}

int scio_nat64_parse_answer(const unsigned char *msg, size_t len,
			    struct scio_nat64_prefix *p, uint32_t *ttl)
{
	if (len < 12)
		return -1;
	unsigned qd = get16(msg + 4), an = get16(msg + 6);
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		off = skip_name(msg, len, off);
		if (!off || off + 4 > len)
			return -1;
		off += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		off = skip_name(msg, len, off);
		if (!off || off + 10 > len)
			return -1;
		unsigned type = get16(msg + off), class = get16(msg + off + 2);
		uint32_t t = (uint32_t)get16(msg + off + 4) << 16 | get16(msg + off + 6);
		size_t rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		struct in6_addr a;
		if (type == 28 && class == 1 && rdlen == 16) {
			memcpy(&a, msg + off, 16);
			if (scio_nat64_prefix_of(&a, p) == 0) {
				*ttl = t > 0x7fffffff ? 0 : t;  /* RFC 2181 section 8 */
				return 0;
			}
		}
		off += rdlen;
	}
	return -1;
}

int scio_nat64_discover(struct scio_nat64_prefix *p, uint32_t *ttl)
{
	unsigned char answer[1024];
	int n = res_query("ipv4only.arpa", 1 /* IN */, 28 /* AAAA */,
			  answer, sizeof(answer));
	if (n <= 0)
		return -1;
	return scio_nat64_parse_answer(answer, (size_t)n, p, ttl);
}
