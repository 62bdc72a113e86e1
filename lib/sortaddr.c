/*
 * sortaddr.c - the addresses of one family in the order glibc's
 * getaddrinfo gives them, for lookups scio makes itself.
 *
 * glibc (2.36, sysdeps/posix/getaddrinfo.c) sorts the answer of a lookup
 * of two or more addresses by the rules of RFC 3484 section 6, with its
 * own tables (RFC 3484's precedences plus labels for site-local and ULA
 * prefixes and Teredo).  What it compares: whether the kernel has a
 * source address for the destination (a UDP socket connected to it),
 * the scope, label and precedence of destination and source, the
 * deprecated (or optimistic) and home flags, prefix length and interface
 * of the source's interface address (a netlink address dump), whether
 * that interface is a tunnel (a netlink link dump, only when the rules
 * before it tie), and last the incoming order.  Every rule compares a
 * fact of each entry on its own, so the order is a total one and any
 * sort gives glibc's result.
 *
 * Where glibc's result depends on more than that (an /etc/gai.conf that
 * changes the tables, a source address on two interfaces with different
 * facts, where glibc's binary search would pick one) or a system call
 * fails, the answer is -1 and the caller asks glibc.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addrs.h"
#include "internal.h"
#include "sortaddr.h"
#include "sys.h"

#ifdef __GLIBC__
static const bool libc_is_glibc = true;
#else
static const bool libc_is_glibc = false;  /* musl sorts its own way */
#endif

#define NL_BUF_SIZE 16384
#define NO_INDEX UINT32_MAX

/* ---------------------------------------------------------- the tables */

struct prefix_value {
	uint8_t prefix[16];
	unsigned bits;
	int value;
};

/* glibc's default label table, most specific first; first match wins */
static const struct prefix_value labels[] = {
	{ { [15] = 1 }, 128, 0 },                     /* ::1 */
	{ { 0x20, 0x02 }, 16, 2 },                    /* 6to4 */
	{ { 0 }, 96, 3 },                             /* IPv4-compatible */
	{ { [10] = 0xff, [11] = 0xff }, 96, 4 },      /* IPv4-mapped */
	{ { 0xfe, 0xc0 }, 10, 5 },                    /* site-local */
	{ { 0xfc }, 7, 6 },                           /* ULA */
	{ { 0x20, 0x01 }, 32, 7 },                    /* Teredo */
	{ { 0 }, 0, 1 },
};

/* glibc's default precedence table (RFC 3484's) */
static const struct prefix_value precedences[] = {
	{ { [15] = 1 }, 128, 50 },
	{ { 0x20, 0x02 }, 16, 30 },
	{ { 0 }, 96, 20 },
	{ { [10] = 0xff, [11] = 0xff }, 96, 10 },
	{ { 0 }, 0, 40 },
};

static bool in_prefix(const uint8_t *a, const struct prefix_value *p)
{
	unsigned full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(a, p->prefix, full) != 0)
		return false;
	uint8_t mask = (uint8_t)(0xff00 >> rest);
	return rest == 0 || (a[full] & mask) == (p->prefix[full] & mask);
}

static int table_value(const uint8_t *a, const struct prefix_value *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (in_prefix(a, &table[i]))
			return table[i].value;
	return 0;  /* not reached: the last entry matches all */
}

/* The IPv6 address glibc's tables see for a: IPv4 as IPv4-mapped. */
static void as_v6(const union scio_sort_addr *a, uint8_t out[16])
{
	if (a->sa.sa_family == AF_INET6) {
		memcpy(out, &a->in6.sin6_addr, 16);
		return;
	}
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a->in.sin_addr, 4);
}

static int scope_of(const union scio_sort_addr *a)
{
	if (a->sa.sa_family == AF_INET) {
		uint32_t v4 = ntohl(a->in.sin_addr.s_addr);
		if ((v4 >> 16) == 0xa9fe || (v4 >> 24) == 127)
			return 2;  /* link-local, loopback */
		return 14;
	}
	const struct in6_addr *v6 = &a->in6.sin6_addr;
	if (IN6_IS_ADDR_MULTICAST(v6))
		return v6->s6_addr[1] & 0xf;
	if (IN6_IS_ADDR_LINKLOCAL(v6) || IN6_IS_ADDR_LOOPBACK(v6))
		return 2;
	if (IN6_IS_ADDR_SITELOCAL(v6))
		return 5;
	return 14;
}

static int leading_zeros32(uint32_t v)
{
	return v ? __builtin_clz(v) : 32;
}

/* Rule 9.  IPv6: the bits dst and src have in common.  IPv4: the same,
 * but only when they are in the subnet of the source's prefix length,
 * else 0.  A prefix length of 0 (address not found) gives glibc a shift
 * by 32, which x86 and ARM take as a shift by 0: a /32 mask. */
static int common_bits(const struct scio_sort_entry *e)
{
	if (e->dst.sa.sa_family == AF_INET) {
		uint32_t x = ntohl(e->dst.in.sin_addr.s_addr ^ e->src.in.sin_addr.s_addr);
		uint32_t mask = e->prefixlen == 0 || e->prefixlen > 32
			? UINT32_MAX : UINT32_MAX << (32 - e->prefixlen);
		return (x & mask) ? 0 : leading_zeros32(x);
	}
	const uint8_t *d = e->dst.in6.sin6_addr.s6_addr, *s = e->src.in6.sin6_addr.s6_addr;
	for (int i = 0; i < 4; i++) {
		uint32_t dw, sw;
		memcpy(&dw, d + 4 * i, 4);
		memcpy(&sw, s + 4 * i, 4);
		if (dw != sw)
			return 32 * i + leading_zeros32(ntohl(dw ^ sw));
	}
	return 128;
}

void scio_sort_derive(struct scio_sort_entry *e)
{
	uint8_t d[16], s[16];
	as_v6(&e->dst, d);
	e->dst_scope = scope_of(&e->dst);
	e->dst_label = table_value(d, labels, sizeof(labels) / sizeof(labels[0]));
	e->dst_precedence = table_value(d, precedences,
					sizeof(precedences) / sizeof(precedences[0]));
	e->src_scope = e->src_label = e->common_bits = 0;
	if (!e->has_src)
		return;
	as_v6(&e->src, s);
	e->src_scope = scope_of(&e->src);
	e->src_label = table_value(s, labels, sizeof(labels) / sizeof(labels[0]));
	e->common_bits = common_bits(e);
}

/* ------------------------------------------------------ the comparison */

/* -1 when only x has the quality, 1 when only y has it, else 0. */
static int prefer(bool x, bool y)
{
	return x == y ? 0 : x ? -1 : 1;
}

static int prefer_less(int x, int y)
{
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Rules 2 to 5, which glibc applies to usable destinations only. */
static int compare_sources(const struct scio_sort_entry *x, const struct scio_sort_entry *y)
{
	int r = prefer(x->dst_scope == x->src_scope, y->dst_scope == y->src_scope);
	if (!r)
		r = prefer(!(x->src_flags & SCIO_SRC_DEPRECATED),
			   !(y->src_flags & SCIO_SRC_DEPRECATED));
	if (!r)
		r = prefer(x->src_flags & SCIO_SRC_HOME, y->src_flags & SCIO_SRC_HOME);
	if (!r)
		r = prefer(x->dst_label == x->src_label, y->dst_label == y->src_label);
	return r;
}

int scio_sort_compare(const struct scio_sort_entry *x, const struct scio_sort_entry *y)
{
	int r = prefer(x->has_src, y->has_src);                      /* rule 1 */
	if (!r && x->has_src)
		r = compare_sources(x, y);                           /* rules 2-5 */
	if (!r)
		r = prefer_less(y->dst_precedence, x->dst_precedence); /* rule 6 */
	if (!r && x->has_src && x->ifindex != y->ifindex) {         /* rule 7 */
		if (x->native < 0 || y->native < 0)
			return SCIO_SORT_NEED_NATIVE;
		r = prefer(x->native, y->native);
	}
	if (!r)
		r = prefer_less(x->dst_scope, y->dst_scope);         /* rule 8 */
	if (!r && x->has_src)
		r = prefer_less(y->common_bits, x->common_bits);     /* rule 9 */
	if (!r)
		r = prefer_less((int)x->pos, (int)y->pos);           /* rule 10 */
	return r;
}

/* ------------------------------------------------------------- netlink */

typedef void nl_each(const struct nlmsghdr *h, void *arg);

/* NLMSG_OK, without its comparison of a signed and an unsigned length */
static bool nl_ok(const struct nlmsghdr *h, int left)
{
	return left >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) &&
	       h->nlmsg_len <= (unsigned)left;
}

/* One dump of the routing socket: 0, or -1 on any failure. */
static int nl_dump(uint16_t type, nl_each *each, void *arg, char *buf)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
		uint8_t pad[3];
	} req;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 1;
	req.g.rtgen_family = AF_UNSPEC;

	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		goto out;
	for (;;) {
		struct iovec iov = { buf, NL_BUF_SIZE };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t got = recvmsg(fd, &msg, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || (msg.msg_flags & MSG_TRUNC))
			goto out;
		int left = (int)got;  /* signed: a short last message ends the walk */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nl_ok(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != req.h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto out;
			each(h, arg);
		}
	}
out:
	scio_close_own(fd);
	return rc;
}

/* An RTM_NEWADDR message's address as glibc's __check_pf takes it: its
 * IFA_ADDRESS (the peer's on a point-to-point link) when it has one, else
 * IFA_LOCAL; NULL for another message or family.  *len: 4 or 16. */
static const void *dump_address(const struct nlmsghdr *h, const struct ifaddrmsg **ifa_out,
				size_t *len)
{
	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
		return NULL;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	size_t alen = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	if (!alen)
		return NULL;
	const void *address = NULL, *local = NULL;
	int left = (int)IFA_PAYLOAD(h);
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
		if (RTA_PAYLOAD(rta) < alen)
			continue;
		if (rta->rta_type == IFA_ADDRESS)
			address = RTA_DATA(rta);
		else if (rta->rta_type == IFA_LOCAL)
			local = RTA_DATA(rta);
	}
	*ifa_out = ifa;
	*len = alen;
	return address ? address : local;
}

/* One address of the dump, for AI_ADDRCONFIG: glibc's __check_pf counts
 * any IPv4 address but 127.0.0.1 and any IPv6 address but ::1. */
struct seen { bool v4, v6; };

static void seen_address(const struct nlmsghdr *h, void *arg)
{
	struct seen *seen = arg;
	const struct ifaddrmsg *ifa;
	size_t alen;
	const void *address = dump_address(h, &ifa, &alen);
	if (!address)
		return;
	if (alen == 4) {
		in_addr_t a;
		memcpy(&a, address, 4);
		seen->v4 |= a != htonl(INADDR_LOOPBACK);
	} else {
		seen->v6 |= !IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)address);
	}
}

int scio_addrconfig(bool *v4, bool *v6)
{
	if (!libc_is_glibc)
		return -1;
	char *buf = malloc(NL_BUF_SIZE);
	if (!buf)
		return -1;
	int saved = errno;
	struct seen seen = { false, false };
	int rc = nl_dump(RTM_GETADDR, seen_address, &seen, buf);
	free(buf);
	errno = saved;
	*v4 = seen.v4;
	*v6 = seen.v6;
	return rc;
}

int scio_addrconfig_families(int ai_flags)
{
	bool v4, v6;
	if (!(ai_flags & AI_ADDRCONFIG))
		return 2;
	if (scio_addrconfig(&v4, &v6) < 0)
		return -1;
	return v4 == v6 ? 2 : 1;
}

/* ----------------------------------------------------------- the sort */

struct sort_run {
	struct scio_sort_entry *e;
	struct scio_sort_entry **order;
	uint8_t (*key)[16];  /* per entry: the source as glibc looks it up */
	char *buf;           /* NL_BUF_SIZE */
	size_t n;
	bool seen_ipv6, ambiguous;
};

/* glibc's destination loop: one socket, reset between destinations, a
 * destination equal to the one before it takes its source unasked. */
static int find_sources(struct sort_run *r)
{
	int fd = socket(r->e[0].dst.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	socklen_t len = r->e[0].dst.sa.sa_family == AF_INET6
		? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	for (size_t i = 0; i < r->n; i++) {
		struct scio_sort_entry *e = &r->e[i];
		if (i > 0 && memcmp(&e->dst, &e[-1].dst, len) == 0) {
			e->src = e[-1].src;
			e->has_src = e[-1].has_src;
			continue;
		}
		if (i > 0) {
			struct sockaddr unspec = { .sa_family = AF_UNSPEC };
			scio_sys.connect(fd, &unspec, sizeof(unspec));
		}
		socklen_t src_len = sizeof(e->src);
		e->has_src = scio_sys.connect(fd, &e->dst.sa, len) == 0 &&
			getsockname(fd, &e->src.sa, &src_len) == 0;
	}
	scio_close_own(fd);
	return 0;
}

/* The source as glibc looks it up among the interface addresses: IPv4
 * as IPv4-mapped, and any 127/8 one as 127.0.0.1 (the lo interface). */
static void lookup_key(const struct scio_sort_entry *e, uint8_t key[16])
{
	as_v6(&e->src, key);
	if (e->src.sa.sa_family == AF_INET && key[12] == 127) {
		key[13] = key[14] = 0;
		key[15] = 1;
	}
}

static void take_facts(struct sort_run *r, const uint8_t key[16],
		       const struct ifaddrmsg *ifa)
{
	uint8_t flags = (ifa->ifa_flags & (IFA_F_DEPRECATED | IFA_F_OPTIMISTIC)
			 ? SCIO_SRC_DEPRECATED : 0) |
		(ifa->ifa_flags & IFA_F_HOMEADDRESS ? SCIO_SRC_HOME : 0);
	for (size_t i = 0; i < r->n; i++) {
		struct scio_sort_entry *e = &r->e[i];
		if (!e->has_src || memcmp(r->key[i], key, 16) != 0)
			continue;
		if (e->ifindex != NO_INDEX &&
		    (e->ifindex != ifa->ifa_index || e->prefixlen != ifa->ifa_prefixlen ||
		     e->src_flags != flags))
			r->ambiguous = true;
		e->ifindex = ifa->ifa_index;
		e->prefixlen = ifa->ifa_prefixlen;
		e->src_flags = flags;
	}
}

/* One interface address of the dump (dump_address), its facts kept
 * under the key glibc looks sources up by. */
static void each_address(const struct nlmsghdr *h, void *arg)
{
	struct sort_run *r = arg;
	const struct ifaddrmsg *ifa;
	size_t alen;
	const void *address = dump_address(h, &ifa, &alen);
	if (!address)
		return;
	uint8_t key[16] = { [10] = 0xff, [11] = 0xff };
	if (alen == 4) {
		memcpy(key + 12, address, 4);
	} else {
		memcpy(key, address, 16);
		r->seen_ipv6 |= !IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)key);
	}
	take_facts(r, key, ifa);
}

/* glibc keeps the address list only when the system has an IPv6 address
 * other than ::1; without one no source is found in it. */
static int find_facts(struct sort_run *r)
{
	bool any = false;
	for (size_t i = 0; i < r->n; i++) {
		lookup_key(&r->e[i], r->key[i]);
		any |= r->e[i].has_src;
	}
	if (!any)
		return 0;
	if (nl_dump(RTM_GETADDR, each_address, r, r->buf) < 0)
		return -1;
	if (!r->seen_ipv6) {
		for (size_t i = 0; i < r->n; i++) {
			r->e[i].ifindex = NO_INDEX;
			r->e[i].prefixlen = r->e[i].src_flags = 0;
		}
		return 0;
	}
	return r->ambiguous ? -1 : 0;
}

static void each_link(const struct nlmsghdr *h, void *arg)
{
	struct sort_run *r = arg;
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	int native = ifi->ifi_type != ARPHRD_TUNNEL && ifi->ifi_type != ARPHRD_TUNNEL6 &&
		ifi->ifi_type != ARPHRD_SIT;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].native < 0 && r->e[i].ifindex == (uint32_t)ifi->ifi_index)
			r->e[i].native = native;
}

/* Rule 7's facts, asked for only when the rules before it tie between
 * sources on different interfaces, as glibc asks; an interface not in
 * the dump counts as not native, as in glibc. */
static int find_natives(struct sort_run *r)
{
	if (nl_dump(RTM_GETLINK, each_link, r, r->buf) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].native < 0)
			r->e[i].native = 0;
	return 0;
}

/* Insertion sort (n is small); SCIO_SORT_NEED_NATIVE when rule 7 needs
 * what is not known yet. */
static int sort_entries(struct sort_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		r->order[i] = &r->e[i];
	for (size_t i = 1; i < r->n; i++) {
		struct scio_sort_entry *x = r->order[i];
		size_t j = i;
		for (; j > 0; j--) {
			int c = scio_sort_compare(r->order[j - 1], x);
			if (c == SCIO_SORT_NEED_NATIVE)
				return c;
			if (c < 0)
				break;
			r->order[j] = r->order[j - 1];
		}
		r->order[j] = x;
	}
	return 0;
}

static int sort_run(struct sort_run *r, struct sockaddr_storage *a)
{
	socklen_t len = a[0].ss_family == AF_INET6
		? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	for (size_t i = 0; i < r->n; i++) {
		struct scio_sort_entry *e = &r->e[i];
		memset(e, 0, sizeof(*e));
		memcpy(&e->dst, &a[i], len);
		e->ifindex = NO_INDEX;
		e->pos = (uint32_t)i;
	}
	if (find_sources(r) < 0 || find_facts(r) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		r->e[i].native = r->e[i].ifindex == NO_INDEX ? 0 : -1;
		scio_sort_derive(&r->e[i]);
	}
	if (sort_entries(r) == SCIO_SORT_NEED_NATIVE &&
	    (find_natives(r) < 0 || sort_entries(r) != 0))
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		memcpy(&a[i], &r->order[i]->dst, len);
	}
	return 0;
}

static bool one_inet_family(const struct sockaddr_storage *a, size_t n)
{
	if (a[0].ss_family != AF_INET && a[0].ss_family != AF_INET6)
		return false;
	for (size_t i = 1; i < n; i++)
		if (a[i].ss_family != a[0].ss_family)
			return false;
	return true;
}

int scio_sort_like_glibc(struct sockaddr_storage *a, size_t n)
{
	if (n < 2)
		return 0;
	if (!libc_is_glibc || n > SCIO_SORT_MAX || !one_inet_family(a, n))
		return -1;
	/* a thread cancelled in a connect or read would leak the socket */
	int saved = errno, rc = -1, cancel_state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	struct sort_run r = { .n = n };
	char *block = !scio_gaiconf_has_lines()
		? malloc(n * (sizeof(*r.e) + sizeof(*r.order) + sizeof(*r.key)) + NL_BUF_SIZE)
		: NULL;
	if (block) {
		/* pointers first, for their alignment */
		r.order = (struct scio_sort_entry **)block;
		r.e = (struct scio_sort_entry *)(r.order + n);
		r.key = (uint8_t (*)[16])(r.e + n);
		r.buf = (char *)(r.key + n);
		rc = sort_run(&r, a);
		free(block);
	}
	pthread_setcancelstate(cancel_state, NULL);
	errno = saved;
	return rc;
}
