/* fuzz_dnswire.c - any bytes as the reply to fixed A and AAAA queries,
 * checked against a model of glibc 2.36's reading (send_dg's match, then
 * gaih_getanswer_slice) built on glibc's own exported name functions:
 * whatever lib/dnswire.c takes as an answer, glibc must take with the same
 * addresses in the same order; what it calls not ours, glibc must ignore
 * too (but for the QR bit and the opcode, which glibc does not look at).
 * The input is also a name for scio_dns_query, whose bytes must be those
 * of glibc's res_mkquery. */
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

enum model { M_IGNORED, M_SUCCESS, M_NOTFOUND, M_FAILED };

struct got {
	size_t n;
	struct scio_dns_addr a[MAX_ADDRS + 1];
};

static uint16_t at16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* send_dg's test, res_queriesmatch included: the id, the question count,
 * then the question; a question glibc cannot read counts as a match. */
static int model_matches(const unsigned char *msg, size_t len,
			 const unsigned char *q, size_t qlen)
{
	char want[MAXDNAME + 1], have[MAXDNAME + 1];
	if (at16(msg) != at16(q) || at16(msg + 4) != at16(q + 4))
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

/* The name at off, unpacked and written as text, must pass res_hnok;
 * returns the bytes it takes, -1 otherwise. */
static int model_hnok_name(const unsigned char *msg, size_t len, size_t off)
{
	unsigned char wire[NS_MAXCDNAME];
	char text[MAXDNAME + 1];
	int n = ns_name_unpack(msg, msg + len, msg + off, wire, sizeof(wire));
	if (n < 0 || ns_name_ntop(wire, text, sizeof(text)) < 0 || !res_hnok(text))
		return -1;
	return n;
}

/* gaih_getanswer_slice for a first reply (no address read before). */
static enum model model_slice(const unsigned char *msg, size_t len, struct got *g)
{
	if (at16(msg + 4) != 1)
		return M_FAILED;
	int n = model_hnok_name(msg, len, 12);
	if (n < 0)
		return M_FAILED;
	size_t cp = 12 + (size_t)n + 4;
	unsigned ancount = at16(msg + 6);
	if (ancount == 0)
		return M_NOTFOUND;
	int canon = 0, error = 0, first = 1;
	while (ancount-- > 0 && cp < len && !error) {
		n = model_hnok_name(msg, len, cp);
		if (n < 0 || len - cp - (size_t)n < 10) {
			error = 1;
			continue;
		}
		cp += (size_t)n;
		uint16_t type = at16(msg + cp), class = at16(msg + cp + 2);
		size_t rdlen = at16(msg + cp + 8);
		cp += 10;
		if (len - cp < rdlen) {
			error = 1;
			continue;
		}
		if (class != C_IN) {
			cp += rdlen;
			continue;
		}
		if (type == T_CNAME) {
			char target[MAXDNAME + 1];
			n = dn_expand(msg, msg + len, msg + cp, target, sizeof(target));
			if (n < 0 || !res_hnok(target) || (first && strlen(target) + 1 >= 64)) {
				error = 1;
				continue;
			}
			cp += (size_t)n;
			canon = 1;
			continue;
		}
		if (type != T_A && type != T_AAAA) {
			cp += rdlen;
			continue;
		}
		if (rdlen != (type == T_A ? 4u : 16u)) {
			error = 1;
			continue;
		}
		if (g->n < MAX_ADDRS + 1) {
			g->a[g->n].family = type == T_A ? AF_INET : AF_INET6;
			memcpy(g->a[g->n].addr, msg + cp, rdlen);
			g->n++;
		}
		first = 0;
		cp += rdlen;
	}
	if (g->n > 0)
		return M_SUCCESS;
	return canon ? M_NOTFOUND : M_FAILED;
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
	if (rcode != 0 || lame || (msg[2] & 0x02))
		return M_FAILED;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char qa[SCIO_DNS_QUERY_MAX], q6[SCIO_DNS_QUERY_MAX];
	static int qalen, q6len;
	if (!qalen) {
		res_init();
		_res.options = (_res.options | RES_RECURSE) & ~(unsigned long)RES_TRUSTAD;
		qalen = scio_dns_query(qa, sizeof(qa), "www.example.com", 0x1234, SCIO_DNS_T_A);
		q6len = scio_dns_query(q6, sizeof(q6), "www.example.com", 0x1234, SCIO_DNS_T_AAAA);
		if (qalen <= 0 || q6len <= 0)
			abort();
	}
	/* The reply in a block of its exact length, for ASan. */
	unsigned char *msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	check_reply(msg, size, qa, (size_t)qalen);
	check_reply(msg, size, q6, (size_t)q6len);
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
