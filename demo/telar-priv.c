/*
 * telar-priv.c - the user telar serves as, and the rights it keeps.
 *
 * telar needs root, or CAP_NET_BIND_SERVICE, only to bind port 23.  Once
 * its sockets are open it keeps nothing it does not need: started as
 * root it becomes the -u user, or nobody when no -u was given (only an
 * explicit -u root keeps root); started as any other user it gives up the
 * capabilities it was handed (systemd's AmbientCapabilities=).  Every step
 * is checked afterwards, and telar refuses to serve when root or a
 * capability could be had back.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "telar.h"

int identity_lookup(const char *name, struct telar_identity *id)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH)
			errno = ENOENT;
		return -1;
	}
	id->name = name;
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	return 0;
}

static int already(const struct telar_identity *id)
{
	return getuid() == id->uid && geteuid() == id->uid &&
	       getgid() == id->gid && getegid() == id->gid;
}

/* Checks that the user switch cannot be undone. */
static const char *switch_undoable(const struct telar_identity *id)
{
	if (getgroups(0, NULL) != 0)
		return "supplementary groups remain";
	if (id->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return "root could be regained";
	if (id->gid != 0 && (setgid(0) == 0 || setegid(0) == 0))
		return "group root could be regained";
	return NULL;
}

/* Groups, then gid, then uid, for good. */
static int switch_user(const struct telar_identity *id)
{
	const char *why;

	if (already(id))
		return 0;
	if (setgroups(0, NULL) == -1) {
		log_error("cannot switch to user %s: setgroups: %s", id->name,
			  strerror(errno));
		return -1;
	}
	if (setresgid(id->gid, id->gid, id->gid) == -1) {
		log_error("cannot switch to user %s: setresgid: %s", id->name,
			  strerror(errno));
		return -1;
	}
	if (setresuid(id->uid, id->uid, id->uid) == -1) {
		log_error("cannot switch to user %s: setresuid: %s", id->name,
			  strerror(errno));
		return -1;
	}
	why = switch_undoable(id);
	if (why) {
		log_error("cannot switch to user %s for good: %s", id->name, why);
		return -1;
	}
	return 0;
}

static int capabilities(struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3])
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &hdr, data);
}

/* Empties the permitted, effective and inheritable sets (the ambient set
 * follows them down).  A non-root process may always lower its own. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1) {
		log_error("cannot drop capabilities: capset: %s", strerror(errno));
		return -1;
	}
	if (capabilities(data) == -1) {
		log_error("cannot check capabilities: capget: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable) {
			log_error("capabilities remain after dropping them");
			return -1;
		}
	}
	return 0;
}

int identity_assume(const struct telar_identity *id)
{
	if (id->name && switch_user(id) == -1)
		return -1;
	if (geteuid() == 0)
		return 0; /* -u root said so: root keeps its rights */
	return drop_capabilities();
}

void identity_log(const struct telar_identity *id, int always)
{
	struct passwd *pw = id->name ? NULL : getpwuid(geteuid());
	const char *name = id->name ? id->name : pw ? pw->pw_name : "?";
	char line[256];

	if (geteuid() == 0)
		snprintf(line, sizeof(line), "running as root, with every "
			 "privilege (-u %s)", name);
	else
		snprintf(line, sizeof(line), "running as user %s (uid %lu, gid "
			 "%lu), without capabilities%s", name,
			 (unsigned long)geteuid(), (unsigned long)getegid(),
			 id->implicit ? ": started as root without -u" : "");
	if (always)
		log_notice("%s", line);
	else
		log_info("%s", line);
}
