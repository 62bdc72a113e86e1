"""Settings and SCIO_LOG_FILE (issue 14, "Log file" and "Settings").

The log file runs in programs of every user, often root: another local
user must not be able to point it at a file of the victim's, hang the
program with a FIFO or read its destinations.  These tests play that
user for real (a second account, the fs.protected_* sysctls at 0 as on
many containers); the program is python3 with the shim preloaded, making
one connect on loopback.  The parser itself is unit-tested in C."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from local_users import other_user, shared_dir, unprotected  # noqa: F401
from scio_testlib import BUILD, PY, assert_no_sanitizer_report, prog, san_env

# any connect makes the shim read its settings; nothing listens on port 9
CONNECT = ("import socket; s=socket.socket(); s.settimeout(5);"
           "print('connect', s.connect_ex(('127.0.0.1', 9)))")


def shim_env(**settings):
    """The caller's environment without SCIO_*, the shim preloaded and
    the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIO_")}
    env.update(san_env())
    shim = str(BUILD / "libscio-preload.so")
    env["LD_PRELOAD"] = ":".join(p for p in (env.get("LD_PRELOAD"), shim) if p)
    env.update({k: str(v) for k, v in settings.items()})
    return env


def run_program(timeout=20, cwd=None, **settings):
    t0 = time.monotonic()
    try:
        res = subprocess.run([PY, "-c", CONNECT], capture_output=True, text=True,
                             env=shim_env(**settings), timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the program hung for {timeout} s")
    res.elapsed = time.monotonic() - t0
    assert_no_sanitizer_report(res)
    assert res.returncode == 0 and "connect" in res.stdout, res
    return res


@pytest.mark.parametrize("name", ["test_config", "test_log"])
def test_c_unit(name):
    res = subprocess.run([prog(name)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("0 failed")


# ---- SCIO_LOG_FILE against another local user ----

@pytest.fixture
def victims_file():
    """A file of root's, like ~/.bashrc, in a directory others may enter."""
    home = Path(tempfile.mkdtemp(prefix="scio-victim-"))
    home.chmod(0o755)
    f = home / ".bashrc"
    f.write_text("# the victim's shell setup\n")
    f.chmod(0o600)
    try:
        yield f
    finally:
        subprocess.run(["rm", "-rf", str(home)])


def assert_refused(res, why):
    warnings = [l for l in res.stderr.splitlines() if "SCIO_LOG_FILE" in l]
    assert len(warnings) == 1 and why in warnings[0], res.stderr
    assert "logging to stderr" in warnings[0]
    # the line meant for the file went to stderr instead
    assert "SCIO_CONNECT_DELAY_MS" in res.stderr


def test_symlink_to_the_victims_file_is_not_followed(other_user, unprotected,
                                                     shared_dir, victims_file):
    log = shared_dir / "scio.log"
    other_user.run(["ln", "-s", str(victims_file), str(log)], check=True)
    before = victims_file.read_bytes()
    res = run_program(SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    assert victims_file.read_bytes() == before
    assert_refused(res, "is a symbolic link")


def test_hard_link_to_the_victims_file_is_refused(other_user, unprotected,
                                                  shared_dir, victims_file):
    log = shared_dir / "scio.log"
    other_user.run(["ln", str(victims_file), str(log)], check=True)
    before = victims_file.read_bytes()
    res = run_program(SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    assert victims_file.read_bytes() == before
    assert_refused(res, "more than one hard link")


def test_fifo_does_not_hang_the_connect(other_user, unprotected, shared_dir):
    log = shared_dir / "scio.log"
    other_user.run(["mkfifo", "-m", "0666", str(log)], check=True)
    res = run_program(timeout=10, SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    assert res.elapsed < 5
    assert_refused(res, "is not a regular file")


def test_fifo_with_a_reader_gets_nothing(other_user, unprotected, shared_dir):
    log = shared_dir / "scio.log"
    other_user.run(["mkfifo", "-m", "0666", str(log)], check=True)
    reader = subprocess.Popen(other_user.argv(["cat", str(log)]),
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # cat has the FIFO open
        res = run_program(timeout=10, SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    finally:
        out, _ = reader.communicate(timeout=10)
    assert out == ""
    assert_refused(res, "is not a regular file")


def test_another_users_file_gets_nothing(other_user, unprotected, shared_dir):
    log = shared_dir / "scio.log"
    other_user.run(["sh", "-c", f"umask 0; : > {log}"], check=True)
    assert log.stat().st_uid == other_user.uid
    res = run_program(SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    assert log.stat().st_size == 0
    assert_refused(res, f"belongs to uid {other_user.uid}, not to uid 0")


def test_log_file_is_created_private_and_used(shared_dir):
    log = shared_dir / "mine.log"
    res = run_program(SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="fast")
    assert "SCIO_CONNECT_DELAY_MS" not in res.stderr, res
    assert "SCIO_CONNECT_DELAY_MS" in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600
    # appended, never truncated
    run_program(SCIO_LOG_FILE=log, SCIO_CONNECT_DELAY_MS="slow")
    assert "fast" in log.read_text() and "slow" in log.read_text()


def test_relative_log_file_is_rejected(tmp_path):
    res = run_program(cwd=tmp_path, SCIO_LOG_FILE="scio.log",
                      SCIO_CONNECT_DELAY_MS="fast")
    assert not (tmp_path / "scio.log").exists()
    line = [l for l in res.stderr.splitlines() if "SCIO_LOG_FILE" in l]
    assert len(line) == 1, res.stderr
    assert 'SCIO_LOG_FILE="scio.log" is not an absolute path; logging to stderr' in line[0]


# ---- one rule for every number, messages that say what is wrong ----

@pytest.mark.parametrize("name", ["SCIO_CONNECT_DELAY_MS", "SCIO_RESOLUTION_DELAY_MS"])
@pytest.mark.parametrize("value", [" 250", "+250", "250 "])
def test_every_number_is_digits_only(name, value):
    res = run_program(**{name: value})
    warnings = [l for l in res.stderr.splitlines() if name in l]
    assert len(warnings) == 1, res.stderr
    assert f'{name}="{value}" is not a number of milliseconds (digits only)' in warnings[0]


def test_too_long_history_file_says_too_long():
    res = run_program(SCIO_HISTORY_FILE="/" + "h" * 600)
    warnings = [l for l in res.stderr.splitlines() if "SCIO_HISTORY_FILE" in l]
    assert len(warnings) == 1, res.stderr
    assert "is too long (601 bytes, at most 511)" in warnings[0]
    assert "absolute" not in warnings[0]


def test_checked_settings_still_warn_in_a_process_that_changed_them():
    # SCIO_SETTINGS_CHECKED only hides warnings about the values it was
    # computed from: a stale or forged one hides nothing
    res = run_program(SCIO_CONNECT_DELAY_MS="fast",
                      SCIO_SETTINGS_CHECKED="0123456789abcdef")
    assert "SCIO_CONNECT_DELAY_MS" in res.stderr
    token = subprocess.run([str(BUILD / "scio-history"), "--check-settings"],
                           capture_output=True, text=True,
                           env=shim_env(SCIO_CONNECT_DELAY_MS="fast")).stdout.strip()
    assert len(token) == 16
    res = run_program(SCIO_CONNECT_DELAY_MS="fast", SCIO_SETTINGS_CHECKED=token)
    assert "SCIO_CONNECT_DELAY_MS" not in res.stderr, res
    res = run_program(SCIO_CONNECT_DELAY_MS="faster", SCIO_SETTINGS_CHECKED=token)
    assert "SCIO_CONNECT_DELAY_MS" in res.stderr
