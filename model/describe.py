"""Readable names and values for the fields of a state (for traces and reports).

``describe(model, s)`` maps a field name ("A.cloned", "ext1.refcnt",
"storage1.cache[0]", "selem2.state") to its value as text.  Objects that do not exist
yet are left out; registers are left out (the step labels say what a CPU is doing).
``describe_cpus(model, s)`` adds them, for a state with no trace before it.
"""

from __future__ import annotations

from .kernel import PC_IDLE, PC_OP_DONE, STEPS
from .layout import (
    EXT_ID_NAMES,
    KIND_NAMES,
    MAP_ALIVE,
    MAP_FREED,
    MAP_FREEING,
    MEM_FREED,
    MEM_LIVE,
    MEM_NONE,
    MEM_RCU,
    NBUCKETS,
    REFCOUNT_SATURATED,
    REG_POINTERS,
)
from .ops import _fmt

STATE_BITS = {1: "MAP_UNLINKED", 2: "STORAGE_UNLINKED", 4: "TOFREE"}


def _ptr(kind, v):
    return "NULL" if v == 0 else f"{kind}{v}"


def _ids(mask):
    names = [n for bit, n in EXT_ID_NAMES.items() if mask & bit]
    return "|".join(names) if names else "none"


def _bits(v):
    names = [n for bit, n in STATE_BITS.items() if v & bit]
    return "|".join(names) if names else "0"


def describe(model, s: bytes) -> dict[str, str]:
    L, spec = model.layout, model.spec
    skbs, maps, threads = spec.skbs, spec.maps, [t.name for t in spec.threads]
    out: dict[str, str] = {}

    def f(table, i, name):
        return s[table.idx(i, name)]

    def cpus(mask):
        return ", ".join(threads[t] for t in range(len(threads)) if mask >> t & 1)

    def mem(table, i):
        m = f(table, i, "mem")
        if m == MEM_RCU:
            waits = f(table, i, "rcuw")
            return (f"free queued (RCU), waits for {cpus(waits)}" if waits
                    else "free queued (RCU), no reader left")
        return {MEM_LIVE: "allocated", MEM_FREED: "freed"}.get(m, "?")

    def lst(first, nxt_field):
        out_, q = [], first
        while q and len(out_) <= L.selem.n:
            out_.append(f"selem{q}")
            q = f(L.selem, q, nxt_field)
        return "[" + ", ".join(out_) + "]"

    def lock(v):
        return "free" if v == 0 else f"held by {threads[v - 1]}"

    def value(v):
        return _fmt(spec.values[v]) if v < len(spec.values) else str(v)

    for x in range(1, L.skb.n + 1):
        m = f(L.skb, x, "mem")
        if m == MEM_NONE:
            continue
        n = skbs[x - 1]
        out[n] = "live" if m == MEM_LIVE else "freed"
        out[f"{n}.cloned"] = str(f(L.skb, x, "cloned"))
        out[f"{n}.active_extensions"] = _ids(f(L.skb, x, "active"))
        out[f"{n}.extensions"] = _ptr("ext", f(L.skb, x, "ext"))
    for e in range(1, L.ext.n + 1):
        if f(L.ext, e, "mem") == MEM_NONE:
            continue
        n = f"ext{e}"
        out[n] = mem(L.ext, e)
        r = f(L.ext, e, "refcnt")
        out[f"{n}.refcnt"] = "SATURATED" if r == REFCOUNT_SATURATED else str(r)
        out[f"{n}.present"] = _ids(f(L.ext, e, "present"))
        out[f"{n}.storage"] = _ptr("storage", f(L.ext, e, "storage"))
    for st in range(1, L.storage.n + 1):
        if f(L.storage, st, "mem") == MEM_NONE:
            continue
        n = f"storage{st}"
        out[n] = mem(L.storage, st)
        out[f"{n}.lock"] = lock(f(L.storage, st, "lock"))
        out[f"{n}.list"] = lst(f(L.storage, st, "first"), "snext")
        out[f"{n}.owner"] = _ptr("ext", f(L.storage, st, "owner"))
        r = f(L.storage, st, "owner_refcnt")
        out[f"{n}.owner_refcnt"] = "SATURATED" if r == REFCOUNT_SATURATED else str(r)
        for i in range(L.sizes.cache_slots):
            out[f"{n}.cache[{i}]"] = _ptr("selem", f(L.storage, st, f"cache{i}"))
        reached = f(L.storage, st, "g_reached")
        out[f"{n}.reached_by (ghost)"] = ", ".join(
            skbs[x] for x in range(len(skbs)) if reached >> x & 1) or "-"
        if f(L.storage, st, "g_cleared"):  # which map_free cleared owner->storage
            out[f"{n}.owner_cleared_by (ghost)"] = maps[f(L.storage, st, "g_cleared") - 1]
    for q in range(1, L.selem.n + 1):
        if f(L.selem, q, "mem") == MEM_NONE:
            continue
        n = f"selem{q}"
        out[n] = mem(L.selem, q) + f" (map {maps[f(L.selem, q, 'g_map') - 1]})"
        out[f"{n}.local_storage"] = _ptr("storage", f(L.selem, q, "local_storage"))
        if f(L.selem, q, "local_storage") == 0 and f(L.selem, q, "g_ls"):
            # cleared by bpf_selem_unlink_nofail(): the storage it was linked into
            out[f"{n}.linked_into (ghost)"] = _ptr("storage", f(L.selem, q, "g_ls"))
        sm = f(L.selem, q, "smap")
        out[f"{n}.smap"] = maps[sm - 1] if sm else "NULL"
        for node, pprev, nxt in (("snode", "spprev", "snext"), ("map_node", "mpprev", "mnext")):
            out[f"{n}.{node}"] = "linked" if f(L.selem, q, pprev) else "unlinked"
            if not f(L.selem, q, pprev) and f(L.selem, q, nxt):
                # hlist_del_init_rcu() leaves ->next for RCU readers: a walk standing on
                # this selem goes on to that one
                out[f"{n}.{node}.next (stale)"] = _ptr("selem", f(L.selem, q, nxt))
        out[f"{n}.state"] = _bits(f(L.selem, q, "state"))
        out[f"{n}.value"] = value(f(L.selem, q, "value"))
    for m in range(1, L.map.n + 1):
        mm = f(L.map, m, "mem")
        if mm == MEM_NONE:
            continue
        n = maps[m - 1]
        out[n] = {MAP_ALIVE: "alive", MAP_FREEING: "map_free running",
                  MAP_FREED: "freed"}.get(mm, "?")
        out[f"{n}.cache_idx"] = str(f(L.map, m, "cache_idx"))
        for b in range(NBUCKETS):
            out[f"{n}.bucket[{b}]"] = lst(f(L.map, m, f"b{b}_first"), "mnext")
            out[f"{n}.bucket[{b}].lock"] = lock(f(L.map, m, f"b{b}_lock"))
    for i in range(L.sizes.cache_slots):
        out[f"skb_cache.idx_usage_counts[{i}]"] = str(s[L.G[f"idx_usage{i}"]])
    for t in range(1, L.thread.n + 1):
        d = s[L.thread.idx(t, "rcu")]
        out[f"{threads[t - 1]}.rcu_read_lock"] = "held" if d else "-"
    out["budget.lock_failures"] = str(s[L.G["lock_budget"]])
    out["budget.alloc_failures"] = str(s[L.G["alloc_budget"]])
    obs = {
        "obs_uaf": "KASAN use-after-free", "obs_dfree": "KASAN double-free",
        "obs_warn": "refcount_t WARN", "obs_nofail_warn": "WARN_ON_ONCE(err && in_map_free)",
    }
    for key, text in obs.items():
        v = s[L.G[key]]
        if v:
            if key == "obs_nofail_warn":
                out[text] = f"selem{v}"
            else:
                obj = f"{KIND_NAMES.get(v >> 5, '?')}{v & 31}" if v & 31 else "NULL pointer"
                out[text] = obj
    return out


def describe_cpus(model, s: bytes) -> dict[str, str]:
    """Where each CPU is and what its registers hold, for a state with no trace before
    it (a counterexample to induction): the step it runs next, the functions its calls
    return to (innermost first), and every register that is not zero, pointers named
    like the objects (``cpu1.d_cursor = selem2``).  Left out: the program's value
    pointers (``vp*``: the cached ``sdata`` a program holds, named by the registers it
    read), and ``opi`` and ``alt`` (which op; the step names its function)."""
    L, spec = model.layout, model.spec
    names = {"skb": spec.skbs, "map": spec.maps}
    out: dict[str, str] = {}
    for t in range(1, L.thread.n + 1):
        n = spec.threads[t - 1].name

        def reg(f, t=t):
            return s[L.thread.idx(t, f)]

        pc = reg("pc")
        out[f"{n}.at"] = (STEPS[pc].label if pc in STEPS else "idle" if pc == PC_IDLE
                          else f"pc {pc}")
        frames = [reg(f"stk{i}") for i in range(reg("sp"))]
        if frames:
            out[f"{n}.called_from"] = " <- ".join(
                "the op" if c == PC_OP_DONE else STEPS[c].func if c in STEPS
                else f"pc {c}" for c in reversed(frames))
        for f in L.thread.fields:
            v = reg(f)
            if not v or f in ("pc", "sp", "rcu", "opi", "alt") or f.startswith(("stk", "vp")):
                continue
            if f == "x_id":  # skb_ext_add()'s id, as a bit
                out[f"{n}.x_id"] = _ids(v)
                continue
            if f == "runmaps":  # bit m-1: the maps this program run has used
                out[f"{n}.runmaps"] = ", ".join(
                    m for i, m in enumerate(spec.maps) if v >> i & 1)
                continue
            kind = REG_POINTERS.get(f)
            if kind in names:
                out[f"{n}.{f}"] = (names[kind][v - 1] if v <= len(names[kind])
                                   else f"{kind}{v}")
            elif kind:
                out[f"{n}.{f}"] = _ptr(kind, v)
            else:
                out[f"{n}.{f}"] = str(v)
    return out
