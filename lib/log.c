/* log.c - one write() per line, to stderr or SCIO_LOG_FILE.
 *
 * The log file is opened at its first line and kept open.  It runs in
 * programs of every user, often root, so the open trusts nothing at the
 * path: O_NOFOLLOW (no symlink planted by another user), O_NONBLOCK (a
 * FIFO cannot hang the program's connect; it stays set, so a line that
 * cannot be written at once is dropped), and only a regular file of the
 * effective uid with a single link is kept (no hard link to a file of
 * ours planted elsewhere).  Anything else: one warning, then stderr.
 *
 * The descriptor lives in the program's table, where the program may
 * close it or dup2 over it (daemons close every fd at start).  Before
 * each line it is checked to still be our file (device, inode, flags); if
 * not, that number is the program's now and is left alone: the file is
 * opened again.  It is moved to LOG_FD_FLOOR or above, so that the
 * program's own open() calls get the numbers they would get without
 * scio, and shell-style fixed numbers (exec 3>file) do not meet it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define LOG_FD_FLOOR 100
#define LOG_OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | \
			O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
#define LOG_FL_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK)
#define LOG_FL_WANT (O_WRONLY | O_APPEND | O_NONBLOCK)

static const struct scio_config *log_config;

/*
 * The open log file, read without a lock (a signal handler may log):
 * seq is odd while one thread (re)opens it, and a reader that sees seq
 * change under it does not trust what it read.
 */
static struct {
	int seq;
	int fd;                 /* -1: not open */
	int refused;            /* warned once; stderr from now on */
	unsigned long long dev, ino;
} sink = { .fd = -1 };

/* A reader that sees any field a writer stored (release) also sees the
 * odd seq stored before it, so its second look at seq tells it. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void write_all_or_drop(int fd, const char *buf, size_t len)
{
	ssize_t w = write(fd, buf, len);
	(void)w;  /* a short or failed line is dropped, never retried */
}

/* fd opened on path, or -1 with the reason in why. */
static int open_log_file(const char *path, struct stat *st, char *why, size_t size)
{
	int fd = open(path, LOG_OPEN_FLAGS, 0600);
	if (fd < 0) {
		int e = errno;
		struct stat link;
		/* O_NOFOLLOW gives ELOOP, or EACCES with O_CREAT on some kernels */
		if (lstat(path, &link) == 0 && S_ISLNK(link.st_mode))
			snprintf(why, size, "is a symbolic link (not followed)");
		else
			snprintf(why, size, "%s", e == ENXIO ? "is not a regular file" : strerror(e));
		return -1;
	}
	const char *bad = NULL;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		bad = "is not a regular file";
	if (!bad && st->st_uid != geteuid()) {
		snprintf(why, size, "belongs to uid %u, not to uid %u",
			 (unsigned)st->st_uid, (unsigned)geteuid());
		bad = why;
	}
	if (!bad && st->st_nlink != 1)
		bad = "has more than one hard link";
	if (bad) {
		if (bad != why)
			snprintf(why, size, "%s", bad);
		close(fd);
		return -1;
	}
	int high = fcntl(fd, F_DUPFD_CLOEXEC, LOG_FD_FLOOR);
	if (high >= 0) {  /* else (a tiny RLIMIT_NOFILE) keep the low one */
		close(fd);
		fd = high;
	}
	return fd;
}

static int still_ours(int fd, unsigned long long dev, unsigned long long ino)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino)
		return 0;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & LOG_FL_MASK) == LOG_FL_WANT;
}

static void warn_refused(const char *path, const char *why)
{
	char line[768];
	int n = snprintf(line, sizeof(line), "scio[%d]: SCIO_LOG_FILE=%.300s: %s; logging to stderr\n",
			 (int)getpid(), path, why);
	if (n > 0)
		write_all_or_drop(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Called by the thread that made seq odd; makes it even again. */
static int reopen(const char *path, int seq)
{
	char why[128];
	struct stat st;
	int fd = open_log_file(path, &st, why, sizeof(why));
	STORE(sink.fd, fd);
	STORE(sink.refused, fd < 0);
	STORE(sink.dev, fd < 0 ? 0 : (unsigned long long)st.st_dev);
	STORE(sink.ino, fd < 0 ? 0 : (unsigned long long)st.st_ino);
	__atomic_store_n(&sink.seq, seq + 2, __ATOMIC_RELEASE);
	if (fd < 0)
		warn_refused(path, why);
	return fd;
}

/* While another thread opens the file (or, in the child of a fork made
 * during that open, for good): this line gets an open of its own. */
static void write_privately(const char *path, const char *line, size_t len)
{
	char why[128];
	struct stat st;
	int fd = open_log_file(path, &st, why, sizeof(why));
	write_all_or_drop(fd < 0 ? 2 : fd, line, len);
	if (fd >= 0)
		close(fd);
}

static void write_to_file(const char *path, const char *line, size_t len)
{
	int seq = __atomic_load_n(&sink.seq, __ATOMIC_ACQUIRE);
	if (!(seq & 1)) {
		int fd = LOAD(sink.fd), refused = LOAD(sink.refused);
		unsigned long long dev = LOAD(sink.dev), ino = LOAD(sink.ino);
		if (__atomic_load_n(&sink.seq, __ATOMIC_RELAXED) == seq) {
			if (refused) {
				write_all_or_drop(2, line, len);
				return;
			}
			if (still_ours(fd, dev, ino)) {
				write_all_or_drop(fd, line, len);
				return;
			}
			if (__atomic_compare_exchange_n(&sink.seq, &seq, seq + 1, 0,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				fd = reopen(path, seq);
				write_all_or_drop(fd < 0 ? 2 : fd, line, len);
				return;
			}
		}
	}
	write_privately(path, line, len);
}

/* Drops the open file (a new configuration; tests only): closed if the
 * descriptor is still ours, else left to whoever has it now. */
static void forget_sink(void)
{
	int seq = __atomic_load_n(&sink.seq, __ATOMIC_ACQUIRE);
	if ((seq & 1) || !__atomic_compare_exchange_n(&sink.seq, &seq, seq + 1, 0,
						      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	int fd = LOAD(sink.fd);
	if (still_ours(fd, LOAD(sink.dev), LOAD(sink.ino)))
		close(fd);
	STORE(sink.fd, -1);
	STORE(sink.refused, 0);
	__atomic_store_n(&sink.seq, seq + 2, __ATOMIC_RELEASE);
}

void scio_log_set(const struct scio_config *c)
{
	int saved = errno;
	forget_sink();
	__atomic_store_n(&log_config, c, __ATOMIC_RELEASE);
	errno = saved;
}

int scio_log_enabled(enum scio_log_level level)
{
	const struct scio_config *c = __atomic_load_n(&log_config, __ATOMIC_ACQUIRE);
	enum scio_log_level current = c ? c->log_level : SCIO_LOG_WARN;
	return level != SCIO_LOG_OFF && level <= current;
}

void scio_log(enum scio_log_level level, const char *fmt, ...)
{
	if (!scio_log_enabled(level))
		return;
	int saved = errno;
	char line[1024];
	int n = snprintf(line, sizeof(line), "scio[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';

	/* no cancel acts inside the log's side work: one acting in its open
	 * or close would leave the file's descriptor open, or the sink being
	 * reopened (seq odd) for good */
	int cs;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	const struct scio_config *c = __atomic_load_n(&log_config, __ATOMIC_ACQUIRE);
	if (c && c->log_file[0])
		write_to_file(c->log_file, line, len);
	else
		write_all_or_drop(2, line, len);
	pthread_setcancelstate(cs, NULL);
	errno = saved;
}
