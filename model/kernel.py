"""The kernel view: how a step reads and writes the state, and the step registry.

Every atomic step of the model is a Python function ``fn(k)`` where ``k`` is a
:class:`KernelView` bound to one state and one CPU.  Steps touch kernel objects only
through ``k`` (``k.skb(x).cloned``, ``k.storage(s).lock = ...``), branch with plain
``if`` on the values they read, and make nondeterministic choices (a lock that times
out, an allocation that fails) with ``k.choose``.  The same functions therefore run

* concretely (:class:`ConcreteView`): the explicit checker enumerates every choice
  sequence by re-running the step (:func:`run_step`), and
* symbolically (``model/symbolic.py``): the z3 encoding runs them on symbolic bytes.

Every load/store of a kernel field goes through a KASAN-like check: touching an object
that is freed (or whose RCU-deferred free may have completed) records an observation,
as KASAN would print a report; the property checker decides what that means.
"""

from __future__ import annotations

from dataclasses import dataclass

from .layout import (
    KIND_CODES,
    MEM_FREED,
    MEM_LIVE,
    MEM_NONE,
    MEM_RCU,
    STACK_DEPTH,
    Layout,
)

PC_IDLE = 0
PC_OP_DONE = 255  # return address of an op's entry function


class Blocked(Exception):
    """The step cannot run in this state (it waits: a held lock, a grace period)."""


class ModelError(Exception):
    """The model itself is inconsistent (a bug in skbcheck, never a kernel finding)."""


class Oops(Exception):
    """A NULL pointer dereference: the kernel oopses and the CPU's task dies
    (model/system.py ends the CPU's work; the observation names the pointer)."""


# --------------------------------------------------------------------------------------
# Step registry: static code metadata (like a function table), not mutable state.


@dataclass(frozen=True)
class Step:
    code: int
    proc: Proc
    func: str  # the kernel function this step belongs to (usually proc.name)
    what: str
    fn: object
    local: bool = False  # touches only this CPU's registers: may run in the same transition
    short: str = ""  # a few words for race diagrams
    file: str = ""  # where ``func`` is defined, when not in ``proc.file``

    @property
    def where(self) -> str:
        return self.file or self.proc.file

    @property
    def label(self) -> str:
        return f"{self.func}: {self.what}"


STEPS: dict[int, Step] = {}
_BY_FN: dict[object, Step] = {}


class Proc:
    """A kernel function modelled as one or more atomic steps.

    ``regs`` are the CPU registers (thread fields) the function uses as locals; they are
    cleared when it returns so that dead values never distinguish states.
    """

    def __init__(self, name: str, file: str, regs: tuple[str, ...] = ()):
        self.name = name
        self.file = file
        self.regs = regs
        self.steps: list[Step] = []

    def step(self, what: str, func: str | None = None, local: bool = False, short: str = "",
             file: str = ""):
        """Register ``fn`` as an atomic step; ``func`` names an inlined callee (defined
        in ``file`` when that is not the Proc's file).

        ``local`` steps only move values between this CPU's registers (returning a
        result to the caller); they are independent of every other CPU, so the checker
        may run them together with the step before (see model/system.py).
        """

        def deco(fn):
            code = len(STEPS) + 1
            if code >= PC_OP_DONE:
                raise ModelError("too many steps for a one-byte pc")
            st = Step(code, self, func or self.name, what, fn, local, short or what, file)
            STEPS[code] = st
            _BY_FN[fn] = st
            self.steps.append(st)
            return fn

        return deco

    def __repr__(self):
        return f"Proc({self.name})"


def step_of(fn) -> Step:
    return _BY_FN[fn]


# --------------------------------------------------------------------------------------


class Obj:
    """One kernel object (a table slot) seen through a view: attribute access = load/store."""

    __slots__ = ("_k", "_t", "_i")

    def __init__(self, k, table, i):
        object.__setattr__(self, "_k", k)
        object.__setattr__(self, "_t", table)
        object.__setattr__(self, "_i", i)

    def __getattr__(self, name):
        return self._k.load(self._t, self._i, name)

    def __setattr__(self, name, value):
        self._k.store(self._t, self._i, name, value)


class Regs:
    """The registers of one CPU (no memory check: they are the CPU's own)."""

    __slots__ = ("_k", "_base", "_off")

    def __init__(self, k, t):
        th = k.L.thread
        object.__setattr__(self, "_k", k)
        object.__setattr__(self, "_base", th.base + (t - 1) * th.stride)
        object.__setattr__(self, "_off", k.model.reg_off)

    def __getattr__(self, name):
        return self._k._rd(self._base + self._off[name])

    def __setattr__(self, name, value):
        self._k._wr(self._base + self._off[name], value)


class KernelView:
    """Base view.  Subclasses provide the primitives ``_rd``, ``_wr``, ``_wr_if``,
    ``_slot``, ``choose`` and the helpers ``_and``/``_or``/``_not``/``_ite``."""

    def __init__(self, model, t: int):
        self.model = model
        self.L: Layout = model.layout
        self.design = model.design
        self.t = t  # current CPU, 1-based
        self.step: Step | None = None
        self.notes: list[str] = []
        self.executed: list[int] = []  # step codes run in this transition
        self.kind = 0  # label kind (model/system.py: STEP, CHOOSE, ...)
        self.gid = -1  # the op this transition belongs to
        self.reg = self.regs_of(t) if t else None

    # ---- objects -------------------------------------------------------------------
    def _obj(self, table, x):
        return Obj(self, table, x)

    def skb(self, x):
        return self._obj(self.L.skb, x)

    def ext(self, x):
        return self._obj(self.L.ext, x)

    def storage(self, x):
        return self._obj(self.L.storage, x)

    def selem(self, x):
        return self._obj(self.L.selem, x)

    def map(self, x):
        return self._obj(self.L.map, x)

    def pick(self, x, lo: int, hi: int):
        """A small index read from the state (cache slot, bucket), as a Python int."""
        return self._slot(x, hi, lo)

    def pick_in(self, x, values: tuple[int, ...]):
        """A value read from the state that must be one of ``values`` (a pc)."""
        if x not in values:
            raise ModelError(f"{x} is none of {values}")
        return x

    def begin(self):
        """Start of a transition: observations are per transition."""
        lo, hi = self.L.obs_slice
        for i in range(lo, hi):
            self._wr(i, 0)

    def regs_of(self, t):
        return Regs(self, t)

    def outside_ops(self, cpu):
        """Is ``cpu`` (1-based; a lock word's owner) another CPU inside no op?  Every op
        releases the locks it takes before it returns, so a lock such a CPU holds is
        one its task held when it oopsed and was killed: no one will release it."""
        out = False
        for u in self.model.threads:
            if u != self.t:
                out = self._or(out, self._and(cpu == u, self.regs_of(u).pc == PC_IDLE))
        return out

    def g(self, name):
        return self._rd(self.L.G[name])

    def set_g(self, name, v):
        self._wr(self.L.G[name], v)

    def mut(self, name: str) -> bool:
        """Is the named protection removed (a mutation of SEMANTICS.md section 5)?"""
        return name in self.model.mutations

    def note(self, text: str):
        """An outcome worth naming in the trace ("cmpxchg lost", "guard refused")."""
        self.notes.append(text)

    def trace_note(self, when, text):
        """A note for the trace only, not an outcome of the kernel's code: ``text()``
        when ``when()`` holds.  Both are called only on a concrete step; the symbolic
        view leaves the note out, since testing ``when`` there would fork the paths."""
        if when():
            self.note(text())

    def model_check(self, bad, text):
        """A consistency check of the model itself (never a kernel finding): raise
        ModelError(``text()``) when ``bad()`` holds.  Concrete steps only, as
        :meth:`trace_note`; the symbolic view leaves it out."""
        if bad():
            raise ModelError(text())

    # ---- memory safety (KASAN) -----------------------------------------------------
    def _bad_mem(self, table, i):
        """Condition: slot ``i`` of ``table`` may not be touched now."""
        mem = self._field(table, i, "mem")
        if table.name == "map":
            return self._or(mem == 0, mem == 3)  # MAP_NONE, MAP_FREED
        if table.name == "skb":
            return mem != MEM_LIVE
        bad = self._or(mem == MEM_NONE, mem == MEM_FREED)
        if "rcuw" in self.mem_fields(table):
            # an RCU-deferred free whose readers have all left may have completed
            rcuw = self._field(table, i, "rcuw")
            bad = self._or(bad, self._and(mem == MEM_RCU, rcuw == 0))
        return bad

    def mem_fields(self, table) -> tuple[str, ...]:
        """The fields of a slot :meth:`_bad_mem` reads."""
        return ("mem", "rcuw") if self.model.lazy_rcu and "rcuw" in table.fields else (
            "mem",)

    def observe_first(self, name, cond, code):
        """Record ``code`` in observation ``name`` if ``cond`` and nothing recorded yet."""
        idx = self.L.G[name]
        self._wr_if(self._and(cond, self._rd(idx) == 0), idx, code)

    @staticmethod
    def kind_code(table) -> int:
        return KIND_CODES[table.name]

    def kasan(self, table, i):
        """KASAN: a NULL dereference oopses; touching freed memory is recorded."""
        if i == 0:
            self.observe_first("obs_uaf", True, KIND_CODES[table.name] << 5)
            raise Oops()
        self.kasan_if(True, table, i)

    def kasan_if(self, cond, table, i):
        """KASAN for an access to non-NULL ``i`` made only when ``cond`` holds."""
        self.observe_first("obs_uaf", self._and(cond, self._bad_mem(table, i)),
                           (KIND_CODES[table.name] << 5) | i)

    def _field(self, table, i, name):
        return self._rd(table.idx(i, name))

    def _set_field(self, table, i, name, v):
        self._wr(table.idx(i, name), v)

    def load(self, table, i, name):
        if name not in table.meta:
            self.kasan(table, i)
        return self._field(table, i, name)

    def store(self, table, i, name, v):
        if name not in table.meta:
            self.kasan(table, i)
        self._set_field(table, i, name, v)

    def load_if(self, cond, table, i, name):
        """``cond ? i->name : 0``: a load made on one branch only."""
        return getattr(self._obj(table, i), name) if cond else 0

    def store_if_nonnull(self, table, i, name, v):
        """``if (i) i->name = v``: a store through a pointer that may be NULL."""
        if i:
            setattr(self._obj(table, i), name, v)

    def meta(self, table, i, name):
        """A field outside kernel memory (allocator, RCU, ghost): no KASAN check."""
        return self._field(table, self._nonnull(i, table.n), name)

    def set_meta(self, table, i, name, v):
        self._set_field(table, self._nonnull(i, table.n), name, v)

    def _nonnull(self, i, n):
        return self._slot(i, n, 1)

    # ---- control flow --------------------------------------------------------------
    def goto(self, fn):
        self.reg.pc = step_of(fn).code

    def tail(self, fn):
        """Tail call: the current function ends and ``fn`` returns to its caller."""
        for r in self.step.proc.regs:
            self.reg.__setattr__(r, 0)
        self.reg.pc = step_of(fn).code

    def call(self, fn, ret_to):
        """Call the function whose first step is ``fn``; resume at step ``ret_to``."""
        sp = self.pick(self.reg.sp, 0, STACK_DEPTH - 1)
        ra = PC_OP_DONE if ret_to is None else step_of(ret_to).code
        self.reg.__setattr__(f"stk{sp}", ra)
        self.reg.sp = sp + 1
        self.reg.pc = step_of(fn).code

    def ret(self, value=0):
        """Return from the current function with ``value`` (read by ``take_rv``)."""
        for r in self.step.proc.regs:
            self.reg.__setattr__(r, 0)
        sp = self.pick(self.reg.sp, 1, STACK_DEPTH) - 1
        self.reg.rv = value
        self.reg.pc = self.reg.__getattr__(f"stk{sp}")
        self.reg.__setattr__(f"stk{sp}", 0)
        self.reg.sp = sp

    def take_rv(self):
        v = self.reg.rv
        self.reg.rv = 0
        return v

    def block(self):
        raise Blocked()

    # ---- budgets -------------------------------------------------------------------
    def may_fail(self, budget: str) -> bool:
        """Nondeterministically spend one unit of a failure budget."""
        left = self.g(budget)
        if left > 0 and self.choose(2) == 1:
            self.set_g(budget, left - 1)
            return True
        return False


class _FastObj:
    """Concrete-only twin of :class:`Obj`: the same KASAN check, inlined on the bytes.

    ``mem`` is field 0 and ``rcuw`` field 1 of every checked table (layout.py).  A
    test (tests/test_reduction.py) runs every spec with both and compares."""

    __slots__ = ("_k", "_t", "_i", "_base")

    def __init__(self, k, table, i):
        object.__setattr__(self, "_k", k)
        object.__setattr__(self, "_t", table)
        object.__setattr__(self, "_i", i)
        object.__setattr__(self, "_base", table._origin + i * table.stride)

    def _ok(self):
        k, t, i = self._k, self._t, self._i
        ba = k.ba
        if i == 0:
            if ba[k._obs_uaf] == 0:
                ba[k._obs_uaf] = KIND_CODES[t.name] << 5
            raise Oops()
        mem = ba[self._base]
        if mem == MEM_LIVE:
            return
        if t.name == "map":
            bad = mem == 0 or mem == 3
        elif t.name == "skb":
            bad = True
        else:
            bad = mem == MEM_NONE or mem == MEM_FREED or (
                mem == MEM_RCU and k.model.lazy_rcu and ba[self._base + 1] == 0)
        if bad and ba[k._obs_uaf] == 0:
            ba[k._obs_uaf] = (KIND_CODES[t.name] << 5) | i

    def __getattr__(self, name):
        t = self._t
        if name not in t.meta:
            self._ok()
        return self._k.ba[self._base + t.offs[name]]

    def __setattr__(self, name, value):
        t = self._t
        if name not in t.meta:
            self._ok()
        self._k.ba[self._base + t.offs[name]] = value


class _FastRegs:
    __slots__ = ("_ba", "_base", "_off")

    def __init__(self, k, t):
        th = k.L.thread
        object.__setattr__(self, "_ba", k.ba)
        object.__setattr__(self, "_base", th.base + (t - 1) * th.stride)
        object.__setattr__(self, "_off", k.model.reg_off)

    def __getattr__(self, name):
        return self._ba[self._base + self._off[name]]

    def __setattr__(self, name, value):
        self._ba[self._base + self._off[name]] = value


class ConcreteView(KernelView):
    """A view over concrete bytes; choices are replayed from ``prefix``.

    ``fast`` uses the inlined proxies above; ``fast=False`` runs the generic code of
    :class:`KernelView` (the reference the symbolic view shares)."""

    def __init__(self, model, state: bytes, t: int, prefix: list[int], fast: bool = True):
        self.ba = bytearray(state)
        self.fast = fast
        self._obs_uaf = model.layout.G["obs_uaf"]
        self._regs = {}
        super().__init__(model, t)
        self.prefix = prefix
        self.taken: list[int] = []
        self.arity: list[int] = []

    def _obj(self, table, x):
        if not 0 <= x <= table.n:
            raise ModelError(f"slot {x} out of range 0..{table.n}")
        return _FastObj(self, table, x) if self.fast else Obj(self, table, x)

    def regs_of(self, t):
        r = self._regs.get(t)
        if r is None:
            r = self._regs[t] = _FastRegs(self, t) if self.fast else Regs(self, t)
        return r

    def _rd(self, idx):
        return self.ba[idx]

    def _wr(self, idx, v):
        self.ba[idx] = v

    def _wr_if(self, cond, idx, v):
        if cond:
            self.ba[idx] = v

    def _slot(self, x, n, lo=0):
        if not lo <= x <= n:
            raise ModelError(f"slot {x} out of range {lo}..{n}")
        return x

    @staticmethod
    def _and(a, b):
        return a and b

    @staticmethod
    def _or(a, b):
        return a or b

    @staticmethod
    def _not(a):
        return not a

    @staticmethod
    def _ite(c, a, b):
        return a if c else b

    def choose(self, n: int) -> int:
        pos = len(self.taken)
        c = self.prefix[pos] if pos < len(self.prefix) else 0
        self.taken.append(c)
        self.arity.append(n)
        return c


def run_step(model, state: bytes, t: int, body, fast: bool = True, prefix=()
             ) -> list[tuple[bytes, tuple]]:
    """Run ``body(view)`` on ``state`` for CPU ``t`` under every choice sequence that
    starts with ``prefix`` (default: every choice sequence).

    Returns the successor states, each with its label ``(kind, cpu, op, step codes,
    notes)``; outcomes that block are dropped.
    """
    out = []
    todo: list[list[int]] = [list(prefix)]
    lo, hi = model.layout.obs_slice
    zeros = bytes(hi - lo)
    while todo:
        prefix = todo.pop()
        k = ConcreteView(model, state, t, prefix, fast and model.fast)
        k.ba[lo:hi] = zeros  # observations are per transition (KernelView.begin)
        try:
            body(k)
        except Blocked:
            pass
        else:
            out.append((bytes(k.ba), (k.kind, t, k.gid, tuple(k.executed), tuple(k.notes))))
        for pos in range(len(prefix), len(k.taken)):
            for c in range(1, k.arity[pos]):
                todo.append(k.taken[:pos] + [c])
    return out
