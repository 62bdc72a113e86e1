/* addrs.c - candidate lists: deduplicated, then interleaved by family. */
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "addrs.h"
#include "internal.h"
#include "scio.h"

int scio_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

size_t scio_collect(const struct addrinfo *ai, struct sockaddr_storage *out,
		    size_t cap)
{
	size_t n = 0;
	for (; ai && n < cap; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof(*out) || !ai->ai_addr ||
		    ai->ai_addrlen < scio_sockaddr_len(ai->ai_addr))
			continue;
		int dup = 0;
		for (size_t k = 0; k < n && !dup; k++)
			dup = scio_same_addr((struct sockaddr *)&out[k], ai->ai_addr);
		if (dup)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
		n++;
	}
	return n;
}

const char *scio_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (!buf || size == 0)
		return "";
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, size, "%s port %u", host, port);
	return buf;
}

void scio_map_v4(struct sockaddr_storage *ss)
{
	if (ss->ss_family != AF_INET)
		return;
	struct sockaddr_in in = *(const struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = in.sin_port;
	in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
}

void scio_unmap_v4(struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = in6->sin6_port };
	memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &in, sizeof(in));
}

void scio_split_family(struct addrinfo *res, int family,
		       struct addrinfo **mine, struct addrinfo **other)
{
	struct addrinfo **mt = mine, **ot = other;
	*mine = *other = NULL;
	for (struct addrinfo *ai = res, *next; ai; ai = next) {
		next = ai->ai_next;
		ai->ai_next = NULL;
		if (ai->ai_family == family) {
			*mt = ai;
			mt = &ai->ai_next;
		} else {
			*ot = ai;
			ot = &ai->ai_next;
		}
	}
}
