"""The model's transition relation in z3, derived from the same step code.

:class:`SymbolicView` runs the steps and the scheduler (the bodies of
model/system.py) on a state whose bytes are z3 8-bit bit-vectors.  Every Python ``if``
on a symbolic value, every pointer used as an index and every nondeterministic choice
forks the execution; :func:`paths` enumerates all forks (pruning infeasible ones with
z3), so a body becomes a list of :class:`Path`: a guard over the pre-state and the new
value of each byte it writes.  A :class:`Fragments` object is the disjunction of all paths of
all CPUs: ``T(s, s')`` holds iff some path's guard holds in ``s`` and ``s'`` is that
path's update of ``s``.

Guards and updates are also compiled to Python (:func:`compile_expr`) so that tests
can check the relation on every edge the explicit checker explores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import z3

from .expr import (
    Z3,
    Substitution,
    W,  # noqa: E402  (one byte per field)
    ite,
)
from .kernel import Blocked, KernelView, ModelError
from .layout import STACK_DEPTH

MASK = 0xFF


def _raw(x):
    return x.e if isinstance(x, (Sym, SymB)) else x


def _bv(x):
    x = _raw(x)
    if isinstance(x, bool):
        raise TypeError("a boolean used as a byte")
    return z3.BitVecVal(x & MASK, W) if isinstance(x, int) else x


def _bool(x):
    x = _raw(x)
    return z3.BoolVal(x) if isinstance(x, bool) else x


class Sym:
    """A symbolic byte.  Operators build z3 terms; ``bool()`` forks the execution."""

    __slots__ = ("e", "x")

    def __init__(self, e, x):
        self.e, self.x = e, x

    def _mk(self, e):
        return self.x.wrap(e)

    def __add__(self, o):
        return self._mk(self.e + _bv(o))

    __radd__ = __add__

    def __sub__(self, o):
        return self._mk(self.e - _bv(o))

    def __rsub__(self, o):
        return self._mk(_bv(o) - self.e)

    def __and__(self, o):
        return self._mk(self.e & _bv(o))

    __rand__ = __and__

    def __or__(self, o):
        return self._mk(self.e | _bv(o))

    __ror__ = __or__

    def __xor__(self, o):
        return self._mk(self.e ^ _bv(o))

    __rxor__ = __xor__

    def __lshift__(self, o):
        return self._mk(self.e << _bv(o))

    def __rlshift__(self, o):
        return self._mk(_bv(o) << self.e)

    def __rshift__(self, o):
        return self._mk(z3.LShR(self.e, _bv(o)))

    def __mod__(self, o):
        return self._mk(z3.URem(self.e, _bv(o)))

    def __eq__(self, o):
        return self.x.wrapb(self.e == _bv(o))

    def __ne__(self, o):
        return self.x.wrapb(self.e != _bv(o))

    def __lt__(self, o):
        return self.x.wrapb(z3.ULT(self.e, _bv(o)))

    def __le__(self, o):
        return self.x.wrapb(z3.ULE(self.e, _bv(o)))

    def __gt__(self, o):
        return self.x.wrapb(z3.UGT(self.e, _bv(o)))

    def __ge__(self, o):
        return self.x.wrapb(z3.UGE(self.e, _bv(o)))

    def __bool__(self):
        return self.x.branch(self.e != 0)

    __hash__ = object.__hash__

    def __index__(self):
        raise ModelError("a symbolic value used as an index: use k.pick()")

    def __repr__(self):
        return f"Sym({self.e})"


class SymB:
    """A symbolic condition; ``bool()`` forks the execution."""

    __slots__ = ("e", "x")

    def __init__(self, e, x):
        self.e, self.x = e, x

    def __bool__(self):
        return self.x.branch(self.e)

    __hash__ = object.__hash__

    def __repr__(self):
        return f"SymB({self.e})"


@dataclass
class Path:
    thread: int
    guard: z3.BoolRef
    writes: dict[int, z3.ExprRef]  # byte index -> new value (over the pre-state)
    label: tuple  # (kind, cpu, op, step codes, notes), as in the explicit checker
    _fn: object = field(default=None, repr=False)


class _Memo:
    """What the runs of one body share (:func:`paths`): a run replays its decision
    prefix, so it rebuilds the terms and loads an earlier run with that prefix built
    (z3 terms are hash-consed: the same term has the same id while it lives).
    ``terms``: (term id, bindings) -> (term, simplified term), the bindings made so far
    interned as an int by ``sigs``; ``loads`` (None: not memoised):
    :meth:`SymbolicView._sel`'s chains.  Each entry keeps the terms its key names alive,
    so that their ids are not reused meanwhile."""

    def __init__(self, loads: bool = True):
        self.terms: dict = {}
        self.sigs: dict = {}
        self.loads: dict | None = {} if loads else None

    def sig(self, bound: tuple) -> int:
        return self.sigs.setdefault(bound, len(self.sigs))


class _Run:
    """One execution of a body along a decision prefix."""

    def __init__(self, pre, plan, solver, bind=(), memo: _Memo | None = None,
                 witness=None):
        self.pre = pre
        self.plan = plan
        self.pos = 0
        self.taken: list[int] = []
        # feasible alternatives not taken: (decision prefix, witness of its conditions)
        self.pending: list[tuple[list[int], object]] = []
        # a z3 model satisfying the conditions taken so far (None: none at hand)
        self.witness = witness
        self.conds: list = []
        self.subst: list = list(bind)  # (pre-state byte, value): fixed control
        self.solver = solver
        self.memo = memo if memo is not None else _Memo(loads=False)
        self.bound: tuple = ()  # (byte id, value) of each binding this run made
        self.sig = self.memo.sig(self.bound)
        self._sub = None  # Substitution of self.subst, rebuilt when it grows

    # -- values ----------------------------------------------------------------------
    def simp(self, e):
        """Substitute the bound pre-state bytes and simplify (memoised for all the
        runs of one body)."""
        key = (e.get_id(), self.sig)
        hit = self.memo.terms.get(key)
        if hit is not None:
            return hit[1]
        if self._sub is None or self._sub.n != len(self.subst):
            self._sub = Substitution(self.subst)
        out = self._sub(e)
        out = z3.simplify(out)
        self.memo.terms[key] = (e, out)
        return out

    def wrap(self, e):
        e = self.simp(e)
        if z3.is_bv_value(e):
            return e.as_long()
        return Sym(e, self)

    def wrapb(self, e):
        e = self.simp(e)
        if z3.is_true(e):
            return True
        if z3.is_false(e):
            return False
        return SymB(e, self)

    # -- decisions -------------------------------------------------------------------
    def _feasible(self, c) -> tuple[bool, object]:
        """Can ``c`` hold with the conditions taken so far, and a model of both if one
        is at hand.  The run's witness (a model of the conditions so far) answers
        without a solver where it satisfies ``c``: of a branch's two alternatives it
        satisfies one, so one check per branch, not two (the same answers: only
        the solver calls change)."""
        c = self.simp(c)
        if z3.is_false(c):
            return False, None
        if z3.is_true(c):
            return True, self.witness
        w = self.witness
        if w is not None and z3.is_true(w.eval(c, model_completion=True)):
            return True, w
        r = self.solver.check(c)
        return r != z3.unsat, self.solver.model() if r == z3.sat else None

    def decide(self, alts):
        """Choose among alternatives (z3 conditions, or None for a free choice)."""
        if self.pos < len(self.plan):
            i = self.plan[self.pos]
        else:
            ok = []
            for j, c in enumerate(alts):
                feasible, w = (True, self.witness) if c is None else self._feasible(c)
                if feasible:
                    ok.append((j, w))
            if not ok:
                raise Blocked()
            i, self.witness = ok[0]
            for j, w in ok[1:]:
                self.pending.append(([*self.taken, j], w))
        self.pos += 1
        self.taken.append(i)
        c = alts[i]
        if c is not None:
            c = self.simp(c)
            self.conds.append(c)
            self.solver.add(c)
            self._bind(c)
        return i

    def _bind(self, c):
        """x == v for a pre-state byte x: substitute v for x from now on."""
        if z3.is_eq(c):
            a, b = c.arg(0), c.arg(1)
            if z3.is_bv_value(a):
                a, b = b, a
            if z3.is_const(a) and not z3.is_bv_value(a) and z3.is_bv_value(b):
                self.subst.append((a, b))
                self.bound += ((a.get_id(), b.as_long()),)
                self.sig = self.memo.sig(self.bound)

    def branch(self, cond):
        return self.decide([cond, z3.Not(cond)]) == 0


class SymbolicView(KernelView):
    """The kernel view over symbolic bytes (a pre-state of z3 variables)."""

    def __init__(self, model, run: _Run, t: int):
        self.run = run
        self.cur = list(run.pre)
        self._regs = {}
        self._checked: dict = {}  # kasan_if(True, ...) made: key -> the terms it names
        super().__init__(model, t)

    def trace_note(self, when, text):
        """(KernelView.trace_note: left out of symbolic steps.)"""

    def model_check(self, bad, text):
        """(KernelView.model_check: concrete steps only.)"""

    def kasan_if(self, cond, table, i):
        """KernelView's check, except that one already made unconditionally on the
        same pointer, the ``mem`` (and ``rcuw``) fields it reads unchanged since, is
        not made again: it could record nothing, since the first one recorded its
        nonzero code wherever the access is bad and ``obs_uaf`` keeps the first code
        (at 4/2/3, 46% of the checks: a function loads and stores several fields of
        one object; the relation is the same, its terms smaller)."""
        fields = self.mem_fields(table)
        slots = [i] if isinstance(i, int) else range(1, table.n + 1)
        srcs = [self.cur[table.idx(j, f)] for j in slots for f in fields]
        key = (table.name, i if isinstance(i, int) else _raw(i).get_id(),
               *(x.get_id() for x in srcs))
        if key in self._checked:
            return
        super().kasan_if(cond, table, i)
        if cond is True:
            self._checked[key] = (i, srcs)  # kept alive, so that no id is reused

    def _rd(self, idx):
        return self.run.wrap(_bv(self.cur[idx]))

    def _wr(self, idx, v):
        self.cur[idx] = _bv(v)

    def _wr_if(self, cond, idx, v):
        c = self.run.simp(_bool(cond))
        if z3.is_true(c):
            self.cur[idx] = _bv(v)
        elif not z3.is_false(c):
            self.cur[idx] = ite(c, _bv(v), _bv(self.cur[idx]))

    def _field(self, table, i, name):
        if isinstance(i, int):
            return self._rd(table.idx(i, name))
        return self.run.wrap(self._sel(table, _raw(i), name))

    def _sel(self, table, i, name):
        """``Z3.sel`` of the current bytes, memoised for the runs of one body
        (:class:`_Memo`; rebuilding these chains was a third of the relation's build)."""
        loads = self.run.memo.loads
        if loads is None:
            return Z3.sel(self.cur, table, i, name)
        srcs = [self.cur[table.idx(j, name)] for j in range(1, table.n + 1)]
        key = (i.get_id(), *(x.get_id() for x in srcs))  # the chain is a function of these
        hit = loads.get(key)
        if hit is None:
            hit = loads[key] = (Z3.sel(self.cur, table, i, name), i, srcs)
        return hit[0]

    def _set_field(self, table, i, name, v):
        if isinstance(i, int):
            return self._wr(table.idx(i, name), v)
        for j in range(1, table.n + 1):
            idx = table.idx(j, name)
            self.cur[idx] = ite(_raw(i) == j, _bv(v), _bv(self.cur[idx]))

    def _nonnull(self, i, n):
        return i if isinstance(i, Sym) else super()._nonnull(i, n)

    def load_if(self, cond, table, i, name):
        """One value, not a fork: the KASAN check applies under ``cond``."""
        if isinstance(cond, bool) or (isinstance(i, int) and i == 0):
            return super().load_if(cond, table, i, name)
        self.kasan_if(cond, table, i)
        return self._ite(cond, self._field(table, i, name), 0)

    def store_if_nonnull(self, table, i, name, v):
        """One conditional store, not a fork: the KASAN check applies when ``i`` is
        not NULL, and the select-update writes no slot when ``i`` is 0."""
        if not isinstance(i, Sym):
            return super().store_if_nonnull(table, i, name, v)
        self.kasan_if(i != 0, table, i)
        self._set_field(table, i, name, v)

    def _slot(self, x, n, lo=0):
        if isinstance(x, int):
            if not lo <= x <= n:
                raise ModelError(f"slot {x} out of range {lo}..{n}")
            return x
        vals = list(range(lo, n + 1))
        return vals[self.run.decide([_raw(x) == v for v in vals])]

    def pick_in(self, x, values):
        if isinstance(x, int):
            return super().pick_in(x, values)
        return values[self.run.decide([_raw(x) == v for v in values])]

    def regs_of(self, t):
        from .kernel import Regs

        r = self._regs.get(t)
        if r is None:
            r = self._regs[t] = Regs(self, t)
        return r

    def choose(self, n):
        return self.run.decide([None] * n)

    def _and(self, a, b):
        return self.run.wrapb(z3.And(_bool(a), _bool(b)))

    def _or(self, a, b):
        return self.run.wrapb(z3.Or(_bool(a), _bool(b)))

    def _not(self, a):
        return self.run.wrapb(z3.Not(_bool(a)))

    def _ite(self, c, a, b):
        c = self.run.simp(_bool(c))
        if z3.is_true(c):
            return a
        if z3.is_false(c):
            return b
        return self.run.wrap(ite(c, _bv(a), _bv(b)))


def pre_state(layout, prefix="s"):
    names = layout.names()
    return [z3.BitVec(f"{prefix}.{n}", W) for n in names]


def paths(model, pre, t: int, body, bind=(), share: bool = True) -> list[Path]:
    """Every execution path of ``body`` for CPU ``t`` from the symbolic ``pre``, with
    the pre-state bytes of ``bind`` fixed to the given values.  With ``share`` (the
    default) the runs share one :class:`_Memo`; without, each run simplifies on its own
    and builds every load afresh (what a test compares against)."""
    out = []
    todo: list = [([], None)]  # (decision prefix, a model of its conditions)
    pos = {v.get_id(): i for i, v in enumerate(pre)}
    bind_idx = [(pos[a.get_id()], b) for a, b in bind]
    bind = [(a, z3.BitVecVal(b, W)) for a, b in bind]
    memo = _Memo()
    # one solver for all runs, each run's conditions pushed and popped (3 s of checks
    # at 4/2/3 before the witnesses of _Run._feasible halved them); with a fresh
    # z3.Solver() per run the same checks took 4.7 s or 18.9 s depending on nothing in
    # the model (which module imported z3 first)
    solver = z3.SimpleSolver()
    while todo:
        plan, witness = todo.pop()
        solver.push()
        try:
            p = _one_run(model, pre, t, body, plan, solver, bind,
                         memo if share else None, todo, witness)
        finally:
            solver.pop()
        if p is not None:
            writes, conds, label = p
            conds = [pre[i] == v for i, v in bind_idx] + conds
            guard = z3.simplify(z3.And(*conds)) if conds else z3.BoolVal(True)
            out.append(Path(t, guard, writes, label))
    return out


def _one_run(model, pre, t, body, plan, solver, bind, memo, todo, witness=None):
    """Run ``body`` along the decision prefix ``plan`` (``witness``: a model of its
    conditions, or None): the path's writes, conditions and label, or None if it
    blocks; the prefixes of the alternatives it did not take go onto ``todo``."""
    run = _Run(pre, plan, solver, bind, memo, witness)
    k = SymbolicView(model, run, t)
    k.begin()
    try:
        body(k)
    except (Blocked, ModelError):
        # ModelError: only in states outside the model's domain (see the range lemmas)
        todo.extend(run.pending)
        return None
    todo.extend(run.pending)
    writes = {}
    bound = {a.get_id() for a, _ in run.subst}  # a bound byte "writes" its value
    for i, (a, b) in enumerate(zip(pre, k.cur, strict=True)):
        if b is a and a.get_id() not in bound:  # untouched: simp(b) would be a
            continue
        b = run.simp(b)
        if not b.eq(a):
            writes[i] = b
    return writes, run.conds, (k.kind, t, k.gid, tuple(k.executed), tuple(k.notes))


# ------------------------------------------------------------------------------------
# z3 expression -> Python function of the state bytes


def compile_expr(e, index: dict[str, int]):
    """Compile a z3 term over the pre-state bytes into ``f(state) -> int | bool``.

    Shared subterms become local variables (z3 terms are DAGs; printed as trees they
    can grow exponentially).  Conditionals evaluate both arms, which is safe: every
    operation is total (division by zero as in SMT-LIB)."""
    w = _Walk(e, index)
    return w.function(f"return {w.code(e.as_ast())}")


def compile_path(guard, writes: dict, index: dict[str, int]):
    """Compile a path into ``f(state)``: None where ``guard`` is false, else the
    values of ``writes`` (in its order).  One function for the guard and every write,
    so the subterms they share (most of them) are compiled and evaluated once."""
    w = _Walk(guard, index)
    w.lines.append(f"if not {w.code(guard.as_ast())}: return None")
    values = [w.code(e.as_ast()) for e in writes.values()]
    return w.function(f"return ({', '.join(values)},)" if values else "return ()")


def _mask(v, w):
    return v & ((1 << w) - 1)


_INFIX = {z3.Z3_OP_AND: " and ", z3.Z3_OP_OR: " or ", z3.Z3_OP_BAND: " & ",
          z3.Z3_OP_BOR: " | ", z3.Z3_OP_BXOR: " ^ "}
_WRAPPING = {z3.Z3_OP_BADD: " + ", z3.Z3_OP_BSUB: " - ", z3.Z3_OP_BMUL: " * "}
_FORMS = {
    z3.Z3_OP_NOT: "(not {0})",
    z3.Z3_OP_EQ: "({0} == {1})",
    z3.Z3_OP_DISTINCT: "({0} != {1})",
    z3.Z3_OP_ITE: "({1} if {0} else {2})",
    z3.Z3_OP_IMPLIES: "((not {0}) or {1})",
    z3.Z3_OP_ULEQ: "({0} <= {1})",
    z3.Z3_OP_ULT: "({0} < {1})",
    z3.Z3_OP_UGEQ: "({0} >= {1})",
    z3.Z3_OP_UGT: "({0} > {1})",
    z3.Z3_OP_BNOT: "_mask(~{0}, {w})",
    z3.Z3_OP_BSHL: "_mask({0} << {1}, {w})",
    z3.Z3_OP_BLSHR: "({0} >> {1})",
}


class _Walk:
    """Python code for z3 terms over the pre-state bytes (``index``: a byte's variable
    name -> its position).  Terms are walked through z3's C API on the raw ASTs (the
    Python wrappers' objects and checks per node cost more than the rest of
    compiling), each subterm once, one local variable per application (``lines``)."""

    def __init__(self, e, index: dict[str, int]):
        self.ctx, self.index = e.ctx.ref(), index
        self.memo: dict[int, str] = {}
        self.lines: list[str] = []

    def function(self, ret: str):
        body = "".join(f"    {ln}\n" for ln in (*self.lines, ret))
        env = {"_mask": _mask}
        exec(f"def f(s):\n{body}", env)  # noqa: S102
        return env["f"]

    def code(self, a) -> str:
        ctx = self.ctx
        key = z3.Z3_get_ast_id(ctx, a)
        if key not in self.memo:
            if z3.Z3_get_ast_kind(ctx, a) == z3.Z3_NUMERAL_AST:
                self.memo[key] = z3.Z3_get_numeral_string(ctx, a)
            else:
                self.memo[key] = self._app(a)
        return self.memo[key]

    def _app(self, a) -> str:
        ctx = self.ctx
        d = z3.Z3_get_app_decl(ctx, a)
        k = z3.Z3_get_decl_kind(ctx, d)
        n = z3.Z3_get_app_num_args(ctx, a)
        if k == z3.Z3_OP_TRUE:
            return "True"
        if k == z3.Z3_OP_FALSE:
            return "False"
        if k == z3.Z3_OP_UNINTERPRETED and n == 0:
            return f"s[{self.index[z3.Z3_get_symbol_string(ctx, z3.Z3_get_decl_name(ctx, d))]}]"
        kids = [z3.Z3_get_app_arg(ctx, a, i) for i in range(n)]
        form = self._form(a, d, k, kids)  # (the kids' own lines come first)
        name = f"v{len(self.lines)}"
        self.lines.append(f"{name} = {form}")
        return name

    def _width(self, a) -> int:
        sort = z3.Z3_get_sort(self.ctx, a)
        if z3.Z3_get_sort_kind(self.ctx, sort) != z3.Z3_BV_SORT:
            return 0
        return z3.Z3_get_bv_sort_size(self.ctx, sort)

    def _form(self, a, d, k, kids) -> str:
        args = [self.code(c) for c in kids]
        if k in _INFIX:
            return "(" + _INFIX[k].join(args) + ")"
        if k in _WRAPPING:
            return f"_mask({_WRAPPING[k].join(args)}, {self._width(a)})"
        if k in _FORMS:
            form = _FORMS[k]
            return form.format(*args, w=self._width(a) if "{w}" in form else 0)
        if k in (z3.Z3_OP_BUREM, z3.Z3_OP_BUREM_I):
            return f"({args[0]} % {args[1]} if {args[1]} else {args[0]})"
        if k == z3.Z3_OP_EXTRACT:
            hi, lo = (z3.Z3_get_decl_int_parameter(self.ctx, d, i) for i in (0, 1))
            return f"(({args[0]} >> {lo}) & {(1 << (hi - lo + 1)) - 1})"
        if k == z3.Z3_OP_CONCAT:
            out, shift = "0", 0
            for c, code in zip(reversed(kids), reversed(args), strict=True):
                out = f"({out} | ({code} << {shift}))"
                shift += self._width(c)
            return out
        if k == z3.Z3_OP_ZERO_EXT:
            return args[0]
        raise NotImplementedError(f"compile: {z3.Z3_ast_to_string(self.ctx, a)}")


# ------------------------------------------------------------------------------------
# The relation cut by control: T = OR over (cpu, control) of (ctl == c AND paths)

CTL_REGS = ("pc", "sp", *(f"stk{i}" for i in range(STACK_DEPTH)), "opi", "alt")


class Fragments:
    """T(s, s') as a disjunction over each CPU's control registers (pc, call stack,
    op index, alternative): ``ctl_t(s) == c  AND  OR(paths of the body with ctl = c)``.

    A CPU's control takes finitely many values in a spec, so this is the whole
    relation; fragments are built on first use.  Everything else (the heap, the other
    CPUs, the CPU's own locals) stays symbolic in a fragment, so one fragment serves
    every state with that control.
    """

    def __init__(self, model):
        self.model = model
        L = self.layout = model.layout
        self.pre = pre_state(L)
        self.index = {str(v): i for i, v in enumerate(self.pre)}
        self.bodies = dict(model.bodies())
        self.ctl_idx = {t: [L.thread.idx(t, r) for r in CTL_REGS] for t in self.bodies if t}
        self._cache: dict = {}

    def key(self, s, t: int) -> tuple:
        return tuple(s[i] for i in self.ctl_idx[t]) if t else ()

    def paths(self, t: int, key: tuple) -> list[Path]:
        got = self._cache.get((t, key))
        if got is None:
            bind = [(self.pre[i], v) for i, v in zip(self.ctl_idx.get(t, ()), key,
                                                      strict=True)]
            got = self._cache[(t, key)] = paths(self.model, self.pre, t, self.bodies[t],
                                                bind)
        return got

    def built(self, t: int) -> dict[tuple, list[Path]]:
        """The fragments of CPU ``t`` built so far: control value -> its paths."""
        return {key: ps for (u, key), ps in self._cache.items() if u == t}

    def control_points_built(self) -> int:
        """How many (CPU, control value) fragments have been built so far."""
        return len(self._cache)

    def post(self, p: Path, s: bytes) -> bytes | None:
        """The successor of ``s`` along ``p`` (None where its guard is false)."""
        if p._fn is None:
            p._fn = compile_path(p.guard, p.writes, self.index)
        values = p._fn(s)  # every value is a function of the pre-state s
        if values is None:
            return None
        n = bytearray(s)
        for i, v in zip(p.writes, values, strict=True):
            n[i] = v
        return bytes(n)

    def successors(self, s: bytes) -> list[tuple[tuple, bytes]]:
        """Every (label, s') with T(s, s'), by evaluating the z3 terms on ``s``."""
        out = []
        for t in self.bodies:
            for p in self.paths(t, self.key(s, t)):
                n = self.post(p, s)
                if n is not None:
                    out.append((p.label, n))
        return out

    def control_closure(self, t: int, initial: list[bytes], tick=None) -> tuple[list[Path], int]:
        """Every path of CPU ``t`` from every control value it can reach from the
        initial states, and the number of control values: a closure computed from the
        paths themselves (their writes to the control registers are constants), not
        from the explicit search.  ``tick(done, seen, paths)`` after each control value."""
        seen = {self.key(s, t) for s in initial}
        todo, out = list(seen), []
        while todo:
            key = todo.pop()
            for p in self.paths(t, key):
                out.append(p)
                new = []
                for i, v in zip(self.ctl_idx[t], key, strict=True):
                    w = p.writes.get(i)
                    if w is None:
                        new.append(v)
                    elif z3.is_bv_value(w):
                        new.append(w.as_long())
                    else:
                        raise ModelError(f"control register {self.pre[i]} written "
                                         f"with a non-constant: {w}")
                nk = tuple(new)
                if nk not in seen:
                    seen.add(nk)
                    todo.append(nk)
            if tick:
                tick(len(seen) - len(todo), len(seen), len(out))
        return out, len(seen)

    def reachable_paths(self, initial: list[bytes]) -> list[Path]:
        """Every path of every fragment whose control some run can reach."""
        out: list[Path] = []
        for t in self.bodies:
            out += self.paths(0, ()) if t == 0 else self.control_closure(t, initial)[0]
        return out
