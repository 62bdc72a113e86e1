/*
 * test_sortaddr.c - lib/sortaddr.c's comparison without a network: each
 * rule of glibc's sort that can tell two destinations of one family
 * apart, on entries built by hand (destination, source, the source's
 * prefix length, flags and interface), including glibc's IPv4 rule 9,
 * which counts shared bits only inside the source's subnet.  The real
 * thing, against glibc itself, is tests/test_sortaddr.py.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sortaddr.h"

struct spec {
	const char *dst, *src;  /* src NULL: the kernel gave none */
	unsigned prefixlen, flags;
	uint32_t ifindex;
	int native;
};

/* S(dst, src, prefixlen[, .flags = ..., .ifindex = ..., .native = ...]) */
#define S(d, s, p, ...) ((struct spec){ .dst = (d), .src = (s), .prefixlen = (p), __VA_ARGS__ })

static struct scio_sort_entry entry(struct spec s, uint32_t pos)
{
	struct scio_sort_entry e;
	memset(&e, 0, sizeof(e));
	struct sockaddr_storage d = check_addr(s.dst);
	memcpy(&e.dst, &d, sizeof(e.dst));
	if (s.src) {
		struct sockaddr_storage src = check_addr(s.src);
		memcpy(&e.src, &src, sizeof(e.src));
		e.has_src = true;
	}
	e.prefixlen = (uint8_t)s.prefixlen;
	e.src_flags = (uint8_t)s.flags;
	e.ifindex = s.ifindex ? s.ifindex : 2;  /* unset: all on interface 2 */
	e.native = s.native ? s.native : 1;     /* unset: native */
	e.pos = pos;
	scio_sort_derive(&e);
	return e;
}

/* x (given first) goes after y: the rule under test overturns the
 * incoming order; and with the two swapped, the order stays. */
static void second_wins(struct spec x, struct spec y)
{
	struct scio_sort_entry ex = entry(x, 0), ey = entry(y, 1);
	CHECK(scio_sort_compare(&ex, &ey) > 0);
	CHECK(scio_sort_compare(&ey, &ex) < 0);
	ex.pos = 1;
	ey.pos = 0;
	CHECK(scio_sort_compare(&ey, &ex) < 0);
	CHECK(scio_sort_compare(&ex, &ey) > 0);
}

/* No rule tells them apart: the incoming order stays (rule 10). */
static void tie(struct spec x, struct spec y)
{
	struct scio_sort_entry ex = entry(x, 0), ey = entry(y, 1);
	CHECK(scio_sort_compare(&ex, &ey) < 0);
	CHECK(scio_sort_compare(&ey, &ex) > 0);
}

static void rule1_unusable_last(void)
{
	second_wins(S("::1", NULL, 0), S("2001:db8::10", "2001:db8::2", 64));
	second_wins(S("127.0.0.1", NULL, 0), S("192.0.2.10", "192.0.2.2", 24));
	/* between unusable ones, no source rule applies: rule 6 then 8 */
	second_wins(S("2001:db8::10", NULL, 0), S("::1", NULL, 0));
	second_wins(S("2001:db8::10", NULL, 0), S("fe80::1", NULL, 0));
	tie(S("192.0.2.10", NULL, 0), S("192.0.2.11", NULL, 0));
}

static void rule2_matching_scope(void)
{
	/* fec0:: (site, 5) from a global source loses to a global pair */
	second_wins(S("fec0::10", "2001:db8::2", 64),
		    S("2001:db8::10", "2001:db8::2", 64));
	/* a global destination from a link-local source */
	second_wins(S("2001:db8::10", "fe80::1", 64),
		    S("2001:db8:1::10", "2001:db8:1::1", 64));
	/* IPv4: 169.254/16 and 127/8 are link scope */
	second_wins(S("169.254.1.1", "192.0.2.2", 24),
		    S("192.0.2.10", "192.0.2.2", 24));
	/* rule 9 would count 0 for both (outside the subnets) */
	second_wins(S("192.0.2.10", "169.254.7.1", 16),
		    S("203.0.113.200", "203.0.113.1", 28));
}

static void rule3_avoid_deprecated(void)
{
	second_wins(S("2001:db8::10", "2001:db8::2", 64, .flags = SCIO_SRC_DEPRECATED),
		    S("2001:db8:1::10", "2001:db8:1::1", 64));
	second_wins(S("192.0.2.10", "192.0.2.2", 24, .flags = SCIO_SRC_DEPRECATED),
		    S("198.51.100.10", "198.51.100.1", 24));
	tie(S("2001:db8::10", "2001:db8::2", 64, .flags = SCIO_SRC_DEPRECATED),
	    S("2001:db8::11", "2001:db8::2", 64, .flags = SCIO_SRC_DEPRECATED));
}

static void rule4_prefer_home(void)
{
	second_wins(S("2001:db8::10", "2001:db8::2", 64),
		    S("2001:db8:1::10", "2001:db8:1::1", 64, .flags = SCIO_SRC_HOME));
	/* rule 3 comes first */
	second_wins(S("2001:db8::10", "2001:db8::2", 64, .flags = SCIO_SRC_HOME | SCIO_SRC_DEPRECATED),
		    S("2001:db8:1::10", "2001:db8:1::1", 64));
}

static void rule5_matching_label(void)
{
	/* a ULA destination from a global source; a 6to4 pair */
	second_wins(S("fd00:7::10", "2001:db8::2", 64),
		    S("2002:c000:204::10", "2002:c000:204::1", 48));
	/* IPv4-mapped destination, IPv4-mapped source: label 4 both */
	second_wins(S("2001:db8::10", "2002:c000:204::1", 48),
		    S("::ffff:192.0.2.10", "::ffff:192.0.2.2", 24));
	/* Teredo 2001::/32 has a label of its own; 2001:db8:: is not in it */
	second_wins(S("2001:0:1::10", "2001:db8::2", 64),
		    S("2001:db8::10", "2001:db8::2", 64));
}

static void rule6_higher_precedence(void)
{
	second_wins(S("2001:db8::10", "2001:db8::2", 64),
		    S("::1", "::1", 128));
	/* glibc's table: ULA 40 (RFC 6724 says 3), 6to4 30, mapped 10 */
	second_wins(S("2002:c000:204::10", "2001:db8::2", 64),
		    S("fd00:7::10", "2001:db8::2", 64));
	second_wins(S("::ffff:192.0.2.10", "2001:db8::2", 64),
		    S("2002:c000:204::10", "2001:db8::2", 64));
}

static void rule7_native_transport(void)
{
	/* labels, scopes, precedence equal; rule 9 would favour the first */
	struct scio_sort_entry tunnel =
		entry(S("2001:db8:1::10", "2001:db8:1::1", 64, .ifindex = 5, .native = -1), 0);
	struct scio_sort_entry veth =
		entry(S("2001:db8:2::8000:0", "2001:db8:2::1", 64, .ifindex = 3), 1);
	CHECK_EQ(scio_sort_compare(&tunnel, &veth), SCIO_SORT_NEED_NATIVE);
	tunnel.native = 0;
	CHECK_EQ(scio_sort_compare(&tunnel, &veth), 1);
	CHECK_EQ(scio_sort_compare(&veth, &tunnel), -1);
	/* the same interface: not asked, rule 9 decides */
	struct scio_sort_entry a =
		entry(S("2001:db8:1::10", "2001:db8:1::1", 64, .ifindex = 5, .native = -1), 0);
	struct scio_sort_entry b =
		entry(S("2001:db8:1::8000:10", "2001:db8:1::1", 64, .ifindex = 5, .native = -1), 1);
	CHECK_EQ(scio_sort_compare(&b, &a), 1);
	CHECK_EQ(scio_sort_compare(&a, &b), -1);
	/* unusable destinations: not asked */
	struct scio_sort_entry ua = entry(S("2001:db8::10", NULL, 0, .ifindex = 7, .native = -1), 0);
	struct scio_sort_entry ub = entry(S("2001:db8::11", NULL, 0, .ifindex = 8, .native = -1), 1);
	CHECK_EQ(scio_sort_compare(&ua, &ub), -1);
}

static void rule8_smaller_scope(void)
{
	/* both scopes match their sources, labels and precedence equal */
	second_wins(S("2001:db8::10", "2001:db8::2", 64),
		    S("fec0::10", "fec0::1", 64));
	second_wins(S("ff0e::1", "2001:db8::2", 64),
		    S("ff02::1", "fe80::1", 64));
	second_wins(S("192.0.2.10", "192.0.2.2", 24),
		    S("127.0.0.2", "127.0.0.1", 8));
}

static void rule9_ipv6_longest_prefix(void)
{
	/* 2001:db8:1::10 shares 123 bits with 2001:db8:1::1, the other 64 */
	second_wins(S("2001:db8:1:0:8000::10", "2001:db8:1::1", 64),
		    S("2001:db8:1::10", "2001:db8:1::1", 64));
	/* counted past the source's prefix length, which glibc ignores */
	second_wins(S("2001:db8:5::10", "2001:db8:e::1", 128),
		    S("2001:db8:1::10", "2001:db8:1::1", 16));
	second_wins(S("2001:db8::3", "2001:db8::2", 64),
		    S("2001:db8::2", "2001:db8::2", 64));
	tie(S("2001:db8::3", "2001:db8::2", 64),
	    S("2001:db8:1::3", "2001:db8:1::2", 64));
}

static void rule9_ipv4_inside_subnet_only(void)
{
	/* 203.0.113.5 shares 29 bits with 203.0.113.1 inside its /28;
	 * 192.0.2.200 shares 24 with 192.0.2.2 */
	second_wins(S("192.0.2.200", "192.0.2.2", 24),
		    S("203.0.113.5", "203.0.113.1", 28));
	/* 203.0.113.17 shares 27 bits but is outside the /28: it counts 0,
	 * and loses even to 192.0.2.200's 24 */
	second_wins(S("203.0.113.17", "203.0.113.1", 28),
		    S("192.0.2.200", "192.0.2.2", 24));
	/* two destinations outside their subnets: 0 each, order kept */
	tie(S("203.0.113.200", "203.0.113.1", 28),
	    S("198.51.100.129", "198.51.100.1", 25));
	/* prefix length 0 (source not found): glibc's shift by 32 is a /32
	 * mask, so only a destination equal to its source counts */
	tie(S("192.0.2.200", "192.0.2.2", 0),
	    S("192.0.2.3", "192.0.2.2", 0));
	second_wins(S("192.0.2.3", "192.0.2.2", 0),
		    S("198.51.100.1", "198.51.100.1", 0));
	/* /32 and /31 */
	second_wins(S("192.0.2.3", "192.0.2.2", 32),
		    S("198.51.100.0", "198.51.100.1", 31));
	/* unusable destinations: rule 9 not applied */
	tie(S("192.0.2.200", NULL, 24), S("192.0.2.3", NULL, 24));
}

static void rule10_total_order(void)
{
	struct scio_sort_entry a = entry(S("2001:db8::10", "2001:db8::2", 64), 3);
	struct scio_sort_entry b = entry(S("2001:db8::10", "2001:db8::2", 64), 7);
	CHECK(scio_sort_compare(&a, &b) < 0);
	CHECK(scio_sort_compare(&b, &a) > 0);
}

/* What is refused or trivial makes no system call: nothing to check of
 * that here (tests/test_sortaddr.py counts them), but the answers. */
static void declines_and_trivial(void)
{
	struct sockaddr_storage a[3] = { check_addr("2001:db8::10"), check_addr("192.0.2.10"),
					 check_addr("2001:db8::11") };
	struct sockaddr_storage before[3];
	memcpy(before, a, sizeof(a));
	errno = EDOM;
	CHECK_EQ(scio_sort_like_glibc(a, 0), 0);
	CHECK_EQ(scio_sort_like_glibc(a, 1), 0);
	CHECK_EQ(scio_sort_like_glibc(a, 2), -1);  /* two families */
	CHECK_EQ(scio_sort_like_glibc(a, SCIO_SORT_MAX + 1), -1);
	CHECK_EQ(errno, EDOM);
	CHECK(memcmp(a, before, sizeof(a)) == 0);
	struct sockaddr_storage unix_ss = { .ss_family = AF_UNIX };
	struct sockaddr_storage odd[2] = { unix_ss, unix_ss };
	CHECK_EQ(scio_sort_like_glibc(odd, 2), -1);
}

int main(void)
{
	RUN(rule1_unusable_last);
	RUN(rule2_matching_scope);
	RUN(rule3_avoid_deprecated);
	RUN(rule4_prefer_home);
	RUN(rule5_matching_label);
	RUN(rule6_higher_precedence);
	RUN(rule7_native_transport);
	RUN(rule8_smaller_scope);
	RUN(rule9_ipv6_longest_prefix);
	RUN(rule9_ipv4_inside_subnet_only);
	RUN(rule10_total_order);
	RUN(declines_and_trivial);
	return check_exit();
}
