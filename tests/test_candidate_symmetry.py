"""The induction of ``check prove`` checks the steps of CPU 1 only
(checker/prove_induction.py): that is sound only if the candidates Houdini may keep are
symmetric in the CPUs, so that a step of CPU k is a step of CPU 1 under a renaming that
maps the kept set to itself.  Candidates split per CPU (or per object) stand or fall
as a group (``Candidate.group``), so the unit is the group: its conjunction must take
the same value on a state and on every CPU renaming of it.  Checked on states random
walks reach with CPUs stopped mid-op, with every lemma family `--heap-lemmas` adds."""

import random
from collections import defaultdict

from checker.induction import Candidate
from checker.prove_induction import candidates, world_control
from invariants.properties import PROVE_PROPERTIES
from model.openworld import WorldSize, build
from model.symmetry import WRITE_ONLY, Reduction


def _states(m, walks: int, depth: int, seed: int = 1) -> set[bytes]:
    rng, out, init = random.Random(seed), set(), m.initial_states()[0]
    for _ in range(walks):
        s = init
        for d in range(depth):
            succ = m.successors(s)
            if not succ:
                break
            s = rng.choice(succ)[1]
            if d % 3 == 0:
                out.add(s)
    return out


def asymmetric_groups(m, cands: list[Candidate], states) -> dict[str, int]:
    """Groups whose conjunction differs between a state and one of its CPU renamings
    (no field erased), with how many (state, renaming) pairs show it."""
    groups = defaultdict(list)
    for c in cands:
        groups[c.group or c.name].append(c)
    ways = Reduction(m, keep=frozenset(f for _t, f in WRITE_ONLY)).ways[1:]
    assert ways, "no CPU renaming: the world needs two CPUs or more"
    bad: dict[str, int] = defaultdict(int)
    for s in states:
        for way in ways:
            r = Reduction.image(s, way)
            for g, cs in groups.items():
                if all(c.holds(s) for c in cs) != all(c.holds(r) for c in cs):
                    bad[g] += 1
    return dict(bad)


def test_every_candidate_group_is_symmetric_in_the_cpus():
    m = build("rfc-refcnt-guard", (), WorldSize(2, 1, 2, without=("ext_del",)))
    cands = candidates(m, list(PROVE_PROPERTIES), world_control(m), heap=True)
    assert len(cands) > 400
    states = _states(m, walks=60, depth=150)
    th = m.layout.thread
    # the walks stop CPUs mid-op with different registers, so a renaming changes states
    assert sum(s[th.idx(1, "pc")] != s[th.idx(2, "pc")] for s in states) > len(states) // 4
    assert asymmetric_groups(m, cands, states) == {}
    # the check has teeth: a lemma that names CPU 1 (an idle CPU 1 only while CPU 2 is
    # idle too) is not symmetric, and is caught
    def cpu1_first(s):
        return s[th.idx(1, "pc")] != 0 or s[th.idx(2, "pc")] == 0

    planted = Candidate("planted:cpu1-first", cpu1_first, lambda v: None)
    assert asymmetric_groups(m, [planted], states).get("planted:cpu1-first", 0) > 0
