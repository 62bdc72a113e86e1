/*
 * telar-loop.c - the default model: one process, non-blocking sockets and
 * an epoll loop, so that thousands of clients cost no process each.
 *
 * A client goes through two states.  WRITING: the line has not all been
 * sent (in practice it nearly always goes out in the first send(), right
 * after accept).  CLOSING: the line is out and our side shut down; input
 * is read and discarded until the client closes (see telar-serve.c for
 * why).  Each client has a deadline, -w seconds after it was accepted;
 * every client gets the same timeout, so a list in accept order is also
 * in deadline order and expiring clients only ever looks at its head.
 *
 * With -j N, N processes run this loop, each normally over listeners of
 * its own (see telar-workers.c).  Listeners are registered with
 * EPOLLEXCLUSIVE for when they are shared (--shared-listeners, systemd's
 * sockets): a new connection then wakes one worker rather than all.  A
 * worker accepts one connection per wake-up (the next one wakes the next
 * idle worker, and a listener with more waiting stays ready): no accept()
 * that only finds the queue empty.  Accepting until EAGAIN measured no
 * faster with listeners of its own either (4 clients in flight rarely
 * leave two connections waiting).
 *
 * The path of one connection: accept4, send, shutdown, then, at one of
 * the loop's next two wake-ups (before their new events), recv; most
 * clients have read their line and closed by then, so recv sees the close
 * and close follows: five system calls, and no wake-up of its own.  Only
 * a client still open after two wake-ups (or when the loop would sleep
 * LOOK_WAIT_MS with nothing else to do) costs an epoll_ctl, and a wake-up
 * and a recv when it closes.  Looking within the wake-up that answered
 * the client, as telar did before, found most clients under load still
 * open (not even scheduled yet): that cost an epoll_ctl, a recv and a
 * wake-up more per connection, and measured 9 to 10 us of CPU per
 * connection against 7 to 7.5 (tests/bench/telar_bench.py, 2 CPUs).  A
 * LOOK_WAIT_MS of 1 ms measured dearer than the old way; 5, 10, 20 and 50
 * ms measured alike.  A closed client keeps its -c slot until its worker
 * looks: at most LOOK_WAIT_MS.  (nginx's stream `return`
 * makes four: accept4, setsockopt TCP_NODELAY, writev, close; it does not
 * wait for the client's close, which risks a reset that destroys the line
 * at a client that sent something, see telar-serve.c.  Closing at once
 * measured about 2 us of CPU per connection cheaper here, and is not
 * done for that reason.)  The same steps on io_uring (raw system calls:
 * accept, recv and close as requests, a shutdown request runs in a kernel
 * worker thread so it stays a call) made 3.5 system calls per connection
 * instead of 7.8 and measured no cheaper: what a connection costs is the
 * kernel's TCP work and the wake-ups, not the system call entries.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "telar.h"

#define MAX_EVENTS 256
#define READS_PER_EVENT 4
/* How many wake-ups look at an answered client before it is handed to
 * epoll, and how long the loop sleeps at most while clients wait for a
 * look. */
#define LOOKS_BEFORE_WATCH 2
#define LOOK_WAIT_MS 10

enum watch_kind { WATCH_LISTENER, WATCH_CLIENT };

/* First member of everything registered with epoll (data.ptr). */
struct watch {
	enum watch_kind kind;
};

struct listen_watch {
	struct watch w;
	const struct telar_listener *l;
};

enum client_state { CLIENT_WRITING, CLIENT_CLOSING };

struct client {
	struct watch w;
	struct client *prev, *next; /* the deadline list */
	struct client *unwatched;   /* the waiting list (see look_at_answered) */
	unsigned looks;             /* wake-ups that found it still open */
	int64_t deadline;
	int fd;
	enum client_state state;
	size_t len, sent;
	char line[TELAR_LINE_MAX];
	struct telar_peer peer;
};

struct event_loop {
	int epfd;
	const struct telar_config *cfg;
	struct listen_watch listeners[TELAR_MAX_LISTENERS];
	size_t nlisteners;
	struct client *oldest, *newest;
	struct client *waiting;     /* answered, not watched: to look at */
	struct client_cap cap;
	int64_t now;                /* at the last wake-up */
	int64_t paused_until;       /* 0: accepting */
};

/* ------------------------------------------------------------ clients */

static void list_append(struct event_loop *lp, struct client *c)
{
	c->prev = lp->newest;
	c->next = NULL;
	if (lp->newest)
		lp->newest->next = c;
	else
		lp->oldest = c;
	lp->newest = c;
}

static void list_remove(struct event_loop *lp, struct client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		lp->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		lp->newest = c->prev;
}

/* Closing the fd also takes it out of the epoll set. */
static void client_close(struct event_loop *lp, struct client *c)
{
	list_remove(lp, c);
	close(c->fd);
	cap_release(&lp->cap);
	free(c);
}

static int client_watch(struct event_loop *lp, struct client *c, int op)
{
	struct epoll_event ev = {
		.events = c->state == CLIENT_WRITING ? EPOLLOUT : EPOLLIN | EPOLLRDHUP,
		.data.ptr = c,
	};

	return epoll_ctl(lp->epfd, op, c->fd, &ev);
}

/* Sends what is left of the line.  1 when all of it is out, 0 when the
 * socket is full, -1 when the client is gone.  MSG_MORE holds the line
 * back until shutdown() adds the FIN: one segment carries both. */
static int client_send(struct client *c)
{
	while (c->sent < c->len) {
		ssize_t n = send(c->fd, c->line + c->sent, c->len - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);

		if (n >= 0) {
			c->sent += (size_t)n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		} else if (errno != EINTR) {
			log_info("%s: line not delivered: %s", c->peer.text,
				 strerror(errno));
			return -1;
		}
	}
	return 1;
}

/* The line is out: end our side, wait for the client to end its side. */
static int client_start_closing(struct client *c)
{
	c->state = CLIENT_CLOSING;
	return shutdown(c->fd, SHUT_WR);
}

/* Reads and discards.  1 when the client has closed or failed. */
static int client_drain(struct client *c)
{
	char buf[4096];

	for (int i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return 1;
		if (n == -1)
			return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
	return 0; /* a talkative client: the loop comes back to it */
}

static void client_event(struct event_loop *lp, struct client *c, uint32_t events)
{
	if (c->state == CLIENT_WRITING) {
		int r = client_send(c);

		if (r == 0 && !(events & (EPOLLERR | EPOLLHUP)))
			return;
		if (r <= 0 || client_start_closing(c) == -1 ||
		    client_watch(lp, c, EPOLL_CTL_MOD) == -1)
			client_close(lp, c);
		return;
	}
	if (client_drain(c) || (events & (EPOLLERR | EPOLLHUP)))
		client_close(lp, c);
}

/* A new connection: answer at once; keep it only until the client closes. */
static void client_start(struct event_loop *lp, int fd, const struct telar_peer *peer)
{
	struct client *c;
	int r;

	if (!cap_admit(&lp->cap)) {
		refuse_client(fd, peer);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		log_error("out of memory: closing connection from %s", peer->text);
		cap_release(&lp->cap);
		close(fd);
		return;
	}
	c->w.kind = WATCH_CLIENT;
	c->fd = fd;
	c->peer = *peer;
	c->deadline = lp->now + (int64_t)lp->cfg->timeout_s * 1000;
	c->len = format_line(peer, c->line, sizeof(c->line));
	c->sent = 0;
	c->looks = 0;
	c->state = CLIENT_WRITING;
	list_append(lp, c);
	log_info("connection from %s over IPv%c", peer->text, peer->family_digit);

	r = client_send(c);
	if (r == 1 && client_start_closing(c) == 0) {
		c->unwatched = lp->waiting;
		lp->waiting = c;
		return;
	}
	if (r == -1 || client_watch(lp, c, EPOLL_CTL_ADD) == -1)
		client_close(lp, c);
}

/* Looks (recv) at the clients answered at earlier wake-ups, before the
 * new events: most have read their line and closed by now, and are closed
 * without ever being watched, their -c slots free for the connections
 * this wake-up accepts.  One still open after LOOKS_BEFORE_WATCH looks,
 * or when the loop woke for nothing but its timeout (no wake-up may come
 * to look again), is handed to epoll.  One past its deadline is closed
 * here: expire_clients() must never free a client still on this list. */
static void look_at_answered(struct event_loop *lp, int woke_idle)
{
	struct client *c = lp->waiting, *keep = NULL;

	while (c) {
		struct client *next = c->unwatched;

		if (client_drain(c) || c->deadline <= lp->now) {
			client_close(lp, c);
		} else if (woke_idle || ++c->looks >= LOOKS_BEFORE_WATCH) {
			if (client_watch(lp, c, EPOLL_CTL_ADD) == -1)
				client_close(lp, c);
		} else {
			c->unwatched = keep;
			keep = c;
		}
		c = next;
	}
	lp->waiting = keep;
}

/* Drops every client whose deadline has passed. */
static void expire_clients(struct event_loop *lp)
{
	while (lp->oldest && lp->oldest->deadline <= lp->now) {
		struct client *c = lp->oldest;

		if (c->state == CLIENT_WRITING)
			log_info("%s: line not delivered: write timeout", c->peer.text);
		client_close(lp, c);
	}
}

/* ---------------------------------------------------------- listeners */

/* EPOLL_CTL_ADD or EPOLL_CTL_DEL every listener (an EPOLLEXCLUSIVE one
 * cannot be modified, so pausing takes them out). */
static int listeners_watch(struct event_loop *lp, int op)
{
	for (size_t i = 0; i < lp->nlisteners; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					  .data.ptr = &lp->listeners[i] };

		if (epoll_ctl(lp->epfd, op, lp->listeners[i].l->fd, &ev) == -1) {
			log_error("epoll_ctl on %s: %s", lp->listeners[i].l->name,
				  strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Out of descriptors or memory: stop accepting for a moment. */
static void pause_accepting(struct event_loop *lp)
{
	if (lp->paused_until == 0 && listeners_watch(lp, EPOLL_CTL_DEL) == 0)
		lp->paused_until = lp->now + TELAR_BACKOFF_MS;
}

static void resume_accepting(struct event_loop *lp)
{
	if (lp->paused_until == 0 || lp->paused_until > lp->now)
		return;
	reserve_fd_open();
	if (listeners_watch(lp, EPOLL_CTL_ADD) == 0)
		lp->paused_until = 0;
	else
		lp->paused_until = lp->now + TELAR_BACKOFF_MS;
}

static void accept_one(struct event_loop *lp, const struct telar_listener *l)
{
	struct telar_peer peer;
	int fd = accept_client(l, &peer);

	if (fd == TELAR_ACCEPT_PAUSE)
		pause_accepting(lp);
	else if (fd != TELAR_ACCEPT_EMPTY)
		client_start(lp, fd, &peer);
}

/* ---------------------------------------------------------- the loop */

/* Milliseconds until the next deadline, the end of a pause or the look
 * at the waiting clients; -1: none. */
static int next_timeout(const struct event_loop *lp)
{
	int64_t wake = INT64_MAX;

	if (lp->oldest)
		wake = lp->oldest->deadline;
	if (lp->waiting && lp->now + LOOK_WAIT_MS < wake)
		wake = lp->now + LOOK_WAIT_MS;
	if (lp->paused_until && lp->paused_until < wake)
		wake = lp->paused_until;
	if (wake == INT64_MAX)
		return -1;
	if (wake <= lp->now)
		return 0;
	return wake - lp->now > INT_MAX ? INT_MAX : (int)(wake - lp->now);
}

static void dispatch(struct event_loop *lp, const struct epoll_event *ev)
{
	struct watch *w = ev->data.ptr;

	if (w->kind == WATCH_LISTENER)
		accept_one(lp, ((struct listen_watch *)w)->l);
	else
		client_event(lp, (struct client *)w, ev->events);
}

static int loop_init(struct event_loop *lp, struct telar_listeners *ls,
		     const struct telar_config *cfg, const struct client_cap *cap)
{
	memset(lp, 0, sizeof(*lp));
	lp->cfg = cfg;
	if (cap)
		lp->cap = *cap;
	else
		lp->cap.max = cfg->max_clients;
	lp->now = now_ms();
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->epfd == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < ls->n; i++) {
		lp->listeners[i].w.kind = WATCH_LISTENER;
		lp->listeners[i].l = &ls->l[i];
	}
	lp->nlisteners = ls->n;
	return listeners_watch(lp, EPOLL_CTL_ADD);
}

int run_event_loop(struct telar_listeners *ls, const struct telar_config *cfg,
		   const sigset_t *wait_mask, const struct client_cap *cap)
{
	struct event_loop lp;
	struct epoll_event events[MAX_EVENTS];
	int rc = TELAR_EXIT_OK;

	if (loop_init(&lp, ls, cfg, cap) == -1) {
		rc = TELAR_EXIT_FAILURE;
		goto out;
	}
	while (!telar_stop_requested) {
		int n = epoll_pwait(lp.epfd, events, MAX_EVENTS, next_timeout(&lp),
				    wait_mask);

		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			rc = TELAR_EXIT_FAILURE;
			break;
		}
		lp.now = now_ms();
		look_at_answered(&lp, n == 0);
		for (int i = 0; i < n; i++)
			dispatch(&lp, &events[i]);
		expire_clients(&lp);
		resume_accepting(&lp);
	}
out:
	/* Listeners first, so nothing new arrives while the rest closes. */
	listeners_close(ls);
	while (lp.oldest)
		client_close(&lp, lp.oldest);
	if (lp.epfd >= 0)
		close(lp.epfd);
	return rc;
}
