"""Self-tests of the network lab (tests/netlab.py), using plain Python
sockets inside the client namespace."""

import errno
import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

import netlab
from netlab import SRV4, SRV6, SRV_ALL
from scio_testlib import PY
PROBE = str(Path(__file__).with_name("netlab_probe.py"))


def probe(lab, *targets, timeout=5.0):
    """Connect to all targets at once from the client ns; {addr: result}."""
    r = lab.run([PY, PROBE, "--timeout", str(timeout), *targets],
                timeout=timeout + 10)
    assert r.returncode == 0, r
    return {res["addr"]: res for res in json.loads(r.stdout)}


def hello(addr, port=7000):
    fam = "ipv6" if ":" in addr else "ipv4"
    return f"hello from {addr} port {port} via {fam}\n"


def assert_hello(res, port=7000):
    assert res["ok"] and res["line"] == hello(res["addr"], port), res


def assert_fails(res, errno_name, within=0.5):
    assert not res["ok"] and res["errno"] == errno_name, res
    assert res["elapsed"] < within, res


def py_in_client(lab, code):
    r = lab.run([PY, "-c", textwrap.dedent(code)])
    assert r.returncode == 0, r
    return json.loads(r.stdout)


GAI = """
    import json, socket, sys
    out = {}
    for name in sys.argv[1:]:
        try:
            infos = socket.getaddrinfo(name, 7000, socket.AF_UNSPEC,
                                       socket.SOCK_STREAM)
            out[name] = [ai[4][0] for ai in infos]
        except socket.gaierror as e:
            out[name] = str(e)
    print(json.dumps(out))
"""


def resolve(lab, *names):
    r = lab.run([PY, "-c", textwrap.dedent(GAI), *names])
    assert r.returncode == 0, r
    return json.loads(r.stdout)


# --------------------------------------------------------------- naming


def test_getaddrinfo_order(lab):
    got = resolve(lab, "dual.test", "multi.test", "v6only.test",
                  "v4only.test", "localhost", "nonexistent.test")
    assert got["dual.test"] == ["2001:db8::10", "192.0.2.10"]
    assert got["multi.test"] == SRV6 + SRV4
    assert got["v6only.test"] == ["2001:db8::10"]
    assert got["v4only.test"] == ["192.0.2.10"]
    assert sorted(got["localhost"]) == ["127.0.0.1", "::1"]
    assert isinstance(got["nonexistent.test"], str), got  # an error, fast


@pytest.mark.lab(extra_hosts=[("2001:db8::11", "extra.test"),
                              "192.0.2.11 extra.test"])
def test_extra_hosts(lab):
    assert resolve(lab, "extra.test")["extra.test"] == ["2001:db8::11",
                                                        "192.0.2.11"]


def test_write_etc(lab):
    lab.write_etc("resolv.conf", "nameserver 2001:db8::10\n")
    r = lab.run(["cat", "/etc/resolv.conf"])
    assert r.stdout == "nameserver 2001:db8::10\n", r
    # The root namespace's file is untouched.
    assert Path("/etc/resolv.conf").read_text() != r.stdout


# ------------------------------------------------------------- servers


def test_hello_on_each_address(lab):
    got = probe(lab, *SRV_ALL)
    for addr in SRV_ALL:
        assert_hello(got[addr])


@pytest.mark.lab(servers=None)
def test_second_server_port_and_hold(lab):
    lab.start_servers(port=7001, hold=0.5)
    code = """
        import json, socket, time
        s = socket.create_connection(("2001:db8::11", 7001), timeout=5)
        f = s.makefile("rb")
        line = f.readline().decode()
        t0 = time.monotonic()
        rest = f.read()          # returns when the server closes
        print(json.dumps([line, rest.decode(), time.monotonic() - t0]))
    """
    line, rest, held = py_in_client(lab, code)
    assert line == hello("2001:db8::11", 7001)
    assert rest == ""
    assert 0.3 < held < 3.0, held


def _server_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.lab(servers=None)
def test_server_many_concurrent_connections(lab):
    server = lab.start_servers()
    baseline = _server_fds(server.pid)
    code = """
        import json, socket
        addrs = %r
        socks, lines = [], []
        for i in range(600):
            a = addrs[i %% len(addrs)]
            s = socket.create_connection((a, 7000), timeout=10)
            socks.append((a, s, s.makefile("rb")))
        for a, s, f in socks:
            lines.append(f.readline().decode())
        for a, s, f in socks:
            f.close(); s.close()
        print(json.dumps(lines))
    """ % (SRV_ALL,)
    lines = py_in_client(lab, code)
    assert len(lines) == 600
    for i, line in enumerate(lines):
        assert line == hello(SRV_ALL[i % len(SRV_ALL)]), (i, line)
    # Every connection the clients closed is closed by the server too.
    deadline = time.monotonic() + 5
    while _server_fds(server.pid) != baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _server_fds(server.pid) == baseline


# -------------------------------------------------------------- faults


def test_blackhole_ipv6(lab):
    lab.fault("ipv6", "blackhole")
    got = probe(lab, "2001:db8::10", "192.0.2.10", timeout=1.0)
    v6 = got["2001:db8::10"]
    assert v6["timeout"] and not v6["ok"], v6
    assert 0.9 < v6["elapsed"] < 2.0, v6
    assert_hello(got["192.0.2.10"])


def test_refuse(lab):
    lab.fault("all", "refuse")
    got = probe(lab, "2001:db8::10", "192.0.2.12")
    for res in got.values():
        assert_fails(res, "ECONNREFUSED")


@pytest.mark.parametrize("kind,errno_name", [("unreachable", "EHOSTUNREACH"),
                                             ("noroute", "ENETUNREACH")])
def test_icmp_errors_are_fast(lab, kind, errno_name):
    lab.fault("all", kind)
    # All six addresses at once, each connect failing within milliseconds.
    got = probe(lab, *SRV_ALL)
    for res in got.values():
        assert_fails(res, errno_name, within=0.3)
    # Again, for a different kind per address.
    lab.fault("ipv4", "unreachable" if kind == "noroute" else "noroute")
    other = "EHOSTUNREACH" if kind == "noroute" else "ENETUNREACH"
    got = probe(lab, "2001:db8::12", "192.0.2.12")
    assert_fails(got["2001:db8::12"], errno_name, within=0.3)
    assert_fails(got["192.0.2.12"], other, within=0.3)


def test_unreachable_blocking_connect(lab):
    lab.fault("2001:db8::10", "unreachable")
    code = """
        import json, socket, time
        s = socket.socket(socket.AF_INET6)
        t0 = time.monotonic()
        try:
            s.connect(("2001:db8::10", 7000))   # blocking, no timeout
            err = None
        except OSError as e:
            err = e.errno
        print(json.dumps([err, time.monotonic() - t0]))
    """
    err, elapsed = py_in_client(lab, code)
    assert err == errno.EHOSTUNREACH and elapsed < 0.5, (err, elapsed)


def test_lossy_connects_after_syn_retransmit(lab):
    lab.fault("all", "lossy")
    got = probe(lab, "2001:db8::12", "192.0.2.12", timeout=5.0)
    for res in got.values():
        assert_hello(res)
        assert 0.8 < res["elapsed"] < 3.5, res
    # The lossy state of other connections survives an unrelated change.
    lab.fault("2001:db8::10", "refuse")
    assert "lossy" in lab.nft_ruleset()


def test_per_address_fault(lab):
    lab.fault("2001:db8::11", "refuse")
    got = probe(lab, *SRV_ALL)
    assert_fails(got["2001:db8::11"], "ECONNREFUSED")
    for addr in SRV_ALL:
        if addr != "2001:db8::11":
            assert_hello(got[addr])
    assert lab.faults == {"2001:db8::11": "refuse"}


def test_ok_restores(lab):
    lab.fault("all", "unreachable")
    lab.fault("ipv4", "ok")
    got = probe(lab, "2001:db8::10", "192.0.2.10")
    assert_fails(got["2001:db8::10"], "EHOSTUNREACH")
    assert_hello(got["192.0.2.10"])
    lab.fault("all", "ok")
    assert lab.faults == {}
    got = probe(lab, *SRV_ALL)
    for addr in SRV_ALL:
        assert_hello(got[addr])


def test_fault_argument_errors(lab):
    with pytest.raises(ValueError):
        lab.fault("ipv5", "refuse")
    with pytest.raises(ValueError):
        lab.fault("2001:db8::99", "refuse")  # not a server address
    with pytest.raises(ValueError):
        lab.fault("all", "slow")
    # Non-canonical spelling of a server address is fine.
    lab.fault("2001:0db8:0::0011", "refuse")
    assert lab.faults == {"2001:db8::11": "refuse"}


def test_faults_spare_neighbour_discovery_and_udp(lab):
    lab.fault("all", "blackhole")
    got = probe(lab, "2001:db8::10", "192.0.2.10", timeout=0.3)
    assert all(res["timeout"] for res in got.values()), got
    # ND and ARP went through: the client knows the server's MAC address.
    neigh = lab.run(["ip", "neigh", "show", "dev", netlab.IFNAME]).stdout
    assert "2001:db8::10 " in neigh and "192.0.2.10 " in neigh, neigh
    assert "FAILED" not in neigh and "INCOMPLETE" not in neigh, neigh
    # Only TCP is affected: a UDP datagram still reaches the server ns.
    listener = lab.popen_server(
        [PY, "-c", "import socket,sys; s=socket.socket(socket.AF_INET6, "
         "socket.SOCK_DGRAM); s.bind(('2001:db8::10', 7000)); print('up', "
         "flush=True); print(s.recv(100).decode(), flush=True)"],
        stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline() == "up\n"
    lab.run([PY, "-c", "import socket; socket.socket(socket.AF_INET6, "
             "socket.SOCK_DGRAM).sendto(b'udp ok', ('2001:db8::10', 7000))"])
    assert listener.stdout.readline() == "udp ok\n"
    assert listener.wait(timeout=5) == 0


# ----------------------------------------------------- process helpers


def test_sysctl_client(lab):
    lab.sysctl_client("net.ipv4.tcp_syn_retries", 2)
    r = lab.run(["sysctl", "-n", "net.ipv4.tcp_syn_retries"])
    assert r.stdout.strip() == "2", r
    # Per namespace: the server ns keeps the default.
    r = lab.run_server(["sysctl", "-n", "net.ipv4.tcp_syn_retries"])
    assert r.stdout.strip() != "2", r


def test_run_env_input_and_timeout(lab):
    r = lab.run(["/bin/sh", "-c", 'echo "$FOO"; cat; echo err >&2; exit 3'],
                env={"FOO": "bar"}, input="stdin text\n")
    assert (r.returncode, r.stdout, r.stderr) == (3, "bar\nstdin text\n",
                                                  "err\n"), r
    assert not r.timed_out

    r = lab.run(["/bin/sh", "-c", "echo started; sleep 30 & wait"],
                timeout=0.5)
    assert r.timed_out and r.returncode is None, r
    assert r.stdout == "started\n", r
    assert 0.4 < r.elapsed < 3.0, r


def test_popen_runs_in_namespaces(lab):
    c = lab.popen(["ip", "-o", "addr", "show", "dev", netlab.IFNAME],
                  stdout=subprocess.PIPE, text=True)
    s = lab.popen_server(["ip", "-o", "addr", "show", "dev", netlab.IFNAME],
                         stdout=subprocess.PIPE, text=True)
    cout, _ = c.communicate(timeout=10)
    sout, _ = s.communicate(timeout=10)
    assert netlab.CLI6 in cout and netlab.CLI4 in cout, cout
    assert all(a in sout for a in SRV_ALL), sout
    assert netlab.CLI6 not in sout


# ------------------------------------------------------------ teardown


def _live_netns():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_close_removes_everything(make_lab):
    lab = make_lab()
    server = lab.start_servers()
    lab.fault("ipv6", "unreachable")  # starts the ICMP responder too
    bg = lab.popen(["sleep", "60"])
    assert {lab.cli, lab.srv} <= _live_netns()
    assert Path("/etc/netns", lab.cli).is_dir()
    t0 = time.monotonic()
    lab.close()
    assert time.monotonic() - t0 < 3
    assert not ({lab.cli, lab.srv} & _live_netns())
    assert not Path("/etc/netns", lab.cli).exists()
    for p in (server, bg):
        assert p.poll() is not None
    lab.close()  # idempotent


def test_cleanup_stale(make_lab):
    make_lab()  # only to skip (or fail in CI) where no lab can be made
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"scio{dead.pid}c999"
    live = f"scio{os.getpid()}c998"  # this process is alive: not stale
    try:
        for ns in (stale, live):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            Path("/etc/netns", ns).mkdir(parents=True, exist_ok=True)
        removed = netlab.cleanup_stale()
        assert stale in removed and live not in removed
        names = _live_netns()
        assert stale not in names and live in names
        assert not Path("/etc/netns", stale).exists()
    finally:
        for ns in (stale, live):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["rm", "-rf", f"/etc/netns/{ns}"])
