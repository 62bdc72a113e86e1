/* sortaddr.h - one family's addresses in the order glibc's getaddrinfo
 * gives them (internal). */
#ifndef SCIO_SORTADDR_H
#define SCIO_SORTADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SCIO_SORT_MAX 256

/*
 * Puts a (n entries, all of one family, AF_INET or AF_INET6; ports
 * irrelevant) in the order glibc 2.36's getaddrinfo gives them for a
 * lookup of that one family: its RFC 3484/6724 sort over the source
 * address the kernel picks for each destination (one UDP socket,
 * connected to each in turn), the facts of that source's interface
 * address (prefix length, deprecated/optimistic and home flags, interface
 * index, from a netlink dump), and glibc's default scope, label and
 * precedence tables.  n < 2: nothing to do, no system call.
 * Returns 0 when sorted, -1 (a untouched) when it cannot promise glibc's
 * order and the caller should ask glibc: /etc/gai.conf has a line that is
 * not a comment, a system call failed, the families are mixed or not
 * INET, n > SCIO_SORT_MAX, a source address sits on two interfaces with
 * different facts, or the C library is not glibc.  errno is kept.
 */
int scio_sort_like_glibc(struct sockaddr_storage *a, size_t n);

/* The rest is the sort's inside, for the unit test. */

enum { SCIO_SRC_DEPRECATED = 1, SCIO_SRC_HOME = 2 };

union scio_sort_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* What glibc's comparison knows of one destination. */
struct scio_sort_entry {
	union scio_sort_addr dst, src;
	bool has_src;        /* the kernel gave a source: a usable destination */
	uint8_t src_flags;   /* SCIO_SRC_* of the source's interface address */
	uint8_t prefixlen;   /* of that address; 0 when not found */
	uint32_t ifindex;    /* of that address; UINT32_MAX when not found */
	int native;          /* ifindex's link is no tunnel: 1 or 0; -1 unknown */
	uint32_t pos;        /* place in the incoming order */
	/* filled by scio_sort_derive from the fields above */
	int dst_scope, src_scope, dst_label, src_label, dst_precedence;
	int common_bits;     /* rule 9's measure */
};

/* Fills the derived fields of e. */
void scio_sort_derive(struct scio_sort_entry *e);

/* scio_sort_compare's answer when it needs the native fields of x and y
 * (rule 7), one of which is -1. */
#define SCIO_SORT_NEED_NATIVE 2

/* <0 when x goes first, >0 when y does (never 0 for distinct pos). */
int scio_sort_compare(const struct scio_sort_entry *x, const struct scio_sort_entry *y);

/* What glibc's AI_ADDRCONFIG looks at (__check_pf): whether the system
 * has an IPv4 address other than 127.0.0.1 and an IPv6 address other
 * than ::1, from one netlink dump; -1 when the dump failed (glibc then
 * assumes both). */
int scio_addrconfig(bool *v4, bool *v6);

/* How many families glibc's getaddrinfo asks for with these ai_flags
 * and AF_UNSPEC: 2 (no AI_ADDRCONFIG, or addresses of both families or
 * of neither), 1 (AI_ADDRCONFIG on a host with addresses of one family:
 * glibc narrows the lookup to it), -1 when the dump failed. */
int scio_addrconfig_families(int ai_flags);

#endif
