/* config.h - the shim's settings (docs/DESIGN.md, "Settings"). */
#ifndef SCIO_CONFIG_H
#define SCIO_CONFIG_H

#include <stdio.h>

#include "nat64.h"
#include "scio.h"

#define SCIO_PATH_MAX 512

struct scio_config {
	int disabled;
	int connect_delay_ms;
	int resolution_delay_ms;
	int prefer_family;
	enum scio_log_level log_level;
	char log_file[SCIO_PATH_MAX];   /* "" for stderr */
	int history;                    /* enum scio_history_mode */
	char history_file[SCIO_PATH_MAX]; /* "": the default place */
	int connect_delay_explicit;     /* SCIO_CONNECT_DELAY_MS was set: a
					   fixed delay, not one history learns */
	int resolver;                   /* enum scio_resolver_mode */
	int nat64;                      /* enum scio_nat64_mode */
	struct scio_nat64_prefix nat64_prefix;  /* SCIO_NAT64_CONFIGURED's */
};

/* SCIO_RESOLVER: scio's own queries where the system's setup is plain
 * DNS (lib/stub.c), or every lookup through the system's getaddrinfo. */
enum scio_resolver_mode { SCIO_RESOLVER_STUB, SCIO_RESOLVER_SYSTEM };

/* SCIO_NAT64_PREFIX: unset, discovered when needed (RFC 7050); off; or
 * the prefix given. */
enum scio_nat64_mode { SCIO_NAT64_DISCOVER, SCIO_NAT64_OFF, SCIO_NAT64_CONFIGURED };

/* Looks a name up (secure_getenv in the shim; anything in tests). */
typedef const char *(*scio_getenv_fn)(const char *name);

/*
 * Fills *c from the environment.  Every bad value leaves its default in
 * place and adds one line to warn[] (up to warn_size bytes, truncated);
 * returns the number of bad values.
 */
int scio_config_parse(struct scio_config *c, scio_getenv_fn get,
		      char *warn, size_t warn_size);

/*
 * SCIO_SETTINGS_CHECKED: scio-run checks the settings once, before it
 * runs the program, and passes this fingerprint of the SCIO_* values it
 * checked; the shim then does not repeat their warnings in every process.
 * A value changed on the way (a script that sets its own) no longer
 * matches and warns again.  Only the settings warnings are skipped.
 */
void scio_config_fingerprint(scio_getenv_fn get, char out[17]);
int scio_config_already_checked(scio_getenv_fn get);

/* scio-run's check: parses the environment, logs the warnings (unless
 * these very values were checked already) and, when a value is bad,
 * prints the fingerprint on token_out.  Returns the number of bad values. */
int scio_config_check_settings(FILE *token_out);

/* The process's settings, parsed once (thread-safe); warnings logged. */
const struct scio_config *scio_config(void);

/* Forget the parsed settings (after fork in tests; never in the shim). */
void scio_config_reset(void);

#endif
