/*
 * epolltab.c - the program's epoll registrations, per fd (epolltab.h).
 * Slots come in chunks of 1024 fds, made the first time an fd of the
 * chunk is added and never freed (the fd numbers of a process are few);
 * fds beyond MAX_FDS are not followed.  Fields are read and written
 * atomically: two threads changing one fd's registration at once is the
 * program's race, whose outcome the kernel's order decides anyway.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "epolltab.h"
#include "internal.h"
#include "live.h"
#include "pending.h"

#define CHUNK 1024
#define MAX_FDS (1 << 20)

enum { HIDDEN = 1, SEVERAL = 2 };

struct slot {
	int epfd;         /* +1: 0 when fd is in no set */
	unsigned flags;   /* HIDDEN, SEVERAL */
	uint32_t events;
	uint64_t data;
	uint64_t cookie;  /* the socket's SO_COOKIE while HIDDEN */
};

static struct slot *chunks[MAX_FDS / CHUNK];

static int raw_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static int raw_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		     const sigset_t *mask)
{
	return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, mask, _NSIG / 8);
}

static int raw_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return raw_pwait(epfd, ev, max, timeout, NULL);
}

static int raw_pwait2(int epfd, struct epoll_event *ev, int max,
		      const struct timespec *t, const sigset_t *mask)
{
#ifdef SYS_epoll_pwait2
	return (int)syscall(SYS_epoll_pwait2, epfd, ev, max, t, mask, _NSIG / 8);
#else
	(void)epfd, (void)ev, (void)max, (void)t, (void)mask;
	errno = ENOSYS;
	return -1;
#endif
}

struct scio_epoll_sys scio_epoll_sys = {
	.ctl = raw_ctl, .wait = raw_wait, .pwait = raw_pwait, .pwait2 = raw_pwait2,
};

static struct slot *slot_of(int fd, int make)
{
	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	struct slot **c = &chunks[fd / CHUNK];
	struct slot *chunk = __atomic_load_n(c, __ATOMIC_ACQUIRE);
	if (!chunk && make) {
		struct slot *fresh = calloc(CHUNK, sizeof(*fresh));
		if (!fresh)
			return NULL;
		if (__atomic_compare_exchange_n(c, &chunk, fresh, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			chunk = fresh;
		else
			free(fresh);  /* another thread's came first */
	}
	return chunk ? &chunk[fd % CHUNK] : NULL;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void record(struct slot *s, int epfd, int op, const struct epoll_event *ev)
{
	int in = LOAD(s->epfd) - 1;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (in >= 0 && in != epfd) {
			STORE(s->flags, LOAD(s->flags) | SEVERAL);
			return;
		}
		STORE(s->flags, 0);
		STORE(s->epfd, epfd + 1);
		/* fall through */
	case EPOLL_CTL_MOD:
		if (in >= 0 && in != epfd)
			return;
		STORE(s->events, ev->events);
		STORE(s->data, ev->data.u64);
		return;
	case EPOLL_CTL_DEL:
		if (in == epfd || in < 0) {
			STORE(s->epfd, 0);
			STORE(s->flags, 0);
		}
		return;
	}
}

/* The program's call on an fd its race keeps out of epfd: what the
 * kernel would answer, had the fd stayed in. */
static int ctl_hidden(struct slot *s, int epfd, int op, int fd,
		      struct epoll_event *ev)
{
	switch (op) {
	case EPOLL_CTL_ADD:
		errno = EEXIST;
		return -1;
	case EPOLL_CTL_MOD:
		if (!ev) {
			errno = EFAULT;
			return -1;
		}
		record(s, epfd, op, ev);
		return 0;
	default:
		/* out of the set: the program gives up the socket's wait, and
		 * the race goes with it */
		STORE(s->epfd, 0);
		STORE(s->flags, 0);
		scio_pending_drop_fd(fd);
		return 0;
	}
}

/* Whether the table answers for the kernel: the fd still names the hidden
 * socket (a close the shim did not see, dup2 over it say, left the slot
 * stale: forgotten, the call goes to the kernel), and the call is one the
 * kernel would take (others go to it for its error). */
static int answered_here(struct slot *s, int epfd, int op, int fd,
			 const struct epoll_event *ev)
{
	if (!(LOAD(s->flags) & HIDDEN) || LOAD(s->epfd) - 1 != epfd)
		return 0;
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return 0;
	if (op == EPOLL_CTL_MOD && ev && (ev->events & EPOLLEXCLUSIVE))
		return 0;
	int saved = errno;
	uint64_t cookie = scio_socket_cookie(fd);
	errno = saved;
	if (cookie != LOAD(s->cookie)) {
		STORE(s->epfd, 0);
		STORE(s->flags, 0);
		return 0;
	}
	return 1;
}

int scio_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct slot *s = slot_of(fd, op == EPOLL_CTL_ADD);
	if (s && answered_here(s, epfd, op, fd, ev))
		return ctl_hidden(s, epfd, op, fd, ev);
	int rc = scio_epoll_sys.ctl(epfd, op, fd, ev);
	if (rc == 0 && s && (ev || op == EPOLL_CTL_DEL))
		record(s, epfd, op, ev);
	return rc;
}

int scio_epoll_registered(int fd)
{
	struct slot *s = slot_of(fd, 0);
	return s && LOAD(s->epfd) != 0 && !(LOAD(s->flags) & HIDDEN);
}

int scio_epoll_watches(int epfd, int fd)
{
	struct slot *s = slot_of(fd, 0);
	if (!s || LOAD(s->epfd) - 1 != epfd)
		return 0;
	unsigned flags = LOAD(s->flags);
	return (flags & HIDDEN) || (!(flags & SEVERAL) && (LOAD(s->events) & EPOLLOUT));
}

int scio_epoll_hidden(int epfd, int fd)
{
	struct slot *s = slot_of(fd, 0);
	return s && LOAD(s->epfd) - 1 == epfd && (LOAD(s->flags) & HIDDEN);
}

int scio_epoll_hide(int epfd, int fd)
{
	struct slot *s = slot_of(fd, 0);
	if (!s || LOAD(s->epfd) - 1 != epfd)
		return -1;
	if (LOAD(s->flags) & HIDDEN)
		return 0;
	int saved = errno;
	int rc = scio_epoll_sys.ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	if (rc == 0) {
		STORE(s->cookie, scio_socket_cookie(fd));
		STORE(s->flags, LOAD(s->flags) | HIDDEN);
	}
	else
		STORE(s->epfd, 0);  /* not there: closed and reused, say */
	errno = saved;
	return rc;
}

void scio_epoll_unhide(int epfd, int fd)
{
	struct slot *s = slot_of(fd, 0);
	if (!s || LOAD(s->epfd) - 1 != epfd || !(LOAD(s->flags) & HIDDEN))
		return;
	int saved = errno;
	struct epoll_event ev = { .events = LOAD(s->events) };
	ev.data.u64 = LOAD(s->data);
	STORE(s->flags, LOAD(s->flags) & ~HIDDEN);
	if (scio_epoll_sys.ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		STORE(s->epfd, 0);
	errno = saved;
}

void scio_epoll_forget(int epfd, int fd)
{
	struct slot *s = slot_of(fd, 0);
	if (!s || LOAD(s->epfd) - 1 != epfd || !(LOAD(s->flags) & HIDDEN))
		return;
	STORE(s->epfd, 0);
	STORE(s->flags, 0);
}
