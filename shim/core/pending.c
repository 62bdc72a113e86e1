/* pending.c - the table of non-blocking connects waiting to be raced. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "live.h"
#include "pending.h"

__thread int scio_pending_here __attribute__((tls_model("initial-exec")));
int scio_pending_races;
/* table.others_released when this thread last counted its entries */
static __thread unsigned seen_releases __attribute__((tls_model("initial-exec")));

/* gettid() is a system call each time: every wait of a thread with a race
 * pending asks.  A forked child's thread keeps its parent's number, which
 * no thread of the child can have. */
static __thread pid_t tid_cache __attribute__((tls_model("initial-exec")));

static pid_t this_tid(void)
{
	if (__builtin_expect(tid_cache == 0, 0))
		tid_cache = gettid();
	return tid_cache;
}

static struct {
	pthread_mutex_t lock;
	struct scio_pending e[SCIO_PENDING_MAX];
	int used[SCIO_PENDING_MAX];
	/* entries released by a thread that did not make them: their owners'
	 * counts are stale */
	unsigned others_released;
	/* races out of the table in a wait of their thread: the close hook
	 * tells their holder when their fd or epoll set goes */
	struct scio_live *held[SCIO_HELD_MAX];
	/* the process whose connects these are: a vfork child shares the
	 * table, and its close() closes only its own copy of the fd */
	pid_t pid;
} table = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The child's connects were the parent's: it has no pending race (its
 * copies of the attempt sockets are closed; the parent's stay). */
static void forget_the_parents(int renewed)
{
	if (!renewed)
		return;
	for (int i = 0; i < SCIO_PENDING_MAX; i++)
		if (table.used[i] && table.e[i].live)
			scio_live_free(table.e[i].live, SCIO_LIVE_FORKED);
	memset(table.used, 0, sizeof(table.used));
	memset(table.held, 0, sizeof(table.held));
	scio_pending_races = 0;
	scio_pending_here = 0;
	seen_releases = table.others_released;
}
SCIO_FORK_SAFE_LOCK_THEN(table.lock, forget_the_parents)

/* how: what became of the program's socket (live.h) */
static void release_as(int i, pid_t me, enum scio_live_end how)
{
	if (table.e[i].live)
		scio_live_free(table.e[i].live, how);
	__atomic_sub_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
	table.e[i].live = NULL;
	table.used[i] = 0;
	if (table.e[i].tid != me)
		__atomic_add_fetch(&table.others_released, 1, __ATOMIC_RELEASE);
}

/* The program is done with the race: its socket stays as it is. */
static void release(int i, pid_t me)
{
	release_as(i, me, SCIO_LIVE_GIVEN_BACK);
}

/* Sets this thread's count from the table (lock held). */
static void count_mine(pid_t me)
{
	int n = 0;
	seen_releases = __atomic_load_n(&table.others_released, __ATOMIC_RELAXED);
	for (int i = 0; i < SCIO_PENDING_MAX; i++)
		n += table.used[i] && table.e[i].tid == me;
	scio_pending_here = n;
}

int scio_pending_recount(void)
{
	unsigned now = __atomic_load_n(&table.others_released, __ATOMIC_ACQUIRE);
	/* a handler inside the library keeps the count it finds */
	if (now != seen_releases && !scio_locks_held) {
		scio_lock(&table.lock);
		count_mine(this_tid());
		scio_unlock(&table.lock);
	}
	return scio_pending_here > 0;
}

static int insert(const struct scio_pending *p)
{
	int free_slot = -1;
	for (int i = 0; i < SCIO_PENDING_MAX; i++) {
		if (table.used[i] && table.e[i].fd == p->fd)
			/* the fd was closed and reused */
			release_as(i, p->tid, SCIO_LIVE_CLOSED);
		if (table.used[i] &&
		    p->started - table.e[i].started > SCIO_PENDING_TTL_US)
			release(i, p->tid);
		if (!table.used[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -1;
	table.e[free_slot] = *p;
	table.used[free_slot] = 1;
	__atomic_add_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
	return 0;
}

int scio_pending_add(int fd, const struct scio_match *m, int64_t now)
{
	struct scio_pending p = { .fd = fd, .cookie = scio_socket_cookie(fd),
				  .tid = this_tid(), .started = now, .m = *m };
	if (!p.cookie)
		return -1;
	scio_once(&atfork_once, register_atfork);
	scio_lock(&table.lock);
	table.pid = getpid();
	int rc = insert(&p);
	count_mine(p.tid);
	scio_unlock(&table.lock);
	return rc;
}

int scio_pending_take(int fd, struct scio_pending *out)
{
	int found = 0;
	pid_t me = this_tid();
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_PENDING_MAX && !found; i++) {
		if (!table.used[i] || table.e[i].fd != fd || table.e[i].tid != me)
			continue;
		struct scio_pending p = table.e[i];
		if (p.cookie == scio_socket_cookie(fd)) {
			__atomic_sub_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
			table.used[i] = 0;
			*out = p;
			found = 1;
		} else {
			release_as(i, me, SCIO_LIVE_CLOSED);
		}
	}
	count_mine(me);
	scio_unlock(&table.lock);
	return found;
}

int scio_pending_take_fds(int (*wanted)(void *arg, int fd), void *arg,
			  struct scio_pending *out, int cap)
{
	int n = 0;
	pid_t me = this_tid();
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_PENDING_MAX; i++) {
		struct scio_pending *e = &table.e[i];
		if (!table.used[i] || e->tid != me)
			continue;
		int want = n < cap && wanted(arg, e->fd);
		if (!want && !e->live)
			continue;
		if (e->cookie != scio_socket_cookie(e->fd)) {
			release_as(i, me, SCIO_LIVE_CLOSED);
		} else if (want) {
			out[n++] = *e;
			__atomic_sub_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
			table.used[i] = 0;
		}
	}
	count_mine(me);
	scio_unlock(&table.lock);
	return n;
}

static void unhold(struct scio_live *l)
{
	for (int i = 0; i < SCIO_HELD_MAX; i++)
		if (table.held[i] == l) {
			table.held[i] = NULL;
			__atomic_sub_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
		}
}

void scio_pending_hold(struct scio_live *l)
{
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_HELD_MAX; i++)
		if (!table.held[i]) {
			table.held[i] = l;
			__atomic_add_fetch(&scio_pending_races, 1, __ATOMIC_RELAXED);
			break;
		}
	scio_unlock(&table.lock);
}

void scio_pending_unhold(struct scio_live *l)
{
	scio_lock(&table.lock);
	unhold(l);
	scio_unlock(&table.lock);
}

void scio_pending_put_back(const struct scio_pending *p)
{
	scio_lock(&table.lock);
	if (p->live)
		unhold(p->live);
	if (insert(p) < 0 && p->live)
		scio_live_free(p->live, SCIO_LIVE_GIVEN_BACK);  /* no room: given up */
	count_mine(p->tid);
	scio_unlock(&table.lock);
}

int scio_pending_drop_answer(uint64_t answer_id)
{
	int dropped = 0;
	pid_t me = 0;
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_PENDING_MAX; i++) {
		if (table.used[i] && table.e[i].m.id == answer_id) {
			if (!dropped)
				me = this_tid();
			release(i, me);
			dropped = 1;
		}
	}
	if (dropped)
		count_mine(me);
	scio_unlock(&table.lock);
	return dropped;
}

void scio_pending_drop_fd(int fd)
{
	pid_t me = this_tid();
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_PENDING_MAX; i++)
		if (table.used[i] && table.e[i].fd == fd)
			release(i, me);
	count_mine(me);
	scio_unlock(&table.lock);
}

/* fd was the epoll set a race keeps its socket out of: the set is gone,
 * and a new one may get its number; nothing goes back into it. */
static void epfd_closing(struct scio_live *l, int fd, int in_table)
{
	if (__atomic_load_n(&l->hidden_epfd, __ATOMIC_ACQUIRE) != fd)
		return;
	scio_epoll_forget(fd, l->fd);
	if (in_table)
		l->hidden_epfd = -1;
	else
		__atomic_or_fetch(&l->gone, SCIO_LIVE_EPFD_GONE, __ATOMIC_RELEASE);
}

void scio_pending_closing(int fd)
{
	if (scio_locks_held)
		return;  /* a handler's close inside the library: the next wait sees it */
	int saved = errno;
	if (getpid() != __atomic_load_n(&table.pid, __ATOMIC_RELAXED)) {
		errno = saved;
		return;  /* a vfork child's close: the parent's fd stays open */
	}
	pid_t me = this_tid();
	scio_lock(&table.lock);
	for (int i = 0; i < SCIO_PENDING_MAX; i++) {
		if (!table.used[i] || table.e[i].fd != fd) {
			if (table.used[i] && table.e[i].live)
				epfd_closing(table.e[i].live, fd, 1);
			continue;
		}
		release_as(i, me, SCIO_LIVE_CLOSED);
	}
	for (int i = 0; i < SCIO_HELD_MAX; i++) {
		struct scio_live *l = table.held[i];
		if (l && l->fd == fd)
			__atomic_or_fetch(&l->gone, SCIO_LIVE_FD_GONE, __ATOMIC_RELEASE);
		else if (l)
			epfd_closing(l, fd, 0);
	}
	count_mine(me);
	scio_unlock(&table.lock);
	errno = saved;
}
