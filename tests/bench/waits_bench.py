#!/usr/bin/env python3
"""Issue 16's figures: the race inside the program's own waits.

  1. What a program that never races pays for the interposed waits:
     poll, epoll_wait and epoll_ctl on a pipe (tests/c/bench_poll.c,
     tests/c/bench_epoll.c), without and with the shim, pinned to one CPU,
     in alternated rounds; the ratio is the median of the rounds' ratios.
  2. IPv6 blackholed (tcp_syn_retries=1 in the client namespace, so a
     blackholed SYN gives up after about 3 s): each program of
     tests/test_waits.py with and without scio, alternated, seconds,
     median of 5; a run without scio is stopped at CAP.  History off: a
     first connect, not one history helped.

    run(lab, row)   for tests/bench/run.py: lab is a netlab.Lab without
                    faults or servers; row(scenario, measure, value,
                    note="") records
    SCIO_BUILD=$PWD/build python3 tests/bench/waits_bench.py
                    standalone: its own lab, prints the rows
"""

import re
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import netlab  # noqa: E402
from scio_testlib import BUILD, PORT, SCIO_RUN, prog  # noqa: E402
from test_waits import EPOLL_CASES, PROGRAMS, start_rsyncd  # noqa: E402

SHIM = str(BUILD / "libscio-preload.so")
CAP = 5.0
NO_HISTORY = {"SCIO_HISTORY": "off"}


def ns_per_call(lab, argv, env):
    res = lab.run(["taskset", "-c", "1", *argv], env=env, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    return float(res.stdout.strip().split("=")[1])


def wait_costs(lab, row, rounds=25, count=300000):
    """poll / epoll_wait / epoll_ctl on a pipe, no race anywhere."""
    calls = [("poll()", [prog("bench_poll"), str(count)]),
             ("epoll_wait()", [prog("bench_epoll"), "wait", str(count)]),
             ("epoll_ctl(MOD)", [prog("bench_epoll"), "ctl", str(count)])]
    for name, argv in calls:
        plain, shim, ratios = [], [], []
        for i in range(rounds):
            # alternate which goes first, so drift hits both alike
            order = [None, {"LD_PRELOAD": SHIM}]
            if i % 2:
                order.reverse()
            got = {}
            for env in order:
                got[env is None] = ns_per_call(lab, argv, env)
            plain.append(got[True])
            shim.append(got[False])
            ratios.append(got[False] / got[True])
        row("no race pending", f"{name} on a pipe without / with the shim",
            f"{statistics.median(plain):.0f} / {statistics.median(shim):.0f} ns/call",
            f"ratio {statistics.median(ratios):.3f} (median of {rounds} paired rounds; "
            "target ≤ 1.02)")


def c_clients():
    """The C clients as the tests run them, but with a 5 s budget."""
    out = {}
    for mode, wait, slice_ms in EPOLL_CASES:
        out[f"C epoll client, {mode}, {wait} in {slice_ms} ms slices"] = [
            prog("epoll_client"), "-w", wait, "-s", str(slice_ms), mode, "dual.test", PORT]
    out["C epoll client, socket bound to [::]:0 first"] = [
        prog("epoll_client"), "-b", "::", "-s", "100", "level", "dual.test", PORT]
    return out


def outcome(res):
    """Seconds, or why the run did not connect."""
    if res.timed_out:
        return f"> {CAP:.0f} s (stopped)"
    failed = res.returncode != 0 or "so_error=ETIMEDOUT" in res.stdout
    return f"{res.elapsed:.3f} s" + (" (failed)" if failed else "")


def seconds(name, res):
    """The real programs: the whole run, as their user waits for it.  The
    C clients: the connect (their line connected ... ms=), without the
    200 ms they wait afterwards to check for a second event."""
    if name.startswith("C "):
        m = re.search(r"^connected so_error=\S+ .* ms=(\d+)$", res.stdout, re.M)
        return int(m.group(1)) / 1000 if m else res.elapsed
    return res.elapsed


def bad(res):
    return res.timed_out or res.returncode != 0 or "so_error=ETIMEDOUT" in res.stdout


def blackholed_programs(lab, row, runs=5):
    lab.sysctl_client("net.ipv4.tcp_syn_retries", 1)
    lab.start_servers(port=int(PORT))
    with tempfile.TemporaryDirectory() as tmp:
        start_rsyncd(lab, Path(tmp))
        lab.fault("ipv6", "blackhole")
        programs = {**{f"{n} ({' '.join(a[:2])})" if n == "node" else n: a
                       for n, a in sorted(PROGRAMS.items())}, **c_clients()}
        for name, argv in programs.items():
            times = {True: [], False: []}
            failed = {True: None, False: None}
            for _ in range(runs):  # alternated
                for shim in (True, False):
                    res = lab.run([SCIO_RUN, *argv] if shim else argv, timeout=CAP,
                                  env=NO_HISTORY)
                    if bad(res):
                        failed[shim] = failed[shim] or outcome(res)
                    times[shim].append(seconds(name, res))
            shown = []
            for shim in (True, False):
                t = f"{statistics.median(times[shim]):.3f} s"
                if failed[shim]:
                    t += f" (stopped at {CAP:.0f} s)" if "stopped" in failed[shim] else " (failed)"
                shown.append(t)
            what = "connect" if name.startswith("C ") else "whole run"
            row("IPv6 blackholed, the program's own wait", f"{name}: with scio / without",
                " / ".join(shown), f"{what}, median of {runs}, alternated; tcp_syn_retries=1")


def run(lab, row):
    wait_costs(lab, row)
    blackholed_programs(lab, row)


def main():
    def row(scenario, measure, value, note=""):
        print(f"| {scenario} | {measure} | {value} | {note} |", flush=True)

    lab = netlab.Lab()
    try:
        run(lab, row)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
