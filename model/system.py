"""The model of one spec: initial states and the next-state relation (TLA+'s Init/Next).

Each CPU (a spec thread) runs its ops in order.  A transition is one atomic step of one
CPU: starting an op runs its first step; a step that returns into an op's caller
completes the op (its assertion is checked, the program run ends if it was the last
BPF op of the run).  ``local`` steps (register moves only) run in the same transition
as the step before them (``chain_local``; off for the reduction test).
"""

from __future__ import annotations

from . import rcu
from .kernel import PC_IDLE, PC_OP_DONE, STEPS, ConcreteView, ModelError, run_step
from .layout import MAP_ALIVE, MAP_NONE, MEM_FREED, MEM_LIVE, MEM_NONE, MEM_RCU, Layout, Sizes
from .ops import Op, start
from .slab import pool_exhausted_error
from .spec import Spec

# label kinds
STEP, CHOOSE, SPEC_ERROR, GRACE_PERIOD = 0, 1, 2, 3


class SkbStorageModel:
    """A spec's state machine over ``bytes`` states (see layout.py)."""

    def __init__(self, spec: Spec, *, lazy_rcu: bool = True, chain_local: bool = True,
                 fast: bool = True):
        self.spec = spec
        self.fast = fast
        self.design = spec.design
        self.mutations = frozenset(spec.mutations)
        self.lazy_rcu = lazy_rcu
        self.chain_local = chain_local
        creates = sum(1 for th in spec.threads for e in th.entries for o in e
                      if o.name == "get" and o.create)
        ext_allocs = creates + sum(1 for th in spec.threads for e in th.entries for o in e
                                   if o.name == "ext_add")
        self.sizes = Sizes(
            skbs=len(spec.skbs), exts=ext_allocs, storages=creates, selems=creates,
            maps=len(spec.maps), threads=len(spec.threads),
            cache_slots=max(1, min(spec.cache_size, len(spec.maps))),
        )
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
        self._pc = [th.idx(t, "pc") for t in range(1, self.sizes.threads + 1)]
        self._opi = [th.idx(t, "opi") for t in range(1, self.sizes.threads + 1)]
        self._alt = [th.idx(t, "alt") for t in range(1, self.sizes.threads + 1)]
        self._rcu = [th.idx(t, "rcu") for t in range(1, self.sizes.threads + 1)]

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
    def current_op(self, s: bytes, t: int) -> Op:
        entry = self.entries[t - 1][s[self._opi[t - 1]]]
        alt = s[self._alt[t - 1]]
        return entry[alt - 1] if alt else entry[0]

    def successors(self, s: bytes) -> list[tuple[tuple, bytes]]:
        out = []
        for t in range(1, self.sizes.threads + 1):
            pc = s[self._pc[t - 1]]
            if pc != PC_IDLE:
                op = self.current_op(s, t)
                body = self._continue(t)
            else:
                opi = s[self._opi[t - 1]]
                ents = self.entries[t - 1]
                if opi >= len(ents):
                    continue
                if len(ents[opi]) > 1 and s[self._alt[t - 1]] == 0:
                    for a, op in enumerate(ents[opi], 1):
                        ns = bytearray(s)
                        ns[self._alt[t - 1]] = a
                        out.append(((CHOOSE, t, op.gid, (), ()), bytes(ns)))
                    continue
                op = self.current_op(s, t)
                ready = self.ready(s, t, op)
                if ready == "wait":
                    continue
                if ready == "error":
                    for ns, notes, _ in run_step(self, s, t, self._spec_error(t, op)):
                        out.append(((SPEC_ERROR, t, op.gid, (), notes), ns))
                    continue
                body = self._start(t, op)
            for ns, notes, codes in run_step(self, s, t, body):
                out.append(((STEP, t, op.gid, codes, notes), ns))
        if not self.lazy_rcu:
            gp = ConcreteView(self, s, 0, [])
            if rcu.grace_period_ready(gp):
                for ns, notes, _ in run_step(self, s, 0, rcu.grace_period):
                    out.append(((GRACE_PERIOD, 0, -1, (), notes), ns))
        return out

    def _exec(self, k, t):
        """Run the step at the CPU's pc, then any local steps after it."""
        while True:
            pc = k.reg.pc
            st = STEPS.get(pc)
            if st is None:
                raise ModelError(f"CPU {t}: no step {pc}")
            k.step = st
            k.executed.append(pc)
            st.fn(k)
            npc = k.reg.pc
            if npc == PC_OP_DONE:
                return self._complete(k, t)
            if not (self.chain_local and STEPS[npc].local):
                return

    def _start(self, t, op: Op):
        def body(k):
            if op.kind.bpf and k.reg.rcu == 0:
                rcu.rcu_read_lock(k)  # the program run begins
            start(k, op)
            if op.kind.entry is None:
                return self._complete(k, t)
            self._exec(k, t)

        return body

    def _continue(self, t):
        def body(k):
            self._exec(k, t)

        return body

    def _spec_error(self, t, op: Op):
        def body(k):
            k.set_g("obs_spec_error", op.gid + 1)
            k.note("spec error: the packet was already freed by another thread")
            while k.reg.rcu:
                rcu.rcu_read_unlock(k)
            k.reg.opi = len(self.entries[t - 1])
            k.reg.alt = 0

        return body

    def _complete(self, k, t):
        """The op returned: check its assertion, end the program run if it is over."""
        r = k.reg
        opi = r.opi
        alt = r.alt
        entry = self.entries[t - 1][opi]
        op = entry[alt - 1] if alt else entry[0]
        ret = r.ret
        if op.expect is not None:
            k.observe_first("obs_assert", ret != op.expect, op.gid + 1)
        if op.kind.bpf and self.run_ends[t - 1][opi] and r.rcu != 0:
            self.end_run(k)
        base = self.layout.thread.base + (t - 1) * self.layout.thread.stride
        for off in self.layout.clear_regs:
            if not self.layout.thread.fields[off].startswith("vp"):
                k._wr(base + off, 0)
        r.opi = opi + 1
        r.alt = 0
        r.pc = PC_IDLE

    def end_run(self, k):
        """The BPF program returns: rcu_read_unlock(); its value pointers are gone."""
        rcu.rcu_read_unlock(k)
        for x in range(1, self.sizes.skbs + 1):
            for m in range(1, self.sizes.maps + 1):
                setattr(k.reg, f"vp{x}_{m}", 0)

    def ready(self, s: bytes, t: int, op: Op) -> str:
        """May ``op`` start?  "go", "wait" (an object it needs does not exist yet, or
        map_free waits for the programs using the map) or "error" (a freed packet)."""
        L = self.layout
        if op.kind.needs_skb and op.skb:
            mem = s[L.skb.idx(op.skb, "mem")]
            if mem == MEM_NONE:
                return "wait"
            if mem != MEM_LIVE:
                return "error"
        if op.map and op.name != "map_create":
            mem = s[L.map.idx(op.map, "mem")]
            if mem == MAP_NONE:
                return "wait"
            if mem != MAP_ALIVE:
                return "error"
        if op.name == "map_free":
            for u in range(1, self.sizes.threads + 1):
                if u != t and op.map in self.maps_left[u - 1][s[self._opi[u - 1]]]:
                    return "wait"
        return "go"

    # ---- final states ----------------------------------------------------------------
    def thread_done(self, s: bytes, t: int) -> bool:
        return (s[self._pc[t - 1]] == PC_IDLE and s[self._rcu[t - 1]] == 0
                and s[self._opi[t - 1]] >= len(self.entries[t - 1]))

    def is_final(self, s: bytes) -> bool:
        """All threads finished and (eager RCU) every pending free completed."""
        if not all(self.thread_done(s, t) for t in range(1, self.sizes.threads + 1)):
            return False
        if not self.lazy_rcu:
            L = self.layout
            for tb in (L.storage, L.selem):
                for i in range(1, tb.n + 1):
                    if s[tb.idx(i, "mem")] == MEM_RCU:
                        return False
        return True

    def is_quiescent(self, s: bytes) -> bool:
        """No CPU is inside an op."""
        return all(s[p] == PC_IDLE for p in self._pc)

    def mem_freed(self, s: bytes, table, i) -> bool:
        """Is the object's memory gone (or, lazily, gone in some interleaving)?"""
        mem = s[table.idx(i, "mem")]
        if mem == MEM_FREED:
            return True
        return mem == MEM_RCU and (self.lazy_rcu and s[table.idx(i, "rcuw")] == 0)

    def waiting(self, s: bytes) -> list[str]:
        """What each unfinished CPU is doing or waiting for (for deadlock reports)."""
        out = []
        for t in range(1, self.sizes.threads + 1):
            if self.thread_done(s, t):
                continue
            name = self.thread_name(t)
            pc = s[self._pc[t - 1]]
            if pc == PC_IDLE:
                if s[self._opi[t - 1]] >= len(self.entries[t - 1]):
                    out.append(f"{name} is still inside rcu_read_lock()")
                    continue
                op = self.current_op(s, t)
                why = {"wait": "cannot start", "go": "may start"}.get(self.ready(s, t, op), "")
                out.append(f"{name} {why} '{op.text}'")
                continue
            blocked = not run_step(self, s, t, self._continue(t))
            state = "is blocked at" if blocked else "can only loop at"
            out.append(f"{name} {state} {STEPS[pc].label}")
        return out

    # ---- labels ----------------------------------------------------------------------
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
            steps = [STEPS[c].label for c in codes]
            funcs = [STEPS[c].func for c in codes]
            shorts = [STEPS[c].short for c in codes]
        return {"thread": self.thread_name(t), "op": op, "steps": steps, "functions": funcs,
                "shorts": shorts, "notes": list(notes)}


def build(spec: Spec, **kw) -> SkbStorageModel:
    return SkbStorageModel(spec, **kw)


__all__ = ["SkbStorageModel", "build", "Layout", "MEM_FREED"]
