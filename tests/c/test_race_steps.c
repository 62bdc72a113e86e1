/*
 * test_race_steps.c - lib/race.c's race as steps (scio_race_begin, _step,
 * _feed, _end), driven the way the shim's waits drive it, over loopback:
 * a refused address, a listener that answers, and one whose full accept
 * queue drops every SYN (an attempt that stays in flight).
 */
#include <errno.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "engine.h"
#include "race.h"

static struct sockaddr_storage loopback(int port)
{
	struct sockaddr_storage ss = { .ss_family = AF_INET };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_port = htons((unsigned short)port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ss;
}

static int port_of(int fd)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	return ntohs(in.sin_port);
}

static int listener(int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage a = loopback(0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) == 0);
	CHECK(listen(fd, backlog) == 0);
	return fd;
}

/* A listener whose accept queue is full: SYNs to it are dropped.  *filler
 * is the connection that fills it. */
static int silent_listener(int *filler)
{
	int fd = listener(0);
	struct sockaddr_storage a = loopback(port_of(fd));
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(*filler, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) == 0);
	return fd;
}

/* A port nothing listens on. */
static int closed_port(void)
{
	int fd = listener(1);
	int port = port_of(fd);
	close(fd);
	return port;
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* The shim's way: one poll per slice of at most slice_ms, whatever the
 * engine's timer; returns scio_race_end's result. */
static int drive(struct scio_race_io *io, int slice_ms, int *slices)
{
	int64_t until;
	*slices = 0;
	while (!scio_race_step(io, &until)) {
		int ms = scio_poll_timeout(until, scio_now_us());
		if (ms < 0 || ms > slice_ms)
			ms = slice_ms;
		CHECK(poll(io->pfd, io->npfd, ms) >= 0);
		scio_race_feed(io, scio_now_us());
		(*slices)++;
	}
	return scio_race_end(io, 0);
}

static void refused_then_answered(void)
{
	int good = listener(8);
	struct sockaddr_storage cand[2] = { loopback(closed_port()), loopback(port_of(good)) };
	struct scio_report rep;
	struct scio_race_in in = { .pub = { .addrs = cand, .naddrs = 2,
		.connect_delay_ms = 250, .timeout_ms = 2000, .report = &rep }, .own_fd = -1 };
	struct scio_race_io io;
	int before = open_fds(), slices;
	CHECK_EQ(scio_race_begin(&io, &in, -1, NULL), 0);
	int64_t t0 = scio_now_us();
	int fd = drive(&io, 1000, &slices);
	CHECK(fd >= 0);
	/* the refusal starts the next attempt at once, not after the delay */
	CHECK(scio_now_us() - t0 < 200000);
	CHECK_EQ(rep.count, 2);
	CHECK_EQ(rep.winner, 1);
	CHECK_EQ(rep.attempt[0].error, ECONNREFUSED);
	close(fd);
	CHECK_EQ(open_fds(), before);
	close(good);
}

/* Waits of 30 ms, much shorter than the delay: the delay still runs from
 * the race's start, and the second address starts at about 250 ms. */
static void slices_keep_the_delay(void)
{
	int filler, silent = silent_listener(&filler), good = listener(8);
	struct sockaddr_storage cand[2] = { loopback(port_of(silent)), loopback(port_of(good)) };
	struct scio_report rep;
	struct scio_race_in in = { .pub = { .addrs = cand, .naddrs = 2,
		.connect_delay_ms = 250, .timeout_ms = -1, .report = &rep }, .own_fd = -1 };
	struct scio_race_io io;
	int slices;
	CHECK_EQ(scio_race_begin(&io, &in, -1, NULL), 0);
	int fd = drive(&io, 30, &slices);
	CHECK(fd >= 0);
	CHECK(slices >= 5);
	CHECK_EQ(rep.winner, 1);
	CHECK(rep.attempt[1].start_us >= 250000 && rep.attempt[1].start_us < 400000);
	CHECK_EQ(rep.attempt[0].end_us, -1);  /* abandoned in flight */
	close(fd);
	close(good);
	close(silent);
	close(filler);
}

/* A driver that gives up undecided: every attempt socket is closed. */
static void stopped_race_leaves_nothing(void)
{
	int f1, f2, s1 = silent_listener(&f1), s2 = silent_listener(&f2);
	struct sockaddr_storage cand[2] = { loopback(port_of(s1)), loopback(port_of(s2)) };
	struct scio_report rep;
	struct scio_race_in in = { .pub = { .addrs = cand, .naddrs = 2,
		.connect_delay_ms = 10, .timeout_ms = -1, .report = &rep }, .own_fd = -1 };
	struct scio_race_io io;
	int before = open_fds();
	int64_t until;
	CHECK_EQ(scio_race_begin(&io, &in, -1, NULL), 0);
	for (int i = 0; i < 20 && !scio_race_step(&io, &until) && io.npfd < 2; i++) {
		poll(io.pfd, io.npfd, scio_poll_timeout(until, scio_now_us()));
		scio_race_feed(&io, scio_now_us());
	}
	CHECK_EQ(io.npfd, 2);
	CHECK_EQ(open_fds(), before + 2);
	errno = 0;
	CHECK_EQ(scio_race_end(&io, ECANCELED), -1);
	CHECK_EQ(errno, ECANCELED);
	CHECK_EQ(open_fds(), before);
	CHECK_EQ(rep.count, 2);
	close(s1);
	close(s2);
	close(f1);
	close(f2);
}

int main(void)
{
	RUN(refused_then_answered);
	RUN(slices_keep_the_delay);
	RUN(stopped_race_leaves_nothing);
	return check_exit();
}
