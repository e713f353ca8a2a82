"""State-space reductions never change a verdict.

Three reductions are used by default: lazy RCU (no grace-period steps; an access to
memory whose free may have completed counts as use after free), chaining local
steps (register-only steps run in the transition before them), and, where one context
uses each skb, the kfuncs' reads of the skb's own fields in one step with the read
through skb->extensions after them (model/bpf_skb_storage.py).  Every shipped spec is
checked with all three off as well, and the verdicts must be identical."""

import pytest
from conftest import SPECS

import invariants
import model
from checker.explore import explore


def _run(path, **kw):
    spec = model.load(path)
    m = model.build(spec, **kw)
    ex = explore(m, invariants.properties_for(m), 2_000_000)
    assert ex.complete
    return ex


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_reductions_keep_verdicts(path):
    fast = _run(path)
    slow = _run(path, lazy_rcu=False, chain_local=False, one_context_per_skb=False)
    assert fast.verdicts == slow.verdicts
    assert len(fast.states) <= len(slow.states)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_fast_view_equals_generic_view(path):
    """The inlined concrete proxies (kernel.py _FastObj) explore exactly the graph the
    generic view code (shared with the symbolic engine) explores."""
    a = _run(path)
    b = _run(path, fast=False)
    assert (len(a.states), a.transitions) == (len(b.states), b.transitions)
    assert a.states == b.states
