"""History (issue: remember broken families and paths): after one failure,
later connects to the same destination go straight to the family that
works, in this process and the next."""

import os
import re
import textwrap

import pytest

from scio_testlib import BUILD, PY, SCIO_RUN, SLACK, TSAN, san_env, run_scio
PY_CONNECT = ("import socket; s=socket.create_connection(('dual.test',7000));"
              "print(s.recv(200).decode().strip())")


def run(lab, argv, shim=True, timeout=20, **env):
    return run_scio(lab, argv, shim=shim, timeout=timeout, **env)


def log_line(res):
    lines = [l for l in res.stderr.splitlines() if l.startswith("scio[")]
    assert lines, res
    return lines[-1]


def test_second_process_goes_straight_to_ipv4(lab):
    lab.fault("ipv6", "blackhole")
    first = run(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "via ipv4" in first.stdout
    # IPv4 started after the Connection Attempt Delay (250 ms; a few ms
    # more under sanitizers or a busy machine)
    won_at = re.search(r"\(IPv4\) at \+(\d+) ms: won", log_line(first))
    assert won_at and 250 <= int(won_at.group(1)) < 250 + 200 * SLACK, first
    second = run(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "via ipv4" in second.stdout
    line = log_line(second)
    # IPv4 first, no IPv6 attempt before it
    assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in line, line
    assert second.elapsed < first.elapsed


def test_history_off_pays_the_delay_every_time(lab):
    lab.fault("ipv6", "blackhole")
    for _ in range(2):
        res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY="off")
        assert "(IPv6) at +0 ms: cancelled" in log_line(res)


def test_process_mode_keeps_nothing_across_processes(lab):
    lab.fault("ipv6", "blackhole")
    for _ in range(2):
        res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY="process")
        assert "(IPv6) at +0 ms: cancelled" in log_line(res)
    assert not os.path.exists(os.environ["SCIO_HISTORY_FILE"])


def test_repaired_ipv6_comes_back_when_it_wins(lab):
    lab.fault("ipv6", "blackhole")
    run(lab, ["-v", PY, "-c", PY_CONNECT])
    # IPv4 now breaks and IPv6 is repaired: the deprioritised IPv6 attempt
    # still starts after the delay, wins, and is remembered
    lab.fault("ipv6", "ok")
    lab.fault("ipv4", "blackhole")
    res = run(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "via ipv6" in res.stdout, res
    lab.fault("ipv4", "ok")
    res = run(lab, ["-v", PY, "-c", PY_CONNECT])
    assert "[2001:db8::10 port 7000 (IPv6) at +0 ms: won]" in log_line(res)


def test_non_raced_program_gets_working_family_first(lab):
    lab.fault("ipv6", "blackhole")
    run(lab, [PY, "-c", PY_CONNECT])
    code = "import socket; print([a[4][0] for a in socket.getaddrinfo('dual.test', 7000, type=socket.SOCK_STREAM)])"
    res = run(lab, [PY, "-c", code])
    assert res.stdout.strip() == "['192.0.2.10', '2001:db8::10']", res


def test_history_table(lab):
    lab.fault("ipv6", "blackhole")
    run(lab, [PY, "-c", PY_CONNECT])
    if TSAN:
        return
    res = lab.run([SCIO_RUN, "--history"])
    assert "2001:db8::10" in res.stdout and "timeout" in res.stdout, res
    assert "192.0.2.10" in res.stdout
    res = lab.run([SCIO_RUN, "--forget"])
    assert "forgotten" in res.stdout
    res = lab.run([SCIO_RUN, "--history"])
    assert "2001:db8" not in res.stdout


CONCURRENT = """
    import os, subprocess, sys
    procs = [subprocess.Popen(sys.argv[1:]) for _ in range(20)]
    print("rcs", sorted(p.wait() for p in procs))
"""


def test_concurrent_processes(lab):
    lab.fault("ipv6", "blackhole")
    argv = [SCIO_RUN, PY, "-c", PY_CONNECT] if not TSAN else [PY, "-c", PY_CONNECT]
    res = lab.run([PY, "-c", textwrap.dedent(CONCURRENT), *argv], timeout=60,
                  env={**san_env(), **({"LD_PRELOAD": san_env()["LD_PRELOAD"] + ":" +
                                        str(BUILD / "libscio-preload.so")} if TSAN else {})})
    assert "rcs [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]" in res.stdout, res
    assert res.stdout.count("via ipv4") == 20
    size = os.path.getsize(os.environ["SCIO_HISTORY_FILE"])
    assert size > 1000


@pytest.mark.parametrize("make_bad", ["garbage", "truncated", "future", "symlink",
                                      "foreign-owner", "world-writable", "hard-link"])
def test_hostile_store_is_ignored(lab, make_bad, tmp_path):
    path = os.environ["SCIO_HISTORY_FILE"]
    lab.fault("ipv6", "blackhole")
    run(lab, [PY, "-c", PY_CONNECT])  # a valid store
    data = open(path, "rb").read()
    os.unlink(path)
    if make_bad == "garbage":
        open(path, "wb").write(os.urandom(len(data)))
    elif make_bad == "truncated":
        open(path, "wb").write(data[:100])
    elif make_bad == "future":
        open(path, "wb").write(data[:8] + b"\x63\x00\x00\x00" + data[12:])
    elif make_bad == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(data)
        os.symlink(target, path)
    elif make_bad == "foreign-owner":
        open(path, "wb").write(data)
        os.chown(path, 65534, 65534)
    elif make_bad == "world-writable":
        open(path, "wb").write(data)
        os.chmod(path, 0o666)
    elif make_bad == "hard-link":
        # a second name of a file is not the store (a planted link to
        # another file of the user's)
        target = tmp_path / "elsewhere"
        target.write_bytes(data)
        os.chmod(target, 0o600)
        os.link(target, path)
    res = run(lab, ["-v", PY, "-c", PY_CONNECT])
    assert res.returncode == 0 and "via ipv4" in res.stdout, res
    # the bad store taught nothing: the race starts with IPv6 again
    assert "(IPv6) at +0 ms: cancelled" in log_line(res), log_line(res)
    if make_bad in ("symlink", "hard-link"):
        assert (tmp_path / "elsewhere").read_bytes() == data, "never written through"


def test_a_process_holding_the_file_lock_holds_up_nobody(lab, tmp_path):
    # another process sits on an exclusive flock of the history file (a
    # hung scio-history, a stopped program): connects still finish, and
    # what they learnt stays in their own memory
    import fcntl
    path = os.environ["SCIO_HISTORY_FILE"]
    assert "via ipv6" in run(lab, [PY, "-c", PY_CONNECT]).stdout
    assert os.path.getsize(path) > 0  # a real store, written by scio
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lab.fault("ipv6", "blackhole")
        res = run(lab, ["-v", PY, "-c", PY_CONNECT + "\n" + PY_CONNECT.replace(
            "import socket; ", "")], timeout=10)
        assert not res.timed_out, res
        assert res.stdout.count("via ipv4") == 2, res
        assert res.elapsed < 3, res
        # the second connect of the process went straight to IPv4
        assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in log_line(res), res
