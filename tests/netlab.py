"""A private two-namespace network for one test.

    client ns  (CLI6 2001:db8::2, CLI4 192.0.2.2)
        veth0 <-----------------------> veth0
    server ns  (SRV6 2001:db8::10 ::11 ::12, SRV4 192.0.2.10 .11 .12)

Only documentation addresses are used and neither namespace has a route to
anything else, so nothing a test does can leave the machine.

The client namespace resolves names through its own /etc/hosts (see HOSTS);
``ip netns exec`` bind-mounts /etc/netns/<ns>/* over /etc/*.  Its
resolv.conf points at 127.0.0.1 (nothing listens there unless a test starts
something), so a name missing from the hosts file fails fast and no DNS query
ever leaves the lab.

Faults are nftables rules in the server namespace's input hook (table
``inet scio``) and only ever match TCP, so neighbour discovery, ARP and any
UDP a test runs are untouched.  Kinds:

  ok           no fault
  blackhole    TCP to the address is dropped silently (connect times out)
  refuse       TCP is answered with a RST (connect: ECONNREFUSED at once)
  unreachable  TCP is dropped and each SYN answered, ~2 ms later, with ICMP
               host unreachable (IPv4, type 3 code 1) / ICMPv6 address
               unreachable (type 1 code 3) by netlab_icmp.py; connect fails
               with EHOSTUNREACH within milliseconds, both families.  (An
               nft `reject with icmpx` answers inside the client's connect()
               call; Linux drops an ICMP error that finds the socket locked,
               so IPv6 connects would fail only after the 1 s SYN
               retransmit.  See netlab_icmp.py.)
  noroute      like unreachable, with ICMP net unreachable / ICMPv6 no route
               to destination (type 1 code 0): connect fails with ENETUNREACH
  lossy        the first SYN of every connection is dropped, retransmissions
               pass (connect succeeds after the SYN RTO, about 1 s)

Usage::

    with Lab() as lab:
        lab.start_servers()              # greeting servers on port 7000
        lab.fault("ipv6", "blackhole")
        r = lab.run(["./build/scio-connect", "dual.test", "7000"], timeout=10)
        assert r.returncode == 0, r

Must run as root.  Everything a Lab makes is removed by ``close()``;
``cleanup_stale()`` removes what a crashed earlier run left behind.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "netlab_server.py"
ICMP_SCRIPT = HERE / "netlab_icmp.py"

SRV6 = ["2001:db8::10", "2001:db8::11", "2001:db8::12"]
SRV4 = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
CLI6 = "2001:db8::2"
CLI4 = "192.0.2.2"
SRV_ALL = SRV6 + SRV4
DEFAULT_PORT = 7000

HOSTS = [
    ("127.0.0.1", "localhost"),
    ("::1", "localhost"),
    ("2001:db8::10", "dual.test"),
    ("192.0.2.10", "dual.test"),
    *[(a, "multi.test") for a in SRV6 + SRV4],
    ("2001:db8::10", "v6only.test"),
    ("192.0.2.10", "v4only.test"),
]

FAULT_KINDS = ("ok", "blackhole", "refuse", "unreachable", "noroute", "lossy")
ICMP_KINDS = ("unreachable", "noroute")  # answered by netlab_icmp.py

NETNS_ETC = Path("/etc/netns")
NS_PREFIX = "scio"
# f"scio{pid}{c|s}{n}" -- cleanup_stale() relies on exactly this shape.
NS_RE = re.compile(r"^scio(\d+)([cs])(\d+)$")
IFNAME = "veth0"  # the same name in each namespace; never in the root ns

_counter = itertools.count()


class LabError(RuntimeError):
    """A lab command failed; the message includes the command's stderr."""


@dataclasses.dataclass
class Result:
    argv: list
    returncode: int | None  # None only when timed out
    stdout: str
    stderr: str
    elapsed: float  # seconds (time.monotonic), includes ~ms of netns exec
    timed_out: bool = False

    def __str__(self):
        state = "TIMED OUT" if self.timed_out else f"rc={self.returncode}"
        return (f"{self.argv!r}: {state} after {self.elapsed:.3f}s\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


def _check(argv: Sequence[str], input: str | None = None,
           timeout: float = 30) -> str:
    """Run a setup command in the root ns; raise LabError with its stderr."""
    try:
        p = subprocess.run(list(argv), input=input, capture_output=True,
                           text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: not found ({e})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: timed out after {timeout}s") from None
    if p.returncode != 0:
        msg = f"`{' '.join(argv)}` failed (rc={p.returncode}): {p.stderr.strip()}"
        if input is not None:
            msg += "\n--- input ---\n" + input
        raise LabError(msg)
    return p.stdout


def _kill_group(proc: subprocess.Popen, grace: float = 1.0) -> None:
    """SIGTERM the process group of proc, SIGKILL it if still there later."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader is gone; make sure nothing else of its group survives.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _await_ready(proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Wait for a server's READY line; one that gives none is killed."""
    try:
        _expect(proc, b"READY", timeout, what)
    except LabError:
        _kill_group(proc)
        raise


def _expect(proc: subprocess.Popen, token: bytes, timeout: float,
            what: str) -> None:
    """Read proc's (binary, unbuffered) stdout until the line `token`."""
    buf = b""
    deadline = time.monotonic() + timeout
    while token + b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LabError(f"{what}: no {token.decode()!r} within {timeout}s; "
                           f"stdout so far: {buf!r}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                rc = proc.wait()
                raise LabError(f"{what}: exited (rc={rc}) before "
                               f"{token.decode()!r} (its stderr is in the "
                               f"test's captured output); stdout: {buf!r}")
            buf += chunk


def _netns_list() -> list[str]:
    out = _check(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_netns_pids(ns: str) -> None:
    """SIGKILL every process still living in namespace ns."""
    try:
        out = _check(["ip", "netns", "pids", ns])
    except LabError:
        return
    for pid in out.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale() -> list[str]:
    """Remove namespaces and /etc/netns dirs left by a crashed earlier run.

    Only names of exactly this harness's shape (scio<pid><c|s><n>) whose
    <pid> is not a live process are touched.  Returns the names removed.
    """
    names = set()
    try:
        names.update(_netns_list())
    except LabError:
        pass
    if NETNS_ETC.is_dir():
        names.update(p.name for p in NETNS_ETC.iterdir())
    removed = []
    for name in sorted(names):
        m = NS_RE.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        if Path("/run/netns", name).exists():
            _kill_netns_pids(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        removed.append(name)
    return removed


def _norm_addr(addr: str) -> str:
    return ipaddress.ip_address(addr).compressed


class Lab:
    """One client ns + one server ns joined by a veth pair.  See module doc.

    Lab(extra_hosts=...) adds lines to the client's hosts file; each item is
    either a full line ("2001:db8::11 other.test") or a tuple
    (address, name, ...).
    """

    def __init__(self, extra_hosts: Iterable[str | Sequence[str]] = ()):
        n = next(_counter)
        pid = os.getpid()
        self.cli = f"{NS_PREFIX}{pid}c{n}"
        self.srv = f"{NS_PREFIX}{pid}s{n}"
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen] = []
        self._faults: dict[str, str] = {}
        self._extra_srv: list[str] = []  # add_server_addresses()
        self._icmp: subprocess.Popen | None = None  # netlab_icmp.py
        self._closed = False
        self.setup_time = 0.0
        t0 = time.monotonic()
        try:
            self._build(list(extra_hosts))
        except BaseException:
            self.close()
            raise
        self.setup_time = time.monotonic() - t0

    # ----------------------------------------------------------- building

    def _build(self, extra_hosts):
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                raise LabError(f"`{tool}` not found on PATH")
        if os.geteuid() != 0:
            raise LabError("network lab needs root (ip netns, nft)")

        for ns in (self.cli, self.srv):
            _check(["ip", "netns", "add", ns])
            self._namespaces.append(ns)

        # Files under /etc/netns/<ns> must exist before the first
        # `ip netns exec` in that namespace.
        self.write_etc("hosts", self._hosts_text(extra_hosts))
        if Path("/etc/resolv.conf").exists():  # else glibc uses 127.0.0.1
            self.write_etc("resolv.conf",
                           "# tests/netlab.py: no DNS server unless a test "
                           "adds one\nnameserver 127.0.0.1\n"
                           "options timeout:1 attempts:1\n")
        if Path("/etc/nsswitch.conf").exists():
            self.write_etc("nsswitch.conf", "hosts: files dns\n")

        # No DAD anywhere, so addresses (link-local too) are usable at once.
        common = ["net.ipv6.conf.all.accept_dad=0",
                  "net.ipv6.conf.default.accept_dad=0"]
        self._sysctl(self.cli, common)
        # No ICMP rate limiting of the kernel's own errors (e.g. UDP port
        # unreachable), so every probe gets its answer.
        self._sysctl(self.srv, common + [
            "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_ratemask=0",
            "net.ipv6.icmp.ratelimit=0", "net.ipv6.icmp.ratemask=",
        ])

        _check(["ip", "-n", self.cli, "link", "add", IFNAME, "type", "veth",
                "peer", "name", IFNAME, "netns", self.srv])

        def batch(ns, addrs):
            lines = ["link set lo up", f"link set {IFNAME} up"]
            for a in addrs:
                plen = 64 if ":" in a else 24
                extra = " nodad" if ":" in a else ""
                lines.append(f"address add {a}/{plen} dev {IFNAME}{extra}")
            _check(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")

        batch(self.cli, [CLI6, CLI4])
        batch(self.srv, SRV_ALL)
        self._apply_faults({}, create=True)

    @staticmethod
    def _hosts_text(extra_hosts) -> str:
        lines = ["# written by tests/netlab.py"]
        lines += [f"{addr}\t{name}" for addr, name in HOSTS]
        for item in extra_hosts:
            lines.append(item if isinstance(item, str) else "\t".join(item))
        return "\n".join(lines) + "\n"

    def _sysctl(self, ns: str, assignments: Sequence[str]) -> None:
        _check(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *assignments])

    # -------------------------------------------------------- client etc

    def write_etc(self, name: str, text: str) -> Path:
        """Write /etc/netns/<client ns>/<name>, seen as /etc/<name> by
        processes started in the client ns from now on (e.g. 'resolv.conf').
        /etc/<name> must exist in the root ns: `ip netns exec` bind-mounts
        over it."""
        if not Path("/etc", name).exists():
            raise LabError(f"/etc/{name} does not exist, so /etc/netns/"
                           f"{self.cli}/{name} could not be mounted over it")
        d = NETNS_ETC / self.cli
        d.mkdir(parents=True, exist_ok=True)
        path = d / name
        path.write_text(text)
        return path

    def sysctl_client(self, key: str, value) -> None:
        """Set a per-netns sysctl in the client ns, e.g.
        sysctl_client('net.ipv4.tcp_syn_retries', 1)."""
        self._sysctl(self.cli, [f"{key}={value}"])

    def sysctl_server(self, key: str, value) -> None:
        """Like sysctl_client(), in the server ns."""
        self._sysctl(self.srv, [f"{key}={value}"])

    # ---------------------------------------------------------- processes

    def _spawn(self, ns: str, argv: Sequence[str], **kw) -> subprocess.Popen:
        if self._closed:
            raise LabError("lab is closed")
        kw["start_new_session"] = True  # own process group, killed as one
        # The environment is set by env(1) inside the namespace: `ip` itself
        # must not run with, say, a sanitizer runtime in LD_PRELOAD.
        env = kw.pop("env", None)
        prefix = []
        if env is not None:
            prefix = ["env", "-i", *(f"{k}={v}" for k, v in env.items())]
        p = subprocess.Popen(["ip", "netns", "exec", ns, *prefix,
                              *map(str, argv)], **kw)
        self._procs.append(p)
        return p

    def popen(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Start a background process in the client ns (subprocess.Popen
        keywords allowed).  Killed, with its process group, at close()."""
        return self._spawn(self.cli, argv, **kw)

    def popen_server(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Like popen(), in the server ns."""
        return self._spawn(self.srv, argv, **kw)

    def run(self, argv: Sequence[str], timeout: float = 30,
            env: Mapping[str, str | None] | None = None,
            input: str | None = None) -> Result:
        """Run argv in the client ns and wait for it.

        env: variables added to (value None: removed from) os.environ.
        Never raises on failure or timeout: on timeout the process group is
        killed and the Result has timed_out=True, returncode None.
        """
        return self._run(self.cli, argv, timeout, env, input)

    def run_server(self, argv: Sequence[str], timeout: float = 30,
                   env: Mapping[str, str | None] | None = None,
                   input: str | None = None) -> Result:
        """Like run(), in the server ns (e.g. ['ss', '-tn'])."""
        return self._run(self.srv, argv, timeout, env, input)

    def _run(self, ns, argv, timeout, env, input) -> Result:
        full_env = None
        if env is not None:
            full_env = dict(os.environ)
            for k, v in env.items():
                if v is None:
                    full_env.pop(k, None)
                else:
                    full_env[k] = str(v)
        t0 = time.monotonic()
        p = self._spawn(ns, argv, env=full_env, text=True,
                        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        timed_out = False
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                out, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # pipes held by an escapee
                p.kill()
                out, err = "", "(output lost: pipes still held after kill)\n"
        elapsed = time.monotonic() - t0
        self._procs.remove(p)
        return Result(argv=list(map(str, argv)),
                      returncode=None if timed_out else p.returncode,
                      stdout=out or "", stderr=err or "",
                      elapsed=elapsed, timed_out=timed_out)

    def start_servers(self, port: int = DEFAULT_PORT, hold: float = 30.0,
                      addrs: Sequence[str] = tuple(SRV_ALL),
                      ready_timeout: float = 10.0) -> subprocess.Popen:
        """Start the greeting server (tests/netlab_server.py) in the server
        ns on port on each of addrs; return once it is listening.  May be
        called again with another port for a second server."""
        argv = [sys.executable, "-u", str(SERVER_SCRIPT),
                "--port", str(port), "--hold", str(hold)]
        for a in addrs:
            argv += ["--addr", a]
        p = self.popen_server(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE)
        _await_ready(p, ready_timeout, f"greeting server on port {port}")
        return p

    # ------------------------------------------------------------- faults

    def _targets(self, target: str) -> list[str]:
        if target == "ipv6":
            return list(SRV6)
        if target == "ipv4":
            return list(SRV4)
        if target == "all":
            return list(SRV_ALL)
        try:
            addr = _norm_addr(target)
        except ValueError:
            raise ValueError(f"fault target {target!r}: want 'ipv6', 'ipv4', "
                             "'all' or a server address") from None
        if addr not in SRV_ALL and addr not in self._extra_srv:
            raise ValueError(f"fault target {target!r} is not a server "
                             f"address ({', '.join(SRV_ALL)})")
        return [addr]

    def add_server_addresses(self, addrs: Sequence[str]) -> None:
        """More documentation addresses on the server's interface (in the
        subnets of SRV6/SRV4), usable as fault targets from now on."""
        lines = [f"address add {a}/{64 if ':' in a else 24} dev {IFNAME}"
                 f"{' nodad' if ':' in a else ''}" for a in addrs]
        _check(["ip", "-n", self.srv, "-batch", "-"], input="\n".join(lines) + "\n")
        self._extra_srv += [_norm_addr(a) for a in addrs]

    def fault(self, target: str, kind: str) -> None:
        """Give target ('ipv6', 'ipv4', 'all', one server address, or a
        list of those) the
        fault kind (one of FAULT_KINDS; 'ok' clears), replacing what those
        addresses had.  Returns once in force; the nft rules are replaced in
        one transaction."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r}: want one of {FAULT_KINDS}")
        faults = dict(self._faults)
        targets = ([a for t in target for a in self._targets(t)]
                   if isinstance(target, (list, tuple)) else self._targets(target))
        for addr in targets:
            if kind == "ok":
                faults.pop(addr, None)
            else:
                faults[addr] = kind
        icmp = {a: k for a, k in faults.items() if k in ICMP_KINDS}
        if icmp or self._icmp is not None:
            self._icmp_targets(icmp)
        self._apply_faults(faults)
        self._faults = faults

    @property
    def faults(self) -> dict[str, str]:
        """Current faults, address -> kind (addresses without one: 'ok')."""
        return dict(self._faults)

    @staticmethod
    def _rule(addr: str, kind: str) -> str:
        ip = "ip6" if ":" in addr else "ip"
        match = f"{ip} daddr {addr}"
        if kind == "blackhole" or kind in ICMP_KINDS:
            # ICMP kinds: netlab_icmp.py answers the SYNs from user space
            # (see its docstring for why not `reject with icmpx`).
            return f"{match} meta l4proto tcp counter drop"
        if kind == "refuse":
            return f"{match} meta l4proto tcp counter reject with tcp reset"
        if kind == "lossy":
            # Drop a SYN whose 4-tuple is not yet in the set, and remember
            # it: the retransmission (same 4-tuple) passes.
            key = f"{ip} saddr . tcp sport . {ip} daddr . tcp dport"
            s = "@lossy6" if ip == "ip6" else "@lossy4"
            return (f"{match} tcp flags & (syn | ack) == syn "
                    f"{key} != {s} add {s} {{ {key} }} counter drop")
        raise AssertionError(kind)

    def _icmp_targets(self, table: Mapping[str, str]) -> None:
        """Tell the ICMP responder (started on first use) which addresses
        to answer for, and how; wait until it has taken the table."""
        if self._icmp is None:
            p = self.popen_server([sys.executable, "-u", str(ICMP_SCRIPT),
                                   "--dev", IFNAME],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self._icmp = p
            _expect(p, b"READY", 10.0, "ICMP responder")
        try:
            line = " ".join(f"{a}={k}" for a, k in sorted(table.items()))
            self._icmp.stdin.write((line + "\n").encode())
            self._icmp.stdin.flush()
        except BrokenPipeError:
            raise LabError("ICMP responder died (see captured stderr)") from None
        _expect(self._icmp, b"OK", 10.0, "ICMP responder")

    def _apply_faults(self, faults: Mapping[str, str],
                      create: bool = False) -> None:
        lines = []
        if create:
            lines += [
                "table inet scio {",
                "  set lossy4 { type ipv4_addr . inet_service . ipv4_addr . inet_service;"
                " flags dynamic,timeout; timeout 60s; size 65536; }",
                "  set lossy6 { type ipv6_addr . inet_service . ipv6_addr . inet_service;"
                " flags dynamic,timeout; timeout 60s; size 65536; }",
                "  chain input { type filter hook input priority filter; policy accept; }",
                "}",
            ]
        # Rules are rebuilt whole in one transaction; the lossy sets are kept
        # so a change elsewhere does not re-drop retransmitted SYNs.
        lines.append("flush chain inet scio input")
        for addr in SRV_ALL + self._extra_srv:
            kind = faults.get(addr)
            if kind:
                lines.append(f"add rule inet scio input {self._rule(addr, kind)}"
                             f' comment "{kind}"')
        _check(["ip", "netns", "exec", self.srv, "nft", "-f", "-"],
               input="\n".join(lines) + "\n")

    def nft_ruleset(self) -> str:
        """The server ns's current nftables ruleset (for debugging)."""
        return _check(["ip", "netns", "exec", self.srv, "nft", "list", "ruleset"])

    # ----------------------------------------------------------- teardown

    def close(self) -> None:
        """Kill every process started, delete both namespaces and their
        /etc/netns dirs.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        for p in reversed(self._procs):
            _kill_group(p)
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()
        self._procs.clear()
        for ns in self._namespaces:
            _kill_netns_pids(ns)  # anything that left its process group
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._namespaces.clear()
        for ns in (self.cli, self.srv):
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self):
        return f"<Lab cli={self.cli} srv={self.srv} faults={self._faults}>"
