"""Proof by induction with strengthening lemmas, Houdini style (Flanagan & Leino 2001).

Generic: it knows a state vector of z3 bit-vectors, the initial states (concrete),
the transition relation as a list of paths (a guard over the pre-state and the bytes
each path writes, as z3 terms over the pre-state) and candidate invariants, each with
a concrete check and a z3 formula.  Nothing about skbs.

Candidates may come in groups (``Candidate.group``) that stand or fall together: a
lemma quantified over symmetric objects can be split into one candidate per object,
so that a step that touches only one of them checks one small formula, while the
subset Houdini keeps stays closed under the symmetry (the caller's relation may rely on
it).

A candidate may name another that implies it on every state (``Candidate.implied_by``:
a goal and a stronger lemma cheaper to ask, say): once z3 shows the implication, the
goal is not asked of a path while the lemma is alive, since a path that preserves the
lemma preserves the goal; the subset Houdini keeps is the same.

Houdini computes the largest subset of the candidates that is inductive:

    every initial state satisfies it, and
    for every path p:  AND(subset)(s) AND guard_p(s)  =>  AND(subset)(post_p(s))

by dropping, until nothing changes, each candidate that fails on an initial state or
whose preservation has a counterexample (a *counterexample to induction*: a state that
satisfies the current subset, a path enabled in it, and the candidate false after the
step).  A goal in the final subset is proved for every reachable state; a goal that was
dropped is not proved, and its counterexample is returned (the CTI may be unreachable:
it says only that these lemmas are too weak).

A query the solver gives up on (``timeout_ms``) shows nothing preserved.  With
``split`` (the default) each of its candidates is then asked alone, with a tenth of
the limit and, if z3 gives up again, with the whole limit, then one conjunct of it
at a time (a goal over every object, one object per query), each conjunct case by
case on one variable's value (:mod:`checker.pieces`) before the whole limit, so a
give-up drops only the candidates z3 cannot answer for alone nor in pieces (with no
state to show);
``HoudiniResult.given_up`` counts the queries it gave up on.  Every query is a z3
term; one z3's incremental core does not answer within its effort limit goes to a
fresh z3 solver or, with ``solver="bitwuzla"``, to Bitwuzla
(:mod:`checker.bitwuzla_solver`; :class:`_Answerer`), or with ``solver="auto"`` to z3
until it gives up on one within ``AUTO_Z3_MS``, then to Bitwuzla.

:func:`step_check` asks every path with *all* the candidates assumed and reports
what each step does not preserve (counterexamples relative to the whole set, for
whoever writes lemmas); :func:`houdini_rounds` is Houdini in whole rounds of such
checks, whose paths are independent and can run in forked processes (``jobs``).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import z3

from checker import bitwuzla_solver
from checker.pieces import by_cases, pieces
from model.expr import Substitution, ite


@dataclass(frozen=True)
class Candidate:
    name: str
    holds: Callable[[bytes], bool]  # on a concrete state
    formula: Callable[[list], object]  # z3 formula over a state vector
    goal: bool = False
    group: str = ""  # candidates of one (nonempty) group are kept or dropped together
    #: another candidate whose truth implies this one's on every state (a stronger,
    #: cheaper form): while it is alive this one is not asked of any path
    #: (:func:`_path_query`), once the implication is shown (:func:`_implications`)
    implied_by: str = ""


@dataclass
class Cti:
    """The state, the path taken from it, and the candidate false afterwards."""

    candidate: str
    state: bytes
    path: object
    relative_to: tuple[str, ...]
    number: int | None = None  # the path's place in the relation (a long run's log names it)


@dataclass
class HoudiniResult:
    kept: list[str]
    dropped: dict[str, Cti | None]  # None: false on an initial state
    seconds: float
    queries: int
    rounds: int
    per_goal_seconds: dict[str, float] = field(default_factory=dict)
    given_up: int = 0  # queries z3 gave no answer to within the limit
    #: a kept candidate whose preservation followed from that of the kept candidate
    #: named, which implies it on every state (``Candidate.implied_by``)
    implied: dict[str, str] = field(default_factory=dict)
    #: the queries past z3's incremental core each solver answered (:class:`_Answerer`)
    answered: dict[str, int] = field(default_factory=dict)


@dataclass
class Merged:
    """Several paths asked as one query (:func:`merge_paths`): the guard is the
    disjunction of theirs, each written byte the value the part taken writes (the
    pre-state value where it writes nothing).  Where parts' guards overlap (a free
    choice, such as whether an allocation fails) a fresh variable ``choice`` says
    which part is taken, so every part's successor is still one of the query's.
    ``parts``: ``(path number, path)``; ``label``: the first part's."""

    guard: z3.BoolRef
    writes: dict
    parts: tuple
    label: tuple


def merge_paths(pre, paths: list, key) -> list:
    """The paths with the same ``key`` (the caller's step name, say) as one
    :class:`Merged` each (a key with one path keeps it as it is).  Asking a few hundred
    paths of one step as one query costs a solver about as much as a few of them
    asked one by one: the candidates assumed, the bulk of every query, are the same
    (PROOF_LOG.md, "One query per step")."""
    groups: dict = {}
    for n, p in enumerate(paths):
        groups.setdefault(key(p), []).append((n, p))
    out = []
    for g, parts in enumerate(groups.values()):
        if len(parts) == 1:
            out.append(parts[0][1])
            continue
        choice = z3.BitVec(f"merged_path_choice!{g}", 16)
        guards = [z3.And(p.guard, choice == i) for i, (_, p) in enumerate(parts)]
        writes = {}
        for b in sorted(set().union(*(p.writes for _, p in parts))):
            e = pre[b]
            for i in reversed(range(len(parts))):
                w = parts[i][1].writes.get(b)
                if w is not None:
                    e = ite(guards[i], w, e)
            writes[b] = e
        out.append(Merged(z3.Or(*guards), writes, tuple(parts), parts[0][1].label))
    return out


def _part(pre, p, n: int, state: bytes, c: Candidate | None = None) -> tuple[int, object]:
    """The path (and its number) a counterexample ``state`` takes: ``p`` itself, or the
    part of a :class:`Merged` enabled in ``state`` after which ``c`` is false (the first
    part enabled if none is, the first part with no state)."""
    if not isinstance(p, Merged):
        return n, p
    if not state:
        return p.parts[0]
    at = Substitution([(v, z3.BitVecVal(b, v.size()))
                       for v, b in zip(pre, state, strict=True)])
    enabled = [(k, q) for k, q in p.parts if z3.is_true(z3.simplify(at(q.guard)))]
    for k, q in enabled:
        post = bytearray(state)
        for i, w in q.writes.items():
            post[i] = z3.simplify(at(w)).as_long()
        if c is None or not c.holds(bytes(post)):
            return k, q
    return enabled[0] if enabled else p.parts[0]


def _results(p, pre, alive, pre_f, post, timeout_ms, split, counts, gone, answer):
    """:func:`_not_preserved` for path ``p``.  A :class:`Merged` one is asked whole,
    without splitting; if the solver gives up on it, its parts are asked one by one
    (each as :func:`_not_preserved` asks a path)."""
    base, todo = _path_query(p, alive, pre_f, post)
    if not isinstance(p, Merged):
        yield from _not_preserved(base, pre, todo, post, timeout_ms, split, counts, gone,
                                  answer)
        return
    for bad, state in _not_preserved(base, pre, todo, post, timeout_ms, False, counts, gone,
                                     answer):
        if not state:
            bundle = post.b
            for _, q in p.parts:
                yield from _results(q, pre, alive, pre_f, bundle.after(q, pre), timeout_ms,
                                    split, counts, gone, answer)
            return
        yield bad, state


def _state_of(model: z3.ModelRef, pre) -> bytes:
    return bytes(model.eval(v, model_completion=True).as_long() for v in pre)


def houdini(pre, initial: list[bytes], paths: list, candidates: list[Candidate], *,
            progress=None, timeout_ms: int = 0, split: bool = True,
            solver: str = "z3") -> HoudiniResult:
    t0 = time.monotonic()
    answer = _Answerer(pre, solver)
    candidates = _implications(pre, candidates, timeout_ms)
    alive = _initially_true(initial, candidates)
    dropped: dict[str, Cti | None] = {c.name: None for c in candidates if c not in alive}
    pre_f = {c.name: c.formula(pre) for c in candidates}
    bundle = _Bundle(pre_f)
    posts: dict[int, _Post] = {}  # per path, kept across rounds
    rounds = 0
    counts = {"queries": 0, "given_up": 0}
    first_drop: dict[str, float] = {}

    changed = True
    while changed:
        changed = False
        rounds += 1
        for n, p in enumerate(paths):
            if progress:
                progress(rounds, n, len(paths), len(alive))
            if n not in posts:
                posts[n] = bundle.after(p, pre)
            post = posts[n]
            for bad, state in _results(p, pre, alive, pre_f, post, timeout_ms, split,
                                       counts, lambda c: c.name in dropped, answer):
                groups = {c.group for c in bad if c.group}
                bad += [c for c in alive if c.group in groups and c not in bad]
                k, q = _part(pre, p, n, state, bad[0])
                for c in bad:
                    dropped[c.name] = Cti(c.name, state, q, tuple(a.name for a in alive), k)
                    first_drop[c.name] = time.monotonic() - t0
                    alive.remove(c)
                changed = True
    secs = time.monotonic() - t0
    return HoudiniResult([c.name for c in alive], dropped, secs, counts["queries"], rounds,
                         {c.name: first_drop.get(c.name, secs) for c in candidates if c.goal},
                         counts["given_up"], _implied(alive), dict(answer.answered))


@dataclass
class StepCheck:
    """What :func:`step_check` found: per step (the caller's key of a path), each
    candidate some path of the step does not preserve, with its first counterexample."""

    failures: dict[str, dict[str, Cti]]
    steps: int
    seconds: float
    queries: int
    given_up: int
    false_initially: list[str]
    #: per path, ``(path number, seconds, queries, given up)``: where a round's time went
    per_path: list[tuple[int, float, int, int]] = field(default_factory=list)
    #: the queries past z3's incremental core each solver answered (:class:`_Answerer`)
    answered: dict[str, int] = field(default_factory=dict)

    def slowest(self, k: int) -> list[tuple[int, float, int, int]]:
        """The ``k`` paths that took longest, slowest first."""
        return sorted(self.per_path, key=lambda t: (-t[1], t[0]))[:k]

    def slowest_steps(self, step_of, k: int,
                      paths_of=None) -> list[tuple[str, int, float, int, int]]:
        """The ``k`` steps whose paths took longest in all, slowest first: ``(step,
        paths, seconds, queries, given up)``, ``step_of(n)`` naming path n's step and
        ``paths_of(n)`` the paths it stands for (a :class:`Merged` one: its parts; 1
        without it)."""
        count = paths_of or (lambda n: 1)
        steps: dict[str, list[tuple[int, float, int, int]]] = {}
        for row in self.per_path:
            steps.setdefault(step_of(row[0]), []).append(row)
        rows = [(name, sum(count(p[0]) for p in ps), round(sum(p[1] for p in ps), 3),
                 sum(p[2] for p in ps), sum(p[3] for p in ps)) for name, ps in steps.items()]
        return sorted(rows, key=lambda t: (-t[2], t[0]))[:k]


def step_check(pre, initial: list[bytes], paths: list, candidates: list[Candidate], key, *,
               progress=None, timeout_ms: int = 0, split: bool = True,
               jobs: int = 1, implications_shown: bool = False,
               solver: str = "z3") -> StepCheck:
    """Every path against every candidate, nothing dropped in between: with all the
    candidates assumed before a step, which are false after it?  A lemma writer's view
    of a candidate set: each counterexample is relative to the whole set, so it is a
    fact the set is missing, not a cascade of earlier drops (Houdini's).  A candidate
    found here with a state is in no inductive subset (its counterexample satisfies
    every subset), and one z3 could not answer for alone (no state) is one Houdini
    drops as well, so Houdini may start without both (and their groups); with nothing
    found and every candidate true initially, the whole set is inductive.
    ``key(path)`` names a path's step; ``progress(n, total)`` is called per path, by
    whichever process takes it (n: the paths taken so far, in all processes).  The
    paths are independent queries: with ``jobs`` > 1 that many forked processes take
    them from one shared queue, each the next path not yet taken, so that none sits
    idle while another still has a slow stretch of paths (each inherits the z3 terms;
    the results come back as path numbers, names and states).  ``implications_shown``:
    the candidates' ``implied_by`` were already checked (:func:`_implications`)."""
    t0 = time.monotonic()
    if not implications_shown:
        candidates = _implications(pre, candidates, timeout_ms)
    alive = _initially_true(initial, candidates)
    numbered = list(enumerate(paths))
    if jobs > 1:
        queue = _Queue(numbered)
        parts = _forked(jobs, lambda i: _check_paths(
            pre, queue, alive, key, timeout_ms, split, progress, len(paths), solver))
    else:
        parts = [_check_paths(pre, numbered, alive, key, timeout_ms, split, progress,
                              len(paths), solver)]
    failures: dict[str, dict[str, Cti]] = {}
    relative_to = tuple(a.name for a in alive)
    by_name = {c.name: c for c in alive}
    for n, name, state in sorted(f for found, _ in parts for f in found):
        here = failures.setdefault(key(paths[n]), {})
        if name not in here:
            k, q = _part(pre, paths[n], n, state, by_name.get(name))
            here[name] = Cti(name, state, q, relative_to, k)
    return StepCheck(failures, len({key(p) for p in paths}), time.monotonic() - t0,
                     sum(c["queries"] for _, c in parts), sum(c["given_up"] for _, c in parts),
                     [c.name for c in candidates if c not in alive],
                     sorted(t for _, c in parts for t in c["per_path"]),
                     _summed(c["answered"] for _, c in parts))


def houdini_rounds(pre, initial: list[bytes], paths: list, candidates: list[Candidate], key,
                   *, progress=None, on_round=None, timeout_ms: int = 0,
                   jobs: int = 1, solver: str = "z3") -> tuple[HoudiniResult, StepCheck]:
    """Houdini in whole rounds: :func:`step_check` with every candidate, then again with
    what it did not refute, until a round refutes nothing.  Each round assumes the
    candidates alive at its start, so its paths are independent queries (``jobs``
    processes); the result is :func:`houdini`'s, the largest inductive subset (a
    candidate refuted with a state is in no inductive subset, and one z3 gave up on
    Houdini drops too).  Also returns the first round, whose counterexamples are
    relative to the whole set.  ``progress(round, n, total, alive)``;
    ``on_round(round, step_check)`` after each round (a long run says at once what a
    round refuted, not only in the report at the end)."""
    rounds: list[StepCheck] = []
    t0 = time.monotonic()  # times count the implications asked first, too
    candidates = _implications(pre, candidates, timeout_ms)
    alive, dropped, when = list(candidates), {}, {}
    while True:
        tick = (functools.partial(progress, len(rounds) + 1, alive=len(alive))
                if progress else None)
        sc = step_check(pre, initial, paths, alive, key, progress=tick,
                        timeout_ms=timeout_ms, jobs=jobs, implications_shown=True,
                        solver=solver)
        rounds.append(sc)
        if on_round:
            on_round(len(rounds), sc)
        refuted = {n: c for f in sc.failures.values() for n, c in f.items()}
        out = set(refuted) | set(sc.false_initially)
        if not out:
            break
        groups = {c.group for c in alive if c.name in out and c.group}
        for c in alive:
            if c.name in out or c.group in groups:
                dropped[c.name] = refuted.get(c.name)  # None: false initially, or its group
                when[c.name] = time.monotonic() - t0
        alive = [c for c in alive if c.name not in dropped]
    secs = time.monotonic() - t0
    return (HoudiniResult([c.name for c in alive], dropped, secs, sum(r.queries for r in rounds),
                          len(rounds), {c.name: when.get(c.name, secs)
                                        for c in candidates if c.goal},
                          sum(r.given_up for r in rounds), _implied(alive),
                          _summed(r.answered for r in rounds)), rounds[0])


def _summed(counts) -> dict[str, int]:
    """The per-solver counts added up (zeros kept, unlike ``Counter.__add__``)."""
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


def _check_paths(pre, numbered, alive, key, timeout_ms, split, progress, total, solver):
    """:func:`step_check` on some of the paths: ``(path number, candidate, state)`` for
    each candidate a path does not preserve (once per step), and the query counts (with
    each path's seconds, queries and give-ups)."""
    answer = _Answerer(pre, solver)
    pre_f = {c.name: c.formula(pre) for c in alive}
    bundle = _Bundle(pre_f)
    found: list[tuple[int, str, bytes]] = []
    seen: dict[str, set[str]] = {}
    counts = {"queries": 0, "given_up": 0, "per_path": []}
    for j, (n, p) in enumerate(numbered):
        t0, q0, g0 = time.monotonic(), counts["queries"], counts["given_up"]
        if progress:
            progress(numbered.taken() if isinstance(numbered, _Queue) else j + 1, total)
        post_of = bundle.after(p, pre)
        here = seen.setdefault(key(p), set())
        for bad, state in _results(p, pre, alive, pre_f, post_of, timeout_ms, split, counts,
                                   lambda c, here=here: c.name in here, answer):
            for c in bad:
                here.add(c.name)
                found.append((n, c.name, state))
        counts["per_path"].append((n, round(time.monotonic() - t0, 3),
                                   counts["queries"] - q0, counts["given_up"] - g0))
    counts["answered"] = dict(answer.answered)
    return found, counts


class _Queue:
    """``items`` shared by forked processes: iterating takes the next item no process
    has taken (a counter in shared memory, created before the fork)."""

    def __init__(self, items: list):
        self.items, self.next = items, multiprocessing.Value("q", 0)

    def taken(self) -> int:
        return self.next.value

    def __iter__(self):
        while True:
            with self.next.get_lock():
                i = self.next.value
                self.next.value = i + 1
            if i >= len(self.items):
                return
            yield self.items[i]


def _forked(jobs: int, work) -> list:
    """``work(i)`` for i < jobs, each in a forked process (which inherits everything
    ``work`` needs, z3 terms and a :class:`_Queue` included); the pickled results, in
    order of i.  A worker that fails raises here."""
    children = []
    for i in range(jobs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(r)
            code = 0
            try:
                data = pickle.dumps(work(i))
            except BaseException as e:  # noqa: BLE001 (reported by the parent)
                data, code = pickle.dumps(repr(e)), 1
            with os.fdopen(w, "wb") as f:
                f.write(data)
            os._exit(code)
        os.close(w)
        children.append((pid, r))
    out = []
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"step check worker {pid} failed: "
                               f"{pickle.loads(data) if data else status}")
        out.append(pickle.loads(data))
    return out


def _implications(pre, candidates: list[Candidate], timeout_ms: int) -> list[Candidate]:
    """The candidates, each ``implied_by`` kept only where z3 shows that the candidate
    it names implies this one on every state (one query over the pre-state vector,
    no path).  Then a path that preserves the stronger one preserves this one too, so
    while the stronger one is alive this one needs no query of its own; if the
    stronger one is dropped, every path is asked about this one again (Houdini's next
    round, or the rest of this one), so the inductive subset is the same."""
    by_name = {c.name: c for c in candidates}

    def shown(c):
        strong = by_name.get(c.implied_by)
        if strong is None:
            return False
        s = z3.Solver()
        if timeout_ms:
            s.set("timeout", timeout_ms)
        s.add(strong.formula(pre), z3.Not(c.formula(pre)))
        return s.check() == z3.unsat

    return [c if not c.implied_by or shown(c) else replace(c, implied_by="")
            for c in candidates]


def _implied(alive: list[Candidate]) -> dict[str, str]:
    names = {c.name for c in alive}
    return {c.name: c.implied_by for c in alive if c.implied_by in names}


def _initially_true(initial, candidates) -> list[Candidate]:
    """The candidates true on every initial state, less the groups of those that are not."""
    alive = [c for c in candidates if all(c.holds(s) for s in initial)]
    false_groups = {c.group for c in candidates if c.group and c not in alive}
    return [c for c in alive if c.group not in false_groups]


class _Bundle:
    """Every candidate's negated pre-state formula as the arguments of one term, an
    application of a fresh predicate, so that what a path does to all of them is one
    z3 substitution and one simplification (z3 shares the work on common subterms),
    not one of each per candidate: with a few hundred candidates and a thousand paths,
    the per-candidate calls took most of a small world's induction."""

    def __init__(self, pre_f: dict):
        self.names = list(pre_f)
        self.index = {n: i for i, n in enumerate(self.names)}
        args = [z3.Not(pre_f[n]) for n in self.names] or [z3.BoolVal(False)]
        self.pre_ids = [a.get_id() for a in args]
        self.term = z3.Function("houdini_negated_candidates", *[z3.BoolSort()] * len(args),
                                z3.BoolSort())(*args)

    def after(self, p, pre) -> _Post:
        post = Substitution([(pre[i], w) for i, w in p.writes.items()])(self.term)
        return _Post(self, post, z3.simplify(post))


class _Post:
    """The candidates after one path: ``negated(c)``, the negation of candidate ``c``
    with the path's writes substituted (the same term as ``Not(c.formula)`` of the
    post-state vector); ``broken(cs)``, the query that one of ``cs`` is false after the
    path; and ``changes``, the candidates the path may make false: not those it leaves
    their own pre-state formula (z3 terms are hash-consed), which every query already
    assumes, nor those it makes true."""

    def __init__(self, bundle: _Bundle, post, simplified):
        self.b, self.term, self.got = bundle, post, {}
        ctx, n = post.ctx.ref(), len(bundle.names)
        a, s = post.as_ast(), simplified.as_ast()
        same = [z3.Z3_get_ast_id(ctx, z3.Z3_get_app_arg(ctx, a, i)) == bundle.pre_ids[i]
                for i in range(n)]
        # made true: the negation simplifies to false.  The predicate is uninterpreted,
        # so simplify() keeps the application and simplifies each argument; were it
        # ever to rewrite the application, reading its arguments by position would be
        # wrong, so that case asks per candidate instead
        if simplified.decl().eq(post.decl()):
            made_true = [z3.Z3_get_bool_value(ctx, z3.Z3_get_app_arg(ctx, s, i))
                         == z3.Z3_L_FALSE for i in range(n)]
        else:
            made_true = [z3.is_false(z3.simplify(post.arg(i))) for i in range(n)]
        self.changes = {name for i, name in enumerate(bundle.names)
                        if not same[i] and not made_true[i]}

    def negated(self, c):
        if c.name not in self.got:
            self.got[c.name] = self.term.arg(self.b.index[c.name])
        return self.got[c.name]

    def broken(self, cs) -> z3.BoolRef:
        """``Or(*(negated(c) for c in cs))``, built through the C API (the Python
        wrappers' checks per argument cost more than the query's construction)."""
        ctx, a = self.term.ctx.ref(), self.term.as_ast()
        args = (z3.Ast * len(cs))(*(z3.Z3_get_app_arg(ctx, a, self.b.index[c.name])
                                    for c in cs))
        return z3.BoolRef(z3.Z3_mk_or(ctx, len(cs), args), self.term.ctx)


def _path_query(p, alive, pre_f, post: _Post):
    """The assertions every query about path ``p`` starts from (its guard and the
    ``alive`` candidates), and those candidates the path may change, less those an
    alive candidate implies (``Candidate.implied_by``, shown by :func:`_implications`)."""
    base = [p.guard, *(pre_f[c.name] for c in alive)]
    names = {c.name for c in alive}
    return base, [c for c in alive if c.name in post.changes and c.implied_by not in names]


# z3's effort (its deterministic resource count, not time) allowed to a query's first
# attempt, with the incremental core; past it the query is asked again of a fresh
# solver (:class:`_PathSolver`)
INCREMENTAL_RLIMIT = 300_000
# how many queries in a row a process's incremental core may give up on before that
# process stops asking it (:class:`_Answerer`): it answers nearly every small world's
# query and 2 of the 64 step queries of `no_shared_storage` at 4/2/3, where the tries
# cost 12.8 of one process's 101 s
INCREMENTAL_MISSES = 8


SOLVERS = ("auto", "z3", "bitwuzla")
# with ``--solver auto``: how long a fresh z3 solver may take on one query before the
# process gives that query, and every later one, to Bitwuzla.  z3 answers the small
# worlds' queries in well under this (2/1/3 with `--heap-lemmas`: 80 s in all against
# Bitwuzla's 115 s); at 4/2/3 it gives up on the hard step queries after minutes where
# Bitwuzla answers in under 50 s (PROOF_LOG.md, "--solver auto")
AUTO_Z3_MS = 15_000


def solver_text(solver: str) -> str:
    """``solver`` as reports name who gave up on a query."""
    return "z3 or Bitwuzla" if solver == "auto" else solver


class _Answerer:
    """Who answers a query z3's incremental core did not (:class:`_PathSolver`): a
    fresh z3 solver, or Bitwuzla (``solver``: one of ``SOLVERS``) through one
    :class:`checker.bitwuzla_solver.Translator` per process, so that the terms all
    queries share (the candidates) are translated once.  A query Bitwuzla's
    translation does not cover goes to z3.  ``answer(assertions, timeout_ms)`` gives
    the result and a model over ``pre`` (or None); ``answered`` counts the queries
    each solver answered (sat or unsat).

    ``auto`` asks z3 first, for at most ``AUTO_Z3_MS`` (or the caller's limit if that
    is shorter, and then a give-up is the caller's); once z3 gives up within
    ``AUTO_Z3_MS`` on a query the caller allows more, that query is asked of Bitwuzla
    with the caller's whole limit, and so is every later query of the process.  The
    question is the same whoever answers it.

    It also keeps the process's account of z3's incremental core: ``miss()`` after
    each query the core gave up on, ``hit()`` after each it answered; once it has given
    up on ``INCREMENTAL_MISSES`` queries in a row, ``incremental`` is false and the
    process's queries go straight to ``answer`` (in a 4/2/3 world nearly every one of
    them does anyway).  The question is the same either way; what changes is who
    answers it (``answer`` within the caller's time limit) and how soon."""

    def __init__(self, pre, solver: str):
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}")
        if solver == "bitwuzla" and not bitwuzla_solver.available():
            raise ValueError("the bitwuzla solver is not installed (pip install bitwuzla)")
        self.pre = pre
        self.tr = bitwuzla_solver.Translator() if solver == "bitwuzla" else None
        # z3 first, Bitwuzla once z3 gives up within AUTO_Z3_MS (without Bitwuzla: z3)
        self.auto = solver == "auto" and bitwuzla_solver.available()
        self.misses = 0  # the incremental core's give-ups in a row
        self.answered = {"z3": 0, "bitwuzla": 0}

    @property
    def incremental(self) -> bool:
        return self.misses < INCREMENTAL_MISSES

    def hit(self):
        self.misses = 0

    def miss(self):
        self.misses += 1

    def __call__(self, assertions, timeout_ms: int):
        if self.auto and self.tr is None:
            first = min(timeout_ms, AUTO_Z3_MS) if timeout_ms else AUTO_Z3_MS
            r, mdl = self._z3(assertions, first)
            if r != z3.unknown or first == timeout_ms:
                return r, mdl
            self.tr = bitwuzla_solver.Translator()  # from now on, Bitwuzla
        if self.tr is not None:
            try:
                r, mdl = bitwuzla_solver.check(self.tr, assertions, self.pre, timeout_ms)
            except bitwuzla_solver.Unsupported:
                pass
            else:
                self._count("bitwuzla", r)
                return r, mdl
        return self._z3(assertions, timeout_ms)

    def _z3(self, assertions, timeout_ms: int):
        s = z3.Solver()
        if timeout_ms:
            s.set("timeout", timeout_ms)
        s.add(*assertions)
        r = s.check()
        self._count("z3", r)
        return r, s.model() if r == z3.sat else None

    def _count(self, solver: str, r):
        if r != z3.unknown:
            self.answered[solver] += 1


class _PathSolver:
    """The queries about one path: ``check(query, timeout_ms)`` of the path's
    ``base`` assertions and ``query``, giving the result and its model (or None).

    z3 answers a solver that was pushed with its incremental core, and a solver
    checked once from scratch with its non-incremental tactic (preprocessing, then
    bit-blasting).  Neither is the faster on all these queries: with 1 packet and 2
    CPUs the core answers in about half the time; with 4 packets, 2 maps and 3 CPUs the
    tactic answers in a thirtieth (0.15 s against 4.6 s per query, 14 sampled paths).
    So each query is asked first of one incremental solver per path (the base asserted
    once, the query pushed) with a small effort limit (``INCREMENTAL_RLIMIT``, which the
    small worlds' queries nearly all fit in), and a query it does not answer within it
    goes to a fresh solver with the caller's time limit (``answer``, an
    :class:`_Answerer`: z3 or Bitwuzla).  Deterministic: the effort limit counts z3's
    steps, not seconds.  A process whose core gave up on ``INCREMENTAL_MISSES``
    queries in a row asks the fresh solver first (:class:`_Answerer`)."""

    def __init__(self, base, answer):
        self.base, self.inc, self.answer = base, None, answer

    def check(self, query, timeout_ms: int):
        if not self.answer.incremental:
            return self._fresh(query, timeout_ms)
        if self.inc is None:
            self.inc = z3.Solver()
            self.inc.set("rlimit", INCREMENTAL_RLIMIT)
            self.inc.add(*self.base)
        self.inc.push()
        try:
            self.inc.add(query)
            r = self.inc.check()
            if r != z3.unknown:
                self.answer.hit()
                return r, self.inc.model() if r == z3.sat else None
        finally:
            self.inc.pop()
        self.answer.miss()
        return self._fresh(query, timeout_ms)

    def _fresh(self, query, timeout_ms: int):
        return self.answer([*self.base, query], timeout_ms)


def _not_preserved(base, pre, todo, post, timeout_ms, split, counts, gone, answer):
    """The candidates of ``todo`` that one path does not preserve, in batches of
    ``(candidates, state)``: ``base`` is the path's guard and the assumptions, ``post``
    the candidates after the path (:class:`_Post`).  One query for all of them (a
    model names every candidate it breaks), then again for the rest after each batch,
    until the rest is preserved; ``gone(c)``, read before each query, leaves out what
    the caller has dropped meanwhile.  A query z3 gives up on (``timeout_ms``) is asked
    again one candidate at a time with ``split``, each with a tenth of the limit (most
    answer in far less), then with the whole limit if z3 gives up again, then one
    conjunct of the candidate at a time (:func:`pieces.pieces`: a goal that quantifies
    over every object is a query per object), each with a tenth of the limit.  A
    conjunct (or a candidate of one conjunct) z3 gives up on is asked as the cases of
    one pre-state variable's value (:func:`pieces.by_cases`, a sixtieth of the limit a
    case, then a tenth; a case z3 gives up on, as the cases of another variable), and
    only then with the whole limit: z3's time on one query
    varies several-fold with its search order (18 to 53 s over four seeds for a
    conjunct of no_leak at 4/2/3), where each case answers in under a second.  A
    candidate one of whose conjuncts z3 cannot answer for either way comes back with
    no state (``b""``).  ``counts`` gains the queries asked and those given up on.

    A query is a list of pieces ``(candidate, negation)``, the negation None for the
    whole candidate's (``post.negated``)."""
    chunks, ps = [([(c, None) for c in todo], timeout_ms, False)], _PathSolver(base, answer)

    def negation(piece):
        c, f = piece
        return post.negated(c) if f is None else f

    while chunks:
        chunk, limit, cased = chunks.pop()
        chunk = [x for x in chunk if not gone(x[0])]
        if not chunk:
            continue
        counts["queries"] += 1
        whole = all(f is None for _, f in chunk)
        r, mdl = ps.check(post.broken([c for c, _ in chunk]) if whole else
                          z3.Or(*map(negation, chunk)), limit)
        if r == z3.unsat:
            continue
        if r == z3.sat:
            bad = list(dict.fromkeys(c for c, f in chunk if z3.is_true(
                mdl.eval(negation((c, f)), model_completion=True))))
            bad = bad or list(dict.fromkeys(c for c, _ in chunk))  # (never empty)
            state = _state_of(mdl, pre)
        else:  # solver gave up: nothing in this query is shown preserved
            counts["given_up"] += 1
            bad, state = list(dict.fromkeys(c for c, _ in chunk)), b""
            c, f = chunk[0]
            parts = pieces(post.negated(c)) if split and len(chunk) == 1 and f is None else []
            if not split:
                pass
            elif len(chunk) > 1:
                bad = []
                chunks += [([x], timeout_ms // 10, False) for x in reversed(chunk)]
            elif len(parts) > 1 and limit < timeout_ms:  # alone, it gets the whole limit
                bad = []
                chunks.append((chunk, timeout_ms, False))
            elif len(parts) > 1:  # then one conjunct at a time
                bad = []
                chunks += [([(c, g)], timeout_ms // 10, False) for g in reversed(parts)]
            elif not cased:  # one conjunct: as cases of one variable, then the whole limit
                r, mdl = by_cases(ps.check, negation(chunk[0]), pre, counts,
                                  (max(1, timeout_ms // 60), timeout_ms // 10),
                                  base[0])  # the path's guard (_path_query)
                if r == z3.unsat:
                    bad = []
                elif r == z3.sat:
                    state = _state_of(mdl, pre)
                elif limit < timeout_ms:
                    bad = []
                    chunks.append((chunk, timeout_ms, True))
        if bad:
            yield bad, state
            # the rest of the chunk is asked again (still assuming what was just
            # found: the caller's fixpoint or report does not depend on it)
            chunks.append((chunk, limit, cased))
