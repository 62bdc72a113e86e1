/* addrs.h - candidate address lists (internal). */
#ifndef SCIO_ADDRS_H
#define SCIO_ADDRS_H

#include <stddef.h>
#include <netdb.h>
#include <sys/socket.h>

/* Same family, address, port (and IPv6 scope). */
int scio_same_addr(const struct sockaddr *a, const struct sockaddr *b);

/* Copies the INET/INET6 addresses of ai into out, in order, without
 * duplicates; returns how many. */
size_t scio_collect(const struct addrinfo *ai, struct sockaddr_storage *out,
		    size_t cap);

/* An IPv4 address as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (for
 * an AF_INET6 socket), and back; other addresses are left as they are. */
void scio_map_v4(struct sockaddr_storage *ss);
void scio_unmap_v4(struct sockaddr_storage *ss);

/* The family the system's address sort (RFC 6724 precedence, with
 * /etc/gai.conf's precedence lines) puts first of these two. */
int scio_system_first_family(const struct sockaddr *v6, const struct sockaddr *v4);

/* 1 when /etc/gai.conf holds anything but comments and blank lines (or
 * could not be read whole): glibc's sort then follows its lines.  Read
 * once per process, as glibc reads it. */
int scio_gaiconf_has_lines(void);

/* The family an answer starts with: its first address's when the system
 * sorted it as a whole (sorted), else scio_system_first_family of its
 * first address of each family. */
int scio_first_family(const struct addrinfo *res, int sorted);

/* Unlinks res into the nodes of `family` (*mine) and the others
 * (*other), each list keeping its order. */
void scio_split_family(struct addrinfo *res, int family,
		       struct addrinfo **mine, struct addrinfo **other);

#endif
