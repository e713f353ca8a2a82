"""The two engines check each other (issue 3, part 1).

The z3 side is derived from the same step definitions the explicit checker runs: each
step body is executed symbolically over a pre-state of z3 bytes (model/symbolic.py),
giving the transition relation as a disjunction of guarded parallel assignments cut by
each CPU's control registers; the properties are the same predicates written over the
z3 backend (invariants.z3_encodings).  Here the z3 terms are *evaluated on the concrete
states the explicit checker reached*, and must agree with it exactly:

- for every reached state, the successors the z3 relation gives equal the explicit
  successors (same step codes, same post-state): every explored edge satisfies T, and T
  allows no edge the explicit checker missed;
- every property's z3 encoding holds on a state exactly when the explicit predicate
  does (on every state of every spec);
- hypothesis perturbs reached states (a field set to another in-range value, so states
  no spec reaches) and asks the same two questions.

A disagreement is a bug in one engine.
"""

from __future__ import annotations

import pytest
import z3
from conftest import ROOT, SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import invariants
import model
from checker.explore import explore
from model.kernel import ModelError
from model.symbolic import Fragments, compile_expr, pre_state

# Small specs whose every state is checked against the z3 relation (symbolic execution
# of each CPU's control point costs ~0.1 s; these cover op start/end, clone, COW,
# ext_del, the guard, alloc/update/delete, lock failure and three mutations).
RELATION_SPECS = ["mut-no-ext-destroy", "mut-no-cow-put", "selftest-tc-clone-redirect",
                  "clone-original-freed-last", "mut-no-clone-guard", "delete-lock-failure"]


def _model(name):
    return model.build(model.load(str(ROOT / "specs" / f"{name}.toml")))


def _edges(pairs):
    """(kind, cpu, op, step codes) and the post-state; notes are prose for humans."""
    return sorted((label[:4], s) for label, s in pairs)


def _explicit_successors(m, s):
    try:
        return _edges(m.successors(s))
    except (ModelError, ValueError):  # ValueError: a byte out of 0..255
        return None  # outside the model's domain: the symbolic paths skip these


class _Encoded:
    def __init__(self, m):
        self.m = m
        self.pre = pre_state(m.layout)
        self.index = {str(v): i for i, v in enumerate(self.pre)}
        self.enc = invariants.z3_encodings(m, self.pre)
        self.fns = {k: compile_expr(z3.simplify(f), self.index) for k, f in self.enc.items()}
        self.props = [p for p in invariants.properties_for(m) if p.check is not None]

    def z3_value(self, name, s) -> bool:
        """Ask z3 itself: substitute the state's bytes and simplify to true/false."""
        sub = [(v, z3.BitVecVal(b, 8)) for v, b in zip(self.pre, s, strict=True)]
        val = z3.simplify(z3.substitute(self.enc[name], *sub))
        assert z3.is_true(val) or z3.is_false(val)
        return z3.is_true(val)


@pytest.mark.parametrize("name", RELATION_SPECS)
def test_relation_agrees_on_every_reached_state(name):
    m = _model(name)
    ex = explore(m, [], 1_000_000)
    assert ex.complete
    F = Fragments(m)
    for i, s in enumerate(ex.states):
        want = _edges(m.successors(s))
        assert _edges(F.successors(s)) == want, f"{name}: engines disagree on state {i}"


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_property_encodings_agree_on_every_reached_state(path):
    m = model.build(model.load(str(path)))
    enc = _Encoded(m)
    ex = explore(m, enc.props, 1_000_000)
    step = max(1, len(ex.states) // 8)
    for i, s in enumerate(ex.states):
        for p in enc.props:
            want = bool(p.check(s))
            assert bool(enc.fns[p.name](s)) == want, (path.stem, p.name, i)
            if i % step == 0:  # z3's own evaluation on a sample (it is slower)
                assert enc.z3_value(p.name, s) == want, (path.stem, p.name, i)


def test_property_encodings_are_not_vacuous():
    """Across the suite each state property's encoding is false somewhere (else the
    agreement above could hold for a formula that is constantly true)."""
    false_somewhere = set()
    for name in ["mut-no-rcu-defer", "mut-no-cache-clear", "copy-shares-storage",
                 "clone-original-freed-first", "free-vs-map-free-lock-failure",
                 "mut-no-owner-pin", "mut-no-cache-idx-free", "mut-no-smap-check",
                 "mut-no-nofail-state", "selftest-skb-storage-ops"]:
        m = _model(name)
        enc = _Encoded(m)
        ex = explore(m, enc.props, 1_000_000)
        for s in ex.states:
            false_somewhere |= {k for k, f in enc.fns.items() if not f(s)}
    assert false_somewhere >= {"no_shared_storage", "clone_isolation", "no_use_after_free",
                               "no_double_free", "no_leak", "cache_consistent",
                               "refcount_sane"}


# ---- hypothesis: states no spec reaches ---------------------------------------------

class _Case:
    """A small spec, its reached states, and the perturbable fields (data, not
    control) with the highest value each may take."""

    cache: dict = {}

    @classmethod
    def get(cls, name):
        if name not in cls.cache:
            m = _model(name)
            ex = explore(m, [], 1_000_000)
            L = m.layout
            ranges = {"refcnt": 4, "owner_refcnt": 3, "value": 3, "cloned": 1,
                      "spprev": L.selem.n + 1, "mpprev": L.selem.n + 1,
                      "g_reached": 7, "g_writer": 2,
                      "lock": len(m.threads), "rcu": 2, "state": 3, "active": 3,
                      "present": 3, "cache_idx": L.sizes.cache_slots - 1,
                      "storage": L.storage.n, "first": L.selem.n, "snext": L.selem.n,
                      "local_storage": L.storage.n, "cache0": L.selem.n,
                      "cache1": L.selem.n}
            fields = [(i, ranges[n.rsplit(".", 1)[1]]) for i, n in enumerate(L.names())
                      if "." in n and n.rsplit(".", 1)[1] in ranges]
            cls.cache[name] = (m, ex.states, fields, Fragments(m), _Encoded(m))
        return cls.cache[name]


@st.composite
def perturbed(draw):
    name = draw(st.sampled_from(["selftest-tc-clone-redirect", "mut-no-cow-put",
                                 "clone-original-freed-last"]))
    m, states, fields, F, enc = _Case.get(name)
    s = bytearray(draw(st.sampled_from(states)))
    for _ in range(draw(st.integers(1, 3))):
        i, hi = draw(st.sampled_from(fields))
        s[i] = draw(st.integers(0, hi))
    return name, bytes(s)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=perturbed())
def test_engines_agree_on_perturbed_states(case):
    name, s = case
    m, _, _, F, enc = _Case.get(name)
    for p in enc.props:
        assert bool(enc.fns[p.name](s)) == bool(p.check(s)), (name, p.name)
    want = _explicit_successors(m, s)
    if want is not None:
        assert _edges(F.successors(s)) == want, name
