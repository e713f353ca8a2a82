"""``check prove``: the five properties for every workload of a size (model/openworld.py).

Where the generic engines (explore.py, induction.py) meet the skb model; the result is
a JSON-ready dict in the shape SPEC_FORMAT.md gives for ``check prove --json``.

For each property, in this order:

1. **violated**: breadth-first search of the open world at sub-sizes (a trace in a
   smaller world is a workload of the requested size too: the extra CPUs stay idle,
   the extra packets are never born, the extra maps unused), then in the *focus*
   worlds the caller names (only some op kinds: a subset of the behaviours again,
   so deeper traces come within the budget; model/openworld.py ``Focus``), then, if
   asked, random walks in the world of the requested size (checker/walk.py; a
   violation is shortened by delta debugging).  The trace found is *replayed* step by
   step by the explicit model of the requested size, and the property is checked on
   the replayed state; only then is the verdict ``violated``.
2. **proved**: exhaustive exploration of the open world of the requested size, when it
   completes within the state budget (the state space is finite: pools are not
   reused), or induction (Houdini over the lemmas of invariants/lemmas.py, and with
   ``control_lemmas`` those of invariants/control.py; relation from model/symbolic.py)
   within its time budget.
3. otherwise **unknown**, with the counterexample to induction where one was found.
"""

from __future__ import annotations

import sys
import time

from invariants import Property
from invariants.properties import (
    MEANINGS,
    PROVE_PROPERTIES,
    Props,
    ghost_reads,
    prove_properties,
)
from model.describe import describe
from model.kernel import run_step
from model.openworld import WorldSize
from model.openworld import build as build_world
from model.symmetry import Reduction

from . import trace as tr
from .explore import Progress, concrete_path, explore
from .walk import random_walks, shrink

LEAK_MEANING = ("whenever no CPU is inside an op, every allocated object is owned by "
                "something alive (safety form of no_leak)")


class ReplayError(Exception):
    """The explicit model of the requested size cannot replay a trace: an engine bug."""


def sub_sizes(size: WorldSize, max_cpus: int = 2) -> list[WorldSize]:
    """Smaller worlds to search for violations first, cheapest first."""
    out = []
    for cpus in sorted({1, min(max_cpus, size.cpus)}):
        for skbs in sorted({1, min(2, size.skbs)}):
            for maps in sorted({1, min(2, size.maps)}):
                z = WorldSize(skbs, maps, cpus, size.cache_size, size.lock_failures,
                              size.alloc_failures, without=size.without)
                if z.pools() <= size.pools() and z not in out:
                    out.append(z)
    return out


def _props(m):
    return [Property(n, "state", f) for n, f in prove_properties(m).items()]


def replay(small, path: list[tuple], big) -> tuple[list[bytes], list[tuple]]:
    """Replay a trace of ``small`` (its step labels) in world ``big``."""
    text_gid = {o.text: o.gid for o in big.alts}
    s = big.initial_states()[0]
    states, labels = [s], []
    for kind, t, gid, codes, notes in path:
        want_gid = text_gid[small.alts[gid].text] if gid >= 0 else -1
        match = next(((nxt, lab) for nxt, lab in run_step(big, s, t, big.thread_body(t))
                      if lab[0] == kind and lab[2] == want_gid and lab[3] == codes
                      and lab[4] == notes), None)
        if match is None:
            raise ReplayError(f"step {len(labels) + 1} ({small.alts[gid].text}) has no "
                              "matching successor in the larger world")
        s, lab = match
        states.append(s)
        labels.append(lab)
    return states, labels


def search_worlds(size: WorldSize, max_cpus: int = 2, focus=()) -> list[tuple]:
    """(world, focus or None) to search, in order: the one-CPU sub-sizes, the focus
    worlds, then the sub-sizes with more CPUs.  A focus world (a few op kinds) costs
    less than a two-CPU sub-size with every op kind, and each world searches only for
    what the worlds before it did not find (``search_violations``): at 4/2/3 the two
    focus worlds of the PROOF_LOG command took 8 and 16 s after 115 s of two-CPU
    sub-sizes that found nothing more."""
    subs = sub_sizes(size, max_cpus)
    out = [(z, None) for z in subs if z.cpus == 1]
    for f in focus:
        z = f.world(size)
        if z.pools() <= size.pools() and all(z != w for w in subs):
            out.append((z, f))
    return out + [(z, None) for z in subs if z.cpus > 1]


def search_violations(size: WorldSize, design, mutations, big, budget: int, progress,
                      max_cpus: int = 2, focus=(), focus_budget: int | None = None,
                      full_budget: int = 0):
    """property -> (states, labels) replayed in ``big``; search statistics; and when
    (``time.monotonic()``) each property's violation was in hand (the end of the search
    world that found it), so that its report gives its own time, not the searches'.
    A sub-size that is the requested size itself (a small proof) is searched once, with
    the larger of ``budget`` and ``full_budget`` (the exhaustive pass's), and marked
    ``exhaustive`` whether or not it completes, so that :func:`prove` does not explore
    it again."""
    found: dict[str, tuple] = {}
    found_at: dict[str, float] = {}
    stats = []
    for z, f in search_worlds(size, max_cpus, focus):
        small = build_world(design, mutations, z)
        props = [p for p in _props(small) if p.name not in found]
        if not props:
            break
        where = _size_text(z) if f is None else f"focus {f.text()}"
        prog = Progress(f"search {where}", sys.stderr) if progress else None
        red = Reduction(small, keep=ghost_reads(p.name for p in props))
        whole = z == size and f is None
        limit = (max(budget, full_budget) if whole else budget if f is None
                 else focus_budget or budget)
        ex = explore(small, props, limit, prog, canon=red, keep_graph=False)
        stats.append({"sizes": _size_text(z), "states": len(ex.states),
                      "complete": ex.complete, "seconds": round(ex.seconds, 2)})
        if f is not None:
            stats[-1]["focus"] = f.text()
        for name, sid in sorted(ex.violations.items(), key=lambda kv: kv[1]):
            states, labels = replay(small, concrete_path(small, red, ex, sid)[1], big)
            if not prove_properties(big)[name](states[-1]):
                found[name] = (states, labels)
                found_at[name] = time.monotonic()
                stats[-1].setdefault("violations", []).append(name)
            else:
                raise ReplayError(f"{name}: the replayed trace does not violate it in "
                                  "the larger world")
        if whole:
            stats[-1]["exhaustive"] = True
            stats[-1]["reduction"] = red.describe()
    return found, stats, found_at


def walk_violations(big, names, walks: int, depth: int, seed: int, progress):
    """Random walks in the world of the requested size itself (checker/walk.py) for
    the properties in ``names``: property -> (states, labels), each trace shortened
    by delta debugging and replayed step by step; plus a statistics entry."""
    size = big.size
    props = [p for p in _props(big) if p.name in names]
    prog = Progress(f"walks {_size_text(size)}", sys.stderr,
                    units=("steps", "walks left")) if progress else None
    w = random_walks(big, props, walks, depth, seed, prog)
    stat = {"sizes": _size_text(size), "walks": w.walks, "depth": depth, "seed": seed,
            "steps": w.steps, "complete": False, "found": {},
            **({"interrupted": True} if w.interrupted else {})}
    checks = {p.name: p.check for p in props}
    found = {}
    for name, (walk, labels) in sorted(w.violations.items()):
        t0 = time.monotonic()
        states, short = shrink(big, checks[name], labels)
        states, short = replay(big, short, big)
        if checks[name](states[-1]):
            raise ReplayError(f"{name}: the shortened walk does not violate it")
        found[name] = (states, short)
        stat["found"][name] = {"walk": walk, "steps": len(labels), "shortened": len(short),
                               "shrink_seconds": round(time.monotonic() - t0, 2)}
    stat["seconds"] = round(w.seconds + sum(x["shrink_seconds"]
                                            for x in stat["found"].values()), 2)
    return found, stat


def _size_text(z: WorldSize) -> str:
    return f"{z.skbs} packets, {z.maps} maps, {z.cpus} CPUs"


def render_trace(m, labels, d) -> list[dict]:
    """A replayed trace as trace entries: ``d[i]`` describes the state before
    ``labels[i]``, ``d[i + 1]`` the state after."""
    return [tr.entry(m.label_parts(lab), d[i], d[i + 1]) for i, lab in enumerate(labels)]


def prove(design: str, mutations=(), size: WorldSize | None = None, *,
          search_states: int = 150_000, exhaustive_states: int = 2_000_000,
          induction: bool = True, induction_seconds: float = 600,
          control_lemmas: bool = False, heap_lemmas: bool = False, progress: bool = True,
          cti_per_step: bool = False, outright: bool = False, jobs: int = 1, leave_out=(),
          query_seconds: float = 60, solver: str = "auto", merge_steps: bool = True,
          max_search_cpus: int = 2,
          focus=(), focus_states: int | None = None, walks: int = 0, walk_depth: int = 200,
          seed: int = 1) -> dict:
    t0 = time.monotonic()
    size = size or WorldSize()
    m = build_world(design, mutations, size)
    found, stats, found_at = search_violations(size, design, mutations, m, search_states,
                                               progress, max_search_cpus, focus, focus_states,
                                               exhaustive_states)
    left = [n for n in PROVE_PROPERTIES if n not in found]
    if walks > 0 and left and not any(x.get("exhaustive") and x["complete"]
                                      for x in stats):
        more, stat = walk_violations(m, left, walks, walk_depth, seed, progress)
        found.update(more)
        stats.append(stat)
    res = {"design": design, "mutations": list(mutations), "sizes": size.as_dict(),
           "search": stats, "properties": {}}
    times = {n: round(found_at.get(n, time.monotonic()) - t0, 2) for n in found}
    open_props = [n for n in PROVE_PROPERTIES if n not in found]
    method, lemmas, ctis, kept = {}, {}, {}, set()
    full = next((x for x in stats if x.get("exhaustive")), None)
    if open_props and full:  # the search explored the requested size (once is enough)
        if full["complete"] or exhaustive_states > 0:
            res["exhaustive"] = {"states": full["states"], "complete": full["complete"],
                                 "seconds": full["seconds"], "reduction": full["reduction"]}
        if full["complete"]:
            for n in open_props:
                method[n] = "exhaustive"
            open_props = []
    elif open_props and exhaustive_states > 0:
        prog = Progress(f"exhaustive {_size_text(size)}", sys.stderr) if progress else None
        t1 = time.monotonic()
        red = Reduction(m, keep=ghost_reads(open_props))
        ex = explore(m, [p for p in _props(m) if p.name in open_props], exhaustive_states,
                     prog, canon=red, keep_graph=False)
        res["exhaustive"] = {"states": len(ex.states), "complete": ex.complete,
                             "seconds": round(ex.seconds, 2), "reduction": red.describe()}
        for n in open_props:
            if ex.complete and n not in ex.violations:
                method[n] = "exhaustive"
                times[n] = round(time.monotonic() - t1, 2)
            elif n in ex.violations:
                found[n] = concrete_path(m, red, ex, ex.violations[n])
                times[n] = round(time.monotonic() - t1, 2)
        open_props = [n for n in open_props if n not in method and n not in found]
    if open_props and induction:
        from .prove_induction import induct

        ind = induct(m, open_props, induction_seconds, progress,
                     control=control_lemmas or heap_lemmas or outright,
                     heap=heap_lemmas, per_step=cti_per_step, outright=outright,
                     jobs=jobs, leave_out=leave_out,
                     query_ms=max(1, round(query_seconds * 1000)), solver=solver,
                     merge=merge_steps)
        res["induction"] = ind["stats"]
        for n in open_props:
            times[n] = ind["seconds"].get(n, ind["stats"]["seconds"])
            lemmas[n] = ind["lemmas"]
            if n in ind["proved"]:
                kept.add(n)
                method[n] = "induction"
            elif n in ind["cti"]:
                ctis[n] = ind["cti"][n]
    for n in PROVE_PROPERTIES:
        e = {"proof": "unknown", "seconds": times.get(n, round(time.monotonic() - t0, 2)),
             "lemmas": lemmas.get(n, []),
             "meaning": LEAK_MEANING if n == "no_leak" else MEANINGS[n]}
        if n in found:
            states, labels = found[n]
            e["proof"] = "violated"
            d = [describe(m, s) for s in states]
            e["trace"] = render_trace(m, labels, d)
            e["why"] = why(m, n, states[-1])
            e["workload"] = m.workload(states, labels)
            e["final_state"] = d[-1]
            e["race"] = tr.render_race(e["trace"], [f"cpu{t}" for t in range(size.cpus)],
                                       verdict=f"{n}: {e['why']}")
        elif n in method:
            e["proof"] = "proved"
            e["method"] = method[n]
        elif n in ctis:
            e["cti"] = ctis[n]
        res["properties"][n] = e
    res["seconds"] = round(time.monotonic() - t0, 2)
    return res


def why(m, name: str, s: bytes) -> str:
    from invariants.properties import Why

    w = Why(m)
    if name == "no_leak":
        return w.no_leak(s)
    return getattr(w, name)(s)


__all__ = ["prove", "ReplayError", "sub_sizes", "Props"]
