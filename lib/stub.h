/*
 * stub.h - the resolution race in the calling thread, for the common case:
 * a host name the system's resolver would send to DNS as it is.  scio
 * sends the A and AAAA queries itself, to the servers and on the schedule
 * glibc would, on one socket per server, and reads both replies; anything
 * it does not do the way glibc does is left to the system's lookup.
 */
#ifndef SCIO_STUB_H
#define SCIO_STUB_H

#include <netdb.h>

#define SCIO_STUB_NAME_MAX 254  /* a name of 253 characters and its root dot */

struct scio_stub_result {
	int rc;                  /* getaddrinfo's code */
	struct addrinfo *v6;     /* each family's entries, glibc's order */
	struct addrinfo *v4;
	int missing;             /* a family with no reply yet, or AF_UNSPEC */
	int herrno;              /* h_errno as glibc leaves it, for rc != 0 */
	char answered[SCIO_STUB_NAME_MAX + 1];  /* the name found, absolute
				    (the search domain's, if one answered) */
};

/*
 * Looks node up for hints (AF_UNSPEC) when the stub can stand in for the
 * system's lookup: 1 with *out filled (rc 0 with at least one family's
 * entries; or glibc's code when no name of its search had an address:
 * EAI_NONAME, EAI_NODATA, or EAI_AGAIN when no server answered), 0
 * when the system's lookup must decide (nothing is returned, nothing is
 * left open).  Once a reply has come, the other gets at most delay_ms
 * (RFC 8305 section 3's Resolution Delay); a family still unanswered then
 * is out->missing, for the caller to look up in the background.  The
 * thread can be cancelled only in its waits, with cancel_state (the
 * program's) as the state there.
 */
int scio_stub_lookup(const char *node, const char *service,
		     const struct addrinfo *hints, int delay_ms, int cancel_state,
		     struct scio_stub_result *out);

/* The family looked up after the stub's lookup returned (out->missing)
 * got its answer from the system's lookup, asked alone: the server loses
 * one of two queries sent together (glibc's single-request case), and
 * the stub leaves this process's lookups to the system's from now on. */
void scio_stub_queries_lost(void);

#endif
