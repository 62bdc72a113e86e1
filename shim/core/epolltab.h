/*
 * epolltab.h - what the program registered in its epoll sets, per fd
 * (epoll_ctl's events and data), so that a socket kept out of a set while
 * its race is undecided goes back in as the program put it.  Recording
 * costs a few stores per epoll_ctl and no system call.  One set per fd is
 * followed; an fd registered in two sets is left alone (its races run
 * only inside poll and select).
 */
#ifndef SCIO_SHIM_EPOLLTAB_H
#define SCIO_SHIM_EPOLLTAB_H

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

/* libc's epoll calls (shim/init.c points them at libc; system calls
 * until then) */
struct scio_epoll_sys {
	int (*ctl)(int, int, int, struct epoll_event *);
	int (*wait)(int, struct epoll_event *, int, int);
	int (*pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*pwait2)(int, struct epoll_event *, int, const struct timespec *,
		      const sigset_t *);
};
extern struct scio_epoll_sys scio_epoll_sys;

/* The program's epoll_ctl: libc's, recorded; while fd is kept out of epfd
 * by a race, answered from the record as the kernel would. */
int scio_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);

/* fd is in an epoll set (not kept out of it by a race): a winner moved
 * onto fd with dup3 would leave that set without a word. */
int scio_epoll_registered(int fd);

/* fd is registered in epfd alone, for writability, or kept out of it. */
int scio_epoll_watches(int epfd, int fd);

/* Takes fd out of epfd for its race (0), or -1 when it is not there. */
int scio_epoll_hide(int epfd, int fd);

/* fd is kept out of epfd by its race. */
int scio_epoll_hidden(int epfd, int fd);

#endif
