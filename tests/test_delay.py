"""A Connection Attempt Delay that learns (issue 18 point 4, RFC 8305
section 5), on real round-trip times: the lab's link is the delay line
(tests/netlab_delay.py, tests/c/delayline.c).

- a family known to answer in 1 ms that breaks costs the next connect the
  100 ms minimum, not 250 ms;
- a 600 ms path whose time is known is given longer than that, and wins;
- nothing known: 250 ms, as before; SCIO_CONNECT_DELAY_MS set: that;
- scio_connect in a new process reads the same history (a fixed
  connect_delay_ms turns it off)."""

import re

import pytest

import netlab
import netlab_delay
from scio_testlib import PY, SLACK, RaceOutput, prog, run_scio

PY_CONNECT = ("import socket,time; t=time.monotonic();"
              "s=socket.create_connection(('dual.test',7000));"
              "ms=(time.monotonic()-t)*1000;"
              "print(s.recv(200).decode().strip(), 'ms=%.1f' % ms)")


@pytest.fixture
def dlab(_lab_session):
    """A DelayLab with its greeting servers, closed after the test."""
    try:
        lab = netlab_delay.DelayLab()
    except (netlab.LabError, OSError) as e:
        from conftest import _unavailable
        _unavailable(str(e))
    try:
        lab.start_servers()
        yield lab
    finally:
        lab.close()


def shim_connect(lab, **env):
    """python3 under the shim connects to dual.test: (family, ms, log)."""
    res = run_scio(lab, ["-v", PY, "-c", PY_CONNECT], **env)
    assert res.returncode == 0, res
    fam = re.search(r"via (ipv[46])", res.stdout)
    ms = re.search(r"ms=([\d.]+)", res.stdout)
    logs = [l for l in res.stderr.splitlines() if l.startswith("scio[")]
    assert fam and ms and logs, res
    return fam.group(1), float(ms.group(1)), logs[-1]


def started_at(log, family):
    """When the race started its attempt of family ('IPv4'), in ms."""
    m = re.search(rf"\({family}\) at \+(\d+) ms", log)
    assert m, log
    return int(m.group(1))


def library_connect(lab, *args):
    """race_client (scio_connect) in a new process: RaceOutput."""
    res = lab.run([prog("race_client"), *args, "dual.test", "7000"], timeout=20)
    out = RaceOutput(res)
    assert out.ok, res
    return out


def ipv4_start(out):
    return [float(a["start_ms"]) for a in out.attempts if a["family"] == "4"][0]


def test_known_1ms_ipv6_that_breaks_falls_back_after_100ms(dlab):
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    for _ in range(2):
        assert shim_connect(dlab)[0] == "ipv6"
    dlab.fault("ipv6", "blackhole")
    fam, ms, log = shim_connect(dlab)
    assert fam == "ipv4", log
    # RFC 8305's minimum delay, 100 ms, instead of the 250 ms default
    at = started_at(log, "IPv4")
    assert 95 <= at < 100 + 50 * SLACK, log
    assert ms < 110 + 50 * SLACK, log
    print(f"IPv4 started at +{at} ms, connected in {ms:.1f} ms")


def test_nonblocking_connect_learns_too(dlab):
    # create_connection with a timeout: a non-blocking connect raced
    # inside the program's poll (shim/core/wait.c)
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    code = PY_CONNECT.replace("7000))", "7000), timeout=5)")
    assert "timeout=5" in code
    res = run_scio(dlab, ["-v", PY, "-c", code])
    assert "via ipv6" in res.stdout, res
    dlab.fault("ipv6", "blackhole")
    res = run_scio(dlab, ["-v", PY, "-c", code])
    assert "via ipv4" in res.stdout, res
    log = [l for l in res.stderr.splitlines() if l.startswith("scio[")][-1]
    at = started_at(log, "IPv4")
    assert 95 <= at < 100 + 50 * SLACK, log
    print(f"non-blocking: IPv4 started at +{at} ms")


def test_library_first_connect_after_the_break_learns_too(dlab):
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    assert library_connect(dlab).family == 6
    dlab.fault("ipv6", "blackhole")
    out = library_connect(dlab)
    assert out.family == 4, out
    assert 95 <= ipv4_start(out) < 100 + 50 * SLACK, out
    print(f"library: IPv4 started at +{ipv4_start(out)} ms, "
          f"connected in {out.result['ms']} ms")


def test_long_ipv6_path_wins_once_its_rtt_is_known(dlab):
    dlab.delay("ipv6", 300)   # a 600 ms satellite round trip
    dlab.delay("ipv4", 0.5)
    # taught: one connect given time enough (an explicit 2 s delay)
    fam, ms, _ = shim_connect(dlab, SCIO_CONNECT_DELAY_MS=2000)
    assert fam == "ipv6" and ms >= 590
    # now the delay outlasts the known 600 ms: IPv6 is not cut short
    for _ in range(2):
        fam, ms, log = shim_connect(dlab)
        assert fam == "ipv6", log
        assert "IPv4" not in log, log
        assert 590 <= ms < 1200, log
    print(f"IPv6 over 600 ms won in {ms:.1f} ms")


def test_nothing_known_is_250ms_as_before(dlab):
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    dlab.fault("ipv6", "blackhole")
    fam, ms, log = shim_connect(dlab)
    assert fam == "ipv4"
    at = started_at(log, "IPv4")
    assert 250 <= at < 250 + 100 * SLACK, log


def test_explicit_setting_overrides_what_history_knows(dlab):
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    assert shim_connect(dlab)[0] == "ipv6"
    dlab.fault("ipv6", "blackhole")
    fam, ms, log = shim_connect(dlab, SCIO_CONNECT_DELAY_MS=400)
    assert fam == "ipv4"
    at = started_at(log, "IPv4")
    assert 400 <= at < 400 + 100 * SLACK, log
    # and for the library too
    out = library_connect(dlab)  # history: IPv6 failed, IPv4 first
    assert out.family == 4 and out.attempts[0]["family"] == "4", out


def test_library_second_process_uses_history(dlab):
    dlab.fault("ipv6", "blackhole")
    first = library_connect(dlab)
    assert first.family == 4 and 250 <= ipv4_start(first), first
    second = library_connect(dlab)
    # IPv4 first: no delay paid at all
    assert second.family == 4 and second.attempts[0]["family"] == "4", second
    assert float(second.result["ms"]) < 50 * SLACK, second
    print(f"library: first process {first.result['ms']} ms, "
          f"second {second.result['ms']} ms")


def test_library_fixed_delay_reads_no_history(dlab):
    dlab.fault("ipv6", "blackhole")
    library_connect(dlab)
    # connect_delay_ms set: the fixed delay, as before, history untouched
    for _ in range(2):
        out = library_connect(dlab, "-d", "250")
        assert out.family == 4 and out.attempts[0]["family"] == "6", out
        assert 250 <= ipv4_start(out) < 250 + 100 * SLACK, out


def test_a_retransmitted_syn_teaches_no_delay(dlab):
    # the first SYN lost: the connect takes the 1 s retransmission timer,
    # which is not the path's round trip (Karn): nothing is learnt
    dlab.delay("ipv6", 0.5)
    dlab.delay("ipv4", 0.5)
    dlab.fault("ipv6", "lossy")
    fam, ms, _ = shim_connect(dlab, SCIO_CONNECT_DELAY_MS=2000)
    assert fam == "ipv6" and ms >= 900
    dlab.fault("ipv6", "blackhole")
    fam, ms, log = shim_connect(dlab)
    assert fam == "ipv4"
    assert 250 <= started_at(log, "IPv4") < 250 + 100 * SLACK, log
