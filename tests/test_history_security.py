"""The history store against another local user and against odd settings
(issue 14, "History store"): what scio opens, creates and writes, where a
daemon's history lives, which times and verdicts it believes.  Tests that
need a second user create one with useradd and remove it."""

import contextlib
import itertools
import os
import pwd
import shutil
import stat
import struct
import subprocess
import tempfile
import time

import pytest

from scio_testlib import BUILD, PY, SLACK, prog, run_scio, san_env

PY_CONNECT = ("import socket; s=socket.create_connection(('dual.test',7000));"
              "print(s.recv(200).decode().strip())")
TOOL = str(BUILD / "scio-history")
SHIM = str(BUILD / "libscio-preload.so")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (useradd, mounts)")


# ------------------------------------------------------------- helpers

_seq = itertools.count()


def _retry(argv):
    """useradd/userdel, retried while another test holds /etc/passwd."""
    for _ in range(50):
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 10:  # 10: cannot lock /etc/passwd
            return res
        time.sleep(0.1)
    return res


def _make_user(system):
    name = f"scio-h{os.getpid()}-{next(_seq)}"
    home = f"/tmp/{name}-home"
    argv = ["useradd", "-m", "-d", home, "-s", "/usr/sbin/nologin", name]
    res = _retry(argv[:1] + (["-r"] if system else []) + argv[1:])
    assert res.returncode == 0, res
    return pwd.getpwnam(name)


@pytest.fixture
def other_user():
    """A second local login user (uid >= 1000), removed after the test."""
    user = _make_user(system=False)
    yield user
    _retry(["userdel", "-r", user.pw_name])


@pytest.fixture
def system_user():
    """A system user (useradd -r, uid < 1000), like a daemon's."""
    user = _make_user(system=True)
    yield user
    _retry(["userdel", "-r", user.pw_name])


@pytest.fixture
def shared_tmp():
    """A directory under /tmp that other users can reach (the test's own
    tmp_path is private to root)."""
    path = tempfile.mkdtemp(prefix="scio-hist-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def protections_off():
    """fs.protected_{symlinks,fifos,regular} at 0, as on many containers;
    the previous values come back afterwards."""
    files = [f"/proc/sys/fs/protected_{k}" for k in ("symlinks", "fifos", "regular")]
    old = {f: open(f).read().strip() for f in files}
    try:
        for f in files:
            with open(f, "w") as fh:
                fh.write("0")
        yield
    finally:
        for f, v in old.items():
            with open(f, "w") as fh:
                fh.write(v)


def as_user(user, argv):
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
            "--init-groups", *argv]


def private_run(argv):
    """argv in a mount namespace of its own whose /run is an empty tmpfs:
    what root creates under /run stays in the test."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o mode=0755 scio-test /run && exec "$@"', "sh", *argv]


def tool_env(**extra):
    """A clean environment for scio-history: no SCIO_HISTORY_FILE, no
    XDG_RUNTIME_DIR or HOME unless given."""
    env = {"PATH": os.environ["PATH"]}
    env.update({k: v for k, v in san_env().items() if k != "LD_PRELOAD"})
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def run_tool(argv, env, timeout=20):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def scio_lines(text):
    return [l for l in text.splitlines() if l.startswith("scio[")]


def race_line(res):
    lines = [l for l in scio_lines(res.stderr) if " port 7000 (" in l]
    assert lines, res
    return lines[-1]


def run(lab, argv, timeout=20, **env):
    env.setdefault("SCIO_PRELOAD", SHIM)
    return run_scio(lab, argv, timeout=timeout, **env)


# The store's layout (lib/history.h): a header, then 256 entries.
HEADER = struct.Struct("<8sIIII")
ENTRY = struct.Struct("<BBBBI16sqqq")
SLOTS = 256
DEST, NET = 1, 2
TIMEOUT = 1


def store_bytes(entries):
    """A valid store holding entries: (kind, family, prefix, addr bytes,
    last_success, last_failure)."""
    out = HEADER.pack(b"SCIOHIST", 1, SLOTS, ENTRY.size, 0)
    rows = []
    for i, (kind, fam, prefix, addr, ok, fail) in enumerate(entries):
        rows.append(ENTRY.pack(kind, fam, TIMEOUT if fail else 0, prefix, 0,
                               addr.ljust(16, b"\0"), ok, fail, 1000 + i))
    rows += [bytes(ENTRY.size)] * (SLOTS - len(rows))
    return out + b"".join(rows)


V6_DEST = bytes.fromhex("20010db8000000000000000000000010")
V6_NET = bytes.fromhex("20010db8000000000000000000000000")


def v6_entries(ok, fail):
    """dual.test's IPv6 address and its /64 with these times."""
    return [(DEST, 6, 128, V6_DEST, ok, fail), (NET, 6, 64, V6_NET, ok, fail)]


# ------------------------------------------------------ the unit tests

def test_history_verdicts_in_memory():
    # networks need two failing destinations, a success there clears
    # them, times after now are not believed
    res = subprocess.run([prog("test_history")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("0 failed")


# ---------------------------------------------------- FIFO at the path

@pytest.mark.parametrize("owner", ["own", "other-user-in-sticky-dir"])
def test_fifo_at_the_history_path_hangs_nothing(lab, owner, tmp_path, request):
    if owner == "own":
        fifo = tmp_path / "history"
        os.mkfifo(fifo, 0o600)
        ctx = contextlib.nullcontext()
    else:
        user = request.getfixturevalue("other_user")
        sticky = request.getfixturevalue("shared_tmp")
        os.chmod(sticky, 0o1777)
        fifo = os.path.join(sticky, "history")
        res = subprocess.run(as_user(user, ["mkfifo", "-m", "0666", fifo]))
        assert res.returncode == 0
        ctx = protections_off()
    with ctx:
        res = run(lab, ["-v", PY, "-c", PY_CONNECT], timeout=15 * SLACK,
                  SCIO_HISTORY_FILE=fifo)
        assert not res.timed_out, "the connect hung on the FIFO"
        assert res.returncode == 0 and "via ipv6" in res.stdout, res
        tool = run_tool([TOOL], tool_env(SCIO_HISTORY_FILE=fifo), timeout=15 * SLACK)
        assert "empty" in tool.stdout, tool
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --------------------------------------- a file that is not a store

KEY = (b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
       b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       b"-----END OPENSSH PRIVATE KEY-----\n")


@pytest.mark.parametrize("how", ["connect", "forget"])
def test_a_file_that_is_not_a_store_is_never_written(lab, tmp_path, how):
    key = tmp_path / "id_ed25519"
    key.write_bytes(KEY)
    os.chmod(key, 0o600)
    lab.fault("ipv6", "blackhole")
    if how == "connect":
        # a failure to record: the store would be written through
        res = run(lab, ["-v", PY, "-c", PY_CONNECT + "\n" + PY_CONNECT.replace(
            "import socket; ", "")], SCIO_HISTORY_FILE=key)
        assert res.stdout.count("via ipv4") == 2, res
        warnings = [l for l in scio_lines(res.stderr) if "not a scio history store" in l]
        assert len(warnings) == 1, res.stderr
        # what was learnt is kept in memory: the second connect went
        # straight to IPv4
        assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in race_line(res), res
    else:
        res = run_tool([TOOL, "--forget"], tool_env(SCIO_HISTORY_FILE=key))
        assert res.returncode != 0 and "left untouched" in res.stderr, res
    assert key.read_bytes() == KEY


def test_an_empty_file_becomes_a_store(lab, tmp_path):
    path = tmp_path / "history"
    path.write_bytes(b"")
    os.chmod(path, 0o600)
    lab.fault("ipv6", "blackhole")
    res = run(lab, [PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)
    assert "via ipv4" in res.stdout and not scio_lines(res.stderr), res
    assert path.read_bytes()[:12] == b"SCIOHIST\x01\x00\x00\x00"


# ------------------------------------------------------ future times

@pytest.mark.parametrize("when", ["for-ever", "clock-stepped-back-an-hour"])
def test_a_failure_dated_in_the_future_is_not_believed(lab, tmp_path, when):
    now = int(time.time() * 1000)
    fail = (1 << 62) if when == "for-ever" else now + 3600 * 1000
    path = tmp_path / "history"
    path.write_bytes(store_bytes(v6_entries(0, fail)))
    os.chmod(path, 0o600)
    res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)
    # IPv6 works and is not deprioritised by the dated failure
    assert "[2001:db8::10 port 7000 (IPv6) at +0 ms: won]" in race_line(res), res


def test_a_success_dated_in_the_future_hides_no_failure(lab, tmp_path):
    now = int(time.time() * 1000)
    path = tmp_path / "history"
    path.write_bytes(store_bytes(v6_entries(now + 3600 * 1000, 0)))
    os.chmod(path, 0o600)
    lab.fault("ipv6", "blackhole")
    run(lab, [PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)  # fails over IPv6
    res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)
    assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in race_line(res), res


# ------------------------------------------------- network verdicts

def test_one_failing_neighbour_does_not_condemn_the_network(lab, tmp_path):
    # 2001:db8::11 failed a minute ago, its /64 with it; dual.test
    # (2001:db8::10), never tried, still starts with IPv6
    now = int(time.time() * 1000)
    other = bytes.fromhex("20010db8000000000000000000000011")
    path = tmp_path / "history"
    path.write_bytes(store_bytes([(DEST, 6, 128, other, 0, now - 60000),
                                  (NET, 6, 64, V6_NET, 0, now - 60000)]))
    os.chmod(path, 0o600)
    res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)
    assert "[2001:db8::10 port 7000 (IPv6) at +0 ms: won]" in race_line(res), res
    # a second destination there failing condemns it
    path.write_bytes(store_bytes([(DEST, 6, 128, other, 0, now - 60000),
                                  (DEST, 6, 128, other[:15] + b"\x12", 0, now - 60000),
                                  (NET, 6, 64, V6_NET, 0, now - 60000)]))
    res = run(lab, ["-v", PY, "-c", PY_CONNECT], SCIO_HISTORY_FILE=path)
    assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in race_line(res), res


# --------------------------------------------- where the store lives

def _private_dir(path, mode):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("bad", ["other-users", "group-writable", "symlink"])
def test_root_uses_no_runtime_dir_but_its_own(bad, shared_tmp, request):
    # root (a non-login su keeps the user's XDG_RUNTIME_DIR) must not
    # create anything in a runtime dir that is not its own and private
    target = _private_dir(os.path.join(shared_tmp, "runtime"), 0o700)
    xdg = target
    if bad == "other-users":
        user = request.getfixturevalue("other_user")
        os.chown(target, user.pw_uid, user.pw_gid)
    elif bad == "group-writable":
        os.chmod(target, 0o770)
    else:
        xdg = os.path.join(shared_tmp, "link")
        os.symlink(target, xdg)
    home = _private_dir(os.path.join(shared_tmp, "roothome"), 0o755)
    script = f'"{TOOL}"; stat -c "%a %u %n" /run/scio /run/scio/0'
    res = run_tool(private_run(["sh", "-c", script]),
                   tool_env(XDG_RUNTIME_DIR=xdg, HOME=home))
    assert os.listdir(target) == [], "created in a runtime dir not root's own"
    assert "scio history /run/scio/0/history: empty" in res.stdout, res
    assert "700 0 /run/scio\n700 0 /run/scio/0" in res.stdout, res
    assert not os.path.exists(os.path.join(home, ".cache"))


def test_a_user_whose_scio_dir_root_took_is_told_once(other_user, shared_tmp):
    runtime = _private_dir(os.path.join(shared_tmp, "runtime"), 0o700)
    os.chown(runtime, other_user.pw_uid, other_user.pw_gid)
    _private_dir(os.path.join(runtime, "scio"), 0o700)  # root's, as before the fix
    res = run_tool(as_user(other_user, [TOOL]),
                   tool_env(XDG_RUNTIME_DIR=runtime, SCIO_LOG="warn"))
    assert "no shared store" in res.stdout, res
    warnings = [l for l in scio_lines(res.stderr) if "not a private directory" in l]
    assert len(warnings) == 1, res


@pytest.mark.parametrize("var", ["XDG_RUNTIME_DIR", "HOME"])
def test_an_over_long_directory_creates_nothing(var, other_user, shared_tmp):
    # the directory exists and is the user's, but the store's path in it
    # is longer than scio keeps (511 bytes): nothing may be created
    # under a truncated path
    deep = shared_tmp
    while len(deep) < 300:
        deep = os.path.join(deep, "d" * 40)
    os.makedirs(deep)
    long_dir = os.path.join(deep, "y" * 200)
    os.makedirs(long_dir, mode=0o700)
    subprocess.run(["chown", "-R", f"{other_user.pw_uid}:{other_user.pw_gid}", shared_tmp],
                   check=True)
    res = run_tool(as_user(other_user, [TOOL]), tool_env(**{var: long_dir}))
    assert "no shared store" in res.stdout, res
    assert os.listdir(deep) == ["y" * 200]
    assert os.listdir(long_dir) == []


def test_a_root_daemon_keeps_its_history_in_run(lab, shared_tmp):
    # ld.so.preload, a root daemon with HOME=/ and no XDG_RUNTIME_DIR: no
    # dot-directory in its HOME; its history in /run/scio/0 (root's,
    # 0700), shared by the next daemon process
    home = _private_dir(os.path.join(shared_tmp, "slash"), 0o755)
    lab.fault("ipv6", "blackhole")
    env = {**san_env(), "HOME": home, "XDG_RUNTIME_DIR": None, "SCIO_HISTORY_FILE": None,
           "SCIO_LOG": "info"}
    env["LD_PRELOAD"] = ":".join(p for p in (env.get("LD_PRELOAD"), SHIM) if p)
    script = (f'{PY} -c "{PY_CONNECT}" && {PY} -c "{PY_CONNECT}" && '
              'stat -c "%a %u %n" /run/scio /run/scio/0 /run/scio/0/history')
    res = lab.run(private_run(["sh", "-c", script]), env=env, timeout=30 * SLACK)
    assert res.stdout.count("via ipv4") == 2, res
    assert os.listdir(home) == [], "a dot-directory in a root daemon's HOME"
    assert "700 0 /run/scio\n700 0 /run/scio/0\n600 0 /run/scio/0/history" in res.stdout, res
    # the second process learnt from the first
    assert "[192.0.2.10 port 7000 (IPv4) at +0 ms: won]" in race_line(res), res


def test_a_system_user_keeps_its_history_in_memory(system_user):
    home = system_user.pw_dir  # its own, as a daemon's data directory
    assert os.stat(home).st_uid == system_user.pw_uid
    res = run_tool(as_user(system_user, [TOOL]), tool_env(HOME=home))
    assert "no shared store" in res.stdout, res
    assert not os.path.exists(os.path.join(home, ".cache"))
