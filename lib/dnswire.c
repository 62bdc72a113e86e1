/*
 * dnswire.c - one A or AAAA query and the reading of its reply (RFC 1035
 * section 4), judged as Debian 12's glibc (2.36-9+deb12u14: the 2.36
 * release's rewritten nss_dns, and the release branch's later res_send.c
 * fixes) judges it, so that whatever this file takes as an answer glibc
 * would have taken with the same addresses. Where glibc would fail, try
 * another server or TCP, or read something this file does not model, the
 * verdict is FALLBACK and glibc itself decides. A reply to a query with
 * an OPT record (options edns0) is judged the same way: glibc's send_dg
 * and answer reader ignore the OPT the server sends back. Some replies
 * glibc reads are refused here too (forward compression pointers, a CNAME
 * whose RDLENGTH is not its name's length, a record of another class that
 * glibc would use, an address record of the wrong length): refusing
 * costs only a lookup through glibc.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "dnswire.h"

#define HEADER_LEN 12
#define NAME_MAX_WIRE 255   /* NS_MAXCDNAME: glibc's unpacking buffer */
#define NAME_MAX_TEXT 253
#define LABEL_MAX 63
#define CLASS_IN 1
#define TYPE_CNAME 5
#define TYPE_OPT 41
#define OPT_LEN 11          /* root owner, fixed part, no option */
#define OPCODE_QUERY 0

/* Header bytes 2 and 3 (RFC 1035 4.1.1). */
#define FLAG_QR 0x80
#define FLAG_AA 0x04
#define FLAG_TC 0x02
#define FLAG_RD 0x01
#define FLAG_RA 0x80
#define RCODE_MASK 0x0f
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define RCODE_NOTIMP 4
#define RCODE_REFUSED 5

struct wire_name {
	unsigned char bytes[NAME_MAX_WIRE];
	size_t len;         /* with the root's zero byte */
	bool compressed;    /* read through a pointer */
};

struct question {
	struct wire_name name;
	uint16_t type, class;
	size_t end;   /* offset just after it */
};

struct record {
	struct wire_name owner;
	uint16_t type, class, rdlen;
	size_t rdata;   /* offset of RDATA */
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static bool host_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Writes `name` in wire form to out (NAME_MAX_WIRE bytes at least);
 * returns its length, or 0 when glibc's res_hnok would refuse it or it
 * cannot be sent as is. */
static size_t name_to_wire(const char *name, unsigned char *out)
{
	size_t text = strlen(name);
	if (text > 0 && name[text - 1] == '.')
		text--;
	if (text == 0 || text > NAME_MAX_TEXT || name[0] == '-')
		return 0;
	size_t len = 0, label = 0;
	for (size_t i = 0; i <= text; i++) {
		if (i == text || name[i] == '.') {
			if (label == 0 || label > LABEL_MAX)
				return 0;
			out[len] = (unsigned char)label;
			len += label + 1;
			label = 0;
			continue;
		}
		if (!host_char((unsigned char)name[i]))
			return 0;
		out[len + 1 + label++] = (unsigned char)name[i];
	}
	out[len++] = 0;
	return len;
}

int scio_dns_query(unsigned char *buf, size_t size, const char *name,
		   uint16_t id, uint16_t qtype)
{
	unsigned char wire[NAME_MAX_WIRE];
	size_t wlen = name_to_wire(name, wire);
	if (wlen == 0 || size < HEADER_LEN + wlen + 4)
		return -1;
	memset(buf, 0, HEADER_LEN);
	put16(buf, id);
	buf[2] = FLAG_RD;
	put16(buf + 4, 1);
	memcpy(buf + HEADER_LEN, wire, wlen);
	put16(buf + HEADER_LEN + wlen, qtype);
	put16(buf + HEADER_LEN + wlen + 2, CLASS_IN);
	return (int)(HEADER_LEN + wlen + 4);
}

/* The OPT pseudo-record (RFC 6891 6.1.2) glibc's res_query appends with
 * RES_USE_EDNS0: root owner, the UDP payload size in the class, extended
 * RCODE, version and flags all 0 (DO only with RES_USE_DNSSEC, which no
 * resolv.conf option sets), no option; ARCOUNT 1. */
int scio_dns_query_edns(unsigned char *buf, size_t size, const char *name,
			uint16_t id, uint16_t qtype, uint16_t payload)
{
	unsigned char plain[SCIO_DNS_QUERY_MAX];
	int n = scio_dns_query(plain, sizeof(plain), name, id, qtype);
	if (n < 0 || size < (size_t)n + OPT_LEN)
		return -1;
	memcpy(buf, plain, (size_t)n);
	unsigned char *opt = buf + n;
	memset(opt, 0, OPT_LEN);
	put16(opt + 1, TYPE_OPT);
	put16(opt + 3, payload);
	put16(buf + 10, 1);
	return n + OPT_LEN;
}

/* Reads the possibly compressed name at msg[pos] with glibc's limits
 * (ns_name_unpack: labels up to 63 bytes, 255 bytes in all, a pointer
 * inside the message, at most the message's length of bytes visited) and
 * one of ours: each pointer goes to before the stretch of labels it ends,
 * so that positions only decrease and no loop is possible. Returns the
 * bytes the name takes at pos (a pointer ends it), 0 when it is
 * malformed. */
static size_t unpack_name(const unsigned char *msg, size_t len, size_t pos,
			  struct wire_name *out)
{
	size_t at = pos, stretch = pos, taken = 0, visited = 0;
	out->len = 0;
	out->compressed = false;
	if (pos >= len)
		return 0;
	for (;;) {
		if (at >= len)
			return 0;
		unsigned c = msg[at++];
		if (c == 0)
			break;
		if ((c & 0xc0) == 0xc0) {
			if (at >= len)
				return 0;
			size_t target = (size_t)(c & 0x3f) << 8 | msg[at];
			if (target >= stretch)
				return 0;
			if (taken == 0)
				taken = at + 1 - pos;
			out->compressed = true;
			visited += 2;
			if (visited >= len)
				return 0;
			at = stretch = target;
			continue;
		}
		if (c > LABEL_MAX || c + 1 >= NAME_MAX_WIRE - out->len || c >= len - at)
			return 0;
		visited += c + 1;
		out->bytes[out->len] = (unsigned char)c;
		memcpy(out->bytes + out->len + 1, msg + at, c);
		out->len += c + 1;
		at += c;
	}
	out->bytes[out->len++] = 0;
	return taken ? taken : at - pos;
}

/* glibc's res_binary_hnok: letters, digits, '-', '_' only,
 * and no '-' first. The root passes. */
static bool name_hnok(const struct wire_name *n)
{
	if (n->bytes[0] > 0 && n->bytes[1] == '-')
		return false;
	for (size_t i = 0; n->bytes[i] != 0; i += n->bytes[i] + 1)
		for (size_t k = 1; k <= n->bytes[i]; k++)
			if (!host_char(n->bytes[i + k]))
				return false;
	return true;
}

/* glibc's ns_samebinaryname: ASCII letters in any case. Label lengths
 * are below 'A', so folding letters keeps them apart. */
static bool same_name(const struct wire_name *a, const struct wire_name *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (ascii_lower(a->bytes[i]) != ascii_lower(b->bytes[i]))
			return false;
	return true;
}

static bool read_question(const unsigned char *msg, size_t len, struct question *q)
{
	size_t taken = unpack_name(msg, len, HEADER_LEN, &q->name);
	if (taken == 0 || len - HEADER_LEN - taken < 4)
		return false;
	size_t at = HEADER_LEN + taken;
	q->type = get16(msg + at);
	q->class = get16(msg + at + 2);
	q->end = at + 4;
	return true;
}

/* One resource record at *pos, as glibc's ns_rr_cursor_next reads it:
 * the owner name, the fixed part, RDATA that fits. */
static bool read_record(const unsigned char *msg, size_t len, size_t *pos,
			struct record *r)
{
	size_t taken = unpack_name(msg, len, *pos, &r->owner);
	if (taken == 0)
		return false;
	size_t at = *pos + taken;
	if (len - at < 10)
		return false;
	r->type = get16(msg + at);
	r->class = get16(msg + at + 2);
	r->rdlen = get16(msg + at + 8);
	r->rdata = at + 10;
	if (len - r->rdata < r->rdlen)
		return false;
	*pos = r->rdata + r->rdlen;
	return true;
}

/* A CNAME's target, which glibc then expects as the owner of the
 * addresses, host name or not. */
static bool cname_target(const unsigned char *msg, size_t len,
			 const struct record *r, struct wire_name *target)
{
	size_t taken = unpack_name(msg, len, r->rdata, target);
	return taken != 0 && taken == r->rdlen;
}

/* The address of an A or AAAA record into out[*n]; false when its RDATA
 * has the wrong length or out is full. */
static bool take_address(const unsigned char *msg, const struct record *r,
			 struct scio_dns_addr *out, size_t max, size_t *n)
{
	size_t want = r->type == SCIO_DNS_T_A ? 4 : 16;
	if (r->rdlen != want || *n >= max)
		return false;
	struct scio_dns_addr *a = &out[(*n)++];
	memset(a, 0, sizeof(*a));
	a->family = r->type == SCIO_DNS_T_A ? AF_INET : AF_INET6;
	memcpy(a->addr, msg + r->rdata, want);
	return true;
}

/* The answer section, as gaih_getanswer_slice reads it: a CNAME (from any
 * owner) makes its target the expected name; a record of the question's
 * type owned by the expected name is an address; anything else is
 * skipped, and no address is no data. glibc looks at no record's class:
 * one of another class that it would use is left to it. */
static enum scio_dns_verdict read_answers(const unsigned char *msg, size_t len,
					  const struct question *q, uint16_t ancount,
					  struct scio_dns_addr *out, size_t max,
					  size_t *n)
{
	struct wire_name expected = q->name;
	size_t pos = q->end;
	for (uint16_t i = 0; i < ancount; i++) {
		struct record r;
		if (!read_record(msg, len, &pos, &r))
			return SCIO_DNS_FALLBACK;
		bool used = r.type == TYPE_CNAME ||
			    (r.type == q->type && same_name(&r.owner, &expected));
		if (used && r.class != CLASS_IN)
			return SCIO_DNS_FALLBACK;
		if (r.type == TYPE_CNAME) {
			if (!cname_target(msg, len, &r, &expected))
				return SCIO_DNS_FALLBACK;
		} else if (used && !take_address(msg, &r, out, max, n)) {
			return SCIO_DNS_FALLBACK;
		}
	}
	return SCIO_DNS_ANSWER;
}

/* send_dg's test, res_queriesmatch included: a reply answers the query
 * when its id, question count and question (name in any case, type,
 * class) are the query's; the QR bit and the opcode are checked too. A
 * reply with that id whose question cannot be read is taken by glibc,
 * then fails, and so does a bare 12-byte SERVFAIL, NOTIMP or REFUSED with
 * no question (glibc 2.36's branch, bug 31890). */
static enum scio_dns_verdict match_query(const unsigned char *msg, size_t len,
					 const unsigned char *query, size_t qlen,
					 struct question *got)
{
	struct question asked;
	if (qlen < HEADER_LEN || len < HEADER_LEN || !read_question(query, qlen, &asked))
		return SCIO_DNS_FALLBACK;
	if (msg[0] != query[0] || msg[1] != query[1] || !(msg[2] & FLAG_QR) ||
	    (msg[2] >> 3 & 0x0f) != OPCODE_QUERY)
		return SCIO_DNS_NOT_OURS;
	unsigned rcode = msg[3] & RCODE_MASK;
	if (len == HEADER_LEN && get16(msg + 4) == 0 &&
	    (rcode == RCODE_SERVFAIL || rcode == RCODE_NOTIMP || rcode == RCODE_REFUSED))
		return SCIO_DNS_FALLBACK;
	if (get16(msg + 4) != get16(query + 4))
		return SCIO_DNS_NOT_OURS;
	if (!read_question(msg, len, got))
		return SCIO_DNS_FALLBACK;
	if (got->type != asked.type || got->class != asked.class ||
	    !same_name(&got->name, &asked.name))
		return SCIO_DNS_NOT_OURS;
	return SCIO_DNS_ANSWER;
}

/* What send_dg does with a matching reply before the answer is read:
 * TC means TCP, SERVFAIL/NOTIMP/REFUSED the next server, other RCODEs an
 * error, and an empty reply with neither AA nor RA nor additional records
 * a lame server. */
static bool header_usable(const unsigned char *msg)
{
	if ((msg[2] & FLAG_TC) || (msg[3] & RCODE_MASK) != 0)
		return false;
	return get16(msg + 6) != 0 || (msg[2] & FLAG_AA) || (msg[3] & FLAG_RA) ||
	       get16(msg + 10) != 0;
}

enum scio_dns_verdict scio_dns_answer(const unsigned char *msg, size_t len,
				      const unsigned char *query, size_t qlen,
				      struct scio_dns_addr *out, size_t max, size_t *n)
{
	struct question got;
	*n = 0;
	enum scio_dns_verdict v = match_query(msg, len, query, qlen, &got);
	if (v != SCIO_DNS_ANSWER)
		return v;
	/* glibc's answer reader wants the question's name uncompressed
	 * (ns_rr_cursor_init) and a host name (res_binary_hnok). */
	if (got.name.compressed || !name_hnok(&got.name) || (msg[2] & FLAG_TC))
		return SCIO_DNS_FALLBACK;
	if ((msg[3] & RCODE_MASK) == RCODE_NXDOMAIN)
		return SCIO_DNS_NXDOMAIN;
	if (!header_usable(msg))
		return SCIO_DNS_FALLBACK;
	if (get16(msg + 6) == 0)
		return SCIO_DNS_NODATA;
	v = read_answers(msg, len, &got, get16(msg + 6), out, max, n);
	if (v != SCIO_DNS_ANSWER)
		*n = 0;
	return v;
}
