"""Random walks (checker/walk.py): generic, reproducible, shortened traces are real."""

import random
import subprocess
import sys

import pytest
from conftest import ROOT
from test_checker_generic import Counter

from checker.proofs import ProofUsageError, load_defaults, run_defaults
from checker.prover import _props, prove, replay
from checker.walk import random_walks, replay_loosely, shrink
from invariants import Property
from invariants.properties import prove_properties
from model.openworld import WorldSize, build


class Noisy(Counter):
    """The lost-update counter with a third thread that only spins (noise to shrink)."""

    def initial_states(self):
        return [(0, 0, 0, 0, 0, 0)]

    def successors(self, s):
        out = [(lab, (*t, s[5])) for lab, t in super().successors(s[:5])]
        if s[5] < 20:
            out.append((("spin", s[5]), (*s[:5], s[5] + 1)))
        return out


def _lost(s):
    """The counter is behind: both threads have written, yet it is below 4 (or both
    wrote their first increment and it is 1)."""
    return not (s[1] >= 2 and s[3] >= 2 and s[0] < 2)


def test_walks_find_the_lost_update_and_shrink_to_the_shortest():
    prop = Property("lost", "state", _lost)
    w = random_walks(Noisy(), [prop], walks=200, depth=40, seed=3)
    assert "lost" in w.violations
    walk, labels = w.violations["lost"]
    states, short = shrink(Noisy(), _lost, labels)
    # read, read, write, write: the shortest, and no spin left in it
    assert len(short) == 4 and not any(lab[0] == "spin" for lab in short)
    assert not _lost(states[-1])
    # the shortened trace is a real trace: each state a successor of the one before
    for a, lab, b in zip(states[:-1], short, states[1:], strict=True):
        assert (lab, b) in Noisy().successors(a)


def test_walks_are_reproducible_and_honest_about_holding_properties():
    prop = Property("lost", "state", _lost)
    a = random_walks(Noisy(), [prop], walks=50, depth=40, seed=7)
    b = random_walks(Noisy(), [prop], walks=50, depth=40, seed=7)
    assert a.violations == b.violations and a.steps == b.steps
    ok = Property("ok", "state", lambda s: True)
    w = random_walks(Noisy(), [ok], walks=5, depth=10, seed=1)
    assert not w.violations and w.walks == 5 and 0 < w.steps <= 50


def test_shrink_refuses_a_trace_without_violation():
    with pytest.raises(ValueError):
        shrink(Noisy(), _lost, [])
    assert replay_loosely(Noisy(), _lost, [("spin", 0)]) is None


def test_random_successor_is_one_of_the_successors():
    """The open world's fast path draws among exactly the successors the explorer
    computes (CPU, op, outcome), and step_as takes a step the explorer takes."""
    m = build("rfc-refcnt-guard", size=WorldSize(2, 1, 2))
    rng = random.Random(5)
    bias = m.walk_bias(rng)
    s = m.initial_states()[0]
    seen = 0
    for _ in range(300):
        b = None if seen % 2 else bias
        nxt = m.random_successor(s, rng, b)
        succ = m.successors(s)
        if nxt is None:  # nothing can move (or only ops the bias leaves out)
            assert all(m.alts[lab[2]].name not in b for lab, _ in succ) if b else not succ
            s = m.initial_states()[0]
            continue
        label, t = nxt
        assert (label, t) in succ
        assert m.step_as(s, label) == (label, t) or m.step_as(s, label) in succ
        s, seen = t, seen + 1
    assert seen > 100


# seeds whose 40 walks at 4/2/3 meet finding 1 and shorten it to 11 steps (measured
# 2026-12-04 on seeds 4 to 15; seed 1 stopped meeting it when bpf_selem_unlink_map()
# became two steps): the first that still does is the test's, so that a new step
# elsewhere in the model, which moves every later random choice, needs no new seed
WALK_SEEDS = (8, 6, 9, 10, 14)


def test_walks_find_finding_1_at_4_2_3_and_the_trace_replays():
    """rfc at 4 packets, 2 maps, 3 CPUs with no breadth-first search to speak of: the
    walks find no_shared_storage (finding 1), shortened to the 11 steps of the
    shortest trace, replayed by the explicit model of that size."""
    for seed in WALK_SEEDS:
        r = prove("rfc", (), WorldSize(4, 2, 3), search_states=50, exhaustive_states=0,
                  induction=False, progress=False, max_search_cpus=1, walks=40, seed=seed)
        walks = r["search"][-1]
        assert walks["walks"] <= 40 and walks["sizes"].startswith("4 packets")
        found = walks["found"].get("no_shared_storage")
        if found and found["shortened"] == 11:
            break
    else:
        pytest.fail(f"no seed of {WALK_SEEDS} meets finding 1 and shortens it to 11 steps")
    assert found["shortened"] <= found["steps"]
    e = r["properties"]["no_shared_storage"]
    assert e["proof"] == "violated" and len(e["trace"]) == found["shortened"] == 11
    assert "both passed the guard" in e["why"]
    m = build("rfc", size=WorldSize(4, 2, 3))
    w = random_walks(m, _props(m), 40, 200, seed)
    states, labels = replay(m, shrink(m, prove_properties(m)["no_shared_storage"],
                                      w.violations["no_shared_storage"][1])[1], m)
    assert not prove_properties(m)["no_shared_storage"](states[-1])


def test_bad_walk_options_are_one_line_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", "--walks", "-1"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "--walks must be at least 0" in out.stderr
    assert out.stderr.strip().count("\n") == 0
    f = tmp_path / "default.proofs"
    f.write_text('[[proof]]\ndesign = "rfc"\nbudgets = {walk = 3}\n')
    with pytest.raises(ProofUsageError, match=r"#1: unknown budget 'walk'"):
        load_defaults(f)
    f.write_text('[[proof]]\ndesign = "rfc"\nbudgets = {focus_spec = ["nope.toml"]}\n')
    with pytest.raises(ProofUsageError, match=r"#1: budgets.focus_spec: nope.toml"):
        load_defaults(f)


def test_default_proofs_in_parallel_keep_the_file_order_and_verdicts(tmp_path):
    """check all runs its default proofs in a process pool: the report keeps the
    file's order and the verdicts a single process gives (finding 3 at one packet,
    the fix proved there by complete search)."""
    f = tmp_path / "default.proofs"
    f.write_text(
        '[[proof]]\ndesign = "rfc-refcnt-guard"\nsizes = {skbs = 1, maps = 1, cpus = 1}\n'
        'budgets = {search_states = 100000, max_search_cpus = 1}\n'
        'expect.no_leak = "violated"\n'
        '[[proof]]\ndesign = "rfc-fix"\nsizes = {skbs = 1, maps = 1, cpus = 1}\n'
        'budgets = {search_states = 100000, max_search_cpus = 1}\n')

    def verdicts(res):
        return [(r["design"], {n: e["proof"] for n, e in r["properties"].items()},
                 r["matches_expectations"]) for r in res]

    one = verdicts(run_defaults(f, progress=False))
    assert one == verdicts(run_defaults(f, progress=False, jobs=2))
    assert [d for d, _, _ in one] == ["rfc-refcnt-guard", "rfc-fix"]
    assert one[0][1]["no_leak"] == "violated" and not one[0][2]  # others expected proved
    assert set(one[1][1].values()) == {"proved"} and one[1][2]


def test_open_world_groups_are_whole_ops():
    """shrink drops an op with all its steps: each group is one CPU's op, from the
    step that starts it (the CPU idle before) to its last step."""
    from checker.walk import _groups

    m = build("rfc-refcnt-guard", size=WorldSize(2, 1, 2))
    rng, s, labels = random.Random(2), m.initial_states()[0], []
    for _ in range(60):
        label, s = m.random_successor(s, rng)
        labels.append(label)
    states, taken = replay(m, labels, m)
    assert taken == labels
    groups = _groups(m, states, labels)
    assert sorted(i for g in groups for i in g) == list(range(len(labels)))
    assert len(groups) > 2
    for g in groups:
        t = labels[g[0]][1]
        assert m.group_of(states[g[0]], labels[g[0]]) == (t, True)
        assert {labels[i][1] for i in g} == {t} and len({labels[i][2] for i in g}) == 1


@pytest.mark.parametrize("design,mutation,name", [
    ("rfc", "no-nofail-state", "no_double_free"),
    ("rfc-refcnt-guard", "no-cow-reset", "no_shared_storage"),
])
def test_walks_catch_a_mutation_at_4_2_3(design, mutation, name):
    """Walks at 4 packets, 2 maps, 3 CPUs catch the double free and the sharing a
    removed protection causes (seed 1: walk 33 and walk 24 on 2026-12-06), with a shortened
    replayed trace: no violation of no_shared_storage in the README's walks on rfc-refcnt-guard
    is evidence because walks do find it when it is there."""
    m = build(design, (mutation,), WorldSize(4, 2, 3))
    prop = [p for p in _props(m) if p.name == name]
    w = random_walks(m, prop, 100, 200, 1)
    assert name in w.violations
    states, labels = replay(m, shrink(m, prop[0].check, w.violations[name][1])[1], m)
    assert not prop[0].check(states[-1]) and len(labels) < len(w.violations[name][1])
