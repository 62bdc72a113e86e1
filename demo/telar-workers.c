/*
 * telar-workers.c - -j N: N worker processes, each running the event loop
 * (telar-loop.c), and the parent that starts them, restarts them and stops
 * them.
 *
 * Processes rather than threads: threads over the same listeners measured
 * no faster here (side by side, within noise of each other), while a
 * worker process is the single-threaded loop of -j 1 unchanged, shares no
 * descriptor table (accept() and close() in one never wait for another's)
 * and can die without taking the others with it.
 *
 * When telar binds its own sockets, each worker has a listener pair of its
 * own, in one SO_REUSEPORT group per address, marked with the worker's CPU
 * (SO_INCOMING_CPU), and runs pinned to that CPU: a connection goes to the
 * worker on the CPU that took its packets, which wakes up there.  Measured
 * side by side on a 2-CPU VM (tests/bench/telar_bench.py), that served 1.5
 * to 1.8 times the connections per second of the shared listeners, at 0.67
 * to 0.77 of their CPU time per connection: waking an idle worker on the
 * other CPU is what cost, not the system calls.  The shared listeners (one pair, EPOLLEXCLUSIVE waking one
 * worker per connection) remain for socket activation, which hands over
 * one socket per address, and with --shared-listeners, for a network card
 * that delivers every packet to one CPU (its worker would get them all).
 *
 * The parent binds, drops its privileges and only then forks, so every
 * worker runs as the unprivileged user from its first instruction.  It
 * keeps the listeners open, so a worker that dies can be replaced without
 * binding again (which the unprivileged parent could not do for port 23).
 * A worker that dies is replaced, unless it had run for less than a
 * second: a worker that cannot even start would only die again, so then
 * telar stops every worker and exits with status 1.
 *
 * The -c cap covers all workers: the count of clients is in memory they
 * share (see struct client_cap).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "telar.h"

/* A worker that ends sooner than this after its start is not restarted. */
#define MIN_WORKER_LIFE_MS 1000
/* How long stopping waits for workers before SIGKILL. */
#define STOP_GRACE_MS 5000

struct shared_counts {
	unsigned active;                        /* clients, all workers */
	unsigned per_worker[TELAR_MAX_WORKERS]; /* each one's share */
};

struct worker {
	pid_t pid;          /* 0: not running */
	int64_t started;
};

struct pool {
	struct telar_listeners *sets;
	unsigned nsets;             /* 1: shared by every worker */
	const struct telar_config *cfg;
	const sigset_t *wait_mask;
	struct shared_counts *counts;
	struct worker w[TELAR_MAX_WORKERS];
	unsigned n;
};

unsigned cpu_count(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return 1;
	return n > TELAR_MAX_WORKERS ? TELAR_MAX_WORKERS : (unsigned)n;
}

int worker_cpu(unsigned i)
{
	cpu_set_t set;
	int n;
	unsigned nth;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return -1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return -1;
	nth = i % (unsigned)n;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &set) && nth-- == 0)
			return cpu;
	}
	return -1;
}

/* Worker i keeps its own listeners only, and runs on their CPU. */
static struct telar_listeners *own_listeners(struct pool *p, unsigned i)
{
	cpu_set_t set;
	struct telar_listeners *mine;

	if (p->nsets == 1)
		return &p->sets[0];
	mine = &p->sets[i];
	for (unsigned j = 0; j < p->nsets; j++) {
		if (j != i)
			listeners_close(&p->sets[j]);
	}
	CPU_ZERO(&set);
	if (mine->cpu >= 0) {
		CPU_SET(mine->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) == -1)
			log_warning("worker %u: cannot run on CPU %d only: %s", i + 1,
				    mine->cpu, strerror(errno));
	}
	return mine;
}

TELAR_NORETURN
static void worker_main(struct pool *p, unsigned i, pid_t parent)
{
	struct client_cap cap = {
		.max = p->cfg->max_clients,
		.shared_active = &p->counts->active,
		.mine = &p->counts->per_worker[i],
	};

	/* Gone with the parent, however it ended. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(TELAR_EXIT_FAILURE);
	_exit(run_event_loop(own_listeners(p, i), p->cfg, p->wait_mask, &cap));
}

static int start_worker(struct pool *p, unsigned i)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == -1) {
		log_error("cannot start worker %u: fork: %s", i + 1, strerror(errno));
		return -1;
	}
	if (pid == 0)
		worker_main(p, i, parent);
	p->w[i].pid = pid;
	p->w[i].started = now_ms();
	return 0;
}

static struct worker *worker_by_pid(struct pool *p, pid_t pid, unsigned *index)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].pid == pid) {
			*index = i;
			return &p->w[i];
		}
	}
	return NULL;
}

/* "exited with status 1", "killed by signal 9 (Killed)" */
static void describe_end(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

/* The clients a dead worker had are no longer served. */
static void forget_clients(struct pool *p, unsigned i)
{
	unsigned had = __atomic_exchange_n(&p->counts->per_worker[i], 0,
					   __ATOMIC_RELAXED);

	__atomic_sub_fetch(&p->counts->active, had, __ATOMIC_RELAXED);
}

/* Reaps the workers that ended and replaces them.  -1 when one may not
 * be replaced (it died young, or fork failed): telar must stop. */
static int replace_dead_workers(struct pool *p)
{
	pid_t pid;
	int status, rc = 0;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;
		struct worker *w = worker_by_pid(p, pid, &i);
		char how[96];

		if (!w)
			continue;
		w->pid = 0;
		forget_clients(p, i);
		describe_end(status, how, sizeof(how));
		if (now_ms() - w->started < MIN_WORKER_LIFE_MS) {
			log_error("worker %u (pid %ld) %s right after it started: "
				  "stopping", i + 1, (long)pid, how);
			rc = -1;
		} else if (rc == 0) {
			log_error("worker %u (pid %ld) %s: starting another", i + 1,
				  (long)pid, how);
			rc = start_worker(p, i);
		}
	}
	return rc;
}

static unsigned workers_running(const struct pool *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->n; i++)
		n += p->w[i].pid != 0;
	return n;
}

static void signal_workers(struct pool *p, int sig)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].pid)
			kill(p->w[i].pid, sig);
	}
}

static void reap_finished(struct pool *p)
{
	pid_t pid;
	int status;
	unsigned i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = worker_by_pid(p, pid, &i);

		if (w)
			w->pid = 0;
	}
}

/* SIGTERM to every worker, and wait for all of them (SIGKILL after the
 * grace time): no worker outlives telar, none is left a zombie. */
static void stop_workers(struct pool *p)
{
	int64_t deadline = now_ms() + STOP_GRACE_MS;
	struct timespec tick = { 0, 5 * 1000000 };

	signal_workers(p, SIGTERM);
	for (;;) {
		reap_finished(p);
		if (workers_running(p) == 0)
			return;
		if (now_ms() >= deadline) {
			log_error("workers still running %d s after SIGTERM: killing "
				  "them", STOP_GRACE_MS / 1000);
			signal_workers(p, SIGKILL);
			deadline = INT64_MAX;
		}
		nanosleep(&tick, NULL);
	}
}

static struct shared_counts *shared_counts_map(void)
{
	void *m = mmap(NULL, sizeof(struct shared_counts), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		log_error("mmap: %s", strerror(errno));
		return NULL;
	}
	return m;
}

int run_workers(struct telar_listeners *sets, unsigned nsets,
		const struct telar_config *cfg, const sigset_t *wait_mask)
{
	static struct pool p; /* TELAR_MAX_WORKERS entries: not on the stack */
	int rc = TELAR_EXIT_OK;

	p.sets = sets;
	p.nsets = nsets;
	p.cfg = cfg;
	p.wait_mask = wait_mask;
	p.n = cfg->workers;
	p.counts = shared_counts_map();
	if (!p.counts)
		return TELAR_EXIT_FAILURE;
	for (unsigned i = 0; i < p.n && rc == TELAR_EXIT_OK; i++) {
		if (start_worker(&p, i) == -1)
			rc = TELAR_EXIT_FAILURE;
	}
	/* Signals are blocked but while suspended: none is missed. */
	while (rc == TELAR_EXIT_OK && !telar_stop_requested) {
		if (telar_child_exited) {
			telar_child_exited = 0;
			if (replace_dead_workers(&p) == -1) {
				rc = TELAR_EXIT_FAILURE;
				break;
			}
			continue;
		}
		sigsuspend(wait_mask);
	}
	stop_workers(&p);
	munmap(p.counts, sizeof(*p.counts));
	return rc;
}
