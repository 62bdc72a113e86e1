/*
 * test_pending.c - the table of pending non-blocking connects
 * (shim/core/pending.c) with real sockets and real threads: a thread whose
 * entries another thread released (a reused fd number, an expired entry,
 * an answer the program races on its own) goes back to the fast path of
 * its poll and select calls, scio_pending_in_this_thread() false; its
 * own takes and put-backs keep its count exact.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "pending.h"

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	return fd;
}

static struct scio_match answer(uint64_t id)
{
	struct scio_match m = { .id = id, .n = 2 };
	return m;
}

/* What another thread does to the table, in a thread of its own. */
struct other {
	int fd;
	uint64_t drop_id;
	int64_t now;
};

static void *other_thread(void *arg)
{
	const struct other *o = arg;
	if (o->fd >= 0) {
		struct scio_match m = answer(999);
		scio_pending_add(o->fd, &m, o->now);
	}
	if (o->drop_id)
		scio_pending_drop_answer(o->drop_id);
	return NULL;
}

static void in_other_thread(struct other o)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, other_thread, &o) == 0);
	pthread_join(t, NULL);
}

/* Leaves the table empty for the next test. */
static void drain(int fd, int other_fd)
{
	struct scio_pending p;
	while (scio_pending_take(fd, &p))
		;
	in_other_thread((struct other){ .fd = -1, .drop_id = 999 });
	close(fd);
	if (other_fd >= 0)
		close(other_fd);
}

static void reused_fd_released_by_another_thread(void)
{
	int fd = tcp_socket();
	struct scio_match m = answer(1);
	CHECK_EQ(scio_pending_add(fd, &m, 1000), 0);
	CHECK(scio_pending_in_this_thread());
	/* the number closed and reused, connected again by another thread */
	in_other_thread((struct other){ .fd = fd, .now = 2000 });
	CHECK(!scio_pending_in_this_thread());
	CHECK_EQ(scio_pending_here, 0);
	drain(fd, -1);
}

static void answer_dropped_by_another_thread(void)
{
	int fd = tcp_socket();
	struct scio_match m = answer(2);
	CHECK_EQ(scio_pending_add(fd, &m, 1000), 0);
	CHECK(scio_pending_in_this_thread());
	in_other_thread((struct other){ .fd = -1, .drop_id = 2 });
	CHECK(!scio_pending_in_this_thread());
	drain(fd, -1);
}

static void expired_entry_evicted_by_another_thread(void)
{
	int fd = tcp_socket(), other = tcp_socket();
	struct scio_match m = answer(3);
	CHECK_EQ(scio_pending_add(fd, &m, 1000), 0);
	CHECK(scio_pending_in_this_thread());
	in_other_thread((struct other){ .fd = other,
					.now = 1000 + SCIO_PENDING_TTL_US + 1 });
	CHECK(!scio_pending_in_this_thread());
	drain(fd, other);
}

static void own_entries_counted_exactly(void)
{
	int a = tcp_socket(), b = tcp_socket();
	struct scio_match m = answer(4);
	struct scio_pending p;
	CHECK_EQ(scio_pending_add(a, &m, 1000), 0);
	CHECK_EQ(scio_pending_add(b, &m, 1000), 0);
	CHECK_EQ(scio_pending_here, 2);
	CHECK(scio_pending_take(a, &p));
	CHECK(scio_pending_in_this_thread());
	scio_pending_put_back(&p);
	CHECK_EQ(scio_pending_here, 2);
	/* another thread's entries never count here */
	int c = tcp_socket();
	in_other_thread((struct other){ .fd = c, .now = 1000 });
	CHECK_EQ(scio_pending_here, 2);
	CHECK(scio_pending_take(a, &p) && scio_pending_take(b, &p));
	CHECK(!scio_pending_in_this_thread());
	CHECK(!scio_pending_take(a, &p));
	drain(a, b);
	close(c);
}

int main(void)
{
	RUN(reused_fd_released_by_another_thread);
	RUN(answer_dropped_by_another_thread);
	RUN(expired_entry_evicted_by_another_thread);
	RUN(own_entries_counted_exactly);
	printf("%d failed\n", check_failures);
	return check_failures != 0;
}
