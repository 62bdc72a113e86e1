/* internal.h - helpers shared inside the SCIO library (not installed). */
#ifndef SCIO_INTERNAL_H
#define SCIO_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SCIO_HIDDEN __attribute__((visibility("hidden")))

#include "clock.h"

/* After poll() reported a connecting socket: 0 when connected,
 * EINPROGRESS when not yet, else the connect's error. */
int scio_connect_finish(int fd, const struct sockaddr *dst);

/* Clears O_NONBLOCK; 0 or -1 with errno. */
int scio_set_blocking(int fd);

socklen_t scio_sockaddr_len(const struct sockaddr *sa);

/*
 * The library's locks, counted per thread: a signal handler whose
 * connect() or poll() interrupts this thread while it holds one must not
 * wait for it (the thread would wait for itself), so the shim passes such
 * a call straight to the kernel, as a program without scio would see it.
 */
extern __thread int scio_locks_held __attribute__((tls_model("initial-exec")));

/* The socket's SO_COOKIE, or 0 when the kernel has none. */
uint64_t scio_socket_cookie(int fd);

/*
 * No cancellation while a library lock is held: code under a lock closes
 * sockets (a race dropped), and close(), poll() or connect() are
 * cancellation points; a thread cancelled there would leave the lock held
 * and every other thread waiting for it for ever.  A cancel that comes
 * meanwhile acts at the program's next cancellation point.  The state is
 * saved by the outermost lock only; a signal handler's lock nested inside
 * finds the count above 0 and leaves it alone.
 */
extern __thread int scio_cancel_saved __attribute__((tls_model("initial-exec")));

/* close() of a socket of scio's own, which no cancel may interrupt: a
 * cancel acting at close() can leave the descriptor open (glibc acts on
 * it before the system call), and it would stay open for good.  errno
 * is close's. */
static inline int scio_close_own(int fd)
{
	int cs;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	int rc = close(fd);
	int err = errno;
	pthread_setcancelstate(cs, NULL);
	errno = err;
	return rc;
}

static inline void scio_lock(pthread_mutex_t *m)
{
	if (scio_locks_held++ == 0) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &scio_cancel_saved);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(m);
}

static inline void scio_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	/* read before the count drops: a handler's lock may then save anew */
	int saved = scio_cancel_saved;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (--scio_locks_held == 0) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		pthread_setcancelstate(saved, NULL);
	}
}

/*
 * A library lock across fork(), for pthread_atfork handlers.  fork() may
 * come from a signal handler that interrupted this very thread while it
 * held the lock: waiting for it there would wait for ourselves for ever.
 * Such a lock is left alone, in the parent and in the child, where the
 * interrupted code releases it when the handler returns.  Every other
 * lock is taken before the fork, released in the parent and made new in
 * the child.  Declare one per lock: { .m = &lock }.
 */
struct scio_fork_lock {
	pthread_mutex_t *m;
	int mine;     /* this thread held m at the fork: left alone */
	pid_t me;     /* the forking thread */
};
void scio_fork_prepare(struct scio_fork_lock *f);
void scio_fork_parent(struct scio_fork_lock *f);
/* 1 when m was made new (the data it guards is consistent and may be
 * reset); 0 when the interrupted code still holds it and goes on with
 * that data after the handler. */
int scio_fork_child(struct scio_fork_lock *f);

/* The fork handlers of a file's one lock, and register_atfork() to
 * install them once (through scio_once).  In the child, after the lock:
 * child(renewed), renewed being scio_fork_child's answer; a file whose
 * child keeps the data as it is passes scio_fork_keep. */
#define SCIO_FORK_SAFE_LOCK_THEN(lock, child)					\
	static struct scio_fork_lock fork_lock = { .m = &(lock) };		\
	static void fork_prepare(void) { scio_fork_prepare(&fork_lock); }	\
	static void fork_parent(void) { scio_fork_parent(&fork_lock); }	\
	static void fork_child(void) { child(scio_fork_child(&fork_lock)); }	\
	static pthread_once_t atfork_once __attribute__((unused)) =		\
		PTHREAD_ONCE_INIT;						\
	static void register_atfork(void)					\
	{									\
		pthread_atfork(fork_prepare, fork_parent, fork_child);		\
	}
#define SCIO_FORK_SAFE_LOCK(lock) SCIO_FORK_SAFE_LOCK_THEN(lock, scio_fork_keep)
static inline void scio_fork_keep(int renewed)
{
	(void)renewed;
}

/* pthread_once holds a lock of its own while the routine runs. */
static inline void scio_once(pthread_once_t *once, void (*routine)(void))
{
	scio_locks_held++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_once(once, routine);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	scio_locks_held--;
}

#endif
