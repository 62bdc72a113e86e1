/* forksafe.c - the library's locks across fork() (internal.h). */
#include <sched.h>
#include <unistd.h>

#include "internal.h"

__thread int scio_locks_held __attribute__((tls_model("initial-exec")));
__thread int scio_cancel_saved __attribute__((tls_model("initial-exec")));

/* How long a lock may stay held with no owner recorded before it is taken
 * to be this thread's (see take_unless_mine). */
#define UNRECORDED_OWNER_US 20000

/* glibc records the owning thread in every mutex it locks: 0 while the
 * mutex is free, and for the few instructions between taking it and
 * recording the owner (or between clearing it and releasing).  musl
 * records none: always 0, so that take_unless_mine goes by
 * scio_locks_held (waiting as for an unknown owner hung the fork). */
static pid_t owner_of(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
#else
	(void)m;
	return 0;
#endif
}

/* Locks the prepare handlers of the fork under way took (glibc runs one
 * fork's handlers at a time): they count in scio_locks_held too. */
static int taken_for_fork;

/* Takes m for the fork and returns 0, or returns 1 when this thread
 * holds it: fork() then comes from a signal handler that interrupted this
 * thread inside the lock, and waiting would wait for ourselves. */
static int take_unless_mine(pthread_mutex_t *m, pid_t me)
{
	int64_t give_up = scio_now_us() + UNRECORDED_OWNER_US;
	for (;;) {
		if (pthread_mutex_trylock(m) == 0)
			return 0;
		pid_t owner = owner_of(m);
		if (owner == me)
			return 1;
		/* with no owner recorded, a thread is between two instructions
		 * of taking or releasing m: not this one when it was outside
		 * the library's locks (scio_lock counts them first) */
		if (owner != 0 || scio_locks_held - taken_for_fork <= 0) {
			pthread_mutex_lock(m);  /* another thread's: it lets go */
			return 0;
		}
		/* another thread lets go at once; this thread, interrupted
		 * right there, never does */
		if (scio_now_us() > give_up)
			return 1;
		sched_yield();
	}
}

void scio_fork_prepare(struct scio_fork_lock *f)
{
	f->me = gettid();
	f->mine = take_unless_mine(f->m, f->me);
	if (!f->mine) {
		scio_locks_held++;
		taken_for_fork++;
	}
}

void scio_fork_parent(struct scio_fork_lock *f)
{
	if (f->mine)
		return;
	pthread_mutex_unlock(f->m);
	scio_locks_held--;
	taken_for_fork--;
}

int scio_fork_child(struct scio_fork_lock *f)
{
	if (f->mine) {
#ifdef __GLIBC__
		/* the child's thread has a new id: a fork from the child's own
		 * handlers must still see the lock as this thread's */
		if (f->m->__data.__owner == f->me)
			f->m->__data.__owner = gettid();
#endif
		return 0;
	}
	pthread_mutex_init(f->m, NULL);
	scio_locks_held--;
	taken_for_fork--;
	return 1;
}
