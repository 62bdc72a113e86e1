"""scio's own A and AAAA queries (lib/stub.c): for a name glibc would send
to DNS as it is, the shim asks the lab's DNS server (tests/dnsserver.py)
itself, in the calling thread, and must give exactly what the lookup
through the system's getaddrinfo gives (SCIO_RESOLVER=system), leaving
everything it does not do as glibc does to glibc."""

import json
import socket
import subprocess
import textwrap

import pytest

from scio_testlib import PY, SAN, SLACK, prog, run_scio
from test_dnsserver import DNS4, DNS6, Dns, ZONE

STUB_ZONE = dict(ZONE)
STUB_ZONE.update({
    "v6only-dns.test": {"AAAA": ["2001:db8::10"]},
    "nodata.test": {"A": [], "AAAA": []},
    "many.test": {"A": [f"192.0.2.{i}" for i in range(20, 28)],
                  "AAAA": [f"2001:db8::{i:x}" for i in range(0x20, 0x28)]},
    "silent.test": {"mode": "drop"},
    "silent.test.example": {"mode": "drop"},
    "dns-dual.test.example": {"A": ["198.51.100.7"]},
    "silent.example": {"mode": "drop"},
    "nodata.example": {"A": [], "AAAA": []},
    "w4": {"A": ["192.0.2.40"], "AAAA": ["2001:db8::40"]},
})

RESOLV_FAST = f"nameserver {DNS4}\noptions timeout:1 attempts:1\n"

# every field Python shows of each entry, for these hints
ENTRIES = """
    import json, socket, sys, time
    name, port, socktype = sys.argv[1], sys.argv[2], int(sys.argv[3])
    port = None if port == "-" else port
    t = time.monotonic()
    try:
        r = [list(ai) for ai in socket.getaddrinfo(name, port, 0, socktype)]
    except socket.gaierror as e:
        r = [e.errno]
    print(json.dumps([r, time.monotonic() - t]))
"""


@pytest.fixture
def dns(lab, tmp_path):
    d = Dns(lab, tmp_path, zone=STUB_ZONE, resolv=RESOLV_FAST)
    yield d
    assert d.proc.poll() is None, "the DNS server died"


def entries(lab, name, port="7000", socktype=socket.SOCK_STREAM, shim=True,
            timeout=30, **env):
    res = run_scio(lab, [PY, "-c", textwrap.dedent(ENTRIES), name, port,
                         str(int(socktype))], shim=shim, timeout=timeout, **env)
    assert not res.timed_out and res.returncode == 0, res
    return json.loads(res.stdout)


def threads_and_sockets(lab, tmp_path, name, argv=None, **env):
    """(threads started, UDP sockets made) by one lookup under the shim
    (python's, or argv's)."""
    trace = tmp_path / "trace"
    code = f"import socket; socket.getaddrinfo({name!r}, 7000, 0, socket.SOCK_STREAM)"
    res = run_scio(lab, ["strace", "-f", "-qq", "-e", "trace=clone,clone3,socket",
                         "-o", str(trace), *(argv or [PY, "-c", code])], **env)
    assert res.returncode == 0, res
    text = trace.read_text()
    return (text.count("clone(") + text.count("clone3("),
            text.count("SOCK_DGRAM"))


@pytest.mark.parametrize("name", ["dns-dual.test", "multi-dual.test", "v4only-dns.test",
                                  "v6only-dns.test", "many.test", "dns-dual.test."])
@pytest.mark.parametrize("port,socktype", [("7000", socket.SOCK_STREAM),
                                           ("7000", 0), ("domain", socket.SOCK_DGRAM),
                                           ("-", 0)])
def test_same_entries_as_the_system_lookup(lab, dns, name, port, socktype):
    if SAN and (name, port, socktype) != ("multi-dual.test", "7000", 0):
        pytest.skip("the sanitizer builds run one case: the comparison is the plain build's")
    stub, _ = entries(lab, name, port, socktype)
    system, _ = entries(lab, name, port, socktype, SCIO_RESOLVER="system")
    assert stub == system
    assert isinstance(stub[0], list), stub


@pytest.mark.parametrize("flags", [0, socket.AI_V4MAPPED, socket.AI_V4MAPPED | socket.AI_ALL,
                                   socket.AI_NUMERICSERV, socket.AI_PASSIVE,
                                   socket.AI_ADDRCONFIG, -1])
@pytest.mark.parametrize("service,socktype", [("7000", 0), ("7000", socket.SOCK_STREAM),
                                              ("-", socket.SOCK_DGRAM)])
def test_every_field_as_the_system_lookup(lab, dns, flags, service, socktype):
    """ai_flags, ai_addrlen and the whole sockaddr, byte for byte (flags
    -1: no hints at all, glibc's AI_V4MAPPED | AI_ADDRCONFIG)."""
    if SAN and (flags not in (0, -1) or (service, socktype) != ("7000", 0)):
        pytest.skip("the sanitizer builds run two cases: the comparison is the plain build's")
    def dump(**env):
        res = run_scio(lab, [prog("gai_probe"), "dump", "multi-dual.test", service,
                             str(int(flags)), str(int(socktype))], **env)
        assert res.returncode == 0 and not res.timed_out, res
        return res.stdout
    stub = dump()
    assert stub.startswith("rc=0 errno=0 h_errno=0\nflags="), stub
    assert stub == dump(SCIO_RESOLVER="system")


def test_healthy_lookup_starts_no_thread(lab, dns, tmp_path):
    """The point of the stub: no helper thread, one socket for both
    queries (glibc's own lookup also uses one)."""
    assert threads_and_sockets(lab, tmp_path, "dns-dual.test") == (0, 1)
    threads, _ = threads_and_sockets(lab, tmp_path, "dns-dual.test",
                                     SCIO_RESOLVER="system")
    assert threads >= 1


@pytest.mark.parametrize("flags", [socket.AI_ADDRCONFIG, -1])
def test_addrconfig_on_an_ipv4_only_host_is_glibcs(lab, dns, tmp_path, flags):
    """No IPv6 address but ::1: AI_ADDRCONFIG (and no hints) narrow
    glibc's lookup to A; the stub leaves it to glibc, which asks for A
    alone."""
    subprocess.run(["ip", "-n", lab.cli, "-6", "addr", "flush", "dev", "veth0"], check=True)
    res = run_scio(lab, [prog("gai_probe"), "dump", "dns-dual.test", "7000", str(flags), "1"])
    plain = run_scio(lab, [prog("gai_probe"), "dump", "dns-dual.test", "7000", str(flags), "1"],
                     shim=False)
    assert res.stdout == plain.stdout and "family=10" not in res.stdout, (res, plain)
    assert threads_and_sockets(lab, tmp_path, "dns-dual.test")[0] == 0  # no ADDRCONFIG there


@pytest.mark.parametrize("flags", [socket.AI_ADDRCONFIG, -1])
def test_addrconfig_and_no_hints_use_the_stub(lab, dns, tmp_path, flags):
    """The lab's client has IPv4 and IPv6 addresses: AI_ADDRCONFIG asks
    for both, and so does a call without hints."""
    argv = [prog("gai_probe"), "dump", "dns-dual.test", "7000", str(flags), "1"]
    threads, sockets = threads_and_sockets(lab, tmp_path, None, argv)
    assert (threads, sockets) == (0, 1)


def test_other_name_services_use_the_system_lookup(lab, dns, tmp_path):
    lab.write_etc("nsswitch.conf", "hosts: files myhostname dns\n")
    threads, _ = threads_and_sockets(lab, tmp_path, "dns-dual.test")
    assert threads >= 1
    addrs, _ = entries(lab, "dns-dual.test")
    assert sorted(a[4][0] for a in addrs) == ["192.0.2.10", "2001:db8::10"]


@pytest.mark.parametrize("name", ["servfail.test", "refused.test", "nx.test", "trunc.test",
                                  "aaaa-servfail.test", "aaaa-nx.test", "nodata.test"])
def test_what_the_stub_leaves_to_glibc_gets_glibcs_answer(lab, dns, name):
    """Failures, truncated replies (glibc asks again over TCP) and names
    without addresses: the system's lookup decides, as without scio."""
    stub, _ = entries(lab, name)
    plain, _ = entries(lab, name, shim=False)
    addrs = sorted(map(str, stub)) if isinstance(stub[0], list) else stub
    want = sorted(map(str, plain)) if isinstance(plain[0], list) else plain
    assert addrs == want


def test_search_domain_after_no_such_name(lab, dns):
    """With ndots:0 a dotless name is asked as it is first; its NXDOMAIN
    goes to glibc, which goes on with the search list."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\nsearch test\n"
                  "options ndots:0 timeout:1 attempts:1\n")
    stub, _ = entries(lab, "dns-dual")
    plain, _ = entries(lab, "dns-dual", shim=False)
    assert sorted(a[4][0] for a in stub) == sorted(a[4][0] for a in plain) == [
        "192.0.2.10", "2001:db8::10"]


def test_search_list_first_as_glibc(lab, dns):
    """Fewer dots than ndots: glibc tries the search list first and stops
    at the first name with an answer, A or AAAA; so does the stub (the
    lookups through the system made each family search on its own, and
    gave this name's AAAA from the next name)."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\nsearch example\noptions ndots:5\n")
    stub, _ = entries(lab, "dns-dual.test")
    plain, _ = entries(lab, "dns-dual.test", shim=False)
    assert [a[4][0] for a in stub] == [a[4][0] for a in plain] == ["198.51.100.7"]


def test_search_list_like_kubernetes(lab, dns, tmp_path):
    """ndots:5 and three search domains that do not have the name: the
    stub walks them as glibc does, then asks for the name as it is, with
    no thread."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\n"
                  "search ns.svc.cluster.test svc.cluster.test cluster.test\n"
                  "options ndots:5 timeout:1 attempts:1\n")
    stub, _ = entries(lab, "dns-dual.test")
    plain, _ = entries(lab, "dns-dual.test", shim=False)
    assert sorted(a[4][0] for a in stub) == sorted(a[4][0] for a in plain) == [
        "192.0.2.10", "2001:db8::10"]
    assert threads_and_sockets(lab, tmp_path, "dns-dual.test")[0] == 0
    names = [q["name"] for q in dns.stats()["queries"][-8:]]
    assert names == [n for n in ["dns-dual.test.ns.svc.cluster.test",
                                 "dns-dual.test.svc.cluster.test",
                                 "dns-dual.test.cluster.test", "dns-dual.test"]
                     for _ in "ab"], names


def test_silent_server_with_a_search_list(lab, dns):
    """No answer at all: glibc asks the name as it is, then the first
    search domain, then gives up (2 s here); so does the stub."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\nsearch example test\n"
                  "options timeout:1 attempts:1\n")
    stub, stub_secs = entries(lab, "silent.test")
    plain, plain_secs = entries(lab, "silent.test", shim=False)
    assert stub == plain == [socket.EAI_AGAIN]
    assert abs(stub_secs - plain_secs) < 0.5 * SLACK, (stub_secs, plain_secs)
    assert 1.8 < stub_secs, stub_secs
    names = [q["name"] for q in dns.stats()["queries"]]
    assert "silent.test.test" not in names and names.count("silent.test.example") == 4, names


def test_a_dropped_costs_the_resolution_delay(lab, dns):
    """RFC 8305 section 3: an AAAA answer is used at once.  Through the
    system's lookup the calling thread waited for A until glibc gave up
    (5 s by default); the stub waits the Resolution Delay."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\n")  # glibc's 5 s, 2 attempts
    stub, secs = entries(lab, "a-drop.test")
    assert [a[4][0] for a in stub] == ["2001:db8::10"]
    assert secs < 1.0 * SLACK


def test_aaaa_dropped_costs_the_resolution_delay(lab, dns):
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\n")
    stub, secs = entries(lab, "aaaa-drop.test")
    assert [a[4][0] for a in stub] == ["192.0.2.10"]
    assert secs < 1.0 * SLACK


def test_silent_server_gets_glibcs_error_in_glibcs_time(lab, dns):
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\noptions timeout:1 attempts:2\n")
    stub, stub_secs = entries(lab, "silent.test")
    plain, plain_secs = entries(lab, "silent.test", shim=False)
    assert stub == plain == [socket.EAI_AGAIN]
    assert abs(stub_secs - plain_secs) < 0.5 * SLACK, (stub_secs, plain_secs)


def test_second_server_after_the_first_is_silent(lab, dns):
    """glibc's schedule: the first server gets `timeout`, then the next."""
    lab.write_etc("resolv.conf", f"nameserver {DNS6}\nnameserver {DNS4}\n"
                  "options timeout:1 attempts:1\n")
    subprocess.run(["ip", "netns", "exec", lab.srv, "nft", "-f", "-"], check=True, text=True,
                   input="table inet stubtest {\n chain in {\n"
                         " type filter hook input priority 0;\n"
                         f" ip6 daddr {DNS6} udp dport 53 drop\n }}\n}}\n")
    stub, stub_secs = entries(lab, "dns-dual.test")
    plain, plain_secs = entries(lab, "dns-dual.test", shim=False)
    assert sorted(a[4][0] for a in stub) == sorted(a[4][0] for a in plain)
    assert 0.9 < stub_secs < plain_secs + 0.5 * SLACK, (stub_secs, plain_secs)


def test_resolv_conf_change_is_seen_by_the_next_lookup(lab, dns):
    code = textwrap.dedent(f"""
        import socket, sys, time
        def look():
            try:
                return sorted(a[4][0] for a in socket.getaddrinfo("dns-dual.test", 7000,
                                                                  0, socket.SOCK_STREAM))
            except socket.gaierror as e:
                return e.errno
        print(look())
        open(sys.argv[1], "w").write("nameserver 192.0.2.99\\noptions timeout:1 attempts:1\\n")
        print(look())
    """)
    path = lab.write_etc("resolv.conf", RESOLV_FAST)
    res = run_scio(lab, [PY, "-c", code, "/etc/resolv.conf"], timeout=30)
    assert res.returncode == 0, res
    first, second = res.stdout.splitlines()
    assert first == "['192.0.2.10', '2001:db8::10']"
    assert second != first, res  # the new server is not there
    path.write_text(RESOLV_FAST)


def test_no_socket_left_open(lab, dns):
    code = textwrap.dedent("""
        import os, socket
        def fds():
            return len(os.listdir("/proc/self/fd"))
        before = fds()
        for name in ["dns-dual.test", "a-drop.test", "aaaa-drop.test", "nx.test",
                     "silent.test", "trunc.test"] * 2:
            try:
                socket.getaddrinfo(name, 7000, 0, socket.SOCK_STREAM)
            except socket.gaierror:
                pass
        print(before, fds())
    """)
    res = run_scio(lab, [PY, "-c", code], timeout=60, SCIO_RESOLUTION_DELAY_MS="10")
    assert res.returncode == 0, res
    before, after = res.stdout.split()
    assert before == after, res


def test_setting_is_checked(lab, dns):
    res = run_scio(lab, [PY, "-c", "import socket; socket.getaddrinfo('dns-dual.test', 1)"],
                   SCIO_RESOLVER="fast")
    assert res.returncode == 0 and "SCIO_RESOLVER" in res.stderr, res


# systemd-resolved's stub resolv.conf, with the lab's server
RESOLVED_LIKE = f"nameserver {DNS4}\noptions edns0 trust-ad\nsearch .\n"
GLIBC_OPT = bytes([0, 0, 41, 0x04, 0xb0, 0, 0, 0, 0, 0, 0])  # 1200 bytes, no flag


def test_edns0_trust_ad_as_systemd_resolved_writes_it(lab, dns, tmp_path):
    """`options edns0 trust-ad` (Ubuntu's resolv.conf): the stub stands in
    for glibc, with no thread, and sends glibc's very queries: RD and AD
    set, the OPT record glibc adds (1200 bytes, version 0, no DO), byte
    for byte what the system's lookup sent but for the ids."""
    lab.write_etc("resolv.conf", RESOLVED_LIKE)
    assert threads_and_sockets(lab, tmp_path, "dns-dual.test") == (0, 1)
    before = len(dns.stats()["queries"])
    stub, _ = entries(lab, "dns-dual.test")
    ours = dns.stats()["queries"][before:]
    system, _ = entries(lab, "dns-dual.test", SCIO_RESOLVER="system")
    theirs = dns.stats()["queries"][before + len(ours):]
    assert stub == system and isinstance(stub[0], list), (stub, system)
    assert sorted(a[4][0] for a in stub) == ["192.0.2.10", "2001:db8::10"]
    assert sorted(q["type"] for q in ours) == ["A", "AAAA"], ours
    for q in ours:
        wire = bytes.fromhex(q["wire"])  # after the id
        assert wire[:2] == b"\x01\x20" and wire[8:10] == b"\x00\x01", q
        assert wire.endswith(GLIBC_OPT), q
    assert (sorted((q["type"], q["wire"]) for q in ours)
            == sorted((q["type"], q["wire"]) for q in theirs)), (ours, theirs)


@pytest.mark.parametrize("name", ["multi-dual.test", "many.test", "v6only-dns.test",
                                  "nodata.test", "nx.test"])
def test_edns0_same_entries_as_the_system_lookup(lab, dns, tmp_path, name):
    """The server's OPT in each reply (payload 1232) changes nothing glibc
    reads, nor anything the stub reads."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\noptions edns0 timeout:1 attempts:1\n")
    stub, _ = entries(lab, name)
    system, _ = entries(lab, name, SCIO_RESOLVER="system")
    assert stub == system
    if name == "multi-dual.test":
        assert threads_and_sockets(lab, tmp_path, name)[0] == 0
        assert all(bytes.fromhex(q["wire"]).endswith(GLIBC_OPT)
                   for q in dns.queries(name)), dns.queries(name)


@pytest.mark.parametrize("name", ["dns-dual", "nx.test", "nx", "silent.test"])
def test_edns0_resolved_search_root_as_glibc(lab, dns, name):
    """`search .` with edns0 and trust-ad: a dotless name, no such name,
    no answer at all get what glibc alone gives."""
    lab.write_etc("resolv.conf", RESOLVED_LIKE.replace("trust-ad", "trust-ad timeout:1 attempts:1"))
    stub, _ = entries(lab, name)
    plain, _ = entries(lab, name, shim=False)
    if isinstance(stub[0], list):
        stub, plain = sorted(map(str, stub)), sorted(map(str, plain))
    assert stub == plain


def dump(lab, name, shim=True, **env):
    res = run_scio(lab, [prog("gai_probe"), "dump", name, "7000", "0", "1"], shim=shim,
                   timeout=60, **env)
    assert res.returncode == 0 and not res.timed_out, res
    return res.stdout


@pytest.mark.parametrize("resolv,name", [
    ("", "nx.test"),                                   # no such name
    ("", "nodata.test"),                               # no data
    ("options ndots:5 timeout:1 attempts:1\nsearch example test", "nodata"),
    ("search example test\noptions timeout:1 attempts:1", "nx.test"),
    ("search example\noptions timeout:1 attempts:1", "silent"),   # silence, then nothing
    ("search silent.example .\noptions timeout:1 attempts:1", "w4"),  # root after a silence
    ("search . example\noptions timeout:1 attempts:1", "silent"),
])
def test_error_codes_errno_and_h_errno_as_glibc(lab, dns, resolv, name):
    """At the end of a search without an address the stub says what glibc
    says (EAI_NONAME, EAI_NODATA or EAI_AGAIN, by glibc's res_search rules),
    leaves errno and h_errno as glibc does, and asks the same names."""
    lab.write_etc("resolv.conf", f"nameserver {DNS4}\n{resolv}\n")
    before = len(dns.stats()["queries"])
    stub = dump(lab, name)
    mid = len(dns.stats()["queries"])
    plain = dump(lab, name, shim=False)
    queries = dns.stats()["queries"]
    assert stub == plain, (stub, plain)
    asked = [(q["name"], q["type"]) for q in queries[before:mid]]
    assert sorted(asked) == sorted((q["name"], q["type"]) for q in queries[mid:]), queries


def test_server_behind_an_unreachable_route_is_skipped_at_once(lab, dns):
    """A server whose route answers with ICMP unreachable: glibc (which
    asks for ICMP errors on its sockets) goes on to the next server at
    once, and so does the stub."""
    subprocess.run(["ip", "-n", lab.cli, "route", "add", "198.51.100.0/24", "via", DNS4],
                   check=True)
    subprocess.run(["ip", "-n", lab.srv, "route", "add", "unreachable", "198.51.100.53"],
                   check=True)
    subprocess.run(["ip", "netns", "exec", lab.srv, "sysctl", "-q", "-w",
                    "net.ipv4.ip_forward=1"], check=True)
    lab.write_etc("resolv.conf", f"nameserver 198.51.100.53\nnameserver {DNS4}\n"
                  "options timeout:3 attempts:1\n")
    stub, secs = entries(lab, "dns-dual.test")
    assert sorted(a[4][0] for a in stub) == ["192.0.2.10", "2001:db8::10"]
    assert secs < 1.0 * SLACK, secs


def test_hosts_entry_added_is_seen_by_the_next_lookup(lab, dns):
    code = textwrap.dedent("""
        import socket, sys
        def look():
            return sorted(a[4][0] for a in socket.getaddrinfo("dns-dual.test", 7000, 0,
                                                              socket.SOCK_STREAM))
        print(look())
        with open("/etc/hosts", "a") as f:
            f.write("192.0.2.88 dns-dual.test\\n")
        print(look())
    """)
    res = run_scio(lab, [PY, "-c", code], timeout=30)
    assert res.returncode == 0, res
    assert res.stdout.splitlines() == ["['192.0.2.10', '2001:db8::10']", "['192.0.2.88']"], res


def test_a_family_that_came_late_sends_the_process_to_the_system_lookup(lab, dns, tmp_path):
    """AAAA 200 ms late: the lookup returns A after the Resolution Delay and
    the system's lookup of AAAA alone, in the background, gets it.  The
    server answers that query alone but lost or held it beside A: glibc
    would now send one query at a time (its single-request mode), and the
    stub leaves this process's lookups to the system's lookup."""
    trace = tmp_path / "trace"
    code = textwrap.dedent("""
        import socket, time
        for _ in range(2):
            print(sorted(a[4][0] for a in socket.getaddrinfo("slow-aaaa.test", 7000, 0,
                                                             socket.SOCK_STREAM)))
            time.sleep(0.6)
    """)
    res = run_scio(lab, ["strace", "-f", "-qq", "-e", "trace=sendmmsg", "-o", str(trace),
                         PY, "-c", code], timeout=30)
    assert res.returncode == 0, res
    assert res.stdout.splitlines()[0] == "['192.0.2.10']", res
    assert trace.read_text().count("sendmmsg(") == 1, trace.read_text()
