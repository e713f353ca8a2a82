"""Smaller queries for a query z3 gives up on, for :mod:`checker.induction`.

A candidate's negation after a path is split two ways, both sound and complete (the
query is unsatisfiable exactly when every smaller one is):

* by its conjuncts (:func:`pieces`): a candidate quantified over every object is one
  query per object;
* by cases of one pre-state variable (:func:`by_cases`): the variable equal to each
  numeral the query or the path's guard compares it with, and to none of them.  When
  the variable picks which slot a step writes (a local holding an index), each case
  writes one known slot, and z3's ``If`` chains over every slot fold away.  A case z3
  still gives up on is split the same way again, with the first variable fixed: then
  what the step reads through the slot (the selem before the one unlinked) is a
  variable compared with numerals too.

Generic: z3 terms and the state vector, nothing about the model.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import z3

# the variables :func:`by_cases` tries, most compared first
CASE_VARIABLES = 4
# how deep a case z3 gives up on is split again (:func:`by_cases`)
NEST = 1


def conjuncts(f) -> list:
    """The top-level conjuncts of the z3 formula ``f``: ``And``'s arguments, and
    ``Implies(a, b)`` as ``Implies(a, b_i)`` for each conjunct ``b_i`` of ``b``, all the
    way down; ``f`` is the conjunction of the list."""
    if z3.is_and(f):
        return [g for a in f.children() for g in conjuncts(a)]
    if z3.is_implies(f):
        a, b = f.children()
        parts = conjuncts(b)
        if len(parts) > 1:
            return [z3.Implies(a, g) for g in parts]
    return [f]


def pieces(negated) -> list:
    """``negated`` (a candidate's negation after a path) as one query per conjunct of
    the candidate: the candidate is preserved when none of them is satisfiable."""
    if not z3.is_not(negated):
        return [negated]
    return [z3.Not(g) for g in conjuncts(negated.arg(0))]


def _numeral_sides(t) -> list[tuple]:
    """``[(side, numeral)]`` when ``t`` compares something with a numeral (``==``,
    ``!=``), else ``[]``."""
    if not (z3.is_eq(t) or (z3.is_distinct(t) and t.num_args() == 2)):
        return []
    a, b = t.children()
    return [(v, n) for v, n in ((a, b), (b, a)) if z3.is_bv_value(n) or z3.is_int_value(n)]


def compared(f, pre) -> list[tuple]:
    """The variables of ``pre`` that ``f`` compares (``==``, ``!=``) with numerals, most
    compared first, each with those numerals: ``[(variable, [numeral, ...]), ...]``."""
    variables = {v.get_id(): v for v in pre}
    count, values, seen, todo = Counter(), defaultdict(set), set(), [f]
    while todo:
        t = todo.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        for v, n in _numeral_sides(t):
            if v.get_id() in variables:
                count[v.get_id()] += 1
                values[v.get_id()].add(n.as_long())
        todo.extend(t.children())
    return [(variables[i], sorted(values[i])) for i, _ in count.most_common()]


def pinned(guard) -> set:
    """The ids of the variables ``guard`` fixes to one numeral (a top-level conjunct
    ``v == n``): a case split on one of them has one case, the query itself."""
    return {v.get_id() for g in conjuncts(guard) if z3.is_eq(g)
            for v, _ in _numeral_sides(g) if z3.is_const(v)}


def ranked(query, pre, guard, fixed=()) -> list[tuple]:
    """The case variables for ``query``: those the path's ``guard`` compares with
    numerals first (the locals that pick which slot the step reads and writes), then
    those the query compares, each with the numerals either compares it with; none
    the guard pins, none of ``fixed``."""
    skip = pinned(guard) | {v.get_id() for v in fixed}
    values = {}  # each variable with the numerals either compares it with
    for v, ns in compared(guard, pre) + compared(query, pre):
        if v.get_id() not in skip:
            values.setdefault(v.get_id(), (v, set()))[1].update(ns)
    return [(v, sorted(ns)) for v, ns in values.values()]


def fix(f, v, case):
    """``f`` with ``v`` replaced by the numeral of ``case`` (``v == n``), simplified: a
    comparison the step makes through ``v`` (``If(v == 1, a1, If(v == 2, a2, ...)) ==
    k``) becomes one of the variable it selects (``a2 == k``), which :func:`compared`
    then sees."""
    return z3.simplify(z3.substitute(f, (v, case.arg(1))))


def by_cases(check, query, pre, counts, limits, guard=None, nest=None, fixed=()):
    """``query`` asked as the cases of one variable's value (:func:`ranked`'s first
    ``CASE_VARIABLES``, each in turn): ``check(q, ms)`` answers one query as
    ``(result, model)`` within ``ms`` milliseconds; ``guard`` is the path's guard.
    The variables are tried with each limit of ``limits`` in turn, shortest first (a
    variable that fixes the slot a step writes answers each case in a fraction of a
    second, one that does not may take seconds a case).  A case ``v == n`` z3 gives up
    on is asked as cases of another variable (``nest`` levels deep, the guard
    simplified with ``v`` fixed, so that the variable the step reads through ``v``
    comes first: the selem before the one a step unlinks, once the unlinked one is
    known); a case it still gives up on abandons that variable for the next.  A case
    already shown unsatisfiable is not asked again.  Gives ``(unsat, None)`` when
    every case of some variable is unsatisfiable, the first satisfiable case's ``(sat,
    model)`` (a model of ``query``), and ``(unknown, None)`` when no variable's cases
    are all answered.  ``counts`` gains the queries asked and those given up on."""
    nest = NEST if nest is None else nest
    guard = z3.BoolVal(True) if guard is None else guard
    variables = ranked(query, pre, guard, fixed)[:CASE_VARIABLES]
    unsat = set()
    for ms in limits:
        for i, (v, values) in enumerate(variables):
            cases = [(v == n, n) for n in values] + [(z3.And(*(v != n for n in values)), None)]
            for j, (case, n) in enumerate(cases):
                if (i, j) in unsat:
                    continue
                counts["queries"] += 1
                r, mdl = check(z3.And(query, case), ms)
                if r == z3.unknown and nest > 0:  # split again, v fixed
                    counts["given_up"] += 1
                    q, g = (query, guard) if n is None else (fix(query, v, case),
                                                             fix(guard, v, case))
                    r, mdl = by_cases(check, z3.And(q, case), pre, counts, (ms,),
                                      z3.And(g, case), nest - 1, (*fixed, v))
                    if r == z3.unknown:
                        break
                if r == z3.sat:
                    return r, mdl
                if r != z3.unsat:
                    counts["given_up"] += 1
                    break
                unsat.add((i, j))
            else:
                return z3.unsat, None
    return z3.unknown, None
