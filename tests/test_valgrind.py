"""The shim under valgrind memcheck: python3 and C programs, races won and
lost, no memory errors and no leak attributable to the shim."""

import pytest

from scio_testlib import BUILD, PORT, PY, SAN, prog

pytestmark = pytest.mark.skipif(bool(SAN), reason="valgrind runs the plain build")

SHIM = str(BUILD / "libscio-preload.so")
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--trace-children=no"]


def memcheck(lab, argv, env=None, timeout=60):
    full_env = {"LD_PRELOAD": SHIM, "PYTHONMALLOC": "malloc"}
    full_env.update(env or {})
    res = lab.run([*VALGRIND, *argv], env=full_env, timeout=timeout)
    assert not res.timed_out, res
    assert res.returncode != 99, res
    assert "Invalid read" not in res.stderr and "Invalid write" not in res.stderr, res
    assert "libscio-preload" not in res.stderr, res
    return res


PY_RACES = ("import socket\n"
            "for i in range(3):\n"
            "    s = socket.create_connection(('dual.test', 7000))\n"
            "    print(s.recv(100).decode().strip()); s.close()\n")


def test_python_race_won_over_ipv4(lab):
    lab.fault("ipv6", "blackhole")
    res = memcheck(lab, [PY, "-c", PY_RACES], {"SCIO_LOG": "info"})
    assert res.stdout.count("via ipv4") == 3


def test_python_everything_refused(lab):
    lab.fault("all", "refuse")
    code = ("import socket\ntry:\n    socket.create_connection(('multi.test', 7000))\n"
            "except OSError as e:\n    print('error', e.errno)\n")
    res = memcheck(lab, [PY, "-c", code])
    assert "error 111" in res.stdout


@pytest.mark.parametrize("mode", ["fidelity", "loop", "sndtimeo"])
def test_c_probe(lab, mode):
    lab.fault("ipv6", "blackhole")
    if mode == "sndtimeo":
        lab.fault("ipv4", "blackhole")
    res = memcheck(lab, [prog("shim_probe"), mode, "dual.test", PORT])
    assert "rc=" in res.stdout


def test_c_threads(lab):
    lab.fault("ipv6", "refuse")
    res = memcheck(lab, [prog("shim_probe"), "threads", "dual.test", PORT, "4", "25"],
                   timeout=120)
    assert "failures=0" in res.stdout, res
