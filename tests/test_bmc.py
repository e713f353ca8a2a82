"""Bounded model checking with z3 against breadth-first search (issue 3, part 2).

For a spec, z3 unrolls the transition relation derived from the step definitions
(model/symbolic.py) and reports, for each property, the first depth at which it can
be false.  BFS finds shortest traces, so the two must agree exactly: the same violated
properties at the same depth, and nothing BFS proved to hold.  The z3 witness is
replayed by the explicit model, edge by edge (checker/agree.py, which `check agree
--bmc-seconds` runs on every spec).  BMC costs seconds per depth, so CI runs it on
small specs; see README "The z3 engine".
"""

from __future__ import annotations

import pytest
from conftest import ROOT

import model
from checker.agree import Encoded, bmc_against_bfs
from checker.explore import explore
from model.symbolic import Fragments

# (spec, depth to unroll): mut-no-ext-destroy to its whole state graph (depth 17,
# where no_leak is violated), mut-no-clone-guard to the depth of no_shared_storage
CASES = [("mut-no-ext-destroy", None, {"no_leak": 17}),
         ("mut-no-clone-guard", 11, {"no_shared_storage": 11})]


@pytest.mark.parametrize("name,depth,found", CASES, ids=[c[0] for c in CASES])
def test_bmc_matches_bfs(name, depth, found):
    m = model.build(model.load(str(ROOT / "specs" / f"{name}.toml")))
    enc = Encoded(m)
    ex = explore(m, enc.props, 1_000_000)
    assert ex.complete
    r = bmc_against_bfs(m, Fragments(m), ex, enc, seconds=None, max_depth=depth)
    assert r["disagreement"] == ""
    assert r["z3"] == found  # the case must exercise a violation
    assert sorted(r["replayed"]) == sorted(found)
    if depth is None:
        assert r["depth"] == r["diameter"] == 17  # complete: the other properties hold
