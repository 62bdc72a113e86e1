"""Fault injection: fd exhaustion, signal storms, fork during a race.
The shim degrades to what a plain connect would do; it never breaks the
program."""

import pytest

from scio_testlib import PORT, SLACK, TSAN, parse_records, prog, run_scio


def probe(lab, *args, **env):
    res = run_scio(lab, [prog("shim_probe"), *args], timeout=60, **env)
    assert res.returncode == 0, res
    return res


def test_emfile_on_the_extra_sockets(lab):
    # room for the program's own socket only: IPv6 is refused, the race's
    # IPv4 socket gets EMFILE, and the program's own loop still connects
    lab.fault("ipv6", "refuse")
    res = probe(lab, "emfile", "dual.test", PORT, SCIO_LOG="info")
    tries = [f for k, f in parse_records(res.stdout) if k == "try"]
    assert [t["errno"] for t in tries] == ["ECONNREFUSED", "0"], res
    assert "peer=192.0.2.10" in res.stdout


def test_sigalrm_every_millisecond_with_sa_restart(lab):
    lab.fault("ipv6", "blackhole")
    res = probe(lab, "storm", "dual.test", PORT, "4", "1", SCIO_HISTORY="off")
    rec = parse_records(res.stdout)[-1][1]
    assert rec["ok"] == "4" and rec["eintr"] == "0", res
    # the races really ran under the storm: ticks reach the handler in the
    # race's poll; during the program's own bounded connect (3/4 of the
    # delay) signals are held and a tick arriving many times comes once
    assert int(rec["ticks"]) > 150, res


def test_sigalrm_every_millisecond_without_sa_restart(lab):
    # every tick interrupts the connect (EINTR, as without scio); the
    # program retries and the race resumes until it is won
    lab.fault("ipv6", "blackhole")
    res = probe(lab, "storm", "dual.test", PORT, "4", "0", SCIO_HISTORY="off")
    rec = parse_records(res.stdout)[-1][1]
    assert rec["ok"] == "4", res
    assert int(rec["eintr"]) > 100
    assert res.elapsed < 10


def test_fork_while_another_thread_races(lab):
    lab.fault("ipv6", "blackhole")
    res = probe(lab, "fork-race", "dual.test", PORT, SCIO_HISTORY="off")
    assert "thread rc=0" in res.stdout and "child rc=0" in res.stdout, res
    assert "child_status=0" in res.stdout


@pytest.mark.skipif(TSAN, reason=(
    "the program closes an fd another thread is connecting on: TSan reports "
    "that race (the program's bug) where scio checks the number"))
@pytest.mark.parametrize("blocking", ["1", "0"], ids=["blocking", "nonblocking"])
def test_close_from_another_thread_during_the_race(lab, blocking):
    # another thread closes the fd 100 ms into the race and a pipe takes
    # its number: the winner must not be put onto the pipe's number, and
    # the pipe's flags must stay as they are
    lab.fault("ipv6", "blackhole")
    res = probe(lab, "close-race", "dual.test", PORT, blocking,
                SCIO_HISTORY="off", SCIO_LOG="info")
    out = dict(line.split("=", 1) for line in res.stdout.split()
               if "=" in line and line.count("=") == 1)
    assert "reused=1 pipe_nonblock=1 pipe_works=1" in res.stdout, res
    assert out["fds_added"] == "2", res
    assert "closed by another thread during its race" in res.stderr
    if blocking == "1":
        # the race's winner had nowhere to go: the program's socket is gone
        assert "connect rc=-1 errno=EBADF" in res.stdout, res
        assert float(out["ms"]) < 1000 * SLACK
    else:
        # the wait goes on with the pipe now behind the number (which
        # never becomes writable from its read end): poll times out
        assert "poll rc=0" in res.stdout, res


def test_connect_from_a_signal_handler_during_a_race(lab):
    # the handler's connect races on its own, deeper on the same stack;
    # the race it interrupted must come out of it whole
    lab.fault("ipv6", "blackhole")
    res = probe(lab, "handler-connect", "dual.test", PORT, SCIO_HISTORY="off")
    assert "connect rc=0 errno=0" in res.stdout, res
    assert "peer=::ffff:192.0.2.10" in res.stdout
    assert "read_ok=1 nonblock=0" in res.stdout
    assert "handler rc=0 errno=0 read_ok=1" in res.stdout
    assert "fds_added=0" in res.stdout


def test_connect_from_a_signal_handler_every_millisecond(lab):
    # some ticks land while the program's thread holds one of the
    # library's locks: the handler's connect must not wait for it
    res = probe(lab, "handler-storm", "dual.test", PORT, "10000",
                SCIO_HISTORY="off")
    rec = dict(w.split("=") for w in res.stdout.split() if "=" in w)
    assert rec["ok"] == "10000", res
    assert int(rec["handler_calls"]) > 200
    assert rec["handler_ok"] == rec["handler_calls"], res
