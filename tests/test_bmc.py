"""Bounded model checking with z3 against breadth-first search (issue 3, part 2).

For a spec, z3 unrolls the transition relation derived from the step definitions
(model/symbolic.py) and reports, for each property, the first depth at which it can
be false.  BFS finds shortest traces, so the two must agree exactly: the same violated
properties at the same depth, and nothing BFS proved to hold.  The z3 witness is
replayed by the explicit model, edge by edge.  (BMC costs seconds per depth here, so
CI runs it on small specs; see README "Proofs and the z3 engine".)
"""

from __future__ import annotations

import pytest
from conftest import ROOT

import invariants
import model
from checker.bmc import bmc
from checker.explore import explore
from model.expr import Z3
from model.symbolic import Fragments

CASES = [("mut-no-ext-destroy", 17), ("mut-no-clone-guard", 11)]


@pytest.mark.parametrize("name,depth", CASES, ids=[c[0] for c in CASES])
def test_bmc_matches_bfs(name, depth):
    m = model.build(model.load(str(ROOT / "specs" / f"{name}.toml")))
    props = invariants.properties_for(m)
    ex = explore(m, props, 1_000_000)
    assert ex.complete
    bfs = {k: len(ex.path(v)) for k, v in ex.violations.items() if k != "no_deadlock"}
    F = Fragments(m)
    branches = [(p.guard, p.writes) for p in F.reachable_paths(m.initial_states())]
    res = bmc(F.pre, m.initial_states(), branches, invariants.z3_encodings(m, F.pre),
              final=m.final_expr(Z3, F.pre), final_props=("no_leak",), max_depth=depth)
    assert res.violations == {k: d for k, d in bfs.items() if d <= depth}
    assert res.violations, "the case must exercise a violation"
    for prop, trace in res.traces.items():
        assert len(trace) == res.violations[prop] + 1
        assert trace[0] in m.initial_states()
        for a, b in zip(trace, trace[1:], strict=False):
            assert b in {s for _, s in m.successors(a)}, f"{prop}: z3 step not replayable"
        last = trace[-1]
        assert not next(p for p in props if p.name == prop).check(last)
        if prop == "no_leak":
            assert m.is_final(last)
