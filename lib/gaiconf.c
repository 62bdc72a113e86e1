/*
 * gaiconf.c - which family the system's address sort (RFC 6724, glibc's
 * getaddrinfo with /etc/gai.conf) would put first.
 *
 * A lookup that resolves each family on its own gets no sort across
 * families, so the family to start with is taken from the precedence
 * table (RFC 6724 rule 6), the rule that decides between a global IPv6
 * and an IPv4 destination: the default table, or the `precedence` lines
 * of /etc/gai.conf, which replace it as a whole, as in glibc.  Rules 1
 * to 5 are not applied: a family without a route fails at once and the
 * race moves on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addrs.h"
#include "internal.h"

#define GAICONF_PATH "/etc/gai.conf"
#define GAICONF_MAX 32       /* precedence lines kept */
#define GAICONF_BYTES 16384  /* of the file read */

struct prec {
	struct in6_addr prefix;
	int bits;
	int value;
};

/* RFC 6724 section 2.1 */
static const struct prec default_table[] = {
	{ IN6ADDR_LOOPBACK_INIT, 128, 50 },
	{ { { { 0 } } }, 0, 40 },
	{ { { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff } } }, 96, 35 },
	{ { { { 0x20, 0x02 } } }, 16, 30 },
	{ { { { 0x20, 0x01, 0, 0 } } }, 32, 5 },
	{ { { { 0xfc } } }, 7, 3 },
	{ { { { 0 } } }, 96, 1 },
	{ { { { 0xfe, 0xc0 } } }, 10, 1 },
	{ { { { 0x3f, 0xfe } } }, 16, 1 },
};

static struct prec table[GAICONF_MAX];
static size_t table_n;
static int file_has_lines;  /* anything but comments and blanks, or unknown */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int in_prefix(const struct in6_addr *a, const struct prec *p)
{
	int full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(a, &p->prefix, (size_t)full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a->s6_addr[full] & mask) == (p->prefix.s6_addr[full] & mask);
}

/* "precedence ADDR/BITS VALUE": 1 and *p filled when the line is one. */
static int parse_line(char *line, struct prec *p)
{
	char *save, *word = strtok_r(line, " \t", &save);
	if (!word || strcmp(word, "precedence") != 0)
		return 0;
	char *net = strtok_r(NULL, " \t", &save);
	char *val = strtok_r(NULL, " \t", &save);
	char *slash = net ? strchr(net, '/') : NULL;
	if (!val || !slash)
		return 0;
	*slash = '\0';
	char *end;
	long bits = strtol(slash + 1, &end, 10);
	if (*end || bits < 0 || bits > 128)
		return 0;
	long value = strtol(val, &end, 10);
	if (*end || value < 0 || value > 0xffff)
		return 0;
	if (inet_pton(AF_INET6, net, &p->prefix) != 1)
		return 0;
	p->bits = (int)bits;
	p->value = (int)value;
	return 1;
}

static void load_table(void)
{
	static char buf[GAICONF_BYTES];
	int saved = errno;
	ssize_t len = -1;
#ifdef __GLIBC__
	int fd = open(GAICONF_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int open_err = fd < 0 ? errno : 0;
#else
	int fd = -1, open_err = ENOENT;  /* musl's sort reads no gai.conf: the default table */
#endif
	if (fd >= 0) {
		len = read(fd, buf, sizeof(buf) - 1);
		scio_close_own(fd);
	}
	table_n = 0;
	/* a file that could not be read whole, or at all, may hold anything */
	file_has_lines = fd >= 0 ? len < 0 || len == (ssize_t)sizeof(buf) - 1
				 : open_err != ENOENT;
	if (len > 0) {
		buf[len] = '\0';
		char *save;
		for (char *line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *hash = strchr(line, '#');
			if (hash)
				*hash = '\0';
			file_has_lines |= line[strspn(line, " \t\r\f\v")] != '\0';
			if (table_n < GAICONF_MAX && parse_line(line, &table[table_n]))
				table_n++;
		}
	}
	if (table_n == 0) {
		memcpy(table, default_table, sizeof(default_table));
		table_n = sizeof(default_table) / sizeof(default_table[0]);
	}
	errno = saved;
}

/* The value of the longest matching prefix; 0 when none matches. */
static int precedence_of(const struct in6_addr *a)
{
	int best_bits = -1, value = 0;
	for (size_t i = 0; i < table_n; i++) {
		if (table[i].bits > best_bits && in_prefix(a, &table[i])) {
			best_bits = table[i].bits;
			value = table[i].value;
		}
	}
	return value;
}

static struct in6_addr as_v6(const struct sockaddr *sa)
{
	struct in6_addr a;
	if (sa->sa_family == AF_INET6)
		return ((const struct sockaddr_in6 *)sa)->sin6_addr;
	memset(&a, 0, sizeof(a));
	a.s6_addr[10] = a.s6_addr[11] = 0xff;
	memcpy(&a.s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return a;
}

int scio_gaiconf_has_lines(void)
{
	scio_once(&table_once, load_table);
	return file_has_lines;
}

int scio_system_first_family(const struct sockaddr *v6, const struct sockaddr *v4)
{
	scio_once(&table_once, load_table);
	struct in6_addr a6 = as_v6(v6), a4 = as_v6(v4);
	return precedence_of(&a4) > precedence_of(&a6) ? AF_INET : AF_INET6;
}

int scio_first_family(const struct addrinfo *res, int sorted)
{
	const struct sockaddr *v6 = NULL, *v4 = NULL;
	for (const struct addrinfo *ai = res; ai && !(v6 && v4); ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6 && !v6)
			v6 = ai->ai_addr;
		else if (ai->ai_family == AF_INET && !v4)
			v4 = ai->ai_addr;
		if (sorted && (v6 || v4))
			return v6 ? AF_INET6 : AF_INET;
	}
	if (!v6 || !v4)
		return v6 ? AF_INET6 : AF_INET;
	return scio_system_first_family(v6, v4);
}
