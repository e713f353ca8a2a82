"""Bounded model checking with z3 (issue 3, part 2), generic like the explorer.

The system is given symbolically: a list of pre-state variables (one 8-bit z3 term per
state byte), the initial states, and the transition relation as *branches*, each a
guard and parallel assignments over the pre-state (T(s, s') holds iff some branch's
guard holds on s and s' is s with its writes applied).  Properties are z3 formulas over
the pre-state; ``final`` properties are checked only where ``final`` holds.

``bmc`` unrolls T step by step; at each depth it asks z3 whether some property can be
false there, so the first depth at which a property is reported is its shortest
violation, as breadth-first search would find it.  The witness comes back as concrete
states, to be replayed by the explicit model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import z3

from model.expr import Substitution


@dataclass
class BmcResult:
    depth_reached: int
    violations: dict[str, int] = field(default_factory=dict)  # property -> depth
    traces: dict[str, list[bytes]] = field(default_factory=dict)  # property -> states
    seconds: float = 0.0
    stopped: str = ""  # why the unrolling ended before max_depth (a budget), if it did


def _state(prefix: str, n: int, width: int = 8):
    return [z3.BitVec(f"{prefix}_{j}", width) for j in range(n)]


def step_template(pre, post, branches):
    """T(pre, post) with one selector per branch: exactly one branch is taken, its
    guard holds, and each byte of ``post`` is written by the taken branch or kept."""
    sel = [z3.Bool(f"sel_{i}") for i in range(len(branches))]
    parts = [z3.Or(*sel), z3.PbLe([(b, 1) for b in sel], 1)]
    parts += [z3.Implies(sel[i], guard) for i, (guard, _) in enumerate(branches)]
    for j, keep in enumerate(pre):
        val = keep
        for i, (_, writes) in enumerate(branches):
            w = writes.get(j)
            if w is not None:
                val = z3.If(sel[i], w, val)
        parts.append(post[j] == val)
    return z3.And(*parts), sel


def bmc(pre, initial: list[bytes], branches, props: dict[str, object],
        final=None, final_props=(), max_depth: int = 40, progress=None,
        seconds: float | None = None) -> BmcResult:
    """Shortest violation depth of each property up to ``max_depth`` steps, or up to
    the last depth z3 answered for within ``seconds`` (then ``stopped`` says so, and
    ``depth_reached`` is the last depth fully checked)."""
    t0 = time.time()
    n = len(pre)
    solver = z3.Solver()
    res = BmcResult(0)
    states = [_state("s0", n)]
    solver.add(z3.Or(*[z3.And(*[v == b for v, b in zip(states[0], s, strict=True)])
                       for s in initial]))
    pending = dict(props)
    post = _state("post", n)
    template, sel = step_template(pre, post, branches)

    def check():
        if seconds is not None:
            left = seconds - (time.time() - t0)
            if left <= 0:
                return z3.unknown
            solver.set("timeout", max(1, int(left * 1000)))
        return solver.check()

    res.depth_reached = -1
    for depth in range(max_depth + 1):
        cur = states[-1]
        pairs = list(zip(pre, cur, strict=True))
        at = Substitution(pairs)
        is_final = at(final) if final is not None else None
        bads = {}
        for name in sorted(pending):
            bad = z3.Not(at(pending[name]))
            if name in final_props and is_final is not None:
                bad = z3.And(is_final, bad)
            bads[name] = bad
        solver.push()
        solver.add(z3.Or(*bads.values()))
        some = check()
        solver.pop()
        found, gave_up = {}, some == z3.unknown
        for name, bad in bads.items() if some == z3.sat else ():
            solver.push()
            solver.add(bad)
            r = check()
            if r == z3.sat:
                mdl = solver.model()
                found[name] = [bytes(mdl.eval(v, model_completion=True).as_long()
                                     for v in st) for st in states]
            gave_up = gave_up or r == z3.unknown
            solver.pop()
        if gave_up:  # this depth is not fully answered: report only what came before
            res.stopped = f"no answer at depth {depth} within {seconds:g} s"
            break
        for name, trace in found.items():
            res.violations[name] = depth
            res.traces[name] = trace
        for name in res.violations:
            pending.pop(name, None)
        res.depth_reached = depth
        if progress:
            progress(depth, sorted(res.violations))
        if not pending or depth == max_depth:
            break
        # one more step: the template with this depth's states and selectors
        nxt = _state(f"s{depth + 1}", n)
        sub = pairs + list(zip(post, nxt, strict=True)) + [
            (b, z3.Bool(f"b{depth}_{i}")) for i, b in enumerate(sel)]
        solver.add(Substitution(sub)(template))
        states.append(nxt)
    res.seconds = time.time() - t0
    return res
