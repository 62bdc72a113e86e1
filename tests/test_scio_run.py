"""scio-run in front of real programs (issue 13, section 6): a program
built with AddressSanitizer, setuid programs as root and as another user,
sudo, and a shell script whose children would each warn about the same
bad setting.  No network: connects go to a listener on loopback."""

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from local_users import other_user  # noqa: F401
from scio_testlib import PY, SAN, SCIO_RUN, TSAN, assert_no_sanitizer_report, san_env

pytestmark = pytest.mark.skipif(
    TSAN, reason="scio-run is a sh script, which cannot start with the TSan runtime")


# Says whether the shim is mapped, connects to 127.0.0.1:argv[1] through
# getaddrinfo, and shows ASAN_OPTIONS as the program got it.
PROBE = r"""
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char line[512];
    int preloaded = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof(line), maps))
        preloaded |= strstr(line, "libscio-preload.so") != NULL;
    if (maps)
        fclose(maps);
    int rc = -2;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    if (argc > 1 && getaddrinfo("127.0.0.1", argv[1], &hints, &res) == 0) {
        int fd = socket(res->ai_family, SOCK_STREAM, 0);
        rc = connect(fd, res->ai_addr, res->ai_addrlen);
        close(fd);
        freeaddrinfo(res);
    }
    const char *opts = getenv("ASAN_OPTIONS");
    printf("preloaded=%d connect=%d uid=%d euid=%d asan_options=%s\n", preloaded,
           rc, (int)getuid(), (int)geteuid(), opts ? opts : "(unset)");
    return 0;
}
"""


@pytest.fixture(scope="module")
def bindir():
    """A directory every user may enter, for the probes."""
    d = Path(tempfile.mkdtemp(prefix="scio-run-test-"))
    d.chmod(0o755)
    yield d
    subprocess.run(["rm", "-rf", str(d)])


def build_probe(bindir, name, *flags):
    src = bindir / "probe.c"
    src.write_text(PROBE)
    exe = bindir / name
    res = subprocess.run(["gcc", "-O1", "-g", *flags, "-o", str(exe), str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return exe


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield str(s.getsockname()[1])
    s.close()


def clean_env(**extra):
    """The caller's environment without SCIO_* and ASAN_OPTIONS, plus what
    a sanitizer build of the shim needs, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SCIO_") and k != "ASAN_OPTIONS"}
    env.update(san_env())
    env.update({k: str(v) for k, v in extra.items()})
    return env


def scio_run(argv, env=None, user=None, timeout=30):
    argv = [SCIO_RUN, *map(str, argv)]
    if user:
        argv = user.argv(argv)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env=env if env is not None else clean_env())
    assert_no_sanitizer_report(res)
    return res


def fields(res):
    return dict(kv.split("=", 1) for kv in res.stdout.split() if "=" in kv)


# ---- AddressSanitizer ----

def test_asan_program_runs_under_scio_run(bindir, listener):
    exe = build_probe(bindir, "asan-probe", "-fsanitize=address")
    res = scio_run([exe, listener])
    assert res.returncode == 0, res
    out = fields(res)
    assert out["preloaded"] == "1" and out["connect"] == "0", res
    assert "ASan runtime does not come first" not in res.stderr


@pytest.mark.skipif(bool(SAN), reason="the sanitizer tests set ASAN_OPTIONS themselves")
def test_asan_options_of_the_caller_are_kept(bindir, listener):
    exe = build_probe(bindir, "asan-probe", "-fsanitize=address")
    res = scio_run([exe, listener], env=clean_env(ASAN_OPTIONS="detect_leaks=0:exitcode=66"))
    assert fields(res)["asan_options"] == "detect_leaks=0:exitcode=66:verify_asan_link_order=0"
    # the caller's explicit choice stands (and ASan then refuses to start)
    res = scio_run([exe, listener], env=clean_env(ASAN_OPTIONS="verify_asan_link_order=1"))
    assert res.returncode != 0 and "ASan runtime does not come first" in res.stderr
    # every program scio-run starts gets it (others ignore it)
    res = scio_run(["sh", "-c", "echo $ASAN_OPTIONS"], env=clean_env())
    assert res.stdout.strip() == "verify_asan_link_order=0"


# ---- setuid programs, sudo ----

def setuid_probe(bindir, owner_uid, owner_gid=0):
    exe = build_probe(bindir, f"setuid-probe-{owner_uid}")
    os.chown(exe, owner_uid, owner_gid)
    exe.chmod(0o4755)
    return exe


def setuid_warnings(res):
    return [l for l in res.stderr.splitlines() if "setuid" in l]


def test_setuid_root_program_run_by_root_is_preloaded_without_warning(bindir, listener):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    exe = setuid_probe(bindir, 0)
    res = scio_run([exe, listener])
    assert res.returncode == 0, res
    assert setuid_warnings(res) == [], res.stderr
    assert fields(res)["preloaded"] == "1", res


def test_setuid_program_of_another_user_warns_also_for_root(bindir, listener, other_user):
    exe = setuid_probe(bindir, other_user.uid)
    res = scio_run([exe, listener])
    out = fields(res)
    assert out["euid"] == str(other_user.uid) and out["preloaded"] == "0", res
    assert len(setuid_warnings(res)) == 1, res.stderr
    assert f"setuid to uid {other_user.uid}, not your uid" in res.stderr
    assert "will not preload scio" in res.stderr


def test_setuid_root_program_run_by_another_user_warns(bindir, listener, other_user):
    exe = setuid_probe(bindir, 0)
    res = scio_run([exe, listener], user=other_user)
    out = fields(res)
    assert out["uid"] == str(other_user.uid) and out["euid"] == "0", res
    assert out["preloaded"] == "0", res
    assert len(setuid_warnings(res)) == 1, res.stderr


def test_setgid_program_of_another_group_warns(bindir, listener, other_user):
    exe = build_probe(bindir, "setgid-probe")
    os.chown(exe, 0, other_user.gid)
    exe.chmod(0o2755)
    res = scio_run([exe, listener])
    assert fields(res)["preloaded"] == "0", res
    assert f"setgid to gid {other_user.gid}, not your gid" in res.stderr, res.stderr
    os.chown(exe, 0, 0)  # a setgid program of the caller's own group: preloaded
    exe.chmod(0o2755)
    res = scio_run([exe, listener])
    assert fields(res)["preloaded"] == "1" and "setgid" not in res.stderr, res


def test_sudo_gets_the_hint_to_put_scio_run_after_it(tmp_path):
    # the hint goes by the name: a sudo that execs its arguments with a
    # fresh environment, as the real one does by default
    stub = tmp_path / "sudo"
    stub.write_text('#!/bin/sh\nexec env -i PATH="$PATH" "$@"\n')
    stub.chmod(0o755)
    env = clean_env(PATH=f"{tmp_path}:{os.environ['PATH']}")
    res = scio_run(["sudo", "sh", "-c", "echo preload=$LD_PRELOAD"], env=env)
    assert res.returncode == 0, res
    hints = [l for l in res.stderr.splitlines() if "scio-run" in l]
    assert len(hints) == 1, res.stderr
    assert "sudo clears LD_PRELOAD" in hints[0]
    assert "use 'sudo scio-run PROGRAM' instead" in hints[0]
    assert res.stdout.strip() == "preload="


# ---- settings: checked once, not once per child ----

CONNECT = ("import socket; s=socket.socket(); s.settimeout(5);"
           "s.connect_ex(('127.0.0.1', 9))")


@pytest.fixture
def connect_py(tmp_path):
    """A python3 script that makes one connect (which reads the settings)."""
    f = tmp_path / "connect.py"
    f.write_text(CONNECT + "\n")
    return f"{PY} {f}"


def test_bad_setting_warns_once_for_a_whole_script(connect_py):
    script = f"{connect_py}; {connect_py}; sh -c '{connect_py}'"
    res = scio_run(["sh", "-c", script], env=clean_env(SCIO_CONNECT_DELAY_MS="fast"))
    assert res.returncode == 0, res
    warnings = [l for l in res.stderr.splitlines() if "SCIO_CONNECT_DELAY_MS" in l]
    assert len(warnings) == 1, res.stderr
    assert "is not a number of milliseconds" in warnings[0]


def test_a_child_that_changes_a_setting_still_hears_about_it(connect_py):
    script = (f"{connect_py}; SCIO_CONNECT_DELAY_MS=slow {connect_py}; "
              f"SCIO_SETTINGS_CHECKED=0000000000000000 SCIO_LOG=loud {connect_py}")
    res = scio_run(["sh", "-c", script], env=clean_env(SCIO_CONNECT_DELAY_MS="fast"))
    lines = res.stderr.splitlines()
    assert len([l for l in lines if '"slow"' in l]) == 1, res.stderr
    assert len([l for l in lines if '"loud"' in l]) == 1, res.stderr
    # the last child's values differ from the checked ones: all its warnings
    assert len([l for l in lines if '"fast"' in l]) == 2, res.stderr


def test_nested_scio_run_does_not_warn_again(connect_py):
    res = scio_run([SCIO_RUN, *connect_py.split()], env=clean_env(SCIO_LOG="loud"))
    assert len([l for l in res.stderr.splitlines() if "SCIO_LOG" in l]) == 1, res.stderr


def test_settings_check_forks_nothing_when_no_setting_is_given(tmp_path):
    trace = tmp_path / "trace"
    for env, runs in ((clean_env(), 0), (clean_env(SCIO_LOG="info"), 1)):
        res = subprocess.run(["strace", "-f", "-qq", "-s", "512", "-e", "trace=execve", "-o", str(trace),
                              SCIO_RUN, "-v", "true"], capture_output=True, text=True, env=env)
        assert res.returncode == 0, res
        execs = [l for l in trace.read_text().splitlines() if 'execve("' in l]
        assert len([l for l in execs if '/scio-history"' in l]) == runs, execs


def test_delay_flag_out_of_range_is_a_usage_error():
    for value in ("5", "2001", "99999999999999999999"):
        res = scio_run(["-d", value, "true"])
        assert res.returncode == 2 and "out of range 10..2000" in res.stderr, res
    assert scio_run(["-d", "10", "true"]).returncode == 0


def test_the_common_path_forks_nothing(tmp_path):
    """A shell loop that runs a client hundreds of times pays scio-run's
    start each time: it execs the program and nothing else."""
    trace = tmp_path / "trace"
    res = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve,clone,clone3,fork,vfork",
                          "-o", str(trace), SCIO_RUN, "true"],
                         capture_output=True, text=True, env=clean_env())
    assert res.returncode == 0, res
    calls = [l for l in trace.read_text().splitlines() if "(" in l]
    assert not [l for l in calls if "clone" in l or "fork" in l], calls
    execs = [l for l in calls if "execve(" in l and l.endswith("= 0")]
    assert len(execs) == 2, calls  # scio-run itself, then true


def test_a_program_outside_the_system_dirs_is_read_once_where_musl_is_installed(tmp_path):
    """Where musl's loader exists, a program outside /usr/bin and friends
    may be a musl program: one head reads its interpreter."""
    if not any(Path("/lib").glob("ld-musl-*.so.1")):
        pytest.skip("no musl loader on this system")
    prog = tmp_path / "true"
    prog.write_bytes(Path("/bin/true").read_bytes())
    prog.chmod(0o755)
    trace = tmp_path / "trace"
    res = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve",
                          "-o", str(trace), SCIO_RUN, str(prog)],
                         capture_output=True, text=True, env=clean_env())
    assert res.returncode == 0 and res.stderr == "", res
    execs = [l for l in trace.read_text().splitlines() if "execve(" in l and l.endswith("= 0")]
    assert len(execs) == 3 and "/head" in execs[1], execs
