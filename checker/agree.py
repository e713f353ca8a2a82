"""`check agree`: the explicit checker and the z3 engine checked against each other.

The z3 transition relation and property formulas are derived from the same step code
and predicates the explicit checker runs (model/symbolic.py, invariants), so a
disagreement is a bug in one of the two engines, never a verdict.  For one spec:

1. **relation**: on every state of the state graph ``check run`` explores, the
   successors the z3 relation gives (its guards and updates evaluated on the state)
   equal the explicit successors: every explored edge satisfies T, and T allows no
   edge the explicit checker lacks;
2. **properties**: every property's z3 formula holds on every explored state exactly
   when the explicit predicate does (a compiled form of the formula on every state,
   z3's own evaluation by substitution on a sample);
3. **bounded model checking** (optional): z3 unrolls T from the initial states and
   must find the same violated properties at the same shortest depth as breadth-first
   search, nothing BFS found to hold, and witnesses the explicit model replays edge by
   edge.  Unrolled to the state graph's depth (its deepest state), "no violation" from
   z3 covers every reachable state, so both engines then decide every property.

Generic in what it compares: it needs the model's ``successors``/``initial_states``/
``final_expr``, the symbolic :class:`Fragments` and the properties with their z3
encodings.
"""

from __future__ import annotations

import sys
import time

import z3

import invariants
import model
from model.expr import Z3
from model.kernel import ModelError
from model.symbolic import Fragments, compile_expr, pre_state

from .bmc import bmc
from .explore import explore

# z3 evaluates each property by substitution on this many states per spec (spread over
# the state list); the compiled form of the same formula runs on every state
Z3_SAMPLE = 8


class Encoded:
    """The properties of ``m`` as z3 formulas over a pre-state, compiled to Python."""

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
        if not (z3.is_true(val) or z3.is_false(val)):
            raise ValueError(f"{name}: z3 did not reduce the formula to a constant")
        return z3.is_true(val)


def edges(pairs) -> list:
    """(kind, cpu, op, step codes) and the post-state; notes are prose for humans."""
    return sorted((label[:4], s) for label, s in pairs)


def explicit_edges(m, s):
    """The explicit successors, or None outside the model's domain (a perturbed state
    the model refuses, which the symbolic paths skip too)."""
    try:
        return edges(m.successors(s))
    except (ModelError, ValueError):  # ValueError: a byte out of 0..255
        return None


def _edge_text(m, e) -> str:
    (kind, t, gid, codes), _ = e
    lp = m.label_parts((kind, t, gid, codes, ()))
    return f"{lp['thread']}: {lp['op']}: {' ; '.join(lp['shorts'])}"


def relation_disagreement(m, F: Fragments, sid: int, s: bytes, want=None) -> str:
    """'' when the z3 relation and the explicit model give ``s`` the same successors
    (``want``: the explicit ones, if already computed), else the edges only one engine
    has."""
    want = edges(m.successors(s)) if want is None else want
    got = edges(F.successors(s))
    if want == got:
        return ""
    only_x = [e for e in want if e not in got]
    only_z = [e for e in got if e not in want]
    parts = [f"state {sid}"]
    parts += [f"explicit only: {_edge_text(m, e)}" for e in only_x[:2]]
    parts += [f"z3 only: {_edge_text(m, e)}" for e in only_z[:2]]
    return "; ".join(parts)


def property_disagreement(enc: Encoded, states) -> str:
    """'' when every property's formula (compiled: on every state; z3's own evaluation:
    on ``Z3_SAMPLE`` of them) agrees with the explicit predicate, else the first
    property and state where it does not."""
    step = max(1, len(states) // Z3_SAMPLE)
    for sid, s in enumerate(states):
        for p in enc.props:
            want = bool(p.check(s))
            if bool(enc.fns[p.name](s)) != want or (
                    sid % step == 0 and enc.z3_value(p.name, s) != want):
                return f"{p.name} on state {sid}: explicit says {want}"
    return ""


def agree_spec(path: str, *, bmc_seconds: float = 0.0, progress: bool = False) -> dict:
    """Compare the engines on one spec; ``bmc_seconds`` > 0 also runs BMC with that
    budget (0: no BMC).  The result is a plain dict (JSON-ready)."""
    t0 = time.monotonic()
    spec = model.load(path)
    m = model.build(spec)
    enc = Encoded(m)
    ex = explore(m, enc.props + [p for p in invariants.properties_for(m)
                                 if p.check is None], spec.max_states)
    F = Fragments(m)
    res: dict = {"file": path, "name": spec.name, "states": len(ex.states),
                 "complete": ex.complete, "edges": 0, "control_points": 0,
                 "relation": "", "properties": "", "bmc": None}
    say = _Say(spec.name, progress)

    bad_rel = ""
    for sid, s in enumerate(ex.states):
        want = edges(m.successors(s))
        res["edges"] += len(want)
        bad_rel = bad_rel or relation_disagreement(m, F, sid, s, want)
        if progress and sid % 2000 == 0:
            say(f"relation: state {sid}/{len(ex.states)}")
    res["control_points"] = F.control_points_built()
    res["relation"] = bad_rel
    res["relation_seconds"] = round(time.monotonic() - t0, 2)

    bad_prop = res["properties"] = property_disagreement(enc, ex.states)

    if bmc_seconds > 0 and not ex.complete:
        res["bmc"] = {"skipped": "the state graph is incomplete (bounds.max_states)",
                      "disagreement": ""}
    elif bmc_seconds > 0:
        res["bmc"] = bmc_against_bfs(m, F, ex, enc, bmc_seconds, say if progress else None)
    res["seconds"] = round(time.monotonic() - t0, 2)
    res["agree"] = not (bad_rel or bad_prop or (res["bmc"] or {}).get("disagreement"))
    return res


def bmc_against_bfs(m, F: Fragments, ex, enc: Encoded, seconds: float | None, say=None,
                    max_depth: int | None = None) -> dict:
    """BMC up to the state graph's depth (or ``max_depth``), within ``seconds``;
    compared with BFS (``ex``, complete)."""
    depth = [0] * len(ex.states)
    for sid in range(len(ex.states)):
        par = ex.parent[sid]
        depth[sid] = 0 if par < 0 else depth[par] + 1
    diameter = max(depth)
    bfs = {k: depth[v] for k, v in ex.violations.items() if k in enc.enc}
    branches = [(p.guard, p.writes) for p in F.reachable_paths(m.initial_states())]

    def tick(d, found):
        if say:
            say(f"bmc: depth {d}/{diameter}, violated: {', '.join(found) or '-'}")

    r = bmc(F.pre, m.initial_states(), branches, enc.enc, final=m.final_expr(Z3, F.pre),
            final_props=("no_leak",), progress=tick, seconds=seconds,
            max_depth=diameter if max_depth is None else min(max_depth, diameter))
    out = {"diameter": diameter, "depth": r.depth_reached, "stopped": r.stopped,
           "bfs": bfs, "z3": dict(r.violations), "seconds": round(r.seconds, 2),
           "disagreement": "", "replayed": []}
    expect = {k: d for k, d in bfs.items() if d <= r.depth_reached}
    if r.violations != expect:
        out["disagreement"] = f"BFS {expect} but z3 {r.violations} up to depth " \
                              f"{r.depth_reached}"
        return out
    finals = {p.name for p in enc.props if p.kind == "final"}
    for prop, trace in r.traces.items():
        why = _replay(m, enc, prop, trace, prop in finals)
        if why:
            out["disagreement"] = f"{prop}: the z3 witness {why}"
            break
        out["replayed"].append(prop)
    return out


def _replay(m, enc: Encoded, prop: str, trace: list[bytes], final: bool) -> str:
    """'' when the explicit model replays ``trace`` and ends in a violation of ``prop``."""
    if trace[0] not in m.initial_states():
        return "does not start in an initial state"
    for i, (a, b) in enumerate(zip(trace, trace[1:], strict=False)):
        if b not in {t for _, t in m.successors(a)}:
            return f"has a step ({i} -> {i + 1}) the explicit model does not take"
    last = trace[-1]
    p = next(p for p in enc.props if p.name == prop)
    if p.check(last) or (final and not m.is_final(last)):
        return "ends in a state where the explicit predicate holds"
    return ""


class _Say:
    def __init__(self, name, on):
        self.name, self.on, self.last = name, on, 0.0

    def __call__(self, text):
        now = time.monotonic()
        if self.on and now - self.last >= 1.0:
            self.last = now
            sys.stderr.write(f"  {self.name}: {text}\n")
            sys.stderr.flush()


def row(r: dict) -> list[str]:
    """A table row: spec, states, edges, control points, relation, properties, BMC."""
    b = r["bmc"]
    if b is None:
        bm = "-"
    elif "skipped" in b:
        bm = "skipped: graph incomplete"
    elif b["disagreement"]:
        bm = "DISAGREE"
    else:
        v = ", ".join(f"{k} {d}" for k, d in sorted(b["z3"].items(), key=lambda x: x[1]))
        reach = f"{b['depth']}/{b['diameter']}"
        bm = f"{reach} {v or 'none'}" + ("" if b["depth"] == b["diameter"] else " (budget)")
    return [r["name"], str(r["states"]), str(r["edges"]), str(r["control_points"]),
            "DISAGREE" if r["relation"] else "same", "DISAGREE" if r["properties"] else "same",
            bm, f"{r['seconds']:.0f}"]


HEAD = ["spec", "states", "edges", "ctl", "relation", "props", "bmc depth/diameter: found",
        "secs"]
