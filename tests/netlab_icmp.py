#!/usr/bin/env python3
"""Answer TCP SYNs to chosen addresses with ICMP errors (stdlib only).

Runs in the lab's server namespace; netlab.Lab starts it for the
'unreachable' and 'noroute' faults.  Why not simply `nft ... reject with icmpx`: over a
veth pair the whole round trip SYN -> reject -> ICMP error runs inside the
client's connect() system call, while the client socket is locked.  Linux
drops an ICMP error that finds the socket locked (TcpExtLockDroppedIcmps),
and for IPv6 the connect then only fails when the SYN retransmitted a second
later draws a second ICMP error.  On a real network the error arrives after
connect() has returned.  Answering from user space, after --delay seconds,
gives that behaviour: connect fails within milliseconds, for IPv4 and IPv6
alike.

It watches --dev with a packet socket (seeing packets before netfilter,
which meanwhile drops them), and answers each TCP SYN (without ACK) to an
address in its table, quoting the SYN, with

  unreachable  ICMP host unreachable (type 3 code 1) /
               ICMPv6 address unreachable (type 1 code 3)  -> EHOSTUNREACH
  noroute      ICMP net unreachable (type 3 code 0) /
               ICMPv6 no route to destination (type 1 code 0) -> ENETUNREACH

Protocol: prints "READY" once listening.  Each line read from stdin is the
new complete table, space-separated ADDR=KIND items (may be empty); it
answers "OK" once the table is in force.  Exits when stdin closes.
"""

import argparse
import ctypes
import heapq
import ipaddress
import os
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_HOST = 0
SO_ATTACH_FILTER = 26
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1

# Classic BPF, run on the packet from its IP header on (SOCK_DGRAM):
# accept IPv6 TCP (no extension headers) and IPv4 TCP whose flags have SYN
# set and ACK clear; drop everything else in the kernel.
_BPF = [
    # code,  jt, jf, k
    (0x30, 0, 0, 0),      # 0  ldb [0]
    (0x74, 0, 0, 4),      # 1  rsh #4
    (0x15, 1, 0, 6),      # 2  jeq #6 -> 4
    (0x15, 5, 12, 4),     # 3  jeq #4 -> 9 else drop
    (0x30, 0, 0, 6),      # 4  ldb [6]            (IPv6 next header)
    (0x15, 0, 10, 6),     # 5  jeq #6 else drop
    (0x30, 0, 0, 53),     # 6  ldb [40 + 13]      (TCP flags)
    (0x54, 0, 0, 0x12),   # 7  and #(SYN|ACK)
    (0x15, 6, 7, 0x02),   # 8  jeq #SYN -> accept else drop
    (0x30, 0, 0, 9),      # 9  ldb [9]            (IPv4 protocol)
    (0x15, 0, 5, 6),      # 10 jeq #6 else drop
    (0xb1, 0, 0, 0),      # 11 ldxb 4*([0]&0xf)   (IPv4 header length)
    (0x50, 0, 0, 13),     # 12 ldb [x + 13]       (TCP flags)
    (0x54, 0, 0, 0x12),   # 13 and #(SYN|ACK)
    (0x15, 0, 1, 0x02),   # 14 jeq #SYN -> accept else drop
    (0x06, 0, 0, 1024),   # 15 accept: ret #1024
    (0x06, 0, 0, 0),      # 16 drop: ret #0
]


def attach_filter(sock):
    prog = b"".join(struct.pack("HBBI", *ins) for ins in _BPF)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(_BPF), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # copied


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


# kind -> (ICMPv4 destination-unreachable code, ICMPv6 one)
CODES = {"unreachable": (1, 3), "noroute": (0, 0)}


def addresses(pkt):
    """(family, source, destination) of an IPv4/IPv6 packet, or None."""
    version = pkt[0] >> 4 if pkt else 0
    if version == 6 and len(pkt) >= 40:
        f = socket.AF_INET6
        return f, socket.inet_ntop(f, pkt[8:24]), socket.inet_ntop(f, pkt[24:40])
    if version == 4 and len(pkt) >= 20:
        f = socket.AF_INET
        return f, socket.inet_ntop(f, pkt[12:16]), socket.inet_ntop(f, pkt[16:20])
    return None


def icmp_error(family, kind, pkt):
    """The destination-unreachable message quoting pkt."""
    code4, code6 = CODES[kind]
    if family == socket.AF_INET6:
        # Quote within the IPv6 minimum MTU; the kernel fills the checksum.
        return struct.pack("!BBHI", 1, code6, 0, 0) + pkt[:1232]
    quote = pkt[:(pkt[0] & 0xF) * 4 + 8]  # IP header + 8 bytes, as RFC 792
    csum = checksum(struct.pack("!BBHI", 3, code4, 0, 0) + quote)
    return struct.pack("!BBHI", 3, code4, csum, 0) + quote


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", default="veth0")
    ap.add_argument("--delay", type=float, default=0.002,
                    help="seconds between a SYN and its ICMP answer")
    args = ap.parse_args(argv)

    # Protocol 0: receive nothing until the filter is on and bind() picks
    # the device and ETH_P_ALL.
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    attach_filter(sniff)
    sniff.bind((args.dev, ETH_P_ALL))
    sniff.setblocking(False)
    raw = {
        socket.AF_INET: socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                      socket.IPPROTO_ICMP),
        socket.AF_INET6: socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                                       socket.IPPROTO_ICMPV6),
    }
    # Send-only: filter out every ICMP type so nothing queues up to be read.
    raw[socket.AF_INET].setsockopt(SOL_RAW, ICMP_FILTER,
                                   struct.pack("I", 0xFFFFFFFF))
    raw[socket.AF_INET6].setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER,
                                    b"\xff" * 32)
    targets = {}  # address -> kind
    pending = []  # heap of (due, seq, family, client, msg)
    seq = 0
    stdin = sys.stdin.fileno()
    inbuf = b""
    print("READY", flush=True)

    while True:
        timeout = None
        if pending:
            timeout = max(0.0, pending[0][0] - time.monotonic())
        ready, _, _ = select.select([sniff, stdin], [], [], timeout)
        if stdin in ready:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break
            inbuf += chunk
            while b"\n" in inbuf:
                line, inbuf = inbuf.split(b"\n", 1)
                targets = {}
                for item in line.decode().split():
                    addr, _, kind = item.partition("=")
                    if kind not in CODES:
                        sys.exit(f"netlab_icmp: bad item {item!r}")
                    targets[ipaddress.ip_address(addr).compressed] = kind
                print("OK", flush=True)
        if sniff in ready:
            while True:
                try:
                    pkt, addr = sniff.recvfrom(2048)
                except BlockingIOError:
                    break
                if addr[2] != PACKET_HOST:
                    continue
                addrs = addresses(pkt)
                if addrs and addrs[2] in targets:
                    family, client, dst = addrs
                    msg = icmp_error(family, targets[dst], pkt)
                    seq += 1
                    heapq.heappush(pending, (time.monotonic() + args.delay,
                                             seq, family, client, msg))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, family, client, msg = heapq.heappop(pending)
            try:
                raw[family].sendto(msg, (client, 0))
            except OSError as e:
                print(f"netlab_icmp: sendto {client}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
