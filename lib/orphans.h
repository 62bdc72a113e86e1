/*
 * orphans.h - the sockets a race owns, per thread, so that none is lost
 * when a signal handler leaves the race with siglongjmp (the classic
 * alarm() connect timeout), and none is closed under a race still
 * running when a signal handler starts another one.
 *
 * Each race enters a level, adds the sockets it opens, and leaves the
 * level when it returns (its sockets are then closed or given away by
 * their owner).  A level whose race a siglongjmp abandoned is never left:
 * the thread's next scio_orphans_enter closes its sockets.  Abandoned
 * means its frame is gone from the stack, which the stack addresses tell:
 * a race started from a signal handler runs deeper on the same stack (or
 * on the signal stack) than the race it interrupted.  A socket is closed
 * only while its SO_COOKIE is the one added: a number the program closed
 * and reused in between is left alone.
 */
#ifndef SCIO_ORPHANS_H
#define SCIO_ORPHANS_H

#include <stdint.h>

/* Closes what abandoned levels hold, then opens a level for the caller:
 * its index, or -1 when too deep (nothing is then tracked). */
int scio_orphans_enter(void);

/* Returns fd's SO_COOKIE (0 when the kernel has none). */
uint64_t scio_orphans_add(int level, int fd);

/* fd was closed by its race or given away. */
void scio_orphans_forget(int level, int fd);

/* The race returned: its level goes, its sockets are not touched. */
void scio_orphans_leave(int level);

/* The thread is being cancelled inside the race (pthread_cancel acting in
 * one of its poll or connect calls): the level's sockets, and those of
 * any level above, are closed, and the levels go.  For a cleanup handler. */
void scio_orphans_cancelled(int level);

#endif
