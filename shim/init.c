/*
 * init.c - find libc's connect/getaddrinfo/... once, from whichever thread
 * or constructor gets here first, and point scio_sys at them so that the
 * core's own calls never come back into the shim.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"
#include "sys.h"

/* Used only if dlsym cannot find libc's connect (never seen on glibc). */
static int raw_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_connect, fd, addr, len);
}

static int no_getaddrinfo(const char *node, const char *service,
			  const struct addrinfo *hints, struct addrinfo **res)
{
	(void)node, (void)service, (void)hints, (void)res;
	errno = ENOSYS;
	return EAI_SYSTEM;
}

static void no_freeaddrinfo(struct addrinfo *res)
{
	(void)res;
}

static void *next(const char *name, void *fallback)
{
	void *p = dlsym(RTLD_NEXT, name);
	return p ? p : fallback;
}

static void resolve(void)
{
	int saved = errno;
	scio_sys.connect = next("connect", (void *)raw_connect);
	scio_sys.getaddrinfo = next("getaddrinfo", (void *)no_getaddrinfo);
	scio_sys.freeaddrinfo = next("freeaddrinfo", (void *)no_freeaddrinfo);
	scio_sys.poll = next("poll", (void *)poll);
	errno = saved;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void shim_init(void)
{
	pthread_once(&once, resolve);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	shim_init();
}
