"""The induction half of ``check prove``: the open world's z3 relation (model/symbolic.py,
from the same step code the explicit checker runs), the goals and the lemmas of
invariants/lemmas.py, and Houdini (induction.py).

The relation is built for CPU 1 only: the open world and every candidate are
symmetric under a renaming of the CPUs (each CPU runs the same scheduler; candidates
quantify over all CPUs alike), so a candidate preserved by every step of CPU 1 from
every state satisfying the candidates is preserved by every step of any CPU.
"""

from __future__ import annotations

import signal
import sys
import time

from invariants.control import control_constants, control_lemmas
from invariants.heap import GOAL_LEMMAS, goal_lemmas, heap_lemmas
from invariants.lemmas import Lemmas
from invariants.properties import PROVE_PROPERTIES, prove_properties
from model.expr import Z3, Concrete
from model.symbolic import Fragments

from .induction import (
    Candidate,
    HoudiniResult,
    Merged,
    houdini,
    houdini_rounds,
    merge_paths,
    solver_text,
)
from .trace import entry

# one z3 query (a path, the candidates alive) may take this long by default
# (``--query-seconds``); a query that does not answer in time is asked again one
# candidate at a time, then one conjunct at a time (induction.py), then case by case
# (pieces.py), and a candidate that does not answer then is dropped (never proved)
QUERY_MS = 60_000


class Budget(Exception):
    pass


def _say(text: str) -> None:
    """A progress line on stderr: rewritten in place (``\r``) on a terminal, a line of
    its own in a log."""
    if text.endswith("\r") and not sys.stderr.isatty():
        text = text[:-1] + "\n"
    sys.stderr.write(text)
    sys.stderr.flush()


def _end_line() -> None:
    """Ends a line :func:`_say` is rewriting (on a terminal; in a log it has ended)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def cpu1_paths(F: Fragments, initial: list[bytes], progress=None):
    """Every path of CPU 1 from every control value it can reach; with ``progress``, a
    line at most every ``PROGRESS_SECONDS`` while the relation is built, and one when
    it is."""
    t0, last = time.monotonic(), [None]

    def tick(done, seen, npaths):
        now = time.monotonic()
        if last[0] is None or now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            _say(f"  relation: {done}/{seen} control points, {npaths} paths\r")

    out = F.control_closure(1, initial, tick if progress else None)
    if progress:
        _end_line()
        _say(f"  relation: {out[1]} control points, {len(out[0])} paths, "
             f"{time.monotonic() - t0:.1f} s\n")
    return out


def world_control(m) -> dict:
    """The ``ctl:*`` constants of an open world (invariants/control.py) from CPU 1's
    relation, built here (what :func:`induct` computes from the relation it has)."""
    F, initial = Fragments(m), m.initial_states()
    cpu1_paths(F, initial)
    return control_constants(F, 1, initial)


def candidates(m, goals: list[str], control: dict | None = None,
               heap: bool = False, outright: bool = False) -> list[Candidate]:
    """The goals, then the lemmas: each with its concrete check and its z3 formula.
    With ``control`` (the constants of invariants/control.py; ``check prove
    --control-lemmas``) also the register lemmas (``Lemmas.registers``), the guard
    argument (``Lemmas.guard_argument``) and the ``ctl:*`` lemmas, and every lemma is
    then claimed only until a CPU oopses
    (:func:`until_oops`); goals are always claimed on every state.  With ``heap``
    (``check prove --heap-lemmas``, with ``control``) also the heap:* lemmas of
    invariants/heap.py, claimed the same way, and the stronger forms of goals
    (``heap.goal_lemmas``), claimed outright like their goals, each goal then asked of
    a path only if its stronger form is dropped (``Candidate.implied_by``).  With
    ``outright`` (``--outright``) every lemma is claimed on every state, oopses
    included: a stronger candidate, which Houdini keeps only if it is inductive as
    such."""
    gc, gz = prove_properties(m, Concrete), prove_properties(m, Z3)
    Lc, Lz = Lemmas(m, Concrete), Lemmas(m, Z3)
    lc, lz = Lc.all(), Lz.all()
    # with the heap lemmas, a goal with a stronger form (heap.GOAL_LEMMAS) is asked of
    # no path while that form, claimed outright like the goal, is alive
    stronger = ({g: n for n, g in GOAL_LEMMAS.items() if g in goals}
                if heap and control is not None else {})
    goals_c = [_candidate(n, gc[n], gz[n], True, stronger.get(n, "")) for n in goals]
    if control is None:
        return goals_c + [_candidate(n, lc[n], lz[n], False) for n in lc]
    for E, L, d in ((Concrete, Lc, lc), (Z3, Lz, lz)):
        d.update(L.registers())
        d.update(L.guard_argument())
        if heap:
            d.update(heap_lemmas(m, E))
    out = goals_c + [_lemma(m, n, lc[n], lz[n], group=_group(n), outright=outright)
                     for n in lc]
    oc, oz = Lc.no_oops(), Lz.no_oops()
    out += [_candidate(n, oc[n], oz[n], False) for n in oc]  # claimed outright
    if stronger:
        sc, sz = goal_lemmas(m, Concrete), goal_lemmas(m, Z3)
        out += [_candidate(n, sc[n], sz[n], False) for n in stronger.values()]
    for t in range(1, m.layout.thread.n + 1):
        # one candidate per CPU, kept or dropped together: a step of CPU 1 leaves the
        # other CPUs' control lemmas as they were, so z3 only checks CPU 1's
        cc, cz = control_lemmas(m, Concrete, control, (t,)), control_lemmas(m, Z3, control, (t,))
        out += [_lemma(m, f"{n}{CPU_SUFFIX}{t}", cc[n], cz[n], group=n, outright=outright)
                for n in cc]
    return out


PART = "#"  # a lemma written as several candidates, kept or dropped together: name#part
CPU_SUFFIX = f"{PART}cpu"  # the per-CPU candidates of a control lemma: name#cpu<t>


def _group(name: str) -> str:
    return name.split(PART)[0] if PART in name else ""


def lemma_names(names) -> list[str]:
    """Candidate names as the report gives them: the parts of a lemma (its per-CPU
    candidates, the per-head ones of heap:linked-in-list) once, by the lemma's name."""
    return list(dict.fromkeys(n.split(PART)[0] for n in names))


def _lemma(m, name, concrete, z3_pred, group="", outright=False) -> Candidate:
    if outright:
        return Candidate(name, concrete, lambda s: Z3.And(z3_pred(s)), group=group)
    return Candidate(name, until_oops(m, Concrete, concrete),
                     lambda s: Z3.And(until_oops(m, Z3, z3_pred)(s)), group=group)


def until_oops(m, E, lemma):
    """``lemma`` while no CPU has oopsed.  An oops is a NULL dereference, which the
    model records as a use after free (KASAN's NULL report) on the step that makes
    it, so ``no_use_after_free`` is already false there; the task is killed with its
    registers, and what the lemmas say about a running op no longer applies.  Goals
    are not weakened: a goal in Houdini's inductive set holds on every reachable
    state whatever the lemmas next to it claim."""
    no_oops = Lemmas(m, E).no_oops()["no-oops"]
    return lambda s: E.Implies(no_oops(s), lambda: lemma(s))


def _candidate(name, concrete, z3_pred, goal: bool, implied_by: str = "") -> Candidate:
    return Candidate(name, concrete, lambda s: Z3.And(z3_pred(s)), goal=goal,
                     implied_by=implied_by)


def induct(m, goals: list[str], seconds: float, progress: bool = True,
           control: bool = False, heap: bool = False, per_step: bool = False,
           outright: bool = False, jobs: int = 1, leave_out=(),
           query_ms: int = QUERY_MS, solver: str = "z3", merge: bool = False) -> dict:
    """Houdini over the goals and the lemmas (with ``control``, also the register and
    ``ctl:*`` lemmas, claimed until an oops: :func:`candidates`), the relation built
    within ``seconds``.  With ``per_step`` (``--cti-per-step``) each step is first
    checked with every candidate assumed (:func:`checker.induction.step_check`): the
    report lists, per step, the candidates it does not preserve, with a counterexample,
    and Houdini runs in whole rounds of such checks, each in ``jobs`` processes
    (``jobs`` > 1 implies ``per_step``).
    ``leave_out`` (``--leave-out``) names lemmas not to try, each a name or a prefix
    ending in ``*``: a subset of the candidates proves only what it proves.
    ``query_ms`` (``--query-seconds``) is the time limit per query; ``solver``
    (``--solver``) answers the queries z3's incremental core does not (z3, Bitwuzla, or
    z3 until it gives up on one, then Bitwuzla: :class:`checker.induction._Answerer`).
    With ``merge`` (``--merge-steps``) the paths of one kernel step are asked as one
    query (:func:`checker.induction.merge_paths`)."""
    t0 = time.monotonic()
    F = Fragments(m)
    initial = m.initial_states()
    stats = {"paths": 0, "control_points": 0, "seconds": 0.0, "query_seconds": query_ms / 1000,
             "solver": solver}
    def alarm(*_):
        raise Budget(f"relation not built within the budget ({seconds:g} s)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        ps, npts = cpu1_paths(F, initial, progress)
    except Budget as e:
        stats["seconds"] = round(time.monotonic() - t0, 2)
        stats["note"] = str(e)
        return {"stats": stats, "proved": set(), "cti": {}, "lemmas": [], "seconds": {}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    stats.update(paths=len(ps), control_points=npts,
                 relation_seconds=round(time.monotonic() - t0, 2))
    cands = candidates(m, goals, control_constants(F, 1, initial) if control else None, heap,
                       outright)
    if leave_out:
        cands = _leave_out(cands, leave_out, stats)

    unit = "step" if merge else "path"  # what a query asks about, in progress lines

    prog = _progress_line(progress, HOUDINI_LINE, unit)

    stats["merge_steps"] = merge
    if merge:
        ps = merge_paths(F.pre, ps, lambda p: step_name(m, p))
        stats["merged_queries"] = len(ps)
    # a goal's time counts from the start of the induction: the relation, the lemmas'
    # constants, the candidates and the merged queries come before Houdini (at 4/2/3,
    # 17 s and about 10 s more)
    before_houdini = time.monotonic() - t0
    stats["before_houdini_seconds"] = round(before_houdini, 2)
    if per_step or jobs > 1:  # --jobs: the rounds of step checks are what can be shared
        res = _houdini_in_rounds(m, F, initial, ps, cands, stats, progress, jobs, query_ms,
                                 solver, unit)
    else:
        res = houdini(F.pre, initial, ps, cands, progress=prog, timeout_ms=query_ms,
                      solver=solver)
    if progress:
        _end_line()
    lemmas = lemma_names(n for n in res.kept if n not in goals)
    stats.update(seconds=round(time.monotonic() - t0, 2), queries=res.queries,
                 queries_given_up=res.given_up, rounds=res.rounds, lemmas_kept=lemmas,
                 candidates_kept=len(res.kept),
                 lemmas_dropped=sorted(lemma_names(n for n in res.dropped if n not in goals)),
                 goals_implied=res.implied, answered_by=res.answered)
    proved = {g for g in goals if g in res.kept}
    cti = {}
    for g in goals:
        c = res.dropped.get(g)
        if g not in proved and c is not None:
            cti[g] = render_cti(m, F, c, query_ms, solver)
    return {"stats": stats, "proved": proved, "cti": cti, "lemmas": lemmas,
            "seconds": {g: round(res.per_goal_seconds.get(g, res.seconds) + before_houdini, 2)
                        for g in goals}}


def unknown_leave_out(m, patterns, control: bool, heap: bool) -> list[str]:
    """The ``--leave-out`` patterns that can match no lemma of ``m``, found before any
    search or induction runs (a typo should not cost the minutes before Houdini): the
    names are :func:`candidates`' own.  The ``ctl:<point>`` names exist only once the
    relation is built, so a pattern starting with ``ctl:`` is checked then
    (``left_out_unmatched``), not here."""
    cands = candidates(m, list(PROVE_PROPERTIES), {} if control else None, heap)
    names = lemma_names(c.name for c in cands if not c.goal)
    return [p for p in patterns
            if not (control and p.startswith("ctl:") or any(_named(n, p) for n in names))]


def _named(name: str, pat: str) -> bool:
    """Does a ``--leave-out`` pattern (a lemma's name, or a prefix ending in ``*``) name
    the lemma ``name``?"""
    return name.startswith(pat[:-1]) if pat.endswith("*") else name == pat


def _leave_out(cands: list[Candidate], patterns, stats: dict) -> list[Candidate]:
    """The candidates less the lemmas ``patterns`` name (goals stay); what was left
    out, and the patterns that named nothing, go into ``stats``."""
    def named(c, pat):
        return _named(lemma_names([c.name])[0], pat)

    gone = [c for c in cands if not c.goal and any(named(c, p) for p in patterns)]
    stats["left_out"] = lemma_names(c.name for c in gone)
    stats["left_out_unmatched"] = [p for p in patterns if not any(named(c, p) for c in gone)]
    return [c for c in cands if c not in gone]


def step_name(m, path) -> str:
    """The kernel step a path of the relation takes (its label's step texts)."""
    return " ; ".join(m.label_parts(path.label)["steps"])


def round_report(rnd: int, sc, step_of=None, solver: str = "z3", paths_of=None) -> str:
    """What one round of step checks refuted, by step, as progress lines: a candidate
    dropped because the solver gave up on it (no state) is named as such, apart from
    one a state breaks.  Then where the time went: the slowest paths (``step_of(n)``
    names path n's step, ``paths_of(n)`` the paths a merged query n stands for)."""
    lines = [f"  step check round {rnd}: {sc.queries} queries, {sc.given_up} given up, "
             f"{round(sc.seconds)} s; {len(sc.failures)} of {sc.steps} steps break a "
             "candidate"]
    for k, f in sc.failures.items():
        line = f"    {k}: {', '.join(lemma_names(f))}"
        unanswered = {}  # lemma: the paths z3 gave up on it at
        for n, c in f.items():
            if not c.state:
                unanswered.setdefault(lemma_names([n])[0], []).append(c.number)
        if unanswered:
            line += f" ({solver_text(solver)} gave up, no state: " + ", ".join(
                name + "".join(f" at path {k}" for k in ks if k is not None)
                for name, ks in unanswered.items()) + ")"
        lines.append(line)
    if sc.false_initially:
        lines.append(f"    false initially: {', '.join(sc.false_initially)}")
    slow = sc.slowest(SLOWEST)
    if slow:
        lines.append("    slowest paths: " + "; ".join(
            f"{n}{f' ({step_of(n)})' if step_of else ''} {secs:.0f} s, {q} queries, "
            f"{g} given up" for n, secs, q, g in slow))
    if step_of and slow:
        lines.append("    slowest steps: " + "; ".join(
            f"{name} ({n} paths) {secs:.0f} s, {q} queries, {g} given up"
            for name, n, secs, q, g in sc.slowest_steps(step_of, SLOWEST, paths_of)))
    return "".join(f"{x}\n" for x in lines)


SLOWEST = 5  # paths named in a round's report (ten in the JSON)
PROGRESS_SECONDS = 2  # a long run's progress line is rewritten at most this often
# the progress lines of plain Houdini and of the rounds of step checks
HOUDINI_LINE = ("  houdini round {rnd}: {unit} {n}/{total}, {alive} candidates alive, "
                "{minutes:.0f} min\r")
STEP_CHECK_LINE = ("  step check round {rnd}: {unit} {n}/{total} taken, {alive} candidates "
                   "alive, {minutes:.0f} min\r")


def _progress_line(progress: bool, text: str, unit: str):
    """A Houdini progress callback ``(round, n, total, alive)`` that rewrites one stderr
    line, ``text`` formatted with those, ``unit`` and the minutes since it was made, at
    most once in ``PROGRESS_SECONDS`` (the first call always).  With one query per step
    a call comes every few seconds to minutes, so a line written every fiftieth call
    sat for ten minutes at 4/2/4; one written by the clock does not."""
    t0, last = time.monotonic(), [None]

    def line(rnd, n, total, alive):
        now = time.monotonic()
        if progress and (last[0] is None or now - last[0] >= PROGRESS_SECONDS):
            last[0] = now
            _say(text.format(rnd=rnd, unit=unit, n=n, total=total, alive=alive,
                             minutes=(now - t0) / 60))
    return line


def slowest_paths(sc, step_of, k: int = 2 * SLOWEST) -> list[dict]:
    """The JSON's ``step_check.slowest_paths``: the first round's ``k`` slowest paths."""
    return [{"path": n, "step": step_of(n), "seconds": secs, "queries": q, "given_up": g}
            for n, secs, q, g in sc.slowest(k)]


def slowest_steps(sc, step_of, k: int = 2 * SLOWEST, paths_of=None) -> list[dict]:
    """The JSON's ``step_check.slowest_steps``: the first round's ``k`` steps whose
    paths took longest in all (a step has a path per branch and control point)."""
    return [{"step": name, "paths": n, "seconds": secs, "queries": q, "given_up": g}
            for name, n, secs, q, g in sc.slowest_steps(step_of, k, paths_of)]


def _houdini_in_rounds(m, F, initial, ps, cands, stats, progress, jobs,
                       query_ms, solver="z3", unit="path") -> HoudiniResult:
    """``--cti-per-step``: Houdini in whole rounds of step checks
    (:func:`checker.induction.houdini_rounds`), the first one, with every candidate
    assumed, reported in ``stats["step_check"]``.  ``unit``: what one of ``ps`` is
    (a path, or a step's paths merged), as progress lines say."""
    # every process reports the paths taken in all (a slow path in one does not freeze
    # the line); each forked process has its own copy of the line's clock
    tick = _progress_line(progress, STEP_CHECK_LINE, unit)

    def key(p):
        return step_name(m, p)

    def step_of(n):
        return key(ps[n])

    def paths_of(n):
        return len(ps[n].parts) if isinstance(ps[n], Merged) else 1

    def done(rnd, sc):  # what the round refuted, by step, before the next one starts
        _end_line()
        _say(round_report(rnd, sc, step_of, solver, paths_of))

    res, first = houdini_rounds(F.pre, initial, ps, cands, key,
                                progress=tick, on_round=done if progress else None,
                                timeout_ms=query_ms, jobs=jobs, solver=solver)
    stats["step_check"] = {
        "steps": first.steps, "seconds": round(first.seconds, 2), "queries": first.queries,
        "queries_given_up": first.given_up, "candidates": len(cands), "jobs": jobs,
        "not_preserved": lemma_names(n for f in first.failures.values() for n in f),
        "slowest_paths": slowest_paths(first, step_of),
        "slowest_steps": slowest_steps(first, step_of, paths_of=paths_of),
        "failing_steps": [{"step": k, "not_preserved": lemma_names(f),
                           "cti": render_cti(m, F, next(iter(f.values())), query_ms,
                                             solver)}
                          for k, f in first.failures.items()]}
    return res


def _describe(m, s: bytes) -> dict[str, str]:
    """describe(), or the raw nonzero fields of a state describe() cannot read (a CTI
    need not be reachable: it may hold values no run produces), followed by where
    each CPU is and its registers (a CTI has no trace before it to say so)."""
    from model.describe import describe, describe_cpus

    if not s:  # a query z3 gave up on has no state
        return {}
    try:
        return {**describe(m, s), **describe_cpus(m, s)}
    except (KeyError, IndexError, ValueError):
        raw = {n: str(v) for n, v in zip(m.layout.names(), s, strict=True) if v}
        return {"(encoded)": "values no run produces; nonzero fields as stored", **raw}


def render_cti(m, F: Fragments, c, query_ms: int = QUERY_MS,
               solver: str = "z3") -> list[dict]:
    """The CTI like a trace: the state (as entry 0), the step, the broken property
    (or, with no state, that ``solver`` gave up on it)."""
    state = c.state
    da = _describe(m, state)
    entry0 = {"thread": "", "op": "", "step": "state satisfying the invariant and lemmas",
              "function": "", "calls": [], "notes": [], "changes": da}
    post = F.post(c.path, state) if state else state
    why = (f"after this step {c.candidate} is false (assumed: {len(c.relative_to)} "
           "candidates)" if state else
           f"{solver_text(solver)} gave no answer within {query_ms / 1000:g} s on this step: "
           f"{c.candidate} is not shown preserved (no state to show)")
    step = entry(m.label_parts(c.path.label), da, _describe(m, bytes(post)), [why])
    return [entry0, step]
