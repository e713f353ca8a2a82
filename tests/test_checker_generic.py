"""The checker is generic: it explores any model with the Init/Next/final interface."""

import ast
from pathlib import Path

from checker.explore import explore
from invariants import Property

CHECKER = Path(__file__).resolve().parent.parent / "checker"


class Counter:
    """Two threads each add 1 twice to a shared counter, non-atomically (read, write)."""

    def initial_states(self):
        return [(0, 0, 0, 0, 0)]  # counter, pc0, reg0, pc1, reg1

    def successors(self, s):
        out = []
        c = s[0]
        for t in (0, 1):
            pc, reg = s[1 + 2 * t], s[2 + 2 * t]
            if pc >= 4:
                continue
            n = list(s)
            if pc % 2 == 0:
                n[2 + 2 * t] = c  # read
            else:
                n[0] = reg + 1  # write
            n[1 + 2 * t] = pc + 1
            out.append(((t, pc), tuple(n)))
        return out

    def is_final(self, s):
        return s[1] == 4 and s[3] == 4


def test_finds_lost_update_with_shortest_trace():
    lost = Property("lost", "final", lambda s: s[0] == 4)
    ex = explore(Counter(), [lost], 10_000)
    assert ex.complete and ex.verdicts["lost"] == "violated"
    path = ex.path(ex.violations["lost"])
    assert len(path) == 8  # every path to a final state has 8 steps
    assert ex.states[path[-1][2]][0] < 4


def test_max_states_gives_unknown():
    ok = Property("ok", "state", lambda s: True)
    ex = explore(Counter(), [ok], 5)
    assert not ex.complete and ex.verdicts["ok"] == "unknown"


def test_max_states_is_a_bound_not_a_trigger():
    """SPEC_FORMAT: "past this, exploration stops".  A world of exactly max_states
    states is explored completely; one state fewer allowed, and it is not."""
    ok = Property("ok", "state", lambda s: True)
    n = len(explore(Counter(), [ok], 10_000).states)
    ex = explore(Counter(), [ok], n)
    assert ex.complete and len(ex.states) == n and ex.verdicts["ok"] == "holds"
    ex = explore(Counter(), [ok], n - 1)
    assert not ex.complete and ex.verdicts["ok"] == "unknown"


class Stuck:
    """0 -> 1 -> 2 (final); 0 -> 3 (dead end); 0 -> 4 <-> 5 (a loop that never ends)."""

    edges = {0: [1, 3, 4], 1: [2], 2: [], 3: [], 4: [5], 5: [4]}

    def initial_states(self):
        return [0]

    def successors(self, s):
        return [(("go", t), t) for t in self.edges[s]]

    def is_final(self, s):
        return s == 2


def test_deadlock_terminal_and_livelock():
    dead = Property("no_deadlock", "graph", None)
    ex = explore(Stuck(), [dead], 100)
    assert ex.verdicts["no_deadlock"] == "violated"
    assert ex.states[ex.violations["no_deadlock"]] == 3

    class Loop(Stuck):
        edges = {0: [1, 4], 1: [2], 2: [], 4: [5], 5: [4]}

    ex = explore(Loop(), [dead], 100)
    assert ex.verdicts["no_deadlock"] == "violated"
    assert ex.states[ex.violations["no_deadlock"]] == 4


def test_graph_is_networkx_with_labels():
    ex = explore(Counter(), [], 10_000)
    g = ex.graph
    assert g.number_of_nodes() == len(ex.states)
    assert all("label" in d for _, _, d in g.edges(data=True))


def test_engine_modules_know_nothing_about_skbs():
    for name in ("explore.py", "trace.py"):
        tree = ast.parse((CHECKER / name).read_text())
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(m.startswith(("model", "invariants")) for m in mods), name
        assert "skb" not in (CHECKER / name).read_text().lower(), name


def _swap_threads(s):
    """The Counter's threads are symmetric: the least of s and s with them swapped."""
    return min(s, (s[0], s[3], s[4], s[1], s[2]))


def test_canon_explores_representatives_and_traces_come_back_concrete():
    """With a symmetry ``canon`` the explorer stores fewer states, reaches the same
    verdict at the same depth, and concrete_path rebuilds a trace of the model."""
    from checker.explore import concrete_path

    lost = Property("lost", "final", lambda s: s[0] == 4)
    full = explore(Counter(), [lost], 10_000)
    red = explore(Counter(), [lost], 10_000, canon=_swap_threads, keep_graph=False)
    assert red.complete and red.verdicts == full.verdicts == {"lost": "violated"}
    assert len(red.states) < len(full.states)
    assert red.graph.number_of_edges() == 0
    states, labels = concrete_path(Counter(), _swap_threads, red, red.violations["lost"])
    assert len(labels) == len(full.path(full.violations["lost"]))
    for a, lab, b in zip(states, labels, states[1:], strict=False):
        assert (lab, b) in Counter().successors(a)
    assert Counter().is_final(states[-1]) and states[-1][0] != 4


def test_an_inexact_reduction_is_named_when_its_trace_cannot_be_replayed():
    """A canon that erases a live register (the value a thread read and will write back)
    merges states with different futures: the violation it reports has no concrete path
    behind it, and concrete_path says so (ReductionError: the CLI's one-line exit 3)
    instead of StopIteration from deep inside a generator."""
    import pytest

    from checker.explore import ReductionError, concrete_path

    def erase_live(s):
        return (s[0], s[1], 0 if s[1] % 2 else s[2], s[3], 0 if s[3] % 2 else s[4])

    lost = Property("lost", "final", lambda s: s[0] == 4)
    red = explore(Counter(), [lost], 10_000, canon=erase_live, keep_graph=False)
    with pytest.raises(ReductionError, match="state reduction not exact: no successor"):
        concrete_path(Counter(), erase_live, red, red.violations["lost"])
    ok = explore(Counter(), [lost], 10_000, canon=_swap_threads, keep_graph=False)
    concrete_path(Counter(), _swap_threads, ok, ok.violations["lost"])  # an exact one
