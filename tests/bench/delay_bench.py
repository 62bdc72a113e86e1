#!/usr/bin/env python3
"""The Connection Attempt Delay that learns (issue 18 point 4), side by
side with the fixed 250 ms, on real round-trip times (the lab's delay
line, tests/netlab_delay.py).  Rounds alternate the two; medians of 5.

  1 ms network, IPv6 known, then blackholed: the first connect after the
    break (python3 under the shim, and scio_connect), learnt delay against
    SCIO_CONNECT_DELAY_MS=250 / connect_delay_ms=250 with the same history;
  600 ms IPv6 path, 1 ms IPv4, IPv6's time known: which family wins, when;
  IPv6 blackholed, scio_connect in a second process: with the history
    (the default) against connect_delay_ms=250 (history off).

    run(row)   for tests/bench/run.py (builds its own DelayLab)
    python3 tests/bench/delay_bench.py   standalone: prints the rows
"""

import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import netlab_delay  # noqa: E402
from scio_testlib import PORT, PY, SCIO_RUN, prog  # noqa: E402

ROUNDS = 5
PY_CONNECT = ("import socket,time; t=time.monotonic();"
              "s=socket.create_connection(('dual.test',7000));"
              "ms=(time.monotonic()-t)*1000;"
              "print(s.recv(200).decode().strip(), 'ms=%.2f' % ms)")


def shim_ms(lab, env):
    """python3 under the shim: (family, connect ms)."""
    res = lab.run([SCIO_RUN, PY, "-c", PY_CONNECT], env=env, timeout=20)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    return (re.search(r"via (ipv[46])", res.stdout).group(1),
            float(re.search(r"ms=([\d.]+)", res.stdout).group(1)))


def library_ms(lab, env, *args):
    """race_client (scio_connect): (family, connect ms)."""
    res = lab.run([prog("race_client"), *args, "dual.test", PORT], env=env, timeout=20)
    if res.returncode != 0 or "result ok" not in res.stdout:
        raise RuntimeError(str(res))
    return ("ipv" + re.search(r"result ok family=(\d)", res.stdout).group(1),
            float(re.search(r"result ok .*?ms=([\d.]+)", res.stdout).group(1)))


def fresh_history(tmp, n):
    return {"SCIO_HISTORY_FILE": str(Path(tmp) / f"history{n}")}


def after_the_break(lab, tmp):
    """1 ms network: IPv6 known (one good connect), then blackholed; the
    first connect after, learnt delay vs fixed 250 ms, for the shim and
    for the library."""
    times = {k: [] for k in ("shim", "shim250", "lib", "lib250")}
    n = 0
    for _ in range(ROUNDS):
        for kind in times:
            n += 1
            env = fresh_history(tmp, n)
            lab.fault("ipv6", "ok")
            shim_ms(lab, env)  # a good IPv6 connect, recorded
            lab.fault("ipv6", "blackhole")
            if kind == "shim":
                times[kind].append(shim_ms(lab, env)[1])
            elif kind == "shim250":
                times[kind].append(shim_ms(lab, {**env, "SCIO_CONNECT_DELAY_MS": "250"})[1])
            elif kind == "lib":
                times[kind].append(library_ms(lab, env)[1])
            else:
                times[kind].append(library_ms(lab, env, "-d", "250")[1])
    lab.fault("ipv6", "ok")
    med = {k: statistics.median(v) for k, v in times.items()}
    return med


def long_path(lab, tmp):
    """IPv6 600 ms RTT, IPv4 1 ms, IPv6's time known (taught with an
    explicit 2 s delay): the learnt delay against the fixed 250 ms."""
    lab.delay("ipv6", 300)
    out = {"learnt": [], "fixed": []}
    try:
        for r in range(ROUNDS):
            env = fresh_history(tmp, f"long{r}")
            shim_ms(lab, {**env, "SCIO_CONNECT_DELAY_MS": "2000"})
            out["learnt"].append(shim_ms(lab, env))
            out["fixed"].append(shim_ms(lab, {**env, "SCIO_CONNECT_DELAY_MS": "250"}))
    finally:
        lab.delay("ipv6", 0.5)
    return {k: (sorted({f for f, _ in v}), statistics.median(t for _, t in v))
            for k, v in out.items()}


def second_process(lab, tmp):
    """IPv6 blackholed: scio_connect in a second process, with the
    history (default options) and with connect_delay_ms=250 (no history)."""
    lab.fault("ipv6", "blackhole")
    out = {"history": [], "fixed": []}
    try:
        for r in range(ROUNDS):
            env = fresh_history(tmp, f"second{r}")
            library_ms(lab, env)  # the first process learns
            out["history"].append(library_ms(lab, env)[1])
            out["fixed"].append(library_ms(lab, env, "-d", "250")[1])
    finally:
        lab.fault("ipv6", "ok")
    return {k: statistics.median(v) for k, v in out.items()}


def run(row):
    with tempfile.TemporaryDirectory() as tmp, netlab_delay.DelayLab() as lab:
        lab.start_servers(port=7000)
        lab.delay("ipv6", 0.5)
        lab.delay("ipv4", 0.5)
        s = "1 ms RTT, IPv6 known then blackholed: first connect after the break"
        m = after_the_break(lab, tmp)
        row(s, "python3 under the shim: learnt delay / fixed 250 ms",
            f"{m['shim']:.1f} / {m['shim250']:.1f} ms",
            f"ratio {m['shim'] / m['shim250']:.2f} (target ≤ 110 ms)")
        row(s, "scio_connect: learnt delay / fixed 250 ms",
            f"{m['lib']:.1f} / {m['lib250']:.1f} ms",
            f"ratio {m['lib'] / m['lib250']:.2f} (target ≤ 110 ms)")
        s = "IPv6 600 ms RTT (known), IPv4 1 ms"
        m = long_path(lab, tmp)
        row(s, "python3 under the shim: learnt delay / fixed 250 ms",
            f"{'+'.join(m['learnt'][0])} in {m['learnt'][1]:.0f} ms / "
            f"{'+'.join(m['fixed'][0])} in {m['fixed'][1]:.0f} ms",
            "(target: IPv6 wins)")
        s = "IPv6 blackholed, scio_connect in a second process"
        m = second_process(lab, tmp)
        row(s, "with history (default) / connect_delay_ms=250 (no history)",
            f"{m['history']:.1f} / {m['fixed']:.1f} ms")


if __name__ == "__main__":
    run(lambda s, w, v, n="": print(f"| {s} | {w} | {v} | {n} |"))
