"""The system's address order stands (issue 13, point 5): RFC 8305
section 4 interleaves after the RFC 6724 sort, starting with the family
that sort put first, so /etc/gai.conf's precedence keeps working under
the shim, for names from the hosts file and from DNS alike."""

import json
import re
import textwrap

import pytest

from scio_testlib import PY, run_scio
from test_dnsserver import Dns, ZONE
PREFER_IPV4 = "# tests/test_order.py\nprecedence ::ffff:0:0/96 100\n"

GAI = """
    import json, socket, sys
    print(json.dumps([ai[4][0] for ai in socket.getaddrinfo(
        sys.argv[1], 7000, 0, socket.SOCK_STREAM)]))
"""
CONNECT = ("import socket,sys; s=socket.create_connection((sys.argv[1],7000));"
           "print(s.recv(200).decode().strip())")

NAMES = ["dual.test", "dns-dual.test"]  # hosts file, DNS (raced lookup)


@pytest.fixture
def dns(lab, tmp_path):
    return Dns(lab, tmp_path, zone=ZONE, resolv="nameserver 192.0.2.10\n")


def order(lab, name, shim=True, **env):
    res = run_scio(lab, [PY, "-c", textwrap.dedent(GAI), name], shim=shim, **env)
    assert res.returncode == 0, res
    return json.loads(res.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_gai_conf_preferring_ipv4_is_kept(lab, dns, name):
    lab.write_etc("gai.conf", PREFER_IPV4)
    assert order(lab, name, shim=False) == ["192.0.2.10", "2001:db8::10"]
    assert order(lab, name) == ["192.0.2.10", "2001:db8::10"]
    # IPv6 blackholed costs nothing when the administrator asked for IPv4
    lab.fault("ipv6", "blackhole")
    res = run_scio(lab, ["-v", PY, "-c", CONNECT, name])
    assert "via ipv4" in res.stdout, res
    log = [l for l in res.stderr.splitlines() if "connected to" in l]
    assert len(log) == 1 and "over IPv4" in log[0], res
    assert int(re.search(r"in (\d+) ms", log[0]).group(1)) < 100, log


@pytest.mark.parametrize("name", NAMES)
def test_default_order_starts_with_ipv6(lab, dns, name):
    assert order(lab, name) == ["2001:db8::10", "192.0.2.10"]


@pytest.mark.parametrize("name", NAMES)
def test_scio_prefer_overrides_the_system(lab, dns, name):
    lab.write_etc("gai.conf", PREFER_IPV4)
    assert order(lab, name, SCIO_PREFER="ipv6") == ["2001:db8::10", "192.0.2.10"]
    assert order(lab, name, SCIO_PREFER="system") == ["192.0.2.10", "2001:db8::10"]
