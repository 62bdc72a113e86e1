"""scio built with musl (Debian's musl-gcc, `make musl`) in the lab.

The library's race and the demos run as static musl binaries; the shim,
built with musl-gcc, is preloaded into dynamically linked musl programs
that Debian's musl loader (/lib/ld-musl-x86_64.so.1) runs.  The programs
come from SCIO_MUSL_BUILD (the Makefile's MUSL_BUILD, build/musl by
default), never sanitized: musl-gcc has no sanitizer runtimes.
"""

import os
import subprocess
from pathlib import Path

import pytest

from scio_testlib import BUILD, ROOT, SCIO_RUN, SLACK, RaceOutput
from test_dnsserver import Dns, ZONE

MUSL = Path(os.environ.get("SCIO_MUSL_BUILD", BUILD / "musl"))
SHIM = str(MUSL / "libscio-preload.so")
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
PORT = "7000"
TELAR_PORT = "2323"


@pytest.fixture(scope="module", autouse=True)
def _built():
    needed = [MUSL / "tests" / p for p in ("race_client", "fork_storm", "shim_probe", "gai_loop")]
    if not all(p.exists() for p in needed):
        subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}",
                        f"MUSL_BUILD={MUSL}", "musl"], check=True)


def interpreter(path):
    """The ELF's program interpreter, or None for a static binary."""
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        if "Requesting program interpreter:" in line:
            return line.split(":", 1)[1].strip(" ]")
    return None


def musl_env(tmp_path, shim=True):
    env = {"SCIO_HISTORY_FILE": str(tmp_path / "history")}
    if shim:
        env["LD_PRELOAD"] = SHIM
    return env


def gai_fields(res):
    """gai_loop's output: the addresses in order, and its key=value pairs."""
    addrs, fields = [], {}
    for word in res.stdout.split():
        key, _, value = word.partition("=")
        if key == "addr":
            addrs.append(value)
        else:
            fields[key] = value
    return addrs, fields


# ---- the library and the demos, static ----

def test_static_race_client_ipv6_blackholed(lab):
    prog = MUSL / "tests" / "race_client"
    assert interpreter(prog) is None, "race_client is not static"
    lab.fault("ipv6", "blackhole")
    res = lab.run([str(prog), "dual.test", PORT], timeout=10)
    out = RaceOutput(res)
    assert out.ok and out.family == 4, res
    assert [a["addr"] for a in out.attempts] == ["2001:db8::10", "192.0.2.10"]
    assert out.attempts[0]["error"] == "ECANCELED", res
    assert 240 <= float(out.attempts[1]["start_ms"]) < 400, res
    assert out.result["line"].startswith("hello from 192.0.2.10"), res
    assert res.elapsed < 1.0 * SLACK, res


def test_static_scio_smtp_ipv6_blackholed(lab):
    from test_smtp import OK, assert_dialogue, attempts, start
    smtp = MUSL / "scio-smtp"
    assert interpreter(smtp) is None, "scio-smtp is not static"
    start(lab, "aiosmtpd")
    lab.fault("ipv6", "blackhole")
    res = lab.run([str(smtp), "-v", "dual.test"], timeout=10)
    assert res.returncode == OK, res
    assert_dialogue(res)
    v6, v4 = attempts(res)
    assert (v6["family"], v6["outcome"]) == (6, "cancelled"), res
    assert v4["family"] == 4 and v4["outcome"].startswith("won"), res
    assert res.elapsed < 1.0 * SLACK, res


def test_static_telar_answers_the_static_race(lab):
    from test_telar import wait_listening
    telar = MUSL / "telar"
    assert interpreter(telar) is None, "telar is not static"
    server = lab.popen_server([str(telar), "-p", TELAR_PORT],
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(lab, int(TELAR_PORT))
        client = str(MUSL / "tests" / "race_client")
        res = lab.run([client, "dual.test", TELAR_PORT], timeout=10)
        assert "You connected from 2001:db8::2 port" in res.stdout, res
        assert "over IPv6" in res.stdout, res
        lab.fault("ipv6", "blackhole")
        res = lab.run([client, "dual.test", TELAR_PORT], timeout=10)
        assert "You connected from 192.0.2.2 port" in res.stdout, res
        assert "over IPv4" in res.stdout and res.elapsed < 1.0 * SLACK, res
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err


def test_fork_from_a_handler_inside_a_library_lock():
    # test_forksafe.py's scenario: musl's mutexes record no owner
    try:
        res = subprocess.run([str(MUSL / "tests" / "fork_storm"), "2"],
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"fork_storm hung: {e.stdout!r}") from None
    assert res.returncode == 0, res
    rec = dict(w.split("=") for w in res.stdout.split())
    assert rec["hung"] == "0" and rec["children_ok"] == rec["forks"], res
    assert int(rec["forks"]) >= 20 and int(rec["inside_lock"]) >= 5, res


# ---- the shim in dynamically linked musl programs ----

def test_shim_races_a_dynamic_musl_program(lab, tmp_path):
    probe = MUSL / "tests" / "shim_probe"
    assert interpreter(probe) == MUSL_LOADER
    assert interpreter(SHIM) is None
    lab.fault("ipv6", "blackhole")
    argv = [str(probe), "loop", "dual.test", PORT]
    res = lab.run(argv, timeout=10, env={**musl_env(tmp_path), "SCIO_LOG": "info"})
    assert res.returncode == 0, res
    assert "peer=::ffff:192.0.2.10" in res.stdout or "peer=192.0.2.10" in res.stdout, res
    assert res.elapsed < 1.0 * SLACK, res
    assert "over IPv4" in res.stderr, res
    # without the shim musl's program waits for the IPv6 SYN timeout
    res = lab.run(argv, timeout=3, env=musl_env(tmp_path, shim=False))
    assert res.timed_out, res


def shims_side_by_side(tmp_path, with_musl):
    """A glibc shim where scio-run is told to look, with the musl build in
    musl/ next to it (as in build/ and in an installed lib/scio/) or not."""
    top = tmp_path / "shims"
    (top / "musl").mkdir(parents=True)
    glibc = top / "libscio-preload.so"
    glibc.write_bytes((BUILD / "libscio-preload.so").read_bytes())
    if with_musl:
        (top / "musl" / "libscio-preload.so").write_bytes(Path(SHIM).read_bytes())
    return str(glibc)


def test_scio_run_gives_a_musl_program_the_musl_shim(lab, tmp_path):
    lab.fault("ipv6", "blackhole")
    env = {**musl_env(tmp_path, shim=False), "SCIO_LOG": "info",
           "SCIO_PRELOAD": shims_side_by_side(tmp_path, with_musl=True)}
    argv = [SCIO_RUN, str(MUSL / "tests" / "shim_probe"), "loop", "dual.test", PORT]
    res = lab.run(argv, timeout=10, env=env)
    # with glibc's shim preloaded, musl's loader would stop it: exit 127
    assert res.returncode == 0, res
    assert "over IPv4" in res.stderr, res
    assert res.elapsed < 1.0 * SLACK, res


def test_scio_run_without_a_musl_shim_runs_a_musl_program_plainly(lab, tmp_path):
    env = {**musl_env(tmp_path, shim=False),
           "SCIO_PRELOAD": shims_side_by_side(tmp_path, with_musl=False)}
    argv = [SCIO_RUN, str(MUSL / "tests" / "shim_probe"), "loop", "dual.test", PORT]
    res = lab.run(argv, timeout=10, env=env)
    assert res.returncode == 0, res
    assert "is a musl program" in res.stderr and "without scio" in res.stderr, res
    # a glibc program is still given the shim, without a word
    res = lab.run([SCIO_RUN, "/bin/sh", "-c", 'echo "$LD_PRELOAD"'], timeout=10, env=env)
    assert res.returncode == 0 and "shims/libscio-preload.so" in res.stdout, res
    assert "musl" not in res.stderr, res


# ---- musl's resolver: a dropped AAAA, gai.conf, freeaddrinfo ----

@pytest.fixture
def dns(lab, tmp_path):
    # musl's timeout is for the whole lookup (default 5 s); 1 s keeps the
    # lookup without scio short
    d = Dns(lab, tmp_path, zone=ZONE,
            resolv="nameserver 192.0.2.10\noptions timeout:1\n")
    yield d
    assert d.proc.poll() is None, "the DNS server died"


def gai_loop(lab, tmp_path, name, count=1, shim=True, timeout=20):
    res = lab.run([str(MUSL / "tests" / "gai_loop"), name, str(count)],
                  timeout=timeout, env=musl_env(tmp_path, shim))
    assert not res.timed_out, res
    return res


def test_aaaa_dropped_musl_fails_and_the_shim_answers(lab, dns, tmp_path):
    # musl asks A and AAAA together and fails the whole lookup when one
    # goes unanswered
    res = gai_loop(lab, tmp_path, "aaaa-drop.test", shim=False)
    assert res.returncode == 3 and "gai error=Try again" in res.stdout, res
    # the shim asks each family on its own: A answers, AAAA gets the
    # Resolution Delay
    res = gai_loop(lab, tmp_path, "aaaa-drop.test")
    assert res.returncode == 0, res
    addrs, fields = gai_fields(res)
    assert addrs == ["192.0.2.10"], res
    assert float(fields["first_ms"]) < 500 * SLACK, res


def test_raced_lookup_keeps_musls_order_whatever_gai_conf_says(lab, dns, tmp_path):
    # musl's sort reads no /etc/gai.conf; glibc's would put IPv4 first
    lab.write_etc("gai.conf", "precedence ::ffff:0:0/96 100\n")
    plain = gai_loop(lab, tmp_path, "dns-dual.test", shim=False)
    raced = gai_loop(lab, tmp_path, "dns-dual.test")
    assert gai_fields(plain)[0] == ["2001:db8::10", "192.0.2.10"], plain
    assert gai_fields(raced)[0] == ["2001:db8::10", "192.0.2.10"], raced


def test_raced_answers_are_freed(lab, dns, tmp_path):
    # each raced answer joins two musl lookups: freeaddrinfo must free both
    res = gai_loop(lab, tmp_path, "dns-dual.test", count=400, timeout=60)
    assert res.returncode == 0, res
    assert int(gai_fields(res)[1]["rss_growth_kb"]) < 32, res
