"""C unit tests: the race's state machine and the line I/O, no network."""

import subprocess

import pytest

from scio_testlib import prog


@pytest.mark.parametrize("name", ["test_sm", "test_stream"])
def test_c_unit(name):
    res = subprocess.run([prog(name)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("0 failed")
    assert "FAIL" not in res.stdout
