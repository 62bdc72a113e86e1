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

#include "core.h"
#include "epolltab.h"
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

static int raw_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return (int)syscall(SYS_poll, fds, n, timeout);
}

static int raw_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		     const sigset_t *mask)
{
	return (int)syscall(SYS_ppoll, fds, n, t, mask, _NSIG / 8);
}

static int raw_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
	return (int)syscall(SYS_select, n, r, w, e, t);
}

static int raw_pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		       const struct timespec *t, const sigset_t *mask)
{
	struct timespec copy, *tp = NULL;
	struct { const sigset_t *set; size_t size; } m = { mask, _NSIG / 8 };
	if (t) {
		copy = *t;  /* the kernel writes back what is left */
		tp = &copy;
	}
	return (int)syscall(SYS_pselect6, n, r, w, e, tp, mask ? &m : NULL);
}

static int raw_poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len)
{
	(void)len;
	return raw_poll(fds, n, timeout);
}

static int raw_ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
			 const sigset_t *mask, size_t len)
{
	(void)len;
	return raw_ppoll(fds, n, t, mask);
}

static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

int (*shim_libc_close)(int) = raw_close;

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
	scio_sys.poll = next("poll", (void *)raw_poll);
	scio_sys.ppoll = next("ppoll", (void *)raw_ppoll);
	scio_sys.select = next("select", (void *)raw_select);
	scio_sys.pselect = next("pselect", (void *)raw_pselect);
	scio_sys.poll_chk = next("__poll_chk", (void *)raw_poll_chk);
	scio_sys.ppoll_chk = next("__ppoll_chk", (void *)raw_ppoll_chk);
	scio_bind_sys = next("bind", (void *)scio_bind_sys);
	__atomic_store_n(&shim_libc_close, (int (*)(int))next("close", (void *)raw_close),
			 __ATOMIC_RELEASE);
	scio_epoll_sys.ctl = next("epoll_ctl", (void *)scio_epoll_sys.ctl);
	scio_epoll_sys.wait = next("epoll_wait", (void *)scio_epoll_sys.wait);
	scio_epoll_sys.pwait = next("epoll_pwait", (void *)scio_epoll_sys.pwait);
	scio_epoll_sys.pwait2 = next("epoll_pwait2", (void *)scio_epoll_sys.pwait2);
	errno = saved;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
int shim_initialised;

void shim_init(void)
{
	pthread_once(&once, resolve);
	__atomic_store_n(&shim_initialised, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	shim_init();
}
