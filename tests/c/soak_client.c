/*
 * soak_client.c - an ordinary client for the soak test: THREADS threads
 * resolve NAME and connect (blocking, SO_SNDTIMEO 2 s) to PORT for
 * SECONDS, read the greeting and check it came from the address the
 * socket is connected to.  Prints, as key=value lines:
 *
 *   connects=N ok=N wrong_server=N lost=N fds_start=N fds_end=N rss_start_kb=N rss_end_kb=N
 *
 * wrong_server: the greeting names another address than the socket's
 * peer; lost: connected, but no greeting came (a fault change cut the
 * connection).
 *   errno name=ECONNREFUSED count=N
 *   latency p50_ms=N p99_ms=N
 *
 * With SOAK_SAMPLES=FILE set, every connect is also written there as
 * "start_ms latency_ms result" (CLOCK_MONOTONIC; result ok, wrong or an
 * errno name), so that the soak driver can tell which fault it met.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

#define MAX_SAMPLES 200000

static const char *name, *port;
static double until;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long connects, ok, wrong, lost;
static long errs[256];
static double *lat;
static long nlat;
static struct sample { double start, ms; int result; } *samples;  /* result: -1 ok, -2 wrong, -3 lost, errno */
static long nsamples;

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* 1 when the greeting names the address the socket is connected to. */
/* 1: the greeting came from the peer; 0: from another server; -1: no
 * greeting (connection cut or timed out). */
static int right_server(int fd)
{
	char buf[200] = "", peer[64] = "";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;  /* ENOTCONN: reset already */
	const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6))
		inet_ntop(AF_INET, &a6->s6_addr[12], peer, sizeof(peer));  /* an IPv4 win */
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, a6, peer, sizeof(peer));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, peer, sizeof(peer));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char want[96];
	snprintf(want, sizeof(want), "hello from %s ", peer);
	return strncmp(buf, want, strlen(want)) == 0;
}

static void one(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	double t0 = now_ms();
	int err = 0, fd = -1, good = 0;
	if (getaddrinfo(name, port, &hints, &res) != 0)
		return;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (!err)
			err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		good = right_server(fd);
		close(fd);
	}
	double ms = now_ms() - t0;
	pthread_mutex_lock(&lock);
	connects++;
	if (fd >= 0 && good == 1)
		ok++;
	else if (fd >= 0 && good == 0)
		wrong++;
	else if (fd >= 0)
		lost++;
	else
		errs[err & 255]++;
	if (nlat < MAX_SAMPLES)
		lat[nlat++] = ms;
	if (nsamples < MAX_SAMPLES)
		samples[nsamples++] = (struct sample){ t0, ms,
			fd >= 0 ? (good == 1 ? -1 : good == 0 ? -2 : -3) : err };
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	(void)arg;
	while (now_ms() < until)
		one();
	return NULL;
}

static void touch(void *p, size_t len)
{
	volatile char *c = p;
	for (size_t i = 0; i < len; i += 4096)
		c[i] = 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: soak_client NAME PORT THREADS SECONDS\n");
		return 2;
	}
	name = argv[1];
	port = argv[2];
	int threads = atoi(argv[3]);
	if (threads < 1 || threads > 64)
		threads = 4;
	lat = calloc(MAX_SAMPLES, sizeof(*lat));
	samples = calloc(MAX_SAMPLES, sizeof(*samples));
	if (!lat || !samples)
		return 1;
	/* resident from the start: the RSS figures are about scio, not
	 * about this program's own record filling up */
	touch(lat, MAX_SAMPLES * sizeof(*lat));
	touch(samples, MAX_SAMPLES * sizeof(*samples));
	int fds_start = count_fds();
	long rss_start = rss_kb();
	until = now_ms() + atof(argv[4]) * 1000;
	pthread_t t[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("connects=%ld ok=%ld wrong_server=%ld lost=%ld fds_start=%d fds_end=%d "
	       "rss_start_kb=%ld rss_end_kb=%ld\n", connects, ok, wrong, lost, fds_start,
	       count_fds(), rss_start, rss_kb());
	for (int e = 0; e < 256; e++)
		if (errs[e])
			printf("errno name=%s count=%ld\n", strerrorname_np(e) ?
			       strerrorname_np(e) : "?", errs[e]);
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp);
	if (nlat)
		printf("latency p50_ms=%.1f p99_ms=%.1f\n", lat[nlat / 2],
		       lat[nlat * 99 / 100]);
	const char *path = getenv("SOAK_SAMPLES");
	FILE *f = path ? fopen(path, "we") : NULL;
	for (long i = 0; f && i < nsamples; i++) {
		const struct sample *x = &samples[i];
		fprintf(f, "%.1f %.1f %s\n", x->start, x->ms,
			x->result == -1 ? "ok" : x->result == -2 ? "wrong" :
			x->result == -3 ? "lost" :
			strerrorname_np(x->result) ? strerrorname_np(x->result) : "?");
	}
	if (f)
		fclose(f);
	free(samples);
	free(lat);
	return 0;
}
