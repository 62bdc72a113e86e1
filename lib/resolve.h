/*
 * resolve.h - the resolution race (RFC 8305 section 3): AAAA and A looked
 * up in parallel through the system's own getaddrinfo (so /etc/hosts,
 * nsswitch.conf, gai.conf and search domains keep working); once one
 * family has answered positively, the other gets at most the Resolution
 * Delay.  An answer that comes later is handed to a callback instead of
 * being lost.
 */
#ifndef SCIO_RESOLVE_H
#define SCIO_RESOLVE_H

#include <netdb.h>

/* Called from a resolver thread when a family answers after scio_resolve
 * returned: `late` holds its addresses (NULL when the lookup failed) and
 * is freed after the call. */
typedef void (*scio_late_fn)(const char *node, const struct addrinfo *late,
			     void *arg);

struct scio_resolve_opts {
	int delay_ms;          /* Resolution Delay, 0..2000 */
	int prefer_family;     /* AF_INET6 or AF_INET: first in the list */
	int system_only;       /* every lookup through the system's getaddrinfo,
				  never scio's own queries (lib/stub.c) */
	scio_late_fn late;     /* may be NULL */
	void *late_arg;
	int pending;           /* out: a family had not answered yet */
};

/* The most lookups whose threads may still run; beyond it scio_resolve
 * makes the plain blocking call. */
#define SCIO_RESOLVE_MAX_IN_FLIGHT 16

/*
 * Like getaddrinfo() with hints->ai_family AF_UNSPEC (hints may be NULL),
 * same return codes.  The list alternates families starting with
 * o->prefer_family, each family in glibc's order; free it with
 * freeaddrinfo().  Requires glibc (its freeaddrinfo frees node by node).
 */
int scio_resolve(const char *node, const char *service,
		 const struct addrinfo *hints, struct scio_resolve_opts *o,
		 struct addrinfo **res);

/*
 * Runs job(arg), a lookup that must not hold up its caller, on a helper
 * thread as the race's own run (a stack of the library's, never one
 * glibc caches with a forked parent's resolver state; every signal
 * blocked) and leaves it to end on its own: a later lookup, or the exit,
 * joins it.  -1 when no thread could start.
 */
int scio_resolve_in_background(void (*job)(void *), void *arg);

/* Worth racing: a host name (no literal address, no AI_NUMERICHOST),
 * family AF_UNSPEC, not answered by /etc/hosts (which needs no race). */
int scio_resolve_worth_racing(const char *node, const struct addrinfo *hints);

/* Relinks a getaddrinfo list so that families alternate, starting with
 * `prefer`, each in its own order; returns the new head. */
struct addrinfo *scio_addrinfo_interleave(struct addrinfo *res, int prefer);

/* Lookups whose threads have not finished yet (for tests). */
int scio_resolve_in_flight(void);

#endif
