#!/usr/bin/env python3
"""telar's connection rate and CPU cost, side by side with nginx's stream
module.

The servers run at once in the lab's server namespace, each answering
every TCP connection with one line and closing it:

  telar             demo/telar, default workers (-j: one per CPU), each
                    with listeners of its own on its CPU
  telar --shared-listeners   the same workers over one pair of listeners
  telar -j 1        demo/telar, one event-loop process
  telar --fork      demo/telar, one child process per connection
  nginx stream      nginx, `worker_processes auto`, stream `return`
  nginx stream reuseport     the same with `listen ... reuseport` and
                    `worker_cpu_affinity auto`: nginx's nearest setup

tests/c/telar_load (4 threads) connects from the client namespace for a
few seconds at a time, to the IPv6 address only, then to the IPv4 address
only; the servers take turns within each round, the first one changing
from round to round (noise and order hit all alike), five rounds, and each
figure is the median.  Per run three figures: connections per second, the
server's CPU time per connection (every thread of every process of the
server, from /proc/PID/task/TID/schedstat, before and after the run), and
its context switches per connection (voluntary and not, from each
thread's status).  The ratios are telar's over nginx stream's (the
issue's `worker_processes auto`), paired per round, then the median.

    run(lab, row)   for tests/bench/run.py: lab is a netlab.Lab without
                    faults, row(scenario, measure, value, note="") records
    python3 tests/bench/telar_bench.py   standalone: own lab, prints rows

nginx and its stream module are installed with apt-get when missing (and
this runs as root); what is installed is said on stderr.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import netlab  # noqa: E402
from scio_testlib import BUILD, ROOT, prog  # noqa: E402

SCENARIO = "telar vs nginx stream (4 client threads)"
THREADS = 4
SECONDS = 3
ROUNDS = int(os.environ.get("TELAR_BENCH_ROUNDS", "5"))
NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
NGINX_PACKAGES = ["nginx", "libnginx-mod-stream"]
PORTS = {"telar": 2401, "telar --shared-listeners": 2405, "telar -j 1": 2404,
         "telar --fork": 2402, "nginx stream": 2403,
         "nginx stream reuseport": 2406}
# TELAR_BENCH_SERVERS="telar,nginx stream": only these (default: all)
ONLY = [n for n in os.environ.get("TELAR_BENCH_SERVERS", "").split(",") if n]
FAMILIES = {"IPv6": netlab.SRV6[0], "IPv4": netlab.SRV4[0]}
TARGET = 1.3

NGINX_CONF = """\
load_module {module};
worker_processes auto;
{affinity}
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
stream {{
    server {{
        listen [::]:{port} ipv6only=on{reuseport};
        listen 0.0.0.0:{port}{reuseport};
        return "You connected from $remote_addr port $remote_port\\r\\n";
    }}
}}
"""


def say(text):
    print(f"telar_bench: {text}", file=sys.stderr, flush=True)


def nginx_binary():
    """Path of nginx with the stream module, installing both if needed;
    None when that is not possible."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found and NGINX_MODULE.exists():
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say("nginx with the stream module is not installed (as root: "
            f"apt-get install {' '.join(NGINX_PACKAGES)})")
        return None
    say(f"installing {' '.join(NGINX_PACKAGES)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
               *NGINX_PACKAGES]
    out = {"env": env, "stdout": sys.stderr, "stderr": sys.stderr}
    if subprocess.run(install, **out).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], **out)
        subprocess.run(install, **out)
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    return found if found and NGINX_MODULE.exists() else None


def telar_binary():
    path = BUILD / "telar"
    if not path.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}",
                        str(path)], check=True)
    return str(path)


def wait_listening(lab, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = lab.run_server(["ss", "-Hltn", f"sport = :{port}"]).stdout
        if len(out.splitlines()) >= 2:
            return
        time.sleep(0.05)
    raise RuntimeError(f"no server listening on port {port} (both families)")


def context_switches(task):
    n = 0
    for line in (task / "status").read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches",
                            "nonvoluntary_ctxt_switches")):
            n += int(line.split()[1])
    return n


def server_usage(leader):
    """(CPU time in ns, context switches) of every thread of every process
    in leader's process group (the server and its workers)."""
    cpu = switches = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if int(text[text.rindex(")") + 2:].split()[2]) != leader:
                continue
            for task in (stat.parent / "task").iterdir():
                cpu += int((task / "schedstat").read_text().split()[0])
                switches += context_switches(task)
        except (OSError, ValueError):
            continue  # gone meanwhile
    return cpu, switches


def start_servers(lab, tmp):
    """Starts every server; returns {name: (port, pid)} of those running."""
    telar = telar_binary()
    argvs = {
        "telar": [telar, "-p", str(PORTS["telar"])],
        "telar --shared-listeners": [telar, "--shared-listeners", "-p",
                                     str(PORTS["telar --shared-listeners"])],
        "telar -j 1": [telar, "-j", "1", "-p", str(PORTS["telar -j 1"])],
        "telar --fork": [telar, "--fork", "-p", str(PORTS["telar --fork"])],
    }
    nginx = nginx_binary()
    for name, extra in (("nginx stream", {"affinity": "", "reuseport": ""}),
                        ("nginx stream reuseport",
                         {"affinity": "worker_cpu_affinity auto;",
                          "reuseport": " reuseport"})):
        if not nginx:
            break
        run_dir = tmp / name.replace(" ", "-")
        run_dir.mkdir()
        conf = run_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(module=NGINX_MODULE, dir=run_dir,
                                          port=PORTS[name], **extra))
        argvs[name] = [nginx, "-e", str(run_dir / "error.log"),
                       "-p", str(run_dir), "-c", str(conf)]
    servers = {}
    for name, argv in argvs.items():
        if ONLY and name not in ONLY:
            continue
        # `ip netns exec` execs: the pid is the server's, and it leads its
        # own process group (start_new_session), workers included.
        p = lab.popen_server(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=sys.stderr)
        wait_listening(lab, PORTS[name])
        servers[name] = (PORTS[name], p.pid)
    return servers


def load(lab, addr, port, pid):
    """One run of telar_load against addr only: (connections per second,
    server CPU µs per connection, its context switches per connection,
    errors)."""
    cpu0, cs0 = server_usage(pid)
    res = lab.run([prog("telar_load"), addr, addr, str(port), str(THREADS),
                   str(SECONDS)], timeout=SECONDS + 30)
    cpu1, cs1 = server_usage(pid)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    fields = dict(kv.split("=", 1) for kv in res.stdout.split())
    conns = max(int(fields["connections"]), 1)
    return (float(fields["per_second"]), (cpu1 - cpu0) / 1000 / conns,
            (cs1 - cs0) / conns, int(fields["errors"]))


def measure(lab, servers):
    """{(name, family): [(conn/s, µs/conn, switches/conn), ...] per
    round}, errors."""
    got = {(n, f): [] for n in servers for f in FAMILIES}
    errors = {n: 0 for n in servers}
    names = list(servers)
    for r in range(ROUNDS):
        turn = names[r % len(names):] + names[:r % len(names)]
        for fam, addr in FAMILIES.items():
            for name in turn:
                port, pid = servers[name]
                rate, cpu, cs, errs = load(lab, addr, port, pid)
                got[(name, fam)].append((rate, cpu, cs))
                errors[name] += errs
    return got, errors


def report(row, servers, got, errors):
    for fam in FAMILIES:
        for name in PORTS:
            if ONLY and name not in ONLY:
                continue
            what = f"{name}, {fam}"
            if name not in servers:
                row(SCENARIO, what, "n/a",
                    "nginx with the stream module not available")
                continue
            runs = got[(name, fam)]
            rate = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            cs = statistics.median(r[2] for r in runs)
            note = (f"median of {ROUNDS} runs of {SECONDS} s: "
                    + ", ".join(f"{r[0]:.0f}" for r in runs) + " conn/s")
            if errors[name]:
                note += f"; {errors[name]} failed connections (all runs)"
            row(SCENARIO, what, f"{rate:.0f} conn/s, {cpu:.1f} µs CPU/conn, "
                f"{cs:.2f} switches/conn", note)
        for ref in ("nginx stream", "nginx stream reuseport"):
            if "telar" in servers and ref in servers:
                ratio_row(row, fam, ref, got)


def ratio_row(row, fam, ref, got):
    """telar over ref, paired per round; the target is against the
    issue's nginx (`worker_processes auto`)."""
    pairs = list(zip(got[("telar", fam)], got[(ref, fam)]))
    rate_ratio = statistics.median(t[0] / n[0] for t, n in pairs)
    cpu_ratio = statistics.median(n[1] / t[1] for t, n in pairs)
    if ref == "nginx stream":
        verdict = ("met" if min(rate_ratio, cpu_ratio) >= TARGET
                   else "NOT met")
        note = f"paired per round; target ≥ {TARGET}x both: {verdict}"
    else:
        note = "paired per round; for comparison (no target)"
    row(SCENARIO, f"telar / {ref}, {fam}",
        f"conn/s {rate_ratio:.2f}x; CPU/conn: nginx's is "
        f"{cpu_ratio:.2f}x telar's", note)


def run(lab, row):
    with tempfile.TemporaryDirectory(prefix="telar-bench-") as tmpdir:
        servers = start_servers(lab, Path(tmpdir))
        got, errors = measure(lab, servers)
    report(row, servers, got, errors)


def main():
    rows = []

    def row(scenario, measure, value, note=""):
        rows.append((scenario, measure, value, note))
        print(f"  {scenario}: {measure} = {value} {note}", file=sys.stderr,
              flush=True)

    with netlab.Lab() as lab:
        run(lab, row)
    print("| scenario | what | result | note |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
