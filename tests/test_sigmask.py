"""ppoll and pselect keep their atomic signal mask under the shim: a signal
blocked in the thread and let through by the call's mask interrupts the
call at once (EINTR), whether the shim races a pending connect inside it
or leaves the wait alone, and the thread's own mask is never changed."""

import pytest

from scio_testlib import PORT, SLACK, parse_records, prog, run_scio


def masked_wait(lab, call, mode, timeout_ms, shim=True, **env):
    res = run_scio(lab, [prog("sigmask_probe"), call, mode, "dual.test", PORT,
                         str(timeout_ms)], shim=shim, **env)
    assert res.returncode == 0, res
    recs = dict(parse_records(res.stdout))
    assert recs["connect"]["errno"] == "EINPROGRESS", res
    return recs["wait"], res


def assert_interrupted_at_once(wait, res):
    assert (wait["rc"], wait["errno"]) == ("-1", "EINTR"), res
    assert wait["handled"] == "1", res
    assert float(wait["ms"]) < 500 * SLACK, res
    assert wait["blocked_after"] == "1", res  # the thread's mask is its own


# (mode, timeout): a pending race on the fd waited for; the same fd with a
# wait shorter than the connection attempt delay (the shim takes its race
# branch, then leaves the wait to libc); another fd while this thread has
# a pending race (the same, after looking the race up)
CASES = [("race", 3000), ("race", 200), ("other-fd", 3000)]


@pytest.mark.parametrize("call", ["ppoll", "pselect"])
@pytest.mark.parametrize("mode,timeout_ms", CASES)
def test_masked_wait_is_interrupted_at_once(lab, call, mode, timeout_ms):
    lab.fault("all", "blackhole")
    wait, res = masked_wait(lab, call, mode, timeout_ms, shim=False)
    assert_interrupted_at_once(wait, res)  # what libc does
    wait, res = masked_wait(lab, call, mode, timeout_ms, SCIO_LOG="debug")
    assert_interrupted_at_once(wait, res)


@pytest.mark.parametrize("call", ["ppoll", "pselect"])
def test_race_resumes_after_the_masked_wait(lab, call):
    """The interrupted race is kept: the program's next wait, IPv6
    blackholed, still gets the IPv4 connection (libc: the full timeout)."""
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, [prog("sigmask_probe"), call, "race-again", "dual.test",
                         PORT, "3000"], SCIO_LOG="debug")
    recs = dict(parse_records(res.stdout))
    assert_interrupted_at_once(recs["wait"], res)
    assert recs["again"]["rc"] == "1", res
    assert float(recs["again"]["ms"]) < 1000 * SLACK, res
