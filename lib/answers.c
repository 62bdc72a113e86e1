/* answers.c - the table of recent multi-address getaddrinfo answers. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "answers.h"

/* 0 when sa is not INET/INET6. */
static int ip_from_sockaddr(struct scio_ip *ip, uint16_t *port,
			    const struct sockaddr *sa, socklen_t len)
{
	memset(ip, 0, sizeof(*ip));
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		ip->family = AF_INET;
		memcpy(ip->a, &in->sin_addr, 4);
		*port = in->sin_port;
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		ip->family = AF_INET6;
		ip->scope = in6->sin6_scope_id;
		memcpy(ip->a, &in6->sin6_addr, 16);
		*port = in6->sin6_port;
		return 1;
	}
	return 0;
}

static void ip_to_sockaddr(const struct scio_ip *ip, uint16_t port,
			   struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = port;
		memcpy(&in->sin_addr, ip->a, 4);
	} else {
		struct sockaddr_in6 *in6 = (void *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		in6->sin6_scope_id = ip->scope;
		memcpy(&in6->sin6_addr, ip->a, 16);
	}
}

static int ip_equal(const struct scio_ip *a, const struct scio_ip *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

void scio_answers_init(struct scio_answers *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->next_id = 1;
}

static struct scio_answers global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

SCIO_FORK_SAFE_LOCK(global.lock)

static void global_init(void)
{
	scio_answers_init(&global);
	register_atfork();
}

struct scio_answers *scio_answers_global(void)
{
	scio_once(&global_once, global_init);
	return &global;
}

static int find_ip(const struct scio_answer *a, const struct scio_ip *ip)
{
	for (size_t i = 0; i < a->n; i++)
		if (ip_equal(&a->e[i].ip, ip))
			return (int)i;
	return -1;
}

/* Entries an answer collects on the stack before it needs the heap. */
#define STACK_ENTRIES 16

/* Appends ip unless a has it; a->e starts as a stack buffer of *cap
 * entries (on_heap 0) and moves to the heap when it must grow.  0, or -1
 * when out of memory or budget. */
static int add_ip(struct scio_answer *a, size_t *cap, int *on_heap,
		  const struct scio_ip *ip)
{
	if (find_ip(a, ip) >= 0)
		return 0;
	if (a->n == *cap) {
		size_t more = *cap ? *cap * 2 : 8;
		if (more > SCIO_ANSWER_BUDGET)
			more = SCIO_ANSWER_BUDGET;
		if (more <= a->n)
			return -1;
		struct scio_entry *e = *on_heap ? realloc(a->e, more * sizeof(*e))
					       : malloc(more * sizeof(*e));
		if (!e)
			return -1;
		if (!*on_heap)
			memcpy(e, a->e, a->n * sizeof(*e));
		a->e = e;
		*cap = more;
		*on_heap = 1;
	}
	a->e[a->n++] = (struct scio_entry){ .ip = *ip };
	return 0;
}

/* Fills a from res: the distinct INET/INET6 addresses, in order, in
 * a->e (room for *cap; see add_ip); -1 when they cannot all be kept. */
static int collect(struct scio_answer *a, size_t *cap, int *on_heap,
		   const struct addrinfo *res)
{
	a->n = 0;
	a->port = 0;
	for (; res; res = res->ai_next) {
		struct scio_ip ip;
		uint16_t port;
		if (res->ai_protocol != 0 && res->ai_protocol != IPPROTO_TCP)
			continue;
		if (!ip_from_sockaddr(&ip, &port, res->ai_addr, res->ai_addrlen))
			continue;
		if (a->n == 0)
			a->port = port;
		if (add_ip(a, cap, on_heap, &ip) < 0)
			return -1;
	}
	return 0;
}

static int same_answer(const struct scio_answer *x, const struct scio_answer *y)
{
	if (!x->id || x->n != y->n || x->port != y->port ||
	    x->pending != y->pending || x->raceable != y->raceable ||
	    strcmp(x->name, y->name) != 0)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (!ip_equal(&x->e[i].ip, &y->e[i].ip))
			return 0;
	return 1;
}

static void clear_slot(struct scio_answers *t, struct scio_answer *a)
{
	t->held -= a->n;
	free(a->e);
	memset(a, 0, sizeof(*a));
}

void scio_answers_clear(struct scio_answers *t)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++)
		if (t->slot[k].id)
			clear_slot(t, &t->slot[k]);
	pthread_mutex_destroy(&t->lock);
}

/* Older answers make room for one of n addresses (never the newest). */
static void make_room(struct scio_answers *t, size_t n)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS && t->held + n > SCIO_ANSWER_BUDGET; k++) {
		struct scio_answer *a = &t->slot[(t->next_slot + k) % SCIO_ANSWER_SLOTS];
		if (a->id)
			clear_slot(t, a);
	}
}

/* The answer id of the calling thread's latest lookup; 0 for none. */
static __thread uint64_t my_latest __attribute__((tls_model("initial-exec")));

static void touch(struct scio_answers *t, int64_t now)
{
	__atomic_store_n(&t->newest, now ? now : 1, __ATOMIC_RELEASE);
}

static int same_set(const struct scio_answer *x, const struct scio_answer *y)
{
	if (x->n != y->n || x->pending != y->pending)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (find_ip(y, &x->e[i].ip) < 0)
			return 0;
	return 1;
}

/* A name's older answers go when a new one comes (DNS that rotates its
 * addresses would leave answers a connect could belong to either of),
 * except those with the same addresses in another order: another thread
 * may be connecting from one (history reorders a name's answer when a
 * family breaks), and its connect must still find its own. */
static void forget_name(struct scio_answers *t, const struct scio_answer *a)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++)
		if (t->slot[k].id && strcmp(t->slot[k].name, a->name) == 0 &&
		    !same_set(&t->slot[k], a))
			clear_slot(t, &t->slot[k]);
}

/* A program resolving the same name in a loop: the newest answer is
 * refreshed (1), nothing allocated. */
static int refresh_last(struct scio_answers *t, const struct scio_answer *a,
			int64_t now)
{
	scio_lock(&t->lock);
	struct scio_answer *last =
		&t->slot[(t->next_slot + SCIO_ANSWER_SLOTS - 1) % SCIO_ANSWER_SLOTS];
	int same = same_answer(last, a);
	if (same) {
		last->when = now;
		my_latest = last->id;
		touch(t, now);
	}
	scio_unlock(&t->lock);
	return same;
}

void scio_answers_record(struct scio_answers *t, const char *name,
			 const struct addrinfo *res, int flags, int64_t now)
{
	struct scio_entry stack[STACK_ENTRIES];
	struct scio_answer a = { .e = stack };
	size_t cap = STACK_ENTRIES;
	int on_heap = 0;
	int pending = (flags & SCIO_ANSWER_PENDING) != 0;
	if (collect(&a, &cap, &on_heap, res) < 0 || (a.n == 0 && !pending)) {
		if (on_heap)
			free(a.e);  /* what cannot be kept whole is not raced */
		my_latest = 0;
		return;
	}
	a.raceable = (flags & SCIO_ANSWER_RACEABLE) && (a.n >= 2 || pending);
	a.pending = (uint8_t)pending;
	a.pending_until = pending ? now + SCIO_LATE_US : 0;
	if (name)
		strncpy(a.name, name, sizeof(a.name) - 1);
	a.when = now;

	if (refresh_last(t, &a, now)) {
		if (on_heap)
			free(a.e);
		return;
	}
	if (!on_heap) {
		struct scio_entry *e = malloc((a.n ? a.n : 1) * sizeof(*e));
		if (!e) {
			my_latest = 0;
			return;
		}
		memcpy(e, a.e, a.n * sizeof(*e));
		a.e = e;
	}
	scio_lock(&t->lock);
	forget_name(t, &a);
	clear_slot(t, &t->slot[t->next_slot]);
	make_room(t, a.n);
	a.id = t->next_id++;
	t->slot[t->next_slot] = a;
	t->held += a.n;
	t->next_slot = (t->next_slot + 1) % SCIO_ANSWER_SLOTS;
	my_latest = a.id;
	touch(t, now);
	scio_unlock(&t->lock);
}

static struct scio_answer *find_id(struct scio_answers *t, uint64_t id)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++)
		if (t->slot[k].id == id)
			return &t->slot[k];
	return NULL;
}

static void forget_outcomes(struct scio_answer *a)
{
	a->failed_at = 0;
	for (size_t i = 0; i < a->n; i++) {
		a->e[i].error = 0;
		a->e[i].tried = 0;
	}
}

int scio_answers_take_replay(struct scio_answers *t, struct scio_match *m,
			     int64_t now)
{
	m->replay_error = 0;
	m->replay_open = 0;
	scio_lock(&t->lock);
	struct scio_answer *a = find_id(t, m->id);
	if (a && a->failed_at && m->asked < a->n) {
		if (now - a->failed_at > SCIO_REPLAY_US || m->asked == a->failed_primary ||
		    a->failed_port != m->port) {
			forget_outcomes(a);  /* a new connect, not a fallback loop's step */
		} else {
			m->replay_open = 1;
			m->replay_error = a->e[m->asked].error;
			a->e[m->asked].error = 0;
		}
	}
	scio_unlock(&t->lock);
	return m->replay_open;
}

/* Believed: recent, or the fallback loop of a race that just failed. */
static int live(const struct scio_answer *a, int64_t now)
{
	return a->id && (now - a->when <= SCIO_ANSWER_TTL_US ||
			 (a->failed_at && now - a->failed_at <= SCIO_REPLAY_US));
}

/* a holds ip, for this port (any port when it was resolved without one) */
static int holds(const struct scio_answer *a, const struct scio_ip *ip,
		 uint16_t port)
{
	return (!a->port || a->port == port) && find_ip(a, ip) >= 0;
}


/*
 * The lookup dst came from: the calling thread's latest when it holds
 * dst; else the newest other answer that holds it, provided every recent
 * answer holding dst has the same addresses (else scio cannot tell which
 * lookup the program used).  NULL when there is none.
 */
static struct scio_answer *source_of(struct scio_answers *t,
				     const struct scio_ip *ip, uint16_t port,
				     int64_t now)
{
	struct scio_answer *mine = my_latest ? find_id(t, my_latest) : NULL;
	if (mine && live(mine, now) && holds(mine, ip, port))
		return mine;
	struct scio_answer *found = NULL;
	for (unsigned k = 1; k <= SCIO_ANSWER_SLOTS; k++) {
		struct scio_answer *a =
			&t->slot[(t->next_slot + SCIO_ANSWER_SLOTS - k) % SCIO_ANSWER_SLOTS];
		if (!live(a, now) || !holds(a, ip, port))
			continue;
		if (!found)
			found = a;  /* newest first */
		else if (!same_set(a, found) || a->raceable != found->raceable)
			return NULL;
	}
	return found;
}

static void fill_match(struct scio_match *m, const struct scio_answer *a,
		       const struct scio_ip *ip, uint16_t port, int64_t now)
{
	*m = (struct scio_match){
		.id = a->id, .n = a->n, .asked = (size_t)find_ip(a, ip), .port = port,
		.pending = a->pending && now < a->pending_until,
	};
	memcpy(m->name, a->name, sizeof(m->name));
}

int scio_answers_match(struct scio_answers *t, const struct sockaddr *dst,
		       int64_t now, struct scio_match *m)
{
	struct scio_ip ip;
	uint16_t port;
	int64_t newest = __atomic_load_n(&t->newest, __ATOMIC_ACQUIRE);
	if (!newest || now - newest > SCIO_ANSWER_TTL_US + SCIO_REPLAY_US ||
	    !ip_from_sockaddr(&ip, &port, dst, sizeof(struct sockaddr_storage)))
		return 0;

	int found = 0;
	scio_lock(&t->lock);
	struct scio_answer *a = source_of(t, &ip, port, now);
	if (a && a->raceable && (a->n >= 2 || (a->pending && now < a->pending_until))) {
		fill_match(m, a, &ip, port, now);
		found = 1;
	}
	scio_unlock(&t->lock);
	return found;
}

void scio_answers_failed(struct scio_answers *t, const struct scio_match *m,
			 const struct sockaddr_storage *addrs, const int *errors,
			 size_t count, int64_t now)
{
	scio_lock(&t->lock);
	struct scio_answer *a = find_id(t, m->id);
	if (a) {
		if (!a->failed_at || now - a->failed_at > SCIO_REPLAY_US)
			forget_outcomes(a);
		a->failed_at = now ? now : 1;
		touch(t, now);
		a->failed_primary = m->asked;
		a->failed_port = m->port;
		for (size_t k = 0; k < count; k++) {
			struct scio_ip ip;
			uint16_t port;
			int i;
			if (!errors[k] || !ip_from_sockaddr(&ip, &port,
					(const struct sockaddr *)&addrs[k], sizeof(addrs[k])) ||
			    (i = find_ip(a, &ip)) < 0)
				continue;
			a->e[i].error = errors[k];
			a->e[i].tried = 1;
		}
	}
	scio_unlock(&t->lock);
}

/* Every waiting answer of the name takes the late family: the answers
 * forget_name kept side by side hold the same addresses, and each may be
 * the one a thread races on. */
void scio_answers_late(struct scio_answers *t, const char *name,
		       const struct addrinfo *res, int64_t now)
{
	scio_lock(&t->lock);
	for (unsigned k = 1; k <= SCIO_ANSWER_SLOTS; k++) {
		struct scio_answer *a =
			&t->slot[(t->next_slot + SCIO_ANSWER_SLOTS - k) % SCIO_ANSWER_SLOTS];
		if (!a->id || !a->pending || strncmp(a->name, name, sizeof(a->name) - 1))
			continue;
		size_t cap = a->n, before = a->n;
		int on_heap = 1;
		for (const struct addrinfo *r = res; r; r = r->ai_next) {
			struct scio_ip ip;
			uint16_t port;
			if (ip_from_sockaddr(&ip, &port, r->ai_addr, r->ai_addrlen) &&
			    add_ip(a, &cap, &on_heap, &ip) < 0)
				break;  /* out of memory: the answer stays as it was */
		}
		t->held += a->n - before;
		a->pending = 0;
		a->when = now;
		touch(t, now);
	}
	scio_unlock(&t->lock);
}

size_t scio_answers_more(struct scio_answers *t, const struct scio_match *m,
			 size_t known, struct sockaddr_storage *out, size_t cap,
			 int *pending, int64_t now)
{
	size_t count = 0;
	*pending = 0;
	scio_lock(&t->lock);
	struct scio_answer *a = find_id(t, m->id);
	if (a) {
		for (size_t i = known; i < a->n && count < cap; i++)
			ip_to_sockaddr(&a->e[i].ip, m->port, &out[count++]);
		*pending = a->pending && now < a->pending_until;
	}
	scio_unlock(&t->lock);
	return count;
}

size_t scio_answers_candidates(struct scio_answers *t, const struct scio_match *m,
			       struct sockaddr_storage *out, size_t cap)
{
	size_t count = 0;
	scio_lock(&t->lock);
	struct scio_answer *a = find_id(t, m->id);
	if (a && m->asked < a->n && cap > 0) {
		ip_to_sockaddr(&a->e[m->asked].ip, m->port, &out[count++]);
		for (size_t i = 0; i < a->n && count < cap; i++)
			if (i != m->asked && !(m->replay_open && a->e[i].tried))
				ip_to_sockaddr(&a->e[i].ip, m->port, &out[count++]);
	}
	scio_unlock(&t->lock);
	return count;
}

void scio_answers_late_global(const char *name, const struct addrinfo *res,
			      void *arg)
{
	(void)arg;
	scio_answers_late(scio_answers_global(), name, res, scio_now_us());
}
