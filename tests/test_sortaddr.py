"""scio_sort_like_glibc (lib/sortaddr.c) against glibc's own getaddrinfo
sort, on a real kernel: the client namespace gets interfaces with many
addresses (a deprecated one, a ULA, site-local, 6to4, point-to-point
peers, an IPv4 address whose routes leave its subnet), the hosts file
lists names with sets of destinations, and c/sort_probe.c prints, for each
name, the order of getaddrinfo(name, family, SOCK_STREAM) and the order
scio_sort_like_glibc gives the same addresses in hosts-file order (which
is the order glibc's files backend hands its sort).  UDP connects only: no
packet leaves the namespace."""

import random
import re
import subprocess

import pytest

from scio_testlib import SAN, prog

pytestmark = pytest.mark.lab(servers=None)

# veth0 already has 2001:db8::2/64 and 192.0.2.2/24 (tests/netlab.py)
SETUP = """\
link add va type veth peer name vb
link set va up
link set vb up
address add 198.51.100.1/24 dev va
address add 203.0.113.1/28 dev va
route add 203.0.113.128/25 dev va
address add 169.254.7.1/16 dev va
address add 198.51.100.129/32 peer 203.0.113.99/32 dev vb
address add 2001:db8:1::1/64 dev va nodad
address add fd00:5::1/64 dev va nodad
route add fd00:6::/64 dev va
address add 2002:c000:204::1/48 dev va nodad
address add 2001:db8:d::1/64 dev vb nodad preferred_lft 0
route add 2001:db8:dd::/64 dev vb src 2001:db8:d::1
address add fec0::1/64 dev vb nodad
address add 2001:db8:e::1/128 peer 2001:db8:e::2/128 dev vb nodad
route add 2001:db8:5::/64 dev vb
route add fd00:7::/64 dev vb
address add 2001:db8:4::1/64 dev va nodad home
address add 127.0.0.5/32 dev lo
route replace local 127.0.0.0/8 dev lo src 127.0.0.5 table local
"""

POOL6 = [
    "2001:db8::10", "2001:db8::11", "2001:db8::2", "2001:db8:1::10",
    "2001:db8:1:0:8000::10", "2001:db8:dd::10", "2001:db8:dd::11",
    "fd00:5::10", "fd00:6::10", "fec0::10", "::1", "fe80::1",
    "2002:c000:204::10", "::ffff:192.0.2.10", "2001:db8:99::1", "ff0e::1",
    "ff05::1", "2001:db8:e::2", "2001:db8:5::10", "fd00:7::10", "2001:db8:4::10",
]
POOL4 = [
    "192.0.2.10", "192.0.2.200", "192.0.2.2", "198.51.100.10",
    "198.51.100.250", "203.0.113.5", "203.0.113.14", "203.0.113.200",
    "203.0.113.129", "203.0.113.50", "203.0.113.99", "127.0.0.1",
    "127.0.0.2", "127.0.0.9", "127.0.0.200", "169.254.7.9", "169.254.99.1", "198.51.100.129",
]

# Sets whose glibc order the setup above decides, so the lab is known to
# produce each situation (and not merely agree on trivial input).
KNOWN = [
    # rule 1: no route / no scope id for a link-local destination last,
    # and then rule 8, smaller scope first
    (6, ["2001:db8:99::1", "fe80::1", "2001:db8::10"],
     ["2001:db8::10", "fe80::1", "2001:db8:99::1"]),
    # rule 3: the destination whose source is deprecated last
    (6, ["2001:db8:dd::10", "2001:db8:1::10"], ["2001:db8:1::10", "2001:db8:dd::10"]),
    # rule 4: the source flagged a home address first
    (6, ["2001:db8:1::10", "2001:db8:4::10"], ["2001:db8:4::10", "2001:db8:1::10"]),
    # rule 2 (scope of fec0:: matches its site-local source) before rule 6
    (6, ["2001:db8::10", "fec0::10"], ["fec0::10", "2001:db8::10"]),
    # rule 6: ::1's precedence 50
    (6, ["2001:db8::10", "::1"], ["::1", "2001:db8::10"]),
    # rule 5 before rule 6: fd00:7::10 leaves by vb, where the kernel takes
    # 2001:db8:e::1, a label other than the ULA's; 6to4 has its own label
    (6, ["fd00:7::10", "2002:c000:204::10"], ["2002:c000:204::10", "fd00:7::10"]),
    # rule 7: 2001:db8:e::1 is listed under its peer's address, so glibc
    # finds no interface for it and counts it not native; rule 9 (44 bits
    # shared against 29) would have put 2001:db8:5::10 first
    (6, ["2001:db8:5::10", "fd00:6::10"], ["fd00:6::10", "2001:db8:5::10"]),
    # rule 9, IPv6: the longer prefix shared with the source first
    (6, ["2001:db8:1:0:8000::10", "2001:db8:1::10"],
     ["2001:db8:1::10", "2001:db8:1:0:8000::10"]),
    # rule 9, IPv4: 203.0.113.200 is outside 203.0.113.1/28, so counts 0
    (4, ["203.0.113.200", "192.0.2.10"], ["192.0.2.10", "203.0.113.200"]),
    (4, ["192.0.2.200", "203.0.113.5"], ["203.0.113.5", "192.0.2.200"]),
    # rule 9, IPv4, sources in 127/8: glibc takes lo's 127.0.0.1/8 facts
    # for the source 127.0.0.5 (itself a /32), so 127.0.0.9 (28 bits
    # shared) goes before 127.0.0.200 (24 bits)
    (4, ["127.0.0.200", "127.0.0.9"], ["127.0.0.9", "127.0.0.200"]),
    # rule 2: 169.254/16 and 127/8 are link scope, as their sources
    (4, ["192.0.2.10", "169.254.99.1", "203.0.113.50"],
     ["169.254.99.1", "192.0.2.10", "203.0.113.50"]),
]


def setup_client(lab):
    subprocess.run(["ip", "-n", lab.cli, "-batch", "-"], input=SETUP, text=True,
                   check=True, capture_output=True)


def random_sets(seed, pool, count):
    rng = random.Random(seed)
    out = [rng.sample(pool, len(pool)) for _ in range(3)]  # all, shuffled
    while len(out) < count:
        out.append(rng.sample(pool, rng.randint(2, 8)))
    return out


def probe(lab, sets):
    """sets: [(family, [addr, ...])] -> [(glibc order, scio order)]."""
    hosts = ["127.0.0.1 localhost", "::1 localhost"]
    lines = []
    for i, (family, addrs) in enumerate(sets):
        name = f"s{i}.test"
        hosts += [f"{a} {name}" for a in addrs]
        lines.append(f"{name} {family} {' '.join(addrs)}")
    lab.write_etc("hosts", "\n".join(hosts) + "\n")
    res = lab.run([prog("sort_probe")], input="\n".join(lines) + "\n", timeout=120)
    assert res.returncode == 0, res
    out = []
    for line in res.stdout.splitlines():
        _, tag1, glibc, tag2, scio = line.split()
        assert (tag1, tag2) == ("glibc", "scio"), line
        out.append((glibc.split(","), scio.split(",")))
    assert len(out) == len(sets), res
    return out


def assert_same(sets, results):
    bad = [(s, g, m) for s, (g, m) in zip(sets, results) if g != m]
    assert not bad, "\n".join(f"in {s[1]}: glibc {g} scio {m}" for s, g, m in bad[:10])


def test_known_orders(lab):
    setup_client(lab)
    sets = [(f, addrs) for f, addrs, _ in KNOWN]
    results = probe(lab, sets)
    got = [(addrs, want, glibc, scio) for (f, addrs, want), (glibc, scio)
           in zip(KNOWN, results) if not want == glibc == scio]
    assert not got, "\n".join(f"{a}: want {w} glibc {g} scio {s}" for a, w, g, s in got)


def test_random_sets_both_families(lab):
    setup_client(lab)
    sets = [(6, s) for s in random_sets(6724, POOL6, 80)]
    sets += [(4, s) for s in random_sets(3484, POOL4, 80)]
    results = probe(lab, sets)
    assert_same(sets, results)
    moved = sum(g != s[1] for s, (g, _) in zip(sets, results))
    assert moved > len(sets) // 3, "glibc reordered too few sets to prove much"


def test_ipv4_only_system(lab):
    """No IPv6 address but ::1: glibc keeps no interface address list, so
    every IPv4 source has prefix length 0, which its rule 9 reads as /32."""
    setup_client(lab)
    subprocess.run(["ip", "netns", "exec", lab.cli, "sysctl", "-q", "-w",
                    "net.ipv6.conf.all.disable_ipv6=1"], check=True)
    known = (4, ["198.51.100.250", "203.0.113.14", "192.0.2.2"])
    sets = [known] + [(4, s) for s in random_sets(1918, POOL4, 60)]
    results = probe(lab, sets)
    assert_same(sets, results)
    # own address first (rule 9: all 32 bits shared), the others as given
    assert results[0][0] == ["192.0.2.2", "198.51.100.250", "203.0.113.14"]


def test_gai_conf_with_content_declines(lab):
    setup_client(lab)
    sets = [(6, ["2001:db8:dd::10", "2001:db8:1::10"])]
    lab.write_etc("gai.conf", "# tests/test_sortaddr.py\n  \n#precedence ::1/128 50\n")
    assert probe(lab, sets)[0][1] == ["2001:db8:1::10", "2001:db8:dd::10"]
    lab.write_etc("gai.conf", "# tests/test_sortaddr.py\nprecedence ::ffff:0:0/96 100\n")
    assert probe(lab, sets)[0][1] == ["-1"]


def _segments(trace):
    """The system calls between each pair of getppid() marks."""
    segs, cur, inside = [], [], False
    for line in trace.splitlines():
        if "getppid()" in line:
            if inside:
                segs.append(cur)
            cur, inside = [], not inside
        elif inside and not re.search(r"^\d+\s+(mmap|munmap|brk|madvise|futex)\(", line):
            cur.append(line)
    return segs


# sanitizer runtimes make calls of their own (and LeakSanitizer refuses ptrace)
@pytest.mark.skipif(bool(SAN), reason="counts the plain build's calls")
def test_system_calls_against_glibc(lab, tmp_path):
    """One address: no system call.  More: no more than glibc's own sort
    of the same answer (its netlink address dump, one UDP socket connected
    to each destination, and a link dump when rule 7 is reached)."""
    setup_client(lab)
    sets = [(6, ["2001:db8::10", "2001:db8::11"])]  # warm-up: gai.conf, NSS
    for n in (1, 2, 4, 16):
        sets.append((6, [f"2001:db8::{i + 16:x}" for i in range(n)]))
        sets.append((4, [f"192.0.2.{i + 16}" for i in range(n)]))
    sets.append((6, ["2001:db8:1::10", "2001:db8::10", "2001:db8:5::10", "2001:db8:dd::10"]))
    sets.append((4, ["127.0.0.2", "192.0.2.10", "198.51.100.10", "203.0.113.5"]))
    trace = tmp_path / "strace.txt"
    lines = "\n".join(f"s{i}.test {f} {' '.join(a)}" for i, (f, a) in enumerate(sets))
    hosts = ["127.0.0.1 localhost"]
    for i, (_, addrs) in enumerate(sets):
        hosts += [f"{a} s{i}.test" for a in addrs]
    lab.write_etc("hosts", "\n".join(hosts) + "\n")
    res = lab.run(["strace", "-f", "-qq", "-o", str(trace), prog("sort_probe"), "both", "mark"],
                  input=lines + "\n", timeout=120)
    assert res.returncode == 0, res
    segs = _segments(trace.read_text())
    assert len(segs) == 2 * len(sets), res
    for i, (family, addrs) in enumerate(sets[1:], start=1):
        glibc, scio = segs[2 * i], segs[2 * i + 1]
        start = next((j for j, l in enumerate(glibc) if "socket(AF_NETLINK" in l), len(glibc))
        glibc_sort = glibc[start:]
        if len(addrs) == 1:
            assert scio == [] and glibc_sort == [], (addrs, scio, glibc_sort)
            continue
        assert len(scio) <= len(glibc_sort), (addrs, scio, glibc_sort)
        # one socket, connect and getsockname each, resets, close
        assert sum("connect(" in l for l in scio) == 2 * len(addrs) - 1, scio


def test_source_on_two_interfaces_declines(lab):
    """The same source address on two interfaces with other prefix lengths:
    which one glibc's binary search finds is its own affair, so scio asks
    glibc; the same address twice with the same facts is no question."""
    setup_client(lab)
    sets = [(6, ["2001:db8:7::10", "2001:db8::10"]), (6, ["2001:db8:1::10", "2001:db8::10"])]
    subprocess.run(["ip", "-n", lab.cli, "-batch", "-"], text=True, check=True,
                   capture_output=True,
                   input="address add 2001:db8:7::1/64 dev va nodad\n"
                         "address add 2001:db8:7::1/80 dev vb nodad\n"
                         "route add 2001:db8:7::/64 dev va\n")
    results = probe(lab, sets)
    assert results[0][1] == ["-1"], results
    assert results[1][0] == results[1][1], results
