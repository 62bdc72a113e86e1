#!/usr/bin/python3
"""Scriptable authoritative DNS server for the network test lab, built on
dnspython (Debian's python3-dnspython) for the wire format.

    dnsserver.py --listen ADDR [--listen ADDR ...] [--port 53] --zone FILE
                 [--stats FILE] [--no-tcp] [--verbose]
                 [--nat64-prefix PREFIX [--dns64]]

Listens on UDP (and, unless --no-tcp, TCP) port --port of every --listen
address (IPv6 sockets with IPV6_V6ONLY=1) and prints "READY" on stdout (and
nothing else there) once every socket is bound.  Runs until killed.
Diagnostics go to stderr; --verbose logs one line per query:

    dnsserver: udp [192.0.2.2] dual.test AAAA id=0x1a2b -> answer 1 rr

Zone file (JSON), re-read whenever its inode/mtime/size changes (checked on
every query; a file that does not parse keeps the old zone in force, so
write it with os.replace() or expect a query or two on the old zone)::

    {
      "$ttl": 60,                        optional default TTL (default 60)
      "dual.test": {
        "A":    ["192.0.2.10"],          records of any type, each in
        "AAAA": ["2001:db8::10"],        presentation format ("MX":
                                         ["10 mx.test."]); one string = [it]
        "AAAA_mode": "drop",             per type: what to do (see below)
        "AAAA_delay_ms": 200,            per type: delay before answering
        "mode": "answer",                default for every type of the name
        "delay_ms": 0,                   default delay for every type
        "ttl": 60                        TTL of this name's records
      }
    }

Names are case-insensitive, a trailing dot is optional.  Modes, per type T
(T_mode; T any mnemonic such as A, AAAA, MX, or TYPE65) or per name (mode):

    answer     (default) NOERROR with the T records (none: NOERROR/no data)
    nodata     NOERROR, no records, even if some are listed
    drop       never answer
    servfail   RCODE 2        nxdomain  RCODE 3
    notimp     RCODE 4        refused   RCODE 5
    truncate   over UDP: an empty answer with TC=1; over TCP: like answer

A name with CNAME records is an alias (RFC 1034 section 3.6.2): a query
for another type gets the CNAME record, then, as a recursive server gives
it, the target's answer for that type (followed through the zone, up to 16
aliases; a loop ends there), all in the answer section.  A target not in
the zone makes the answer NXDOMAIN (with the chain); the target's mode
(servfail, drop, ...) applies to the whole answer.

Crafted replies: "raw" (every type) or "T_raw" (type T), a hex string, is
sent instead of the reply the server would build, as it is (over UDP with
no size limit and no TC bit added), only its first two bytes replaced by
the query's ID.  Modes and delays still apply; raw is used where the
answer would be.

A name not in the zone gets NXDOMAIN, unless the zone has a "$default"
entry (an object like a name's): then that entry answers for it.  Query type ANY gets NOTIMP, a class
other than IN gets REFUSED, an opcode other than QUERY gets NOTIMP.  A
delayed answer never holds up another query (UDP: a timer thread per
answer; TCP: a thread per connection).  An EDNS0 query gets an OPT back
(UDP payload 1232); a UDP answer longer than 512 bytes (or the client's
EDNS payload size) is sent without records and with TC=1.  Packets that do
not parse, responses and queries without exactly one question are ignored
(logged with --verbose).  Every answer has AA=1 and RA=1 and copies the
query's ID, RD bit and question.

Statistics: every query is counted per (name, type), the name lowercased
without the trailing dot, in the order the queries arrived.  With --stats
FILE the counts are written (atomically: temporary file + rename) after
every query is counted and before it is answered, and on SIGUSR1 (without
--stats, SIGUSR1 prints them on stderr).  The JSON::

    {"total": 3,
     "counts": {"dual.test": {"A": 1, "AAAA": 2}},
     "queries": [{"t": 0.0123, "proto": "udp", "client": "192.0.2.2",
                  "id": 6699, "name": "dual.test", "type": "AAAA",
                  "action": "drop", "wire": "0100000100..."}, ...]}

"t" is seconds since the server started; "queries" keeps the last 1000;
"wire" is the query's bytes after its ID, in hex (EDNS, flags and all).

NAT64 networks: --nat64-prefix PREFIX answers ipv4only.arpa (A: the
well-known 192.0.0.170 and .171; AAAA: those inside PREFIX, RFC 7050);
--dns64 also gives every name with A records and no AAAA the AAAA
records synthesized from them (RFC 6147).  A plain resolver (no --dns64)
does not.

Importable: compile_zone() and respond() need no network.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

IN = dns.rdataclass.IN
RCODES = {"answer": dns.rcode.NOERROR, "nodata": dns.rcode.NOERROR,
          "truncate": dns.rcode.NOERROR, "drop": None,
          "servfail": dns.rcode.SERVFAIL, "nxdomain": dns.rcode.NXDOMAIN,
          "notimp": dns.rcode.NOTIMP, "refused": dns.rcode.REFUSED}
DEFAULT_TTL = 60
EDNS_PAYLOAD = 1232
MAX_LOG = 1000


class ZoneError(ValueError):
    pass


def norm_name(name: str) -> str:
    name = name.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


# ------------------------------------------------------------------ zone


def compile_zone(data) -> dict:
    """Check a zone (the parsed JSON) and turn it into {name: {"ttl": int,
    "rdata": {qtype: [Rdata]}, "mode": {qtype or None: str},
    "delay": {qtype or None: seconds}}} (None: the name's default)."""
    if not isinstance(data, dict):
        raise ZoneError("zone must be a JSON object {name: {...}}")
    default_ttl = _ttl(data.get("$ttl", DEFAULT_TTL), "$ttl")
    zone = {}
    for name, spec in data.items():
        if name.startswith("$") and name != "$default":
            continue
        if not isinstance(spec, dict):
            raise ZoneError(f"{name}: want an object, got {spec!r}")
        entry = {"ttl": default_ttl, "rdata": {}, "mode": {None: "answer"},
                 "delay": {None: 0.0}, "raw": {}}
        for key, val in spec.items():
            try:
                _compile_key(entry, key, val)
            except (ValueError, TypeError, dns.exception.DNSException) as e:
                raise ZoneError(f"{name}: {key}: {e}") from None
        zone[None if name == "$default" else norm_name(name)] = entry
    return zone


def _compile_key(entry, key, val):
    if key == "ttl":
        entry["ttl"] = _ttl(val, key)
    elif key == "mode" or key.endswith("_mode"):
        entry["mode"][_qtype(key[:-5])] = _mode(val)
    elif key == "delay_ms" or key.endswith("_delay_ms"):
        entry["delay"][_qtype(key[:-9])] = _delay(val)
    elif key == "raw" or key.endswith("_raw"):
        raw = bytes.fromhex(val) if isinstance(val, str) else b""
        if len(raw) < 2:
            raise ZoneError("want the hex of a whole reply")
        entry["raw"][_qtype(key[:-4])] = raw
    else:
        texts = [val] if isinstance(val, str) else val
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ZoneError("want a list of records in presentation format")
        qtype = _qtype(key)
        entry["rdata"][qtype] = [dns.rdata.from_text(IN, qtype, t, dns.name.root,
                                                   relativize=False)
                                 for t in texts]


def _qtype(prefix):
    """The type a key's prefix names ("AAAA_" -> AAAA); "" -> None."""
    return dns.rdatatype.from_text(prefix.rstrip("_")) if prefix else None


def _ttl(val, where):
    if type(val) is not int or not 0 <= val < 2**31:
        raise ZoneError(f"{where}: bad TTL {val!r}")
    return val


def _mode(val):
    if val not in RCODES:
        raise ZoneError(f"mode {val!r} not one of {', '.join(RCODES)}")
    return val


def _delay(val):
    if type(val) not in (int, float) or val < 0:
        raise ZoneError(f"bad delay {val!r}")
    return val / 1000.0


def synthesize6(prefix: str, v4: str) -> str:
    """RFC 6052: v4 inside an IPv6 prefix of length 32..96 (bits 64..71,
    the u octet, stay zero)."""
    import ipaddress
    net = ipaddress.IPv6Network(prefix)
    out = bytearray(net.network_address.packed)
    pos = net.prefixlen // 8
    for byte in ipaddress.IPv4Address(v4).packed:
        pos += pos == 8
        out[pos] = byte
        pos += 1
    return str(ipaddress.IPv6Address(bytes(out)))


def add_nat64(zone: dict, prefix: str, dns64: bool) -> dict:
    """A NAT64 network's answers on top of a compiled zone: ipv4only.arpa
    (RFC 7050) names the prefix; with dns64 every name that has A records
    and no AAAA gets synthesized AAAA records (RFC 6147)."""
    wka = ["192.0.0.170", "192.0.0.171"]
    spec = {"A": wka, "AAAA": [synthesize6(prefix, a) for a in wka]}
    zone.setdefault("ipv4only.arpa", compile_zone({"x": spec})["x"])
    if dns64:
        A, AAAA = dns.rdatatype.A, dns.rdatatype.AAAA
        for entry in zone.values():
            rd = entry["rdata"]
            if rd.get(A) and not rd.get(AAAA):
                rd[AAAA] = [dns.rdata.from_text(IN, AAAA, synthesize6(prefix, r.address))
                            for r in rd[A]]
    return zone


class ZoneFile:
    """A zone file re-read when its (inode, mtime, size) changes, with a
    cache of the answers given from it (emptied when it changes).
    nat64: (prefix, dns64) to add_nat64 to every zone read, or None."""

    nat64 = None

    def __init__(self, path, log):
        self.path, self.log = path, log
        self.key, self.zone, self.answers = None, {}, {}
        self.lock = threading.Lock()
        self._load(initial=True)

    def _load(self, initial=False):
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if key == self.key:
                return
            with open(self.path, encoding="utf-8") as f:
                self.zone, self.key = compile_zone(json.load(f)), key
            if self.nat64:
                self.zone = add_nat64(self.zone, *self.nat64)
            self.answers = {}
        except (OSError, ValueError) as e:  # JSONDecodeError, ZoneError
            if initial:
                raise ZoneError(f"{self.path}: {e}") from None
            self.log(f"zone {self.path}: {e}; keeping the old zone")
            return
        if not initial:
            self.log(f"zone {self.path} reloaded: {len(self.zone)} names")

    def current(self) -> tuple[dict, dict]:
        """(zone, answer cache) in force now."""
        with self.lock:
            self._load()
            return self.zone, self.answers


# ------------------------------------------------------------- answering


def parse_query(msg: bytes):
    """The query in msg, or None for a packet to ignore."""
    try:
        q = dns.message.from_wire(msg)
    except Exception:  # dnspython has many errors for a broken packet
        return None
    if q.flags & dns.flags.QR or len(q.question) != 1:
        return None
    return q


def decide(zone: dict, q) -> tuple[str, float, list, int]:
    """What to do with q: (action, delay_s, rdata, ttl); action is a key
    of RCODES (nxdomain also for a name not in the zone)."""
    action, delay, rdata, ttl, _, _ = decide_full(zone, q)
    return action, delay, rdata, ttl


CNAME_HOPS = 16


def decide_full(zone: dict, q):
    """decide(), and also the aliases followed (a list of (owner name,
    CNAME rdata, ttl)) and the crafted reply to send (bytes or None)."""
    question = q.question[0]
    if q.opcode() != dns.opcode.QUERY or question.rdtype == dns.rdatatype.ANY:
        return "notimp", 0.0, [], 0, [], None
    if question.rdclass != IN:
        return "refused", 0.0, [], 0, [], None
    qtype = question.rdtype
    name = question.name
    chain = []
    entry = zone.get(norm_name(name.to_text()), zone.get(None))
    while (entry is not None and qtype != dns.rdatatype.CNAME
           and entry["rdata"].get(dns.rdatatype.CNAME) and len(chain) < CNAME_HOPS):
        target = entry["rdata"][dns.rdatatype.CNAME][0].target.derelativize(dns.name.root)
        chain.append((name, target, entry["ttl"]))
        name = target
        entry = zone.get(norm_name(name.to_text()), zone.get(None))
    if entry is None:
        return "nxdomain", 0.0, [], 0, chain, None
    mode = entry["mode"].get(qtype, entry["mode"][None])
    delay = entry["delay"].get(qtype, entry["delay"][None])
    rdata = entry["rdata"].get(qtype, []) if mode in ("answer", "truncate") else []
    if chain and rdata:
        rdata = [(name, rd) for rd in rdata]
    raw = entry["raw"].get(qtype, entry["raw"].get(None)) if not chain else None
    if mode not in ("answer", "nodata"):
        raw = None
    return mode, delay, rdata, entry["ttl"], chain, raw


def build_response(q, rcode, rdata=(), ttl=DEFAULT_TTL, tc=False, chain=()):
    """chain: aliases (owner, CNAME rdata, ttl) put first in the answer;
    with a chain rdata holds (owner, rdata) pairs."""
    r = dns.message.make_response(q, recursion_available=True,
                                  our_payload=EDNS_PAYLOAD)
    r.flags |= dns.flags.AA | (dns.flags.TC if tc else 0)
    r.set_rcode(rcode)
    question = q.question[0]
    for owner, target, cttl in chain:
        rrset = r.find_rrset(r.answer, owner, IN, dns.rdatatype.CNAME, create=True)
        rrset.add(dns.rdata.from_text(IN, dns.rdatatype.CNAME, target.to_text()), cttl)
    for rd in rdata:
        owner = question.name
        if chain:
            owner, rd = rd
        rrset = r.find_rrset(r.answer, owner, IN, question.rdtype, create=True)
        rrset.add(rd, ttl)
    return r


def respond(zone: dict, msg: bytes, proto: str = "udp"):
    """(query, action, delay_s, response bytes or None); query None (and
    action "ignore") for a packet to ignore."""
    q = parse_query(msg)
    if q is None:
        return None, "ignore", 0.0, None
    action, delay, rdata, ttl, chain, raw = decide_full(zone, q)
    if action == "drop":
        return q, action, delay, None
    if raw is not None:
        return q, "raw", delay, msg[:2] + raw[2:]
    if action == "truncate" and proto == "udp":
        return q, action, delay, build_response(q, 0, tc=True).to_wire()
    limit = 65535
    if proto == "udp":
        limit = max(512, q.payload) if q.edns >= 0 else 512
    response = build_response(q, RCODES[action], rdata, ttl, chain=chain)
    try:  # records in the zone's order, which tests count on
        wire = response.to_wire(max_size=limit, want_shuffle=False)
    except dns.exception.TooBig:
        wire = build_response(q, RCODES[action], tc=True).to_wire()
    return q, action, delay, wire


# ----------------------------------------------------------------- server


class Stats:
    def __init__(self, path=None):
        self.path = path
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.total = 0
        self.counts: dict[str, dict[str, int]] = {}
        self.queries: list[dict] = []

    def add(self, proto, client, qid, name, tname, action, wire=""):
        with self.lock:
            self.total += 1
            per = self.counts.setdefault(name, {})
            per[tname] = per.get(tname, 0) + 1
            self.queries.append({"t": round(time.monotonic() - self.t0, 4),
                                 "proto": proto, "client": client,
                                 "id": qid, "name": name, "type": tname,
                                 "action": action, "wire": wire})
            del self.queries[:-MAX_LOG]
            if self.path:
                self._write_locked()

    def _write_locked(self):
        text = json.dumps({"total": self.total, "counts": self.counts,
                           "queries": self.queries}, indent=1)
        if not self.path:
            print(text, file=sys.stderr, flush=True)
            return
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def dump(self):
        """Write the stats file (or, without one, print on stderr)."""
        with self.lock:
            self._write_locked()


def log(msg):
    print(f"dnsserver: {msg}", file=sys.stderr, flush=True)


class Server:
    """Binds in __init__ (OSError if it cannot); start() serves every
    socket in its own daemon thread."""

    def __init__(self, zone_path, listen, port, stats=None, tcp=True,
                 verbose=False, nat64=None):
        ZoneFile.nat64 = nat64
        self.zone = ZoneFile(zone_path, log)
        self.stats = Stats(stats)
        self.verbose = verbose
        self.socks = []
        for addr in listen:
            self._bind(addr, port, socket.SOCK_DGRAM)
            if tcp:
                self._bind(addr, port, socket.SOCK_STREAM)
        if stats:
            self.stats.dump()  # an (empty) stats file exists from the start

    def _bind(self, addr, port, kind):
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, kind)
        self.socks.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((addr, port))
        except OSError as e:
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            raise OSError(e.errno, f"cannot bind [{addr}]:{port}/{proto}: "
                          f"{e.strerror}") from None
        if kind == socket.SOCK_STREAM:
            s.listen(64)

    def start(self):
        for s in self.socks:
            serve = self._serve_udp if s.type == socket.SOCK_DGRAM else self._serve_tcp
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    def handle(self, msg, proto, client):
        """(response or None, delay_s) for one message; counts and logs it."""
        try:
            found = self._lookup(msg, proto)
        except Exception as e:  # never let a packet kill the server
            log(f"{proto} [{client}]: error handling {msg[:64].hex()}: {e!r}")
            return None, 0.0
        if found is None:
            if self.verbose:
                log(f"{proto} [{client}]: ignored {len(msg)} bytes {msg[:32].hex()}")
            return None, 0.0
        name, tname, action, delay, tail = found
        qid = int.from_bytes(msg[:2], "big")
        try:
            self.stats.add(proto, client, qid, name, tname, action,
                           wire=msg[2:].hex())
        except OSError as e:
            log(f"cannot write stats: {e}")
        resp = msg[:2] + tail if tail is not None else None
        if self.verbose:
            line = f"{proto} [{client}] {name} {tname} id=0x{qid:04x} -> {action}"
            if resp:
                line += f" {int.from_bytes(resp[6:8], 'big')} rr"
                line += " TC" if resp[2] & 0x02 else ""
                line += f" after {delay * 1000:.0f} ms" if delay else ""
            log(line)
        return resp, delay

    def _lookup(self, msg, proto):
        """(name, type, action, delay_s, response without its ID) for msg,
        None to ignore it.  Cached: dnspython takes ~0.1 ms a message, which
        would show in the benchmarks that time lookups against this server;
        the answer depends on nothing but the zone and msg after its ID."""
        zone, answers = self.zone.current()
        key = (proto, msg[2:])
        if key not in answers:
            q, action, delay, resp = respond(zone, msg, proto)
            if len(answers) > 10000:
                answers.clear()
            answers[key] = None if q is None else (
                norm_name(q.question[0].name.to_text()),
                dns.rdatatype.to_text(q.question[0].rdtype),
                action, delay, None if resp is None else resp[2:])
        return answers[key]

    def _serve_udp(self, sock):
        while True:
            msg, addr = sock.recvfrom(65535)
            resp, delay = self.handle(msg, "udp", addr[0])
            if resp is None:
                continue
            if not delay:
                _sendto(sock, resp, addr)
                continue
            timer = threading.Timer(delay, _sendto, (sock, resp, addr))
            timer.daemon = True
            timer.start()

    def _serve_tcp(self, lsock):
        while True:
            try:
                conn, addr = lsock.accept()
            except OSError as e:  # ECONNABORTED, EMFILE: keep serving
                log(f"accept: {e}")
                time.sleep(0.05)
                continue
            threading.Thread(target=self._tcp_conn, args=(conn, addr[0]),
                             daemon=True).start()

    def _tcp_conn(self, conn, client):
        conn.settimeout(30)
        try:
            with conn, conn.makefile("rb") as f:
                while len(hdr := f.read(2)) == 2:
                    msg = f.read(int.from_bytes(hdr, "big"))
                    resp, delay = self.handle(msg, "tcp", client)
                    if resp is not None:
                        time.sleep(delay)
                        conn.sendall(len(resp).to_bytes(2, "big") + resp)
        except OSError:
            pass


def _sendto(sock, resp, addr):
    try:
        sock.sendto(resp, addr)
    except OSError:
        pass


def dump_stats(stats):
    try:
        stats.dump()
    except OSError as e:
        log(f"cannot write stats: {e}")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See the module docstring for the zone file format.")
    ap.add_argument("--listen", action="append", required=True,
                    metavar="ADDR", help="address to serve on; repeatable")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--zone", required=True, metavar="FILE",
                    help="JSON zone file, re-read when it changes")
    ap.add_argument("--stats", metavar="FILE",
                    help="write query counts (JSON) here after every query "
                    "and on SIGUSR1")
    ap.add_argument("--no-tcp", action="store_true", help="serve UDP only")
    ap.add_argument("--nat64-prefix", metavar="PREFIX",
                    help="answer ipv4only.arpa with this NAT64 prefix (RFC 7050)")
    ap.add_argument("--dns64", action="store_true",
                    help="with --nat64-prefix: synthesize AAAA records for "
                    "names that have only A records (RFC 6147)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="log every query on stderr")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        server = Server(args.zone, args.listen, args.port, stats=args.stats,
                        tcp=not args.no_tcp, verbose=args.verbose,
                        nat64=(args.nat64_prefix, args.dns64) if args.nat64_prefix else None)
    except (ZoneError, OSError) as e:
        log(e)
        return 1
    signal.signal(signal.SIGUSR1, lambda *_: dump_stats(server.stats))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    print("READY", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
