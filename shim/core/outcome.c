/*
 * outcome.c - what goes into a race and what comes out: the candidates
 * of the program's answer in the engine's order, late addresses, the
 * outcome the program's own connect would have had, the log line, and the
 * errors a fallback loop replays.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addrs.h"
#include "engine.h"
#include "history.h"
#include "internal.h"
#include "log.h"
#include "core.h"

const char *errdesc(int err)
{
#ifdef __GLIBC__
	const char *d = strerrordesc_np(err);
#else
	const char *d = strerror(err);  /* musl's: a constant, never NULL */
#endif
	return d ? d : "unknown error";
}

int cands_fetch(struct cands *c, const struct scio_match *m)
{
	size_t cap = m->n;
	c->heap = NULL;
	c->a = c->stack;
	c->outcome = c->stack_outcome;
	c->broken = c->stack_broken;
	if (cap > STACK_CANDIDATES) {
		c->heap = malloc(cap * (2 * sizeof(*c->a) + sizeof(*c->outcome) +
					sizeof(*c->broken)));
		if (!c->heap)
			return -1;
		c->a = c->heap;
		c->outcome = (int *)(c->a + 2 * cap);
		c->broken = (unsigned char *)(c->outcome + cap);
	}
	c->n = scio_answers_candidates(scio_answers_global(), m, c->a, cap);
	if (c->n == 0) {
		free(c->heap);
		return -1;  /* the answer is gone */
	}
	memset(c->outcome, 0, c->n * sizeof(*c->outcome));
	engine_order_candidates(c->a, c->n, c->a + c->n);
	return 0;
}

void cands_free(struct cands *c)
{
	free(c->heap);
}

/* History's verdicts on the candidates, which the engine puts last.
 * Returns the new index of the program's own address. */
size_t history_order(struct cands *c)
{
	int64_t now = scio_wall_ms();
	for (size_t i = 0; i < c->n; i++)
		c->broken[i] = (unsigned char)scio_history_broken(
			(struct sockaddr *)&c->a[i], now);
	return engine_broken_last(c->a, c->n, c->broken, c->a + c->n);
}

/* Addresses a late DNS answer added to the program's answer mid-race. */
size_t late_addresses(void *arg, struct sockaddr_storage *out, size_t cap,
			     int *more)
{
	struct attempt_ctx *c = arg;
	size_t n = scio_answers_more(scio_answers_global(), c->m, c->m->n + c->late_seen,
				     out, cap, more, scio_now_us());
	c->late_seen += n;
	return n;
}

/* What the program's own connect would have returned. */
int own_outcome(const struct scio_report *rep,
		       const struct sockaddr *own, int race_error)
{
	if (race_error == EINTR)
		return EINTR;
	for (size_t k = 0; k < rep->count; k++) {
		const struct scio_attempt *a = &rep->attempt[k];
		if (!scio_same_addr((const struct sockaddr *)&a->addr, own))
			continue;
		if (a->end_us < 0 && race_error == ETIMEDOUT)
			return EINPROGRESS;  /* SO_SNDTIMEO expired mid-connect */
		return a->error;
	}
	/* the deadline came before its turn: a timed-out connect */
	return race_error == ETIMEDOUT ? EINPROGRESS : race_error;
}

void log_race(const struct scio_match *m, const struct scio_report *rep,
		     int result)
{
	if (!scio_log_enabled(SCIO_LOG_INFO))
		return;
	char line[900] = "", addr[80];
	size_t used = 0;
	for (size_t i = 0; i < rep->count && used < sizeof(line) - 100; i++) {
		const struct scio_attempt *a = &rep->attempt[i];
		scio_addr_str((const struct sockaddr *)&a->addr, addr, sizeof(addr));
		int w = snprintf(line + used, sizeof(line) - used,
				 "%s%s (IPv%c) at +%lld ms: %s",
				 i ? "; " : "", addr,
				 a->addr.ss_family == AF_INET6 ? '6' : '4',
				 (long long)(a->start_us / 1000),
				 a->won ? "won" : a->end_us < 0 ? "cancelled" :
				 errdesc(a->error));
		if (w > 0)
			used += (size_t)w;
	}
	unsigned port = ntohs(m->port);
	if (result == 0) {
		const struct scio_attempt *w = &rep->attempt[rep->winner];
		scio_addr_str((const struct sockaddr *)&w->addr, addr, sizeof(addr));
		scio_log(SCIO_LOG_INFO, "%s port %u: connected to %s over IPv%c in %lld ms [%s]",
			 m->name, port, addr, w->addr.ss_family == AF_INET6 ? '6' : '4',
			 (long long)(rep->elapsed_us / 1000), line);
	} else {
		scio_log(SCIO_LOG_INFO, "%s port %u: failed (%s) after %lld ms [%s]",
			 m->name, port, errdesc(result),
			 (long long)(rep->elapsed_us / 1000), line);
	}
}

/* The fallback loop that follows a failed race gets each address's
 * outcome at once instead of waiting for it again. */
void remember_failure(const struct scio_match *m, struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (!engine_replayable(c->outcome[i]))
			c->outcome[i] = 0;
	scio_answers_failed(scio_answers_global(), m, c->a, c->outcome, c->n,
			    scio_now_us());
}
