/*
 * orphans.c - the sockets of this thread's races, by level (see orphans.h).
 *
 * A signal handler may start a race at any point of another one in the
 * same thread, so every update is ordered with a signal fence: a handler
 * sees a level either without a socket or with it, never half-written.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orphans.h"
#include "pending.h"

#define LEVELS 4
#define PER_LEVEL 32

struct level {
	uintptr_t frame;   /* stack address of its scio_orphans_enter call */
	int on_altstack;   /* entered on the signal stack */
	int n;
	int fd[PER_LEVEL];
	uint64_t cookie[PER_LEVEL];
};

static __thread struct level levels[LEVELS];
static __thread int depth;

static void fence(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static int on_altstack(void)
{
	stack_t ss;
	return sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
}

/*
 * Is the race of level l gone from the stack, seen from a new race whose
 * frame is at here?  On one stack, a live race's frame is above (at a
 * higher address than) anything started while it runs.  Nothing on the
 * normal stack runs while a handler on the signal stack does, so a level
 * entered there is gone once the thread is back on the normal stack.
 */
static int abandoned(const struct level *l, uintptr_t here, int alt)
{
	if (l->on_altstack == alt)
		return l->frame <= here;
	return l->on_altstack;
}

static void close_from(int first)
{
	int saved = errno;
	for (int d = depth - 1; d >= first; d--) {
		struct level *l = &levels[d];
		while (l->n > 0) {
			int k = l->n - 1;
			if (scio_socket_cookie(l->fd[k]) == l->cookie[k])
				close(l->fd[k]);
			l->n = k;
			fence();
		}
	}
	depth = first;
	errno = saved;
}

__attribute__((noinline)) int scio_orphans_enter(void)
{
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	int alt = on_altstack();
	for (int d = 0; d < depth; d++) {
		if (abandoned(&levels[d], here, alt)) {
			close_from(d);  /* and every level above: gone as well */
			break;
		}
	}
	if (depth >= LEVELS)
		return -1;
	levels[depth].frame = here;
	levels[depth].on_altstack = alt;
	levels[depth].n = 0;
	fence();
	return depth++;
}

void scio_orphans_add(int level, int fd)
{
	if (level < 0 || level >= depth)
		return;
	struct level *l = &levels[level];
	if (l->n >= PER_LEVEL)
		return;
	l->fd[l->n] = fd;
	l->cookie[l->n] = scio_socket_cookie(fd);
	fence();
	l->n++;
}

void scio_orphans_forget(int level, int fd)
{
	if (level < 0 || level >= depth)
		return;
	struct level *l = &levels[level];
	for (int k = 0; k < l->n; k++) {
		if (l->fd[k] != fd)
			continue;
		/* the last entry moves into k: the copy is complete before
		 * the count drops */
		l->fd[k] = l->fd[l->n - 1];
		l->cookie[k] = l->cookie[l->n - 1];
		fence();
		l->n--;
		return;
	}
}

void scio_orphans_leave(int level)
{
	if (level < 0 || level >= depth)
		return;
	levels[level].n = 0;
	fence();
	depth = level;
}
