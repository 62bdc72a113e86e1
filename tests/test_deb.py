"""The Debian packages (make deb): built with dpkg-buildpackage, checked by
lintian, installed with apt-get on this machine, used from PATH the way a
user would, then purged without a trace.

Needs root (it installs packages).  It refuses to run where the packages
are already installed: purging them would remove someone's install.
"""

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from scio_testlib import BUILD, ROOT, SAN
from test_install import PROGRAM  # the program test_install builds, with pkg-config

PACKAGES = ("scio", "libscio0", "libscio-dev", "scio-demos")
PY = "/usr/bin/python3"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]
# Files whose change would enable the shim for everyone.
SYSTEM_WIDE = ("/etc/ld.so.preload", "/etc/environment")
# lintian warnings kept on purpose, tag -> reason (none so far).
KEPT_WARNINGS: dict[str, str] = {}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="installs and purges Debian packages: needs root"),
    pytest.mark.skipif(bool(SAN), reason="the packages are a plain build; "
                       "the plain `make test` run tests them"),
    pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg") is None,
                       reason="not a Debian system (no apt-get/dpkg)"),
    # one pytest worker (make test's --dist loadgroup) has them all: the
    # module's build, install and purge are the system's, not a test's
    pytest.mark.xdist_group("deb"),
]


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def installed_now():
    """Those of PACKAGES that dpkg knows about in any state but 'not installed'."""
    res = run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES])
    return [l.split()[0] for l in res.stdout.splitlines()
            if l.split()[1:] and l.split()[1] != "not-installed"]


def multiarch():
    return run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip()


def snapshot(paths):
    return {p: Path(p).read_bytes() if os.path.lexists(p) else None for p in paths}


@pytest.fixture(scope="module")
def built():
    """make deb: the package build and lintian; returns (debs, lintian tags)."""
    t0 = time.monotonic()
    res = run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}", "deb"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    print(f"make deb: {time.monotonic() - t0:.1f} s")
    out = BUILD / "deb"
    version = re.search(r'SCIO_VERSION "(.*)"', (ROOT / "lib/scio.h").read_text()).group(1)
    debs = {}
    for pkg in PACKAGES:
        found = glob.glob(str(out / f"{pkg}_{version}_*.deb"))
        assert len(found) == 1, (pkg, os.listdir(out))
        debs[pkg] = found[0]
    tags = re.findall(r"^([EW]): \S+: (\S+)", res.stdout + res.stderr, re.M)
    return debs, tags


def purge():
    return run([*APT, "purge", *PACKAGES], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


@pytest.fixture(scope="module")
def installed(built):
    """The four packages installed with apt-get; yields {package: dpkg -L
    list}.  Purged afterwards whatever happens."""
    already = installed_now()
    if already:
        pytest.skip(f"{', '.join(already)} already installed here; this test would "
                    "purge them (apt-get purge them first to run it)")
    debs, _ = built
    before = snapshot(SYSTEM_WIDE)
    try:
        res = run([*APT, "install", *debs.values()],
                  env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        lists = {p: run(["dpkg", "-L", p]).stdout.split("\n") for p in PACKAGES}
        yield {"lists": {p: [f for f in l if f] for p, l in lists.items()},
               "system_wide_before": before}
    finally:
        if installed_now():
            purge()


def test_lintian_no_errors_no_unexplained_warnings(built):
    _, tags = built
    errors = [t for level, t in tags if level == "E"]
    warnings = {t for level, t in tags if level == "W"} - set(KEPT_WARNINGS)
    assert not errors and not warnings, tags


def test_multiarch_layout(installed):
    lib = f"/usr/lib/{multiarch()}"
    owned = {p: set(l) for p, l in installed["lists"].items()}
    assert {"/usr/bin/scio-run", f"{lib}/scio/libscio-preload.so",
            f"{lib}/scio/scio-history"} <= owned["scio"]
    assert f"{lib}/libscio.so.0" in owned["libscio0"]
    assert {"/usr/include/scio.h", f"{lib}/libscio.a", f"{lib}/libscio.so",
            f"{lib}/pkgconfig/scio.pc"} <= owned["libscio-dev"]
    assert {"/usr/bin/scio-smtp", "/usr/sbin/telar", "/lib/systemd/system/telar.service",
            "/lib/systemd/system/telar.socket",
            "/lib/systemd/system/telar@.service"} <= owned["scio-demos"]
    assert os.readlink(f"{lib}/libscio.so") == "libscio.so.0"


def test_installing_enables_nothing(installed):
    assert snapshot(SYSTEM_WIDE) == installed["system_wide_before"]
    assert "LD_PRELOAD" not in run(["sh", "-lc", "env"], env={"PATH": SYSTEM_PATH}).stdout
    wants = glob.glob("/etc/systemd/system/**/telar*", recursive=True)
    assert wants == [], "telar's units must be installed disabled"


def test_units_run_the_packaged_telar_as_a_dynamic_user(installed):
    for unit in ("telar.service", "telar@.service"):
        text = Path("/lib/systemd/system", unit).read_text()
        assert re.search(r"^ExecStart=/usr/sbin/telar ", text, re.M), unit
        assert re.search(r"^DynamicUser=yes$", text, re.M), unit


PY_CONNECT = ("import os,socket; s=socket.create_connection(('dual.test',7000));"
              "print(s.recv(200).decode().strip()); print(os.environ['LD_PRELOAD'])")


def test_scio_run_from_path_races(installed, lab):
    env = {"PATH": SYSTEM_PATH, "LD_PRELOAD": None, "SCIO_PRELOAD": None}
    assert shutil.which("scio-run", path=SYSTEM_PATH) == "/usr/bin/scio-run"
    lab.fault("ipv6", "blackhole")
    res = lab.run(["scio-run", "-v", PY, "-c", PY_CONNECT], timeout=20, env=env)
    assert res.returncode == 0, res
    greeting, preload = res.stdout.splitlines()[-2:]
    assert "via ipv4" in greeting, res
    assert preload == f"/usr/lib/{multiarch()}/scio/libscio-preload.so"
    print(f"installed scio-run, python connect with IPv6 blackholed: {res.elapsed:.2f} s")
    assert res.elapsed < 1.0, res
    # the history tool sits next to the shim
    hist = lab.run(["scio-run", "--history"], timeout=20, env=env)
    assert hist.returncode == 0 and "2001:db8::10" in hist.stdout, hist




def test_program_builds_with_pkg_config(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKG_CONFIG")}
    pcdir = run(["pkg-config", "--variable=pcfiledir", "scio"], env=env).stdout.strip()
    assert pcdir == f"/usr/lib/{multiarch()}/pkgconfig", "another scio.pc comes first"
    flags = run(["pkg-config", "--cflags", "--libs", "scio"], env=env)
    assert flags.returncode == 0, flags.stderr
    (tmp_path / "p.c").write_text(PROGRAM)
    exe = tmp_path / "p"
    cc = run(["cc", "-o", str(exe), str(tmp_path / "p.c"), *flags.stdout.split()], env=env)
    assert cc.returncode == 0, cc.stderr
    env.pop("LD_LIBRARY_PATH", None)
    res = run([str(exe)], env=env)
    assert res.stdout.split() == ["-1", "1"], res
    found = re.search(r"libscio\.so\.0 => (\S+)", run(["ldd", str(exe)]).stdout)
    assert found and os.path.samefile(found.group(1), f"/usr/lib/{multiarch()}/libscio.so.0")


def owned_by_another_package(path):
    return run(["dpkg-query", "-S", path]).returncode == 0


def test_purge_leaves_nothing(installed):
    """Last in this file: purges, then checks every path dpkg -L listed."""
    res = purge()
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert installed_now() == []
    left = []
    for path in sorted({p for l in installed["lists"].values() for p in l}, reverse=True):
        if not os.path.lexists(path):
            continue
        if owned_by_another_package(path):
            continue  # /usr/bin, or /lib on merged /usr: shared, and kept
        if os.path.isdir(path) and not os.path.islink(path) and os.listdir(path):
            continue  # a directory that holds what others put there
        left.append(path)
    assert left == []
    # dpkg's and deb-systemd-helper's own records of the packages
    records = [f for pkg in PACKAGES for f in glob.glob(f"/var/lib/dpkg/info/{pkg}[.:]*")]
    records += glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/telar*", recursive=True)
    assert records == []
    assert snapshot(SYSTEM_WIDE) == installed["system_wide_before"]
