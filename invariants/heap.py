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
  a pointer a step dereferences (the tables of ``arg:nonzero`` and
  ``arg:unlink-lock``), a program's value pointer, the selem lookup or update returns
  and the storage a kfunc looked up are readable: allocated, or queued for an RCU free
  that waits for this CPU;
* list shape: ``heap:linked-in-list`` / ``heap:linked-in-bucket`` (a linked selem is
  reachable from its storage's or bucket's head within the longest such list can be,
  :func:`walk_hops`, so no cycles; each is a group of candidates, one per head and
  ``#named``), ``heap:one-per-map`` (a storage's list holds one selem of each map),
  ``heap:list-ends``, ``heap:bucket-ends`` and ``heap:cursor-ends`` (each list, and
  the chain ahead of each walk's cursor, ends within that bound), ``heap:head-converse``,
  ``heap:map-head-converse``, ``heap:bucket-head``, ``heap:snext-same``,
  ``heap:mnext-same`` (a bucket holds the selems of one map that hash to it:
  select_bucket() is ``local_storage % NBUCKETS`` here), ``heap:g-ls`` and
  ``heap:snext-g-ls`` (the ghost ``g_ls``, the storage a selem was linked into, is its
  ``local_storage`` until a nofail clears that, and a ``->snode.next``, stale or not,
  leads to a selem of the same storage), ``heap:map-linked`` (map-linked
  implies storage-linked: every unlink takes the map side first),
  ``heap:storage-linked``, ``heap:freed-unlinked``, ``heap:live-unlinked`` (an allocated
  selem off its storage list is in a bpf_selem_unlink_nofail()), ``heap:storage-not-map``;
* owners and cache slots: ``heap:storage-owner``, ``heap:ext-storage``,
  ``heap:storage-has-owner``, ``heap:owner-refcnt``, ``heap:cache``,
  ``heap:cache-idx`` (a selem is cached only in its map's slot; ``heap:g-map``: its
  ``smap`` is NULL or the map it was allocated for), ``heap:storage-present``,
  ``heap:cow-storage`` (the RFC's fix-up: the copy of an ext whose skb has
  BPF_STORAGE active holds no storage; with rfc-fix every copy), ``heap:bpf-active``
  (without ``skb_ext_del``: a data area present is active), ``heap:empty-storage``,
  ``heap:ext-positive`` (a live ext has a reference);
* the kfuncs: ``heap:g-ext`` (the storage a kfunc looked up is its packet's, unless
  another map's map_free is freeing it or, inside bpf_selem_unlink(), the last selem's
  unlink has cleared the pointer), ``heap:unlink-ls`` (bpf_selem_unlink() works on that
  storage), ``heap:kfunc-exclusive`` (two or more CPUs: no other CPU's kfunc or destroy
  reaches it, nor the storage bpf_local_storage_update() links into, which
  ``heap:update-storage`` ties to the packet's ext), ``heap:lookup-sdata`` (the selem
  __bpf_local_storage_insert_cache() caches), ``heap:ext-added-empty`` (without
  ``skb_ext_del``, skb_ext_add() never hands get a data area that still holds a
  storage: finding 3 is exactly that; with rfc-fix, a kept area holds its own
  storage, which ``heap:ext-reset``'s destroy then frees), ``heap:update-alloc``
  (bpf_local_storage_alloc() starts with the owner's pointer NULL, unless a nofail is
  about to clear it);
* the delete path (``heap:unlink-*``, ``heap:lock-holder``, ``heap:bucket-free``): what
  bpf_selem_unlink() holds between its steps;
* the nofail/destroy/map_free protocol (``heap:nofail-*``, ``heap:destroy-*``,
  ``heap:state-*``, ``heap:after-destroy``, ``heap:map-*``): the unlink count, the
  state bit each side sets (map_free ``SELEM_MAP_UNLINKED``, destroy
  ``SELEM_STORAGE_UNLINKED``), the partner a half-done selem waits for, what the CPU
  holds under the storage lock (``heap:nofail-held``) and after map_free's misc has
  cleared the owner (``heap:nofail-owner-cleared``), the selem map_free works on being
  of its map (``heap:map-free-own``), the walks' cursors and the next selem they
  visit (``heap:cursor-next``: hlist_del_init_rcu() keeps ``->next``, so the next one
  is readable and not one this walk has unlinked), ``heap:walks-exclusive`` (two or
  more CPUs: no two destroys of one storage, and a selem is in at most two nofails,
  its destroy's and a map_free's; ``heap:nofail-pair``: those two unlink each side
  once between them and read one ``local_storage``; ``heap:nofail-free-one``: one
  nofail at most frees a given storage), ``heap:reg-allocated`` (a register pointer never
  names a slot that was never allocated, such as a walk's stale cursor);
* a destroy and a map_free racing (30 lemmas, generated only with two or more CPUs
  and map_free): nofail with two sides (``heap:nofail-count``: the sides unlinked are
  the CPUs' ``unlink`` counts until a side that set its state bit returns; the owner
  pin, a NULL ``smap``, whose storage each side loaded), the destroy and map_free
  themselves (``heap:unpin-empty``: without lock failures a destroy leaves nothing on
  its list; ``heap:map-free-sync``: map_free's last synchronize_rcu() waits for every
  CPU still on one of its selems), and what lies ahead of each walk's cursor through
  stale ``->next`` chains (``heap:next-older``, ``heap:ahead-*``, ``heap:walk-*``: not
  visited, readable, on the walk's own list, nobody in nofail on a freed one);
* nobody racing (``heap:solo-*``, generated only when the world has one CPU or no
  map_free: each storage then has one owner ext, whose last put destroys it on one CPU,
  and no kfunc reaches a storage another CPU destroys): with nobody to race,
  bpf_selem_unlink_nofail() finds its selem fully linked and unlinks both sides itself,
  map_free's pin always succeeds and ``owner_refcnt`` is exactly 1 plus that pin, a
  destroy's storage is freed by its last nofail before the unpin, and each walk's cursor
  stays at the head of what is left of its list.

And one stronger form of a goal (:func:`goal_lemmas`): ``heap:no-leak-within`` is
``no_leak`` with those short walks, so that no path is asked about the goal itself.

Where another CPU can interleave, a lemma names the exception (a CPU in nofail on the
same selem, a map_free on another CPU) rather than assume a one-CPU world.  Status
(2026-12-01): every lemma holds on every state of the one-packet world of
``rfc-refcnt-guard`` without ``ext_del`` and on the first states of its two-CPU,
two-map and two-packet-two-CPU worlds (tests/test_prove.py).  With one CPU, Houdini
keeps all of them and they prove all five goals (PROOF_LOG.md, "Heap lemmas"), and with two
CPUs on one or two packets, map_free included (without ``ext_del``).  With ``rfc-fix``
the same holds with ``skb_ext_del`` in the world (every state of its one-packet world;
Houdini keeps them all and proves the five goals with one CPU, with two CPUs on two
packets with every op kind, and with three CPUs on two packets when the world has no
map_free).  Since the ghost ``g_ls`` (2026-12-02), also with three CPUs on two packets
with every op kind: a third CPU lets two destroys of two storages run next to a
map_free, and only the ghost says that their walks never meet on one selem.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from types import SimpleNamespace

from model import bpf_local_storage as ls
from model.bpf_skb_storage import (
    delete,
    delete_looked_up,
    get,
    get_ext_reset,
    get_looked_up,
    get_updated,
    skb_storage_free_done,
)
from model.layout import (
    MAP_ALIVE,
    MAP_FREED,
    MAP_FREEING,
    MAP_NONE,
    MEM_FREED,
    MEM_LIVE,
    MEM_NONE,
    MEM_RCU,
    NBUCKETS,
    PPREV_HEAD,
    SELEM_MAP_UNLINKED,
    SELEM_STORAGE_UNLINKED,
    SELEM_TOFREE,
    SELEM_UNLINKED,
    SKB_EXT_BPF_STORAGE,
)
from model.skbuff import skb_ext_free

from .lemmas import _DEREF_ARGS, REG_POINTERS, _codes, _steps, lost_publish
from .properties import _PC_EXT_ADDED, _PC_EXT_RESET, Props

_NOFAIL = _steps(ls.nofail)
_UNLINK = _steps(ls.unlink)
_UNLINK_HELD = _codes(ls.unlink_misc_cache, ls.unlink_misc_owner, ls.unlink_storage)
# bpf_selem_unlink_map(), run with the storage lock held, before the map unlink
_UNLINK_MAP = _codes(ls.unlink_map_ls, ls.unlink_map)
_C_UNLINK_MAP = _UNLINK_MAP[1]
_DESTROY = _steps(ls.destroy)
_MAP_FREE = _steps(ls.map_free)
_KFUNC = _steps(get, delete, ls.lookup)
_READ_ONLY_KFUNC = _steps(delete, ls.lookup)  # (no bpf_local_storage_update())
(_C_UNLINK, _C_UNLINK_LS, _C_UNLINK_LOCKED, _C_UNLINK_STORAGE, _C_MISC_CACHE,
 _C_MISC_OWNER) = _codes(ls.selem_unlink, ls.selem_unlink_ls, ls.selem_unlink_locked,
                         ls.unlink_storage, ls.unlink_misc_cache, ls.unlink_misc_owner)
_BEFORE_LOCK = (_C_UNLINK, _C_UNLINK_LS, _C_UNLINK_LOCKED)  # bpf_selem_unlink(), unlocked
(_C_NOFAIL_START, _C_CLEAR_SMAP, _C_NOFAIL_STATE, _C_NOFAIL_FREE, _C_DESTROY_NEXT,
 _C_MAP_FREE_FINISH) = _codes(ls.nofail_start, ls.nofail_clear_smap, ls.nofail_state,
                              ls.nofail_free, ls.destroy_next, ls.map_free_finish)
# bpf_selem_unlink_nofail()'s steps, in the order a run without lock failures takes them
_PRE_MAP = _codes(ls.nofail_start, ls.nofail_smap, ls.nofail_map)
_NOFAIL_HELD = _codes(ls.nofail_pin, ls.nofail_owner, ls.nofail_unpin, ls.nofail_unlink_storage)
_NOFAIL_AFTER_OWNER = _codes(ls.nofail_unpin, ls.nofail_unlink_storage)
_NOFAIL_MID = (_C_CLEAR_SMAP, *_codes(ls.nofail_storage), *_NOFAIL_HELD)  # map side done
_AFTER_CLEAR_LS = (_C_NOFAIL_STATE, _C_NOFAIL_FREE)
_NOFAIL_POST = (*_codes(ls.nofail_clear_ls), *_AFTER_CLEAR_LS)  # both sides done
_AFTER_CLEAR_SMAP = (*_NOFAIL_MID, *_NOFAIL_POST)
_NOFAIL_PAST_START = tuple(c for c in _NOFAIL if c != _C_NOFAIL_START)
_PINNED = _codes(ls.nofail_owner, ls.nofail_unpin)
_C_NOFAIL_OWNER, _C_NOFAIL_UNPIN = _PINNED
# the ext's destroy has returned and the ext still points at the storage: __skb_ext_put
# frees the ext next; with rfc-fix, bpf_skb_storage_get() sets the pointer to NULL next
_AFTER_DESTROY = _codes(skb_storage_free_done, skb_ext_free, get_ext_reset)
_UNPIN = _codes(ls.destroy_unpin, ls.destroy_wait)
_MAP_FREE_NEXT = _codes(ls.map_free_next)
# the two walks (bpf_local_storage_destroy(), bpf_local_storage_map_free()): where they
# run, their cursor register, the ->next they follow
_DWALK = ((_C_DESTROY_NEXT,), "d_cursor", "snext")
_MWALK = (_MAP_FREE_NEXT, "m_cursor", "mnext")
(_C_INSERT_CACHE,) = _codes(ls.insert_cache)
(_C_MAP_FREE_START,) = _codes(ls.map_free_start)
(_C_MAP_FREE_NEXT,) = _MAP_FREE_NEXT
_C_UPDATE_ALLOC, _C_UPDATE_LOCKED = _codes(ls.update_alloc, ls.update_locked)
_RV_SELEM = _codes(get_looked_up, get_updated, delete_looked_up)
_BPF = SKB_EXT_BPF_STORAGE
_REG_DOMAINS = {"s_last": 1, "n_free": 1, "n_unlink": 2, "n_pinned": 1, "l_cacheit": 1,
                "m_bucket": NBUCKETS - 1}


def walk_hops(m) -> dict[str, int]:
    """How far a walk of a storage's list (``snext``) or a bucket's (``mnext``) looks.
    A storage's list holds at most one selem of each map (bpf_local_storage_update()
    returns -EEXIST for a second, bpf_local_storage_alloc() links only the first), a
    bucket's at most one of each storage that hashes to it; one more of each to spare.
    A chain of stale ->next ahead of a walk's cursor is no longer: each selem on it
    was linked when the walk began (nothing is added to a storage being destroyed or a
    map being freed).  ``heap:one-per-map`` and the ``heap:*-ends`` lemmas say so.  A
    bound that is too small makes the lemmas that walk false, so Houdini drops them
    (never a wrong proof); at 4 packets, 2 maps, 3 CPUs walks of #selems hops made
    bpf_selem_unlink_nofail()'s queries 10 to 20 times slower (PROOF_LOG.md, "Shorter
    walks")."""
    L = m.layout
    per_bucket = max(sum(1 for st in range(1, L.storage.n + 1) if st % NBUCKETS == b)
                     for b in range(NBUCKETS))
    return {"snext": min(L.selem.n, L.map.n + 1), "mnext": min(L.selem.n, per_bucket + 1)}


#: the goal each lemma of :func:`goal_lemmas` implies on every state
GOAL_LEMMAS = {"heap:no-leak-within": "no_leak"}


def goal_lemmas(m, E) -> dict[str, Callable]:
    """Stronger forms of goals, cheaper to ask (``check prove --heap-lemmas``; each
    claimed outright, like its goal, and named in ``GOAL_LEMMAS``):
    ``heap:no-leak-within`` is ``no_leak`` in its safety form with the walk of a
    storage's list cut to :func:`walk_hops` nodes (a selem found within them is found
    within #selems), so a path that preserves it preserves ``no_leak``
    (checker/induction.py ``Candidate.implied_by``): the goal as written walks #selems
    hops, and at 4 packets, 2 maps, 3 CPUs its queries were the slowest of a path."""
    p, hops = Props(m, E), walk_hops(m)["snext"]
    return {"heap:no-leak-within": lambda s: p.no_leak_safety(s, hops)}


def heap_lemmas(m, E) -> dict[str, Callable]:
    """The heap:* lemmas of ``m`` over backend ``E`` (see the module docstring), section
    by section: each section below adds its lemmas to ``out``, in this order (the order
    of the candidates), reading the accessors and helpers of :func:`_context`; a helper
    one section defines for a later one goes into ``h`` too."""
    h = _context(m, E)
    out: dict[str, Callable] = {}
    for section in (_pointers, _lists, _owners, _delete,
                    _maps, _list_shape, _ext_destructor, _nofail,
                    _destroy_walk, _cow, _domains):
        section(h, out)
    return out


def _context(m, E) -> SimpleNamespace:
    """What every section of :func:`heap_lemmas` reads: the world's layout and
    ranges, and the accessors and "some CPU is at ..." helpers over backend ``E``."""
    L = m.layout
    p = Props(m, E)
    T = range(1, L.thread.n + 1)
    Q, ST, EX, MAPS = (range(1, tb.n + 1) for tb in (L.selem, L.storage, L.ext, L.map))
    tables = {t.name: t for t in (L.skb, L.ext, L.storage, L.selem, L.map)}
    cslots = [f for f in L.storage.fields if f.startswith("cache")]
    vps = [f for f in L.thread.fields if f.startswith("vp")]
    fix = m.design == "rfc-fix"
    # an open world may leave skb_ext_del out (``check prove --without``); a spec's
    # world is taken to have it
    without = getattr(getattr(m, "size", None), "without", ())
    with_ext_del = "ext_del" not in without
    # nobody races a bpf_selem_unlink_nofail(): one CPU, or no map_free (each storage
    # has one owner ext, whose last put destroys it on one CPU)
    solo = L.thread.n == 1 or "map_free" in without

    # ---- accessors and the "some CPU is at ..." helpers --------------------------------
    def r(s, t, f):
        return s[L.thread.idx(t, f)]

    def sel(s, tb, i, f):
        return E.sel(s, tb, i, f)

    def q_(s, q, f):
        return sel(s, L.selem, q, f)

    def st_(s, st, f):
        return sel(s, L.storage, st, f)

    def e_(s, e, f):
        return sel(s, L.ext, e, f)

    def at(s, t, codes):
        """CPU ``t``'s pc is one of ``codes``."""
        return E.Or(*(r(s, t, "pc") == c for c in codes))

    def cpu_on(s, where, reg, v, others_of=None):
        """Some CPU (other than ``others_of``) is ``where`` (codes it runs or returns to,
        a tuple; or a callable (s, t) -> condition) with register ``reg`` == ``v``."""
        def place(t):
            return where(s, t) if callable(where) else p.within(s, t, where)
        return E.Or(*(E.And(place(t), r(s, t, reg) == v) for t in T if t != others_of))

    def freeing(s, st, others_of=None):
        """Some CPU (other than ``others_of``) is in a bpf_selem_unlink_nofail() that
        unlinked the last selem of ``st`` and will free it (free_storage)."""
        return cpu_on(s, lambda s, u: E.And(p.within(s, u, _NOFAIL), r(s, u, "n_free") != 0),
                      "n_ls", st, others_of)

    def pinning(s, t, st):
        """CPU ``t`` holds map_free's owner_refcnt pin on ``st``."""
        return E.And(at(s, t, _PINNED), r(s, t, "n_pinned") != 0, r(s, t, "n_ls") == st)

    def in_map_free_elsewhere(s, t):
        return E.Or(*(p.within(s, u, _MAP_FREE) for u in T if u != t))

    def readable(s, tb, i, t):
        """CPU ``t`` may touch slot ``i`` (model/kernel.py ``_bad_mem``, and for an RCU
        free, only while it waits for ``t``)."""
        mem = sel(s, tb, i, "mem")
        if tb.name == "map":
            return E.And(mem != MAP_NONE, mem != MAP_FREED)
        if "rcuw" in tb.fields:
            return E.Or(mem == MEM_LIVE, E.And(mem == MEM_RCU,
                                                 (sel(s, tb, i, "rcuw") & (1 << (t - 1))) != 0))
        return mem == MEM_LIVE

    def bucket_first(s, mm, b):
        """``smap->buckets[b].list.first`` for a bucket number ``b`` (an expression)."""
        first = sel(s, L.map, mm, f"b{NBUCKETS - 1}_first")
        for i in reversed(range(NBUCKETS - 1)):
            first = E.If(b == i, sel(s, L.map, mm, f"b{i}_first"), first)
        return first

    def bucket_of(s, q):  # select_bucket(): local_storage % NBUCKETS in the model
        return q_(s, q, "local_storage") % NBUCKETS

    def every(items, pred):
        return lambda s: E.And(*(pred(s, i) for i in items))

    hops = walk_hops(m)

    def walk(s, first, q, nxt):  # q is on the list from ``first`` (``hops[nxt]`` selems)
        return E.Or(*(node == q for node in p.chain(s, first, nxt, hops[nxt])[:-1]))

    def ends(s, first, nxt):  # the walk from ``first`` reads NULL at its last hop
        return p.chain(s, first, nxt, hops[nxt])[-1] == 0

    def bits(s, t):  # (this side's state bit, the other side's): map_free's is MAP_UNLINKED
        in_map_free = r(s, t, "n_bucket") != 0
        return (E.If(in_map_free, SELEM_MAP_UNLINKED, SELEM_STORAGE_UNLINKED),
                E.If(in_map_free, SELEM_STORAGE_UNLINKED, SELEM_MAP_UNLINKED))

    return SimpleNamespace(E=E, EX=EX, L=L, MAPS=MAPS, Q=Q, ST=ST, T=T, at=at, bits=bits,
                           bucket_first=bucket_first, bucket_of=bucket_of, cpu_on=cpu_on,
                           cslots=cslots, e_=e_, ends=ends, every=every, fix=fix,
                           freeing=freeing, hops=hops,
                           in_map_free_elsewhere=in_map_free_elsewhere, m=m, p=p,
                           pinning=pinning, q_=q_, r=r, readable=readable, sel=sel,
                           solo=solo, st_=st_, tables=tables, vps=vps, walk=walk,
                           with_ext_del=with_ext_del, without=without)


def _pointers(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Pointers a CPU dereferences."""
    (E, L, T, every, p, r, readable, tables, vps) = (
        attrgetter("E", "L", "T", "every", "p", "r", "readable", "tables", "vps"))(h)
    def arg_readable(s, t):
        return E.And(*(E.Implies(E.And(p.within(s, t, codes), r(s, t, f) != 0),
                                 lambda f=f: readable(s, tables[REG_POINTERS[f]], r(s, t, f), t))
                       for codes, f in _DEREF_ARGS if f != "a_skb"))
    out["heap:arg-readable"] = every(T, arg_readable)
    out["heap:vp-readable"] = every(T, lambda s, t: E.And(*(E.Implies(
        r(s, t, f) != 0, lambda f=f: E.And(r(s, t, "rcu") != 0,
                                           readable(s, L.selem, r(s, t, f), t)))
        for f in vps)))


def _lists(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Selems on the lists."""
    (E, EX, L, Q, ST, T, at, cpu_on, cslots, e_, every, p, q_, r, readable, st_, vps) = (
        attrgetter("E", "EX", "L", "Q", "ST", "T", "at", "cpu_on", "cslots", "e_", "every", "p",
            "q_", "r", "readable", "st_", "vps"))(h)
    # (lost_publish: a storage whose cmpxchg lost is freed with its first selem on it)
    out["heap:freed-unlinked"] = every(Q, lambda s, q: E.Implies(
        E.Or(q_(s, q, "mem") == MEM_RCU, q_(s, q, "mem") == MEM_FREED),
        lambda: E.And(E.Or(q_(s, q, "spprev") == 0, lost_publish(E, L, s, q)),
                      q_(s, q, "mpprev") == 0)))
    # ... and nothing reaches that storage or selem: the storage was never published
    # (no ext, CPU or selem names it) and the selem left the map in the same step
    def lost_unreached(s, q):
        st = q_(s, q, "local_storage")
        return E.And(
            *(e_(s, e, "storage") != st for e in EX),
            *(q_(s, o, "local_storage") != st for o in Q if o != q),
            *(st_(s, x, c) != q for x in ST for c in cslots),
            *(r(s, t, f) != (st if tt == "storage" else q) for t in T
              for f, tt in REG_POINTERS.items() if tt in ("storage", "selem")),
            *(r(s, t, f) != q for t in T for f in vps),
            *(E.Implies(at(s, t, _RV_SELEM), lambda t=t: r(s, t, "rv") != q) for t in T))
    out["heap:lost-unreached"] = every(Q, lambda s, q: E.Implies(
        lost_publish(E, L, s, q), lambda: lost_unreached(s, q)))
    out["heap:map-linked"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "mpprev") != 0, lambda: E.And(q_(s, q, "spprev") != 0, q_(s, q, "smap") != 0)))
    out["heap:storage-linked"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "spprev") != 0, lambda: E.And(
            q_(s, q, "local_storage") != 0,
            E.Or(st_(s, q_(s, q, "local_storage"), "mem") == MEM_LIVE,
                 lost_publish(E, L, s, q)))))
    out["heap:live-unlinked"] = every(Q, lambda s, q: E.Implies(
        E.And(q_(s, q, "mem") == MEM_LIVE, q_(s, q, "spprev") == 0),
        lambda: cpu_on(s, _NOFAIL, "n_selem", q)))

    def destroying(s, st):
        return cpu_on(s, _DESTROY, "d_storage", st)

    out["heap:owner-refcnt"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner_refcnt") == 0),
        lambda: cpu_on(s, lambda s, t: E.And(p.within(s, t, _NOFAIL),
                                             p.within(s, t, _MAP_FREE)), "n_ls", st)))

    # owner_refcnt drops to 0 only in bpf_local_storage_destroy(), after its walk has
    # unlinked every selem from the storage (each nofail it calls unlinks the storage
    # side), so a live storage whose count is 0 has an empty list
    out["heap:zero-refcnt-empty"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner_refcnt") == 0),
        lambda: st_(s, st, "first") == 0))

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
        nl, v = r(s, t, "n_ls"), q_(s, r(s, t, "n_selem"), "local_storage")
        return E.Implies(E.And(p.within(s, t, _NOFAIL), r(s, t, "pc") != _C_NOFAIL_START),
                         lambda: E.And(E.Or(nl != 0, v == 0), E.Or(v == 0, v == nl)))
    out["heap:nofail-ls"] = every(T, nofail_ls)
    # (the storage nofail read from selem->local_storage is the one the selem was
    # linked into, the ghost g_ls, which stays when the pointer is cleared)
    out["heap:nofail-g-ls"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL), r(s, t, "n_ls") != 0),
        lambda: r(s, t, "n_ls") == q_(s, r(s, t, "n_selem"), "g_ls")))
    out["heap:nofail-sm"] = every(T, lambda s, t: E.Implies(
        at(s, t, _codes(ls.nofail_map, ls.nofail_clear_smap)), lambda: E.And(
            r(s, t, "n_sm") != 0, E.Or(q_(s, r(s, t, "n_selem"), "smap") == r(s, t, "n_sm"),
                                      q_(s, r(s, t, "n_selem"), "smap") == 0))))
    out["heap:nofail-regs"] = every(T, nofail_regs)
    out["heap:rv-selem"] = every(T, lambda s, t: E.Implies(
        E.And(at(s, t, _RV_SELEM), r(s, t, "rv") != 0),
        lambda: readable(s, L.selem, r(s, t, "rv"), t)))
    out["heap:g-storage"] = every(T, lambda s, t: E.Implies(
        r(s, t, "g_storage") != 0, lambda: readable(s, L.storage, r(s, t, "g_storage"), t)))

    h.destroying = destroying


def _owners(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Owners and cache slots."""
    (E, EX, L, Q, ST, T, at, cpu_on, cslots, destroying, e_, every, p, q_, r, readable, sel,
     st_) = (
        attrgetter("E", "EX", "L", "Q", "ST", "T", "at", "cpu_on", "cslots", "destroying", "e_",
            "every", "p", "q_", "r", "readable", "sel", "st_"))(h)
    out["heap:storage-owner"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner") != 0,
              st_(s, st, "owner_refcnt") != 0),
        lambda: E.And(e_(s, st_(s, st, "owner"), "mem") == MEM_LIVE,
                      e_(s, st_(s, st, "owner"), "storage") == st)))
    out["heap:ext-storage"] = every(EX, lambda s, e: E.Implies(
        E.And(e_(s, e, "mem") == MEM_LIVE, e_(s, e, "storage") != 0,
              E.Not(destroying(s, e_(s, e, "storage"))),
              E.Not(cpu_on(s, lambda s, t: at(s, t, _AFTER_DESTROY), "p_ext", e)),
              *(r(s, t, "x_new") != e for t in T)),
        lambda: E.And(st_(s, e_(s, e, "storage"), "mem") == MEM_LIVE,
                      st_(s, e_(s, e, "storage"), "owner") == e)))
    out["heap:cache"] = every(ST, lambda s, st: E.And(*(E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, c) != 0, E.Not(destroying(s, st)),
              st_(s, st, "owner_refcnt") != 0),
        lambda c=c: E.And(q_(s, st_(s, st, c), "mem") == MEM_LIVE,
                          q_(s, st_(s, st, c), "local_storage") == st,
                          q_(s, st_(s, st, c), "spprev") != 0)) for c in cslots)))
    # a kfunc may read what the cache slots of the storage it looked up point to, even
    # once a map_free of another map has freed that storage (the selems it had then were
    # unlinked with their slots cleared, or are freed after the kfunc read the storage)
    out["heap:cache-readable"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _READ_ONLY_KFUNC), r(s, t, "g_storage") != 0),
        lambda: E.And(*(E.Implies(
            st_(s, r(s, t, "g_storage"), c) != 0,
            lambda c=c: readable(s, L.selem, st_(s, r(s, t, "g_storage"), c), t))
            for c in cslots))))
    # ... and the slot of the kfunc's own map holds a selem still on that storage's list:
    # only this CPU's delete unlinks a selem of the map (clearing the slot; the map is
    # alive, so no map_free of it), and no destroy runs on the storage of a live ext
    def own_slot(s, t):
        gs = r(s, t, "g_storage")
        idx = sel(s, L.map, r(s, t, "a_map"), "cache_idx")
        return E.Implies(E.And(p.within(s, t, _READ_ONLY_KFUNC), gs != 0), lambda: E.And(*(
            E.Implies(E.And(idx == i, st_(s, gs, c) != 0),
                      lambda c=c: E.And(q_(s, st_(s, gs, c), "local_storage") == gs,
                                        q_(s, st_(s, gs, c), "spprev") != 0,
                                        q_(s, st_(s, gs, c), "mem") == MEM_LIVE))
            for i, c in enumerate(cslots))))
    out["heap:cache-own-slot"] = every(T, own_slot)
    # the storage a kfunc read is owned by the ext it read it from (or has no owner
    # left: the last selem's unlink cleared it), also once get's update has published
    # a new one (a storage's owner is set when it is allocated, and only ever cleared)
    # (and so is the storage get's update read from the owner's pointer)
    def owned_by_g_ext(reg):
        return every(T, lambda s, t: E.Implies(
            E.And(p.within(s, t, _KFUNC), r(s, t, reg) != 0), lambda: E.Or(
                st_(s, r(s, t, reg), "owner") == r(s, t, "g_ext"),
                st_(s, r(s, t, reg), "owner") == 0)))
    out["heap:g-storage-owner"] = owned_by_g_ext("g_storage")
    out["heap:u-storage-owner"] = owned_by_g_ext("u_storage")
    # a slot caches a selem of its own storage (found on its list; slots are not copied)
    out["heap:cache-g-ls"] = every(ST, lambda s, st: E.And(*(E.Implies(
        st_(s, st, c) != 0, lambda c=c: q_(s, st_(s, st, c), "g_ls") == st) for c in cslots)))
    # a selem is cached only in its map's slot (smap->cache_idx), so unlinking it clears
    # every slot that holds it
    # (g_map: the map the selem was allocated for, a ghost that outlives smap)
    out["heap:cache-idx"] = every(ST, lambda s, st: E.And(*(E.Implies(
        st_(s, st, c) != 0, lambda i=i, c=c: E.And(
            q_(s, st_(s, st, c), "mem") != 0,
            sel(s, L.map, q_(s, st_(s, st, c), "g_map"), "cache_idx") == i))
        for i, c in enumerate(cslots))))
    out["heap:map-free-own"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL), p.within(s, t, _MAP_FREE)),
        lambda: q_(s, r(s, t, "n_selem"), "g_map") == r(s, t, "a_map")))
    out["heap:g-map"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "smap") != 0, lambda: q_(s, q, "smap") == q_(s, q, "g_map")))


def _delete(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """bpf_selem_unlink() (delete), and what no other CPU does meanwhile."""
    (E, EX, L, Q, ST, T, at, cpu_on, cslots, e_, every, p, q_, r, st_) = (
        attrgetter("E", "EX", "L", "Q", "ST", "T", "at", "cpu_on", "cslots", "e_", "every", "p",
            "q_", "r", "st_"))(h)
    def held(s, t):
        q, sl = r(s, t, "g_sdata"), r(s, t, "s_ls")
        return E.Implies(p.within(s, t, _UNLINK_HELD), lambda: E.And(
            sl != 0, st_(s, sl, "lock") == t, st_(s, sl, "mem") == MEM_LIVE,
            q_(s, q, "mem") == MEM_LIVE, q_(s, q, "spprev") != 0, q_(s, q, "mpprev") == 0,
            q_(s, q, "local_storage") == sl,
            q_(s, q, "smap") == r(s, t, "a_map"), r(s, t, "a_map") != 0,
            (r(s, t, "s_last") != 0) == E.And(q_(s, q, "spprev") == PPREV_HEAD,
                                             q_(s, q, "snext") == 0)))

    def before_lock(s, t):
        q = r(s, t, "g_sdata")
        return E.Implies(at(s, t, _BEFORE_LOCK), lambda: E.And(
            q != 0, q_(s, q, "mem") == MEM_LIVE, q_(s, q, "spprev") != 0,
            q_(s, q, "mpprev") != 0, q_(s, q, "smap") == r(s, t, "a_map")))

    def map_held(s, t):  # bpf_selem_unlink_map(): storage locked, map_node still hashed
        q, sl = r(s, t, "g_sdata"), r(s, t, "s_ls")
        return E.Implies(at(s, t, _UNLINK_MAP), lambda: E.And(
            sl != 0, st_(s, sl, "lock") == t, st_(s, sl, "mem") == MEM_LIVE,
            q_(s, q, "mem") == MEM_LIVE, q_(s, q, "spprev") != 0, q_(s, q, "mpprev") != 0,
            q_(s, q, "local_storage") == sl,
            q_(s, q, "smap") == r(s, t, "a_map"), r(s, t, "a_map") != 0,
            E.Implies(r(s, t, "pc") == _C_UNLINK_MAP, lambda: r(s, t, "s_mls") == sl)))

    def last(s, t):
        sl, q = r(s, t, "s_ls"), r(s, t, "g_sdata")
        return E.And(
            E.Implies(at(s, t, (_C_UNLINK_STORAGE, _C_MISC_OWNER)),
                      lambda: E.And(*(st_(s, sl, c) != q for c in cslots))),
            E.Implies(r(s, t, "pc") == _C_MISC_OWNER, lambda: r(s, t, "s_last") != 0),
            E.Implies(E.And(r(s, t, "pc") == _C_UNLINK_STORAGE, r(s, t, "s_last") != 0),
                      lambda: E.And(st_(s, sl, "owner") == 0, *(
                          E.Implies(e_(s, e, "mem") == MEM_LIVE,
                                    lambda e=e: e_(s, e, "storage") != sl) for e in EX))),
            E.Implies(at(s, t, (_C_MISC_CACHE, _C_MISC_OWNER)),
                      lambda: E.And(st_(s, sl, "owner") != 0, st_(s, sl, "owner_refcnt") != 0)))
    out["heap:unlink-held"] = every(T, held)
    out["heap:unlink-before-lock"] = every(T, before_lock)
    out["heap:unlink-map-held"] = every(T, map_held)
    # bpf_selem_unlink() works on the storage its kfunc looked up
    out["heap:unlink-ls"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _UNLINK), lambda: E.And(
            r(s, t, "g_storage") != 0,
            E.Implies(r(s, t, "s_ls") != 0, lambda: r(s, t, "s_ls") == r(s, t, "g_storage")),
            E.Implies(at(s, t, _BEFORE_LOCK), lambda: q_(
                s, r(s, t, "g_sdata"), "local_storage") == r(s, t, "g_storage")))))
    if L.thread.n > 1:
        _exclusive(h, out)
    out["heap:unlink-last"] = every(T, last)

    def holder(s, st):
        lk = st_(s, st, "lock")
        return E.Implies(lk != 0, lambda: E.Or(*(E.And(lk == t, E.Or(
            E.And(p.within(s, t, (*_UNLINK_MAP, *_UNLINK_HELD)), r(s, t, "s_ls") == st),
            E.And(at(s, t, _NOFAIL_HELD), r(s, t, "n_ls") == st))) for t in T)))
    out["heap:lock-holder"] = every(ST, holder)

    def ownerless(s, st):  # the CPU that cleared local_storage->owner (last selem)
        return E.Or(
            cpu_on(s, lambda s, t: E.And(r(s, t, "pc") == _C_UNLINK_STORAGE,
                                         r(s, t, "s_last") != 0), "s_ls", st),
            cpu_on(s, lambda s, t: E.And(at(s, t, _NOFAIL_AFTER_OWNER), r(s, t, "n_free") != 0),
                   "n_ls", st))
    out["heap:storage-has-owner"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "first") != 0, E.Not(ownerless(s, st))),
        lambda: st_(s, st, "owner") != 0))
    out["heap:storage-not-map"] = every(Q, lambda s, q: E.Implies(
        E.And(q_(s, q, "spprev") != 0, E.Or(q_(s, q, "mpprev") == 0, q_(s, q, "smap") == 0),
              E.Not(lost_publish(E, L, s, q))),
        lambda: E.Or(cpu_on(s, _UNLINK_HELD, "g_sdata", q), cpu_on(s, _NOFAIL, "n_selem", q))))


def _exclusive(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Two or more CPUs: what no other CPU's kfunc, destroy or nofail does."""
    (E, T, cpu_on, every, freeing, p, r, solo) = (
        attrgetter("E", "T", "cpu_on", "every", "freeing", "p", "r", "solo"))(h)
    def pairs(pred):  # pred(s, t, u) for every two CPUs t < u
        return lambda s: E.And(*(pred(s, t, u) for t in T for u in T if t < u))

    # the sharing guard passed on an ext of refcnt 1 and the packet is this CPU's:
    # no other CPU's kfunc or destroy reaches the storage a kfunc looked up, nor
    # the one bpf_local_storage_update() links into
    def kfunc_exclusive(s, t):
        g, us = r(s, t, "g_storage"), r(s, t, "u_storage")
        return E.And(
            E.Implies(E.And(p.within(s, t, _KFUNC), g != 0), lambda: E.Not(E.Or(
                cpu_on(s, _KFUNC, "g_storage", g, others_of=t),
                cpu_on(s, _DESTROY, "d_storage", g, others_of=t)))),
            E.Implies(r(s, t, "pc") == _C_UPDATE_LOCKED, lambda: E.Not(
                cpu_on(s, _DESTROY, "d_storage", us, others_of=t))))
    out["heap:kfunc-exclusive"] = every(T, kfunc_exclusive)

    def same_selem_nofails(s, t, u):
        return E.And(p.within(s, t, _NOFAIL), p.within(s, u, _NOFAIL),
                     r(s, t, "n_selem") == r(s, u, "n_selem"))

    # one owner ext per storage (heap:ext-unique) and one last put per ext: no two
    # CPUs destroy one storage; so a selem is in at most two nofails, its
    # destroy's and a map_free's (map_free_start runs once per map)
    def one_destroy(s, t):
        return E.Implies(p.within(s, t, _DESTROY), lambda: E.Not(
            cpu_on(s, _DESTROY, "d_storage", r(s, t, "d_storage"), others_of=t)))

    def two_sides(s, t, u):
        tb, ub = r(s, t, "n_bucket"), r(s, u, "n_bucket")
        return E.Implies(same_selem_nofails(s, t, u), lambda: E.Or(
            E.And(tb == 0, ub != 0), E.And(tb != 0, ub == 0)))
    out["heap:walks-exclusive"] = lambda s: E.And(every(T, one_destroy)(s),
                                                  pairs(two_sides)(s))

    # a destroy and a map_free in nofail on one selem: each side is unlinked once,
    # under its lock, by one of them (selem_linked_to_map/_storage), and both read
    # the same selem->local_storage (it only ever goes to NULL)
    out["heap:nofail-pair"] = pairs(lambda s, t, u: E.Implies(
        same_selem_nofails(s, t, u), lambda: E.And(
            E.ULE(r(s, t, "n_unlink") + r(s, u, "n_unlink"), 2),
            E.Implies(E.And(r(s, t, "n_ls") != 0, r(s, u, "n_ls") != 0),
                      lambda: r(s, t, "n_ls") == r(s, u, "n_ls")))))

    # free_storage is set under the storage lock by the one that unlinks the last
    # selem: at most one CPU in nofail is going to free a given storage
    out["heap:nofail-free-one"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL), r(s, t, "n_free") != 0),
        lambda: E.Not(freeing(s, r(s, t, "n_ls"), others_of=t))))

    h.pairs = pairs
    h.same_selem_nofails = same_selem_nofails
    # a destroy and a map_free racing in bpf_selem_unlink_nofail() (two or more CPUs
    # and map_free in the world; without map_free only a destroy unlinks)
    if not solo:
        _nofail_race(h, out)


def _nofail_race(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """A destroy and a map_free racing in bpf_selem_unlink_nofail() (two or
    more CPUs and map_free in the world): the unlink counts and state bits."""
    (E, Q, T, at, bits, cpu_on, every, p, q_, r) = (
        attrgetter("E", "Q", "T", "at", "bits", "cpu_on", "every", "p", "q_", "r"))(h)
    # heap:solo-nofail for two sides: a side of the selem is unlinked by whoever
    # finds it linked under its lock, and counted in that CPU's ``unlink`` in the
    # same step; so until a side that set its state bit returns, the sides unlinked
    # are the counts of the CPUs in nofail on it, and each count is what the CPU's
    # steps so far could have unlinked (free_storage: it unlinked the storage side)
    def nofail_count(s, t):
        nu, pc = r(s, t, "n_unlink"), r(s, t, "pc")
        return E.Implies(p.within(s, t, _NOFAIL), lambda: E.And(
            E.ULE(nu, 2), E.Implies(at(s, t, _PRE_MAP), lambda: nu == 0),
            E.Implies(E.Or(pc == _C_CLEAR_SMAP, at(s, t, _codes(ls.nofail_storage)),
                           at(s, t, _NOFAIL_HELD)), lambda: E.ULE(nu, 1)),
            E.Implies(E.And(at(s, t, _NOFAIL_POST), r(s, t, "n_free") != 0),
                      lambda: nu != 0)))

    def sides_counted(s, q):
        def here(t):
            return E.And(p.within(s, t, _NOFAIL), r(s, t, "n_selem") == q)
        unl = (E.If(q_(s, q, "mpprev") == 0, 1, 0) + E.If(q_(s, q, "spprev") == 0, 1, 0))
        counts = E.Sum(E.If(here(t), r(s, t, "n_unlink"), 0) for t in T)
        state = q_(s, q, "state")
        # a side that set its bit and returned no longer counts; before it returns
        # (at the free step) it still does
        own_bits = E.And(*(E.Or((state & b) == 0, E.Or(*(
            E.And(here(t), (bits(s, t)[0] & b) != 0) for t in T)))
            for b in (SELEM_MAP_UNLINKED, SELEM_STORAGE_UNLINKED)))
        return E.Implies(E.And(q_(s, q, "mem") == MEM_LIVE,
                               cpu_on(s, _NOFAIL, "n_selem", q), own_bits),
                         lambda: unl == counts)

    out["heap:nofail-count"] = lambda s: E.And(every(T, nofail_count)(s),
                                               every(Q, sides_counted)(s))

    # each side clears smap before local_storage (the map step comes first), and the
    # one that sets its state bit has seen both sides unlinked and both cleared
    out["heap:nofail-ls-sm"] = lambda s: E.And(
        every(T, lambda s, t: E.Implies(
            E.And(p.within(s, t, _NOFAIL), E.Not(at(s, t, _codes(ls.nofail_start,
                                                                  ls.nofail_smap))),
                  r(s, t, "n_ls") == 0), lambda: r(s, t, "n_sm") == 0))(s),
        every(Q, lambda s, q: E.Implies(
            E.And(cpu_on(s, _NOFAIL, "n_selem", q), q_(s, q, "local_storage") == 0),
            lambda: q_(s, q, "smap") == 0))(s))
    out["heap:state-done"] = every(Q, lambda s, q: E.Implies(
        E.And(q_(s, q, "mem") == MEM_LIVE, q_(s, q, "state") != 0), lambda: E.And(
            q_(s, q, "mpprev") == 0, q_(s, q, "spprev") == 0, q_(s, q, "smap") == 0,
            q_(s, q, "local_storage") == 0)))

    # a selem freed while another side is in nofail on it was freed by a side that
    # unlinked both (unlink == 2: no state bit; the one still in nofail unlinked
    # nothing and only its own bit is ever set), or by the other side's cmpxchg
    # after both bits were set
    out["heap:nofail-freed"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL),
              q_(s, r(s, t, "n_selem"), "mem") != MEM_LIVE), lambda: E.Or(
            E.And(r(s, t, "n_unlink") == 0, E.Or(
                q_(s, r(s, t, "n_selem"), "state") == 0,
                q_(s, r(s, t, "n_selem"), "state") == bits(s, t)[0])),
            E.And(r(s, t, "pc") == _C_NOFAIL_FREE,
                  q_(s, r(s, t, "n_selem"), "state") == SELEM_TOFREE))))

    _race_walks(h, out)
    _race_sync(h, out)
    _race_ahead(h, out)


def _race_walks(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """The race's two walks, destroy's and map_free's, with another CPU
    interleaving: where they end, and that they never loop."""
    (E, Q, T, every, p, pairs, q_, r, walk) = (
        attrgetter("E", "Q", "T", "every", "p", "pairs", "q_", "r", "walk"))(h)
    # the walks with another CPU interleaving: the selem a walk is back from is
    # unlinked on both sides with both pointers cleared, and every selem still
    # linked on the walk's list is reached from the cursor's ->next (an unlink
    # keeps ->next, nothing is added to a storage being destroyed or a map being
    # freed), so neither walk ends with a linked selem behind it
    def walk_done(s, t, pc, reg):
        c = r(s, t, reg)
        return E.Implies(r(s, t, "pc") == pc, lambda: E.And(c != 0, *(
            q_(s, c, f) == 0 for f in ("spprev", "mpprev", "smap", "local_storage"))))
    out["heap:walk-done"] = every(T, lambda s, t: E.And(
        walk_done(s, t, _C_DESTROY_NEXT, "d_cursor"),
        walk_done(s, t, _C_MAP_FREE_NEXT, "m_cursor")))

    # slots are allocated lowest first and never reused, lists grow at the head
    # (hlist_add_head_rcu) and an unlink keeps ->next: every ->next, stale or
    # not, points at an older selem, so a walk through freed selems never loops
    out["heap:next-older"] = every(Q, lambda s, q: E.And(*(
        E.Or(q_(s, q, nxt) == 0, E.UGT(q, q_(s, q, nxt))) for nxt in ("snext", "mnext"))))

    # slab.alloc() takes the lowest never-used slot: the used selem slots are a
    # prefix (what heap:next-older rests on)
    out["heap:alloc-prefix"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mem") == MEM_NONE, lambda q=q: q_(s, q + 1, "mem") == MEM_NONE)
        for q in Q if q + 1 in Q))

    # the selem after the cursor was not visited by this walk: if it is already
    # freed, the other side freed it with unlink == 2, setting no state bit
    def walk_next_freed(s, t, where, reg, nxt):
        c = r(s, t, reg)
        n = q_(s, c, nxt)
        return E.Implies(E.And(p.within(s, t, where), c != 0, n != 0,
                               q_(s, n, "mem") != MEM_LIVE), lambda: q_(s, n, "state") == 0)
    out["heap:walk-next-freed"] = every(T, lambda s, t: E.And(
        walk_next_freed(s, t, *_DWALK),
        walk_next_freed(s, t, *_MWALK)))

    def each_ahead(s, t, where, reg, nxt, pred):  # pred(q) for all ahead of the cursor
        c = r(s, t, reg)
        return E.Implies(E.And(p.within(s, t, where), c != 0), lambda: E.And(*(
            E.Implies(walk(s, q_(s, c, nxt), q, nxt), lambda q=q: pred(q)) for q in Q)))

    # bpf_local_storage_map_free() runs once per map (the map's last reference)
    out["heap:map-free-one"] = pairs(lambda s, t, u: E.Not(E.And(
        p.within(s, t, _MAP_FREE), p.within(s, u, _MAP_FREE),
        r(s, t, "a_map") == r(s, u, "a_map"))))

    # a ->mnext, stale or not, stays in its map: set by hlist_add_head_rcu() to the
    # bucket's first and by an unlink to the unlinked one's ->mnext
    out["heap:mnext-g-map"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "mnext") != 0, lambda: E.And(
            q_(s, q, "g_map") != 0,
            q_(s, q_(s, q, "mnext"), "g_map") == q_(s, q, "g_map"))))
    # ... so map_free's cursor, from its own map's bucket, stays in that map (two
    # map_frees of two maps walk two sets of selems, stale ->mnext included)
    out["heap:map-cursor-g-map"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _MAP_FREE_NEXT), r(s, t, "m_cursor") != 0),
        lambda: q_(s, r(s, t, "m_cursor"), "g_map") == r(s, t, "a_map")))

    h.each_ahead = each_ahead


def _race_sync(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """The race and map_free's synchronize_rcu() and owner pin: what it waits
    for, and what stays readable or left behind."""
    (E, EX, L, Q, ST, T, at, cpu_on, e_, every, p, q_, r, readable, st_) = (
        attrgetter("E", "EX", "L", "Q", "ST", "T", "at", "cpu_on", "e_", "every", "p", "q_", "r",
            "readable", "st_"))(h)
    # the ghost g_cleared names the map whose map_free cleared the owner's
    # pointer; no ext points at the storage after that, so no destroy of it
    # starts after that map_free's last synchronize_rcu() started
    out["heap:cleared-unreached"] = every(ST, lambda s, st: E.Implies(
        st_(s, st, "g_cleared") != 0, lambda: E.And(*(
            E.Implies(e_(s, e, "mem") == MEM_LIVE, lambda e=e: e_(s, e, "storage") != st)
            for e in EX))))

    # map_free's last synchronize_rcu() started after its walk found every bucket
    # empty: a CPU still in nofail on a selem of the map, or a destroy whose
    # ext's storage pointer map_free's misc cleared, began its read-side section
    # before, so map_free waits for it
    def synced(s, t, u):
        return (r(s, t, "sync") & (1 << (u - 1))) != 0

    def map_free_sync(destroy_cond):
        """At map_free's finish, every other CPU in nofail on a selem of the map,
        and in a destroy with ``destroy_cond(s, t, u)``, was waited for."""
        return every(T, lambda s, t: E.Implies(
            r(s, t, "pc") == _C_MAP_FREE_FINISH, lambda: E.And(*(E.And(
                E.Implies(E.And(p.within(s, u, _NOFAIL), E.Or(
                    r(s, u, "n_sm") == r(s, t, "a_map"),
                    q_(s, r(s, u, "n_selem"), "smap") == r(s, t, "a_map"))),
                    lambda u=u: synced(s, t, u)),
                E.Implies(E.And(p.within(s, u, _DESTROY), destroy_cond(s, t, u)),
                          lambda u=u: synced(s, t, u)))
                for u in T if u != t))))
    out["heap:map-free-sync"] = map_free_sync(
        lambda s, t, u: e_(s, r(s, u, "p_ext"), "storage") != r(s, u, "d_storage"))
    # with two maps, the destroys it waited for are those whose pointer its own
    # misc cleared (the ghost g_cleared): the other map's map_free may clear one
    # after this one's synchronize_rcu() started
    out["heap:map-free-sync-cleared"] = map_free_sync(
        lambda s, t, u: st_(s, r(s, u, "d_storage"), "g_cleared") == r(s, t, "a_map"))

    # the storage nofail read from selem->local_storage stays readable: the one
    # that frees it (call_rcu) cleared the last selem's pointer first, and another
    # side still pointing at it read it in a read-side section the free waits for
    out["heap:nofail-ls-readable"] = every(T, lambda s, t: E.And(
        E.Implies(E.And(p.within(s, t, _NOFAIL_PAST_START), r(s, t, "n_ls") != 0),
                  lambda: readable(s, L.storage, r(s, t, "n_ls"), t)),
        E.Implies(E.And(r(s, t, "pc") == _C_NOFAIL_START,
                        q_(s, r(s, t, "n_selem"), "local_storage") != 0),
                  lambda: readable(s, L.storage,
                                   q_(s, r(s, t, "n_selem"), "local_storage"), t))))

    # map_free's misc found owner_refcnt 0 (refcount_inc_not_zero() failed: the
    # destroy already dropped the owner's reference) and skipped clearing the
    # owner; nothing raises a zero owner_refcnt again
    out["heap:nofail-unpinned"] = every(T, lambda s, t: E.Implies(
        E.And(at(s, t, (*_codes(ls.nofail_unlink_storage), *_NOFAIL_POST)),
              r(s, t, "n_bucket") != 0, r(s, t, "n_sm") != 0,
              r(s, t, "n_free") != 0, r(s, t, "n_pinned") == 0),
        lambda: st_(s, r(s, t, "n_ls"), "owner_refcnt") == 0))

    # nofail_map() runs only with the smap it loaded: a side that read NULL (the
    # other side cleared it) unlinks at most the storage side
    out["heap:nofail-sm-count"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL), r(s, t, "n_sm") == 0),
        lambda: E.And(E.ULE(r(s, t, "n_unlink"), 1), E.Implies(
            at(s, t, (*_PRE_MAP, *_NOFAIL_MID)), lambda: r(s, t, "n_unlink") == 0))))

    # heap:destroy-empty with two sides: a destroy past its walk left on its list
    # only the selem whose storage side the map_free in nofail on it still holds
    out["heap:destroy-left"] = every(T, lambda s, t: E.Implies(
        at(s, t, _UNPIN), lambda: E.And(*(E.Implies(
            E.And(q_(s, q, "spprev") != 0,
                  q_(s, q, "local_storage") == r(s, t, "d_storage")),
            lambda q=q: cpu_on(s, _NOFAIL, "n_selem", q, others_of=t)) for q in Q))))


def _race_ahead(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """The race's cursors: what lies at and ahead of a walk's cursor."""
    (E, EX, L, Q, ST, T, at, bucket_of, cpu_on, destroying, e_, each_ahead, ends, every, p,
     pairs, q_, r, readable, same_selem_nofails, st_, walk) = (
        attrgetter("E", "EX", "L", "Q", "ST", "T", "at", "bucket_of", "cpu_on", "destroying",
            "e_", "each_ahead", "ends", "every", "p", "pairs", "q_", "r", "readable",
            "same_selem_nofails", "st_", "walk"))(h)
    # a destroy's cursor is on its storage: what a CPU in nofail on it loaded from
    # ->local_storage is that storage or NULL (the destroy's own nofail, and a
    # map_free's on the same selem, during and after the destroy's)
    def on_cursor_ls(s, t, u):  # at the cursor or ahead of it (stale ->snext too)
        c, q = r(s, t, "d_cursor"), r(s, u, "n_selem")
        return E.Implies(
            E.And(p.within(s, t, _DESTROY), c != 0, p.within(s, u, _NOFAIL),
                  E.Or(q == c, walk(s, q_(s, c, "snext"), q, "snext"))),
            lambda: E.Or(r(s, u, "n_ls") == 0, r(s, u, "n_ls") == r(s, t, "d_storage")))
    out["heap:nofail-pair-ls"] = lambda s: E.And(*(on_cursor_ls(s, t, u)
                                                   for t in T for u in T))

    # without lock failures a destroy past its walk leaves nothing on its list: its
    # nofail takes the storage lock on every selem it visits (map_free's misc
    # holds it across the pin)
    out["heap:unpin-empty"] = every(T, lambda s, t: E.Implies(
        at(s, t, _UNPIN), lambda: E.And(*(E.Not(E.And(
            q_(s, q, "spprev") != 0, q_(s, q, "local_storage") == r(s, t, "d_storage")))
            for q in Q))))

    # heap:cursor-next and heap:walk-next-freed for the whole chain ahead of a
    # walk's cursor: the walk has not visited it, so no selem there has the walk's
    # state bit, nor SELEM_TOFREE (set only after both bits); and what was
    # unlinked since the walk began was unlinked by a nofail (no kfunc runs on a
    # storage being destroyed or a map being freed), which clears smap and
    # local_storage before it frees, and frees with no bit set (unlink == 2)
    def ahead_no_bit(s, t, where, reg, nxt, bit):
        return each_ahead(s, t, where, reg, nxt, lambda q: E.And(
            (q_(s, q, "state") & bit) == 0, q_(s, q, "state") != SELEM_TOFREE,
            E.Or(q_(s, q, "mem") == MEM_LIVE, E.And(
                q_(s, q, "smap") == 0, q_(s, q, "local_storage") == 0,
                q_(s, q, "state") == 0))))
    out["heap:ahead-no-bit"] = every(T, lambda s, t: E.And(
        ahead_no_bit(s, t, *_DWALK, SELEM_STORAGE_UNLINKED),
        ahead_no_bit(s, t, *_MWALK, SELEM_MAP_UNLINKED)))

    # the walk ended on a NULL ->next, and an unlinked selem's ->next never changes
    # (nothing is added behind a selem: lists grow at the head)
    out["heap:unpin-cursor-end"] = every(T, lambda s, t: E.Implies(
        at(s, t, _UNPIN), lambda: E.Or(r(s, t, "d_cursor") == 0,
                                       q_(s, r(s, t, "d_cursor"), "snext") == 0)))

    # what is ahead of a destroy's cursor, stale ->snext included, and the cursor
    # itself were linked into its storage (g_ls): ->local_storage is that storage
    # or NULL. So two destroys of two storages never meet on one selem
    def in_storage(s, t, q):
        return E.And(q_(s, q, "g_ls") == r(s, t, "d_storage"), E.Or(
            q_(s, q, "local_storage") == 0,
            q_(s, q, "local_storage") == r(s, t, "d_storage")))
    out["heap:ahead-in-storage"] = every(T, lambda s, t: E.And(
        each_ahead(s, t, *_DWALK, lambda q: in_storage(s, t, q)),
        E.Implies(E.And(p.within(s, t, _DWALK[0]), r(s, t, "d_cursor") != 0),
                  lambda: in_storage(s, t, r(s, t, "d_cursor")))))

    # once the destroy dropped the owner's reference (owner_refcnt 0), what is left
    # on the storage's list is only what a map_free in nofail still holds
    out["heap:dead-storage-left"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "owner_refcnt") == 0),
        lambda: E.And(*(E.Implies(
            E.And(q_(s, q, "spprev") != 0, q_(s, q, "local_storage") == st),
            lambda q=q: cpu_on(s, _NOFAIL, "n_selem", q)) for q in Q))))

    # a destroy's side done on a selem (STORAGE_UNLINKED, or map_free loaded a NULL
    # smap: only that destroy clears it) while the map_free in nofail on it still
    # has its storage: that destroy is still running, or has dropped the owner's
    # reference already
    out["heap:destroy-side-done"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _NOFAIL), r(s, t, "n_ls") != 0, E.Or(
            (q_(s, r(s, t, "n_selem"), "state") & SELEM_STORAGE_UNLINKED) != 0,
            E.And(r(s, t, "n_bucket") != 0, r(s, t, "n_sm") == 0,
                  E.Not(at(s, t, _codes(ls.nofail_start, ls.nofail_smap)))),
            E.And(r(s, t, "n_bucket") != 0, at(s, t, _codes(ls.nofail_smap)),
                  q_(s, r(s, t, "n_selem"), "smap") == 0)),
              st_(s, r(s, t, "n_ls"), "mem") == MEM_LIVE),
        lambda: E.Or(st_(s, r(s, t, "n_ls"), "owner_refcnt") == 0,
                     destroying(s, r(s, t, "n_ls")))))

    # a selem ahead of map_free's cursor that is still linked to the map hashes to
    # the bucket being walked; the nofail called from the walk gets that bucket
    def map_ahead_bucket(s, t):
        c = r(s, t, "m_cursor")
        return E.Implies(E.And(p.within(s, t, _MAP_FREE_NEXT), c != 0), lambda: E.And(
            *(E.Implies(E.And(E.Or(q == c, walk(s, q_(s, c, "mnext"), q, "mnext")),
                              q_(s, q, "mpprev") != 0),
                        lambda q=q: bucket_of(s, q) == r(s, t, "m_bucket")) for q in Q),
            E.Implies(p.within(s, t, _NOFAIL),
                      lambda: r(s, t, "n_bucket") == r(s, t, "m_bucket") + 1)))
    out["heap:map-ahead-bucket"] = every(T, map_ahead_bucket)

    # the storage of a selem ahead of a walk was freed (call_rcu) while the walk's
    # read-side section was running: readable by the walk (a map_free that left
    # its section restarts at the bucket's first, a linked selem)
    # (so is every selem ahead of it: one freed since was freed in that section)
    def ahead_ls_readable(s, t, where, reg, nxt):
        return each_ahead(s, t, where, reg, nxt, lambda q: E.And(
            readable(s, L.selem, q, t),
            E.Implies(q_(s, q, "local_storage") != 0, lambda: readable(
                s, L.storage, q_(s, q, "local_storage"), t))))
    out["heap:ahead-ls-readable"] = every(T, lambda s, t: E.And(
        ahead_ls_readable(s, t, *_DWALK),
        ahead_ls_readable(s, t, *_MWALK)))

    # heap:destroy-ext's exception, narrowed: the map_free racing a destroy only
    # clears the owner ext's storage pointer (misc, last selem); nothing else
    # writes it while the ext is being freed
    out["heap:destroy-ext-null"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _DESTROY), lambda: E.Or(
            e_(s, r(s, t, "p_ext"), "storage") == r(s, t, "d_storage"),
            e_(s, r(s, t, "p_ext"), "storage") == 0)))

    # the storage a destroy works on is its ext's, and no other live ext's: its
    # owner is that ext until map_free's misc clears it
    out["heap:destroy-owner"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _DESTROY), lambda: E.And(
            E.Or(st_(s, r(s, t, "d_storage"), "owner") == r(s, t, "p_ext"),
                 st_(s, r(s, t, "d_storage"), "owner") == 0), *(
                E.Implies(E.And(e != r(s, t, "p_ext"), e_(s, e, "mem") == MEM_LIVE),
                          lambda e=e: e_(s, e, "storage") != r(s, t, "d_storage"))
                for e in EX))))

    # whoever frees a selem leaves bpf_selem_unlink_nofail() in the same step: two
    # CPUs in nofail on one selem means it is not freed yet
    out["heap:nofail-pair-live"] = pairs(lambda s, t, u: E.Implies(
        same_selem_nofails(s, t, u),
        lambda: q_(s, r(s, t, "n_selem"), "mem") == MEM_LIVE))

    # a freed selem ahead of a walk's cursor was freed by the other walk, which
    # has left it: nobody is in nofail on it
    def walk_next_alone(s, t, where, reg, nxt):  # anywhere ahead of the cursor
        return each_ahead(s, t, where, reg, nxt, lambda q: E.Implies(
            q_(s, q, "mem") != MEM_LIVE,
            lambda: E.Not(cpu_on(s, _NOFAIL, "n_selem", q))))
    out["heap:walk-next-alone"] = every(T, lambda s, t: E.And(
        walk_next_alone(s, t, *_DWALK),
        walk_next_alone(s, t, *_MWALK)))

    # a freed selem ahead of one walk was unlinked by the other walk, which has
    # visited it: no freed selem is ahead of a destroy and a map_free at once
    def ahead(s, t, where, reg, nxt, q):
        c = r(s, t, reg)
        return E.And(p.within(s, t, where), c != 0, walk(s, q_(s, c, nxt), q, nxt))
    out["heap:ahead-of-one"] = lambda s: E.And(*(E.Implies(
        q_(s, q, "mem") != MEM_LIVE,
        lambda t=t, u=u, q=q: E.Not(E.And(
            ahead(s, t, *_DWALK, q),
            ahead(s, u, *_MWALK, q))))
        for t in T for u in T for q in Q if t != u))

    def walk_reach(s, t, where, reg, nxt, linked_here):
        c = r(s, t, reg)
        return E.Implies(E.And(p.within(s, t, where), c != 0), lambda: E.And(*(
            E.Implies(E.And(q != c, linked_here(q)),
                      lambda q=q: walk(s, q_(s, c, nxt), q, nxt)) for q in Q)))
    # ... and the chain ahead of a walk's cursor ends within the walk's bound
    def cursor_ends(s, t, where, reg, nxt):
        c = r(s, t, reg)
        return E.Implies(E.And(p.within(s, t, where), c != 0),
                         lambda: ends(s, q_(s, c, nxt), nxt))
    out["heap:cursor-ends"] = every(T, lambda s, t: E.And(
        cursor_ends(s, t, *_DWALK), cursor_ends(s, t, *_MWALK)))
    out["heap:walk-reach"] = every(T, lambda s, t: E.And(
        walk_reach(s, t, *_DWALK, lambda q: E.And(
            q_(s, q, "spprev") != 0,
            q_(s, q, "local_storage") == r(s, t, "d_storage"))),
        walk_reach(s, t, *_MWALK, lambda q: E.And(
            q_(s, q, "mpprev") != 0, q_(s, q, "smap") == r(s, t, "a_map"),
            bucket_of(s, q) == r(s, t, "m_bucket")))))


def _maps(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Maps."""
    (E, L, MAPS, Q, T, every, p, q_, r, sel) = (
        attrgetter("E", "L", "MAPS", "Q", "T", "every", "p", "q_", "r", "sel"))(h)
    out["heap:map-free-freeing"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _MAP_FREE), r(s, t, "pc") != _C_MAP_FREE_START),
        lambda: sel(s, L.map, r(s, t, "a_map"), "mem") == MAP_FREEING))
    out["heap:map-alive"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _KFUNC), lambda: sel(s, L.map, r(s, t, "a_map"), "mem") == MAP_ALIVE))
    # the open world's rule that keeps it so: a kfunc's map is in its run's ``runmaps``
    # (bit a_map - 1, set as the op starts), a run starts ops only on alive maps, and
    # map_free(M) starts only when no other CPU's run has used M
    if "runmaps" in L.thread.fields:
        def used(s, t, mm):  # map mm is in CPU t's run's runmaps
            return (r(s, t, "runmaps") & (1 << (mm - 1))) != 0
        out["heap:run-maps-alive"] = every(T, lambda s, t: E.And(*(E.Implies(
            used(s, t, mm), lambda mm=mm: sel(s, L.map, mm, "mem") == MAP_ALIVE)
            for mm in MAPS)))
        out["heap:run-map"] = every(T, lambda s, t: E.Implies(
            p.within(s, t, _KFUNC), lambda: E.Or(*(
                E.And(r(s, t, "a_map") == mm, used(s, t, mm)) for mm in MAPS))))
    out["heap:map-linked-alive"] = every(Q, lambda s, q: E.Implies(
        E.Or(q_(s, q, "mpprev") != 0, E.And(q_(s, q, "mem") == MEM_LIVE, q_(s, q, "smap") != 0)),
        lambda: E.Or(sel(s, L.map, q_(s, q, "smap"), "mem") == MAP_ALIVE,
                     sel(s, L.map, q_(s, q, "smap"), "mem") == MAP_FREEING)))
    out["heap:map-freed-empty"] = every(MAPS, lambda s, mm: E.Implies(
        sel(s, L.map, mm, "mem") == MAP_FREED, lambda: E.And(*(
            sel(s, L.map, mm, f"b{b}_first") == 0 for b in range(NBUCKETS)))))


def _list_shape(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """List shape."""
    (E, L, MAPS, Q, ST, bucket_first, bucket_of, ends, every, q_, sel, st_, walk) = (
        attrgetter("E", "L", "MAPS", "Q", "ST", "bucket_first", "bucket_of", "ends", "every",
            "q_", "sel", "st_", "walk"))(h)
    out["heap:head-converse"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "spprev") == PPREV_HEAD,
        lambda: st_(s, q_(s, q, "local_storage"), "first") == q))
    out["heap:map-head-converse"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "mpprev") == PPREV_HEAD,
        lambda: bucket_first(s, q_(s, q, "smap"), bucket_of(s, q)) == q))

    # ... which these keep: one selem of each map on a storage's list (g_ls, g_map: the
    # storage and map a selem was linked into and allocated for; ghosts nofail keeps),
    # and every list ends within its walk's bound
    out["heap:one-per-map"] = lambda s: E.And(*(E.Not(E.And(
        q_(s, q, "spprev") != 0, q_(s, u, "spprev") != 0,
        q_(s, q, "g_ls") == q_(s, u, "g_ls"), q_(s, q, "g_map") == q_(s, u, "g_map")))
        for q in Q for u in Q if q < u))
    out["heap:list-ends"] = lambda s: E.And(*(ends(s, st_(s, st, "first"), "snext")
                                             for st in ST))
    out["heap:bucket-ends"] = lambda s: E.And(*(
        ends(s, sel(s, L.map, mm, f"b{b}_first"), "mnext")
        for mm in MAPS for b in range(NBUCKETS)))

    def per_head(name, linked, nxt, heads):
        """``name``: a linked selem is on the list of the head it names (``walk`` from
        that head's first selem), as one candidate per head, ``name#<label>``, and
        ``name#named`` (it names a head: not a pointer past the pool), kept or dropped
        together (``Candidate.group``): their conjunction is the lemma.  ``heads``:
        (label, ``mine(s, q)``: it is q's head, ``first(s)``: its first selem).  One walk
        per head, shared by every ``q`` (a walk per ``q`` from a head chosen by an ``If``
        over every head made bpf_selem_unlink()'s queries time out at 4 packets, 2 maps,
        3 CPUs), and one candidate per head, so that a query z3 gives up on splits into
        walks of one list each."""
        out[f"{name}#named"] = every(Q, lambda s, q: E.Implies(
            linked(s, q), lambda: E.Or(*(mine(s, q) for _, mine, _ in heads))))
        for label, mine, first in heads:
            out[f"{name}#{label}"] = every(Q, lambda s, q, mine=mine, first=first: E.Implies(
                E.And(linked(s, q), mine(s, q)), lambda: walk(s, first(s), q, nxt)))

    per_head("heap:linked-in-list", lambda s, q: q_(s, q, "spprev") != 0, "snext", [
        (f"st{st}", lambda s, q, st=st: q_(s, q, "local_storage") == st,
         lambda s, st=st: st_(s, st, "first")) for st in ST])
    per_head("heap:linked-in-bucket", lambda s, q: q_(s, q, "mpprev") != 0, "mnext", [
        (f"map{mm}b{b}", lambda s, q, mm=mm, b=b: E.And(q_(s, q, "smap") == mm,
                                                      bucket_of(s, q) == b),
         lambda s, mm=mm, b=b: sel(s, L.map, mm, f"b{b}_first"))
        for mm in MAPS for b in range(NBUCKETS)])

    def bucket_head(s, mm, b):
        f = sel(s, L.map, mm, f"b{b}_first")
        return E.Implies(f != 0, lambda: E.And(
            q_(s, f, "mpprev") == PPREV_HEAD, q_(s, f, "smap") == mm, bucket_of(s, f) == b))
    out["heap:bucket-head"] = lambda s: E.And(*(bucket_head(s, mm, b) for mm in MAPS
                                                for b in range(NBUCKETS)))
    out["heap:mnext-same"] = every(Q, lambda s, q: E.Implies(
        E.And(q_(s, q, "mpprev") != 0, q_(s, q, "mnext") != 0), lambda: E.And(
            q_(s, q_(s, q, "mnext"), "smap") == q_(s, q, "smap"),
            bucket_of(s, q_(s, q, "mnext")) == bucket_of(s, q))))
    out["heap:snext-same"] = every(Q, lambda s, q: E.Implies(
        E.And(q_(s, q, "spprev") != 0, q_(s, q, "snext") != 0),
        lambda: q_(s, q_(s, q, "snext"), "local_storage") == q_(s, q, "local_storage")))
    # g_ls: the storage a selem was linked into (bpf_selem_link_storage_nolock()), a
    # ghost that outlives ->local_storage, which only a nofail clears
    out["heap:g-ls"] = every(Q, lambda s, q: E.Implies(
        q_(s, q, "local_storage") != 0,
        lambda: q_(s, q, "g_ls") == q_(s, q, "local_storage")))
    # a ->snode.next, stale or not, stays in its storage: hlist_add_head_rcu() sets it to
    # the list's first, an unlink to the unlinked one's ->next; lists only grow at the head
    def next_g_ls(s, q):
        return E.Implies(q_(s, q, "snext") != 0, lambda: E.And(
            q_(s, q, "g_ls") != 0, q_(s, q_(s, q, "snext"), "g_ls") == q_(s, q, "g_ls")))

    def first_g_ls(s, st):
        return E.Implies(st_(s, st, "first") != 0,
                         lambda: q_(s, st_(s, st, "first"), "g_ls") == st)
    out["heap:snext-g-ls"] = lambda s: E.And(every(Q, next_g_ls)(s), every(ST, first_g_ls)(s))


def _ext_destructor(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """The ext's destructor: bpf_skb_storage_free() / destroy."""
    E, EX, T, at, e_, every, r, st_ = attrgetter("E", "EX", "T", "at", "e_", "every", "r", "st_")(h)
    def after_destroy(s, t):
        st = e_(s, r(s, t, "p_ext"), "storage")
        return E.Implies(at(s, t, _AFTER_DESTROY), lambda: E.Or(
            st == 0, st_(s, st, "mem") != MEM_LIVE, st_(s, st, "owner_refcnt") == 0))
    out["heap:after-destroy"] = every(T, after_destroy)
    out["heap:storage-present"] = every(EX, lambda s, e: E.Implies(
        E.And(e_(s, e, "mem") == MEM_LIVE, (e_(s, e, "present") & _BPF) == 0),
        lambda: e_(s, e, "storage") == 0))


def _nofail(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """bpf_selem_unlink_nofail()."""
    (E, EX, T, at, bits, cpu_on, cslots, e_, every, p, q_, r, st_) = (
        attrgetter("E", "EX", "T", "at", "bits", "cpu_on", "cslots", "e_", "every", "p", "q_",
            "r", "st_"))(h)
    out["heap:nofail-selem"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _NOFAIL), lambda: E.Or(
            q_(s, r(s, t, "n_selem"), "mem") == MEM_LIVE,
            E.And(q_(s, r(s, t, "n_selem"), "smap") == 0,
                  q_(s, r(s, t, "n_selem"), "local_storage") == 0))))

    def nofail_free_storage(s, t):
        q, nl = r(s, t, "n_selem"), r(s, t, "n_ls")
        return E.Implies(r(s, t, "n_free") != 0, lambda: E.And(
            E.Implies(p.within(s, t, _NOFAIL), lambda: st_(s, nl, "mem") == MEM_LIVE),
            E.Implies(at(s, t, _NOFAIL_POST), lambda: E.And(nl != 0, st_(s, nl, "first") == 0)),
            E.Implies(at(s, t, _NOFAIL_HELD), lambda: E.And(
                nl != 0, st_(s, nl, "first") == q, q_(s, q, "snext") == 0))))
    out["heap:nofail-free-storage"] = every(T, nofail_free_storage)

    def nofail_unlinks(s, t):
        q, nu, pc = r(s, t, "n_selem"), r(s, t, "n_unlink"), r(s, t, "pc")
        return E.Implies(p.within(s, t, _NOFAIL), lambda: E.And(
            E.Implies(E.Or(nu == 2, E.And(nu != 0, pc != _C_NOFAIL_FREE)),
                      lambda: q_(s, q, "mem") == MEM_LIVE),
            E.Implies(nu != 0, lambda: q_(s, q, "mpprev") == 0),
            E.Implies(nu == 2, lambda: q_(s, q, "spprev") == 0),
            E.Implies(at(s, t, _NOFAIL_POST), lambda: E.And(
                q_(s, q, "spprev") == 0, q_(s, q, "mpprev") == 0, q_(s, q, "smap") == 0)),
            E.Implies(at(s, t, _AFTER_CLEAR_LS), lambda: q_(s, q, "local_storage") == 0),
            E.Implies(pc == _C_NOFAIL_STATE, lambda: nu != 2),
            E.Implies(at(s, t, tuple(c for c in _AFTER_CLEAR_SMAP if c != _C_CLEAR_SMAP)),
                      lambda: q_(s, q, "smap") == 0),
            E.Implies(at(s, t, _NOFAIL_MID), lambda: q_(s, q, "mpprev") == 0)))

    def my_bit(s, t):
        nu, st = r(s, t, "n_unlink"), q_(s, r(s, t, "n_selem"), "state")
        bit = bits(s, t)[0]
        return E.And(
            E.Implies(E.And(p.within(s, t, _NOFAIL),
                            E.Or(nu == 2, r(s, t, "pc") != _C_NOFAIL_FREE)),
                      lambda: (st & bit) == 0),
            E.Implies(E.And(r(s, t, "pc") == _C_NOFAIL_FREE, nu != 2),
                      lambda: E.Or((st & bit) != 0, st == SELEM_TOFREE)))
    out["heap:nofail-my-bit"] = every(T, my_bit)

    def partner(s, t):
        q, nu = r(s, t, "n_selem"), r(s, t, "n_unlink")
        return E.Implies(E.Or(E.And(at(s, t, _NOFAIL_POST), nu != 2),
                              E.And(at(s, t, _NOFAIL_MID), nu == 0)),
                         lambda: E.Or((q_(s, q, "state") & bits(s, t)[1]) != 0,
                                      q_(s, q, "mem") != MEM_LIVE,
                                      cpu_on(s, _NOFAIL, "n_selem", q, others_of=t)))
    out["heap:nofail-partner"] = every(T, partner)

    def owner_cleared(s, t):  # map_free's misc cleared the owner of the last selem's storage
        nl = r(s, t, "n_ls")
        return E.Implies(E.And(at(s, t, (*_NOFAIL_AFTER_OWNER, *_NOFAIL_POST)),
                               r(s, t, "n_free") != 0, r(s, t, "n_pinned") != 0,
                               r(s, t, "n_bucket") != 0),
                         lambda: E.And(st_(s, nl, "owner") == 0, *(E.Implies(
                             e_(s, e, "mem") == MEM_LIVE, lambda e=e: e_(s, e, "storage") != nl)
                             for e in EX)))
    out["heap:nofail-owner-cleared"] = every(T, owner_cleared)

    def nofail_held(s, t):  # between the storage lock and hlist_del(snode); unlock
        q, nl = r(s, t, "n_selem"), r(s, t, "n_ls")
        return E.And(
            E.Implies(at(s, t, _NOFAIL_HELD), lambda: E.And(
                nl != 0, st_(s, nl, "mem") == MEM_LIVE, st_(s, nl, "lock") == t,
                q_(s, q, "spprev") != 0, q_(s, q, "local_storage") == nl,
                q_(s, q, "mpprev") == 0, r(s, t, "n_bucket") != 0,
                (r(s, t, "n_free") != 0) == E.And(q_(s, q, "spprev") == PPREV_HEAD,
                                                 q_(s, q, "snext") == 0),
                *(st_(s, nl, c) != q for c in cslots))),
            E.Implies(r(s, t, "pc") == _C_NOFAIL_OWNER, lambda: E.And(
                r(s, t, "n_free") != 0, st_(s, nl, "owner") != 0,
                st_(s, nl, "owner_refcnt") != 0)),
            E.Implies(r(s, t, "pc") == _C_NOFAIL_UNPIN, lambda: r(s, t, "n_pinned") != 0))
    out["heap:nofail-held"] = every(T, nofail_held)
    out["heap:ext-positive"] = every(EX, lambda s, e: E.Implies(
        e_(s, e, "mem") == MEM_LIVE, lambda: e_(s, e, "refcnt") != 0))
    out["heap:nofail-unlinks"] = every(T, nofail_unlinks)


def _destroy_walk(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """bpf_local_storage_destroy()'s walk."""
    (E, L, MAPS, Q, ST, T, at, bucket_first, cpu_on, e_, every, in_map_free_elsewhere, p,
     pinning, q_, r, readable, sel, solo, st_) = (
        attrgetter("E", "L", "MAPS", "Q", "ST", "T", "at", "bucket_first", "cpu_on", "e_",
            "every", "in_map_free_elsewhere", "p", "pinning", "q_", "r", "readable", "sel",
            "solo", "st_"))(h)
    def destroy_next(s, t):
        c, ds = r(s, t, "d_cursor"), r(s, t, "d_storage")
        return E.Implies(E.Or(r(s, t, "pc") == _C_DESTROY_NEXT, E.And(
            p.within(s, t, (_C_DESTROY_NEXT,)), at(s, t, _NOFAIL_POST))),
            lambda: E.Or(q_(s, c, "snext") == st_(s, ds, "first"),
                         in_map_free_elsewhere(s, t)))

    def cursor_first(s, t):
        c, first = r(s, t, "d_cursor"), st_(s, r(s, t, "d_storage"), "first")
        return E.Implies(E.And(p.within(s, t, _NOFAIL), p.within(s, t, _DESTROY),
                               E.Not(in_map_free_elsewhere(s, t))),
                         lambda: E.And(q_(s, c, "mem") == MEM_LIVE, E.If(
                             q_(s, c, "spprev") != 0, first == c, q_(s, c, "snext") == first)))
    out["heap:destroy-cursor-first"] = every(T, cursor_first)

    if solo:  # map_free's walk of its bucket, as destroy's of the storage
        def map_next(s, t):
            c, first = r(s, t, "m_cursor"), bucket_first(s, r(s, t, "a_map"),
                                                         r(s, t, "m_bucket"))
            return E.Implies(E.And(c != 0, E.Or(r(s, t, "pc") == _C_MAP_FREE_NEXT, E.And(
                p.within(s, t, _MAP_FREE_NEXT), at(s, t, _NOFAIL_POST)))),
                lambda: q_(s, c, "mnext") == first)

        def map_cursor_first(s, t):
            c, first = r(s, t, "m_cursor"), bucket_first(s, r(s, t, "a_map"),
                                                         r(s, t, "m_bucket"))
            return E.Implies(E.And(p.within(s, t, _NOFAIL), p.within(s, t, _MAP_FREE)),
                             lambda: E.And(q_(s, c, "mem") == MEM_LIVE, E.If(
                                 q_(s, c, "mpprev") != 0, first == c,
                                 q_(s, c, "mnext") == first)))
        out["heap:solo-map-next"] = every(T, map_next)
        out["heap:solo-map-cursor"] = every(T, map_cursor_first)
    out["heap:destroy-next"] = every(T, destroy_next)

    def state_bits(s, q):
        state = q_(s, q, "state")
        return E.Implies(q_(s, q, "mem") == MEM_LIVE, lambda: E.And(
            E.Implies((state & SELEM_MAP_UNLINKED) != 0, lambda: E.And(
                q_(s, q, "mpprev") == 0, q_(s, q, "smap") == 0)),
            E.Implies((state & SELEM_STORAGE_UNLINKED) != 0, lambda: E.And(
                q_(s, q, "spprev") == 0, q_(s, q, "local_storage") == 0)),
            E.Implies(E.And(q_(s, q, "smap") == 0, (state & SELEM_MAP_UNLINKED) == 0),
                      lambda: cpu_on(s, lambda s, t: at(s, t, _AFTER_CLEAR_SMAP), "n_selem", q)),
            E.Implies(E.And(q_(s, q, "local_storage") == 0,
                            (state & SELEM_STORAGE_UNLINKED) == 0),
                      lambda: cpu_on(s, lambda s, t: at(s, t, _NOFAIL_PAST_START),
                                     "n_selem", q))))
    out["heap:state-bits"] = every(Q, state_bits)
    out["heap:map-freeing"] = every(MAPS, lambda s, mm: E.Implies(
        sel(s, L.map, mm, "mem") == MAP_FREEING, lambda: cpu_on(s, _MAP_FREE, "a_map", mm)))
    out["heap:destroy-storage"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _DESTROY), E.Not(at(s, t, _UNPIN))),
        lambda: E.And(r(s, t, "d_storage") != 0,
                      readable(s, L.storage, r(s, t, "d_storage"), t))))
    out["heap:state-unlinked"] = every(Q, lambda s, q: E.And(
        E.Implies(q_(s, q, "state") == SELEM_UNLINKED, lambda: E.And(
            q_(s, q, "mem") == MEM_LIVE,
            cpu_on(s, lambda s, t: r(s, t, "pc") == _C_NOFAIL_FREE, "n_selem", q))),
        E.Implies(q_(s, q, "state") == SELEM_TOFREE, lambda: q_(s, q, "mem") != MEM_LIVE)))
    if solo:
        out["heap:solo-nofail"] = every(T, lambda s, t: E.Implies(
            p.within(s, t, _NOFAIL), lambda: _solo(E, s, t, r, q_, at)))

        out["heap:solo-refcnt"] = every(ST, lambda s, st: E.Implies(
            st_(s, st, "mem") == MEM_LIVE, lambda: st_(s, st, "owner_refcnt") == E.If(
                E.Or(*(pinning(s, t, st) for t in T)), 2, 1)))
        out["heap:solo-pinned"] = every(T, lambda s, t: E.Implies(
            E.And(at(s, t, (*_NOFAIL_AFTER_OWNER, *_PINNED, *_NOFAIL_POST)),
                  r(s, t, "n_bucket") != 0), lambda: r(s, t, "n_pinned") != 0))
        out["heap:solo-unpin"] = every(T, lambda s, t: E.Implies(
            at(s, t, _UNPIN), lambda: st_(s, r(s, t, "d_storage"), "mem") != MEM_LIVE))
    out["heap:destroy-ext"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _DESTROY), lambda: E.Or(
            e_(s, r(s, t, "p_ext"), "storage") == r(s, t, "d_storage"),
            in_map_free_elsewhere(s, t))))
    # ... which map_free: the one of the map the ghost g_cleared names, which waits for
    # the destroy before it returns (with two maps, the other map's map_free may end)
    out["heap:destroy-ext-cleared"] = every(T, lambda s, t: E.Implies(
        p.within(s, t, _DESTROY), lambda: E.Or(
            e_(s, r(s, t, "p_ext"), "storage") == r(s, t, "d_storage"),
            E.And(st_(s, r(s, t, "d_storage"), "g_cleared") != 0, cpu_on(
                s, _MAP_FREE, "a_map", st_(s, r(s, t, "d_storage"), "g_cleared"),
                others_of=t)))))

    def refcnt_count(s, st):
        """owner_refcnt counts the owner's reference (until its destroy drops it) and
        each map_free pin: 1 + pins - (a destroy waiting past its unpin); 0 once a
        destroy has dropped the last, when the owner ext is gone or about to be."""
        pins = E.Sum(E.If(pinning(s, t, st), 1, 0) for t in T)
        waits = E.Sum(E.If(E.And(r(s, t, "pc") == _UNPIN[1], r(s, t, "d_storage") == st),
                           1, 0) for t in T)
        rc, owner = st_(s, st, "owner_refcnt"), st_(s, st, "owner")
        return E.Implies(st_(s, st, "mem") == MEM_LIVE, lambda: E.If(
            rc == 0,
            E.And(pins == 0, waits == 0, E.Or(
                e_(s, owner, "mem") != MEM_LIVE, e_(s, owner, "storage") != st,
                cpu_on(s, lambda s, t: at(s, t, _AFTER_DESTROY), "p_ext", owner))),
            rc + waits == 1 + pins))
    if L.thread.n > 1:
        out["heap:refcnt-count"] = every(ST, refcnt_count)
    out["heap:destroy-refcnt"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _DESTROY), r(s, t, "pc") != _UNPIN[1]),
        lambda: st_(s, r(s, t, "d_storage"), "owner_refcnt") != 0))


def _cow(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """skb_ext_add()'s copy on write and the BPF_STORAGE bit."""
    (E, EX, L, T, e_, every, fix, p, r, sel, with_ext_del) = (
        attrgetter("E", "EX", "L", "T", "e_", "every", "fix", "p", "r", "sel", "with_ext_del"))(h)
    # rfc-fix keys the fix-up on BPF_STORAGE present in the copy, so every copy is empty
    out["heap:cow-storage"] = every(T, lambda s, t: E.Implies(
        E.And(r(s, t, "x_new") != 0,
              *(() if fix else ((sel(s, L.skb, r(s, t, "a_skb"), "active") & _BPF) != 0,))),
        lambda: e_(s, r(s, t, "x_new"), "storage") == 0))

    def bpf_active(s, x, e, live_ext):  # present BPF_STORAGE => the packet has it active
        return E.Implies(E.And(p.live(s, x), sel(s, L.skb, x, "active") != 0, *live_ext,
                               (e_(s, e, "present") & _BPF) != 0),
                         lambda: (sel(s, L.skb, x, "active") & _BPF) != 0)
    # through skb->extensions (a live ext) and through ext_of (the copy about to be
    # installed)
    # (skb_ext_del() clears the bit and keeps the data area: not with ext_del)
    if not with_ext_del:
        out["heap:bpf-active"] = lambda s: E.And(
            *(bpf_active(s, x, p.ext_of(s, x), ()) for x in p.skbs),
            *(bpf_active(s, x, sel(s, L.skb, x, "ext"),
                         (e_(s, sel(s, L.skb, x, "ext"), "mem") == MEM_LIVE,
                          # (another CPU may add BPF_STORAGE to the old ext while x's copy
                          # on write is under way)
                          *((p.ext_of(s, x) == sel(s, L.skb, x, "ext"),) if L.thread.n > 1
                            else ()))) for x in p.skbs))
    out["heap:ext-unique"] = lambda s: E.And(*(E.Implies(
        E.And(e_(s, a, "mem") == MEM_LIVE, e_(s, b, "mem") == MEM_LIVE, e_(s, a, "storage") != 0),
        lambda a=a, b=b: e_(s, a, "storage") != e_(s, b, "storage"))
        for a in EX for b in EX if a < b))

    def map_free_progress(s, t):
        mm, mb = r(s, t, "a_map"), r(s, t, "m_bucket")
        return E.Implies(p.within(s, t, _MAP_FREE), lambda: E.And(
            E.Implies(r(s, t, "pc") == _C_MAP_FREE_FINISH, lambda: E.And(*(
                sel(s, L.map, mm, f"b{b}_first") == 0 for b in range(NBUCKETS)))),
            *(E.Implies(E.UGT(mb, b), lambda b=b: sel(s, L.map, mm, f"b{b}_first") == 0)
              for b in range(NBUCKETS - 1))))
    out["heap:map-free-progress"] = every(T, map_free_progress)
    out["heap:cow-copy"] = every(T, lambda s, t: E.Implies(
        r(s, t, "x_new") != 0, lambda: E.Or(
            e_(s, r(s, t, "x_new"), "storage") == 0,
            e_(s, r(s, t, "x_new"), "storage") == e_(s, r(s, t, "x_old"), "storage"))))


def _domains(h: SimpleNamespace, out: dict[str, Callable]) -> None:
    """Domains and locks."""
    (E, L, MAPS, Q, ST, T, at, cpu_on, e_, every, fix, freeing, p, q_, r, readable, sel, solo,
     st_, tables) = (
        attrgetter("E", "L", "MAPS", "Q", "ST", "T", "at", "cpu_on", "e_", "every", "fix",
            "freeing", "p", "q_", "r", "readable", "sel", "solo", "st_", "tables"))(h)
    out["heap:state-domain"] = every(Q, lambda s, q: E.ULE(q_(s, q, "state"), SELEM_TOFREE))
    out["heap:reg-domain"] = every(T, lambda s, t: E.And(*(
        E.ULE(r(s, t, f), v) for f, v in _REG_DOMAINS.items())))
    out["heap:bucket-free"] = every(MAPS, lambda s, mm: E.And(*(
        sel(s, L.map, mm, f"b{b}_lock") == 0 for b in range(NBUCKETS))))

    def g_ext(s, t):
        gs, ge, x = r(s, t, "g_storage"), r(s, t, "g_ext"), r(s, t, "a_skb")
        return E.Implies(E.And(p.within(s, t, _KFUNC), gs != 0), lambda: E.And(
            ge != 0, ge == sel(s, L.skb, x, "ext"),
            (sel(s, L.skb, x, "active") & _BPF) != 0,
            E.Or(e_(s, ge, "storage") == gs, *freeing_elsewhere(s, t, gs),
                 # (bpf_selem_unlink() of the last selem clears owner->storage)
                 E.And(r(s, t, "pc") == _C_UNLINK_STORAGE, r(s, t, "s_last") != 0,
                       e_(s, ge, "storage") == 0))))

    def freeing_elsewhere(s, t, st):
        """Another CPU's map_free (of another map) unlinked the last selem of ``st``
        and cleared owner->storage: it frees ``st`` after this CPU's read-side section
        (get may have published a new storage since).  None with one CPU or map."""
        if L.thread.n == 1 or L.map.n == 1:
            return ()
        other_map_freed = E.Or(*(E.And(r(s, t, "a_map") != mm, E.Or(
            sel(s, L.map, mm, "mem") == MAP_FREEING, sel(s, L.map, mm, "mem") == MAP_FREED))
            for mm in MAPS))
        return (E.And(other_map_freed, E.Or(st_(s, st, "mem") != MEM_LIVE,
                                            freeing(s, st, others_of=t))),)
    out["heap:g-ext"] = every(T, g_ext)
    # until get's bpf_local_storage_update() publishes a new storage, the packet's ext
    # holds the storage the kfunc read, or NULL (a map_free cleared owner->storage):
    # the packet is this CPU's, so nobody else publishes into its ext
    out["heap:g-ext-read"] = every(T, lambda s, t: E.Implies(
        E.And(p.within(s, t, _READ_ONLY_KFUNC), r(s, t, "g_storage") != 0), lambda: E.Or(
            e_(s, r(s, t, "g_ext"), "storage") == r(s, t, "g_storage"),
            e_(s, r(s, t, "g_ext"), "storage") == 0)))
    # without skb_ext_del nothing keeps a data area with its storage: skb_ext_add()
    # hands get a fresh area, a copy the RFC's fix-up emptied, or one without storage.
    # With rfc-fix and skb_ext_del, a kept area may hold the storage skb_ext_del left:
    # still the packet's own (no copy, its owner), which get then destroys
    def ext_added(s, t):
        e = r(s, t, "rv")
        kept = (E.And(st_(s, e_(s, e, "storage"), "owner") == e,
                      st_(s, e_(s, e, "storage"), "mem") == MEM_LIVE),) if fix else ()
        return E.Implies(E.And(r(s, t, "pc") == _PC_EXT_ADDED, e != 0),
                         lambda: E.Or(e_(s, e, "storage") == 0, *kept))
    out["heap:ext-added-empty"] = every(T, ext_added)
    if fix:  # bpf_skb_storage_get() destroys the kept storage, then sets the NULL
        out["heap:ext-reset"] = every(T, lambda s, t: E.Implies(
            E.Or(r(s, t, "pc") == _PC_EXT_ADDED, p.within(s, t, (_PC_EXT_RESET,))),
            lambda: E.And(r(s, t, "g_storage") == 0, E.Implies(
                p.within(s, t, (_PC_EXT_RESET,)),
                lambda: r(s, t, "g_ext") == sel(s, L.skb, r(s, t, "a_skb"), "ext")))))
    # bpf_local_storage_alloc()'s cmpxchg loses only to a nofail about to clear the
    # owner's pointer (the skb is this CPU's: nobody else publishes into its ext)
    out["heap:update-alloc"] = every(T, lambda s, t: E.Implies(
        r(s, t, "pc") == _C_UPDATE_ALLOC, lambda: E.Or(
            e_(s, r(s, t, "g_ext"), "storage") == 0,
            freeing(s, e_(s, r(s, t, "g_ext"), "storage")))))
    # bpf_local_storage_update() links into the storage it read from the owner's
    # pointer, which still is the packet's (or another map's map_free is freeing it)
    out["heap:update-storage"] = every(T, lambda s, t: E.Implies(
        r(s, t, "pc") == _C_UPDATE_LOCKED, lambda: E.Or(
            e_(s, r(s, t, "g_ext"), "storage") == r(s, t, "u_storage"),
            *freeing_elsewhere(s, t, r(s, t, "u_storage")))))
    # a register pointer is NULL or names an object that was allocated once (slots are
    # not reused: a never-allocated slot is no object, e.g. a walk's stale cursor)
    out["heap:reg-allocated"] = every(T, lambda s, t: E.And(*(
        E.Implies(r(s, t, f) != 0, lambda f=f, tt=tt: sel(
            s, tables[tt], r(s, t, f), "mem") != MEM_NONE)
        for f, tt in REG_POINTERS.items())))
    out["heap:lookup-sdata"] = every(T, lambda s, t: E.Implies(
        E.And(r(s, t, "pc") == _C_INSERT_CACHE, r(s, t, "l_sdata") != 0), lambda: E.And(
            q_(s, r(s, t, "l_sdata"), "mem") == MEM_LIVE,
            q_(s, r(s, t, "l_sdata"), "local_storage") == r(s, t, "g_storage"),
            q_(s, r(s, t, "l_sdata"), "spprev") != 0,
            q_(s, r(s, t, "l_sdata"), "smap") == r(s, t, "a_map"))))

    def ls_in(s, q, st):
        v = q_(s, q, "local_storage")
        return E.Or(v == 0, v == st)

    def cursor(s, t):
        c, ds = r(s, t, "d_cursor"), r(s, t, "d_storage")
        return E.Implies(E.And(p.within(s, t, _DESTROY), c != 0), lambda: E.And(
            ls_in(s, c, ds), E.Implies(q_(s, c, "snext") != 0,
                                       lambda: ls_in(s, q_(s, c, "snext"), ds))))
    out["heap:destroy-cursor"] = every(T, cursor)

    def cursor_next(s, t, where, reg, nxt, bit):
        """The walk's next selem (hlist_del_init_rcu() keeps ->next for RCU readers) is
        not the cursor, is readable, is linked or fully unlinked by a nofail, and is not
        one this walk has visited (its side's state bit is clear)."""
        c = r(s, t, reg)
        n = q_(s, c, nxt)
        return E.Implies(E.And(p.within(s, t, where), c != 0), lambda: E.Or(n == 0, E.And(
            n != c, readable(s, L.selem, n, t), (q_(s, n, "state") & bit) == 0,
            E.Or(q_(s, n, "mem") == MEM_LIVE,
                 E.And(q_(s, n, "smap") == 0, q_(s, n, "local_storage") == 0)))))
    out["heap:cursor-next"] = every(T, lambda s, t: E.And(
        cursor_next(s, t, _MAP_FREE_NEXT, "m_cursor", "mnext", SELEM_MAP_UNLINKED),
        cursor_next(s, t, _DESTROY, "d_cursor", "snext", SELEM_STORAGE_UNLINKED)))
    if solo:
        def solo_cursor(s, t, where, reg, nxt, pprev):  # nobody else unlinks the next one
            n = q_(s, r(s, t, reg), nxt)
            return E.Implies(E.And(p.within(s, t, where), r(s, t, reg) != 0), lambda: E.Or(
                n == 0, E.And(q_(s, n, "mem") == MEM_LIVE, q_(s, n, pprev) != 0,
                              q_(s, n, "state") == 0)))
        out["heap:solo-cursor"] = every(T, lambda s, t: E.And(
            solo_cursor(s, t, _MAP_FREE_NEXT, "m_cursor", "mnext", "mpprev"),
            solo_cursor(s, t, _DESTROY, "d_cursor", "snext", "spprev")))
    out["heap:destroy-empty"] = every(T, lambda s, t: E.Implies(
        at(s, t, _UNPIN), lambda: E.Or(st_(s, r(s, t, "d_storage"), "first") == 0,
                                       cpu_on(s, _NOFAIL, "n_ls", r(s, t, "d_storage")))))
    out["heap:empty-storage"] = every(ST, lambda s, st: E.Implies(
        E.And(st_(s, st, "mem") == MEM_LIVE, st_(s, st, "first") == 0),
        lambda: freeing(s, st)))


def _solo(E, s, t, r, q_, at):
    """heap:solo-nofail (one CPU), for a CPU inside bpf_selem_unlink_nofail(): with
    nobody to race, it finds its selem fully linked and unlinks both sides itself, in
    this order."""
    q, nu = r(s, t, "n_selem"), r(s, t, "n_unlink")

    def f(name):
        return q_(s, q, name)

    return E.And(
        f("mem") == MEM_LIVE, f("state") == 0,
        E.Implies(at(s, t, _PRE_MAP), lambda: E.And(
            f("spprev") != 0, f("mpprev") != 0, f("smap") != 0, f("local_storage") != 0,
            nu == 0)),
        E.Implies(r(s, t, "pc") == _C_CLEAR_SMAP, lambda: E.And(
            f("spprev") != 0, f("mpprev") == 0, f("smap") != 0, nu == 1)),
        E.Implies(at(s, t, (*_codes(ls.nofail_storage), *_NOFAIL_HELD)), lambda: E.And(
            f("spprev") != 0, f("mpprev") == 0, f("smap") == 0, nu == 1)),
        E.Implies(at(s, t, _NOFAIL_POST),
                  lambda: E.And(f("spprev") == 0, f("mpprev") == 0, nu == 2)),
        r(s, t, "pc") != _C_NOFAIL_STATE,  # unlink == 2 skips the state step
        E.Implies(r(s, t, "pc") == _C_NOFAIL_START, lambda: r(s, t, "n_ls") == 0),
        E.Implies(E.Not(at(s, t, _codes(ls.nofail_start, ls.nofail_smap))),
                  lambda: r(s, t, "n_sm") != 0),
        E.Implies(r(s, t, "pc") != _C_NOFAIL_START, lambda: E.And(
            r(s, t, "n_ls") != 0,
            E.Or(f("local_storage") == r(s, t, "n_ls"), at(s, t, _AFTER_CLEAR_LS)))))
