/*
 * test_nat64.c - lib/nat64.c without a network: RFC 6052's placement of
 * the IPv4 bits for every prefix length (the examples of its section
 * 2.4), the well-known prefix's refusal of non-global addresses (section
 * 3.1), RFC 7050's discovery parse, and SCIO_NAT64_PREFIX's parsing.
 */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "nat64.h"

static struct scio_nat64_prefix prefix(const char *text)
{
	struct scio_nat64_prefix p = { .len = 0 };
	CHECK(scio_nat64_parse_prefix(text, &p) == 0);
	return p;
}

static struct in_addr v4(const char *text)
{
	struct in_addr a;
	CHECK(inet_pton(AF_INET, text, &a) == 1);
	return a;
}

static int same6(const struct in6_addr *a, const char *text)
{
	struct in6_addr b;
	char shown[INET6_ADDRSTRLEN];
	CHECK(inet_pton(AF_INET6, text, &b) == 1);
	if (memcmp(a, &b, sizeof(b)) == 0)
		return 1;
	inet_ntop(AF_INET6, a, shown, sizeof(shown));
	fprintf(stderr, "  got %s, want %s\n", shown, text);
	return 0;
}

/* RFC 6052 section 2.4, table 1: 192.0.2.33 under each prefix length. */
static const char *const examples[][2] = {
	{ "2001:db8::/32", "2001:db8:c000:221::" },
	{ "2001:db8:100::/40", "2001:db8:1c0:2:21::" },
	{ "2001:db8:122::/48", "2001:db8:122:c000:2:2100::" },
	{ "2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::" },
	{ "2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0" },
	{ "2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33" },
};
#define N_EXAMPLES (sizeof(examples) / sizeof(examples[0]))

static void bits_placed_for_every_length(void)
{
	struct in_addr a = v4("192.0.2.33"), back;
	for (size_t i = 0; i < N_EXAMPLES; i++) {
		struct scio_nat64_prefix p = prefix(examples[i][0]);
		struct in6_addr out;
		CHECK(scio_nat64_synthesize(&p, &a, &out) == 0);
		CHECK(same6(&out, examples[i][1]));
		CHECK(scio_nat64_extract(&out, p.len, &back) == 0);
		CHECK(back.s_addr == a.s_addr);
	}
}

/* "Bits 64 to 71 of the address are reserved ... MUST be set to zero":
 * an address with them set carries no IPv4 address. */
static void u_octet_stays_zero(void)
{
	struct in_addr all = v4("255.255.255.255"), back;
	static const int lens[] = { 32, 40, 48, 56, 64 };
	for (size_t i = 0; i < 5; i++) {
		struct scio_nat64_prefix p = { .len = lens[i] };
		memset(p.addr.s6_addr, 0xff, (size_t)lens[i] / 8);
		struct in6_addr out;
		CHECK(scio_nat64_synthesize(&p, &all, &out) == 0);
		CHECK_EQ(out.s6_addr[8], 0);
		out.s6_addr[8] = 1;
		CHECK(scio_nat64_extract(&out, lens[i], &back) < 0);
	}
}

/* RFC 6052 section 3.1: the well-known prefix MUST NOT be used to
 * represent non-global IPv4 addresses; a network-specific one may. */
static void wkp_never_for_non_global(void)
{
	struct scio_nat64_prefix wkp = prefix("64:ff9b::/96");
	struct scio_nat64_prefix nsp = prefix("2001:db8:64:ff9b::/96");
	static const char *const local[] = { "10.1.2.3", "172.16.0.1", "192.168.1.1",
		"169.254.1.1", "100.64.0.1", "192.0.2.1",
		"198.51.100.1", "203.0.113.10", "198.18.0.1", "224.0.0.1",
		"255.255.255.255", "192.0.0.8" };
	struct in6_addr out;
	CHECK(scio_nat64_is_wkp(&wkp));
	CHECK(!scio_nat64_is_wkp(&nsp));
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		struct in_addr a = v4(local[i]);
		CHECK(!scio_nat64_v4_global(&a));
		CHECK(scio_nat64_synthesize(&wkp, &a, &out) < 0);
		CHECK(scio_nat64_synthesize(&nsp, &a, &out) == 0);
	}
	struct in_addr g = v4("8.8.8.8"), nine = v4("192.0.0.9");
	CHECK(scio_nat64_v4_global(&nine));
	CHECK(scio_nat64_synthesize(&wkp, &g, &out) == 0);
	CHECK(same6(&out, "64:ff9b::808:808"));
}

/* This host's own addresses (0.0.0.0/8, 127.0.0.0/8; /etc/hosts's
 * 127.0.1.1) go through no translator, whatever the prefix. */
static void never_this_host(void)
{
	struct scio_nat64_prefix nsp = prefix("2001:db8:64:ff9b::/96");
	static const char *const mine[] = { "127.0.0.1", "127.0.1.1", "127.255.255.255",
		"0.0.0.0", "0.1.2.3" };
	struct in6_addr out;
	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		struct in_addr a = v4(mine[i]);
		CHECK(!scio_nat64_v4_global(&a));
		CHECK(scio_nat64_synthesize(&nsp, &a, &out) < 0);
	}
	struct in_addr next = v4("128.0.0.1");
	CHECK(scio_nat64_synthesize(&nsp, &next, &out) == 0);
}

static void prefix_text(void)
{
	static const char *const bad[] = { "64:ff9b::", "64:ff9b::/95", "64:ff9b::/097x",
		"64:ff9b::/", "/96", "64:ff9b::1/96", "2001:db8::/33", "2001:db8:1::/32",
		"2001:db8::/+32", "192.0.2.0/24", "64:ff9b::/ 96", "off " };
	struct scio_nat64_prefix p = { .len = 7 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(scio_nat64_parse_prefix(bad[i], &p) < 0);
	CHECK_EQ(p.len, 7);
	char s[SCIO_NAT64_PREFIX_STRLEN];
	p = prefix("2001:DB8:64:FF9B::/96");
	CHECK(strcmp(scio_nat64_prefix_str(&p, s, sizeof(s)), "2001:db8:64:ff9b::/96") == 0);
}

/* A response to "ipv4only.arpa AAAA" as a resolver sends it: the
 * question, then a CNAME (ignored) and the AAAA records, names
 * compressed to the question's. */
static size_t response(unsigned char *m, const struct in6_addr *aaaa, size_t n,
		       uint32_t ttl)
{
	static const unsigned char head[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
		8, 'i', 'p', 'v', '4', 'o', 'n', 'l', 'y', 4, 'a', 'r', 'p', 'a', 0,
		0, 28, 0, 1 };
	static const unsigned char cname[] = { 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 2, 0xc0, 12 };
	size_t off = sizeof(head);
	memcpy(m, head, off);
	m[7] = (unsigned char)(n + 1);
	memcpy(m + off, cname, sizeof(cname));
	off += sizeof(cname);
	for (size_t i = 0; i < n; i++) {
		unsigned char rr[12] = { 0xc0, 12, 0, 28, 0, 1, ttl >> 24, ttl >> 16,
					 ttl >> 8, ttl, 0, 16 };
		memcpy(m + off, rr, sizeof(rr));
		memcpy(m + off + 12, &aaaa[i], 16);
		off += 28;
	}
	return off;
}

static void discovery_parse_every_length(void)
{
	struct in_addr wka[2] = { v4("192.0.0.170"), v4("192.0.0.171") };
	for (size_t i = 0; i < N_EXAMPLES; i++) {
		struct scio_nat64_prefix p = prefix(examples[i][0]), got = { .len = 0 };
		struct in6_addr aaaa[2];
		unsigned char m[512];
		uint32_t ttl = 0;
		CHECK(scio_nat64_synthesize(&p, &wka[i % 2], &aaaa[0]) == 0);
		size_t len = response(m, aaaa, 1, 3600);
		CHECK(scio_nat64_parse_answer(m, len, &got, &ttl) == 0);
		CHECK_EQ(got.len, p.len);
		CHECK(memcmp(&got.addr, &p.addr, 16) == 0);
		CHECK_EQ(ttl, 3600);
		/* a cut message is refused, never read past */
		for (size_t cut = 0; cut < len; cut++)
			CHECK(scio_nat64_parse_answer(m, cut, &got, &ttl) < 0);
	}
}

static void discovery_parse_without_wka(void)
{
	struct in6_addr aaaa[2];
	unsigned char m[512];
	struct scio_nat64_prefix got;
	uint32_t ttl;
	inet_pton(AF_INET6, "2001:db8::1", &aaaa[0]);
	inet_pton(AF_INET6, "64:ff9b::c000:2aa", &aaaa[1]);  /* 192.0.2.170 */
	CHECK(scio_nat64_parse_answer(m, response(m, aaaa, 2, 60), &got, &ttl) < 0);
	/* the second record names it: found there, with its TTL */
	inet_pton(AF_INET6, "64:ff9b::c000:ab", &aaaa[1]);
	CHECK(scio_nat64_parse_answer(m, response(m, aaaa, 2, 77), &got, &ttl) == 0);
	CHECK(scio_nat64_is_wkp(&got));
	CHECK_EQ(ttl, 77);
}

static const char *setting;
static const char *get(const char *name)
{
	return strcmp(name, "SCIO_NAT64_PREFIX") == 0 ? setting : NULL;
}

static void setting_parsed(void)
{
	struct scio_config c;
	char warn[512];
	setting = NULL;
	CHECK_EQ(scio_config_parse(&c, get, warn, sizeof(warn)), 0);
	CHECK_EQ(c.nat64, SCIO_NAT64_DISCOVER);
	setting = "off";
	CHECK_EQ(scio_config_parse(&c, get, warn, sizeof(warn)), 0);
	CHECK_EQ(c.nat64, SCIO_NAT64_OFF);
	setting = "2001:db8:100::/40";
	CHECK_EQ(scio_config_parse(&c, get, warn, sizeof(warn)), 0);
	CHECK_EQ(c.nat64, SCIO_NAT64_CONFIGURED);
	CHECK_EQ(c.nat64_prefix.len, 40);
	setting = "64:ff9b::/97";
	CHECK_EQ(scio_config_parse(&c, get, warn, sizeof(warn)), 1);
	CHECK_EQ(c.nat64, SCIO_NAT64_DISCOVER);
	CHECK(strstr(warn, "SCIO_NAT64_PREFIX=\"64:ff9b::/97\"") != NULL);
}

int main(void)
{
	RUN(bits_placed_for_every_length);
	RUN(u_octet_stays_zero);
	RUN(wkp_never_for_non_global);
	RUN(never_this_host);
	RUN(prefix_text);
	RUN(discovery_parse_every_length);
	RUN(discovery_parse_without_wka);
	RUN(setting_parsed);
	return check_exit();
}
