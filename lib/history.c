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
#include "log.h"

#define RECHECK_MS 200
/* Processes of one machine share its clock: a time later than now by
 * more than this is a clock stepped back or a forged entry, not believed. */
#define FUTURE_MS 2000
#define KIND_DEST 1
#define KIND_NET 2

static struct {
	pthread_mutex_t lock;
	enum scio_history_mode mode;
	char path[SCIO_HISTORY_PATH_MAX];
	struct scio_hist_file mem;
	struct stat seen;       /* the file as last read */
	int64_t checked;
	int64_t clock;          /* LRU stamps */
	int failing;            /* entries failing now: 0 lets lookups skip the lock */
	int warned;             /* the one warning about an unusable store given */
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int failing(const struct scio_hist_entry *e, int64_t now);

/* Recounts the failing entries (lock held) after the store changed. */
static void count_failing(int64_t now)
{
	int n = 0;
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++)
		n += (H.mem.e[i].kind == KIND_DEST || H.mem.e[i].kind == KIND_NET) &&
		     failing(&H.mem.e[i], now);
	__atomic_store_n(&H.failing, n, __ATOMIC_RELEASE);
}

SCIO_FORK_SAFE_LOCK(H.lock)

static void empty_store(struct scio_hist_file *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->magic, "SCIOHIST", 8);
	f->version = SCIO_HISTORY_VERSION;
	f->slots = SCIO_HISTORY_SLOTS;
	f->entry_size = sizeof(struct scio_hist_entry);
}

/* Appends "/part" to out; -1 when it does not fit (nothing is ever
 * created under a truncated path). */
static int append(char *out, size_t size, const char *part)
{
	size_t len = strlen(out);
	int n = snprintf(out + len, size - len, "/%s", part);
	return n >= 0 && (size_t)n < size - len ? 0 : -1;
}

/* Once per process: a store that cannot be used says so once. */
static void warn_once(const char *what, const char *path, const char *why)
{
	if (H.warned)
		return;
	H.warned = 1;
	scio_log(SCIO_LOG_WARN, "history %s %s %s; history kept in memory", what, path, why);
}

/* One directory on a store's path: its name, the mode bits it must not
 * have, and whether it is scio's own (then a wrong one is worth a
 * warning: the user lost the shared store). */
struct step {
	const char *name;
	mode_t forbidden;
	int scios;
};

/* dirfd/name as a directory we may keep the store in: a directory, not a
 * symlink, owned by the effective uid, with none of the forbidden mode
 * bits.  Created 0700 when missing and create is set.  Returns an O_PATH
 * descriptor, or -1. */
static int own_dir(int dirfd, const struct step *s, int create, const char *path)
{
	if (create && mkdirat(dirfd, s->name, 0700) < 0 && errno != EEXIST)
		return -1;
	int fd = openat(dirfd, s->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid() && (st.st_mode & s->forbidden) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	if (s->scios)
		warn_once("directory", path, "is not a private directory of this user");
	else
		scio_log(SCIO_LOG_DEBUG, "history: %s is not a private directory of uid %u",
			 path, (unsigned)geteuid());
	return -1;
}

/* base/steps.../history, each directory checked (and created when
 * missing) relative to the one before, so that no symlink is followed
 * on the way; the base itself must be the user's and closed to others
 * (base_forbidden).  The whole path is checked for length first. */
static int make_store(const char *base, mode_t base_forbidden,
		      const struct step *steps, size_t n, char *out, size_t size)
{
	if (!base || base[0] != '/')
		return -1;
	int len = snprintf(out, size, "%s", base);
	if (len < 0 || (size_t)len >= size)
		return -1;
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';  /* "dir/" would follow a symlink at dir */
	char dir[SCIO_HISTORY_PATH_MAX];
	memcpy(dir, out, (size_t)len + 1);
	for (size_t i = 0; i < n; i++)
		if (append(out, size, steps[i].name) < 0)
			return -1;
	if (append(out, size, "history") < 0)
		return -1;
	struct step first = { dir, base_forbidden, 0 };
	int fd = own_dir(AT_FDCWD, &first, 0, dir);
	for (size_t i = 0; i < n && fd >= 0; i++) {
		int next = append(dir, sizeof(dir), steps[i].name) < 0 ? -1 :
			   own_dir(fd, &steps[i], 1, dir);
		close(fd);
		fd = next;
	}
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Login users (Debian's UID_MIN..UID_MAX) may keep the store in their
 * home; root and system users (daemons) never do. */
static int login_user(uid_t uid)
{
	return uid >= 1000 && uid < 60000;
}

/* Where the shared store lives: $XDG_RUNTIME_DIR/scio when that is a
 * private directory of ours; else /run/scio/0 for root, ~/.cache/scio
 * for login users; else nowhere (-1: the process keeps its own). */
static int default_path(char *out, size_t size)
{
	static const struct step runtime[] = { { "scio", 077, 1 } };
	static const struct step home[] = { { ".cache", 022, 0 }, { "scio", 077, 1 } };
	static const struct step run[] = { { "scio", 077, 1 }, { "0", 077, 1 } };
	uid_t uid = geteuid();
	if (make_store(secure_getenv("XDG_RUNTIME_DIR"), 077, runtime, 1, out, size) == 0)
		return 0;
	if (uid == 0)
		return make_store("/run", 022, run, 2, out, size);
	if (login_user(uid))
		return make_store(secure_getenv("HOME"), 022, home, 2, out, size);
	return -1;
}

/* H.path: file, or the default place; 0 when there is none. */
static int store_path(const char *file)
{
	if (!file || !*file)
		return default_path(H.path, sizeof(H.path)) == 0;
	int n = snprintf(H.path, sizeof(H.path), "%s", file);
	return file[0] == '/' && n >= 0 && (size_t)n < sizeof(H.path);
}

void scio_history_configure(enum scio_history_mode mode, const char *file)
{
	scio_once(&atfork_once, register_atfork);
	scio_lock(&H.lock);
	if (mode == SCIO_HISTORY_SHARED && getauxval(AT_SECURE))
		mode = SCIO_HISTORY_OFF;  /* setuid: no files of the caller's */
	H.mode = mode;
	H.path[0] = '\0';
	H.warned = 0;
	if (mode == SCIO_HISTORY_SHARED && !store_path(file)) {
		H.path[0] = '\0';
		H.mode = SCIO_HISTORY_PROCESS;
		scio_log(SCIO_LOG_DEBUG, "history: no shared store; kept in memory");
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

/* Our own regular file, private to us, with no other name (a hard link
 * planted to one of our files): anything else is not trusted. */
static int trusted(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_nlink == 1 &&
	       st->st_uid == geteuid() && (st->st_mode & 077) == 0;
}

/* Opens the store file: never blocking (a FIFO planted there), never
 * through a symlink; kept only when trusted(), then made blocking again.
 * -1 otherwise. */
static int open_store(const char *path, int flags, struct stat *st)
{
	int fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -1;
	int fl;
	if (trusted(fd, st) && (fl = fcntl(fd, F_GETFL)) >= 0 &&
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0)
		return fd;
	close(fd);
	errno = EPERM;
	return -1;
}

/* What an open store file holds: 0 nothing yet, 1 this store's header and
 * version (whatever follows), -1 anything else, which is never written. */
static int writable_kind(int fd, const struct stat *st)
{
	char head[12];
	uint32_t version;
	if (st->st_size == 0)
		return 0;
	if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
		return -1;
	memcpy(&version, head + 8, sizeof(version));
	return memcmp(head, "SCIOHIST", 8) == 0 && version == SCIO_HISTORY_VERSION ? 1 : -1;
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
			  e->fail_kind <= SCIO_FAIL_REFUSED &&
			  e->last_success >= 0 && e->last_failure >= 0 && e->used >= 0);
		if (!ok && e->kind == SCIO_HIST_NAT64)
			ok = scio_nat64_len_ok(e->prefix) && e->family == 6 &&
			     e->last_success >= 0 && e->used >= 0;
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
	int fd = open_store(path, O_RDONLY, &st);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (lock_file(fd, LOCK_SH) == 0) {
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

/* Use stamps from the future (a clock stepped back) count as oldest, so
 * that they do not make new entries evict each other. */
static int64_t lru_key(const struct scio_hist_entry *e, int64_t stamp)
{
	return e->used > stamp + FUTURE_MS ? 0 : e->used;
}

/* The entry `matches` takes, else (create) the least recently used
 * slot, emptied; NULL when none matches and create is 0. */
static struct scio_hist_entry *slot(struct scio_hist_file *f,
				    int (*matches)(const struct scio_hist_entry *, const void *),
				    const void *key, int create, int64_t stamp)
{
	struct scio_hist_entry *victim = &f->e[0];
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++) {
		struct scio_hist_entry *e = &f->e[i];
		if (matches(e, key))
			return e;
		if (create && (e->kind == 0 ||
			       (victim->kind != 0 && lru_key(e, stamp) < lru_key(victim, stamp))))
			victim = e;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	return victim;
}

struct place {
	int kind, family, prefix;
	uint8_t addr[16];
};

static int same_place(const struct scio_hist_entry *e, const void *key)
{
	const struct place *k = key;
	return e->kind == k->kind && e->family == k->family && e->prefix == k->prefix &&
	       memcmp(e->addr, k->addr, 16) == 0;
}

/* The slot where a destination, and a network, was last found: looked at
 * first, since a program mostly connects to the same few places (every
 * connect looks its destination up for the delay); only a hint, checked
 * like any slot, so a stale one costs the usual scan.  A place has one
 * slot at most: one is made only when the scan found none. */
static size_t last_found[2];

static struct scio_hist_entry *find(struct scio_hist_file *f, int kind,
				    const struct sockaddr *sa, int create, int64_t stamp)
{
	struct place k = { .kind = kind };
	masked(sa, 128, k.addr, &k.family);
	k.prefix = kind == KIND_DEST ? (k.family == 6 ? 128 : 32) : net_prefix(k.family);
	masked(sa, k.prefix, k.addr, &k.family);

	size_t *hint = &last_found[kind == KIND_DEST];
	size_t h = __atomic_load_n(hint, __ATOMIC_RELAXED);
	if (h < SCIO_HISTORY_SLOTS && same_place(&f->e[h], &k))
		return &f->e[h];
	struct scio_hist_entry *e = slot(f, same_place, &k, create, stamp);
	if (e)
		__atomic_store_n(hint, (size_t)(e - f->e), __ATOMIC_RELAXED);
	if (e && e->kind == 0) {
		e->kind = (uint8_t)kind;
		e->family = (uint8_t)k.family;
		e->prefix = (uint8_t)k.prefix;
		memcpy(e->addr, k.addr, 16);
		e->used = stamp;
	}
	return e;
}

static enum scio_fail_kind fail_kind(int err)
{
	switch (err) {
	case ECONNREFUSED: return SCIO_FAIL_REFUSED;
	case EHOSTUNREACH: case ENETUNREACH: case EACCES: return SCIO_FAIL_UNREACHABLE;
	default: return SCIO_FAIL_TIMEOUT;
	}
}

/* A connect slower than TCP's initial retransmission timeout (1 s, RFC
 * 6298) most likely needed a second SYN: its time is the timer's, not
 * the path's, and would inflate the delay learnt from it (Karn's
 * algorithm leaves such samples out too). */
#define RTT_SAMPLE_MAX_US 1000000u

static void note(struct scio_hist_entry *e, int ok, int err, uint32_t rtt_us,
		 int64_t now, int64_t stamp)
{
	e->used = stamp;
	if (ok) {
		e->last_success = now;
		e->last_failure = 0;
		e->fail_kind = SCIO_FAIL_NONE;
		if (rtt_us < RTT_SAMPLE_MAX_US)
			e->srtt_us = e->srtt_us ? (7 * e->srtt_us + rtt_us) / 8 : rtt_us;
	} else {
		e->last_failure = now;
		e->fail_kind = (uint8_t)fail_kind(err);
		if (e->last_success > now + FUTURE_MS)  /* before the clock went back */
			e->last_success = 0;
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

/* The store file open read-write, locked, known to be empty or a store
 * (lock held); -1 with the one warning otherwise. */
static int open_for_write(int create, struct stat *st)
{
	int fd = open_store(H.path, O_RDWR | (create ? O_CREAT : 0), st);
	if (fd < 0) {
		if (errno != ENOENT)
			warn_once("file", H.path, "is not a private regular file of this user");
		return -1;
	}
	if (lock_file(fd, LOCK_EX) < 0) {
		close(fd);  /* busy: this time in memory only */
		errno = EBUSY;
		return -1;
	}
	if (writable_kind(fd, st) < 0) {
		warn_once("file", H.path, "is not a scio history store (left untouched)");
		flock(fd, LOCK_UN);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* A change to a store: in the file's copy or, without the file, in
 * memory only. */
typedef void store_change(struct scio_hist_file *f, const void *arg);

/* Read-modify-write of the file under an exclusive lock (H.lock held);
 * the change goes to memory alone when the file cannot be had. */
static void write_through(store_change *change, const void *arg)
{
	struct stat st;
	sigset_t old;
	block_signals(&old);
	int fd = open_for_write(1, &st);
	if (fd >= 0) {
		struct scio_hist_file *f = &scratch;
		if (read_store(fd, f) < 0)
			empty_store(f);  /* new, or our truncated store: rebuilt */
		change(f, arg);
		if (pwrite(fd, f, sizeof(*f), 0) == (ssize_t)sizeof(*f) &&
		    ftruncate(fd, sizeof(*f)) == 0)
			H.mem = *f;
		if (fstat(fd, &st) == 0)
			H.seen = st;
		flock(fd, LOCK_UN);
		close(fd);
	} else {
		change(&H.mem, arg);  /* the file later, maybe */
	}
	restore_signals(&old);
}

struct report_at {
	const struct scio_report *rep;
	int64_t now;
};

static void apply_report(struct scio_hist_file *f, const void *arg)
{
	const struct report_at *r = arg;
	apply(f, r->rep, r->now);
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
		write_through(apply_report, &(struct report_at){ rep, now });
	else
		apply(&H.mem, rep, now);
	count_failing(now);
	scio_unlock(&H.lock);
	errno = saved;
}

/* Failed in the last TTL and not worked since; a failure dated after
 * now (beyond FUTURE_MS) is not believed. */
static int failing(const struct scio_hist_entry *e, int64_t now)
{
	return e && e->last_failure > e->last_success &&
	       e->last_failure <= now + FUTURE_MS &&
	       now - e->last_failure < SCIO_HISTORY_TTL_MS;
}

static int worked(const struct scio_hist_entry *e, int64_t now)
{
	return e && e->last_success > e->last_failure && e->last_success <= now + FUTURE_MS;
}

static int in_network(const struct scio_hist_entry *d, const struct scio_hist_entry *net)
{
	size_t bytes = net->prefix / 8u;
	return d->kind == KIND_DEST && d->family == net->family &&
	       memcmp(d->addr, net->addr, bytes) == 0;
}

/* A network is broken when at least two of its destinations failed since
 * any destination there last worked: one dead host does not condemn its
 * neighbours, a success anywhere in the network clears the verdict. */
static int network_failing(const struct scio_hist_file *f,
			   const struct scio_hist_entry *net, int64_t now)
{
	if (!failing(net, now))
		return 0;
	int dests = 0;
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS && dests < 2; i++) {
		const struct scio_hist_entry *d = &f->e[i];
		dests += in_network(d, net) && failing(d, now) &&
			 d->last_failure > net->last_success;
	}
	return dests >= 2;
}

int scio_history_entry_failing(const struct scio_hist_file *f,
			       const struct scio_hist_entry *e, int64_t now)
{
	return e->kind == KIND_NET ? network_failing(f, e, now) : failing(e, now);
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
	struct scio_hist_entry *n = find(&H.mem, KIND_NET, dst, 0, 0);
	int broken = failing(d, now) ||
		     (!worked(d, now) && n && network_failing(&H.mem, n, now));
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

/* An entry's smoothed connect time, when it ever worked (by a clock
 * that has not gone back since). */
static uint32_t known_rtt(const struct scio_hist_entry *e, int64_t now)
{
	return e && e->last_success > 0 && e->last_success <= now + FUTURE_MS
	       ? e->srtt_us : 0;
}

uint32_t scio_history_rtt(const struct sockaddr *dst, int64_t now)
{
	if (H.mode == SCIO_HISTORY_OFF)
		return 0;
	int saved = errno;
	scio_lock(&H.lock);
	refresh(now);
	uint32_t rtt = known_rtt(find(&H.mem, KIND_DEST, dst, 0, 0), now);
	if (rtt == 0)
		rtt = known_rtt(find(&H.mem, KIND_NET, dst, 0, 0), now);
	scio_unlock(&H.lock);
	errno = saved;
	return rtt;
}

int scio_history_forget(void)
{
	int rc = 0;
	scio_lock(&H.lock);
	empty_store(&H.mem);
	H.failing = 0;
	if (H.mode == SCIO_HISTORY_SHARED && H.path[0]) {
		struct stat st;
		sigset_t old;
		block_signals(&old);
		int fd = open_for_write(0, &st);
		rc = fd < 0 && errno != ENOENT ? -1 : 0;
		if (fd >= 0) {
			if (pwrite(fd, &H.mem, sizeof(H.mem), 0) != (ssize_t)sizeof(H.mem) ||
			    ftruncate(fd, sizeof(H.mem)) < 0)
				rc = -1;
			flock(fd, LOCK_UN);
			close(fd);
		}
		restore_signals(&old);
	}
	scio_unlock(&H.lock);
	return rc;
}

/* ---- NAT64 prefixes per network (history.h) ---- */

static int same_network(const struct scio_hist_entry *e, const void *key)
{
	return e->kind == SCIO_HIST_NAT64 && e->srtt_us == *(const uint32_t *)key;
}

static struct scio_hist_entry *find_nat64(struct scio_hist_file *f, uint32_t net,
					  int create, int64_t stamp)
{
	struct scio_hist_entry *e = slot(f, same_network, &net, create, stamp);
	if (e && e->kind == 0) {
		e->kind = SCIO_HIST_NAT64;
		e->family = 6;
		e->srtt_us = net;
	}
	return e;
}

struct nat64_at {
	uint32_t net;
	const struct scio_nat64_prefix *p;
	int64_t now, expires;
};

static void nat64_note(struct scio_hist_file *f, const void *arg)
{
	const struct nat64_at *n = arg;
	int64_t stamp = ++H.clock + n->now;
	struct scio_hist_entry *e = find_nat64(f, n->net, 1, stamp);
	e->prefix = (uint8_t)n->p->len;
	memcpy(e->addr, &n->p->addr, 16);
	e->last_success = n->now;
	e->last_failure = n->expires;
	e->used = stamp;
}

int scio_history_nat64_get(uint32_t net, int64_t now, struct scio_nat64_prefix *p,
			   int64_t *expires)
{
	if (H.mode == SCIO_HISTORY_OFF)
		return -1;
	int saved = errno, rc = -1;
	scio_lock(&H.lock);
	refresh(now);
	const struct scio_hist_entry *e = find_nat64(&H.mem, net, 0, 0);
	/* learnt in the past (not a clock stepped back), not expired */
	if (e && e->last_success <= now + FUTURE_MS && now < e->last_failure) {
		memcpy(&p->addr, e->addr, 16);
		p->len = e->prefix;
		*expires = e->last_failure;
		rc = 0;
	}
	scio_unlock(&H.lock);
	errno = saved;
	return rc;
}

void scio_history_nat64_put(uint32_t net, const struct scio_nat64_prefix *p,
			    int64_t now, int64_t expires)
{
	if (H.mode == SCIO_HISTORY_OFF)
		return;
	int saved = errno;
	scio_lock(&H.lock);
	refresh(now);
	struct nat64_at note = { net, p, now, expires };
	if (H.mode == SCIO_HISTORY_SHARED)
		write_through(nat64_note, &note);
	else
		nat64_note(&H.mem, &note);
	scio_unlock(&H.lock);
	errno = saved;
}
