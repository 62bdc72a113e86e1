/*
 * resolve.c - AAAA and A in parallel, each in a thread of its own calling
 * the system's getaddrinfo for one family; the caller waits on a condition
 * variable for the rules of RFC 8305 section 3.
 *
 * The lookup state is reference-counted: the caller and each thread hold
 * one reference, so a thread that outlives the caller (a dropped AAAA
 * query, say) still has somewhere to put its answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostsfile.h"
#include "internal.h"
#include "resolve.h"
#include "sys.h"

#define V6 0
#define V4 1
#define THREAD_STACK (256 * 1024)

struct family {
	int done;
	int rc;             /* getaddrinfo's code */
	int err;            /* errno, for EAI_SYSTEM */
	struct addrinfo *res;
};

struct lookup {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	int abandoned;      /* the caller has returned */
	char *node, *service;
	struct addrinfo hints;
	struct family fam[2];
	scio_late_fn late;
	void *late_arg;
};

struct job {
	struct lookup *l;
	int which;
	struct job *next;
};

/*
 * Lookup threads are kept for a while after their job, so that a program
 * resolving in a loop does not pay two thread creations per lookup: a job
 * goes to an idle thread when there is one, else to a new thread.
 */
#define POOL_MAX (2 * SCIO_RESOLVE_MAX_IN_FLIGHT)
#define POOL_IDLE_US (30 * 1000000LL)

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, **tail;
	int idle;
	int threads;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static int in_flight;

int scio_resolve_in_flight(void)
{
	return __atomic_load_n(&in_flight, __ATOMIC_RELAXED);
}

static void lookup_free(struct lookup *l)
{
	for (int i = 0; i < 2; i++)
		if (l->fam[i].res)
			scio_sys.freeaddrinfo(l->fam[i].res);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l->node);
	free(l->service);
	free(l);
	__atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
}

/* Drops a reference; the lock is held on entry and released. */
static void lookup_put(struct lookup *l)
{
	int last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (last)
		lookup_free(l);
}

static int family_of(int which)
{
	return which == V6 ? AF_INET6 : AF_INET;
}

static void run_job(struct job *arg)
{
	struct job job = *arg;
	struct lookup *l = job.l;
	struct addrinfo hints = l->hints, *res = NULL;
	free(arg);

	hints.ai_family = family_of(job.which);
	int rc = scio_sys.getaddrinfo(l->node, l->service, &hints, &res);
	int err = errno;

	pthread_mutex_lock(&l->lock);
	struct family *f = &l->fam[job.which];
	*f = (struct family){ .done = 1, .rc = rc, .err = err, .res = res };
	if (l->abandoned && l->late)
		l->late(l->node, rc == 0 ? res : NULL, l->late_arg);
	pthread_cond_signal(&l->cond);
	lookup_put(l);
}

static struct timespec abs_time(int64_t us);

/* A pool thread: jobs until none came for POOL_IDLE_US. */
static void *pool_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.head) {
			struct timespec ts = abs_time(scio_now_us() + POOL_IDLE_US);
			pool.idle++;
			int rc = pthread_cond_timedwait(&pool.work, &pool.lock, &ts);
			pool.idle--;
			if (rc == ETIMEDOUT && !pool.head) {
				pool.threads--;
				pthread_mutex_unlock(&pool.lock);
				return NULL;
			}
		}
		struct job *job = pool.head;
		pool.head = job->next;
		if (!pool.head)
			pool.tail = &pool.head;
		pthread_mutex_unlock(&pool.lock);
		run_job(job);
		pthread_mutex_lock(&pool.lock);
	}
}

/* The pool belongs to the parent: a child starts with none. */
static struct scio_fork_lock pool_fork_lock = { .m = &pool.lock };
static void pool_fork_prepare(void) { scio_fork_prepare(&pool_fork_lock); }
static void pool_fork_parent(void) { scio_fork_parent(&pool_fork_lock); }
static void pool_fork_child(void)
{
	pool.idle = pool.threads = 0;  /* none came along */
	if (!scio_fork_child(&pool_fork_lock))
		return;  /* the interrupted caller goes on with the queue */
	pool.head = NULL;
	pool.tail = &pool.head;
	/* the parent's idle threads still count as its waiters: signalling
	 * it would wait for them to leave, for ever */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.work, &ca);
	pthread_condattr_destroy(&ca);
}

static void pool_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.work, &ca);
	pthread_condattr_destroy(&ca);
	pool.tail = &pool.head;
	pthread_atfork(pool_fork_prepare, pool_fork_parent, pool_fork_child);
}

/* A new pool thread with every signal blocked (signals stay the
 * program's business).  Lock held. */
static int pool_grow(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	if (pool.threads >= POOL_MAX)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&t, &attr, pool_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -1;
	pool.threads++;
	return 0;
}

static struct lookup *lookup_new(const char *node, const char *service,
				 const struct addrinfo *hints)
{
	struct lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->node = strdup(node);
	l->service = service ? strdup(service) : NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int ok = l->node && (!service || l->service) &&
		 pthread_mutex_init(&l->lock, NULL) == 0 &&
		 pthread_cond_init(&l->cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		free(l->node);
		free(l->service);
		free(l);
		return NULL;
	}
	if (hints) {
		l->hints.ai_flags = hints->ai_flags;
		l->hints.ai_socktype = hints->ai_socktype;
		l->hints.ai_protocol = hints->ai_protocol;
	} else {
		l->hints.ai_flags = AI_ADDRCONFIG;  /* glibc's default, less V4MAPPED */
	}
	/* mapped addresses only make sense for AF_INET6 lookups */
	l->hints.ai_flags &= ~(AI_V4MAPPED | AI_ALL);
	return l;
}

/* Hands one family's lookup to a pool thread.  0, or -1 when no thread
 * could take it. */
static int start_thread(struct lookup *l, int which)
{
	struct job *job = malloc(sizeof(*job));
	if (!job)
		return -1;
	*job = (struct job){ .l = l, .which = which };
	pthread_once(&pool_once, pool_init);

	pthread_mutex_lock(&l->lock);
	l->refs++;
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_lock(&pool.lock);
	int waiting = 0;
	for (struct job *j = pool.head; j; j = j->next)
		waiting++;
	if (pool.idle <= waiting && pool_grow() < 0) {
		pthread_mutex_unlock(&pool.lock);
		free(job);
		pthread_mutex_lock(&l->lock);
		l->refs--;
		pthread_mutex_unlock(&l->lock);
		return -1;
	}
	*pool.tail = job;
	pool.tail = &job->next;
	pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

static struct timespec abs_time(int64_t us)
{
	return (struct timespec){ .tv_sec = us / 1000000,
				  .tv_nsec = (us % 1000000) * 1000 };
}

/* Waits (lock held) until RFC 8305 section 3 says to go on. */
static void wait_for_answers(struct lookup *l, int delay_ms)
{
	int64_t deadline = -1;
	for (;;) {
		struct family *a = &l->fam[V6], *b = &l->fam[V4];
		if (a->done && b->done)
			return;
		int positive = (a->done && a->rc == 0) || (b->done && b->rc == 0);
		if (!positive) {
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		if (deadline < 0)
			deadline = scio_now_us() + (int64_t)delay_ms * 1000;
		struct timespec ts = abs_time(deadline);
		if (pthread_cond_timedwait(&l->cond, &l->lock, &ts) == ETIMEDOUT)
			return;
	}
}

/* glibc's code for a name neither family could resolve. */
static int combined_error(const struct family *v6, const struct family *v4)
{
	if (v6->rc == v4->rc)
		return v6->rc;
	if (v6->rc == EAI_AGAIN || v4->rc == EAI_AGAIN)
		return EAI_AGAIN;
	if (v6->rc == EAI_NONAME || v4->rc == EAI_NONAME)
		return EAI_NONAME;
	return v6->rc;
}

/* Relinks the two lists into one, alternating families. */
static struct addrinfo *interleave(struct addrinfo *first, struct addrinfo *second)
{
	struct addrinfo *head = NULL, **tail = &head;
	while (first || second) {
		if (first) {
			*tail = first;
			tail = &first->ai_next;
			first = first->ai_next;
		}
		if (second) {
			*tail = second;
			tail = &second->ai_next;
			second = second->ai_next;
		}
	}
	*tail = NULL;
	return head;
}

/* AI_CANONNAME: the name belongs on the first node. */
static void canonname_first(struct addrinfo *res)
{
	if (!res || res->ai_canonname)
		return;
	for (struct addrinfo *ai = res->ai_next; ai; ai = ai->ai_next) {
		if (ai->ai_canonname) {
			res->ai_canonname = ai->ai_canonname;
			ai->ai_canonname = NULL;
			return;
		}
	}
}

static int finish(struct lookup *l, struct scio_resolve_opts *o,
		  struct addrinfo **res)
{
	struct family v6 = l->fam[V6], v4 = l->fam[V4];
	l->fam[V6].res = l->fam[V4].res = NULL;  /* ours now */
	o->pending = !v6.done || !v4.done;
	l->abandoned = 1;
	lookup_put(l);

	if (v6.rc != 0 && v4.rc != 0) {
		int rc = combined_error(&v6, &v4);
		if (rc == EAI_SYSTEM)
			errno = v6.rc == EAI_SYSTEM ? v6.err : v4.err;
		if (v6.res)
			scio_sys.freeaddrinfo(v6.res);
		if (v4.res)
			scio_sys.freeaddrinfo(v4.res);
		return rc;
	}
	struct addrinfo *a = v6.rc == 0 ? v6.res : NULL;
	struct addrinfo *b = v4.rc == 0 ? v4.res : NULL;
	*res = o->prefer_family == AF_INET ? interleave(b, a) : interleave(a, b);
	canonname_first(*res);
	return 0;
}

int scio_resolve(const char *node, const char *service,
		 const struct addrinfo *hints, struct scio_resolve_opts *o,
		 struct addrinfo **res)
{
	o->pending = 0;
	if (!node || !res || (hints && hints->ai_family != AF_UNSPEC))
		return scio_sys.getaddrinfo(node, service, hints, res);
	if (__atomic_add_fetch(&in_flight, 1, __ATOMIC_RELAXED) > SCIO_RESOLVE_MAX_IN_FLIGHT) {
		__atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
		return scio_sys.getaddrinfo(node, service, hints, res);
	}
	struct lookup *l = lookup_new(node, service, hints);
	if (!l) {
		__atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
		return scio_sys.getaddrinfo(node, service, hints, res);
	}
	l->refs = 1;
	l->late = o->late;
	l->late_arg = o->late_arg;

	for (int which = V6; which <= V4; which++) {
		if (start_thread(l, which) == 0)
			continue;
		/* no thread: look this family up here, blocking */
		struct addrinfo h = l->hints, *r = NULL;
		h.ai_family = family_of(which);
		int rc = scio_sys.getaddrinfo(node, service, &h, &r);
		int err = errno;
		pthread_mutex_lock(&l->lock);
		l->fam[which] = (struct family){ .done = 1, .rc = rc, .err = err, .res = r };
		pthread_mutex_unlock(&l->lock);
	}
	pthread_mutex_lock(&l->lock);
	wait_for_answers(l, o->delay_ms);
	return finish(l, o, res);
}

int scio_resolve_worth_racing(const char *node, const struct addrinfo *hints)
{
	unsigned char buf[sizeof(struct in6_addr)];
	if (!node || !*node)
		return 0;
	if (hints && (hints->ai_family != AF_UNSPEC ||
		      (hints->ai_flags & AI_NUMERICHOST)))
		return 0;
	if (strchr(node, ':') || inet_pton(AF_INET, node, buf) == 1)
		return 0;  /* a literal (IPv6, maybe with a %scope, or IPv4) */
	return !scio_hosts_has(node, scio_now_us());
}

struct addrinfo *scio_addrinfo_interleave(struct addrinfo *res, int prefer)
{
	struct addrinfo *mine = NULL, *other = NULL, **mt = &mine, **ot = &other;
	if (prefer != AF_INET)
		prefer = AF_INET6;
	for (struct addrinfo *ai = res, *next; ai; ai = next) {
		next = ai->ai_next;
		ai->ai_next = NULL;
		if (ai->ai_family == prefer) {
			*mt = ai;
			mt = &ai->ai_next;
		} else {
			*ot = ai;
			ot = &ai->ai_next;
		}
	}
	struct addrinfo *head = interleave(mine, other);
	canonname_first(head);
	return head;
}
