/*
 * telar - a dual-stack telnet autoresponder.
 *
 * Tells each client the address it came from, e.g.
 *
 *     You connected from 2001:db8::2 port 51234 over IPv6
 *
 * and closes the connection.  IPv4 and IPv6 are served by separate
 * sockets (the IPv6 one with IPV6_V6ONLY), so an IPv4 client is always
 * reported as the IPv4 client it is.  See telar(8) and telar.h.
 *
 * This file: the command line and the start-up sequence (listen, drop
 * privileges, run one of the connection models).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scio.h"
#include "telar.h"

/* Descriptors the event loop needs besides one per client. */
#define FD_OVERHEAD (TELAR_MAX_LISTENERS + 16)

static const char usage_text[] =
	"Usage: telar [-fsv] [-c MAX] [-j WORKERS] [-l ADDRESS]... [-p PORT] [-u USER]\n"
	"             [-w SECONDS]\n"
	"       telar -i [-sv] [-u USER] [-w SECONDS]\n"
	"Tell each TCP client (IPv4 or IPv6) the address it connected from.\n"
	"\n"
	"  -p, --port PORT          port number or service name (default 23)\n"
	"  -l, --listen ADDRESS     listen on this address only (repeatable;\n"
	"                           default: 0.0.0.0 and :: on separate sockets)\n"
	"  -j, --workers WORKERS    event-loop processes sharing the listeners\n"
	"                           (default: one per CPU; -j 1: a single process)\n"
	"  -f, --fork               one process per connection (default: event\n"
	"                           loops, see -j)\n"
	"      --shared-listeners   workers share one listener per address\n"
	"                           (default: one per worker, on its CPU)\n"
	"  -c, --max-clients MAX    clients served at once (default 1024)\n"
	"  -w, --timeout SECONDS    time a client has to take its line and\n"
	"                           close (default 5)\n"
	"  -u, --user USER          run as USER after binding (root without -u:\n"
	"                           nobody; -u root stays root)\n"
	"  -i, --inetd              answer the one client on stdin/stdout\n"
	"  -s, --syslog             log to syslog instead of stderr\n"
	"  -v, --verbose            log every connection\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

TELAR_NORETURN TELAR_PRINTF(1, 2)
static void usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (try '%s -h')\n", TELAR_PROGNAME, msg,
		TELAR_PROGNAME);
	exit(TELAR_EXIT_USAGE);
}

/* --------------------------------------------------------- arguments */

/* A plain decimal number in [min, max]: no sign, no spaces, no suffix. */
static int parse_number(const char *text, unsigned long min, unsigned long max,
			unsigned long *value)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*value = v;
	return 0;
}

static uint16_t parse_port(const char *text)
{
	unsigned long v;
	struct servent *se;

	if (isdigit((unsigned char)text[0])) {
		if (parse_number(text, 1, 65535, &v) == -1)
			usage_error("-p: '%s' is not a port number from 1 to 65535",
				    text);
		return (uint16_t)v;
	}
	se = getservbyname(text, "tcp");
	if (!se)
		usage_error("-p: unknown TCP service '%s'", text);
	return ntohs((uint16_t)se->s_port);
}

static unsigned parse_bounded(const char *opt, const char *text,
			      unsigned long min, unsigned long max)
{
	unsigned long v;

	if (parse_number(text, min, max, &v) == -1)
		usage_error("%s: '%s' is not a number from %lu to %lu", opt, text,
			    min, max);
	return (unsigned)v;
}

/* A numeric IPv4 or IPv6 address, optionally in brackets, with an
 * optional %scope for link-local IPv6. */
static void parse_listen_address(struct telar_config *cfg, const char *text)
{
	struct addrinfo hints, *ai;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
	size_t len = strlen(text);
	int err;

	if (cfg->nbinds >= TELAR_MAX_LISTENERS)
		usage_error("-l: at most %d addresses", TELAR_MAX_LISTENERS);
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(host))
		usage_error("-l: '%s' is not an IPv4 or IPv6 address", text);
	memcpy(host, text, len);
	host[len] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	err = getaddrinfo(host, NULL, &hints, &ai);
	if (err != 0)
		usage_error("-l: '%s' is not an IPv4 or IPv6 address", host);
	memcpy(&cfg->binds[cfg->nbinds].addr, ai->ai_addr, ai->ai_addrlen);
	cfg->binds[cfg->nbinds].len = ai->ai_addrlen;
	cfg->nbinds++;
	freeaddrinfo(ai);
}

/* The port is known only after every option was read. */
static void apply_port(struct telar_config *cfg)
{
	for (size_t i = 0; i < cfg->nbinds; i++) {
		struct sockaddr_storage *ss = &cfg->binds[i].addr;

		if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port = htons(cfg->port);
		else
			((struct sockaddr_in *)ss)->sin_port = htons(cfg->port);
	}
}

static void config_defaults(struct telar_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = TELAR_DEFAULT_PORT;
	cfg->max_clients = TELAR_DEFAULT_MAX_CLIENTS;
	cfg->timeout_s = TELAR_DEFAULT_TIMEOUT_S;
}

static void parse_args(struct telar_config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-clients", required_argument, NULL, 'c' },
		{ "fork", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "inetd", no_argument, NULL, 'i' },
		{ "workers", required_argument, NULL, 'j' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "shared-listeners", no_argument, NULL, 'S' },
		{ "syslog", no_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, port_given = 0, max_given = 0, workers_given = 0;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":c:fhij:l:p:su:vVw:", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			cfg->max_clients = parse_bounded("-c", optarg, 1,
							 TELAR_MAX_CLIENTS_LIMIT);
			max_given = 1;
			break;
		case 'f': cfg->fork_model = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			exit(TELAR_EXIT_OK);
		case 'i': cfg->inetd = 1; break;
		case 'j':
			cfg->workers = parse_bounded("-j", optarg, 1,
						     TELAR_MAX_WORKERS);
			workers_given = 1;
			break;
		case 'l': parse_listen_address(cfg, optarg); break;
		case 'p':
			cfg->port = parse_port(optarg);
			port_given = 1;
			break;
		case 's': cfg->use_syslog = 1; break;
		case 'S': cfg->shared_listeners = 1; break;
		case 'u':
			if (optarg[0] == '\0')
				usage_error("-u: empty user name");
			cfg->user = optarg;
			break;
		case 'v': cfg->verbose = 1; break;
		case 'V':
			printf("telar (scio) %s\n", SCIO_VERSION);
			exit(TELAR_EXIT_OK);
		case 'w':
			cfg->timeout_s = parse_bounded("-w", optarg, 1,
						       TELAR_MAX_TIMEOUT_S);
			break;
		case ':':
			usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg->inetd && (cfg->fork_model || cfg->nbinds || port_given ||
			   max_given || workers_given))
		usage_error("-i answers one client on stdin; -f, -j, -l, -p and -c "
			    "do not apply");
	if (cfg->fork_model && workers_given)
		usage_error("-f forks a process per connection; -j does not apply");
	if (!workers_given)
		cfg->workers = cfg->fork_model ? 1 : cpu_count();
	apply_port(cfg);
}

/* ------------------------------------------------------- privileges */

/* -u USER; else nobody when root started telar; else no switch at all. */
static void choose_identity(const struct telar_config *cfg,
			    struct telar_identity *id)
{
	const char *name = cfg->user;

	memset(id, 0, sizeof(*id));
	if (!name && geteuid() != 0)
		return;
	if (!name) {
		name = TELAR_DEFAULT_USER;
		id->implicit = 1;
	}
	if (identity_lookup(name, id) == 0)
		return;
	if (id->implicit)
		usage_error("started as root without -u, and user '%s' cannot be "
			    "looked up (%s): give -u USER, or -u root to stay "
			    "root", name, errno == ENOENT ? "no such user"
							 : strerror(errno));
	if (errno != ENOENT)
		usage_error("-u: cannot look up user '%s': %s", name,
			    strerror(errno));
	usage_error("-u: unknown user '%s'", name);
}

/* ----------------------------------------------------------- start-up */

/* Under inetd, stderr is the client's socket: log to syslog instead. */
static int stderr_is_socket(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Workers with listeners of their own, each on its CPU (telar-workers.c
 * says why), unless told to share or handed sockets by systemd. */
static int per_cpu_listeners(const struct telar_config *cfg)
{
	return !cfg->fork_model && cfg->workers > 1 && !cfg->shared_listeners;
}

/* Fills sets[0] (shared by every worker), or one set per worker. */
static int setup_listeners(struct telar_listeners *sets, unsigned *nsets,
			   const struct telar_config *cfg)
{
	int activated = listeners_from_activation(&sets[0]);

	*nsets = 1;
	if (activated < 0)
		return -1;
	if (activated > 0) {
		if (cfg->nbinds)
			log_warning("socket activation: ignoring -l");
		return 0;
	}
	if (!per_cpu_listeners(cfg))
		return listeners_open(&sets[0], cfg, LISTEN_ALONE, -1);
	for (unsigned i = 0; i < cfg->workers; i++) {
		*nsets = i + 1;
		if (listeners_open(&sets[i], cfg, i == 0 ? LISTEN_FIRST : LISTEN_JOIN,
				   worker_cpu(i)) == -1)
			return -1;
	}
	return 0;
}

static void close_listeners(struct telar_listeners *sets, unsigned nsets)
{
	for (unsigned i = 0; i < nsets; i++)
		listeners_close(&sets[i]);
}

/* The event loop holds one descriptor per client; the first process
 * holds every worker's listeners.  When a limit it cannot raise leaves no
 * room for a set per worker, the workers share one set rather than telar
 * not starting. */
static void check_fd_limit(struct telar_config *cfg)
{
	unsigned long per_set = cfg->nbinds ? cfg->nbinds : 2;
	unsigned long clients = (unsigned long)cfg->max_clients + FD_OVERHEAD;
	unsigned long sets = per_cpu_listeners(cfg) ? cfg->workers : 1;
	unsigned long have = raise_fd_limit(clients + sets * per_set);

	if (sets > 1 && have < clients + sets * per_set) {
		log_warning("file descriptor limit %lu leaves no room for %lu "
			    "listeners of each worker's own; the workers share "
			    "one listener per address", have, per_set);
		cfg->shared_listeners = 1;
		sets = 1;
	}
	if (have < clients + sets * per_set)
		log_warning("file descriptor limit %lu is too low for %u clients; "
			    "connections beyond it are closed at once", have,
			    cfg->max_clients);
}

static void log_start(const struct telar_listeners *ls, unsigned nsets,
		      const struct telar_config *cfg)
{
	char names[TELAR_MAX_LISTENERS * (INET6_ADDRSTRLEN + 20)] = "";
	size_t used = 0;

	for (size_t i = 0; i < ls->n && used < sizeof(names); i++) {
		int n = snprintf(names + used, sizeof(names) - used, "%s%s",
				 i ? ", " : "", ls->l[i].name);
		if (n > 0)
			used += (size_t)n;
	}
	log_info("listening on %s (%s, %u worker%s%s, up to %u clients, "
		 "timeout %u s)", names,
		 cfg->fork_model ? "one process per connection" : "event loop",
		 cfg->workers, cfg->workers == 1 ? "" : "s",
		 nsets > 1 ? " with listeners of their own, each on its CPU" : "",
		 cfg->max_clients, cfg->timeout_s);
}

int main(int argc, char **argv)
{
	struct telar_config cfg;
	struct telar_listeners *sets;
	unsigned nsets = 0;
	struct telar_identity who;
	sigset_t wait_mask;
	int rc;

	config_defaults(&cfg);
	parse_args(&cfg, argc, argv);
	choose_identity(&cfg, &who);
	log_open(cfg.use_syslog || (cfg.inetd && stderr_is_socket()), cfg.verbose);

	if (cfg.inetd) {
		/* One client, no waiting for signals: default dispositions,
		 * except that a vanished client is an EPIPE. */
		if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
		    identity_assume(&who) == -1)
			return TELAR_EXIT_FAILURE;
		identity_log(&who, 0); /* once per connection: only with -v */
		return run_inetd(&cfg);
	}
	if (signals_setup(&wait_mask) == -1) {
		log_error("signals: %s", strerror(errno));
		return TELAR_EXIT_FAILURE;
	}
	sets = calloc(cfg.workers, sizeof(*sets));
	if (!sets) {
		log_error("out of memory");
		return TELAR_EXIT_FAILURE;
	}
	if (!cfg.fork_model)
		check_fd_limit(&cfg);
	rc = TELAR_EXIT_FAILURE;
	if (setup_listeners(sets, &nsets, &cfg) == -1)
		goto out;
	reserve_fd_open();
	if (identity_assume(&who) == -1)
		goto out;
	identity_log(&who, 1);
	log_start(&sets[0], nsets, &cfg);
	if (cfg.fork_model)
		rc = run_fork(&sets[0], &cfg, &wait_mask);
	else if (cfg.workers > 1)
		rc = run_workers(sets, nsets, &cfg, &wait_mask);
	else
		rc = run_event_loop(&sets[0], &cfg, &wait_mask, NULL);
	log_info("stopped");
out:
	close_listeners(sets, nsets);
	free(sets);
	reserve_fd_close();
	return rc;
}
