/*
 * nat64.c - the shim on an IPv6-only host (RFC 8305 section 7): an IPv4
 * connect that finds no IPv4 route goes to the address the network's
 * NAT64 synthesizes for it (7.1), and a name with only A records gets
 * the synthesized AAAA records added to its answer (7.2).  The prefix is
 * SCIO_NAT64_PREFIX's, or discovered (RFC 7050) the first time one is
 * needed and kept for its TTL, in this process and in the history store
 * per network.  Nothing here runs while IPv4 works: the connect hook
 * starts from libc's own ENETUNREACH/EHOSTUNREACH, the lookup hook from
 * an IPv4 route lookup that fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "history.h"
#include "internal.h"
#include "log.h"
#include "nat64.h"
#include "sys.h"
#include "core.h"

#define TTL_MIN_S 10
#define TTL_MAX_S 86400
/* after a discovery that found nothing, or a host without IPv6 */
#define RETRY_MS 60000

static struct {
	pthread_mutex_t lock;
	struct scio_nat64_prefix p;  /* len 0: none known */
	int64_t expires;             /* wall ms */
	int64_t retry;               /* no discovery before this (wall ms) */
} N = { .lock = PTHREAD_MUTEX_INITIALIZER };

SCIO_FORK_SAFE_LOCK(N.lock)

/* Which network the host is on: a hash of its IPv6 source /64 toward the
 * well-known NAT64 address (a route lookup; no packet is sent).  -1
 * when IPv6 has no route either. */
static int network_id(uint32_t *id)
{
	struct sockaddr_in6 probe = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	struct sockaddr_in6 me;
	socklen_t len = sizeof(me);
	inet_pton(AF_INET6, "64:ff9b::c000:aa", &probe.sin6_addr);
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	int rc = scio_sys.connect(s, (struct sockaddr *)&probe, sizeof(probe));
	if (rc == 0)
		rc = getsockname(s, (struct sockaddr *)&me, &len);
	close(s);
	if (rc < 0)
		return -1;
	uint32_t h = 2166136261u;
	for (int i = 0; i < 8; i++)
		h = (h ^ me.sin6_addr.s6_addr[i]) * 16777619u;
	*id = h;
	return 0;
}

/* The network's prefix from the history store, else from ipv4only.arpa
 * (N.lock held). */
static int learn_prefix(int64_t now)
{
	uint32_t net;
	if (network_id(&net) < 0)
		return -1;
	struct scio_nat64_prefix p;
	int64_t expires;
	char shown[SCIO_NAT64_PREFIX_STRLEN];
	if (scio_history_nat64_get(net, now, &p, &expires) == 0) {
		scio_log(SCIO_LOG_DEBUG, "NAT64 prefix %s: discovered before (history)",
			 scio_nat64_prefix_str(&p, shown, sizeof(shown)));
	} else {
		uint32_t ttl;
		if (scio_nat64_discover(&p, &ttl) < 0) {
			scio_log(SCIO_LOG_INFO, "no NAT64 prefix: ipv4only.arpa has no "
				 "AAAA record that names one (RFC 7050)");
			return -1;
		}
		ttl = ttl < TTL_MIN_S ? TTL_MIN_S : ttl > TTL_MAX_S ? TTL_MAX_S : ttl;
		expires = now + ttl * 1000LL;
		scio_history_nat64_put(net, &p, now, expires);
		scio_log(SCIO_LOG_INFO, "NAT64 prefix %s discovered (ipv4only.arpa, TTL %us)",
			 scio_nat64_prefix_str(&p, shown, sizeof(shown)), ttl);
	}
	N.p = p;
	N.expires = expires;
	return 0;
}

/* The prefix to use now: SCIO_NAT64_PREFIX's, or the network's,
 * discovered at most once per TTL.  *source for the log. */
static int current_prefix(const struct scio_config *cfg, struct scio_nat64_prefix *p,
			  const char **source)
{
	if (cfg->nat64 == SCIO_NAT64_CONFIGURED) {
		*p = cfg->nat64_prefix;
		*source = "configured";
		return 0;
	}
	scio_once(&atfork_once, register_atfork);
	int64_t now = scio_wall_ms();
	int rc = -1;
	scio_lock(&N.lock);
	if (N.p.len && now < N.expires)
		rc = 0;
	else if (now >= N.retry) {
		N.p.len = 0;
		rc = learn_prefix(now);
		if (rc < 0)
			N.retry = now + RETRY_MS;
	}
	if (rc == 0)
		*p = N.p;
	scio_unlock(&N.lock);
	*source = "discovered";
	return rc;
}

/* The synthesized connect failed at once: the prefix may be another
 * network's (or IPv6 is down too); asked again after RETRY_MS, not at
 * every connect. */
static void forget_prefix(void)
{
	int64_t now = scio_wall_ms();
	scio_lock(&N.lock);
	N.p.len = 0;
	N.retry = now + RETRY_MS;
	scio_unlock(&N.lock);
}

static int synthesize(const struct scio_config *cfg, const struct sockaddr_in *in,
		      struct sockaddr_in6 *out, struct scio_nat64_prefix *p,
		      const char **source)
{
	if (current_prefix(cfg, p, source) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = in->sin_port;
	if (scio_nat64_synthesize(p, &in->sin_addr, &out->sin6_addr) < 0) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		scio_log(SCIO_LOG_INFO, "%s is not a global IPv4 address: the "
			 "well-known NAT64 prefix may not carry it (RFC 6052 "
			 "section 3.1)", a);
		return -1;
	}
	return 0;
}

static void log_synthesized(int fd, const struct sockaddr_in *in,
			    const struct sockaddr_in6 *six,
			    const struct scio_nat64_prefix *p, const char *source)
{
	if (!scio_log_enabled(SCIO_LOG_INFO))
		return;
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], shown[SCIO_NAT64_PREFIX_STRLEN];
	inet_ntop(AF_INET, &in->sin_addr, a4, sizeof(a4));
	inet_ntop(AF_INET6, &six->sin6_addr, a6, sizeof(a6));
	scio_log(SCIO_LOG_INFO, "%s: no IPv4 route; connecting to %s through NAT64 "
		 "(prefix %s, %s); fd %d is now an AF_INET6 socket", a4, a6,
		 scio_nat64_prefix_str(p, shown, sizeof(shown)), source, fd);
}

/* A fresh AF_INET6 socket with the program's options, connecting to
 * six without waiting: it, or -1 when that failed at once. */
static int start_synthesized(int fd, const struct sockaddr_in6 *six)
{
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0)
		return -1;
	struct scio_sockopts opts;
	if (scio_sockopts_capture(fd, AF_INET, &opts) == 0)
		scio_sockopts_apply(s, AF_INET6, &opts);
	if (scio_sys.connect(s, (const struct sockaddr *)six, sizeof(*six)) < 0 &&
	    errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	return s;
}

/* IPv4 has no route to a (a route lookup; nothing is sent). */
static int no_ipv4_route(const struct sockaddr *a)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	int rc = scio_sys.connect(s, a, sizeof(struct sockaddr_in));
	int err = errno;
	close(s);
	return rc < 0 && (err == ENETUNREACH || err == EHOSTUNREACH);
}

/*
 * Whether IPv4 can reach an answer's first address, asked of the routing
 * table (a route lookup, nothing sent) and remembered for ten seconds: a
 * host's routes seldom change within seconds, so a program that looks up
 * names or literals in a loop pays one route lookup, not one per lookup.
 * A route found holds for every address (most names have only A records,
 * and a dual-stack host should pay nothing); no route holds for that
 * address alone (an IPv6-only host may still route a VPN's 10.0.0.0/8).
 * A connect that still finds no route goes through NAT64 all the same
 * (scio_nat64_connect).
 */
#define ROUTE_VERDICT_TTL_US (10 * 1000000LL)
#define UNROUTED_SLOTS 8
static int64_t ipv4_routed_until;
/* an IPv4 address and, above it, the monotonic second its verdict ends:
 * one word each, read and written whole without a lock */
static uint64_t unrouted[UNROUTED_SLOTS];

static int known_unrouted(const struct sockaddr_in *a, int64_t now)
{
	for (int i = 0; i < UNROUTED_SLOTS; i++) {
		uint64_t e = __atomic_load_n(&unrouted[i], __ATOMIC_RELAXED);
		if ((uint32_t)e == a->sin_addr.s_addr && (int64_t)(e >> 32) > now / 1000000)
			return 1;
	}
	return 0;
}

static void remember_unrouted(const struct sockaddr_in *a, int64_t now)
{
	static unsigned next;
	unsigned i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % UNROUTED_SLOTS;
	uint64_t until_s = (uint64_t)((now + ROUTE_VERDICT_TTL_US) / 1000000);
	__atomic_store_n(&unrouted[i], until_s << 32 | a->sin_addr.s_addr, __ATOMIC_RELAXED);
}

/* No route to this address: what a connect asks, whatever other
 * addresses IPv4 reaches. */
static int no_route_to(const struct sockaddr *sa)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
	int64_t now = scio_now_us();
	if (known_unrouted(a, now))
		return 1;
	if (!no_ipv4_route(sa))
		return 0;
	remember_unrouted(a, now);
	return 1;
}

#ifdef __GLIBC__
/* What a lookup asks: also no IPv4 route lately anywhere else. */
static int ipv4_unroutable(const struct sockaddr *sa)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
	int64_t now = scio_now_us();
	if (known_unrouted(a, now))
		return 1;
	if (now < __atomic_load_n(&ipv4_routed_until, __ATOMIC_RELAXED))
		return 0;
	if (no_ipv4_route(sa)) {
		remember_unrouted(a, now);
		return 1;
	}
	__atomic_store_n(&ipv4_routed_until, now + ROUTE_VERDICT_TTL_US, __ATOMIC_RELAXED);
	return 0;
}
#endif

int scio_nat64_connect(int fd, const struct sockaddr *addr, socklen_t len, int err)
{
	const struct scio_config *cfg = scio_config();
	struct sockaddr_in in;
	struct sockaddr_in6 six;
	struct scio_nat64_prefix p;
	const char *source;
	int flags;

	if (cfg->disabled || cfg->nat64 == SCIO_NAT64_OFF || addr->sa_family != AF_INET ||
	    len < sizeof(in) || (err != ENETUNREACH && err != EHOSTUNREACH))
		goto fail;
	memcpy(&in, addr, sizeof(in));
	/* a blocking connect also returns what the network answered later
	 * (an ICMP unreachable on a dual-stack host): only a missing route
	 * counts; a non-blocking one returns nothing but the route's verdict */
	if (!tcp_socket(fd, &flags) || !unbound_socket(fd, AF_INET) ||
	    (!(flags & O_NONBLOCK) && !no_route_to(addr)) ||
	    synthesize(cfg, &in, &six, &p, &source) < 0)
		goto fail;
	int s = start_synthesized(fd, &six);
	if (s < 0) {
		if (cfg->nat64 != SCIO_NAT64_CONFIGURED)
			forget_prefix();
		goto fail;
	}
	log_synthesized(fd, &in, &six, &p, source);
	if (adopt_winner(fd, s, flags) < 0) {
		close(s);
		goto fail;
	}
	if (flags & O_NONBLOCK) {
		errno = EINPROGRESS;
		return -1;
	}
	/* a blocking connect on a connecting socket waits for it, within
	 * the program's SO_SNDTIMEO (copied), as the program's own would */
	if (scio_sys.connect(fd, (const struct sockaddr *)&six, sizeof(six)) == 0)
		return 0;
	if (errno == EALREADY)  /* SO_SNDTIMEO ran out */
		errno = EINPROGRESS;
	return -1;
fail:
	errno = err;
	return -1;
}

#ifdef __GLIBC__
/* A node glibc's freeaddrinfo frees like its own: one block with its
 * address, the canonical name a separate string. */
static struct addrinfo *synthesized_node(const struct addrinfo *a4,
					 const struct sockaddr_in6 *six)
{
	struct addrinfo *ai = malloc(sizeof(*ai) + sizeof(*six));
	if (!ai)
		return NULL;
	*ai = *a4;
	ai->ai_family = AF_INET6;
	ai->ai_addrlen = sizeof(*six);
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	ai->ai_canonname = NULL;
	ai->ai_next = NULL;
	memcpy(ai->ai_addr, six, sizeof(*six));
	return ai;
}

static void log_added(const char *node, const struct sockaddr_in *in,
		      const struct sockaddr_in6 *six, const struct scio_nat64_prefix *p,
		      const char *source)
{
	if (!scio_log_enabled(SCIO_LOG_INFO))
		return;
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], shown[SCIO_NAT64_PREFIX_STRLEN];
	inet_ntop(AF_INET, &in->sin_addr, a4, sizeof(a4));
	inet_ntop(AF_INET6, &six->sin6_addr, a6, sizeof(a6));
	scio_nat64_prefix_str(p, shown, sizeof(shown));
	if (strcmp(node, a4) == 0)
		scio_log(SCIO_LOG_INFO, "%s: an IPv4 literal and no IPv4 route; answered "
			 "%s first, through NAT64 (prefix %s, %s)", node, a6, shown, source);
	else
		scio_log(SCIO_LOG_INFO, "%s: IPv4 only (%s) and no IPv4 route; added %s "
			 "through NAT64 (prefix %s, %s)", node, a4, a6, shown, source);
}

/* The synthesized nodes of an answer's TCP A records, in its order. */
static struct addrinfo *synthesized_list(const struct scio_config *cfg,
					 const struct addrinfo *res, const char *node)
{
	struct addrinfo *head = NULL, **tail = &head;
	struct scio_nat64_prefix p;
	const char *source = NULL;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_in in;
		struct sockaddr_in6 six;
		if (ai->ai_family != AF_INET || ai->ai_addrlen < sizeof(in) ||
		    ai->ai_socktype != SOCK_STREAM)
			continue;  /* never for UDP */
		memcpy(&in, ai->ai_addr, sizeof(in));
		if (synthesize(cfg, &in, &six, &p, &source) < 0)
			continue;
		struct addrinfo *n = synthesized_node(ai, &six);
		if (!n)
			break;
		*tail = n;
		tail = &n->ai_next;
		log_added(node, &in, &six, &p, source);
	}
	return head;
}

/* Only A records, TCP among them, the first not routable over IPv4. */
static int wants_synthesis(const struct addrinfo *res)
{
	const struct addrinfo *first = NULL;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6)
			return 0;  /* the resolver's AAAA (maybe DNS64's), as is */
		if (ai->ai_family == AF_INET && ai->ai_socktype == SOCK_STREAM &&
		    ai->ai_addrlen >= sizeof(struct sockaddr_in) && !first)
			first = ai;
	}
	return first && ipv4_unroutable(first->ai_addr);
}
#endif

/*
 * Two lookups leave an IPv4-only name with no answer at all on an
 * IPv6-only host: AI_ADDRCONFIG with no IPv4 address but loopback makes
 * glibc skip the A query, and AF_INET6 (without AI_V4MAPPED) asks only
 * for AAAA.  When IPv4 has no route, the name's A records are asked for
 * once more and only their synthesized AAAA records are returned.
 */
static int asks_no_a_records(const struct addrinfo *hints)
{
	if (!hints)
		return 0;
	if (hints->ai_family == AF_UNSPEC)
		return (hints->ai_flags & AI_ADDRCONFIG) != 0;
	return hints->ai_family == AF_INET6 && !(hints->ai_flags & AI_V4MAPPED);
}

int scio_nat64_lookup_retry(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res, int rc)
{
#ifdef __GLIBC__
	const struct scio_config *cfg = scio_config();
	struct sockaddr_in wka = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(0xc00000aa) };
	int saved = errno;
	if (cfg->disabled || cfg->nat64 == SCIO_NAT64_OFF || !asks_no_a_records(hints) ||
	    (hints->ai_flags & AI_PASSIVE) || !no_ipv4_route((const struct sockaddr *)&wka)) {
		errno = saved;
		return rc;
	}
	struct addrinfo h = *hints, *v4 = NULL;
	h.ai_family = AF_INET;
	h.ai_flags &= ~(AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL);
	if (scio_sys.getaddrinfo(node, service, &h, &v4) != 0) {
		errno = saved;
		return rc;
	}
	struct addrinfo *added = synthesized_list(cfg, v4, node);
	if (added) {
		added->ai_canonname = v4->ai_canonname;
		v4->ai_canonname = NULL;
		*res = added;
		rc = 0;
	}
	scio_sys.freeaddrinfo(v4);
	errno = saved;
	return rc;
#else
	(void)node, (void)service, (void)hints, (void)res;
	return rc;
#endif
}

void scio_nat64_complete_answer(const char *node, struct addrinfo **res)
{
#ifdef __GLIBC__
	const struct scio_config *cfg = scio_config();
	if (cfg->disabled || cfg->nat64 == SCIO_NAT64_OFF || !wants_synthesis(*res))
		return;
	struct addrinfo *added = synthesized_list(cfg, *res, node);
	if (!added)
		return;
	/* synthesized first: IPv4 cannot be reached; the name stays on the
	 * first node, where programs read it */
	added->ai_canonname = (*res)->ai_canonname;
	(*res)->ai_canonname = NULL;
	struct addrinfo *last = added;
	while (last->ai_next)
		last = last->ai_next;
	last->ai_next = *res;
	*res = added;
#else
	/* musl frees a getaddrinfo answer as one block: no node of ours can
	 * join it */
	(void)node;
	(void)res;
#endif
}
