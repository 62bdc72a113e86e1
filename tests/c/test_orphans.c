/*
 * test_orphans.c - the per-thread record of a race's sockets (lib/orphans.c)
 * with real sockets, real signals and real siglongjmps: what a jump out of
 * a race leaves is closed by the next race; a race started by a signal
 * handler leaves the race it interrupted alone, on the normal stack and on
 * the signal stack; a number the program reused is never closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "orphans.h"

static sigjmp_buf out;

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	return fd;
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A race owning fd; jumps out of it (as an alarm handler would) when
 * asked, else returns normally.  One function for both, so that the next
 * race starts from the same depth as the abandoned one. */
static __attribute__((noinline)) void race(int fd, int jump)
{
	int level = scio_orphans_enter();
	if (fd >= 0)
		scio_orphans_add(level, fd);
	if (jump)
		siglongjmp(out, 1);
	if (fd >= 0)
		scio_orphans_forget(level, fd);
	scio_orphans_leave(level);
}

static void jump_out_then_race_again(void)
{
	int fd = tcp_socket();
	if (sigsetjmp(out, 1) == 0)
		race(fd, 1);
	CHECK(is_open(fd));   /* nothing runs at the jump itself */
	race(-1, 0);
	CHECK(!is_open(fd));  /* the next race closed it */
}

static void normal_return_closes_nothing(void)
{
	int fd = tcp_socket();
	race(fd, 0);
	race(-1, 0);
	CHECK(is_open(fd));
	close(fd);
}

static void reused_number_is_left_alone(void)
{
	int fd = tcp_socket();
	if (sigsetjmp(out, 1) == 0)
		race(fd, 1);
	/* the program closes the socket and the number is taken again */
	close(fd);
	int again = tcp_socket();
	CHECK_EQ(again, fd);
	race(-1, 0);
	CHECK(is_open(again));
	close(again);
}

/* ---- a race started by a signal handler during another ---- */

static int outer_fd, inner_fd, inner_ok;

static void handler_races(int sig)
{
	(void)sig;
	int level = scio_orphans_enter();
	inner_ok = level >= 0;
	scio_orphans_add(level, inner_fd);
	scio_orphans_forget(level, inner_fd);
	scio_orphans_leave(level);
}

static __attribute__((noinline)) void outer_race_interrupted(int sig)
{
	int level = scio_orphans_enter();
	scio_orphans_add(level, outer_fd);
	raise(sig);  /* the handler's race runs here, deeper */
	CHECK(is_open(outer_fd));
	scio_orphans_forget(level, outer_fd);
	scio_orphans_leave(level);
}

static void nested_race(int on_altstack)
{
	static char stack[1 << 16];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	struct sigaction sa = { .sa_handler = handler_races,
				.sa_flags = on_altstack ? SA_ONSTACK : 0 };
	if (on_altstack)
		CHECK(sigaltstack(&ss, NULL) == 0);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	outer_fd = tcp_socket();
	inner_fd = tcp_socket();
	inner_ok = 0;
	outer_race_interrupted(SIGUSR1);
	CHECK(inner_ok);
	CHECK(is_open(outer_fd));
	close(outer_fd);
	close(inner_fd);
	if (on_altstack) {
		ss.ss_flags = SS_DISABLE;
		sigaltstack(&ss, NULL);
	}
}

static void handler_race_leaves_interrupted_one_alone(void)
{
	nested_race(0);
}

static void handler_race_on_signal_stack_leaves_it_alone(void)
{
	nested_race(1);
}

/* A race inside a handler on the signal stack, left by siglongjmp: the
 * next race, back on the normal stack, closes what it left. */
static void jump_handler(int sig)
{
	(void)sig;
	race(inner_fd, 1);
}

static void jump_out_of_signal_stack(void)
{
	static char stack[1 << 16];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	struct sigaction sa = { .sa_handler = jump_handler, .sa_flags = SA_ONSTACK };
	CHECK(sigaltstack(&ss, NULL) == 0);
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	inner_fd = tcp_socket();
	if (sigsetjmp(out, 1) == 0)
		raise(SIGUSR2);
	race(-1, 0);
	CHECK(!is_open(inner_fd));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
}

/* Races nested n deep (handlers within handlers): the innermost ones
 * beyond the record's depth get no level and track nothing. */
static __attribute__((noinline)) int nest(int n, int fd)
{
	int level = scio_orphans_enter();
	int deepest = n > 1 ? nest(n - 1, fd) : level;
	if (n == 1)
		scio_orphans_add(level, fd);  /* ignored when level is -1 */
	scio_orphans_leave(level);
	return deepest;
}

static void too_deep_tracks_nothing(void)
{
	int fd = tcp_socket();
	CHECK(nest(3, fd) >= 0);
	CHECK_EQ(nest(12, fd), -1);
	race(-1, 0);
	CHECK(is_open(fd));
	close(fd);
}

/* A handler's race that jumped back into the race it interrupted: when
 * that one returns, what the handler's race held is closed. */
static int jumped_fd;
static sigjmp_buf back;

static void handler_jumps_back(int sig)
{
	(void)sig;
	race(jumped_fd, 0);  /* a normal race first: nothing left */
	int level = scio_orphans_enter();
	scio_orphans_add(level, jumped_fd);
	siglongjmp(back, 1);
}

static __attribute__((noinline)) void outer_race_jumped_into(void)
{
	int level = scio_orphans_enter();
	if (sigsetjmp(back, 1) == 0)
		raise(SIGUSR1);
	CHECK(is_open(jumped_fd));
	scio_orphans_leave(level);
	CHECK(!is_open(jumped_fd));
}

static void leaving_closes_what_a_jump_left_above(void)
{
	struct sigaction sa = { .sa_handler = handler_jumps_back };
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	jumped_fd = tcp_socket();
	outer_race_jumped_into();
}

/* Without a cookie (not a socket, or a kernel without SO_COOKIE) a
 * number proves nothing: never closed. */
static void no_cookie_no_close(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	if (sigsetjmp(out, 1) == 0)
		race(p[0], 1);
	race(-1, 0);
	CHECK(is_open(p[0]));
	close(p[0]);
	close(p[1]);
}

/* The signal stack changed since the abandoned race (as SS_AUTODISARM
 * does inside a handler): where its frame was cannot be told, so its
 * sockets stay until a race sees the same signal stack again. */
static void changed_signal_stack_keeps(void)
{
	static char stack[1 << 16];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	int fd = tcp_socket();
	if (sigsetjmp(out, 1) == 0)
		race(fd, 1);
	CHECK(sigaltstack(&ss, NULL) == 0);
	race(-1, 0);
	CHECK(is_open(fd));
	ss.ss_flags = SS_DISABLE;
	CHECK(sigaltstack(&ss, NULL) == 0);
	race(-1, 0);
	CHECK(!is_open(fd));
}

int main(void)
{
	RUN(jump_out_then_race_again);
	RUN(normal_return_closes_nothing);
	RUN(reused_number_is_left_alone);
	RUN(handler_race_leaves_interrupted_one_alone);
	RUN(handler_race_on_signal_stack_leaves_it_alone);
	RUN(jump_out_of_signal_stack);
	RUN(too_deep_tracks_nothing);
	RUN(leaving_closes_what_a_jump_left_above);
	RUN(no_cookie_no_close);
	RUN(changed_signal_stack_keeps);
	return check_exit();
}
