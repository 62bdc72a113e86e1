/*
 * gai_probe.c - getaddrinfo under the shim in the ways that leave state
 * behind, for tests/test_resolve_life.py.  Plain libc calls only: run it
 * with the shim preloaded.
 *
 *   gai_probe cancel NAME CANCEL_MS SETTLE_S
 *        a thread calls getaddrinfo(NAME) and is cancelled after
 *        CANCEL_MS; then three lookups of NAME from new threads, each
 *        bounded; then waits up to SETTLE_S for the thread count to come
 *        back to what it was before.
 *   gai_probe fork NAME CHILDREN [LOOKUPS [CHILD_NAME]]
 *        resolves NAME LOOKUPS times (default 1; this process is
 *        single-threaded until then), then forks CHILDREN children one
 *        after another, each resolving CHILD_NAME (default NAME) once;
 *        prints each child's time, result and number of addresses.
 *   gai_probe exit-after NAME MS
 *        resolves NAME, exits MS later.
 *   gai_probe threads NAME
 *        resolves NAME; the thread count before and right after.
 *   gai_probe dump NAME SERVICE FLAGS SOCKTYPE
 *        getaddrinfo(NAME, SERVICE or NULL for "-", AF_UNSPEC hints with
 *        FLAGS and SOCKTYPE, or no hints for FLAGS -1); prints the code
 *        with errno and h_errno as the call left them (4242 and 4343
 *        before it), then every field of every entry, a line each.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static int lookup_counting(const char *name, int *count)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(name, "7000", &hints, &res);
	*count = 0;
	for (struct addrinfo *ai = rc == 0 ? res : NULL; ai; ai = ai->ai_next)
		++*count;
	if (rc == 0)
		freeaddrinfo(res);
	return rc;
}

static int lookup(const char *name)
{
	int count;
	return lookup_counting(name, &count);
}

static void *lookup_thread(void *arg)
{
	return (void *)(long)lookup(arg);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Joins t within ms; 1 when it ended (its result in *ret). */
static int join_within(pthread_t t, long ms, void **ret)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, ret, &until) == 0;
}

static int cancel(const char *name, long cancel_ms, long settle_s)
{
	int before = count_threads();
	pthread_t t;
	void *ret;
	pthread_create(&t, NULL, lookup_thread, (void *)name);
	sleep_ms(cancel_ms);
	pthread_cancel(t);
	int ended = join_within(t, 5000, &ret);
	printf("cancelled ended=%d canceled=%d\n", ended, ended && ret == PTHREAD_CANCELED);
	for (int i = 0; i < 3; i++) {
		double t0 = now_ms();
		pthread_t u;
		pthread_create(&u, NULL, lookup_thread, (void *)name);
		int done = join_within(u, 30000, &ret);
		printf("lookup %d done=%d rc=%ld ms=%.0f\n", i, done,
		       done ? (long)ret : -1L, now_ms() - t0);
		if (!done)
			return 1;
	}
	double t0 = now_ms();
	int n = count_threads();
	while (n != before && now_ms() - t0 < settle_s * 1000.0) {
		sleep_ms(50);
		n = count_threads();
	}
	printf("threads before=%d after=%d settled_ms=%.0f\n", before, n, now_ms() - t0);
	return 0;
}

static int fork_children(const char *name, int children, int lookups,
			 const char *child_name)
{
	int rc = 0;
	for (int i = 0; i < lookups; i++)
		rc |= lookup(name);
	printf("parent rc=%d threads=%d\n", rc, count_threads());
	fflush(stdout);
	for (int i = 0; i < children; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			double t0 = now_ms();
			int count, crc = lookup_counting(child_name, &count);
			printf("child %d rc=%d ms=%.0f addrs=%d\n", i, crc, now_ms() - t0, count);
			fflush(stdout);
			_exit(0);
		}
		int status;
		waitpid(pid, &status, 0);
	}
	return 0;
}

/* Every field of every entry, the address as hex bytes. */
static int dump(const char *name, const char *service, int flags, int socktype)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_flags = flags,
				  .ai_socktype = socktype }, *res;
	errno = 4242;
	h_errno = 4343;
	int rc = getaddrinfo(name, strcmp(service, "-") ? service : NULL,
			     flags < 0 ? NULL : &hints, &res);
	int err = errno, herr = h_errno;
	if (rc != 0) {
		printf("rc=%d errno=%d h_errno=%d\n", rc, err, herr);
		return 0;
	}
	printf("rc=0 errno=%d h_errno=%d\n", err, herr);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		printf("flags=%#x family=%d socktype=%d protocol=%d addrlen=%u canon=%s addr=",
		       ai->ai_flags, ai->ai_family, ai->ai_socktype, ai->ai_protocol,
		       (unsigned)ai->ai_addrlen, ai->ai_canonname ? ai->ai_canonname : "-");
		for (socklen_t i = 0; i < ai->ai_addrlen; i++)
			printf("%02x", ((const unsigned char *)ai->ai_addr)[i]);
		printf("\n");
	}
	freeaddrinfo(res);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "cancel"))
		return cancel(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "fork"))
		return fork_children(argv[2], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 1,
				     argc == 6 ? argv[5] : argv[2]);
	if (argc == 4 && !strcmp(argv[1], "exit-after")) {
		int rc = lookup(argv[2]);
		sleep_ms(atol(argv[3]));
		printf("rc=%d\n", rc);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "threads")) {
		pthread_t t;  /* a sanitizer's own threads start with the first */
		pthread_create(&t, NULL, lookup_thread, "localhost");
		pthread_join(t, NULL);
		int before = count_threads(), rc = lookup(argv[2]);
		printf("rc=%d threads before=%d after=%d\n", rc, before, count_threads());
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "dump"))
		return dump(argv[2], argv[3], (int)strtol(argv[4], NULL, 0), atoi(argv[5]));
	fprintf(stderr, "usage: gai_probe cancel NAME CANCEL_MS SETTLE_S | "
		"fork NAME CHILDREN [LOOKUPS [CHILD_NAME]] | exit-after NAME MS | threads NAME | "
		"dump NAME SERVICE FLAGS SOCKTYPE\n");
	return 2;
}
