#!/usr/bin/env python3
"""Connect to several addresses at once and report, as JSON, what happened.

    netlab_probe.py [--timeout S] ADDR[,PORT] ...

Each target gets its own thread: connect with the timeout, then read one
line.  Prints a JSON list, one object per target in argument order:

    {"addr": ..., "port": ..., "ok": bool, "line": str|null,
     "errno": "ECONNREFUSED"|null, "timeout": bool, "error": str|null,
     "elapsed": seconds for the connect alone}

Run inside the lab's client namespace (stdlib only).
"""

import argparse
import errno
import json
import socket
import sys
import threading
import time


def probe(addr, port, timeout):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    res = {"addr": addr, "port": port, "ok": False, "line": None,
           "errno": None, "timeout": False, "error": None, "elapsed": None}
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        t0 = time.monotonic()
        try:
            s.connect((addr, port))
        except socket.timeout:
            res["timeout"] = True
            res["error"] = "connect timed out"
        except OSError as e:
            res["errno"] = errno.errorcode.get(e.errno, str(e.errno))
            res["error"] = str(e)
        res["elapsed"] = time.monotonic() - t0
        if res["error"]:
            return res
        res["ok"] = True
        try:
            line = s.makefile("rb").readline()
            res["line"] = line.decode(errors="replace")
        except OSError as e:
            res["error"] = f"reading greeting: {e}"
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--port", type=int, default=7000)
    ap.add_argument("targets", nargs="+", metavar="ADDR[,PORT]")
    args = ap.parse_args(argv)

    results = [None] * len(args.targets)

    def run(i, target):
        addr, _, port = target.partition(",")
        results[i] = probe(addr, int(port) if port else args.port, args.timeout)

    threads = [threading.Thread(target=run, args=(i, t))
               for i, t in enumerate(args.targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
