"""The SCIO core's race and serial connect against real broken networks.

Each test gets a private lab (tests/netlab.py): a client namespace where
dual.test and friends resolve through a hosts file, and a server namespace
whose IPv6/IPv4 paths can be blackholed, refused, made unreachable or lossy.
race_client (tests/c/race_client.c) prints every attempt the race made.
"""

import pytest

from scio_testlib import PORT, RaceOutput, assert_no_sanitizer_report, prog


def race(lab, *args, timeout=30):
    res = lab.run([prog("race_client"), *args], timeout=timeout)
    assert not res.timed_out, res
    assert_no_sanitizer_report(res)
    return RaceOutput(res)


def starts(out):
    return [float(a["start_ms"]) for a in out.attempts]


def addrs(out):
    return [a["addr"] for a in out.attempts]


# ---- both families fine ----

def test_both_fine_ipv6_wins_at_once(lab):
    out = race(lab, "dual.test", PORT)
    assert out.ok, out.res
    assert out.family == 6
    assert out.result["line"].startswith("hello from 2001:db8::10")
    assert addrs(out) == ["2001:db8::10"], "no second attempt when the first connects"
    assert float(out.result["ms"]) < 200
    assert out.result["blocking"] == "1" and out.result["cloexec"] == "1"


def test_prefer_ipv4_starts_with_ipv4(lab):
    out = race(lab, "-P", "ipv4", "dual.test", PORT)
    assert out.ok and out.family == 4
    assert addrs(out) == ["192.0.2.10"]


# ---- IPv6 broken ----

def test_ipv6_blackholed_ipv4_wins_after_the_delay(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "dual.test", PORT)
    assert out.ok and out.family == 4, out.res
    assert addrs(out) == ["2001:db8::10", "192.0.2.10"]
    v6, v4 = out.attempts
    assert 240 <= float(v4["start_ms"]) < 400
    assert v6["end_ms"] == "-1.0" and v6["error"] == "ECANCELED"
    assert v4["won"] == "1"
    assert out.res.elapsed < 1.0


@pytest.mark.parametrize("kind,errno", [("refuse", "ECONNREFUSED"),
                                        ("noroute", "ENETUNREACH")])
def test_ipv6_failing_fast_starts_ipv4_at_once(lab, kind, errno):
    lab.fault("ipv6", kind)
    out = race(lab, "dual.test", PORT)
    assert out.ok and out.family == 4, out.res
    v6, v4 = out.attempts
    assert v6["error"] == errno
    assert float(v4["start_ms"]) < 50, "no waiting for the delay after a failure"
    assert float(out.result["ms"]) < 150


def test_ipv6_icmp_unreachable_starts_ipv4_at_once(lab):
    lab.fault("ipv6", "unreachable")
    out = race(lab, "dual.test", PORT)
    assert out.ok and out.family == 4, out.res
    assert out.attempts[0]["error"] == "EHOSTUNREACH"
    assert float(out.attempts[1]["start_ms"]) < 50


def test_ipv4_icmp_unreachable_fails_at_once(lab):
    lab.fault("ipv4", "unreachable")
    out = race(lab, "-P", "ipv4", "dual.test", PORT)
    assert out.ok and out.family == 6, out.res
    assert out.attempts[0]["error"] == "EHOSTUNREACH"
    assert float(out.attempts[1]["start_ms"]) < 50


def test_ipv4_broken_ipv6_wins(lab):
    lab.fault("ipv4", "blackhole")
    out = race(lab, "dual.test", PORT)
    assert out.ok and out.family == 6
    assert addrs(out) == ["2001:db8::10"]


def test_custom_delay(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-d", "50", "dual.test", PORT)
    assert out.ok and out.family == 4
    assert 40 <= starts(out)[1] < 200


# ---- several addresses per family ----

def test_multi_interleaves_families_and_spaces_starts(lab):
    lab.fault("2001:db8::10", "blackhole")
    lab.fault("192.0.2.10", "blackhole")
    lab.fault("2001:db8::11", "refuse")
    out = race(lab, "multi.test", PORT)
    assert out.ok, out.res
    assert addrs(out) == ["2001:db8::10", "192.0.2.10", "2001:db8::11",
                          "192.0.2.11"]
    assert out.result["peer"] == "192.0.2.11"
    t = starts(out)
    assert t[0] < 5
    # each start waits for the delay while others are still in flight,
    # even right after ::11 was refused
    for a, b in zip(t, t[1:]):
        assert b - a >= 240, t
    assert out.attempts[2]["error"] == "ECONNREFUSED"
    assert len(set(addrs(out))) == len(addrs(out)), "no address twice"


def test_multi_all_refused_but_last_goes_through_quickly(lab):
    for a in ["2001:db8::10", "2001:db8::11", "2001:db8::12",
              "192.0.2.10", "192.0.2.11"]:
        lab.fault(a, "refuse")
    out = race(lab, "multi.test", PORT)
    assert out.ok and out.result["peer"] == "192.0.2.12", out.res
    assert len(out.attempts) == 6
    assert float(out.result["ms"]) < 200


# ---- everything dead ----

def test_all_refused_reports_the_first_address_error(lab):
    lab.fault("ipv6", "unreachable")
    lab.fault("ipv4", "refuse")
    out = race(lab, "dual.test", PORT)
    assert not out.ok
    assert out.result["error"] in ("EHOSTUNREACH", "ENETUNREACH", "EACCES")
    assert out.result["error"] == out.attempts[0]["error"]
    assert out.res.returncode == 1


def test_all_blackholed_deadline_honoured(lab):
    lab.fault("all", "blackhole")
    out = race(lab, "-t", "1000", "multi.test", PORT)
    assert not out.ok
    assert out.result["error"] == "ETIMEDOUT"
    assert 0.95 <= float(out.result["ms"]) / 1000 < 1.5
    assert len(out.attempts) == 4  # at 0, 250, 500, 750 ms


def test_all_blackholed_without_deadline_waits_for_the_kernel(lab):
    # tcp_syn_retries=1: the kernel gives up after about 3 s
    lab.sysctl_client("net.ipv4.tcp_syn_retries", 1)
    lab.fault("all", "blackhole")
    out = race(lab, "dual.test", PORT)
    assert not out.ok
    assert out.result["error"] == "ETIMEDOUT"
    assert 2.5 < out.res.elapsed < 8
    assert all(a["error"] == "ETIMEDOUT" for a in out.attempts)


def test_lossy_ipv6_first_syn_lost_ipv4_wins(lab):
    lab.fault("ipv6", "lossy")
    out = race(lab, "dual.test", PORT)
    assert out.ok and out.family == 4


# ---- serial connect: slow where it should be ----

def test_serial_both_fine(lab):
    out = race(lab, "-s", "dual.test", PORT)
    assert out.ok and out.family == 6


def test_serial_waits_its_timeout_per_address(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-s", "-t", "1500", "dual.test", PORT)
    assert out.ok and out.family == 4
    assert out.attempts[0]["error"] == "ETIMEDOUT"
    assert 1.4 < float(out.result["ms"]) / 1000 < 3


def test_serial_all_refused(lab):
    lab.fault("all", "refuse")
    out = race(lab, "-s", "dual.test", PORT)
    assert not out.ok and out.result["error"] == "ECONNREFUSED"
    assert len(out.attempts) == 2


# ---- names and bad input ----

@pytest.mark.parametrize("serial", [[], ["-s"]])
def test_unknown_name_is_a_resolution_error(lab, serial):
    out = race(lab, *serial, "nosuch.test", PORT)
    assert not out.ok
    # NXDOMAIN or, with no DNS server in the lab, EAI_AGAIN: either way a
    # getaddrinfo code with its own message, not a connect errno
    assert out.result["gai"] != "0"
    assert out.result["gai_msg"] != "-"
    assert out.attempts == []


def test_unknown_service_is_a_resolution_error(lab):
    out = race(lab, "dual.test", "no-such-service")
    assert not out.ok and out.result["gai"] != "0"


def test_empty_host_is_einval(lab):
    out = race(lab, "", PORT)
    assert not out.ok and out.result["error"] == "EINVAL"


def test_ipv4_only_and_ipv6_only_names(lab):
    assert race(lab, "v4only.test", PORT).family == 4
    assert race(lab, "v6only.test", PORT).family == 6
    out = race(lab, "-4", "dual.test", PORT)
    assert out.ok and out.family == 4 and len(out.attempts) == 1


# ---- resources ----

def test_no_fd_leak_after_1000_races(lab):
    lab.fault("ipv6", "refuse")
    out = race(lab, "-n", "1000", "dual.test", PORT, timeout=120)
    fds = dict(out.res.stdout.split()[i].split("=")
               for i in range(1, 4))
    assert fds["failures"] == "0"
    assert fds["before"] == fds["after"], out.res.stdout


def test_no_fd_leak_when_attempts_are_abandoned(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-d", "10", "-n", "100", "dual.test", PORT, timeout=60)
    fds = dict(kv.split("=") for kv in out.res.stdout.split()[1:])
    assert fds["failures"] == "0"
    assert fds["before"] == fds["after"], out.res.stdout


def test_fds_above_fd_setsize(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-H", "dual.test", PORT)
    assert out.ok and out.family == 4, out.res


def test_emfile_on_the_second_socket(lab):
    # room for the first socket only: IPv6 hangs, IPv4 cannot even get a
    # socket, and the race still reports the first address's error
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-L", "1", "-t", "600", "dual.test", PORT)
    assert not out.ok, out.res
    assert out.result["error"] == "ETIMEDOUT"
    assert out.attempts[1]["error"] == "EMFILE"


# ---- the lower-level race (scio_race_connect) over a given answer ----

def test_lower_level_race_takes_the_default_delay_when_asked_to_learn(lab):
    # scio_options_init's delay is "learn", which a bare race has no
    # history for: the fixed 250 ms, not an attempt every few microseconds
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-r", "dual.test", PORT)
    assert out.ok and out.family == 4, out.res
    assert starts(out)[:2] == [0.0, pytest.approx(250, abs=100)], out.res


def test_lower_level_race_clamps_its_delay(lab):
    lab.fault("ipv6", "blackhole")
    out = race(lab, "-r", "-d", "1", "dual.test", PORT)
    assert out.ok and out.family == 4, out.res
    assert 9.0 <= starts(out)[1] < 100, out.res
