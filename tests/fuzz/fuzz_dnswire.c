/* fuzz_dnswire.c - any bytes as the reply to fixed A and AAAA queries,
 * checked against a model of Debian 12's glibc 2.36 (send_dg's match and
 * checks, then the rewritten gaih_getanswer_slice) built on glibc's own
 * exported dn_expand and ns_name_unpack: whatever lib/dnswire.c takes as
 * an answer, glibc must take with the same addresses in the same order;
 * what it calls not ours, glibc must ignore too (but for the QR bit and
 * the opcode, which glibc does not look at). glibc reads no OPT record,
 * so the model does not either, and replies to the queries with EDNS
 * (scio_dns_query_edns) must get the same verdicts. The input is also a
 * name for scio_dns_query, whose bytes must be those of glibc's
 * res_mkquery, and for scio_dns_query_edns, whose bytes must be those
 * followed by the OPT record glibc appends. */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dnswire.h"

#define MAX_ADDRS 32

enum model { M_IGNORED, M_SUCCESS, M_NOTFOUND, M_NODATA, M_NXDOMAIN, M_FAILED };

struct got {
	size_t n;
	struct scio_dns_addr a[MAX_ADDRS + 1];
};

static uint16_t at16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* send_dg's test, res_queriesmatch included: the id, the question count,
 * then the question; a question glibc cannot read counts as a match, and
 * so does a bare 12-byte SERVFAIL, NOTIMP or REFUSED. */
static int model_matches(const unsigned char *msg, size_t len,
			 const unsigned char *q, size_t qlen)
{
	char want[MAXDNAME + 1], have[MAXDNAME + 1];
	if (at16(msg) != at16(q))
		return 0;
	unsigned rcode = msg[3] & 0x0f;
	if (len == 12 && at16(msg + 4) == 0 && (rcode == 2 || rcode == 4 || rcode == 5))
		return 1;
	if (at16(msg + 4) != at16(q + 4))
		return 0;
	int qn = dn_expand(q, q + qlen, q + 12, want, sizeof(want));
	if (qn < 0)
		abort();
	int n = dn_expand(msg, msg + len, msg + 12, have, sizeof(have));
	if (n < 0 || len - 12 - (size_t)n < 4)
		return 1;
	const unsigned char *t = msg + 12 + n, *qt = q + 12 + qn;
	return at16(t) == at16(qt) && at16(t + 2) == at16(qt + 2) &&
	       strcasecmp(have, want) == 0;
}

/* The length of the uncompressed name at p, -1 if it is not one. */
static int model_plain_name(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *start = p;
	for (;;) {
		if (p == end)
			return -1;
		unsigned b = *p++;
		if (b == 0)
			return p - start > NS_MAXCDNAME ? -1 : (int)(p - start);
		if (b > 63 || b > (size_t)(end - p))
			return -1;
		p += b;
	}
}

static int model_host_name(const unsigned char *dn)
{
	if (dn[0] > 0 && dn[1] == '-')
		return 0;
	for (; *dn; dn += *dn + 1)
		for (unsigned i = 1; i <= *dn; i++) {
			unsigned char c = dn[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
				return 0;
		}
	return 1;
}

static unsigned char model_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* ns_samebinaryname. */
static int model_same_name(const unsigned char *a, const unsigned char *b)
{
	for (; *a && *b; a += *a + 1, b += *b + 1) {
		if (*a != *b)
			return 0;
		for (unsigned i = 1; i <= *a; i++)
			if (model_upper(a[i]) != model_upper(b[i]))
				return 0;
	}
	return *a == 0 && *b == 0;
}

/* gaih_getanswer_slice as the 2.36 release has it. */
static enum model model_slice(const unsigned char *msg, size_t len, struct got *g)
{
	if (at16(msg + 4) != 1)
		return M_FAILED;
	int qn = model_plain_name(msg + 12, msg + len);
	if (qn < 0 || len - 12 - (size_t)qn < 4)
		return M_FAILED;
	size_t cp = 12 + (size_t)qn + 4;
	uint16_t qtype = at16(msg + cp - 4);
	unsigned ancount = at16(msg + 6);
	unsigned char expected[NS_MAXCDNAME];
	memcpy(expected, msg + 12, (size_t)qn);
	if (ancount == 0 || !model_host_name(expected))
		return M_NOTFOUND;
	for (; ancount > 0; ancount--) {
		unsigned char owner[NS_MAXCDNAME];
		int n = ns_name_unpack(msg, msg + len, msg + cp, owner, sizeof(owner));
		if (n < 0 || len - cp - (size_t)n < 10)
			return M_FAILED;
		cp += (size_t)n;
		uint16_t type = at16(msg + cp);
		size_t rdlen = at16(msg + cp + 8);
		cp += 10;
		if (len - cp < rdlen)
			return M_FAILED;
		size_t rdata = cp;
		cp += rdlen;
		if (type == T_CNAME) {
			if (ns_name_unpack(msg, msg + len, msg + rdata, expected, sizeof(expected)) < 0)
				return M_FAILED;
		} else if (type == qtype && model_same_name(owner, expected) &&
			   rdlen == (qtype == T_A ? 4u : qtype == T_AAAA ? 16u : 0u)) {
			if (g->n < MAX_ADDRS + 1) {
				g->a[g->n].family = type == T_A ? AF_INET : AF_INET6;
				memcpy(g->a[g->n].addr, msg + rdata, rdlen);
				g->n++;
			}
		}
	}
	return g->n > 0 ? M_SUCCESS : M_NOTFOUND;
}

static enum model model_reply(const unsigned char *msg, size_t len,
			      const unsigned char *q, size_t qlen, struct got *g)
{
	g->n = 0;
	if (len < 12)
		return M_FAILED;
	if (!model_matches(msg, len, q, qlen))
		return M_IGNORED;
	unsigned rcode = msg[3] & 0x0f;
	int lame = rcode == 0 && at16(msg + 6) == 0 && !(msg[2] & 0x04) &&
		   !(msg[3] & 0x80) && at16(msg + 10) == 0;
	if ((msg[2] & 0x02) || (rcode != 0 && rcode != 3) || lame)
		return M_FAILED;
	if (rcode == 3)
		return M_NXDOMAIN;
	if (at16(msg + 6) == 0)
		return M_NODATA;
	return model_slice(msg, len, g);
}

static void check_reply(const unsigned char *msg, size_t len,
			const unsigned char *q, size_t qlen)
{
	struct scio_dns_addr out[MAX_ADDRS];
	size_t n = 12345;
	struct got g;
	enum scio_dns_verdict v = scio_dns_answer(msg, len, q, qlen, out, MAX_ADDRS, &n);
	enum model m = model_reply(msg, len, q, qlen, &g);
	if (n > MAX_ADDRS || (v != SCIO_DNS_ANSWER && n != 0))
		abort();
	if (v == SCIO_DNS_NOT_OURS && m != M_IGNORED && len >= 12 &&
	    (msg[2] & 0x80) && (msg[2] & 0x78) == 0)
		abort();
	if ((v == SCIO_DNS_NXDOMAIN && m != M_NXDOMAIN) || (v == SCIO_DNS_NODATA && m != M_NODATA))
		abort();
	if (v != SCIO_DNS_ANSWER)
		return;
	if (n == 0 ? m != M_NOTFOUND : m != M_SUCCESS || g.n != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (out[i].family != g.a[i].family ||
		    memcmp(out[i].addr, g.a[i].addr, out[i].family == AF_INET ? 4 : 16) != 0)
			abort();
}

static void check_query(const uint8_t *data, size_t size)
{
	char name[300];
	size_t l = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, l);
	name[l] = 0;
	unsigned char ours[SCIO_DNS_QUERY_MAX], theirs[512];
	int on = scio_dns_query(ours, sizeof(ours), name, 0x5a5a, SCIO_DNS_T_AAAA);
	if (on < 0)
		return;
	int tn = res_mkquery(QUERY, name, C_IN, T_AAAA, NULL, 0, NULL, theirs, sizeof(theirs));
	if (tn != on || !res_hnok(name))
		abort();
	theirs[0] = theirs[1] = 0x5a;
	if (memcmp(ours, theirs, (size_t)on) != 0)
		abort();
	static const unsigned char opt[11] = { 0, 0, 41, 0x04, 0xb0 };
	unsigned char edns[SCIO_DNS_QUERY_MAX];
	int en = scio_dns_query_edns(edns, sizeof(edns), name, 0x5a5a, SCIO_DNS_T_AAAA, 1200);
	theirs[11] = 1;
	if (en != on + 11 || memcmp(edns, theirs, (size_t)on) != 0 ||
	    memcmp(edns + on, opt, sizeof(opt)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char qa[SCIO_DNS_QUERY_MAX], q6[SCIO_DNS_QUERY_MAX], qe[SCIO_DNS_QUERY_MAX];
	static int qalen, q6len, qelen;
	if (!qalen) {
		res_init();
		_res.options = (_res.options | RES_RECURSE) & ~(unsigned long)RES_TRUSTAD;
		qalen = scio_dns_query(qa, sizeof(qa), "www.example.com", 0x1234, SCIO_DNS_T_A);
		q6len = scio_dns_query(q6, sizeof(q6), "www.example.com", 0x1234, SCIO_DNS_T_AAAA);
		qelen = scio_dns_query_edns(qe, sizeof(qe), "www.example.com", 0x1234,
					    SCIO_DNS_T_AAAA, SCIO_DNS_EDNS_PAYLOAD);
		if (qalen <= 0 || q6len <= 0 || qelen != q6len + 11)
			abort();
	}
	/* The reply in a block of its exact length, for ASan. */
	unsigned char *msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	check_reply(msg, size, qa, (size_t)qalen);
	check_reply(msg, size, q6, (size_t)q6len);
	check_reply(msg, size, qe, (size_t)qelen);
	if (size >= 3) {  /* the id and QR right, to reach the rest sooner */
		msg[0] = 0x12;
		msg[1] = 0x34;
		msg[2] |= 0x80;
		check_reply(msg, size, qa, (size_t)qalen);
	}
	free(msg);
	check_query(data, size);
	return 0;
}
