"""Shared pytest setup.  Nothing here depends on build/ existing."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent  # repository root
BUILD = ROOT / "build"
TESTS = ROOT / "tests"

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import netlab  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab(extra_hosts=(), servers=7000): options for the `lab` fixture; "
        "servers is the greeting-server port, or None to start none")


def _unavailable(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"network lab unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"network lab unavailable: {reason}")


@pytest.fixture(scope="session")
def _lab_session():
    """Once per session: clear leftovers of a crashed earlier run."""
    if os.geteuid() == 0:
        netlab.cleanup_stale()


@pytest.fixture
def lab(request, _lab_session):
    """A fresh netlab.Lab, greeting servers listening on port 7000 on all
    six server addresses (change with @pytest.mark.lab(servers=PORT|None,
    extra_hosts=[...])).  Torn down after the test."""
    marker = request.node.get_closest_marker("lab")
    opts = dict(marker.kwargs) if marker else {}
    port = opts.pop("servers", netlab.DEFAULT_PORT)
    try:
        lab = netlab.Lab(**opts)
    except (netlab.LabError, OSError) as e:
        _unavailable(str(e))
    try:
        if port is not None:
            lab.start_servers(port=port)
        yield lab
    finally:
        lab.close()
