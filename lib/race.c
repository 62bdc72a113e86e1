/*
 * race.c - the I/O half of the connection race: creates the sockets,
 * starts the connects and polls them, while engine.c decides what happens
 * next.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "orphans.h"
#include "race.h"
#include "scio.h"
#include "engine.h"
#include "sys.h"

#define LATE_MAX 16            /* room for addresses learnt mid-race */

static void take_late(struct scio_race_io *io);

/* Returns 0 when the connect completed at once, EINPROGRESS, or an error. */
static int start_attempt(struct scio_race_io *io, size_t i)
{
	const struct scio_race_in *r = io->r;
	const struct sockaddr *dst = (const struct sockaddr *)&io->addr[i];
	int fd;

	if (r->own_fd >= 0 && i == r->own_index) {
		fd = r->own_fd;
		if (r->own_started) {
			io->fd[i] = fd;
			return EINPROGRESS;
		}
	} else {
		fd = socket(dst->sa_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		scio_orphans_add(io->level, fd);
		if (r->pub.prepare && r->pub.prepare(fd, dst, r->pub.prepare_arg) != 0) {
			int err = errno ? errno : EINVAL;
			scio_close_own(fd);
			scio_orphans_forget(io->level, fd);
			return err;
		}
	}
	io->fd[i] = fd;
	if (scio_sys.connect(fd, dst, scio_sockaddr_len(dst)) == 0)
		return 0;
	return errno == EAGAIN ? EINPROGRESS : errno;
}

static void close_attempt(struct scio_race_io *io, size_t i)
{
	int fd = io->fd[i];
	if (fd < 0)
		return;
	io->fd[i] = -1;
	if (fd != io->r->own_fd) {
		int saved = errno;
		scio_close_own(fd);
		scio_orphans_forget(io->level, fd);
		errno = saved;
	}
}

static void do_start(struct scio_race_io *io, size_t i)
{
	int err = start_attempt(io, i);
	int64_t now = scio_now_us();
	if (err == 0) {
		engine_connected(&io->eng, i, now);
	} else if (err != EINPROGRESS && err != EINTR) {
		engine_failed(&io->eng, i, err, now);
		close_attempt(io, i);
	}
	/* EINTR: the connect goes on in the background, like EINPROGRESS */
}

static void collect_running(struct scio_race_io *io)
{
	size_t n = 0;
	for (size_t i = 0; i < io->eng.n; i++) {
		if (io->slot[i].state != ENGINE_RUNNING)
			continue;
		io->pfd[n] = (struct pollfd){ .fd = io->fd[i], .events = POLLOUT };
		io->pfd_owner[n++] = i;
	}
	io->npfd = n;
}

/* The program's own connect, started before the race: leave its error
 * and state for the program to read. */
static int own_untouched(const struct scio_race_io *io, size_t i)
{
	return io->r->own_started && io->r->own_fd >= 0 && i == io->r->own_index;
}

/* EIO stands for "failed"; the program reads the real error itself. */
static int outcome_from_poll(short revents)
{
	return (revents & (POLLERR | POLLHUP)) ? EIO : 0;
}

void scio_race_feed(struct scio_race_io *io, int64_t now)
{
	for (size_t k = 0; k < io->npfd; k++) {
		if (!io->pfd[k].revents)
			continue;
		size_t i = io->pfd_owner[k];
		int err = own_untouched(io, i) ? outcome_from_poll(io->pfd[k].revents)
			: scio_connect_finish(io->pfd[k].fd,
					      (const struct sockaddr *)&io->addr[i]);
		if (err == EINPROGRESS)
			continue;
		if (err == 0) {
			engine_connected(&io->eng, i, now);
		} else {
			engine_failed(&io->eng, i, err, now);
			close_attempt(io, i);
		}
	}
	io->npfd = 0;
	if (io->ask_late)
		take_late(io);
	io->ask_late = 0;
}

/* Inside the program's ppoll or pselect, every wait is one with the
 * program's signal mask, set and restored by the kernel atomically: a
 * signal the mask lets through interrupts the wait as it would interrupt
 * the program's own call. */
static int race_poll(struct scio_race_io *io, int timeout_ms)
{
	const sigset_t *mask = io->r->sigmask;
	if (!mask)
		return scio_sys.poll(io->pfd, io->npfd, timeout_ms);
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	return scio_sys.ppoll(io->pfd, io->npfd, timeout_ms < 0 ? NULL : &ts, mask);
}

/* Waits for events until `until`; 0, or -1 with errno EINTR to stop. */
static int wait_events(struct scio_race_io *io, int64_t until)
{
	int rc = race_poll(io, scio_poll_timeout(until, scio_now_us()));
	if (rc < 0) {
		io->npfd = 0;
		if (errno == EINTR && io->r->interrupted &&
		    io->r->interrupted(io->r->pub.prepare_arg))
			return -1;
		return 0;
	}
	scio_race_feed(io, scio_now_us());
	return 0;
}

static void fill_report(const struct scio_race_io *io, int64_t end)
{
	struct scio_report *rep = io->r->pub.report;
	if (!rep)
		return;
	size_t order[SCIO_REPORT_MAX], count = 0;

	/* attempts in start order (starts are strictly increasing by index);
	 * when there are more than the report holds, the winner keeps the
	 * last place */
	for (size_t i = 0; i < io->eng.n && count < SCIO_REPORT_MAX; i++)
		if (io->slot[i].state != ENGINE_IDLE)
			order[count++] = i;
	size_t won = io->eng.winner >= 0 ? (size_t)io->eng.winner : SIZE_MAX;
	if (won != SIZE_MAX && count == SCIO_REPORT_MAX && order[count - 1] < won)
		order[count - 1] = won;
	rep->count = count;
	rep->candidates = io->eng.n;
	rep->winner = -1;
	rep->elapsed_us = end - io->t0;
	for (size_t k = 0; k < count; k++) {
		size_t i = order[k];
		const struct engine_slot *s = &io->slot[i];
		struct scio_attempt *a = &rep->attempt[k];
		memcpy(&a->addr, &io->addr[i], sizeof(a->addr));
		a->addrlen = scio_sockaddr_len((const struct sockaddr *)&a->addr);
		a->start_us = s->start - io->t0;
		a->end_us = s->state == ENGINE_ABANDONED ? -1 : s->end - io->t0;
		a->error = s->error;
		a->won = s->state == ENGINE_WON;
		if (a->won)
			rep->winner = (int)k;
	}
}

/* Room for cap candidates: the arrays move to the heap (io->heap), the
 * first eng.n entries with them.  0, or -1 without memory. */
static int make_room(struct scio_race_io *io, size_t cap)
{
	size_t each = sizeof(struct sockaddr_storage) + sizeof(struct engine_slot) +
		      sizeof(struct pollfd) + sizeof(size_t) + sizeof(int);
	char *block = calloc(cap, each);
	if (!block)
		return -1;
	struct sockaddr_storage *addr = (void *)block;
	struct engine_slot *slot = (void *)(addr + cap);
	struct pollfd *pfd = (void *)(slot + cap);
	size_t *owner = (void *)(pfd + cap);
	int *fd = (void *)(owner + cap);
	size_t n = io->eng.n;
	if (n) {
		memcpy(addr, io->addr, n * sizeof(*addr));
		memcpy(slot, io->slot, n * sizeof(*slot));
		memcpy(fd, io->fd, n * sizeof(*fd));
	}
	free(io->heap);
	io->heap = block;
	io->addr = addr;
	io->slot = io->eng.slot = slot;
	io->pfd = pfd;
	io->pfd_owner = owner;
	io->fd = fd;
	io->cap = cap;
	return 0;
}

/* Adds the addresses a late answer brought, if any: as many as come
 * (the arrays grow). */
static void take_late(struct scio_race_io *io)
{
	const struct scio_race_in *r = io->r;
	if (!io->more || io->eng.done)
		return;
	int more = 0;
	if (io->cap - io->eng.n < LATE_MAX && make_room(io, io->cap * 2 + LATE_MAX) < 0) {
		if (io->cap == io->eng.n) {
			io->more = 0;  /* out of memory: the race goes on without */
			engine_more_coming(&io->eng, 0);
			return;
		}
	}
	size_t room = io->cap - io->eng.n;
	size_t k = r->late(r->late_arg, io->addr + io->eng.n, room, &more);
	if (k > room)
		k = room;
	for (size_t i = io->eng.n; i < io->eng.n + k; i++)
		io->fd[i] = -1;
	engine_add(&io->eng, k);
	io->more = more;
	engine_more_coming(&io->eng, more ? ENGINE_NEVER : 0);
}

static void free_heap(void *arg)
{
	free(((struct scio_race_io *)arg)->heap);
}

/* Each given candidate's outcome, for the caller's fallback loop. */
static void fill_outcomes(const struct scio_race_io *io)
{
	int *out = io->r->outcome;
	for (size_t i = 0; out && i < io->r->pub.naddrs; i++) {
		const struct engine_slot *s = &io->slot[i];
		out[i] = s->state == ENGINE_FAILED ? s->error
		       : s->state == ENGINE_ABANDONED ? EINPROGRESS : 0;
	}
}

int scio_race_step(struct scio_race_io *io, int64_t *until)
{
	for (;;) {
		struct engine_order act = engine_next(&io->eng, scio_now_us());
		switch (act.kind) {
		case ENGINE_START:
			do_start(io, act.index);
			break;
		case ENGINE_WAIT:
			collect_running(io);
			io->ask_late = act.ask_late;
			*until = act.until;
			return 0;
		case ENGINE_DONE:
			io->npfd = 0;
			return 1;
		}
	}
}

static int run(struct scio_race_io *io)
{
	int64_t until;
	while (!scio_race_step(io, &until))
		if (wait_events(io, until) < 0)
			return EINTR;
	return 0;
}

int scio_race_begin(struct scio_race_io *io, const struct scio_race_in *r, int level,
		    struct scio_race_bufs *bufs)
{
	if (!r || !r->pub.addrs || r->pub.naddrs == 0) {
		errno = EINVAL;
		return -1;
	}
	size_t n = r->pub.naddrs;
	size_t cap = n + (r->late ? LATE_MAX : 0);
	*io = (struct scio_race_io){ .r = r, .more = r->late != NULL, .level = level };
	if (bufs) {
		io->slot = bufs->slot;
		io->fd = bufs->fd;
		io->pfd = bufs->pfd;
		io->pfd_owner = bufs->owner;
		io->addr = bufs->addr;
		io->cap = SCIO_RACE_STACK;
	}
	if ((!bufs || cap > SCIO_RACE_STACK) && make_room(io, cap) < 0)
		return -1;
	memcpy(io->addr, r->pub.addrs, n * sizeof(*io->addr));
	for (size_t i = 0; i < n; i++)
		io->fd[i] = -1;

	io->t0 = r->own_started ? r->started_us : scio_now_us();
	int64_t deadline = r->pub.timeout_ms < 0
		? ENGINE_NEVER : io->t0 + (int64_t)r->pub.timeout_ms * 1000;
	engine_init(&io->eng, io->slot, n, r->pub.primary,
		(int64_t)r->pub.connect_delay_ms * 1000, deadline);
	engine_more_coming(&io->eng, io->more ? ENGINE_NEVER : 0);
	if (r->own_started && r->own_fd >= 0 && r->own_index == 0) {
		/* the program's connect was the race's first start */
		struct engine_order act = engine_next(&io->eng, io->t0);
		if (act.kind == ENGINE_START)
			do_start(io, act.index);
	}
	return 0;
}

int scio_race_end(struct scio_race_io *io, int stopped)
{
	const struct scio_race_in *r = io->r;
	int rc = stopped ? -stopped
	       : io->eng.winner >= 0 ? io->fd[io->eng.winner] : -io->eng.error;
	int64_t end = scio_now_us();
	for (size_t i = 0; i < io->eng.n && rc < 0; i++) {
		if (io->slot[i].state == ENGINE_RUNNING) {
			io->slot[i].state = ENGINE_ABANDONED;
			io->slot[i].error = -rc;
		}
	}
	for (size_t i = 0; i < io->eng.n; i++)
		if (io->fd[i] != rc)
			close_attempt(io, i);
	fill_report(io, end);
	fill_outcomes(io);
	if (r->pub.report)
		r->pub.report->error = rc < 0 ? -rc : 0;
	free(io->heap);
	io->heap = NULL;
	if (rc >= 0 && rc != r->own_fd)
		scio_orphans_forget(io->level, rc);  /* the caller's now */
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

int scio_race_run(const struct scio_race_in *r, int level)
{
	struct scio_race_bufs bufs;
	struct scio_race_io io;
	/* the shim's usual race fits the stack: no malloc on its connect
	 * path, which a signal handler may take */
	if (scio_race_begin(&io, r, level, &bufs) < 0)
		return -1;
	int stopped;
	pthread_cleanup_push(free_heap, &io);  /* a cancelled race frees it too */
	stopped = run(&io);
	pthread_cleanup_pop(0);
	return scio_race_end(&io, stopped);
}

static void race_cancelled(void *arg)
{
	scio_orphans_cancelled(*(const int *)arg);
}

int scio_race_run_alone(const struct scio_race_in *r)
{
	int level = scio_orphans_enter();
	int rc;
	pthread_cleanup_push(race_cancelled, &level);
	rc = scio_race_run(r, level);
	pthread_cleanup_pop(0);
	scio_orphans_leave(level);
	return rc;
}

int scio_race_connect(const struct scio_race *r)
{
	if (!r) {
		errno = EINVAL;
		return -1;
	}
	struct scio_race_in in = { .pub = *r, .own_fd = -1 };
	int ms = in.pub.connect_delay_ms;
	/* a race has no history to learn from: the fixed default */
	if (ms == SCIO_CONNECT_DELAY_LEARN)
		ms = SCIO_CONNECT_DELAY_DEFAULT_MS;
	else if (ms < SCIO_CONNECT_DELAY_MIN_MS)
		ms = SCIO_CONNECT_DELAY_MIN_MS;
	else if (ms > SCIO_CONNECT_DELAY_MAX_MS)
		ms = SCIO_CONNECT_DELAY_MAX_MS;
	in.pub.connect_delay_ms = ms;
	return scio_race_run_alone(&in);
}
