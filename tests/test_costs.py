"""What the shim costs on the paths almost every program takes (issue 18,
points 2 and 3), counted in system calls with strace: a healthy DNS
lookup through scio's own queries and through the system's getaddrinfo
(its handoff to a helper thread), and a blocking connect that wins
within the Connection Attempt Delay.

The programs are tests/c/bench_gai_connect.c (getaddrinfo and the classic
connect loop, one thread), run with the shim preloaded in the lab."""

import re

import pytest

from scio_testlib import BUILD, PORT, SAN, prog
from test_dnsserver import Dns

SHIM = str(BUILD / "libscio-preload.so")
RESOLV = "nameserver 192.0.2.10\noptions timeout:1 attempts:1\n"

# sanitizer runtimes make calls of their own (and intercept futexes)
pytestmark = pytest.mark.skipif(bool(SAN), reason="counts the plain build's calls")


def strace(lab, tmp_path, argv, what="-c", env=(), shim=True):
    out = tmp_path / "strace.txt"
    preload = [f"LD_PRELOAD={SHIM}"] if shim else []
    res = lab.run(["strace", "-f", "-qq", what, "-o", str(out), "env",
                   *preload, "SCIO_HISTORY=off", *env, *argv], timeout=120)
    assert res.returncode == 0, res
    return out.read_text()


def calls_of(summary, name):
    for line in summary.splitlines():
        f = line.split()
        if f and f[-1] == name:
            return int(f[3])
    return 0


def test_a_healthy_lookup_hands_off_with_about_one_futex_call(lab, tmp_path):
    """Through the system's getaddrinfo (SCIO_RESOLVER=system, or a setup
    the stub does not take), the caller joins its helper (the Resolution
    Delay as the join's deadline) instead of a condition variable and a
    join: about one futex call per lookup, where there were four or five."""
    Dns(lab, tmp_path, resolv=RESOLV)
    lookups = 50
    summary = strace(lab, tmp_path, [prog("bench_gai_connect"), "dns-dual.test",
                                     PORT, str(lookups)], env=["SCIO_RESOLVER=system"])
    assert calls_of(summary, "clone3") >= lookups, summary  # each one raced
    assert calls_of(summary, "futex") <= 2 * lookups, summary


def test_the_library_follows_scio_resolver(lab, tmp_path):
    """scio_connect looks names up as the shim does: scio's own queries
    (one sendmmsg, no thread), and with SCIO_RESOLVER=system the system's
    getaddrinfo per family (a helper thread, no sendmmsg of scio's; glibc
    sends one query with send).  It ignored the setting before."""
    Dns(lab, tmp_path, resolv=RESOLV)
    argv = [prog("race_client"), "dns-dual.test", PORT]
    stub = strace(lab, tmp_path, argv, shim=False)
    assert calls_of(stub, "sendmmsg") == 1 and calls_of(stub, "clone3") == 0, stub
    system = strace(lab, tmp_path, argv, env=["SCIO_RESOLVER=system"], shim=False)
    assert calls_of(system, "sendmmsg") == 0 and calls_of(system, "clone3") >= 1, system


def total_calls(summary):
    return int(next(l for l in summary.splitlines() if l.rstrip().endswith("total")).split()[3])


def test_a_healthy_lookup_through_the_stub_costs_fewer_calls_than_glibc(lab, tmp_path):
    """scio's own queries (lib/stub.c): no thread, no futex, and fewer
    system calls per lookup and connect than glibc's own lookup makes
    (which reads /etc/hosts, dumps the addresses over netlink and
    connects a UDP socket per address to sort them)."""
    Dns(lab, tmp_path, resolv=RESOLV)
    lookups = 50
    argv = [prog("bench_gai_connect"), "dns-dual.test", PORT, str(lookups)]
    summary = strace(lab, tmp_path, argv)
    assert calls_of(summary, "clone3") == calls_of(summary, "clone") == 0, summary
    assert calls_of(summary, "futex") < lookups / 5, summary  # the process's own start
    assert calls_of(summary, "sendmmsg") == lookups, summary
    plain = strace(lab, tmp_path, argv, shim=False)
    assert total_calls(summary) < total_calls(plain), (summary, plain)


def test_a_blocking_connect_within_the_delay_costs_seven_calls(lab, tmp_path):
    """Beyond libc's connect: SO_PROTOCOL, getsockname, the SO_SNDTIMEO
    get, set and restore, the signal mask held and let go.  Its status
    flags are learnt from the connect's own EINPROGRESS, so no F_GETFL
    (docs/DESIGN.md, "The shim's connect()")."""
    trace = strace(lab, tmp_path, [prog("bench_gai_connect"), "dual.test", PORT, "1"],
                   what="-etrace=all")
    lines = trace.splitlines()
    start = next(i for i, l in enumerate(lines) if re.search(r"socket\(AF_INET6?, SOCK_STREAM", l))
    fd = re.search(r"= (\d+)$", lines[start]).group(1)
    # up to the signal mask let go after the connect
    conn = next(i for i in range(start, len(lines)) if re.search(rf"connect\({fd},", lines[i]))
    end = next(i for i in range(conn, len(lines)) if "rt_sigprocmask(SIG_SETMASK" in lines[i])
    calls = [re.sub(r"^\d+ +", "", l).split("(")[0] for l in lines[start + 1:end + 1]]
    assert "fcntl" not in calls, calls
    assert calls == ["getsockopt", "getsockname", "getsockopt", "rt_sigprocmask",
                     "setsockopt", "connect", "setsockopt", "rt_sigprocmask"], calls
