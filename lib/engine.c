/* engine.c - the connection race's decisions (see engine.h). */
#include <errno.h>
#include <string.h>

#include "engine.h"

void engine_init(struct engine *m, struct engine_slot *slot, size_t n, size_t primary,
	     int64_t delay, int64_t deadline)
{
	if (delay < ENGINE_MIN_DELAY_US)
		delay = ENGINE_MIN_DELAY_US;
	if (delay > ENGINE_MAX_DELAY_US)
		delay = ENGINE_MAX_DELAY_US;
	*m = (struct engine){
		.slot = slot, .n = n, .primary = primary < n ? primary : 0,
		.delay = delay, .deadline = deadline, .winner = -1,
	};
	for (size_t i = 0; i < n; i++)
		slot[i] = (struct engine_slot){ .state = ENGINE_IDLE, .end = -1 };
}

/* Attempts still in flight when the race ends are left behind. */
static void abandon_running(struct engine *m, int error, int64_t now)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->slot[i].state != ENGINE_RUNNING)
			continue;
		m->slot[i].state = ENGINE_ABANDONED;
		m->slot[i].error = error;
		m->slot[i].end = now;
	}
	m->running = 0;
}

void engine_connected(struct engine *m, size_t i, int64_t now)
{
	if (i >= m->n || m->slot[i].state != ENGINE_RUNNING || m->done)
		return;
	m->running--;
	m->slot[i].end = now;
	m->slot[i].state = ENGINE_WON;
	m->winner = (int)i;
	m->done = 1;
	abandon_running(m, ECANCELED, now);
}

void engine_failed(struct engine *m, size_t i, int error, int64_t now)
{
	if (i >= m->n || m->slot[i].state != ENGINE_RUNNING)
		return;
	m->running--;
	m->slot[i].state = ENGINE_FAILED;
	m->slot[i].error = error ? error : ECONNREFUSED;
	m->slot[i].end = now;
}

/* The primary address's error, else the first error in start order. */
static int race_error(const struct engine *m)
{
	if (m->slot[m->primary].error)
		return m->slot[m->primary].error;
	for (size_t i = 0; i < m->n; i++)
		if (m->slot[i].error)
			return m->slot[i].error;
	return ETIMEDOUT;
}

static struct engine_order finish(struct engine *m, int64_t now)
{
	if (!m->done) {
		abandon_running(m, ETIMEDOUT, now);
		m->done = 1;
		m->error = race_error(m);
	}
	if (m->winner >= 0)
		return (struct engine_order){ .kind = ENGINE_DONE,
					   .index = (size_t)m->winner };
	return (struct engine_order){ .kind = ENGINE_DONE, .error = m->error };
}

struct engine_order engine_next(struct engine *m, int64_t now)
{
	if (m->done || now >= m->deadline)
		return finish(m, now);

	int more = m->next < m->n;
	int64_t next_start = m->last_start + m->delay;
	if (more && (m->running == 0 || now >= next_start)) {
		size_t i = m->next++;
		m->slot[i].state = ENGINE_RUNNING;
		m->slot[i].start = now;
		m->last_start = now;
		m->running++;
		return (struct engine_order){ .kind = ENGINE_START, .index = i };
	}
	int late = m->more_until > now;
	if (m->running == 0 && !late)
		return finish(m, now);

	int64_t until = more ? next_start : ENGINE_NEVER;
	if (late && now + ENGINE_LATE_POLL_US < until)
		until = now + ENGINE_LATE_POLL_US;
	if (m->deadline < until)
		until = m->deadline;
	return (struct engine_order){ .kind = ENGINE_WAIT, .until = until,
				      .ask_late = late };
}

void engine_add(struct engine *m, size_t count)
{
	if (m->done)
		return;
	for (size_t i = m->n; i < m->n + count; i++)
		m->slot[i] = (struct engine_slot){ .state = ENGINE_IDLE, .end = -1 };
	m->n += count;
}

void engine_more_coming(struct engine *m, int64_t until)
{
	m->more_until = until;
}

void engine_interleave(struct sockaddr_storage *a, size_t n, int first,
		       struct sockaddr_storage *scratch)
{
	size_t k = 0;
	if (first != AF_INET)
		first = AF_INET6;
	/* the two families' next entries, each in its own order */
	for (size_t i = 0, j = 0; i < n || j < n;) {
		while (i < n && a[i].ss_family != first)
			i++;
		if (i < n)
			scratch[k++] = a[i++];
		while (j < n && a[j].ss_family == first)
			j++;
		if (j < n)
			scratch[k++] = a[j++];
	}
	memcpy(a, scratch, n * sizeof(*a));
}

void engine_order_candidates(struct sockaddr_storage *cand, size_t n,
			     struct sockaddr_storage *scratch)
{
	if (n < 2)
		return;
	int other = cand[0].ss_family == AF_INET6 ? AF_INET : AF_INET6;
	engine_interleave(cand + 1, n - 1, other, scratch);
}

size_t engine_broken_last(struct sockaddr_storage *cand, size_t n,
			  const unsigned char *broken,
			  struct sockaddr_storage *scratch)
{
	size_t good = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (broken[i])
			scratch[bad++] = cand[i];
		else
			cand[good++] = cand[i];
	}
	memcpy(cand + good, scratch, bad * sizeof(*cand));
	return n > 0 && broken[0] && good > 0 ? good : 0;
}

int64_t engine_own_bound(int64_t delay)
{
	int64_t bound = delay * 3 / 4;
	return bound > 0 ? bound : 1;
}

int engine_replayable(int error)
{
	switch (error) {
	case ECONNREFUSED: case ETIMEDOUT: case EHOSTUNREACH:
	case ENETUNREACH: case EINPROGRESS: case EACCES: case EADDRNOTAVAIL:
		return 1;
	default:
		return 0;
	}
}
