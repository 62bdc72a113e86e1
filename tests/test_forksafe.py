"""fork() from a signal handler that interrupted the library while the
thread held one of its locks: the library's atfork handlers must not wait
for that lock (the thread would wait for itself), and the child, whose
interrupted call then lets go of it, goes on using the library."""

import subprocess

from scio_testlib import SLACK, prog


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
