#!/usr/bin/env python3
"""make mutants: break each rule of the race engine (lib/engine.c) one at a
time and check that the engine's unit tests (tests/c/test_engine.c) fail.
A mutant that survives is a rule no test pins.  Needs only a C compiler."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "lib" / "engine.c"
TEST = ROOT / "tests" / "c" / "test_engine.c"
CC = os.environ.get("CC", "cc")

# (the rule, the text to change, what it becomes)
MUTANTS = [
    ("delay has a lower bound", "if (delay < ENGINE_MIN_DELAY_US)", "if (0)"),
    ("delay has an upper bound", "if (delay > ENGINE_MAX_DELAY_US)", "if (0)"),
    ("next start waits for the delay", "m->last_start + m->delay", "m->last_start"),
    ("early start when nothing is in flight",
     "(m->running == 0 || now >= next_start)", "(now >= next_start)"),
    ("the deadline ends the race", "if (m->done || now >= m->deadline)", "if (m->done)"),
    ("the primary's error is the race's", "if (m->slot[m->primary].error)", "if (0)"),
    ("a win abandons the others", "abandon_running(m, ECANCELED, now);", ";"),
    ("a failure is recorded", "m->slot[i].state = ENGINE_FAILED;", ";"),
    ("late candidates are added", "m->n += count;", "(void)count;"),
    ("late addresses are awaited", "m->more_until = until;", "(void)until;"),
    ("late addresses are asked for", ".ask_late = late", ".ask_late = 0"),
    ("late addresses are polled for", "if (late && now + ENGINE_LATE_POLL_US < until)",
     "if (0)"),
    ("families alternate", "memcpy(a, scratch, n * sizeof(*a));", ";"),
    ("the other family comes second",
     "int other = cand[0].ss_family == AF_INET6 ? AF_INET : AF_INET6;",
     "int other = cand[0].ss_family;"),
    ("the program's address stays first",
     "engine_interleave(cand + 1, n - 1, other, scratch);",
     "engine_interleave(cand, n, other, scratch);"),
    ("history puts broken addresses last", "if (broken[i])", "if (0)"),
    ("the program's address follows history",
     "return n > 0 && broken[0] && good > 0 ? good : 0;", "return 0;"),
    ("the own connect's bound is 3/4 of the delay", "delay * 3 / 4", "delay"),
    ("refusals are replayed", "case ECONNREFUSED: ", ""),
    ("local errors are not replayed", "\tdefault:\n\t\treturn 0;", "\tdefault:\n\t\treturn 1;"),
]


def build_and_run(source, tmp):
    exe = Path(tmp) / "test_engine"
    cc = subprocess.run([CC, "-std=gnu11", "-D_GNU_SOURCE", "-w", "-I", str(ROOT / "lib"),
                         "-I", str(ROOT / "tests" / "c"), "-o", str(exe), str(TEST), str(source)],
                        capture_output=True, text=True)
    if cc.returncode != 0:
        return "does not build: " + cc.stderr.strip().splitlines()[-1]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    return "killed" if run.returncode != 0 else "SURVIVED"


def main():
    original = ENGINE.read_text()
    survivors = []
    with tempfile.TemporaryDirectory() as tmp:
        if build_and_run(ENGINE, tmp) != "SURVIVED":
            sys.exit("mutants: the engine's tests fail without any mutation")
        for rule, old, new in MUTANTS:
            if original.count(old) != 1:
                sys.exit(f"mutants: {old!r} is not in lib/engine.c exactly once ({rule})")
            mutant = Path(tmp) / "engine.c"
            mutant.write_text(original.replace(old, new))
            verdict = build_and_run(mutant, tmp)
            print(f"{verdict:10} {rule}")
            if verdict == "SURVIVED":
                survivors.append(rule)
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants killed")
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
