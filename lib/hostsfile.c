/* hostsfile.c - which names the hosts file answers (see hostsfile.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"
#include "hostsfile.h"
#include "resconf.h"

#define HOSTS_PATH "/etc/hosts"
#define NSSWITCH_PATH "/etc/nsswitch.conf"
#define RECHECK_US 1000000
#define NAME_MAX_LEN 255

struct names {
	size_t cap;        /* power of two */
	size_t count;
	char **slot;       /* open addressing, lowercased names */
};

static uint64_t hash_name(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)tolower((unsigned char)s[i])) * 1099511628211ULL;
	return h;
}

static size_t name_len(const char *name)
{
	size_t len = strnlen(name, NAME_MAX_LEN + 1);
	if (len > 0 && name[len - 1] == '.')
		len--;  /* "host." is "host" */
	return len;
}

static int names_find(const struct names *t, const char *name, size_t len)
{
	if (!t->cap || len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = hash_name(name, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		const char *s = t->slot[i];
		if (!s)
			return 0;
		if (strlen(s) == len && strncasecmp(s, name, len) == 0)
			return 1;
	}
}

static void names_free(struct names *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slot[i]);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static int names_grow(struct names *t)
{
	struct names bigger = { .cap = t->cap ? t->cap * 2 : 64 };
	bigger.slot = calloc(bigger.cap, sizeof(char *));
	if (!bigger.slot)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		char *s = t->slot[i];
		if (!s)
			continue;
		size_t j = hash_name(s, strlen(s)) & (bigger.cap - 1);
		while (bigger.slot[j])
			j = (j + 1) & (bigger.cap - 1);
		bigger.slot[j] = s;
		bigger.count++;
	}
	free(t->slot);
	*t = bigger;
	return 0;
}

static int names_add(struct names *t, const char *name)
{
	size_t len = name_len(name);
	if (len == 0 || len > NAME_MAX_LEN || names_find(t, name, len))
		return 0;
	if ((t->count + 1) * 2 > t->cap && names_grow(t) < 0)
		return -1;
	char *copy = strndup(name, len);
	if (!copy)
		return -1;
	size_t i = hash_name(copy, len) & (t->cap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = copy;
	t->count++;
	return 0;
}

/* Every name on the hosts file's address lines. */
static int load_hosts(const char *path, struct names *t)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#\n")] = '\0';
		char *save, *tok = strtok_r(line, " \t\r", &save);
		if (!tok)
			continue;  /* blank; the first token is the address */
		while ((tok = strtok_r(NULL, " \t\r", &save)))
			if (names_add(t, tok) < 0) {
				fclose(f);
				return -1;
			}
	}
	fclose(f);
	return 0;
}

/* ---- the process's cache ---- */

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct {
	pthread_mutex_t lock;
	int64_t checked;
	struct file_id hosts, nss;
	int files_first;
	struct names names;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void file_id(const char *path, struct file_id *id)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->size = st.st_size;
		id->mtime = st.st_mtim;
	}
}

/* The hosts file is looked at on every call, as glibc reads it on every
 * lookup (a name just added there is its to answer); nsswitch.conf,
 * which changes far less often, at most once a second. */
static void refresh(int64_t now)
{
	struct file_id hosts, nss = cache.nss;
	file_id(HOSTS_PATH, &hosts);
	if (!cache.checked || now - cache.checked >= RECHECK_US) {
		cache.checked = now;
		file_id(NSSWITCH_PATH, &nss);
	}
	if (cache.names.cap && !memcmp(&hosts, &cache.hosts, sizeof(hosts)) &&
	    !memcmp(&nss, &cache.nss, sizeof(nss)))
		return;
	cache.hosts = hosts;
	cache.nss = nss;
	names_free(&cache.names);
	cache.files_first = scio_resconf_files_first_at(NSSWITCH_PATH);
	if (load_hosts(HOSTS_PATH, &cache.names) < 0)
		names_free(&cache.names);  /* unknown: every name is raced */
}

SCIO_FORK_SAFE_LOCK(cache.lock)

int scio_hosts_has(const char *name, int64_t now_us)
{
	scio_once(&atfork_once, register_atfork);
	scio_lock(&cache.lock);
	refresh(now_us);
	int has = cache.files_first && names_find(&cache.names, name, name_len(name));
	scio_unlock(&cache.lock);
	return has;
}
