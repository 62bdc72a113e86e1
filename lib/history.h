/*
 * history.h - what worked, per destination and per network (IPv6 /64,
 * IPv4 /24), so that after one failure later connects go straight to the
 * family that works (RFC 8305 sections 4 and 5 allow historical data).
 * A network counts as broken once two of its destinations failed.
 *
 * Kept in memory, and (unless SCIO_HISTORY=process or off) in a per-user
 * file shared by every process: SCIO_HISTORY_FILE, else
 * $XDG_RUNTIME_DIR/scio/history when that directory is the user's and
 * private, else /run/scio/0/history for root, ~/.cache/scio/history for
 * login users, else none (memory only).  Directories are checked and
 * created without following symlinks.  The file is fixed-size, mode 0600,
 * opened non-blocking without following symlinks, must be a private
 * regular file of the user's with one link, and is updated under flock.
 * A file that is not a store of this version is ignored, and written only
 * when it is empty or carries this store's header.  Times are wall-clock
 * milliseconds; times later than now are not believed.
 */
#ifndef SCIO_HISTORY_H
#define SCIO_HISTORY_H

#include <stdint.h>
#include <sys/socket.h>

#include "clock.h"
#include "nat64.h"
#include "scio.h"

#define SCIO_HISTORY_SLOTS 256
#define SCIO_HISTORY_TTL_MS (600 * 1000LL)  /* a failure is believed 10 min */
#define SCIO_HISTORY_VERSION 1
#define SCIO_HISTORY_PATH_MAX 512

enum scio_history_mode { SCIO_HISTORY_OFF, SCIO_HISTORY_PROCESS, SCIO_HISTORY_SHARED };

enum scio_fail_kind { SCIO_FAIL_NONE, SCIO_FAIL_TIMEOUT, SCIO_FAIL_UNREACHABLE,
		      SCIO_FAIL_REFUSED };

struct scio_hist_entry {
	uint8_t kind;          /* 0 empty, 1 destination, 2 network */
	uint8_t family;        /* 4 or 6 */
	uint8_t fail_kind;     /* enum scio_fail_kind of the last failure */
	uint8_t prefix;        /* bits of addr that count */
	uint32_t srtt_us;      /* smoothed connect time, 0: no sample */
	uint8_t addr[16];
	int64_t last_success;
	int64_t last_failure;
	int64_t used;          /* for LRU */
};

struct scio_hist_file {
	char magic[8];         /* "SCIOHIST" */
	uint32_t version;
	uint32_t slots;
	uint32_t entry_size;
	uint32_t reserved;
	struct scio_hist_entry e[SCIO_HISTORY_SLOTS];
};

/* Sets the mode and file (NULL: the default path); resets the cache. */
void scio_history_configure(enum scio_history_mode mode, const char *file);

/* Records what a race did (report of scio_race_connect). */
void scio_history_record(const struct scio_report *rep, int64_t now_ms);

/* 1 when dst, or its network, failed recently and has not worked since. */
int scio_history_broken(const struct sockaddr *dst, int64_t now_ms);

/* Smoothed connect time to dst's network in µs, 0 when unknown. */
uint32_t scio_history_srtt(const struct sockaddr *dst, int64_t now_ms);

/* Smoothed connect time to dst in µs, else to its network; 0 when
 * neither ever worked (the Connection Attempt Delay's input, delay.h). */
uint32_t scio_history_rtt(const struct sockaddr *dst, int64_t now_ms);

/* The history file in use ("" when none). */
const char *scio_history_path(void);

/* Reads a history file into *out; 0, or -1 (missing, foreign, corrupt). */
int scio_history_load_file(const char *path, struct scio_hist_file *out);

/* 1 when entry e of f counts as failing now (a network entry: two of its
 * destinations failed since any there worked). */
int scio_history_entry_failing(const struct scio_hist_file *f,
			       const struct scio_hist_entry *e, int64_t now_ms);

/* Empties the store (memory and file); -1 when the file could not be
 * written (not a store, not the user's, busy). */
int scio_history_forget(void);

/*
 * NAT64 prefixes learnt by RFC 7050 discovery, one per network (net: a
 * hash of the host's IPv6 /64 on it), until the answer's TTL runs out.
 * Stored as entries of kind SCIO_HIST_NAT64: addr and prefix hold the
 * NAT64 prefix, srtt_us the network's hash, last_success when it was
 * learnt, last_failure when it expires.
 */
#define SCIO_HIST_NAT64 3

/* 0 with *p and *expires_ms when network net has an unexpired prefix. */
int scio_history_nat64_get(uint32_t net, int64_t now_ms,
			   struct scio_nat64_prefix *p, int64_t *expires_ms);

/* Remembers p for network net until expires_ms. */
void scio_history_nat64_put(uint32_t net, const struct scio_nat64_prefix *p,
			    int64_t now_ms, int64_t expires_ms);

#endif
