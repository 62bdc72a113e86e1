/*
 * cancelat.so - a test helper, preloaded before the shim: marks the
 * calling thread cancelled (deferred) at one chosen call, so that the
 * cancel acts at the next cancellation point after it, wherever that is.
 *
 *   CANCEL_AT=dup3    at the dup3 that moves a race's winner onto the fd
 *   CANCEL_AT=write   at the write of the shim's "connected to" log line
 *   CANCEL_AT=close   at the first close of a non-blocking socket (a
 *                     race's attempt, the program's being blocking)
 *   CANCEL_AT=dupfd   at an F_DUPFD_CLOEXEC to 100 or above (the log
 *                     file's descriptor moved up, lib/log.c)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))  /* built -fvisibility=hidden */

static int cancel_at(const char *call)
{
	const char *at = getenv("CANCEL_AT");
	return at && strcmp(at, call) == 0;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (fd == 2 && cancel_at("write") && memmem(buf, n, "connected to", 12))
		pthread_cancel(pthread_self());
	return real(fd, buf, n);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	static int (*real)(int, int, ...);
	if (!real)
		real = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);  /* every command this program's shim uses takes one */
	va_end(ap);
	if (cancel_at("dupfd") && cmd == F_DUPFD_CLOEXEC && arg >= 100)
		pthread_cancel(pthread_self());
	return real(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

EXPORT int close(int fd)
{
	static int (*real)(int);
	static int fired;
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "close");
	int type;
	socklen_t len = sizeof(type);
	if (cancel_at("close") && !fired && (fcntl(fd, F_GETFL) & O_NONBLOCK) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
		fired = 1;
		pthread_cancel(pthread_self());
	}
	return real(fd);
}

EXPORT int dup3(int from, int to, int flags)
{
	static int (*real)(int, int, int);
	if (!real)
		real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "dup3");
	if (cancel_at("dup3"))
		pthread_cancel(pthread_self());
	return real(from, to, flags);
}
