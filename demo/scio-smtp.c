/*
 * scio-smtp.c - dual-stack SMTP check client, a demo of the SCIO library.
 *
 * Connects to an SMTP server with scio_connect() (the addresses of the name
 * are raced, Happy Eyeballs) or, with --serial, with scio_connect_serial()
 * (one address after the other), reads the greeting, sends EHLO and QUIT,
 * and prints the dialogue on stdout:
 *
 *   S: 220 mx.example.org ESMTP
 *   C: EHLO client.example.org
 *   S: 250-mx.example.org
 *   S: 250 8BITMIME
 *   C: QUIT
 *   S: 221 Bye
 *
 * -v shows the connection race on stderr.  Errors are one line on stderr,
 * "scio-smtp: ...", and a distinct exit status (see usage() and
 * man/scio-smtp.1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "scio.h"

#define PROG "scio-smtp"
#define DEFAULT_PORT "25"
#define STEP_TIMEOUT_DEFAULT_MS 300000  /* RFC 5321 4.5.3.2: 5 minutes */
#define COURTESY_QUIT_TIMEOUT_MS 5000   /* QUIT after a refusal */
#define CONNECT_GRACE_MS 500            /* see arm_connect_backstop() */
#define NO_DEADLINE INT64_MAX
#define TIMEOUT_MAX_S 86400
#define REPLY_LINE_MAX 1000             /* characters, line ending excluded */
#define REPLY_LINES_MAX 200             /* lines in one multi-line reply */
#define EHLO_NAME_MAX 255

/* Exit status; documented in usage() and the manual page. */
enum status {
	ST_OK = 0,
	ST_LOCAL = 1,     /* local trouble: out of memory, output error */
	ST_USAGE = 2,
	ST_RESOLVE = 3,
	ST_CONNECT = 4,
	ST_TIMEOUT = 5,   /* the -t deadline, or a reply not in time */
	ST_REPLY = 6,     /* a reply with an unexpected code (not 2xx/3xx) */
	ST_MALFORMED = 7, /* not an SMTP reply, or a line too long */
	ST_CLOSED = 8,    /* the server closed or reset the connection early */
	ST_CONTINUE = -1, /* internal: options parsed, go on */
};

struct config {
	const char *host;
	const char *port;      /* number or service name */
	const char *ehlo_name; /* NULL: this host's name */
	int family;            /* AF_UNSPEC, AF_INET or AF_INET6 */
	int delay_ms;
	int timeout_ms;        /* -t, the whole check; -1: not given */
	bool serial;
	bool verbose;
};

/*
 * Every wait of the dialogue ends at a deadline: the -t deadline of the
 * whole check, or, without -t, step_ms after the step (one reply read, one
 * command sent) began.  The socket is non-blocking, so a server that
 * drips bytes cannot stretch a wait: time counts, not silence.
 */
struct session {
	const struct config *cfg;
	struct scio_stream *stream;
	int fd;
	int64_t deadline; /* ms, CLOCK_MONOTONIC: the -t one, or NO_DEADLINE */
	int step_ms;      /* each step's own bound; INT_MAX for none */
};

struct reply {
	int code;
	unsigned lines;
	char first[REPLY_LINE_MAX + 1]; /* first line, printable, for messages */
};

/* ------------------------------------------------------------ messages */

static void __attribute__((format(printf, 1, 2))) err_msg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* keep the transcript and the message in order */
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2))) verbose(const char *fmt, ...)
{
	va_list ap;

	fputs("* ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see '" PROG " -h')\n", stderr);
	return ST_USAGE;
}

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [options] HOST [PORT]\n"
"Check an SMTP server: connect to HOST (racing its IPv6 and IPv4 addresses),\n"
"print the greeting, send EHLO and QUIT and print the replies.  PORT is a\n"
"number or a service name such as smtp or submission (default 25).\n"
"\n"
"Options:\n"
"  -4, --ipv4             use IPv4 addresses only\n"
"  -6, --ipv6             use IPv6 addresses only\n"
"  -d, --delay MS         connection attempt delay, 10 to 2000 ms (default 250)\n"
"  -t, --timeout SECONDS  deadline for the whole check: connect, every reply\n"
"                         and command (default: none for connecting, 300 s\n"
"                         for each reply and each command)\n"
"  -H, --ehlo-name NAME   name to send with EHLO (default: this host's name)\n"
"      --serial           try one address after the other, no race\n"
"  -v, --verbose          show every connection attempt on stderr\n"
"  -h, --help             show this help and exit\n"
"      --version          show the version and exit\n"
"\n"
"Output: lines from the server as \"S: ...\", lines sent as \"C: ...\".\n"
"\n"
"Exit status:\n"
"  0  the dialogue completed with 2xx/3xx replies\n"
"  1  local error (out of memory, cannot write the output)\n"
"  2  usage error\n"
"  3  HOST does not resolve\n"
"  4  cannot connect\n"
"  5  timeout: the -t deadline passed, or a reply took over 300 s\n"
"  6  the server replied with an unexpected code (4xx, 5xx)\n"
"  7  malformed reply: not an SMTP reply line, or a line too long\n"
"  8  the server closed or reset the connection early\n", out);
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : family == AF_INET ? "IPv4" : "?";
}

#ifdef __GLIBC__
static const char *err_name(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "unknown error";
}
#else
/* musl names no errno: the ones a connect can end with */
static const char *err_name(int e)
{
#define NAME(x) case x: return #x
	switch (e) {
	NAME(ETIMEDOUT); NAME(ECONNREFUSED); NAME(ECONNRESET);
	NAME(ENETUNREACH); NAME(EHOSTUNREACH); NAME(ECANCELED);
	NAME(EADDRNOTAVAIL); NAME(EAFNOSUPPORT); NAME(EACCES); NAME(EPERM);
	NAME(EMFILE); NAME(ENFILE); NAME(ENOMEM); NAME(ENOBUFS); NAME(EINTR);
	NAME(EINVAL); NAME(EAGAIN); NAME(EINPROGRESS); NAME(ENETDOWN);
	NAME(EPIPE); NAME(EPROTO);
	}
#undef NAME
	return "unknown error";
}
#endif

/* "3", "2.5", "0.25": milliseconds as seconds, without trailing zeros. */
static const char *seconds_str(int ms, char *buf, size_t size)
{
	int frac = ms % 1000;
	if (frac == 0) {
		snprintf(buf, size, "%d", ms / 1000);
		return buf;
	}
	int digits = 3;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, size, "%d.%0*d", ms / 1000, digits, frac);
	return buf;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- options */

enum parse_result { PARSE_OK, PARSE_SYNTAX, PARSE_RANGE };

/* A whole decimal number without sign or spaces, in [min, max]. */
static enum parse_result parse_uint(const char *s, long min, long max, long *out)
{
	if (*s < '0' || *s > '9')
		return PARSE_SYNTAX;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end != '\0')
		return PARSE_SYNTAX;
	if (errno == ERANGE || v < min || v > max)
		return PARSE_RANGE;
	*out = v;
	return PARSE_OK;
}

/* Seconds as DIGITS[.DIGITS] (at most 3 decimals), 0.001..TIMEOUT_MAX_S,
 * into milliseconds. */
static enum parse_result parse_seconds(const char *s, int *ms)
{
	long whole = 0, frac = 0;
	int decimals = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return PARSE_SYNTAX;
	for (; *p >= '0' && *p <= '9'; p++)
		if (whole <= TIMEOUT_MAX_S)
			whole = whole * 10 + (*p - '0');
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, decimals++)
			if (decimals < 3)
				frac = frac * 10 + (*p - '0');
		if (decimals == 0)
			return PARSE_SYNTAX;
	}
	if (*p != '\0')
		return PARSE_SYNTAX;
	if (decimals > 3)
		return PARSE_RANGE;
	for (int d = decimals; d < 3; d++)
		frac *= 10;
	long total = whole * 1000 + frac;
	if (total < 1 || total > (long)TIMEOUT_MAX_S * 1000)
		return PARSE_RANGE;
	*ms = (int)total;
	return PARSE_OK;
}

static int opt_delay(const char *arg, struct config *c)
{
	long v;
	switch (parse_uint(arg, SCIO_CONNECT_DELAY_MIN_MS,
			   SCIO_CONNECT_DELAY_MAX_MS, &v)) {
	case PARSE_OK:
		c->delay_ms = (int)v;
		return ST_CONTINUE;
	case PARSE_SYNTAX:
		return usage_error("-d %s: not a whole number of milliseconds", arg);
	default:
		return usage_error("-d %s: the connection attempt delay must be "
				   "%d to %d ms", arg, SCIO_CONNECT_DELAY_MIN_MS,
				   SCIO_CONNECT_DELAY_MAX_MS);
	}
}

static int opt_timeout(const char *arg, struct config *c)
{
	switch (parse_seconds(arg, &c->timeout_ms)) {
	case PARSE_OK:
		return ST_CONTINUE;
	case PARSE_SYNTAX:
		return usage_error("-t %s: not a positive number of seconds "
				   "(like 10 or 2.5)", arg);
	default:
		return usage_error("-t %s: the timeout must be 0.001 to %d seconds, "
				   "with at most 3 decimals", arg, TIMEOUT_MAX_S);
	}
}

/* What RFC 5321 allows in a domain or address literal, loosely: printable
 * ASCII without spaces. */
static bool valid_ehlo_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > EHLO_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p > '~')
			return false;
	return true;
}

static int opt_ehlo_name(const char *arg, struct config *c)
{
	if (!valid_ehlo_name(arg))
		return usage_error("-H '%s': the EHLO name must be 1 to %d "
				   "printable characters without spaces",
				   arg, EHLO_NAME_MAX);
	c->ehlo_name = arg;
	return ST_CONTINUE;
}

static int opt_family(int family, struct config *c)
{
	if (c->family != AF_UNSPEC && c->family != family)
		return usage_error("-4 and -6 exclude each other");
	c->family = family;
	return ST_CONTINUE;
}

/* PORT: 1..65535, or a TCP service name from the services database. */
static int check_port(const char *port)
{
	long v;
	enum parse_result r = parse_uint(port, 1, 65535, &v);

	if (r == PARSE_OK)
		return ST_CONTINUE;
	if (r == PARSE_RANGE)
		return usage_error("port %s: must be 1 to 65535", port);
	if (*port >= '0' && *port <= '9')
		return usage_error("port '%s': not a number", port);
	if (*port == '\0' || !getservbyname(port, "tcp"))
		return usage_error("port '%s': unknown TCP service", port);
	return ST_CONTINUE;
}

/* HOST, with the brackets of "[2001:db8::1]" removed. */
static int take_host(char *arg, struct config *c)
{
	size_t len = strlen(arg);

	if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
		arg[len - 1] = '\0';
		arg++;
	}
	if (*arg == '\0')
		return usage_error("empty HOST");
	c->host = arg;
	return ST_CONTINUE;
}

static int operands(int argc, char **argv, struct config *c)
{
	int left = argc - optind;

	if (left < 1)
		return usage_error("missing HOST; usage: " PROG
				   " [options] HOST [PORT]");
	if (left > 2)
		return usage_error("unexpected argument '%s' after HOST [PORT]",
				   argv[optind + 2]);
	int st = take_host(argv[optind], c);
	if (st != ST_CONTINUE)
		return st;
	c->port = left == 2 ? argv[optind + 1] : DEFAULT_PORT;
	return check_port(c->port);
}

enum { OPT_SERIAL = 256, OPT_VERSION };

static const struct option long_options[] = {
	{ "ipv4", no_argument, NULL, '4' },
	{ "ipv6", no_argument, NULL, '6' },
	{ "delay", required_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 't' },
	{ "ehlo-name", required_argument, NULL, 'H' },
	{ "serial", no_argument, NULL, OPT_SERIAL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char *long_name(int val)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

static int bad_option(char **argv, int opt)
{
	if (opt == ':')
		return usage_error("option -%c (--%s) needs an argument", optopt,
				   long_name(optopt));
	if (optopt)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown or ambiguous option '%s'", argv[optind - 1]);
}

/* One option; ST_CONTINUE, or the status to exit with. */
static int option(int opt, char **argv, struct config *c)
{
	switch (opt) {
	case '4': return opt_family(AF_INET, c);
	case '6': return opt_family(AF_INET6, c);
	case 'd': return opt_delay(optarg, c);
	case 't': return opt_timeout(optarg, c);
	case 'H': return opt_ehlo_name(optarg, c);
	case 'v': c->verbose = true; return ST_CONTINUE;
	case OPT_SERIAL: c->serial = true; return ST_CONTINUE;
	case 'h':
		usage(stdout);
		return ST_OK;
	case OPT_VERSION:
		printf(PROG " (scio) %s\n", SCIO_VERSION);
		return ST_OK;
	default:
		return bad_option(argv, opt);
	}
}

static int parse_args(int argc, char **argv, struct config *c)
{
	int opt;

	*c = (struct config){
		.family = AF_UNSPEC,
		.delay_ms = SCIO_CONNECT_DELAY_DEFAULT_MS,
		.timeout_ms = -1,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":46d:t:H:vh", long_options,
				  NULL)) != -1) {
		int st = option(opt, argv, c);
		if (st != ST_CONTINUE)
			return st;
	}
	return operands(argc, argv, c);
}

/* ------------------------------------------------------------- connect */

static void show_plan(const struct config *c)
{
	char secs[32], deadline[48] = "no deadline";
	const char *fam = c->family == AF_INET6 ? "IPv6 only"
			: c->family == AF_INET ? "IPv4 only" : "IPv6 and IPv4";

	if (c->timeout_ms >= 0)
		snprintf(deadline, sizeof(deadline), "deadline %s s",
			 seconds_str(c->timeout_ms, secs, sizeof(secs)));
	if (c->serial)
		verbose("%s port %s: %s, one address after the other, %s",
			c->host, c->port, fam, deadline);
	else
		verbose("%s port %s: racing %s, delay %d ms, %s", c->host,
			c->port, fam, c->delay_ms, deadline);
}

static void outcome_str(const struct scio_attempt *a, char *buf, size_t size)
{
	if (a->won)
		snprintf(buf, size, "won after %lld ms",
			 (long long)((a->end_us - a->start_us) / 1000));
	else if (a->end_us < 0 && a->error == ECANCELED)
		snprintf(buf, size, "cancelled");
	else if (a->end_us < 0)
		snprintf(buf, size, "still in flight at the deadline: %s",
			 err_name(a->error));
	else
		snprintf(buf, size, "failed after %lld ms: %s (%s)",
			 (long long)((a->end_us - a->start_us) / 1000),
			 err_name(a->error), strerror(a->error));
}

static void show_report(const struct scio_report *r)
{
	char addr[INET6_ADDRSTRLEN + 16], outcome[160];

	for (size_t i = 0; i < r->count; i++) {
		const struct scio_attempt *a = &r->attempt[i];
		scio_addr_str((const struct sockaddr *)&a->addr, addr, sizeof(addr));
		outcome_str(a, outcome, sizeof(outcome));
		verbose("attempt %zu: %s (%s) at +%lld ms: %s", i + 1, addr,
			family_name(a->addr.ss_family),
			(long long)(a->start_us / 1000), outcome);
	}
	if (r->count < r->candidates)
		verbose("%zu of %zu addresses tried", r->count, r->candidates);
	if (r->winner >= 0) {
		const struct scio_attempt *w = &r->attempt[r->winner];
		scio_addr_str((const struct sockaddr *)&w->addr, addr, sizeof(addr));
		verbose("connected to %s (%s) in %lld ms", addr,
			family_name(w->addr.ss_family),
			(long long)(r->elapsed_us / 1000));
	} else {
		verbose("no connection after %lld ms: %s",
			(long long)(r->elapsed_us / 1000), err_name(r->error));
	}
}

static int resolve_failed(const struct config *c, int gai, int err)
{
	const char *only = c->family == AF_INET6 ? " (IPv6 only)"
			 : c->family == AF_INET ? " (IPv4 only)" : "";

	if (gai == EAI_SYSTEM)
		err_msg("cannot resolve %s%s: %s: %s", c->host, only,
			gai_strerror(gai), strerror(err));
	else
		err_msg("cannot resolve %s%s: %s", c->host, only,
			gai_strerror(gai));
	return ST_RESOLVE;
}

static int connect_failed(const struct config *c, int err)
{
	char secs[32];

	if (err == ETIMEDOUT && c->timeout_ms >= 0) {
		err_msg("cannot connect to %s port %s: timed out after %s s",
			c->host, c->port,
			seconds_str(c->timeout_ms, secs, sizeof(secs)));
		return ST_TIMEOUT;
	}
	err_msg("cannot connect to %s port %s: %s", c->host, c->port,
		strerror(err));
	return err == ETIMEDOUT ? ST_TIMEOUT : ST_CONNECT;
}

/*
 * The library bounds the race from its start, and --serial each address
 * on its own; neither counts name resolution.  So that -t still bounds the
 * whole check, a timer ends the program CONNECT_GRACE_MS after the
 * deadline if connecting is still going on then.  Only write() and
 * _exit() in the handler; the message is made beforehand.
 */
static char backstop_msg[512];
static size_t backstop_len;

static void on_connect_backstop(int sig)
{
	ssize_t n = write(STDERR_FILENO, backstop_msg, backstop_len);

	(void)sig;
	(void)n;
	_exit(ST_TIMEOUT);
}

static int set_connect_backstop(int ms)
{
	struct itimerval it = {
		.it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 },
	};

	return setitimer(ITIMER_REAL, &it, NULL);
}

static int arm_connect_backstop(const struct config *c, int64_t deadline)
{
	int64_t left = deadline - now_ms();
	struct sigaction sa = { .sa_handler = on_connect_backstop };
	char secs[32];
	int n = snprintf(backstop_msg, sizeof(backstop_msg),
			 PROG ": cannot connect to %s port %s: timed out after "
			 "%s s\n", c->host, c->port,
			 seconds_str(c->timeout_ms, secs, sizeof(secs)));

	backstop_len = n < 0 ? 0 : (size_t)n < sizeof(backstop_msg)
			   ? (size_t)n : sizeof(backstop_msg) - 1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0 ||
	    set_connect_backstop((left > 0 ? (int)left : 0) + CONNECT_GRACE_MS) < 0) {
		err_msg("cannot set the connect deadline: %s", strerror(errno));
		return ST_LOCAL;
	}
	return ST_OK;
}

/* Connects as configured, by deadline (the -t one); ST_OK with *fd set,
 * or the failure's status. */
static int open_connection(const struct config *c, int64_t deadline, int *fd)
{
	struct scio_report report;
	struct scio_options o;

	scio_options_init(&o);
	o.family = c->family;
	o.connect_delay_ms = c->delay_ms;
	o.timeout_ms = c->timeout_ms;
	o.report = &report;
	if (c->verbose)
		show_plan(c);
	if (c->timeout_ms >= 0 && arm_connect_backstop(c, deadline) != ST_OK)
		return ST_LOCAL;
	*fd = c->serial ? scio_connect_serial(c->host, c->port, &o)
			: scio_connect(c->host, c->port, &o);
	int err = errno;
	if (c->timeout_ms >= 0)
		set_connect_backstop(0);
	int gai = scio_last_gai_error();
	if (gai != 0)
		return resolve_failed(c, gai, err);
	if (c->verbose)
		show_report(&report);
	return *fd < 0 ? connect_failed(c, err) : ST_OK;
}

/* ------------------------------------------------------------ dialogue */

/* Writes line[0..len) with control, non-ASCII and backslash bytes as
 * \xHH, so that a server cannot drive the terminal. */
static void put_escaped(const char *prefix, const char *line, size_t len)
{
	fputs(prefix, stdout);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < ' ' || ch > '~' || ch == '\\')
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	putchar('\n');
}

/* Like put_escaped into buf (truncated to fit), for messages. */
static void escape_into(char *buf, size_t size, const char *line, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < ' ' || ch > '~' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err_msg("cannot make the socket non-blocking: %s", strerror(errno));
		return ST_LOCAL;
	}
	return ST_OK;
}

/* When the step starting now must end. */
static int64_t step_deadline(const struct session *ss)
{
	if (ss->step_ms == INT_MAX)
		return ss->deadline;
	int64_t own = now_ms() + ss->step_ms;
	return own < ss->deadline ? own : ss->deadline;
}

/* The bound a step ending at deadline ran into, for messages. */
static int bound_ms(const struct session *ss, int64_t deadline)
{
	return deadline == ss->deadline ? ss->cfg->timeout_ms : ss->step_ms;
}

/* Waits until fd is ready for events (or has an error, which the next
 * read or write reports): 0, or -1 with errno, ETIMEDOUT at deadline. */
static int wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* scio_getline, waiting as long as deadline allows for the line. */
static ssize_t getline_until(struct session *ss, char *line, size_t size,
			     int64_t deadline)
{
	for (;;) {
		ssize_t n = scio_getline(ss->stream, line, size);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
		if (wait_ready(ss->fd, POLLIN, deadline) < 0)
			return -1;
	}
}

/* Status for a failed read (errno err) of `what` ("the greeting", "the
 * reply to EHLO") that had until deadline. */
static int read_failed(const struct session *ss, int err, const char *what,
		       int64_t deadline)
{
	char secs[32];

	switch (err) {
	case ETIMEDOUT:
		err_msg("timed out after %s s waiting for %s",
			seconds_str(bound_ms(ss, deadline), secs, sizeof(secs)),
			what);
		return ST_TIMEOUT;
	case EMSGSIZE:
		err_msg("line longer than %d characters in %s", REPLY_LINE_MAX,
			what);
		return ST_MALFORMED;
	case EPROTO:
		err_msg("connection closed by the server in the middle of a "
			"line of %s", what);
		return ST_CLOSED;
	case ECONNRESET:
	case ENOTCONN:
		err_msg("connection lost waiting for %s: %s", what, strerror(err));
		return ST_CLOSED;
	default:
		err_msg("cannot read %s: %s", what, strerror(err));
		return ST_LOCAL;
	}
}

/* Status for a failed send (errno err) of command verb that had until
 * deadline. */
static int send_failed(const struct session *ss, int err, const char *verb,
		       int64_t deadline)
{
	char secs[32];

	switch (err) {
	case ETIMEDOUT:
		err_msg("timed out after %s s sending %s",
			seconds_str(bound_ms(ss, deadline), secs, sizeof(secs)),
			verb);
		return ST_TIMEOUT;
	case EPIPE:
	case ECONNRESET:
	case ENOTCONN:
		err_msg("connection lost sending %s: %s", verb, strerror(err));
		return ST_CLOSED;
	default:
		err_msg("cannot send %s: %s", verb, strerror(err));
		return ST_LOCAL;
	}
}

/* 0 when line is "DDD", "DDD text" or "DDD-text" (first digit 1..5), with
 * the code and whether more lines follow; -1 when it is not a reply line. */
static int parse_reply_line(const char *line, size_t len, int *code, bool *more)
{
	if (len < 3 || line[0] < '1' || line[0] > '5')
		return -1;
	for (int i = 1; i < 3; i++)
		if (line[i] < '0' || line[i] > '9')
			return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*more = len > 3 && line[3] == '-';
	return 0;
}

/* Checks one line of `what` and records it in *r; ST_CONTINUE while more
 * lines follow, ST_OK at the last line, else the failure's status. */
static int take_reply_line(const char *line, size_t len, struct reply *r,
			   const char *what)
{
	char shown[128];
	int code;
	bool more;

	if (parse_reply_line(line, len, &code, &more) < 0) {
		escape_into(shown, sizeof(shown), line, len);
		err_msg("malformed line in %s: \"%s\"", what, shown);
		return ST_MALFORMED;
	}
	if (r->lines == 0) {
		r->code = code;
		escape_into(r->first, sizeof(r->first), line, len);
	} else if (code != r->code) {
		err_msg("reply code changed from %d to %d within %s", r->code,
			code, what);
		return ST_MALFORMED;
	}
	if (++r->lines >= REPLY_LINES_MAX && more) {
		err_msg("more than %d lines in %s", REPLY_LINES_MAX, what);
		return ST_MALFORMED;
	}
	return more ? ST_CONTINUE : ST_OK;
}

/* Reads one (multi-line) reply, printing it; ST_OK or the failure's status. */
static int read_reply(struct session *ss, struct reply *r, const char *what)
{
	char line[REPLY_LINE_MAX + 1];
	int st = ST_CONTINUE;
	int64_t deadline = step_deadline(ss);

	*r = (struct reply){ .code = 0 };
	while (st == ST_CONTINUE) {
		ssize_t n = getline_until(ss, line, sizeof(line), deadline);
		if (n < 0)
			return read_failed(ss, errno, what, deadline);
		if (n == 0 && scio_stream_eof(ss->stream)) {
			err_msg("connection closed by the server %s %s",
				r->lines ? "in the middle of" : "before", what);
			return ST_CLOSED;
		}
		put_escaped("S: ", line, (size_t)n);
		st = take_reply_line(line, (size_t)n, r, what);
	}
	return st;
}

/* Prints and sends cmd, whose first word is verb.  A command is a few
 * hundred bytes: once the socket is writable it goes out whole. */
static int send_command(struct session *ss, const char *cmd, const char *verb)
{
	int64_t deadline = step_deadline(ss);

	put_escaped("C: ", cmd, strlen(cmd));
	if (wait_ready(ss->fd, POLLOUT, deadline) == 0 &&
	    scio_putline(ss->stream, cmd) == 0)
		return ST_OK;
	return send_failed(ss, errno, verb, deadline);
}

/* After a refusal: QUIT, as RFC 5321 asks, briefly and without caring how
 * it goes.  The error has been reported already. */
static void courtesy_quit(struct session *ss)
{
	struct reply r;

	ss->step_ms = COURTESY_QUIT_TIMEOUT_MS; /* still within -t */
	if (send_command(ss, "QUIT", "QUIT") == ST_OK)
		read_reply(ss, &r, "the reply to QUIT");
}

/* Sends cmd and reads its reply, or with cmd NULL reads the greeting; a
 * code other than 2xx/3xx is ST_REPLY. */
static int exchange(struct session *ss, const char *cmd, const char *verb)
{
	char what[32];
	struct reply r;

	if (cmd) {
		int st = send_command(ss, cmd, verb);
		if (st != ST_OK)
			return st;
		snprintf(what, sizeof(what), "the reply to %s", verb);
	} else {
		snprintf(what, sizeof(what), "the greeting");
	}
	int st = read_reply(ss, &r, what);
	if (st != ST_OK)
		return st;
	if (r.code >= 200 && r.code < 400)
		return ST_OK;
	err_msg("unexpected reply code in %s: %s", what, r.first);
	if (strcmp(verb, "QUIT") != 0)
		courtesy_quit(ss);
	return ST_REPLY;
}

/* The client's own address as an RFC 5321 address literal. */
static void address_literal(int fd, char *buf, size_t size)
{
	struct sockaddr_storage local = { .ss_family = AF_UNSPEC };
	socklen_t len = sizeof(local);
	char host[INET6_ADDRSTRLEN] = "127.0.0.1";
	const void *in6 = &((struct sockaddr_in6 *)&local)->sin6_addr;
	const void *in4 = &((struct sockaddr_in *)&local)->sin_addr;

	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		local.ss_family = AF_UNSPEC;
	if (local.ss_family == AF_INET6)
		inet_ntop(AF_INET6, in6, host, sizeof(host));
	else if (local.ss_family == AF_INET)
		inet_ntop(AF_INET, in4, host, sizeof(host));
	snprintf(buf, size, "[%s%s]",
		 local.ss_family == AF_INET6 ? "IPv6:" : "", host);
}

/* -H NAME, else this host's name, else the address literal. */
static void ehlo_name(const struct session *ss, char *buf, size_t size)
{
	if (ss->cfg->ehlo_name) {
		snprintf(buf, size, "%s", ss->cfg->ehlo_name);
		return;
	}
	if (gethostname(buf, size) == 0 && memchr(buf, '\0', size) &&
	    valid_ehlo_name(buf) && strcmp(buf, "(none)") != 0)
		return;
	address_literal(ss->fd, buf, size);
}

static int converse(struct session *ss)
{
	char name[EHLO_NAME_MAX + 1], cmd[EHLO_NAME_MAX + 8];

	int st = exchange(ss, NULL, "");
	if (st != ST_OK)
		return st;
	ehlo_name(ss, name, sizeof(name));
	snprintf(cmd, sizeof(cmd), "EHLO %s", name);
	st = exchange(ss, cmd, "EHLO");
	if (st != ST_OK)
		return st;
	return exchange(ss, "QUIT", "QUIT");
}

/* Runs the dialogue on fd, which it closes; deadline is the -t one. */
static int run_session(const struct config *c, int fd, int64_t deadline)
{
	struct session ss = {
		.cfg = c, .fd = fd, .deadline = deadline,
		.step_ms = c->timeout_ms < 0 ? STEP_TIMEOUT_DEFAULT_MS : INT_MAX,
	};
	int st = set_nonblocking(fd);

	if (st == ST_OK) {
		ss.stream = scio_stream_open(fd);
		if (!ss.stream) {
			err_msg("cannot set up the connection: %s", strerror(errno));
			st = ST_LOCAL;
		}
	}
	if (!ss.stream) {
		close(fd);
		return st;
	}
	st = converse(&ss);
	scio_stream_close(ss.stream);
	return st;
}

/* The status to exit with, once stdout is known to be written. */
static int finish_output(int st)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return st;
	err_msg("cannot write the output: %s", strerror(errno));
	return st == ST_OK ? ST_LOCAL : st;
}

int main(int argc, char **argv)
{
	struct config cfg;
	int fd;

	int st = parse_args(argc, argv, &cfg);
	if (st != ST_CONTINUE)
		return finish_output(st);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int64_t deadline = cfg.timeout_ms < 0 ? NO_DEADLINE
			 : now_ms() + cfg.timeout_ms;
	st = open_connection(&cfg, deadline, &fd);
	if (st == ST_OK)
		st = run_session(&cfg, fd, deadline);
	return finish_output(st);
}
