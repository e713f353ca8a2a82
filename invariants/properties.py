"""The eleven properties of SPEC_FORMAT.md, with the meanings of SEMANTICS.md section 8.

Each is a predicate over one model state (``True`` = holds there).  Event-like
properties read the model's observations (what KASAN, refcount_t or the program saw in
the step that led to this state); the others read the kernel objects.  ``no_leak`` is
judged on final states, ``no_deadlock`` on the state graph (checker/graph.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model.layout import (
    KIND_NAMES,
    MAP_ALIVE,
    MEM_LIVE,
    REFCOUNT_SATURATED,
    SKB_EXT_BPF_STORAGE,
)


@dataclass(frozen=True)
class Property:
    name: str
    kind: str  # "state": every reached state; "final": final states; "graph"
    check: Callable[[bytes], bool] | None
    why: Callable[[bytes], str] | None = None  # what is wrong in a violating state
    meaning: str = ""


def _objname(code: int) -> str:
    kind, slot = KIND_NAMES.get(code >> 5, "?"), code & 31
    return f"{kind}{slot}" if slot else f"NULL {kind} pointer"


class Props:
    """The property predicates for one model (they need its layout)."""

    def __init__(self, model):
        self.m = model
        L = self.L = model.layout
        self.G = L.G
        self.nskb, self.next, self.nst, self.nq, self.nmap = (
            L.skb.n, L.ext.n, L.storage.n, L.selem.n, L.map.n)
        self.slots = L.sizes.cache_slots

    # helpers ------------------------------------------------------------------------
    def f(self, s, table, i, name):
        return s[table.idx(i, name)]

    def live_skbs(self, s) -> int:
        L = self.L
        return sum(1 << (x - 1) for x in range(1, self.nskb + 1)
                   if s[L.skb.idx(x, "mem")] == MEM_LIVE)

    def ext_owned(self, s, e) -> bool:
        """An ext is owned when a live skb has it attached (any id active)."""
        L = self.L
        for x in range(1, self.nskb + 1):
            if (s[L.skb.idx(x, "mem")] == MEM_LIVE and s[L.skb.idx(x, "active")] != 0
                    and s[L.skb.idx(x, "ext")] == e):
                return True
        return False

    def reaching(self, s, st) -> int:
        """Mask of live skbs whose BPF_STORAGE ext currently points at storage ``st``."""
        L, mask = self.L, 0
        for x in range(1, self.nskb + 1):
            if (s[L.skb.idx(x, "mem")] == MEM_LIVE
                    and s[L.skb.idx(x, "active")] & SKB_EXT_BPF_STORAGE):
                e = s[L.skb.idx(x, "ext")]
                if e and s[L.ext.idx(e, "storage")] == st:
                    mask |= 1 << (x - 1)
        return mask

    def reachable_storages(self, s) -> set[int]:
        """Storages a program on a live skb can reach (BPF_STORAGE active, live ext)."""
        L = self.L
        out = set()
        for x in range(1, self.nskb + 1):
            if (s[L.skb.idx(x, "mem")] == MEM_LIVE
                    and s[L.skb.idx(x, "active")] & SKB_EXT_BPF_STORAGE):
                e = s[L.skb.idx(x, "ext")]
                if e and s[L.ext.idx(e, "mem")] == MEM_LIVE:
                    st = s[L.ext.idx(e, "storage")]
                    if st:
                        out.add(st)
        return out

    def storage_list(self, s, st) -> list[int]:
        L, out = self.L, []
        q = s[L.storage.idx(st, "first")]
        while q and len(out) <= self.nq:
            out.append(q)
            q = s[L.selem.idx(q, "snext")]
        return out

    # properties ---------------------------------------------------------------------
    def shared(self, s) -> tuple[int, int]:
        """(storage, mask) where two live packets passed the guard into the storage and
        both still reach it through their extension; (0, 0) if none."""
        L = self.L
        for st in range(1, self.nst + 1):
            passed = s[L.storage.idx(st, "g_reached")]
            if passed & (passed - 1):
                both = passed & self.reaching(s, st)
                if both & (both - 1):
                    return st, both
        return 0, 0

    def no_shared_storage(self, s) -> bool:
        return self.shared(s)[0] == 0

    def why_shared(self, s) -> str:
        st, both = self.shared(s)
        names = [self.m.spec.skbs[x] for x in range(self.nskb) if both >> x & 1]
        return (f"live packets {', '.join(names)} both passed the guard into storage{st} "
                "and both still reach it")

    def clone_isolation(self, s) -> bool:
        by, frm = s[self.G["obs_read_by"]], s[self.G["obs_read_from"]]
        return by == 0 or by == frm

    def why_isolation(self, s) -> str:
        by, frm = s[self.G["obs_read_by"]], s[self.G["obs_read_from"]]
        sk = self.m.spec.skbs
        return f"packet {sk[by - 1]} read a value that packet {sk[frm - 1]} created or wrote"

    def no_use_after_free(self, s) -> bool:
        return s[self.G["obs_uaf"]] == 0

    def why_uaf(self, s) -> str:
        code = s[self.G["obs_uaf"]]
        if code & 31 == 0:
            return f"KASAN: {_objname(code)} dereferenced"
        return f"KASAN: use-after-free on {_objname(code)}"

    def no_double_free(self, s) -> bool:
        return s[self.G["obs_dfree"]] == 0

    def why_dfree(self, s) -> str:
        return f"KASAN: double free of {_objname(s[self.G['obs_dfree']])}"

    def leaks(self, s) -> list[str]:
        """Objects allocated and not owned by anything alive (SEMANTICS.md section 8)."""
        L, out = self.L, []
        owned_ext = {e for e in range(1, self.next + 1)
                     if s[L.ext.idx(e, "mem")] == MEM_LIVE and self.ext_owned(s, e)}
        for e in range(1, self.next + 1):
            if s[L.ext.idx(e, "mem")] == MEM_LIVE and e not in owned_ext:
                out.append(f"ext{e}")
        owned_st = set()
        for e in owned_ext:
            st = s[L.ext.idx(e, "storage")]
            if st and s[L.ext.idx(e, "present")] & SKB_EXT_BPF_STORAGE:
                owned_st.add(st)
        for st in range(1, self.nst + 1):
            if s[L.storage.idx(st, "mem")] == MEM_LIVE and st not in owned_st:
                out.append(f"storage{st}")
        owned_q = set()
        for st in owned_st:
            if s[L.storage.idx(st, "mem")] == MEM_LIVE:
                owned_q.update(self.storage_list(s, st))
        for q in range(1, self.nq + 1):
            if s[L.selem.idx(q, "mem")] == MEM_LIVE and q not in owned_q:
                out.append(f"selem{q}")
        return out

    def no_leak(self, s) -> bool:
        return not self.leaks(s)

    def why_leak(self, s) -> str:
        return "allocated but owned by nothing alive: " + ", ".join(self.leaks(s))

    def cache_bad(self, s) -> str:
        L = self.L
        for st in sorted(self.reachable_storages(s)):
            if s[L.storage.idx(st, "mem")] != MEM_LIVE or s[L.storage.idx(st, "lock")] != 0:
                continue
            for i in range(self.slots):
                q = s[L.storage.idx(st, f"cache{i}")]
                if q and not (s[L.selem.idx(q, "slinked")]
                              and s[L.selem.idx(q, "local_storage")] == st):
                    return f"storage{st}.cache[{i}] points at selem{q}, not linked to it"
        return ""

    def cache_consistent(self, s) -> bool:
        return not self.cache_bad(s)

    def lookup_correct(self, s) -> bool:
        want, got = s[self.G["obs_lookup_map"]], s[self.G["obs_lookup_got"]]
        return want == 0 or want == got

    def why_lookup(self, s) -> str:
        mp = self.m.spec.maps
        want, got = s[self.G["obs_lookup_map"]], s[self.G["obs_lookup_got"]]
        return f"a lookup for map {mp[want - 1]} returned map {mp[got - 1]}'s data"

    def refcount_bad(self, s) -> str:
        L = self.L
        if s[self.G["obs_warn"]]:
            return f"refcount_t WARN on {_objname(s[self.G['obs_warn']])}"
        for e in range(1, self.next + 1):
            if s[L.ext.idx(e, "mem")] == MEM_LIVE and s[L.ext.idx(e, "refcnt")] == \
                    REFCOUNT_SATURATED:
                return f"ext{e}.refcnt saturated"
        for st in range(1, self.nst + 1):
            if s[L.storage.idx(st, "owner_refcnt")] == REFCOUNT_SATURATED:
                return f"storage{st}.owner_refcnt saturated"
        if self.m.is_quiescent(s):
            for e in range(1, self.next + 1):
                if s[L.ext.idx(e, "mem")] != MEM_LIVE:
                    continue
                refs = sum(1 for x in range(1, self.nskb + 1)
                           if s[L.skb.idx(x, "mem")] == MEM_LIVE
                           and s[L.skb.idx(x, "active")] and s[L.skb.idx(x, "ext")] == e)
                if refs != s[L.ext.idx(e, "refcnt")]:
                    return (f"ext{e}.refcnt is {s[L.ext.idx(e, 'refcnt')]} but {refs} live "
                            "packet(s) use it")
        return ""

    def refcount_sane(self, s) -> bool:
        return not self.refcount_bad(s)

    def accounting_bad(self, s) -> str:
        L = self.L
        for i in range(self.slots):
            holders = sum(1 for m in range(1, self.nmap + 1)
                          if s[L.map.idx(m, "mem")] == MAP_ALIVE
                          and s[L.map.idx(m, "cache_idx")] == i)
            if s[self.G[f"idx_usage{i}"]] != holders:
                return (f"cache slot {i}: usage count {s[self.G[f'idx_usage{i}']]}, "
                        f"{holders} live map(s) hold it")
        return ""

    def accounting(self, s) -> bool:
        return not self.accounting_bad(s)

    def assertions(self, s) -> bool:
        return s[self.G["obs_assert"]] == 0

    def why_assert(self, s) -> str:
        th, op = self.m.spec.op_by_gid(s[self.G["obs_assert"]] - 1)
        return f"thread {th.name}: '{op.text}' returned something else"


MEANINGS = {
    "no_shared_storage": "no two live packets both pass the kfunc guard into a storage "
                         "that both still reach",
    "clone_isolation": "a packet never reads a value another packet created or wrote",
    "no_use_after_free": "no access to an ext, storage, selem or map after its memory "
                         "was freed (after the grace period, where one applies)",
    "no_double_free": "each object is freed (scheduled) at most once",
    "no_leak": "in final states every allocated object is owned by something alive",
    "cache_consistent": "a reachable storage's cache slots point at selems linked to it "
                        "(when its lock is free)",
    "lookup_correct": "a lookup for map M never returns another map's data",
    "refcount_sane": "ext refcnt equals the live packets using it (between ops); no "
                     "refcount_t WARN or saturation",
    "no_deadlock": "every CPU can always finish: no state without a path to the end",
    "accounting": "each cache slot's usage count equals the live maps holding it",
    "assertions": "every op returns what the spec asserts",
}


def properties_for(model) -> list[Property]:
    p = Props(model)

    def prop(name, kind, check, why):
        return Property(name, kind, check, why, MEANINGS[name])

    return [
        prop("no_shared_storage", "state", p.no_shared_storage, p.why_shared),
        prop("clone_isolation", "state", p.clone_isolation, p.why_isolation),
        prop("no_use_after_free", "state", p.no_use_after_free, p.why_uaf),
        prop("no_double_free", "state", p.no_double_free, p.why_dfree),
        prop("no_leak", "final", p.no_leak, p.why_leak),
        prop("cache_consistent", "state", p.cache_consistent, p.cache_bad),
        prop("lookup_correct", "state", p.lookup_correct, p.why_lookup),
        prop("refcount_sane", "state", p.refcount_sane, p.refcount_bad),
        prop("no_deadlock", "graph", None, None),
        prop("accounting", "state", p.accounting, p.accounting_bad),
        prop("assertions", "state", p.assertions, p.why_assert),
    ]
