"""Two backends for the property predicates: plain Python and z3.

A predicate is written once, against a backend ``E`` (``E.And``, ``E.Or``, ``E.If``,
``E.Sum``, ``E.In``, ``E.sel``, and ``E.ULE``/``E.UGT`` for comparisons: never Python's ``<=``,
which z3 reads as a *signed* comparison), over a state ``s`` indexed by byte (``s[i]``).  With
:class:`Concrete` ``s`` is a ``bytes`` state and the result a Python bool (the
explicit checker); with :class:`Z3` ``s`` is a list of 8-bit z3 bit-vectors and the
result a z3 formula (BMC and induction).  Both come from the same code, so a state
satisfies the z3 encoding exactly when the explicit checker says it does
(tests/test_engines.py checks it on every explored state anyway).  The model uses the
same backends for its own predicates (final and quiescent states).
"""

from __future__ import annotations

from functools import reduce

import z3
from z3.z3 import _to_expr_ref

W = 8


class Concrete:
    name = "concrete"

    @staticmethod
    def And(*xs):
        return all(xs)

    @staticmethod
    def Or(*xs):
        return any(xs)

    @staticmethod
    def Not(x):
        return not x

    @staticmethod
    def Implies(a, b):
        """``b`` may be a thunk: evaluated only when ``a`` holds."""
        return (not a) or (b() if callable(b) else b)

    @staticmethod
    def All(xs):
        return all(xs)

    @staticmethod
    def In(xs, values):
        """Some ``x`` of ``xs`` is one of ``values``."""
        return any(x in values for x in xs)

    @staticmethod
    def If(c, a, b):
        return a if c else b

    @staticmethod
    def Sum(xs):
        return sum(xs)

    @staticmethod
    def ULE(a, b):
        """Unsigned ``a <= b`` (a byte is unsigned in both backends)."""
        return a <= b

    @staticmethod
    def UGT(a, b):
        return a > b

    @staticmethod
    def sel(s, table, i, field):
        """Field ``field`` of slot ``i`` of ``table``; NULL (0) reads as 0, and so does a
        pointer past the pool (as in :meth:`Z3.sel`: no state a run reaches has one)."""
        return s[table.idx(i, field)] if 0 < i <= table.n else 0


def _bv(x):
    return z3.BitVecVal(x, W) if isinstance(x, int) else x


def _b(x):
    return z3.BoolVal(x) if isinstance(x, bool) else x


class Z3:
    name = "z3"

    @staticmethod
    def And(*xs):
        return z3.And(*[_b(x) for x in xs]) if xs else z3.BoolVal(True)

    @staticmethod
    def Or(*xs):
        return z3.Or(*[_b(x) for x in xs]) if xs else z3.BoolVal(False)

    @staticmethod
    def Not(x):
        return z3.Not(_b(x))

    @staticmethod
    def Implies(a, b):
        return z3.Implies(_b(a), _b(b() if callable(b) else b))

    @staticmethod
    def All(xs):
        return Z3.And(*xs)

    @staticmethod
    def In(xs, values):
        return Z3.Or(*(x == v for x in xs for v in values))

    @staticmethod
    def If(c, a, b):
        return z3.If(_b(c), _bv(a), _bv(b))

    @staticmethod
    def Sum(xs):
        return reduce(lambda a, b: a + b, (_bv(x) for x in xs), z3.BitVecVal(0, W))

    @staticmethod
    def ULE(a, b):
        """Unsigned: z3's ``<=`` on bit-vectors is signed (200 <= 3 would hold)."""
        return z3.ULE(_bv(a), _bv(b))

    @staticmethod
    def UGT(a, b):
        return z3.UGT(_bv(a), _bv(b))

    @staticmethod
    def sel(s, table, i, field):
        if isinstance(i, int):
            return s[table.idx(i, field)] if i else z3.BitVecVal(0, W)
        out = z3.BitVecVal(0, W)
        for j in range(table.n, 0, -1):
            out = z3.If(i == j, s[table.idx(j, field)], out)
        return out


def ite(c, a, b):
    """``z3.If(c, a, b)`` through the C API, for terms already of the right sorts (a
    Boolean ``c``, ``a`` and ``b`` of one sort): the wrapper's coercions cost about
    three quarters of merging a 4/2/3 relation's paths (1.9 s against 0.5 s)."""
    return _to_expr_ref(z3.Z3_mk_ite(a.ctx.ref(), c.as_ast(), a.as_ast(), b.as_ast()),
                        a.ctx)


class Substitution:
    """``z3.substitute(e, *pairs)`` through the C API, the pairs marshalled once (the
    Python wrapper re-checks every pair's sorts on each call, which dominated symbolic
    execution and BMC unrolling).  It keeps the pairs' terms: the arrays hold bare
    pointers, and a term made only for the pairs (``BitVecVal(v)``, say) would otherwise
    be freed by z3 once Python drops it, leaving the arrays dangling (z3 then fails
    with "unreachable", or substitutes whatever took its place)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)
        self.n = len(self.pairs)
        self.src, self.dst = (z3.Ast * self.n)(), (z3.Ast * self.n)()
        for i, (a, b) in enumerate(self.pairs):
            self.src[i], self.dst[i] = a.as_ast(), b.as_ast()

    def __call__(self, e):
        if not self.n:
            return e
        return _to_expr_ref(z3.Z3_substitute(e.ctx.ref(), e.as_ast(), self.n, self.src,
                                             self.dst), e.ctx)
