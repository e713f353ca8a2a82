"""Breadth-first exploration of a state machine, checking properties as it goes.

Generic: it knows states (hashable values), labelled steps and properties, not what
the states mean.  A model offers ``initial_states()``, ``successors(s)`` (a list of
``(label, next_state)``) and ``is_final(s)``; a property is ``state`` (checked on every
reached state), ``final`` (on final states) or ``graph`` (``no_deadlock``: every state
can reach a final state, computed on the state graph).

The state graph is a networkx ``DiGraph`` over state ids (BFS order, so a smaller id is
never deeper), each edge labelled with the id of its step label.  Parent pointers give
the shortest trace to any state.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

import networkx as nx


@dataclass
class Exploration:
    states: list  # id -> state
    parent: array  # id -> parent id (-1 for initial states)
    via: array  # id -> label id of the step that first reached it
    labels: list  # label id -> label
    graph: nx.DiGraph
    finals: set[int]
    transitions: int = 0
    complete: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    violations: dict[str, int] = field(default_factory=dict)  # property -> state id
    verdicts: dict[str, str] = field(default_factory=dict)
    peak_frontier: int = 0

    def path(self, sid: int) -> list[tuple[int, int, int]]:
        """The shortest trace to ``sid``: [(label id, from id, to id), ...]."""
        out = []
        while self.parent[sid] >= 0:
            out.append((self.via[sid], self.parent[sid], sid))
            sid = self.parent[sid]
        out.reverse()
        return out


class Progress:
    """Prints states, frontier and states/s on stderr about once a second (``units``
    renames the two counts: random walks report steps and walks left)."""

    def __init__(self, name: str, stream, every: float = 1.0,
                 units: tuple[str, str] = ("states", "frontier")):
        self.name, self.stream, self.every, self.units = name, stream, every, units
        self.t0 = self.last = time.monotonic()

    def say(self, text: str):
        """A line of its own (an event worth seeing during a long run)."""
        self.stream.write(f"  {self.name}: {text}\n")
        self.stream.flush()

    def __call__(self, states: int, frontier: int, done: bool = False):
        now = time.monotonic()
        if not done and now - self.last < self.every:
            return
        self.last = now
        rate = states / max(now - self.t0, 1e-9)
        end = "\n" if done or not self.stream.isatty() else "\r"
        what, rest = self.units
        self.stream.write(f"  {self.name}: {states} {what}, {rest} {frontier}, "
                          f"{rate:,.0f} {what}/s{end}")
        self.stream.flush()


def explore(model, properties, max_states: int, progress=None, canon=None,
            keep_graph: bool = True) -> Exploration:
    """Breadth-first search from ``model.initial_states()``.

    ``canon`` (optional) maps a state to the representative of its class under an
    exact reduction the model offers (a symmetry, fields nothing reads): only
    representatives are stored, and :func:`concrete_path` turns a path of
    representatives back into a trace of the model.  Without a ``graph`` property the
    edges are kept only if ``keep_graph``.
    """
    t0 = time.monotonic()
    index: dict = {}
    ex = Exploration([], array("l"), array("l"), [], nx.DiGraph(), set())
    label_ids: dict = {}
    state_props = [p for p in properties if p.kind == "state"]
    final_props = [p for p in properties if p.kind == "final"]
    has_graph = any(p.kind == "graph" for p in properties)
    keep_graph = keep_graph or has_graph
    viol = ex.violations
    states, graph = ex.states, ex.graph
    stuck = None  # first terminal state that is not final

    def add(s, par, lid):
        sid = len(states)
        index[s] = sid
        states.append(s)
        ex.parent.append(par)
        ex.via.append(lid)
        for p in state_props:
            if p.name not in viol and not p.check(s):
                viol[p.name] = sid
        return sid

    for s0 in model.initial_states():
        if canon:
            s0 = canon(s0)
        if s0 not in index:
            graph.add_node(add(s0, -1, -1))
    head = 0
    try:
        while head < len(states):
            if len(states) > max_states:  # past the bound: stop, incomplete
                break
            sid, s = head, states[head]
            head += 1
            succ = model.successors(s)
            if model.is_final(s):
                ex.finals.add(sid)
                for p in final_props:
                    if p.name not in viol and not p.check(s):
                        viol[p.name] = sid
            elif not succ and stuck is None:
                stuck = sid
            edges = []
            for label, t in succ:
                lid = label_ids.get(label)
                if lid is None:
                    lid = label_ids[label] = len(ex.labels)
                    ex.labels.append(label)
                if canon:
                    t = canon(t)
                tid = index.get(t)
                if tid is None:
                    tid = add(t, sid, lid)
                edges.append((sid, tid, {"label": lid}))
            ex.transitions += len(edges)
            if keep_graph:
                graph.add_edges_from(edges)
            frontier = len(states) - head
            if frontier > ex.peak_frontier:
                ex.peak_frontier = frontier
            if progress:
                progress(len(states), frontier)
        else:
            ex.complete = True
    except KeyboardInterrupt:
        ex.interrupted = True
    if progress:
        progress(len(states), len(states) - head, done=True)

    if has_graph:
        if stuck is not None:
            viol["no_deadlock"] = stuck
        elif ex.complete:
            bad = cannot_finish(graph, ex.finals, len(states))
            if bad is not None:
                viol["no_deadlock"] = bad
    for p in properties:
        if p.name in viol:
            ex.verdicts[p.name] = "violated"
        else:
            ex.verdicts[p.name] = "holds" if ex.complete else "unknown"
    ex.seconds = time.monotonic() - t0
    return ex


def concrete_path(model, canon, ex: Exploration, sid: int) -> tuple[list, list]:
    """A trace of ``model`` (states from an initial state, labels) whose states have the
    representatives of the shortest stored path to ``sid`` (explored with ``canon``):
    from a concrete state, some successor always has the next representative (the
    reduction is exact)."""
    path = ex.path(sid)
    start = ex.states[path[0][1] if path else sid]
    cur = next((s for s in model.initial_states() if canon(s) == start), None)
    if cur is None:
        raise ReductionError("state reduction not exact: no initial state has the stored "
                             "representative")
    states, labels = [cur], []
    for i, (_l, _a, b) in enumerate(path):
        want = ex.states[b]
        step = next(((lab, t) for lab, t in model.successors(cur) if canon(t) == want), None)
        if step is None:
            raise ReductionError(f"state reduction not exact: no successor of the trace's "
                                 f"state {i} has the representative stored for state {i + 1}")
        cur_label, cur = step
        states.append(cur)
        labels.append(cur_label)
    return states, labels


class ReductionError(Exception):
    """The state reduction (``canon``) is not exact: a stored path of representatives
    has no concrete path behind it (a bug in the reduction, never a finding)."""


def cannot_finish(graph: nx.DiGraph, finals: set[int], n: int) -> int | None:
    """The first (shallowest) state with no path to a final state, or None."""
    seen = bytearray(n)
    todo = list(finals)
    for f in todo:
        seen[f] = 1
    pred = graph.pred
    while todo:
        v = todo.pop()
        for u in pred[v]:
            if not seen[u]:
                seen[u] = 1
                todo.append(u)
    i = seen.find(0)
    return None if i < 0 else i
