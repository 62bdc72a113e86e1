"""The preload shim with real, unmodified programs in a broken network.

Each program is run the way a user would: scripts/scio-run PROGRAM.  The
contrast runs without the shim are capped with a short timeout: they prove
the shim made the difference.
"""

import re

import pytest

from scio_testlib import (PORT, PY, SCIO_RUN, not_under_san, not_under_tsan, parse_records,
                          prog, run_scio)

PY_CONNECT = ("import socket,sys; s=socket.create_connection(('dual.test',7000));"
              "print(s.recv(200).decode().strip())")
BASH_TCP = "exec 3<>/dev/tcp/dual.test/7000; read -r line <&3; echo \"$line\""



def scio(lab, argv, timeout=20, **env):
    """argv through scio-run (see scio_testlib.run_scio)."""
    return run_scio(lab, argv, timeout=timeout, **env)


def plain(lab, argv, timeout=20, **env):
    """argv as given; a leading scio-run is handled like scio()."""
    if argv[0] == SCIO_RUN:
        return run_scio(lab, argv[1:], timeout=timeout, **env)
    return run_scio(lab, argv, shim=False, timeout=timeout, **env)


def info_lines(res):
    return [l for l in res.stderr.splitlines() if l.startswith("scio[")]


# ---- unmodified programs, IPv6 blackholed ----

def test_python_create_connection(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, ["-v", PY, "-c", PY_CONNECT])
    assert res.returncode == 0, res
    assert "via ipv4" in res.stdout
    assert res.elapsed < 1.0
    log = info_lines(res)
    assert len(log) == 1 and "over IPv4" in log[0] and "2001:db8::10" in log[0]
    # without the shim it hangs on IPv6
    res = plain(lab, [PY, "-c", PY_CONNECT], timeout=3)
    assert res.timed_out


@not_under_tsan
def test_bash_dev_tcp(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, ["bash", "-c", BASH_TCP])
    assert res.returncode == 0 and "via ipv4" in res.stdout, res
    assert res.elapsed < 1.0
    assert plain(lab, ["bash", "-c", BASH_TCP], timeout=3).timed_out


@not_under_tsan
def test_telnet(lab):
    lab.fault("ipv6", "blackhole")
    # telnet prints what the server sent only while its stdin is open
    cmd = "sleep 0.6 | telnet dual.test 7000"
    res = scio(lab, ["sh", "-c", cmd])
    assert "Connected to dual.test" in res.stdout, res
    assert "via ipv4" in res.stdout
    assert res.elapsed < 2.0
    res = plain(lab, ["sh", "-c", "sleep 5 | telnet dual.test 7000"], timeout=3)
    assert res.timed_out and "Connected" not in res.stdout


def test_ipv6_refused_ipv4_at_once(lab):
    lab.fault("ipv6", "refuse")
    res = scio(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "via ipv4" in res.stdout
    log = info_lines(res)[0]
    ms = int(re.search(r"in (\d+) ms", log).group(1))
    assert ms < 100, log


def test_both_fine_ipv6_wins_without_delay(lab):
    res = scio(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "via ipv6" in res.stdout
    assert re.search(r"over IPv6 in [0-9] ms", info_lines(res)[0]), res


def test_ipv4_broken_ipv6_wins(lab):
    lab.fault("ipv4", "blackhole")
    res = scio(lab, [PY, "-c", PY_CONNECT])
    assert "via ipv6" in res.stdout and res.elapsed < 1.0


@not_under_san
def test_curl_races_on_its_own_and_is_left_alone(lab):
    lab.fault("ipv6", "blackhole")
    argv = ["curl", "-sS", "-m", "2", "--connect-timeout", "1.5",
            "-o", "/dev/null", "-w", "%{remote_ip} %{time_connect}\n",
            "telnet://dual.test:7000"]
    # telnet:// keeps the connection until the server closes it or -m
    # ends it (its exit code then says so; the figures are written)
    with_shim = scio(lab, ["-v", *argv])
    without = plain(lab, argv)
    for res in (with_shim, without):
        ip, t = res.stdout.split()
        assert ip == "192.0.2.10", res
        assert float(t) < 1.0
    assert info_lines(with_shim) == [], "curl connects non-blocking: not raced"


# ---- what must pass straight through ----

def test_passthrough_calls_behave_as_without_the_shim(lab):
    p = prog("shim_probe")
    a = plain(lab, [p, "passthrough", "dual.test", PORT])
    b = scio(lab, [p, "passthrough", "dual.test", PORT])
    assert a.returncode == 0 and b.returncode == 0, (a, b)
    assert a.stdout == b.stdout
    for line in ("nonblocking rc=-1 errno=EINPROGRESS", "ebadf rc=-1 errno=EBADF",
                 "enotsock rc=-1 errno=ENOTSOCK", "einval rc=-1 errno=EINVAL",
                 "efault rc=-1 errno=EFAULT", "eisconn rc=-1 errno=EISCONN",
                 "errno_kept=1"):
        assert line in b.stdout


def test_literal_address_is_not_raced(lab):
    lab.fault("ipv6", "blackhole")
    code = ("import socket; s=socket.socket(socket.AF_INET6); s.settimeout(None);"
            "s.connect(('2001:db8::10',7000))")
    res = scio(lab, ["-v", PY, "-c", code], timeout=2)
    assert res.timed_out and info_lines(res) == []


def test_disable_is_plain_libc(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, ["-v", PY, "-c", PY_CONNECT], timeout=2, SCIO_DISABLE=1)
    assert res.timed_out and info_lines(res) == []
    p = prog("shim_probe")
    lab.fault("ipv6", "ok")
    a = plain(lab, [p, "passthrough", "dual.test", PORT])
    b = scio(lab, [p, "passthrough", "dual.test", PORT], SCIO_DISABLE=1)
    assert a.stdout == b.stdout


@pytest.mark.parametrize("name,value", [
    ("SCIO_CONNECT_DELAY_MS", "fast"), ("SCIO_CONNECT_DELAY_MS", "99999"),
    ("SCIO_PREFER", "ipv5"), ("SCIO_LOG", "loud"), ("SCIO_DISABLE", "yes"),
    ("SCIO_RESOLUTION_DELAY_MS", "-3")])
def test_bad_setting_warns_once_and_uses_default(lab, name, value):
    lab.fault("ipv6", "blackhole")
    code = PY_CONNECT + ";" + PY_CONNECT.split(";", 1)[1]
    res = plain(lab, [SCIO_RUN, PY, "-c", code], **{name: value})
    assert res.returncode == 0, res
    assert res.stdout.count("via ipv4") == 2
    warnings = [l for l in res.stderr.splitlines() if name in l]
    assert len(warnings) == 1, res.stderr
    # 99999 is clamped to 2000 ms: two connects pay 2 s each
    assert res.elapsed < (5.0 if value == "99999" else 1.5)


# ---- fidelity ----

def test_fidelity_after_an_ipv4_win(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, [prog("shim_probe"), "fidelity", "dual.test", PORT])
    out = dict(kv.split("=", 1) for kv in res.stdout.split() if "=" in kv)
    assert out["rc"] == "0", res
    # the program's AF_INET6 socket raced IPv4 as a mapped address
    assert out["peer"] == "::ffff:192.0.2.10"
    assert out["fd"] == "3", "same fd number"
    assert out["cloexec"] == "1" and out["nonblock"] == "0" and out["append"] == "1"
    assert out["nodelay"] == "1" and out["keepalive"] == "1"
    assert out["sndbuf_same"] == "1" and out["rcvtimeo"] == "7"
    assert out["linger"] == "1/5"
    assert out["tos"] == "32", "IPV6_TCLASS carried over"
    assert out["line"].startswith("hello")


# ---- signals and timeouts ----

def test_alarm_without_sa_restart_interrupts(lab):
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "alarm", "dual.test", PORT])
    recs = dict(parse_records(res.stdout)[-2:])
    assert "handler ran" in res.stdout
    assert recs["connect"]["errno"] == "EINTR", res
    assert 900 <= float(recs["connect"]["ms"]) < 1500


def test_alarm_with_sa_restart_keeps_racing(lab):
    lab.fault("ipv6", "blackhole")
    lab.fault("ipv4", "lossy")   # IPv4 connects after ~1 s, past the alarm
    res = scio(lab, [prog("shim_probe"), "alarm-restart", "dual.test", PORT])
    assert "handler ran" in res.stdout
    assert "connect rc=0" in res.stdout, res
    assert "peer=::ffff:192.0.2.10" in res.stdout


def test_sndtimeo_bounds_the_race(lab):
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "sndtimeo", "dual.test", PORT])
    assert "errno=EINPROGRESS" in res.stdout, res
    ms = float(re.search(r"ms=(\d+)", res.stdout).group(1))
    assert 900 <= ms < 1500


def test_fallback_loop_gets_recorded_errors_at_once(lab):
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "loop", "multi.test", PORT],
               PROBE_SNDTIMEO=1)
    tries = [f for k, f in parse_records(res.stdout) if k == "try"]
    assert len(tries) == 6 and all(t["errno"] == "EINPROGRESS" for t in tries)
    # six addresses, 1 s timeout each: plain libc waits 6 s; the race
    # covers four in the first second and the last two in the next
    assert res.elapsed < 3.0, res


def test_kernel_timeout_is_paid_once(lab):
    lab.sysctl_client("net.ipv4.tcp_syn_retries", 1)  # ~3 s per SYN timeout
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "loop", "dual.test", PORT])
    tries = [f for k, f in parse_records(res.stdout) if k == "try"]
    assert [t["errno"] for t in tries] == ["ETIMEDOUT", "ETIMEDOUT"], res
    assert float(tries[1]["ms"]) < 50
    assert res.elapsed < 5.0


# ---- threads, fork, resources ----

def test_threads_with_a_failing_family(lab):
    lab.fault("ipv6", "refuse")
    res = scio(lab, [prog("shim_probe"), "threads", "dual.test", PORT, "8", "200"],
               timeout=120)
    rec = parse_records(res.stdout)[-1][1]
    assert rec["failures"] == "0", res
    assert rec["fds_before"] == rec["fds_after"]


def test_fork_parent_and_child_connect(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, [prog("shim_probe"), "fork", "dual.test", PORT])
    assert "parent rc=0" in res.stdout and "child rc=0" in res.stdout, res
    assert "child_status=0" in res.stdout
    assert res.elapsed < 1.5


def test_log_file(lab, tmp_path):
    lab.fault("ipv6", "blackhole")
    log = tmp_path / "scio.log"
    res = plain(lab, [SCIO_RUN, PY, "-c", PY_CONNECT], SCIO_LOG="info",
                SCIO_LOG_FILE=str(log))
    assert "via ipv4" in res.stdout and "scio[" not in res.stderr
    assert "over IPv4" in log.read_text()


def test_prefer_ipv4_starts_with_ipv4(lab):
    res = scio(lab, ["-4", "-v", PY, "-c", PY_CONNECT])
    assert "via ipv4" in res.stdout, res
    log = info_lines(res)[0]
    assert re.search(r"\[192\.0\.2\.10 port 7000 \(IPv4\) at \+0 ms: won\]", log), log
    # the program asked for IPv6 first; with IPv4 dead it still gets there
    lab.fault("ipv4", "blackhole")
    res = scio(lab, ["-4", "-v", PY, "-c", PY_CONNECT])
    assert "via ipv6" in res.stdout and res.elapsed < 1.0, res


# ---- regressions found in review ----

def test_winner_keeps_its_own_mss(lab):
    # the program's socket is read while its connect is under way, when
    # the kernel reports a clamped MSS: that must not be copied
    lab.fault("ipv6", "blackhole")
    res = scio(lab, [prog("shim_probe"), "fidelity", "dual.test", PORT])
    out = dict(kv.split("=", 1) for kv in res.stdout.split() if "=" in kv)
    assert out["peer"] == "::ffff:192.0.2.10" and int(out["maxseg"]) > 1000, res


def test_literal_non_first_address_is_the_programs_choice(lab):
    code = ("import socket; socket.getaddrinfo('dual.test', 7000)\n"
            "s = socket.socket(socket.AF_INET); s.connect(('192.0.2.10', 7000))\n"
            "print(s.getpeername()[0], s.recv(100).decode().strip())")
    res = scio(lab, ["-v", PY, "-c", code])
    assert res.stdout.startswith("192.0.2.10 hello from 192.0.2.10"), res
    assert info_lines(res) == [], "not the answer's first address: not raced"


def test_eintr_then_retry_resumes_the_race(lab):
    lab.fault("ipv6", "blackhole")
    res = scio(lab, [prog("shim_probe"), "eintr-retry", "dual.test", PORT])
    recs = {k: f for k, f in parse_records(res.stdout)}
    assert recs["first"]["errno"] == "EINTR", res
    assert recs["retry"]["rc"] == "0" and float(recs["retry"]["ms"]) < 600, res
    assert "peer=::ffff:192.0.2.10" in res.stdout


def test_sndtimeo_makes_any_signal_eintr(lab):
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "sndtimeo-restart", "dual.test", PORT])
    assert "errno=EINTR" in res.stdout, res
    ms = float(re.search(r"ms=(\d+)", res.stdout).group(1))
    assert 250 <= ms < 1000


def test_replay_is_per_port(lab):
    # nothing listens on 7001 (refused by the kernel), 7002 is served
    lab.start_servers(port=7002)
    res = scio(lab, [prog("shim_probe"), "other-port", "dual.test", "7002", "7001"])
    assert "first rc=-1 errno=ECONNREFUSED" in res.stdout, res
    assert "second rc=0" in res.stdout, res


def test_siglongjmp_out_of_a_race_leaks_nothing(lab):
    # alarm() + siglongjmp, as wget --connect-timeout does: the race never
    # returns; the next race of the thread closes the sockets it left
    lab.fault("all", "blackhole")
    res = scio(lab, [prog("shim_probe"), "longjmp", "dual.test", PORT])
    rec = parse_records(res.stdout)[-1][1]
    assert int(rec["at_end"]) <= int(rec["after_first"]), res
