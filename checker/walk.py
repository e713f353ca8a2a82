"""Random walks: looking for violations where breadth-first search cannot reach.

Generic, like explore.py: it knows states, labelled steps and state properties.  A walk
starts at an initial state and takes random steps, checking every property on every
state, until ``depth`` steps or no step is possible.  A model may offer

* ``random_successor(s, rng, bias)`` -> ``(label, state)`` or None: one successor
  drawn at random without computing them all (default: uniform over
  ``successors(s)``);
* ``walk_bias(rng)``: a per-walk bias handed to ``random_successor`` (swarm testing:
  each walk favours a different mix of actions);
* ``step_as(s, label)`` -> ``(label, state)`` or None: the successor of ``s`` that takes
  "the same step" as ``label``, used to replay a shortened trace (default: the
  successor with exactly that label);
* ``group_of(s, label)`` -> ``(actor, starts)``: which steps belong together (an op and
  its steps), so that shortening can drop them at once (default: each step alone).

Walks are reproducible: the same model, seed and counts give the same walks.  A walk
never proves anything; a violation it finds is shortened (:func:`shrink`, delta
debugging over the steps) and every shortened trace is a real trace of the model,
replayed from the initial state.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field


@dataclass
class Walks:
    walks: int = 0
    steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # Ctrl-C: the walks so far are kept
    # property -> (walk number, labels from the initial state to the first violation)
    violations: dict[str, tuple[int, list]] = field(default_factory=dict)


def _random_successor(model, s, rng, bias):
    if hasattr(model, "random_successor"):
        return model.random_successor(s, rng, bias)
    succ = model.successors(s)
    return rng.choice(succ) if succ else None


def random_walks(model, properties, walks: int, depth: int, seed: int,
                 progress=None) -> Walks:
    """``walks`` random walks of at most ``depth`` steps each from the first initial
    state; the first violation of each state property is kept."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    props = [p for p in properties if p.kind == "state"]
    out = Walks()
    init = model.initial_states()[0]

    def check(s, w, labels):
        for p in props:
            if p.name not in out.violations and not p.check(s):
                out.violations[p.name] = (w, list(labels))
                if progress and hasattr(progress, "say"):
                    progress.say(f"{p.name} violated in walk {w} after {len(labels)} "
                                 "steps")

    check(init, 0, [])
    try:
        for w in range(1, walks + 1):
            if all(p.name in out.violations for p in props):
                break
            bias = model.walk_bias(rng) if hasattr(model, "walk_bias") else None
            s, labels = init, []
            for _ in range(depth):
                nxt = _random_successor(model, s, rng, bias)
                if nxt is None:
                    break
                label, s = nxt
                labels.append(label)
                check(s, w, labels)
            out.walks, out.steps = w, out.steps + len(labels)
            if progress:
                progress(out.steps, walks - w)
    except KeyboardInterrupt:
        out.interrupted = True
    if progress:
        progress(out.steps, walks - out.walks, done=True)
    out.seconds = time.monotonic() - t0
    return out


def _step_as(model, s, label):
    if hasattr(model, "step_as"):
        return model.step_as(s, label)
    return next(((lab, t) for lab, t in model.successors(s) if lab == label), None)


def replay_loosely(model, check, labels) -> tuple[list, list] | None:
    """Replay ``labels`` from the first initial state with ``step_as``, skipping the
    ones that cannot be taken, up to the first state where ``check`` fails:
    ``(states, labels taken)``, or None if ``check`` never fails."""
    s = model.initial_states()[0]
    states, taken = [s], []
    if not check(s):
        return states, taken
    for label in labels:
        nxt = _step_as(model, s, label)
        if nxt is None:
            continue
        lab, s = nxt
        states.append(s)
        taken.append(lab)
        if not check(s):
            return states, taken
    return None


def _groups(model, states, labels) -> list[list[int]]:
    """The trace's steps by group (indices into ``labels``): with a model's
    ``group_of(s, label)`` -> ``(actor, starts)`` a group is one actor's steps from a
    step that starts a group (an op, for the open world) to the next; otherwise each
    step is a group of its own."""
    if not hasattr(model, "group_of"):
        return [[i] for i in range(len(labels))]
    groups: list[list[int]] = []
    current: dict = {}
    for i, (s, label) in enumerate(zip(states, labels, strict=False)):
        actor, starts = model.group_of(s, label)
        if starts or actor not in current:
            current[actor] = len(groups)
            groups.append([])
        groups[current[actor]].append(i)
    return groups


def shrink(model, check, labels, max_tests: int = 2000) -> tuple[list, list]:
    """Delta debugging (Zeller's ddmin, removing chunks): a trace of ``model`` from the
    initial state to a state where ``check`` fails, no longer than ``labels``' replay.
    First whole groups are removed (an op and all its steps, ``group_of``), then
    single steps, until no single group or step can be removed (or ``max_tests``
    replays were spent)."""
    best = replay_loosely(model, check, labels)
    if best is None:
        raise ValueError("the trace to shrink does not reach a violation")
    tests = 0
    for by_group in (True, False):
        n = 2
        while tests < max_tests:
            units = (_groups(model, *best) if by_group
                     else [[i] for i in range(len(best[1]))])
            if len(units) < 2:
                break
            size = -(-len(units) // n)
            for i in range(0, len(units), size):
                tests += 1
                drop = {j for u in units[i:i + size] for j in u}
                r = replay_loosely(model, check,
                                   [lab for j, lab in enumerate(best[1]) if j not in drop])
                if r is not None and len(r[1]) < len(best[1]):
                    best, n = r, max(n - 1, 2)
                    break
                if tests >= max_tests:
                    break
            else:
                if n >= len(units):
                    break
                n = min(2 * n, len(units))
    return best
