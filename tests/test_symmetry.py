"""The open world's state reductions (model/symmetry.py) are exact.

A reduction maps a state to a representative; exploring representatives is sound and
complete only if, for every state ``s``, the representatives of the successors of ``s``
and of ``canon(s)`` are the same set, and every checked property has the same value
on both.  Checked on reachable states of small worlds, by enumeration and with
hypothesis choosing states and CPU renamings; a reduction that forgets to rename one
kind of CPU-valued field must fail the same check."""

import random
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.explore import concrete_path, explore
from checker.prover import _props
from invariants.properties import PROVE_PROPERTIES, ghost_reads, prove_properties
from model.kernel import ModelError
from model.openworld import WorldSize, build
from model.symmetry import Reduction

KEEP = ghost_reads(PROVE_PROPERTIES)


@cache
def _world(skbs, maps, cpus, budget):
    m = build("rfc-refcnt-guard", (), WorldSize(skbs, maps, cpus))
    ex = explore(m, [], budget, keep_graph=False)
    return m, ex.states


def _commutes(m, red, s) -> bool:
    a = {red(t) for _l, t in m.successors(s)}
    b = {red(t) for _l, t in m.successors(red(s))}
    return a == b


def _props_agree(m, red, s) -> bool:
    c = red(s)
    return all(f(s) == f(c) for f in prove_properties(m).values())


def test_exact_on_every_one_packet_state():
    m, states = _world(1, 1, 1, 100_000)
    red = Reduction(m, keep=KEEP)
    assert len(states) == 38_027
    assert all(_commutes(m, red, s) and _props_agree(m, red, s) for s in states)


def test_exact_on_two_cpu_states():
    m, states = _world(1, 1, 2, 30_000)
    red = Reduction(m, keep=KEEP)
    assert red.renamings == 2
    sample = random.Random(7).sample(states, 1500)
    assert all(_commutes(m, red, s) and _props_agree(m, red, s) for s in sample)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_renaming_maps_successors_to_successors(data):
    """Any CPU renaming of a reachable state (two packets, three CPUs) has, up to the
    reduction, exactly the successors of the state itself."""
    m, states = _world(2, 1, 3, 8_000)
    red = Reduction(m, keep=KEEP)
    s = data.draw(st.sampled_from(states))
    renamed = red.image(s, data.draw(st.sampled_from(red.ways)))
    assert red(renamed) == red(s)
    assert _commutes(m, red, renamed)
    assert {red(t) for _l, t in m.successors(renamed)} == \
        {red(t) for _l, t in m.successors(s)}


def test_forgetting_lock_owners_is_caught():
    """The check has teeth: a renaming that moves the CPUs' registers but not the
    rqspinlock owner fields is not exact, and the commutation check says so."""
    m, states = _world(1, 1, 2, 30_000)
    red = Reduction(m, keep=KEEP)
    owners = {m.layout.storage.idx(i, "lock") for i in range(1, m.layout.storage.n + 1)}
    red._ways = [(get, tuple((i, t) for i, t in fix if i not in owners))
                 for get, fix in red._ways]
    held = [s for s in states if any(s[i] for i in owners)]
    assert held

    def caught(s):
        try:
            return not _commutes(m, red, s)
        except ModelError:  # the image has a CPU return holding a lock (System.locks_held)
            return True
    assert any(caught(s) for s in held)


def test_erasing_a_read_field_is_caught():
    """Erasing an observation a checked property reads changes its value."""
    m, states = _world(1, 1, 1, 100_000)
    red = Reduction(m)  # keeps nothing: obs_uaf erased
    assert not all(_props_agree(m, red, s) for s in states)


def test_focus_worlds_rename_only_cpus_with_the_same_ops():
    """CPUs of a focus world that run different ops are not interchangeable; two that
    run the same ops are, and the renaming is exact there too."""
    a, b = ("free(P1)",), ("map_free(M1)", "get(P1, M1, create)")
    m = build("rfc-refcnt-guard", (), WorldSize(1, 1, 2, cpu_ops=(a, b)))
    assert Reduction(m).renamings == 1
    m = build("rfc-refcnt-guard", (), WorldSize(1, 1, 3, cpu_ops=(b, a, b)))
    red = Reduction(m, keep=KEEP)
    assert red.renamings == 2
    states = explore(m, [], 20_000, keep_graph=False).states
    sample = random.Random(3).sample(states, min(len(states), 800))
    assert all(_commutes(m, red, s) and _props_agree(m, red, s) for s in sample)
    assert len(explore(m, [], 20_000, canon=red).states) < len(states)


@cache
def _explored(reduced: bool):
    m = build("rfc-refcnt-guard", (), WorldSize(1, 1, 1))
    red = Reduction(m, keep=KEEP) if reduced else None
    return m, red, explore(m, _props(m), 100_000, canon=red, keep_graph=False)


def test_reduced_exploration_same_verdicts_fewer_states():
    (_m, _r, full), (_m2, _r2, small) = _explored(False), _explored(True)
    assert full.complete and small.complete
    assert full.verdicts == small.verdicts
    assert len(small.states) < len(full.states) / 3
    assert small.graph.number_of_edges() == 0


@pytest.mark.parametrize("name", ["no_leak", "no_use_after_free"])
def test_concrete_path_replays_and_is_shortest(name):
    """A violation found among representatives comes back as a trace of the model:
    every step a successor of the previous state, as short as the unreduced search's,
    and the property false at its end."""
    _m, _r, full = _explored(False)
    m, red, small = _explored(True)
    states, labels = concrete_path(m, red, small, small.violations[name])
    assert len(labels) == len(full.path(full.violations[name]))
    assert len(states) == len(labels) + 1
    assert states[0] in m.initial_states()
    for a, lab, b in zip(states, labels, states[1:], strict=False):
        assert (lab, b) in m.successors(a)
    assert not prove_properties(m)[name](states[-1])
