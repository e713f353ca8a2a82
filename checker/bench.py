"""`check bench`: per spec, states, transitions, seconds, states/s and peak memory.

Each spec is checked in a forked child so that its peak RSS is its own (the figure
includes the interpreter and the loaded model, about the "baseline" row).  Timing is
measured here, never asserted in tests.  `--record FILE` appends one JSON line
(date, git commit, figures) so that speed can be tracked over time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import runner


def _child(path: str | None, w: int):
    try:
        if path is None:
            out = {"states": 0, "transitions": 0, "seconds": 0.0}
        else:
            r = runner.check_spec(path, progress=False, traces=False)
            out = {k: r[k] for k in ("states", "transitions", "seconds", "complete")}
    except Exception as e:  # reported by the parent as this spec's error
        out = {"error": f"{type(e).__name__}: {e}"}
    try:
        os.write(w, json.dumps(out).encode())
    finally:
        os._exit(0)


def measure(path: str | None) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(path, w)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    out = json.loads(data) if data else {"error": f"child exited with status {status}"}
    out["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return out


def main(args) -> int:
    from .cli import _validate, spec_paths, writable

    files = spec_paths(args.paths)
    if getattr(args, "record", None):
        writable(args.record, "--record", is_dir=False)
    _validate(files)  # a bad spec is the usual one-line error (exit 2), not a row of zeros
    rows = [("baseline (interpreter + model)", measure(None))]
    for f in files:
        rows.append((Path(f).stem, measure(f)))
        if not args.json:
            print(f"  measured {Path(f).stem}", file=sys.stderr)
    total_states = sum(r.get("states", 0) for _, r in rows)
    total_secs = sum(r.get("seconds", 0.0) for _, r in rows)
    if args.json:
        print(json.dumps({name: r for name, r in rows}, indent=1))
    else:
        head = f"{'spec':36} {'states':>9} {'transitions':>12} {'seconds':>8} {'states/s':>9} " \
               f"{'peak MB':>8}"
        print(head)
        print("-" * len(head))
        for name, r in rows:
            rate = r["states"] / r["seconds"] if r.get("seconds") else 0
            print(f"{name[:36]:36} {r.get('states', 0):>9} {r.get('transitions', 0):>12} "
                  f"{r.get('seconds', 0):>8.2f} {rate:>9.0f} {r['peak_rss_mb']:>8.1f}")
        print("-" * len(head))
        rate = total_states / total_secs if total_secs else 0
        print(f"{'total':36} {total_states:>9} {'':>12} {total_secs:>8.2f} {rate:>9.0f}")
    failed = [(name, r["error"]) for name, r in rows if "error" in r]
    for name, err in failed:
        print(f"check: bench: {name}: {err}", file=sys.stderr)
    if getattr(args, "record", None):
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = ""
        line = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": commit,
                "specs": {name: r for name, r in rows}}
        with open(args.record, "a") as fh:
            fh.write(json.dumps(line) + "\n")
    return 1 if failed else 0
