/*
 * test_epolltab.c - the shim's record of the program's epoll
 * registrations (shim/core/epolltab.c) with real epoll sets and sockets:
 * a socket kept out of its set while its race is undecided goes back with
 * the program's events and data, including what the program changed
 * meanwhile, and the program's own epoll_ctl calls get the kernel's
 * answers throughout.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "epolltab.h"
#include "live.h"

static int writable_socket(int *peer)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	*peer = sv[1];
	return sv[0];
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return scio_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int ready(int ep, uint64_t *data)
{
	struct epoll_event ev[4];
	int n = epoll_wait(ep, ev, 4, 0);
	if (n > 0 && data)
		*data = ev[0].data.u64;
	return n;
}

static void back_with_the_programs_registration(void)
{
	int peer, fd = writable_socket(&peer), ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK_EQ(add(ep, fd, EPOLLOUT | EPOLLET, 0x5c10), 0);
	CHECK(scio_epoll_watches(ep, fd));
	CHECK_EQ(scio_epoll_hide(ep, fd), 0);
	CHECK(scio_epoll_hidden(ep, fd));
	CHECK_EQ(ready(ep, NULL), 0);  /* writable, but out of the set */
	/* the program changes its registration meanwhile */
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLONESHOT, .data.u64 = 0xbeef };
	CHECK_EQ(scio_epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev), 0);
	errno = 0;
	CHECK_EQ(add(ep, fd, EPOLLOUT, 1), -1);
	CHECK_EQ(errno, EEXIST);
	scio_epoll_unhide(ep, fd);
	CHECK(!scio_epoll_hidden(ep, fd));
	uint64_t data = 0;
	CHECK_EQ(ready(ep, &data), 1);
	CHECK_EQ(data, 0xbeef);
	CHECK_EQ(ready(ep, NULL), 0);  /* one-shot, as registered */
	close(ep);
	close(fd);
	close(peer);
}

static void del_while_hidden(void)
{
	int peer, fd = writable_socket(&peer), ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK_EQ(add(ep, fd, EPOLLOUT, 7), 0);
	CHECK_EQ(scio_epoll_hide(ep, fd), 0);
	CHECK_EQ(scio_epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0);
	CHECK(!scio_epoll_watches(ep, fd));
	scio_epoll_unhide(ep, fd);  /* the race ends: nothing goes back */
	CHECK_EQ(ready(ep, NULL), 0);
	errno = 0;
	CHECK_EQ(scio_epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(add(ep, fd, EPOLLOUT, 8), 0);
	CHECK_EQ(ready(ep, NULL), 1);
	close(ep);
	close(fd);
	close(peer);
}

static void closed_while_hidden_is_forgotten(void)
{
	int peer, fd = writable_socket(&peer), ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK_EQ(add(ep, fd, EPOLLOUT, 9), 0);
	CHECK_EQ(scio_epoll_hide(ep, fd), 0);
	close(fd);
	close(peer);
	scio_epoll_forget(ep, fd);
	int again = writable_socket(&peer);
	CHECK_EQ(again, fd);  /* the lowest free number */
	CHECK_EQ(add(ep, again, EPOLLOUT, 10), 0);
	CHECK_EQ(ready(ep, NULL), 1);
	close(ep);
	close(again);
	close(peer);
}

static void left_alone(void)
{
	int peer, fd = writable_socket(&peer);
	int ep1 = epoll_create1(EPOLL_CLOEXEC), ep2 = epoll_create1(EPOLL_CLOEXEC);
	CHECK_EQ(add(ep1, fd, EPOLLIN, 1), 0);
	CHECK(!scio_epoll_watches(ep1, fd));  /* not waiting for its connect */
	CHECK_EQ(add(ep2, fd, EPOLLOUT, 2), 0);
	CHECK(!scio_epoll_watches(ep2, fd));  /* in two sets */
	CHECK(!scio_epoll_watches(ep1, fd));
	close(ep1);
	close(ep2);
	close(fd);
	close(peer);
}

int main(void)
{
	RUN(back_with_the_programs_registration);
	RUN(del_while_hidden);
	RUN(closed_while_hidden_is_forgotten);
	RUN(left_alone);
	return check_exit();
}
