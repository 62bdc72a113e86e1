"""scio-smtp, the dual-stack SMTP check client (demo/scio-smtp.c).

Each network test gets a private lab (tests/netlab.py) without the default
greeting servers; the SMTP servers, good and broken, are started from
tests/smtp_servers.py in the server namespace.  Port 25 is the namespace's
own, so the real aiosmtpd server listens there and the default port and the
`smtp` service name are exercised as they are.

scio-smtp prints the dialogue on stdout ("S: " server lines, "C: " client
lines) and, with -v, the race on stderr:

    * attempt 2: 192.0.2.10 port 25 (IPv4) at +250 ms: won after 0 ms
    * connected to 192.0.2.10 port 25 (IPv4) in 250 ms
"""

import re
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from scio_testlib import BUILD, PY, ROOT, SLACK, assert_no_sanitizer_report

pytestmark = pytest.mark.lab(servers=None)

SMTP = str(BUILD / "scio-smtp")
SERVERS = Path(__file__).resolve().with_name("smtp_servers.py")
MAN = ROOT / "man" / "scio-smtp.1"

# exit statuses, as documented in scio-smtp -h and scio-smtp(1)
OK, LOCAL, USAGE, RESOLVE, CONNECT, TIMEOUT, REPLY, MALFORMED, CLOSED = range(9)

ATTEMPT_RE = re.compile(r"^\* attempt (\d+): (\S+) port (\d+) \(IPv([46])\) "
                        r"at \+(\d+) ms: (.*)$", re.M)
CONNECTED_RE = re.compile(r"^\* connected to (\S+) port (\d+) \(IPv([46])\) "
                          r"in (\d+) ms$", re.M)


@pytest.fixture(scope="module", autouse=True)
def _built():
    if not Path(SMTP).exists():
        pytest.fail(f"{SMTP} is missing: run make", pytrace=False)


def start(lab, mode, port=25):
    """Start smtp_servers.py MODE PORT in the server ns; wait for READY."""
    p = lab.popen_server([PY, "-u", str(SERVERS), mode, str(port)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    buf, deadline = b"", time.monotonic() + 10
    while b"READY\n" not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"{mode} server: no READY within 10 s: {buf!r}"
        ready, _, _ = select.select([p.stdout], [], [], left)
        if ready:
            chunk = p.stdout.read1(4096)
            assert chunk, f"{mode} server exited (rc={p.wait()}): {buf!r}"
            buf += chunk
    return p


def smtp(lab, *args, timeout=20):
    res = lab.run([SMTP, *args], timeout=timeout)
    assert not res.timed_out, res
    assert_no_sanitizer_report(res)
    return res


def attempts(res):
    """-v attempt lines as dicts, in start order."""
    return [dict(n=int(n), addr=a, port=int(p), family=int(f), start=int(t),
                 outcome=o)
            for n, a, p, f, t, o in ATTEMPT_RE.findall(res.stderr)]


def connected(res):
    m = CONNECTED_RE.search(res.stderr)
    assert m, res
    return dict(addr=m[1], port=int(m[2]), family=int(m[3]), ms=int(m[4]))


def error_line(res):
    """The one 'scio-smtp: ...' line on stderr."""
    lines = [l for l in res.stderr.splitlines() if l.startswith("scio-smtp: ")]
    assert len(lines) == 1, res
    return lines[0]


def assert_dialogue(res):
    """A complete greeting / EHLO / QUIT transcript from aiosmtpd."""
    lines = res.stdout.splitlines()
    assert all(l.startswith(("S: ", "C: ")) for l in lines), res
    assert lines[0].startswith("S: 220 mx.test"), res
    ehlo = next(i for i, l in enumerate(lines) if l.startswith("C: EHLO "))
    assert lines[ehlo + 1] == "S: 250-mx.test", res
    quit_ = lines.index("C: QUIT")
    assert lines[quit_ - 1].startswith("S: 250 "), res
    assert lines[quit_ + 1].startswith("S: 221"), res
    assert quit_ + 2 == len(lines), res


# ---- both families fine ----

def test_both_families_fine_ipv6_wins(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-v", "dual.test")
    assert res.returncode == OK, res
    assert_dialogue(res)
    assert "scio-smtp:" not in res.stderr, res
    (a,) = attempts(res)
    assert (a["addr"], a["port"], a["family"]) == ("2001:db8::10", 25, 6)
    assert a["start"] == 0 and a["outcome"].startswith("won"), res
    assert connected(res)["family"] == 6


def test_quiet_without_v_and_default_ehlo_name(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "dual.test")
    assert res.returncode == OK, res
    assert res.stderr == "", res
    assert f"C: EHLO {socket.gethostname()}\n" in res.stdout, res


def test_ehlo_name_option(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-H", "probe.example.org", "dual.test")
    assert res.returncode == OK, res
    assert "C: EHLO probe.example.org\n" in res.stdout, res


# ---- IPv6 broken ----

def test_ipv6_blackholed_completes_over_ipv4_at_once(lab):
    start(lab, "aiosmtpd")
    lab.fault("ipv6", "blackhole")
    res = smtp(lab, "-v", "dual.test")
    assert res.returncode == OK, res
    assert_dialogue(res)
    assert res.elapsed < 1.0, res
    v6, v4 = attempts(res)
    assert (v6["family"], v6["start"], v6["outcome"]) == (6, 0, "cancelled"), res
    assert v4["family"] == 4 and 240 <= v4["start"] < 400, res
    assert v4["outcome"].startswith("won"), res
    c = connected(res)
    assert c["addr"] == "192.0.2.10" and 240 <= c["ms"] < 500, res


def test_serial_waits_for_the_blackhole(lab):
    start(lab, "aiosmtpd")
    lab.fault("ipv6", "blackhole")
    res = smtp(lab, "-v", "--serial", "-t", "3", "dual.test")
    assert res.elapsed >= 2.9, res
    assert res.returncode in (OK, TIMEOUT), res
    v6 = attempts(res)[0]
    assert v6["family"] == 6 and "ETIMEDOUT" in v6["outcome"], res


def test_delay_option_starts_ipv4_sooner(lab):
    start(lab, "aiosmtpd")
    lab.fault("ipv6", "blackhole")
    res = smtp(lab, "-v", "-d", "50", "dual.test")
    assert res.returncode == OK, res
    v6, v4 = attempts(res)
    assert v6["outcome"] == "cancelled"
    assert 40 <= v4["start"] < 150, res
    assert "delay 50 ms" in res.stderr


def test_ipv6_only_and_blackholed_times_out(lab):
    lab.fault("ipv6", "blackhole")
    res = smtp(lab, "-v", "-6", "-t", "1", "dual.test")
    assert res.returncode == TIMEOUT, res
    assert 0.9 <= res.elapsed < 3, res
    assert error_line(res) == ("scio-smtp: cannot connect to dual.test port 25: "
                               "timed out after 1 s")
    (a,) = attempts(res)
    assert a["family"] == 6 and "deadline" in a["outcome"], res


# ---- one family only ----

@pytest.mark.parametrize("opt,family,addr", [("-4", 4, "192.0.2.10"),
                                             ("-6", 6, "2001:db8::10"),
                                             ("--ipv4", 4, "192.0.2.10")])
def test_one_family_only(lab, opt, family, addr):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-v", opt, "dual.test")
    assert res.returncode == OK, res
    assert_dialogue(res)
    assert [a["family"] for a in attempts(res)] == [family], res
    assert connected(res)["addr"] == addr


def test_bracketed_ipv6_literal(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-v", "[2001:db8::11]", "25")
    assert res.returncode == OK, res
    assert connected(res)["addr"] == "2001:db8::11"


# ---- services ----

def test_service_names(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-v", "dual.test", "smtp")
    assert res.returncode == OK, res
    assert connected(res)["port"] == 25
    res = smtp(lab, "-v", "dual.test", "submission")  # nothing on 587
    assert res.returncode == CONNECT, res
    assert {a["port"] for a in attempts(res)} == {587}, res


# ---- broken servers ----

def test_554_greeting_is_a_protocol_error(lab):
    start(lab, "greet554", 2554)
    res = smtp(lab, "dual.test", "2554")
    assert res.returncode == REPLY, res
    assert error_line(res) == ("scio-smtp: unexpected reply code in the "
                               "greeting: 554 go away")
    # no EHLO after a refusal, but the QUIT RFC 5321 asks for
    assert res.stdout == "S: 554 go away\nC: QUIT\nS: 221 bye\n", res


def test_close_mid_reply_is_peer_closed(lab):
    start(lab, "close-mid-reply", 2555)
    res = smtp(lab, "dual.test", "2555")
    assert res.returncode == CLOSED, res
    assert res.stdout == "S: 220-first line\n", res
    assert "connection closed by the server" in error_line(res)


def test_endless_line_is_too_long_and_quick(lab):
    start(lab, "endless", 2556)
    res = smtp(lab, "-t", "10", "dual.test", "2556", timeout=10)
    assert res.returncode == MALFORMED, res
    assert "longer than 1000 characters" in error_line(res)
    assert res.elapsed < 2, res
    assert res.stdout == "", res


def test_garbage_greeting_is_malformed(lab):
    start(lab, "garbage", 2558)
    res = smtp(lab, "dual.test", "2558")
    assert res.returncode == MALFORMED, res
    assert error_line(res) == ('scio-smtp: malformed line in the greeting: '
                               '"hello there"')


def test_silent_server_times_out(lab):
    start(lab, "slow", 2557)
    res = smtp(lab, "-t", "1", "dual.test", "2557", timeout=10)
    assert res.returncode == TIMEOUT, res
    assert 0.9 <= res.elapsed < 3, res
    assert error_line(res) == ("scio-smtp: timed out after 1 s waiting for "
                               "the greeting")


# ---- -t: one deadline for the whole check ----

def test_dripping_server_cannot_stretch_the_deadline(lab):
    # A byte every 0.5 s: never silent for 2 s, the greeting never done.
    start(lab, "drip", 2559)
    res = smtp(lab, "-t", "2", "dual.test", "2559", timeout=20)
    assert res.returncode == TIMEOUT, res
    assert 1.9 <= res.elapsed < 2 + 2 * SLACK, res
    assert error_line(res) == ("scio-smtp: timed out after 2 s waiting for "
                               "the greeting")
    assert res.stdout == "", res


def test_deadline_counts_every_reply_together(lab):
    # Each reply 0.8 s late: greeting, EHLO and QUIT each well within 2 s,
    # all three not.
    start(lab, "pause", 2560)
    res = smtp(lab, "-t", "2", "dual.test", "2560")
    assert res.returncode == TIMEOUT, res
    assert 1.9 <= res.elapsed < 2 + 2 * SLACK, res
    assert re.fullmatch(r"scio-smtp: timed out after 2 s waiting for the "
                        r"reply to (EHLO|QUIT)", error_line(res)), res
    assert res.stdout.startswith("S: 220 mx.test ESMTP\nC: EHLO "), res
    res = smtp(lab, "-t", "5", "dual.test", "2560")
    assert res.returncode == OK, res
    assert res.stdout.endswith("C: QUIT\nS: 221 bye\n"), res


def test_deadline_leaves_a_normal_server_alone(lab):
    start(lab, "aiosmtpd")
    res = smtp(lab, "-t", "2", "dual.test")
    assert res.returncode == OK, res
    assert_dialogue(res)
    assert res.stderr == "", res


def test_serial_deadline_covers_every_address(lab):
    # --serial gives each address its turn, but the check still ends at -t
    # (with at most half a second of grace), not after 2 s per address.
    lab.fault("all", "blackhole")
    res = smtp(lab, "--serial", "-t", "2", "dual.test")
    assert res.returncode == TIMEOUT, res
    assert 1.9 <= res.elapsed < 2.5 + 1.5 * SLACK, res
    assert error_line(res) == ("scio-smtp: cannot connect to dual.test port "
                               "25: timed out after 2 s")


# ---- resolution and connect failures ----

def test_unknown_host_is_a_resolve_error(lab):
    res = smtp(lab, "nosuch.test")
    assert res.returncode == RESOLVE, res
    msg = error_line(res)
    assert msg.startswith("scio-smtp: cannot resolve nosuch.test: "), res
    assert msg.split(": ", 2)[2] in ("Name or service not known",
                                     "Temporary failure in name resolution",
                                     "No address associated with hostname")


def test_refused_everywhere_is_a_connect_error(lab):
    res = smtp(lab, "-v", "dual.test", "2525")
    assert res.returncode == CONNECT, res
    assert error_line(res) == ("scio-smtp: cannot connect to dual.test port "
                               "2525: Connection refused")
    assert [a["family"] for a in attempts(res)] == [6, 4], res
    assert all("ECONNREFUSED" in a["outcome"] for a in attempts(res)), res
    assert res.elapsed < 1, res


# ---- command line (no network: these exit before connecting) ----

@pytest.mark.parametrize("args,needle", [
    (["-d", "abc", "localhost"], "-d abc: not a whole number"),
    (["-d", "5", "localhost"], "10 to 2000 ms"),
    (["-d", "2001", "localhost"], "10 to 2000 ms"),
    (["-d", "", "localhost"], "not a whole number"),
    (["-t", "-1", "localhost"], "-t -1: not a positive number of seconds"),
    (["-t", "0", "localhost"], "0.001 to 86400"),
    (["-t", "1e3", "localhost"], "not a positive number"),
    ([], "missing HOST"),
    (["-v"], "missing HOST"),
    (["localhost", "25", "extra"], "unexpected argument 'extra'"),
    (["-x", "localhost"], "unknown option '-x'"),
    (["--frobnicate", "localhost"], "unknown or ambiguous option '--frobnicate'"),
    (["localhost", "-d"], "option -d (--delay) needs an argument"),
    (["-4", "-6", "localhost"], "-4 and -6 exclude each other"),
    (["localhost", "0"], "port 0: must be 1 to 65535"),
    (["localhost", "65536"], "port 65536"),
    (["localhost", "25x"], "not a number"),
    (["localhost", "nosuchservice"], "unknown TCP service"),
    (["-H", "two words", "localhost"], "EHLO name"),
    ([""], "empty HOST"),
])
def test_usage_errors(args, needle):
    res = subprocess.run([SMTP, *args], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == USAGE, res
    assert res.stdout == "", res
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scio-smtp: "), res
    assert needle in lines[0], res


def test_help_and_version():
    res = subprocess.run([SMTP, "-h"], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 0 and res.stderr == ""
    assert res.stdout.startswith("Usage: scio-smtp [options] HOST [PORT]")
    for code in range(9):
        assert re.search(rf"^  {code}  \S", res.stdout, re.M), res.stdout
    res = subprocess.run([SMTP, "--version"], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 0
    assert re.fullmatch(r"scio-smtp \(scio\) \d+\.\d+\.\d+\n", res.stdout)


# ---- manual page ----

def test_man_page_is_clean():
    if shutil.which("groff") is None:
        pytest.skip("groff not installed")
    res = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    if shutil.which("man"):
        res = subprocess.run(["man", "--warnings", "-l", str(MAN)],
                             capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80",
                                  "LANG": "C.UTF-8"})
        assert res.returncode == 0 and res.stderr == "", res.stderr
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT",
                        "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
            assert re.search(rf"^{section}$", res.stdout, re.M), section
