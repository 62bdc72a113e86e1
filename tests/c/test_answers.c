/*
 * test_answers.c - the answers table: which lookup a connect belongs to
 * when threads look the same name up at once (lib/answers.c).  No
 * sockets, no root.
 */
#include <netdb.h>
#include <pthread.h>

#include "answers.h"
#include "check.h"

#define NOW 1000000000LL

static struct scio_answers table;

/* An addrinfo list of the addresses, in this order (TCP, port 7000). */
struct list {
	struct addrinfo ai[4];
	struct sockaddr_storage ss[4];
};

static struct addrinfo *answer(struct list *l, const char *const *addrs, size_t n)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < n; i++) {
		l->ss[i] = check_addr(addrs[i]);
		l->ai[i].ai_family = l->ss[i].ss_family;
		l->ai[i].ai_socktype = SOCK_STREAM;
		l->ai[i].ai_addr = (struct sockaddr *)&l->ss[i];
		l->ai[i].ai_addrlen = l->ss[i].ss_family == AF_INET6 ?
				      sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		l->ai[i].ai_next = i + 1 < n ? &l->ai[i + 1] : NULL;
	}
	return &l->ai[0];
}

static void record(const char *const *addrs, size_t n)
{
	struct list l;
	scio_answers_record(&table, "dual.test", answer(&l, addrs, n),
			    SCIO_ANSWER_RACEABLE, NOW);
}

static const char *const v6_first[] = { "2001:db8::10", "192.0.2.10" };
static const char *const v4_first[] = { "192.0.2.10", "2001:db8::10" };
static const char *const rotated[] = { "192.0.2.11", "2001:db8::11" };

static void *record_v4_first(void *arg)
{
	(void)arg;
	record(v4_first, 2);
	return NULL;
}

static void *record_rotated(void *arg)
{
	(void)arg;
	record(rotated, 2);
	return NULL;
}

static void other_thread(void *(*fn)(void *))
{
	pthread_t t;
	pthread_create(&t, NULL, fn, NULL);
	pthread_join(t, NULL);
}

/* This thread looked the name up and got IPv6 first; another thread's
 * lookup of the same name then got IPv4 first (history had seen IPv6
 * fail meanwhile).  This thread's connect to its first address is still
 * its first choice, and raced. */
static void own_lookup_survives_another_threads_order(void)
{
	scio_answers_init(&table);
	record(v6_first, 2);
	other_thread(record_v4_first);
	struct sockaddr_storage dst = check_addr("2001:db8::10");
	struct scio_match m;
	CHECK(scio_answers_match(&table, (struct sockaddr *)&dst, NOW, &m));
	CHECK_EQ(m.asked, 0);
	CHECK_EQ(m.n, 2);
	scio_answers_clear(&table);
}

/* A name whose addresses changed (DNS rotating them): the older answer
 * goes, so a connect to its address is no longer taken for a lookup. */
static void older_answer_with_other_addresses_goes(void)
{
	scio_answers_init(&table);
	record(v6_first, 2);
	other_thread(record_rotated);
	struct sockaddr_storage dst = check_addr("2001:db8::10");
	struct scio_match m;
	CHECK(!scio_answers_match(&table, (struct sockaddr *)&dst, NOW, &m));
	dst = check_addr("2001:db8::11");
	CHECK(scio_answers_match(&table, (struct sockaddr *)&dst, NOW, &m));
	CHECK_EQ(m.asked, 1);
	scio_answers_clear(&table);
}

static const char *const v4_only[] = { "192.0.2.10" };

static void *record_other_then_v4_only(void *arg)
{
	(void)arg;
	struct list l;
	static const char *const other[] = { "198.51.100.1" };
	scio_answers_record(&table, "other.test", answer(&l, other, 1),
			    SCIO_ANSWER_RACEABLE | SCIO_ANSWER_PENDING, NOW);
	scio_answers_record(&table, "dual.test", answer(&l, v4_only, 1),
			    SCIO_ANSWER_RACEABLE | SCIO_ANSWER_PENDING, NOW);
	return NULL;
}

static void *match_v4(void *arg)
{
	struct scio_match *m = arg;
	struct sockaddr_storage dst = check_addr("192.0.2.10");
	if (!scio_answers_match(&table, (struct sockaddr *)&dst, NOW + 1000, m))
		m->id = 0;
	return NULL;
}

/* Two threads looked dual.test up, AAAA late for both; this thread races
 * on its own answer.  The late AAAA reaches that race, and a thread with
 * no lookup of its own still finds one answer set to race. */
static void late_family_reaches_every_waiting_answer(void)
{
	scio_answers_init(&table);
	struct list l;
	scio_answers_record(&table, "dual.test", answer(&l, v4_only, 1),
			    SCIO_ANSWER_RACEABLE | SCIO_ANSWER_PENDING, NOW);
	other_thread(record_other_then_v4_only);
	struct sockaddr_storage dst = check_addr("192.0.2.10");
	struct scio_match m;
	CHECK(scio_answers_match(&table, (struct sockaddr *)&dst, NOW + 1000, &m));
	static const char *const v6[] = { "2001:db8::10" };
	scio_answers_late(&table, "dual.test", answer(&l, v6, 1), NOW + 2000);
	struct sockaddr_storage more[4];
	int pending;
	CHECK_EQ(scio_answers_more(&table, &m, m.n, more, 4, &pending, NOW + 3000), 1);
	struct scio_match third = { .id = 0 };
	pthread_t t;
	pthread_create(&t, NULL, match_v4, &third);
	pthread_join(t, NULL);
	CHECK(third.id != 0);
	scio_answers_clear(&table);
}

int main(void)
{
	RUN(own_lookup_survives_another_threads_order);
	RUN(older_answer_with_other_addresses_goes);
	RUN(late_family_reaches_every_waiting_answer);
	return check_exit();
}
