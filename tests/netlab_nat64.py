"""An IPv6-only network with a real NAT64 translator, for one test.

    client ns (IPv6 only)      router ns                  server ns (IPv4 only)
    2001:db8:1::2/64  veth0 <-> vc  2001:db8:1::1/64
                                tayga on tun "nat64"
                                  prefix PREFIX (2001:db8:64:ff9b::/96)
                                  pool   198.51.100.128/25
                                vs  203.0.113.1/24 <-> veth0 203.0.113.10, .11

The client has no IPv4 address but loopback and no IPv4 route: a connect to
an IPv4 address fails with ENETUNREACH at once, as on an IPv6-only host.
Its resolver is tests/dnsserver.py on the router (2001:db8:1::1), which
answers ipv4only.arpa AAAA with the prefix (RFC 7050) and, in "dns64" mode,
synthesizes AAAA records for IPv4-only names; in "plain" mode it does not.
The server sees the translator's pool address (198.51.100.x).

The prefix is a network-specific one inside 2001:db8::/32: these IPv4
addresses are not global, and tayga (as RFC 6052 requires) refuses the
well-known prefix 64:ff9b::/96 with them.  Everything is documentation
addresses in namespaces this module makes; close() removes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import netlab
from dnsserver import synthesize6 as synthesize  # noqa: F401 (tests use it)
from netlab import LabError, _await_ready, _check

PREFIX = "2001:db8:64:ff9b::/96"
CLI6 = "2001:db8:1::2"
RTR6 = "2001:db8:1::1"
TAYGA6 = "2001:db8:1::64"
TAYGA4 = "198.51.100.1"
POOL = "198.51.100.128/25"
SRV4 = ["203.0.113.10", "203.0.113.11"]
RTR4 = "203.0.113.1"
DNS_SCRIPT = Path(__file__).resolve().parent / "dnsserver.py"

# names in the lab's DNS: an IPv4-only one and a dual-stack one whose
# IPv6 address is the server's synthesized one (so it reaches it too)
V4ONLY_NAME = "v4only.nat64.test"


PEER_SERVER = r"""
import socket, sys, threading
port, http_port, addrs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def serve(ls, http):
    while True:
        c, peer = ls.accept()
        body = f"peer={peer[0]}\n".encode()
        try:
            if http:
                c.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
            else:
                c.sendall(body)
        except OSError:
            pass
        c.close()
for a in addrs:
    for p, http in ((port, False), (http_port, True)):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a, p))
        ls.listen(64)
        threading.Thread(target=serve, args=(ls, http), daemon=True).start()
print("READY", flush=True)
threading.Event().wait()
"""


class Nat64Lab(netlab.Lab):
    """Lab whose client is IPv6-only behind tayga.  Lab's run(), popen(),
    popen_server(), run_server() and close() work as documented there
    (self.cli the client, self.srv the IPv4 server, self.rtr the router).
    dns: "plain" or "dns64"; prefix: tayga's prefix (a length RFC 6052
    allows)."""

    def __init__(self, prefix: str = PREFIX, dns: str = "plain"):
        self.prefix = prefix
        self.dns_mode = dns
        self._tmp = tempfile.mkdtemp(prefix="scio-nat64-")
        n = next(netlab._counter)
        self.rtr = f"{netlab.NS_PREFIX}{os.getpid()}s{n}"
        super().__init__()

    def _build(self, extra_hosts):
        if shutil.which("tayga") is None:
            raise LabError("`tayga` not found (tests/deps.sh installs it)")
        if os.geteuid() != 0:
            raise LabError("network lab needs root (ip netns, tun)")
        for ns in (self.cli, self.rtr, self.srv):
            _check(["ip", "netns", "add", ns])
            self._namespaces.append(ns)
        self.write_etc("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n")
        self.write_etc("resolv.conf", f"nameserver {RTR6}\n"
                       "options timeout:1 attempts:2\n")
        if Path("/etc/nsswitch.conf").exists():
            self.write_etc("nsswitch.conf", "hosts: files dns\n")
        nodad = ["net.ipv6.conf.all.accept_dad=0",
                 "net.ipv6.conf.default.accept_dad=0"]
        for ns in (self.cli, self.rtr, self.srv):
            self._sysctl(ns, nodad)
        self._sysctl(self.rtr, ["net.ipv4.ip_forward=1",
                                "net.ipv6.conf.all.forwarding=1"])
        _check(["ip", "-n", self.cli, "link", "add", "veth0", "type", "veth",
                "peer", "name", "vc", "netns", self.rtr])
        _check(["ip", "-n", self.srv, "link", "add", "veth0", "type", "veth",
                "peer", "name", "vs", "netns", self.rtr])
        self._batch(self.cli, ["link set lo up", "link set veth0 up",
                               f"address add {CLI6}/64 dev veth0 nodad",
                               f"route add default via {RTR6}"])
        self._batch(self.srv, ["link set lo up", "link set veth0 up",
                               *[f"address add {a}/24 dev veth0" for a in SRV4],
                               f"route add default via {RTR4}"])
        self._batch(self.rtr, ["link set lo up", "link set vc up", "link set vs up",
                               f"address add {RTR6}/64 dev vc nodad",
                               f"address add {RTR4}/24 dev vs"])
        self._start_tayga()
        self._start_dns()

    def _batch(self, ns, lines):
        _check(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")

    def _start_tayga(self):
        conf = Path(self._tmp, "tayga.conf")
        conf.write_text(f"tun-device nat64\nipv4-addr {TAYGA4}\n"
                        f"ipv6-addr {TAYGA6}\nprefix {self.prefix}\n"
                        f"dynamic-pool {POOL}\ndata-dir {self._tmp}\n")
        # a persistent tun device that tayga attaches to (removed with
        # the namespace)
        self._batch(self.rtr, ["tuntap add dev nat64 mode tun",
                               "link set nat64 up",
                               f"route add {POOL} dev nat64",
                               f"route add {self.prefix} dev nat64"])
        self.tayga = self._spawn(self.rtr, ["tayga", "-c", str(conf), "--nodetach"],
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)

    def zone(self) -> dict:
        """The DNS zone: the name with only an A record.  dnsserver.py's
        --nat64-prefix answers ipv4only.arpa, --dns64 synthesizes AAAA."""
        return {"$ttl": 60, V4ONLY_NAME: {"A": [SRV4[0]]}}

    def _start_dns(self):
        zone = Path(self._tmp, "zone.json")
        zone.write_text(json.dumps(self.zone()))
        self.dns_stats = Path(self._tmp, "dns-stats.json")
        p = self._spawn(self.rtr, [sys.executable, "-u", str(DNS_SCRIPT),
                                   "--listen", RTR6, "--zone", str(zone),
                                   "--stats", str(self.dns_stats),
                                   "--nat64-prefix", self.prefix,
                                   *(["--dns64"] if self.dns_mode == "dns64" else [])],
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        _await_ready(p, 10, "dnsserver")

    def start_servers(self, port: int = 8080, http_port: int = 8081,
                      addrs=tuple(SRV4), **_) -> subprocess.Popen:
        """On each server address: port answers every connection with the
        line "peer=ADDR" (the address the server sees) and closes; http_port
        answers any HTTP request with that line as its body."""
        p = self.popen_server([sys.executable, "-u", "-c", PEER_SERVER,
                               str(port), str(http_port), *addrs],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        _await_ready(p, 10, "peer server")
        return p

    def ipv4only_answer(self, **mode) -> None:
        """How the DNS server answers ipv4only.arpa from now on: with the
        prefix as before, after AAAA_delay_ms, or (AAAA_mode="drop") never.
        The zone file is replaced whole; the server reads it at its next
        query."""
        zone = self.zone()
        wka = ["192.0.0.170", "192.0.0.171"]
        zone["ipv4only.arpa"] = {"A": wka, "AAAA": [self.synth(a) for a in wka], **mode}
        path = Path(self._tmp, "zone.json")
        tmp = path.with_suffix(".new")
        tmp.write_text(json.dumps(zone))
        os.replace(tmp, path)

    def dns_counts(self) -> dict:
        """Queries the lab's DNS server saw: {name: {type: count}}."""
        return json.loads(self.dns_stats.read_text())["counts"]

    def synth(self, v4: str) -> str:
        return synthesize(self.prefix, v4)

    def close(self) -> None:
        super().close()
        shutil.rmtree(netlab.NETNS_ETC / self.rtr, ignore_errors=True)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __repr__(self):
        return f"<Nat64Lab cli={self.cli} rtr={self.rtr} srv={self.srv} {self.prefix}>"
