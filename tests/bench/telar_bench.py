#!/usr/bin/env python3
"""telar's connection rate, side by side with nginx's stream module.

Three servers run at once in the lab's server namespace, each answering
every TCP connection with one line and closing it:

  telar default   demo/telar, one process, event loop
  telar --fork    demo/telar, one child process per connection
  nginx stream    nginx, one worker, `return "You connected from ..."`

tests/c/telar_load (4 threads, IPv6 and IPv4 addresses alternating)
connects from the client namespace for a few seconds at a time; the
servers take turns, three rounds, and each figure is the median.

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

SCENARIO = "telar vs nginx stream: connections/s, 4 client threads, IPv6+IPv4"
THREADS = 4
SECONDS = 3
ROUNDS = 3
NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
NGINX_PACKAGES = ["nginx", "libnginx-mod-stream"]
PORTS = {"telar default": 2401, "telar --fork": 2402, "nginx stream": 2403}

NGINX_CONF = """\
load_module {module};
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
stream {{
    server {{
        listen [::]:{port} ipv6only=on;
        listen 0.0.0.0:{port};
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


def start_servers(lab, tmp):
    """Starts every server; returns {name: port} of those running."""
    telar = telar_binary()
    argvs = {
        "telar default": [telar, "-p", str(PORTS["telar default"])],
        "telar --fork": [telar, "--fork", "-p", str(PORTS["telar --fork"])],
    }
    nginx = nginx_binary()
    if nginx:
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(module=NGINX_MODULE, dir=tmp,
                                          port=PORTS["nginx stream"]))
        argvs["nginx stream"] = [nginx, "-e", str(tmp / "error.log"),
                                 "-p", str(tmp), "-c", str(conf)]
    for name, argv in argvs.items():
        lab.popen_server(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=sys.stderr)
        wait_listening(lab, PORTS[name])
    return {name: PORTS[name] for name in argvs}


def load(lab, port):
    """One run of telar_load: (connections per second, errors)."""
    res = lab.run([prog("telar_load"), netlab.SRV6[0], netlab.SRV4[0],
                   str(port), str(THREADS), str(SECONDS)],
                  timeout=SECONDS + 30)
    if res.returncode != 0:
        raise RuntimeError(str(res))
    fields = dict(kv.split("=", 1) for kv in res.stdout.split())
    return float(fields["per_second"]), int(fields["errors"])


def run(lab, row):
    with tempfile.TemporaryDirectory(prefix="telar-bench-") as tmpdir:
        servers = start_servers(lab, Path(tmpdir))
        rates = {name: [] for name in servers}
        errors = {name: 0 for name in servers}
        for _ in range(ROUNDS):  # servers take turns: noise hits all alike
            for name, port in servers.items():
                rate, errs = load(lab, port)
                rates[name].append(rate)
                errors[name] += errs
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name in PORTS:
        if name not in medians:
            row(SCENARIO, name, "n/a", "nginx with the stream module not available")
            continue
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        note = f"median of {ROUNDS} runs of {SECONDS} s ({runs})"
        if errors[name]:
            note += f"; {errors[name]} failed connections"
        row(SCENARIO, name, f"{medians[name]:.0f} conn/s", note)
    if "nginx stream" in medians and medians["nginx stream"] > 0:
        ratio = medians["telar default"] / medians["nginx stream"]
        row(SCENARIO, "telar default / nginx stream", f"{ratio:.2f}",
            "target ≥ 1.0")


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
