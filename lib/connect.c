/* connect.c - scio_connect (raced) and scio_connect_serial (classic). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addrs.h"
#include "answers.h"
#include "config.h"
#include "delay.h"
#include "history.h"
#include "internal.h"
#include "race.h"
#include "resolve.h"
#include "scio.h"
#include "engine.h"
#include "sys.h"

static __thread int last_gai_error;

int scio_last_gai_error(void)
{
	return last_gai_error;
}

void scio_options_init(struct scio_options *o)
{
	if (!o)
		return;
	*o = (struct scio_options){
		.connect_delay_ms = SCIO_CONNECT_DELAY_LEARN,
		.resolution_delay_ms = SCIO_RESOLUTION_DELAY_DEFAULT_MS,
		.prefer_family = AF_UNSPEC,
		.family = AF_UNSPEC,
		.timeout_ms = -1,
	};
}

static int gai_errno(int gai)
{
	switch (gai) {
	case EAI_AGAIN: return EAGAIN;
	case EAI_MEMORY: return ENOMEM;
	case EAI_SYSTEM: return errno ? errno : EIO;
	default: return ENXIO;
	}
}

/* Resolves into *out (allocated with room for twice the addresses: the
 * second half is scratch); returns the count, or -1 with errno (and the
 * getaddrinfo code in last_gai_error). */
static int resolve(const char *host, const char *service,
		   const struct scio_options *o, struct sockaddr_storage **out,
		   struct scio_match *late, int *first)
{
	if (!host || !*host || !service || !*service) {
		errno = EINVAL;
		return -1;
	}
	struct addrinfo hints = {
		.ai_family = o->family,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res = NULL;
	int rc, pending = 0, raced = 0;
	if (late && scio_resolve_worth_racing(host, &hints)) {
		struct scio_resolve_opts ro = {
			.delay_ms = o->resolution_delay_ms,
			.prefer_family = o->prefer_family,
			.system_only = scio_config()->resolver == SCIO_RESOLVER_SYSTEM,
			.late = scio_answers_late_global,
		};
		rc = scio_resolve(host, service, &hints, &ro, &res);
		pending = ro.pending;
		raced = 1;
	} else {
		rc = scio_sys.getaddrinfo(host, service, &hints, &res);
	}
	if (late)
		late->pending = 0;
	if (rc == 0 && pending) {
		/* remember the answer, so that the late family can join */
		struct scio_answers *t = scio_answers_global();
		scio_answers_record(t, host, res, SCIO_ANSWER_RACEABLE | SCIO_ANSWER_PENDING,
				    scio_now_us());
		if (!scio_answers_match(t, res->ai_addr, scio_now_us(), late))
			late->pending = 0;
	}
	if (rc != 0) {
		last_gai_error = rc;
		errno = gai_errno(rc);
		return -1;
	}
	*first = o->prefer_family != AF_UNSPEC ? o->prefer_family
		 : scio_first_family(res, !raced);
	size_t total = 0;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
		total++;
	*out = calloc(2 * total, sizeof(**out));
	if (!*out) {
		scio_freeaddrinfo(res);
		last_gai_error = EAI_MEMORY;
		errno = ENOMEM;
		return -1;
	}
	size_t n = scio_collect(res, *out, total);
	scio_freeaddrinfo(res);
	if (n == 0) {
		free(*out);
		last_gai_error = EAI_NONAME;
		errno = ENXIO;
		return -1;
	}
	return (int)n;
}

static void opts_or_defaults(const struct scio_options **o,
			     struct scio_options *def)
{
	last_gai_error = 0;
	if (!*o) {
		scio_options_init(def);
		*o = def;
	}
	if ((*o)->report)
		*(*o)->report = (struct scio_report){ .winner = -1 };
}

/* The addresses of a family that answered after the lookup returned. */
static size_t late_addresses(void *arg, struct sockaddr_storage *out,
			     size_t cap, int *more)
{
	struct scio_match *m = arg;
	size_t n = scio_answers_more(scio_answers_global(), m, m->n, out, cap,
				     more, scio_now_us());
	m->n += n;
	return n;
}

/* The user's history, as the shim reads it: addresses that failed lately
 * go last (scratch has room for n), and the delay follows the connect
 * times of the first.  Returns the delay. */
static int history_plan(struct sockaddr_storage *addrs, size_t n,
			struct sockaddr_storage *scratch)
{
	const struct scio_config *cfg = scio_config();
	unsigned char *broken = calloc(n, 1);
	if (broken) {
		int64_t now = scio_wall_ms();
		for (size_t i = 0; i < n; i++)
			broken[i] = (unsigned char)scio_history_broken(
				(const struct sockaddr *)&addrs[i], now);
		engine_broken_last(addrs, n, broken, scratch);
		free(broken);
	}
	return scio_delay_for((const struct sockaddr *)&addrs[0], cfg);
}

int scio_connect(const char *host, const char *service,
		 const struct scio_options *o)
{
	struct scio_options def;
	struct sockaddr_storage *addrs;
	struct scio_match late;
	struct scio_report own_report = { .winner = -1 };
	int family;

	opts_or_defaults(&o, &def);
	int n = resolve(host, service, o, &addrs, &late, &family);
	if (n < 0)
		return -1;
	struct sockaddr_storage first = addrs[0];
	engine_interleave(addrs, (size_t)n, family, addrs + n);
	int learn = o->connect_delay_ms == SCIO_CONNECT_DELAY_LEARN;
	int delay_ms = learn ? history_plan(addrs, (size_t)n, addrs + n)
			     : o->connect_delay_ms;
	struct scio_report *rep = o->report || !learn ? o->report : &own_report;

	size_t primary = 0;
	while (!scio_same_addr((struct sockaddr *)&addrs[primary],
			       (struct sockaddr *)&first))
		primary++;
	struct scio_race_in r = {
		.pub = { .addrs = addrs, .naddrs = (size_t)n, .primary = primary,
			 .connect_delay_ms = delay_ms,
			 .timeout_ms = o->timeout_ms < 0 ? -1 : o->timeout_ms,
			 .report = rep },
		.own_fd = -1,
		.late = late.pending ? late_addresses : NULL,
		.late_arg = &late,
	};
	int fd = scio_race_run_alone(&r);
	int err = errno;
	if (learn)
		scio_history_record(rep, scio_wall_ms());
	free(addrs);
	if (fd >= 0 && scio_set_blocking(fd) < 0) {
		err = errno;
		scio_close_own(fd);
		fd = -1;
	}
	errno = err;
	return fd;
}

/* One blocking-style attempt, bounded by timeout_ms (-1: none); returns
 * the socket or -1 with errno. */
static int connect_one(const struct sockaddr *dst, int timeout_ms,
		       struct scio_attempt *a, int64_t t0)
{
	int64_t start = scio_now_us();
	int64_t until = timeout_ms < 0 ? ENGINE_NEVER
				       : start + (int64_t)timeout_ms * 1000;
	int err = 0;
	int fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		err = errno;
	} else if (scio_sys.connect(fd, dst, scio_sockaddr_len(dst)) < 0) {
		err = errno;
		while (err == EINPROGRESS || err == EINTR) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int rc = scio_sys.poll(&p, 1, scio_poll_timeout(until, scio_now_us()));
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc < 0)
				err = errno;
			else if (rc == 0)
				err = ETIMEDOUT;
			else if ((err = scio_connect_finish(fd, dst)) == EINPROGRESS)
				continue;
			break;
		}
	}
	if (a) {
		memcpy(&a->addr, dst, scio_sockaddr_len(dst));
		a->addrlen = scio_sockaddr_len(dst);
		a->start_us = start - t0;
		a->end_us = scio_now_us() - t0;
		a->error = err;
		a->won = err == 0;
	}
	if (err == 0 && scio_set_blocking(fd) == 0)
		return fd;
	if (err == 0)
		err = errno;
	if (fd >= 0)
		scio_close_own(fd);
	errno = err;
	return -1;
}

int scio_connect_serial(const char *host, const char *service,
			const struct scio_options *o)
{
	struct scio_options def;
	struct sockaddr_storage *addrs;

	opts_or_defaults(&o, &def);
	int family;
	int n = resolve(host, service, o, &addrs, NULL, &family);
	if (n < 0)
		return -1;

	struct scio_report *rep = o->report;
	int64_t t0 = scio_now_us();
	int first_err = 0, fd = -1;
	if (rep)
		*rep = (struct scio_report){ .candidates = (size_t)n, .winner = -1 };
	for (int i = 0; i < n && fd < 0; i++) {
		struct scio_attempt *a = rep && i < SCIO_REPORT_MAX
			? &rep->attempt[i] : NULL;
		fd = connect_one((struct sockaddr *)&addrs[i], o->timeout_ms, a, t0);
		if (fd < 0 && !first_err)
			first_err = errno;
		if (a)
			rep->count = (size_t)i + 1;
		if (a && fd >= 0)
			rep->winner = i;
	}
	if (rep) {
		rep->elapsed_us = scio_now_us() - t0;
		rep->error = fd < 0 ? first_err : 0;
	}
	free(addrs);
	if (fd < 0)
		errno = first_err;
	return fd;
}
