/*
 * failalloc.c - an allocator preloaded in front of a program (and of
 * scio's shim) that makes chosen allocations fail, for the tests of what
 * happens when memory runs out.  Every call goes to glibc's allocator
 * (its __libc_* entry points, so no dlsym is needed) except the chosen
 * ones, which return NULL with errno ENOMEM:
 *
 *   FAILALLOC=N        the Nth allocation of the process fails
 *   FAILALLOC=N+       the Nth and every later allocation fails
 *   FAILALLOC_COUNT=F  at exit, the number of allocations counted is
 *                      written to the file F (to size a sweep)
 *   FAILALLOC_ARMED=1  count (and fail) only from the moment the program
 *                      calls failalloc_arm(), found with dlsym
 *
 * The tests' probes arm it once glibc's one-time NSS and resolver state
 * exists, because glibc 2.36 fails badly, with or without scio, when that
 * state cannot be allocated: nss/nss_database.c dereferences NULL or
 * asserts, and resolv/resolv_conf.c (get_locked_global) returns with its
 * lock held, so that the process's next DNS lookup waits forever.
 *
 * Counted: malloc, calloc, realloc to a non-zero size, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc.  free() is glibc's own.
 * Not usable with sanitizers, which bring their own allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long calls, fail_at;
static int fail_after;  /* fail every call from fail_at on */
static int counting = 1;

/* Parsed before main, by hand: strtoul or getenv may allocate in some
 * libcs, and nothing here may. */
__attribute__((constructor)) static void failalloc_init(void)
{
	extern char **environ;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "FAILALLOC=", 10) != 0)
			continue;
		const char *p = *e + 10;
		unsigned long n = 0;
		while (*p >= '0' && *p <= '9')
			n = n * 10 + (unsigned long)(*p++ - '0');
		fail_after = *p == '+';
		fail_at = n;
	}
	for (char **e = environ; e && *e; e++)
		if (strcmp(*e, "FAILALLOC_ARMED=1") == 0)
			counting = 0;
}

EXPORT void failalloc_arm(void)
{
	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counting, 1, __ATOMIC_RELEASE);
}

/* Does this call fail? */
static int doomed(void)
{
	if (!__atomic_load_n(&counting, __ATOMIC_ACQUIRE))
		return 0;
	unsigned long n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (fail_at == 0 || n < fail_at || (n > fail_at && !fail_after))
		return 0;
	errno = ENOMEM;
	return 1;
}

EXPORT void *malloc(size_t size)
{
	return doomed() ? NULL : __libc_malloc(size);
}

EXPORT void *calloc(size_t n, size_t size)
{
	return doomed() ? NULL : __libc_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t size)
{
	if (size != 0 && doomed())
		return NULL;
	return __libc_realloc(p, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
	return doomed() ? NULL : __libc_memalign(align, size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return memalign(page, (size + page - 1) & ~(page - 1));
}

__attribute__((destructor)) static void failalloc_report(void)
{
	extern char **environ;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "FAILALLOC_COUNT=", 16) != 0)
			continue;
		int fd = open(*e + 16, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return;
		char buf[32];
		int len = snprintf(buf, sizeof(buf), "%lu\n",
				   __atomic_load_n(&calls, __ATOMIC_RELAXED));
		if (len > 0 && write(fd, buf, (size_t)len) < 0)
			len = 0;
		close(fd);
	}
}
