/*
 * telar.h - what the parts of telar share.
 *
 * telar is a dual-stack telnet autoresponder: it tells each client the
 * address it came from ("You connected from 2001:db8::2 port 51234 over
 * IPv6") and closes the connection.
 *
 *   telar.c         command line, start-up, the main flow
 *   telar-priv.c    the user telar serves as, and dropping privileges
 *   telar-log.c     messages to stderr or syslog
 *   telar-sys.c     signals, clock, descriptor limit
 *   telar-net.c     listening sockets, socket activation, accept, the line
 *   telar-serve.c   one client with blocking waits (--fork child, -i)
 *                   and the --fork accept loop
 *   telar-loop.c    the event loop (epoll) one worker runs
 *   telar-workers.c -j: the worker processes and the parent that keeps
 *                   them running
 */
#ifndef TELAR_H
#define TELAR_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define TELAR_PROGNAME "telar"

#define TELAR_EXIT_OK 0
#define TELAR_EXIT_FAILURE 1
#define TELAR_EXIT_USAGE 2

#define TELAR_DEFAULT_PORT 23
#define TELAR_DEFAULT_MAX_CLIENTS 1024
#define TELAR_MAX_CLIENTS_LIMIT 1000000
#define TELAR_DEFAULT_TIMEOUT_S 5
#define TELAR_MAX_TIMEOUT_S 3600
#define TELAR_MAX_LISTENERS 16
#define TELAR_MAX_WORKERS 256

/* Who telar serves as when root starts it without -u. */
#define TELAR_DEFAULT_USER "nobody"

/* How long accepting pauses after running out of memory or descriptors. */
#define TELAR_BACKOFF_MS 100

/* What a client that finds telar full is told before it is closed. */
#define TELAR_BUSY_LINE "Too many connections, please try again later\r\n"

#if defined(__GNUC__)
#define TELAR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TELAR_NORETURN __attribute__((noreturn))
#else
#define TELAR_PRINTF(f, a)
#define TELAR_NORETURN
#endif

/* An address given with -l, with the port filled in. */
struct telar_bind_addr {
	struct sockaddr_storage addr;
	socklen_t len;
};

struct telar_config {
	uint16_t port;                 /* -p */
	struct telar_bind_addr binds[TELAR_MAX_LISTENERS]; /* -l */
	size_t nbinds;
	int fork_model;                /* --fork */
	unsigned workers;              /* -j: event-loop processes */
	int shared_listeners;          /* --shared-listeners */
	int inetd;                     /* -i */
	unsigned max_clients;          /* -c */
	unsigned timeout_s;            /* -w */
	const char *user;              /* -u, or NULL */
	int use_syslog;                /* -s */
	int verbose;                   /* -v */
};

struct telar_listener {
	int fd;
	char name[INET6_ADDRSTRLEN + 16]; /* "[::]:23", for messages */
};

struct telar_listeners {
	struct telar_listener l[TELAR_MAX_LISTENERS];
	size_t n;
	int cpu;        /* the CPU they take connections of; -1: any */
};

/* How a listening socket shares its address (SO_REUSEPORT) with the
 * listeners of the other workers. */
enum listen_share {
	LISTEN_ALONE,   /* not at all: the one listener of its address */
	LISTEN_FIRST,   /* binds alone, then lets the others join */
	LISTEN_JOIN,    /* joins the first */
};

/* A client's address as telar reports it: IPv4-mapped IPv6 addresses are
 * reported as the IPv4 addresses they are. */
struct telar_peer {
	char text[INET6_ADDRSTRLEN + sizeof(" port 65535")]; /* "192.0.2.2 port 4711" */
	char family_digit;                                   /* '4' or '6' */
};

/* "You connected from " + peer text + " over IPv6\r\n" fits with room. */
#define TELAR_LINE_MAX 128

/* ---- telar-log.c ---- */
void log_open(int use_syslog, int verbose);
int log_is_verbose(void);
void log_error(const char *fmt, ...) TELAR_PRINTF(1, 2);
void log_warning(const char *fmt, ...) TELAR_PRINTF(1, 2);
void log_notice(const char *fmt, ...) TELAR_PRINTF(1, 2); /* always */
void log_info(const char *fmt, ...) TELAR_PRINTF(1, 2); /* only with -v */

/* ---- telar-priv.c ---- */
/* The user to serve as: named by -u, or nobody when root gave no -u. */
struct telar_identity {
	const char *name;   /* NULL: stay who telar was started as */
	uid_t uid;
	gid_t gid;
	int implicit;       /* root gave no -u */
};
/* Fills in name's uid and gid; -1 with errno (ENOENT: no such user). */
int identity_lookup(const char *name, struct telar_identity *id);
/* Becomes id for good (no supplementary groups), then drops every
 * capability unless the result is root.  0, or -1 after logging: telar
 * must not serve then. */
int identity_assume(const struct telar_identity *id);
/* Logs the user telar now runs as: at notice level when always, else
 * only with -v. */
void identity_log(const struct telar_identity *id, int always);

/* ---- telar-sys.c ---- */
extern volatile sig_atomic_t telar_stop_requested;  /* SIGTERM, SIGINT */
extern volatile sig_atomic_t telar_child_exited;    /* SIGCHLD */
/* Ignores SIGPIPE, installs the handlers and blocks SIGTERM, SIGINT and
 * SIGCHLD; *wait_mask is the mask to wait with (ppoll, epoll_pwait), so
 * the signals only arrive while telar waits. */
int signals_setup(sigset_t *wait_mask);
/* In a child process: default dispositions, nothing blocked. */
void signals_reset_in_child(void);
int64_t now_ms(void);
/* Raises the soft RLIMIT_NOFILE towards want (at most the hard limit);
 * returns the soft limit in force afterwards. */
unsigned long raise_fd_limit(unsigned long want);

/* ---- telar-net.c ---- */
/* Takes the listening sockets systemd passed (LISTEN_PID/LISTEN_FDS) and
 * unsets those variables.  Returns the number taken (0: not activated),
 * or -1 after logging why they are unusable. */
int listeners_from_activation(struct telar_listeners *ls);
/* Binds the -l addresses, or the IPv4 and IPv6 (IPV6_V6ONLY) wildcards,
 * shared as share says; with a cpu (not -1) they take the connections
 * whose packets that CPU handles (SO_INCOMING_CPU).  0, or -1 after
 * logging. */
int listeners_open(struct telar_listeners *ls, const struct telar_config *cfg,
		   enum listen_share share, int cpu);
void listeners_close(struct telar_listeners *ls);

/* The descriptor kept in reserve for shedding connections at EMFILE. */
void reserve_fd_open(void);
void reserve_fd_close(void);

#define TELAR_ACCEPT_EMPTY (-1) /* nothing (more) to accept right now */
#define TELAR_ACCEPT_PAUSE (-2) /* out of resources: stop accepting a while */
/* Accepts one connection (non-blocking, close-on-exec) and describes its
 * peer.  Returns the descriptor or one of the codes above. */
int accept_client(const struct telar_listener *l, struct telar_peer *peer);

int peer_from_sockaddr(struct telar_peer *peer, const struct sockaddr *sa,
		       socklen_t len);
/* Writes the answer for peer into line; returns its length. */
size_t format_line(const struct telar_peer *peer, char *line, size_t size);
/* Tells fd that telar is full and closes it. */
void refuse_client(int fd, const struct telar_peer *peer);

/* The -c cap on clients being served at once.  With workers (-j) the
 * count lives in memory every worker shares (shared_active), and each
 * worker also keeps its own share (mine) there, which the parent takes
 * back off the total when a worker dies. */
struct client_cap {
	unsigned max;
	unsigned active;
	unsigned *shared_active;   /* NULL: one process, active counts */
	unsigned *mine;
	int warned;            /* "full" has been logged ... */
	int64_t last_warning;  /* ... at this now_ms(); again a minute later */
};
/* 1 and counts the client in, or 0 when full (logged, at most once a
 * minute). */
int cap_admit(struct client_cap *cap);
void cap_release(struct client_cap *cap);

/* ---- telar-serve.c ---- */
/* Answers the client with blocking waits bounded by timeout_s: writes the
 * line to out_fd, ends the output and discards input on in_fd until the
 * client closes.  0, or -1 when the line could not be delivered. */
int serve_blocking(int in_fd, int out_fd, const struct telar_peer *peer,
		   unsigned timeout_s);
/* -i: answers the client on standard input and output. */
int run_inetd(const struct telar_config *cfg);
/* --fork: one child process per connection until SIGTERM/SIGINT. */
int run_fork(struct telar_listeners *ls, const struct telar_config *cfg,
	     const sigset_t *wait_mask);

/* ---- telar-loop.c ---- */
/* One process, non-blocking sockets, epoll: all of -j 1, and each worker
 * of -j N (then cap is the shared one; NULL: its own). */
int run_event_loop(struct telar_listeners *ls, const struct telar_config *cfg,
		   const sigset_t *wait_mask, const struct client_cap *cap);

/* ---- telar-workers.c ---- */
/* The number of CPUs telar may run on: the default for -j. */
unsigned cpu_count(void);
/* The CPU worker i runs on with listeners of its own: the i-th (modulo
 * their number) of those telar may run on; -1 when unknown. */
int worker_cpu(unsigned i);
/* -j N, N > 1: N worker processes, kept running until SIGTERM/SIGINT.
 * With one set of listeners (nsets 1) they all share it; else worker i
 * serves sets[i] alone, on the CPU sets[i].cpu. */
int run_workers(struct telar_listeners *sets, unsigned nsets,
		const struct telar_config *cfg, const sigset_t *wait_mask);

#endif
