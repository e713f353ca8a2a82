"""The model of one spec: initial states and the next-state relation (TLA+'s Init/Next).

Each CPU (a spec thread) runs its ops in order.  A transition is one atomic step of one
CPU: starting an op runs its first step; a step that returns into an op's caller
completes the op (its assertion is checked, the program run ends if it was the last
BPF op of the run).  ``local`` steps (register moves only) run in the same transition
as the step before them (``chain_local``; off for the reduction test).

The scheduler below is written, like the steps, against the kernel view, so that the
z3 engine (model/symbolic.py) derives the transition relation from this same code.
"""

from __future__ import annotations

import re

from . import rcu
from .designs import step_text
from .expr import Concrete
from .kernel import PC_IDLE, PC_OP_DONE, STEPS, ConcreteView, ModelError, Oops, run_step
from .layout import (
    MAP_ALIVE,
    MAP_NONE,
    MEM_FREED,
    MEM_LIVE,
    MEM_NONE,
    MEM_RCU,
    NBUCKETS,
    Layout,
    Sizes,
)
from .ops import Op, result_text, start
from .slab import pool_exhausted_error
from .spec import Spec

# label kinds
STEP, CHOOSE, SPEC_ERROR, GRACE_PERIOD = 0, 1, 2, 3
GO, WAIT, ERROR = 0, 1, 2
STEP_CODES = tuple(sorted(STEPS))
NEXT_PCS = (*STEP_CODES, PC_OP_DONE)  # where a step may leave the pc


class SkbStorageModel:
    """A spec's state machine over ``bytes`` states (see layout.py)."""

    def __init__(self, spec: Spec, *, lazy_rcu: bool = True, chain_local: bool = True,
                 fast: bool = True, one_context_per_skb: bool | None = None):
        self.spec = spec
        # the kfuncs' reads of the skb's own fields are one step with the read through
        # skb->extensions after them, unless a second context may use the skb
        # (model/bpf_skb_storage.py); the tests may force either cut
        self.one_context_per_skb = (spec.one_context_per_skb() if one_context_per_skb
                                    is None else one_context_per_skb)
        self.fast = fast
        self.design = spec.design
        self.mutations = frozenset(spec.mutations)
        self.lazy_rcu = lazy_rcu
        self.chain_local = chain_local
        self.sizes = self.spec_sizes(spec)
        self.layout = Layout(self.sizes)
        th = self.layout.thread
        self.reg_off = {f: th.off(f) for f in th.fields}
        self.entries = [t.entries for t in spec.threads]
        self.run_ends = [t.run_ends for t in spec.threads]
        # maps used by BPF ops at entry i or later, per thread (map_free waits for them)
        self.maps_left = []
        for ents in self.entries:
            acc, out = set(), []
            for e in reversed(ents):
                acc |= {o.map for o in e if o.kind.bpf}
                out.append(frozenset(acc))
            self.maps_left.append(list(reversed(out)) + [frozenset()])
        self.threads = range(1, self.sizes.threads + 1)
        self._pc = [th.idx(t, "pc") for t in self.threads]
        self._opi = [th.idx(t, "opi") for t in self.threads]
        self._alt = [th.idx(t, "alt") for t in self.threads]
        self._rcu = [th.idx(t, "rcu") for t in self.threads]

    @staticmethod
    def spec_sizes(spec: Spec) -> Sizes:
        """Pools sized so that the spec's ops cannot run out of objects."""
        creates = sum(1 for th in spec.threads for e in th.entries for o in e
                      if o.name == "get" and o.create)
        ext_allocs = creates + sum(1 for th in spec.threads for e in th.entries for o in e
                                   if o.name == "ext_add")
        return Sizes(
            skbs=len(spec.skbs), exts=ext_allocs, storages=creates, selems=creates,
            maps=len(spec.maps), threads=len(spec.threads),
            cache_slots=max(1, min(spec.cache_size, len(spec.maps))),
        )

    # ---- hooks used by the steps ----------------------------------------------------
    pool_exhausted = staticmethod(pool_exhausted_error)

    def value_ptr(self, k, x, m):
        x = k.pick(x, 1, self.sizes.skbs)
        m = k.pick(m, 1, self.sizes.maps)
        return getattr(k.reg, f"vp{x}_{m}")

    def set_value_ptr(self, k, x, m, q):
        x = k.pick(x, 1, self.sizes.skbs)
        m = k.pick(m, 1, self.sizes.maps)
        setattr(k.reg, f"vp{x}_{m}", q)

    # ---- Init ------------------------------------------------------------------------
    def initial_states(self) -> list[bytes]:
        from .bpf_local_storage import cache_idx_get

        L = self.layout
        k = ConcreteView(self, bytes(L.nbytes), 0, [])
        k.set_g("lock_budget", self.spec.lock_failures)
        k.set_g("alloc_budget", self.spec.alloc_failures)
        for x in range(1, self.spec.initial_skbs + 1):
            k.set_meta(L.skb, x, "mem", MEM_LIVE)
        for m in range(1, self.spec.initial_maps + 1):
            k.set_meta(L.map, m, "mem", MAP_ALIVE)
            k.map(m).cache_idx = cache_idx_get(k)
        return [bytes(k.ba)]

    # ---- Next ------------------------------------------------------------------------
    def bodies(self):
        """One transition body per CPU (and, with eager RCU, the grace period)."""
        out = [(t, self.thread_body(t)) for t in self.threads]
        if not self.lazy_rcu:
            out.append((0, grace_period_body))
        return out

    def successors(self, s: bytes) -> list[tuple[tuple, bytes]]:
        out = []
        for t, body in self.bodies():
            for ns, info in run_step(self, s, t, body):
                out.append((info, ns))
        return out

    def thread_body(self, t: int):
        """CPU ``t``'s transition body: its scheduler, a NULL dereference kills it."""
        run = self.scheduler(t)

        def body(k):
            try:
                run(k)
            except Oops:
                self._oops(k, t)

        return body

    def scheduler(self, t: int):
        """Spec threads: run the ops in order (entries with alternatives choose one)."""
        ents = self.entries[t - 1]

        def run(k):
            r = k.reg
            if r.pc != PC_IDLE:
                k.gid = self.current_op(k, t).gid
                return self._exec(k, t)
            opi = k.pick(r.opi, 0, len(ents))
            if opi == len(ents):
                k.block()  # this CPU has finished
            entry = ents[opi]
            if len(entry) > 1:
                alt = k.pick(r.alt, 0, len(entry))
                if alt == 0:
                    a = k.choose(len(entry))
                    r.alt = a + 1
                    k.kind, k.gid = CHOOSE, entry[a].gid
                    return
                op = entry[alt - 1]
            else:
                op = entry[0]
            k.gid = op.gid
            ready = self.ready(k, t, op)
            if ready == WAIT:
                k.block()
            if ready == ERROR:
                k.kind = SPEC_ERROR
                return self._spec_error(k, t, op)
            if op.kind.bpf and r.rcu == 0:
                rcu.rcu_read_lock(k)  # the program run begins
            if op.kind.bpf and self.spec.skb_ownership:
                r.own = op.skb  # the packet this program run is on
            start(k, op)
            self._exec(k, t)

        return run

    def current_op(self, k, t) -> Op:
        ents = self.entries[t - 1]
        opi = k.pick(k.reg.opi, 0, len(ents) - 1)
        entry = ents[opi]
        if len(entry) == 1:
            return entry[0]
        return entry[k.pick(k.reg.alt, 1, len(entry)) - 1]

    def _exec(self, k, t):
        """Run the step at the CPU's pc, then any local steps after it."""
        while True:
            pc = k.pick_in(k.reg.pc, STEP_CODES)
            st = STEPS[pc]
            k.step = st
            k.executed.append(pc)
            st.fn(k)
            npc = k.pick_in(k.reg.pc, NEXT_PCS)
            if npc == PC_OP_DONE:
                k.model_check(lambda: self.locks_held(k._rd, t),
                              lambda st=st: f"{self.thread_name(t)} returned from "
                                            f"{st.func}() holding "
                                            f"{', '.join(self.locks_held(k._rd, t))}")
                return self._complete(k, t)
            if not (self.chain_local and STEPS[npc].local):
                return

    def locks_held(self, rd, t: int) -> list[str]:
        """The rqspinlocks CPU ``t`` holds (``rd`` reads a state byte).  Every op
        releases the locks it takes before it returns: one still held then is a model
        bug (KernelView.model_check), and only a killed task leaves one held."""
        L, maps = self.layout, self.spec.maps  # named as the trace's state names them
        out = [f"storage{i}.lock" for i in range(1, L.storage.n + 1)
               if rd(L.storage.idx(i, "lock")) == t]
        return out + [f"{maps[m - 1]}.bucket[{b}].lock" for m in range(1, L.map.n + 1)
                      for b in range(NBUCKETS) if rd(L.map.idx(m, f"b{b}_lock")) == t]

    def _oops(self, k, t):
        """A NULL pointer dereference: the task is killed (its locks stay held)."""
        k.note("oops: NULL pointer dereference; the task is killed")
        k.reg.rcu = 1
        rcu.rcu_read_unlock(k)  # its read-side sections are over
        self.clear_regs(k, t, keep_vp=False)
        k.reg.pc = PC_IDLE
        k.reg.sp = 0
        k.reg.opi = len(self.entries[t - 1])
        k.reg.alt = 0
        k.reg.own = 0

    def _spec_error(self, k, t, op: Op):
        k.set_g("obs_spec_error", op.gid + 1)
        k.note("spec error: the packet was already freed by another thread")
        if k.reg.rcu != 0:
            self.end_run(k)
        k.reg.opi = len(self.entries[t - 1])
        k.reg.alt = 0

    def _complete(self, k, t):
        """The op returned: check its assertion, end the program run if it is over."""
        r = k.reg
        op = self.current_op(k, t)
        opi = k.pick(r.opi, 0, len(self.entries[t - 1]) - 1)
        if op.expect is not None:
            k.observe_first("obs_assert", r.ret != op.expect, op.gid + 1)
            k.trace_note(lambda: r.ret != op.expect,  # what came back
                         lambda: f"{ASSERTION_FAILS}'{op.text}' returned "
                                 f"{result_text(op.kind, r.ret, self.spec.values)}")
        if op.kind.bpf and self.run_ends[t - 1][opi] and r.rcu != 0:
            self.end_run(k)
        self.clear_regs(k, t)
        r.opi = opi + 1
        r.alt = 0
        r.pc = PC_IDLE

    def clear_regs(self, k, t, keep_vp=True):
        """Zero CPU ``t``'s op-local registers (dead values must not split states);
        the program's value pointers survive an op unless ``keep_vp`` is false."""
        th = self.layout.thread
        base = th.base + (t - 1) * th.stride
        for off in self.layout.clear_regs:
            if not (keep_vp and th.fields[off].startswith("vp")):
                k._wr(base + off, 0)

    def end_run(self, k):
        """The BPF program returns: rcu_read_unlock(); its value pointers are gone."""
        rcu.rcu_read_unlock(k)
        k.reg.own = 0
        for x in range(1, self.sizes.skbs + 1):
            for m in range(1, self.sizes.maps + 1):
                setattr(k.reg, f"vp{x}_{m}", 0)

    def busy(self, k, t: int, x: int):
        """Is packet ``x`` in another CPU's hands (an op on it, or a program run)?  An
        skb belongs to one context at a time: the open world's rule, and a spec's
        with ``skb_ownership``."""
        out = False
        for u in self.threads:
            if u == t:
                continue
            ru = k.regs_of(u)
            inside = ru.pc != PC_IDLE
            out = k._or(out, k._or(ru.own == x, k._and(inside, k._or(ru.a_skb == x,
                                                                       ru.a_new == x))))
        return out

    def ready(self, k, t: int, op: Op) -> int:
        """May ``op`` start?  GO, WAIT (an object it needs does not exist yet, or
        map_free waits for the programs using the map) or ERROR (a freed packet)."""
        L = self.layout
        if op.kind.needs_skb and op.skb:
            mem = k.meta(L.skb, op.skb, "mem")
            if mem == MEM_NONE:
                return WAIT
            if mem != MEM_LIVE and not (op.kind.bpf and self.spec.threads[t - 1].tracing):
                return ERROR  # a tracing program runs on the freed skb (finding 6)
            if self.spec.skb_ownership and self.busy(k, t, op.skb):
                return WAIT
        if op.map and op.name != "map_create":
            mem = k.meta(L.map, op.map, "mem")
            if mem == MAP_NONE:
                return WAIT
            if mem != MAP_ALIVE:
                return ERROR
        if op.name == "map_free":
            for u in self.threads:
                if u != t:
                    ents = self.entries[u - 1]
                    opi = k.pick(k.regs_of(u).opi, 0, len(ents))
                    if op.map in self.maps_left[u - 1][opi]:
                        return WAIT
        return GO

    # ---- final and quiescent states (also over z3: model/expr.py) --------------------
    def thread_done_expr(self, E, s, t):
        return E.And(s[self._pc[t - 1]] == PC_IDLE, s[self._rcu[t - 1]] == 0,
                     s[self._opi[t - 1]] == len(self.entries[t - 1]))

    def final_expr(self, E, s):
        """All threads finished and (eager RCU) every pending free completed."""
        done = [self.thread_done_expr(E, s, t) for t in self.threads]
        if not self.lazy_rcu:
            L = self.layout
            done += [s[tb.idx(i, "mem")] != MEM_RCU for tb in (L.storage, L.selem)
                     for i in range(1, tb.n + 1)]
        return E.And(*done)

    def quiescent_expr(self, E, s):
        """No CPU is inside an op."""
        return E.And(*(s[p] == PC_IDLE for p in self._pc))

    def thread_done(self, s: bytes, t: int) -> bool:
        return self.thread_done_expr(Concrete, s, t)

    def is_final(self, s: bytes) -> bool:
        return self.final_expr(Concrete, s)

    def is_quiescent(self, s: bytes) -> bool:
        return self.quiescent_expr(Concrete, s)

    def mem_freed(self, s: bytes, table, i) -> bool:
        """Is the object's memory gone (or, lazily, gone in some interleaving)?"""
        mem = s[table.idx(i, "mem")]
        if mem == MEM_FREED:
            return True
        return mem == MEM_RCU and (self.lazy_rcu and s[table.idx(i, "rcuw")] == 0)

    # ---- labels ----------------------------------------------------------------------
    def waiting(self, s: bytes) -> list[str]:
        """What each unfinished CPU is doing or waiting for (for deadlock reports)."""
        out = []
        for t in self.threads:
            if self.thread_done(s, t):
                continue
            name = self.thread_name(t)
            pc = s[self._pc[t - 1]]
            blocked = not run_step(self, s, t, self.thread_body(t))
            if pc == PC_IDLE:
                if s[self._opi[t - 1]] >= len(self.entries[t - 1]):
                    out.append(f"{name} is still inside rcu_read_lock()")
                    continue
                k = ConcreteView(self, s, t, [])
                text = self.current_op(k, t).text if s[self._alt[t - 1]] else \
                    self.entries[t - 1][s[self._opi[t - 1]]][0].text
                out.append(f"{name} {'cannot start' if blocked else 'may start'} '{text}'")
                continue
            state = "is blocked at" if blocked else "can only loop at"
            out.append(f"{name} {state} {STEPS[pc].label}")
        return out

    def thread_name(self, t: int) -> str:
        return self.spec.threads[t - 1].name if t else "rcu"

    def label_parts(self, label) -> dict:
        kind, t, gid, codes, notes = label
        op = self.spec.op_by_gid(gid)[1].text if gid >= 0 else ""
        if kind == CHOOSE:
            steps = shorts = [f"choose alternative: {op}"]
            funcs = ["(choice)"]
        elif kind == SPEC_ERROR:
            steps = shorts = ["spec error: op on a packet another thread already freed"]
            funcs = ["(spec)"]
        elif kind == GRACE_PERIOD:
            steps = shorts = ["RCU grace period ends: queued callbacks run"]
            funcs = ["rcu"]
        else:
            steps = [step_text(STEPS[c].label, self.design) for c in codes]
            funcs = [STEPS[c].func for c in codes]
            shorts = [STEPS[c].short for c in codes]
        return {"thread": self.thread_name(t), "op": op, "steps": steps, "functions": funcs,
                "shorts": shorts, "notes": [self.note_text(n) for n in notes]}

    def note_text(self, note: str) -> str:
        """A note as the trace shows it: a map's bucket lock by the map's spec name, as
        the state shows it (``M.bucket[1].lock``, not the slot's ``map1.b1_lock``)."""
        return _BUCKET_LOCK.sub(lambda g: f"{self.spec.maps[int(g[1]) - 1]}.bucket[{g[2]}].lock",
                                note)


# the note of a failed assertion: about the spec, not an outcome of kernel code
ASSERTION_FAILS = "assertion fails: "
_BUCKET_LOCK = re.compile(r"\bmap(\d+)\.b(\d+)_lock\b")


def grace_period_body(k):
    """(eager RCU only) a grace period ends: queued callbacks whose readers left run."""
    if not rcu.grace_period_ready(k):
        k.block()
    k.kind = GRACE_PERIOD
    rcu.grace_period(k)


def build(spec: Spec, **kw) -> SkbStorageModel:
    return SkbStorageModel(spec, **kw)


__all__ = ["SkbStorageModel", "build", "Layout", "MEM_FREED", "ModelError"]
