/*
 * telar_load - connections per second against a telar-like server.
 *
 *     telar_load ADDR6 ADDR4 PORT THREADS SECONDS
 *
 * Each of THREADS threads, for SECONDS: connect (blocking), read until
 * EOF, check the answer starts with "You connected from", close; the
 * threads alternate between the IPv6 and the IPv4 address (thread i starts
 * with family i % 2).  Prints
 *
 *     connections=N errors=E per_second=X
 *
 * where N counts answered connections and X is N over the measured time.
 * A connection that fails, times out (5 s, SO_RCVTIMEO) or gets another
 * answer is an error.  Exit status 0 when the run could be made at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXPECT "You connected from"

struct target {
	struct sockaddr_storage addr;
	socklen_t len;
};

struct shared {
	struct target targets[2]; /* [0] IPv6, [1] IPv4 */
	double stop_at;
};

struct worker {
	pthread_t tid;
	int index;
	const struct shared *sh;
	unsigned long ok, errors;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_target(const char *text, unsigned port, struct target *t)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
	struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;

	memset(t, 0, sizeof(*t));
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		t->len = sizeof(*in6);
		return 0;
	}
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		t->len = sizeof(*in);
		return 0;
	}
	return -1;
}

/* One connection: 1 when answered as expected, 0 otherwise. */
static int one_connection(const struct target *t)
{
	char buf[256];
	size_t got = 0;
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = 0;

	if (fd == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&t->addr, t->len) == 0) {
		for (;;) {
			ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

			if (n > 0 && got + (size_t)n < sizeof(buf) - 1) {
				got += (size_t)n;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			ok = n == 0 && got >= strlen(EXPECT) &&
			     memcmp(buf, EXPECT, strlen(EXPECT)) == 0;
			break;
		}
	}
	close(fd);
	return ok;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long i = (unsigned long)w->index;

	while (now_s() < w->sh->stop_at) {
		if (one_connection(&w->sh->targets[i++ % 2]))
			w->ok++;
		else
			w->errors++;
	}
	return NULL;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(text, &end, 10);
	return (text[0] < '0' || text[0] > '9' || *end || errno || *v == 0 ||
		*v > max) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct shared sh;
	struct worker *workers;
	unsigned long port, nthreads, seconds, ok = 0, errors = 0;
	double started, elapsed;

	if (argc != 6 || parse_uint(argv[3], 65535, &port) == -1 ||
	    parse_uint(argv[4], 1024, &nthreads) == -1 ||
	    parse_uint(argv[5], 3600, &seconds) == -1 ||
	    parse_target(argv[1], (unsigned)port, &sh.targets[0]) == -1 ||
	    parse_target(argv[2], (unsigned)port, &sh.targets[1]) == -1) {
		fprintf(stderr, "usage: telar_load ADDR6 ADDR4 PORT THREADS SECONDS\n");
		return 2;
	}
	workers = calloc(nthreads, sizeof(*workers));
	if (!workers) {
		perror("telar_load: calloc");
		return 1;
	}
	started = now_s();
	sh.stop_at = started + (double)seconds;
	for (unsigned long i = 0; i < nthreads; i++) {
		workers[i].index = (int)i;
		workers[i].sh = &sh;
		errno = pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
		if (errno) {
			perror("telar_load: pthread_create");
			return 1;
		}
	}
	for (unsigned long i = 0; i < nthreads; i++) {
		pthread_join(workers[i].tid, NULL);
		ok += workers[i].ok;
		errors += workers[i].errors;
	}
	elapsed = now_s() - started;
	printf("connections=%lu errors=%lu per_second=%.1f\n", ok, errors,
	       elapsed > 0 ? (double)ok / elapsed : 0.0);
	free(workers);
	return 0;
}
