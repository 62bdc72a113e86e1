/*
 * resolve.c - AAAA and A in parallel, each through the system's
 * getaddrinfo for one family: the calling thread looks up A itself while
 * one helper thread, started for this lookup alone, looks up AAAA; then
 * the caller waits for the rules of RFC 8305 section 3 by joining the
 * helper, with the Resolution Delay as the join's deadline once A has
 * answered: the helper's end is the one wake-up of the handoff (no
 * condition variable, no contended lock).
 *
 * The caller takes A because it cannot leave its own getaddrinfo early:
 * only the helper's family can be cut short by the Resolution Delay or
 * join late, and the query that servers and middleboxes drop or delay is
 * AAAA (RFC 8305 section 3 waits for AAAA after A, never the other way).
 * An A query that is dropped while AAAA is answered costs what it costs
 * without scio, then the AAAA answer is used.
 *
 * The lookup state is reference-counted: the caller and the helper hold
 * one reference each, so a helper that outlives the caller (a dropped AAAA
 * query, say) still has somewhere to put its answer.  A helper ends with
 * its lookup: the caller joins it when its family has answered, else it
 * is left to the next lookup to join.
 *
 * Helpers run on stacks of ours (pthread_attr_setstack), never on glibc's
 * cached ones: in a forked child, glibc hands a new thread the cached stack
 * of a thread that was running in the parent without resetting its
 * thread-local resolver state (_res), sockets included, so the child's
 * query went out on the parent's socket and the parent read its reply.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A reused stack still carries the frames of its last thread in ASan's
 * shadow memory. */
#define STACK_REUSED(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define STACK_REUSED(p, n) ((void)(p), (void)(n))
#endif

/* ThreadSanitizer intercepts pthread_timedjoin_np, not
 * pthread_clockjoin_np: a thread joined through the latter it reports as
 * leaked. */
#if defined(__SANITIZE_THREAD__)
#define JOIN_REALTIME 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define JOIN_REALTIME 1
#endif
#endif
#if !defined(__GLIBC__)
#define JOIN_REALTIME 1  /* musl has no pthread_clockjoin_np */
#endif

#include "addrs.h"
#include "hostsfile.h"
#include "internal.h"
#include "resconf.h"
#include "resolve.h"
#include "sortaddr.h"
#include "stub.h"
#include "sys.h"

#define V6 0
#define V4 1
#define THREAD_STACK (256 * 1024)  /* for the lookup, beyond glibc's needs */
#define SPARE_MAX 1   /* stacks kept mapped for the next lookup */

struct family {
	int done;
	int rc;             /* getaddrinfo's code */
	int err;            /* errno, for EAI_SYSTEM */
	struct addrinfo *res;
};

struct lookup {
	pthread_mutex_t lock;
	int refs;
	int abandoned;      /* the caller has returned */
	int flags;          /* the program's hints' ai_flags (glibc's default without) */
	char *node, *service;
	struct addrinfo hints;
	struct family fam[2];
	char *canon_a;      /* A's name, for an AAAA that answers after the caller left */
	scio_late_fn late;
	void *late_arg;
};

struct helper {
	struct helper *next;
	pthread_t thread;
	void *map;          /* a guard page, then the stack */
	size_t map_len;
	void (*job)(void *);
	void *arg;
	int finished;       /* atomic: the thread is past its last use of arg */
	int orphan;         /* its caller left it to be joined later */
	int detached;       /* at exit, still looking up */
};

static struct {
	pthread_mutex_t lock;
	struct helper *running;  /* started, not joined yet */
	struct helper *spare;    /* joined; the stack is kept */
	int spares;
} helpers = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t helpers_once = PTHREAD_ONCE_INIT;
static size_t stack_size;  /* THREAD_STACK plus the static TLS glibc puts there */

static int in_flight;

int scio_resolve_in_flight(void)
{
	return __atomic_load_n(&in_flight, __ATOMIC_RELAXED);
}

/* A lookup that may leave a thread running counts in in_flight: 0 when
 * SCIO_RESOLVE_MAX_IN_FLIGHT are already. */
static int in_flight_take(void)
{
	if (__atomic_add_fetch(&in_flight, 1, __ATOMIC_RELAXED) <= SCIO_RESOLVE_MAX_IN_FLIGHT)
		return 1;
	__atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
	return 0;
}

static void in_flight_put(void)
{
	__atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
}

static void lookup_free(struct lookup *l)
{
	for (int i = 0; i < 2; i++)
		if (l->fam[i].res)
			scio_sys.freeaddrinfo(l->fam[i].res);
	pthread_mutex_destroy(&l->lock);
	free(l->canon_a);
	free(l->node);
	free(l->service);
	free(l);
	in_flight_put();
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

/* The name a family's answer belongs to (its first entry's canonical
 * name), NULL when there is none to tell. */
static const char *answer_name(const struct addrinfo *res)
{
	return res ? res->ai_canonname : NULL;
}

/* A positive A from a later name of the search than the first: glibc
 * asked the names before it for AAAA too, and an AAAA there is the
 * answer; so that AAAA is waited for, as after no A at all. */
static int a_from_a_later_name(const struct lookup *l)
{
	const char *name = answer_name(l->fam[V4].res);
	return name && scio_resconf_search_place(l->node, name) == SCIO_SEARCH_LATER;
}

/* Looks up one family; the result goes into l->fam[which], lock held on
 * return.  AI_CANONNAME tells which name of the search list answered:
 * each family walks the list on its own, and may stop at another name
 * than the other ("v4" giving v4.corp.test's A and v4.'s AAAA), where
 * glibc stops at the first name with an answer of either type
 * (scio_resconf_two_hosts); finish() takes the name away again unless
 * the program asked for it. */
static void lookup_family(struct lookup *l, int which)
{
	struct addrinfo hints = l->hints, *res = NULL;
	hints.ai_family = family_of(which);
	hints.ai_flags |= AI_CANONNAME;
	int rc = scio_sys.getaddrinfo(l->node, l->service, &hints, &res);
	int err = errno;
	pthread_mutex_lock(&l->lock);
	l->fam[which] = (struct family){ .done = 1, .rc = rc, .err = err, .res = res };
}

/* A helper's job in a lookup: AAAA, handed on when the caller has left. */
static void look_up_aaaa(void *arg)
{
	struct lookup *l = arg;
	lookup_family(l, V6);
	if (l->abandoned && l->late) {
		const struct addrinfo *res = l->fam[V6].rc == 0 ? l->fam[V6].res : NULL;
		if (scio_resconf_two_hosts(l->node, answer_name(res), l->canon_a))
			res = NULL;  /* another name's: not the program's host */
		l->late(l->node, res, l->late_arg);
	}
	lookup_put(l);
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	h->job(h->arg);
	__atomic_store_n(&h->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- helper threads and their stacks ---- */

static void helper_unmap(struct helper *h)
{
	munmap(h->map, h->map_len);
	free(h);
}

/* The helpers were the parent's: none runs here, glibc has forgotten
 * their stacks, and the lookups they served count no more (their memory
 * is left: a parent's thread may have held their locks). */
static void forget_the_parents(int renewed)
{
	__atomic_store_n(&in_flight, 0, __ATOMIC_RELAXED);
	if (!renewed)
		return;  /* a handler forked inside the lock: the list stays */
	for (struct helper *h = helpers.running, *next; h; h = next) {
		next = h->next;
		helper_unmap(h);
	}
	helpers.running = NULL;
}
SCIO_FORK_SAFE_LOCK_THEN(helpers.lock, forget_the_parents)

/* glibc places the thread's static TLS on a stack we give it, and fails
 * pthread_create when it does not fit (a program with large TLS, or a
 * sanitizer runtime); glibc tells the sanitizers its minimum through
 * __pthread_get_minstack. */
static void size_stacks(void)
{
	size_t (*minstack)(const pthread_attr_t *) =
		(size_t (*)(const pthread_attr_t *))dlsym(RTLD_DEFAULT, "__pthread_get_minstack");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	stack_size = THREAD_STACK + (minstack ? minstack(&attr) : 64 * 1024);
	pthread_attr_destroy(&attr);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	stack_size = (stack_size + page - 1) / page * page;
}

static void join_orphans(void);

/* At exit, helpers whose callers left are joined when they have ended
 * and detached when not (a thread checker reports an ended thread nobody
 * joined; their stacks no longer matter). */
static void release_orphans_at_exit(void)
{
	if (scio_locks_held)  /* an exit from a handler inside the library */
		return;
	join_orphans();
	scio_lock(&helpers.lock);
	for (struct helper *h = helpers.running; h; h = h->next) {
		if (h->orphan && !h->detached) {
			pthread_detach(h->thread);
			h->detached = 1;
		}
	}
	scio_unlock(&helpers.lock);
}

static void helpers_init(void)
{
	size_stacks();
	register_atfork();
	atexit(release_orphans_at_exit);
}

/* A stack for a new helper: a spare one, or a new mapping. */
static struct helper *helper_get(void)
{
	scio_once(&helpers_once, helpers_init);
	scio_lock(&helpers.lock);
	struct helper *h = helpers.spare;
	if (h) {
		helpers.spare = h->next;
		helpers.spares--;
	}
	scio_unlock(&helpers.lock);
	if (h) {
		STACK_REUSED((char *)h->map + (h->map_len - stack_size), stack_size);
		return h;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	size_t guard = (size_t)sysconf(_SC_PAGESIZE);
	h->map_len = guard + stack_size;
	h->map = mmap(NULL, h->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (h->map == MAP_FAILED) {
		free(h);
		return NULL;
	}
	mprotect(h->map, guard, PROT_NONE);  /* stacks grow down onto it */
	return h;
}

static void helper_release(struct helper *h)
{
	scio_lock(&helpers.lock);
	int keep = helpers.spares < SPARE_MAX;
	if (keep) {
		h->next = helpers.spare;
		helpers.spare = h;
		helpers.spares++;
	}
	scio_unlock(&helpers.lock);
	if (!keep)
		helper_unmap(h);
}

static void unlink_running(struct helper *h)
{
	for (struct helper **p = &helpers.running; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			return;
		}
	}
}

/* Starts a helper running job(arg), with every signal blocked (signals
 * stay the program's business).  NULL when none could start. */
static struct helper *start_helper(void (*job)(void *), void *arg)
{
	struct helper *h = helper_get();
	if (!h)
		return NULL;
	h->job = job;
	h->arg = arg;
	h->finished = h->orphan = h->detached = 0;

	pthread_attr_t attr;
	sigset_t all;
	size_t guard = h->map_len - stack_size;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, (char *)h->map + guard, stack_size);
	sigfillset(&all);
#ifdef __GLIBC__
	pthread_attr_setsigmask_np(&attr, &all);
#else
	/* no such attribute (musl): the thread inherits its creator's mask */
	sigset_t old;
	pthread_sigmask(SIG_SETMASK, &all, &old);
#endif
	scio_lock(&helpers.lock);
	int rc = pthread_create(&h->thread, &attr, helper_main, h);
	if (rc == 0) {
		h->next = helpers.running;
		helpers.running = h;
	}
	scio_unlock(&helpers.lock);
#ifndef __GLIBC__
	pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		helper_release(h);
		return NULL;
	}
	return h;
}

/* The caller's own helper has been joined: its stack is free. */
static void helper_joined(struct helper *h)
{
	scio_lock(&helpers.lock);
	unlink_running(h);
	scio_unlock(&helpers.lock);
	helper_release(h);
}

/* Joins the caller's own helper, whose family has answered. */
static void join_helper(struct helper *h)
{
	pthread_join(h->thread, NULL);
	helper_joined(h);
}

/* The caller leaves: the helper still looks up its family. */
static void leave_helper(struct helper *h)
{
	scio_lock(&helpers.lock);
	h->orphan = 1;
	scio_unlock(&helpers.lock);
}

/* Joins the helpers whose callers left and whose lookups have ended. */
static void join_orphans(void)
{
	struct helper *ended = NULL;
	scio_lock(&helpers.lock);
	for (struct helper **p = &helpers.running; *p;) {
		struct helper *h = *p;
		if (h->orphan && !h->detached &&
		    __atomic_load_n(&h->finished, __ATOMIC_ACQUIRE)) {
			*p = h->next;
			h->next = ended;
			ended = h;
		} else {
			p = &h->next;
		}
	}
	scio_unlock(&helpers.lock);
	for (struct helper *h = ended, *next; h; h = next) {
		next = h->next;
		pthread_join(h->thread, NULL);
		helper_release(h);
	}
}

/* ---- the caller ---- */

static struct lookup *lookup_new(const char *node, const char *service,
				 const struct addrinfo *hints)
{
	struct lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->node = strdup(node);
	l->service = service ? strdup(service) : NULL;
	int ok = l->node && (!service || l->service) &&
		 pthread_mutex_init(&l->lock, NULL) == 0;
	if (!ok) {
		free(l->node);
		free(l->service);
		free(l);
		return NULL;
	}
	l->flags = hints ? hints->ai_flags : AI_V4MAPPED | AI_ADDRCONFIG;
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

/* Joins thread t unless it runs past `deadline` (scio_now_us's clock);
 * 1 when joined. */
static int join_until(pthread_t t, int64_t deadline)
{
	int64_t left = deadline - scio_now_us();
	if (left <= 0)
		return pthread_tryjoin_np(t, NULL) == 0;
	struct timespec ts;
#ifndef JOIN_REALTIME
	ts = (struct timespec){ deadline / 1000000, (deadline % 1000000) * 1000 };
	return pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &ts) == 0;
#else
	clock_gettime(CLOCK_REALTIME, &ts);  /* pthread_timedjoin_np's clock */
	int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + left;
	ts = (struct timespec){ us / 1000000, (us % 1000000) * 1000 };
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
#endif
}

/* RFC 8305 section 3, once the caller's A has answered (positive or
 * not): a helper that answered is joined at once; after a positive A the
 * helper gets the Resolution Delay, after a negative one all the time it
 * takes.  1 when the helper was joined. */
static int wait_for_helper(struct helper *h, int a_positive, int delay_ms)
{
	if (!a_positive) {
		pthread_join(h->thread, NULL);
		return 1;
	}
	return join_until(h->thread, scio_now_us() + (int64_t)delay_ms * 1000);
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

/* Frees one node's canonical name where it has an allocation of its
 * own (glibc's; musl's is in its node). */
static void free_canonname(struct addrinfo *ai)
{
#ifdef __GLIBC__
	free(ai->ai_canonname);
#endif
	ai->ai_canonname = NULL;
}

/* AI_CANONNAME: the name belongs on the first node alone, as glibc puts
 * it (each family's lookup gave its own). */
static void canonname_first(struct addrinfo *res)
{
	if (!res)
		return;
	for (struct addrinfo *ai = res->ai_next; ai; ai = ai->ai_next) {
		if (!ai->ai_canonname)
			continue;
		if (!res->ai_canonname) {
			res->ai_canonname = ai->ai_canonname;
			ai->ai_canonname = NULL;
		} else {
			free_canonname(ai);
		}
	}
}

static void free_family(struct family *f)
{
	if (f->res)
		scio_sys.freeaddrinfo(f->res);
	f->res = NULL;
}

/* An AAAA still to come may join the answer (lock held) under A's name
 * alone (scio_resconf_two_hosts); when that name cannot be kept, it may
 * not join. */
static void await_aaaa(struct lookup *l, const struct family *v4)
{
	const char *name = v4->rc == 0 ? answer_name(v4->res) : NULL;
	if (name && !(l->canon_a = strdup(name)))
		l->late = NULL;
}

/* The lookup's answer: 1 with getaddrinfo's code in *rc, 0 when the
 * families found two hosts (scio_resconf_two_hosts) and glibc's own
 * lookup must say which one it stops at. */
static int finish(struct lookup *l, struct scio_resolve_opts *o,
		  struct addrinfo **res, int *rc)
{
	struct family v6 = l->fam[V6], v4 = l->fam[V4];
	int flags = l->flags;
	l->fam[V6].res = l->fam[V4].res = NULL;  /* ours now */
	o->pending = !v6.done || !v4.done;
	if (o->pending)
		await_aaaa(l, &v4);
	int split = v6.rc == 0 && v4.rc == 0 &&
		    scio_resconf_two_hosts(l->node, answer_name(v6.res),
					   answer_name(v4.res));
	l->abandoned = 1;
	lookup_put(l);  /* l may be gone from here on */

	if (v6.rc != 0 && v4.rc != 0) {
		*rc = combined_error(&v6, &v4);
		if (*rc == EAI_SYSTEM)
			errno = v6.rc == EAI_SYSTEM ? v6.err : v4.err;
		free_family(&v6);
		free_family(&v4);
		return 1;
	}
	if (split) {
		free_family(&v6);
		free_family(&v4);
		return 0;
	}
	struct addrinfo *a = v6.rc == 0 ? v6.res : NULL;
	struct addrinfo *b = v4.rc == 0 ? v4.res : NULL;
	*res = o->prefer_family == AF_INET ? interleave(b, a) : interleave(a, b);
	canonname_first(*res);
	if (*res && !(flags & AI_CANONNAME))
		free_canonname(*res);
	for (struct addrinfo *ai = *res; ai; ai = ai->ai_next)
		ai->ai_flags = flags;  /* as glibc's: the flags asked */
	*rc = 0;
	return 1;
}

struct caller {
	struct lookup *l;
	struct helper *h;
	int locked;         /* holds l->lock */
	int joined;         /* the helper has ended and was joined */
};

/* The caller was cancelled (getaddrinfo is a cancellation point): the
 * helper goes on alone, and nobody takes its answer. */
static void caller_cancelled(void *arg)
{
	struct caller *c = arg;
	if (!c->locked)
		pthread_mutex_lock(&c->l->lock);
	c->l->abandoned = 1;
	c->l->late = NULL;
	lookup_put(c->l);
	leave_helper(c->h);
}

/* A looked up here, AAAA by the helper, then RFC 8305 section 3's wait.
 * Cancellation acts only inside the lookup and the join, which leave
 * through caller_cancelled; lock held on return. */
static void look_up_and_wait(struct caller *c, int delay_ms, int cancel_state)
{
	pthread_cleanup_push(caller_cancelled, c);
	pthread_setcancelstate(cancel_state, NULL);
	lookup_family(c->l, V4);
	c->locked = 1;
	int a_positive = c->l->fam[V4].rc == 0 && !a_from_a_later_name(c->l);
	c->locked = 0;
	pthread_mutex_unlock(&c->l->lock);  /* the helper stores under it */
	c->joined = wait_for_helper(c->h, a_positive, delay_ms);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_pop(0);
	pthread_mutex_lock(&c->l->lock);
	c->locked = 1;
}

/* 1 with getaddrinfo's code in *rc; 0 when the plain call must decide:
 * no helper could start (l is freed), or the families found two hosts. */
static int resolve_raced(struct lookup *l, struct scio_resolve_opts *o,
			 struct addrinfo **res, int cancel_state, int *rc)
{
	struct caller c = { .l = l };
	l->refs++;  /* the helper's; nobody else sees l yet */
	c.h = start_helper(look_up_aaaa, l);
	if (!c.h) {
		l->refs--;
		pthread_mutex_lock(&l->lock);
		lookup_put(l);
		return 0;
	}
	look_up_and_wait(&c, o->delay_ms, cancel_state);
	int answered = finish(l, o, res, rc);
	if (c.joined)
		helper_joined(c.h);
	else if (o->pending)
		leave_helper(c.h);
	else
		join_helper(c.h);  /* it answered after the deadline: it is ending */
	return answered;
}

/* The lookup raced, or NULL when the plain call must do (too many
 * lookups in flight, no memory). */
static struct lookup *lookup_start(const char *node, const char *service,
				   const struct addrinfo *hints,
				   const struct scio_resolve_opts *o)
{
	if (!in_flight_take())
		return NULL;
	struct lookup *l = lookup_new(node, service, hints);
	if (!l) {
		in_flight_put();
		return NULL;
	}
	l->refs = 1;
	l->late = o->late;
	l->late_arg = o->late_arg;
	return l;
}

/* ---- a family that had not answered when the stub's lookup returned ---- */

struct late_family {
	char *node, *service;
	char *asked;        /* the name that answered, absolute: no search again */
	struct addrinfo hints;
	scio_late_fn late;
	void *late_arg;
};

static void late_family_free(struct late_family *j)
{
	free(j->node);
	free(j->service);
	free(j->asked);
	free(j);
	in_flight_put();
}

static void look_up_late_family(void *arg)
{
	struct late_family *j = arg;
	struct addrinfo *res = NULL;
	int rc = scio_sys.getaddrinfo(j->asked, j->service, &j->hints, &res);
	if (rc == 0)
		scio_stub_queries_lost();
	j->late(j->node, rc == 0 ? res : NULL, j->late_arg);
	if (rc == 0)
		scio_sys.freeaddrinfo(res);
	late_family_free(j);
}

/* The system's lookup of the family the stub's replies lacked, in the
 * background, its answer joining as the helper's AAAA would: 1 when it
 * runs. */
static int look_up_in_background(const char *node, const char *asked, const char *service,
				 const struct addrinfo *hints, int family,
				 const struct scio_resolve_opts *o)
{
	if (!in_flight_take())
		return 0;
	struct late_family *j = calloc(1, sizeof(*j));
	if (!j) {
		in_flight_put();
		return 0;
	}
	j->node = strdup(node);
	j->asked = strdup(asked);
	j->service = service ? strdup(service) : NULL;
	/* AI_CANONNAME: glibc's AF_UNSPEC road, as lookup_family's */
	j->hints = (struct addrinfo){ .ai_family = family, .ai_flags = AI_CANONNAME };
	if (hints) {
		j->hints.ai_flags |= hints->ai_flags & ~(AI_V4MAPPED | AI_ALL);
		j->hints.ai_socktype = hints->ai_socktype;
		j->hints.ai_protocol = hints->ai_protocol;
	}
	j->late = o->late;
	j->late_arg = o->late_arg;
	if (!j->node || !j->asked || (service && !j->service) ||
	    scio_resolve_in_background(look_up_late_family, j) < 0) {
		late_family_free(j);
		return 0;
	}
	return 1;
}

/* The lookup made by the stub (lib/stub.c): 1 with getaddrinfo's code in
 * *rc, 0 when the system's lookup must decide. */
static int resolve_by_stub(const char *node, const char *service,
			   const struct addrinfo *hints, struct scio_resolve_opts *o,
			   struct addrinfo **res, int cancel_state, int *rc)
{
	struct scio_stub_result r;
	if (o->system_only ||
	    !scio_stub_lookup(node, service, hints, o->delay_ms, cancel_state, &r))
		return 0;
	*rc = r.rc;
	if (r.rc != 0) {
		h_errno = r.herrno;
		return 1;
	}
	*res = o->prefer_family == AF_INET ? interleave(r.v4, r.v6) : interleave(r.v6, r.v4);
	h_errno = 0;  /* as glibc's search leaves them after an answer */
	errno = 0;
	if (r.missing != AF_UNSPEC && o->late)
		o->pending = look_up_in_background(node, r.answered, service, hints, r.missing, o);
	return 1;
}

/* AI_ADDRCONFIG (glibc's default without hints) on a host with
 * addresses of one family: glibc asks for that family alone (on an
 * IPv6-only host mapping IPv4 answers, AI_V4MAPPED), and a family's own
 * lookup would not say what that one lookup says: nothing to race. */
static int one_family_asked(const struct addrinfo *hints)
{
	return scio_addrconfig_families(hints ? hints->ai_flags
					: AI_V4MAPPED | AI_ADDRCONFIG) == 1;
}

int scio_resolve(const char *node, const char *service,
		 const struct addrinfo *hints, struct scio_resolve_opts *o,
		 struct addrinfo **res)
{
	o->pending = 0;
	if (!node || !res || (hints && hints->ai_family != AF_UNSPEC))
		return scio_sys.getaddrinfo(node, service, hints, res);
	int cancel_state, rc, saved = errno;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	join_orphans();
	if (resolve_by_stub(node, service, hints, o, res, cancel_state, &rc)) {
		pthread_setcancelstate(cancel_state, NULL);
		return rc;
	}
	/* nor when the helper thread's lookup would not follow this thread's _res */
	struct lookup *l = one_family_asked(hints) || scio_resconf_thread_res_changed()
			   ? NULL : lookup_start(node, service, hints, o);
	int raced = l && resolve_raced(l, o, res, cancel_state, &rc);
	pthread_setcancelstate(cancel_state, NULL);
	if (!raced) {  /* one family, no helper, two hosts, the program's own
			  _res: the plain call, as without scio */
		errno = saved;
		rc = scio_sys.getaddrinfo(node, service, hints, res);
	}
	return rc;
}

int scio_resolve_in_background(void (*job)(void *), void *arg)
{
	join_orphans();
	struct helper *h = start_helper(job, arg);
	if (!h)
		return -1;
	leave_helper(h);
	return 0;
}

int scio_resolve_worth_racing(const char *node, const struct addrinfo *hints)
{
	if (!node || !*node)
		return 0;
	if (hints && (hints->ai_family != AF_UNSPEC ||
		      (hints->ai_flags & AI_NUMERICHOST)))
		return 0;
	struct in_addr v4;
	if (strchr(node, ':') || inet_aton(node, &v4) != 0)
		return 0;  /* a literal: IPv6, maybe with a %scope, or IPv4 in any
			      of the forms glibc reads (127.1, 0x7f.1, 2130706433) */
	return !scio_hosts_has(node, scio_now_us());
}

struct addrinfo *scio_addrinfo_interleave(struct addrinfo *res, int prefer)
{
	struct addrinfo *mine, *other;
	scio_split_family(res, prefer != AF_INET ? AF_INET6 : AF_INET, &mine, &other);
	struct addrinfo *head = interleave(mine, other);
	canonname_first(head);
	return head;
}
