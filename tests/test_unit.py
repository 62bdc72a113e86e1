"""C unit tests, no network: the race's state machine, the line I/O, the
record of a race's sockets across signals and siglongjmp, the table of
pending non-blocking connects across threads, the answers table when
threads look the same name up at once, the comparison of glibc's address
sort (lib/sortaddr.c), the DNS wire format of the in-thread stub's
queries and replies (lib/dnswire.c), whether the stub may stand in
for glibc (resolv.conf, nsswitch.conf and _res read as glibc 2.36 does)."""

import subprocess

import pytest

from scio_testlib import prog


@pytest.mark.parametrize("name", ["test_engine", "test_stream", "test_orphans", "test_pending",
                                  "test_answers", "test_sortaddr", "test_dnswire",
                                  "test_resconf"])
def test_c_unit(name):
    res = subprocess.run([prog(name)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("0 failed")
    assert "FAIL" not in res.stdout
