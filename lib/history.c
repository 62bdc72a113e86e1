/* history.c - per-destination and per-network connect outcomes, in
 * memory and in a per-user file (see history.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "history.h"

#define RECHECK_MS 200
#define KIND_DEST 1
#define KIND_NET 2

static struct {
	pthread_mutex_t lock;
	enum scio_history_mode mode;
	char path[512];
	struct scio_hist_file mem;
	struct stat seen;       /* the file as last read */
	int64_t checked;
	int64_t clock;          /* LRU stamps */
	int failing;            /* entries failing now: 0 lets lookups skip the lock */
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int failing(const struct scio_hist_entry *e, int64_t now);

/* Recounts the failing entries (lock held) after the store changed. */
static void count_failing(int64_t now)
{
	int n = 0;
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++)
		n += H.mem.e[i].kind && failing(&H.mem.e[i], now);
	__atomic_store_n(&H.failing, n, __ATOMIC_RELEASE);
}

static struct scio_fork_lock fork_lock = { .m = &H.lock };
static void fork_prepare(void) { scio_fork_prepare(&fork_lock); }
static void fork_parent(void) { scio_fork_parent(&fork_lock); }
static void fork_child(void) { scio_fork_child(&fork_lock); }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int64_t scio_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void empty_store(struct scio_hist_file *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->magic, "SCIOHIST", 8);
	f->version = SCIO_HISTORY_VERSION;
	f->slots = SCIO_HISTORY_SLOTS;
	f->entry_size = sizeof(struct scio_hist_entry);
}

/* A private directory of ours, created if missing. */
static int private_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -1;
	return 0;
}

static int default_path(char *out, size_t size)
{
	const char *run = secure_getenv("XDG_RUNTIME_DIR");
	const char *home = secure_getenv("HOME");
	char dir[400];
	if (run && *run == '/') {
		snprintf(dir, sizeof(dir), "%s/scio", run);
	} else if (home && *home == '/') {
		snprintf(dir, sizeof(dir), "%s/.cache", home);
		if (private_dir(dir) < 0 && errno != EEXIST)
			return -1;
		snprintf(dir, sizeof(dir), "%s/.cache/scio", home);
	} else {
		return -1;
	}
	if (private_dir(dir) < 0)
		return -1;
	return snprintf(out, size, "%s/history", dir) < (int)size ? 0 : -1;
}

void scio_history_configure(enum scio_history_mode mode, const char *file)
{
	scio_once(&atfork_once, register_atfork);
	scio_lock(&H.lock);
	if (mode == SCIO_HISTORY_SHARED && getauxval(AT_SECURE))
		mode = SCIO_HISTORY_OFF;  /* setuid: no files of the caller's */
	H.mode = mode;
	H.path[0] = '\0';
	if (mode == SCIO_HISTORY_SHARED) {
		if (file && *file)
			snprintf(H.path, sizeof(H.path), "%s", file);
		else if (default_path(H.path, sizeof(H.path)) < 0)
			H.mode = SCIO_HISTORY_PROCESS;
	}
	empty_store(&H.mem);
	memset(&H.seen, 0, sizeof(H.seen));
	H.checked = 0;
	H.failing = 0;
	scio_unlock(&H.lock);
}

const char *scio_history_path(void)
{
	return H.path;
}

/* Our own regular file, private to us: anything else is not trusted. */
static int trusted(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
	       st->st_uid == geteuid() && (st->st_mode & 077) == 0;
}

static int valid_store(const struct scio_hist_file *f)
{
	return memcmp(f->magic, "SCIOHIST", 8) == 0 &&
	       f->version == SCIO_HISTORY_VERSION &&
	       f->slots == SCIO_HISTORY_SLOTS &&
	       f->entry_size == sizeof(struct scio_hist_entry);
}

/* Entries that make no sense are dropped, not trusted. */
static void sanitize(struct scio_hist_file *f)
{
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++) {
		struct scio_hist_entry *e = &f->e[i];
		int ok = e->kind == 0 ||
			 ((e->kind == KIND_DEST || e->kind == KIND_NET) &&
			  (e->family == 4 || e->family == 6) &&
			  e->prefix <= (e->family == 4 ? 32 : 128) &&
			  e->fail_kind <= SCIO_FAIL_REFUSED);
		if (!ok)
			memset(e, 0, sizeof(*e));
	}
}

static int read_store(int fd, struct scio_hist_file *out)
{
	ssize_t n = pread(fd, out, sizeof(*out), 0);
	if (n != (ssize_t)sizeof(*out) || !valid_store(out))
		return -1;
	sanitize(out);
	return 0;
}

/* flock, bounded: a process stuck while holding the file must not hold
 * up a connect (history is advice, skipped when it cannot be had). */
static int lock_file(int fd, int op)
{
	for (int tries = 0; tries < 20; tries++) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	return -1;
}

/* While the file is open and locked, signals wait: a handler that jumps
 * out with siglongjmp must not leave H.lock, the fd or its flock behind. */
static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

int scio_history_load_file(const char *path, struct scio_hist_file *out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (trusted(fd, &st) && lock_file(fd, LOCK_SH) == 0) {
		rc = read_store(fd, out);
		flock(fd, LOCK_UN);
	}
	close(fd);
	return rc;
}

/* The file's contents while H.lock is held: no malloc on the connect
 * path, which a signal handler may take while the thread is in malloc. */
static struct scio_hist_file scratch;

/* Brings H.mem up to date with the file (lock held). */
static void refresh(int64_t now)
{
	if (H.mode != SCIO_HISTORY_SHARED || now - H.checked < RECHECK_MS)
		return;
	__atomic_store_n(&H.checked, now, __ATOMIC_RELAXED);
	struct stat st;
	if (lstat(H.path, &st) < 0)
		return;
	if (st.st_ino == H.seen.st_ino && st.st_size == H.seen.st_size &&
	    st.st_mtim.tv_sec == H.seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == H.seen.st_mtim.tv_nsec)
		return;
	struct scio_hist_file *f = &scratch;
	sigset_t old;
	block_signals(&old);
	if (scio_history_load_file(H.path, f) == 0)
		H.mem = *f;
	restore_signals(&old);
	H.seen = st;
	count_failing(now);
}

static void masked(const struct sockaddr *sa, int prefix, uint8_t *out, int *family)
{
	memset(out, 0, 16);
	const uint8_t *a;
	int len;
	if (sa->sa_family == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		len = 16;
		*family = 6;
	} else {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		len = 4;
		*family = 4;
	}
	for (int i = 0; i < len && prefix > 0; i++, prefix -= 8)
		out[i] = prefix >= 8 ? a[i] : (uint8_t)(a[i] & (0xff << (8 - prefix)));
}

static int net_prefix(int family)
{
	return family == 6 ? 64 : 24;
}

static struct scio_hist_entry *find(struct scio_hist_file *f, int kind,
				    const struct sockaddr *sa, int create, int64_t stamp)
{
	uint8_t key[16];
	int family;
	masked(sa, 128, key, &family);
	int prefix = kind == KIND_DEST ? (family == 6 ? 128 : 32) : net_prefix(family);
	masked(sa, prefix, key, &family);

	struct scio_hist_entry *victim = &f->e[0];
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++) {
		struct scio_hist_entry *e = &f->e[i];
		if (e->kind == kind && e->family == family && e->prefix == prefix &&
		    memcmp(e->addr, key, 16) == 0)
			return e;
		if (e->kind == 0 || (victim->kind != 0 && e->used < victim->used))
			victim = e;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->kind = (uint8_t)kind;
	victim->family = (uint8_t)family;
	victim->prefix = (uint8_t)prefix;
	memcpy(victim->addr, key, 16);
	victim->used = stamp;
	return victim;
}

static enum scio_fail_kind fail_kind(int err)
{
	switch (err) {
	case ECONNREFUSED: return SCIO_FAIL_REFUSED;
	case EHOSTUNREACH: case ENETUNREACH: case EACCES: return SCIO_FAIL_UNREACHABLE;
	default: return SCIO_FAIL_TIMEOUT;
	}
}

static void note(struct scio_hist_entry *e, int ok, int err, uint32_t rtt_us,
		 int64_t now, int64_t stamp)
{
	e->used = stamp;
	if (ok) {
		e->last_success = now;
		e->last_failure = 0;
		e->fail_kind = SCIO_FAIL_NONE;
		e->srtt_us = e->srtt_us ? (7 * e->srtt_us + rtt_us) / 8 : rtt_us;
	} else {
		e->last_failure = now;
		e->fail_kind = (uint8_t)fail_kind(err);
	}
}

/* What a race says about each attempt: 1 worked, -1 failed (or lost the
 * race to an attempt started after it), 0 nothing learnt. */
static int verdict(const struct scio_report *rep, size_t k)
{
	const struct scio_attempt *a = &rep->attempt[k];
	if (a->won)
		return 1;
	if (a->end_us >= 0 && a->error && a->error != ECANCELED && a->error != EINTR)
		return -1;
	if (rep->winner >= 0 && a->start_us < rep->attempt[rep->winner].start_us)
		return -1;  /* in flight longer than the winner needed */
	if (rep->winner < 0 && a->error == ETIMEDOUT)
		return -1;  /* still nothing when the deadline came */
	return 0;
}

static void apply(struct scio_hist_file *f, const struct scio_report *rep, int64_t now)
{
	for (size_t k = 0; k < rep->count; k++) {
		int v = verdict(rep, k);
		if (v == 0)
			continue;
		const struct scio_attempt *a = &rep->attempt[k];
		const struct sockaddr *sa = (const struct sockaddr *)&a->addr;
		uint32_t rtt = (uint32_t)(a->end_us - a->start_us);
		int64_t stamp = ++H.clock + now;
		note(find(f, KIND_DEST, sa, 1, stamp), v > 0, a->error, rtt, now, stamp);
		note(find(f, KIND_NET, sa, 1, stamp), v > 0, a->error, rtt, now, stamp);
	}
}

/* Read-modify-write of the file under an exclusive lock (lock held). */
static void write_through(const struct scio_report *rep, int64_t now)
{
	struct stat st;
	sigset_t old;
	block_signals(&old);
	int fd = open(H.path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && trusted(fd, &st) && lock_file(fd, LOCK_EX) == 0) {
		struct scio_hist_file *f = &scratch;
		if (read_store(fd, f) < 0)
			empty_store(f);  /* new, corrupt or foreign: rebuilt */
		apply(f, rep, now);
		if (pwrite(fd, f, sizeof(*f), 0) == (ssize_t)sizeof(*f) &&
		    ftruncate(fd, sizeof(*f)) == 0)
			H.mem = *f;
		if (fstat(fd, &st) == 0)
			H.seen = st;
		flock(fd, LOCK_UN);
	} else {
		apply(&H.mem, rep, now);  /* the file later, maybe */
	}
	if (fd >= 0)
		close(fd);
	restore_signals(&old);
}

/* Worth writing to the shared file: a failure, or a success that changes
 * what the file says (a destination failing before, unknown, or not seen
 * working for a minute).  Routine successes stay in memory: a program
 * connecting in a loop does not rewrite the file every time. */
#define REFRESH_MS 60000
static int news(const struct scio_report *rep, int64_t now)
{
	for (size_t k = 0; k < rep->count; k++) {
		int v = verdict(rep, k);
		if (v < 0)
			return 1;
		if (v == 0)
			continue;
		const struct sockaddr *sa = (const struct sockaddr *)&rep->attempt[k].addr;
		const struct scio_hist_entry *d = find(&H.mem, KIND_DEST, sa, 0, 0);
		const struct scio_hist_entry *n = find(&H.mem, KIND_NET, sa, 0, 0);
		if (!d || !n || d->last_failure || n->last_failure ||
		    now - d->last_success > REFRESH_MS)
			return 1;
	}
	return 0;
}

/* A race won by its first attempt, nothing failing anywhere: the
 * history has nothing to learn that it did not learn a second ago. */
static int routine(const struct scio_report *rep, int64_t now)
{
	static int64_t last;
	if (rep->count != 1 || !rep->attempt[0].won ||
	    __atomic_load_n(&H.failing, __ATOMIC_ACQUIRE))
		return 0;
	int64_t then = __atomic_load_n(&last, __ATOMIC_RELAXED);
	if (now - then < 1000)
		return 1;
	__atomic_store_n(&last, now, __ATOMIC_RELAXED);
	return 0;
}

void scio_history_record(const struct scio_report *rep, int64_t now)
{
	if (!rep || rep->count == 0 || H.mode == SCIO_HISTORY_OFF || routine(rep, now))
		return;
	int saved = errno;
	scio_lock(&H.lock);
	refresh(now);
	if (H.mode == SCIO_HISTORY_SHARED && news(rep, now))
		write_through(rep, now);
	else
		apply(&H.mem, rep, now);
	count_failing(now);
	scio_unlock(&H.lock);
	errno = saved;
}

static int failing(const struct scio_hist_entry *e, int64_t now)
{
	return e && e->last_failure > e->last_success &&
	       now - e->last_failure < SCIO_HISTORY_TTL_MS;
}

int scio_history_broken(const struct sockaddr *dst, int64_t now)
{
	if (H.mode == SCIO_HISTORY_OFF)
		return 0;
	/* nothing failing, and the file was looked at a moment ago */
	if (!__atomic_load_n(&H.failing, __ATOMIC_ACQUIRE) &&
	    now - __atomic_load_n(&H.checked, __ATOMIC_RELAXED) < RECHECK_MS)
		return 0;
	int saved = errno;
	scio_lock(&H.lock);
	refresh(now);
	struct scio_hist_entry *d = find(&H.mem, KIND_DEST, dst, 0, 0);
	int broken = failing(d, now) ||
		     (!(d && d->last_success > d->last_failure) &&
		      failing(find(&H.mem, KIND_NET, dst, 0, 0), now));
	scio_unlock(&H.lock);
	errno = saved;
	return broken;
}

uint32_t scio_history_srtt(const struct sockaddr *dst, int64_t now)
{
	if (H.mode == SCIO_HISTORY_OFF)
		return 0;
	scio_lock(&H.lock);
	refresh(now);
	struct scio_hist_entry *n = find(&H.mem, KIND_NET, dst, 0, 0);
	uint32_t srtt = n ? n->srtt_us : 0;
	scio_unlock(&H.lock);
	return srtt;
}

void scio_history_forget(void)
{
	scio_lock(&H.lock);
	empty_store(&H.mem);
	H.failing = 0;
	if (H.mode == SCIO_HISTORY_SHARED && H.path[0]) {
		struct stat st;
		int fd = open(H.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && trusted(fd, &st) && lock_file(fd, LOCK_EX) == 0) {
			if (pwrite(fd, &H.mem, sizeof(H.mem), 0) == (ssize_t)sizeof(H.mem))
				(void)ftruncate(fd, sizeof(H.mem));
			flock(fd, LOCK_UN);
		}
		if (fd >= 0)
			close(fd);
	}
	scio_unlock(&H.lock);
}
