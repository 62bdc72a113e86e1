"""The lab with round-trip times: netlab.Lab whose link is a delay line.

    client ns  tun veth0 --- delayline (tests/c/delayline.c) --- tun veth0  server ns

This kernel has no netem, so the veth pair of netlab.Lab is replaced by two
tun devices (named like the veth, netlab.IFNAME, so that the lab's other
helpers keep naming the link right) and a small C program in the client
namespace that moves every IP packet from one to the other, holding it for
the delay set for its family and direction.  Addresses, hosts file and
nftables faults are netlab.Lab's; only the ICMP fault kinds (unreachable,
noroute) are not supported, as netlab_icmp.py answers on an Ethernet link.

Usage::

    with DelayLab() as lab:
        lab.start_servers()
        lab.delay("ipv6", 300)          # 300 ms each way: 600 ms RTT
        lab.delay("ipv4", 0.5)          # 1 ms RTT
        lab.fault("ipv6", "blackhole")  # as in netlab.Lab

The delay line costs each packet some 50 µs with no delay set.
"""

from __future__ import annotations

import os
import subprocess

import netlab
from netlab import CLI4, CLI6, IFNAME, SRV_ALL, LabError, _check, _expect

DELAYLINE = os.path.join(
    os.environ.get("SCIO_BUILD",
                   os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "build")),
    "tests", "delayline")


class DelayLab(netlab.Lab):
    """netlab.Lab over a delay line; see the module doc."""

    def _build(self, extra_hosts):
        self._line = None
        if not os.path.exists(DELAYLINE):
            raise LabError(f"{DELAYLINE} not built (make test-progs)")
        super()._build(extra_hosts)
        # the veth pair goes (both ends, with their addresses); the
        # delay line makes one tun device in each namespace instead
        _check(["ip", "-n", self.cli, "link", "del", IFNAME])
        self._line = self.popen([DELAYLINE, f"/run/netns/{self.srv}", IFNAME],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _expect(self._line, b"READY", 10.0, "delay line")
        for ns, addrs in ((self.cli, [CLI6, CLI4]), (self.srv, SRV_ALL)):
            lines = [f"link set {IFNAME} up"]
            lines += [f"address add {a}/{64 if ':' in a else 24} dev {IFNAME}"
                      f"{' nodad' if ':' in a else ''}" for a in addrs]
            _check(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")

    def delay(self, family: str, ms: float, back_ms: float | None = None) -> None:
        """Hold every packet of family ('ipv4' or 'ipv6') ms milliseconds
        on its way to the server and back_ms (default: ms) on its way back:
        a round trip of ms + back_ms.  In force when this returns."""
        fam = {"ipv4": 4, "ipv6": 6}.get(family)
        if fam is None:
            raise ValueError(f"family {family!r}: want 'ipv4' or 'ipv6'")
        back = ms if back_ms is None else back_ms
        if not (0 <= ms <= 60000 and 0 <= back <= 60000):
            raise ValueError("delays are 0..60000 ms")
        line = f"{fam} {round(ms * 1000)} {round(back * 1000)}\n"
        try:
            self._line.stdin.write(line.encode())
            self._line.stdin.flush()
        except BrokenPipeError:
            raise LabError("delay line died (see captured stderr)") from None
        _expect(self._line, b"OK", 10.0, "delay line")

    def fault(self, target, kind):
        if kind in netlab.ICMP_KINDS:
            raise ValueError(f"fault {kind!r} needs an Ethernet link; "
                             "DelayLab's is a tun pair")
        super().fault(target, kind)
