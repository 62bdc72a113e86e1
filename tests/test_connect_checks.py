"""The checks a blocking connect pays before its bounded own attempt
(issue 18 point 3; docs/DESIGN.md, "The shim's connect()"): each one
guards a socket the race must not touch.  Without getsockname before the
connect, a socket the program bound would be raced once the bound
expired (after the connect the kernel has bound every socket, so whether
the program did cannot be told any more); without SO_PROTOCOL, an MPTCP
socket would be raced (a TCP winner put in its place) and a UDP connect
would tell history that a broken destination works.

The client is python3's socket module, connecting the way the program
asks: blocking, with its own SO_SNDTIMEO of one second."""

import errno
import socket

import pytest

from scio_testlib import PY, SLACK, parse_records, run_scio

CLIENT = r"""
import errno, socket, struct, sys, time
kind, bind_addr, bind_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ai = socket.getaddrinfo("dual.test", 7000, socket.AF_UNSPEC, socket.SOCK_STREAM)
family, dst = ai[0][0], ai[0][4]
types = {"tcp": (socket.SOCK_STREAM, 0), "mptcp": (socket.SOCK_STREAM, 262),
         "udp": (socket.SOCK_DGRAM, 0)}
s = socket.socket(family, *types[kind])
if bind_addr:
    s.bind((bind_addr, bind_port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
t0 = time.monotonic()
try:
    s.connect(dst)
    err = 0
except OSError as e:
    err = e.errno
ms = int((time.monotonic() - t0) * 1000)
local = s.getsockname()
sec, usec = struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
print(f"done dst={dst[0]} errno={errno.errorcode.get(err, err)} ms={ms} "
      f"local={local[0]} port={local[1]} "
      f"proto={s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)} sndtimeo={sec}.{usec}")
"""


def connect(lab, kind, bind_addr="", bind_port=0):
    res = run_scio(lab, ["-v", PY, "-c", CLIENT, kind, bind_addr, str(bind_port)],
                   timeout=20)
    assert res.returncode == 0, res
    done = [f for k, f in parse_records(res.stdout) if k == "done"]
    assert done and done[0]["dst"] == "2001:db8::10", res
    return done[0], res


def scio_lines(res):
    return [l for l in res.stderr.splitlines() if l.startswith("scio[")]


def test_an_unbound_socket_is_raced(lab):
    """The contrast: the same connect on an unbound socket wins over IPv4."""
    lab.fault("ipv6", "blackhole")
    done, res = connect(lab, "tcp")
    assert done["errno"] == "0" and done["local"] == "::ffff:192.0.2.2", res
    assert int(done["ms"]) < 900, res
    assert done["sndtimeo"] == "1.0", res


@pytest.mark.parametrize("bind_addr,bind_port", [("2001:db8::2", 0), ("::", 40999)],
                         ids=["address", "port"])
def test_a_bound_socket_outlasting_the_delay_is_not_raced(lab, bind_addr, bind_port):
    """Bound by the program to an address, or to a port: its blocking
    connect runs as asked past the delay, from where the program bound
    it, and ends with the program's own timeout and errno."""
    lab.fault("ipv6", "blackhole")
    done, res = connect(lab, "tcp", bind_addr, bind_port)
    assert done["errno"] == errno.errorcode[errno.EINPROGRESS], res
    assert 900 <= int(done["ms"]) < 1500 * SLACK, res
    if bind_port:
        assert done["port"] == str(bind_port), res
    else:
        assert done["local"] == bind_addr, res
    assert done["sndtimeo"] == "1.0", res
    assert not scio_lines(res), res


def mptcp_available():
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not mptcp_available(), reason="this kernel has no MPTCP")
def test_an_mptcp_socket_is_not_raced(lab):
    """MPTCP is not TCP: no TCP socket is put in its place."""
    lab.fault("ipv6", "blackhole")
    done, res = connect(lab, "mptcp")
    assert done["errno"] == errno.errorcode[errno.EINPROGRESS], res
    assert 900 <= int(done["ms"]) < 1500 * SLACK, res
    assert done["proto"] == "262" and done["sndtimeo"] == "1.0", res
    assert not scio_lines(res), res


def test_a_udp_connect_tells_history_nothing(lab):
    """A UDP connect succeeds at once, blackholed or not: it is not a
    connect that won, and nothing is logged or recorded for it."""
    lab.fault("ipv6", "blackhole")
    done, res = connect(lab, "udp")
    assert done["errno"] == "0" and done["proto"] == str(socket.IPPROTO_UDP), res
    assert not scio_lines(res), res
