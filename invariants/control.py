"""Control lemmas: what the step code itself says about a CPU's registers at each of
its control values, found by constant propagation over the z3 relation.

A CPU's control value is its pc, call stack, op index and op kind (the registers
``Fragments`` keys paths by), here refined by its RCU read-side depth.  Starting from
the initial states, every path of CPU 1 from a control value carries each register's
known constant to the control value it leads to: a byte the path does not write keeps
its value, and a byte it writes takes the write's value when that simplifies to a
constant once the known constants are substituted.  Where two paths meet, only the
constants they agree on stay.  (A register a path leaves alone whose value its
guard's enabling condition fixes adds nothing: until 2026-12-05 a solver was asked
about each one, 6.5 of the 7.4 s this took at 4/2/3, and it found no constant the
rest missed; tests/test_prove.py keeps asking at 1/1/1.)  The result, per control
value, is a set of ``register == constant`` facts; the lemma ``ctl:<control value>``
says that every CPU at that control value has those registers at those values, and
``ctl:known`` that every CPU is at one of the control values found.

The propagation follows CPU 1's own steps only: another CPU's step may write this
CPU's registers too (rcu_read_unlock() clears the leaving CPU's bit in every CPU's
``sync``), and that is not looked at here.  So nothing here is assumed: each lemma is a
Houdini candidate like any other (checker/induction.py) and is kept only if it is
inductive.  What the family buys is the facts a kernel
reader takes for granted and the catalogue never spelt out: ``x_new`` is 0 outside
skb_ext_add's copy on write, a CPU between ops outside a program run has no packet
(``own``), a CPU in bpf_skb_storage_free holds one more RCU read-side level.  Without
them the counterexamples to induction were register states no run produces.  They are
used with ``check prove --control-lemmas`` only (with ``Lemmas.registers``), so that
the default induction stays the one measured in PROOF_LOG.md ("What is not proved").
"""

from __future__ import annotations

from collections import deque

import z3

from model.expr import Substitution
from model.kernel import PC_IDLE, PC_OP_DONE, STEPS
from model.openworld import KIND_NAME
from model.symbolic import CTL_REGS, Fragments

PARTITION = ("rcu",)  # registers whose value splits a control value
NAMES = (*CTL_REGS, *PARTITION)
UNKNOWN = None


def control_constants(F: Fragments, t: int, initial: list[bytes],
                      pinned=None) -> dict[tuple, dict]:
    """Control value (CTL_REGS + PARTITION values) -> {register: constant or UNKNOWN},
    over the fragments of CPU ``t`` built so far (``Fragments.control_closure``).
    ``pinned(F, path, guard, ridx, known)``, if given, names registers the path leaves
    alone whose value its guard fixes, with the value (the test that nothing is
    missed without it asks a solver)."""
    th = F.layout.thread
    ctl = F.ctl_idx[t]
    regs = [f for f in th.fields if f not in CTL_REGS]
    ridx = {f: th.idx(t, f) for f in regs}
    frags = F.built(t)
    facts: dict[tuple, dict] = {}

    def join(key, vals) -> bool:
        old = facts.get(key)
        new = vals if old is None else {f: old[f] if old[f] == vals[f] else UNKNOWN
                                        for f in regs}
        if new == old:
            return False
        facts[key] = new
        return True

    for s in initial:
        join(tuple(s[i] for i in ctl) + tuple(s[ridx[f]] for f in PARTITION),
             {f: s[ridx[f]] for f in regs})
    todo = deque(facts)
    while todo:
        key = todo.popleft()
        cur = facts[key]
        sub = Substitution([(F.pre[ridx[f]], z3.BitVecVal(v, 8)) for f, v in cur.items()
                            if v is not UNKNOWN])
        for p in frags.get(key[:len(ctl)], ()):
            guard = z3.simplify(sub(p.guard)) if sub.n else p.guard
            if z3.is_false(guard):
                continue
            fixed = pinned(F, p, guard, ridx, cur) if pinned else {}
            out = {}
            for f in regs:
                w = p.writes.get(ridx[f])
                if w is None:
                    out[f] = fixed.get(f, cur[f])
                elif z3.is_bv_value(w):
                    out[f] = w.as_long()
                else:
                    w = z3.simplify(sub(w))
                    out[f] = w.as_long() if z3.is_bv_value(w) else UNKNOWN
            part = tuple(out[f] for f in PARTITION)
            if UNKNOWN in part:
                raise ValueError(f"{PARTITION} not constant after {p.label}")
            nxt = tuple(v if (w := p.writes.get(i)) is None else w.as_long()
                        for i, v in zip(ctl, key, strict=False)) + part
            if join(nxt, out) and nxt not in todo:
                todo.append(nxt)
    return facts


def control_name(key: tuple) -> str:
    """``ctl:`` + the step (and its callers), the op kind, the RCU depth, e.g.
    ``ctl:skb_ext_put<skb_ext_cow<get_looked_up/get/rcu1``."""
    c = dict(zip(NAMES, key, strict=True))
    stack = [c[f"stk{i}"] for i in range(c["sp"])]
    where = ("idle" if c["pc"] == PC_IDLE else
             "<".join(STEPS[x].fn.__name__ for x in (c["pc"], *reversed(stack))
                      if x != PC_OP_DONE))
    op = KIND_NAME[c["alt"] - 1] if c["alt"] else "-"
    dead = "/dead" if c["opi"] else ""
    return f"ctl:{where}/{op}/rcu{c['rcu']}{dead}"


def control_lemmas(m, E, facts: dict[tuple, dict], cpus=None) -> dict:
    """The ``ctl:*`` lemmas over backend ``E`` (see the module docstring), about the
    CPUs ``cpus`` (default: all)."""
    th = m.layout.thread
    cpus = range(1, th.n + 1) if cpus is None else cpus

    def at(s, t, key):
        return E.And(*(s[th.idx(t, r)] == v for r, v in zip(NAMES, key, strict=True)))

    out = {}
    for key, vals in sorted(facts.items()):
        known = {f: v for f, v in vals.items() if v is not UNKNOWN and f not in PARTITION}
        if known:
            out[control_name(key)] = (lambda s, key=key, known=known: E.And(*(
                E.Implies(at(s, t, key), lambda t=t: E.And(
                    *(s[th.idx(t, f)] == v for f, v in known.items())))
                for t in cpus)))
    keys = sorted(facts)
    out["ctl:known"] = lambda s: E.And(*(E.Or(*(at(s, t, k) for k in keys)) for t in cpus))
    return out
