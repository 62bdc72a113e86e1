#!/usr/bin/env python3
"""Greeting TCP server for the network test lab (stdlib only).

Listens on each address given with --addr separately (IPv6 sockets with
IPV6_V6ONLY=1), all on the same --port.  Every accepted connection is sent
one line at once:

    hello from <local address> port <port> via ipv6|ipv4

and is then held open until the client closes it, or --hold seconds pass,
whichever comes first.  Anything the client sends is read and discarded.

Prints "READY" on stdout (and nothing else there) once every socket listens.
Diagnostics go to stderr.  Runs until killed.

Single-threaded epoll loop: it holds thousands of concurrent connections
without a thread each, and never keeps a closed socket around.
"""

import argparse
import collections
import errno
import resource
import selectors
import socket
import sys
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=7000)
    ap.add_argument("--addr", action="append", required=True,
                    help="address to listen on; repeat for several")
    ap.add_argument("--hold", type=float, default=30.0,
                    help="seconds to keep an idle connection open")
    ap.add_argument("--backlog", type=int, default=4096)
    return ap.parse_args(argv)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def listen_on(addr, port, backlog):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((addr, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Server:
    def __init__(self, listeners, hold):
        self.sel = selectors.DefaultSelector()
        self.hold = hold
        # Connections in accept order; since every connection gets the same
        # hold time this is also deadline order.  Entries whose socket was
        # already closed are skipped when they reach the front.
        self.deadlines = collections.deque()
        self.open = {}  # fileno -> socket, only connections still open
        for sock in listeners:
            host, port = sock.getsockname()[:2]
            fam = "ipv6" if sock.family == socket.AF_INET6 else "ipv4"
            greeting = f"hello from {host} port {port} via {fam}\n".encode()
            self.sel.register(sock, selectors.EVENT_READ, ("listen", greeting))

    def accept_all(self, lsock, greeting):
        while True:
            try:
                conn, _peer = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                               errno.ENOMEM):
                    print(f"netlab_server: accept: {e}", file=sys.stderr)
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            conn.setblocking(False)
            try:
                conn.send(greeting)  # tiny; fits in any fresh socket buffer
            except OSError:
                conn.close()
                continue
            fd = conn.fileno()
            self.open[fd] = conn
            self.deadlines.append((time.monotonic() + self.hold, fd, conn))
            self.sel.register(conn, selectors.EVENT_READ, ("conn", None))

    def close(self, conn):
        fd = conn.fileno()
        if fd < 0:
            return
        self.sel.unregister(conn)
        del self.open[fd]
        conn.close()

    def drain(self, conn):
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)

    def expire(self, now):
        while self.deadlines and self.deadlines[0][0] <= now:
            _, fd, conn = self.deadlines.popleft()
            if self.open.get(fd) is conn:
                self.close(conn)

    def serve_forever(self):
        while True:
            timeout = None
            if self.deadlines:
                timeout = max(0.0, self.deadlines[0][0] - time.monotonic())
            for key, _mask in self.sel.select(timeout):
                kind, greeting = key.data
                if kind == "listen":
                    self.accept_all(key.fileobj, greeting)
                else:
                    self.drain(key.fileobj)
            self.expire(time.monotonic())


def main(argv=None):
    args = parse_args(argv)
    raise_fd_limit()
    listeners = []
    for addr in args.addr:
        try:
            listeners.append(listen_on(addr, args.port, args.backlog))
        except OSError as e:
            print(f"netlab_server: cannot listen on [{addr}]:{args.port}: {e}",
                  file=sys.stderr)
            return 1
    server = Server(listeners, args.hold)
    print("READY", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
