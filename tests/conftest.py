"""Shared pytest setup.  Nothing here depends on build/ existing."""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import netlab  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab(extra_hosts=(), servers=7000): options for the `lab` fixture: "
        "extra client hosts-file lines; the greeting-server port, or None "
        "to start no server")


def _unavailable(reason):
    """No lab here: a failure in CI (CI=true), a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"network lab unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"network lab unavailable: {reason}")


@pytest.fixture(scope="session")
def _lab_session():
    """Once per session: clear what a crashed earlier run left behind."""
    if os.geteuid() == 0:
        netlab.cleanup_stale()


@pytest.fixture
def make_lab(_lab_session):
    """make_lab(**Lab_kwargs) -> a new netlab.Lab (no servers started);
    every lab made is closed after the test."""
    labs = []

    def make(**kwargs):
        try:
            lab = netlab.Lab(**kwargs)
        except (netlab.LabError, OSError) as e:
            _unavailable(str(e))
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(request, make_lab):
    """A fresh netlab.Lab whose greeting servers listen on port 7000 on all
    six server addresses.  @pytest.mark.lab(servers=PORT or None,
    extra_hosts=[...]) changes that.  Torn down after the test."""
    marker = request.node.get_closest_marker("lab")
    opts = dict(marker.kwargs) if marker else {}
    port = opts.pop("servers", netlab.DEFAULT_PORT)
    lab = make_lab(**opts)
    if port is not None:
        lab.start_servers(port=port)
    return lab


@pytest.fixture(autouse=True)
def _private_history(tmp_path, monkeypatch):
    """Each test gets its own scio history store: what one test teaches
    scio about a broken family must not change another test."""
    monkeypatch.setenv("SCIO_HISTORY_FILE", str(tmp_path / "scio-history"))
