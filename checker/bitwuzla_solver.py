"""Bitwuzla as the answering solver of z3-built bit-vector queries.

The relation, the candidates and every query are z3 terms (z3 builds, substitutes
and simplifies them); this module translates a query into Bitwuzla's terms and asks
Bitwuzla, which on the hard step queries of the induction answers where z3 gives up
(4 packets, 2 maps, 3 CPUs: the first query of ``bpf_local_storage_update()``'s link
step, 464 candidates, is unsat in 22 s in Bitwuzla and unknown after 300 s in z3).

Generic: quantifier-free bit-vector and Boolean z3 terms, nothing about the model.
A term outside that fragment raises :class:`Unsupported` (the caller falls back to
z3).  Translation is memoised on z3's term ids, so the terms every query of a
process shares (the candidates' pre-state formulas) are translated once.
"""

from __future__ import annotations

import time

import z3

try:
    import bitwuzla as bw
except ImportError:  # the caller asks available() first
    bw = None


def available() -> bool:
    return bw is not None


class Unsupported(Exception):
    """A z3 term this translation does not cover."""


def _kinds():
    K = bw.Kind
    return {
        z3.Z3_OP_EQ: K.EQUAL, z3.Z3_OP_IFF: K.EQUAL, z3.Z3_OP_DISTINCT: K.DISTINCT,
        z3.Z3_OP_ITE: K.ITE, z3.Z3_OP_AND: K.AND, z3.Z3_OP_OR: K.OR, z3.Z3_OP_NOT: K.NOT,
        z3.Z3_OP_IMPLIES: K.IMPLIES, z3.Z3_OP_XOR: K.XOR,
        z3.Z3_OP_BADD: K.BV_ADD, z3.Z3_OP_BSUB: K.BV_SUB, z3.Z3_OP_BMUL: K.BV_MUL,
        z3.Z3_OP_BNEG: K.BV_NEG, z3.Z3_OP_BAND: K.BV_AND, z3.Z3_OP_BOR: K.BV_OR,
        z3.Z3_OP_BXOR: K.BV_XOR, z3.Z3_OP_BNOT: K.BV_NOT,
        z3.Z3_OP_ULEQ: K.BV_ULE, z3.Z3_OP_ULT: K.BV_ULT, z3.Z3_OP_UGEQ: K.BV_UGE,
        z3.Z3_OP_UGT: K.BV_UGT, z3.Z3_OP_SLEQ: K.BV_SLE, z3.Z3_OP_SLT: K.BV_SLT,
        z3.Z3_OP_SGEQ: K.BV_SGE, z3.Z3_OP_SGT: K.BV_SGT, z3.Z3_OP_CONCAT: K.BV_CONCAT,
        z3.Z3_OP_BSHL: K.BV_SHL, z3.Z3_OP_BLSHR: K.BV_SHR, z3.Z3_OP_BASHR: K.BV_ASHR,
        # z3's division operators: the plain ones follow SMT-LIB (what a division by
        # zero gives); the ``_I`` ones are z3's for a divisor known nonzero, where the
        # two agree
        z3.Z3_OP_BSMOD: K.BV_SMOD, z3.Z3_OP_BSMOD_I: K.BV_SMOD,
        z3.Z3_OP_BSREM: K.BV_SREM, z3.Z3_OP_BSREM_I: K.BV_SREM,
        z3.Z3_OP_BUREM: K.BV_UREM, z3.Z3_OP_BUREM_I: K.BV_UREM,
        z3.Z3_OP_BSDIV: K.BV_SDIV, z3.Z3_OP_BSDIV_I: K.BV_SDIV,
        z3.Z3_OP_BUDIV: K.BV_UDIV, z3.Z3_OP_BUDIV_I: K.BV_UDIV,
    }


class Translator:
    """z3 terms to Bitwuzla terms of one ``TermManager``, memoised by z3 term id (the
    z3 terms are kept alive with their translations, so an id is never reused)."""

    def __init__(self):
        self.tm = bw.TermManager()
        self.kinds = _kinds()
        self.memo: dict[int, object] = {}
        self.keep: list = []
        self.consts: dict[str, object] = {}

    def term(self, e):
        ctx = e.ctx.ref()
        memo = self.memo
        if e.get_id() in memo:
            return memo[e.get_id()]
        stack = [(e.as_ast(), False)]
        while stack:
            a, ready = stack.pop()
            i = z3.Z3_get_ast_id(ctx, a)
            if i in memo:
                continue
            if z3.Z3_get_ast_kind(ctx, a) not in (z3.Z3_APP_AST, z3.Z3_NUMERAL_AST):
                raise Unsupported(z3.Z3_ast_to_string(ctx, a)[:80])
            n = z3.Z3_get_app_num_args(ctx, a)
            if not ready:
                stack.append((a, True))
                stack += [(z3.Z3_get_app_arg(ctx, a, k), False) for k in range(n)]
                continue
            args = [memo[z3.Z3_get_ast_id(ctx, z3.Z3_get_app_arg(ctx, a, k))]
                    for k in range(n)]
            memo[i] = self._app(ctx, a, args)
            self.keep.append(z3.ExprRef(a, e.ctx))  # holds the id
        return memo[e.get_id()]

    def _sort(self, ctx, s):
        k = z3.Z3_get_sort_kind(ctx, s)
        if k == z3.Z3_BOOL_SORT:
            return self.tm.mk_bool_sort()
        if k == z3.Z3_BV_SORT:
            return self.tm.mk_bv_sort(z3.Z3_get_bv_sort_size(ctx, s))
        raise Unsupported(z3.Z3_sort_to_string(ctx, s))

    def _app(self, ctx, a, args):
        d = z3.Z3_get_app_decl(ctx, a)
        op = z3.Z3_get_decl_kind(ctx, d)
        tm, K = self.tm, bw.Kind
        if op in self.kinds:
            if len(args) == 1 and op in (z3.Z3_OP_AND, z3.Z3_OP_OR):
                return args[0]
            if len(args) == 1 and op == z3.Z3_OP_DISTINCT:
                return tm.mk_true()
            if len(args) > 2 and op in (z3.Z3_OP_IMPLIES, z3.Z3_OP_BSUB):
                raise Unsupported("n-ary " + z3.Z3_get_symbol_string(
                    ctx, z3.Z3_get_decl_name(ctx, d)))
            return tm.mk_term(self.kinds[op], args)
        if op == z3.Z3_OP_TRUE:
            return tm.mk_true()
        if op == z3.Z3_OP_FALSE:
            return tm.mk_false()
        if op == z3.Z3_OP_BNUM:
            s = z3.Z3_get_sort(ctx, a)
            return tm.mk_bv_value(self._sort(ctx, s), int(z3.Z3_get_numeral_string(ctx, a)))
        if op == z3.Z3_OP_EXTRACT:
            hi = z3.Z3_get_decl_int_parameter(ctx, d, 0)
            lo = z3.Z3_get_decl_int_parameter(ctx, d, 1)
            return tm.mk_term(K.BV_EXTRACT, args, [hi, lo])
        if op in (z3.Z3_OP_ZERO_EXT, z3.Z3_OP_SIGN_EXT):
            kind = K.BV_ZERO_EXTEND if op == z3.Z3_OP_ZERO_EXT else K.BV_SIGN_EXTEND
            return tm.mk_term(kind, args, [z3.Z3_get_decl_int_parameter(ctx, d, 0)])
        if op == z3.Z3_OP_UNINTERPRETED and not args:
            name = z3.Z3_get_symbol_string(ctx, z3.Z3_get_decl_name(ctx, d))
            if name not in self.consts:
                self.consts[name] = tm.mk_const(self._sort(ctx, z3.Z3_get_sort(ctx, a)),
                                                name)
            return self.consts[name]
        raise Unsupported(z3.Z3_ast_to_string(ctx, a)[:80])


# Bitwuzla's term rewriting level (0-2; its default 2): at 4/2/3 the 64 step queries
# of `no_shared_storage` (`--outright`, every op kind) took 62.4-62.8 s of Bitwuzla
# with level 1, 69.4 s with 2 and 76.4 s with 0 (one process each, the first two
# measured twice side by side); the five slowest of the all-five round 159 s
# against 169 s.  Only the time changes: every level decides the same formula
REWRITE_LEVEL = 1


class _Deadline:
    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def __call__(self) -> bool:
        return time.monotonic() > self.at


class Values:
    """A satisfying assignment read back from Bitwuzla, as z3 numerals: ``eval(e)``
    evaluates a z3 term under it (the interface of ``z3.ModelRef.eval`` the caller
    uses)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def eval(self, e, model_completion=True):
        return z3.simplify(z3.substitute(e, *self.pairs))


def check(tr: Translator, assertions, variables, timeout_ms: int):
    """Satisfiability of the conjunction of z3 ``assertions`` in Bitwuzla within
    ``timeout_ms`` (0: no limit), as ``(z3.sat | z3.unsat | z3.unknown, Values |
    None)``; the values are of ``variables`` (z3 constants), each the value Bitwuzla
    gives it (any value where the assertions do not mention it)."""
    terms = [tr.term(a) for a in assertions]
    opts = bw.Options()
    opts.set(bw.Option.PRODUCE_MODELS, True)
    opts.set(bw.Option.REWRITE_LEVEL, REWRITE_LEVEL)
    s = bw.Bitwuzla(tr.tm, opts)
    if timeout_ms:
        s.configure_terminator(_Deadline(timeout_ms / 1000))
    for t in terms:
        s.assert_formula(t)
    r = s.check_sat()
    if r == bw.Result.UNSAT:
        return z3.unsat, None
    if r != bw.Result.SAT:
        return z3.unknown, None
    pairs = []
    for v in variables:
        c = tr.consts.get(v.decl().name())  # (Bitwuzla values any constant)
        val = int(s.get_value(c).value(10)) if c is not None else 0
        pairs.append((v, z3.BitVecVal(val, v.size())))
    # and every other constant translated (a merged query's choice of path, say), so
    # that evaluating a term of the assertions under the values leaves no constant
    named = {v.decl().name() for v in variables}
    for name, c in tr.consts.items():
        if name not in named and c.sort().is_bv():
            v = z3.BitVec(name, c.sort().bv_size())
            pairs.append((v, z3.BitVecVal(int(s.get_value(c).value(10)), v.size())))
    return z3.sat, Values(pairs)
