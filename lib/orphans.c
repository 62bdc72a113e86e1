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
#include "internal.h"

#define LEVELS 8
#define PER_LEVEL 32

/* Where the thread's signal stack was when a level was entered. */
struct altstack {
	uintptr_t base;
	size_t size;
	int flags;         /* less SS_ONSTACK */
};

struct level {
	uintptr_t frame;   /* stack address of its scio_orphans_enter call */
	int on_altstack;   /* entered on the signal stack */
	struct altstack alt;
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

/* The signal stack now; 1 when `here` runs on it. */
static int altstack_now(uintptr_t here, struct altstack *a)
{
	stack_t ss;
	*a = (struct altstack){ 0 };
	if (sigaltstack(NULL, &ss) != 0)
		return 0;
	a->base = (uintptr_t)ss.ss_sp;
	a->size = ss.ss_size;
	a->flags = ss.ss_flags & ~SS_ONSTACK;
	return (ss.ss_flags & SS_ONSTACK) ||
	       (!(ss.ss_flags & SS_DISABLE) && here - a->base < a->size);
}

/*
 * Is the race of level l gone from the stack, seen from a new race whose
 * frame is at here?  On one stack, a live race's frame is above (at a
 * higher address than) anything started while it runs.  Nothing on the
 * normal stack runs while a handler on the signal stack does, so a level
 * entered there is gone once the thread is back on the normal stack.
 * When the signal stack changed since (or a handler disarmed it,
 * SS_AUTODISARM), where the frames are cannot be told: the level is kept
 * (its sockets leak rather than being closed under a live race).
 */
static int abandoned(const struct level *l, uintptr_t here, int on_alt,
		     const struct altstack *alt)
{
	if (l->alt.base != alt->base || l->alt.size != alt->size ||
	    l->alt.flags != alt->flags)
		return 0;
	if (l->on_altstack == on_alt)
		return l->frame <= here;
	return l->on_altstack;
}

/* Closes the sockets of levels first.. and drops them. */
static void close_from(int first)
{
	int saved = errno;
	for (int d = depth - 1; d >= first; d--) {
		struct level *l = &levels[d];
		while (l->n > 0) {
			int k = l->n - 1;
			/* a cookie of 0 (no SO_COOKIE) proves nothing */
			if (l->cookie[k] && scio_socket_cookie(l->fd[k]) == l->cookie[k])
				close(l->fd[k]);
			l->n = k;
			fence();
		}
	}
	if (depth > first)
		depth = first;
	errno = saved;
}

/*
 * The slot is claimed (depth raised, its count cleared) before it is
 * filled: a handler's race in between sees an empty level, which it may
 * drop (this race then tracks nothing) but never closes anything of.
 */
__attribute__((noinline)) int scio_orphans_enter(void)
{
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	struct altstack alt;
	int saved = errno;
	int on_alt = altstack_now(here, &alt);
	errno = saved;
	for (int d = 0; d < depth; d++) {
		if (abandoned(&levels[d], here, on_alt, &alt)) {
			close_from(d);  /* and every level above: gone as well */
			break;
		}
	}
	int level = depth;
	if (level >= LEVELS)
		return -1;
	levels[level].n = 0;
	fence();
	depth = level + 1;
	fence();
	levels[level].frame = here;
	levels[level].on_altstack = on_alt;
	levels[level].alt = alt;
	return level;
}

uint64_t scio_orphans_add(int level, int fd)
{
	uint64_t cookie = scio_socket_cookie(fd);
	if (level < 0 || level >= depth)
		return cookie;
	struct level *l = &levels[level];
	if (l->n >= PER_LEVEL)
		return cookie;
	l->fd[l->n] = fd;
	l->cookie[l->n] = cookie;
	fence();
	l->n++;
	return cookie;
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

/* Levels above one that returns were abandoned (a siglongjmp out of a
 * handler's race, back into this one): their sockets are closed. */
void scio_orphans_leave(int level)
{
	if (level < 0 || level >= depth)
		return;
	close_from(level + 1);
	levels[level].n = 0;
	fence();
	depth = level;
}

void scio_orphans_cancelled(int level)
{
	if (level >= 0 && level < depth)
		close_from(level);
}
