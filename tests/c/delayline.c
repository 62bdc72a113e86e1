/*
 * delayline.c - the test lab's delay line (this kernel has no netem).
 *
 *   delayline PEER_NETNS IFNAME
 *
 * Makes a tun device IFNAME in the namespace it runs in and another in
 * the namespace PEER_NETNS (a /run/netns path), and moves every IP packet
 * from one to the other, holding it for the delay set for its family and
 * direction.  Prints READY once both devices exist; then reads commands
 * on stdin, one a line, answering OK:
 *
 *   FAMILY OUT_US BACK_US   FAMILY 4 or 6: hold packets going to the
 *                           peer OUT_US microseconds, coming back BACK_US
 *
 * and exits at end of input.  Packets keep their order within a family
 * and direction; beyond MAX_HELD packets held, new ones are dropped, as a
 * full router queue would.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 20000
#define MTU_MAX 65536

struct pkt {
	struct pkt *next;
	int64_t due;
	size_t len;
	unsigned char data[];
};

struct queue {
	struct pkt *head, *tail;
};

/* dir 0: from here to the peer, 1: back; fam 0: IPv4, 1: IPv6 */
static struct queue q[2][2];
static int64_t hold_us[2][2];
static int tun[2];
static size_t held;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int open_tun(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static void enqueue(int dir, const unsigned char *data, size_t len, int64_t now)
{
	int fam = (data[0] >> 4) == 6;
	if (held >= MAX_HELD)
		return;
	struct pkt *p = malloc(sizeof(*p) + len);
	if (!p)
		return;
	struct queue *qu = &q[dir][fam];
	p->next = NULL;
	p->len = len;
	p->due = now + hold_us[dir][fam];
	if (qu->tail && p->due < qu->tail->due)
		p->due = qu->tail->due;  /* a shorter delay set: no overtaking */
	memcpy(p->data, data, len);
	if (qu->tail)
		qu->tail->next = p;
	else
		qu->head = p;
	qu->tail = p;
	held++;
}

/* Sends every packet due by now; returns the next due time (INT64_MAX:
 * none held). */
static int64_t release(int64_t now)
{
	int64_t next = INT64_MAX;
	for (int dir = 0; dir < 2; dir++) {
		for (int fam = 0; fam < 2; fam++) {
			struct queue *qu = &q[dir][fam];
			while (qu->head && qu->head->due <= now) {
				struct pkt *p = qu->head;
				qu->head = p->next;
				if (!qu->head)
					qu->tail = NULL;
				if (write(tun[1 - dir], p->data, p->len) < 0 && errno != EAGAIN && errno != EIO)
					perror("delayline: write");
				free(p);
				held--;
			}
			if (qu->head && qu->head->due < next)
				next = qu->head->due;
		}
	}
	return next;
}

static void drain(int dir, int64_t now)
{
	static unsigned char buf[MTU_MAX];
	for (;;) {
		ssize_t n = read(tun[dir], buf, sizeof(buf));
		if (n <= 0)
			return;
		int version = buf[0] >> 4;
		if (version == 4 || version == 6)
			enqueue(dir, buf, (size_t)n, now);
	}
}

/* One command line; 0, or -1 at end of input. */
static int command(void)
{
	char line[128];
	if (!fgets(line, sizeof(line), stdin))
		return -1;
	int fam;
	long long out, back;
	char extra;
	if (sscanf(line, "%d %lld %lld %c", &fam, &out, &back, &extra) != 3 ||
	    (fam != 4 && fam != 6) || out < 0 || back < 0 ||
	    out > 60000000 || back > 60000000) {
		fprintf(stderr, "delayline: bad command: %s", line);
		printf("ERROR\n");
	} else {
		hold_us[0][fam == 6] = out;
		hold_us[1][fam == 6] = back;
		printf("OK\n");
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: delayline PEER_NETNS IFNAME\n");
		return 2;
	}
	tun[0] = open_tun(argv[2]);
	if (tun[0] < 0 || enter_netns(argv[1]) < 0 || (tun[1] = open_tun(argv[2])) < 0) {
		perror("delayline: setting up the tun devices");
		return 1;
	}
	setvbuf(stdin, NULL, _IOLBF, 0);
	printf("READY\n");
	fflush(stdout);

	int64_t next = INT64_MAX;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = tun[0], .events = POLLIN },
			{ .fd = tun[1], .events = POLLIN },
			{ .fd = 0, .events = POLLIN },
		};
		struct timespec ts, *tsp = NULL;
		if (next != INT64_MAX) {
			int64_t left = next - now_us();
			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000;
			ts.tv_nsec = (left % 1000000) * 1000;
			tsp = &ts;
		}
		if (ppoll(pfd, 3, tsp, NULL) < 0 && errno != EINTR) {
			perror("delayline: ppoll");
			return 1;
		}
		int64_t now = now_us();
		for (int dir = 0; dir < 2; dir++)
			if (pfd[dir].revents & POLLIN)
				drain(dir, now);
		if ((pfd[2].revents & (POLLIN | POLLHUP)) && command() < 0)
			return 0;
		next = release(now_us());
	}
}
