"""Helpers the scio tests share: where the build and the programs are,
markers for what a sanitizer build cannot run, how to read the C test
programs' key=value output."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("SCIO_BUILD", ROOT / "build"))
TESTBIN = BUILD / "tests"
SCIO_RUN = str(ROOT / "scripts" / "scio-run")
TELAR = str(BUILD / "telar")
PY = "/usr/bin/python3"  # the system python, whatever runs pytest
PORT = "7000"  # the lab's greeting server (netlab.DEFAULT_PORT), for argv

# A sanitizer build of the shim needs the sanitizer runtime preloaded into
# the host program.  Some programs fail with it even without scio: dash and
# bash crash with TSan's, curl hangs with ASan's and TSan's.  They are
# exercised by the plain build only.
SAN = os.environ.get("SCIO_SAN", "")
TSAN = "thread" in SAN
not_under_tsan = pytest.mark.skipif(
    TSAN, reason="this program fails with the TSan runtime preloaded, scio or not")
not_under_san = pytest.mark.skipif(
    bool(SAN), reason="this program hangs with a sanitizer runtime preloaded, scio or not")


def prog(name):
    """Absolute path of a C test program; builds it when missing."""
    path = TESTBIN / name
    if not path.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={BUILD}",
                        str(path)], check=True)
    return str(path)


def parse_records(text):
    """Lines of 'kind key=value ...' into a list of (kind, dict).  A value
    runs to the next ' key=' or, for line=, to the end of the line."""
    records = []
    for raw in text.splitlines():
        kind, _, rest = raw.partition(" ")
        fields = {}
        if "line=" in rest:
            rest, _, line = rest.partition("line=")
            fields["line"] = line
        for part in rest.split():
            key, eq, value = part.partition("=")
            if eq:
                fields[key] = value
            else:
                fields.setdefault("words", []).append(part)
        records.append((kind, fields))
    return records


class RaceOutput:
    """race_client's report: .attempts (list of dicts), .result (dict)."""

    def __init__(self, res):
        self.res = res
        recs = parse_records(res.stdout)
        self.attempts = [f for k, f in recs if k == "attempt"]
        results = [f for k, f in recs if k == "result"]
        self.result = results[-1] if results else {}
        self.ok = bool(self.result.get("words") == ["ok"])

    @property
    def family(self):
        return int(self.result["family"])

    def __repr__(self):
        return f"RaceOutput({self.res})"


TSAN_OPTIONS = ("exitcode=66:report_signal_unsafe=0:suppressions="
                + str(ROOT / "tests" / "tsan.supp"))
if "thread" in SAN:
    # for the instrumented C test programs too
    os.environ.setdefault("TSAN_OPTIONS", TSAN_OPTIONS)

# Timing bounds stretch under TSan, which slows every thread down.
SLACK = 2.0 if "thread" in SAN else 1.0


def _runtime(name):
    out = subprocess.run(["gcc", f"-print-file-name={name}"],
                         capture_output=True, text=True).stdout.strip()
    return out if out.startswith("/") else None


def san_env():
    """Variables that let an uninstrumented program (python3, bash, nc...)
    load a sanitizer build of the shim: the sanitizer runtime goes into
    LD_PRELOAD (scio-run keeps it, after the shim), and reports make the
    program exit 66."""
    if not SAN:
        return {}
    runtimes = []
    if "address" in SAN:
        runtimes.append(_runtime("libasan.so"))
    elif "undefined" in SAN:
        runtimes.append(_runtime("libubsan.so"))
    if "thread" in SAN:
        runtimes.append(_runtime("libtsan.so"))
    return {
        "LD_PRELOAD": ":".join(r for r in runtimes if r),
        "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0:exitcode=66",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=66",
        "TSAN_OPTIONS": TSAN_OPTIONS,
    }


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer",
                   "runtime error:", "ERROR: LeakSanitizer")


def assert_no_sanitizer_report(res):
    for mark in SANITIZER_MARKS:
        assert mark not in (res.stderr or ""), res


# scio-run's flags, for runs that cannot go through the script
_FLAG_ENV = {"-v": ("SCIO_LOG", "info"), "-q": ("SCIO_LOG", "off"),
             "-4": ("SCIO_PREFER", "ipv4"), "-6": ("SCIO_PREFER", "ipv6")}


def run_scio(lab, argv, shim=True, timeout=20, **env):
    """Runs argv in the lab's client namespace, through scio-run when shim
    is true.  Under TSan scio-run itself (a sh script) cannot start with
    the runtime preloaded: the runtime and the shim are then preloaded
    directly, and scio-run's flags become their variables."""
    argv = list(argv)
    env = {k: str(v) for k, v in env.items()}
    if shim and TSAN:
        while argv and argv[0] in _FLAG_ENV:
            env.setdefault(*_FLAG_ENV[argv.pop(0)])
    full = {**san_env(), **env}
    if shim and TSAN:
        full["LD_PRELOAD"] += ":" + str(BUILD / "libscio-preload.so")
    elif shim:
        argv = [SCIO_RUN, *argv]
    res = lab.run(argv, timeout=timeout, env=full)
    assert_no_sanitizer_report(res)
    return res
