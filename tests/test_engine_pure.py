"""The race engine makes no system call (issue 15): its object file may
only need memory helpers from libc, and every rule it holds is pinned by
a unit test (make mutants breaks each one in turn)."""

import subprocess

from scio_testlib import BUILD, ROOT

ALLOWED = {"memcpy", "memset", "memmove"}


def test_engine_object_links_with_no_system_call():
    obj = BUILD / "obj" / "lib" / "engine.o"
    assert obj.exists(), "make builds lib/engine.c"
    out = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    needed = {line.split()[-1] for line in out.splitlines() if line.strip()}
    # sanitizer builds add their runtime's hooks, which are not libc calls
    needed = {n for n in needed if not n.startswith(("__asan", "__ubsan", "__tsan",
                                                     "__sanitizer"))}
    assert needed <= ALLOWED, f"engine.o calls {sorted(needed - ALLOWED)}"


def test_every_engine_rule_has_a_test_that_fails_when_it_breaks():
    res = subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "mutants.py")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
