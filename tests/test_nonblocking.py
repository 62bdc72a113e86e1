"""Non-blocking connects raced inside the program's own waits (poll,
ppoll, select, pselect, epoll): python with a timeout, nc, ssh with
ConnectTimeout, asyncio.  Programs that race on their own are left alone.
tests/test_waits.py has the slices, several fds and epoll in detail."""

import re
import subprocess
import textwrap

import pytest

from scio_testlib import PORT, PY, not_under_san, not_under_tsan, parse_records, prog, run_scio

PY_TIMEOUT = ("import socket; s=socket.create_connection(('dual.test',7000),timeout=5);"
              "print(s.recv(200).decode().strip())")


def run(lab, argv, shim=True, timeout=20, **env):
    return run_scio(lab, argv, shim=shim, timeout=timeout, **env)


def probe(lab, mode, timeout_ms, shim=True, **env):
    res = run(lab, [prog("nb_probe"), mode, "dual.test", PORT, str(timeout_ms)],
              shim=shim, **env)
    assert res.returncode == 0, res
    return {k: f for k, f in parse_records(res.stdout)}, res


# ---- real programs, IPv6 blackholed ----

def test_python_with_timeout(lab):
    lab.fault("ipv6", "blackhole")
    res = run(lab, [PY, "-c", PY_TIMEOUT], SCIO_LOG="info")
    assert "via ipv4" in res.stdout and res.elapsed < 1.0, res
    assert "over IPv4" in res.stderr
    # without scio: the 5 s timeout on IPv6 first
    assert run(lab, [PY, "-c", PY_TIMEOUT], shim=False, timeout=3).timed_out


@not_under_tsan
@pytest.mark.parametrize("args", [[], ["-w", "5"]])
def test_nc(lab, args):
    lab.fault("ipv6", "blackhole")
    # -N: shut the connection down at end of input, so nc ends
    cmd = f"nc -N {' '.join(args)} dual.test 7000 </dev/null"
    res = run(lab, ["sh", "-c", cmd])
    assert "via ipv4" in res.stdout and res.elapsed < 1.0, res
    assert run(lab, ["sh", "-c", cmd], shim=False, timeout=3).timed_out


SSH_BANNER = """
    import socket, threading
    def serve(fam, addr):
        s = socket.socket(fam)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 7022)); s.listen(16)
        while True:
            c, _ = s.accept()
            c.sendall(b"SSH-2.0-scio-test\\r\\n"); c.close()
    for fam, addr in ((socket.AF_INET6, "2001:db8::10"), (socket.AF_INET, "192.0.2.10")):
        threading.Thread(target=serve, args=(fam, addr), daemon=True).start()
    print("READY", flush=True)
    threading.Event().wait()
"""


@not_under_san
def test_ssh_connect_timeout(lab):
    srv = lab.popen_server([PY, "-c", textwrap.dedent(SSH_BANNER)],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "READY"
    lab.fault("ipv6", "blackhole")
    argv = ["ssh", "-v", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-p", "7022", "dual.test", "true"]
    res = run(lab, argv)
    assert "Connection established" in res.stderr, res
    assert "192.0.2.10" in res.stderr or res.elapsed < 1.0
    assert res.elapsed < 1.5
    assert run(lab, argv, shim=False, timeout=3).timed_out


# ---- fidelity ----

@pytest.mark.parametrize("wait", ["poll", "ppoll", "select", "pselect"])
def test_waits_report_the_winner(lab, wait):
    lab.fault("ipv6", "blackhole")
    recs, res = probe(lab, wait, 5000)
    assert recs["connect"]["errno"] == "EINPROGRESS"
    assert recs["wait"]["rc"] == "1", res
    ms = float(re.search(r"^ms=(\d+)", res.stdout, re.M).group(1))
    assert ms < 600
    # the fd the program polled: connected, its flags and options kept
    line = [l for l in res.stdout.splitlines() if l.startswith("so_error=")][0]
    assert line == "so_error=0 peer=::ffff:192.0.2.10 nonblock=1 cloexec=1 nodelay=1", res


def test_timeout_respected_when_everything_is_dead(lab):
    lab.fault("all", "blackhole")
    recs, res = probe(lab, "poll", 1000)
    assert recs["wait"]["rc"] == "0", res
    ms = float(re.search(r"^ms=(\d+)", res.stdout, re.M).group(1))
    assert 995 <= ms < 1100, res
    line = [l for l in res.stdout.splitlines() if l.startswith("so_error=")][0]
    assert line.startswith("so_error=0 peer=? nonblock=1")


def test_all_refused_program_reads_its_own_error(lab):
    lab.fault("all", "refuse")
    recs, res = probe(lab, "poll", 1000)
    assert "so_error=ECONNREFUSED" in res.stdout, res


def test_eintr_from_the_wait(lab):
    lab.fault("all", "blackhole")
    recs, res = probe(lab, "eintr", 3000)
    assert recs["wait"]["errno"] == "EINTR", res
    ms = float(re.search(r"^ms=(\d+)", res.stdout, re.M).group(1))
    assert ms < 500


# ---- left alone ----

def test_program_racing_on_its_own_is_left_alone(lab):
    lab.fault("ipv6", "blackhole")
    a, _ = probe(lab, "two", 1000, shim=False)
    b, res = probe(lab, "two", 1000, SCIO_LOG="info")
    for key in ("rc", "revents"):
        assert a["wait"][key] == b["wait"][key], (a, b)
    assert float(b["wait"]["ms"]) < 100
    assert "scio[" not in res.stderr


def test_close_before_poll_and_fd_reuse(lab):
    lab.fault("ipv6", "blackhole")
    recs, res = probe(lab, "close-first", 500)
    assert recs["wait"]["rc"] == "1", res  # the pipe is writable at once


def test_poll_from_another_thread_is_not_raced(lab):
    lab.fault("ipv6", "blackhole")
    recs, res = probe(lab, "other-thread", 500)
    assert recs["wait"]["rc"] == "0", res


@not_under_san
def test_curl_unchanged(lab):
    lab.fault("ipv6", "blackhole")
    argv = ["curl", "-sS", "-o", "/dev/null", "-m", "2", "-w", "%{remote_ip}",
            "telnet://dual.test:7000"]
    a, b = run(lab, argv, shim=False), run(lab, argv, SCIO_LOG="info")
    assert a.stdout == b.stdout == "192.0.2.10", (a, b)
    assert "scio[" not in b.stderr


ASYNCIO = """
    import asyncio, time
    async def main():
        t = time.monotonic()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection('dual.test', 7000), 2)
            print((await r.readline()).decode().strip(), round(time.monotonic() - t, 1))
        except asyncio.TimeoutError:
            print("timeout", round(time.monotonic() - t, 1))
    asyncio.run(main())
"""


def test_asyncio_is_raced_inside_its_epoll_wait(lab):
    lab.fault("ipv6", "blackhole")
    code = textwrap.dedent(ASYNCIO)
    a = run(lab, [PY, "-c", code], shim=False)
    b = run(lab, [PY, "-c", code], SCIO_LOG="info")
    assert a.stdout.split()[0] == "timeout", a
    assert b.stdout.split()[0] == "hello", b
    assert "over IPv4" in b.stderr, b
