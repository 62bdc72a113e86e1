#!/usr/bin/env python3
"""IPv6-only client behind a real NAT64 (tests/netlab_nat64.py, tayga):
what a connect to an IPv4 literal costs under scio against a connect the
program makes to the synthesized IPv6 address itself.

Each round is two python3 processes under scio-run with history off:
one whose first connect goes to 203.0.113.10 and discovers the prefix
(ipv4only.arpa), one whose first connect goes to the synthesized address
(the cold baseline: the shim's and libc's first use).  Each process then
alternates connects to the literal (prefix cached; create_connection
looks the literal up), to the synthesized address (direct) and to the
literal on an AF_INET socket of its own (no lookup: the family
changes), and times a few AAAA lookups of
ipv4only.arpa (one DNS round trip, for the first connect's target).
Five rounds; every figure is the median over rounds of each round's
median.

    run(row)   for tests/bench/run.py: row(scenario, measure, value, note="")
    python3 tests/bench/nat64_bench.py   standalone: prints the rows
    python3 tests/bench/nat64_bench.py --programs   README's table of
               real programs on the IPv6-only client, without and with
               scio (5 runs each, medians of the whole run)
"""

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from netlab_nat64 import Nat64Lab, SRV4, V4ONLY_NAME  # noqa: E402
from scio_testlib import PY, SCIO_RUN  # noqa: E402

ROUNDS = 5
CONNECTS = 150

PROBE = r"""
import socket, statistics, sys, time
v4, v6, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ms(target, family):
    t = time.perf_counter()
    s = socket.create_connection((target, 8080))
    t = time.perf_counter() - t
    s.close()
    return t * 1000
def ms_own_socket(target):
    # an AF_INET socket of the program's own, connected without a lookup
    # of the literal: the family changes under it
    t = time.perf_counter()
    s = socket.socket()
    s.connect((target, 8080))
    t = time.perf_counter() - t
    s.close()
    return t * 1000
# the process's first connect: to the literal (discovery included), or
# to the synthesized address (the cold-process baseline)
first = ms(v4 if sys.argv[4] == "literal" else v6, None)
def lookup():
    t = time.perf_counter()
    socket.getaddrinfo("ipv4only.arpa", None, socket.AF_INET6, socket.SOCK_STREAM)
    return (time.perf_counter() - t) * 1000
# the process's first lookup: the resolver's start included
dns_cold = lookup()
later, direct, changed, dns = [], [], [], []
kinds = [(later, lambda: ms(v4, socket.AF_INET)), (direct, lambda: ms(v6, socket.AF_INET6)),
         (changed, lambda: ms_own_socket(v4))]
for i in range(n):
    # each kind in each place in turn: none always follows the same one
    for k in range(3):
        out, f = kinds[(i + k) % 3]
        out.append(f())
for i in range(5):
    dns.append(lookup())
m = statistics.median
print(f"first={first:.3f} later={m(later):.3f} direct={m(direct):.3f} "
      f"changed={m(changed):.3f} dns={m(dns):.3f} "
      f"dns_cold={dns_cold:.3f}")
"""


def measure(lab):
    synth = lab.synth(SRV4[0])
    per = {"first": [], "first_direct": [], "later": [], "direct": [], "changed": [],
           "dns": [], "dns_cold": []}
    # a discarded round: the lab's DNS server (dnspython) caches its
    # answers, and the round trips measured below are cached ones too
    lab.run([SCIO_RUN, PY, "-c", PROBE, SRV4[0], synth, "1", "literal"],
            env={"SCIO_HISTORY": "off"}, timeout=60)
    for _ in range(ROUNDS):
        for first in ("literal", "direct"):
            res = lab.run([SCIO_RUN, PY, "-c", PROBE, SRV4[0], synth, str(CONNECTS), first],
                          env={"SCIO_HISTORY": "off"}, timeout=60)
            if res.returncode != 0:
                raise RuntimeError(str(res))
            for item in res.stdout.split():
                k, v = item.split("=")
                if first == "direct" and k == "first":
                    k = "first_direct"
                if first == "literal" and k == "dns_cold":
                    continue  # its resolver had started for the discovery
                per[k].append(float(v))
    return {k: statistics.median(v) for k, v in per.items()}, per


def run(row):
    lab = Nat64Lab()
    try:
        lab.start_servers()
        m, per = measure(lab)
    finally:
        lab.close()
    scen = "IPv6-only client, NAT64 (tayga)"
    row(scen, "connect to the synthesized address, made directly",
        f"{m['direct']:.3f} ms", f"median of {ROUNDS} rounds of {CONNECTS}")
    row(scen, "connect to the IPv4 literal, prefix cached",
        f"{m['later']:.3f} ms",
        f"ratio {m['later'] / m['direct']:.3f} to direct (target ≤ 1.05): the lookup "
        f"of the literal lists the synthesized address first")
    row(scen, "connect of an AF_INET socket to the IPv4 literal, no lookup",
        f"{m['changed']:.3f} ms",
        f"ratio {m['changed'] / m['direct']:.3f} to direct: the socket changes family "
        f"(new socket, options copied, dup3)")
    row(scen, "a process's first connect, to the synthesized address made directly",
        f"{m['first_direct']:.3f} ms", "the cold baseline (the shim's and libc's first use)")
    extra = m['first'] - m['first_direct']
    row(scen, "a process's first connect, to the IPv4 literal (discovery included)",
        f"{m['first']:.3f} ms",
        f"+{extra:.3f} ms for the discovery, one AAAA query; the same lookup costs "
        f"{m['dns_cold']:.3f} ms as a process's first, {m['dns']:.3f} ms later "
        f"(target: ≤ +1 DNS round trip, the process's first lookup: "
        f"{'met' if extra <= m['dns_cold'] else 'missed'}); "
        f"rounds: {', '.join(f'{x:.2f}' for x in per['first'])}")


SRV = SRV4[0]
PROGRAMS = [
    ('python3 `create_connection(("203.0.113.10", 8080))`',
     [PY, "-c", f"import socket; print(socket.create_connection(({SRV!r}, 8080)).recv(100))"]),
    ("python3 the same with `timeout=5` (non-blocking)",
     [PY, "-c", f"import socket; print(socket.create_connection(({SRV!r}, 8080), timeout=5)"
                ".recv(100))"]),
    ('python3 `socket.socket().connect(("203.0.113.10", 8080))` (no lookup)',
     [PY, "-c", f"import socket; s = socket.socket(); s.connect(({SRV!r}, 8080)); "
                "print(s.recv(100))"]),
    ("curl `http://203.0.113.10:8081/` (non-blocking)", ["curl", "-sS", f"http://{SRV}:8081/"]),
    ("wget `http://203.0.113.10:8081/`", ["wget", "-nv", "-O-", f"http://{SRV}:8081/"]),
    ("nc `-v 203.0.113.10 8080`", ["nc", "-v", SRV, "8080"]),
    ("bash `/dev/tcp/203.0.113.10/8080`", ["bash", "-c", f"exec 3<>/dev/tcp/{SRV}/8080; cat <&3"]),
    ("wget, a name with only an A record", ["wget", "-nv", "-O-", f"http://{V4ONLY_NAME}:8081/"]),
    ("curl -6, the same name (an AF_INET6 lookup)",
     ["curl", "-6", "-sS", f"http://{V4ONLY_NAME}:8081/"]),
]


def program_cell(lab, argv, shim, runs=5):
    """'connects, N ms' or 'fails: <last stderr line>, N ms' over runs."""
    times, ok, err = [], True, ""
    for _ in range(runs):
        t = time.perf_counter()
        res = lab.run(([SCIO_RUN] if shim else []) + argv, env={"SCIO_HISTORY": "off"},
                      timeout=30)
        times.append((time.perf_counter() - t) * 1000)
        if res.returncode != 0 or "peer=198.51.100." not in res.stdout:
            ok = False
            lines = res.stderr.strip().splitlines() or ["no output"]
            err = next((l for l in lines if "unreachable" in l), lines[-1])
    ms = statistics.median(times)
    if len(err) > 70:
        err = err[:70].rsplit(" ", 1)[0] + " …"
    return f"connects, {ms:.0f} ms" if ok else f"fails: {err}, {ms:.0f} ms"


def programs():
    print("| program on the IPv6-only client | without scio | with scio |")
    print("|---|---|---|")
    for dns in ("plain", "dns64"):
        lab = Nat64Lab(dns=dns)
        try:
            lab.start_servers()
            for name, argv in PROGRAMS if dns == "plain" else PROGRAMS[-2:]:
                label = name + (", plain resolver" if dns == "plain" and "name" in name
                                else ", DNS64 resolver" if dns == "dns64" else "")
                print(f"| {label} | {program_cell(lab, argv, False)} | "
                      f"{program_cell(lab, argv, True)} |", flush=True)
        finally:
            lab.close()


def main():
    if sys.argv[1:] == ["--programs"]:
        programs()
        return

    def row(scenario, measure_, value, note=""):
        print(f"| {scenario} | {measure_} | {value} | {note} |")
    run(row)


if __name__ == "__main__":
    main()
