"""Readable names and values for the fields of a state (for traces and reports).

``describe(model, s)`` maps a field name ("A.cloned", "ext1.refcnt",
"storage1.cache[0]", "selem2.state") to its value as text.  Objects that do not exist
yet are left out; registers are left out (the step labels say what a CPU is doing).
"""

from __future__ import annotations

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
    for q in range(1, L.selem.n + 1):
        if f(L.selem, q, "mem") == MEM_NONE:
            continue
        n = f"selem{q}"
        out[n] = mem(L.selem, q) + f" (map {maps[f(L.selem, q, 'g_map') - 1]})"
        out[f"{n}.local_storage"] = _ptr("storage", f(L.selem, q, "local_storage"))
        sm = f(L.selem, q, "smap")
        out[f"{n}.smap"] = maps[sm - 1] if sm else "NULL"
        out[f"{n}.snode"] = "linked" if f(L.selem, q, "spprev") else "unlinked"
        out[f"{n}.map_node"] = "linked" if f(L.selem, q, "mpprev") else "unlinked"
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
