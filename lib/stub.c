/*
 * stub.c - the resolution race in the calling thread.  Through the
 * system's getaddrinfo, a race needs a thread of its own for one family,
 * since glibc's lookup can be neither left early nor given a deadline
 * under a second; that thread cost as much CPU as the lookup itself.  So
 * for the case that is nearly every lookup (nsswitch.conf's hosts line
 * "files dns", a name that is not in /etc/hosts and that glibc would ask
 * for as it is) scio sends the two queries glibc would send, to the same
 * servers, on glibc's schedule, and reads the replies as glibc reads them
 * (lib/dnswire.c); each family is put in glibc's order (lib/sortaddr.c).
 *
 * What the stub does not do the way glibc does, it leaves to the system's
 * lookup before returning anything: a reply that is not a plain answer
 * (no such name, a server failure, a truncated reply: glibc then tries
 * search domains, other servers or TCP), no address at all, a server that
 * refuses, a setting it does not know (lib/resconf.c).  The cost of that
 * is one more round trip, on a path where something is already wrong.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <unistd.h>

#include "clock.h"
#include "dnswire.h"
#include "internal.h"
#include "resconf.h"
#include "sortaddr.h"
#include "stub.h"
#include "sys.h"

#ifdef __GLIBC__  /* musl frees an answer as one block: no nodes of ours */

#define REPLY_MAX 4096    /* a longer reply is left to glibc */
#define ADDRS_MAX 128     /* addresses of both replies */
#define FAMILY_MAX 64     /* sorted per family (sortaddr's bound is higher) */

enum { QA, QAAAA };

struct query {
	unsigned char msg[SCIO_DNS_QUERY_MAX];
	int len;
	int done;             /* its reply has been read */
	enum scio_dns_verdict kind;  /* that reply's: ANSWER, NODATA or NXDOMAIN */
};

struct exchange {
	const struct scio_resconf *conf;
	int sock[SCIO_RESCONF_MAXNS];
	int silent;           /* a server let its time pass with no reply */
	struct addrinfo *tmpl;        /* glibc's entries for one address */
	struct query q[2];
	int replies;          /* read so far */
	int positive;         /* a reply held an address */
	size_t naddr;
	struct scio_dns_addr *addr;   /* both replies', in the order read */
	unsigned char *buf;           /* one reply */
	int cancel_state;             /* the program's, for the waits */
};

/* ---- query ids ---- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Unpredictable ids (the reply's source port is the kernel's random
 * pick): random bytes from the kernel, a counter and the clock (which
 * also parts a forked child's ids from its parent's), mixed. */
static uint16_t query_id(void)
{
	static uint64_t counter;
	static uint64_t seed;
	uint64_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);
	if (!s) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
			s = (uint64_t)(uintptr_t)&s ^ (uint64_t)scio_now_us();
		s |= 1;
		__atomic_store_n(&seed, s, __ATOMIC_RELAXED);
	}
	uint64_t n = __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint16_t)mix64(s ^ n ^ (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32));
}

/* ---- what the stub takes on ---- */

/* Set once a server lost one of two queries sent together while the
 * system's lookup of that family alone got its answer (scio_stub_queries_lost):
 * glibc would then send one query at a time (its single-request mode),
 * and this process's lookups go to the system's from then on. */
static int parallel_loses_queries;

/* Flags whose answer the stub gives as glibc does with AF_UNSPEC: the
 * mapped-address flags only act on AF_INET6 lookups, AI_PASSIVE only
 * without a name. */
#define STUB_FLAGS (AI_V4MAPPED | AI_ALL | AI_NUMERICSERV | AI_PASSIVE | AI_ADDRCONFIG)

/* glibc's flags for a call without hints */
#define DEFAULT_FLAGS (AI_V4MAPPED | AI_ADDRCONFIG)

/* The names glibc's res_search asks for, in its order: the name as it is
 * first when it has at least ndots dots or ends with one (then alone),
 * then the name in each search domain, then as it is unless asked
 * already (or the root domain was on the list). */
struct candidates {
	char name[SCIO_RESCONF_MAXSEARCH + 2][SCIO_STUB_NAME_MAX + 1];
	int n;
	int as_is_first;     /* name[0] is the name as it is */
	int as_is_last;      /* name[n - 1] is */
	int root;            /* the index of the root domain's name, or -1 */
};

static int add_candidate(struct candidates *cs, const char *name, const char *domain)
{
	char *out = cs->name[cs->n];
	size_t len = strlen(name);
	if (len && name[len - 1] == '.')
		len--;  /* glibc's querydomain drops it; the wire is the same */
	int n = domain && *domain ? snprintf(out, SCIO_STUB_NAME_MAX + 1, "%.*s.%s", (int)len, name, domain)
				  : snprintf(out, SCIO_STUB_NAME_MAX + 1, "%.*s", (int)len, name);
	if (n < 0 || n > SCIO_STUB_NAME_MAX - 1)
		return -1;  /* glibc fails such a name before sending */
	cs->n++;
	return 0;
}

static int list_candidates(const char *node, const struct scio_resconf *c, struct candidates *cs)
{
	int dots = 0;
	for (const char *p = node; *p; p++)
		dots += *p == '.';
	size_t len = strlen(node);
	int trailing_dot = len && node[len - 1] == '.';
	if (len >= 2 && node[len - 2] == '.' && trailing_dot)
		return -1;  /* an empty label: glibc fails it before asking */
	cs->n = 0;
	cs->root = -1;
	cs->as_is_first = dots >= c->ndots || trailing_dot;
	if (cs->as_is_first && add_candidate(cs, node, NULL) < 0)
		return -1;
	if (trailing_dot)
		return 0;
	const char *d = c->search;
	for (int i = 0; i < c->nsearch; i++, d += strlen(d) + 1) {
		const char *domain = *d == '.' ? d + 1 : d;
		if (!*domain && cs->root < 0)
			cs->root = cs->n;
		if (add_candidate(cs, node, domain) < 0)
			return -1;
	}
	cs->as_is_last = !cs->as_is_first;  /* unless the root was asked: search() */
	if (cs->as_is_last && add_candidate(cs, node, NULL) < 0)
		return -1;
	return 0;
}

static int build_queries(struct exchange *x, const char *node)
{
	static const uint16_t type[2] = { SCIO_DNS_T_A, SCIO_DNS_T_AAAA };
	uint16_t id[2] = { query_id(), query_id() };
	if (id[1] == id[0])
		id[1] ^= 1;  /* a reply must name its query */
	for (int i = 0; i < 2; i++) {
		x->q[i].len = x->conf->edns0
			? scio_dns_query_edns(x->q[i].msg, sizeof(x->q[i].msg), node, id[i],
					      type[i], SCIO_DNS_EDNS_PAYLOAD)
			: scio_dns_query(x->q[i].msg, sizeof(x->q[i].msg), node, id[i], type[i]);
		x->q[i].done = 0;
		if (x->q[i].len < 0)
			return -1;
		if (x->conf->trust_ad)
			x->q[i].msg[3] |= 0x20;  /* AD, as glibc asks with trust-ad */
	}
	return 0;
}

/* ---- the exchange ---- */

static int open_server(struct exchange *x, int ns)
{
	if (x->sock[ns] >= 0)
		return 0;
	const struct sockaddr *sa = (const struct sockaddr *)&x->conf->server[ns];
	int s = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	/* ICMP errors (unreachable hosts and networks too) end the wait on
	 * this server at once, as glibc has them */
	int on = 1;
	if (sa->sa_family == AF_INET6)
		setsockopt(s, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	else
		setsockopt(s, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	if (scio_sys.connect(s, sa, scio_sockaddr_len(sa)) < 0) {
		close(s);
		return -1;
	}
	x->sock[ns] = s;
	return 0;
}

/* The queries not answered yet, in one call as glibc sends them. */
static int send_unanswered(struct exchange *x, int ns)
{
	struct mmsghdr m[2];
	struct iovec iov[2];
	unsigned int n = 0;
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 2; i++) {
		if (x->q[i].done)
			continue;
		iov[n] = (struct iovec){ x->q[i].msg, (size_t)x->q[i].len };
		m[n].msg_hdr.msg_iov = &iov[n];
		m[n].msg_hdr.msg_iovlen = 1;
		n++;
	}
	int sent;
	do
		sent = sendmmsg(x->sock[ns], m, n, 0);
	while (sent < 0 && errno == EINTR);
	return sent == (int)n ? 0 : -1;
}

/* How long glibc's send_dg waits for server ns (whole seconds). */
static int64_t server_wait_us(const struct scio_resconf *c, int ns)
{
	int64_t seconds = (int64_t)c->timeout_s << ns;
	if (ns > 0)
		seconds /= c->nservers;
	if (seconds <= 0)
		seconds = 1;
	return seconds * 1000000;
}

/* Takes one datagram as the reply to a query still open; -1 when the
 * system's resolver must decide. */
static int take_reply(struct exchange *x, size_t len)
{
	for (int i = 0; i < 2; i++) {
		if (x->q[i].done)
			continue;
		size_t n = 0;
		enum scio_dns_verdict v = scio_dns_answer(x->buf, len, x->q[i].msg,
							  (size_t)x->q[i].len, x->addr + x->naddr,
							  ADDRS_MAX - x->naddr, &n);
		if (v == SCIO_DNS_NOT_OURS)
			continue;
		if (v == SCIO_DNS_FALLBACK)
			return -1;
		x->q[i].done = 1;
		x->q[i].kind = v;
		x->replies++;
		x->naddr += n;
		x->positive |= n > 0;
		return 0;
	}
	return 0;  /* nobody's: a stray or forged datagram */
}

#define SERVER_FAILED (-2)

/* Reads what waits on s: -1 when a reply is for the system's resolver to
 * read, SERVER_FAILED on an ICMP error (glibc then goes on to the next
 * server). */
static int read_replies(struct exchange *x, int s)
{
	while (x->replies < 2) {
		ssize_t len = recv(s, x->buf, REPLY_MAX, MSG_TRUNC);
		if (len < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : SERVER_FAILED;
		if ((size_t)len > REPLY_MAX || take_reply(x, (size_t)len) < 0)
			return -1;
	}
	return 0;
}

static void close_server(struct exchange *x, int ns)
{
	close(x->sock[ns]);
	x->sock[ns] = -1;
}

/* 1 when s is readable, 0 when the time ran out or a signal came, -1 on
 * an error.  The program's cancellation acts here, as in glibc's poll. */
static int wait_readable(struct exchange *x, int s, int64_t left_us)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	int ms = (int)((left_us + 999) / 1000);
	pthread_setcancelstate(x->cancel_state, NULL);
	int n = scio_sys.poll(&p, 1, ms);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	return n > 0;
}

enum outcome { PASS = -1, SILENCE, FOUND, NOT_HERE };

/* What the replies read tell once the wait for them has ended: FOUND
 * (addresses, and no reply saying the name does not exist), NOT_HERE
 * (both say no such name or no data: glibc's search goes on), else the
 * system's lookup decides. */
static enum outcome settled(const struct exchange *x)
{
	int nx = 0, empty = 0;
	for (int i = 0; i < 2; i++) {
		nx += x->q[i].done && x->q[i].kind == SCIO_DNS_NXDOMAIN;
		empty += x->q[i].done && x->q[i].kind != SCIO_DNS_ANSWER;
	}
	if (x->positive)
		return nx ? PASS : FOUND;
	return empty == 2 ? NOT_HERE : PASS;
}

/* glibc's schedule: every server in turn, `attempts` times, the open
 * queries sent again to each.  Once a reply has come the other gets the
 * Resolution Delay.  SILENCE: a server let its time pass and none
 * answered; PASS also when every server failed at once (glibc then says
 * why, as quickly). */
static enum outcome exchange(struct exchange *x, int delay_ms)
{
	const struct scio_resconf *c = x->conf;
	int64_t settle = 0;
	for (int attempt = 0; attempt < c->attempts; attempt++) {
		for (int ns = 0; ns < c->nservers; ns++) {
			if (open_server(x, ns) < 0 || send_unanswered(x, ns) < 0)
				continue;  /* glibc skips a server it cannot reach */
			int64_t end = scio_now_us() + server_wait_us(c, ns);
			for (;;) {
				int64_t until = settle ? settle : end;
				int64_t left = until - scio_now_us();
				if (left <= 0) {
					if (settle)
						return settled(x);
					x->silent = 1;
					break;  /* glibc's next server */
				}
				int r = wait_readable(x, x->sock[ns], left);
				if (r > 0)
					r = read_replies(x, x->sock[ns]);
				if (r == SERVER_FAILED && !x->replies) {
					close_server(x, ns);
					break;
				}
				if (r < 0)
					return PASS;
				if (x->replies == 2)
					return settled(x);
				if (x->replies && !settle)
					settle = scio_now_us() + (int64_t)delay_ms * 1000;
			}
		}
	}
	return x->silent ? SILENCE : PASS;
}

/* ---- the answer, as glibc builds it ---- */

static void to_storage(const struct scio_dns_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->addr, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->addr, 4);
	}
}

/* One family's addresses in the order read; -1 past FAMILY_MAX. */
static int gather(const struct exchange *x, int family, struct sockaddr_storage *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < x->naddr; i++) {
		if (x->addr[i].family != family)
			continue;
		if (*n == FAMILY_MAX)
			return -1;
		to_storage(&x->addr[i], &out[(*n)++]);
	}
	return 0;
}

/* A node as glibc's generate_addrinfo makes it: one block, the address
 * after the addrinfo, so that any freeaddrinfo frees it. */
static struct addrinfo *entry(const struct addrinfo *tmpl, int flags,
			      const struct sockaddr_storage *ss)
{
	int v6 = ss->ss_family == AF_INET6;
	socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct addrinfo *ai = malloc(sizeof(*ai) + len);
	if (!ai)
		return NULL;
	*ai = (struct addrinfo){
		.ai_flags = flags, .ai_family = ss->ss_family,
		.ai_socktype = tmpl->ai_socktype, .ai_protocol = tmpl->ai_protocol,
		.ai_addrlen = len, .ai_addr = (struct sockaddr *)(ai + 1),
	};
	memcpy(ai->ai_addr, ss, len);
	in_port_t port = ((const struct sockaddr_in *)tmpl->ai_addr)->sin_port;
	if (v6)
		((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = port;
	else
		((struct sockaddr_in *)ai->ai_addr)->sin_port = port;
	return ai;
}

/* Every address with every socket type and protocol of the template (one
 * address's answer from glibc, for the service and hints asked). */
static struct addrinfo *entries(const struct addrinfo *tmpl, int flags,
				const struct sockaddr_storage *ss, size_t n)
{
	struct addrinfo *head = NULL, **tail = &head;
	for (size_t i = 0; i < n; i++) {
		for (const struct addrinfo *t = tmpl; t; t = t->ai_next) {
			struct addrinfo *ai = entry(t, flags, &ss[i]);
			if (!ai) {
				scio_sys.freeaddrinfo(head);
				return NULL;
			}
			*tail = ai;
			tail = &ai->ai_next;
		}
	}
	return head;
}

/* One family's list in glibc's order; 0 with *list NULL for no address,
 * -1 when glibc must make the lookup. */
static int family_list(const struct exchange *x, int family, const struct addrinfo *tmpl,
		       int flags, struct addrinfo **list)
{
	struct sockaddr_storage a[FAMILY_MAX];
	size_t n;
	*list = NULL;
	if (gather(x, family, a, &n) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (family == AF_INET6) {
		for (size_t i = 0; i < n; i++)  /* glibc drops these with AI_V4MAPPED */
			if (IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&a[i])->sin6_addr))
				return -1;
	}
	if (n > 1 && scio_sort_like_glibc(a, n) < 0)
		return -1;
	*list = entries(tmpl, flags, a, n);
	return *list ? 0 : -1;
}

/* glibc's entries for one IPv4 literal with this service and these hints:
 * the socket types, protocols and port every address gets.  Asked before
 * any query, so that a bad service or socket type gets glibc's own error
 * from glibc (the stub then passes). */
static int template_for(const char *service, const struct addrinfo *hints,
			struct addrinfo **tmpl)
{
	struct addrinfo h = {
		.ai_family = AF_INET,
		.ai_flags = AI_NUMERICHOST | (hints ? hints->ai_flags & AI_NUMERICSERV : 0),
		.ai_socktype = hints ? hints->ai_socktype : 0,
		.ai_protocol = hints ? hints->ai_protocol : 0,
	};
	return scio_sys.getaddrinfo("0.0.0.0", service, &h, tmpl) == 0 ? 0 : -1;
}

static int build(const struct exchange *x, const struct addrinfo *tmpl, int flags,
		 struct scio_stub_result *out)
{
	if (family_list(x, AF_INET6, tmpl, flags, &out->v6) < 0)
		return -1;
	if (family_list(x, AF_INET, tmpl, flags, &out->v4) < 0) {
		if (out->v6)
			scio_sys.freeaddrinfo(out->v6);
		out->v6 = NULL;
		return -1;
	}
	out->missing = !x->q[QAAAA].done ? AF_INET6 : !x->q[QA].done ? AF_INET : AF_UNSPEC;
	out->rc = 0;
	return 0;
}

/* ---- the lookup ---- */

/* Asks for one name (replies to earlier names' queries, still on the
 * sockets, no longer match). */
static void close_servers(struct exchange *x)
{
	for (int ns = 0; ns < SCIO_RESCONF_MAXNS; ns++)
		if (x->sock[ns] >= 0)
			close_server(x, ns);
}

/* Asks for one name, on sockets of its own as glibc's (a new source port
 * for each name). */
static enum outcome ask_name(struct exchange *x, const char *name, int delay_ms)
{
	close_servers(x);
	if (build_queries(x, name) < 0)
		return PASS;
	x->replies = x->positive = x->silent = 0;
	x->naddr = 0;
	return exchange(x, delay_ms);
}

/* glibc's h_errno for a name asked with no address found: TRY_AGAIN for
 * a silence; for two replies without answer records, HOST_NOT_FOUND when
 * one says there is no such name, else NO_DATA (res_query.c). */
static int name_herrno(const struct exchange *x, enum outcome o)
{
	if (o == SILENCE)
		return TRY_AGAIN;
	for (int i = 0; i < 2; i++)
		if (x->q[i].kind == SCIO_DNS_NXDOMAIN)
			return HOST_NOT_FOUND;
	return NO_DATA;
}

/* glibc's res_search.  The next name after no such name or no data;
 * after a silence in the search list, on to the name as it is (unless
 * the root domain's name, the same, was asked).  FOUND with the name
 * found, absolute, in answered; NOT_HERE with glibc's h_errno for the
 * whole search in *herrno: that of the name as it is when asked first,
 * else NO_DATA when a name had no data, else the last name's. */
static enum outcome search(struct exchange *x, const char *node, int delay_ms,
			   char *answered, size_t size, int *herrno)
{
	struct candidates cs;
	if (list_candidates(node, x->conf, &cs) < 0)
		return PASS;
	int saved = -1, got_nodata = 0, last = HOST_NOT_FOUND, reached = -1;
	for (int i = 0; i < cs.n; i++) {
		int as_is_last = cs.as_is_last && i == cs.n - 1;
		if (as_is_last && cs.root >= 0 && cs.root <= reached)
			break;
		enum outcome o = ask_name(x, cs.name[i], delay_ms);
		if (o == FOUND) {
			snprintf(answered, size, "%s.", cs.name[i]);
			return FOUND;
		}
		if (o == PASS)
			return PASS;
		last = name_herrno(x, o);
		if (i == 0 && cs.as_is_first) {
			saved = last;
			continue;
		}
		if (as_is_last)
			continue;
		reached = i;
		got_nodata |= last == NO_DATA;
		if (last == TRY_AGAIN)  /* glibc searches no further down */
			i = cs.as_is_last ? cs.n - 2 : cs.n;
	}
	*herrno = saved != -1 ? saved : got_nodata ? NO_DATA : last;
	return NOT_HERE;
}

static void exchange_end(void *arg)
{
	struct exchange *x = arg;
	close_servers(x);
	free(x->buf);
	if (x->tmpl)
		scio_sys.freeaddrinfo(x->tmpl);
}

static int eligible(const char *node, const struct addrinfo *hints, int flags,
		    struct scio_resconf *c)
{
	if (!node || (hints && hints->ai_family != AF_UNSPEC) || (flags & ~STUB_FLAGS) ||
	    __atomic_load_n(&parallel_loses_queries, __ATOMIC_RELAXED))
		return 0;
	/* the stub asks for both families: it takes the lookups glibc makes
	 * for both (AI_ADDRCONFIG may narrow them to one) */
	return scio_resconf_get(c) && scio_addrconfig_families(flags) == 2;
}

/* The exchange and the answer, cancellation acting only in its waits
 * (which leave through exchange_end). */
/* getaddrinfo's code for glibc's h_errno at the end of its search */
static int code_of(int herrno)
{
	return herrno == TRY_AGAIN ? EAI_AGAIN : herrno == NO_DATA ? EAI_NODATA : EAI_NONAME;
}

/* The search and the answer, cancellation acting only in its waits
 * (which leave through exchange_end). */
static int ask(struct exchange *x, const char *node, int flags, int delay_ms,
	       struct scio_stub_result *out)
{
	volatile int made = 0;  /* past the cleanup handler's setjmp */
	pthread_cleanup_push(exchange_end, x);
	int herrno = 0;
	enum outcome o = search(x, node, delay_ms, out->answered, sizeof(out->answered), &herrno);
	if (o == NOT_HERE) {
		out->rc = code_of(herrno);
		out->herrno = herrno;
		made = 1;
	} else if (o == FOUND) {
		made = build(x, x->tmpl, flags, out) == 0;
	}
	pthread_cleanup_pop(1);
	return made;
}

void scio_stub_queries_lost(void)
{
	__atomic_store_n(&parallel_loses_queries, 1, __ATOMIC_RELAXED);
}

int scio_stub_lookup(const char *node, const char *service,
		     const struct addrinfo *hints, int delay_ms, int cancel_state,
		     struct scio_stub_result *out)
{
	struct scio_resconf conf;
	int saved = errno;

	*out = (struct scio_stub_result){ .missing = AF_UNSPEC };
	int flags = hints ? hints->ai_flags : DEFAULT_FLAGS;
	struct exchange x = { .conf = &conf, .cancel_state = cancel_state };
	if (!eligible(node, hints, flags, &conf) || template_for(service, hints, &x.tmpl) < 0) {
		errno = saved;
		return 0;
	}
	for (int ns = 0; ns < SCIO_RESCONF_MAXNS; ns++)
		x.sock[ns] = -1;
	x.buf = malloc(REPLY_MAX + ADDRS_MAX * sizeof(*x.addr));
	if (!x.buf) {
		scio_sys.freeaddrinfo(x.tmpl);
		errno = saved;
		return 0;
	}
	x.addr = (struct scio_dns_addr *)(x.buf + REPLY_MAX);
	int made = ask(&x, node, flags, delay_ms, out);
	/* glibc leaves EAGAIN after a lookup no server answered */
	errno = made && out->herrno == TRY_AGAIN ? EAGAIN : saved;
	return made;
}

#else

int scio_stub_lookup(const char *node, const char *service,
		     const struct addrinfo *hints, int delay_ms, int cancel_state,
		     struct scio_stub_result *out)
{
	(void)node, (void)service, (void)hints, (void)delay_ms, (void)cancel_state;
	*out = (struct scio_stub_result){ .missing = AF_UNSPEC };
	return 0;
}

void scio_stub_queries_lost(void)
{
}

#endif
