"""The shortest trace of every violation the shipped specs report, pinned.

A spec that expects a property violated cannot tell its known bug from a new one of the
same property: the verdict stays "violated".  The trace can tell: breadth-first search
gives the shortest one, so a new, shorter path to the violation changes its length, its
last step or its "why".  violations.golden.json records, per spec and violated
property, those three as they were when the traces were read.

When this test fails, read the new trace (`check run SPEC`), decide whether the kernel
really does that, and only then record it, with the project's Python (the venv's):
`python tests/test_violation_traces.py --update` (it names the specs whose entries
changed).  A step's text is part of "last" and of no_deadlock's "why", so rewording a
step label in model/ changes many entries at once: check that only the text moved.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from checker.runner import check_spec

GOLDEN = Path(__file__).with_name("violations.golden.json")


def signatures(path: Path) -> dict:
    """{property: {"steps", "last", "why"}} of every violated property of the spec."""
    res = check_spec(str(path), progress=False)
    assert res["complete"], path.name
    out = {}
    for name, e in sorted(res["properties"].items()):
        if e["verdict"] == "violated":
            last = e["trace"][-1]
            out[name] = {"steps": len(e["trace"]),
                         "last": f"{last['thread']}: {last['op']}: {last['function']}",
                         "why": e["why"]}
    return out


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


UPDATE = "`python tests/test_violation_traces.py --update`"


def test_the_golden_file_names_every_shipped_spec():
    have, want = set(_golden()), {p.stem for p in SPECS}
    assert not want - have, (f"not in {GOLDEN.name}: {sorted(want - have)}; read their "
                             f"traces (check run), then {UPDATE}")
    assert not have - want, f"in {GOLDEN.name} but not in specs/: {sorted(have - want)}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_shortest_violation_traces_are_the_ones_read(path):
    golden = _golden()
    if path.stem not in golden:
        pytest.fail(f"{path.stem} is not in {GOLDEN.name}: read its traces (check run), "
                    f"then {UPDATE}")
    got = signatures(path)
    assert got == golden[path.stem], (f"{path.stem}: the shortest traces changed; read "
                                      f"them (check run) before {UPDATE}")


# the shipped specs, without mutations, that expect no_use_after_free violated and
# keep all their verdicts when mutation no-rcu-defer is added (measured 2026-12-06:
# of the 11 such specs only the two tp-net-dev-xmit-vs-redirect-peer ones keep their
# use after free's trace too)
MASKING = ["cow-copy-outlives-map-free-refcnt-guard", "cow-keeps-storage-after-ext-del",
           "cow-keeps-storage-delete-vs-free-refcnt-guard",
           "cow-keeps-storage-refcnt-guard", "cow-two-destroys-vs-map-free-refcnt-guard",
           "ext-del-recreate-orphans-storage", "free-vs-map-free-lock-failure",
           "map-free-warn-restart", "three-cpus-lock-failure-refcnt-guard"]


@pytest.mark.parametrize("name", MASKING)
def test_a_bug_the_verdicts_mask_changes_a_signature(tmp_path, name):
    """Removing RCU's deferral of frees (mutation no-rcu-defer) in a spec that already
    expects no_use_after_free violated leaves every verdict as it was, so `check all`
    passes; the shortest use after free is another one, so the signature changes."""
    src = (ROOT / "specs" / f"{name}.toml").read_text()
    assert "mutations" not in src
    p = tmp_path / f"{name}.toml"
    p.write_text(src.replace("[spec]\n", '[spec]\nmutations = ["no-rcu-defer"]\n', 1))
    want, got = _golden()[name], signatures(p)
    assert sorted(got) == sorted(want) and "no_use_after_free" in got
    assert got["no_use_after_free"] != want["no_use_after_free"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_violation_traces.py --update")
    old = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    table = {p.stem: signatures(p) for p in SPECS}
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    changed = sorted(n for n in set(old) | set(table) if old.get(n) != table.get(n))
    print(f"{GOLDEN}: {len(table)} specs, "
          f"{sum(len(v) for v in table.values())} violations; changed: "
          f"{', '.join(changed) or 'none'}")
