"""Tests of the lab DNS server (tests/dnsserver.py), and what glibc's
resolver (Debian 12, glibc 2.36) does with its answers.

The server runs in the lab's server namespace on 192.0.2.10 and
2001:db8::10 port 53; the client's resolv.conf points at 192.0.2.10 with
`options timeout:1 attempts:1`.  Lookups are Python's socket.getaddrinfo()
in the client ns (/usr/bin/python3), which is glibc's.  The names used here
are not in the client's hosts file, so they are looked up in DNS.

Measured glibc 2.36 behaviour (AF_UNSPEC sends A and AAAA in parallel on one
UDP socket, A first):

  both answered          AAAA then A, ~3 ms
  AAAA delayed 200 ms    both, ~205 ms
  AAAA dropped           only A, after 3 x timeout (3.0 s with timeout:1;
                         15.0 s with the default timeout:5 attempts:2):
                         the parallel pair, then the same two queries (same
                         IDs) in single-request mode, then again on a
                         reopened socket; each round waits one timeout.  A
                         second lookup in the same process takes 1 timeout
                         (the single-request-reopen mode sticks in _res).
  A dropped              EAI_AGAIN after 2 x timeout (2.0 s), although the
                         AAAA was answered: the parallel pair, then the A
                         alone in single-request mode (AAAA not re-sent);
                         with timeout:5 attempts:2 a third A in the second
                         attempt, EAI_AGAIN after 15.0 s
  AF_INET / AF_INET6     only that type is queried: AF_INET is fast whatever
                         happens to AAAA
  SERVFAIL, REFUSED      EAI_AGAIN at once
  NXDOMAIN (or unknown)  EAI_NONAME at once
  AAAA SERVFAIL/NXDOMAIN only A, at once
  TC=1 over UDP          the same queries again over TCP, both answered
"""

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dnsserver  # noqa: E402
from scio_testlib import PY  # noqa: E402

SCRIPT = str(HERE / "dnsserver.py")
DNS4, DNS6 = "192.0.2.10", "2001:db8::10"
FAST = 0.3  # a lookup answered at once, with python startup slack

RESOLV = "nameserver 192.0.2.10\noptions timeout:1 attempts:1\n"

ZONE = {
    "$ttl": 60,
    "dns-dual.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"]},
    "multi-dual.test": {"A": ["192.0.2.11", "192.0.2.12"],
                        "AAAA": ["2001:db8::11", "2001:db8::12"],
                        "ttl": 7},
    "aaaa-drop.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                       "AAAA_mode": "drop"},
    "a-drop.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                    "A_mode": "drop"},
    "slow-aaaa.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                       "AAAA_delay_ms": 200},
    "servfail.test": {"mode": "servfail"},
    "refused.test": {"mode": "refused"},
    "nx.test": {"mode": "nxdomain"},
    "aaaa-servfail.test": {"A": ["192.0.2.10"], "AAAA_mode": "servfail"},
    "aaaa-nx.test": {"A": ["192.0.2.10"], "AAAA_mode": "nxdomain"},
    "v4only-dns.test": {"A": ["192.0.2.10"]},
    "trunc.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"],
                   "mode": "truncate"},
}

pytestmark = pytest.mark.lab(servers=None)


# ------------------------------------------------------------- helpers


class Dns:
    """The DNS server running in the lab's server ns."""

    def __init__(self, lab, tmp_path, zone=ZONE, resolv=RESOLV):
        self.lab = lab
        self.zone_path = tmp_path / "zone.json"
        self.stats_path = tmp_path / "stats.json"
        self.write_zone(zone)
        self.proc = lab.popen_server(
            [PY, SCRIPT, "--listen", DNS4, "--listen", DNS6, "--port", "53",
             "--zone", self.zone_path, "--stats", self.stats_path,
             "--verbose"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line == "READY\n", (line, self.proc.poll())
        lab.write_etc("resolv.conf", resolv)

    def write_zone(self, zone):
        tmp = self.zone_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(zone))
        os.replace(tmp, self.zone_path)  # new inode: the server sees a change

    def stats(self):
        return json.loads(self.stats_path.read_text())

    def count(self, name, qtype):
        return self.stats()["counts"].get(name, {}).get(qtype, 0)

    def queries(self, name):
        return [q for q in self.stats()["queries"] if q["name"] == name]


@pytest.fixture
def dns(lab, tmp_path):
    d = Dns(lab, tmp_path)
    yield d
    assert d.proc.poll() is None, "the DNS server died"


GAI = """
    import json, socket, sys, time
    fam = getattr(socket, sys.argv[1])
    out = []
    for name in sys.argv[2:]:
        t = time.monotonic()
        try:
            r = [ai[4][0] for ai in socket.getaddrinfo(name, 80, fam,
                                                       socket.SOCK_STREAM)]
        except socket.gaierror as e:
            r = e.errno
        out.append((r, time.monotonic() - t))
    print(json.dumps(out))
"""


def gai(lab, *names, family="AF_UNSPEC", timeout=30):
    """getaddrinfo() each name in turn in one client-ns process:
    [(addresses or EAI_* code, seconds)]."""
    r = lab.run([PY, "-c", textwrap.dedent(GAI), family, *names],
                timeout=timeout)
    assert r.returncode == 0, r
    return [tuple(x) for x in json.loads(r.stdout)]


def gai1(lab, name, family="AF_UNSPEC"):
    return gai(lab, name, family=family)[0]


RAW = """
    import json, socket, struct, sys
    proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    wait = float(sys.argv[4])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    out = []
    for h in sys.argv[5:]:
        msg = bytes.fromhex(h)
        if proto == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.settimeout(wait)
            s.sendto(msg, (addr, port))
            try:
                out.append(s.recv(65535).hex())
            except socket.timeout:
                out.append(None)
        else:
            s = socket.create_connection((addr, port), timeout=2)
            s.sendall(struct.pack("!H", len(msg)) + msg)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    break
                buf += chunk
            out.append(buf[2:].hex())
        s.close()
    print(json.dumps(out))
"""


def raw(lab, proto, addr, *msgs, wait=1.0):
    """Send each message to addr port 53 from the client ns (one socket
    each); return the responses as bytes (None: no UDP answer in `wait`
    seconds)."""
    r = lab.run([PY, "-c", textwrap.dedent(RAW), proto, addr, "53",
                 str(wait), *(m.hex() for m in msgs)], timeout=20)
    assert r.returncode == 0, r
    return [bytes.fromhex(x) if x is not None else None
            for x in json.loads(r.stdout)]


def make_query(name, qtype, qid=0x1234, rd=True, edns=None):
    """A query built by hand (independent of dnsserver.py)."""
    flags = 0x0100 if rd else 0
    msg = struct.pack("!6H", qid, flags, 1, 0, 0, 1 if edns else 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\x00" + struct.pack("!HH", qtype, 1)
    if edns:
        msg += b"\x00" + struct.pack("!HHIH", 41, edns, 0, 0)
    return msg


def decode(msg, query):
    """Decode a response by hand, checking what every response must have;
    return (flags dict, [(type, ttl, rdata)], [(type, class)] additional)."""
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
    qlen = len(query) - 12 - (11 if query[11] else 0)  # minus any OPT
    assert qid == struct.unpack("!H", query[:2])[0]
    assert qd == 1 and ns == 0
    assert msg[12:12 + qlen] == query[12:12 + qlen], "question not echoed"
    off = 12 + qlen
    answers = []
    for _ in range(an):
        assert msg[off:off + 2] == b"\xc0\x0c", "owner is not pointer 0xC00C"
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off + 2:off + 12])
        assert rclass == 1
        answers.append((rtype, ttl, msg[off + 12:off + 12 + rdlen]))
        off += 12 + rdlen
    additional = []
    for _ in range(ar):
        assert msg[off] == 0  # only the OPT, owner root
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off + 1:off + 11])
        additional.append((rtype, rclass))
        off += 11 + rdlen
    assert off == len(msg), "trailing bytes"
    f = {"qr": flags >> 15, "opcode": (flags >> 11) & 15,
         "aa": (flags >> 10) & 1, "tc": (flags >> 9) & 1,
         "rd": (flags >> 8) & 1, "ra": (flags >> 7) & 1, "rcode": flags & 15}
    return f, answers, additional


A, AAAA = 1, 28
V4 = socket.inet_pton(socket.AF_INET, "192.0.2.10")
V6 = socket.inet_pton(socket.AF_INET6, "2001:db8::10")


# ------------------------------------------- wire format, no network


def test_wire_format_without_network():
    zone = dnsserver.compile_zone(ZONE)
    q = make_query("DNS-Dual.Test", AAAA, qid=0xBEEF, edns=4096)
    query, action, delay, resp = dnsserver.respond(zone, q)
    assert (action, delay) == ("answer", 0.0)
    f, answers, add = decode(resp, q)
    assert f == {"qr": 1, "opcode": 0, "aa": 1, "tc": 0, "rd": 1, "ra": 1,
                 "rcode": 0}
    assert answers == [(AAAA, 60, V6)]
    assert add == [(41, dnsserver.EDNS_PAYLOAD)]  # OPT echoed

    # RD copied (clear here); trailing dot; per-name TTL; two records.
    q = make_query("multi-dual.test.", A, rd=False)
    f, answers, add = decode(dnsserver.respond(zone, q)[3], q)
    assert f["rd"] == 0 and f["aa"] == 1 and add == []
    assert answers == [(A, 7, socket.inet_pton(socket.AF_INET, a))
                       for a in ("192.0.2.11", "192.0.2.12")]  # zone order

    # Other types: NOERROR, no data; ANY: NOTIMP; unknown name: NXDOMAIN.
    for name, qtype, rcode in [("dns-dual.test", 15, 0),
                               ("dns-dual.test", 255, 4),
                               ("unknown.test", A, 3),
                               ("servfail.test", A, 2),
                               ("refused.test", AAAA, 5),
                               ("aaaa-nx.test", AAAA, 3),
                               ("aaaa-nx.test", A, 0)]:
        q = make_query(name, qtype)
        f, answers, _ = decode(dnsserver.respond(zone, q)[3], q)
        assert f["rcode"] == rcode, (name, qtype, f)
    assert dnsserver.respond(zone, make_query("aaaa-drop.test", AAAA))[1:] \
        == ("drop", 0.0, None)
    assert dnsserver.respond(zone, make_query("slow-aaaa.test", AAAA))[2] == 0.2

    # Truncation: over UDP TC=1 and no answers; over TCP the answer.
    q = make_query("trunc.test", A)
    f, answers, _ = decode(dnsserver.respond(zone, q, "udp")[3], q)
    assert f["tc"] == 1 and answers == []
    f, answers, _ = decode(dnsserver.respond(zone, q, "tcp")[3], q)
    assert f["tc"] == 0 and answers == [(A, 60, V4)]

    # Too many records for 512 bytes: the RRset left out, TC set (RFC 2181
    # section 9); with a large enough EDNS payload all of it.
    many = dnsserver.compile_zone(
        {"big.test": {"AAAA": [f"2001:db8::{i:x}" for i in range(40)]}})
    q = make_query("big.test", AAAA)
    resp = dnsserver.respond(many, q)[3]
    f, answers, _ = decode(resp, q)
    assert len(resp) <= 512 and f["tc"] == 1 and answers == []
    f, answers, _ = decode(dnsserver.respond(many, q, "tcp")[3], q)
    assert f["tc"] == 0 and len(answers) == 40
    q = make_query("big.test", AAAA, edns=4096)
    f, answers, _ = decode(dnsserver.respond(many, q)[3], q)
    assert f["tc"] == 0 and len(answers) == 40


def test_malformed_packets_are_ignored_without_network():
    zone = dnsserver.compile_zone(ZONE)
    good = make_query("dns-dual.test", A, edns=1232)
    bad = [b"", b"\x00" * 11, good[:12], good[:20], good[:-3],
           good[:2] + b"\x81\x00" + good[4:],          # a response (QR=1)
           good[:4] + b"\x00\x02" + good[6:],          # QDCOUNT=2
           good[:12] + b"\xc0\x0c" + good[-15:],       # pointer in question
           good[:12] + b"\x40abc\x00" + good[-15:]]    # bad label type
    for msg in bad:
        assert dnsserver.respond(zone, msg) == (None, "ignore", 0.0, None), msg
    rng = random.Random(1)
    for _ in range(3000):  # random corruption never raises
        m = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            m[rng.randrange(len(m))] = rng.randrange(256)
        dnsserver.respond(zone, bytes(m[:rng.randint(0, len(m))]))
    for _ in range(1000):
        dnsserver.respond(zone, rng.randbytes(rng.randint(0, 64)))


def test_zone_validation_without_network():
    for bad in [[], {"x.test": []}, {"x.test": {"A": ["2001:db8::1"]}},
                {"x.test": {"AAAA": ["192.0.2.1"]}},
                {"x.test": {"A_mode": "explode"}},
                {"x.test": {"A_delay_ms": -1}}, {"x.test": {"MX": ["a"]}},
                {"x.test": {"ttl": "60"}}]:
        with pytest.raises(dnsserver.ZoneError):
            dnsserver.compile_zone(bad)
    z = dnsserver.compile_zone({"X.Test.": {"A": "192.0.2.1", "ttl": 5}})
    assert list(z) == ["x.test"] and z["x.test"]["ttl"] == 5



def test_aliases_raw_replies_and_default_without_network():
    """CNAMEs followed into the answer (a target outside the zone:
    NXDOMAIN with the chain), crafted replies sent as they are but for
    the ID, and "$default" for names the zone does not have."""
    import dns.message
    raw = "0000818000010000000000000161047465737400000100 01".replace(" ", "")
    zone = dnsserver.compile_zone({
        "a.test": {"CNAME": "B.test."}, "b.test": {"CNAME": "c.test"},
        "c.test": {"A": ["192.0.2.10"]}, "x.test": {"CNAME": "gone.test."},
        "loop.test": {"CNAME": "loop.test."}, "r.test": {"A_raw": raw}})

    def answer(name, qtype):
        q = make_query(name, qtype, qid=0x4242)
        _, action, _, resp = dnsserver.respond(zone, q)
        return action, resp, dns.message.from_wire(resp) if action != "raw" else None

    _, _, m = answer("a.test", A)
    assert [(str(r.name), r.rdtype, [str(x) for x in r]) for r in m.answer] == [
        ("a.test.", 5, ["B.test."]), ("B.test.", 5, ["c.test."]),
        ("c.test.", A, ["192.0.2.10"])]
    _, _, m = answer("a.test", 5)  # the CNAME itself when asked for
    assert [str(x) for x in m.answer[0]] == ["B.test."] and len(m.answer) == 1
    _, _, m = answer("x.test", AAAA)
    assert m.rcode() == 3 and len(m.answer) == 1
    _, _, m = answer("loop.test", A)
    assert m.rcode() == 0 and m.answer[0].rdtype == 5
    action, resp, _ = answer("r.test", A)
    assert action == "raw" and resp == bytes.fromhex("4242" + raw[4:])
    assert answer("r.test", AAAA)[2].rcode() == 0  # no raw for AAAA: the zone's answer
    zone = dnsserver.compile_zone({"$default": {"mode": "refused"}, "x.test": {"A": []}})
    assert answer("elsewhere.test", A)[2].rcode() == 5
    assert answer("x.test", A)[2].rcode() == 0


# ---------------------------------------------------- in the network lab


def test_answers_wire_format_and_counts(lab, dns):
    """Raw queries over UDP (both families) and TCP; garbage does not
    disturb the server; getaddrinfo() gets AAAA first, then A."""
    q6 = make_query("DNS-DUAL.test", AAAA, qid=0x0102, edns=1232)
    q4 = make_query("dns-dual.test", A, qid=0xFFFE, rd=False)
    garbage = [b"", b"\xff" * 3, b"\x00" * 12, q6[:-20], os.urandom(100)]
    assert raw(lab, "udp", DNS4, *garbage, wait=0.1) == [None] * len(garbage)
    got = raw(lab, "udp", DNS4, q6, q4)
    f, answers, add = decode(got[-2], q6)
    assert f == {"qr": 1, "opcode": 0, "aa": 1, "tc": 0, "rd": 1, "ra": 1,
                 "rcode": 0}
    assert answers == [(AAAA, 60, V6)] and add == [(41, 1232)]
    f, answers, add = decode(got[-1], q4)
    assert f["rd"] == 0 and answers == [(A, 60, V4)] and add == []

    (resp,) = raw(lab, "udp", DNS6, make_query("multi-dual.test", A))
    f, answers, _ = decode(resp, make_query("multi-dual.test", A))
    assert sorted(rd for _, _, rd in answers) == [
        socket.inet_pton(socket.AF_INET, a) for a in ("192.0.2.11", "192.0.2.12")]
    assert {ttl for _, ttl, _ in answers} == {7}

    (resp,) = raw(lab, "tcp", DNS6, q6)
    assert decode(resp, q6)[1] == [(AAAA, 60, V6)]

    assert dns.count("dns-dual.test", "AAAA") == 2  # the UDP and TCP one
    assert dns.count("dns-dual.test", "A") == 1

    res = gai(lab, "dns-dual.test", "multi-dual.test", "DNS-Dual.Test.")
    assert res[0][0] == ["2001:db8::10", "192.0.2.10"]
    assert res[1][0][:2] in (["2001:db8::11", "2001:db8::12"],
                             ["2001:db8::12", "2001:db8::11"])
    assert sorted(res[1][0][2:]) == ["192.0.2.11", "192.0.2.12"]
    assert res[2][0] == ["2001:db8::10", "192.0.2.10"]
    assert all(t < FAST for _, t in res), res
    assert gai1(lab, "dns-dual.test", "AF_INET")[0] == ["192.0.2.10"]
    assert gai1(lab, "dns-dual.test", "AF_INET6")[0] == ["2001:db8::10"]

    # One getaddrinfo(AF_UNSPEC) = one A and one AAAA query, A sent first.
    st = dns.stats()
    assert st["counts"]["dns-dual.test"] == {"A": 4, "AAAA": 5}
    assert st["counts"]["multi-dual.test"] == {"A": 2, "AAAA": 1}
    last = [q["type"] for q in st["queries"] if q["name"] == "dns-dual.test"
            and q["proto"] == "udp" and q["client"] == "192.0.2.2"]
    assert last == ["AAAA", "A", "A", "AAAA", "A", "AAAA", "A", "AAAA"]
    assert st["total"] == sum(sum(c.values()) for c in st["counts"].values())

    # The server over IPv6 as the resolver.
    lab.write_etc("resolv.conf", RESOLV.replace(DNS4, DNS6))
    assert gai1(lab, "dns-dual.test")[0] == ["2001:db8::10", "192.0.2.10"]
    assert [q["client"] for q in dns.queries("dns-dual.test")][-2:] == [
        "2001:db8::2", "2001:db8::2"]


def test_aaaa_dropped(lab, dns):
    """AAAA never answered, timeout:1 attempts:1.  Measured: AF_UNSPEC
    returns only the A address after 3.0 s (3 rounds of 1 s: the parallel
    A+AAAA pair, then single-request mode re-sending both with the same IDs,
    then single-request-reopen on a new socket; the default timeout:5 gives
    15.0 s).  A second lookup in the same process: 1.0 s.  AF_INET: ~3 ms,
    no AAAA query at all."""
    res = gai(lab, "aaaa-drop.test", "aaaa-drop.test")
    assert res[0][0] == ["192.0.2.10"]
    assert 2.9 < res[0][1] < 3.6, res
    assert res[1][0] == ["192.0.2.10"]
    assert 0.9 < res[1][1] < 1.6, res
    assert dns.count("aaaa-drop.test", "AAAA") == 4
    assert dns.count("aaaa-drop.test", "A") == 4
    first = [(q["type"], q["id"]) for q in dns.queries("aaaa-drop.test")][:6]
    assert first[0:2] == first[2:4] == first[4:6]  # same IDs, 3 rounds

    (addrs, t), = gai(lab, "aaaa-drop.test", family="AF_INET")
    assert addrs == ["192.0.2.10"] and t < FAST
    assert dns.count("aaaa-drop.test", "AAAA") == 4


def test_a_dropped(lab, dns):
    """A never answered (AAAA answered), timeout:1 attempts:1.  Measured:
    AF_UNSPEC fails with EAI_AGAIN after 2.0 s (the parallel round, then a
    single-request round whose A goes unanswered; the AAAA is not re-sent)
    -- the AAAA answer is thrown away.  AF_INET6: ~3 ms."""
    (r, t), = gai(lab, "a-drop.test")
    assert r == socket.EAI_AGAIN and 1.9 < t < 2.6, (r, t)
    assert dns.stats()["counts"]["a-drop.test"] == {"A": 2, "AAAA": 1}
    (r, t), = gai(lab, "a-drop.test", family="AF_INET6")
    assert r == ["2001:db8::10"] and t < FAST


def test_aaaa_delayed(lab, dns):
    """AAAA answered 200 ms late (A at once).  Measured: AF_UNSPEC gets
    both after ~205 ms; AF_INET ~3 ms.  A delayed answer does not hold up
    other queries: lookups made meanwhile by another process are answered
    within milliseconds."""
    slow = lab.popen([PY, "-c", textwrap.dedent(GAI), "AF_UNSPEC",
                      *["slow-aaaa.test"] * 3],
                     stdout=subprocess.PIPE, text=True)
    time.sleep(0.15)
    res = gai(lab, "dns-dual.test", "slow-aaaa.test", family="AF_INET")
    assert [r for r, _ in res] == [["192.0.2.10"], ["192.0.2.10"]]
    assert all(t < 0.1 for _, t in res), res
    out, _ = slow.communicate(timeout=10)
    for r, t in json.loads(out):
        assert r == ["2001:db8::10", "192.0.2.10"]
        assert 0.19 < t < 0.5, t
    # The fast lookup really happened while an AAAA answer was pending.
    slow_aaaa = [q["t"] for q in dns.queries("slow-aaaa.test")
                 if q["type"] == "AAAA"]
    (fast,) = [q["t"] for q in dns.queries("dns-dual.test")]
    assert len(slow_aaaa) == 3
    assert any(s < fast < s + 0.19 for s in slow_aaaa), (slow_aaaa, fast)


def test_error_rcodes(lab, dns):
    """SERVFAIL and REFUSED: EAI_AGAIN; NXDOMAIN and names not in the zone:
    EAI_NONAME; an error for AAAA only: just the A address.  All at once,
    with one A and one AAAA query each (no retries)."""
    names = ["servfail.test", "refused.test", "nx.test", "not-in-zone.test",
             "aaaa-servfail.test", "aaaa-nx.test", "v4only-dns.test"]
    res = dict(zip(names, gai(lab, *names)))
    assert {n: r for n, (r, _) in res.items()} == {
        "servfail.test": socket.EAI_AGAIN,
        "refused.test": socket.EAI_AGAIN,
        "nx.test": socket.EAI_NONAME,
        "not-in-zone.test": socket.EAI_NONAME,
        "aaaa-servfail.test": ["192.0.2.10"],
        "aaaa-nx.test": ["192.0.2.10"],
        "v4only-dns.test": ["192.0.2.10"],
    }
    assert all(t < FAST for _, t in res.values()), res
    counts = dns.stats()["counts"]
    assert all(counts[n] == {"A": 1, "AAAA": 1} for n in names), counts
    r, _ = gai1(lab, "aaaa-servfail.test", "AF_INET6")
    assert r == socket.EAI_AGAIN


def test_truncated_answer_retried_over_tcp(lab, dns):
    (r, t), = gai(lab, "trunc.test")
    assert r == ["2001:db8::10", "192.0.2.10"] and t < FAST
    seen = [(q["proto"], q["type"]) for q in dns.queries("trunc.test")]
    assert sorted(seen) == [("tcp", "A"), ("tcp", "AAAA"),
                            ("udp", "A"), ("udp", "AAAA")]


def test_zone_change_at_run_time(lab, dns):
    """The zone file is re-read on the first query after it changes; a zone
    that does not parse leaves the old one in force."""
    assert gai1(lab, "dns-dual.test")[0] == ["2001:db8::10", "192.0.2.10"]
    zone = json.loads(json.dumps(ZONE))
    zone["dns-dual.test"] = {"A": ["192.0.2.12"], "AAAA_mode": "servfail"}
    zone["new.test"] = {"AAAA": ["2001:db8::11"]}
    dns.write_zone(zone)
    res = gai(lab, "dns-dual.test", "new.test")
    assert [r for r, _ in res] == [["192.0.2.12"], ["2001:db8::11"]]

    dns.zone_path.write_text("{ not json")
    assert gai1(lab, "new.test")[0] == ["2001:db8::11"]

    zone["dns-dual.test"] = {"mode": "nxdomain"}
    dns.write_zone(zone)
    assert gai1(lab, "dns-dual.test")[0] == socket.EAI_NONAME


def test_stats_on_sigusr1(lab, dns):
    gai(lab, "dns-dual.test")
    dns.stats_path.unlink()
    dns.proc.send_signal(signal.SIGUSR1)  # `ip netns exec` exec()s python
    deadline = time.monotonic() + 5
    while not dns.stats_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dns.stats()["counts"]["dns-dual.test"] == {"A": 1, "AAAA": 1}


def test_cli_errors(lab, tmp_path):
    """A bad zone or an address it cannot bind: rc 1, a message, no READY."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"x.test": {"A_mode": "explode"}}')
    good = tmp_path / "good.json"
    good.write_text("{}")
    for zone, addr, msg in [(bad, DNS4, "explode"),
                            (good, "192.0.2.99", "cannot bind")]:
        p = lab.popen_server([PY, SCRIPT, "--listen", addr, "--zone", zone],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        out, err = p.communicate(timeout=10)
        assert (p.returncode, out) == (1, ""), (out, err)
        assert msg in err, err
