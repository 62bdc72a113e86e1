"""A second local user for the tests that play another user on the same
machine, and the fs.protected_* sysctls that many containers leave at 0."""

import fcntl
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

PROTECTIONS = ("fs.protected_symlinks", "fs.protected_fifos",
               "fs.protected_regular", "fs.protected_hardlinks")


def _knob(name):
    return Path("/proc/sys") / name.replace(".", "/")


class User:
    def __init__(self, name):
        self.name = name
        out = subprocess.run(["id", "-u", name], capture_output=True, text=True,
                             check=True).stdout
        self.uid = int(out)
        self.gid = int(subprocess.run(["id", "-g", name], capture_output=True,
                                      text=True, check=True).stdout)

    def argv(self, argv):
        """argv run as this user, with the caller's environment."""
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                "--clear-groups", "--", *argv]

    def run(self, argv, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(self.argv(argv), **kw)


@pytest.fixture
def other_user():
    """A fresh local user, removed (with its home) after the test."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a user")
    name = f"scio{os.getpid() % 10000}{secrets.token_hex(3)}"
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True,
                   capture_output=True)
    try:
        yield User(name)
    finally:
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture
def unprotected():
    """fs.protected_* at 0 during the test (as on many containers); only
    the knobs that were not 0 are changed, and they are put back.  The
    knobs are the whole machine's: tests that want them (in make test's
    parallel workers) take turns, by a lock on a file."""
    if os.geteuid() != 0:
        pytest.skip("needs root to change sysctls")
    with open(Path(tempfile.gettempdir()) / "scio-tests-sysctl.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _unprotected()


def _unprotected():
    changed = {}
    for name in PROTECTIONS:
        old = _knob(name).read_text().strip()
        if old != "0":
            _knob(name).write_text("0")
            changed[name] = old
    try:
        yield
    finally:
        for name, old in changed.items():
            _knob(name).write_text(old)


@pytest.fixture
def shared_dir():
    """A world-writable sticky directory, like /tmp, that both users use."""
    d = Path(tempfile.mkdtemp(prefix="scio-shared-"))
    d.chmod(0o1777)
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", str(d)])
