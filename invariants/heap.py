"""Heap lemmas for the local storage core (``check prove --heap-lemmas``).

What bpf_local_storage.c keeps true of its lists, cache slots, owner pointers, selem
state bits and the registers of a CPU inside bpf_selem_unlink(),
bpf_selem_unlink_nofail(), bpf_local_storage_destroy() and
bpf_local_storage_map_free(), written for the worlds without lock or allocation
failures and without ``skb_ext_del`` (finding 3 breaks several of them on purpose:
a copy on write that keeps ``ext->storage`` gives one storage two exts).  Each is a
Houdini candidate like the others (checker/induction.py): a lemma that is false or
not inductive is dropped, never assumed.  The families:

* ``heap:arg-readable``, ``heap:vp-readable``, ``heap:rv-selem``, ``heap:g-storage``:
  a pointer a step dereferences (the table of ``arg:nonzero``), a program's value
  pointer, the selem lookup or update returns and the storage a kfunc looked up are
  readable: allocated, or queued for an RCU free that waits for this CPU;
* list shape: ``heap:linked-in-list`` / ``heap:linked-in-bucket`` (a linked selem is
  reachable from its storage's or bucket's head, so no cycles), ``heap:head-converse``,
  ``heap:map-head-converse``, ``heap:bucket-head``, ``heap:snext-same``,
  ``heap:mnext-same`` (a bucket holds the selems of one map that hash to it:
  select_bucket() is ``local_storage % NBUCKETS`` here), ``heap:map-linked`` (map-linked
  implies storage-linked: every unlink takes the map side first),
  ``heap:storage-linked``, ``heap:freed-unlinked``, ``heap:live-unlinked`` (an allocated
  selem off its storage list is in a bpf_selem_unlink_nofail()), ``heap:storage-not-map``;
* owners and cache slots: ``heap:storage-owner``, ``heap:ext-storage``,
  ``heap:storage-has-owner``, ``heap:owner-refcnt``, ``heap:cache``,
  ``heap:storage-present``, ``heap:cow-storage`` (the RFC's fix-up: the copy of an ext
  whose skb has BPF_STORAGE active holds no storage), ``heap:empty-storage``;
* the delete path (``heap:unlink-*``, ``heap:g-ext``, ``heap:lock-holder``,
  ``heap:bucket-free``): what bpf_selem_unlink() holds between its steps;
* the nofail/destroy/map_free protocol (``heap:nofail-*``, ``heap:destroy-*``,
  ``heap:state-*``, ``heap:after-destroy``, ``heap:map-*``): the unlink count, the
  state bit each side sets (map_free ``SELEM_MAP_UNLINKED``, destroy
  ``SELEM_STORAGE_UNLINKED``), the partner a half-done selem waits for, the destroy
  walk's cursor;
* ``heap:solo-nofail`` (one CPU only): with nobody to race, bpf_selem_unlink_nofail()
  finds its selem fully linked and unlinks both sides itself.

Where another CPU can interleave, a lemma names the exception (a CPU in nofail on the
same selem, a map_free on another CPU) rather than assume a one-CPU world.  Status
(2026-12-01): every lemma holds on every state of the one-packet world of
``rfc-refcnt-guard`` without ``ext_del`` and on the first states of its two-CPU and
two-map worlds (tests/test_prove.py); Houdini keeps only some of them, and no goal
beyond ``no_shared_storage`` is proved with them yet (README, "Heap lemmas").
"""

from __future__ import annotations

from collections.abc import Callable

from model import bpf_local_storage as ls
from model.bpf_skb_storage import (
    delete,
    delete_looked_up,
    get,
    get_looked_up,
    get_updated,
    skb_storage_free_done,
)
from model.layout import (
    MAP_ALIVE,
    MAP_FREED,
    MAP_FREEING,
    MEM_FREED,
    MEM_LIVE,
    MEM_RCU,
    PPREV_HEAD,
)
from model.skbuff import skb_ext_free

from .lemmas import _NONZERO_ARGS, REG_POINTERS, _codes, _steps
from .properties import Props

_NOFAIL = _steps(ls.nofail)
_UNLINK_HELD = tuple(s.code for s in ls.unlink.steps
                     if s.fn not in (ls.selem_unlink, ls.selem_unlink_locked))
_DESTROY = _steps(ls.destroy)
_MAP_FREE = _steps(ls.map_free)
_KFUNC = _steps(get, delete, ls.lookup)
_UNLINK = _steps(ls.unlink)
_C_UNLINK, _C_UNLINK_LOCKED, _C_UNLINK_STORAGE, _C_MISC_CACHE, _C_MISC_OWNER = _codes(
    ls.selem_unlink, ls.selem_unlink_locked, ls.unlink_storage, ls.unlink_misc_cache,
    ls.unlink_misc_owner)
_NOFAIL_HELD = _codes(ls.nofail_pin, ls.nofail_owner, ls.nofail_unpin, ls.nofail_unlink_storage)
_NOFAIL_AFTER_OWNER = _codes(ls.nofail_unpin, ls.nofail_unlink_storage)
_AFTER_DESTROY = _codes(skb_storage_free_done, skb_ext_free)
_NOFAIL_POST = _codes(ls.nofail_clear_ls, ls.nofail_state, ls.nofail_free)
_C_NOFAIL_FREE, _C_DESTROY_NEXT, _C_NOFAIL_STATE = _codes(ls.nofail_free, ls.destroy_next,
                                                          ls.nofail_state)
_NOFAIL_MID = (*_codes(ls.nofail_clear_smap, ls.nofail_storage), *_NOFAIL_HELD)
_C_NOFAIL_START = _codes(ls.nofail_start)[0]
_AFTER_CLEAR_LS = _codes(ls.nofail_state, ls.nofail_free)
_NOFAIL_PAST_START = tuple(c for c in _NOFAIL if c != _codes(ls.nofail_start)[0])
_AFTER_CLEAR_SMAP = (*_codes(ls.nofail_clear_smap, ls.nofail_storage, ls.nofail_clear_ls),
                     *_NOFAIL_HELD,
                     *_AFTER_CLEAR_LS)
_PRE_MAP = _codes(ls.nofail_start, ls.nofail_smap, ls.nofail_map)
_C_MAP_FREE_FINISH = _codes(ls.map_free_finish)[0]
_C_CLEAR_SMAP = _codes(ls.nofail_clear_smap)[0]
_UNPIN = _codes(ls.destroy_unpin, ls.destroy_wait)
_RV_SELEM = _codes(get_looked_up, get_updated, delete_looked_up)


def heap_lemmas(m, E) -> dict[str, Callable]:
    """The heap:* lemmas of ``m`` over backend ``E`` (see the module docstring)."""
    L = m.layout
    p = Props(m, E)
    T = range(1, L.thread.n + 1)
    tables = {t.name: t for t in (L.skb, L.ext, L.storage, L.selem, L.map)}

    def r(s, t, f):
        return s[L.thread.idx(t, f)]

    def sel(s, tb, i, f):
        return E.sel(s, tb, i, f)

    def readable(s, tb, i, t):
        mem = sel(s, tb, i, "mem")
        if tb.name == "map":
            return E.And(mem != 0, mem != 3)
        if "rcuw" in tb.fields:
            return E.Or(mem == MEM_LIVE, E.And(mem == MEM_RCU,
                                                 (sel(s, tb, i, "rcuw") & (1 << (t - 1))) != 0))
        return mem == MEM_LIVE

    out = {}

    def arg_readable(s):
        parts = []
        for t in T:
            for codes, f in _NONZERO_ARGS:
                if f in ("a_skb",):
                    continue
                tb = tables[REG_POINTERS[f]]
                parts.append(E.Implies(E.And(p.within(s, t, codes), r(s, t, f) != 0),
                                       lambda t=t, f=f, tb=tb: readable(s, tb, r(s, t, f), t)))
        return E.And(*parts)
    out["heap:arg-readable"] = arg_readable

    vps = [f for f in L.thread.fields if f.startswith("vp")]

    def vp(s):
        return E.And(*(E.Implies(r(s, t, f) != 0, lambda t=t, f=f: E.And(
            r(s, t, "rcu") != 0, readable(s, L.selem, r(s, t, f), t)))
            for t in T for f in vps))
    out["heap:vp-readable"] = vp

    Q = range(1, L.selem.n + 1)
    ST = range(1, L.storage.n + 1)
    EX = range(1, L.ext.n + 1)

    def q_(s, q, f):
        return s[L.selem.idx(q, f)]

    def st_(s, st, f):
        return s[L.storage.idx(st, f)]

    def e_(s, e, f):
        return s[L.ext.idx(e, f)]

    out["heap:freed-unlinked"] = lambda s: E.And(*(E.Implies(
        E.Or(q_(s, q, "mem") == MEM_RCU, q_(s, q, "mem") == MEM_FREED),
        lambda q=q: E.And(q_(s, q, "spprev") == 0, q_(s, q, "mpprev") == 0)) for q in Q))
    out["heap:map-linked"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mpprev") != 0, lambda q=q: E.And(q_(s, q, "spprev") != 0,
                                                   q_(s, q, "smap") != 0)) for q in Q))
    out["heap:storage-linked"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "spprev") != 0, lambda q=q: E.And(
            q_(s, q, "local_storage") != 0,
            sel(s, L.storage, q_(s, q, "local_storage"), "mem") == MEM_LIVE)) for q in Q))

    def in_nofail(s, q):
        return E.Or(*(E.And(p.within(s, t, _NOFAIL), r(s, t, "n_selem") == q) for t in T))
    out["heap:live-unlinked"] = lambda s: E.And(*(E.Implies(
        E.And(q_(s, q, "mem") == MEM_LIVE, q_(s, q, "spprev") == 0),
        lambda q=q: in_nofail(s, q)) for q in Q))

    def destroying(s, st):
        return E.Or(*(E.And(p.within(s, t, _DESTROY), r(s, t, "d_storage") == st) for t in T))

    def dying(s, st):
        return E.Or(destroying(s, st), *(E.And(p.within(s, t, _NOFAIL), r(s, t, "n_ls") == st)
                                         for t in T))

    out["heap:owner-refcnt"] = lambda s: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner_refcnt") == 0),
        lambda st=st: E.Or(*(E.And(p.within(s, t, _NOFAIL), p.within(s, t, _MAP_FREE),
                                   r(s, t, "n_ls") == st) for t in T))) for st in ST))

    def nofail_regs(s, t):
        nb, ns, nl = r(s, t, "n_bucket"), r(s, t, "n_selem"), r(s, t, "n_ls")
        return E.Implies(p.within(s, t, _NOFAIL), lambda: E.And(
            ns != 0,
            E.Implies(p.within(s, t, _DESTROY), lambda: E.And(
                nb == 0, ns == r(s, t, "d_cursor"), E.Or(nl == 0, nl == r(s, t, "d_storage")))),
            E.Implies(p.within(s, t, _MAP_FREE), lambda: E.And(
                nb == r(s, t, "m_bucket") + 1, ns == r(s, t, "m_cursor"),
                E.Or(r(s, t, "n_sm") == 0, r(s, t, "n_sm") == r(s, t, "a_map"))))))
    def nofail_ls(s, t):
        q, nl = r(s, t, "n_selem"), r(s, t, "n_ls")
        v = sel(s, L.selem, q, "local_storage")
        return E.Implies(E.And(p.within(s, t, _NOFAIL), r(s, t, "pc") != _C_NOFAIL_START),
                         lambda: E.And(E.Or(nl != 0, v == 0), E.Or(v == 0, v == nl)))
    out["heap:nofail-ls"] = lambda s: E.And(*(nofail_ls(s, t) for t in T))
    out["heap:nofail-regs"] = lambda s: E.And(*(nofail_regs(s, t) for t in T))

    def rv(s, t):
        v = r(s, t, "rv")
        return E.Implies(E.And(E.Or(*(r(s, t, "pc") == c for c in _RV_SELEM)), v != 0),
                         lambda: readable(s, L.selem, v, t))
    out["heap:rv-selem"] = lambda s: E.And(*(rv(s, t) for t in T))
    out["heap:g-storage"] = lambda s: E.And(*(E.Implies(
        r(s, t, "g_storage") != 0, lambda t=t: readable(s, L.storage, r(s, t, "g_storage"), t))
        for t in T))

    out["heap:storage-owner"] = lambda s: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner") != 0,
              st_(s, st, "owner_refcnt") != 0),
        lambda st=st: E.And(sel(s, L.ext, st_(s, st, "owner"), "mem") == MEM_LIVE,
                            sel(s, L.ext, st_(s, st, "owner"), "storage") == st))
        for st in ST))

    def ext_freeing(s, e):
        return E.Or(*(E.And(E.Or(*(r(s, t, "pc") == c for c in _AFTER_DESTROY)),
                            r(s, t, "p_ext") == e) for t in T))

    out["heap:ext-storage"] = lambda s: E.And(*(E.Implies(
        E.And(e_(s, e, "mem") == MEM_LIVE, e_(s, e, "storage") != 0,
              E.Not(destroying(s, e_(s, e, "storage"))), E.Not(ext_freeing(s, e)),
              *(r(s, t, "x_new") != e for t in T)),
        lambda e=e: E.And(sel(s, L.storage, e_(s, e, "storage"), "mem") == MEM_LIVE,
                          sel(s, L.storage, e_(s, e, "storage"), "owner") == e))
        for e in EX))

    cslots = [f for f in L.storage.fields if f.startswith("cache")]
    out["heap:cache"] = lambda s: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, c) != 0, E.Not(destroying(s, st)),
              st_(s, st, "owner_refcnt") != 0),
        lambda st=st, c=c: E.And(
            sel(s, L.selem, st_(s, st, c), "mem") == MEM_LIVE,
            sel(s, L.selem, st_(s, st, c), "local_storage") == st,
            sel(s, L.selem, st_(s, st, c), "spprev") != 0))
        for st in ST for c in cslots))

    def held(s, t):
        q, sl = r(s, t, "g_sdata"), r(s, t, "s_ls")
        return E.Implies(p.within(s, t, _UNLINK_HELD), lambda: E.And(
            sl != 0, sel(s, L.storage, sl, "lock") == t,
            sel(s, L.storage, sl, "mem") == MEM_LIVE,
            sel(s, L.selem, q, "mem") == MEM_LIVE,
            sel(s, L.selem, q, "spprev") != 0, sel(s, L.selem, q, "mpprev") == 0,
            sel(s, L.selem, q, "local_storage") == sl,
            sel(s, L.selem, q, "smap") == r(s, t, "a_map"), r(s, t, "a_map") != 0,
            (r(s, t, "s_last") != 0) == E.And(sel(s, L.selem, q, "spprev") == PPREV_HEAD,
                                             sel(s, L.selem, q, "snext") == 0)))
    def before_lock(s, t):
        q = r(s, t, "g_sdata")
        return E.Implies(E.Or(r(s, t, "pc") == _C_UNLINK, r(s, t, "pc") == _C_UNLINK_LOCKED),
                         lambda: E.And(q != 0, sel(s, L.selem, q, "mem") == MEM_LIVE,
                                       sel(s, L.selem, q, "spprev") != 0,
                                       sel(s, L.selem, q, "mpprev") != 0,
                                       sel(s, L.selem, q, "smap") == r(s, t, "a_map")))

    def last(s, t):
        sl, q = r(s, t, "s_ls"), r(s, t, "g_sdata")
        return E.And(
            E.Implies(E.Or(r(s, t, "pc") == _C_UNLINK_STORAGE, r(s, t, "pc") == _C_MISC_OWNER),
                      lambda: E.And(*(sel(s, L.storage, sl, c) != q for c in cslots))),
            E.Implies(r(s, t, "pc") == _C_MISC_OWNER, lambda: r(s, t, "s_last") != 0),
            E.Implies(E.And(r(s, t, "pc") == _C_UNLINK_STORAGE, r(s, t, "s_last") != 0),
                      lambda: E.And(sel(s, L.storage, sl, "owner") == 0, *(
                          E.Implies(e_(s, e, "mem") == MEM_LIVE,
                                    lambda e=e: e_(s, e, "storage") != sl)
                          for e in EX))),
            E.Implies(E.Or(r(s, t, "pc") == _C_MISC_CACHE, r(s, t, "pc") == _C_MISC_OWNER),
                      lambda: E.And(sel(s, L.storage, sl, "owner") != 0,
                                    sel(s, L.storage, sl, "owner_refcnt") != 0)))
    out["heap:unlink-held"] = lambda s: E.And(*(held(s, t) for t in T))
    out["heap:unlink-before-lock"] = lambda s: E.And(*(before_lock(s, t) for t in T))
    out["heap:unlink-last"] = lambda s: E.And(*(last(s, t) for t in T))

    def holder(s, st):
        lk = st_(s, st, "lock")
        return E.Implies(lk != 0, lambda: E.Or(*(E.And(lk == t, E.Or(
            E.And(p.within(s, t, _UNLINK_HELD), r(s, t, "s_ls") == st),
            E.And(E.Or(*(r(s, t, "pc") == c for c in _NOFAIL_HELD)), r(s, t, "n_ls") == st)))
            for t in T)))
    out["heap:lock-holder"] = lambda s: E.And(*(holder(s, st) for st in ST))
    def held_by_op(s, st):
        return E.Or(*(E.Or(E.And(p.within(s, t, _UNLINK_HELD), r(s, t, "s_ls") == st),
                           E.And(p.within(s, t, _NOFAIL), r(s, t, "n_ls") == st)) for t in T))
    def ownerless(s, st):
        return E.Or(*(E.Or(
            E.And(r(s, t, "pc") == _C_UNLINK_STORAGE, r(s, t, "s_last") != 0,
                  r(s, t, "s_ls") == st),
            E.And(E.Or(*(r(s, t, "pc") == c for c in _NOFAIL_AFTER_OWNER)), r(s, t, "n_free") != 0,
                  r(s, t, "n_ls") == st)) for t in T))
    out["heap:storage-has-owner"] = lambda s: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "first") != 0, E.Not(ownerless(s, st))),
        lambda st=st: st_(s, st, "owner") != 0) for st in ST))

    def held_selem(s, q):
        return E.Or(*(E.Or(E.And(p.within(s, t, _UNLINK_HELD), r(s, t, "g_sdata") == q),
                           E.And(p.within(s, t, _NOFAIL), r(s, t, "n_selem") == q)) for t in T))
    out["heap:storage-not-map"] = lambda s: E.And(*(E.Implies(
        E.And(q_(s, q, "spprev") != 0, E.Or(q_(s, q, "mpprev") == 0, q_(s, q, "smap") == 0)),
        lambda q=q: held_selem(s, q)) for q in Q))
    out["heap:map-alive"] = lambda s: E.And(*(E.Implies(
        p.within(s, t, _KFUNC), lambda t=t: sel(s, L.map, r(s, t, "a_map"), "mem") == MAP_ALIVE)
        for t in T))
    out["heap:map-linked-alive"] = lambda s: E.And(*(E.Implies(
        E.Or(q_(s, q, "mpprev") != 0, E.And(q_(s, q, "mem") == MEM_LIVE, q_(s, q, "smap") != 0)),
        lambda q=q: E.Or(
            sel(s, L.map, q_(s, q, "smap"), "mem") == MAP_ALIVE,
            sel(s, L.map, q_(s, q, "smap"), "mem") == MAP_FREEING)) for q in Q))
    bf = [f for f in L.map.fields if f.endswith("_first")]
    out["heap:map-freed-empty"] = lambda s: E.And(*(E.Implies(
        s[L.map.idx(mm, "mem")] == MAP_FREED, lambda mm=mm: E.And(*(
            s[L.map.idx(mm, f)] == 0 for f in bf))) for mm in range(1, L.map.n + 1)))
    out["heap:head-converse"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "spprev") == PPREV_HEAD,
        lambda q=q: sel(s, L.storage, q_(s, q, "local_storage"), "first") == q) for q in Q))

    def mhead(s, q):
        m_, b = q_(s, q, "smap"), q_(s, q, "local_storage") % 2
        return E.If(b == 0, sel(s, L.map, m_, "b0_first") == q, sel(s, L.map, m_, "b1_first") == q)
    out["heap:map-head-converse"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mpprev") == PPREV_HEAD, lambda q=q: mhead(s, q)) for q in Q))
    def walk(s, first, q, nxt):
        node, hits = first, []
        for _ in Q:
            hits.append(node == q)
            node = sel(s, L.selem, node, nxt)
        return E.Or(*hits)

    out["heap:linked-in-list"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "spprev") != 0, lambda q=q: walk(
            s, sel(s, L.storage, q_(s, q, "local_storage"), "first"), q, "snext")) for q in Q))

    def in_bucket(s, q):
        m_, b = q_(s, q, "smap"), q_(s, q, "local_storage") % 2
        first = E.If(b == 0, sel(s, L.map, m_, "b0_first"), sel(s, L.map, m_, "b1_first"))
        return walk(s, first, q, "mnext")
    out["heap:linked-in-bucket"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mpprev") != 0, lambda q=q: in_bucket(s, q)) for q in Q))
    out["heap:bucket-head"] = lambda s: E.And(*(E.Implies(
        s[L.map.idx(mm, f"b{b}_first")] != 0, lambda mm=mm, b=b: E.And(
            sel(s, L.selem, s[L.map.idx(mm, f"b{b}_first")], "mpprev") == PPREV_HEAD,
            sel(s, L.selem, s[L.map.idx(mm, f"b{b}_first")], "smap") == mm,
            sel(s, L.selem, s[L.map.idx(mm, f"b{b}_first")], "local_storage") % 2 == b))
        for mm in range(1, L.map.n + 1) for b in (0, 1)))
    out["heap:mnext-same"] = lambda s: E.And(*(E.Implies(
        E.And(q_(s, q, "mpprev") != 0, q_(s, q, "mnext") != 0), lambda q=q: E.And(
            sel(s, L.selem, q_(s, q, "mnext"), "smap") == q_(s, q, "smap"),
            sel(s, L.selem, q_(s, q, "mnext"), "local_storage") % 2
            == q_(s, q, "local_storage") % 2)) for q in Q))
    def after_destroy(s, t):
        e = r(s, t, "p_ext")
        st = sel(s, L.ext, e, "storage")
        return E.Implies(E.Or(*(r(s, t, "pc") == c for c in _AFTER_DESTROY)), lambda: E.Or(
            st == 0, sel(s, L.storage, st, "mem") != MEM_LIVE,
            sel(s, L.storage, st, "owner_refcnt") == 0))
    out["heap:after-destroy"] = lambda s: E.And(*(after_destroy(s, t) for t in T))
    out["heap:storage-present"] = lambda s: E.And(*(E.Implies(
        E.And(e_(s, e, "mem") == MEM_LIVE, (e_(s, e, "present") & 1) == 0),
        lambda e=e: e_(s, e, "storage") == 0) for e in EX))
    def nofail_selem(s, t):
        q = r(s, t, "n_selem")
        return E.Implies(p.within(s, t, _NOFAIL), lambda: E.Or(
            sel(s, L.selem, q, "mem") == MEM_LIVE,
            E.And(sel(s, L.selem, q, "smap") == 0, sel(s, L.selem, q, "local_storage") == 0)))
    out["heap:nofail-selem"] = lambda s: E.And(*(nofail_selem(s, t) for t in T))

    def nofail_free_storage(s, t):
        q, nl = r(s, t, "n_selem"), r(s, t, "n_ls")
        pc = r(s, t, "pc")
        return E.Implies(r(s, t, "n_free") != 0, lambda: E.And(
            E.Implies(p.within(s, t, _NOFAIL),
                      lambda: sel(s, L.storage, nl, "mem") == MEM_LIVE),
            E.Implies(E.Or(*(pc == c for c in _NOFAIL_POST)), lambda: E.And(
                nl != 0, sel(s, L.storage, nl, "first") == 0)),
            E.Implies(E.Or(*(pc == c for c in _NOFAIL_HELD)), lambda: E.And(
                nl != 0, sel(s, L.storage, nl, "first") == q,
                sel(s, L.selem, q, "snext") == 0))))
    out["heap:nofail-free-storage"] = lambda s: E.And(*(nofail_free_storage(s, t) for t in T))
    def nofail_unlinks(s, t):
        q, nu, pc = r(s, t, "n_selem"), r(s, t, "n_unlink"), r(s, t, "pc")
        return E.Implies(p.within(s, t, _NOFAIL), lambda: E.And(
            E.Implies(E.Or(nu == 2, E.And(nu != 0, pc != _C_NOFAIL_FREE)),
                      lambda: sel(s, L.selem, q, "mem") == MEM_LIVE),
            E.Implies(nu != 0, lambda: sel(s, L.selem, q, "mpprev") == 0),
            E.Implies(nu == 2, lambda: sel(s, L.selem, q, "spprev") == 0),
            E.Implies(E.Or(*(pc == c for c in _NOFAIL_POST)), lambda: E.And(
                sel(s, L.selem, q, "spprev") == 0, sel(s, L.selem, q, "mpprev") == 0,
                sel(s, L.selem, q, "smap") == 0)),
            E.Implies(E.Or(*(pc == c for c in _AFTER_CLEAR_LS)),
                      lambda: sel(s, L.selem, q, "local_storage") == 0),
            E.Implies(pc == _C_NOFAIL_STATE, lambda: nu != 2),
            E.Implies(E.Or(*(pc == c for c in _AFTER_CLEAR_SMAP if c != _C_CLEAR_SMAP)),
                      lambda: sel(s, L.selem, q, "smap") == 0),
            E.Implies(E.Or(*(pc == c for c in _NOFAIL_MID)),
                      lambda: sel(s, L.selem, q, "mpprev") == 0)))
    def my_bit(s, t):
        q, nu = r(s, t, "n_selem"), r(s, t, "n_unlink")
        bit = E.If(r(s, t, "n_bucket") != 0, 1, 2)
        st = sel(s, L.selem, q, "state")
        return E.And(
            E.Implies(E.And(p.within(s, t, _NOFAIL),
                            E.Or(nu == 2, r(s, t, "pc") != _C_NOFAIL_FREE)),
                      lambda: (st & bit) == 0),
            E.Implies(E.And(r(s, t, "pc") == _C_NOFAIL_FREE, nu != 2),
                      lambda: E.Or((st & bit) != 0, st == 4)))
    out["heap:nofail-my-bit"] = lambda s: E.And(*(my_bit(s, t) for t in T))
    def partner(s, t):
        q, nu = r(s, t, "n_selem"), r(s, t, "n_unlink")
        other = E.If(r(s, t, "n_bucket") != 0, 2, 1)
        pc = r(s, t, "pc")
        return E.Implies(E.Or(E.And(E.Or(*(pc == c for c in _NOFAIL_POST)), nu != 2),
                              E.And(E.Or(*(pc == c for c in _NOFAIL_MID)), nu == 0)),
                         lambda: E.Or((sel(s, L.selem, q, "state") & other) != 0,
                                      sel(s, L.selem, q, "mem") != MEM_LIVE, *(
                             E.And(p.within(s, u, _NOFAIL), r(s, u, "n_selem") == q)
                             for u in T if u != t)))
    out["heap:nofail-partner"] = lambda s: E.And(*(partner(s, t) for t in T))
    out["heap:nofail-unlinks"] = lambda s: E.And(*(nofail_unlinks(s, t) for t in T))

    def destroy_next(s, t):
        c, ds = r(s, t, "d_cursor"), r(s, t, "d_storage")
        return E.Implies(E.Or(r(s, t, "pc") == _C_DESTROY_NEXT, E.And(
            p.within(s, t, (_C_DESTROY_NEXT,)), E.Or(*(r(s, t, "pc") == x for x in _NOFAIL_POST)))),
            lambda: E.Or(sel(s, L.selem, c, "snext") == sel(s, L.storage, ds, "first"),
                         *(p.within(s, u, _MAP_FREE) for u in T if u != t)))
    def cursor_first(s, t):
        c, ds = r(s, t, "d_cursor"), r(s, t, "d_storage")
        first = sel(s, L.storage, ds, "first")
        return E.Implies(E.And(p.within(s, t, _NOFAIL), p.within(s, t, _DESTROY),
                               *(E.Not(p.within(s, u, _MAP_FREE)) for u in T if u != t)),
                         lambda: E.And(sel(s, L.selem, c, "mem") == MEM_LIVE, E.If(
                             sel(s, L.selem, c, "spprev") != 0, first == c,
                             sel(s, L.selem, c, "snext") == first)))
    out["heap:destroy-cursor-first"] = lambda s: E.And(*(cursor_first(s, t) for t in T))
    out["heap:destroy-next"] = lambda s: E.And(*(destroy_next(s, t) for t in T))
    def in_nofail_q(s, q, codes):
        return E.Or(*(E.And(E.Or(*(r(s, t, "pc") == c for c in codes)),
                            r(s, t, "n_selem") == q) for t in T))
    out["heap:state-bits"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mem") == MEM_LIVE, lambda q=q: E.And(
        E.Implies((q_(s, q, "state") & 1) != 0, lambda: E.And(
            q_(s, q, "mpprev") == 0, q_(s, q, "smap") == 0)),
        E.Implies((q_(s, q, "state") & 2) != 0, lambda: E.And(
            q_(s, q, "spprev") == 0, q_(s, q, "local_storage") == 0)),
        E.Implies(E.And(q_(s, q, "smap") == 0, (q_(s, q, "state") & 1) == 0),
                  lambda: in_nofail_q(s, q, _AFTER_CLEAR_SMAP)),
        E.Implies(E.And(q_(s, q, "local_storage") == 0, (q_(s, q, "state") & 2) == 0),
                  lambda: in_nofail_q(s, q, _NOFAIL_PAST_START)))) for q in Q))
    out["heap:map-freeing"] = lambda s: E.And(*(E.Implies(
        s[L.map.idx(mm, "mem")] == MAP_FREEING, lambda mm=mm: E.Or(*(
            E.And(p.within(s, t, _MAP_FREE), r(s, t, "a_map") == mm) for t in T)))
        for mm in range(1, L.map.n + 1)))
    out["heap:destroy-storage"] = lambda s: E.And(*(E.Implies(
        E.And(p.within(s, t, _DESTROY), E.Not(E.Or(*(r(s, t, "pc") == c for c in _UNPIN)))),
        lambda t=t: E.And(r(s, t, "d_storage") != 0,
                          readable(s, L.storage, r(s, t, "d_storage"), t))) for t in T))
    def at_free(s, q):
        return E.Or(*(E.And(r(s, t, "pc") == _C_NOFAIL_FREE, r(s, t, "n_selem") == q) for t in T))
    out["heap:state-unlinked"] = lambda s: E.And(*(E.And(
        E.Implies(q_(s, q, "state") == 3, lambda q=q: E.And(q_(s, q, "mem") == MEM_LIVE,
                                                           at_free(s, q))),
        E.Implies(q_(s, q, "state") == 4, lambda q=q: q_(s, q, "mem") != MEM_LIVE)) for q in Q))
    if L.thread.n == 1:
        def solo(s, t):
            q, nu, pc = r(s, t, "n_selem"), r(s, t, "n_unlink"), r(s, t, "pc")
            f = lambda name: sel(s, L.selem, q, name)  # noqa: E731

            def at(*codes):
                return E.Or(*(pc == c for c in codes))
            return E.Implies(p.within(s, t, _NOFAIL), lambda: E.And(
                f("mem") == MEM_LIVE, f("state") == 0,
                E.Implies(at(*_PRE_MAP), lambda: E.And(
                    f("spprev") != 0, f("mpprev") != 0, f("smap") != 0, f("local_storage") != 0,
                    nu == 0)),
                E.Implies(at(_C_CLEAR_SMAP), lambda: E.And(
                    f("spprev") != 0, f("mpprev") == 0, f("smap") != 0, nu == 1)),
                E.Implies(at(*_codes(ls.nofail_storage), *_NOFAIL_HELD), lambda: E.And(
                    f("spprev") != 0, f("mpprev") == 0, f("smap") == 0, nu == 1)),
                E.Implies(at(*_codes(ls.nofail_clear_ls, ls.nofail_state, ls.nofail_free)),
                          lambda: E.And(f("spprev") == 0, f("mpprev") == 0, nu == 2)),
                E.Not(at(_C_NOFAIL_STATE)),  # unlink == 2 skips the state step
                E.Implies(at(_C_NOFAIL_START), lambda: r(s, t, "n_ls") == 0),
                E.Implies(E.Not(at(_C_NOFAIL_START)), lambda: E.And(
                    r(s, t, "n_ls") != 0,
                    E.Or(f("local_storage") == r(s, t, "n_ls"), at(*_AFTER_CLEAR_LS)))),
                ))
        out["heap:solo-nofail"] = lambda s: E.And(*(solo(s, t) for t in T))
    out["heap:destroy-ext"] = lambda s: E.And(*(E.Implies(
        p.within(s, t, _DESTROY), lambda t=t: E.Or(
            sel(s, L.ext, r(s, t, "p_ext"), "storage") == r(s, t, "d_storage"),
            *(p.within(s, u, _MAP_FREE) for u in T if u != t))) for t in T))
    out["heap:destroy-refcnt"] = lambda s: E.And(*(E.Implies(
        E.And(p.within(s, t, _DESTROY), r(s, t, "pc") != _UNPIN[1]),
        lambda t=t: sel(s, L.storage, r(s, t, "d_storage"), "owner_refcnt") != 0) for t in T))
    out["heap:cow-storage"] = lambda s: E.And(*(E.Implies(
        E.And(r(s, t, "x_new") != 0,
              (sel(s, L.skb, r(s, t, "a_skb"), "active") & 1) != 0),
        lambda t=t: sel(s, L.ext, r(s, t, "x_new"), "storage") == 0) for t in T))
    def bpf_active(s, x):  # also the copy skb_ext_add is about to install (ext_of)
        e = p.ext_of(s, x)
        return E.Implies(E.And(p.live(s, x), sel(s, L.skb, x, "active") != 0,
                               (sel(s, L.ext, e, "present") & 1) != 0),
                         lambda: (sel(s, L.skb, x, "active") & 1) != 0)
    out["heap:bpf-active"] = lambda s: E.And(*(bpf_active(s, x) for x in p.skbs),
                                             *(bpf_active_old(s, x) for x in p.skbs))
    def bpf_active_old(s, x):
        e = sel(s, L.skb, x, "ext")
        return E.Implies(E.And(p.live(s, x), sel(s, L.skb, x, "active") != 0,
                               sel(s, L.ext, e, "mem") == MEM_LIVE,
                               (sel(s, L.ext, e, "present") & 1) != 0),
                         lambda: (sel(s, L.skb, x, "active") & 1) != 0)
    out["heap:ext-unique"] = lambda s: E.And(*(E.Implies(
        E.And(e_(s, a, "mem") == MEM_LIVE, e_(s, b, "mem") == MEM_LIVE, e_(s, a, "storage") != 0),
        lambda a=a, b=b: e_(s, a, "storage") != e_(s, b, "storage"))
        for a in EX for b in EX if a < b))
    def map_free_progress(s, t):
        mm, mb = r(s, t, "a_map"), r(s, t, "m_bucket")
        return E.Implies(p.within(s, t, _MAP_FREE), lambda: E.And(
            E.Implies(r(s, t, "pc") == _C_MAP_FREE_FINISH, lambda: E.And(
                sel(s, L.map, mm, "b0_first") == 0, sel(s, L.map, mm, "b1_first") == 0)),
            E.Implies(mb != 0, lambda: sel(s, L.map, mm, "b0_first") == 0)))
    out["heap:map-free-progress"] = lambda s: E.And(*(map_free_progress(s, t) for t in T))
    out["heap:cow-copy"] = lambda s: E.And(*(E.Implies(
        r(s, t, "x_new") != 0, lambda t=t: E.Or(
            sel(s, L.ext, r(s, t, "x_new"), "storage") == 0,
            sel(s, L.ext, r(s, t, "x_new"), "storage")
            == sel(s, L.ext, r(s, t, "x_old"), "storage"))) for t in T))
    out["heap:state-domain"] = lambda s: E.And(*(E.ULE(q_(s, q, "state"), 4) for q in Q))
    doms = {"s_last": 1, "n_free": 1, "n_unlink": 2, "n_pinned": 1, "l_cacheit": 1}
    out["heap:reg-domain"] = lambda s: E.And(*(E.ULE(r(s, t, f), v) for t in T
                                            for f, v in doms.items()))
    bl = [f for f in L.map.fields if f.endswith("_lock")]
    out["heap:bucket-free"] = lambda s: E.And(*(s[L.map.idx(mm, f)] == 0
                                             for mm in range(1, L.map.n + 1) for f in bl))

    def g_ext(s, t):
        gs, ge, a = r(s, t, "g_storage"), r(s, t, "g_ext"), r(s, t, "a_skb")
        return E.Implies(E.And(p.within(s, t, _KFUNC), E.Not(p.within(s, t, _UNLINK)),
                               gs != 0), lambda: E.And(
            ge != 0, ge == sel(s, L.skb, a, "ext"),
            sel(s, L.ext, ge, "storage") == gs))
    out["heap:g-ext"] = lambda s: E.And(*(g_ext(s, t) for t in T))

    def ls_in(s, q, st):
        v = sel(s, L.selem, q, "local_storage")
        return E.Or(v == 0, v == st)

    def cursor(s, t):
        c, ds = r(s, t, "d_cursor"), r(s, t, "d_storage")
        return E.Implies(E.And(p.within(s, t, _DESTROY), c != 0), lambda: E.And(
            ls_in(s, c, ds), E.Implies(sel(s, L.selem, c, "snext") != 0,
                                       lambda: ls_in(s, sel(s, L.selem, c, "snext"), ds))))
    out["heap:destroy-cursor"] = lambda s: E.And(*(cursor(s, t) for t in T))
    out["heap:snext-same"] = lambda s: E.And(*(E.Implies(
        E.And(q_(s, q, "spprev") != 0, q_(s, q, "snext") != 0),
        lambda q=q: sel(s, L.selem, q_(s, q, "snext"), "local_storage")
        == q_(s, q, "local_storage")) for q in Q))

    def nofail_on(s, st, extra=None):
        return E.Or(*(E.And(p.within(s, t, _NOFAIL), r(s, t, "n_ls") == st,
                            *(extra(t) if extra else ())) for t in T))

    out["heap:destroy-empty"] = lambda s: E.And(*(E.Implies(
        E.Or(*(r(s, t, "pc") == c for c in _UNPIN)),
        lambda t=t: E.Or(sel(s, L.storage, r(s, t, "d_storage"), "first") == 0,
                         nofail_on(s, r(s, t, "d_storage")))) for t in T))
    out["heap:empty-storage"] = lambda s: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "first") == 0),
        lambda st=st: nofail_on(s, st, lambda t: (r(s, t, "n_free") != 0,))) for st in ST))
    return out
