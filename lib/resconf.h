/*
 * resconf.h - may scio's DNS stub stand in for glibc's lookup of host
 * names, and with which servers and settings?  Only for the plain case:
 * nsswitch.conf's "hosts: files dns", a resolv.conf that glibc 2.36
 * would read to nothing beyond servers, search list, ndots, timeout,
 * attempts, trust-ad and edns0, no resolver environment variable, no nscd, and
 * the thread's _res as glibc's res_init would set it from the file.
 * Anything else: 0, and glibc decides everything.
 */
#ifndef SCIO_RESCONF_H
#define SCIO_RESCONF_H

#include <sys/socket.h>

#define SCIO_RESCONF_MAXNS 3       /* glibc's MAXNS */
#define SCIO_RESCONF_MAXSEARCH 6   /* glibc's MAXDNSRCH */
#define SCIO_RESCONF_SEARCHLEN 256 /* sizeof(_res.defdname) */
#define SCIO_RESCONF_FILE_MAX (64 * 1024)

struct scio_resconf {
	int nservers;                                      /* 1..3 */
	struct sockaddr_storage server[SCIO_RESCONF_MAXNS]; /* port 53, sockaddr_in or sockaddr_in6 */
	int ndots;       /* 0..15, default 1 */
	int timeout_s;   /* 1..30, default 5 (RES_TIMEOUT) */
	int attempts;    /* 1..5, default 2 (RES_DFLRETRY) */
	int trust_ad;    /* options trust-ad: glibc sets AD in its queries */
	int edns0;       /* options edns0: glibc adds an OPT record to them */
	/* The search list glibc walks (search, domain, or the domain of the
	 * host name when neither is given): nsearch names, each ending in a
	 * NUL, one after the other.  Longer lists than _res holds give 0. */
	int nsearch;                        /* 0..SCIO_RESCONF_MAXSEARCH */
	char search[SCIO_RESCONF_SEARCHLEN];
};

/* 1 with *c filled when the stub may stand in for glibc's lookup of host
 * names right now; 0 when not.  Thread-safe and fork-safe; two stat()s
 * and a few compares when the files did not change (then no
 * allocation); a changed file is read and parsed again. */
int scio_resconf_get(struct scio_resconf *c);

/* The same over other files, with no cache (for tests and fuzzing). */
int scio_resconf_read(const char *nsswitch, const char *resolv, struct scio_resconf *c);

/* scio_resconf_get over other files, through the cache (which then
 * follows them), and the count of file reads the cache made: for tests.
 * The nscd and glibc version checks are scio_resconf_get's alone. */
int scio_resconf_get_at(const char *nsswitch, const char *resolv, struct scio_resconf *c);
unsigned long scio_resconf_reads(void);

/* The parsers alone, on a file's contents (len bytes, any bytes): 1 when
 * glibc 2.36 would take "hosts: files dns" from this nsswitch.conf; and
 * 1 with *c filled when this resolv.conf is plain enough for the stub
 * (text == NULL: the file is missing).  Neither looks at the
 * environment or at _res. */
int scio_resconf_parse_nsswitch(const char *text, size_t len);
int scio_resconf_parse_resolv(const char *text, size_t len, struct scio_resconf *c);

/* Does glibc ask the hosts file first for host names, by the hosts line
 * it acts on (the last one)?  1 also without such a line (glibc's
 * default is "files dns") and when not known (a file glibc rejects, or
 * one that cannot be read): 1 keeps the hosts file's names glibc's.
 * The _at form reads the file at path. */
int scio_resconf_nsswitch_files_first(const char *text, size_t len);
int scio_resconf_files_first_at(const char *path);

/* 1 when the calling thread's _res is not what res_init makes of the
 * files now: a program set it up itself (its servers, its options), and
 * glibc's lookups in this thread follow it, where another thread's do
 * not; 1 too when that cannot be told (no memory).  Also 1, once, for a
 * thread whose _res dates from a resolv.conf changed since (glibc's next
 * lookup in it reads the file again).  glibc only; 0 elsewhere. */
int scio_resconf_thread_res_changed(void);

/* Where `name` stands among the names glibc's res_search asks for `node`,
 * by res_init's state of the files now (ndots, search list):
 * SCIO_SEARCH_ONE when it asks one name only (an absolute node, no search
 * list; or not known: musl), else SCIO_SEARCH_FIRST (asked first),
 * SCIO_SEARCH_LATER, or SCIO_SEARCH_NOT_ASKED (a CNAME's target, say).
 * Case and one trailing dot aside.  glibc's search stops at the first
 * name with an answer of either type. */
enum { SCIO_SEARCH_ONE, SCIO_SEARCH_NOT_ASKED, SCIO_SEARCH_FIRST, SCIO_SEARCH_LATER };
int scio_resconf_search_place(const char *node, const char *name);

/* Two answers of one lookup of node, named a and b (their canonical
 * names, either NULL: not known), are two hosts: the names differ and
 * one of them is a name node's search asks (SCIO_SEARCH_FIRST or
 * LATER).  Names the search never asks (CNAME targets, which a load
 * balancer may give per query type) tell nothing. */
int scio_resconf_two_hosts(const char *node, const char *a, const char *b);

#endif
