#!/usr/bin/python3
"""make soak: thousands of raced connects from several threads and
processes through the shim while the network's faults change at random.

    soak.py [--seconds 300] [--procs 3] [--threads 4] [--seed N]

Checks afterwards: every connect reached the server it was connected to
(or was cut by a fault change before the server's greeting came: "lost")
or failed with an errno a plain connect could give; the clients' fd
counts are stable and their memory bounded; no zombie; no socket left in
the client namespace.  Prints connects, failures by errno and p50/p99
connect time per fault.  Exit status 0 when every check holds."""

import argparse
import bisect
import collections
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netlab  # noqa: E402
from scio_testlib import BUILD, PORT, SAN, SCIO_RUN, TSAN, prog, san_env  # noqa: E402

# what a plain blocking connect with SO_SNDTIMEO can return (with over a
# thousand connects a second, TIME-WAIT uses up the ephemeral ports:
# EADDRNOTAVAIL, for a plain program too; a reset that arrives between
# the handshake and connect()'s return gives ECONNRESET)
PLAIN_ERRNOS = {"ECONNREFUSED", "ETIMEDOUT", "EINPROGRESS", "EHOSTUNREACH",
                "ENETUNREACH", "EACCES", "EADDRNOTAVAIL", "ECONNRESET"}
FAULTS = {
    "both fine": {},
    "IPv6 blackhole": {"ipv6": "blackhole"},
    "IPv6 refused": {"ipv6": "refuse"},
    "IPv6 unreachable": {"ipv6": "unreachable"},
    "IPv6 lossy": {"ipv6": "lossy"},
    "IPv4 blackhole": {"ipv4": "blackhole"},
    "both dead": {"all": "blackhole"},
}


def set_fault(lab, name):
    lab.fault("all", "ok")
    for target, kind in FAULTS[name].items():
        lab.fault(target, kind)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def soak(seconds, procs, threads, seed, out=print):
    rnd = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="scio-soak-"))
    problems = []
    with netlab.Lab() as lab:
        lab.start_servers(port=7000)
        env = {"SCIO_LOG": "debug", "SCIO_LOG_FILE": str(tmp / "scio.log"),
               "SCIO_HISTORY_FILE": str(tmp / "history")}
        clients = []
        for i in range(procs):
            name = "dual.test" if i % 2 == 0 else "multi.test"
            e = dict(os.environ, **env, **san_env(), SOAK_SAMPLES=str(tmp / f"samples{i}"))
            argv = [prog("soak_client"), name, PORT, str(threads), str(seconds)]
            if TSAN:  # scio-run, a sh script, cannot start under TSan
                e["LD_PRELOAD"] += ":" + str(BUILD / "libscio-preload.so")
            else:
                argv = [SCIO_RUN, *argv]
            clients.append(lab.popen(argv, env=e, stdout=open(tmp / f"out{i}", "w"),
                                     stderr=open(tmp / f"err{i}", "w")))
        switches = []  # (monotonic ms, fault)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            name = rnd.choice(list(FAULTS))
            set_fault(lab, name)
            switches.append((time.monotonic() * 1000, name))
            time.sleep(rnd.uniform(0.3, 1.5))
        set_fault(lab, "both fine")
        for c in clients:
            if c.wait(timeout=30) != 0:
                problems.append(f"client exited {c.returncode}")
        zombies = zombies_of({c.pid for c in clients})
        if zombies:
            problems.append(f"{zombies} zombie processes")
        # Sockets the kernel keeps after a close (TIME-WAIT, and FIN-WAIT
        # when the fault of the moment drops the FIN) are no one's; a
        # socket someone forgot would be SYN-SENT, ESTAB or CLOSE-WAIT.
        left = lab.run(["ss", "-Htan", "exclude", "time-wait", "exclude",
                        "fin-wait-1", "exclude", "fin-wait-2", "exclude",
                        "closing", "exclude", "last-ack"]).stdout.strip()
        if left:
            problems.append("sockets left in the client namespace: " +
                            "; ".join(left.splitlines()[:5]))

    totals = collections.Counter()
    by_fault = collections.defaultdict(list)
    bounds = []  # per client: fds and RSS at start and end
    times = [t for t, _ in switches]
    for i in range(procs):
        text = (tmp / f"out{i}").read_text()
        if not text.startswith("connects="):
            err = (tmp / f"err{i}").read_text()[-500:]
            problems.append(f"client {i} reported nothing; stderr: {err}")
            continue
        first = dict(kv.split("=") for kv in text.split("\n")[0].split())
        totals["connects"] += int(first["connects"])
        bounds.append(f"{first['fds_start']}->{first['fds_end']} fds, "
                      f"{int(first['rss_start_kb']) / 1024:.1f}->{int(first['rss_end_kb']) / 1024:.1f} MB")
        if int(first["wrong_server"]):
            problems.append(f"client {i}: {first['wrong_server']} connections to the wrong server")
        if int(first["fds_end"]) > int(first["fds_start"]) + 2:
            problems.append(f"client {i}: fds {first['fds_start']} -> {first['fds_end']}")
        # sanitizer runtimes keep freed memory in quarantine: RSS says
        # nothing there
        if not SAN and int(first["rss_end_kb"]) > int(first["rss_start_kb"]) + 16384:
            problems.append(f"client {i}: RSS {first['rss_start_kb']} -> {first['rss_end_kb']} kB")
        for line in (tmp / f"samples{i}").read_text().splitlines():
            start, ms, result = line.split()
            k = bisect.bisect_right(times, float(start)) - 1
            fault = switches[k][1] if k >= 0 else "both fine"
            by_fault[fault].append(float(ms))
            totals[result] += 1
            # lost: connected, then a fault change cut the connection
            # before the greeting came (any program would see that)
            if result not in PLAIN_ERRNOS | {"ok", "wrong", "lost"}:
                problems.append(f"errno {result} that a plain connect would not give")
    log_lines = sum(1 for _ in open(tmp / "scio.log")) if (tmp / "scio.log").exists() else 0

    out(f"soak: {seconds} s, {procs} processes x {threads} threads, seed {seed}, "
        f"{len(switches)} fault changes, {log_lines} debug log lines")
    out(f"connects: {totals['connects']}, ok: {totals['ok']}, failures by errno: " +
        (", ".join(f"{k} {v}" for k, v in sorted(totals.items())
                   if k not in ("connects", "ok")) or "none"))
    out("clients (start->end): " + "; ".join(bounds))
    for fault in FAULTS:
        xs = by_fault.get(fault, [])
        if xs:
            out(f"  {fault:<18} {len(xs):>7} connects  p50 {percentile(xs, 50):8.1f} ms"
                f"  p99 {percentile(xs, 99):8.1f} ms")
    for p in sorted(set(problems))[:20]:
        out(f"PROBLEM: {p}")
    return not problems


def zombies_of(sessions):
    """Zombies in the sessions the soak started (each client runs in a
    session of its own): other processes of the machine are not ours."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[3]) in sessions:
            count += 1
    return count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    sys.exit(0 if soak(a.seconds, a.procs, a.threads, a.seed) else 1)


if __name__ == "__main__":
    main()
