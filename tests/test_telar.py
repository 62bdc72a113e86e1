"""telar, the dual-stack telnet autoresponder (demo/telar*.c), against real
clients in the network lab (tests/netlab.py).

telar runs in the server namespace (2001:db8::10..12, 192.0.2.10..12);
clients run in the client namespace (2001:db8::2, 192.0.2.2), so every
answer must name the client's own address and family.  Every connection
model (one event-loop process, -j 1; worker processes, -j 2; and --fork)
is run wherever behaviour must not depend on the model.
"""

import grp
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import netlab
from scio_testlib import BUILD, PY, ROOT, SANITIZER_MARKS, TELAR, prog

PORT = 2323  # telar's port here, not the lab's greeting server
V6, V4 = netlab.SRV6[0], netlab.SRV4[0]
CLIENT = {V6: (netlab.CLI6, "6"), V4: (netlab.CLI4, "4")}
MODELS = {"event-loop": ["-j", "1"], "workers": ["-j", "2"], "fork": ["--fork"]}

pytestmark = pytest.mark.lab(servers=None)


@pytest.fixture(scope="module", autouse=True)
def _built():
    if not Path(TELAR).exists():
        subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}", TELAR],
                       check=True)


_started = []  # every Telar of the current test


@pytest.fixture(autouse=True)
def _no_sanitizer_reports():
    """With a sanitizer build (make SAN=...), telar must not report."""
    yield
    for t in _started:
        for mark in SANITIZER_MARKS:
            assert mark not in t.stderr, t.stderr
    _started.clear()


# ----------------------------------------------------------------- helpers

def expected(server_addr):
    """Regex of the line a client in the client ns gets from server_addr."""
    client, fam = CLIENT[server_addr]
    return re.compile(rf"You connected from {re.escape(client)} port (\d+) "
                      rf"over IPv{fam}\r?\n")


def listeners(lab, port):
    """Local addresses of the TCP listeners on port in the server ns."""
    out = lab.run_server(["ss", "-Hltn", f"sport = :{port}"]).stdout
    return sorted(line.split()[3] for line in out.splitlines() if line.strip())


def addresses(lab, port):
    """The addresses listened on (each worker may have its own socket)."""
    return sorted(set(listeners(lab, port)))


def wait_listening(lab, port, count=2, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(listeners(lab, port)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing listening on port {port} after {timeout}s: "
                         f"{listeners(lab, port)}")


class Telar:
    """telar running in the server ns; its stderr goes to a file."""

    def __init__(self, lab, tmp_path, argv, port=PORT, count=2, wait=True):
        self.lab = lab
        self.port = port
        self.errfile = tmp_path / f"telar-{port}-{time.monotonic_ns()}.err"
        with open(self.errfile, "wb") as err:
            self.proc = lab.popen_server(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        _started.append(self)
        if wait:
            wait_listening(lab, port, count)

    @property
    def pid(self):
        return self.proc.pid  # `ip netns exec` execs: this is telar itself

    @property
    def stderr(self):
        return self.errfile.read_text()

    def children(self):
        """(pid, state) of telar's child processes."""
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if int(fields[1]) == self.pid:
                kids.append((int(stat.parent.name), fields[0]))
        return kids

    def fd_count(self, pid=None):
        return len(os.listdir(f"/proc/{pid or self.pid}/fd"))

    def workers(self, count, timeout=5):
        """The pids of telar's count worker processes, once all run."""
        wait_until(lambda: len(self.children()) == count, timeout,
                   f"{count} workers running: {self.children()}")
        return sorted(pid for pid, _ in self.children())

    def cpu_ticks(self):
        text = Path(f"/proc/{self.pid}/stat").read_text()
        fields = text[text.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def stop(self, sig=signal.SIGTERM, timeout=5):
        os.kill(self.pid, sig)
        return self.proc.wait(timeout=timeout)


def start(lab, tmp_path, *args, port=PORT, count=2, wait=True):
    return Telar(lab, tmp_path, [TELAR, "-p", str(port), *args], port=port,
                 count=count, wait=wait)


def nc(lab, addr, port=PORT):
    return lab.run(["nc", "-w", "3", addr, str(port)], timeout=10)


def telnet(lab, addr, port=PORT):
    # telnet prints what arrives while its stdin is open.
    return lab.run(["sh", "-c", f"sleep 0.5 | telnet {addr} {port}"], timeout=10)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def assert_answers(lab, port=PORT, tool=nc):
    for addr in (V6, V4):
        res = tool(lab, addr, port)
        assert expected(addr).search(res.stdout), res
        assert "::ffff:" not in res.stdout


# Client-side helper programs, run with python3 in the client ns.

RAW_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(repr(data))
"""

CONCURRENT = r"""
import json, selectors, socket, sys, time
addrs, port, n = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
sel = selectors.DefaultSelector()
got = {}
for i in range(n):
    addr = addrs[i % len(addrs)]
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setblocking(False)
    s.connect_ex((addr, port))
    got[s] = [addr, b""]
    sel.register(s, selectors.EVENT_READ)
deadline = time.monotonic() + 15
while sel.get_map() and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        try:
            chunk = s.recv(4096)
        except OSError as e:
            chunk, got[s][1] = b"", got[s][1] + f"error: {e}".encode()
        if chunk:
            got[s][1] += chunk
        else:
            sel.unregister(s)
            s.close()
print(json.dumps([[a, d.decode(errors="replace")] for a, d in got.values()]))
"""

# Opens n connections that never read (tiny receive buffers), says READY
# with what each socket had after a moment (line, eof, nothing), and holds
# them until its stdin closes.
HOLD = r"""
import json, socket, sys, time
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for i in range(n):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.settimeout(5)
    s.connect((addr, port))
    held.append(s)
time.sleep(0.5)
seen = []
for s in held:
    try:
        d = s.recv(200, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        seen.append("line" if d.startswith(b"You connected") else
                    "eof" if d == b"" else "other")
    except BlockingIOError:
        seen.append("nothing")
    except OSError:
        seen.append("eof")
print(json.dumps(seen))
print("READY", flush=True)
sys.stdin.read()
"""

# Holds cap connections (each read its line, none closes), then checks that
# one more is turned away, then frees a slot and expects an answer again.
CAP = r"""
import json, socket, sys, time
addr, port, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def connect():
    return socket.create_connection((addr, port), timeout=5)

def read_until_eof(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk

held = []
for i in range(cap):
    s = connect()
    line = b""
    while not line.endswith(b"\n"):
        line += s.recv(4096)
    held.append((s, line.decode()))
extra = connect()
t0 = time.monotonic()
extra_data = read_until_eof(extra).decode()
extra_seconds = time.monotonic() - t0
held[0][0].close()
after = ""
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    s = connect()
    after = read_until_eof(s).decode()
    s.close()
    if after.startswith("You connected"):
        break
    time.sleep(0.05)
print(json.dumps({"held": [h[1] for h in held], "extra": extra_data,
                  "extra_seconds": extra_seconds, "after": after}))
"""

SEQUENTIAL = r"""
import socket, sys
addrs, port, n = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
ok = 0
for i in range(n):
    s = socket.create_connection((addrs[i % len(addrs)], port), timeout=5)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    ok += data.startswith(b"You connected from")
print(ok)
"""

# systemd-style activation: bind both families (IPv6 with V6ONLY), put them
# on fds 3 and 4, LISTEN_PID = this pid (exec keeps it), exec telar.
ACTIVATE = r"""
import fcntl, os, socket, sys
telar, port = sys.argv[1], int(sys.argv[2])
s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s4.bind(("0.0.0.0", port))
s4.listen(64)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.bind(("::", port))
s6.listen(64)
high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 10) for s in (s4, s6)]
for target, fd in zip((3, 4), high):
    os.dup2(fd, target)  # inheritable
env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="2")
os.execve(telar, [telar, *sys.argv[3:]], env)
"""


def start_holder(lab, addr, count, port=PORT):
    """HOLD in the client ns; returns (process, what each socket saw)."""
    proc = lab.popen([PY, "-c", HOLD, addr, str(port), str(count)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    buf = b""
    deadline = time.monotonic() + 15
    while b"READY\n" not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"holding client not ready: {buf!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"holding client exited (rc={proc.wait()}): {buf!r}"
            buf += chunk
    lines = buf.decode().splitlines()
    return proc, json.loads(lines[0])


def py_client(lab, script, *args, timeout=30):
    res = lab.run([PY, "-c", script, *map(str, args)], timeout=timeout)
    assert res.returncode == 0 and not res.timed_out, res
    return res.stdout


# ------------------------------------------------------------- answering

@pytest.mark.parametrize("model", MODELS)
def test_nc_gets_its_own_address_on_both_families(lab, tmp_path, model):
    t = start(lab, tmp_path, *MODELS[model])
    assert_answers(lab, tool=nc)
    # Exactly one line, CRLF-terminated, then the server's close.
    for addr in (V6, V4):
        data = py_client(lab, RAW_CLIENT, addr, PORT).strip()
        client, fam = CLIENT[addr]
        assert re.fullmatch(rf"b'You connected from {re.escape(client)} port "
                            rf"\d+ over IPv{fam}\\r\\n'", data), data
    assert t.proc.poll() is None


@pytest.mark.parametrize("model", MODELS)
def test_telnet_gets_its_own_address_on_both_families(lab, tmp_path, model):
    start(lab, tmp_path, *MODELS[model])
    for addr in (V6, V4):
        res = telnet(lab, addr)
        assert f"Connected to {addr}" in res.stdout, res
        assert expected(addr).search(res.stdout), res
        assert "Connection closed by foreign host" in res.stdout + res.stderr, res


def test_reported_port_is_the_clients_port(lab, tmp_path):
    start(lab, tmp_path)
    script = (r"import socket,sys; s=socket.create_connection((sys.argv[1],"
              r"int(sys.argv[2]))); print(s.getsockname()[1], s.recv(200))")
    for addr in (V6, V4):
        out = py_client(lab, script, addr, PORT).split(" ", 1)
        assert f"port {out[0]} over" in out[1], out


def test_separate_listeners_with_ipv6_only(lab, tmp_path):
    start(lab, tmp_path)
    assert addresses(lab, PORT) == [f"0.0.0.0:{PORT}", f"[::]:{PORT}"]
    details = lab.run_server(["ss", "-Hltne", f"sport = :{PORT}"]).stdout
    v6 = [line for line in details.splitlines() if f"[::]:{PORT}" in line]
    assert v6 and all("v6only:1" in line for line in v6), details
    # An IPv4 client is never an IPv4-mapped IPv6 one.
    res = nc(lab, V4)
    assert "over IPv4" in res.stdout and "::ffff:" not in res.stdout, res


def test_listen_on_given_addresses_only(lab, tmp_path):
    a6, a4 = netlab.SRV6[1], netlab.SRV4[1]
    start(lab, tmp_path, "-l", a6, "-l", a4)
    assert addresses(lab, PORT) == sorted([f"{a4}:{PORT}", f"[{a6}]:{PORT}"])
    for addr in (a6, a4):
        res = nc(lab, addr)
        client, fam = CLIENT[V6 if ":" in addr else V4]
        assert f"You connected from {client} port" in res.stdout, res
        assert f"over IPv{fam}" in res.stdout
    refused = nc(lab, V6)
    assert refused.returncode != 0 and "You connected" not in refused.stdout


def test_service_name_port(lab, tmp_path):
    # telnet's own port, given by name; root binds it before anything else.
    t = Telar(lab, tmp_path, [TELAR, "-p", "telnet"], port=23)
    assert addresses(lab, 23) == ["0.0.0.0:23", "[::]:23"]
    assert_answers(lab, port=23)
    assert t.proc.poll() is None


# ----------------------------------------------------------------- load

@pytest.mark.parametrize("model", MODELS)
def test_200_concurrent_clients_all_answered(lab, tmp_path, model):
    t = start(lab, tmp_path, *MODELS[model])
    got = json.loads(py_client(lab, CONCURRENT, f"{V6},{V4}", PORT, 200))
    assert len(got) == 200
    wrong = [(a, d) for a, d in got if not expected(a).fullmatch(d)]
    assert not wrong, wrong[:5]
    assert t.proc.poll() is None


def test_load_generator_both_families(lab, tmp_path):
    start(lab, tmp_path)
    res = lab.run([prog("telar_load"), V6, V4, str(PORT), "4", "1"], timeout=20)
    assert res.returncode == 0, res
    fields = dict(kv.split("=") for kv in res.stdout.split())
    assert int(fields["errors"]) == 0, res
    assert int(fields["connections"]) > 100, res


def test_clients_that_close_at_once_are_never_watched(lab, tmp_path):
    """A client that reads its line and closes has closed by the worker's
    next wake-up, which looks at it (recv) and closes it without an
    epoll_ctl.  One client thread, so each wake-up (its next connection)
    comes after its close, however loaded the machine: 0 EPOLL_CTL_ADD
    per connection; looking in the same wake-up, as telar did, found the
    client still open and handed it to epoll (0.6 per connection).
    strace stops telar only at epoll_ctl (seccomp filter)."""
    trace = tmp_path / "epoll_ctl.txt"
    proc = lab.popen_server(["strace", "-f", "-qq", "--seccomp-bpf",
                             "-e", "trace=epoll_ctl", "-o", str(trace),
                             TELAR, "-j", "2", "-p", str(PORT)],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(lab, PORT, count=4, timeout=15)
    res = lab.run([prog("telar_load"), V6, V4, str(PORT), "1", "2"], timeout=30)
    os.killpg(proc.pid, signal.SIGTERM)  # strace and telar with its workers
    proc.wait(timeout=10)
    assert res.returncode == 0, res
    fields = dict(kv.split("=") for kv in res.stdout.split())
    conns = int(fields["connections"])
    assert int(fields["errors"]) == 0 and conns > 1000, res
    adds = trace.read_text().count("EPOLL_CTL_ADD") - 4  # the listeners
    assert adds < 0.2 * conns, (adds, conns)


def test_one_client_slot_serves_clients_one_after_another(lab, tmp_path):
    """With -c 1 each client closes before the next connects: the worker
    looks at the closed one, freeing its slot, before it accepts."""
    start(lab, tmp_path, "-j", "1", "-c", "1", "-w", "20")
    ok = py_client(lab, SEQUENTIAL, f"{V6},{V4}", PORT, 100)
    assert int(ok) == 100


@pytest.mark.parametrize("model", MODELS)
def test_clients_that_never_read_stall_no_one(lab, tmp_path, model):
    t = start(lab, tmp_path, "-w", "2", *MODELS[model])
    hold, seen = start_holder(lab, V6, 100)
    assert seen == ["line"] * 100  # all answered, and then kept open
    t0 = time.monotonic()
    assert_answers(lab)
    assert time.monotonic() - t0 < 2.0  # two clients, each well under 1 s
    one = nc(lab, V4)
    assert expected(V4).search(one.stdout) and one.elapsed < 1.0, one
    # After -w 2 telar has let go of all of them, though none ever closed.
    if model == "fork":
        wait_until(lambda: not t.children(), 6, "children gone after -w")
    else:
        baseline = 8  # std fds, 2 listeners, epoll, reserve: well under 100
        pids = [t.pid, *(pid for pid, _ in t.children())]
        wait_until(lambda: all(t.fd_count(p) <= baseline for p in pids), 6,
                   "client fds closed")
    hold.stdin.close()
    assert t.proc.poll() is None


@pytest.mark.parametrize("model", MODELS)
def test_client_cap(lab, tmp_path, model):
    t = start(lab, tmp_path, "-c", "3", "-w", "20", *MODELS[model])
    out = json.loads(py_client(lab, CAP, V4, PORT, 3))
    assert all(expected(V4).fullmatch(line) for line in out["held"]), out
    assert "You connected" not in out["extra"], out
    assert out["extra"] in ("", "Too many connections, please try again later\r\n"), out
    assert out["extra_seconds"] < 1.0, out
    assert expected(V4).fullmatch(out["after"]), out
    assert t.proc.poll() is None
    assert "3 clients at once" in t.stderr


def test_out_of_descriptors_sheds_without_spinning(lab, tmp_path):
    # 12 descriptors: stdio, 2 listeners, reserve, epoll leave 5 for clients.
    t = Telar(lab, tmp_path, ["prlimit", "--nofile=12:12", TELAR, "-j", "1",
                              "-p", str(PORT), "-w", "30"])
    hold, seen = start_holder(lab, V4, 12)
    # The first five are answered; the rest are closed at once.
    assert seen == ["line"] * 5 + ["eof"] * 7, seen
    before = t.cpu_ticks()
    time.sleep(1.0)
    assert t.cpu_ticks() - before < 30, "telar spins at EMFILE"
    res = nc(lab, V6)  # turned away at once, not left hanging
    assert res.elapsed < 2.0 and "You connected" not in res.stdout, res
    hold.stdin.close()
    hold.wait(timeout=5)
    wait_until(lambda: expected(V6).search(nc(lab, V6).stdout), 5,
               "answers again once descriptors are free")
    assert t.proc.poll() is None
    assert "out of file descriptors" in t.stderr
    assert "too low" in t.stderr


def test_a_limit_too_low_for_listeners_per_worker_shares_them(lab, tmp_path):
    # 40 workers with a pair of listeners each need 80 descriptors in the
    # first process; with 64 telar shares one pair instead of not starting
    t = Telar(lab, tmp_path, ["prlimit", "--nofile=64:64", TELAR, "-j", "40",
                              "-c", "8", "-p", str(PORT)])
    assert_answers(lab)
    assert t.proc.poll() is None
    assert "share one listener per address" in t.stderr, t.stderr
    assert len(listeners(lab, PORT)) == 2


def test_fork_leaves_no_zombies(lab, tmp_path):
    t = start(lab, tmp_path, "--fork")
    assert int(py_client(lab, SEQUENTIAL, f"{V6},{V4}", PORT, 150)) == 150
    wait_until(lambda: not t.children(), 5, "every child reaped")
    assert not [k for k in t.children() if k[1] == "Z"]


# -------------------------------------------------------------- workers

def pause(pids, sig):
    for pid in pids:
        os.kill(pid, sig)


def test_workers_default_one_per_cpu_j1_one_process(lab, tmp_path):
    t = start(lab, tmp_path, "-v")
    assert len(t.workers(len(os.sched_getaffinity(0)))) >= 1
    assert "worker" in t.stderr  # "listening on ... (event loop, N workers"
    single = start(lab, tmp_path, "-j", "1", "-v", port=PORT + 1)
    for addr in (V6, V4):
        assert expected(addr).search(nc(lab, addr, PORT + 1).stdout)
    assert single.children() == []
    assert "event loop, 1 worker," in single.stderr, single.stderr


def test_every_worker_serves_both_families_unprivileged(lab, tmp_path):
    # Root without -u: every worker runs as nobody, for good.  Shared
    # listeners: any worker takes any connection.
    t = start(lab, tmp_path, "-j", "3", "--shared-listeners")
    workers = t.workers(3)
    assert listeners(lab, PORT) == [f"0.0.0.0:{PORT}", f"[::]:{PORT}"]
    for pid in [t.pid, *workers]:
        assert_unprivileged(pid)
    # With the others stopped, each worker alone answers both families.
    for pid in workers:
        others = [w for w in workers if w != pid]
        pause(others, signal.SIGSTOP)
        try:
            assert_answers(lab)
        finally:
            pause(others, signal.SIGCONT)
    assert t.proc.poll() is None


def test_dead_worker_is_replaced_and_its_clients_freed(lab, tmp_path):
    # Shared listeners, so that one worker takes every client.
    t = start(lab, tmp_path, "-j", "2", "-c", "2", "-w", "30",
              "--shared-listeners")
    first, second = t.workers(2)
    time.sleep(1.2)  # past the first second, when a death is not a crash loop
    # first takes both clients the cap allows, and is killed holding them.
    pause([second], signal.SIGSTOP)
    try:
        hold, seen = start_holder(lab, V4, 2)
        assert seen == ["line", "line"]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(t.children()) == 2 and
                   first not in [p for p, _ in t.children()], 5,
                   "a new worker in place of the killed one")
    finally:
        pause([second], signal.SIGCONT)
    hold.stdin.close()
    assert (f"telar: worker 1 (pid {first}) killed by signal 9 (Killed): "
            "starting another\n") in t.stderr, t.stderr
    (new,) = [p for p in t.workers(2) if p != second]
    assert_unprivileged(new)
    # The killed worker's two clients no longer count against -c 2.
    pause([second], signal.SIGSTOP)
    try:
        hold, seen = start_holder(lab, V6, 2)
        assert seen == ["line", "line"], seen
        hold.stdin.close()
        hold.wait(timeout=5)
    finally:
        pause([second], signal.SIGCONT)
    # the held clients' closes reach the workers a moment later: until
    # then -c 2 still counts them
    wait_until(lambda: expected(V6).search(nc(lab, V6, PORT).stdout), 5,
               "the cap freed by the holder's close")
    assert_answers(lab)
    assert t.proc.poll() is None


# A client on one CPU: connects (its SYN is handled on that CPU), prints
# the line, or "nothing" when none came within the given seconds.
PINNED_CLIENT = r"""
import os, select, socket, sys
os.sched_setaffinity(0, {int(sys.argv[3])})
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
ready, _, _ = select.select([s], [], [], float(sys.argv[4]))
print(s.recv(4096).decode() if ready else "nothing", flush=True)
"""

TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                              reason="needs two CPUs")


def workers_by_cpu(t, count):
    """{CPU: worker pid} of telar's count workers, each on one CPU."""
    found = {}
    for pid in t.workers(count):
        status = Path(f"/proc/{pid}/status").read_text()
        (cpus,) = [line.split()[1] for line in status.splitlines()
                   if line.startswith("Cpus_allowed_list:")]
        assert cpus.isdigit(), f"worker {pid} may run on CPUs {cpus}"
        found[int(cpus)] = pid
    return found


@TWO_CPUS
def test_each_worker_listens_on_its_cpu_and_takes_that_cpus_clients(lab, tmp_path):
    t = start(lab, tmp_path, "-j", "2", count=4)
    cpus = sorted(os.sched_getaffinity(0))[:2]
    assert listeners(lab, PORT) == [f"0.0.0.0:{PORT}"] * 2 + [f"[::]:{PORT}"] * 2
    by_cpu = workers_by_cpu(t, 2)
    assert sorted(by_cpu) == cpus
    for pid in [t.pid, *by_cpu.values()]:
        assert_unprivileged(pid)
    # The second CPU's worker stopped: the first CPU's clients are answered
    # by the first worker, the second CPU's wait for their own.
    pause([by_cpu[cpus[1]]], signal.SIGSTOP)
    try:
        for addr in (V6, V4):
            out = py_client(lab, PINNED_CLIENT, addr, PORT, cpus[0], 5)
            assert expected(addr).search(out), out
        waiting = lab.popen([PY, "-c", PINNED_CLIENT, V4, str(PORT),
                             str(cpus[1]), "20"], stdout=subprocess.PIPE,
                            text=True)
        time.sleep(1.0)
        assert waiting.poll() is None, "answered by another CPU's worker"
    finally:
        pause([by_cpu[cpus[1]]], signal.SIGCONT)
    out, _ = waiting.communicate(timeout=20)
    assert expected(V4).search(out), out


@TWO_CPUS
def test_killed_workers_successor_takes_its_cpu_and_listeners(lab, tmp_path):
    t = start(lab, tmp_path, "-j", "2", count=4)
    cpus = sorted(os.sched_getaffinity(0))[:2]
    victim = workers_by_cpu(t, 2)[cpus[1]]
    time.sleep(1.2)  # past the first second, when a death is not a crash loop
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(t.children()) == 2 and
               victim not in [p for p, _ in t.children()], 5,
               "a new worker in place of the killed one")
    successor = workers_by_cpu(t, 2)[cpus[1]]
    assert successor != victim
    assert_unprivileged(successor)
    for addr in (V6, V4):
        out = py_client(lab, PINNED_CLIENT, addr, PORT, cpus[1], 5)
        assert expected(addr).search(out), out
    assert len(listeners(lab, PORT)) == 4
    assert t.stop() == 0


def test_shared_listeners_one_pair_any_cpu(lab, tmp_path):
    t = start(lab, tmp_path, "-j", "2", "--shared-listeners", "-v")
    assert listeners(lab, PORT) == [f"0.0.0.0:{PORT}", f"[::]:{PORT}"]
    for pid in t.workers(2):
        status = Path(f"/proc/{pid}/status").read_text()
        assert (f"Cpus_allowed_list:\t{cpu_list(os.sched_getaffinity(0))}"
                in status), status
    assert_answers(lab)
    assert "with listeners of their own" not in t.stderr


def cpu_list(cpus):
    """The kernel's list form of a set of CPUs: "0-1", "0,2"."""
    cpus, ranges = sorted(cpus), []
    for c in cpus:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def test_worker_dying_at_once_stops_telar(lab, tmp_path):
    t = start(lab, tmp_path, "-j", "2")
    victim = t.workers(2)[0]
    if process_age(victim) > 0.7:
        pytest.skip("too slow here to kill a worker within its first second")
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    assert t.proc.wait(timeout=5) == 1
    assert time.monotonic() - t0 < 5
    assert (f"worker 1 (pid {victim}) killed by signal 9 (Killed) right after "
            "it started: stopping") in t.stderr or \
           (f"worker 2 (pid {victim}) killed by signal 9 (Killed) right after "
            "it started: stopping") in t.stderr, t.stderr
    assert listeners(lab, PORT) == []
    assert not t.children()


def test_workers_end_with_a_killed_parent(lab, tmp_path):
    t = start(lab, tmp_path, "-j", "2")
    workers = t.workers(2)
    os.kill(t.pid, signal.SIGKILL)
    t.proc.wait(timeout=5)
    wait_until(lambda: not [p for p in workers if Path(f"/proc/{p}").exists()
                            and "Z" not in proc_state(p)], 5,
               "workers gone after their parent was killed")


def process_age(pid):
    """Seconds since pid started."""
    text = Path(f"/proc/{pid}/stat").read_text()
    started = int(text[text.rindex(")") + 2:].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - started / os.sysconf("SC_CLK_TCK")


def proc_state(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return text[text.rindex(")") + 2:].split()[0]


# -------------------------------------------------------------- signals

@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(lab, tmp_path, model, sig):
    t = start(lab, tmp_path, "-v", *MODELS[model])
    assert_answers(lab)
    # One client still connected (never closes) must not delay the exit.
    hold, seen = start_holder(lab, V6, 1)
    assert seen == ["line"]
    kids = [pid for pid, _ in t.children()]
    t0 = time.monotonic()
    assert t.stop(sig) == 0
    assert time.monotonic() - t0 < 1.0
    assert listeners(lab, PORT) == []
    if model != "fork":  # a --fork child finishes its client (-w) alone
        # Every worker has ended and was reaped: none left, not a zombie.
        assert not [p for p in kids if Path(f"/proc/{p}").exists()], kids
    assert "stopped" in t.stderr
    hold.stdin.close()


# --------------------------------------------------- inetd and activation

def test_inetd_mode_under_socat(lab, tmp_path):
    # A dual-stack socat listener: IPv4 clients arrive IPv4-mapped, and
    # telar must still call them IPv4.  nofork puts the TCP socket itself
    # on telar's stdin/stdout.
    port = 2324
    lab.popen_server(["socat", f"TCP6-LISTEN:{port},ipv6only=0,reuseaddr,fork",
                      f"EXEC:{TELAR} -i,nofork"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    wait_listening(lab, port, count=1)
    assert_answers(lab, port=port)
    assert_answers(lab, port=port, tool=telnet)


def test_inetd_mode_needs_a_socket():
    res = subprocess.run([TELAR, "-i"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 1, res
    assert res.stderr.startswith("telar: -i: standard input is not"), res


def test_socket_activation_two_sockets(lab, tmp_path):
    port = 2325
    t = Telar(lab, tmp_path, [PY, "-c", ACTIVATE, TELAR, str(port), "-v"],
              port=port)
    assert listeners(lab, port) == [f"0.0.0.0:{port}", f"[::]:{port}"]
    assert_answers(lab, port=port)
    # It used what it was given, bound nothing itself.
    assert f"listening on 0.0.0.0:{port}, [::]:{port}" in t.stderr
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{t.pid}/fd"))[3:5] == [3, 4]
    assert t.stop() == 0


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="systemd-socket-activate not installed")
def test_systemd_socket_activate_dual_stack_socket(lab, tmp_path):
    # One dual-stack socket: IPv4 clients are IPv4-mapped on it.
    port = 2326
    Telar(lab, tmp_path, ["systemd-socket-activate", "-l", str(port), TELAR],
          port=port, count=1)
    assert listeners(lab, port) == [f"*:{port}"]
    assert_answers(lab, port=port)


# ------------------------------------------------------------- service

def proc_status(pid):
    """The user, group and capability lines of /proc/PID/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: v.split() for k, v in (line.split(":", 1)
                                     for line in status.splitlines())
            if k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff",
                     "CapAmb")}


def assert_unprivileged(pid, user="nobody"):
    """pid runs as user for good: every id, no other group, no capability."""
    pw = pwd.getpwnam(user)
    ids = proc_status(pid)
    assert ids["Uid"] == [str(pw.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(pw.pw_gid)] * 4, ids
    assert ids["Groups"] == [], ids
    for caps in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(ids[caps][0], 16) == 0, (caps, ids)


NOBODY_LINE = ("telar: running as user nobody (uid {0.pw_uid}, gid {0.pw_gid}), "
               "without capabilities")


def wait_running_as(t, what="running as"):
    """The user line comes right after the switch, which follows binding."""
    wait_until(lambda: what in t.stderr, 5, f"'{what}' logged: {t.stderr!r}")


def telar_pids_with(arg):
    """Pids of telar processes (this build) whose command line has arg."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == TELAR.encode() and arg.encode() in argv:
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("model", MODELS)
def test_root_without_u_serves_as_nobody(lab, tmp_path, model):
    # Port 23 needs root to bind; serving must not.
    nobody = pwd.getpwnam("nobody")
    t = Telar(lab, tmp_path, [TELAR, "-p", "23", "-w", "20", *MODELS[model]],
              port=23)
    wait_running_as(t)
    assert (NOBODY_LINE.format(nobody) + ": started as root without -u\n"
            in t.stderr), t.stderr
    assert_unprivileged(t.pid)
    assert_answers(lab, port=23)
    if model == "workers":
        for pid in t.workers(2):
            assert_unprivileged(pid)
    if model == "fork":
        hold, seen = start_holder(lab, V6, 1, port=23)
        assert seen == ["line"]
        (child,) = [pid for pid, _ in t.children()]
        assert_unprivileged(child)
        hold.stdin.close()
    assert t.proc.poll() is None


def test_root_without_u_under_socket_activation_serves_as_nobody(lab, tmp_path):
    port = 2327
    t = Telar(lab, tmp_path, [PY, "-c", ACTIVATE, TELAR, str(port), "-j", "2"],
              port=port)
    wait_running_as(t)
    assert "started as root without -u" in t.stderr, t.stderr
    for pid in [t.pid, *t.workers(2)]:
        assert_unprivileged(pid)
    assert_answers(lab, port=port)


def test_root_without_u_in_inetd_mode_serves_as_nobody(lab, tmp_path):
    port = 2328
    lab.popen_server(["socat", f"TCP6-LISTEN:{port},ipv6only=0,reuseaddr,fork",
                      f"EXEC:{TELAR} -i -w 20,nofork"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(lab, port, count=1)
    hold, seen = start_holder(lab, V4, 1, port=port)
    assert seen == ["line"]
    (pid,) = telar_pids_with("-i")
    assert_unprivileged(pid)
    hold.stdin.close()
    assert_answers(lab, port=port)


def test_u_root_stays_root(lab, tmp_path):
    t = Telar(lab, tmp_path, [TELAR, "-p", "23", "-u", "root"], port=23)
    wait_running_as(t)
    assert "telar: running as root, with every privilege (-u root)\n" in t.stderr
    ids = proc_status(t.pid)
    assert ids["Uid"] == ["0"] * 4 and ids["Gid"] == ["0"] * 4, ids
    assert int(ids["CapEff"][0], 16) != 0, ids
    assert_answers(lab, port=23)


def test_user_drops_privileges_after_binding_port_23(lab, tmp_path):
    nobody = pwd.getpwnam("nobody")
    t = Telar(lab, tmp_path, [TELAR, "-u", "nobody"], port=23)
    wait_running_as(t)
    assert NOBODY_LINE.format(nobody) + "\n" in t.stderr, t.stderr
    assert_unprivileged(t.pid)
    # On the telnet port, telnet negotiates options: still the one line.
    assert_answers(lab, port=23, tool=telnet)


def test_capability_to_bind_is_dropped_after_binding(lab, tmp_path):
    # As systemd's DynamicUser= with AmbientCapabilities=CAP_NET_BIND_SERVICE
    # (demo/telar.service) starts it: not root, one capability.
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    t = Telar(lab, tmp_path, ["setpriv", "--reuid=nobody", f"--regid={group}",
                              "--clear-groups",
                              "--inh-caps=+net_bind_service",
                              "--ambient-caps=+net_bind_service",
                              TELAR, "-p", "23"], port=23)
    wait_running_as(t)
    assert_unprivileged(t.pid)
    assert_answers(lab, port=23)


def test_verbose_logs_each_connection(lab, tmp_path):
    t = start(lab, tmp_path, "-v")
    assert_answers(lab)
    log = t.stderr
    assert f"telar: connection from {netlab.CLI6} port" in log, log
    assert f"telar: connection from {netlab.CLI4} port" in log, log


def test_syslog_keeps_stderr_quiet(lab, tmp_path):
    t = start(lab, tmp_path, "-s", "-v")
    assert_answers(lab)
    assert t.stop() == 0
    assert t.stderr == ""


BAD_ARGS = [
    ["-p", "0"], ["-p", "65536"], ["-p", "-1"], ["-p", ""], ["-p", "23x"],
    ["-p", "no-such-service"], ["-c", "0"], ["-c", "abc"], ["-c", "10x"],
    ["-c", " 5"], ["-w", "0"], ["-w", "99999"], ["-w", "1.5"],
    ["-l", "300.1.2.3"], ["-l", "example.com"], ["-l", "[::1"], ["-x"],
    ["--bogus"], ["-p"], ["extra"], ["-i", "--fork"], ["-i", "-p", "23"],
    ["-u", "no-such-user"], ["-u", ""], ["-j", "0"], ["-j", "257"],
    ["-j", "x"], ["-j"], ["--fork", "-j", "2"], ["-i", "-j", "2"],
]


@pytest.mark.parametrize("args", BAD_ARGS, ids=" ".join)
def test_bad_arguments_exit_2_with_one_line(args):
    res = subprocess.run([TELAR, *args], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2, res
    assert res.stdout == ""
    assert res.stderr.startswith("telar: ") and res.stderr.count("\n") == 1, res


def test_help_and_version():
    res = subprocess.run([TELAR, "-h"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0 and res.stdout.startswith("Usage: telar"), res
    for flag in ("--fork", "-c", "-j", "-w", "-u", "-i", "-s", "-l", "-p"):
        assert flag in res.stdout
    res = subprocess.run([TELAR, "--version"], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 0 and re.fullmatch(r"telar \(scio\) \S+\n", res.stdout)


def test_port_in_use_is_an_error(lab, tmp_path):
    start(lab, tmp_path)
    second = start(lab, tmp_path, wait=False)
    assert second.proc.wait(timeout=5) == 1
    assert "cannot listen on" in second.stderr and "in use" in second.stderr


# ------------------------------------------------------------- man page

MAN = ROOT / "man" / "telar.8"


def test_man_page_is_clean():
    res = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stderr == "", res
    if shutil.which("man"):
        res = subprocess.run(["man", "--warnings", "-l", str(MAN)],
                             capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                                      PAGER="cat"))
        assert res.returncode == 0 and res.stderr == "", res
    text = MAN.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES",
                    "SIGNALS", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert f'.SH {section}' in text or f'.SH "{section}"' in text, section
