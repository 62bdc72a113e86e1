/*
 * hostsfile.h - is a name answered from /etc/hosts?  A name that glibc
 * finds in the hosts file (nsswitch "hosts: files ...", as resconf.c
 * reads the hosts line glibc acts on) needs no race and is passed
 * straight to getaddrinfo.
 * This only classifies names: it never answers a lookup itself.
 */
#ifndef SCIO_HOSTSFILE_H
#define SCIO_HOSTSFILE_H

#include <stdint.h>

/* 1 when `name` appears in the hosts file and nsswitch consults the file
 * first.  The files are re-read when they change: the hosts file is
 * stat()ed on every call (glibc reads it on every lookup), nsswitch.conf
 * at most once a second.  Thread-safe and fork-safe. */
int scio_hosts_has(const char *name, int64_t now_us);

#endif
