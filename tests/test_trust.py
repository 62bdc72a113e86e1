"""Trust: a connect is raced only toward the other addresses of the lookup
the program took its address from (issue 13, point 1), and the socket
keeps the family the program created (point 2).

evil.test shares 2001:db8::10 with dual.test and v6only.test but has its
own IPv4 server, 192.0.2.11.  Whenever the program named something else,
reaching 192.0.2.11 means scio chose the server, not the program.
"""

import pytest

from scio_testlib import PORT, PY, prog, run_scio
EVIL_HOSTS = [("2001:db8::10", "evil.test"), ("192.0.2.11", "evil.test")]

trust_lab = pytest.mark.lab(extra_hosts=EVIL_HOSTS)

# Resolves evil.test first (as a program that looked at it would), then
# runs CASE; prints 'connected <greeting>' or 'error <errno>'.
PROGRAM = """
import socket, sys, threading
socket.getaddrinfo("evil.test", 7000, type=socket.SOCK_STREAM)
def show(s):
    print("connected", s.recv(200).decode().strip(), flush=True)
def report(fn):
    try:
        show(fn())
    except OSError as e:
        print("error", e.errno, flush=True)
case = sys.argv[1]
if case == "literal":
    report(lambda: socket.create_connection(("2001:db8::10", 7000), timeout=5))
elif case == "v6only":
    report(lambda: socket.create_connection(("v6only.test", 7000), timeout=5))
elif case == "other-thread-resolved-last":
    # dual.test resolved here; evil.test again by another thread, later
    ai = socket.getaddrinfo("dual.test", 7000, type=socket.SOCK_STREAM)
    t = threading.Thread(target=socket.getaddrinfo, args=("evil.test", 7000))
    t.start(); t.join()
    def conn():
        s = socket.socket(ai[0][0], socket.SOCK_STREAM)
        s.settimeout(None)
        s.connect(ai[0][4])
        return s
    report(conn)
"""


def run_case(lab, case):
    res = run_scio(lab, [PY, "-c", PROGRAM, case])
    assert res.returncode == 0, res
    return res.stdout.strip()


@trust_lab
@pytest.mark.parametrize("case", ["literal", "v6only"])
def test_a_connect_the_program_did_not_resolve_is_not_raced(lab, case):
    """With IPv6 healthy and the port closed, plain libc says refused;
    the shim must say the same, not connect to evil.test's IPv4."""
    lab.fault("2001:db8::10", "refuse")
    out = run_case(lab, case)
    assert out == "error 111", out
    assert "192.0.2.11" not in out


@trust_lab
def test_the_calling_threads_lookup_wins_over_a_newer_one_elsewhere(lab):
    lab.fault("2001:db8::10", "refuse")
    out = run_case(lab, "other-thread-resolved-last")
    assert out == "connected hello from 192.0.2.10 port 7000 via ipv4", out


TWO_THREADS = """
import socket, threading
barrier = threading.Barrier(2)
out = {}
def worker(name):
    ai = socket.getaddrinfo(name, 7000, socket.AF_UNSPEC, socket.SOCK_STREAM)
    assert ai[0][4][0] == "2001:db8::10", ai
    barrier.wait()
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.connect(ai[0][4])
        out[name] = s.recv(200).decode().strip()
    except OSError as e:
        out[name] = "error %d" % e.errno
ts = [threading.Thread(target=worker, args=(n,)) for n in ("evil.test", "dual.test")]
for t in ts: t.start()
for t in ts: t.join()
for name in sorted(out):
    print(name, "=>", out[name])
"""


@trust_lab
def test_two_threads_sharing_an_address_each_race_their_own_answer(lab):
    lab.fault("2001:db8::10", "refuse")
    for _ in range(3):
        # history off: what one round learnt must not reorder the next
        res = run_scio(lab, [PY, "-c", TWO_THREADS], SCIO_HISTORY="off")
        assert res.returncode == 0, res
        lines = dict(l.split(" => ") for l in res.stdout.splitlines())
        assert sorted(lines) == ["dual.test", "evil.test"], res
        assert lines["dual.test"] in ("error 111", "hello from 192.0.2.10 port 7000 via ipv4"), res
        assert lines["evil.test"] in ("error 111", "hello from 192.0.2.11 port 7000 via ipv4"), res


CROSS_THREAD = """
import socket, threading, time
box = []
t = threading.Thread(target=lambda: box.append(
    socket.getaddrinfo("dual.test", 7000, socket.AF_UNSPEC, socket.SOCK_STREAM)))
t.start(); t.join()
ai = box[0]
s = socket.socket(ai[0][0], socket.SOCK_STREAM)
t0 = time.monotonic()
s.connect(ai[0][4])
print(s.recv(200).decode().strip(), "%.3f" % (time.monotonic() - t0))
"""


def test_a_lookup_on_another_thread_is_raced_when_unambiguous(lab):
    """asyncio and libuv resolve on a worker thread and connect on the
    event loop's: an unambiguous answer is still raced."""
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, [PY, "-c", CROSS_THREAD])
    assert res.returncode == 0, res
    greeting, took = res.stdout.rsplit(" ", 1)
    assert greeting == "hello from 192.0.2.10 port 7000 via ipv4", res
    assert float(took) < 1.5, res


# ---- point 2: the socket keeps the family the program created ----

FAMILY = """
import socket
ai = socket.getaddrinfo("dual.test", 7000, socket.AF_UNSPEC, socket.SOCK_STREAM)
assert ai[0][0] == socket.AF_INET6, ai
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x20)
s.connect(ai[0][4])
peer = s.getpeername()
host, port, flow, scope = peer
print("peer", host, port)
print("family", int(s.family), s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN))
print("tclass", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x28)
print("tclass", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS))
print("local", s.getsockname()[0])
print("greeting", s.recv(200).decode().strip())
"""


def test_an_ipv4_win_keeps_the_programs_af_inet6_socket(lab):
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, [PY, "-c", FAMILY])
    assert res.returncode == 0, res
    out = dict(l.split(" ", 1) for l in res.stdout.splitlines()[:-1] if l)
    assert out["peer"] == "::ffff:192.0.2.10 7000", res
    assert out["family"] == "10 10", res
    assert out["local"] == "::ffff:192.0.2.2", res
    assert "tclass 32" in res.stdout and "tclass 40" in res.stdout, res
    assert "via ipv4" in res.stdout


V6ONLY = """
import socket
ai = socket.getaddrinfo("dual.test", 7000, socket.AF_UNSPEC, socket.SOCK_STREAM)
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.connect(ai[0][4])
print(s.getpeername()[0])
"""


def test_a_v6only_socket_is_never_given_a_mapped_address(lab):
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, ["-v", PY, "-c", V6ONLY])
    assert res.returncode == 0, res
    assert res.stdout.strip() == "192.0.2.10", res
    assert "is now an AF_INET socket" in res.stderr, res


# ---- point 4: cancellation and siglongjmp leave nothing behind ----

@pytest.mark.parametrize("ms", [100, 600])
def test_a_cancelled_connect_leaves_no_socket_and_no_option(lab, ms):
    """100 ms: inside the program's own bounded connect; 600 ms: inside
    the race, with attempts of both families in flight."""
    lab.fault("all", "blackhole")
    res = run_scio(lab, [prog("cancel_probe"), "cancel", "dual.test", PORT,
                         str(ms), "4"], SCIO_HISTORY="off")
    assert res.returncode == 0, res
    rounds = [l for l in res.stdout.splitlines() if l.startswith("round")]
    assert len(rounds) == 4, res
    for line in rounds:
        assert "cancelled=1 cleaned=1 sndtimeo=0 nonblock=0" in line, res
    fds = dict(kv.split("=") for kv in res.stdout.splitlines()[-1].split()[1:])
    assert fds["before"] == fds["after"], res


def test_siglongjmp_out_of_a_raced_connect_leaves_the_programs_timeout(lab):
    lab.fault("all", "blackhole")
    res = run_scio(lab, [prog("cancel_probe"), "longjmp", "dual.test", PORT, "100"],
                   SCIO_HISTORY="off")
    assert res.returncode == 0, res
    assert res.stdout.strip() == "jumped=1 sndtimeo=0 nonblock=0", res


FTP_SERVER = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
import logging
logging.disable(logging.CRITICAL)
auth = DummyAuthorizer()
auth.add_anonymous(sys.argv[1])
class Handler(FTPHandler):
    authorizer = auth
    passive_ports = range(30000, 30100)
server = FTPServer((sys.argv[2], 2121), Handler)
print("READY", flush=True)
server.serve_forever()
"""

FTP_CLIENT = """
import ftplib, io
ftp = ftplib.FTP()
ftp.connect("dual.test", 2121, timeout=None)
ftp.login()
buf = io.BytesIO()
ftp.retrbinary("RETR greeting.txt", buf.write)
ftp.quit()
print(buf.getvalue().decode().strip())
"""


def test_passive_ftp_opens_its_data_channel_after_an_ipv4_win(lab, tmp_path):
    """ftplib reads the control connection's family and peer to open the
    passive data connection: a socket that changed family broke it."""
    import netlab
    import subprocess
    import sys
    (tmp_path / "greeting.txt").write_text("hello over ftp\n")
    tmp_path.chmod(0o755)
    for addr in ("2001:db8::10", "192.0.2.10"):  # one server per family
        srv = lab.popen_server([sys.executable, "-u", "-c", FTP_SERVER,
                                str(tmp_path), addr],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        netlab._expect(srv, b"READY", 10, "FTP server")
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, [PY, "-c", FTP_CLIENT], timeout=20)
    assert res.returncode == 0, res
    assert res.stdout.strip() == "hello over ftp", res
    assert res.elapsed < 3, res
