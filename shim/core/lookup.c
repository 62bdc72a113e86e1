/*
 * lookup.c - the shim's getaddrinfo(): the resolution race for host
 * names, the answer in the system's order with families alternating, and
 * the record of the lookup that a later connect belongs to.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <string.h>
#include "addrs.h"
#include "history.h"
#include "internal.h"
#include "resolve.h"
#include "sys.h"
#include "core.h"

/* The family to list first: the preferred one, unless history says its
 * first address (or network) fails and the other family's does not. */
static int history_prefer(const struct addrinfo *res, int prefer)
{
	const struct sockaddr *mine = NULL, *other = NULL;
	for (const struct addrinfo *ai = res; ai && !(mine && other); ai = ai->ai_next) {
		if (ai->ai_family == prefer && !mine)
			mine = ai->ai_addr;
		else if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
			 ai->ai_family != prefer && !other)
			other = ai->ai_addr;
	}
	int64_t now = scio_wall_ms();
	if (mine && other && scio_history_broken(mine, now) &&
	    !scio_history_broken(other, now))
		return other->sa_family;
	return prefer;
}

/* A host name for the resolver, not an address written out: the lookup
 * of a literal names one address, which the program wants raced against
 * no other (NAT64 may only add the same server's synthesized address). */
static int names_a_host(const char *node, const struct addrinfo *hints)
{
	struct in_addr v4;
	if (hints && (hints->ai_flags & AI_NUMERICHOST))
		return 0;
	return !strchr(node, ':') && inet_aton(node, &v4) == 0;
}

/* A name or IPv4 literal that NAT64 may serve: AI_NUMERICHOST asks
 * libc to parse an address, and gets it as libc gives it. */
static int may_name_ipv4(const char *node, const struct addrinfo *hints)
{
	return !(hints && (hints->ai_flags & AI_NUMERICHOST)) && !strchr(node, ':');
}

/* What the shim records of a lookup for its connects. */
static int answer_flags(const char *node, const struct addrinfo *hints, int pending)
{
	int family = hints ? hints->ai_family : AF_UNSPEC;
	int socktype = hints ? hints->ai_socktype : 0;
	int raceable = family == AF_UNSPEC && names_a_host(node, hints) &&
		       (socktype == 0 || socktype == SOCK_STREAM);
	return (raceable ? SCIO_ANSWER_RACEABLE : 0) | (pending ? SCIO_ANSWER_PENDING : 0);
}

int scio_intercept_getaddrinfo(const char *node, const char *service,
			       const struct addrinfo *hints,
			       struct addrinfo **res)
{
	if (scio_locks_held)  /* a signal handler's call, inside the library */
		return scio_sys.getaddrinfo(node, service, hints, res);
	int saved = errno;
	const struct scio_config *cfg = scio_config();
	int rc, pending = 0, raced = 0;

	if (!cfg->disabled && scio_resolve_worth_racing(node, hints)) {
		struct scio_resolve_opts o = {
			.delay_ms = cfg->resolution_delay_ms,
			.prefer_family = cfg->prefer_family,
			.system_only = cfg->resolver == SCIO_RESOLVER_SYSTEM,
			.late = scio_answers_late_global,
		};
		errno = saved;  /* as the program left it: the lookup may leave it */
		rc = scio_resolve(node, service, hints, &o, res);
		pending = o.pending;
		raced = 1;
	} else {
		errno = saved;
		rc = scio_sys.getaddrinfo(node, service, hints, res);
	}
	if ((rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_ADDRFAMILY) && node && res &&
	    !cfg->disabled && may_name_ipv4(node, hints))
		rc = scio_nat64_lookup_retry(node, service, hints, res, rc);
	if (rc != 0 || !node || !res || !*res || cfg->disabled)
		return rc;
	saved = errno;
	int family = hints ? hints->ai_family : AF_UNSPEC;
	/* an IPv4 literal's too: the program then makes the AF_INET6 socket
	 * itself, and no connect of it needs its family changed */
	if ((family == AF_UNSPEC || family == AF_INET6) && may_name_ipv4(node, hints) &&
	    !(hints && (hints->ai_flags & AI_PASSIVE)))
		scio_nat64_complete_answer(node, res);
	if (family == AF_UNSPEC) {
		/* RFC 8305 section 4: interleave after the system's sort,
		 * starting with the family it put first */
		int first = cfg->prefer_family != AF_UNSPEC ? cfg->prefer_family
			    : scio_first_family(*res, !raced);
		*res = scio_addrinfo_interleave(*res, history_prefer(*res, first));
	}
	scio_answers_record(scio_answers_global(), node, *res,
			    answer_flags(node, hints, pending), scio_now_us());
	errno = saved;
	return rc;
}
