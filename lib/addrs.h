/* addrs.h - candidate address lists (internal). */
#ifndef SCIO_ADDRS_H
#define SCIO_ADDRS_H

#include <stddef.h>
#include <netdb.h>
#include <sys/socket.h>

/* The most addresses of one name that scio races. */
#define SCIO_MAX_CANDIDATES 64

/* Same family, address, port (and IPv6 scope). */
int scio_same_addr(const struct sockaddr *a, const struct sockaddr *b);

/* Copies the INET/INET6 addresses of ai into out, in order, without
 * duplicates; returns how many. */
size_t scio_collect(const struct addrinfo *ai, struct sockaddr_storage *out,
		    size_t cap);

/* Reorders a[] in place: families alternate, starting with `prefer`,
 * each keeping its own order (RFC 8305 section 4, First Address Family
 * Count 1).  At most SCIO_MAX_CANDIDATES entries. */
void scio_interleave(struct sockaddr_storage *a, size_t n, int prefer);

#endif
