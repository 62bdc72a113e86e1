/*
 * cancel_probe.c - what a raced blocking connect leaves behind when the
 * program leaves it abnormally.
 *
 *   cancel_probe cancel HOST PORT MS ROUNDS
 *       a thread connects (blocking) to HOST's first address; the main
 *       thread cancels it MS ms later.  The thread's own cleanup handler
 *       reads its socket's SO_SNDTIMEO and O_NONBLOCK, then closes it.
 *       Prints "round ..." per round and "fds before=N after=N".
 *   cancel_probe longjmp HOST PORT MS
 *       a SIGALRM handler leaves connect() with siglongjmp MS ms in; then
 *       prints the socket's SO_SNDTIMEO and what a blocking send does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct addrinfo *res;

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3;  /* ".", ".." and the directory's own fd */
}

static long sndtimeo_ms(int fd)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) < 0)
		return -1;
	return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct conn {
	int fd;
	long sndtimeo;
	int nonblock;
	int cleaned;
};

static void on_cancel(void *arg)
{
	struct conn *c = arg;
	c->sndtimeo = sndtimeo_ms(c->fd);
	c->nonblock = (fcntl(c->fd, F_GETFL) & O_NONBLOCK) != 0;
	close(c->fd);
	c->cleaned = 1;
}

static void *connector(void *arg)
{
	struct conn *c = arg;
	pthread_cleanup_push(on_cancel, c);
	connect(c->fd, res->ai_addr, res->ai_addrlen);
	pthread_cleanup_pop(0);
	close(c->fd);
	return NULL;
}

static int cancel_rounds(int ms, int rounds)
{
	int before = count_fds();
	for (int i = 0; i < rounds; i++) {
		struct conn c = { .fd = socket(res->ai_family, SOCK_STREAM, 0) };
		pthread_t t;
		pthread_create(&t, NULL, connector, &c);
		usleep((useconds_t)ms * 1000);
		pthread_cancel(t);
		void *ret;
		pthread_join(t, &ret);
		printf("round %d cancelled=%d cleaned=%d sndtimeo=%ld nonblock=%d\n",
		       i, ret == PTHREAD_CANCELED, c.cleaned, c.sndtimeo, c.nonblock);
	}
	printf("fds before=%d after=%d\n", before, count_fds());
	return 0;
}

static sigjmp_buf jump;

static void jump_out(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

static int longjmp_out(int ms)
{
	struct sigaction sa = { .sa_handler = jump_out };
	sigaction(SIGALRM, &sa, NULL);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	volatile int jumped = 0;
	if (sigsetjmp(jump, 1) == 0) {
		ualarm((useconds_t)ms * 1000, 0);
		connect(fd, res->ai_addr, res->ai_addrlen);
		ualarm(0, 0);
	} else {
		jumped = 1;
	}
	printf("jumped=%d sndtimeo=%ld nonblock=%d\n", jumped, sndtimeo_ms(fd),
	       (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: cancel_probe cancel|longjmp HOST PORT MS [ROUNDS]\n");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(argv[2], argv[3], &hints, &res);
	if (rc) {
		printf("gai error=%s\n", gai_strerror(rc));
		return 3;
	}
	int ms = atoi(argv[4]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "cancel") && argc == 6)
		return cancel_rounds(ms, atoi(argv[5]));
	if (!strcmp(argv[1], "longjmp"))
		return longjmp_out(ms);
	return 2;
}
