/*
 * resconf.c - is the system's resolver setup one that scio's DNS stub may
 * stand in for (see resconf.h)?
 *
 * The parsers follow glibc 2.36 rule for rule (nss/nss_database.c,
 * nss/nss_action_parse.c, resolv/res_init.c), quirks included, because
 * the stub must send exactly what glibc would: a line glibc skips is
 * skipped here, a value glibc clamps is clamped here.  Where glibc would
 * do something the stub does not (another service, sortlist, rotate,
 * use-vc, single-request, ...), or something odd (attempts:0, a scope
 * id), the answer is 0 and glibc does the lookup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#include <resolv.h>
#endif

#include "internal.h"
#include "resconf.h"

#define NSSWITCH_PATH "/etc/nsswitch.conf"
#define RESOLV_PATH "/etc/resolv.conf"
#define NSCD_SOCKET "/var/run/nscd/socket"  /* glibc's _PATH_NSCDSOCKET */
#define NSCD_RECHECK 100

/* glibc's resolv.h values, also where resolv.h is not glibc's */
#define GLIBC_RES_TIMEOUT 5
#define GLIBC_RES_MAXRETRANS 30
#define GLIBC_RES_DFLRETRY 2
#define GLIBC_RES_MAXRETRY 5
#define GLIBC_RES_MAXNDOTS 15
#define GLIBC_RES_TRUSTAD 0x04000000UL
#define GLIBC_RES_USE_EDNS0 0x00100000UL
#define STUB_OPTIONS (GLIBC_RES_TRUSTAD | GLIBC_RES_USE_EDNS0)  /* the stub does these */
#define GLIBC_RES_INIT_DEFAULT (0x00000001UL | 0x00000040UL | 0x00000080UL | 0x00000200UL)

static int is_space(char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');  /* isspace in the C locale */
}

static const char *skip_space(const char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

static const char *skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * Each line of text as a C string (ending at its first NUL, '\n' kept),
 * the way glibc's getline loops see them.  with_last: whether a last
 * line with no '\n' is seen (nss_database.c drops it).
 */
static int for_each_line(const char *text, size_t len, int with_last,
			 int (*fn)(char *line, void *arg), void *arg)
{
	char *line = malloc(len + 1);
	if (!line)
		return -1;
	int rc = 0;
	for (size_t at = 0; at < len && rc == 0;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
		if (!nl && !with_last)
			break;
		memcpy(line, text + at, n);
		line[n] = '\0';
		rc = fn(line, arg);
		at += n;
	}
	free(line);
	return rc;
}

/* ---- nsswitch.conf ---- */

static int is_nss_database(const char *name)
{
	static const char *const names[] = {
		"aliases", "ethers", "group", "group_compat", "gshadow", "hosts",
		"initgroups", "netgroup", "networks", "passwd", "passwd_compat",
		"protocols", "publickey", "rpc", "services", "shadow", "shadow_compat",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int word_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

static const char *nss_word_end(const char *s)
{
	while (*s && !is_space(*s) && *s != '=' && *s != ']')
		s++;
	return s;
}

/* After a service's '[': its STATUS=ACTION items and the ']'; NULL on a
 * syntax error, which makes glibc reject the whole file. */
static const char *nss_criteria(const char *s)
{
	s = skip_space(s);
	do {
		if (*s == '!')
			s++;
		const char *w = s;
		s = nss_word_end(s);
		size_t n = (size_t)(s - w);
		if (!word_is(w, n, "SUCCESS") && !word_is(w, n, "UNAVAIL") &&
		    !word_is(w, n, "NOTFOUND") && !word_is(w, n, "TRYAGAIN"))
			return NULL;
		s = skip_space(s);
		if (*s != '=')
			return NULL;
		w = s = skip_space(s + 1);
		s = nss_word_end(s);
		n = (size_t)(s - w);
		if (!word_is(w, n, "RETURN") && !word_is(w, n, "CONTINUE") &&
		    !word_is(w, n, "MERGE"))
			return NULL;
		s = skip_space(s);
	} while (*s != ']');
	return s + 1;
}

/* A database's service list: -1 when glibc finds it malformed; else 0,
 * with *files_dns 1 when it is exactly "files dns" and nothing more, and
 * *files_first 1 when "files" is the service asked first. */
static int nss_services(const char *s, int *files_dns, int *files_first)
{
	int n = 0, plain = 1;
	*files_first = 0;
	for (;;) {
		s = skip_space(s);
		const char *name = s;
		while (*s && !is_space(*s) && *s != '[')
			s++;
		if (name == s)
			break;  /* the end, or a '[' with no service: glibc stops */
		size_t len = (size_t)(s - name);
		const char *want = n == 0 ? "files" : "dns";
		int is_want = len == strlen(want) && memcmp(name, want, len) == 0;
		if (n == 0)
			*files_first = is_want;
		plain = plain && n < 2 && is_want;
		n++;
		s = skip_space(s);
		if (*s == '[') {
			plain = 0;
			if (!(s = nss_criteria(s + 1)))
				return -1;
		}
	}
	*files_dns = plain && n == 2;
	return 0;
}

struct nss_result {
	int hosts_seen;
	int files_dns, files_first;  /* of the hosts line glibc acts on */
};

static int nss_line(char *line, void *arg)
{
	struct nss_result *r = arg;
	char *name = (char *)skip_space(line), *s = name;
	while (*s && !is_space(*s) && *s != ':')
		s++;
	if (*s == '\0' || s == name)
		return 0;
	while (*s && (is_space(*s) || *s == ':'))
		*s++ = '\0';
	if (!is_nss_database(name))
		return 0;
	int files_dns, files_first;
	if (nss_services(s, &files_dns, &files_first) < 0)
		return -1;
	if (strcmp(name, "hosts") == 0) {
		r->hosts_seen = 1;  /* a later line replaces an earlier one */
		r->files_dns = files_dns;
		r->files_first = files_first;
	}
	return 0;
}

int scio_resconf_parse_nsswitch(const char *text, size_t len)
{
	struct nss_result r = { 0, 0, 0 };
	if (!text || for_each_line(text, len, 0, nss_line, &r) != 0)
		return 0;
	return r.hosts_seen && r.files_dns;  /* no line: glibc's default */
}

int scio_resconf_nsswitch_files_first(const char *text, size_t len)
{
	struct nss_result r = { 0, 0, 0 };
	if (!text || for_each_line(text, len, 0, nss_line, &r) != 0)
		return 1;  /* glibc's default, "files dns"; or not known */
	return !r.hosts_seen || r.files_first;
}

/* ---- resolv.conf ---- */

struct res_parse {
	int nservers;          /* of the first SCIO_RESCONF_MAXNS */
	int scoped;            /* one of them has a scope id */
	struct sockaddr_storage server[SCIO_RESCONF_MAXNS];
	int nsearch;           /* -1: too many or too long for _res */
	size_t search_len;
	char search[SCIO_RESCONF_SEARCHLEN];
	int sortlist;
	int ndots, retrans, retry;
	unsigned long flags;   /* the recognised options */
};

static int search_name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* Appends one name as glibc's _res.dnsrch would hold it. */
static void search_add(struct res_parse *p, const char *name)
{
	size_t n = strlen(name) + 1;
	if (p->nsearch < 0)
		return;
	if (p->nsearch == SCIO_RESCONF_MAXSEARCH || !search_name_ok(name) ||
	    n > sizeof(p->search) - p->search_len) {
		p->nsearch = -1;
		return;
	}
	memcpy(p->search + p->search_len, name, n);
	p->search_len += n;
	p->nsearch++;
}

static void search_clear(struct res_parse *p)
{
	p->nsearch = 0;
	p->search_len = 0;
}

/* glibc's keyword test: the word, then a space or a tab. */
static const char *keyword(const char *line, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(line, word, n) != 0 || (line[n] != ' ' && line[n] != '\t'))
		return NULL;
	return line + n;
}

static void line_domain(struct res_parse *p, char *s)
{
	s = (char *)skip_blank(s);
	if (*s == '\0' || *s == '\n')
		return;
	s[strcspn(s, " \t\n")] = '\0';
	search_clear(p);
	search_add(p, s);
}

static void line_search(struct res_parse *p, char *s)
{
	s = (char *)skip_blank(s);
	if (*s == '\0' || *s == '\n')
		return;
	s[strcspn(s, "\n")] = '\0';
	search_clear(p);
	char *save, *name = strtok_r(s, " \t", &save);
	for (; name; name = strtok_r(NULL, " \t", &save))
		search_add(p, name);
}

/* glibc's inet_aton_exact: inet_aton's forms, nothing after them. */
static int ipv4_exact(const char *s, struct in_addr *a)
{
	for (const char *t = s; *t; t++)
		if (is_space(*t))
			return 0;
	return inet_aton(s, a) != 0;
}

static void line_nameserver(struct res_parse *p, char *s)
{
	s = (char *)skip_blank(s);
	s[strcspn(s, " \t\n")] = '\0';
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	int scoped = 0;
	if (*s && ipv4_exact(s, &s4->sin_addr)) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
	} else {
		char *pct = strchr(s, '%');
		if (pct) {
			*pct = '\0';
			scoped = 1;
		}
		if (!*s || inet_pton(AF_INET6, s, &s6->sin6_addr) != 1)
			return;  /* glibc skips the line */
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(53);
	}
	if (p->nservers == SCIO_RESCONF_MAXNS)
		return;  /* glibc keeps it but never asks it */
	p->server[p->nservers++] = ss;
	p->scoped |= scoped;
}

/* glibc reads these numbers with atoi. */
static int glibc_atoi(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

static int clamp_max(int v, int max)
{
	return v <= max ? v : max;
}

static void line_options(struct res_parse *p, const char *s)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} known[] = {
		/* res_init.c's table, in its order: the first prefix wins */
		{ "rotate", 0x00004000 },
		{ "edns0", GLIBC_RES_USE_EDNS0 },
		{ "single-request-reopen", 0x00400000 },
		{ "single-request", 0x00200000 },
		{ "no_tld_query", 0x01000000 },
		{ "no-tld-query", 0x01000000 },
		{ "no-reload", 0x02000000 },
		{ "use-vc", 0x00000008 },
		{ "trust-ad", GLIBC_RES_TRUSTAD },
		{ "no-aaaa", 0x08000000 },
	};
	while (*s) {
		s = skip_blank(s);
		if (strncmp(s, "ndots:", 6) == 0)
			p->ndots = clamp_max(glibc_atoi(s + 6), GLIBC_RES_MAXNDOTS);
		else if (strncmp(s, "timeout:", 8) == 0)
			p->retrans = clamp_max(glibc_atoi(s + 8), GLIBC_RES_MAXRETRANS);
		else if (strncmp(s, "attempts:", 9) == 0)
			p->retry = clamp_max(glibc_atoi(s + 9), GLIBC_RES_MAXRETRY);
		else
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				if (strncmp(s, known[i].name, strlen(known[i].name)) == 0) {
					p->flags |= known[i].flag;
					break;
				}
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
}

static int resolv_line(char *line, void *arg)
{
	struct res_parse *p = arg;
	char *rest;
	if (*line == ';' || *line == '#')
		return 0;
	if ((rest = (char *)keyword(line, "domain")))
		line_domain(p, rest);
	else if ((rest = (char *)keyword(line, "search")))
		line_search(p, rest);
	else if ((rest = (char *)keyword(line, "nameserver")))
		line_nameserver(p, rest);
	else if (keyword(line, "sortlist"))
		p->sortlist = 1;
	else if ((rest = (char *)keyword(line, "options")))
		line_options(p, rest);
	return 0;
}

/* With no search or domain line, glibc searches the host name's domain
 * (read when it parses the file, as here). */
static void search_from_hostname(struct res_parse *p)
{
	char name[256];
	name[sizeof(name) - 1] = '\0';
	if (gethostname(name, sizeof(name) - 1) != 0)
		return;
	char *dot = strchr(name, '.');
	if (dot)
		search_add(p, dot + 1);
}

static void res_defaults(struct res_parse *p)
{
	memset(p, 0, sizeof(*p));
	p->ndots = 1;
	p->retrans = GLIBC_RES_TIMEOUT;
	p->retry = GLIBC_RES_DFLRETRY;
}

static int res_usable(const struct res_parse *p)
{
	return !p->sortlist && !p->scoped && p->nsearch >= 0 &&
	       (p->flags & ~STUB_OPTIONS) == 0 &&
	       p->ndots >= 0 && p->retrans >= 1 && p->retry >= 1;
}

int scio_resconf_parse_resolv(const char *text, size_t len, struct scio_resconf *c)
{
	struct res_parse p;
	res_defaults(&p);
	if (text && for_each_line(text, len, 1, resolv_line, &p) != 0)
		return 0;
	if (p.nservers == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&p.server[0];
		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		p.nservers = 1;
	}
	if (p.nsearch == 0)
		search_from_hostname(&p);
	if (!res_usable(&p))
		return 0;
	memset(c, 0, sizeof(*c));
	c->nservers = p.nservers;
	memcpy(c->server, p.server, sizeof(c->server));
	c->ndots = p.ndots;
	c->timeout_s = p.retrans;
	c->attempts = p.retry;
	c->trust_ad = (p.flags & GLIBC_RES_TRUSTAD) != 0;
	c->edns0 = (p.flags & GLIBC_RES_USE_EDNS0) != 0;
	c->nsearch = p.nsearch;
	memcpy(c->search, p.search, p.search_len);
	return 1;
}

/* ---- the files ---- */

struct file_id {
	int state;  /* FILE_UNKNOWN: read it (again); FILE_MISSING; FILE_THERE */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};
enum { FILE_UNKNOWN, FILE_MISSING, FILE_THERE };

static void id_of(const struct stat *st, struct file_id *id)
{
	id->state = FILE_THERE;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static int same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int same_id(const struct file_id *a, const struct file_id *b)
{
	if (a->state == FILE_UNKNOWN || a->state != b->state)
		return 0;
	return a->state == FILE_MISSING ||
	       (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		same_time(a->mtim, b->mtim) && same_time(a->ctim, b->ctim));
}

/* The open errors glibc takes for "no such file" (then its defaults). */
static int missing_errno(int e)
{
	return e == ENOENT || e == EACCES || e == EISDIR || e == ELOOP ||
	       e == ENOTDIR || e == EPERM;
}

static void stat_id(const char *path, struct file_id *id)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0)
		id_of(&st, id);
	else
		id->state = missing_errno(errno) ? FILE_MISSING : FILE_UNKNOWN;
}

static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * A regular file of at most SCIO_RESCONF_FILE_MAX bytes: FILE_THERE with
 * *text (malloc'd) and *len, FILE_MISSING as glibc sees it, or
 * FILE_UNKNOWN (unreadable, too large, not a file).  *id: the file read.
 */
static int read_file(const char *path, char **text, size_t *len, struct file_id *id)
{
	int saved = errno;
	memset(id, 0, sizeof(*id));
	*text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		id->state = missing_errno(errno) ? FILE_MISSING : FILE_UNKNOWN;
		errno = saved;
		return id->state;
	}
	struct stat st;
	ssize_t n = -1;
	char *buf = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= SCIO_RESCONF_FILE_MAX &&
	    (buf = malloc(SCIO_RESCONF_FILE_MAX + 1)))
		n = read_all(fd, buf, SCIO_RESCONF_FILE_MAX + 1);
	scio_close_own(fd);
	errno = saved;
	if (n < 0 || n > SCIO_RESCONF_FILE_MAX) {
		free(buf);
		return FILE_UNKNOWN;
	}
	id_of(&st, id);
	*text = buf;
	*len = (size_t)n;
	return FILE_THERE;
}

static int nsswitch_file_ok(const char *path, struct file_id *id)
{
	char *text;
	size_t len;
	int ok = read_file(path, &text, &len, id) == FILE_THERE &&
		 scio_resconf_parse_nsswitch(text, len);
	free(text);
	return ok;
}

int scio_resconf_files_first_at(const char *path)
{
	char *text;
	size_t len;
	struct file_id id;
	int state = read_file(path, &text, &len, &id);
	int first = state != FILE_THERE || scio_resconf_nsswitch_files_first(text, len);
	free(text);
	return first;
}

static int resolv_file_ok(const char *path, struct file_id *id, struct scio_resconf *c)
{
	char *text;
	size_t len;
	int state = read_file(path, &text, &len, id);
	int ok = state != FILE_UNKNOWN && scio_resconf_parse_resolv(text, len, c);
	free(text);
	return ok;
}

/* ---- the process: environment, nscd, _res ---- */

/* glibc reads these with getenv (ld.so removes them from setuid
 * programs), so getenv here too: set at all, glibc acts on them. */
static int resolver_env_set(void)
{
	return getenv("RES_OPTIONS") || getenv("LOCALDOMAIN") || getenv("HOSTALIASES");
}

#ifdef __GLIBC__
/* glibc asks nscd first when it runs, and gets its cached answers.  Its
 * socket is looked for once every NSCD_RECHECK calls: glibc too tries an
 * nscd it found missing again only after 100 lookups. */
static int nscd_running(void)
{
	static unsigned calls;
	static int running;
	if (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) % NSCD_RECHECK == 0) {
		struct stat st;
		int saved = errno;
		__atomic_store_n(&running, stat(NSCD_SOCKET, &st) == 0, __ATOMIC_RELAXED);
		errno = saved;
	}
	return __atomic_load_n(&running, __ATOMIC_RELAXED);
}

static int glibc_is_236(void)
{
	static int known;  /* 0 not yet, 1 yes, 2 no: the same in every thread */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (!k) {
		k = strcmp(gnu_get_libc_version(), "2.36") == 0 ? 1 : 2;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 1;
}

static int same_server(const struct sockaddr_storage *want, const struct __res_state *r, int i)
{
	if (want->ss_family == AF_INET) {
		const struct sockaddr_in *w = (const struct sockaddr_in *)want;
		const struct sockaddr_in *have = &r->nsaddr_list[i];
		return have->sin_family == AF_INET && have->sin_port == w->sin_port &&
		       have->sin_addr.s_addr == w->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *w = (const struct sockaddr_in6 *)want;
	const struct sockaddr_in6 *have = r->_u._ext.nsaddrs[i];
	return r->nsaddr_list[i].sin_family == 0 && have && have->sin6_family == AF_INET6 &&
	       have->sin6_port == w->sin6_port && have->sin6_scope_id == 0 &&
	       memcmp(&have->sin6_addr, &w->sin6_addr, sizeof(w->sin6_addr)) == 0;
}

static int same_search(const struct scio_resconf *c, const struct __res_state *r)
{
	const char *name = c->search;
	for (int i = 0; i < c->nsearch; i++, name += strlen(name) + 1)
		if (!r->dnsrch[i] || strcmp(r->dnsrch[i], name) != 0)
			return 0;
	return r->dnsrch[c->nsearch] == NULL;
}

/* The thread's _res, when initialized, must hold what glibc's res_init
 * takes from the file: a program's changes to it are honoured by glibc's
 * getaddrinfo, and not by the stub. */
static int res_state_matches(const struct scio_resconf *c)
{
	const struct __res_state *r = &_res;
	if (!(r->options & RES_INIT))
		return 1;  /* glibc initializes it from the file */
	unsigned long options = GLIBC_RES_INIT_DEFAULT | (c->trust_ad ? GLIBC_RES_TRUSTAD : 0) |
				(c->edns0 ? GLIBC_RES_USE_EDNS0 : 0);
	if (r->options != options || r->retrans != c->timeout_s || r->retry != c->attempts ||
	    (int)r->ndots != c->ndots || r->nscount != c->nservers || r->nsort != 0 ||
	    (r->_u._ext.nscount != 0 && r->_u._ext.nscount != c->nservers))
		return 0;
	for (int i = 0; i < c->nservers; i++)
		if (!same_server(&c->server[i], r, i))
			return 0;
	return same_search(c, r);
}

/* One server of two states: IPv4 ones in nsaddr_list, IPv6 ones (a zero
 * family there) behind _u._ext.nsaddrs. */
static int same_server_of(const struct __res_state *a, const struct __res_state *b, int i)
{
	const struct sockaddr_in *x = &a->nsaddr_list[i], *y = &b->nsaddr_list[i];
	if (x->sin_family != y->sin_family)
		return 0;
	if (x->sin_family == AF_INET)
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	const struct sockaddr_in6 *p = a->_u._ext.nsaddrs[i], *q = b->_u._ext.nsaddrs[i];
	if (!p || !q)
		return p == q;
	return p->sin6_port == q->sin6_port && p->sin6_scope_id == q->sin6_scope_id &&
	       memcmp(&p->sin6_addr, &q->sin6_addr, sizeof(p->sin6_addr)) == 0;
}

static int same_search_of(const struct __res_state *a, const struct __res_state *b)
{
	for (int i = 0; i < MAXDNSRCH + 1; i++) {
		if (!a->dnsrch[i] || !b->dnsrch[i])
			return a->dnsrch[i] == b->dnsrch[i];
		if (strcmp(a->dnsrch[i], b->dnsrch[i]) != 0)
			return 0;
	}
	return 1;
}

/* What glibc's lookups read of a state: the same in both. */
static int same_state(const struct __res_state *a, const struct __res_state *b)
{
	if (a->options != b->options || a->retrans != b->retrans || a->retry != b->retry ||
	    a->ndots != b->ndots || a->nscount != b->nscount || a->nsort != b->nsort ||
	    memcmp(a->sort_list, b->sort_list, sizeof(a->sort_list[0]) * (size_t)a->nsort) != 0)
		return 0;
	for (int i = 0; i < a->nscount && i < MAXNS; i++)
		if (!same_server_of(a, b, i))
			return 0;
	return same_search_of(a, b);
}

/* A state as res_init makes it of the files now, NULL when it cannot be
 * made; fresh_free it. */
static struct __res_state *fresh_state(void)
{
	struct __res_state *fresh = calloc(1, sizeof(*fresh));
	if (fresh && res_ninit(fresh) == 0)
		return fresh;
	/* never res_nclose a state res_ninit did not set up: calloc's
	 * _vcsock 0 would close the program's fd 0 */
	free(fresh);
	return NULL;
}

static void fresh_free(struct __res_state *fresh)
{
	res_nclose(fresh);
	free(fresh);
}

int scio_resconf_thread_res_changed(void)
{
	const struct __res_state *mine = &_res;
	if (!(mine->options & RES_INIT))
		return 0;  /* glibc sets it up from the files, as any thread's */
	int saved = errno, changed = 1, cs;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);  /* as search_place */
	struct __res_state *fresh = fresh_state();
	if (fresh) {
		changed = !same_state(mine, fresh);
		fresh_free(fresh);
	}
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return changed;
}

/* a and b name the same domain (case aside, one trailing dot aside);
 * b_domain: b with ".domain" after it */
static int same_domain(const char *a, const char *b, const char *b_domain)
{
	size_t la = strlen(a), lb = strlen(b);
	la -= la > 1 && a[la - 1] == '.';
	lb -= lb > 1 && b[lb - 1] == '.';
	if (!b_domain)
		return la == lb && strncasecmp(a, b, la) == 0;
	size_t ld = strlen(b_domain);
	ld -= ld > 0 && b_domain[ld - 1] == '.';
	return la == lb + 1 + ld && strncasecmp(a, b, lb) == 0 && a[lb] == '.' &&
	       strncasecmp(a + lb + 1, b_domain, ld) == 0;
}

/* res_search's order (glibc 2.36): the name as it is first when it has
 * ndots dots or more, then each search domain (a root or empty one
 * meaning the name as it is), then the name as it is, unless tried. */
static int place_in(const struct __res_state *r, const char *node, const char *name)
{
	int dots = 0;
	for (const char *p = node; *p; p++)
		dots += *p == '.';
	int searched = dots ? (r->options & RES_DNSRCH) : (r->options & RES_DEFNAMES);
	if (!searched || !r->dnsrch[0])
		return SCIO_SEARCH_ONE;
	/* a root (or empty) search domain asks the name as it is */
	int as_is_first = dots >= (int)r->ndots, domains = 0, root = 0;
	for (int i = 0; i < MAXDNSRCH && r->dnsrch[i]; i++) {
		const char *d = r->dnsrch[i] + (r->dnsrch[i][0] == '.');
		if (!*d) {
			as_is_first |= i == 0;  /* a root domain first asks it first */
			root = 1;
			continue;
		}
		domains++;
		if (same_domain(name, node, d))
			return !as_is_first && i == 0 ? SCIO_SEARCH_FIRST : SCIO_SEARCH_LATER;
	}
	if (!domains)
		return SCIO_SEARCH_ONE;
	if (same_domain(name, node, NULL)) {
		/* no-tld-query: a name with no dot is not asked as it is,
		 * unless first or through a root domain */
		if (!dots && (r->options & RES_NOTLDQUERY) && !as_is_first && !root)
			return SCIO_SEARCH_NOT_ASKED;
		return as_is_first ? SCIO_SEARCH_FIRST : SCIO_SEARCH_LATER;
	}
	/* _res keeps the first MAXDNSRCH domains of glibc's list, which
	 * glibc searches whole: with the list full, any name under node may
	 * be a later one.  (A list cut short for the 256 bytes _res keeps
	 * for it cannot be told from a whole one.) */
	size_t ln = strlen(node);
	ln -= ln > 1 && node[ln - 1] == '.';
	if (r->dnsrch[MAXDNSRCH - 1] && strlen(name) > ln + 1 &&
	    strncasecmp(name, node, ln) == 0 && name[ln] == '.')
		return SCIO_SEARCH_LATER;
	return SCIO_SEARCH_NOT_ASKED;
}

/* The places of names[0..n) among those node's search asks, from one
 * fresh state; SCIO_SEARCH_ONE for all when it asks one name only. */
static void search_places(const char *node, const char *const *names, int n, int *place)
{
	for (int i = 0; i < n; i++)
		place[i] = SCIO_SEARCH_ONE;
	size_t len = node ? strlen(node) : 0;
	if (!len || node[len - 1] == '.')
		return;
	/* res_ninit reads the file under glibc's locks: no cancel may act
	 * there (the caller may be in the program's cancellable lookup) */
	int saved = errno, cs;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	struct __res_state *fresh = fresh_state();
	if (fresh) {
		for (int i = 0; i < n; i++)
			if (names[i])
				place[i] = place_in(fresh, node, names[i]);
		fresh_free(fresh);
	}
	pthread_setcancelstate(cs, NULL);
	errno = saved;
}

int scio_resconf_search_place(const char *node, const char *name)
{
	int place;
	search_places(node, &name, 1, &place);
	return place;
}

int scio_resconf_two_hosts(const char *node, const char *a, const char *b)
{
	if (!a || !b || same_domain(a, b, NULL))
		return 0;
	const char *names[2] = { a, b };
	int place[2];
	search_places(node, names, 2, place);
	return place[0] >= SCIO_SEARCH_FIRST || place[1] >= SCIO_SEARCH_FIRST;
}
#else
static int res_state_matches(const struct scio_resconf *c)
{
	(void)c;
	return 1;
}

int scio_resconf_thread_res_changed(void)
{
	return 0;  /* musl's lookups read no _res */
}

int scio_resconf_search_place(const char *node, const char *name)
{
	(void)node, (void)name;
	return SCIO_SEARCH_ONE;  /* not known: musl's resolver reads its own files */
}

int scio_resconf_two_hosts(const char *node, const char *a, const char *b)
{
	(void)node, (void)a, (void)b;
	return 0;
}
#endif

int scio_resconf_read(const char *nsswitch, const char *resolv, struct scio_resconf *c)
{
	struct file_id id;
	int saved = errno;
	int ok = !resolver_env_set() && nsswitch_file_ok(nsswitch, &id) &&
		 resolv_file_ok(resolv, &id, c) && res_state_matches(c);
	errno = saved;
	return ok;
}

/* ---- the process's cache ---- */

#define CACHE_PATH_MAX 128

static struct {
	pthread_mutex_t lock;
	char nss_path[CACHE_PATH_MAX], res_path[CACHE_PATH_MAX];
	struct file_id nss_id, res_id;
	int nss_ok, res_ok;
	struct scio_resconf conf;
	unsigned long reads;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A file replaced between the stat and the read is read again next time
 * (as glibc does). */
static void remember(struct file_id *cached, const struct file_id *before,
		     const struct file_id *read)
{
	*cached = *before;
	if (!same_id(before, read))
		cached->state = FILE_UNKNOWN;
}

/* The cache follows the paths asked for (other paths: tests only). */
static int cache_paths(const char *nss_path, const char *res_path)
{
	if (strcmp(nss_path, cache.nss_path) == 0 && strcmp(res_path, cache.res_path) == 0)
		return 1;
	if (strlen(nss_path) >= CACHE_PATH_MAX || strlen(res_path) >= CACHE_PATH_MAX)
		return 0;
	strcpy(cache.nss_path, nss_path);
	strcpy(cache.res_path, res_path);
	cache.nss_id.state = cache.res_id.state = FILE_UNKNOWN;
	return 1;
}

static void refresh(const char *nss_path, const struct file_id *nss,
		    const char *res_path, const struct file_id *res)
{
	struct file_id read;
	if (!same_id(nss, &cache.nss_id)) {
		cache.reads++;
		cache.nss_ok = nsswitch_file_ok(nss_path, &read);
		remember(&cache.nss_id, nss, &read);
	}
	if (!same_id(res, &cache.res_id)) {
		cache.reads++;
		cache.res_ok = resolv_file_ok(res_path, &read, &cache.conf);
		remember(&cache.res_id, res, &read);
	}
}

SCIO_FORK_SAFE_LOCK(cache.lock)

static int cached_get(const char *nss_path, const char *res_path, struct scio_resconf *c)
{
	struct file_id nss, res;
	stat_id(nss_path, &nss);
	stat_id(res_path, &res);
	scio_once(&atfork_once, register_atfork);
	scio_lock(&cache.lock);
	int ok = 0, cached = cache_paths(nss_path, res_path);
	if (cached) {
		refresh(nss_path, &nss, res_path, &res);
		ok = cache.nss_ok && cache.res_ok;
		if (ok)
			*c = cache.conf;
	}
	scio_unlock(&cache.lock);
	if (!cached)
		return scio_resconf_read(nss_path, res_path, c);
	return ok && res_state_matches(c);
}

unsigned long scio_resconf_reads(void)
{
	scio_once(&atfork_once, register_atfork);
	scio_lock(&cache.lock);
	unsigned long n = cache.reads;
	scio_unlock(&cache.lock);
	return n;
}

int scio_resconf_get_at(const char *nsswitch, const char *resolv, struct scio_resconf *c)
{
	if (resolver_env_set())
		return 0;
	int saved = errno;
	int ok = cached_get(nsswitch, resolv, c);
	errno = saved;
	return ok;
}

int scio_resconf_get(struct scio_resconf *c)
{
#ifdef __GLIBC__
	if (resolver_env_set() || !glibc_is_236() || nscd_running())
		return 0;
	int saved = errno;
	int ok = cached_get(NSSWITCH_PATH, RESOLV_PATH, c);
	errno = saved;  /* a missing file is no error of the program's */
	return ok;
#else
	(void)c;
	return 0;  /* the stub speaks for glibc only */
#endif
}
