/*
 * answers.h - which addresses belong together: the shim records the
 * answers getaddrinfo gave this process, so that a later connect() to one
 * of them can race the other addresses of the same lookup, and only
 * those.  A connect belongs to the calling thread's latest lookup when
 * that answer holds its address; else to another thread's lookup only
 * when no other recent answer (of any name, literal lookups included)
 * holds the address with a different set of addresses.  Answers are
 * believed for seconds, and a newer lookup of the same name replaces the
 * older ones, except those with the same addresses in another order
 * (another thread may be racing on one).  An answer keeps every address it had, whatever its size; the
 * memory is bounded by design: a ring of SCIO_ANSWER_SLOTS answers holding
 * at most SCIO_ANSWER_BUDGET addresses in all (older answers make room,
 * and never the newest).  Thread-safe, fork-safe.  Time is passed in
 * (microseconds, monotonic) for tests.
 */
#ifndef SCIO_ANSWERS_H
#define SCIO_ANSWERS_H

#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#define SCIO_ANSWER_SLOTS 64
#define SCIO_ANSWER_BUDGET 4096  /* addresses over every answer kept */
#define SCIO_ANSWER_NAME 64
#define SCIO_ANSWER_TTL_US (10 * 1000000LL)   /* believed for 10 seconds */
#define SCIO_REPLAY_US (2 * 1000000LL)        /* a fallback loop's window */
#define SCIO_LATE_US (2 * 1000000LL)          /* wait this long for a late family */

/* The table's compact form of an address (24 bytes where a
 * sockaddr_storage takes 128); every caller speaks sockaddrs, converted
 * in answers.c alone. */
struct scio_ip {
	uint16_t family;    /* AF_INET or AF_INET6 */
	uint32_t scope;
	uint8_t a[16];
};

/* One address of an answer, and its outcome in the current fallback loop. */
struct scio_entry {
	struct scio_ip ip;
	int error;                 /* its failure, replayed once */
	uint8_t tried;             /* raced in this fallback loop */
};

struct scio_answer {
	uint64_t id;               /* 0: empty slot */
	int64_t when;              /* recorded or refreshed */
	uint16_t port;             /* network order; 0: resolved without one */
	uint8_t raceable;          /* a host name's two-family lookup */
	uint8_t pending;           /* a family's answer may still come */
	int64_t pending_until;
	char name[SCIO_ANSWER_NAME];
	size_t n;
	struct scio_entry *e;      /* n entries, resolver order (heap) */
	/* after a failed race: the fallback loop that may replay errors */
	int64_t failed_at;
	size_t failed_primary;
	uint16_t failed_port;
};

struct scio_answers {
	pthread_mutex_t lock;
	int64_t newest;            /* last record or failure: lets connects
				      skip the lock when every answer is old */
	uint64_t next_id;
	unsigned next_slot;
	size_t held;               /* entries over every slot */
	struct scio_answer slot[SCIO_ANSWER_SLOTS];
};

/* What connect() learns about its destination: a reference to the answer,
 * whose addresses scio_answers_candidates copies out. */
struct scio_match {
	uint64_t id;
	char name[SCIO_ANSWER_NAME];
	size_t n;                  /* addresses of the answer */
	size_t asked;              /* the destination's index among them */
	int replay_error;          /* non-zero: fail at once with this */
	int replay_open;           /* continues a failed race's fallback loop */
	int pending;               /* more addresses may still come */
	uint16_t port;             /* dst's, network order */
};

void scio_answers_init(struct scio_answers *t);
/* Frees every answer of a table that is thrown away (tests). */
void scio_answers_clear(struct scio_answers *t);
/* The process-wide table, with fork handlers installed. */
struct scio_answers *scio_answers_global(void);

#define SCIO_ANSWER_RACEABLE 1  /* a host name, AF_UNSPEC, TCP or any type */
#define SCIO_ANSWER_PENDING 2   /* the other family's answer may still come */

/* Records the INET/INET6 addresses of res as the calling thread's latest
 * lookup of name (a literal too: it is how a program names one address).
 * An answer can be raced when flags has SCIO_ANSWER_RACEABLE and it holds
 * two or more addresses, or one while the other family is pending. */
void scio_answers_record(struct scio_answers *t, const char *name,
			 const struct addrinfo *res, int flags, int64_t now);

/* A pending family answered (res) or failed (NULL): its addresses join
 * the newest pending answer for name. */
void scio_answers_late(struct scio_answers *t, const char *name,
		       const struct addrinfo *res, int64_t now);

/* scio_answers_late on the process-wide table (a scio_late_fn). */
void scio_answers_late_global(const char *name, const struct addrinfo *res,
			      void *arg);

/* The race's candidates: the destination first, then the answer's other
 * addresses in resolver order (less those that failed in this fallback
 * loop when m->replay_open), with m->port, into out[0..cap).  Returns how
 * many; 0 when the answer is gone. */
size_t scio_answers_candidates(struct scio_answers *t, const struct scio_match *m,
			       struct sockaddr_storage *out, size_t cap);

/* For a race over m's answer: copies the answer's addresses beyond the
 * first `known` to out (with m->port), returns how many, and sets *pending
 * while more may come. */
size_t scio_answers_more(struct scio_answers *t, const struct scio_match *m,
			 size_t known, struct sockaddr_storage *out, size_t cap,
			 int *pending, int64_t now);

/* 1 when dst belongs to a live raceable answer by the rule at the top
 * (m filled, without replay information), else 0.  Changes nothing. */
int scio_answers_match(struct scio_answers *t, const struct sockaddr *dst,
		       int64_t now, struct scio_match *m);

/* For a blocking connect about to be raced: 1 when it continues the
 * fallback loop of a race that just failed over the same answer and port
 * (m->replay_open; m->replay_error: this address's recorded error, to
 * return at once); else 0, and the old race's records are forgotten. */
int scio_answers_take_replay(struct scio_answers *t, struct scio_match *m,
			     int64_t now);

/* After a failed race over m's answer: errors[i] for addrs[i] (0: no
 * outcome to replay), addresses of the answer.  Merged with what earlier
 * races of the same fallback loop recorded. */
void scio_answers_failed(struct scio_answers *t, const struct scio_match *m,
			 const struct sockaddr_storage *addrs, const int *errors,
			 size_t count, int64_t now);

#endif
