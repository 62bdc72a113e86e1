/*
 * test_stream.c - scio_getline / scio_putline over real socketpairs and
 * pipes: line endings, long lines, EOF mid-line, short writes, EINTR.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "scio.h"

static int sp[2];
static struct scio_stream *in;

static void open_pair(void)
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	in = scio_stream_open(sp[0]);
	CHECK(in != NULL);
}

static void send_str(const char *s)
{
	CHECK(write(sp[1], s, strlen(s)) == (ssize_t)strlen(s));
}

static void close_pair(void)
{
	scio_stream_close(in);
	close(sp[1]);
}

static void crlf_and_lf(void)
{
	char buf[64];
	open_pair();
	send_str("220 hello\r\nplain\n\r\n\nlast");
	close(sp[1]);
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 9);
	CHECK(strcmp(buf, "220 hello") == 0);
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 5);
	CHECK(strcmp(buf, "plain") == 0);
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 0);   /* "\r\n": empty */
	CHECK(strcmp(buf, "") == 0);
	CHECK(!scio_stream_eof(in));
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 0);   /* "\n": empty */
	CHECK(!scio_stream_eof(in));
	/* EOF mid-line: EPROTO, partial line kept */
	errno = 0;
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EPROTO);
	CHECK(strcmp(buf, "last") == 0);
	/* then plain EOF */
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 0);
	CHECK(scio_stream_eof(in));
	scio_stream_close(in);
}

static void line_longer_than_buffer(void)
{
	char buf[8];
	open_pair();
	send_str("0123456789abcdef\r\nnext\r\n");
	errno = 0;
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK(strcmp(buf, "0123456") == 0);
	/* the rest of the long line is skipped */
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 4);
	CHECK(strcmp(buf, "next") == 0);
	close_pair();
}

static void line_that_exactly_fits(void)
{
	char buf[5];
	open_pair();
	/* 4 bytes + CRLF fits a 5-byte buffer, split across reads */
	send_str("abcd\r");
	CHECK(1);
	send_str("\nabcde\n");
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 4);
	CHECK(strcmp(buf, "abcd") == 0);
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EMSGSIZE);
	close_pair();
}

/* A peer that sends an endless line: getline gives up when the buffer is
 * full instead of reading forever. */
static void endless_line_fails_fast(void)
{
	char buf[16], junk[4096];
	open_pair();
	memset(junk, 'x', sizeof(junk));
	CHECK(write(sp[1], junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EMSGSIZE);
	close_pair();
}

static void bad_arguments(void)
{
	char buf[4];
	errno = 0;
	CHECK(scio_stream_open(-1) == NULL);
	CHECK_EQ(errno, EBADF);
	int fd = dup(0);
	close(fd);
	CHECK(scio_stream_open(fd) == NULL);
	CHECK_EQ(errno, EBADF);
	open_pair();
	CHECK_EQ(scio_getline(in, buf, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(scio_getline(NULL, buf, 4), -1);
	CHECK_EQ(scio_putline(in, NULL), -1);
	CHECK_EQ(scio_putline(in, "two\r\nlines"), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(scio_stream_close(NULL), -1);
	close_pair();
}

static void *reader(void *arg)
{
	size_t *total = arg;
	char buf[8192];
	ssize_t n;
	usleep(50000); /* let the writer fill the socket buffer first */
	while ((n = read(sp[1], buf, sizeof(buf))) > 0)
		*total += (size_t)n;
	return NULL;
}

/* A line far larger than the socket buffer: putline must loop over
 * short writes and send everything plus CRLF. */
static void putline_handles_short_writes(void)
{
	size_t len = 1 << 20, total = 0;
	char *big = malloc(len + 1);
	pthread_t t;
	int small = 4096;

	open_pair();
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	memset(big, 'y', len);
	big[len] = '\0';
	pthread_create(&t, NULL, reader, &total);
	CHECK_EQ(scio_putline(in, big), 0);
	shutdown(sp[0], SHUT_WR);
	pthread_join(t, NULL);
	CHECK_EQ(total, len + 2);
	close_pair();
	free(big);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal without SA_RESTART interrupts read(); getline retries. */
static void getline_survives_eintr(void)
{
	char buf[32];
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL);
	open_pair();
	pid_t pid = fork();
	if (pid == 0) {
		usleep(300000);
		if (write(sp[1], "late\r\n", 6) != 6)
			_exit(1);
		_exit(0);
	}
	ualarm(100000, 0);
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 4);
	CHECK(strcmp(buf, "late") == 0);
	close_pair();
	signal(SIGALRM, SIG_DFL);
}

/* Writing to a closed peer fails with EPIPE instead of killing us. */
static void putline_to_closed_peer_is_epipe(void)
{
	open_pair();
	close(sp[1]);
	errno = 0;
	CHECK_EQ(scio_putline(in, "hello"), -1);
	CHECK_EQ(errno, EPIPE);
	scio_stream_close(in);
}

/* A read timeout in the middle of a line loses nothing: the next call
 * returns the whole line. */
static void timeout_mid_line_keeps_the_line(void)
{
	char buf[128];
	struct timeval tv = { 0, 100000 };
	open_pair();
	setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	send_str("250-hello wo");
	errno = 0;
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), -1);
	CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
	send_str("rld\r\n");
	CHECK_EQ(scio_getline(in, buf, sizeof(buf)), 15);
	CHECK(strcmp(buf, "250-hello world") == 0);
	close_pair();
}

/* Lines longer than the internal buffer fit a big enough caller buffer. */
static void long_line_into_big_buffer(void)
{
	size_t len = 20000;
	char *line = malloc(len + 3), *buf = malloc(len + 1);
	memset(line, 'z', len);
	memcpy(line + len, "\r\n", 3);
	open_pair();
	pid_t pid = fork();
	if (pid == 0) {
		ssize_t w = write(sp[1], line, len + 2);
		_exit(w == (ssize_t)(len + 2) ? 0 : 1);
	}
	CHECK_EQ(scio_getline(in, buf, len + 1), (long long)len);
	CHECK(buf[len] == '\0' && buf[len - 1] == 'z');
	waitpid(pid, NULL, 0);
	close_pair();
	free(line);
	free(buf);
}

static void works_on_pipes(void)
{
	int p[2];
	char buf[16];
	CHECK(pipe(p) == 0);
	struct scio_stream *w = scio_stream_open(p[1]);
	struct scio_stream *r = scio_stream_open(p[0]);
	CHECK_EQ(scio_putline(w, "via pipe"), 0);
	scio_stream_close(w);
	CHECK_EQ(scio_getline(r, buf, sizeof(buf)), 8);
	CHECK(strcmp(buf, "via pipe") == 0);
	scio_stream_close(r);
}

int main(void)
{
	RUN(crlf_and_lf);
	RUN(line_longer_than_buffer);
	RUN(line_that_exactly_fits);
	RUN(endless_line_fails_fast);
	RUN(bad_arguments);
	RUN(putline_handles_short_writes);
	RUN(getline_survives_eintr);
	RUN(putline_to_closed_peer_is_epipe);
	RUN(timeout_mid_line_keeps_the_line);
	RUN(long_line_into_big_buffer);
	RUN(works_on_pipes);
	return check_exit();
}
