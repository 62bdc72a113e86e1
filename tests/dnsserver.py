#!/usr/bin/python3
"""Scriptable authoritative DNS server for the network test lab (stdlib only).

    dnsserver.py --listen ADDR [--listen ADDR ...] [--port 53] --zone FILE
                 [--stats FILE] [--no-tcp] [--verbose]

Listens on UDP (and, unless --no-tcp, TCP) port --port of every --listen
address (IPv6 sockets with IPV6_V6ONLY=1) and prints "READY" on stdout (and
nothing else there) once every socket is bound.  Runs until killed.
Diagnostics go to stderr; --verbose logs one line per query:

    dnsserver: udp [192.0.2.2]:41000 dual.test AAAA id=0x1a2b -> answer 1 rr

Zone file (JSON), re-read whenever its mtime/inode/size changes (checked on
every query; a file that does not parse keeps the old zone in force, so
write it with os.replace() or expect a query or two on the old zone)::

    {
      "$ttl": 60,                        optional default TTL (default 60)
      "dual.test": {
        "A":    ["192.0.2.10"],          addresses (A and AAAA only)
        "AAAA": ["2001:db8::10"],
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

A name not in the zone gets NXDOMAIN.  Query type ANY gets NOTIMP, a class
other than IN gets REFUSED, an opcode other than QUERY gets NOTIMP.
Delays are scheduled (UDP: timer heap in the one event loop; TCP: one
thread per connection), so a delayed answer never holds up another query.
An EDNS0 OPT record in the query is echoed (UDP payload 1232, version 0, no
options); UDP answers longer than 512 bytes (or the client's EDNS payload
size) are truncated to whole records with TC=1.  Packets that do not parse
are ignored (logged with --verbose).  Every answer has AA=1 and RA=1 and
copies the query's ID, RD bit and question section.

Statistics: every query is counted per (name, type), the name lowercased
without the trailing dot.  With --stats FILE the counts are written
(atomically: temporary file + rename) after every query is counted and
before it is answered, and on SIGUSR1 (without --stats, SIGUSR1 prints them
on stderr).  The JSON::

    {"total": 3,
     "counts": {"dual.test": {"A": 1, "AAAA": 2}},
     "queries": [{"t": 0.0123, "proto": "udp", "client": "192.0.2.2",
                  "id": 6699, "name": "dual.test", "type": "AAAA",
                  "action": "drop"}, ...]}

"t" is seconds since the server started; "queries" keeps the last 1000.

Importable: DNSServer(zone, listen, port, ...) with start()/stop()/stats(),
and the pure functions parse_query() and respond() for tests that need no
network.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41, "HTTPS": 65,
         "SVCB": 64, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
CLASS_IN = 1
T_OPT = 41
T_ANY = 255

MODES = ("answer", "nodata", "drop", "servfail", "nxdomain", "notimp",
         "refused", "truncate")
RCODES = {"servfail": 2, "nxdomain": 3, "notimp": 4, "refused": 5}
FORMERR, NOTIMP, REFUSED = 1, 4, 5

DEFAULT_TTL = 60
EDNS_PAYLOAD = 1232
MAX_LOG = 1000


def type_name(qtype: int) -> str:
    return TYPE_NAMES.get(qtype, f"TYPE{qtype}")


def type_code(name: str) -> int:
    name = name.upper()
    if name in TYPES:
        return TYPES[name]
    if name.startswith("TYPE") and name[4:].isdigit():
        return int(name[4:])
    raise ValueError(f"unknown RR type {name!r}")


def norm_name(name: str) -> str:
    name = name.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


# ------------------------------------------------------------------ zone


class ZoneError(ValueError):
    pass


def compile_zone(data) -> dict:
    """Validate a zone (the parsed JSON) and turn it into
    {name: {"ttl": int, "mode": str, "delay_ms": float,
            "types": {qtype: {"rdata": [bytes], "mode": str|None,
                              "delay_ms": float|None}}}}."""
    if not isinstance(data, dict):
        raise ZoneError("zone must be a JSON object {name: {...}}")
    default_ttl = data.get("$ttl", DEFAULT_TTL)
    if not isinstance(default_ttl, int) or not 0 <= default_ttl < 2**31:
        raise ZoneError(f"$ttl: bad TTL {default_ttl!r}")
    zone = {}
    for raw_name, spec in data.items():
        if raw_name.startswith("$"):
            continue
        name = norm_name(raw_name)
        if not isinstance(spec, dict):
            raise ZoneError(f"{raw_name}: want an object, got {spec!r}")
        entry = {"ttl": default_ttl, "mode": "answer", "delay_ms": 0.0,
                 "types": {}}

        def tentry(tname):
            return entry["types"].setdefault(
                type_code(tname), {"rdata": [], "mode": None,
                                   "delay_ms": None})

        for key, val in spec.items():
            where = f"{raw_name}: {key}"
            try:
                if key == "ttl":
                    if not isinstance(val, int) or not 0 <= val < 2**31:
                        raise ZoneError("bad TTL")
                    entry["ttl"] = val
                elif key == "mode":
                    entry["mode"] = _mode(val)
                elif key == "delay_ms":
                    entry["delay_ms"] = _delay(val)
                elif key.endswith("_mode"):
                    tentry(key[:-5])["mode"] = _mode(val)
                elif key.endswith("_delay_ms"):
                    tentry(key[:-9])["delay_ms"] = _delay(val)
                elif key.upper() in ("A", "AAAA"):
                    if isinstance(val, str):
                        val = [val]
                    if not isinstance(val, list):
                        raise ZoneError("want a list of addresses")
                    fam = socket.AF_INET if key.upper() == "A" else socket.AF_INET6
                    tentry(key)["rdata"] = [socket.inet_pton(fam, a) for a in val]
                else:
                    raise ZoneError("unknown key (records: A, AAAA; "
                                    "T_mode, T_delay_ms, mode, delay_ms, ttl)")
            except (ValueError, OSError, TypeError) as e:
                raise ZoneError(f"{where}: {e}") from None
        zone[name] = entry
    return zone


def _mode(val):
    if val not in MODES:
        raise ZoneError(f"mode {val!r} not one of {', '.join(MODES)}")
    return val


def _delay(val):
    if not isinstance(val, (int, float)) or isinstance(val, bool) or val < 0:
        raise ZoneError(f"bad delay {val!r}")
    return float(val)


class ZoneFile:
    """A zone file re-read when its (inode, mtime, size) changes."""

    def __init__(self, path, log=None):
        self.path = path
        self.log = log or (lambda msg: None)
        self.key = None
        self.zone = {}
        self.lock = threading.Lock()
        self._load(initial=True)

    def _load(self, initial=False):
        try:
            st = os.stat(self.path)
        except OSError as e:
            if initial:
                raise ZoneError(f"{self.path}: {e}") from None
            return
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self.key:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                zone = compile_zone(json.load(f))
        except (OSError, ValueError) as e:  # JSONDecodeError, ZoneError
            if initial:
                raise ZoneError(f"{self.path}: {e}") from None
            self.log(f"zone {self.path}: {e}; keeping the old zone")
            return
        self.zone, self.key = zone, key
        if not initial:
            self.log(f"zone {self.path} reloaded: {len(zone)} names")

    def current(self) -> dict:
        with self.lock:
            self._load()
            return self.zone


class StaticZone:
    def __init__(self, data):
        self.zone = compile_zone(data)

    def current(self) -> dict:
        return self.zone


# ------------------------------------------------------------ wire format


class Malformed(ValueError):
    pass


class Query:
    __slots__ = ("id", "flags", "qname", "qname_wire", "question", "qtype",
                 "qclass", "edns", "edns_payload")

    @property
    def opcode(self):
        return (self.flags >> 11) & 0xF

    @property
    def rd(self):
        return bool(self.flags & 0x0100)


def _read_name(msg: bytes, off: int, allow_ptr: bool) -> tuple[str, int]:
    """Read a domain name at off; return (dotted name, offset after it)."""
    labels = []
    end = None
    seen = 0
    total = 0
    while True:
        if off >= len(msg):
            raise Malformed("name runs past the end")
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if not allow_ptr or off + 1 >= len(msg):
                raise Malformed("compression pointer")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            seen += 1
            if seen > 64:
                raise Malformed("pointer loop")
            continue
        if n & 0xC0:
            raise Malformed("bad label type")
        label = msg[off + 1:off + 1 + n]
        if len(label) != n:
            raise Malformed("label runs past the end")
        total += n + 1
        if total > 255:
            raise Malformed("name too long")
        labels.append(label.decode("latin-1"))
        off += 1 + n
    name = ".".join(labels) + "." if labels else "."
    return name, (end if end is not None else off)


def parse_query(msg: bytes) -> Query:
    """Parse a DNS query; raise Malformed if it is not one we can answer.
    Responses (QR=1) and anything without exactly one question are
    Malformed (and so ignored)."""
    if len(msg) < 12:
        raise Malformed("shorter than a header")
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
    if flags & 0x8000:
        raise Malformed("QR=1 (a response)")
    if qd != 1:
        raise Malformed(f"QDCOUNT={qd}")
    q = Query()
    q.id, q.flags = qid, flags
    name, off = _read_name(msg, 12, allow_ptr=False)
    if off + 4 > len(msg):
        raise Malformed("question runs past the end")
    q.qname = name
    q.qname_wire = msg[12:off]
    q.qtype, q.qclass = struct.unpack("!HH", msg[off:off + 4])
    off += 4
    q.question = msg[12:off]
    q.edns = False
    q.edns_payload = 512
    # Skip answer/authority records, look for an OPT among the additional.
    for i in range(an + ns + ar):
        _, off = _read_name(msg, off, allow_ptr=True)
        if off + 10 > len(msg):
            raise Malformed("record runs past the end")
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10 + rdlen
        if off > len(msg):
            raise Malformed("rdata runs past the end")
        if i >= an + ns and rtype == T_OPT:
            q.edns = True
            q.edns_payload = max(512, rclass)
    return q


def _header(q: Query, rcode: int, an: int, tc: bool, ar: int) -> bytes:
    flags = 0x8000 | (q.opcode << 11) | 0x0400 | (q.flags & 0x0100) | 0x0080
    if tc:
        flags |= 0x0200
    return struct.pack("!6H", q.id, flags | (rcode & 0xF), 1, an, 0, ar)


def build_response(q: Query, rcode: int = 0, rdata=(), qtype=None,
                   ttl: int = DEFAULT_TTL, limit: int | None = None,
                   force_tc: bool = False) -> bytes:
    """The answer to q: question echoed, one RR per rdata (owner name the
    pointer 0xC00C), an OPT if q had one.  limit: the largest message
    allowed (UDP); whole records that do not fit are left out and TC set."""
    opt = b""
    if q.edns:
        opt = b"\x00" + struct.pack("!HHIH", T_OPT, EDNS_PAYLOAD, 0, 0)
    rrs = [struct.pack("!HHHIH", 0xC00C, qtype or q.qtype, CLASS_IN, ttl,
                       len(rd)) + rd for rd in rdata]
    tc = force_tc
    if limit is not None:
        room = limit - 12 - len(q.question) - len(opt)
        keep = []
        for rr in rrs:
            if len(rr) > room:
                tc = True
                break
            keep.append(rr)
            room -= len(rr)
        rrs = keep
    return (_header(q, rcode, len(rrs), tc, 1 if opt else 0) + q.question
            + b"".join(rrs) + opt)


def decide(zone: dict, q: Query) -> tuple[str, float, int, list, int]:
    """What to do with q: (action, delay_s, rcode, rdata, ttl).  action is
    one of MODES (answer/nodata collapse to 'answer'), or 'nxdomain' for an
    unknown name, 'notimp'/'refused' for unsupported queries."""
    if q.opcode != 0:
        return "notimp", 0.0, NOTIMP, [], 0
    if q.qclass != CLASS_IN:
        return "refused", 0.0, REFUSED, [], 0
    if q.qtype == T_ANY:
        return "notimp", 0.0, NOTIMP, [], 0
    entry = zone.get(norm_name(q.qname))
    if entry is None:
        return "nxdomain", 0.0, 3, [], 0
    t = entry["types"].get(q.qtype, {"rdata": [], "mode": None,
                                     "delay_ms": None})
    mode = t["mode"] or entry["mode"]
    delay_ms = t["delay_ms"] if t["delay_ms"] is not None else entry["delay_ms"]
    delay = delay_ms / 1000.0
    if mode in RCODES:
        return mode, delay, RCODES[mode], [], entry["ttl"]
    if mode == "nodata":
        return "nodata", delay, 0, [], entry["ttl"]
    return mode, delay, 0, list(t["rdata"]), entry["ttl"]  # answer/drop/truncate


def respond(zone: dict, msg: bytes, proto: str = "udp"):
    """Pure function: (query, action, delay_s, response bytes or None).
    query is None (and so is the response) for a packet to ignore."""
    try:
        q = parse_query(msg)
    except Malformed:
        return None, "ignore", 0.0, None
    action, delay, rcode, rdata, ttl = decide(zone, q)
    if action == "drop":
        return q, action, delay, None
    limit = q.edns_payload if proto == "udp" else 65535
    if action == "truncate" and proto == "udp":
        return q, action, delay, build_response(q, 0, [], ttl=ttl,
                                                force_tc=True)
    return q, action, delay, build_response(q, rcode, rdata, ttl=ttl,
                                            limit=limit)


# ----------------------------------------------------------------- server


class Stats:
    def __init__(self, path=None):
        self.path = path
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.total = 0
        self.counts: dict[str, dict[str, int]] = {}
        self.queries: list[dict] = []

    def add(self, proto, client, q: Query, action):
        name = norm_name(q.qname)
        tname = type_name(q.qtype)
        with self.lock:
            self.total += 1
            per = self.counts.setdefault(name, {})
            per[tname] = per.get(tname, 0) + 1
            self.queries.append({"t": round(time.monotonic() - self.t0, 4),
                                 "proto": proto, "client": client,
                                 "id": q.id, "name": name, "type": tname,
                                 "action": action})
            del self.queries[:-MAX_LOG]
            if self.path:
                self._write_locked()

    def snapshot(self) -> dict:
        with self.lock:
            return json.loads(self._json_locked())

    def _json_locked(self) -> str:
        return json.dumps({"total": self.total, "counts": self.counts,
                           "queries": self.queries}, indent=1)

    def _write_locked(self):
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self._json_locked())
        os.replace(tmp, self.path)

    def dump(self):
        """Write the stats file (or, without one, print on stderr)."""
        with self.lock:
            if self.path:
                self._write_locked()
            else:
                print(self._json_locked(), file=sys.stderr, flush=True)


class DNSServer:
    """zone: a path (re-read on change) or a dict (fixed).  listen: a list
    of addresses.  Bind happens in __init__ (OSError if it fails);
    serve_forever() runs the loop, start() runs it in a daemon thread."""

    def __init__(self, zone, listen, port=53, stats=None, tcp=True,
                 verbose=False, log=None):
        self.verbose = verbose
        self._log = log or (lambda msg: print(f"dnsserver: {msg}",
                                              file=sys.stderr, flush=True))
        self.zone = (ZoneFile(zone, self._log) if isinstance(zone, (str, os.PathLike))
                     else StaticZone(zone))
        self.stats = Stats(stats)
        self.sel = selectors.DefaultSelector()
        self.timers: list = []  # heap of (due, seq, sock, payload, addr)
        self.seq = 0
        self.socks = []
        self._stop = False
        self._thread = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        try:
            for addr in listen:
                self._bind(addr, port, socket.SOCK_DGRAM)
                if tcp:
                    self._bind(addr, port, socket.SOCK_STREAM)
        except OSError:
            self.close()
            raise
        if self.stats.path:
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
            raise OSError(e.errno, f"cannot bind [{addr}]:{port}/"
                          f"{'udp' if kind == socket.SOCK_DGRAM else 'tcp'}: "
                          f"{e.strerror}") from None
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ,
                          ("udp" if kind == socket.SOCK_DGRAM else "tcp", None))

    @property
    def addresses(self):
        """[(proto, addr, port)] actually bound (port 0 resolves here)."""
        return [("udp" if s.type == socket.SOCK_DGRAM else "tcp",
                 *s.getsockname()[:2]) for s in self.socks]

    def log(self, msg):
        self._log(msg)

    def wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- query handling

    def handle(self, msg, proto, client):
        """(response or None, delay_s) for one message; counts and logs it."""
        try:
            zone = self.zone.current()
            q, action, delay, resp = respond(zone, msg, proto)
        except Exception as e:  # never let a packet kill the server
            self.log(f"{proto} [{client}]: error handling "
                     f"{msg[:64].hex()}: {e!r}")
            return None, 0.0
        if q is None:
            if self.verbose:
                self.log(f"{proto} [{client}]: ignored malformed packet "
                         f"({len(msg)} bytes) {msg[:32].hex()}")
            return None, 0.0
        try:
            self.stats.add(proto, client, q, action)
        except OSError as e:
            self.log(f"cannot write stats: {e}")
        if self.verbose:
            n = struct.unpack("!H", resp[6:8])[0] if resp else 0
            extra = f" {n} rr" if action in ("answer", "truncate") and resp else ""
            if resp and resp[2] & 0x02:
                extra += " TC"
            d = f" after {delay * 1000:.0f} ms" if delay and resp else ""
            self.log(f"{proto} [{client}] {norm_name(q.qname)} "
                     f"{type_name(q.qtype)} id=0x{q.id:04x} -> {action}"
                     f"{extra}{d}")
        return resp, delay

    def _udp(self, sock):
        for _ in range(64):  # drain, but let timers run now and then
            try:
                msg, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            resp, delay = self.handle(msg, "udp", addr[0])
            if resp is None:
                continue
            if delay > 0:
                self.seq += 1
                heapq.heappush(self.timers, (time.monotonic() + delay,
                                             self.seq, sock, resp, addr))
            else:
                self._sendto(sock, resp, addr)

    @staticmethod
    def _sendto(sock, resp, addr):
        try:
            sock.sendto(resp, addr)
        except OSError:
            pass

    def _accept(self, lsock):
        while True:
            try:
                conn, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn, addr[0]),
                             daemon=True).start()

    def _tcp_conn(self, conn, client):
        conn.setblocking(True)
        conn.settimeout(30)
        try:
            with conn:
                while not self._stop:
                    hdr = _recv_exact(conn, 2)
                    if hdr is None:
                        return
                    msg = _recv_exact(conn, struct.unpack("!H", hdr)[0])
                    if msg is None:
                        return
                    resp, delay = self.handle(msg, "tcp", client)
                    if resp is None:
                        continue
                    if delay > 0:
                        time.sleep(delay)
                    conn.sendall(struct.pack("!H", len(resp)) + resp)
        except OSError:
            pass

    # -- loop

    def serve_forever(self):
        while not self._stop:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, _ in self.sel.select(timeout):
                kind, _ = key.data
                if kind == "udp":
                    self._udp(key.fileobj)
                elif kind == "tcp":
                    self._accept(key.fileobj)
                elif kind == "wake":
                    try:
                        while self._wake_r.recv(512):
                            pass
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pass
                elif kind == "signal":
                    try:
                        sigs = key.fileobj.recv(512)
                    except OSError:
                        sigs = b""
                    if signal.SIGUSR1 in sigs:
                        try:
                            self.stats.dump()
                        except OSError as e:
                            self.log(f"cannot write stats: {e}")
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, sock, resp, addr = heapq.heappop(self.timers)
                self._sendto(sock, resp, addr)
        self.close()

    def install_sigusr1(self):
        """Main thread only: SIGUSR1 dumps the stats (via a wakeup fd)."""
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        self._sig = (r, w)
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        self.sel.register(r, selectors.EVENT_READ, ("signal", None))

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        self.wake()
        if self._thread:
            self._thread.join(5)

    def close(self):
        for s in self.socks:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.socks = []


def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


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
    ap.add_argument("--no-tcp", action="store_true",
                    help="serve UDP only")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="log every query on stderr")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        server = DNSServer(args.zone, args.listen, args.port, stats=args.stats,
                           tcp=not args.no_tcp, verbose=args.verbose)
    except (ZoneError, OSError) as e:
        print(f"dnsserver: {e}", file=sys.stderr, flush=True)
        return 1
    server.install_sigusr1()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("READY", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
