/*
 * scio-history - shows or clears what scio remembers about broken
 * families and paths (the per-user history store; see scio-run(1)).
 *
 *   scio-history           print the store as a table
 *   scio-history --forget  empty it
 *   scio-history --check-settings  scio-run's check of the SCIO_* values
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "history.h"

static const char *kind_name(int kind)
{
	static const char *const names[] = { "ok", "timeout", "unreachable", "refused" };
	return kind >= 0 && kind <= SCIO_FAIL_REFUSED ? names[kind] : "?";
}

static void age(int64_t then, int64_t now, char *buf, size_t size)
{
	if (!then) {
		snprintf(buf, size, "-");
		return;
	}
	int64_t s = (now - then) / 1000;
	if (s < 120)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
}

/* A network's NAT64 prefix (RFC 7050): when it was learnt, how long it
 * is still believed. */
static void print_nat64(const struct scio_hist_entry *e, int64_t now)
{
	struct scio_nat64_prefix p = { .len = e->prefix };
	char shown[SCIO_NAT64_PREFIX_STRLEN], dest[80], learnt[32], left[32];
	memcpy(&p.addr, e->addr, 16);
	snprintf(dest, sizeof(dest), "%s (NAT64 prefix)",
		 scio_nat64_prefix_str(&p, shown, sizeof(shown)));
	age(e->last_success, now, learnt, sizeof(learnt));
	if (e->last_failure > now)
		snprintf(left, sizeof(left), "%llds", (long long)((e->last_failure - now) / 1000));
	printf("%-44s IPv%-3d %-12s %9s %9s %9s\n", dest, 6,
	       e->last_failure > now ? "discovered" : "expired", "-",
	       e->last_failure > now ? left : "-", learnt);
}

static int print_store(const char *path)
{
	struct scio_hist_file *f = malloc(sizeof(*f));
	if (!f)
		return 1;
	if (scio_history_load_file(path, f) < 0) {
		printf("scio history %s: empty\n", path);
		free(f);
		return 0;
	}
	int64_t now = scio_wall_ms();
	printf("%-44s %-6s %-12s %9s %9s %9s\n", "destination", "family", "state",
	       "rtt", "failed", "worked");
	for (size_t i = 0; i < SCIO_HISTORY_SLOTS; i++) {
		const struct scio_hist_entry *e = &f->e[i];
		if (!e->kind)
			continue;
		if (e->kind == SCIO_HIST_NAT64) {
			print_nat64(e, now);
			continue;
		}
		char addr[INET6_ADDRSTRLEN], dest[64], rtt[32], failed[32], worked[32];
		inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->addr, addr, sizeof(addr));
		if (e->kind == 2)
			snprintf(dest, sizeof(dest), "%s/%d (network)", addr, e->prefix);
		else
			snprintf(dest, sizeof(dest), "%s", addr);
		int failing = scio_history_entry_failing(f, e, now);
		if (e->srtt_us)
			snprintf(rtt, sizeof(rtt), "%.1fms", e->srtt_us / 1000.0);
		else
			snprintf(rtt, sizeof(rtt), "-");
		age(e->last_failure, now, failed, sizeof(failed));
		age(e->last_success, now, worked, sizeof(worked));
		printf("%-44s IPv%-3d %-12s %9s %9s %9s\n", dest, e->family,
		       failing ? kind_name(e->fail_kind) : "ok", rtt, failed, worked);
	}
	free(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--check-settings") == 0)
		return scio_config_check_settings(stdout) ? 1 : 0;
	const struct scio_config *cfg = scio_config();
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--forget") != 0)) {
		fprintf(stderr, "usage: scio-history [--forget]\n");
		return 2;
	}
	if (cfg->history != SCIO_HISTORY_SHARED) {
		printf("scio history: no shared store (SCIO_HISTORY=%s)\n",
		       cfg->history == SCIO_HISTORY_OFF ? "off" : "process");
		return 0;
	}
	if (!scio_history_path()[0]) {
		printf("scio history: no shared store: no private directory for it "
		       "(see FILES in scio-run(1)); each process keeps its own in memory\n");
		return 0;
	}
	if (argc == 2) {
		if (scio_history_forget() < 0) {
			fprintf(stderr, "scio history %s: not a store of this user's; left untouched\n",
				scio_history_path());
			return 1;
		}
		printf("scio history %s: forgotten\n", scio_history_path());
		return 0;
	}
	return print_store(scio_history_path());
}
