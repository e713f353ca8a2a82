"""check prove: the open world, violations replayed at the full size, induction."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as hyp

from checker.explore import explore
from checker.induction import Candidate, houdini, houdini_rounds, step_check
from checker.prover import prove, sub_sizes
from invariants import Property
from invariants.properties import PROVE_PROPERTIES, prove_properties
from model.expr import Concrete
from model.openworld import WorldSize, build, focus_from_spec, parse_focus


def _world_verdicts(design, muts=(), without=()):
    m = build(design, muts, WorldSize(1, 1, 1, without=without))
    props = [Property(n, "state", f) for n, f in prove_properties(m).items()]
    ex = explore(m, props, 200_000)
    assert ex.complete and len(ex.states) > 10_000
    return ex.verdicts


def test_one_packet_world_exhaustively():
    """1 packet, 1 map, 1 CPU, every workload: the state space is finite and small.
    ext_del + get(create) orphans the storage with a single packet (finding 3); the
    world without ext_del is safe."""
    v = _world_verdicts("rfc-refcnt-guard")
    assert v["no_leak"] == v["no_use_after_free"] == "violated"
    assert v["no_shared_storage"] == v["cache_consistent"] == v["no_double_free"] == "holds"
    v = _world_verdicts("rfc-refcnt-guard", without=("ext_del",))
    assert all(v[n] == "holds" for n in PROVE_PROPERTIES)


def test_mutation_breaks_the_one_packet_world():
    """Removing the ext destructor leaks in the same small world (not vacuous)."""
    v = _world_verdicts("rfc-refcnt-guard", ("no-ext-destroy",), without=("ext_del",))
    assert v["no_leak"] == "violated"


def test_sub_sizes_are_smaller():
    z = WorldSize(4, 2, 3)
    subs = sub_sizes(z)
    assert subs[0] == WorldSize(1, 1, 1)
    assert all(s.skbs <= 4 and s.maps <= 2 and s.cpus <= 2 for s in subs)


def test_focus_worlds_are_searched_before_the_sub_sizes_with_more_cpus():
    """One-CPU sub-sizes, then the focus worlds (a few op kinds: cheaper), then the
    two-CPU sub-sizes with every op kind, each searching only for what is not found."""
    from checker.prover import search_worlds

    f = parse_focus("get,copy@2/1/1")
    order = search_worlds(WorldSize(4, 2, 3), 2, (f,))
    cpus = [(z.cpus, g is f) for z, g in order]
    assert cpus == [(1, False)] * 4 + [(1, True)] + [(2, False)] * 4


def test_rfc_violations_replayed_at_4_2_3():
    """The copy finding and the ext_del finding, found in small worlds and replayed by
    the explicit model of 4 packets, 2 maps, 3 CPUs (ReplayError otherwise)."""
    r = prove("rfc", (), WorldSize(4, 2, 3), search_states=20_000, exhaustive_states=0,
              induction=False, progress=False, max_search_cpus=1)
    p = r["properties"]
    assert p["no_shared_storage"]["proof"] == "violated"
    assert p["no_leak"]["proof"] == "violated"
    steps = [(s["thread"], s["op"]) for s in p["no_shared_storage"]["trace"]]
    assert ("cpu0", "copy(P1) -> P2") in steps
    assert any(s["op"] == "ext_del(P1)" for s in p["no_leak"]["trace"])
    # each violation's time is when its search world found it (the JSON's search
    # entries name what each found), not the end of all the searches
    worlds = [x.get("violations", []) for x in r["search"]]
    assert sorted(n for w in worlds for n in w) == sorted(
        n for n, e in p.items() if e["proof"] == "violated")
    when = [max(p[n]["seconds"] for n in w) for w in worlds if w]
    assert when == sorted(when) and when[0] < when[-1]
    # the last world found nothing: its search came after the last violation's time
    # (the report rounds each time to 0.01 s, so the sum may pass the total by that)
    assert worlds[-1] == [] and when[-1] + r["search"][-1]["seconds"] <= r["seconds"] + 0.01


MUT_SPECS = sorted((ROOT / "specs").glob("mut-*.toml"))


@pytest.mark.parametrize("path", MUT_SPECS, ids=lambda p: p.stem)
def test_each_mutation_violations_come_back_violated(path):
    """check prove --mutations X at 4 packets, 2 maps, 3 CPUs: every property of the five
    that the mutation's spec violates comes back ``violated``, found in the focus world
    of that spec (its CPUs' ops in any order, any number of times) and replayed at the
    full size.  The sub-size search is skipped (budget 1) so the focus world alone must
    find it."""
    import model

    sp = model.load(path)
    want = {p for p, v in sp.expect.items() if v == "violated" and p in PROVE_PROPERTIES}
    size = WorldSize(4, 2, 3, lock_failures=sp.lock_failures,
                     alloc_failures=sp.alloc_failures)
    r = prove(sp.design, sp.mutations, size, search_states=1, exhaustive_states=0,
              induction=False, progress=False, max_search_cpus=1,
              focus=(focus_from_spec(sp),), focus_states=200_000)
    got = {n for n, e in r["properties"].items() if e["proof"] == "violated"}
    assert want <= got, f"{path.stem}: not found: {sorted(want - got)}"
    for n in want:
        assert r["properties"][n]["trace"]


def test_the_requested_size_is_searched_once():
    """A size small enough to be one of the sub-sizes is explored once, with the
    exhaustive budget, not first to the search budget and then again from scratch."""
    r = prove("rfc-refcnt-guard", (), WorldSize(1, 1, 1), search_states=1_000,
              exhaustive_states=100_000, induction=False, progress=False)
    assert [x["sizes"] for x in r["search"]] == ["1 packets, 1 maps, 1 CPUs"]
    assert r["search"][0]["complete"] and r["exhaustive"]["states"] > 1_000
    assert r["exhaustive"]["states"] == r["search"][0]["states"]
    assert r["properties"]["no_double_free"]["method"] == "exhaustive"
    # with too small a budget the one pass is incomplete, and nothing is proved
    r = prove("rfc-refcnt-guard", (), WorldSize(1, 1, 1), search_states=1_000,
              exhaustive_states=2_000, induction=False, progress=False)
    assert r["exhaustive"]["complete"] is False and r["search"][0]["states"] < 3_000
    assert r["properties"]["no_double_free"]["proof"] == "unknown"


def test_an_exhaustive_pass_cut_at_its_budget_proves_nothing():
    """A size that is none of the search's sub-sizes gets its own exhaustive pass; cut
    at its budget, it proves nothing: every property it did not find violated is
    unknown (a planted slip that dropped the ``complete`` test went unnoticed)."""
    r = prove("rfc-refcnt-guard", (), WorldSize(3, 1, 1), search_states=200,
              exhaustive_states=500, induction=False, progress=False)
    assert "3 packets, 1 maps, 1 CPUs" not in [x["sizes"] for x in r["search"]]
    assert r["exhaustive"]["complete"] is False
    verdicts = {n: e["proof"] for n, e in r["properties"].items()}
    assert "proved" not in verdicts.values() and "unknown" in verdicts.values()


def test_focus_world_is_a_restriction():
    """A focus world only removes behaviours: per CPU, only the spec's ops (plus end)."""
    import model

    sp = model.load(ROOT / "specs" / "mut-no-owner-pin.toml")
    f = focus_from_spec(sp)
    assert f.cpu_ops == (("get(P1, M1, create)", "get(P1, M2, create)", "free(P1)"),
                         ("map_free(M1)",))
    m = build("rfc", (), f.world(WorldSize(4, 2, 3)))
    assert [o.text for o in m.cpu_alts[1]] == ["map_free(M1)", "end"]
    assert parse_focus("get,copy@2/1/1").world(WorldSize(4, 2, 3)).without
    for bad in ("get,nope@2/1/1", "get@2/1", "get@0/1/1", "@1/1/1"):
        with pytest.raises(ValueError):
            parse_focus(bad)


def test_a_path_changes_only_the_candidates_it_may_make_false():
    """What a path does to every candidate comes from one substitution and one
    simplification of all of them (induction._Bundle): a candidate over bytes the path
    does not write is unchanged, one the path makes true needs no query, the others
    are asked, and each one's term is Not(candidate) of the post-state."""
    import z3

    from checker.induction import _Bundle
    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    pre = [x, y]
    cands = {"y<=1": z3.ULE(y, 1), "x<=3": z3.ULE(x, 3), "x==0|x!=0": z3.Or(x == 0, x != 0),
             "x+y<9": z3.ULT(x + y, 9), "x<4": z3.ULT(x, 4)}
    b = _Bundle(cands)
    post = b.after(Path(1, z3.BoolVal(True), {0: x + 1}, ("inc",)), pre)
    assert post.changes == {"x<=3", "x+y<9", "x<4"}  # the tautology stays true
    post = b.after(Path(1, z3.BoolVal(True), {0: z3.BitVecVal(1, 8)}, ("set",)), pre)
    assert post.changes == {"x+y<9"}  # x<=3 and x<4 become true
    c = Candidate("x+y<9", None, None)
    assert post.negated(c).eq(z3.Not(z3.ULT(1 + y, 9)))
    s = z3.Solver()
    s.add(post.broken([c]), y == 8)
    assert s.check() == z3.sat


@pytest.mark.parametrize("rlimit,solver", [(None, "z3"), (1, "z3"), (1, "bitwuzla"),
                                           (1, "auto")])
def test_houdini_keeps_inductive_and_drops_with_cti(rlimit, solver, monkeypatch):
    """Also with every query past the incremental solver's effort limit (``rlimit``
    1), so each is answered by the fresh solver it then goes to (the way large worlds
    are answered), z3 or Bitwuzla: the same verdicts and counterexample."""
    import z3

    from checker import induction
    from model.symbolic import Path

    if rlimit:
        monkeypatch.setattr(induction, "INCREMENTAL_RLIMIT", rlimit)
    fresh, real = [], induction._PathSolver._fresh
    monkeypatch.setattr(induction._PathSolver, "_fresh",
                        lambda self, *a: fresh.append(a) or real(self, *a))

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    pre = [x, y]
    step = Path(1, z3.ULT(x, 3), {0: x + 1, 1: 1 - y}, ("inc",))
    wrap = Path(1, x == 3, {0: z3.BitVecVal(0, 8), 1: 1 - y}, ("wrap",))
    cands = [
        Candidate("x<=3", lambda s: s[0] <= 3, lambda v: z3.ULE(v[0], 3), goal=True),
        Candidate("parity", lambda s: s[1] == s[0] % 2,
                  lambda v: v[1] == z3.URem(v[0], 2)),
        Candidate("y<=1", lambda s: s[1] <= 1, lambda v: z3.ULE(v[1], 1)),
        Candidate("x<=2", lambda s: s[0] <= 2, lambda v: z3.ULE(v[0], 2), goal=True),
    ]
    r = houdini(pre, [bytes([0, 0])], [step, wrap], cands, solver=solver)
    assert "x<=3" in r.kept and "y<=1" in r.kept
    assert "x<=2" not in r.kept and r.dropped["x<=2"].state[0] == 2
    # parity breaks at the wrap (3 -> 0 flips y from 1 to 0: fine) -- it is inductive
    assert "parity" in r.kept
    assert bool(fresh) == bool(rlimit)  # these small queries fit the default limit


def test_auto_asks_z3_first_then_bitwuzla_from_the_first_query_z3_gives_up_on(
        monkeypatch):
    """``--solver auto``: z3 is given at most ``AUTO_Z3_MS`` of a query's limit; the
    first query it gives up on within that, and every later one, goes to Bitwuzla with
    the caller's whole limit.  A give-up within a limit no longer than ``AUTO_Z3_MS``
    is the caller's (no switch).  ``answered`` counts who answered what."""
    import z3

    from checker import induction

    x = z3.BitVec("x", 8)
    asked = []  # (solver, limit)
    real_z3 = induction._Answerer._z3
    gives_up = [False]

    def fake_z3(self, assertions, ms):
        asked.append(("z3", ms))
        if gives_up[0]:
            return z3.unknown, None
        return real_z3(self, assertions, ms)

    real_bw = induction.bitwuzla_solver.check
    monkeypatch.setattr(induction._Answerer, "_z3", fake_z3)
    monkeypatch.setattr(induction.bitwuzla_solver, "check",
                        lambda tr, a, pre, ms: asked.append(("bitwuzla", ms))
                        or real_bw(tr, a, pre, ms))
    a = induction._Answerer([x], "auto")
    ms = induction.AUTO_Z3_MS
    assert a([z3.ULT(x, 3), x == 5], 4 * ms)[0] == z3.unsat
    assert asked == [("z3", ms)]
    gives_up[0] = True
    assert a([x == 5], ms // 2)[0] == z3.unknown  # within the caller's own limit
    assert asked[1:] == [("z3", ms // 2)]
    r, mdl = a([z3.ULT(x, 3), x != 0], 4 * ms)  # z3 gives up within AUTO_Z3_MS
    assert r == z3.sat and mdl.eval(x).as_long() in (1, 2)
    assert asked[2:] == [("z3", ms), ("bitwuzla", 4 * ms)]
    gives_up[0] = False
    assert a([x == 5, x == 6], 4 * ms)[0] == z3.unsat  # Bitwuzla from now on
    assert asked[4:] == [("bitwuzla", 4 * ms)]
    assert a.answered == {"z3": 1, "bitwuzla": 2}


@pytest.mark.parametrize("rlimit", [None, 1])
def test_a_process_stops_trying_the_incremental_core_that_gives_up_on_everything(
        rlimit, monkeypatch):
    """Once z3's incremental core has given up on ``INCREMENTAL_MISSES`` queries in a
    row, the process asks the fresh solver first (at 4/2/3 each try cost 0.2 s and
    answered nearly nothing); a core that answers keeps being asked.  The verdicts
    are the same either way."""
    import z3

    from checker import induction
    from model.symbolic import Path

    if rlimit:
        monkeypatch.setattr(induction, "INCREMENTAL_RLIMIT", rlimit)
    monkeypatch.setattr(induction, "INCREMENTAL_MISSES", 2)
    asked, gave_up, fresh = [], [], []  # queries; the core's give-ups; fresh solvers
    real_check, real_fresh = induction._PathSolver.check, induction._PathSolver._fresh
    real_miss = induction._Answerer.miss
    monkeypatch.setattr(induction._PathSolver, "check",
                        lambda self, *a: asked.append(a) or real_check(self, *a))
    monkeypatch.setattr(induction._PathSolver, "_fresh",
                        lambda self, *a: fresh.append(a) or real_fresh(self, *a))
    monkeypatch.setattr(induction._Answerer, "miss",
                        lambda self: gave_up.append(1) or real_miss(self))
    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    paths = [Path(1, z3.ULT(x, 3 + k), {0: x + 1, 1: 1 - y}, (f"inc{k}",))
             for k in range(6)]
    cands = [Candidate("parity", lambda s: s[1] == s[0] % 2,
                       lambda v: v[1] == z3.URem(v[0], 2))]
    r = houdini([x, y], [bytes([0, 0])], paths, cands)
    assert r.kept == ["parity"] and len(asked) == 6
    if rlimit:  # the core gave up on the first two and was not asked again
        assert len(gave_up) == 2 and len(fresh) == 6
    else:
        assert not gave_up and not fresh


def test_houdini_drops_a_group_together():
    """Candidates of one group stand or fall together (per-CPU splits of a symmetric
    lemma): the inductive member of a group with a non-inductive one is dropped too,
    and the same candidate outside the group is kept."""
    import z3

    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    step = Path(1, z3.ULT(x, 3), {0: x + 1}, ("inc",))
    cands = [
        Candidate("y==0#a", lambda s: s[1] == 0, lambda v: v[1] == 0, group="g"),
        Candidate("x<=1#b", lambda s: s[0] <= 1, lambda v: z3.ULE(v[0], 1), group="g"),
        Candidate("y==0", lambda s: s[1] == 0, lambda v: v[1] == 0),
    ]
    r = houdini([x, y], [bytes([0, 0])], [step], cands)
    assert r.kept == ["y==0"]
    assert r.dropped["y==0#a"].state == r.dropped["x<=1#b"].state


@pytest.mark.parametrize("rounds", [False, True])
def test_houdini_rechecks_what_a_later_drop_leaves_unsupported(rounds):
    """``x == 0`` is preserved by ``bump`` (enabled only when y != 0) only while
    ``y == 0`` is assumed; ``set_y``, asked later in the same pass, refutes ``y == 0``,
    so ``bump`` must be asked again and ``x == 0`` dropped too (a planted slip that
    skipped the re-check kept it, and only an unrelated test noticed)."""
    import z3

    from checker.induction import houdini_rounds
    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    bump = Path(1, y != 0, {0: z3.BitVecVal(1, 8)}, ("bump",))
    set_y = Path(1, z3.BoolVal(True), {1: z3.BitVecVal(1, 8)}, ("set_y",))
    cands = [Candidate("x==0", lambda s: s[0] == 0, lambda v: v[0] == 0),
             Candidate("y==0", lambda s: s[1] == 0, lambda v: v[1] == 0),
             Candidate("x<=1", lambda s: s[0] <= 1, lambda v: z3.ULE(v[0], 1))]
    if rounds:
        r, _ = houdini_rounds([x, y], [bytes([0, 0])], [bump, set_y], cands,
                              key=lambda p: p.label[0])
    else:
        r = houdini([x, y], [bytes([0, 0])], [bump, set_y], cands)
    assert r.kept == ["x<=1"]
    assert set(r.dropped) == {"x==0", "y==0"}


def test_houdini_drops_what_an_initial_state_breaks():
    """A candidate false on an initial state is in no inductive set, even one no path
    breaks (here no path at all)."""
    import z3

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    cands = [Candidate("x==1", lambda s: s[0] == 1, lambda v: v[0] == 1),
             Candidate("y==0", lambda s: s[1] == 0, lambda v: v[1] == 0)]
    r = houdini([x, y], [bytes([0, 0])], [], cands)
    assert r.kept == ["y==0"] and "x==1" in r.dropped


def _choice_world():
    """Three paths of one step: ``inc`` and, from the same states (a free choice),
    ``keep`` (x unchanged) and ``jump`` (x := 5): asked as one query, ``jump`` must
    still be a successor (an if-then-else over the guards alone would hide it
    behind ``keep``)."""
    import z3

    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    paths = [Path(1, z3.ULT(x, 3), {0: x + 1}, ("inc",)),
             Path(1, z3.UGE(x, 3), {1: z3.BitVecVal(0, 8)}, ("keep",)),
             Path(1, z3.UGE(x, 3), {0: z3.BitVecVal(5, 8)}, ("jump",))]
    cands = [
        Candidate("x<=3", lambda s: s[0] <= 3, lambda v: z3.ULE(v[0], 3), goal=True),
        Candidate("y==0", lambda s: s[1] == 0, lambda v: v[1] == 0),
        Candidate("x<=5", lambda s: s[0] <= 5, lambda v: z3.ULE(v[0], 5), goal=True),
    ]
    return [x, y], paths, cands


@pytest.mark.parametrize("rlimit,solver", [(None, "z3"), (1, "bitwuzla")])
def test_merged_paths_keep_every_successor_and_name_the_path_taken(rlimit, solver,
                                                                   monkeypatch):
    """``merge_paths``: the paths of one step asked as one query give Houdini's result
    on the paths one by one, and a counterexample names the path it takes (here
    ``jump``, enabled in the same states as ``keep``), so that the report can replay
    it.  Also with every query answered by Bitwuzla, whose values must include the
    merged query's choice of path."""
    from checker import induction
    from model.symbolic import compile_path

    if rlimit:
        monkeypatch.setattr(induction, "INCREMENTAL_RLIMIT", rlimit)
    pre, paths, cands = _choice_world()
    merged = induction.merge_paths(pre, paths, lambda p: "one step")
    assert len(merged) == 1 and len(merged[0].parts) == 3
    one = houdini(pre, [bytes([0, 0])], paths, cands, solver=solver)
    r = houdini(pre, [bytes([0, 0])], merged, cands, solver=solver)
    assert sorted(r.kept) == sorted(one.kept) == ["x<=5", "y==0"]
    cti = r.dropped["x<=3"]
    assert cti.path.label == ("jump",) and cti.number == 2 and cti.state[0] >= 3
    z = {str(v): i for i, v in enumerate(pre)}
    assert list(compile_path(cti.path.guard, cti.path.writes, z)(cti.state)) == [5]


def test_a_substitution_keeps_the_terms_it_was_given():
    """model.expr.Substitution holds its pairs' terms: a 4/2/3 run crashed in z3
    ("unreachable") naming a merged query's path (induction._part), whose pre-state
    values, numerals made only for the substitution, had been freed before it was
    applied."""
    import gc
    import weakref

    import z3

    from model.expr import Substitution

    x = z3.BitVec("x", 8)
    v = z3.BitVecVal(201, 8)
    held = weakref.ref(v)
    at = Substitution([(x, v)])
    del v
    gc.collect()
    assert held() is not None
    assert z3.simplify(at(x + 1)).as_long() == 202


def test_a_merged_query_given_up_is_asked_path_by_path(monkeypatch):
    """A merged query the solver gives up on shows nothing: its paths are asked one by
    one (each as an unmerged path is), so a give-up on the merged query drops nothing
    an answer for the parts would keep."""
    import z3

    from checker import induction

    real = induction._PathSolver.check

    def check(self, query, timeout_ms):
        if "merged_path_choice" in str(self.base[0]):
            return z3.unknown, None
        return real(self, query, timeout_ms)

    monkeypatch.setattr(induction._PathSolver, "check", check)
    pre, paths, cands = _choice_world()
    merged = induction.merge_paths(pre, paths, lambda p: "one step")
    sc = induction.step_check(pre, [bytes([0, 0])], merged, cands, lambda p: "one step")
    assert sc.given_up == 1
    assert {n: c.path.label for n, c in sc.failures["one step"].items()} == {
        "x<=3": ("jump",)}


@pytest.mark.parametrize("rounds", [False, True])
def test_houdini_asks_no_path_about_a_goal_a_stronger_candidate_implies(rounds, monkeypatch):
    """``Candidate.implied_by``: a goal that an alive candidate implies on every state
    (z3 shows it once) is asked of no path, and kept with it; a goal whose stronger form
    is dropped is asked of every path again (here: kept, as it is inductive alone); a
    claimed implication that is false is ignored, and the goal is asked as usual
    (here: dropped, with its counterexample).  Houdini in whole rounds of step checks
    (``houdini_rounds``) the same."""
    import z3

    from checker import induction
    from model.symbolic import Path

    asked, real = [], induction._not_preserved

    def recorded(base, pre, todo, *a):
        asked.extend(c.name for c in todo)
        return real(base, pre, todo, *a)

    monkeypatch.setattr(induction, "_not_preserved", recorded)
    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    step = Path(1, z3.ULT(x, 3), {0: x + 1, 1: 1 - y}, ("inc",))
    wrap = Path(1, x == 3, {0: z3.BitVecVal(0, 8), 1: 1 - y}, ("wrap",))

    def le(name, i, k, **kw):
        return Candidate(name, lambda s: s[i] <= k, lambda v: z3.ULE(v[i], k), **kw)

    cands = [le("x<=3", 0, 3), le("x<=5", 0, 5, goal=True, implied_by="x<=3"),
             le("x<=2", 0, 2), le("x<=6", 0, 6, goal=True, implied_by="x<=2"),
             le("y<=1", 1, 1), le("x<=1", 0, 1, goal=True, implied_by="y<=1")]
    if rounds:
        r, _ = houdini_rounds([x, y], [bytes([0, 0])], [step, wrap], cands,
                              lambda p: p.label[0])
    else:
        r = houdini([x, y], [bytes([0, 0])], [step, wrap], cands)
    assert sorted(r.kept) == ["x<=3", "x<=5", "x<=6", "y<=1"]
    assert r.implied == {"x<=5": "x<=3"}
    assert "x<=5" not in asked and "x<=6" in asked and "x<=1" in asked
    assert r.dropped["x<=1"].state[0] == 1


def test_houdini_splits_a_query_z3_gives_up_on():
    """A query z3 gives up on (here: factoring a 121-bit number, 3 s limit) drops only
    the candidates z3 cannot answer for alone: asked one at a time, the easy candidate
    that shared the query is shown preserved and kept, and the hard one is asked alone
    twice (a tenth of the limit, then the whole limit) before it goes.  Without
    splitting, both go."""
    import z3

    from model.symbolic import Path

    x = z3.BitVec("x", 8)
    # two primes (2^61 - 1 and 10^18 + 3): z3 factored the 62-bit product of two 31-bit
    # primes within the 3 s on an idle machine, so the test only passed under load
    p, q = z3.BitVecs("p q", 128)
    hard = z3.And(z3.ULT(p, 2**64), z3.ULT(q, 2**64), z3.UGT(p, 1), z3.UGT(q, 1),
                  p * q == (2**61 - 1) * (10**18 + 3))
    step = Path(1, z3.ULT(x, 3), {0: x + 1}, ("inc",))
    cands = [Candidate("x<=3", lambda s: s[0] <= 3, lambda v: z3.ULE(v[0], 3), goal=True),
             Candidate("hard", lambda s: True, lambda v: z3.Or(v[0] != 2, z3.Not(hard)))]
    r = houdini([x], [bytes([0])], [step], cands, timeout_ms=3000)
    assert r.kept == ["x<=3"] and r.dropped["hard"].state == b"" and r.given_up >= 3
    r = houdini([x], [bytes([0])], [step], cands, timeout_ms=3000, split=False)
    assert r.kept == [] and r.given_up == 1
    assert r.dropped["x<=3"].state == r.dropped["hard"].state == b""


def test_houdini_asks_a_candidate_z3_gives_up_on_conjunct_by_conjunct(monkeypatch):
    """A candidate z3 gives up on alone (with the whole limit) is asked one conjunct
    at a time (here z3 is made to give up on every query that mentions both x and y;
    at 4 packets, 2 maps and 3 CPUs it gave up on no_leak after bpf_selem_unlink()'s
    last step, whose conjuncts, one per object, each answer in seconds): kept when
    every conjunct is preserved, dropped with the state that breaks a conjunct when one
    is not, and dropped with no state, as before, without splitting."""
    import z3
    from z3.z3util import get_vars

    from checker import induction, pieces
    from model.symbolic import Path

    class GivesUpOnXandY(induction._PathSolver):
        def check(self, query, timeout_ms):
            if {"x", "y"} <= {str(v) for v in get_vars(query)}:
                return z3.unknown, None
            return super().check(query, timeout_ms)

    monkeypatch.setattr(induction, "_PathSolver", GivesUpOnXandY)
    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    step = Path(1, z3.ULT(x, 3), {0: x + 1}, ("inc",))

    def both(bound):  # x <= bound and y == 0, as one candidate
        return Candidate(f"x<={bound},y==0", lambda s: s[0] <= bound and s[1] == 0,
                         lambda v: z3.And(z3.ULE(v[0], bound), v[1] == 0), goal=True)

    r = houdini([x, y], [bytes([0, 0])], [step], [both(3)], timeout_ms=1000)
    # alone from the start (with the whole limit), then its two conjuncts
    assert r.kept == ["x<=3,y==0"] and (r.given_up, r.queries) == (1, 3)
    r = houdini([x, y], [bytes([0, 0])], [step], [both(2)], timeout_ms=1000)
    assert r.kept == [] and r.dropped["x<=2,y==0"].state == bytes([2, 0])
    r = houdini([x, y], [bytes([0, 0])], [step], [both(3)], timeout_ms=1000, split=False)
    assert r.kept == [] and r.dropped["x<=3,y==0"].state == b"" and r.given_up == 1
    assert pieces.conjuncts(z3.And(x == 1, z3.Implies(y == 0, z3.And(x == 2, y == 1)))) \
        == [x == 1, z3.Implies(y == 0, x == 2), z3.Implies(y == 0, y == 1)]


def test_houdini_asks_a_conjunct_z3_gives_up_on_case_by_case(monkeypatch):
    """A conjunct z3 gives up on is asked as the cases of one variable's value (here
    z3 is made to give up on every query that does not fix y; at 4 packets, 2 maps and
    3 CPUs no_leak's conjuncts for three selems after bpf_selem_unlink()'s last step,
    path 552, answered in 12 to 53 s, and in 0.3 s a case with the unlinked storage
    fixed): the variables most compared with
    numerals first (x, 3 times), a variable abandoned at its first case z3 gives up on,
    then y's cases (0, 1, neither).  Kept when every case of y is unsatisfiable,
    dropped with the state of a satisfiable case when one is, and dropped with no
    state, as before, without splitting."""
    import z3
    from z3.z3util import get_vars

    from checker import induction, pieces
    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)

    limits = []

    class GivesUpUnlessYIsACase(induction._PathSolver):
        def check(self, query, timeout_ms):
            limits.append(timeout_ms)
            case = query.arg(query.num_args() - 1) if z3.is_and(query) else x
            if {str(v) for v in get_vars(case)} != {"y"}:
                return z3.unknown, None
            return super().check(query, timeout_ms)

    monkeypatch.setattr(induction, "_PathSolver", GivesUpUnlessYIsACase)
    monkeypatch.setattr(pieces, "NEST", 0)  # a case given up on is not split again
    toggle = z3.If(y == 0, z3.BitVecVal(1, 8), z3.If(y == 1, z3.BitVecVal(0, 8), y))
    step = Path(1, z3.ULT(x, 3), {0: x + 1, 1: z3.If(x == 5, y, z3.If(x == 6, y, z3.If(
        x == 7, y, toggle)))}, ("toggle",))

    def at_most(bound):
        return Candidate(f"y<={bound}", lambda s: s[1] <= bound,
                         lambda v: z3.ULE(v[1], bound), goal=True)

    assert [(str(v), ns) for v, ns in pieces.compared(
        induction._Bundle({"c": at_most(1).formula([x, y])}).after(step, [x, y]).term,
        [x, y])] == [("x", [5, 6, 7]), ("y", [0, 1])]
    r = houdini([x, y], [bytes([0, 0])], [step], [at_most(1)], timeout_ms=1000)
    # alone from the start (given up), one case of x (given up), y's three cases, each
    # case with a sixtieth of the limit
    assert r.kept == ["y<=1"] and (r.given_up, r.queries) == (2, 5)
    assert limits == [1000] + [16] * 4
    # two conjuncts: each given up with a tenth of the limit is asked case by case
    # before it would get the whole limit, which only the first query has
    limits.clear()
    r = houdini([x, y], [bytes([0, 0])], [step], [Candidate(
        "y<=1,y!=9", lambda s: s[1] <= 1, lambda v: z3.And(z3.ULE(v[1], 1), v[1] != 9),
        goal=True)], timeout_ms=1000)
    assert r.kept == ["y<=1,y!=9"] and limits.count(1000) == 1 and 100 in limits
    r = houdini([x, y], [bytes([0, 0])], [step], [at_most(0)], timeout_ms=1000)
    assert r.kept == [] and r.dropped["y<=0"].state[1] == 0
    r = houdini([x, y], [bytes([0, 0])], [step], [at_most(1)], timeout_ms=1000, split=False)
    assert r.kept == [] and r.dropped["y<=1"].state == b"" and r.given_up == 1


def test_a_case_z3_gives_up_on_is_split_again_on_what_it_selects(monkeypatch):
    """A case z3 gives up on is asked as the cases of another variable, the guard and
    query simplified with the first one fixed (here z3 is made to give up on every
    query that does not fix both x and y; at 4 packets, 2 maps and 3 CPUs no_leak's
    conjuncts for three selems after bpf_selem_unlink()'s last step, path 559, gave up
    on every case of the unlinked selem and answered with its predecessor fixed too):
    x first, as the guard compares it, then under each case of x, y's.  Kept with the
    split; dropped with no state without it (``NEST`` 0)."""
    import z3

    from checker import induction, pieces
    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    asked = []

    def cased(query):  # the variables the query's trailing case conjuncts fix
        out = set()
        while z3.is_and(query) and query.num_args() == 2:
            query, case = query.children()
            atoms = case.children() if z3.is_and(case) else [case]
            if not all(z3.is_eq(a) or z3.is_distinct(a) for a in atoms):
                break
            out |= {str(a.arg(0)) for a in atoms}
        return out

    class GivesUpUnlessXandYAreCases(induction._PathSolver):
        def check(self, query, timeout_ms):
            asked.append(sorted(cased(query)))
            if cased(query) != {"x", "y"}:
                return z3.unknown, None
            return super().check(query, timeout_ms)

    monkeypatch.setattr(induction, "_PathSolver", GivesUpUnlessXandYAreCases)
    toggle = z3.If(y == 0, z3.BitVecVal(1, 8), z3.If(y == 1, z3.BitVecVal(0, 8), y))
    # x picks what the step writes to y (as a local picks the slot a step writes)
    step = Path(1, z3.Or(x == 0, x == 1), {1: z3.If(x == 0, toggle, y)}, ("select",))
    not9 = Candidate("y!=9", lambda s: s[1] != 9, lambda v: v[1] != 9, goal=True)
    r = houdini([x, y], [bytes([0, 0])], [step], [not9], timeout_ms=1000)
    assert r.kept == ["y!=9"]
    # x's cases (0, 1, neither), each given up on alone and answered by y's cases
    assert asked[:3] == [[], ["x"], ["x", "y"]] and asked.count(["x"]) == 3
    asked.clear()
    monkeypatch.setattr(pieces, "NEST", 0)
    r = houdini([x, y], [bytes([0, 0])], [step], [not9], timeout_ms=1000)
    assert r.kept == [] and r.dropped["y!=9"].state == b""
    assert ["x", "y"] not in asked


def test_step_check_reports_what_the_whole_set_misses_not_the_cascade():
    """check prove --cti-per-step: with every candidate assumed, only the candidate
    the set itself cannot keep is reported (x<=1, at the step inc), not x<=2 and y==x,
    which Houdini drops after it (the cascade); each counterexample satisfies every
    candidate.  Houdini started without the refuted ones keeps the same set."""
    import z3

    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    inc = Path(1, z3.ULT(x, 5), {0: x + 1, 1: y + 1}, ("inc",))
    reset = Path(1, x == 5, {0: z3.BitVecVal(0, 8), 1: z3.BitVecVal(0, 8)}, ("reset",))
    cands = [
        Candidate("x<=1", lambda s: s[0] <= 1, lambda v: z3.ULE(v[0], 1)),
        Candidate("x<=2", lambda s: s[0] <= 2, lambda v: z3.ULE(v[0], 2)),
        Candidate("y==x", lambda s: s[1] == s[0], lambda v: v[1] == v[0]),
        Candidate("x<=5", lambda s: s[0] <= 5, lambda v: z3.ULE(v[0], 5), goal=True),
    ]
    sc = step_check([x, y], [bytes([0, 0])], [inc, reset], cands, lambda p: p.label[0])
    assert sc.steps == 2 and set(sc.failures) == {"inc"}
    assert set(sc.failures["inc"]) == {"x<=1"}
    cti = sc.failures["inc"]["x<=1"]
    assert all(c.holds(cti.state) for c in cands) and cti.state[0] == 1
    full = houdini([x, y], [bytes([0, 0])], [inc, reset], cands)
    assert set(full.dropped) == {"x<=1", "x<=2"}  # x<=2 only once x<=1 is gone
    rest = houdini([x, y], [bytes([0, 0])], [inc, reset], cands[1:])
    assert rest.kept == full.kept == ["y==x", "x<=5"]
    # nothing refuted: the whole set is inductive (one round of step checks)
    sc = step_check([x, y], [bytes([0, 0])], [inc, reset], cands[2:], lambda p: p.label[0])
    assert sc.failures == {} and sc.false_initially == [] and sc.queries == 1
    # --jobs: the paths shared out among forked processes, the same findings
    many = [inc, reset] * 3
    one = step_check([x, y], [bytes([0, 0])], many, cands, lambda p: p.label[0])
    two = step_check([x, y], [bytes([0, 0])], many, cands, lambda p: p.label[0], jobs=2)
    assert {k: {n: c.state for n, c in f.items()} for k, f in two.failures.items()} == \
        {k: {n: c.state for n, c in f.items()} for k, f in one.failures.items()}
    assert two.failures["inc"]["x<=1"].path is inc and two.steps == one.steps == 2
    # each path's time and queries, whichever process took it
    for sc in (one, two):
        assert [n for n, *_ in sc.per_path] == list(range(len(many)))
        assert sum(q for *_, q, _ in sc.per_path) == sc.queries
    # Houdini in whole rounds (what --cti-per-step runs): houdini's result, in 3 rounds
    # (x<=1 refuted, then x<=2, then nothing), also in two processes
    for jobs in (1, 2):
        seen = []
        res, first = houdini_rounds([x, y], [bytes([0, 0])], many, cands,
                                    lambda p: p.label[0], jobs=jobs,
                                    on_round=lambda r, sc, seen=seen: seen.append((r, set(
                                        n for f in sc.failures.values() for n in f))))
        assert res.kept == full.kept and set(res.dropped) == set(full.dropped)
        assert res.rounds == 3 and set(first.failures["inc"]) == {"x<=1"}
        # each round's refutations are reported as it ends, not only in the result
        assert seen == [(1, {"x<=1"}), (2, {"x<=2"}), (3, set())]


def test_step_check_workers_share_one_queue_of_paths():
    """--jobs: the forked workers take paths from one queue, each path once, so a
    worker with a slow stretch does not leave the other idle (the 4/2/3 runs' stride
    split had one worker finish 15 minutes after the other)."""
    import time

    from checker.induction import _forked, _Queue

    queue = _Queue(list(range(40)))

    def work(i):
        got = []
        for x in queue:
            got.append(x)
            time.sleep(0.02 if i == 0 else 0.001)  # worker 0 is slow
        return got

    slow, fast = _forked(2, work)
    assert sorted(slow + fast) == list(range(40))
    assert len(fast) > len(slow)  # the fast worker took more than its half
    assert queue.taken() >= 40


def test_a_round_says_which_candidates_z3_gave_up_on():
    """A long run's progress names, as each round ends, the candidates a step broke,
    and apart from them those dropped because z3 gave up (no state): a 4/2/3 run lost
    no_leak that way, and its log did not say which it was, nor at which of the step's
    18 paths."""
    from checker.induction import Cti, StepCheck
    from checker.prove_induction import round_report

    unlink = {"no_leak": Cti("no_leak", b"", None, (), 559),
              "heap:linked-in-list#st1": Cti("heap:linked-in-list#st1", b"\x01", None, ())}
    text = round_report(1, StepCheck({"bpf_selem_unlink": unlink}, 59, 6132.4, 26398, 141,
                                     ["ctl:idle#cpu1"]))
    assert text.splitlines() == [
        "  step check round 1: 26398 queries, 141 given up, 6132 s; 1 of 59 steps break "
        "a candidate",
        "    bpf_selem_unlink: no_leak, heap:linked-in-list (z3 gave up, no state: no_leak "
        "at path 559)",
        "    false initially: ctl:idle#cpu1"]
    unlink["no_leak"] = Cti("no_leak", b"\x02", None, ())
    assert "gave up" not in round_report(2, StepCheck({"bpf_selem_unlink": unlink}, 59, 1.0,
                                                      3, 0, []))
    # the solver that gave up is named (Bitwuzla answers what z3's core does not)
    unlink["no_leak"] = Cti("no_leak", b"", None, (), 559)
    assert "(bitwuzla gave up, no state: no_leak at path 559)" in round_report(
        1, StepCheck({"bpf_selem_unlink": unlink}, 59, 1.0, 3, 1, []), solver="bitwuzla")
    assert "(z3 or Bitwuzla gave up, no state: no_leak at path 559)" in round_report(
        1, StepCheck({"bpf_selem_unlink": unlink}, 59, 1.0, 3, 1, []), solver="auto")
    # where the round's time went: the slowest paths first, named by their step
    per_path = [(n, 0.5, 2, 0) for n in range(20)] + [(559, 152.4, 120, 24), (7, 9.0, 30, 1)]
    sc = StepCheck({}, 59, 170.0, 192, 25, [], per_path)
    text = round_report(1, sc, lambda n: "bpf_selem_unlink" if n == 559 else "kfunc")
    assert text.splitlines()[-2] == (
        "    slowest paths: 559 (bpf_selem_unlink) 152 s, 120 queries, 24 given up; "
        "7 (kfunc) 9 s, 30 queries, 1 given up; 0 (kfunc) 0 s, 2 queries, 0 given up; "
        "1 (kfunc) 0 s, 2 queries, 0 given up; 2 (kfunc) 0 s, 2 queries, 0 given up")
    # ... and the steps, each the sum of its paths (21 kfunc paths: 20 * 0.5 s + 9 s)
    assert text.splitlines()[-1] == (
        "    slowest steps: bpf_selem_unlink (1 paths) 152 s, 120 queries, 24 given up; "
        "kfunc (21 paths) 19 s, 70 queries, 1 given up")
    # merged queries (--merge-steps): a step counts the paths its query stands for
    text = round_report(1, sc, lambda n: "bpf_selem_unlink" if n == 559 else "kfunc",
                        paths_of=lambda n: 18 if n == 559 else 2)
    assert text.splitlines()[-1].startswith(
        "    slowest steps: bpf_selem_unlink (18 paths) 152 s, 120 queries, 24 given up; "
        "kfunc (42 paths) 19 s")


def test_rounds_of_step_checks_put_the_slowest_paths_in_the_json(capsys):
    """--cti-per-step's stats (the JSON's induction.step_check) name the first round's
    slowest paths by number and kernel step, and each round's stderr report ends with
    them."""
    import types

    import z3

    from checker.prove_induction import _houdini_in_rounds
    from model.symbolic import Path

    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    inc = Path(1, z3.ULT(x, 5), {0: x + 1, 1: y + 1}, ("inc",))
    reset = Path(1, x == 5, {0: z3.BitVecVal(0, 8), 1: z3.BitVecVal(0, 8)}, ("reset",))
    cands = [Candidate("y==x", lambda s: s[1] == s[0], lambda v: v[1] == v[0]),
             Candidate("x<=5", lambda s: s[0] <= 5, lambda v: z3.ULE(v[0], 5), goal=True)]
    m = types.SimpleNamespace(label_parts=lambda label: {"steps": [f"step_{label[0]}"]})
    stats = {}
    res = _houdini_in_rounds(m, types.SimpleNamespace(pre=[x, y]), [bytes([0, 0])],
                             [inc, reset, inc], cands, stats, True, 1, 1000)
    assert res.kept == ["y==x", "x<=5"] and res.rounds == 1
    slow = stats["step_check"]["slowest_paths"]
    assert sorted(p["path"] for p in slow) == [0, 1, 2]
    assert {p["path"]: p["step"] for p in slow} == {0: "step_inc", 1: "step_reset",
                                                   2: "step_inc"}
    # reset makes both true (no query); inc is one query each time
    assert {p["path"]: (p["queries"], p["given_up"]) for p in slow} == {
        0: (1, 0), 1: (0, 0), 2: (1, 0)}
    # per step, the sum of its paths: the two inc paths are one step
    steps = {p["step"]: p for p in stats["step_check"]["slowest_steps"]}
    assert {k: (p["paths"], p["queries"], p["given_up"]) for k, p in steps.items()} == {
        "step_inc": (2, 2, 0), "step_reset": (1, 0, 0)}
    assert steps["step_inc"]["seconds"] == pytest.approx(
        sum(p["seconds"] for p in slow if p["step"] == "step_inc"))
    err = capsys.readouterr().err
    assert "slowest paths: " in err and "slowest steps: step_inc (2 paths)" in err
    # the progress line (its first call always shows), paths counted as taken; a line
    # of its own when stderr is not a terminal (here: captured), not rewritten with \r
    assert "  step check round 1: path 1/3 taken, 2 candidates alive, 0 min\n" in err
    assert "\r" not in err


def test_every_worker_reports_progress(tmp_path):
    """--jobs: each forked worker reports the paths it takes (a 4/2/3 run's line sat
    at one number for half an hour while worker 0 was on a slow stretch of paths and
    only worker 0 reported)."""
    import os
    import time

    import z3

    from model.symbolic import Path

    x = z3.BitVec("x", 8)
    inc = Path(1, z3.ULT(x, 5), {0: x + 1}, ("inc",))
    log = tmp_path / "progress"

    def progress(n, total):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {n} {total}\n")
        time.sleep(0.01)

    step_check([x], [bytes([0])], [inc] * 40, [Candidate(
        "x<=5", lambda s: s[0] <= 5, lambda v: z3.ULE(v[0], 5), goal=True)],
        lambda p: p.label[0], progress=progress, jobs=2)
    rows = [line.split() for line in log.read_text().splitlines()]
    assert len(rows) == 40 and {r[2] for r in rows} == {"40"}
    assert len({r[0] for r in rows}) == 2  # both workers, each its own process


def test_houdini_progress_line_is_written_by_the_clock_not_every_fiftieth_query(
        capsys, monkeypatch):
    """Plain Houdini's progress line (``--jobs 1``) is rewritten at most once in
    PROGRESS_SECONDS, whatever the query number: with one query per step, a line
    written every fiftieth query sat at "step 50/63" for ten minutes at 4/2/4."""
    import checker.prove_induction as pi

    monkeypatch.setattr(pi, "PROGRESS_SECONDS", 0)
    line = pi._progress_line(True, pi.HOUDINI_LINE, "step")
    for n in (0, 1, 2, 51):
        line(1, n, 63, 578)
    err = capsys.readouterr().err
    assert [f"step {n}/63" in err for n in (0, 1, 2, 51)] == [True] * 4
    # not a terminal (captured): each a line of its own, for a log
    assert "  houdini round 1: step 1/63, 578 candidates alive, 0 min\n" in err
    monkeypatch.setattr(pi, "PROGRESS_SECONDS", 3600)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: rewritten
    line = pi._progress_line(True, "{n}\r", "step")
    for n in (7, 8, 50):
        line(1, n, 63, 578)
    assert capsys.readouterr().err == "7\r"  # the first call always, then the clock
    pi._progress_line(False, "{n}\r", "step")(1, 0, 63, 578)
    assert capsys.readouterr().err == ""


def test_leave_out_names_lemmas_or_prefixes_never_goals():
    """--leave-out: a lemma by name (all its per-CPU candidates), or a prefix with *;
    goals are never left out; a pattern that names nothing is reported."""
    from checker.prove_induction import _leave_out

    def cand(name, goal=False):
        return Candidate(name, lambda s: True, lambda v: True, goal=goal)

    cands = [cand("no_leak", goal=True), cand("no-oops"), cand("hlist:snode"),
             cand("hlist:map_node"), cand("ctl:idle#cpu1"), cand("ctl:idle#cpu2"),
             cand("guard:owner")]
    stats = {}
    left = _leave_out(cands, ("no-oops", "hlist:*", "ctl:idle", "no_leak", "nothing*"), stats)
    assert [c.name for c in left] == ["no_leak", "guard:owner"]
    assert stats["left_out"] == ["no-oops", "hlist:snode", "hlist:map_node", "ctl:idle"]
    assert stats["left_out_unmatched"] == ["no_leak", "nothing*"]


def test_a_lemma_in_parts_is_one_lemma():
    """heap:linked-in-list is one candidate per storage head and ``#named``, in one
    group (Houdini keeps or drops them together, test_houdini_drops_a_group_together)
    that the report names once: their conjunction is the lemma.  A state whose storage
    head lost its linked selem breaks that head's part and no other."""
    from checker.prove_induction import candidates, lemma_names

    m = _W111
    L = m.layout
    parts = [c for c in candidates(m, ["no_leak"], {}, heap=True)
             if c.name.startswith("heap:linked-in-list")]
    assert sorted(c.name for c in parts) == ["heap:linked-in-list#named", *(
        f"heap:linked-in-list#st{st}" for st in range(1, L.storage.n + 1))]
    assert {c.group for c in parts} == {"heap:linked-in-list"}
    assert lemma_names(c.name for c in parts) == ["heap:linked-in-list"]
    ex = explore(m, [], 3_000, keep_graph=False)
    s, q = next((s, q) for s in ex.states for q in range(1, L.selem.n + 1)
                if s[L.selem.idx(q, "spprev")])
    assert all(c.holds(s) for c in parts)
    st = s[L.selem.idx(q, "local_storage")]
    b = bytearray(s)
    b[L.storage.idx(st, "first")] = 0
    assert [c.name for c in parts if not c.holds(bytes(b))] == [f"heap:linked-in-list#st{st}"]


def test_step_check_report_renders():
    """The text report of --cti-per-step names each failing step, what it does not
    preserve and the counterexample (the JSON's induction.step_check)."""
    from checker.proofs import _induction_line, _step_check_lines

    cti = [{"thread": "", "op": "", "step": "state satisfying the invariant and lemmas",
            "function": "", "calls": [], "notes": [], "changes": {"cpu1.pc": "7"}},
           {"thread": "cpu1", "op": "free(P1)", "step": "kmem_cache_free(ext)",
            "function": "__skb_ext_put", "calls": [], "notes": ["after this step"],
            "changes": {"ext1": "freed"}}]
    sc = {"steps": 57, "seconds": 3.0, "queries": 1233, "queries_given_up": 0,
          "candidates": 291, "not_preserved": ["no_leak"],
          "failing_steps": [{"step": "kmem_cache_free(ext)", "not_preserved": ["no_leak"],
                             "cti": cti}]}
    text = "\n".join(_step_check_lines(sc))
    assert "57 steps, 1 of them do not preserve 1 candidates" in text
    assert "step kmem_cache_free(ext): not preserved: no_leak" in text
    assert "counterexample for no_leak" in text and "ext1: freed" in text
    sc.update(failing_steps=[], not_preserved=[])
    assert "each preserves every candidate" in "\n".join(_step_check_lines(sc))
    line = _induction_line({"paths": 1233, "relation_seconds": 16.6, "rounds": 1,
                            "queries": 1233, "lemmas_kept": ["a"], "seconds": 62,
                            "step_check": dict(sc, jobs=2)})
    assert ("Houdini in 1 rounds of step checks (the first: every step preserves every "
            "candidate), 2 processes, 1,233 queries") in line, line
    line = _induction_line({"paths": 9, "relation_seconds": 1, "rounds": 2, "queries": 30,
                            "queries_given_up": 4, "query_seconds": 7.5, "lemmas_kept": [],
                            "seconds": 3})
    assert "(z3 gave up on 4 within 7.5 s: asked again in pieces)" in line, line
    # --solver auto (the default): who answered the queries past z3's incremental core
    line = _induction_line({"paths": 9, "relation_seconds": 1, "rounds": 2, "queries": 30,
                            "queries_given_up": 4, "query_seconds": 7.5, "lemmas_kept": [],
                            "seconds": 3, "solver": "auto",
                            "answered_by": {"z3": 1200, "bitwuzla": 33}})
    assert "(z3 or Bitwuzla gave up on 4 within 7.5 s" in line, line
    assert ("queries past z3's incremental core answered by z3 (1,200) and Bitwuzla (33)"
            in line), line


def test_control_lemmas_prove_no_shared_storage_with_two_packets_on_two_cpus(monkeypatch):
    """check prove --control-lemmas proves no_shared_storage by induction on
    rfc-refcnt-guard with two packets on two CPUs, restricted to get and clone (the op
    that shares an ext and the kfunc whose guard must refuse it): every interleaving of
    a clone with a get on the other CPU, which is the race the refcnt guard closes.
    Houdini keeps the guard argument (guard:*), the exact ext refcount and no-oops, and
    the report names them.  (Two CPUs include every one-CPU run: a CPU may stay idle.)"""
    quiet = ("ext_del", "ext_add", "scrub", "write", "read", "unclone", "copy", "delete",
             "map_free", "free")
    import time

    import checker.prove_induction as pi

    merge = pi.merge_paths

    def slow_merge(*a, **k):  # the time before Houdini counts in a goal's seconds
        time.sleep(1.5)
        return merge(*a, **k)

    monkeypatch.setattr(pi, "merge_paths", slow_merge)
    r = prove("rfc-refcnt-guard", (), WorldSize(2, 1, 2, without=quiet), search_states=100,
              exhaustive_states=0, control_lemmas=True, progress=False, max_search_cpus=1,
              query_seconds=30)
    e = r["properties"]["no_shared_storage"]
    assert (e["proof"], e.get("method")) == ("proved", "induction")
    assert {"guard:exclusive", "guard:owner", "ext-refcnt", "no-oops"} <= set(e["lemmas"])
    # one query per kernel step, the default (--merge-steps)
    assert r["induction"]["merge_steps"] is True
    assert r["induction"]["merged_queries"] < r["induction"]["paths"] / 5
    assert r["induction"]["queries_given_up"] == 0 and r["induction"]["query_seconds"] == 30
    # proved when Houdini ends, counted from the start of the induction (the merging
    # included), not from the end of the relation
    assert r["induction"]["before_houdini_seconds"] >= r["induction"]["relation_seconds"] + 1.5
    assert e["seconds"] >= r["induction"]["seconds"] - 0.5
    from checker.proofs import details

    line = [x for x in details([r]).splitlines() if x.startswith("  induction: relation")]
    assert len(line) == 1 and "lemmas kept" in line[0] and "given up" not in line[0]


def test_control_lemmas_hold_on_reachable_states_and_are_not_vacuous():
    """The ctl:* lemmas (invariants/control.py: constants the step code gives a CPU's
    registers at each control value) hold on reachable states: the complete one-packet
    world and the first 30,000 states with two CPUs, each CPU's registers checked
    against the constants of its control value (every state), and the lemmas
    themselves evaluated on every 50th state.  A register state no run produces
    breaks them: x_new set on an idle CPU, an op's packet on a CPU that never
    started one."""
    from checker.prove_induction import world_control
    from invariants.control import NAMES, UNKNOWN, control_lemmas

    for size, budget in ((WorldSize(1, 1, 1), 100_000), (WorldSize(1, 1, 2), 30_000)):
        if size == _W111.size:
            m, facts = _W111, _control_111()
        else:
            m = build("rfc-refcnt-guard", (), size)
            facts = world_control(m)
        init = m.initial_states()
        lem = control_lemmas(m, Concrete, facts)
        assert len(lem) > 100 and "ctl:known" in lem
        ex = explore(m, [], budget, keep_graph=False)
        assert len(ex.states) >= 30_000
        th = m.layout.thread
        for i, s in enumerate(ex.states):
            for t in range(1, th.n + 1):
                got = facts[tuple(s[th.idx(t, r)] for r in NAMES)]
                assert all(s[th.idx(t, f)] == v for f, v in got.items() if v is not UNKNOWN)
            if i % 50 == 0:
                assert all(f(s) for f in lem.values())
    s0 = bytearray(init[0])
    s0[th.idx(2, "x_new")] = 1
    assert not lem["ctl:idle/-/rcu0"](bytes(s0))
    s0 = bytearray(init[0])
    s0[th.idx(1, "a_skb")] = 1
    assert not lem["ctl:idle/-/rcu0"](bytes(s0))


def test_heap_lemmas_hold_without_ext_del_and_come_into_play():
    """The heap:* lemmas (invariants/heap.py, ``check prove --heap-lemmas``) hold, as
    claimed (until an oops), on every state of the one-packet world of
    rfc-refcnt-guard without ext_del, on the first states of its two-CPU and two-map
    worlds, of two packets on two CPUs, of three packets made by clone and of one
    packet and two maps with get, free and map_free only (the heap:solo-* lemmas only
    exist in one-CPU worlds and worlds without map_free), and they are about states
    that occur: a destroy and a map_free racing on one selem (a state bit set on an
    allocated selem, both sides in bpf_selem_unlink_nofail() on one selem, which the
    two-CPU lemmas of that race are about), two selems on one storage list, an
    unlinked selem whose stale ->snode.next and ghost g_ls are all that is left of its
    storage (heap:snext-g-ls).  With ext_del, finding 3 breaks some of them (a storage
    whose owner no longer points at it: the data area ext_del left), so they are not
    vacuous."""
    from checker.prove_induction import until_oops
    from invariants.heap import goal_lemmas, heap_lemmas
    from model.layout import MEM_LIVE

    quiet = ("copy", "delete", "unclone", "ext_add", "scrub", "map_free", "write", "read")
    # (size, state budget, complete, at least this many states)
    worlds = ((WorldSize(1, 1, 1, without=("ext_del",)), 100_000, True, 10_000),
              (WorldSize(1, 1, 2, without=("ext_del",)), 25_000, False, 10_000),
              (WorldSize(1, 2, 1, without=("ext_del",)), 20_000, False, 10_000),
              (WorldSize(2, 1, 2, without=("ext_del",)), 10_000, False, 10_000),
              (WorldSize(3, 1, 1, without=("ext_del", *quiet)), 60_000, True, 10_000),
              # get, free and map_free on one packet with two maps: two selems on one
              # list, the newer one unlinked by a nofail while its ->next stays
              (WorldSize(1, 2, 1, without=("ext_del", "clone", *(
                  o for o in quiet if o != "map_free"))), 5_000, True, 2_000),
              # the same on two CPUs: two map_frees at once, a program next to the
              # map_free of the other map (80,750 states in all)
              (WorldSize(1, 2, 2, without=("ext_del", "clone", *(
                  o for o in quiet if o != "map_free"))), 15_000, False, 10_000))
    two_sides = {f"heap:{n}" for n in (
        "nofail-count", "nofail-ls-sm", "state-done", "nofail-freed", "walk-done",
        "walk-next-freed", "walk-reach", "next-older", "nofail-pair-live", "walk-next-alone",
        "ahead-of-one", "destroy-ext-null", "destroy-owner", "map-free-one", "mnext-g-map",
        "map-free-sync", "nofail-ls-readable", "nofail-unpinned", "nofail-sm-count",
        "destroy-left", "nofail-pair-ls", "dead-storage-left", "destroy-side-done",
        "unpin-empty", "map-ahead-bucket", "ahead-ls-readable", "unpin-cursor-end",
        "ahead-in-storage", "ahead-no-bit", "alloc-prefix")}
    seen = {"state bit": False, "two on a list": False, "two sides in nofail": False,
            "stale next, storage in the ghost only": False, "two map_free walks": False,
            "owner pointer cleared by a map_free": False}
    for size, budget, complete, least in worlds:
        m = build("rfc-refcnt-guard", (), size)
        L, th = m.layout, m.layout.thread
        lem = {n: until_oops(m, Concrete, f) for n, f in heap_lemmas(m, Concrete).items()}
        assert len(lem) >= 50
        lem.update(goal_lemmas(m, Concrete))  # claimed outright, like their goals
        # the lemmas of a destroy and a map_free racing exist where they can race
        assert (two_sides <= set(lem)) == (size.cpus > 1 and "map_free" not in size.without)
        ex = explore(m, [], budget, keep_graph=False)
        assert ex.complete == complete and len(ex.states) >= least
        for s in ex.states:
            for n, f in lem.items():
                assert f(s), (size, n)
            if th.n > 1 and s[th.idx(1, "n_selem")] and s[th.idx(1, "n_bucket")] != s[
                    th.idx(2, "n_bucket")] and s[th.idx(1, "n_selem")] == s[th.idx(2, "n_selem")]:
                seen["two sides in nofail"] = True
            if th.n > 1 and s[th.idx(1, "m_cursor")] and s[th.idx(2, "m_cursor")]:
                seen["two map_free walks"] = True  # heap:map-cursor-g-map
            if any(s[L.storage.idx(st, "g_cleared")] for st in range(1, L.storage.n + 1)):
                seen["owner pointer cleared by a map_free"] = True  # heap:cleared-unreached
            for q in range(1, L.selem.n + 1):
                if s[L.selem.idx(q, "mem")] == MEM_LIVE and s[L.selem.idx(q, "state")]:
                    seen["state bit"] = True
                if s[L.selem.idx(q, "spprev")] > 1:
                    seen["two on a list"] = True
                if (s[L.selem.idx(q, "snext")] and not s[L.selem.idx(q, "spprev")]
                        and not s[L.selem.idx(q, "local_storage")] and s[L.selem.idx(q, "g_ls")]):
                    seen["stale next, storage in the ghost only"] = True  # heap:snext-g-ls
    assert all(seen.values()), seen
    m = build("rfc-refcnt-guard", (), WorldSize(1, 1, 1))
    owner = until_oops(m, Concrete, heap_lemmas(m, Concrete)["heap:storage-owner"])
    ex = explore(m, [], 300_000, keep_graph=False)
    assert ex.complete and not all(owner(s) for s in ex.states)  # a kept pointer's storage


def test_heap_lemmas_prove_two_maps_on_two_cpus():
    """rfc-refcnt-guard without ext_del, 1 packet, 2 maps, 2 CPUs: two map_frees of two
    maps walk at once, and a program on one map runs next to the map_free of the other
    (heap:freeing_elsewhere).  Every step preserves every candidate (one round) and all
    five are proved, with the lemmas these races need among those kept: map_free's
    cursor stays in its map, a kfunc's map is alive and in its run's runmaps, the cache
    slots of the storage a kfunc read, the storage nofail read is the selem's g_ls, a
    live storage whose owner_refcnt is 0 has an empty list, and those that read the ghost
    g_cleared (which map_free cleared owner->storage).  One query per step (the
    default, ``--merge-steps``: the same lemmas as one per path in 2/5 of the time)."""
    r = prove("rfc-refcnt-guard", (), WorldSize(1, 2, 2, without=("ext_del",)),
              search_states=100, exhaustive_states=0, heap_lemmas=True, progress=False,
              max_search_cpus=1)
    assert r["induction"]["merged_queries"] < r["induction"]["paths"] / 10
    for n, e in r["properties"].items():
        assert (e["proof"], e.get("method")) == ("proved", "induction"), n
    assert r["induction"]["rounds"] == 1 and r["induction"]["queries_given_up"] == 0
    # the default solver, and who answered the queries past z3's incremental core
    assert r["induction"]["solver"] == "auto"
    assert set(r["induction"]["answered_by"]) == {"z3", "bitwuzla"}
    # no_leak was asked of no path: heap:no-leak-within, kept, implies it
    assert r["induction"]["goals_implied"] == {"no_leak": "heap:no-leak-within"}
    kept = set(r["properties"]["no_use_after_free"]["lemmas"])
    assert {f"heap:{n}" for n in (
        "map-cursor-g-map", "run-map", "run-maps-alive", "cache-readable", "cache-own-slot",
        "g-ext-read", "g-storage-owner", "u-storage-owner", "cache-g-ls", "nofail-g-ls",
        "zero-refcnt-empty", "lost-unreached", "cleared-unreached", "map-free-sync-cleared",
        "destroy-ext-cleared")} <= kept, \
        sorted(kept)


def test_heap_lemmas_prove_the_fix_with_ext_del_on_two_cpus():
    """rfc-fix with ext_del (finding 3's trigger) on two CPUs, without map_free (so
    nobody races a bpf_selem_unlink_nofail() and the heap:solo-* lemmas apply): the
    heap lemmas hold on the first states of the one-packet world, Houdini keeps them all
    (heap:ext-reset among them: get destroys the storage a re-activated data area
    still holds) and all five goals are proved (one query per step, the default)."""
    from checker.prove_induction import until_oops
    from invariants.heap import heap_lemmas

    size = WorldSize(1, 1, 2, without=("map_free",))
    m = build("rfc-fix", (), size)
    lem = {n: until_oops(m, Concrete, f) for n, f in heap_lemmas(m, Concrete).items()}
    ex = explore(m, [], 100_000, keep_graph=False)
    assert ex.complete and len(ex.states) > 40_000
    # the proof below entails them on every reachable state; the explicit model checks
    # the first 10,000 (all 45,572 took 45 s of CI, which is at its limit)
    assert all(f(s) for s in list(ex.states)[:10_000] for f in lem.values())
    assert {"heap:ext-reset", "heap:solo-nofail"} <= set(lem)
    assert "heap:bpf-active" not in lem
    assert "heap:solo-nofail" not in heap_lemmas(build("rfc-fix", (), WorldSize(1, 1, 2)),
                                                 Concrete)
    r = prove("rfc-fix", (), size, search_states=100, exhaustive_states=0,
              heap_lemmas=True, progress=False, max_search_cpus=1)
    for n, e in r["properties"].items():
        assert (e["proof"], e.get("method")) == ("proved", "induction"), n
    assert "heap:ext-reset" in r["properties"]["no_leak"]["lemmas"]
    lem = set(r["properties"]["no_double_free"]["lemmas"])
    assert {"heap:nofail-unlinks", "heap:state-bits", "heap:solo-nofail",
            "heap:cursor-next", "heap:walks-exclusive", "heap:kfunc-exclusive",
            "heap:update-storage", "heap:reg-allocated"} <= lem, sorted(lem)
    assert r["induction"]["queries_given_up"] == 0


def test_lemmas_are_claimed_until_an_oops():
    """With --control-lemmas, lemmas are candidates only while no CPU has oopsed
    (prove_induction.until_oops): a state with a dead CPU satisfies every lemma but
    no-oops, which is claimed outright, and not the goals; without, the catalogue is
    claimed on every state as before; with --outright, the lemmas are claimed on the
    dead CPU's state too."""
    from checker.prove_induction import candidates
    from model.openworld import DEAD

    m = _W111
    s = bytearray(m.initial_states()[0])
    s[m.layout.thread.idx(1, "opi")] = DEAD
    s[m.layout.G["obs_uaf"]] = 1
    s[m.layout.thread.idx(1, "x_new")] = 200  # out of every range
    cands = candidates(m, ["no_use_after_free"], _control_111())
    assert not cands[0].holds(bytes(s))
    assert [c.name for c in cands[1:] if not c.holds(bytes(s))] == ["no-oops"]
    plain = candidates(m, ["no_use_after_free"])  # without --control-lemmas: as before
    assert not all(c.holds(bytes(s)) for c in plain[1:])
    # --outright: the same lemmas claimed on every state, oopses included; they agree
    # with the default on a state without an oops
    out = candidates(m, ["no_use_after_free"], _control_111(), outright=True)
    assert [c.name for c in out] == [c.name for c in cands]
    broken = {c.name for c in out if not c.holds(bytes(s))}
    assert {"no-oops", "ctl:idle/-/rcu0/dead#cpu1", "idle-clear"} <= broken, sorted(broken)
    init = m.initial_states()[0]
    assert all(c.holds(init) for c in out) and all(c.holds(init) for c in cands)


def test_cli_prove_bad_usage_is_one_line():
    out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", "--skbs", "0"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--skbs" in out.stderr
    out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", "--mutations",
                          "nope"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "unknown mutation 'nope'" in out.stderr
    for args, msg in ((["--focus", "get,nope@1/1/1"], "unknown op 'nope'"),
                      (["--focus-spec", "nope.toml"], "no such spec file"),
                      (["--focus-states", "0"], "--focus-states must be at least 1"),
                      (["--search-cpus", "0"], "--search-cpus must be at least 1"),
                      (["--query-seconds", "0"], "--query-seconds must be more than 0"),
                      (["--solver", "cvc5"], "unknown solver 'cvc5' (auto, z3 or bitwuzla)")):
        out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", *args],
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 2 and msg in out.stderr
        assert out.stderr.strip().count("\n") == 0


def test_cli_prove_search_cpus_bounds_the_smaller_worlds_searched(monkeypatch, capsys):
    """--search-cpus N (default 2) is the most CPUs a smaller world searched for
    violations has; with 1 the two-CPU worlds are left out."""
    from checker import cli, proofs
    from checker.prover import search_worlds
    from model.openworld import WorldSize

    seen = []

    def fake(*_, **k):
        seen.append(k["max_search_cpus"])
        return {"properties": {}}

    monkeypatch.setattr(proofs, "prove", fake)
    for args in ([], ["--search-cpus", "1"], ["--search-cpus", "3"]):
        assert cli.main(["prove", "--json", "-q", *args]) == 0
    assert seen == [2, 1, 3]
    capsys.readouterr()
    cpus = {n: {z.cpus for z, _ in search_worlds(WorldSize(4, 2, 3), n)} for n in seen}
    assert cpus == {2: {1, 2}, 1: {1}, 3: {1, 3}}


def test_cli_prove_merges_steps_unless_told_not_to(monkeypatch, capsys):
    """One query per kernel step is the default; --no-merge-steps asks one per path
    (and --merge-steps, from before it was the default, is still accepted)."""
    from checker import cli, proofs

    seen = []

    def fake(*_, **k):
        seen.append(k["merge_steps"])
        return {"properties": {}}

    monkeypatch.setattr(proofs, "prove", fake)
    for args in ([], ["--merge-steps"], ["--no-merge-steps"]):
        assert cli.main(["prove", "--json", "-q", *args]) == 0
    assert seen == [True, True, False]
    capsys.readouterr()


@pytest.mark.parametrize("design", ["rfc"])
def test_cli_prove_json_shape(design):
    out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", "--design", design,
                          "--skbs", "2", "--maps", "1", "--cpus", "1", "--search-states",
                          "20000", "--exhaustive-states", "0", "--no-induction", "--json",
                          "-q", "--no-traces"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1  # violations: not everything proved
    rep = json.loads(out.stdout)
    assert rep["format"] == 1
    pr = rep["proofs"][0]
    assert pr["design"] == design and pr["sizes"]["skbs"] == 2
    for n in PROVE_PROPERTIES:
        e = pr["properties"][n]
        assert e["proof"] in ("proved", "violated", "unknown")
        assert "seconds" in e and "lemmas" in e
        assert ("trace" in e) == (e["proof"] == "violated")


def test_list_lemmas_hold_on_reachable_states():
    """The hlist lemmas (pprev/next agree, the head's first node has pprev == head, a
    linked node is live) hold on every state of three small worlds: one packet; one
    packet and two maps (two selems on one storage list); three packets with clone
    (storages 1 and 3 hash to one map bucket).  The model's hlist_add_head_rcu /
    hlist_del_init_rcu keep the kernel's links, so Houdini loses nothing by proposing
    them."""
    from invariants.lemmas import Lemmas

    quiet = ("unclone", "ext_add", "ext_del", "scrub", "map_free", "write", "read")
    worlds = ((WorldSize(1, 1, 1), 200_000, ""),
              (WorldSize(1, 2, 1, without=("clone", "copy", *quiet)), 60_000, "spprev"),
              (WorldSize(3, 1, 1, without=("copy", "delete", *quiet)), 100_000, "mpprev"))
    for size, budget, behind in worlds:
        m = build("rfc", (), size)
        L = m.layout
        lem = {n: f for n, f in Lemmas(m).all().items()
               if n.startswith("hlist:") or n.endswith("pprev")}
        assert len(lem) == 7  # ranges, links, head, linked-live
        ex = explore(m, [], budget)
        assert len(ex.states) >= 10_000
        for s in ex.states:
            for n, f in lem.items():
                assert f(s), (n, s)
        if behind:  # some state has a node behind another on such a list
            assert any(s[L.selem.idx(q, behind)] > 1 for s in ex.states
                       for q in range(1, L.selem.n + 1))


_W111 = build("rfc-refcnt-guard", (), WorldSize(1, 1, 1))
_CONTROL: list = []


def _control_111():
    """The ctl:* constants of _W111 (its relation is built once, about 20 s)."""
    if not _CONTROL:
        from checker.prove_induction import world_control

        _CONTROL.append(world_control(_W111))
    return _CONTROL[0]


def _solver_pinned(F, p, guard, ridx, cur) -> dict:
    """What invariants/control.py's ``_pinned`` computed until 2026-12-05: each
    register the path leaves alone whose value the guard allows only one of, asked of
    a solver."""
    import z3

    from invariants.control import UNKNOWN

    ask = [f for f, i in ridx.items() if cur[f] is UNKNOWN and i not in p.writes]
    s = z3.SimpleSolver()
    s.add(guard)
    if not ask or s.check() != z3.sat:
        return {}
    mdl, out = s.model(), {}
    for f in ask:
        v = mdl.eval(F.pre[ridx[f]], model_completion=True)
        if s.check(F.pre[ridx[f]] != v) == z3.unsat:
            out[f] = v.as_long()
    return out


def test_no_guard_pins_a_register_the_control_constants_miss():
    """The ``ctl:*`` constants carry a register a path leaves alone unchanged; a
    solver asked, per path, which such registers the guard fixes to one value (what
    ``_pinned`` added until 2026-12-05) finds nothing more at 1/1/1 (nor at 2/1/2 of
    every design and 4/2/3 of ``rfc-refcnt-guard``, measured; it pins ``n_sm`` on 27
    paths here, each time where the constants have it or lose it at the next join).
    Fails if the model gains a guard that pins a register the constants then miss."""
    from checker.prove_induction import cpu1_paths
    from invariants import control
    from model.symbolic import Fragments

    F, initial = Fragments(_W111), _W111.initial_states()
    cpu1_paths(F, initial)
    assert control.control_constants(F, 1, initial) == control.control_constants(
        F, 1, initial, pinned=_solver_pinned)


@settings(max_examples=60, deadline=None)
@given(raw=hyp.binary(min_size=len(_W111.initial_states()[0]),
                      max_size=len(_W111.initial_states()[0])),
       high=hyp.booleans())
def test_candidate_encodings_agree_on_arbitrary_bytes(raw, high):
    """Induction's pre-states are arbitrary bytes, not only reachable ones: every goal
    and lemma (also as --control-lemmas gives them: with the register and ctl:* lemmas,
    claimed until an oops; and the guard:* lemmas kept out of the catalogue) must mean
    the same over z3 as in Python on any byte vector, including bytes >= 128 (z3's
    ``<=`` on bit-vectors is signed; the lemmas compare unsigned)."""
    import z3

    from checker.prove_induction import candidates

    s = bytes(b | 0x80 if high and i % 3 == 0 else b for i, b in enumerate(raw))
    vec = [z3.BitVecVal(b, 8) for b in s]
    goals = list(PROVE_PROPERTIES)
    # (with heap=True the control candidates come too: one list checks both)
    for c in candidates(_W111, goals) + candidates(_W111, goals, _control_111(), heap=True):
        want = bool(c.holds(s))
        got = z3.is_true(z3.simplify(c.formula(vec)))
        assert got == want, c.name
    from invariants.lemmas import Lemmas
    from model.expr import Z3, Concrete

    gz = Lemmas(_W111, Z3).guard_argument()
    for n, f in Lemmas(_W111, Concrete).guard_argument().items():  # not candidates
        assert z3.is_true(z3.simplify(Z3.And(gz[n](vec)))) == bool(f(s)), n


def test_every_lemma_holds_on_reachable_states():
    """Houdini only drops what is false, so a lemma false on a reachable state is
    dead weight: each one holds on every state of the complete one-packet world and
    on the first 20,000 states of two CPUs (ghost masks, list membership, locks), and
    on every state of rfc-fix's one-packet world, where arg:ext-reset covers get's
    destroy of a kept storage up to and including the step that sets the NULL."""
    from invariants.lemmas import Lemmas
    from invariants.properties import _PC_EXT_RESET

    for design, size, budget in (("rfc-refcnt-guard", WorldSize(1, 1, 1), 300_000),
                                 ("rfc-refcnt-guard", WorldSize(1, 1, 2), 20_000),
                                 ("rfc-fix", WorldSize(1, 1, 1), 100_000)):
        m = build(design, (), size)
        lem = {**Lemmas(m).all(), **Lemmas(m).registers(), **Lemmas(m).no_oops()}
        ex = explore(m, [], budget)
        assert len(ex.states) >= 20_000
        for s in ex.states:
            for n, f in lem.items():
                assert f(s), (size, n)
        if design == "rfc-fix":
            assert "arg:ext-reset" in lem and ex.complete
            assert any(s[m.layout.thread.idx(1, "pc")] == _PC_EXT_RESET for s in ex.states)


def test_the_pointer_bpf_selem_unlink_locks_may_be_null_after_finding_3():
    """arg:unlink-lock (bpf_selem_unlink()'s lock step dereferences the local_storage its
    lockless load read) is false on a reachable state of rfc-refcnt-guard with ext_del:
    finding 3's copy on write leaves free(A)'s destroy tearing down the storage B's
    delete works on, and its bpf_selem_unlink_nofail() clears selem->local_storage
    between the delete's load and its lock (the focus world of
    cow-keeps-storage-delete-vs-free-refcnt-guard.toml).  arg:nonzero holds there, so
    the claim is a lemma apart, which the 4/2/3 --outright proof of no_shared_storage
    leaves out (PROOF_LOG.md): joined, Houdini lost arg:nonzero and then the goal."""
    import model
    from invariants.lemmas import Lemmas

    sp = model.load(ROOT / "specs" / "cow-keeps-storage-delete-vs-free-refcnt-guard.toml")
    m = build(sp.design, (), focus_from_spec(sp).world(WorldSize(4, 2, 3)))
    reg = Lemmas(m).registers()
    props = [Property(n, "state", reg[n]) for n in ("arg:unlink-lock", "arg:nonzero")]
    ex = explore(m, props, 300_000, keep_graph=False)
    assert ex.complete and set(ex.violations) == {"arg:unlink-lock"}


def test_guard_lemmas_hold_with_two_packets_and_fail_on_rfc():
    """The guard:* lemmas (why the refcnt guard keeps storages apart) and the register
    lemmas (claimed until an oops, as --control-lemmas does: ext->refcnt counted
    exactly, what get holds) hold on the first 60,000 states of 2 packets, 1 map, 2
    CPUs and on 100 random walks at 4/2/3 of rfc-refcnt-guard, and their premises
    occur there (a CPU past the guard on a packet with BPF_STORAGE, two live packets
    reaching one storage through one ext); on rfc, whose guard lets a copy through
    (finding 1), walks at 4/2/3 break guard:exclusive."""
    from checker.prove_induction import until_oops
    from checker.walk import random_walks
    from invariants.lemmas import Lemmas
    from invariants.properties import Props

    def lemmas(m, registers=True):
        lem = Lemmas(m).guard_argument()
        assert len(lem) == 5
        if registers:
            lem.update({n: until_oops(m, Concrete, f) for n, f in Lemmas(m).registers().items()})
        return [Property(n, "state", f) for n, f in lem.items()]

    def premises(m):
        """Each premise as a state property that is "violated" where it occurs."""
        p, th = Props(m), m.layout.thread

        def two(s):
            return any(Props.two_or_more(p.reaching(s, st)) for st in p.storages)

        def past(s):
            return any(s[th.idx(t, "a_skb")] and s[th.idx(t, "g_storage")]
                       and p.live(s, s[th.idx(t, "a_skb")]) for t in range(1, th.n + 1))

        return [Property("two reach one storage", "state", lambda s: not two(s)),
                Property("past the guard with a storage", "state", lambda s: not past(s))]

    m = build("rfc-refcnt-guard", (), WorldSize(2, 1, 2))
    ex = explore(m, lemmas(m) + premises(m), 60_000)
    assert len(ex.states) >= 60_000
    assert set(ex.violations) == {"two reach one storage", "past the guard with a storage"}
    m = build("rfc-refcnt-guard", (), WorldSize(4, 2, 3))
    assert random_walks(m, lemmas(m), 100, 300, 1).violations == {}
    m = build("rfc", (), WorldSize(4, 2, 3))
    assert set(random_walks(m, lemmas(m, False), 100, 300, 1).violations) == {"guard:exclusive"}


def test_cti_of_a_query_z3_gave_up_on_renders():
    """A query that times out drops its candidates without a state (induction.py);
    the report says so in one line instead of showing a state, and does not crash."""
    from checker.induction import Cti
    from checker.prove_induction import render_cti
    from model.symbolic import Fragments

    m = _W111
    F = Fragments(m)
    s0 = m.initial_states()[0]
    path = F.paths(1, F.key(s0, 1))[0]
    out = render_cti(m, F, Cti("no_double_free", b"", path, ("no_double_free",)))
    assert out[0]["changes"] == {}
    why = [n for n in out[1]["notes"] if "no answer" in n]
    assert len(why) == 1 and "no_double_free" in why[0] and why[0].startswith("z3 ")
    out = render_cti(m, F, Cti("no_double_free", b"", path, ("no_double_free",)),
                     solver="bitwuzla")
    assert [n for n in out[1]["notes"] if n.startswith("bitwuzla gave no answer")]


def test_cti_state_says_where_each_cpu_is():
    """A CTI has no trace before it, so its state shows each CPU's next step, the
    functions its calls return to and its registers, pointers named like the objects (a
    destroy's cursor as ``selem1``); the step entry shows how they change."""
    import random

    from checker.induction import Cti
    from checker.prove_induction import render_cti
    from model.kernel import STEPS
    from model.symbolic import Fragments

    m = build("rfc-fix", (), WorldSize(1, 1, 1))
    L, rng = m.layout, random.Random(0)
    pc, cur = L.thread.idx(1, "pc"), L.thread.idx(1, "d_cursor")
    s = m.initial_states()[0]
    for _ in range(100_000):  # walk until a destroy stands on a selem
        nxt = m.random_successor(s, rng)
        s = nxt[1] if nxt else m.initial_states()[0]
        if s[cur]:
            break
    assert s[cur], "no walk reached bpf_local_storage_destroy()'s list"
    F = Fragments(m)
    path = next(p for p in F.paths(1, F.key(s, 1)) if F.post(p, s) is not None)
    state, step = render_cti(m, F, Cti("no_leak", s, path, ("no_leak",)))
    got = state["changes"]
    assert got["cpu0.at"] == STEPS[s[pc]].label
    assert "bpf_skb_storage_free <- __skb_ext_put <- " in got["cpu0.called_from"]
    assert got["cpu0.called_from"].endswith(" <- the op")
    assert got["cpu0.d_cursor"] == f"selem{s[cur]}" and got["cpu0.a_skb"] == "P1"
    assert any(k.startswith("cpu0.") for k in step["changes"]), step["changes"]
