"""IPv6-only hosts behind a real NAT64 (tayga): IPv4 literals and IPv4-only
names reach the IPv4-only server through scio (RFC 8305 section 7), and
fail with ENETUNREACH without it, in the same test.  The world is
tests/netlab_nat64.py: client (IPv6 only) - router (tayga) - server (IPv4
only, documentation addresses, a network-specific prefix).
"""

import os
import re
import subprocess

import pytest

import netlab
import netlab_nat64
from netlab_nat64 import Nat64Lab, SRV4, V4ONLY_NAME
from scio_testlib import PY, SCIO_RUN, not_under_san, not_under_tsan, prog, run_scio, san_env

SRV = SRV4[0]


def _unavailable(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"NAT64 lab unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"NAT64 lab unavailable: {reason}")


@pytest.fixture
def make_nat64(_lab_session):
    labs = []

    def make(**kw):
        try:
            lab = Nat64Lab(**kw)
            labs.append(lab)
            lab.start_servers()
        except (netlab.LabError, OSError) as e:
            _unavailable(str(e))
        return lab

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def n64(make_nat64):
    return make_nat64()


def scio(lab, argv, **env):
    return run_scio(lab, ["-v", *argv], **env)


def plain(lab, argv, **env):
    return run_scio(lab, argv, shim=False, **env)


def log_lines(res, word):
    return [l for l in res.stderr.splitlines() if l.startswith("scio[") and word in l]


def assert_through_nat64(lab, res, v4=SRV):
    """The server saw the translator's pool address; scio said which
    address it synthesized."""
    assert res.returncode == 0, res
    assert re.search(r"peer=198\.51\.100\.\d+", res.stdout), res
    assert log_lines(res, lab.synth(v4)), res


def py_connect(target, timeout=None):
    """create_connection, then getpeername on the fd as the kernel has it
    (a socket object made from the fd, which asks the fd its family)."""
    t = "" if timeout is None else f", timeout={timeout}"
    return (f"import socket,os; s=socket.create_connection({target!r}{t});"
            "print(s.recv(100).decode().strip());"
            "t=socket.socket(fileno=os.dup(s.fileno()));"
            "print('family', t.family.name, 'peer', t.getpeername()[0])")


# ---- IPv4 literals (section 7.1), real programs ----

@pytest.mark.parametrize("timeout", [None, 5])
def test_python_literal(n64, timeout):
    code = py_connect((SRV, 8080), timeout)
    res = plain(n64, [PY, "-c", code])
    assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
    res = scio(n64, [PY, "-c", code])
    assert_through_nat64(n64, res)
    # getpeername shows the synthesized IPv6 address on an AF_INET6 socket
    assert f"family AF_INET6 peer {n64.synth(SRV)}" in res.stdout, res
    assert log_lines(res, "discovered"), res


PROGRAMS = {
    "curl": ["curl", "-sS", f"http://{SRV}:8081/"],
    "wget": ["wget", "-nv", "-O-", f"http://{SRV}:8081/"],
    "nc": ["nc", "-v", SRV, "8080"],
}


# curl and wget hang at exit with a sanitizer runtime preloaded, scio or not
@pytest.mark.parametrize("name", [pytest.param("curl", marks=not_under_san), "nc",
                                  pytest.param("wget", marks=not_under_san)])
def test_program_literal(n64, name):
    argv = PROGRAMS[name]
    res = plain(n64, argv)
    assert res.returncode != 0 and "peer=" not in res.stdout, res
    if name != "curl":  # curl says "Couldn't connect to server"
        assert "Network is unreachable" in res.stderr, res
    assert_through_nat64(n64, scio(n64, argv))


@not_under_tsan
def test_bash_dev_tcp_literal(n64):
    script = f"exec 3<>/dev/tcp/{SRV}/8080; cat <&3"
    res = plain(n64, ["bash", "-c", script])
    assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
    assert_through_nat64(n64, scio(n64, ["bash", "-c", script]))


NONBLOCKING = f"""
import errno, select, socket, os
s = socket.socket()
s.setblocking(False)
rc = s.connect_ex(({SRV!r}, 8080))
print("connect", errno.errorcode.get(rc, rc), flush=True)
if rc == errno.EINPROGRESS:
    print("flags", "nonblocking" if not os.get_blocking(s.fileno()) else "blocking")
    select.select([], [s], [], 5)
    print("so_error", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    # asked again, the kernel answers for the connect it made (EISCONN,
    # which connect_ex gives as 0)
    print("again", s.connect_ex(({SRV!r}, 8080)))
    s.setblocking(True)
    print(s.recv(100).decode().strip())
"""


def test_nonblocking_literal(n64):
    """A non-blocking connect gets EINPROGRESS, as the kernel gives it for
    a connect that can be made; the program's wait sees it connect."""
    res = plain(n64, [PY, "-c", NONBLOCKING])
    assert "connect ENETUNREACH" in res.stdout, res
    res = scio(n64, [PY, "-c", NONBLOCKING])
    assert "connect EINPROGRESS" in res.stdout and "so_error 0" in res.stdout, res
    assert "flags nonblocking" in res.stdout and "again 0" in res.stdout, res
    assert_through_nat64(n64, res)


OPTIONS = f"""
import os, socket
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.set_inheritable(True)
fd = s.fileno()
s.connect(({SRV!r}, 8080))
t = socket.socket(fileno=os.dup(fd))
print("fd", s.fileno() == fd, t.family.name,
      "nodelay", t.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
      "keepalive", t.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      "rcvbuf", t.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 65536,
      "inheritable", os.get_inheritable(fd))
print(s.recv(100).decode().strip())
"""


def test_fd_options_and_flags_kept(n64):
    """The AF_INET6 socket takes the program's fd number with the options
    it set and without FD_CLOEXEC, as the program's socket had it."""
    res = scio(n64, [PY, "-c", OPTIONS])
    assert_through_nat64(n64, res)
    assert ("fd True AF_INET6 nodelay 1 keepalive 1 rcvbuf True inheritable True"
            in res.stdout), res


LITERAL_GAI = ("import socket, sys; print([(x[0].name, x[4][0]) for x in socket.getaddrinfo("
               "sys.argv[1], 8080, int(sys.argv[2]), int(sys.argv[3]), 0, int(sys.argv[4]))])")


def test_literal_lookup_answers_synthesized_first(n64):
    """The lookup of an IPv4 literal on an IPv6-only host puts the
    synthesized address first (section 7.1 at the lookup): the program
    makes an AF_INET6 socket itself and no family ever changes.  Not for
    AF_INET, UDP or a passive (bind) lookup; and libc's answer follows."""
    def gai(family=0, socktype=1, flags=0, shim=True):
        argv = [PY, "-c", LITERAL_GAI, SRV, str(family), str(socktype), str(flags)]
        res = scio(n64, argv) if shim else plain(n64, argv)
        assert res.returncode == 0, res
        return res.stdout.strip()
    assert gai(shim=False) == str([("AF_INET", SRV)])
    assert gai() == str([("AF_INET6", n64.synth(SRV)), ("AF_INET", SRV)])
    # AF_INET, UDP, a passive (bind) lookup, AI_NUMERICHOST (parse it)
    for kw in ({"family": 2}, {"socktype": 2}, {"flags": 1}, {"flags": 4}):
        assert gai(**kw) == gai(shim=False, **kw), kw
    # python connects the AF_INET6 socket it made: no family change
    res = scio(n64, [PY, "-c", py_connect((SRV, 8080))])
    assert_through_nat64(n64, res)
    assert log_lines(res, "an IPv4 literal") and not log_lines(res, "is now an AF_INET6"), res


def test_a_routed_address_leaves_others_synthesized(n64):
    """A lookup of an address IPv4 does route (loopback here, a VPN's
    elsewhere) says nothing of the others: the IPv4-only name and
    literal looked up next still get their synthesized addresses."""
    code = ("import socket; socket.getaddrinfo('127.0.0.1', 8080);"
            f"a = socket.create_connection(({V4ONLY_NAME!r}, 8080));"
            f"b = socket.create_connection(({SRV!r}, 8080));"
            "print(a.family.name, a.getpeername()[0], b.family.name, b.getpeername()[0])")
    res = scio(n64, [PY, "-c", code])
    synth = n64.synth(SRV)
    assert res.stdout.split() == ["AF_INET6", synth, "AF_INET6", synth], res


def test_this_hosts_addresses_never_synthesized(n64):
    """127.0.1.1 (Debian's /etc/hosts line for the host's own name) has a
    route and is this host: an AF_INET6 or AI_ADDRCONFIG lookup of the
    name gets libc's error, never an address inside the NAT64 prefix."""
    n64.write_etc("hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tmyhost.test\n")
    for family, flags in ((10, 0), (0, 32)):  # AF_INET6; AF_UNSPEC, AI_ADDRCONFIG
        argv = [PY, "-c", LITERAL_GAI, "myhost.test", str(family), "1", str(flags)]
        want, res = plain(n64, argv), scio(n64, argv)
        assert res.returncode == want.returncode and res.stdout == want.stdout, (want, res)
        assert n64.prefix.split("::")[0] not in res.stdout, res


@pytest.mark.parametrize("target", [V4ONLY_NAME, SRV])
def test_program_without_hints(n64, target):
    """getaddrinfo(name, port, NULL, ...), as older C programs call it:
    glibc takes AI_V4MAPPED | AI_ADDRCONFIG, which on an IPv6-only host
    gives ::ffff:203.0.113.10 (unreachable) for the literal.  Through
    scio both reach the server at the synthesized address."""
    argv = [prog("shim_probe"), "loop", target, "8080"]
    env = {"PROBE_NO_HINTS": "1"}
    res = plain(n64, argv, **env)
    assert "peer=" not in res.stdout, res
    res = scio(n64, argv, **env)
    assert res.returncode == 0 and f"peer={n64.synth(SRV)}" in res.stdout, res


def test_v4mapped_connect_goes_to_the_synthesized_address(n64):
    """An AF_INET6 socket connected to ::ffff:203.0.113.10 (what glibc
    gives with AI_V4MAPPED) fails at once on an IPv6-only host; through
    scio the same socket connects to the synthesized address, its family
    unchanged."""
    code = (f"import socket; s = socket.socket(socket.AF_INET6);"
            f"s.connect(('::ffff:{SRV}', 8080)); print(s.recv(100).decode().strip());"
            "print(s.family.name, s.getpeername()[0])")
    res = plain(n64, [PY, "-c", code])
    assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
    res = scio(n64, [PY, "-c", code])
    assert_through_nat64(n64, res)
    assert f"AF_INET6 {n64.synth(SRV)}" in res.stdout, res


MAPPED_THEN_LITERAL = f"""
import errno, socket
def attempt(sock, dst):
    try:
        sock.connect((dst, 8080))
        return sock.recv(100).decode().strip()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
print(attempt(socket.socket(socket.AF_INET6), "::ffff:203.0.113.99"))
print(attempt(socket.socket(socket.AF_INET6), "::ffff:{SRV}"))
print(attempt(socket.socket(), {SRV!r}))
"""


def test_unreachable_host_behind_nat64_keeps_the_prefix(n64):
    """A v4-mapped connect to a dead host behind the translator gets the
    network's unreachable (ICMP, translated, after ARP gives up seconds
    later): that is the kernel's answer, not a sign that the prefix is
    another network's, so the next connects still go through NAT64."""
    res = scio(n64, [PY, "-c", MAPPED_THEN_LITERAL], timeout=30)
    lines = res.stdout.split()
    assert res.returncode == 0 and len(lines) == 3, res
    assert lines[0] in ("EHOSTUNREACH", "ENETUNREACH"), res
    assert all(l.startswith("peer=198.51.100.") for l in lines[1:]), res


@not_under_tsan  # TSan refuses threads after a fork of a threaded process
def test_fork_while_the_first_discovery_starts(n64):
    """One thread forks all the time while another makes the process's
    first lookup and connect of an IPv4 literal.  The discovery's helper
    starts with no lock of ours held: fork's handlers take the library's
    locks in the reverse order of their registration, and a helper
    started under the NAT64 lock hung about one process in six."""
    for i in range(30):
        res = run_scio(n64, [prog("shim_probe"), "fork-loop", SRV, "8080", str(i % 50)],
                       timeout=10)
        assert not res.timed_out and "rc=0" in res.stdout, (i, res)


def test_literal_lookups_cost_one_route_lookup(n64):
    """No route is remembered per address: twenty lookups of a literal ask
    the routing table once."""
    code = ("import socket\nfor _ in range(20): "
            f"socket.getaddrinfo({SRV!r}, 8080, type=socket.SOCK_STREAM)")
    res = run_scio(n64, ["strace", "-f", "-qq", "-e", "trace=connect", PY, "-c", code],
                   SCIO_NAT64_PREFIX=netlab_nat64.PREFIX)
    assert res.returncode == 0, res
    assert res.stderr.count(f'inet_addr("{SRV}")') == 1, res


def test_discovered_once_and_in_history(n64):
    """Discovery runs for the first IPv4 connect that finds no route, once:
    later connects, in this process and in the next, use the cached
    prefix; scio-run --history shows it."""
    code = (f"import socket\nfor i in range(3):\n"
            f"  print(socket.create_connection(({SRV!r}, 8080)).recv(100).decode().strip())")
    res = scio(n64, [PY, "-c", code])
    assert res.returncode == 0 and res.stdout.count("peer=198.51.100.") == 3, res
    assert len(log_lines(res, "discovered (ipv4only.arpa")) == 1, res
    assert_through_nat64(n64, scio(n64, ["nc", SRV, "8080"]))
    assert n64.dns_counts().get("ipv4only.arpa") == {"AAAA": 1}
    hist = n64.run([SCIO_RUN, "--history"])
    assert netlab_nat64.PREFIX in hist.stdout and "NAT64" in hist.stdout, hist


ATTEMPTS = f"""
import errno, socket, sys, time
def attempt():
    t = time.monotonic()
    try:
        s = socket.create_connection(({SRV!r}, 8080))
        r = s.recv(100).decode().strip()
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e))
    print(r, round(time.monotonic() - t, 3), flush=True)
start = time.monotonic()
attempt(); attempt()
time.sleep(max(0, float(sys.argv[1]) - (time.monotonic() - start)))
attempt()
"""


def slow_resolver_options(lab):
    """glibc's own: 5 s per try, two tries (the lab's are 1 s)."""
    lab.write_etc("resolv.conf", f"nameserver {netlab_nat64.RTR6}\noptions timeout:5 attempts:2\n")


def attempts(res):
    assert res.returncode == 0, res
    return [(l.split()[0], float(l.split()[1])) for l in res.stdout.splitlines()]


def test_slow_discovery_goes_on_in_the_background(n64):
    """A resolver that takes 3 s for ipv4only.arpa: the first connect
    waits for it 1 s and gets libc's error; the next does not wait
    again; once the answer is in, a connect goes through NAT64.  One
    query in all."""
    slow_resolver_options(n64)
    n64.ipv4only_answer(AAAA_delay_ms=3000)
    res = scio(n64, [PY, "-c", ATTEMPTS, "4.5"])
    (r1, t1), (r2, t2), (r3, _) = attempts(res)
    assert r1 == "ENETUNREACH" and 0.8 < t1 < 2.5, res
    assert r2 == "ENETUNREACH" and t2 < 0.5, res
    assert r3.startswith("peer=198.51.100."), res
    assert n64.dns_counts()["ipv4only.arpa"] == {"AAAA": 1}, res


def test_resolver_that_never_answers_costs_one_second(n64):
    """ipv4only.arpa dropped: glibc alone would wait 10 s (two tries of
    5 s) inside the program's connect; scio waits 1 s, once."""
    slow_resolver_options(n64)
    n64.ipv4only_answer(AAAA_mode="drop")
    res = scio(n64, [PY, "-c", ATTEMPTS, "0"])
    (r1, t1), (r2, t2), (r3, t3) = attempts(res)
    assert r1 == "ENETUNREACH" and t1 < 2.5, res
    assert (r2, r3) == ("ENETUNREACH", "ENETUNREACH") and t2 < 0.5 and t3 < 0.5, res
    assert res.elapsed < 5, res


def test_configured_prefix_needs_no_discovery(n64):
    res = scio(n64, ["nc", SRV, "8080"], SCIO_NAT64_PREFIX=netlab_nat64.PREFIX)
    assert_through_nat64(n64, res)
    assert log_lines(res, "configured"), res
    assert "ipv4only.arpa" not in n64.dns_counts()


def test_off_and_udp_and_bound_untouched(n64):
    """SCIO_NAT64_PREFIX=off, a UDP socket and a socket bound to an IPv4
    address get libc's error."""
    res = scio(n64, ["nc", "-v", SRV, "8080"], SCIO_NAT64_PREFIX="off")
    assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
    udp = (f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
           f"s.connect(({SRV!r}, 8080))")
    bound = (f"import socket; s=socket.socket(); s.bind(('127.0.0.1', 0));"
             f"s.connect(({SRV!r}, 8080))")
    for code in (udp, bound):
        res = scio(n64, [PY, "-c", code])
        assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
        assert not log_lines(res, "NAT64"), res


def test_wkp_never_for_rfc1918(n64):
    """With the well-known prefix, a private (and a documentation) IPv4
    literal is not synthesized (RFC 6052 section 3.1): libc's error."""
    for addr in ("10.1.2.3", SRV):
        code = f"import socket; socket.create_connection(({addr!r}, 8080))"
        want = plain(n64, [PY, "-c", code])
        res = scio(n64, [PY, "-c", code], SCIO_NAT64_PREFIX="64:ff9b::/96")
        assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
        assert "Network is unreachable" in want.stderr, want
        assert log_lines(res, "not a global IPv4 address"), res


# ---- IPv4-only names (section 7.2) ----

NAME_GAI = (f"import socket; print(sorted(set(a[4][0] for a in socket.getaddrinfo("
            f"{V4ONLY_NAME!r}, 8081, type=socket.SOCK_STREAM))))")


NAME_PROGRAMS = {
    "python3": [PY, "-c", py_connect((V4ONLY_NAME, 8080))],
    "wget": ["wget", "-nv", "-O-", f"http://{V4ONLY_NAME}:8081/"],
}


@pytest.mark.parametrize("name", ["python3", pytest.param("wget", marks=not_under_san)])
def test_v4only_name_plain_resolver(n64, name):
    argv = NAME_PROGRAMS[name]
    res = plain(n64, argv)
    assert res.returncode != 0 and "peer=" not in res.stdout, res
    assert "Network is unreachable" in res.stderr, res
    res = scio(n64, argv)
    assert_through_nat64(n64, res)
    assert log_lines(res, "IPv4 only"), res
    res = scio(n64, [PY, "-c", NAME_GAI])
    assert res.stdout.strip() == str(sorted([SRV, n64.synth(SRV)])), res


ADDRCONFIG = (f"import socket; a = socket.getaddrinfo({V4ONLY_NAME!r}, 8080, "
              f"type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG);"
              f"print([x[4][0] for x in a]);"
              f"s = socket.socket(a[0][0]); s.connect(a[0][4]);"
              f"print(s.recv(100).decode().strip())")


def test_v4only_name_with_ai_addrconfig(n64):
    """AI_ADDRCONFIG on a host without IPv4 makes glibc skip the A query:
    the name has no answer; scio asks for its A records and gives their
    synthesized AAAA alone."""
    res = plain(n64, [PY, "-c", ADDRCONFIG])
    assert res.returncode != 0 and "socket.gaierror" in res.stderr, res
    res = scio(n64, [PY, "-c", ADDRCONFIG])
    assert f"[{n64.synth(SRV)!r}]" in res.stdout, res
    assert_through_nat64(n64, res)


INET6_ONLY = (f"import socket; a = socket.getaddrinfo({V4ONLY_NAME!r}, 8080, socket.AF_INET6,"
              f" socket.SOCK_STREAM); print([x[4][0] for x in a])")


def test_v4only_name_asked_for_ipv6_alone(n64):
    """A program that asks for AF_INET6 alone (curl -6, AF_INET6 hints)
    gets no answer for an IPv4-only name; scio gives it the synthesized
    AAAA, which reach the server through NAT64."""
    res = plain(n64, [PY, "-c", INET6_ONLY])
    assert res.returncode != 0 and "socket.gaierror" in res.stderr, res
    res = scio(n64, [PY, "-c", INET6_ONLY])
    assert res.returncode == 0 and res.stdout.strip() == str([n64.synth(SRV)]), res
    # AI_V4MAPPED: glibc's ::ffff:203.0.113.10 cannot be reached either;
    # the synthesized address goes first
    mapped = INET6_ONLY.replace("socket.SOCK_STREAM)", "socket.SOCK_STREAM, 0, socket.AI_V4MAPPED)")
    assert plain(n64, [PY, "-c", mapped]).stdout.strip() == str([f"::ffff:{SRV}"])
    res = scio(n64, [PY, "-c", mapped])
    assert res.stdout.strip() == str([n64.synth(SRV), f"::ffff:{SRV}"]), res
    if not os.environ.get("SCIO_SAN"):  # curl hangs at exit under a sanitizer
        argv = ["curl", "-6", "-sS", f"http://{V4ONLY_NAME}:8081/"]
        res = plain(n64, argv)
        assert res.returncode != 0 and "peer=" not in res.stdout, res
        assert_through_nat64(n64, scio(n64, argv))


def test_v4only_name_dns64_used_as_is(make_nat64):
    """A DNS64 resolver's AAAA: nothing to synthesize, the answer is the
    resolver's, byte for byte."""
    lab = make_nat64(dns="dns64")
    code = py_connect((V4ONLY_NAME, 8080))
    res = plain(lab, [PY, "-c", code])
    assert res.returncode == 0 and "peer=198.51.100." in res.stdout, res
    res = scio(lab, [PY, "-c", code])
    assert res.returncode == 0 and "peer=198.51.100." in res.stdout, res
    assert not log_lines(res, "NAT64"), res
    assert scio(lab, [PY, "-c", NAME_GAI]).stdout == plain(lab, [PY, "-c", NAME_GAI]).stdout
    assert "ipv4only.arpa" not in lab.dns_counts()


# ---- every prefix length end to end ----

@pytest.mark.parametrize("prefix", ["2001:db8:100::/40", "2001:db8:122:344::/64"])
def test_short_prefix_end_to_end(make_nat64, prefix):
    lab = make_nat64(prefix=prefix)
    res = scio(lab, [PY, "-c", py_connect((SRV, 8080))])
    assert_through_nat64(lab, res)
    assert f"prefix {prefix}" in res.stderr, res
    assert f"peer {lab.synth(SRV)}" in res.stdout, res


# ---- dual-stack: untouched ----

DUAL = ("import socket; s=socket.create_connection(('192.0.2.10', 7000));"
        "print(s.family.name, s.getpeername()[0])")


def default_route(lab):
    """A dual-stack host has a default IPv4 route (the lab has none, so
    that nothing leaves it: this one leads into the server's namespace,
    which routes nowhere further)."""
    res = lab.run(["ip", "route", "add", "default", "dev", "veth0"])
    assert res.returncode == 0, res


@not_under_tsan
def test_dual_stack_untouched(lab):
    """IPv4 works: no discovery, no synthesis; beside the program's own
    system calls, one route lookup (the lookup of the literal asks
    whether IPv4 has a default route: a UDP socket connected, nothing
    sent)."""
    default_route(lab)
    res = run_scio(lab, ["-v", "strace", "-f", "-qq", "-e", "trace=socket,connect",
                         PY, "-c", DUAL], SCIO_LOG="debug")
    assert res.returncode == 0 and "AF_INET 192.0.2.10" in res.stdout, res
    assert "AF_INET6" not in res.stderr and res.stderr.count("SOCK_DGRAM") <= 1, res
    assert not log_lines(res, "NAT64"), res
    for host in ("'v4only.test'", "'192.0.2.10'"):
        gai = f"import socket; print(socket.getaddrinfo({host}, 7000))"
        assert (run_scio(lab, [PY, "-c", gai]).stdout ==
                run_scio(lab, [PY, "-c", gai], shim=False).stdout)


def test_dual_stack_lookups_of_ipv4_only_names_cost_one_route_lookup(lab):
    """Most names have only A records: on a host where IPv4 works their
    lookups must not each pay a route check (socket, connect, close)."""
    default_route(lab)
    gai = ("import socket\nfor _ in range(20): socket.getaddrinfo('v4only.test', 7000)")
    res = run_scio(lab, ["strace", "-f", "-qq", "-e", "trace=socket", PY, "-c", gai])
    assert res.returncode == 0, res
    assert res.stderr.count("SOCK_DGRAM") <= 1, res


def test_dual_stack_v6only_mapped_connect_is_not_nat64(lab):
    """An IPV6_V6ONLY socket fails any v4-mapped connect at once with
    ENETUNREACH, routes or not: on a host where IPv4 works, scio leaves
    that error alone, non-blocking too."""
    default_route(lab)
    code = ("import errno, socket; s = socket.socket(socket.AF_INET6);"
            "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s.setblocking(False);"
            "print(errno.errorcode.get(s.connect_ex(('::ffff:192.0.2.10', 7000))))")
    res = run_scio(lab, ["-v", PY, "-c", code], SCIO_NAT64_PREFIX=netlab_nat64.PREFIX)
    assert res.stdout.strip() == "ENETUNREACH", res
    assert not log_lines(res, "NAT64"), res


def test_dual_stack_icmp_unreachable_is_not_nat64(lab):
    """A blocking connect also returns what the network said later: an
    ICMP net unreachable on a dual-stack host is the server's network's
    problem, not a missing IPv4 route: no discovery, libc's error."""
    lab.fault("192.0.2.10", "noroute")
    code = "import socket; socket.create_connection(('192.0.2.10', 7000))"
    res = run_scio(lab, ["-v", PY, "-c", code], SCIO_LOG="debug")
    assert res.returncode != 0 and "Network is unreachable" in res.stderr, res
    assert not log_lines(res, "NAT64"), res


# ---- the setting, and the unit tests of lib/nat64.c ----

def test_c_unit_nat64():
    """RFC 6052 bit placement for every prefix length, RFC 7050's parse,
    the well-known prefix's rule (tests/c/test_nat64.c)."""
    res = subprocess.run([prog("test_nat64")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.rstrip().endswith("0 failed"), res


@not_under_tsan  # scio-run (sh) cannot start with TSan's runtime preloaded
@pytest.mark.parametrize("value", ["64:ff9b::/97", "64:ff9b::1/96", "on", "2001:db8::"])
def test_bad_prefix_warns_once(value):
    env = {**os.environ, **san_env(), "SCIO_NAT64_PREFIX": value}
    res = subprocess.run([SCIO_RUN, PY, "-c", "pass"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert res.returncode == 0, res
    warnings = [l for l in res.stderr.splitlines() if "SCIO_NAT64_PREFIX" in l]
    assert len(warnings) == 1 and "discovering the prefix instead" in warnings[0], res


@pytest.mark.skipif("address" in os.environ.get("SCIO_SAN", ""), reason=(
    "ASan's __asan_handle_no_return reports its own sigaltstack stack_t in "
    "frames a cancellation unwinds (test_faults.py's ASAN_UNWIND)"))
def test_cancelled_in_the_nat64_connect(n64, tmp_path):
    """Found in the third review: a thread cancelled at the dup3 that
    moves the synthesized connect onto its AF_INET socket kept that
    socket open (adopt_winner's close, now scio_close_own).  The thread
    is still cancelled, at its next cancellation point, with nothing of
    scio's left open."""
    from scio_testlib import BUILD
    from test_faults import preloaded
    log = tmp_path / "scio.log"
    env = preloaded(str(BUILD / "tests" / "cancelat.so"), SCIO_HISTORY="off",
                    SCIO_LOG="info", SCIO_LOG_FILE=str(log), CANCEL_AT="dup3")
    res = n64.run([prog("poll_cancelled"), SRV, "8080", "literal4"], env=env, timeout=30)
    assert "thread cancelled sockets=1 log_fds=1" in res.stdout, res
