#!/usr/bin/python3
"""make demo: unmodified programs against a dual-stack host whose IPv6
path silently drops packets, without and with scio-run, side by side.

Everything happens in two private network namespaces made for the demo
(documentation addresses 2001:db8::/32 and 192.0.2.0/24); nothing leaves
the machine.  Needs root (for the namespaces and nftables)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from scio_testlib import BUILD, PY, SCIO_RUN  # noqa: E402

CAP = 3.0  # seconds a run without scio may hang before the demo stops it


def fail(msg):
    print(f"make demo: {msg}", file=sys.stderr)
    sys.exit(1)


def check_environment():
    if os.geteuid() != 0:
        fail("the demo builds network namespaces and firewall rules, which "
             "needs root here.  Run it as root (sudo make demo).")
    import netlab  # noqa: F401  (imports only once the checks passed)


PROGRAMS = [
    ("python3 socket.create_connection",
     [PY, "-c", "import socket; s=socket.create_connection(('dual.test',7000));"
                "print(s.recv(100).decode().strip())"]),
    ("bash /dev/tcp",
     ["bash", "-c", "exec 3<>/dev/tcp/dual.test/7000; read -r l <&3; echo \"$l\""]),
    ("telnet (its input lasts 0.3 s)",
     ["sh", "-c", "sleep 0.3 | telnet dual.test 7000 2>/dev/null"]),
    ("nc (non-blocking connect)",
     ["sh", "-c", "nc -N dual.test 7000 </dev/null"]),
]


def family_of(text):
    m = (re.search(r"over (IPv[46])", text) or re.search(r"via (ipv[46])", text) or
         re.search(r"connected to \S+ port \d+ \((IPv[46])\)", text))
    return m.group(1).replace("ipv", "IPv") if m else "-"


def timed(lab, argv, cap, **env):
    return lab.run(argv, timeout=cap, env=env or None)


def show_row(name, without, with_scio, family):
    print(f"  {name:<34} {without:>16} {with_scio:>12}   {family}")


def main():
    check_environment()
    import netlab
    started = time.monotonic()
    print("Setting up a private dual-stack network: dual.test is 2001:db8::10 "
          "and 192.0.2.10;\nits IPv6 path silently drops every packet "
          "(nftables drop).\n")
    lab = netlab.Lab()
    try:
        lab.start_servers(port=7000)
        lab.fault("ipv6", "blackhole")
        smtp = lab.popen_server([PY, str(ROOT / "tests" / "smtp_servers.py"),
                                 "aiosmtpd", "25"], stdout=subprocess.PIPE, text=True)
        smtp_ready = smtp.stdout.readline().strip() == "READY"
        print(f"  {'program':<34} {'without scio':>16} {'with scio':>12}   winner")
        print(f"  {'-' * 34} {'-' * 16} {'-' * 12}   ------")
        programs = list(PROGRAMS)
        if smtp_ready and (BUILD / "scio-smtp").exists():
            programs.append(("scio-smtp --serial (the classic loop)",
                             [str(BUILD / "scio-smtp"), "--serial", "dual.test"]))
        for name, argv in programs:
            without = timed(lab, argv, CAP)
            # history off: every row shows a first connect
            with_scio = timed(lab, [SCIO_RUN, "-v", *argv], 10, SCIO_HISTORY="off")
            w = f"> {CAP:.0f} s (stopped)" if without.timed_out else f"{without.elapsed:.2f} s"
            s = "failed" if with_scio.returncode != 0 else f"{with_scio.elapsed:.2f} s"
            show_row(name, w, s, family_of(with_scio.stdout + with_scio.stderr))
        if smtp_ready and (BUILD / "scio-smtp").exists():
            res = timed(lab, [str(BUILD / "scio-smtp"), "-v", "dual.test"], 10,
                        SCIO_HISTORY="off")
            show_row("scio-smtp (library race)", "-",
                     "failed" if res.returncode else f"{res.elapsed:.2f} s",
                     family_of(res.stderr))
        print(f"\n  Without scio each program waits for the kernel's SYN timeout "
              f"(about 127 s;\n  the demo stops it after {CAP:.0f} s). With "
              "scio-run the same binaries connect over IPv4\n  about 250 ms "
              "later.  'scio-run -v' told which address won and when.\n")
        history_demo(lab)
        telar_demo(lab)
    finally:
        lab.close()
    print(f"Demo finished in {time.monotonic() - started:.1f} s.")


def history_demo(lab):
    import tempfile
    name, argv = PROGRAMS[1]
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "history")
        first = timed(lab, [SCIO_RUN, *argv], 10, SCIO_HISTORY_FILE=store)
        second = timed(lab, [SCIO_RUN, *argv], 10, SCIO_HISTORY_FILE=store)
    print(f"  With history (the default), only the first connect waits: {name} "
          f"took\n  {first.elapsed:.2f} s, then {second.elapsed:.2f} s in a new "
          "process, straight to IPv4.\n")


def telar_demo(lab):
    telar = BUILD / "telar"
    if not telar.exists():
        return
    lab.fault("ipv6", "ok")
    print("telar, the dual-stack autoresponder, on separate IPv4 and IPv6 "
          "sockets:")
    srv = lab.popen_server([str(telar), "-p", "2323"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            probe = lab.run_server(["ss", "-Hltn", "sport = :2323"], timeout=5)
            if probe.stdout.count("LISTEN") >= 2:
                break
            time.sleep(0.05)
        for addr in ("2001:db8::10", "192.0.2.10"):
            res = lab.run(["sh", "-c", f"nc -N {addr} 2323 </dev/null"], timeout=5)
            print(f"  nc {addr:<14} 2323  ->  {res.stdout.strip()}")
    finally:
        srv.terminate()
    print()


if __name__ == "__main__":
    main()
