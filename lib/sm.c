/* sm.c - the connection race's decisions (see sm.h). */
#include <errno.h>

#include "sm.h"

void sm_init(struct sm *m, struct sm_slot *slot, size_t n, size_t primary,
	     int64_t delay, int64_t deadline)
{
	if (delay < SM_MIN_DELAY_US)
		delay = SM_MIN_DELAY_US;
	if (delay > SM_MAX_DELAY_US)
		delay = SM_MAX_DELAY_US;
	*m = (struct sm){
		.slot = slot, .n = n, .primary = primary < n ? primary : 0,
		.delay = delay, .deadline = deadline, .winner = -1,
	};
	for (size_t i = 0; i < n; i++)
		slot[i] = (struct sm_slot){ .state = SM_IDLE, .end = -1 };
}

/* Attempts still in flight when the race ends are left behind. */
static void abandon_running(struct sm *m, int error, int64_t now)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->slot[i].state != SM_RUNNING)
			continue;
		m->slot[i].state = SM_ABANDONED;
		m->slot[i].error = error;
		m->slot[i].end = now;
	}
	m->running = 0;
}

void sm_connected(struct sm *m, size_t i, int64_t now)
{
	if (i >= m->n || m->slot[i].state != SM_RUNNING || m->done)
		return;
	m->running--;
	m->slot[i].end = now;
	m->slot[i].state = SM_WON;
	m->winner = (int)i;
	m->done = 1;
	abandon_running(m, ECANCELED, now);
}

void sm_failed(struct sm *m, size_t i, int error, int64_t now)
{
	if (i >= m->n || m->slot[i].state != SM_RUNNING)
		return;
	m->running--;
	m->slot[i].state = SM_FAILED;
	m->slot[i].error = error ? error : ECONNREFUSED;
	m->slot[i].end = now;
}

/* The primary address's error, else the first error in start order. */
static int race_error(const struct sm *m)
{
	if (m->slot[m->primary].error)
		return m->slot[m->primary].error;
	for (size_t i = 0; i < m->n; i++)
		if (m->slot[i].error)
			return m->slot[i].error;
	return ETIMEDOUT;
}

static struct sm_action finish(struct sm *m, int64_t now)
{
	if (!m->done) {
		abandon_running(m, ETIMEDOUT, now);
		m->done = 1;
		m->error = race_error(m);
	}
	if (m->winner >= 0)
		return (struct sm_action){ .kind = SM_DONE,
					   .index = (size_t)m->winner };
	return (struct sm_action){ .kind = SM_DONE, .error = m->error };
}

struct sm_action sm_next(struct sm *m, int64_t now)
{
	if (m->done || now >= m->deadline)
		return finish(m, now);

	int more = m->next < m->n;
	int64_t next_start = m->last_start + m->delay;
	if (more && (m->running == 0 || now >= next_start)) {
		size_t i = m->next++;
		m->slot[i].state = SM_RUNNING;
		m->slot[i].start = now;
		m->last_start = now;
		m->running++;
		return (struct sm_action){ .kind = SM_START, .index = i };
	}
	if (m->running == 0 && !m->more_coming)
		return finish(m, now);

	int64_t until = more ? next_start : SM_NEVER;
	if (m->deadline < until)
		until = m->deadline;
	return (struct sm_action){ .kind = SM_WAIT, .until = until };
}

void sm_add(struct sm *m, size_t count)
{
	if (m->done)
		return;
	for (size_t i = m->n; i < m->n + count; i++)
		m->slot[i] = (struct sm_slot){ .state = SM_IDLE, .end = -1 };
	m->n += count;
}

void sm_more_coming(struct sm *m, int yes)
{
	m->more_coming = yes;
}
