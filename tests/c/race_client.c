/*
 * race_client.c - drives scio_connect / scio_connect_serial for the
 * network tests and prints what happened, one key=value record per line:
 *
 *   attempt addr=2001:db8::10 family=6 start_ms=0.0 end_ms=250.3 error=ETIMEDOUT won=0
 *   result ok family=4 peer=192.0.2.10 ms=251.2 blocking=1 cloexec=1 line=hello ...
 *   result fail error=ECONNREFUSED gai=0 ms=1.2
 *
 * Usage: race_client [-s|-r] [-d delay_ms] [-t timeout_ms] [-4|-6] [-n count]
 *                    [-P ipv4|ipv6] HOST PORT
 * -r resolves HOST itself and races its addresses, in getaddrinfo's
 * order, with the lower-level scio_race_connect.
 * -n repeats the connect (and close) count times and then reports the fd
 * count before and after: "fds before=N after=M".
 * -H fills the fd table up to 1100 first, so the race works above
 * FD_SETSIZE; -L N lowers RLIMIT_NOFILE so that at most N more fds can be
 * opened (EMFILE after that).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

#include "scio.h"

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void host_of(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	const void *a = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	inet_ntop(ss->ss_family, a, buf, (socklen_t)n);
}

static void print_report(const struct scio_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct scio_attempt *a = &r->attempt[i];
		char host[INET6_ADDRSTRLEN];
		host_of(&a->addr, host, sizeof(host));
		printf("attempt addr=%s family=%d start_ms=%.1f end_ms=%.1f error=%s won=%d\n",
		       host, a->addr.ss_family == AF_INET6 ? 6 : 4,
		       a->start_us / 1e3, a->end_us < 0 ? -1.0 : a->end_us / 1e3,
		       a->error ? errname(a->error) : "0", a->won);
	}
}

static void print_success(int fd, double ms)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	char host[INET6_ADDRSTRLEN] = "?", line[256] = "";

	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		host_of(&peer, host, sizeof(host));
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	struct scio_stream *s = scio_stream_open(fd);
	if (s && scio_getline(s, line, sizeof(line)) < 0)
		snprintf(line, sizeof(line), "(read failed: %s)", errname(errno));
	printf("result ok family=%d peer=%s ms=%.1f blocking=%d cloexec=%d line=%s\n",
	       peer.ss_family == AF_INET6 ? 6 : 4, host, ms,
	       !(fl & O_NONBLOCK), !!(fdfl & FD_CLOEXEC), line);
	if (s)
		scio_stream_close(s);
	else
		close(fd);
}

static void use_high_fds(void)
{
	struct rlimit rl = { 4096, 4096 };
	setrlimit(RLIMIT_NOFILE, &rl);
	for (;;) {
		int fd = dup(2);
		if (fd < 0 || fd >= 1100)
			break;
	}
}

static void limit_fds(int extra)
{
	int fd = dup(2);
	close(fd);
	struct rlimit rl = { (rlim_t)(fd + extra), (rlim_t)(fd + extra) };
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int parse_int(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < -1 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

/* -r: the lower-level race over getaddrinfo's own answer */
static int race_connect(const char *host, const char *port,
			const struct scio_options *o, struct scio_report *rep)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	struct sockaddr_storage addrs[16];
	size_t n = 0;

	if (getaddrinfo(host, port, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (struct addrinfo *ai = res; ai && n < 16; ai = ai->ai_next)
		memcpy(&addrs[n++], ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	struct scio_race r = { .addrs = addrs, .naddrs = n,
			       .connect_delay_ms = o->connect_delay_ms,
			       .timeout_ms = o->timeout_ms, .report = rep };
	int fd = scio_race_connect(&r);
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct scio_options o;
	struct scio_report rep;
	int serial = 0, lower = 0, count = 0, opt, extra = -1;

	scio_options_init(&o);
	o.report = &rep;
	while ((opt = getopt(argc, argv, "srd:t:46n:P:HL:")) != -1) {
		switch (opt) {
		case 's': serial = 1; break;
		case 'r': lower = 1; break;
		case 'd': if (parse_int(optarg, &o.connect_delay_ms)) goto usage; break;
		case 't': if (parse_int(optarg, &o.timeout_ms)) goto usage; break;
		case '4': o.family = AF_INET; break;
		case '6': o.family = AF_INET6; break;
		case 'n': if (parse_int(optarg, &count)) goto usage; break;
		case 'H': use_high_fds(); break;
		case 'L': if (parse_int(optarg, &extra)) goto usage; break;
		case 'P': o.prefer_family = strcmp(optarg, "ipv4") ? AF_INET6 : AF_INET; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	const char *host = argv[optind], *port = argv[optind + 1];
	if (extra >= 0)
		limit_fds(extra);

	if (count > 0) {
		int before = count_fds(), failures = 0;
		for (int i = 0; i < count; i++) {
			int fd = serial ? scio_connect_serial(host, port, &o)
					: scio_connect(host, port, &o);
			if (fd < 0)
				failures++;
			else
				close(fd);
		}
		printf("fds before=%d after=%d failures=%d\n", before,
		       count_fds(), failures);
		return 0;
	}

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int fd = lower ? race_connect(host, port, &o, &rep)
		: serial ? scio_connect_serial(host, port, &o)
			 : scio_connect(host, port, &o);
	int err = errno;
	double ms = ms_since(&t0);
	int gai = scio_last_gai_error();
	if (gai == 0)
		print_report(&rep);
	if (fd >= 0) {
		print_success(fd, ms);
		return 0;
	}
	printf("result fail error=%s gai=%d gai_msg=%s ms=%.1f\n", errname(err),
	       gai, gai ? gai_strerror(gai) : "-", ms);
	return 1;
usage:
	fprintf(stderr, "usage: race_client [-s|-r] [-d ms] [-t ms] [-4|-6] [-n count] [-P ipv4|ipv6] [-H] [-L n] HOST PORT\n");
	return 2;
}
