"""Answers of any size (issue 18, point 1): every address of an answer is
raced, interleaved, however many there are.  The shim once kept 16
addresses of an answer and then fell back to the program's own loop,
which made a large answer slower under scio than without it."""

import pytest

from scio_testlib import SLACK, run_scio

PY = "/usr/bin/python3"
K = 32  # addresses per family
V6 = [f"2001:db8::1{i:02x}" for i in range(K)]
V4 = [f"192.0.2.{100 + i}" for i in range(K)]
HOSTS = [(a, "k32.test") for a in V6 + V4]

CONNECT = """
import socket, time
t = time.monotonic()
s = socket.create_connection(("k32.test", 7000))
print(s.recv(200).decode().strip(), "%.3f" % (time.monotonic() - t))
"""


@pytest.mark.lab(extra_hosts=HOSTS, servers=None)
def test_an_answer_of_32_and_32_addresses_is_raced_to_its_last_address(lab):
    lab.add_server_addresses(V6 + V4)
    lab.start_servers(port=7000, addrs=[V6[-1], V4[-1]])
    lab.fault(V6[:-1] + V4[:-1], "blackhole")
    # interleaved, the two answering addresses come 63rd and 64th: the
    # 63rd starts after 62 Connection Attempt Delays of 20 ms
    res = run_scio(lab, ["-v", PY, "-c", CONNECT], SCIO_CONNECT_DELAY_MS="20",
                   SCIO_HISTORY="off", timeout=30)
    assert res.returncode == 0, res
    greeting, took = res.stdout.rsplit(" ", 1)
    assert greeting.startswith(f"hello from {V6[-1]} port 7000"), res
    assert 62 * 0.020 <= float(took) < 62 * 0.020 + 1.0 * SLACK, res
    log = [l for l in res.stderr.splitlines() if "connected to" in l]
    assert len(log) == 1 and V6[-1] in log[0], res
