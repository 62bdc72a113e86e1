/* sockopts.c - find the options a program set, copy them to new sockets. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sockopts.h"

struct optdef {
	int level, name;
};

/* Options worth carrying to another TCP socket before connect.  Only the
 * ones that differ from a fresh socket's are copied.  Left out: the ones
 * the kernel changes itself once a connect is under way (TCP_MAXSEG and
 * TCP_WINDOW_CLAMP report the SYN_SENT clamp, SO_INCOMING_CPU the CPU):
 * the program's socket is read only after its own attempt started. */
static const struct optdef common_opts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_SNDBUF },
	{ SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_RCVTIMEO },
	{ SOL_SOCKET, SO_SNDTIMEO }, { SOL_SOCKET, SO_LINGER },
	{ SOL_SOCKET, SO_PRIORITY }, { SOL_SOCKET, SO_MARK },
	{ SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_REUSEPORT },
	{ SOL_SOCKET, SO_OOBINLINE }, { SOL_SOCKET, SO_DONTROUTE },
	{ SOL_SOCKET, SO_RCVLOWAT }, { SOL_SOCKET, SO_BINDTODEVICE },
	{ SOL_SOCKET, SO_TIMESTAMP }, { SOL_SOCKET, SO_BUSY_POLL },
	{ SOL_SOCKET, SO_MAX_PACING_RATE }, { SOL_SOCKET, SO_ZEROCOPY },
	{ IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_CORK },
	{ IPPROTO_TCP, TCP_KEEPIDLE }, { IPPROTO_TCP, TCP_KEEPINTVL },
	{ IPPROTO_TCP, TCP_KEEPCNT }, { IPPROTO_TCP, TCP_SYNCNT },
	{ IPPROTO_TCP, TCP_LINGER2 }, { IPPROTO_TCP, TCP_QUICKACK },
	{ IPPROTO_TCP, TCP_CONGESTION }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT }, { IPPROTO_TCP, TCP_FASTOPEN_CONNECT },
	{ IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS },
};

static const struct optdef ipv4_opts[] = {
	{ IPPROTO_IP, IP_TOS }, { IPPROTO_IP, IP_TTL },
	{ IPPROTO_IP, IP_MTU_DISCOVER }, { IPPROTO_IP, IP_FREEBIND },
	{ IPPROTO_IP, IP_TRANSPARENT }, { IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT },
};

static const struct optdef ipv6_opts[] = {
	{ IPPROTO_IPV6, IPV6_TCLASS }, { IPPROTO_IPV6, IPV6_UNICAST_HOPS },
	{ IPPROTO_IPV6, IPV6_MTU_DISCOVER }, { IPPROTO_IPV6, IPV6_FREEBIND },
	{ IPPROTO_IPV6, IPV6_TRANSPARENT }, { IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT },
	{ IPPROTO_IPV6, IPV6_V6ONLY },
};

static void capture_list(int fd, int ref, const struct optdef *defs, size_t n,
			 struct scio_sockopts *out)
{
	for (size_t i = 0; i < n && out->n < SCIO_SOCKOPT_MAX; i++) {
		struct scio_sockopt *o = &out->opt[out->n];
		unsigned char fresh[SCIO_SOCKOPT_LEN] = { 0 };
		socklen_t len = sizeof(o->value), flen = sizeof(fresh);

		memset(o->value, 0, sizeof(o->value));
		if (getsockopt(fd, defs[i].level, defs[i].name, o->value, &len) < 0)
			continue;
		if (getsockopt(ref, defs[i].level, defs[i].name, fresh, &flen) == 0 &&
		    flen == len && memcmp(fresh, o->value, len) == 0)
			continue;
		o->level = defs[i].level;
		o->name = defs[i].name;
		o->len = len;
		out->n++;
	}
}

int scio_sockopts_capture(int fd, int family, struct scio_sockopts *out)
{
	out->family = family;
	out->n = 0;
	int ref = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ref < 0)
		return -1;
	capture_list(fd, ref, common_opts,
		     sizeof(common_opts) / sizeof(common_opts[0]), out);
	if (family == AF_INET)
		capture_list(fd, ref, ipv4_opts,
			     sizeof(ipv4_opts) / sizeof(ipv4_opts[0]), out);
	else
		capture_list(fd, ref, ipv6_opts,
			     sizeof(ipv6_opts) / sizeof(ipv6_opts[0]), out);
	scio_close_own(ref);
	return 0;
}

/* The same option for a socket of the other family, or 0 when none. */
static int translate(struct scio_sockopt *o, int to_family)
{
	static const struct { struct optdef v4, v6; } pairs[] = {
		{ { IPPROTO_IP, IP_TOS }, { IPPROTO_IPV6, IPV6_TCLASS } },
		{ { IPPROTO_IP, IP_TTL }, { IPPROTO_IPV6, IPV6_UNICAST_HOPS } },
		{ { IPPROTO_IP, IP_MTU_DISCOVER }, { IPPROTO_IPV6, IPV6_MTU_DISCOVER } },
		{ { IPPROTO_IP, IP_FREEBIND }, { IPPROTO_IPV6, IPV6_FREEBIND } },
		{ { IPPROTO_IP, IP_TRANSPARENT }, { IPPROTO_IPV6, IPV6_TRANSPARENT } },
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct optdef *from = to_family == AF_INET ? &pairs[i].v6 : &pairs[i].v4;
		const struct optdef *to = to_family == AF_INET ? &pairs[i].v4 : &pairs[i].v6;
		if (o->level == from->level && o->name == from->name) {
			o->level = to->level;
			o->name = to->name;
			return 1;
		}
	}
	return 0;
}

/* Linux reports SO_SNDBUF/SO_RCVBUF doubled; setting the read value
 * would double it again. */
static void undouble_buffer(struct scio_sockopt *o)
{
	if (o->level != SOL_SOCKET || (o->name != SO_SNDBUF && o->name != SO_RCVBUF))
		return;
	int v;
	memcpy(&v, o->value, sizeof(v));
	v /= 2;
	memcpy(o->value, &v, sizeof(v));
}

int scio_sockopts_apply(int fd, int family, const struct scio_sockopts *o)
{
	int failed = 0;
	for (size_t i = 0; i < o->n; i++) {
		struct scio_sockopt opt = o->opt[i];
		if (opt.level == IPPROTO_IPV6 && opt.name == IPV6_V6ONLY)
			continue;  /* only meaningful for the program's own socket */
		if (family != o->family &&
		    (opt.level == IPPROTO_IP || opt.level == IPPROTO_IPV6) &&
		    !(opt.level == IPPROTO_IP && opt.name == IP_BIND_ADDRESS_NO_PORT) &&
		    !translate(&opt, family))
			continue;
		undouble_buffer(&opt);
		if (setsockopt(fd, opt.level, opt.name, opt.value, opt.len) < 0)
			failed++;
	}
	return failed;
}
