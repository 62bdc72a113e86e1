/*
 * core.h - what the shim's own files share (the files of shim/core/): the types
 * of a race in the shim and the functions one file calls in another.
 * The interposed symbols in shim/ (one file each) call intercept.h only.
 */
#ifndef SCIO_SHIM_CORE_H
#define SCIO_SHIM_CORE_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "answers.h"
#include "config.h"
#include "intercept.h"
#include "pending.h"
#include "scio.h"
#include "sockopts.h"

struct attempt_ctx {
	const struct scio_match *m;
	int own_fd;
	int family;         /* of the program's socket */
	int captured;       /* opts holds the program's options */
	size_t late_seen;   /* late addresses already handed to the race */
	int sndtimeo;       /* the program's socket has SO_SNDTIMEO */
	int wildcard;       /* it was bound to the wildcard, port 0 */
	struct scio_sockopts opts;
};

/*
 * The race's candidates: the program's address first (it is the program's
 * choice, and its own socket needs no swap when it wins), then the rest of
 * the answer alternating families (RFC 8305 section 4), less the addresses
 * an earlier race of the same fallback loop already saw fail.  Any answer
 * size: the usual one fits the stack (no malloc on a connect path that a
 * signal handler may take); a larger one goes to the heap.
 */
#define STACK_CANDIDATES 16

struct cands {
	struct sockaddr_storage *a;  /* n candidates, then room for n more */
	int *outcome;                /* each one's error after the race */
	unsigned char *broken;       /* each one's history verdict */
	size_t n;
	void *heap;
	struct sockaddr_storage stack[2 * STACK_CANDIDATES];
	int stack_outcome[STACK_CANDIDATES];
	unsigned char stack_broken[STACK_CANDIDATES];
};

/*
 * The race works on its own reference to the program's socket, never on
 * the number: another thread may close fd meanwhile (a program bug) and
 * the number may then name someone else's file, which the race must not
 * poll, connect, change or replace.  The reference belongs to the race's
 * level (orphans.h), so a siglongjmp out of the race does not leak it.
 * Without a spare fd the race uses fd itself.
 */
struct held {
	int fd;           /* the program's */
	int sock;         /* the race's reference, or fd */
	int level;
	uint64_t cookie;  /* the socket's SO_COOKIE, 0 when unknown */
};

/* pthread_cancel acted inside the race: the race's sockets (the
 * reference among them) are closed, the program's socket keeps its
 * status flags, as after a cancelled blocking connect. */
struct cancel_ctx {
	const struct held *h;
	int flags;        /* the program's status flags to put back, or -1 */
	void *heap;       /* the candidates, when they did not fit the stack */
};


/* eligible.c */
int tcp_socket(int fd, int *flags);
#define SCIO_FLAGS_LATER (-2)  /* status flags not read yet */
int tcp_socket_lazy(int fd, int *flags);
int learn_flags(int fd, int *flags);
static inline int known_nonblocking(int flags)
{
	return flags >= 0 && (flags & O_NONBLOCK);
}
int unbound_socket(int fd, int family);
int usable_destination(const struct sockaddr *addr, socklen_t len);
int wildcard_bound(int fd);
int bind_wildcard(int fd, int family);
extern int (*scio_bind_sys)(int, const struct sockaddr *, socklen_t);

/* fdsafe.c */
int prepare_attempt(int fd, const struct sockaddr *dst, void *arg);
struct held hold_socket(int fd);
void race_cancelled(void *arg);
void release_socket(const struct held *h);
int still_names(const struct held *h);
/* May h->sock be acted on (its flags set back)?  The private reference
 * always; the fd number itself (no descriptor was left for a reference)
 * only while its cookie is the one taken when it was held. */
int names_the_socket(const struct held *h);
int adopt_winner(int fd, int winner, int flags);
void map_for_socket(int sock, int family, struct sockaddr_storage *cand, size_t n);
void unmap_report(struct scio_report *rep);
void log_family_change(int fd, int family, int winner);

/* signals.c */
int timeout_ms_of(const struct timeval *tv);
int own_send_timeout(int fd, struct timeval *tv);
int send_timeout_ms(int fd);
int interrupted(void *arg);
int own_connect_bounded(int fd, const struct sockaddr *dst, int64_t bound_us, const struct timeval *mine, int *interrupted_by, uint64_t *cookie);

/* outcome.c */
const char *errdesc(int err);
int cands_fetch(struct cands *c, const struct scio_match *m);
void cands_free(struct cands *c);
size_t history_order(struct cands *c);
size_t late_addresses(void *arg, struct sockaddr_storage *out, size_t cap, int *more);
int own_outcome(const struct scio_report *rep, const struct sockaddr *own, int race_error);
void log_race(const struct scio_match *m, const struct scio_report *rep, int result);
void remember_failure(const struct scio_match *m, struct cands *c);

/* nat64.c: after libc's connect failed with err (RFC 8305 section 7.1);
 * the result and errno the program gets */
int scio_nat64_connect(int fd, const struct sockaddr *addr, socklen_t len, int err);
/* puts synthesized AAAA first in an answer of A records alone, a name's
 * or an IPv4 literal's, when IPv4 has no route (RFC 8305 sections 7.2
 * and 7.1) */
void scio_nat64_complete_answer(const char *node, struct addrinfo **res);
/* an AI_ADDRCONFIG or AF_INET6 lookup of a name that found nothing, when
 * IPv4 has no route: the synthesized AAAA of its A records, or rc */
int scio_nat64_lookup_retry(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res, int rc);

/* wait.c */
/*
 * A blocking connect() again on a socket whose race a signal interrupted
 * (shim/core/wait.c): what became of it.
 */
enum scio_wait_outcome {
	SCIO_WAIT_NOT_OURS,    /* no pending race: do the program's wait */
	SCIO_WAIT_WON,         /* fd is connected: report it writable */
	SCIO_WAIT_TIMEOUT,     /* the wait timed out, fd still connecting */
	SCIO_WAIT_FAILED,      /* every attempt failed: fd holds its error */
	SCIO_WAIT_INTERRUPTED, /* a signal: EINTR (the race resumes later) */
	SCIO_WAIT_CLOSED,      /* another thread closed fd during the race:
				  the program's wait goes on with whatever
				  the number names now */
};
enum scio_wait_outcome wait_race(int fd, int timeout_ms);

#endif
