"""Strengthening lemmas for ``check prove``'s induction (checker/induction.py).

Each lemma is a candidate invariant written once over an expression backend (like the
properties): Houdini keeps the largest subset that is inductive together with the
goals, so a lemma that is false or not inductive is simply dropped (and reported as
such), never assumed.  All are symmetric in the CPUs.  With ``check prove
--control-lemmas`` each is claimed only while no CPU has oopsed
(checker/prove_induction.py ``until_oops``).

The families:

* ``range:*``       every pointer and small field within its pool or domain;
* ``domain:*``      counters, id masks, CPU masks and ghosts within what a run can
                    make of them (refcounts at most packets + CPUs; the failure
                    budgets at most the spec's);
* ``none-zero:*``   a never-allocated object is all zeroes;
* ``no-ptr-to-none:*`` no field points at a never-allocated object;
* ``idle-clear``    a CPU between ops has no op-local register set (``_complete``);
* ``skb-ext-live``  a live packet with extensions uses a live ext (``Props.ext_of``);
* ``ext-users``     between ops, ext->refcnt counts the live packets using it;
* ``ext-refs``      at any time ext->refcnt is at least the live packets using it
                    (through ``Props.ext_of``: a CPU inside skb_ext_add's COW has put
                    the old ext but not yet installed the copy);
* ``active-present`` a packet's active ids are present in its ext;
* ``reaching-one-ext`` packets that reach one storage do so through one ext;
* ``lock-owner:*``  a held spinlock names a CPU;
* ``linked-live:*`` a selem on a list (pprev set) is allocated and not yet freed;
* ``reached-born``  the ghost mask of packets that reached a storage names only
                    packets that were born (pools are not reused);
* ``hlist:*``       the hlist links agree (include/linux/list.h): a node's pprev names
                    the field pointing at it (the head's first or the previous node's
                    next), and the node after it points back at its next field.
* ``own:*``, ``cow:*``, ``put:*``, ``ext-refcnt``, ``get:*``, ``arg:*``,
  ``rcu:waiting-readers``: :meth:`Lemmas.registers`, with ``check prove
  --control-lemmas`` only (with ``no-oops`` and the ``guard:*`` lemmas):
* ``own:*``         the open world's ownership rule on the CPUs' registers: a program
                    run's packet (``own``) is live, inside rcu_read_lock(), and no
                    other CPU holds it or runs an op on it; an op's packet is live
                    until free frees it; a run's ops, and a kfunc, are on its packet;
* ``cow:*``         skb_ext_add's copy on write: ``x_old`` is the packet's (shared,
                    live) ext until the copy exists; the copy ``x_new`` is live, has
                    refcnt 1, holds the packet's active ids and no packet uses it
                    yet; the put it calls drops ``x_old``, never the copy;
* ``put:*``         __skb_ext_put and the destructor it calls work on a live ext
                    (``p_ext``); past "refcnt == 1" nothing else uses it; and
                    ``put:in-flight`` is ``ext-refs`` counting the reference a CPU at
                    the put's first step is about to drop;
* ``ext-refcnt``    ext->refcnt is exactly the live packets using the ext plus the
                    reference a CPU in __skb_ext_put is dropping (or freeing with);
* ``get:ext-added`` skb_ext_add returned NULL or the packet's live ext;
* ``get:ext``, ``get:ext-adding`` the ext bpf_skb_storage_get holds (``g_ext``) is its
                    packet's, with BPF_STORAGE active; inside the skb_ext_add() it
                    calls, BPF_STORAGE is not active and ``g_ext`` is NULL;
* ``arg:*``         the pointer a function dereferences is not NULL while it runs (its
                    callers check first), and rfc-fix's bpf_skb_storage_free() in get
                    gets get's ext;
* ``no-oops``       no CPU has oopsed (claimed outright, not until an oops);
* ``rcu:waiting-readers`` a deferred free waits only for CPUs inside
                    rcu_read_lock();
* ``ctl:*``         (invariants/control.py, built from the relation by
                    checker/prove_induction.py, with ``check prove --control-lemmas``)
                    the constants the step code gives a CPU's registers at each
                    control value;
* ``guard:*``       why the refcnt guard keeps storages apart (``no_shared_storage``;
                    README, "Why the refcnt guard keeps storages apart"):
  ``guard:owner``       a live packet with BPF_STORAGE active (outside get's
                        initialising window) whose ext points at a storage is that
                        storage's ``owner``: every packet reaching it goes through one ext;
  ``guard:exclusive``   a CPU past the sharing guard of get/delete on packet X with
                        BPF_STORAGE active: no other live packet uses X's ext (the guard
                        saw refcnt 1 and only a clone/copy of X, which waits, could share);
  ``guard:x_new``       ``x_new`` is set only in skb_ext_add's copy on write (its
                        set_active step pending), to a live ext, for a packet;
  ``guard:ext-added``   at get's step after skb_ext_add: NULL and BPF_STORAGE inactive,
                        or the packet's ext with BPF_STORAGE active;
  ``guard:ext-added-exclusive`` the ext skb_ext_add gave get is the packet's alone
                        (refcnt 1) until get has reset its storage.
  They hold on every reachable state checked (tests/test_prove.py).  With the rest of
  the default catalogue Houdini drops them, so :meth:`Lemmas.all` leaves them out
  (:meth:`Lemmas.guard_argument`); with ``--control-lemmas`` (the register lemmas and
  no-oops next to them) Houdini keeps them with one CPU and 2-4 packets and proves
  ``no_shared_storage`` there (README, "Proofs").
  On ``rfc`` ``guard:exclusive`` is false for real: its guard lets a copy, which shares
  the ext but is not ``cloned``, pass (finding 1).
"""

from __future__ import annotations

from collections.abc import Callable

from model import bpf_local_storage as ls
from model.bpf_skb_storage import (
    delete,
    get,
    get_ext_reset,
    storage_delete,
    storage_free,
    storage_get,
)
from model.expr import Concrete
from model.kernel import step_of
from model.layout import (
    MEM_LIVE,
    MEM_NONE,
    MEM_RCU,
    NBUCKETS,
    PERSISTENT_REGS,
    PPREV_HEAD,
    REG_POINTERS,
    SKB_EXT_BPF_STORAGE,
    SKB_EXT_SEC_PATH,
    STACK_DEPTH,
    pprev_node,
    pprev_of,
)
from model.openworld import KIND_CODE
from model.skbuff import (
    clone,
    copy,
    ext_add,
    ext_del,
    ext_put,
    ext_reset,
    free,
    skb_ext_cow,
    skb_ext_free,
    skb_ext_put,
    skb_ext_set_active,
    unclone,
)

from .properties import _PC_EXT_ADDED, _PC_EXT_RESET, Props

_FREE = KIND_CODE["free"]
_PUT, _FREE_NOW, _SET_ACTIVE = (step_of(f).code for f in (skb_ext_put, skb_ext_free,
                                                           skb_ext_set_active))
def _steps(*procs):
    """The codes of every step of ``procs`` (kernel.Proc)."""
    return tuple(st.code for pr in procs for st in pr.steps)


def _codes(*fns):
    """The codes of the steps ``fns``."""
    return tuple(step_of(f).code for f in fns)


_PUTTING = _steps(ext_put, storage_free)


def lost_publish(E, L, s, q):
    """Selem ``q`` was the first selem of a storage whose publication lost
    ``bpf_local_storage_alloc()``'s cmpxchg (-EAGAIN): the storage was freed with ``q``
    still on its list (only the map side is unlinked) and ``q`` freed after it.  The
    update takes that path when the owner's storage is non-NULL with an empty list.
    With two maps and two CPUs the induction cannot rule that out with the lemmas it
    has (``heap:update-alloc`` lets a nofail of another map's map_free hold the
    storage), so the lemmas about linked selems admit it; explicit search has not
    reached it (every unlink clears ``owner->storage`` before the last selem leaves
    the list), so this only weakens them."""
    st = E.sel(s, L.selem, q, "local_storage")
    return E.And(st != 0, E.sel(s, L.selem, q, "mem") != MEM_LIVE,
                 E.sel(s, L.storage, st, "mem") != MEM_LIVE,
                 E.sel(s, L.storage, st, "first") == q,
                 E.sel(s, L.selem, q, "spprev") == PPREV_HEAD,
                 E.sel(s, L.selem, q, "snext") == 0, E.sel(s, L.selem, q, "mpprev") == 0)

# get/delete's steps after the sharing guard (guard:exclusive: as the pc or as a return
# address on the stack)
_GUARDS = {step_of(storage_get).code, step_of(storage_delete).code}
_PAST_GUARD = tuple(c for c in _steps(get, delete) if c not in _GUARDS)
_IN_KFUNC = (*_GUARDS, *_PAST_GUARD)

# arg:nonzero: (the steps, as pc or return address) -> the register they dereference
_NONZERO_ARGS = (
    (_steps(ls.destroy), "d_storage"),
    (_codes(ls.destroy_next), "d_cursor"),
    (_steps(ls.nofail), "n_selem"),
    (_codes(ls.nofail_storage, ls.nofail_pin, ls.nofail_owner, ls.nofail_unpin,
            ls.nofail_unlink_storage), "n_ls"),
    (_codes(ls.nofail_map), "n_sm"),
    (_codes(get_ext_reset), "g_ext"),
    (_codes(ls.unlink_map_ls, ls.unlink_map, ls.unlink_misc_cache, ls.unlink_misc_owner,
            ls.unlink_storage), "s_ls"),
    (_steps(ls.unlink), "g_sdata"),
    (_steps(ls.lookup), "g_storage"),
    (_codes(ls.insert_cache), "l_sdata"),
    (_codes(ls.update_locked), "u_storage"),
    (_steps(ls.update), "g_ext"),
    (_codes(ls.map_free_next), "m_cursor"),
    (_steps(ls.map_free), "a_map"),
    (_codes(skb_ext_cow), "x_old"),
    (_codes(skb_ext_set_active), "x_new"),
    (_steps(get, delete, ext_add, clone, copy, unclone, ext_del, ext_reset, free), "a_skb"),
)
# arg:unlink-lock: the storage bpf_selem_unlink()'s lock step dereferences, loaded by
# the step before without the lock (selem_unlink_ls).  A destroy's
# bpf_selem_unlink_nofail() may clear selem->local_storage in between, and where finding
# 3 lets a destroy free the storage a delete works on (rfc-refcnt-guard with ext_del)
# the load reads NULL and the lock step oopses: so it is a lemma apart from
# arg:nonzero, which Houdini may drop alone
_UNLINK_LOCK_ARG = (_codes(ls.selem_unlink_locked), "s_ls")
# every pointer a step dereferences (heap:arg-readable: readable where not NULL)
_DEREF_ARGS = (*_NONZERO_ARGS, _UNLINK_LOCK_ARG)

# field -> the table it points into
HEAP_POINTERS = {
    ("skb", "ext"): "ext",
    ("ext", "storage"): "storage",
    ("storage", "first"): "selem",
    ("storage", "owner"): "ext",
    ("selem", "local_storage"): "storage",
    ("selem", "smap"): "map",
    ("selem", "snext"): "selem",
    ("selem", "mnext"): "selem",
    **{("map", f"b{b}_first"): "selem" for b in range(NBUCKETS)},
}


class Lemmas:
    """The lemma families for one (open-world) model, over backend ``E``."""

    def __init__(self, model, E=Concrete):
        self.m, self.E, self.L = model, E, model.layout
        L = self.L
        self.tables = {t.name: t for t in (L.skb, L.ext, L.storage, L.selem, L.map)}
        self.threads = range(1, L.thread.n + 1)

    def _slots(self, table):
        return range(1, table.n + 1)

    def _every(self, table, pred) -> Callable:
        """The lemma: ``pred(s, i)`` for every slot ``i`` of ``table``."""
        return lambda s: self.E.And(*(pred(s, i) for i in self._slots(table)))

    def _range(self, tb, f, n) -> Callable:
        return self._every(tb, lambda s, i: self.E.ULE(s[tb.idx(i, f)], n))

    def _ptr_allocated(self, tb, f, target) -> Callable:
        E = self.E
        return self._every(tb, lambda s, i: E.Implies(
            s[tb.idx(i, f)] != 0,
            lambda: E.sel(s, target, s[tb.idx(i, f)], "mem") != MEM_NONE))

    def _none_zero(self, tb) -> Callable:
        E = self.E
        rest = [f for f in tb.fields if f != "mem"]
        return self._every(tb, lambda s, i: E.Implies(
            s[tb.idx(i, "mem")] == MEM_NONE, lambda: E.And(*(s[tb.idx(i, f)] == 0
                                                             for f in rest))))

    def _hlist(self, nxt, pprev) -> Callable:
        """Every linked node: *pprev == node, and next->pprev == &node->next."""
        E, tb = self.E, self.L.selem

        def ok(s, q):
            pp, n = s[tb.idx(q, pprev)], s[tb.idx(q, nxt)]
            return E.And(
                E.Implies(E.UGT(pp, PPREV_HEAD),
                          lambda: E.sel(s, tb, pprev_node(pp), nxt) == q),
                E.Implies(E.And(pp != 0, n != 0),
                          lambda: E.sel(s, tb, n, pprev) == pprev_of(q)))

        return self._every(tb, ok)

    def _hlist_head(self) -> Callable:
        """local_storage->list.first points at a node whose pprev is the head."""
        E, L = self.E, self.L
        return self._every(L.storage, lambda s, st: E.Implies(
            s[L.storage.idx(st, "first")] != 0, lambda: E.And(
                E.sel(s, L.selem, s[L.storage.idx(st, "first")], "spprev") == PPREV_HEAD,
                E.sel(s, L.selem, s[L.storage.idx(st, "first")], "local_storage") == st)))

    def _reg_range(self, reg, n) -> Callable:
        L = self.L
        return lambda s: self.E.And(*(self.E.ULE(s[L.thread.idx(t, reg)], n)
                                     for t in self.threads))

    def all(self) -> dict[str, Callable]:
        out: dict[str, Callable] = {}
        E, L = self.E, self.L
        for (tname, f), target in HEAP_POINTERS.items():
            tb, tt = self.tables[tname], self.tables[target]
            out[f"range:{tname}.{f}"] = self._range(tb, f, tt.n)
            out[f"no-ptr-to-none:{tname}.{f}"] = self._ptr_allocated(tb, f, tt)
        for f in ("spprev", "mpprev"):
            out[f"range:selem.{f}"] = self._range(L.selem, f, pprev_of(L.selem.n))
        out["hlist:snode"] = self._hlist("snext", "spprev")
        out["hlist:map_node"] = self._hlist("mnext", "mpprev")
        out["hlist:storage-head"] = self._hlist_head()
        for c in (f for f in L.storage.fields if f.startswith("cache")):
            out[f"range:storage.{c}"] = self._range(L.storage, c, L.selem.n)
        for reg, target in REG_POINTERS.items():
            out[f"range:cpu.{reg}"] = self._reg_range(reg, self.tables[target].n)
        vps = [self._reg_range(f, L.selem.n) for f in L.thread.fields if f.startswith("vp")]
        out["range:cpu.vp"] = lambda s: E.And(*(r(s) for r in vps))
        out["range:mem"] = lambda s: E.And(*(E.ULE(s[tb.idx(i, "mem")], 3)
                                             for tb in self.tables.values()
                                             for i in self._slots(tb)))
        for tb in self.tables.values():
            out[f"none-zero:{tb.name}"] = self._none_zero(tb)
        clear = [f for f in L.thread.fields
                 if f not in PERSISTENT_REGS and not f.startswith("vp")
                 and f not in ("pc", "sp")]
        out["idle-clear"] = lambda s: E.And(*(
            E.Implies(s[L.thread.idx(t, "pc")] == 0,
                      lambda t=t: E.And(s[L.thread.idx(t, "sp")] == 0,
                                        *(s[L.thread.idx(t, f)] == 0 for f in clear)))
            for t in self.threads))
        out["range:cpu.sp"] = self._reg_range("sp", STACK_DEPTH)
        out["range:cpu.rcu"] = self._reg_range("rcu", 2)
        nthreads = L.thread.n
        out["lock-owner:storage"] = self._range(L.storage, "lock", nthreads)
        out["lock-owner:map"] = lambda s: E.And(*(
            E.ULE(s[L.map.idx(i, f"b{b}_lock")], nthreads)
            for i in self._slots(L.map) for b in range(NBUCKETS)))

        cpus, skbs = L.thread.n, L.skb.n
        ids = SKB_EXT_BPF_STORAGE | SKB_EXT_SEC_PATH
        domains = {(L.skb, "cloned"): 1, (L.skb, "active"): ids, (L.ext, "present"): ids,
                   (L.ext, "refcnt"): skbs + cpus, (L.storage, "owner_refcnt"): 1 + cpus,
                   (L.storage, "rcuw"): (1 << cpus) - 1, (L.selem, "rcuw"): (1 << cpus) - 1,
                   (L.selem, "g_writer"): skbs, (L.selem, "g_map"): L.map.n,
                   (L.selem, "g_ls"): L.storage.n, (L.storage, "g_cleared"): L.map.n}
        for (tb, f), hi in domains.items():
            out[f"domain:{tb.name}.{f}"] = self._range(tb, f, hi)
        # failure budgets only go down (rqspinlock.c, slab.c: ``may_fail``)
        spec = self.m.spec
        out["domain:budget"] = lambda s: E.And(
            E.ULE(s[L.G["lock_budget"]], spec.lock_failures),
            E.ULE(s[L.G["alloc_budget"]], spec.alloc_failures))
        # (but a lost cmpxchg frees a storage and its first selem as they are linked)
        for f in ("spprev", "mpprev"):
            out[f"linked-live:{f}"] = self._every(L.selem, lambda s, q, f=f: E.Implies(
                s[L.selem.idx(q, f)] != 0, lambda: E.Or(
                    s[L.selem.idx(q, "mem")] == MEM_LIVE,
                    *((lost_publish(E, L, s, q),) if f == "spprev" else ()))))
        born = [(x, 1 << (x - 1)) for x in self._slots(L.skb)]
        out["reached-born"] = self._every(L.storage, lambda s, st: E.And(
            E.ULE(s[L.storage.idx(st, "g_reached")], (1 << L.skb.n) - 1),
            *(E.Implies((s[L.storage.idx(st, "g_reached")] & bit) != 0,
                        lambda x=x: s[L.skb.idx(x, "mem")] != MEM_NONE) for x, bit in born)))

        p = Props(self.m, E)
        out["ext-users"] = lambda s: E.Implies(p.quiescent(s), lambda: E.And(*(
            E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE,
                      lambda e=e: s[L.ext.idx(e, "refcnt")] == p.users(s, e))
            for e in p.exts)))

        out["skb-ext-live"] = lambda s: E.And(*(
            E.Implies(E.And(p.live(s, x), s[L.skb.idx(x, "active")] != 0),
                      lambda x=x: E.sel(s, L.ext, p.ext_of(s, x), "mem") == MEM_LIVE)
            for x in p.skbs))
        out["ext-refs"] = lambda s: E.And(*(
            E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE,
                      lambda e=e: E.ULE(p.users(s, e, now=True), s[L.ext.idx(e, "refcnt")]))
            for e in p.exts))
        out["active-present"] = lambda s: E.And(*(
            E.Implies(p.live(s, x), lambda x=x: (s[L.skb.idx(x, "active")] & ~E.sel(
                s, L.ext, s[L.skb.idx(x, "ext")], "present")) == 0)
            for x in p.skbs))

        def one_ext(s, st):
            r = p.reaching(s, st)
            pairs = [(x, y) for x in p.skbs for y in p.skbs if x < y]
            return E.And(*(E.Implies(
                E.And((r & (1 << (x - 1))) != 0, (r & (1 << (y - 1))) != 0),
                lambda x=x, y=y: p.ext_of(s, x) == p.ext_of(s, y)) for x, y in pairs))

        out["reaching-one-ext"] = self._every(L.storage, one_ext)
        return out

    def registers(self) -> dict[str, Callable]:
        """own:*, cow:*, put:*, ext-refcnt, get:*, arg:* and rcu:waiting-readers: what
        the CPUs' registers hold, and the ext references and deferred frees they
        account for.  Not in :meth:`all`: used with ``check prove --control-lemmas``
        (with ctl:*, the guard:* lemmas and no-oops, and the rule "until an oops"),
        so that the default induction stays the one measured in the README."""
        p = Props(self.m, self.E)
        return {**self._ownership(p), **self._ext_refs(p), **self._rcu(),
                **self._arguments(p)}

    def _per_cpu(self, pred) -> Callable:
        """The lemma: ``pred(s, t)`` for every CPU ``t``."""
        return lambda s: self.E.And(*(pred(s, t) for t in self.threads))

    def _reg(self, s, t, f):
        return s[self.L.thread.idx(t, f)]

    def _ownership(self, p) -> dict[str, Callable]:
        """own:*, the open world's rule that an skb belongs to one context at a time
        (model/openworld.py ``enabled``), as facts about the CPUs' registers."""
        E, L, r = self.E, self.L, self._reg

        def live(s, x):
            return E.sel(s, L.skb, x, "mem") == MEM_LIVE

        def others(s, t, pred):
            return E.And(*(pred(u) for u in self.threads if u != t))

        def exclusive(s, t):
            own, a, new = r(s, t, "own"), r(s, t, "a_skb"), r(s, t, "a_new")
            return E.And(
                E.Implies(own != 0, lambda: others(s, t, lambda u: E.And(
                    r(s, u, "own") != own, r(s, u, "a_skb") != own, r(s, u, "a_new") != own))),
                E.Implies(a != 0, lambda: others(s, t, lambda u: E.And(
                    r(s, u, "a_skb") != a, r(s, u, "a_new") != a))),
                E.Implies(new != 0, lambda: others(s, t, lambda u: r(s, u, "a_new") != new)))

        return {
            # a program run holds its packet: it is live, inside rcu_read_lock()
            "own:live": self._per_cpu(lambda s, t: E.Implies(
                r(s, t, "own") != 0, lambda: E.And(r(s, t, "rcu") != 0,
                                                   live(s, r(s, t, "own"))))),
            # ... and no other CPU holds it, runs an op on it or creates it
            "own:exclusive": self._per_cpu(exclusive),
            # an op's packet is live until free's own step frees it
            "own:op-live": self._per_cpu(lambda s, t: E.Implies(
                E.And(r(s, t, "a_skb") != 0, r(s, t, "alt") != _FREE),
                lambda: live(s, r(s, t, "a_skb")))),
            # inside a program run, every op is on the run's packet
            "own:run-op": self._per_cpu(lambda s, t: E.Implies(
                E.And(r(s, t, "own") != 0, r(s, t, "a_skb") != 0),
                lambda: r(s, t, "a_skb") == r(s, t, "own"))),
            # a kfunc (bpf_skb_storage_get/delete) runs on its program's packet
            "own:kfunc": self._per_cpu(lambda s, t: E.Implies(
                p.within(s, t, _IN_KFUNC), lambda: E.And(
                    r(s, t, "a_skb") != 0, r(s, t, "own") == r(s, t, "a_skb")))),
        }

    def _ext_refs(self, p) -> dict[str, Callable]:
        """cow:*, put:* and get:ext-added: skb_ext_add's copy on write and
        __skb_ext_put as they hold the ext references in their registers."""
        E, L, r = self.E, self.L, self._reg

        def ext(s, e, f):
            return E.sel(s, L.ext, e, f)

        def skb(s, x, f):
            return E.sel(s, L.skb, x, f)

        def cow_old(s, t):  # skb_ext_add read skb->extensions (shared) into x_old
            old, a = r(s, t, "x_old"), r(s, t, "a_skb")
            return E.Implies(old != 0, lambda: E.And(
                a != 0, skb(s, a, "active") != 0,
                E.Or(r(s, t, "x_new") != 0, E.And(old == skb(s, a, "ext"),
                                                 ext(s, old, "mem") == MEM_LIVE))))

        def cow_new(s, t):  # the copy is this CPU's alone until set_active installs it
            new = r(s, t, "x_new")
            return E.Implies(new != 0, lambda: E.And(
                ext(s, new, "mem") == MEM_LIVE, ext(s, new, "refcnt") == 1,
                (skb(s, r(s, t, "a_skb"), "active") & ~ext(s, new, "present")) == 0,
                *(s[L.skb.idx(x, "ext")] != new for x in p.skbs)))

        def cow_put(s, t):  # __skb_ext_put(old) called from the copy on write
            old, new, arg = r(s, t, "x_old"), r(s, t, "x_new"), r(s, t, "p_ext")
            return E.Implies(p.within(s, t, (_SET_ACTIVE,)), lambda: E.And(
                old != 0, new != 0, old != new, E.Or(arg == 0, arg == old),
                E.Implies(r(s, t, "pc") == _PUT, arg == old)))

        def in_flight(s, e):  # references held by a CPU about to drop them
            return E.Sum(E.If(E.And(r(s, t, "pc") == _PUT, r(s, t, "p_ext") == e), 1, 0)
                         for t in self.threads)

        def held(s, e):  # the reference __skb_ext_put is dropping (or freeing with)
            return E.Sum(E.If(E.And(r(s, t, "p_ext") == e, E.Or(
                r(s, t, "pc") == _PUT, p.within(s, t, (_FREE_NOW,)))), 1, 0)
                for t in self.threads)

        def get_ext(s, t):  # what skb_storage_lookup()/skb_ext_add() gave get
            a = r(s, t, "a_skb")
            return E.Implies(r(s, t, "g_ext") != 0, lambda: E.And(
                (skb(s, a, "active") & SKB_EXT_BPF_STORAGE) != 0,
                r(s, t, "g_ext") == skb(s, a, "ext")))

        def adding(s, t):  # inside the skb_ext_add() get calls
            a = r(s, t, "a_skb")
            return E.Implies(
                E.And(p.within(s, t, (_PC_EXT_ADDED,)), r(s, t, "pc") != _PC_EXT_ADDED),
                lambda: E.And(r(s, t, "g_ext") == 0,
                              (skb(s, a, "active") & SKB_EXT_BPF_STORAGE) == 0))

        def ext_added(s, t):
            rv, a = r(s, t, "rv"), r(s, t, "a_skb")
            return E.Implies(r(s, t, "pc") == _PC_EXT_ADDED, lambda: E.Or(
                rv == 0, E.And(rv == skb(s, a, "ext"), ext(s, rv, "mem") == MEM_LIVE)))

        return {
            "cow:old": self._per_cpu(cow_old),
            "cow:new": self._per_cpu(cow_new),
            "cow:put": self._per_cpu(cow_put),
            # __skb_ext_put and the destructor it calls work on a live ext
            "put:arg": self._per_cpu(lambda s, t: E.Implies(
                p.within(s, t, _PUTTING), lambda: E.And(
                    r(s, t, "p_ext") != 0, ext(s, r(s, t, "p_ext"), "mem") == MEM_LIVE))),
            # past "refcnt == 1": the ext is the caller's alone and is being freed
            "put:doomed": self._per_cpu(lambda s, t: E.Implies(
                p.within(s, t, (_FREE_NOW,)), lambda: E.And(
                    ext(s, r(s, t, "p_ext"), "refcnt") == 1,
                    p.users(s, r(s, t, "p_ext"), now=True) == 0))),
            # ext-refs, counting the reference a CPU at __skb_ext_put's first step holds
            "put:in-flight": lambda s: E.And(*(
                E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE, lambda e=e: E.ULE(
                    p.users(s, e, now=True) + in_flight(s, e), s[L.ext.idx(e, "refcnt")]))
                for e in p.exts)),
            "get:ext-added": self._per_cpu(ext_added),
            # exactly: the live packets using it, plus a reference being put
            "ext-refcnt": lambda s: E.And(*(
                E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE, lambda e=e: s[L.ext.idx(
                    e, "refcnt")] == p.users(s, e, now=True) + held(s, e))
                for e in p.exts)),
            "get:ext": self._per_cpu(get_ext),
            "get:ext-adding": self._per_cpu(adding),
        }

    def no_oops(self) -> dict[str, Callable]:
        """no-oops: no CPU has oopsed (a NULL pointer dereference, which kills the task:
        model/system.py ``_oops``).  With ``check prove --control-lemmas`` the other
        lemmas are claimed only until an oops; this one, claimed outright, is what
        makes them hold on every reachable state when Houdini keeps it."""
        E = self.E
        return {"no-oops": lambda s: E.Not(E.Or(*(self.m.thread_done_expr(E, s, t)
                                                  for t in self.threads)))}

    def _arguments(self, p) -> dict[str, Callable]:
        """arg:nonzero: the pointers a function dereferences are not NULL while it runs
        (its callers check them first: bpf_skb_storage_free() calls
        bpf_local_storage_destroy() only with a storage, the list walk stops at NULL,
        bpf_selem_unlink_nofail() locks a storage and a bucket only if it found them)."""
        E, r = self.E, self._reg

        def nonzero(table):  # each register not NULL at the steps that dereference it
            return lambda s, t: E.And(*(E.Implies(p.within(s, t, codes),
                                                  lambda f=f: r(s, t, f) != 0)
                                        for codes, f in table))

        def reset(s, t):  # rfc-fix: bpf_skb_storage_free(ext) before the NULL, and the
            # NULL's own step (nothing in between writes p_ext)
            return E.Implies(p.within(s, t, (_PC_EXT_RESET,)),
                             lambda: r(s, t, "p_ext") == r(s, t, "g_ext"))

        return {"arg:nonzero": self._per_cpu(nonzero(_NONZERO_ARGS)),
                "arg:unlink-lock": self._per_cpu(nonzero((_UNLINK_LOCK_ARG,))),
                "arg:ext-reset": self._per_cpu(reset)}

    def _rcu(self) -> dict[str, Callable]:
        """rcu:waiting-readers, model/rcu.py's bookkeeping of deferred frees: a free
        scheduled by call_rcu waits only for CPUs still inside rcu_read_lock()
        (kernel/rcu/: the readers when it was scheduled, minus those that left)."""
        E, L, r = self.E, self.L, self._reg

        def waiting(s, tb, i):
            w = s[tb.idx(i, "rcuw")]
            return E.And(E.Implies(w != 0, lambda: s[tb.idx(i, "mem")] == MEM_RCU),
                         *(E.Implies((w & (1 << (t - 1))) != 0,
                                     lambda t=t: r(s, t, "rcu") != 0) for t in self.threads))

        tables = [self._every(tb, lambda s, i, tb=tb: waiting(s, tb, i))
                  for tb in (L.storage, L.selem)]
        return {"rcu:waiting-readers": lambda s: E.And(*(f(s) for f in tables))}

    # ---- guard:* (see the module docstring) ------------------------------------------
    def guard_argument(self) -> dict[str, Callable]:
        """The guard:* lemmas.  Not in :meth:`all`: with the default catalogue Houdini
        drops them at every size tried; ``check prove --control-lemmas`` adds them
        (checker/prove_induction.py ``candidates``)."""
        E, L = self.E, self.L
        p = Props(self.m, E)
        th = L.thread

        def bpf(s, x):
            return (s[L.skb.idx(x, "active")] & SKB_EXT_BPF_STORAGE) != 0

        def reaches(s, x):
            return E.And(p.live(s, x), bpf(s, x), E.Not(p.initialising(s, x)))

        def owner(s):
            def one(x):
                e = p.ext_of(s, x)
                st = E.sel(s, L.ext, e, "storage")
                return E.Implies(E.And(reaches(s, x), st != 0),
                                 lambda: E.sel(s, L.storage, st, "owner") == e)
            return E.And(*(one(x) for x in p.skbs))

        def exclusive(s):
            def one(t, x):
                return E.Implies(s[th.idx(t, "a_skb")] == x, lambda: E.Implies(
                    E.And(p.within(s, t, _PAST_GUARD), reaches(s, x)),
                    lambda: E.And(*(E.Not(p.uses(s, y, p.ext_of(s, x), now=True))
                                    for y in p.skbs if y != x))))
            return E.And(*(one(t, x) for t in self.threads for x in p.skbs))

        def x_new(s):
            def one(t):
                xn = s[th.idx(t, "x_new")]
                return E.Implies(xn != 0, lambda: E.And(
                    p.within(s, t, (_SET_ACTIVE,)), s[th.idx(t, "a_skb")] != 0,
                    E.sel(s, L.ext, xn, "mem") == MEM_LIVE))
            return E.And(*(one(t) for t in self.threads))

        def ext_added(s):
            def one(t, x):
                rv = s[th.idx(t, "rv")]
                return E.Implies(
                    E.And(s[th.idx(t, "pc")] == _PC_EXT_ADDED, s[th.idx(t, "a_skb")] == x),
                    lambda: E.And(s[th.idx(t, "x_new")] == 0, E.If(
                        rv == 0, E.Not(bpf(s, x)),
                        E.And(bpf(s, x), rv == s[L.skb.idx(x, "ext")]))))
            return E.And(*(one(t, x) for t in self.threads for x in p.skbs))

        def added_exclusive(s):
            # the ext skb_ext_add() gave get (rv, then g_ext until get_ext_reset) is the
            # packet's alone: skb_ext_add() copied a shared one
            def one(t):
                pc, a = s[th.idx(t, "pc")], s[th.idx(t, "a_skb")]
                e = E.If(pc == _PC_EXT_ADDED, s[th.idx(t, "rv")], s[th.idx(t, "g_ext")])
                return E.Implies(
                    E.And(E.Or(pc == _PC_EXT_ADDED, p.within(s, t, (_PC_EXT_RESET,))), e != 0),
                    lambda: E.And(E.sel(s, L.ext, e, "refcnt") == 1, *(
                        E.Implies(a != x, lambda x=x: E.Not(p.uses(s, x, e, now=True)))
                        for x in p.skbs)))
            return E.And(*(one(t) for t in self.threads))

        return {"guard:owner": owner, "guard:exclusive": exclusive, "guard:x_new": x_new,
                "guard:ext-added": ext_added, "guard:ext-added-exclusive": added_exclusive}
