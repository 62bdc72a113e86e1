/*
 * test_log.c - SCIO_LOG_FILE (lib/log.c) against what a program, or
 * another user, can do to it: the program closes the log's descriptor,
 * puts a file of its own on that number, closes everything, forks; the
 * path is a symlink, a FIFO, a hard link, a file of another owner.
 * As root it also checks a file of another owner (made with chown).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static char dir[] = "/tmp/scio-test-log-XXXXXX";
static char path[256], other[256], errpath[256];
static struct scio_config cfg;
static int saved_stderr = -1;

static void use_log_file(const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&cfg, 0, sizeof(cfg));
	cfg.log_level = SCIO_LOG_INFO;
	snprintf(cfg.log_file, sizeof(cfg.log_file), "%s", path);
	scio_log_set(&cfg);
}

static void stderr_to_file(void)
{
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void stderr_back(void)
{
	dup2(saved_stderr, 2);
	close(saved_stderr);
}

static size_t count(const char *file, const char *needle)
{
	static char buf[1 << 17];
	int fd = open(file, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	size_t k = 0;
	for (char *p = buf; (p = strstr(p, needle)); p++)
		k++;
	return k;
}

static off_t size_of(const char *file)
{
	struct stat st;
	return stat(file, &st) == 0 ? st.st_size : -1;
}

/* The descriptors of this process open on file, lowest first. */
static int fds_on(const char *file, int *fds, int max)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char link[PATH_MAX + 32], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, file) == 0 && n < max)
			fds[n++] = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static void opened_once_and_kept_high(void)
{
	use_log_file("plain.log");
	scio_log(SCIO_LOG_INFO, "line one");
	int fds[4];
	CHECK_EQ(fds_on(path, fds, 4), 1);
	CHECK(fds[0] >= 100);
	CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	scio_log(SCIO_LOG_INFO, "line two");
	scio_log(SCIO_LOG_INFO, "line three");
	CHECK_EQ(fds_on(path, fds, 4), 1);
	CHECK_EQ(count(path, "line "), 3);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
}

static void a_number_the_program_reused_is_left_alone(void)
{
	use_log_file("reused.log");
	scio_log(SCIO_LOG_INFO, "before");
	int fds[4];
	CHECK_EQ(fds_on(path, fds, 4), 1);
	/* the program closes it and puts its own file on that number */
	snprintf(other, sizeof(other), "%s/programs-file", dir);
	int mine = open(other, O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(dup2(mine, fds[0]) == fds[0]);
	close(mine);
	scio_log(SCIO_LOG_INFO, "after");
	CHECK_EQ(size_of(other), 0);
	CHECK_EQ(count(path, "after"), 1);
	/* the same again with the same file opened read-write, no append */
	int again[4];
	CHECK_EQ(fds_on(path, again, 4), 1);
	mine = open(path, O_WRONLY);
	CHECK(dup2(mine, again[0]) == again[0]);
	close(mine);
	scio_log(SCIO_LOG_INFO, "third");
	CHECK_EQ(count(path, "third"), 1);
	CHECK_EQ(count(path, "before"), 1);  /* nothing written at offset 0 */
	close(fds[0]);
	close(again[0]);
}

static void survives_closing_every_descriptor(void)
{
	use_log_file("closefrom.log");
	scio_log(SCIO_LOG_INFO, "before");
	int keep = dup(2);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep)
			close(fd);
	scio_log(SCIO_LOG_INFO, "after closing all");
	CHECK_EQ(count(path, "after closing all"), 1);
	close(keep);
}

static void parent_and_child_both_log(void)
{
	use_log_file("fork.log");
	scio_log(SCIO_LOG_INFO, "parent first");
	pid_t pid = fork();
	if (pid == 0) {
		scio_log(SCIO_LOG_INFO, "child");
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	scio_log(SCIO_LOG_INFO, "parent again");
	CHECK_EQ(count(path, "child"), 1);
	CHECK_EQ(count(path, "parent "), 2);
}

#define THREADS 6
#define LINES 150

static void *log_lines(void *arg)
{
	for (int i = 0; i < LINES; i++)
		scio_log(SCIO_LOG_INFO, "thread %ld line %d", (long)(intptr_t)arg, i);
	return NULL;
}

/* Threads that all start with the file not yet open: every line arrives,
 * whole, and one descriptor stays open. */
static void threads_log_at_once(void)
{
	use_log_file("threads.log");
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(count(path, " line "), THREADS * LINES);
	CHECK_EQ(count(path, "\n"), THREADS * LINES);
	int fds[4];
	CHECK_EQ(fds_on(path, fds, 4), 1);
}

/* Logs three lines to a path that must be refused: nothing reaches it,
 * one warning naming why, the lines on stderr. */
static void refused(const char *why, const char *target)
{
	off_t before = size_of(target);
	stderr_to_file();
	for (int i = 0; i < 3; i++)
		scio_log(SCIO_LOG_INFO, "secret destination %d", i);
	stderr_back();
	CHECK_EQ(size_of(target), before);
	CHECK_EQ(count(errpath, why), 1);
	CHECK_EQ(count(errpath, "logging to stderr"), 1);
	CHECK_EQ(count(errpath, "secret destination"), 3);
}

static void a_symlink_is_not_followed(void)
{
	snprintf(other, sizeof(other), "%s/bashrc", dir);
	close(open(other, O_WRONLY | O_CREAT, 0600));
	use_log_file("link.log");
	CHECK(symlink(other, path) == 0);
	refused("is a symbolic link", other);
}

static void a_fifo_does_not_block(void)
{
	use_log_file("fifo.log");
	CHECK(mkfifo(path, 0600) == 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	refused("is not a regular file", path);
	/* with a reader: opened, then refused as not a regular file */
	use_log_file("fifo.log");
	int reader = open(path, O_RDONLY | O_NONBLOCK);
	refused("is not a regular file", path);
	char buf[64];
	CHECK(read(reader, buf, sizeof(buf)) <= 0);
	close(reader);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 5);
}

static void a_hard_link_is_refused(void)
{
	snprintf(other, sizeof(other), "%s/private-key", dir);
	close(open(other, O_WRONLY | O_CREAT, 0600));
	use_log_file("hardlink.log");
	CHECK(link(other, path) == 0);
	refused("more than one hard link", other);
}

static void another_owners_file_is_refused(void)
{
	use_log_file("theirs.log");
	close(open(path, O_WRONLY | O_CREAT, 0666));
	CHECK(chown(path, 65534, 65534) == 0);
	CHECK(chmod(path, 0666) == 0);
	refused("belongs to uid 65534", path);
}

static void a_directory_is_refused(void)
{
	use_log_file("a-directory");
	CHECK(mkdir(path, 0700) == 0);
	refused("Is a directory", path);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 2;
	RUN(opened_once_and_kept_high);
	RUN(a_number_the_program_reused_is_left_alone);
	RUN(survives_closing_every_descriptor);
	RUN(parent_and_child_both_log);
	RUN(threads_log_at_once);
	RUN(a_symlink_is_not_followed);
	RUN(a_fifo_does_not_block);
	RUN(a_hard_link_is_refused);
	if (geteuid() == 0)  /* only root can give the file another owner */
		RUN(another_owners_file_is_refused);
	else
		printf("skip another_owners_file_is_refused (needs root)\n");
	RUN(a_directory_is_refused);
	scio_log_set(NULL);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	return check_exit();
}
