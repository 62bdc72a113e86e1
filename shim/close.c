/* close.c - the interposed close(): a race under way on the fd is dropped
 * (its attempt sockets closed) before libc closes the fd; one load of a
 * global counter when no race is under way anywhere. */
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pending.h"
#include "shim.h"

static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int (*libc_close)(int);

SHIM_EXPORT int close(int fd)
{
	scio_pending_close_hook(fd);
	int (*f)(int) = __atomic_load_n(&libc_close, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!f, 0)) {
		f = dlsym(RTLD_NEXT, "close");
		if (!f)
			f = raw_close;
		__atomic_store_n(&libc_close, f, __ATOMIC_RELEASE);
	}
	return f(fd);
}
