/*
 * bench_gai_connect.c - getaddrinfo(NAME, PORT) and the classic connect
 * loop, COUNT times; prints wall and CPU time (all threads) per lookup,
 * the number of threads right after the last getaddrinfo returned, and
 * the resident set size at the end (all of it, and the private part).
 */
#include <dirent.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double wall_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* A line of /proc/self/status, in KiB: VmRSS (all resident pages) or
 * RssAnon (the private ones, not the shared pages of files mapped). */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && sscanf(line + n, ": %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* One lookup and connect; -1 on failure.  *threads: the count after the
 * lookup, when asked. */
static int once(const char *name, const char *port, int *threads)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	if (getaddrinfo(name, port, &hints, &res) != 0)
		return -1;
	if (threads)
		*threads = count_threads();
	int fd = -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_gai_connect NAME PORT COUNT\n");
		return 2;
	}
	long count = strtol(argv[3], NULL, 10), failures = 0;
	int threads = 0;
	double w0 = wall_us(), c0 = cpu_us();
	for (long i = 0; i < count; i++)
		failures += once(argv[1], argv[2], i == count - 1 ? &threads : NULL) < 0;
	double w = wall_us() - w0, c = cpu_us() - c0;
	printf("wall_us=%.2f cpu_us=%.2f threads_after=%d rss_kib=%ld anon_kib=%ld "
	       "failures=%ld\n", w / (double)count, c / (double)count, threads,
	       status_kib("VmRSS"), status_kib("RssAnon"), failures);
	return failures ? 1 : 0;
}
