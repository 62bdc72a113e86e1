/*
 * sockopts.h - carry the socket options a program set on its socket over
 * to the sockets the race creates.  Which options to carry is found out by
 * comparing the program's socket with a fresh socket of the same kind:
 * whatever differs was set by the program.
 */
#ifndef SCIO_SOCKOPTS_H
#define SCIO_SOCKOPTS_H

#include <stddef.h>
#include <sys/socket.h>

#define SCIO_SOCKOPT_MAX 48
#define SCIO_SOCKOPT_LEN 24

struct scio_sockopt {
	int level;
	int name;
	socklen_t len;
	unsigned char value[SCIO_SOCKOPT_LEN];
};

struct scio_sockopts {
	int family;            /* of the socket they were read from */
	size_t n;
	struct scio_sockopt opt[SCIO_SOCKOPT_MAX];
};

/* Reads the options of fd (family AF_INET/AF_INET6) that differ from a
 * fresh TCP socket's.  0, or -1 with errno (no reference socket). */
int scio_sockopts_capture(int fd, int family, struct scio_sockopts *out);

/* Applies them to fd of family `family`, translating IP_TOS/IPV6_TCLASS
 * and IP_TTL/IPV6_UNICAST_HOPS across families.  Returns the number of
 * options that could not be set (they are skipped). */
int scio_sockopts_apply(int fd, int family, const struct scio_sockopts *o);

#endif
