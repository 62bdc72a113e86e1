/*
 * test_dnswire.c - lib/dnswire.c without a network: the query's bytes
 * against glibc's own res_mkquery (and, with EDNS, against the datagram
 * glibc's res_query sends to a socket on 127.0.0.1), and replies built byte by byte read as
 * Debian 12's glibc 2.36 reads them (resolv/res_send.c's send_dg, then
 * resolv/nss_dns/dns-host.c's gaih_getanswer_slice as rewritten for 2.36):
 * which replies are not ours, which give addresses, which must go back to
 * glibc. Every reply is read from a heap block of its exact length, so
 * that AddressSanitizer sees any read past its end.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "dnswire.h"

#define ID 0x4a7b
#define MAX_ADDRS 8

#define V_NOT_OURS SCIO_DNS_NOT_OURS
#define V_ANSWER SCIO_DNS_ANSWER
#define V_FALLBACK SCIO_DNS_FALLBACK
#define V_NODATA SCIO_DNS_NODATA
#define V_NXDOMAIN SCIO_DNS_NXDOMAIN

struct msg {
	unsigned char b[2048];
	size_t len;
};

struct result {
	enum scio_dns_verdict v;
	size_t n;
	struct scio_dns_addr a[MAX_ADDRS];
};

static unsigned char query[SCIO_DNS_QUERY_MAX];
static size_t qlen;

static void ask(const char *name, uint16_t type)
{
	int n = scio_dns_query(query, sizeof(query), name, ID, type);
	CHECK(n > 0);
	qlen = n > 0 ? (size_t)n : 0;
}

static void add(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void add16(struct msg *m, uint16_t v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	add(m, b, 2);
}

/* A dotted name in wire form, uncompressed ("" is the root). */
static void add_name(struct msg *m, const char *dotted)
{
	while (*dotted) {
		size_t l = strcspn(dotted, ".");
		m->b[m->len++] = (unsigned char)l;
		add(m, dotted, l);
		dotted += l;
		if (*dotted == '.')
			dotted++;
	}
	m->b[m->len++] = 0;
}

static void add_label(struct msg *m, int len, char c)
{
	m->b[m->len++] = (unsigned char)len;
	memset(m->b + m->len, c, (size_t)len);
	m->len += (size_t)len;
}

static void add_pointer(struct msg *m, size_t to)
{
	add16(m, (uint16_t)(0xc000 | to));
}

/* The record's fixed part after its owner name. */
static void add_fixed(struct msg *m, uint16_t type, uint16_t class, uint16_t rdlen)
{
	add16(m, type);
	add16(m, class);
	add16(m, 0);
	add16(m, 300);
	add16(m, rdlen);
}

/* A reply to the current query: its header and question, QR and RA set,
 * with ancount answers to come. */
static struct msg reply(uint16_t ancount)
{
	struct msg m = { .len = 0 };
	add(&m, query, qlen);
	m.b[2] |= 0x80;
	m.b[3] |= 0x80;
	m.b[6] = (unsigned char)(ancount >> 8);
	m.b[7] = (unsigned char)ancount;
	return m;
}

/* owner: the question's name by a pointer (the usual compression). */
static void add_a(struct msg *m, const char *text)
{
	struct in_addr a;
	CHECK(inet_pton(AF_INET, text, &a) == 1);
	add_pointer(m, 12);
	add_fixed(m, SCIO_DNS_T_A, C_IN, 4);
	add(m, &a, 4);
}

/* An A record owned by `owner` (uncompressed). */
static void add_a_of(struct msg *m, const char *owner, const char *text)
{
	struct in_addr a;
	CHECK(inet_pton(AF_INET, text, &a) == 1);
	add_name(m, owner);
	add_fixed(m, SCIO_DNS_T_A, C_IN, 4);
	add(m, &a, 4);
}

static void add_aaaa(struct msg *m, const char *text)
{
	struct in6_addr a;
	CHECK(inet_pton(AF_INET6, text, &a) == 1);
	add_pointer(m, 12);
	add_fixed(m, SCIO_DNS_T_AAAA, C_IN, 16);
	add(m, &a, 16);
}

/* A CNAME owned by `owner` (uncompressed) to an uncompressed target. */
static void add_cname(struct msg *m, const char *owner, const char *target)
{
	struct msg t = { .len = 0 };
	add_name(&t, target);
	add_name(m, owner);
	add_fixed(m, T_CNAME, C_IN, (uint16_t)t.len);
	add(m, t.b, t.len);
}

static struct result read_len(const struct msg *m, size_t len, size_t max)
{
	struct result r;
	memset(&r, 0xa5, sizeof(r));
	unsigned char *exact = malloc(len ? len : 1);
	CHECK(exact != NULL);
	if (!exact)
		exit(2);
	memcpy(exact, m->b, len);
	r.v = scio_dns_answer(exact, len, query, qlen, r.a, max, &r.n);
	free(exact);
	if (r.v != SCIO_DNS_ANSWER)
		CHECK_EQ(r.n, 0);
	CHECK(r.n <= max);
	return r;
}

static struct result read_reply(const struct msg *m)
{
	return read_len(m, m->len, MAX_ADDRS);
}

static enum scio_dns_verdict verdict(const struct msg *m)
{
	return read_reply(m).v;
}

static int is_addr(const struct scio_dns_addr *a, const char *text)
{
	unsigned char want[16] = { 0 };
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(family, text, want) == 1);
	if (a->family == family && memcmp(a->addr, want, family == AF_INET ? 4 : 16) == 0)
		return 1;
	char shown[INET6_ADDRSTRLEN] = "?";
	if (a->family == AF_INET || a->family == AF_INET6)
		inet_ntop(a->family, a->addr, shown, sizeof(shown));
	fprintf(stderr, "  got %s (family %d), want %s\n", shown, a->family, text);
	return 0;
}

/* ---- the query ---- */

static const char *const sendable[] = {
	"www.example.com", "Example.COM.", "a", "_dns-sd._udp.example.org",
	"x-1.y_2.Z3", "123.example",
};

static void query_is_res_mkquery(const char *name, uint16_t type)
{
	unsigned char theirs[512], ours[SCIO_DNS_QUERY_MAX];
	int tn = res_mkquery(QUERY, name, C_IN, type, NULL, 0, NULL, theirs, sizeof(theirs));
	CHECK(tn > 12);
	if (tn <= 12)
		return;
	int on = scio_dns_query(ours, sizeof(ours), name, (uint16_t)(theirs[0] << 8 | theirs[1]), type);
	CHECK_EQ(on, tn);
	if (on == tn && memcmp(ours, theirs, (size_t)tn) != 0) {
		fprintf(stderr, "  %s type %u: bytes differ from res_mkquery's\n", name, type);
		CHECK(0);
	}
	/* And nothing past its length is written. */
	memset(ours, 0xee, sizeof(ours));
	CHECK_EQ(scio_dns_query(ours, (size_t)tn, name, 1, type), tn);
	CHECK_EQ(scio_dns_query(ours, (size_t)tn - 1, name, 1, type), -1);
}

static void query_bytes_as_glibc(void)
{
	/* glibc's defaults, whatever this machine's resolv.conf says. */
	CHECK_EQ(res_init(), 0);
	_res.options = (_res.options | RES_RECURSE) & ~(unsigned long)RES_TRUSTAD;
	for (size_t i = 0; i < sizeof(sendable) / sizeof(sendable[0]); i++) {
		query_is_res_mkquery(sendable[i], SCIO_DNS_T_A);
		query_is_res_mkquery(sendable[i], SCIO_DNS_T_AAAA);
	}
	/* The longest: 63-byte labels, 253 characters, wire form 255. */
	char name[300];
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = '.';
	name[253] = 0;
	query_is_res_mkquery(name, SCIO_DNS_T_AAAA);
	CHECK_EQ(scio_dns_query(query, sizeof(query), name, 1, 1), 12 + 255 + 4);
	strcpy(name + 253, ".");
	query_is_res_mkquery(name, SCIO_DNS_T_A);
	/* The exact bytes of one, for the record. */
	static const unsigned char want[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 28, 0, 1,
	};
	unsigned char b[SCIO_DNS_QUERY_MAX];
	CHECK_EQ(scio_dns_query(b, sizeof(b), "www.example.com", 0x1234, 28), sizeof(want));
	CHECK(memcmp(b, want, sizeof(want)) == 0);
}

static void query_refuses_what_glibc_would_not_send(void)
{
	char long_label[80], long_name[300];
	memset(long_label, 'b', 64);
	strcpy(long_label + 64, ".example");
	memset(long_name, 'a', 254);
	for (int i = 50; i < 254; i += 50)
		long_name[i] = '.';
	long_name[254] = 0;
	const char *const refused[] = {
		"", ".", "..", "a..b", ".a", "a.b..", long_label, long_name,
		"a b", "a*b", "*.example", "a/b", "a\\.b", "-lead.example", "caf\xc3\xa9",
		"a@b", "a,b",
	};
	unsigned char b[SCIO_DNS_QUERY_MAX];
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int n = scio_dns_query(b, sizeof(b), refused[i], 1, 1);
		if (n != -1)
			fprintf(stderr, "  sent \"%s\"\n", refused[i]);
		CHECK_EQ(n, -1);
	}
	/* 253 characters pass, with or without a trailing dot. */
	long_name[253] = 0;
	CHECK(scio_dns_query(b, sizeof(b), long_name, 1, 1) > 0);
	strcpy(long_name + 253, ".");
	CHECK(scio_dns_query(b, sizeof(b), long_name, 1, 1) > 0);
	/* A '-' elsewhere is a host name's. */
	CHECK(scio_dns_query(b, sizeof(b), "a.-b-.c-", 1, 1) > 0);
	CHECK_EQ(res_hnok("a.-b-.c-"), 1);
	CHECK_EQ(res_hnok("-lead.example"), 0);
}

/* ---- the query with EDNS (options edns0) ---- */

struct capture {
	int fd;
	unsigned char b[1024];
	ssize_t len;
};

/* Takes one datagram and answers it with a bare REFUSED header, which
 * glibc takes as the end of its try (send_dg, bug 31890). */
static void *capture_one(void *arg)
{
	struct capture *c = arg;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	c->len = recvfrom(c->fd, c->b, sizeof(c->b), 0, (struct sockaddr *)&from, &flen);
	if (c->len >= 12) {
		unsigned char refused[12] = { c->b[0], c->b[1], 0x80, 0x05 };
		sendto(c->fd, refused, sizeof(refused), 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

/* The datagram glibc's res_nquery sends for name and type with these
 * options, to a socket of ours on 127.0.0.1: its length, or -1.  With an
 * answer buffer over 1200 bytes it advertises 1200, as getaddrinfo's
 * queries always do (res_query.c: RESOLV_EDNS_BUFFER_SIZE). */
static ssize_t glibc_sends(const char *name, uint16_t type, unsigned long options,
			   unsigned char *out, size_t size)
{
	struct capture c = { .fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), .len = -1 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	struct timeval tv = { .tv_sec = 5 };
	CHECK(c.fd >= 0);
	if (c.fd < 0 || bind(c.fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(c.fd, (struct sockaddr *)&sin, &slen) != 0 ||
	    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		CHECK(!"a socket on 127.0.0.1");
		if (c.fd >= 0)
			close(c.fd);
		return -1;
	}
	struct __res_state st;
	memset(&st, 0, sizeof(st));
	CHECK_EQ(res_ninit(&st), 0);
	st.options = options;
	st.nscount = 1;
	st.nsaddr_list[0] = sin;
	st.retrans = 2;
	st.retry = 1;
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, capture_one, &c), 0);
	unsigned char answer[4096];
	CHECK_EQ(res_nquery(&st, name, C_IN, type, answer, sizeof(answer)), -1);  /* refused */
	pthread_join(t, NULL);
	res_nclose(&st);
	close(c.fd);
	if (c.len < 0 || (size_t)c.len > size)
		return -1;
	memcpy(out, c.b, (size_t)c.len);
	return c.len;
}

static void query_edns_is_glibcs(const char *name, uint16_t type, int trust_ad)
{
	unsigned long options = RES_INIT | RES_DEFAULT | RES_USE_EDNS0 |
				(trust_ad ? RES_TRUSTAD : 0);
	unsigned char theirs[1024], ours[SCIO_DNS_QUERY_MAX];
	ssize_t tn = glibc_sends(name, type, options, theirs, sizeof(theirs));
	CHECK(tn > 12);
	if (tn <= 12)
		return;
	int on = scio_dns_query_edns(ours, sizeof(ours), name, (uint16_t)(theirs[0] << 8 | theirs[1]),
				     type, SCIO_DNS_EDNS_PAYLOAD);
	if (trust_ad)
		ours[3] |= 0x20;  /* as lib/stub.c does */
	CHECK_EQ(on, tn);
	if (on == tn && memcmp(ours, theirs, (size_t)tn) != 0) {
		fprintf(stderr, "  %s type %u: bytes differ from glibc's\n", name, type);
		CHECK(0);
	}
	/* The OPT: root, type 41, 1200 bytes, RCODE/version/flags 0, no RDATA. */
	static const unsigned char opt[] = { 0, 0, 41, 0x04, 0xb0, 0, 0, 0, 0, 0, 0 };
	CHECK(on > 23 && memcmp(ours + on - 11, opt, sizeof(opt)) == 0);
	CHECK(ours[10] == 0 && ours[11] == 1);
	/* The plain query's bytes come first; nothing past the end is written. */
	unsigned char plain[SCIO_DNS_QUERY_MAX];
	int pn = scio_dns_query(plain, sizeof(plain), name, 7, type);
	memset(ours, 0xee, sizeof(ours));
	CHECK_EQ(scio_dns_query_edns(ours, (size_t)pn + 11, name, 7, type, 1200), pn + 11);
	CHECK(memcmp(ours, plain, 10) == 0 && memcmp(ours + 12, plain + 12, (size_t)pn - 12) == 0);
	CHECK_EQ(scio_dns_query_edns(ours, (size_t)pn + 10, name, 7, type, 1200), -1);
}

static void query_edns_as_glibc(void)
{
	for (size_t i = 0; i < sizeof(sendable) / sizeof(sendable[0]); i++) {
		query_edns_is_glibcs(sendable[i], SCIO_DNS_T_A, 0);
		query_edns_is_glibcs(sendable[i], SCIO_DNS_T_AAAA, 1);
	}
	/* The longest name: 12 + 255 + 4 + 11 bytes still fit. */
	char name[300];
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = '.';
	name[253] = 0;
	query_edns_is_glibcs(name, SCIO_DNS_T_AAAA, 0);
	unsigned char b[SCIO_DNS_QUERY_MAX];
	CHECK_EQ(scio_dns_query_edns(b, sizeof(b), name, 1, 1, 1200), 12 + 255 + 4 + 11);
	CHECK_EQ(scio_dns_query_edns(b, sizeof(b), "-lead.example", 1, 1, 1200), -1);
	CHECK_EQ(scio_dns_query_edns(b, sizeof(b), "a..b", 1, 1, 1200), -1);
}

/* ---- replies ---- */

static void answer_a(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	add_a(&m, "192.0.2.1");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	CHECK(is_addr(&r.a[0], "192.0.2.1"));
}

static void answer_aaaa(void)
{
	ask("www.example.com", SCIO_DNS_T_AAAA);
	struct msg m = reply(2);
	add_aaaa(&m, "2001:db8::1");
	add_aaaa(&m, "2001:db8::2");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 2);
	CHECK(is_addr(&r.a[0], "2001:db8::1"));
	CHECK(is_addr(&r.a[1], "2001:db8::2"));
}

/* glibc 2.36 takes records of the question's type owned by the expected
 * name only: an AAAA record in an A reply, or an A record of another
 * owner, is skipped. */
static void question_type_and_owner_only(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(4);
	add_aaaa(&m, "2001:db8::5");
	add_a_of(&m, "elsewhere.example.net", "198.51.100.7");
	add_a(&m, "203.0.113.9");
	add_a_of(&m, "WWW.EXAMPLE.COM", "203.0.113.10");   /* any case */
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 2);
	CHECK(is_addr(&r.a[0], "203.0.113.9"));
	CHECK(is_addr(&r.a[1], "203.0.113.10"));
	/* Nothing glibc would use: no data. */
	m = reply(2);
	add_aaaa(&m, "2001:db8::5");
	add_a_of(&m, "elsewhere.example.net", "198.51.100.7");
	r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 0);
}

/* www.example.com CNAME a.example.net; a.example.net CNAME b.cdn.example.org
 * (compressed: "b.cdn" then a pointer into the first target); the A
 * records of the last target, one owned through a pointer, one spelt out;
 * an A of the question's name, no longer expected, is skipped. */
static void cname_chain(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(5);
	add_pointer(&m, 12);
	add_fixed(&m, T_CNAME, C_IN, 15);
	size_t a_at = m.len;
	add_name(&m, "a.example.net");
	size_t example_net = a_at + 2;
	add_pointer(&m, a_at);
	add_fixed(&m, T_CNAME, C_IN, 2 + 4 + 2);
	size_t b_at = m.len;
	add(&m, "\1b\3cdn", 6);
	add_pointer(&m, example_net);
	add_pointer(&m, b_at);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\x00\x02\x07", 4);
	add_a(&m, "192.0.2.99");
	add_a_of(&m, "b.cdn.example.net", "192.0.2.8");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 2);
	CHECK(is_addr(&r.a[0], "192.0.2.7"));
	CHECK(is_addr(&r.a[1], "192.0.2.8"));
	/* A CNAME is followed whatever its owner: glibc checks none. */
	m = reply(2);
	add_cname(&m, "unrelated.example", "c.example.org");
	add_a_of(&m, "c.example.org", "192.0.2.9");
	r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
}
/* Owners spelt three ways: a pointer to the question, labels then a
 * pointer into the question, and a pointer to that (two jumps). */
static void compression(void)
{
	ask("www.example.com", SCIO_DNS_T_AAAA);
	struct msg m = reply(3);
	add_aaaa(&m, "2001:db8::61");
	size_t second = m.len;
	add(&m, "\3www", 4);
	add_pointer(&m, 16);                  /* "example.com" */
	add_fixed(&m, SCIO_DNS_T_AAAA, C_IN, 16);
	add(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x62", 16);
	add_pointer(&m, second);
	add_fixed(&m, SCIO_DNS_T_AAAA, C_IN, 16);
	add(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x63", 16);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 3);
	CHECK(is_addr(&r.a[0], "2001:db8::61"));
	CHECK(is_addr(&r.a[1], "2001:db8::62"));
	CHECK(is_addr(&r.a[2], "2001:db8::63"));
}
static void no_data(void)
{
	ask("www.example.com", SCIO_DNS_T_AAAA);
	/* NOERROR, no answer, the zone's SOA in the authority section. */
	struct msg m = reply(0);
	m.b[9] = 1;
	add_pointer(&m, 16);
	add_fixed(&m, 6, C_IN, 22);
	add(&m, "\2ns\xc0\x10\4host\xc0\x10", 13);
	add(&m, "\0\0\0\1\0\0\0\2\0", 9);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_NODATA);
	CHECK_EQ(r.n, 0);
	/* Only a CNAME: glibc's NOTFOUND, an answer without address. */
	struct msg c = reply(1);
	add_cname(&c, "www.example.com", "a.example.net");
	r = read_reply(&c);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 0);
}

/* Records, but none glibc would use: no data (glibc 2.36's NOTFOUND). */
static void only_other_types(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	add_pointer(&m, 12);
	add_fixed(&m, 16, C_IN, 3);
	add(&m, "\2hi", 3);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 0);
	/* Skipped beside an address. */
	m.b[7] = 2;
	add_a(&m, "192.0.2.3");
	r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	CHECK(is_addr(&r.a[0], "192.0.2.3"));
}
/* send_dg sends an empty reply with neither AA, RA nor additional records
 * to the next server. */
static void lame_empty_reply(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(0);
	m.b[3] &= (unsigned char)~0x80;
	CHECK_EQ(verdict(&m), V_FALLBACK);
	m.b[2] |= 0x04;
	CHECK_EQ(verdict(&m), V_NODATA);
	m.b[2] &= (unsigned char)~0x04;
	m.b[11] = 1;
	add(&m, "\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
	CHECK_EQ(verdict(&m), V_NODATA);
}

static void rcodes_fall_back(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	for (unsigned rcode = 1; rcode < 16; rcode++) {
		int want = rcode == 3 ? V_NXDOMAIN : V_FALLBACK;
		struct msg m = reply(1);
		m.b[3] |= (unsigned char)rcode;
		add_a(&m, "192.0.2.1");
		CHECK_EQ(verdict(&m), want);
		struct msg e = reply(0);
		e.b[3] |= (unsigned char)rcode;
		CHECK_EQ(verdict(&e), want);
	}
}

static void nxdomain_and_servfail(void)
{
	ask("nowhere.example.com", SCIO_DNS_T_AAAA);
	struct msg m = reply(0);
	m.b[3] |= 3;
	CHECK_EQ(verdict(&m), V_NXDOMAIN);
	m.b[2] |= 0x02;  /* truncated: glibc asks again over TCP */
	CHECK_EQ(verdict(&m), V_FALLBACK);
	m.b[2] &= (unsigned char)~0x02;
	m.b[3] = (unsigned char)((m.b[3] & 0xf0) | 2);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* Some resolvers refuse with the bare header: glibc's 2.36 branch
	 * (bug 31890) takes it as the reply to any query of that id. */
	for (unsigned rcode = 0; rcode < 16; rcode++) {
		struct msg bare = reply(0);
		bare.len = 12;
		bare.b[5] = 0;
		bare.b[3] = (unsigned char)(0x80 | rcode);
		int error = rcode == 2 || rcode == 4 || rcode == 5;
		CHECK_EQ(verdict(&bare), error ? V_FALLBACK : V_NOT_OURS);
		bare.b[1] ^= 1;
		CHECK_EQ(verdict(&bare), V_NOT_OURS);
	}
}
static void truncated_flag(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	m.b[2] |= 0x02;
	add_a(&m, "192.0.2.1");
	CHECK_EQ(verdict(&m), V_FALLBACK);
	struct msg e = reply(0);
	e.b[2] |= 0x02;
	CHECK_EQ(verdict(&e), V_FALLBACK);
}

static void not_ours(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg good = reply(1);
	add_a(&good, "192.0.2.1");
	CHECK_EQ(verdict(&good), V_ANSWER);

	struct msg m = good;
	m.b[1] ^= 1;                       /* id */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[2] &= 0x7f;                    /* QR clear: a query */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[2] |= 2 << 3;                  /* opcode STATUS */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[5] = 0;                        /* no question */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[5] = 2;                        /* two */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[13] = 'x';                     /* xww.example.com */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[12 + 17 + 1] = 28;             /* type AAAA */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	m = good;
	m.b[12 + 17 + 3] = 3;              /* class CH */
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	/* A longer or shorter name. */
	ask("www.example.com.test", SCIO_DNS_T_A);
	CHECK_EQ(verdict(&good), V_NOT_OURS);
	ask("example.com", SCIO_DNS_T_A);
	CHECK_EQ(verdict(&good), V_NOT_OURS);
	/* A reply to another query of ours: same id, the other type. */
	ask("www.example.com", SCIO_DNS_T_AAAA);
	CHECK_EQ(verdict(&good), V_NOT_OURS);
}

/* A reply with our id whose question cannot be read: glibc takes it as
 * the reply, then fails the lookup. A compressed question name glibc's
 * answer reader refuses (ns_rr_cursor_init) once it matched. */
static void unreadable_question(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(0);
	m.b[12] = 0xc0;
	m.b[13] = 40;                      /* forward, out of the message */
	CHECK_EQ(verdict(&m), V_FALLBACK);
	m.b[12] = 0x80;                    /* a reserved label type */
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* "a" at offset 9 of the header (NSCOUNT's low byte, ARCOUNT), the
	 * question a pointer to it. */
	ask("a", SCIO_DNS_T_A);
	m = reply(1);
	m.b[9] = 1;
	m.b[10] = 'a';
	m.b[11] = 0;
	m.len = 12;
	add_pointer(&m, 9);
	add16(&m, SCIO_DNS_T_A);
	add16(&m, C_IN);
	add_a(&m, "192.0.2.1");
	CHECK_EQ(verdict(&m), V_FALLBACK);
	ask("b", SCIO_DNS_T_A);
	CHECK_EQ(verdict(&m), V_NOT_OURS);
}
/* Resolvers echo the question's case (or 0x20-randomise it); glibc
 * compares names in any case. */
static void question_case(void)
{
	ask("WwW.ExAmple.CoM", SCIO_DNS_T_A);
	struct msg m = reply(1);
	memcpy(m.b + 13, "www\7EXAMPLE\3com", 15);
	add_a(&m, "192.0.2.44");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	/* The same name from a query with a trailing dot. */
	ask("www.example.com.", SCIO_DNS_T_A);
	r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
}

/* Every prefix of a full reply: none is an answer, none reads past its
 * end (each is read from a block of its own length). */
static void truncated_at_every_length(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(5);
	add_cname(&m, "www.example.com", "edge.example.net");
	add_a_of(&m, "edge.example.net", "192.0.2.10");
	add_aaaa(&m, "2001:db8::10");
	add_name(&m, "edge.example.net");
	add_fixed(&m, 46, C_IN, 6);
	add(&m, "\0\1\2\3\4\5", 6);
	add_a_of(&m, "edge.example.net", "192.0.2.11");
	struct result full = read_reply(&m);
	CHECK_EQ(full.v, V_ANSWER);
	CHECK_EQ(full.n, 2);
	for (size_t len = 0; len < m.len; len++) {
		struct result r = read_len(&m, len, MAX_ADDRS);
		if (r.v != V_FALLBACK)
			fprintf(stderr, "  length %zu: verdict %d\n", len, r.v);
		CHECK_EQ(r.v, V_FALLBACK);
	}
	/* Bytes after the answer section are not glibc's concern. */
	add(&m, "\xff\xff\xff", 3);
	CHECK_EQ(verdict(&m), V_ANSWER);
}
/* More answers announced than the message holds. */
static void ancount_past_the_end(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(2);
	add_a(&m, "192.0.2.1");
	CHECK_EQ(verdict(&m), V_FALLBACK);
}

static void pointer_loops(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	/* An owner that points at itself. */
	struct msg m = reply(1);
	add_pointer(&m, m.len);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* Two labels' worth of loop: "a" then a pointer back to that "a". */
	m = reply(1);
	size_t at = m.len;
	add(&m, "\1a", 2);
	add_pointer(&m, at);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* Two pointers at each other. */
	m = reply(1);
	at = m.len;
	add_pointer(&m, at + 2);
	add_pointer(&m, at);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* Out of the message. */
	m = reply(1);
	add_pointer(&m, 0x3fff);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
}

/* A pointer forward to a good name: refused, so no loop need be traced. */
static void forward_pointer(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(2);
	add_a(&m, "192.0.2.1");
	size_t at = m.len;
	add_pointer(&m, at + 2 + 10 + 4);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\2", 4);
	add_name(&m, "www.example.com");
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* The same name placed before: fine. */
	m = reply(2);
	at = m.len;
	add_a_of(&m, "www.example.com", "192.0.2.1");
	add_pointer(&m, at);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\2", 4);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 2);
}
/* Labels of 64 or more (0x40, 0x80: extended types) and names past 255. */
static void label_and_name_limits(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	m.b[m.len++] = 64;
	memset(m.b + m.len, 'a', 64);
	m.len += 64;
	m.b[m.len++] = 0;
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* 63+1+63+1+63+1+61+1 + the root = 255: fine; one byte more: not. */
	for (int extra = 0; extra < 2; extra++) {
		m = reply(1);
		static const int labels[] = { 63, 63, 63, 61 };
		for (int i = 0; i < 4; i++)
			add_label(&m, labels[i] + (i == 3 ? extra : 0), 'h');
		m.b[m.len++] = 0;
		add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
		add(&m, "\xc0\0\2\1", 4);
		CHECK_EQ(verdict(&m), extra ? V_FALLBACK : V_ANSWER);
	}
	/* Past 255 through pointers: an owner of 128 bytes of labels then the
	 * question's name (17), and one of 64 + 46 or 47 then that owner. */
	for (int extra = 0; extra < 2; extra++) {
		m = reply(2);
		size_t first = m.len;
		add_label(&m, 63, 'p');
		add_label(&m, 63, 'p');
		add_pointer(&m, 12);
		add_fixed(&m, 16, C_IN, 0);
		add_label(&m, 63, 'q');
		add_label(&m, 45 + extra, 'q');
		add_pointer(&m, first);
		add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
		add(&m, "\xc0\0\2\1", 4);
		CHECK_EQ(verdict(&m), extra ? V_FALLBACK : V_ANSWER);
	}
}

static void bad_rdlength(void)
{
	/* An address record glibc would expect, of the wrong length: glibc
	 * skips it; we leave that reply to it. */
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 5);
	add(&m, "\xc0\0\2\1\0", 5);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	ask("www.example.com", SCIO_DNS_T_AAAA);
	m = reply(1);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_AAAA, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* One glibc skips anyway (not the question's type): skipped. */
	ask("www.example.com", SCIO_DNS_T_A);
	m = reply(2);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_AAAA, C_IN, 4);
	add(&m, "\xc0\0\2\1", 4);
	add_a(&m, "192.0.2.1");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	/* RDATA past the end: glibc fails the reply. */
	m = reply(1);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 4);
	add(&m, "\xc0\0\2", 3);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* A bad one after an address. */
	m = reply(2);
	add_a(&m, "192.0.2.1");
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_A, C_IN, 3);
	add(&m, "\1\2\3", 3);
	CHECK_EQ(verdict(&m), V_FALLBACK);
	/* A CNAME whose RDLENGTH is not its name's (glibc reads the name,
	 * then goes on after RDLENGTH's bytes; we leave that to it). */
	m = reply(2);
	add_pointer(&m, 12);
	add_fixed(&m, T_CNAME, C_IN, 2);
	add_name(&m, "a.example");
	add_a(&m, "192.0.2.1");
	CHECK_EQ(verdict(&m), V_FALLBACK);
	m = reply(2);
	add_pointer(&m, 12);
	add_fixed(&m, T_CNAME, C_IN, 11 + 4);
	add_name(&m, "a.example");
	add(&m, "\0\0\0\0", 4);
	add_a_of(&m, "a.example", "192.0.2.1");
	CHECK_EQ(verdict(&m), V_FALLBACK);
}

/* glibc 2.36 looks at no record's class: a CHAOS record it would not use
 * anyway is skipped; one it would use (an A of the expected name, a
 * CNAME) is left to glibc. */
static void other_classes(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(3);
	add_pointer(&m, 12);
	add_fixed(&m, 16, 3, 3);
	add(&m, "abc", 3);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_AAAA, 3, 3);
	add(&m, "abc", 3);
	add_a(&m, "192.0.2.64");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	CHECK(is_addr(&r.a[0], "192.0.2.64"));
	m = reply(2);
	add_pointer(&m, 12);
	add_fixed(&m, SCIO_DNS_T_A, 3, 4);
	add(&m, "\xc0\0\2\x63", 4);
	add_a(&m, "192.0.2.64");
	CHECK_EQ(verdict(&m), V_FALLBACK);
	m = reply(1);
	add_pointer(&m, 12);
	add_fixed(&m, T_CNAME, 3, 2);
	add_pointer(&m, 12);
	CHECK_EQ(verdict(&m), V_FALLBACK);
}

static void too_many_addresses(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(3);
	add_a(&m, "192.0.2.1");
	add_a(&m, "192.0.2.2");
	add_a(&m, "192.0.2.3");
	CHECK_EQ(read_len(&m, m.len, 2).v, V_FALLBACK);
	struct result r = read_len(&m, m.len, 3);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 3);
	CHECK(is_addr(&r.a[2], "192.0.2.3"));
	CHECK_EQ(read_len(&m, m.len, 0).v, V_FALLBACK);
}

/* glibc 2.36 checks no owner with res_hnok: it compares them with the
 * expected name. Records of other owners, host names or not, are
 * skipped. */
static void owners_compared_not_checked(void)
{
	const char *const owners[] = { "*.example.com", "-x.example.com", "a b.example",
				       "a.b\\c", "\xc3\xa9.example", "" };
	ask("www.example.com", SCIO_DNS_T_A);
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		struct msg m = reply(2);
		add_a_of(&m, owners[i], "192.0.2.1");
		add_a(&m, "192.0.2.2");
		struct result r = read_reply(&m);
		CHECK_EQ(r.v, V_ANSWER);
		CHECK_EQ(r.n, 1);
		CHECK(is_addr(&r.a[0], "192.0.2.2"));
	}
}

/* A CNAME target that is no host name is still followed (glibc bug 12154:
 * it only cannot be the canonical name). */
static void cname_target_not_a_host_name(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(2);
	add_cname(&m, "www.example.com", "a*b.example");
	add_a_of(&m, "a*b.example", "192.0.2.1");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
	CHECK(is_addr(&r.a[0], "192.0.2.1"));
}

/* The 2.36 release reads names up to 255 bytes everywhere (the old
 * MAXHOSTNAMELEN 64 limit on CNAME targets is gone). */
static void long_cname_target(void)
{
	char t[300];
	memset(t, 'd', 253);
	t[63] = t[127] = t[191] = '.';
	t[253] = 0;
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(2);
	add_cname(&m, "www.example.com", t);
	add_a_of(&m, t, "192.0.2.1");
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 1);
}

/* ---- replies to a query with EDNS ---- */

static void ask_edns(const char *name, uint16_t type)
{
	int n = scio_dns_query_edns(query, sizeof(query), name, ID, type, SCIO_DNS_EDNS_PAYLOAD);
	CHECK(n > 11);
	qlen = n > 0 ? (size_t)n : 0;
}

/* A reply to the current (EDNS) query: header and question, no OPT yet. */
static struct msg reply_edns(uint16_t ancount)
{
	struct msg m = reply(ancount);
	m.len -= 11;
	m.b[10] = m.b[11] = 0;
	return m;
}

/* The server's OPT, last in the additional section. */
static void add_opt(struct msg *m, uint16_t payload, unsigned char ext_rcode, unsigned char version)
{
	unsigned char opt[11] = { 0, 0, 41, (unsigned char)(payload >> 8), (unsigned char)payload,
				  ext_rcode, version, 0, 0, 0, 0 };
	add(m, opt, sizeof(opt));
	m->b[11]++;
}

static void edns_answers(void)
{
	ask_edns("www.example.com", SCIO_DNS_T_AAAA);
	struct msg m = reply_edns(2);
	add_aaaa(&m, "2001:db8::1");
	add_aaaa(&m, "2001:db8::2");
	add_opt(&m, 1232, 0, 0);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK_EQ(r.n, 2);
	CHECK(is_addr(&r.a[0], "2001:db8::1"));
	CHECK(is_addr(&r.a[1], "2001:db8::2"));
	/* A server that ignores EDNS answers without an OPT: the same. */
	m = reply_edns(1);
	add_aaaa(&m, "2001:db8::3");
	r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK(r.n == 1 && is_addr(&r.a[0], "2001:db8::3"));
	/* The question must still match: the id, the name, the type. */
	m = reply_edns(1);
	m.b[1] ^= 1;
	add_aaaa(&m, "2001:db8::3");
	add_opt(&m, 1232, 0, 0);
	CHECK_EQ(verdict(&m), V_NOT_OURS);
	ask_edns("www.example.com", SCIO_DNS_T_A);
	m.b[1] ^= 1;
	CHECK_EQ(verdict(&m), V_NOT_OURS);
}

/* Longer than 512 bytes, as EDNS lets the server send: glibc reads it
 * all (its buffer grows to 64 KiB), and so does this. */
static void edns_long_reply(void)
{
	ask_edns("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply_edns(46);
	for (int i = 0; i < 45; i++) {  /* TXT records, skipped */
		add_pointer(&m, 12);
		add_fixed(&m, 16, C_IN, 11);
		add(&m, "\x0a" "0123456789", 11);
	}
	add_a(&m, "192.0.2.7");
	add_opt(&m, 1232, 0, 0);
	CHECK(m.len > 1000 && m.len <= SCIO_DNS_EDNS_PAYLOAD);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK(r.n == 1 && is_addr(&r.a[0], "192.0.2.7"));
}

/* glibc reads no OPT: its extended RCODE (BADVERS is 16, header RCODE 0)
 * goes unseen, and the OPT alone makes an empty reply with neither AA
 * nor RA not lame (ARCOUNT 1): no data.  A FORMERR is not asked again
 * without EDNS by glibc 2.36 (RES_F_EDNS0ERR is never set): an error, so
 * glibc's to decide. */
static void edns_rcodes(void)
{
	ask_edns("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply_edns(0);
	m.b[3] &= (unsigned char)~0x80;
	CHECK_EQ(verdict(&m), V_FALLBACK);  /* lame */
	add_opt(&m, 1232, 1, 0);  /* BADVERS */
	CHECK_EQ(verdict(&m), V_NODATA);
	m = reply_edns(1);
	add_a(&m, "192.0.2.8");
	add_opt(&m, 1232, 1, 1);
	struct result r = read_reply(&m);
	CHECK_EQ(r.v, V_ANSWER);
	CHECK(r.n == 1 && is_addr(&r.a[0], "192.0.2.8"));
	m = reply_edns(0);
	m.b[3] |= 3;
	add_opt(&m, 1232, 0, 0);
	CHECK_EQ(verdict(&m), V_NXDOMAIN);
	for (unsigned rcode = 1; rcode < 16; rcode++) {
		if (rcode == 3)
			continue;
		m = reply_edns(0);
		m.b[3] |= (unsigned char)rcode;
		CHECK_EQ(verdict(&m), V_FALLBACK);
		add_opt(&m, 1232, 0, 0);
		CHECK_EQ(verdict(&m), V_FALLBACK);
	}
	/* Truncated: glibc asks again over TCP. */
	m = reply_edns(0);
	m.b[2] |= 0x02;
	add_opt(&m, 1232, 0, 0);
	CHECK_EQ(verdict(&m), V_FALLBACK);
}

static void shorter_than_a_header(void)
{
	ask("www.example.com", SCIO_DNS_T_A);
	struct msg m = reply(1);
	add_a(&m, "192.0.2.1");
	for (size_t len = 0; len < 12; len++)
		CHECK_EQ(read_len(&m, len, MAX_ADDRS).v, V_FALLBACK);
}

int main(void)
{
	RUN(query_bytes_as_glibc);
	RUN(query_refuses_what_glibc_would_not_send);
	RUN(query_edns_as_glibc);
	RUN(answer_a);
	RUN(answer_aaaa);
	RUN(question_type_and_owner_only);
	RUN(cname_chain);
	RUN(compression);
	RUN(no_data);
	RUN(only_other_types);
	RUN(lame_empty_reply);
	RUN(rcodes_fall_back);
	RUN(nxdomain_and_servfail);
	RUN(truncated_flag);
	RUN(not_ours);
	RUN(unreadable_question);
	RUN(question_case);
	RUN(truncated_at_every_length);
	RUN(ancount_past_the_end);
	RUN(pointer_loops);
	RUN(forward_pointer);
	RUN(label_and_name_limits);
	RUN(bad_rdlength);
	RUN(other_classes);
	RUN(too_many_addresses);
	RUN(owners_compared_not_checked);
	RUN(cname_target_not_a_host_name);
	RUN(long_cname_target);
	RUN(shorter_than_a_header);
	RUN(edns_answers);
	RUN(edns_long_reply);
	RUN(edns_rcodes);
	return check_exit();
}
