/*
 * nat64.h - IPv4 addresses inside IPv6 through NAT64 (internal): RFC 6052
 * address synthesis, RFC 7050 prefix discovery from the AAAA answer of
 * ipv4only.arpa, and which IPv4 addresses a prefix may carry.  No I/O
 * here but scio_nat64_discover's one DNS query.
 */
#ifndef SCIO_NAT64_H
#define SCIO_NAT64_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct scio_nat64_prefix {
	struct in6_addr addr;  /* the prefix's bits, the rest zero */
	int len;               /* 32, 40, 48, 56, 64 or 96; 0: no prefix */
};

/* The longest text scio_nat64_prefix_str writes ("addr/len"). */
#define SCIO_NAT64_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)

/* 1 for a length RFC 6052 section 2.2 allows. */
int scio_nat64_len_ok(int len);

/* The well-known prefix 64:ff9b::/96. */
int scio_nat64_is_wkp(const struct scio_nat64_prefix *p);

/* 0 when v4 (network order) is not a global address: RFC 1918, loopback,
 * link-local, this network, shared (RFC 6598), IETF protocol assignments,
 * documentation, benchmarking, multicast, reserved and broadcast. */
int scio_nat64_v4_global(const struct in_addr *v4);

/*
 * The IPv6 address of v4 behind prefix p (RFC 6052 section 2.2: the
 * IPv4 bits after the prefix, skipping bits 64..71, the "u" octet, which
 * stays zero; the suffix zero).  -1 when p is the well-known prefix and
 * v4 not global (RFC 6052 section 3.1), or p has no valid length.
 */
int scio_nat64_synthesize(const struct scio_nat64_prefix *p,
			  const struct in_addr *v4, struct in6_addr *out);

/* The IPv4 address a is built from under a prefix of length len, when
 * its u octet and suffix are zero; else -1. */
int scio_nat64_extract(const struct in6_addr *a, int len, struct in_addr *v4);

/* "2001:db8:64:ff9b::/96" into *p: a valid length and no bits set after
 * it.  0, or -1 for anything else. */
int scio_nat64_parse_prefix(const char *text, struct scio_nat64_prefix *p);

/* p as "addr/len" in out (at least SCIO_NAT64_PREFIX_STRLEN bytes). */
const char *scio_nat64_prefix_str(const struct scio_nat64_prefix *p,
				  char *out, size_t size);

/*
 * RFC 7050 section 3: the prefix of one AAAA address of ipv4only.arpa,
 * found by looking for the well-known IPv4 addresses 192.0.0.170 and
 * 192.0.0.171 at the place each prefix length puts them.  0 and *p, or
 * -1 when neither is in a.
 */
int scio_nat64_prefix_of(const struct in6_addr *a, struct scio_nat64_prefix *p);

/*
 * The prefix in a DNS response (wire format, as res_query returns it) to
 * the AAAA query for ipv4only.arpa: the first AAAA record that holds a
 * well-known address; *ttl its TTL in seconds.  0, or -1 when the
 * message is malformed or holds no such record.
 */
int scio_nat64_parse_answer(const unsigned char *msg, size_t len,
			    struct scio_nat64_prefix *p, uint32_t *ttl);

/* Asks the system's resolver (res_query) for ipv4only.arpa AAAA: 0 with
 * *p and *ttl, or -1 (no answer, or none that names a prefix). */
int scio_nat64_discover(struct scio_nat64_prefix *p, uint32_t *ttl);

#endif
