/* probe_util.h - small helpers the C test programs share. */
#ifndef SCIO_PROBE_UTIL_H
#define SCIO_PROBE_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The address fd is connected to, as text; "?" when it has none. */
static inline const char *peer_of(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	snprintf(buf, size, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		const void *a = ss.ss_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
			: (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
		inet_ntop(ss.ss_family, a, buf, (socklen_t)size);
	}
	return buf;
}

static inline double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

#ifdef __GLIBC__
/* "ECONNREFUSED" for ECONNREFUSED, "0" for 0. */
static inline const char *errname(int e)
{
	const char *s = e ? strerrorname_np(e) : "0";
	return s ? s : "?";
}
#else
/* musl names no errno: the ones the tests' connects end with */
static inline const char *errname(int e)
{
#define NAME(x) case x: return #x
	switch (e) {
	case 0: return "0";
	NAME(ETIMEDOUT); NAME(ECONNREFUSED); NAME(ECONNRESET);
	NAME(ENETUNREACH); NAME(EHOSTUNREACH); NAME(ECANCELED);
	NAME(EADDRNOTAVAIL); NAME(EAFNOSUPPORT); NAME(EACCES); NAME(EPERM);
	NAME(EMFILE); NAME(ENFILE); NAME(ENOMEM); NAME(ENOBUFS); NAME(EINTR);
	NAME(EINVAL); NAME(EAGAIN); NAME(EINPROGRESS); NAME(EALREADY);
	NAME(EISCONN); NAME(EBADF); NAME(ENOTSOCK); NAME(ENOENT);
	}
#undef NAME
	return "?";
}
#endif

/* Open fds of this process (counting the one the count itself uses). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* Under tests/preload/failalloc.so: glibc's one-time NSS and resolver
 * state first (glibc 2.36 crashes when the NSS state cannot be allocated,
 * and keeps a lock forever when the resolver's cannot, so that the next
 * lookup hangs), then the allocator starts counting the allocations it
 * may fail. */
static inline void arm_failalloc(void)
{
	void (*arm)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "failalloc_arm");
	if (!arm)
		return;
	getservbyname("telnet", "tcp");
	res_init();
	arm();
}

#endif
