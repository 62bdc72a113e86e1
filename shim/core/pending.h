/*
 * pending.h - non-blocking connects waiting to be raced.  A program that
 * connects non-blocking to an address of a recorded multi-address answer
 * gets EINPROGRESS as usual; the connect is remembered here, keyed by fd
 * and the socket's cookie (SO_COOKIE, unique for the kernel's lifetime, so
 * that a closed and reused fd number is never confused with it), and the
 * race runs when the same thread waits for that fd alone with poll or
 * select.
 */
#ifndef SCIO_PENDING_H
#define SCIO_PENDING_H

#include <stdint.h>
#include <sys/types.h>

#include "answers.h"

#define SCIO_PENDING_MAX 8
#define SCIO_PENDING_TTL_US (120 * 1000000LL)
#define SCIO_HELD_MAX 32

struct scio_live;  /* live.h: a race under way between the program's waits */

struct scio_pending {
	int fd;
	uint64_t cookie;
	pid_t tid;
	int64_t started;           /* the program's connect, µs */
	struct scio_match m;
	struct scio_live *live;    /* NULL until a wait starts its race */
};

/* This thread's entries, as this thread last counted them: the wait
 * interposers' only cost when there are none.  Another thread may since
 * have released some (a reused fd, an expired entry, an answer the program
 * races on its own); scio_pending_recount then counts again. */
extern __thread int scio_pending_here __attribute__((tls_model("initial-exec")));

int scio_pending_recount(void);

/* Whether this thread has a pending race. */
static inline int scio_pending_in_this_thread(void)
{
	if (__builtin_expect(scio_pending_here == 0, 1))
		return 0;
	return scio_pending_recount();
}


/* Remembers a connect; an older entry for the same fd is replaced.
 * Returns 0, or -1 when the table is full. */
int scio_pending_add(int fd, const struct scio_match *m, int64_t now);

/* Takes this thread's entry for fd (its cookie checked) out of the table;
 * 1 when there was one. */
int scio_pending_take(int fd, struct scio_pending *out);

/* Puts an entry back (after EINTR: the next wait resumes the race). */
void scio_pending_put_back(const struct scio_pending *p);

/* Takes this thread's entries whose fd wanted(arg, fd) picks, each
 * checked against its cookie, out of the table (up to cap, into out);
 * on the way, drops this thread's races whose fd the program closed.
 * Returns how many. */
int scio_pending_take_fds(int (*wanted)(void *arg, int fd), void *arg,
			  struct scio_pending *out, int cap);

/* Entries of the table and races held by a wait, in every thread: the
 * interposed close()'s only cost when there are none. */
extern int scio_pending_races;

/* The program closes fd: a race on it is dropped first (its attempt
 * sockets closed; fd itself is the program's to close); a race a wait
 * holds is told so; a race kept out of fd as an epoll set forgets it. */
void scio_pending_closing(int fd);

static inline void scio_pending_close_hook(int fd)
{
	if (__builtin_expect(__atomic_load_n(&scio_pending_races, __ATOMIC_RELAXED) != 0, 0))
		scio_pending_closing(fd);
}

/* A wait takes a started race out of the table (scio_pending_take_fds)
 * and holds it: hold registers it, so that the close hook can tell it
 * (live.h's gone) and counts it in scio_pending_races; unhold (and
 * put_back) unregister it. */
void scio_pending_hold(struct scio_live *l);
void scio_pending_unhold(struct scio_live *l);

/* The program took fd out of the epoll set its race kept it out of:
 * the race is dropped. */
void scio_pending_drop_fd(int fd);

/* The program connected another socket to the same answer: it races on
 * its own, so no race of ours for that answer. Returns 1 if one was
 * dropped. */
int scio_pending_drop_answer(uint64_t answer_id);

#endif
