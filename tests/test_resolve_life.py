"""What the resolution race leaves behind (issue 13, section 4): a
cancelled getaddrinfo leaves no thread, lock or lookup; no lookup thread
outlives the call that needed it unless its family is still being looked
up; a child forked while one is resolves on its own sockets.

tests/c/gai_probe.c is a plain C program run with the shim preloaded; the
names are served by the lab's DNS server (tests/dnsserver.py), not by the
hosts file."""

import re

import pytest

from scio_testlib import SAN, SLACK, TSAN, prog, run_scio, san_env
from test_dnsserver import Dns, ZONE

LIFE_ZONE = dict(ZONE)
# nothing answers before the cancel: the caller is still looking up
LIFE_ZONE["cancel-slow.test"] = {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                                 "AAAA_mode": "drop", "A_delay_ms": 400}
# the parent's AAAA lookup is still waiting while its children resolve
LIFE_ZONE["aaaa-late.test"] = {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                               "AAAA_delay_ms": 3000}

# a dropped query ends after 1 s, so a cancelled lookup's threads end soon
RESOLV_FAST = "nameserver 192.0.2.10\noptions timeout:1 attempts:1\n"
# glibc's defaults, as the report that found the fork problem had them
RESOLV_DEFAULT = "nameserver 192.0.2.10\n"


# GCC 12's libasan can hang a child that allocates, TSan cannot start
# threads in it: the fork tests run on the plain build
FORK_UNSAFE_UNDER_SAN = pytest.mark.skipif(
    bool(SAN), reason="sanitizer runtimes are not fork-safe in a multi-threaded process")


def dns_with(lab, tmp_path, resolv):
    return Dns(lab, tmp_path, zone=LIFE_ZONE, resolv=resolv)


def probe(lab, *args, timeout=60, **env):
    res = run_scio(lab, [prog("gai_probe"), *map(str, args)], timeout=timeout,
                   **env)
    assert not res.timed_out, res
    return res


@pytest.mark.skipif(TSAN, reason="TSan's getaddrinfo interceptor "
                    "ignores synchronization until it returns, so a thread "
                    "cancelled inside it ends with a TSan report")
@pytest.mark.parametrize("name,env", [
    # cancelled while its own lookup of the first family runs
    ("cancel-slow.test", {}),
    # cancelled while it waits for the dropped AAAA (A answered)
    ("aaaa-drop.test", {"SCIO_RESOLUTION_DELAY_MS": "2000"}),
])
@pytest.mark.skipif("address" in SAN, reason=(
    "ASan leaves the redzones of the frames a cancellation unwinds poisoned, "
    "and its own __asan_handle_no_return then reports the stack_t it gives "
    "sigaltstack there (seen in CI with use_sigaltstack=0 too): a report "
    "about GCC 12's ASan runtime, not about the shim"))
def test_cancelled_getaddrinfo_leaves_nothing_behind(lab, tmp_path, name, env):
    dns_with(lab, tmp_path, RESOLV_FAST)
    res = probe(lab, "cancel", name, 100, int(15 * SLACK), **env)
    out = res.stdout
    # getaddrinfo is a cancellation point and stays one
    assert "cancelled ended=1 canceled=1" in out, res
    for i in range(3):
        m = re.search(rf"lookup {i} done=(\d) rc=(-?\d+) ms=(\d+)", out)
        assert m and m.group(1) == "1" and m.group(2) == "0", res
        assert int(m.group(3)) < 3000 * SLACK, res
    m = re.search(r"threads before=(\d+) after=(\d+)", out)
    assert m and m.group(1) == m.group(2), res


def child_times(out):
    return [(int(rc), int(ms)) for rc, ms in
            re.findall(r"child \d+ rc=(-?\d+) ms=(\d+)", out)]


def child_addrs(out):
    return [int(n) for n in re.findall(r"child \d+ rc=0 ms=\d+ addrs=(\d+)", out)]


@FORK_UNSAFE_UNDER_SAN
def test_children_forked_during_a_lookup_resolve_on_their_own(lab, tmp_path):
    """The parent's AAAA lookup (dropped) is still running at each fork;
    every child must resolve at once, on sockets of its own."""
    dns_with(lab, tmp_path, RESOLV_DEFAULT)
    res = probe(lab, "fork", "aaaa-drop.test", 16, timeout=180)
    times = child_times(res.stdout)
    assert len(times) == 16, res
    assert all(rc == 0 and ms < 2000 for rc, ms in times), res


@FORK_UNSAFE_UNDER_SAN
def test_children_get_both_families_while_the_parent_waits_for_aaaa(lab, tmp_path):
    """The parent's AAAA query waits for its answer (3 s) while children
    resolve a healthy name: each child's AAAA query must go out on a
    socket of its own, or the parent reads the answer and the child gets
    only A."""
    dns_with(lab, tmp_path, RESOLV_DEFAULT)
    res = probe(lab, "fork", "aaaa-late.test", 16, 1, "dns-dual.test", timeout=180)
    assert child_addrs(res.stdout) == [2] * 16, res
    assert all(ms < 2000 for _, ms in child_times(res.stdout)), res


@FORK_UNSAFE_UNDER_SAN
def test_child_does_not_inherit_the_lookups_in_flight(lab, tmp_path):
    """16 lookups whose AAAA is dropped are still in flight in the parent
    (the most the race runs at once); a child has none, so its lookup is
    raced, not passed to glibc to wait for the AAAA."""
    dns_with(lab, tmp_path, RESOLV_DEFAULT)
    res = probe(lab, "fork", "aaaa-drop.test", 2, 16, timeout=120)
    times = child_times(res.stdout)
    assert len(times) == 2, res
    assert all(rc == 0 and ms < 2000 for rc, ms in times), res


def test_no_thread_outlives_a_healthy_lookup(lab, tmp_path):
    dns_with(lab, tmp_path, RESOLV_FAST)
    res = probe(lab, "threads", "dns-dual.test")
    m = re.search(r"rc=0 threads before=(\d+) after=(\d+)", res.stdout)
    assert m and m.group(1) == m.group(2), res
