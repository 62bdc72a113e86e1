/*
 * fdsafe.c - the program's fd through a race: the race works on a
 * reference of its own, checks the number still names the socket before
 * touching it again, copies the program's socket options onto attempts
 * (IPv4 as mapped addresses on an AF_INET6 socket), and moves the winner
 * onto the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "addrs.h"
#include "internal.h"
#include "log.h"
#include "orphans.h"
#include "core.h"

int prepare_attempt(int fd, const struct sockaddr *dst, void *arg)
{
	struct attempt_ctx *c = arg;
	(void)dst;
	if (!c->captured) {
		if (scio_sockopts_capture(c->own_fd, c->family, &c->opts) < 0)
			c->opts.n = 0;
		c->wildcard = wildcard_bound(c->own_fd);
		c->captured = 1;
	}
	int failed = scio_sockopts_apply(fd, dst->sa_family, &c->opts);
	if (failed)
		scio_log(SCIO_LOG_DEBUG, "%d socket option(s) could not be copied", failed);
	if (c->wildcard && bind_wildcard(fd, dst->sa_family) < 0)
		return -1;  /* the attempt is not made */
	return 0;
}

struct held hold_socket(int fd)
{
	struct held h = { .fd = fd, .level = scio_orphans_enter() };
	h.sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (h.sock < 0) {
		h.sock = fd;
		h.cookie = scio_socket_cookie(fd);
	} else
		h.cookie = scio_orphans_add(h.level, h.sock);
	return h;
}

void race_cancelled(void *arg)
{
	const struct cancel_ctx *c = arg;
	if (c->flags >= 0 && names_the_socket(c->h))
		fcntl(c->h->sock, F_SETFL, c->flags);
	scio_orphans_cancelled(c->h->level);
	free(c->heap);
}

void release_socket(const struct held *h)
{
	int saved = errno;
	if (h->sock != h->fd) {
		scio_close_own(h->sock);
		scio_orphans_forget(h->level, h->sock);
	}
	scio_orphans_leave(h->level);
	errno = saved;
}

/* Does the program's fd still name the socket the race held?  (Its
 * cookie is unique for the kernel's lifetime; without one, the inode
 * number, which the reference keeps alive.)  Checked before the number
 * is touched again; a close in the few system calls between this check
 * and dup3 cannot be seen by anyone. */
static int same_socket(const struct held *h)
{
	struct stat a, b;
	if (h->cookie)
		return scio_socket_cookie(h->fd) == h->cookie;
	return fstat(h->fd, &a) == 0 && fstat(h->sock, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int names_the_socket(const struct held *h)
{
	if (h->sock == h->fd)
		return !h->cookie || scio_socket_cookie(h->fd) == h->cookie;
	return 1;  /* the private reference is the socket, whatever fd names */
}

int still_names(const struct held *h)
{
	if (h->sock == h->fd ? names_the_socket(h) : same_socket(h))
		return 1;
	scio_log(SCIO_LOG_WARN, "fd %d was closed by another thread during its race; "
		 "nothing is put in its place", h->fd);
	return 0;
}

/* Moves the winner onto the program's fd with the program's flags. */
int adopt_winner(int fd, int winner, int flags)
{
	int fdflags = fcntl(fd, F_GETFD);
	if (fdflags < 0 || fcntl(winner, F_SETFL, flags) < 0)
		return -1;
	if (flags & O_ASYNC) {
		struct f_owner_ex owner;
		if (fcntl(fd, F_GETOWN_EX, &owner) == 0)
			fcntl(winner, F_SETOWN_EX, &owner);
	}
	if (dup3(winner, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -1;
	scio_close_own(winner);
	return 0;
}

/*
 * On the program's AF_INET6 socket, IPv4 candidates race as IPv4-mapped
 * addresses, so that a winner keeps the program's family: getpeername,
 * getsockname and IPv6 socket options then behave as for a program that
 * connected the socket to ::ffff:a.b.c.d itself.  Not on an IPV6_V6ONLY
 * socket, which refuses them.
 */
void map_for_socket(int sock, int family, struct sockaddr_storage *cand,
			   size_t n)
{
	int v6only = 1;
	socklen_t len = sizeof(v6only);
	if (family != AF_INET6 ||
	    getsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 || v6only)
		return;
	for (size_t i = 0; i < n; i++)
		scio_map_v4(&cand[i]);
}

/* The report speaks of the addresses of the answer: history, the log and
 * the fallback loop's replay know IPv4 addresses as IPv4. */
void unmap_report(struct scio_report *rep)
{
	for (size_t k = 0; k < rep->count; k++) {
		struct scio_attempt *a = &rep->attempt[k];
		scio_unmap_v4(&a->addr);
		a->addrlen = scio_sockaddr_len((const struct sockaddr *)&a->addr);
	}
}

/* Only a socket that no address of its own family could connect changes
 * family: an AF_INET socket won by IPv6, an IPV6_V6ONLY one by IPv4. */
void log_family_change(int fd, int family, int winner)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(winner, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family == family)
		return;
	scio_log(SCIO_LOG_INFO, "fd %d is now an %s socket: an address of the "
		 "other family won", fd, ss.ss_family == AF_INET6 ? "AF_INET6" : "AF_INET");
}
