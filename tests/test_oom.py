"""Memory allocation failure: tests/preload/failalloc.c, preloaded next to
the shim, fails the Nth allocation of the process (FAILALLOC=N), or every
one from the Nth on (FAILALLOC=N+).  Each scenario first counts the
allocations of a clean run, then fails each of them in turn.  Whatever
fails (the shim's own allocations, glibc's inside getaddrinfo, the
resolver threads'), the program must get what a plain libc could give it
(a connection to the right server, a getaddrinfo error, a connect errno)
and must never crash or hang."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from scio_testlib import BUILD, PORT, SAN, SLACK, prog
from test_dnsserver import Dns, ZONE

FAILALLOC = BUILD / "tests" / "failalloc.so"
SHIM = BUILD / "libscio-preload.so"
# IPv6 is blackholed in every scenario; an AF_INET6 socket reaches IPv4
# as a mapped address
RIGHT = ("peer=192.0.2.10", "peer=::ffff:192.0.2.10")

pytestmark = pytest.mark.skipif(
    bool(SAN), reason="sanitizers bring their own allocator")

SCENARIOS = {
    # the classic loop; SO_SNDTIMEO 1 s bounds a connect that falls back
    # to the plain one into the blackhole
    "blocking, hosts-file name": (["shim_probe", "loop", "dual.test", PORT],
                                  {"PROBE_SNDTIMEO": "1"}),
    "blocking, DNS name (resolution race)": (
        ["shim_probe", "loop", "dns-dual.test", PORT], {"PROBE_SNDTIMEO": "1"}),
    "non-blocking, poll": (["nb_probe", "poll", "dual.test", PORT, "3000"], {}),
}


def run_failing(lab, argv, env, fail, count_file=None):
    """argv with the shim and the failing allocator preloaded directly
    (scio-run is a shell script: its shell must not see FAILALLOC)."""
    full = {"LD_PRELOAD": f"{SHIM}:{FAILALLOC}", "FAILALLOC_ARMED": "1",
            "SCIO_LOG": "debug", **env}
    if fail:
        full["FAILALLOC"] = fail
    if count_file:
        full["FAILALLOC_COUNT"] = str(count_file)
    return lab.run([prog(argv[0]), *argv[1:]], timeout=30 * SLACK, env=full)


def verdict(res):
    """What a plain libc program could have seen, or why not."""
    if res.timed_out:
        return "hung"
    if res.returncode < 0:
        return f"killed by signal {-res.returncode}"
    out = res.stdout
    if "gai" in out and res.returncode == 3:
        return "getaddrinfo failed"
    if res.returncode != 0:
        return f"exit {res.returncode}"
    if any(right in out for right in RIGHT):
        return "connected"
    if "peer=" in out and "peer=?" not in out:
        return "connected to the WRONG server"
    # no connection: every try got an errno a plain connect can give
    plain = ("ECONNREFUSED", "ETIMEDOUT", "EINPROGRESS", "EHOSTUNREACH",
             "ENETUNREACH", "ENOMEM", "ENOBUFS", "EAGAIN", "EINTR")
    errs = [w.split("=", 1)[1] for w in out.split() if w.startswith("errno=")]
    if errs and all(e in plain or e == "0" for e in errs):
        return "connect failed"
    return "unexpected output"


@pytest.fixture
def dns(lab, tmp_path):
    d = Dns(lab, tmp_path, zone=ZONE)
    yield d
    assert d.proc.poll() is None, "the DNS server died"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_allocation_failing_once_and_from_then_on(lab, dns, tmp_path, name):
    argv, env = SCENARIOS[name]
    lab.fault("ipv6", "blackhole")
    count_file = tmp_path / "count"
    clean = run_failing(lab, argv, env, None, count_file)
    assert verdict(clean) == "connected", clean
    total = int(count_file.read_text())
    assert total > 10  # the allocator really sat in front of the program

    cases = [str(n) for n in range(1, total + 3)]
    cases += [f"{n}+" for n in range(1, total + 3, max(1, total // 15))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(cases, pool.map(
            lambda fail: run_failing(lab, argv, env, fail), cases)))
    seen = {}
    for fail, res in results.items():
        seen.setdefault(verdict(res), []).append(fail)
    print(f"{name}: {total} allocations; outcomes:",
          {k: len(v) for k, v in seen.items()})
    bad = {k: v for k, v in seen.items()
           if k not in ("connected", "getaddrinfo failed", "connect failed")}
    assert not bad, {k: (v, results[v[0]]) for k, v in bad.items()}
    # one failed allocation is not the end of the program's connect: most
    # runs still connect, through the race or the plain connect
    once = [results[c] for c in cases if not c.endswith("+")]
    assert sum(verdict(r) == "connected" for r in once) > len(once) // 2
