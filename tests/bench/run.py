#!/usr/bin/env python3
"""make bench: every figure measured side by side in one run, in a
private network (tests/netlab.py), medians of several runs.

Prints a markdown table and writes it to build/bench.md.
"""

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import netlab  # noqa: E402
from scio_testlib import BUILD, PORT, PY, SCIO_RUN, prog  # noqa: E402

SHIM = str(BUILD / "libscio-preload.so")
CAP = 5.0  # seconds a "without scio" run may hang before it is stopped

rows = []


def row(scenario, measure, value, note=""):
    rows.append((scenario, measure, value, note))
    print(f"  {scenario}: {measure} = {value} {note}", file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs)


def us_per_connect(lab, mode, env=None, count=1000):
    res = lab.run(["taskset", "-c", "1", prog("bench_connect"), mode,
                   "localhost", str(count)], env=env, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    return float(res.stdout.split()[0].split("=")[1])


def loopback_costs(lab, rounds=31):
    """Nothing broken: plain loop, scio_connect, plain loop under the shim
    and, when SCIO_BENCH_BEFORE names another build's libscio-preload.so,
    under that one; short rounds, alternated, so machine noise hits all
    alike."""
    plain, race, shim, old = [], [], [], []
    before = os.environ.get("SCIO_BENCH_BEFORE")
    for _ in range(rounds):
        plain.append(us_per_connect(lab, "plain"))
        race.append(us_per_connect(lab, "race"))
        if before:
            old.append(us_per_connect(lab, "plain", env={"LD_PRELOAD": before}))
        shim.append(us_per_connect(lab, "plain", env={"LD_PRELOAD": SHIM}))
    p, r, s = median(plain), median(race), median(shim)
    row("loopback, nothing broken", "plain getaddrinfo+connect loop", f"{p:.1f} µs/connect")
    row("loopback, nothing broken", "scio_connect (library race)",
        f"{r:.1f} µs/connect", f"ratio {r / p:.3f} (target ≤ 1.10)")
    if before:
        o = median(old)
        row("loopback, nothing broken", "same loop under the shim before (SCIO_BENCH_BEFORE)",
            f"{o:.1f} µs/connect", f"ratio {o / p:.3f}")
    row("loopback, nothing broken", "same loop under the shim (connects that win within the delay)",
        f"{s:.1f} µs/connect", f"ratio {s / p:.3f} (target ≤ 1.05); {s - p:+.1f} µs per "
        f"lookup and connect")


def ms_per_launch(argv, env, count=50):
    t0 = time.monotonic()
    for _ in range(count):
        subprocess.run(argv, env=env, check=True)
    return (time.monotonic() - t0) * 1000 / count


def scio_run_start(rounds=11):
    """What scio-run adds to a program's start: /bin/true through it
    against LD_PRELOAD set directly, in alternated rounds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIO_")}
    direct, wrapped = [], []
    for _ in range(rounds):
        direct.append(ms_per_launch(["/bin/true"], dict(env, LD_PRELOAD=SHIM)))
        wrapped.append(ms_per_launch([SCIO_RUN, "/bin/true"], env))
    d, w = median(direct), median(wrapped)
    row("start", "/bin/true with LD_PRELOAD set directly", f"{d:.2f} ms/launch")
    row("start", "/bin/true through scio-run", f"{w:.2f} ms/launch",
        f"+{w - d:.2f} ms (target ≤ +2 ms)")


def timed(lab, argv, timeout, env=None):
    res = lab.run(argv, timeout=timeout, env=env)
    return res


# The first-connect rows measure a connect that history has not helped:
# the history row below measures that help on its own.
NO_HISTORY = {"SCIO_HISTORY": "off"}


def connect_seconds(lab, argv, runs=5, env=NO_HISTORY, timeout=CAP):
    times = []
    for _ in range(runs):
        res = timed(lab, argv, timeout, env)
        if res.timed_out:
            return None
        if res.returncode != 0:
            raise RuntimeError(str(res))
        times.append(res.elapsed)
    return median(times)


def fmt(t):
    return f"> {CAP:.0f} s (stopped)" if t is None else f"{t:.3f} s"


def curl_seconds(lab, runs=5):
    times = []
    for _ in range(runs):
        res = lab.run(["curl", "-sS", "-o", "/dev/null", "-m", "5",
                       "-w", "%{time_connect}", "telnet://dual.test:7000"],
                      timeout=10)
        times.append(float(res.stdout.strip()))
    return median(times)


def blackhole_library(lab):
    race = connect_seconds(lab, [prog("race_client"), "dual.test", PORT])
    serial = connect_seconds(lab, [prog("race_client"), "-s", "-t", "5000",
                                   "dual.test", PORT], runs=3, timeout=15)
    curl = curl_seconds(lab)
    s = "IPv6 blackholed, library"
    row(s, "scio_connect", fmt(race), "(delay 250 ms; target ≤ 0.300 s)")
    row(s, "scio_connect_serial, 5 s per address", fmt(serial))
    row(s, "curl's own race (time_connect)", fmt(curl))


PY_CONNECT = ("import socket; s=socket.create_connection(('dual.test',7000));"
              "s.recv(100)")
BASH_TCP = "exec 3<>/dev/tcp/dual.test/7000; read -r line <&3"
TELNET = "sleep 0.3 | telnet dual.test 7000 >/dev/null 2>&1"


def blackhole_programs(lab):
    s = "IPv6 blackholed, unmodified program"
    for name, argv in (("python3 create_connection", [PY, "-c", PY_CONNECT]),
                       ("bash /dev/tcp", ["bash", "-c", BASH_TCP])):
        with_scio = connect_seconds(lab, [SCIO_RUN, *argv])
        without = connect_seconds(lab, argv, runs=1)
        row(s, f"{name}: with scio / without", f"{fmt(with_scio)} / {fmt(without)}")
    # telnet holds the line open for 0.3 s on purpose: subtract it
    with_scio = connect_seconds(lab, [SCIO_RUN, "sh", "-c", TELNET])
    without = connect_seconds(lab, ["sh", "-c", TELNET], runs=1)
    row(s, "telnet (incl. 0.3 s stdin hold): with scio / without",
        f"{fmt(with_scio)} / {fmt(without)}")
    row(s, "curl's own race, for comparison", fmt(curl_seconds(lab)))


def per_call(lab, name, count, env=None):
    res = lab.run(["taskset", "-c", "1", prog("bench_gai"), name, str(count)],
                  env=env, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    return float(res.stdout.split()[0].split("=")[1])


GAI_ONCE = ("import socket,sys,time; t=time.monotonic(); "
            "socket.getaddrinfo(sys.argv[1], 80, 0, socket.SOCK_STREAM); "
            "print(time.monotonic()-t)")


def gai_seconds(lab, argv, timeout):
    res = lab.run(argv, timeout=timeout, env=NO_HISTORY)
    return None if res.timed_out else float(res.stdout.strip())


def resolution(lab, tmp):
    """getaddrinfo through the resolution race vs glibc alone, against the
    lab's DNS server (tests/dnsserver.py) with glibc's default options."""
    import json
    from test_dnsserver import ZONE
    zone = Path(tmp) / "zone.json"
    zone.write_text(json.dumps(ZONE))
    dns = lab.popen_server([PY, str(HERE.parent / "dnsserver.py"), "--listen",
                            "192.0.2.10", "--port", "53", "--zone", str(zone)],
                           stdout=subprocess.PIPE, text=True)
    if dns.stdout.readline().strip() != "READY":
        raise RuntimeError("DNS server did not start")
    lab.write_etc("resolv.conf", "nameserver 192.0.2.10\n")
    s = "resolution"
    shim = {"LD_PRELOAD": SHIM}
    for label, name, count in (("/etc/hosts name", "dual.test", 2000),
                               ("healthy DNS name", "dns-dual.test", 200)):
        plain, raced = [], []
        for _ in range(7):
            plain.append(per_call(lab, name, count))
            raced.append(per_call(lab, name, count, env=shim))
        p, r = median(plain), median(raced)
        row(s, f"{label}: getaddrinfo without / with scio",
            f"{p:.1f} / {r:.1f} µs/call", f"ratio {r / p:.3f} (target ≤ 1.10)")
    lookup_connect_costs(lab)
    with_scio = median([gai_seconds(lab, [SCIO_RUN, PY, "-c", GAI_ONCE, "aaaa-drop.test"], 30)
                        for _ in range(5)])
    without = gai_seconds(lab, [PY, "-c", GAI_ONCE, "aaaa-drop.test"], 30)
    row(s, "AAAA dropped: getaddrinfo with scio / without (glibc defaults)",
        f"{fmt(with_scio)} / {fmt(without)}", "(target ≤ 0.100 s vs about 15 s)")


def gai_connect(lab, env, cpus, count=500):
    """(wall µs, CPU µs) per getaddrinfo + connect, the threads right after
    the last getaddrinfo returned, resident KiB at the end (all, and the
    private part: RssAnon, without the shared pages of mapped files)."""
    pin = ["taskset", "-c", cpus] if cpus else []
    res = lab.run(pin + [prog("bench_gai_connect"), "dns-dual.test", PORT, str(count)],
                  env=env, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    kv = dict(x.split("=") for x in res.stdout.split())
    return (float(kv["wall_us"]), float(kv["cpu_us"]), int(kv["threads_after"]),
            int(kv["rss_kib"]), int(kv["anon_kib"]))


def lookup_connect_costs(lab, rounds=15):
    """A getaddrinfo + connect loop to a healthy DNS name (the lab's DNS
    server must run): plain glibc, this build's shim and, when
    SCIO_BENCH_BEFORE names another build's libscio-preload.so, that one;
    alternating rounds, pinned to one CPU as the other rows are, and on
    both (the race's helper thread can then run beside the caller)."""
    variants = [("plain glibc", None), ("shim", {"LD_PRELOAD": SHIM})]
    before = os.environ.get("SCIO_BENCH_BEFORE")
    if before:
        variants.insert(1, ("shim before", {"LD_PRELOAD": before}))
    for cpus, where in (("1", "one CPU"), (None, "both CPUs")):
        runs = {name: [] for name, _ in variants}
        for _ in range(rounds):
            for name, env in variants:
                runs[name].append(gai_connect(lab, env, cpus))
        base_wall = median(r[0] for r in runs["plain glibc"])
        base_cpu = median(r[1] for r in runs["plain glibc"])
        base_rss = median(r[3] for r in runs["plain glibc"])
        base_anon = median(r[4] for r in runs["plain glibc"])
        for name, _ in variants:
            wall = median(r[0] for r in runs[name])
            cpu = median(r[1] for r in runs[name])
            threads = max(r[2] for r in runs[name])
            rss = median(r[3] for r in runs[name]) - base_rss
            anon = median(r[4] for r in runs[name]) - base_anon
            row("resolution", f"healthy DNS name, getaddrinfo + connect loop, {where}: {name}",
                f"{wall:.1f} µs wall, {cpu:.1f} µs CPU per lookup",
                f"ratio wall {wall / base_wall:.2f}, CPU {cpu / base_cpu:.2f} "
                f"(target ≤ 1.05); threads after a lookup: {threads}; "
                f"resident {rss:+.0f} KiB, of which private {anon:+.0f} KiB")


PY_TIMEOUT = ("import socket; s=socket.create_connection(('dual.test',7000),timeout=5);"
              "s.recv(100)")


def nonblocking_programs(lab):
    """Programs that connect non-blocking with a timeout (IPv6 blackholed)."""
    s = "IPv6 blackholed, non-blocking connect"
    for name, argv in (("python3 create_connection(timeout=5)", [PY, "-c", PY_TIMEOUT]),
                       ("nc -N", ["sh", "-c", "nc -N dual.test 7000 </dev/null"]),
                       ("nc -N -w 5", ["sh", "-c", "nc -N -w 5 dual.test 7000 </dev/null"])):
        with_scio = connect_seconds(lab, [SCIO_RUN, *argv], timeout=10)
        without = connect_seconds(lab, argv, runs=1, timeout=10)
        row(s, f"{name}: with scio / without", f"{fmt(with_scio)} / {fmt(without)}")


def poll_cost(lab, rounds=11):
    plain, shim = [], []
    for _ in range(rounds):
        for env, out in ((None, plain), ({"LD_PRELOAD": SHIM}, shim)):
            res = lab.run(["taskset", "-c", "1", prog("bench_poll"), "300000"],
                          env=env, timeout=60)
            out.append(float(res.stdout.split("=")[1]))
    p, q = median(plain), median(shim)
    row("no connect at all", "poll() on a pipe without / with the shim",
        f"{p:.0f} / {q:.0f} ns/call", f"ratio {q / p:.3f} (target ≤ 1.02)")


def history_loop(lab, tmp):
    """20 runs of bash /dev/tcp with IPv6 blackholed: scio with history,
    scio without, curl's own race."""
    s = "IPv6 blackholed, 20 runs of a client in a shell loop"
    loop = ("for i in $(seq 20); do exec 3<>/dev/tcp/dual.test/7000; "
            "read -r l <&3; exec 3<&-; done")
    hist = str(Path(tmp) / "history")
    res = lab.run([SCIO_RUN, "bash", "-c", loop], env={"SCIO_HISTORY_FILE": hist},
                  timeout=60)
    row(s, "bash /dev/tcp under scio, history on", f"{res.elapsed:.2f} s",
        "(target < 0.6 s)")
    res = lab.run([SCIO_RUN, "bash", "-c", loop], env={"SCIO_HISTORY": "off"},
                  timeout=60)
    row(s, "bash /dev/tcp under scio, history off", f"{res.elapsed:.2f} s")
    total = 0.0
    for _ in range(20):
        res = lab.run(["curl", "-s", "-o", "/dev/null", "-m", "5", "-w",
                       "%{time_connect}", "telnet://dual.test:7000"], timeout=10)
        total += float(res.stdout.strip() or 5)
    row(s, "curl's own race, 20 runs (sum of its connect times)", f"{total:.2f} s")


K_V6 = [f"2001:db8::2{i:02x}" for i in range(64)]
K_V4 = [f"192.0.2.{140 + i}" for i in range(64)]
K_PY = ("import socket,sys,time; t=time.monotonic(); "
        "socket.create_connection((sys.argv[1], 7100)); print(time.monotonic()-t)")
K_NODE = ("const t=process.hrtime.bigint(); const s=require('net').connect("
          "{host:process.argv[1],port:7100,autoSelectFamily:true,"
          "autoSelectFamilyAttemptTimeout:20},()=>{console.log(Number("
          "process.hrtime.bigint()-t)/1e9);s.destroy()});"
          "s.on('error',e=>{console.log('error',e.code);process.exit(1)})")


def k_seconds(lab, argv, env, parse, runs=3):
    out = []
    for _ in range(runs):
        res = lab.run(argv, timeout=30, env=env)
        if res.returncode != 0:
            return None
        out.append(parse(res.stdout))
    return median(out)


def large_answers(lab, delay_ms=20):
    """Issue 18.1: a name with K addresses per family, the first K-1 of
    each blackholed: the library, Python under the shim and node's own
    race, against (2K-2) x the delay (20 ms here, to keep it short)."""
    lab.add_server_addresses(K_V6 + K_V4)
    lab.start_servers(port=7100, addrs=K_V6 + K_V4)
    hosts = [(a, f"k{k}.test") for k in (1, 2, 4, 8, 16, 32, 64)
             for a in K_V6[:k] + K_V4[:k]]
    lab.write_etc("hosts", netlab.Lab._hosts_text(hosts))
    env = {**NO_HISTORY, "SCIO_CONNECT_DELAY_MS": str(delay_ms)}
    for k in (1, 2, 4, 8, 16, 32, 64):
        lab.fault(K_V6 + K_V4, "ok")
        if k > 1:
            lab.fault(K_V6[:k - 1] + K_V4[:k - 1], "blackhole")
        name = f"k{k}.test"
        lib = k_seconds(lab, [prog("race_client"), "-d", str(delay_ms), name, "7100"], env,
                        lambda out: float(out.split("ms=")[-1].split()[0]) / 1000)
        py = k_seconds(lab, [SCIO_RUN, PY, "-c", K_PY, name], env, float)
        node = k_seconds(lab, ["node", "-e", K_NODE, name], env, float)
        want = (2 * k - 2) * delay_ms / 1000
        shown = [fmt(x) if x is not None else "failed" for x in (lib, py, node)]
        note = f"(2K-2) x {delay_ms} ms = {want:.2f} s"
        if py and lib:
            note += f"; shim/library {py / lib:.3f}" if k > 1 else ""
        row(f"K = {k} per family, all but the last of each dead", "library / python3 under the shim / node",
            " / ".join(shown), note)


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{platform.node()}, {os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def wanted(group):
    """SCIO_BENCH_ONLY=loopback,resolution,... runs only those groups
    (start, loopback, poll, resolution, blackhole, history, large, delay,
    waits, telar, nat64);
    unset: all."""
    only = os.environ.get("SCIO_BENCH_ONLY")
    return not only or group in only.split(",")


def main():
    started = time.time()
    print("scio benchmarks (each figure is a median; comparisons run side by side)",
          file=sys.stderr)
    import tempfile
    # a store of its own: what other runs taught scio must not skew these
    hist_dir = tempfile.mkdtemp(prefix="scio-bench-")
    os.environ["SCIO_HISTORY_FILE"] = str(Path(hist_dir) / "history")
    if wanted("start"):
        scio_run_start()
    lab = netlab.Lab()
    try:
        lab.start_servers(port=7000)
        if wanted("loopback"):
            loopback_costs(lab)
        if wanted("poll"):
            poll_cost(lab)
        if wanted("resolution"):
            with tempfile.TemporaryDirectory() as tmp:
                resolution(lab, tmp)
        lab.fault("ipv6", "blackhole")
        if wanted("blackhole"):
            blackhole_library(lab)
            blackhole_programs(lab)
            nonblocking_programs(lab)
        if wanted("history"):
            with tempfile.TemporaryDirectory() as tmp:
                history_loop(lab, tmp)
    finally:
        lab.close()
    if wanted("large"):
        lab = netlab.Lab()
        try:
            large_answers(lab)
        finally:
            lab.close()
    if wanted("delay"):
        import delay_bench
        delay_bench.run(row)
    if wanted("waits") and (HERE / "waits_bench.py").exists():
        import waits_bench
        lab = netlab.Lab()
        try:
            waits_bench.run(lab, row)
        finally:
            lab.close()
    if wanted("telar") and (HERE / "telar_bench.py").exists():
        import telar_bench
        lab = netlab.Lab()
        try:
            telar_bench.run(lab, row)
        finally:
            lab.close()

    if wanted("nat64") and (HERE / "nat64_bench.py").exists():
        import nat64_bench
        nat64_bench.run(row)

    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine()} "
             f"({time.time() - started:.0f} s).", "",
             "| scenario | what | result | note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    table = "\n".join(lines) + "\n"
    out = BUILD / "bench.md"
    out.write_text(table)
    print(table)
    print(f"(written to {out})")


if __name__ == "__main__":
    main()
