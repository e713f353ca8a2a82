"""Bitwuzla answering z3-built queries (``check prove --solver bitwuzla``): the
translation means what z3 means, and both solvers give the same verdicts."""

import json
import random
import subprocess
import sys

import pytest
import z3
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as hyp

from checker import bitwuzla_solver as B
from checker.induction import _Answerer, _Bundle, _path_query
from checker.prove_induction import candidates, cpu1_paths, world_control
from invariants.properties import PROVE_PROPERTIES
from model.openworld import WorldSize, build
from model.symbolic import Fragments

pytestmark = pytest.mark.skipif(not B.available(), reason="bitwuzla not installed")

_W = build("rfc-refcnt-guard", (), WorldSize(1, 1, 1))
_CACHE: dict = {}


def _world():
    """The relation of 1 packet, 1 map, 1 CPU and its candidates, heap lemmas
    included (built once)."""
    if not _CACHE:
        F, initial = Fragments(_W), _W.initial_states()
        ps, _ = cpu1_paths(F, initial)
        cands = candidates(_W, list(PROVE_PROPERTIES), world_control(_W), heap=True)
        _CACHE.update(F=F, initial=initial, paths=ps, cands=cands, tr=B.Translator())
    return _CACHE


def _values(tr, state, terms, pre):
    """Each of ``terms`` (Bitwuzla terms) under the pre-state ``state``."""
    import bitwuzla as bw

    opts = bw.Options()
    opts.set(bw.Option.PRODUCE_MODELS, True)
    s = bw.Bitwuzla(tr.tm, opts)
    for v, b in zip(pre, state, strict=True):
        s.assert_formula(tr.term(v == b))
    assert s.check_sat() == bw.Result.SAT
    return [s.get_value(t) for t in terms]


@settings(max_examples=15, deadline=None)
@given(seed=hyp.integers(0, 2**32 - 1))
def test_translated_candidates_and_writes_mean_what_z3_means(seed):
    """On an arbitrary pre-state, a sample of the candidates' translated formulas have
    z3's truth values, and a sample of paths' guards and written bytes the values z3
    computes."""
    w, rnd = _world(), random.Random(seed)
    F, tr = w["F"], w["tr"]
    state = bytes(rnd.randrange(256) for _ in F.pre)
    vec = [z3.BitVecVal(b, 8) for b in state]
    sub = list(zip(F.pre, vec, strict=True))
    cands = rnd.sample(w["cands"], 60)
    paths = rnd.sample(w["paths"], 20)
    terms, want = [], []
    for c in cands:
        f = c.formula(F.pre)
        terms.append(tr.term(f))
        want.append(z3.is_true(z3.simplify(z3.substitute(f, *sub))))
    for p in paths:
        terms.append(tr.term(p.guard))
        want.append(z3.is_true(z3.simplify(z3.substitute(p.guard, *sub))))
        for e in p.writes.values():
            terms.append(tr.term(e))
            want.append(z3.simplify(z3.substitute(e, *sub)).as_long())
    got = [v.is_true() if v.sort().is_bool() else int(v.value(10))
           for v in _values(tr, state, terms, F.pre)]
    assert got == want


def test_both_solvers_give_the_same_verdict_on_step_queries():
    """Every path's first step query (its guard, every candidate assumed, and one of the
    candidates it may change false), with a fifth of the candidates assumed so that
    some queries are satisfiable: z3 and Bitwuzla agree, and each of Bitwuzla's models
    satisfies the query when z3 evaluates it (the state a CTI would show)."""
    w = _world()
    F, cands = w["F"], w["cands"]
    alive = cands[::5]
    pre_f = {c.name: c.formula(F.pre) for c in alive}
    bundle = _Bundle(pre_f)
    zs, bz = _Answerer(F.pre, "z3"), _Answerer(F.pre, "bitwuzla")
    verdicts = {"sat": 0, "unsat": 0}
    for p in w["paths"][::7]:
        post = bundle.after(p, F.pre)
        base, todo = _path_query(p, alive, pre_f, post)
        if not todo:
            continue
        q = [*base, post.broken(todo)]
        r1, _ = zs(q, 0)
        r2, mdl = bz(q, 0)
        assert r1 == r2, p
        verdicts[str(r1)] += 1
        if r2 == z3.sat:
            assert all(z3.is_true(mdl.eval(a)) for a in q)
    assert verdicts["sat"] > 0 and verdicts["unsat"] > 0, verdicts


def test_a_term_bitwuzla_is_not_given_goes_to_z3():
    """Integers are outside the translated fragment: the answer comes from z3."""
    x = z3.Int("x")
    b = z3.BitVec("b", 8)
    r, mdl = _Answerer([b], "bitwuzla")([x > 3, x < 5, b == 7], 0)
    assert r == z3.sat and mdl.eval(x).as_long() == 4
    with pytest.raises(B.Unsupported):
        B.Translator().term(x > 3)


def test_a_time_limit_gives_unknown():
    """A query Bitwuzla does not finish within the limit is unknown, never a verdict:
    factoring a product of two 31-bit primes, with a millisecond."""
    x, y = z3.BitVec("x", 64), z3.BitVec("y", 64)
    q = [x * y == 2147483647 * 2147483629, z3.ULT(1, x), z3.ULT(1, y),
         z3.ULT(x, 2**32), z3.ULT(y, 2**32)]
    assert B.check(B.Translator(), q, [x, y], 1)[0] == z3.unknown


def test_cli_prove_with_bitwuzla_proves_and_says_so():
    """The whole command with ``--solver bitwuzla`` (the big proofs' option): the
    one-packet world without ext_del is proved (as with z3 and one query per path,
    README "At a glance") with one query per step (the default), and the JSON names
    the solver and the number of merged queries."""
    out = subprocess.run([sys.executable, "-m", "checker.cli", "prove", "--design",
                          "rfc-refcnt-guard", "--skbs", "1", "--maps", "1", "--cpus", "1",
                          "--without", "ext_del", "--heap-lemmas", "--search-states", "100",
                          "--exhaustive-states", "0", "--solver", "bitwuzla", "--json",
                          "-q"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    pr = json.loads(out.stdout)["proofs"][0]
    ind = pr["induction"]
    assert ind["solver"] == "bitwuzla"
    assert ind["answered_by"]["z3"] == 0  # z3 answers only what Bitwuzla cannot take
    assert 1 < ind["merged_queries"] < ind["paths"] / 10
    assert {e["proof"] for e in pr["properties"].values()} == {"proved"}
