/*
 * dnswire.h - the DNS wire format of one A or AAAA lookup: the query a
 * stub sends and the reading of its reply, as Debian 12's glibc
 * (2.36-9+deb12u14) reads it: resolv/res_send.c's send_dg, then
 * resolv/nss_dns/dns-host.c's gaih_getanswer_slice as rewritten for the
 * 2.36 release (glibc bugs 12154, 29305). Pure: no system call, no
 * allocation, no global; every input byte is untrusted.
 */
#ifndef SCIO_DNSWIRE_H
#define SCIO_DNSWIRE_H

#include <stddef.h>
#include <stdint.h>

#define SCIO_DNS_T_A     1
#define SCIO_DNS_T_AAAA  28
#define SCIO_DNS_QUERY_MAX 288  /* a query for a name of 253 characters fits, OPT too */
/* The UDP payload size glibc 2.36 advertises in the A and AAAA queries of
 * getaddrinfo with RES_USE_EDNS0 (res_query.c: RESOLV_EDNS_BUFFER_SIZE). */
#define SCIO_DNS_EDNS_PAYLOAD 1200

struct scio_dns_addr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];   /* AF_INET: the first 4 bytes */
};

/* Builds a standard query for `name` (a host name, one trailing dot
 * allowed) of type qtype with this id, as glibc 2.36's res_mkquery does by
 * default: RD set, one question, class IN, no EDNS. Returns its length, or
 * -1 when the name cannot be sent as is (the system's resolver then takes
 * the lookup): empty, an empty label, a label over 63 bytes, over 253
 * characters, a character other than letters, digits, '-' and '_', a
 * leading '-' (glibc's res_hnok refuses it and sends nothing), or a
 * buffer of fewer than the bytes needed. */
int scio_dns_query(unsigned char *buf, size_t size, const char *name,
		   uint16_t id, uint16_t qtype);

/* The same query with the OPT record glibc 2.36 appends with `options
 * edns0` (res_mkquery.c's __res_nopt): after the question, an OPT owned
 * by the root advertising `payload` bytes, extended RCODE, version and
 * flags 0, no option, and ARCOUNT 1; 11 bytes more than scio_dns_query,
 * and -1 in the same cases. */
int scio_dns_query_edns(unsigned char *buf, size_t size, const char *name,
			uint16_t id, uint16_t qtype, uint16_t payload);

enum scio_dns_verdict {
	/* Not a reply to this query (id, QR bit, opcode, question count,
	 * question name, type or class): ignore it, keep waiting. */
	SCIO_DNS_NOT_OURS,
	/* RCODE 0, answer records, every one read as glibc reads it: *n
	 * addresses, maybe 0 (none glibc would use: glibc's search ends
	 * here, with no address). */
	SCIO_DNS_ANSWER,
	/* RCODE 0 and no answer record (glibc's NO_DATA: its search goes on
	 * to the next name). */
	SCIO_DNS_NODATA,
	/* RCODE 3, no such name (glibc's HOST_NOT_FOUND: its search goes on
	 * to the next name). */
	SCIO_DNS_NXDOMAIN,
	/* The system's resolver must decide: shorter than a header, TC set,
	 * an RCODE other than 0 (a bare 12-byte SERVFAIL, NOTIMP or REFUSED
	 * with our id included), a lame reply (glibc asks the next server),
	 * a compressed question name, a record glibc cannot read or that
	 * this file does not model, more than `max` addresses, anything
	 * malformed. *n is 0. */
	SCIO_DNS_FALLBACK,
};

/* Reads `msg` (len bytes, a UDP payload) as the reply to `query` (qlen
 * bytes, built by scio_dns_query or scio_dns_query_edns). glibc reads a
 * reply to an EDNS query as any other: it never looks at the additional
 * section (an OPT there counts only in ARCOUNT, which makes an empty
 * reply not lame), nor at the extended RCODE in an OPT's TTL (a BADVERS
 * reply is read by its header's RCODE, 0), and does not ask again without
 * EDNS after a FORMERR (a FALLBACK, as any RCODE but 0 and 3); so neither
 * does this. On SCIO_DNS_ANSWER, out[0..*n) holds,
 * in message order, the addresses glibc takes from it: records of the
 * question's type (so all of one family) owned by the expected name,
 * which is the question's name until a CNAME record (whatever its owner)
 * makes its target the expected name. Other records are skipped, as
 * glibc skips them: an AAAA record in the reply to an A query gives no
 * address. */
enum scio_dns_verdict scio_dns_answer(const unsigned char *msg, size_t len,
				      const unsigned char *query, size_t qlen,
				      struct scio_dns_addr *out, size_t max, size_t *n);

#endif
