/* close.c - the interposed close(): a race under way on the fd is dropped
 * (its attempt sockets closed) before libc closes the fd; one load of a
 * global counter when no race is under way anywhere.  libc's close is
 * found by shim/init.c with the others, never here: a close may come from
 * a signal handler, where dlsym must not run.  Until then (another
 * library's constructor, say) the system call itself. */
#include "pending.h"
#include "shim.h"

SHIM_EXPORT int close(int fd)
{
	scio_pending_close_hook(fd);
	return __atomic_load_n(&shim_libc_close, __ATOMIC_ACQUIRE)(fd);
}
