"""A short soak (make soak runs the long one): raced connects from several
threads and processes while the faults change at random."""

from scio_testlib import SAN
from soak import soak


def test_short_soak(capsys):
    ok = soak(seconds=8 if SAN else 12, procs=3, threads=3, seed=12345)
    out = capsys.readouterr().out
    print(out)
    assert ok, out
    assert "connects: " in out and "failures by errno" in out
