"""make install into a temporary DESTDIR: the installed scio-run works,
a program builds against the installed header with pkg-config, and the
manual pages are clean roff."""

import os
import subprocess
from pathlib import Path

import pytest

from scio_testlib import BUILD, ROOT, SAN

MANPAGES = sorted((ROOT / "man").glob("*.[1-8]"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    res = subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}",
                          f"SAN={SAN}", "install", f"DESTDIR={dest}",
                          "PREFIX=/usr/local"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return dest / "usr" / "local"


def test_layout(installed):
    for rel in ("lib/libscio.a", "lib/libscio.so.0", "lib/libscio.so",
                "include/scio.h", "lib/scio/libscio-preload.so",
                "lib/scio/scio-history", "lib/pkgconfig/scio.pc",
                "bin/scio-run", "bin/scio-smtp", "sbin/telar",
                "share/man/man1/scio-run.1", "share/man/man1/scio-smtp.1",
                "share/man/man3/libscio.3", "share/man/man8/telar.8",
                "share/doc/scio/telar.service", "share/doc/scio/telar.socket"):
        assert (installed / rel).exists(), rel
    soname = subprocess.run(["readelf", "-d", str(installed / "lib/libscio.so.0")],
                            capture_output=True, text=True).stdout
    assert "libscio.so.0" in soname


@pytest.mark.skipif(bool(SAN), reason="a sanitizer build of the shim needs its runtime preloaded first")
def test_installed_scio_run_uses_the_installed_shim(installed):
    env = dict(os.environ, LD_PRELOAD="")
    res = subprocess.run([str(installed / "bin/scio-run"), "sh", "-c", "echo $LD_PRELOAD"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(str(installed / "lib/scio/libscio-preload.so")) or \
        res.stdout.strip().startswith("/usr/local/lib/scio/libscio-preload.so")
    res = subprocess.run([str(installed / "bin/scio-run"), "--version"],
                         capture_output=True, text=True)
    assert res.stdout.startswith("scio-run 0.1.0") and "checkout" not in res.stdout


PROGRAM = r"""
#include <scio.h>
#include <stdio.h>
int main(void)
{
    struct scio_options o;
    scio_options_init(&o);
    int fd = scio_connect("", "80", &o);   /* EINVAL, no network needed */
    printf("%d %d\n", fd, o.connect_delay_ms == SCIO_CONNECT_DELAY_LEARN);
    return 0;
}
"""


@pytest.mark.skipif(bool(SAN), reason="links the plain installed library")
def test_compile_against_installed_header_with_pkg_config(installed, tmp_path):
    src = tmp_path / "p.c"
    src.write_text(PROGRAM)
    pc = installed / "lib/pkgconfig/scio.pc"
    # the .pc says prefix=/usr/local; point pkg-config at the DESTDIR copy
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc.parent),
               PKG_CONFIG_SYSROOT_DIR=str(installed.parent.parent))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "scio"],
                           capture_output=True, text=True, env=env)
    assert flags.returncode == 0, flags.stderr
    assert f"-I{installed}/include" in flags.stdout
    exe = tmp_path / "p"
    cc = subprocess.run(["cc", "-o", str(exe), str(src), *flags.stdout.split()],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=str(installed / "lib")))
    assert run.stdout.split() == ["-1", "1"], run


def test_uninstall(installed):
    dest = installed.parent.parent
    res = subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}", f"SAN={SAN}",
                          "uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    left = [p for p in dest.rglob("*") if p.is_file()]
    assert left == [], left


@pytest.mark.parametrize("page", MANPAGES, ids=[p.name for p in MANPAGES])
def test_man_page_is_clean(page):
    res = subprocess.run(["groff", "-man", "-ww", "-z", str(page)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
