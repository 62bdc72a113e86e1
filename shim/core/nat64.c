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
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "history.h"
#include "internal.h"
#include "log.h"
#include "nat64.h"
#include "resolve.h"
#include "sortaddr.h"
#include "sys.h"
#include "core.h"

#define TTL_MIN_S 10
#define TTL_MAX_S 86400
/* after a discovery that found nothing, or a host without IPv6 */
#define RETRY_MS 60000
/* How long a connect or lookup waits for a discovery under way: one
 * DNS round trip, even a cold resolver's, is far shorter; a resolver
 * that does not answer in that time is retrying, and the program gets
 * libc's answer instead of a wait of glibc's 10 s.  The discovery goes
 * on in the background for the connects that follow. */
#define DISCOVERY_WAIT_US (1000 * 1000LL)

static struct {
	pthread_mutex_t lock;
	struct scio_nat64_prefix p;  /* len 0: none known */
	int64_t expires;             /* wall ms */
	int64_t retry;               /* no discovery before this (wall ms) */
	int running;                 /* a discovery is under way */
	int64_t wait_until;          /* for it, at most till then (scio_now_us) */
	uint32_t ended;              /* futex word: counts the discoveries ended */
} N = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* the parent's discovery thread is not the child's */
static void forget_the_parents(int renewed)
{
	(void)renewed;
	N.running = 0;
}
SCIO_FORK_SAFE_LOCK_THEN(N.lock, forget_the_parents)

/* The route toward a, asked of the routing table (a UDP connect: nothing
 * is sent): 0 and, when src is not NULL, the source address it picks;
 * -1 with errno (ENETUNREACH, EHOSTUNREACH: no route). */
static int route_to(const struct sockaddr *a, socklen_t len, struct sockaddr_storage *src)
{
	int s = socket(a->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	socklen_t slen = sizeof(*src);
	int cs;  /* connect is a cancellation point: the socket would stay open */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	int rc = scio_sys.connect(s, a, len);
	if (rc == 0 && src)
		rc = getsockname(s, (struct sockaddr *)src, &slen);
	int err = errno;
	close(s);
	pthread_setcancelstate(cs, NULL);
	errno = err;
	return rc;
}

/* No route to a; a lookup that could not be made counts as a route. */
static int no_route(const struct sockaddr *a, socklen_t len)
{
	return route_to(a, len, NULL) < 0 && (errno == ENETUNREACH || errno == EHOSTUNREACH);
}

/* Which network the host is on: a hash of its IPv6 source /64 toward the
 * well-known NAT64 address (a route lookup; no packet is sent).  -1
 * when IPv6 has no route either. */
static int network_id(uint32_t *id)
{
	struct sockaddr_in6 probe = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	struct sockaddr_storage me;
	inet_pton(AF_INET6, "64:ff9b::c000:aa", &probe.sin6_addr);
	if (route_to((struct sockaddr *)&probe, sizeof(probe), &me) < 0)
		return -1;
	const uint8_t *a = ((const struct sockaddr_in6 *)&me)->sin6_addr.s6_addr;
	uint32_t h = 2166136261u;
	for (int i = 0; i < 8; i++)
		h = (h ^ a[i]) * 16777619u;
	*id = h;
	return 0;
}

/* The network's prefix from the history store, else from ipv4only.arpa
 * (one DNS round trip or glibc's timeout: no lock held). */
static int learn_prefix(int64_t now, struct scio_nat64_prefix *out, int64_t *out_expires)
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
	*out = p;
	*out_expires = expires;
	return 0;
}

/* A discovery, on a helper thread or, when none could start, on the
 * caller's: its outcome goes into N, and its waiters wake. */
static void discover(void *unused)
{
	(void)unused;
	int64_t now = scio_wall_ms();
	struct scio_nat64_prefix p;
	int64_t expires;
	int rc = learn_prefix(now, &p, &expires);
	scio_lock(&N.lock);
	if (rc == 0) {
		N.p = p;
		N.expires = expires;
	} else {
		N.retry = now + RETRY_MS;
	}
	N.running = 0;
	__atomic_add_fetch(&N.ended, 1, __ATOMIC_RELEASE);
	scio_unlock(&N.lock);
	syscall(SYS_futex, &N.ended, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static int prefix_known(int64_t now)
{
	return N.p.len && now < N.expires;
}

/* Sleeps until the discovery counted by `seen` has ended, or until
 * `until` (scio_now_us).  No lock held. */
static void wait_for_discovery(uint32_t seen, int64_t until)
{
	int64_t left;
	while (__atomic_load_n(&N.ended, __ATOMIC_ACQUIRE) == seen &&
	       (left = until - scio_now_us()) > 0) {
		struct timespec ts = { left / 1000000, (left % 1000000) * 1000 };
		syscall(SYS_futex, &N.ended, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
	}
}

/* A discovery is due: none runs, none failed lately (N.lock held).  It
 * is marked as running; the caller starts it once the lock is let go
 * (the helpers' lock comes after no lock of ours: fork's handlers take
 * them in the other order). */
static int discovery_due(int64_t now)
{
	if (prefix_known(now) || N.running || now < N.retry)
		return 0;
	N.p.len = 0;
	N.running = 1;
	N.wait_until = scio_now_us() + DISCOVERY_WAIT_US;
	return 1;
}

/* On a helper, or on this thread when none could start: then with
 * cancellation held off, as under a lock, so that N.running cannot
 * be left set by a thread cancelled inside res_query. */
static void start_discovery(void)
{
	if (scio_resolve_in_background(discover, NULL) == 0)
		return;
	int state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	discover(NULL);
	pthread_setcancelstate(state, NULL);
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
	scio_lock(&N.lock);
	int due = discovery_due(now);
	uint32_t seen = N.ended;
	int64_t until = N.running && !prefix_known(now) ? N.wait_until : 0;
	scio_unlock(&N.lock);
	if (due)
		start_discovery();
	if (until)
		wait_for_discovery(seen, until);
	scio_lock(&N.lock);
	int rc = prefix_known(scio_wall_ms()) ? 0 : -1;
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

static void log_synthesized(int fd, int family, const struct sockaddr_in *in,
			    const struct sockaddr_in6 *six,
			    const struct scio_nat64_prefix *p, const char *source)
{
	if (!scio_log_enabled(SCIO_LOG_INFO))
		return;
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], shown[SCIO_NAT64_PREFIX_STRLEN];
	inet_ntop(AF_INET, &in->sin_addr, a4, sizeof(a4));
	inet_ntop(AF_INET6, &six->sin6_addr, a6, sizeof(a6));
	scio_log(SCIO_LOG_INFO, "%s: no IPv4 route; connecting to %s through NAT64 "
		 "(prefix %s, %s); fd %d %s%s", a4, a6,
		 scio_nat64_prefix_str(p, shown, sizeof(shown)), source, fd,
		 family == AF_INET ? "is now an AF_INET6 socket" : "keeps its family, not ::ffff:",
		 family == AF_INET ? "" : a4);
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
		scio_close_own(s);
		return -1;
	}
	return s;
}


/*
 * Route verdicts, asked of the routing table (a UDP connect: nothing is
 * sent) and remembered for ten seconds: routes seldom change within
 * seconds, so a program that looks up names or literals in a loop asks
 * once, not once per lookup.
 * - IPv4 works when it routes 192.0.0.170 (RFC 7050's well-known address,
 *   which only a default route reaches): a dual-stack host then pays one
 *   route lookup per 10 s and process, whatever it looks up.
 * - Without a default route, each address is asked (an IPv6-only host
 *   may still route a VPN's 10.0.0.0/8, and always routes 127.0.0.0/8),
 *   and its verdict is kept in one of eight slots.
 */
#define ROUTE_VERDICT_TTL_US (10 * 1000000LL)
#define VERDICT_SLOTS 8
/* The monotonic second a verdict ends (31 bits), no route (1 bit), the
 * IPv4 address (32 bits): one word, read and written whole, no lock. */
static uint64_t verdicts[VERDICT_SLOTS];

static uint64_t verdict_word(in_addr_t addr, int unrouted, int64_t now)
{
	uint64_t until_s = (uint64_t)((now + ROUTE_VERDICT_TTL_US) / 1000000);
	return until_s << 33 | (uint64_t)(unrouted != 0) << 32 | addr;
}

/* 1: no route, 0: a route, -1: not known (another address, expired) */
static int verdict_of(uint64_t w, in_addr_t addr, int64_t now)
{
	if ((uint32_t)w != addr || (int64_t)(w >> 33) <= now / 1000000)
		return -1;
	return (int)(w >> 32 & 1);
}

static int cached_verdict(const struct sockaddr_in *a, int64_t now)
{
	for (int i = 0; i < VERDICT_SLOTS; i++) {
		int v = verdict_of(__atomic_load_n(&verdicts[i], __ATOMIC_RELAXED),
				   a->sin_addr.s_addr, now);
		if (v >= 0)
			return v;
	}
	return -1;
}

static int asked_verdict(const struct sockaddr_in *a, int64_t now)
{
	static unsigned next;
	int unrouted = no_route((const struct sockaddr *)a, sizeof(*a));
	unsigned i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % VERDICT_SLOTS;
	__atomic_store_n(&verdicts[i], verdict_word(a->sin_addr.s_addr, unrouted, now),
			 __ATOMIC_RELAXED);
	return unrouted;
}

/* No route to a, for a connect libc found unreachable: a verdict of no
 * route kept from a lookup will do, a route is asked again. */
static int no_route_to(const struct sockaddr_in *a)
{
	int64_t now = scio_now_us();
	return cached_verdict(a, now) == 1 || asked_verdict(a, now);
}

/* The IPv4 address of an A record, or of the v4-mapped AAAA glibc makes
 * of one (AI_V4MAPPED): 1 and *in, else 0. */
static int v4_of(const struct sockaddr *sa, socklen_t len, struct sockaddr_in *in)
{
	if (sa->sa_family == AF_INET && len >= sizeof(*in)) {
		memcpy(in, sa, sizeof(*in));
		return 1;
	}
	struct sockaddr_in6 six;
	if (sa->sa_family != AF_INET6 || len < sizeof(six))
		return 0;
	memcpy(&six, sa, sizeof(six));
	if (!IN6_IS_ADDR_V4MAPPED(&six.sin6_addr))
		return 0;
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_port = six.sin6_port;
	memcpy(&in->sin_addr, &six.sin6_addr.s6_addr[12], 4);
	return 1;
}

#ifdef __GLIBC__
static uint64_t default_verdict;  /* 192.0.0.170's, as a slot holds it */

/* IPv4 has a default route. */
static int ipv4_works(int64_t now)
{
	struct sockaddr_in wka = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(0xc00000aa) };
	int v = verdict_of(__atomic_load_n(&default_verdict, __ATOMIC_RELAXED),
			   wka.sin_addr.s_addr, now);
	if (v < 0) {
		v = no_route((const struct sockaddr *)&wka, sizeof(wka));
		__atomic_store_n(&default_verdict, verdict_word(wka.sin_addr.s_addr, v, now),
				 __ATOMIC_RELAXED);
	}
	return !v;
}

/* What a lookup asks of an A record: no default route, none toward it. */
static int ipv4_unroutable(const struct sockaddr_in *a)
{
	int64_t now = scio_now_us();
	if (ipv4_works(now))
		return 0;
	int v = cached_verdict(a, now);
	return v >= 0 ? v : asked_verdict(a, now);
}
#endif

/* A v4-mapped address on an AF_INET6 socket: the synthesized one on the
 * same socket, whose family stays.  Unreachable is the kernel's answer
 * (an ICMP from behind the translator, say), unless IPv6 has no route
 * to the prefix: then the prefix is not this network's. */
static int connect_mapped(int fd, const struct sockaddr_in6 *six, int err)
{
	if (scio_sys.connect(fd, (const struct sockaddr *)six, sizeof(*six)) == 0)
		return 0;
	int e = errno;
	if ((e == ENETUNREACH || e == EHOSTUNREACH) &&
	    no_route((const struct sockaddr *)six, sizeof(*six))) {
		if (scio_config()->nat64 != SCIO_NAT64_CONFIGURED)
			forget_prefix();
		e = err;
	}
	errno = e;
	return -1;
}

int scio_nat64_connect(int fd, const struct sockaddr *addr, socklen_t len, int err)
{
	const struct scio_config *cfg = scio_config();
	struct sockaddr_in in;
	struct sockaddr_in6 six;
	struct scio_nat64_prefix p;
	const char *source;
	int flags;

	if (cfg->disabled || cfg->nat64 == SCIO_NAT64_OFF ||
	    (err != ENETUNREACH && err != EHOSTUNREACH) || !v4_of(addr, len, &in))
		goto fail;
	/* a blocking connect also returns what the network answered later
	 * (an ICMP unreachable on a dual-stack host): only a missing route
	 * counts; a non-blocking one returns nothing but the route's verdict,
	 * except on an IPV6_V6ONLY socket, which fails any mapped address */
	if (!tcp_socket(fd, &flags) || !unbound_socket(fd, addr->sa_family) ||
	    ((!(flags & O_NONBLOCK) || addr->sa_family == AF_INET6) && !no_route_to(&in)) ||
	    synthesize(cfg, &in, &six, &p, &source) < 0)
		goto fail;
	log_synthesized(fd, addr->sa_family, &in, &six, &p, source);
	if (addr->sa_family == AF_INET6)
		return connect_mapped(fd, &six, err);
	/* no cancel acts until the socket is the program's fd: it would
	 * stay open (the connect on fd below is the program's, cancellable) */
	int cs;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	int s = start_synthesized(fd, &six);
	int moved = s >= 0 && adopt_winner(fd, s, flags) == 0;
	if (s >= 0 && !moved)
		scio_close_own(s);
	pthread_setcancelstate(cs, NULL);
	if (s < 0 && cfg->nat64 != SCIO_NAT64_CONFIGURED)
		forget_prefix();
	if (!moved)
		goto fail;
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

/* An A record (or v4-mapped AAAA) for TCP: never UDP, nor SCTP. */
static int tcp_a_record(const struct addrinfo *ai, struct sockaddr_in *in)
{
	return ai->ai_socktype == SOCK_STREAM &&
	       (ai->ai_protocol == 0 || ai->ai_protocol == IPPROTO_TCP) &&
	       v4_of(ai->ai_addr, ai->ai_addrlen, in);
}

/* The synthesized nodes of an answer's TCP A records that IPv4 cannot
 * reach, in its order. */
static struct addrinfo *synthesized_list(const struct scio_config *cfg,
					 const struct addrinfo *res, const char *node)
{
	struct addrinfo *head = NULL, **tail = &head;
	struct scio_nat64_prefix p;
	const char *source = NULL;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_in in;
		struct sockaddr_in6 six;
		if (!tcp_a_record(ai, &in) || !ipv4_unroutable(&in) ||
		    synthesize(cfg, &in, &six, &p, &source) < 0)
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

/* Only A records (or the v4-mapped AAAA glibc makes of them), TCP among
 * them, the first not routable over IPv4. */
static int wants_synthesis(const struct addrinfo *res)
{
	struct sockaddr_in first, in;
	int found = 0;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6 && !v4_of(ai->ai_addr, ai->ai_addrlen, &in))
			return 0;  /* the resolver's AAAA (maybe DNS64's), as is */
		if (!found && tcp_a_record(ai, &first))
			found = 1;
	}
	return found && ipv4_unroutable(&first);
}
#endif

#ifdef __GLIBC__
/*
 * Lookups that find nothing at all for an IPv4-only name or literal on an
 * IPv6-only host: AI_ADDRCONFIG (also glibc's default without hints)
 * with no IPv4 address but loopback makes glibc skip the A query (or
 * refuse the literal), and AF_INET6 without AI_V4MAPPED asks for AAAA
 * alone (glibc: EAI_NODATA for a name with no AAAA, EAI_ADDRFAMILY for an
 * IPv4 literal; a name that does not exist is not asked again).  When
 * IPv4 has no route, the A records are asked for once more and only
 * their synthesized AAAA records are returned.  A host with an IPv4
 * address but no route for it had its A query asked already.
 */
static int asks_no_a_records(const struct addrinfo *hints, int rc)
{
	int family = hints ? hints->ai_family : AF_UNSPEC;
	int flags = hints ? hints->ai_flags : AI_V4MAPPED | AI_ADDRCONFIG;
	if (flags & AI_PASSIVE)
		return 0;
	bool v4, v6;
	if (family == AF_UNSPEC)
		return (flags & AI_ADDRCONFIG) && scio_addrconfig(&v4, &v6) == 0 && !v4 && v6;
	return family == AF_INET6 && !(flags & AI_V4MAPPED) &&
	       (rc == EAI_NODATA || rc == EAI_ADDRFAMILY);
}

#endif

int scio_nat64_lookup_retry(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res, int rc)
{
#ifdef __GLIBC__
	const struct scio_config *cfg = scio_config();
	int saved = errno;
	if (cfg->disabled || cfg->nat64 == SCIO_NAT64_OFF || !asks_no_a_records(hints, rc) ||
	    ipv4_works(scio_now_us())) {
		errno = saved;
		return rc;
	}
	struct addrinfo h = { 0 }, *v4 = NULL;
	if (hints)
		h = *hints;
	h.ai_family = AF_INET;
	h.ai_flags &= ~(AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL);
	/* AF_INET without AI_CANONNAME takes glibc's gethostbyname2_r road,
	 * not its AF_UNSPEC one: a name of digits and dots is no name there,
	 * and a malformed nsswitch.conf leaves the process's later lookups
	 * failing (EAI_SYSTEM, EINVAL) */
	h.ai_flags |= AI_CANONNAME;
	if (scio_sys.getaddrinfo(node, service, &h, &v4) != 0) {
		errno = saved;
		return rc;
	}
	struct addrinfo *added = synthesized_list(cfg, v4, node);
	if (added) {
		if (hints && (hints->ai_flags & AI_CANONNAME)) {
			added->ai_canonname = v4->ai_canonname;
			v4->ai_canonname = NULL;
		}
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
