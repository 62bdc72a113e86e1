"""fork() and the library's locks: a fork() from a signal handler that
interrupted the library while the thread held one of its locks must not
wait for that lock (the thread would wait for itself), and the child,
whose interrupted call then lets go of it, goes on using the library; a
child's lookups never wait for the parent's lookup threads."""

import subprocess
import textwrap

import pytest

from scio_testlib import PY, SAN, SLACK, prog, run_scio
from test_dnsserver import Dns, ZONE


def test_fork_from_a_handler_inside_a_library_lock():
    # SIGALRM every millisecond for 2 s, a fork whenever no child runs;
    # without the fix the first fork inside a lock hangs the program
    try:
        res = subprocess.run([prog("fork_storm"), "2"], capture_output=True,
                             text=True, timeout=60 * SLACK)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"fork_storm hung: {e.stdout!r}") from None
    assert res.returncode == 0, res
    rec = dict(w.split("=") for w in res.stdout.split())
    assert rec["hung"] == "0", res
    assert rec["children_ok"] == rec["forks"], res
    assert int(rec["forks"]) >= 20, res
    assert int(rec["inside_lock"]) >= 5, res  # the case under test did occur


# The parent resolves (its lookup threads then wait for work on the pool's
# condition variable) and forks; the child resolves three times.  In the
# child, the parent's waiting threads must not count as waiters: glibc's
# condition variable waits for its waiters to leave before it lets a later
# signal through, and those never leave.  A child that hangs dies of
# SIGALRM.
FORKED = """
    import os, signal, socket
    def lookup():
        return socket.getaddrinfo('dns-dual.test', 80, type=socket.SOCK_STREAM)
    for trial in range(3):
        for _ in range(3):
            lookup()
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)
            os._exit(0 if all(lookup() for _ in range(3)) else 1)
        _, status = os.waitpid(pid, 0)
        print("child", status)
"""


@pytest.mark.skipif(bool(SAN), reason="a forked child of a sanitizer build "
                    "does not resolve (see test_resolve.FORK_OK)")
def test_children_resolve_after_the_parent_resolved(lab, tmp_path):
    # the parent's idle lookup threads wait on the pool's condition
    # variable when it forks; the child must not wait for those waiters
    dns = Dns(lab, tmp_path, zone=ZONE, resolv="nameserver 192.0.2.10\n")
    res = run_scio(lab, [PY, "-c", textwrap.dedent(FORKED)], timeout=60)
    assert res.stdout.split() == ["child", "0"] * 3, res
    assert dns.proc.poll() is None, "the DNS server died"
