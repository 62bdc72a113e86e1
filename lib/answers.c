/* answers.c - the table of recent multi-address getaddrinfo answers. */
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "answers.h"

int scio_ip_from_sockaddr(struct scio_ip *ip, uint16_t *port,
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

static struct scio_fork_lock fork_lock = { .m = &global.lock };
static void fork_prepare(void) { scio_fork_prepare(&fork_lock); }
static void fork_parent(void) { scio_fork_parent(&fork_lock); }
static void fork_child(void) { scio_fork_child(&fork_lock); }

static void global_init(void)
{
	scio_answers_init(&global);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

struct scio_answers *scio_answers_global(void)
{
	scio_once(&global_once, global_init);
	return &global;
}

/* Fills a from res; returns how many distinct addresses it has. */
static size_t collect(struct scio_answer *a, const struct addrinfo *res)
{
	a->n = 0;
	a->port = 0;
	for (; res && a->n < SCIO_ANSWER_ADDRS; res = res->ai_next) {
		struct scio_ip ip;
		uint16_t port;
		if (res->ai_protocol != 0 && res->ai_protocol != IPPROTO_TCP)
			continue;
		if (!scio_ip_from_sockaddr(&ip, &port, res->ai_addr, res->ai_addrlen))
			continue;
		int dup = 0;
		for (size_t k = 0; k < a->n && !dup; k++)
			dup = ip_equal(&a->ip[k], &ip);
		if (dup)
			continue;
		if (a->n == 0)
			a->port = port;
		a->ip[a->n++] = ip;
	}
	return a->n;
}

static int same_answer(const struct scio_answer *x, const struct scio_answer *y)
{
	return x->id && x->n == y->n && x->port == y->port &&
	       x->pending == y->pending && x->raceable == y->raceable &&
	       strcmp(x->name, y->name) == 0 &&
	       memcmp(x->ip, y->ip, x->n * sizeof(x->ip[0])) == 0;
}

/* The answer id of the calling thread's latest lookup; 0 for none. */
static __thread uint64_t my_latest __attribute__((tls_model("initial-exec")));

static void touch(struct scio_answers *t, int64_t now)
{
	__atomic_store_n(&t->newest, now ? now : 1, __ATOMIC_RELEASE);
}

/* A newer lookup of a name replaces every older answer for it. */
static void forget_name(struct scio_answers *t, const char *name)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++)
		if (t->slot[k].id && strcmp(t->slot[k].name, name) == 0)
			t->slot[k].id = 0;
}

void scio_answers_record(struct scio_answers *t, const char *name,
			 const struct addrinfo *res, int flags, int64_t now)
{
	struct scio_answer a;
	memset(&a, 0, sizeof(a));
	int pending = (flags & SCIO_ANSWER_PENDING) != 0;
	size_t n = collect(&a, res);
	if (n == 0 && !pending) {
		my_latest = 0;
		return;
	}
	a.raceable = (flags & SCIO_ANSWER_RACEABLE) && (n >= 2 || pending);
	a.pending = (uint8_t)pending;
	a.pending_until = pending ? now + SCIO_LATE_US : 0;
	if (name)
		strncpy(a.name, name, sizeof(a.name) - 1);
	a.when = now;

	scio_lock(&t->lock);
	unsigned last = (t->next_slot + SCIO_ANSWER_SLOTS - 1) % SCIO_ANSWER_SLOTS;
	if (same_answer(&t->slot[last], &a)) {
		/* a program resolving the same name in a loop: just refresh */
		t->slot[last].when = now;
		my_latest = t->slot[last].id;
	} else {
		forget_name(t, a.name);
		a.id = t->next_id++;
		t->slot[t->next_slot] = a;
		t->next_slot = (t->next_slot + 1) % SCIO_ANSWER_SLOTS;
		my_latest = a.id;
	}
	touch(t, now);
	scio_unlock(&t->lock);
}

static int find_ip(const struct scio_answer *a, const struct scio_ip *ip)
{
	for (int i = 0; i < a->n; i++)
		if (ip_equal(&a->ip[i], ip))
			return i;
	return -1;
}

static struct scio_answer *find_id(struct scio_answers *t, uint64_t id)
{
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++)
		if (t->slot[k].id == id)
			return &t->slot[k];
	return NULL;
}

int scio_answers_take_replay(struct scio_answers *t, struct scio_match *m,
			     int64_t now)
{
	int open = 0;
	m->replay_error = 0;
	m->failed = 0;
	scio_lock(&t->lock);
	struct scio_answer *a = find_id(t, m->id);
	if (a && a->failed_at) {
		size_t i = m->asked;
		if (now - a->failed_at > SCIO_REPLAY_US || i == a->failed_primary ||
		    a->failed_port != m->port) {
			/* a new connect, not a fallback loop's next step */
			a->failed_at = 0;
			a->tried = 0;
			memset(a->error, 0, sizeof(a->error));
		} else {
			open = 1;
			m->replay_error = a->error[i];
			a->error[i] = 0;
			m->failed = a->tried;
		}
	}
	scio_unlock(&t->lock);
	return open;
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

static int same_set(const struct scio_answer *x, const struct scio_answer *y)
{
	if (x->n != y->n || x->pending != y->pending)
		return 0;
	for (int i = 0; i < x->n; i++)
		if (find_ip(y, &x->ip[i]) < 0)
			return 0;
	return 1;
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
	m->id = a->id;
	m->pending = a->pending && now < a->pending_until;
	m->port = port;
	memcpy(m->name, a->name, sizeof(m->name));
	m->n = a->n;
	m->asked = (size_t)find_ip(a, ip);
	for (size_t j = 0; j < a->n; j++)
		ip_to_sockaddr(&a->ip[j], port, &m->addr[j]);
	m->replay_error = 0;
	m->failed = 0;
}

int scio_answers_match(struct scio_answers *t, const struct sockaddr *dst,
		       int64_t now, struct scio_match *m)
{
	struct scio_ip ip;
	uint16_t port;
	int64_t newest = __atomic_load_n(&t->newest, __ATOMIC_ACQUIRE);
	if (!newest || now - newest > SCIO_ANSWER_TTL_US + SCIO_REPLAY_US ||
	    !scio_ip_from_sockaddr(&ip, &port, dst, sizeof(struct sockaddr_storage)))
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
			 const int *errors, int64_t now)
{
	scio_lock(&t->lock);
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++) {
		struct scio_answer *a = &t->slot[k];
		if (a->id != m->id)
			continue;
		if (!a->failed_at || now - a->failed_at > SCIO_REPLAY_US) {
			memset(a->error, 0, sizeof(a->error));
			a->tried = 0;
		}
		a->failed_at = now ? now : 1;
		touch(t, now);
		a->failed_primary = (uint8_t)m->asked;
		a->failed_port = m->port;
		for (size_t i = 0; i < a->n && i < m->n; i++)
			if (errors[i]) {
				a->error[i] = errors[i];
				a->tried |= 1u << i;
			}
		break;
	}
	scio_unlock(&t->lock);
}

static void add_ip(struct scio_answer *a, const struct scio_ip *ip)
{
	if (a->n >= SCIO_ANSWER_ADDRS || find_ip(a, ip) >= 0)
		return;
	a->ip[a->n++] = *ip;
}

void scio_answers_late(struct scio_answers *t, const char *name,
		       const struct addrinfo *res, int64_t now)
{
	scio_lock(&t->lock);
	for (unsigned k = 1; k <= SCIO_ANSWER_SLOTS; k++) {
		struct scio_answer *a =
			&t->slot[(t->next_slot + SCIO_ANSWER_SLOTS - k) % SCIO_ANSWER_SLOTS];
		if (!a->id || !a->pending || strncmp(a->name, name, sizeof(a->name) - 1))
			continue;
		for (; res; res = res->ai_next) {
			struct scio_ip ip;
			uint16_t port;
			if (scio_ip_from_sockaddr(&ip, &port, res->ai_addr, res->ai_addrlen))
				add_ip(a, &ip);
		}
		a->pending = 0;
		a->when = now;
		touch(t, now);
		break;
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
	for (unsigned k = 0; k < SCIO_ANSWER_SLOTS; k++) {
		struct scio_answer *a = &t->slot[k];
		if (a->id != m->id)
			continue;
		for (size_t i = known; i < a->n && count < cap; i++)
			ip_to_sockaddr(&a->ip[i], m->port, &out[count++]);
		*pending = a->pending && now < a->pending_until;
		break;
	}
	scio_unlock(&t->lock);
	return count;
}

void scio_answers_late_global(const char *name, const struct addrinfo *res,
			      void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	scio_answers_late(scio_answers_global(), name, res,
			  (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}
