"""The eleven properties of SPEC_FORMAT.md, with the meanings of SEMANTICS.md section 8.

Each predicate is written once over an expression backend (model/expr.py): with the
``Concrete`` backend it is a Python predicate on a ``bytes`` state (``True`` = holds),
with ``Z3`` a z3 formula over the state's bytes.  Event-like properties read the
model's observations (what KASAN, refcount_t or the program saw in the step that led
to this state); the others read the kernel objects.  ``no_leak`` is judged on final
states, ``no_deadlock`` on the state graph (checker/explore.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model.bpf_skb_storage import get_ext_added, get_ext_reset
from model.expr import Concrete
from model.kernel import step_of
from model.layout import (
    KIND_NAMES,
    MAP_ALIVE,
    MEM_LIVE,
    REFCOUNT_SATURATED,
    SKB_EXT_BPF_STORAGE,
    STACK_DEPTH,
)
from model.skbuff import skb_ext_reset_clear

_PC_EXT_ADDED = step_of(get_ext_added).code
_PC_EXT_RESET = step_of(get_ext_reset).code  # rfc-fix only
# skb_ext_reset()'s clear after its put (scrub's, kfree_skb()'s): a second context only
_PC_RESET_CLEAR = step_of(skb_ext_reset_clear).code


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
    """The property predicates for one model, over backend ``E``."""

    def __init__(self, model, E=Concrete):
        self.m, self.E = model, E
        L = self.L = model.layout
        self.G = L.G
        self.skbs = range(1, L.skb.n + 1)
        self.exts = range(1, L.ext.n + 1)
        self.storages = range(1, L.storage.n + 1)
        self.selems = range(1, L.selem.n + 1)
        self.maps = range(1, L.map.n + 1)
        self.slots = range(L.sizes.cache_slots)
        # per CPU: where its pc and its stack of return addresses are (within())
        self._ctl = {t: [L.thread.idx(t, "pc")] + [L.thread.idx(t, f"stk{i}")
                                                    for i in range(STACK_DEPTH)]
                     for t in range(1, L.thread.n + 1)}

    # ---- helpers --------------------------------------------------------------------
    def sel(self, s, table, i, name):
        return self.E.sel(s, table, i, name)

    def live(self, s, x):
        return s[self.L.skb.idx(x, "mem")] == MEM_LIVE

    def ext_of(self, s, x):
        """The ext packet ``x`` uses: ``skb->extensions``, except while its CPU is inside
        skb_ext_add's copy-on-write after allocating the copy (x_new set): then the
        copy, which skb_ext_set_active is about to install.  Until then the old pointer
        is only a stale register of the CPU that owns the packet (it may already have
        been put); no program can follow it."""
        E, L = self.E, self.L
        e = s[L.skb.idx(x, "ext")]
        for t in range(L.thread.n, 0, -1):
            e = E.If(E.And(s[L.thread.idx(t, "a_skb")] == x,
                           s[L.thread.idx(t, "x_new")] != 0),
                     s[L.thread.idx(t, "x_new")], e)
        return e

    def reaching(self, s, st):
        """Mask of live packets whose BPF_STORAGE ext (``ext_of``) points at ``st``."""
        E, L = self.E, self.L
        return E.Sum(E.If(E.And(self.live(s, x),
                                (s[L.skb.idx(x, "active")] & SKB_EXT_BPF_STORAGE) != 0,
                                E.Not(self.initialising(s, x)),
                                *self.not_resetting(s, x),
                                self.sel(s, L.ext, self.ext_of(s, x), "storage") == st),
                          1 << (x - 1), 0) for x in self.skbs)

    def initialising(self, s, x):
        """Packet ``x``'s CPU is in bpf_skb_storage_get between ``skb_ext_add(skb,
        SKB_EXT_BPF_STORAGE)`` and ``RCU_INIT_POINTER(ext->storage, NULL)``.  When
        skb_ext_add reused a data area (the id was present but not active), the old
        pointer is still there for this one step; the CPU that owns the packet is about
        to overwrite it and no program can follow it (like ``ext_of``'s window).  With
        ``rfc-fix`` that CPU first destroys the kept storage (bpf_skb_storage_free, then
        ``get_ext_reset``): the window lasts until the pointer is NULL."""
        E, L = self.E, self.L

        def in_window(t):
            return E.Or(s[L.thread.idx(t, "pc")] == _PC_EXT_ADDED,
                        self.within(s, t, (_PC_EXT_RESET,)))

        return E.Or(*(E.And(s[L.thread.idx(t, "a_skb")] == x, in_window(t))
                      for t in range(1, L.thread.n + 1)))

    def not_resetting(self, s, x):
        """Where a second context may use the skb, skb_ext_reset() (scrub's, and
        kfree_skb()'s before kfree_skbmem()) puts the ext first and clears
        ``active_extensions`` after (the kernel's order).  While its
        CPU is inside ``__skb_ext_put()`` (the clear is its return address: the
        destructor runs, then the ext is freed; only this packet held it), packet
        ``x`` no longer counts as holding the ext it still has active, as the owned
        route's early clear says.  Once the put has returned, until the clear, it
        counts again while another CPU's program runs a kfunc on ``x``: after a put
        that only dropped the refcnt the ext, its storage and the bit are all live,
        and that kfunc still reaches the storage the ext's other holder now passes
        the guard into.  With no such kfunc nothing uses the window.  Empty (no
        condition) where one context owns each skb: there the clear comes first."""
        if self.m.one_context_per_skb:
            return ()
        E, L = self.E, self.L
        cpus = range(1, L.thread.n + 1)

        def reg(t, name):
            return s[L.thread.idx(t, name)]

        def resetting(t):
            in_put = E.In([s[i] for i in self._ctl[t][1:]], (_PC_RESET_CLEAR,))  # stack
            watched = E.Or(*(E.And(reg(u, "a_skb") == x, reg(u, "rcu") != 0)
                             for u in cpus if u != t))
            return E.And(reg(t, "a_skb") == x, E.Or(in_put, E.And(
                reg(t, "pc") == _PC_RESET_CLEAR, E.Not(watched))))

        return (E.Not(E.Or(*(resetting(t) for t in cpus))),)

    def within(self, s, t, codes):
        """CPU ``t`` runs one of the steps ``codes`` or will return to one (a return
        address on its stack)."""
        return self.E.In([s[i] for i in self._ctl[t]], codes)

    @staticmethod
    def two_or_more(mask):
        return (mask & (mask - 1)) != 0

    def uses(self, s, x, e, now=False):
        """Live packet ``x`` has ext ``e`` attached (any id active): through
        ``skb->extensions``, or with ``now`` through :meth:`ext_of` (the copy a CPU
        inside skb_ext_add's COW is about to install)."""
        L = self.L
        ext = self.ext_of(s, x) if now else s[L.skb.idx(x, "ext")]
        return self.E.And(self.live(s, x), s[L.skb.idx(x, "active")] != 0, ext == e)

    def users(self, s, e, now=False):
        """How many live packets have ext ``e`` attached (what its refcnt counts)."""
        return self.E.Sum(self.E.If(self.uses(s, x, e, now), 1, 0) for x in self.skbs)

    def ext_owned(self, s, e):
        """A live packet has ext ``e`` attached."""
        return self.E.Or(*(self.uses(s, x, e) for x in self.skbs))

    def chain(self, s, first, nxt, hops):
        """The selems a walk from ``first`` along ``nxt`` (``snext``: a storage's list,
        ``mnext``: a bucket's) reads: ``first`` and the ``hops`` next pointers after it."""
        nodes = [first]
        for _ in range(hops):
            nodes.append(self.sel(s, self.L.selem, nodes[-1], nxt))
        return nodes

    def in_list(self, s, st, q, hops=None):
        """selem ``q`` is on storage ``st``'s list (a walk of at most #selems nodes, or
        of ``hops``)."""
        nodes = self.chain(s, s[self.L.storage.idx(st, "first")], "snext",
                           hops or len(self.selems))
        return self.E.Or(*(node == q for node in nodes[:-1]))

    def owned_storage(self, s, st):
        E, L = self.E, self.L
        return E.Or(*(E.And(s[L.ext.idx(e, "mem")] == MEM_LIVE, self.ext_owned(s, e),
                            s[L.ext.idx(e, "storage")] == st,
                            (s[L.ext.idx(e, "present")] & SKB_EXT_BPF_STORAGE) != 0)
                      for e in self.exts))

    def quiescent(self, s):
        return self.m.quiescent_expr(self.E, s)

    # ---- the properties -------------------------------------------------------------
    def no_shared_storage(self, s):
        E, L = self.E, self.L

        def ok(st):
            passed = s[L.storage.idx(st, "g_reached")]
            return E.Implies(self.two_or_more(passed), lambda: E.Not(
                self.two_or_more(passed & self.reaching(s, st))))

        return E.All(ok(st) for st in self.storages)

    def clone_isolation(self, s):
        by, frm = s[self.G["obs_read_by"]], s[self.G["obs_read_from"]]
        return self.E.Or(by == 0, by == frm)

    def no_use_after_free(self, s):
        return s[self.G["obs_uaf"]] == 0

    def no_double_free(self, s):
        return s[self.G["obs_dfree"]] == 0

    def no_leak(self, s, hops=None):
        """(``hops``: with :meth:`in_list`'s walks of that many nodes, a stronger
        form; invariants/heap.py ``goal_lemmas``)"""
        E, L = self.E, self.L
        exts = [E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE, self.ext_owned(s, e))
                for e in self.exts]
        owned = {st: self.owned_storage(s, st) for st in self.storages}
        sts = [E.Implies(s[L.storage.idx(st, "mem")] == MEM_LIVE, owned[st])
               for st in self.storages]
        qs = [E.Implies(s[L.selem.idx(q, "mem")] == MEM_LIVE,
                        E.Or(*(E.And(owned[st], s[L.storage.idx(st, "mem")] == MEM_LIVE,
                                     self.in_list(s, st, q, hops)) for st in self.storages)))
              for q in self.selems]
        return E.And(*exts, *sts, *qs)

    def no_leak_safety(self, s, hops=None):
        """``no_leak`` as a safety invariant (SEMANTICS.md section 8; ``check prove``):
        whenever no CPU is inside an op, every allocated object is owned by something
        alive.  Objects whose free is pending are not allocated (mem is not LIVE); an op
        in progress may hold objects in its registers, so only quiescent states count."""
        return self.E.Implies(self.quiescent(s), lambda: self.no_leak(s, hops))

    def cache_consistent(self, s):
        E, L = self.E, self.L

        def slot_ok(st, i):
            c = s[L.storage.idx(st, f"cache{i}")]
            return E.Implies(c != 0, lambda: E.And(
                self.sel(s, L.selem, c, "spprev") != 0,
                self.sel(s, L.selem, c, "local_storage") == st))

        def ok(st):
            return E.Implies(
                E.And(s[L.storage.idx(st, "mem")] == MEM_LIVE,
                      s[L.storage.idx(st, "lock")] == 0),
                lambda: E.Implies(self.reaching(s, st) != 0,
                                  lambda: E.All(slot_ok(st, i) for i in self.slots)))

        return E.All(ok(st) for st in self.storages)

    def lookup_correct(self, s):
        want, got = s[self.G["obs_lookup_map"]], s[self.G["obs_lookup_got"]]
        return self.E.Or(want == 0, want == got)

    def refcount_sane(self, s):
        E, L = self.E, self.L

        def users_ok(e):
            return E.Implies(s[L.ext.idx(e, "mem")] == MEM_LIVE,
                             lambda: s[L.ext.idx(e, "refcnt")] == self.users(s, e))

        return E.And(
            s[self.G["obs_warn"]] == 0,
            E.All(E.Not(E.And(s[L.ext.idx(e, "mem")] == MEM_LIVE,
                              s[L.ext.idx(e, "refcnt")] == REFCOUNT_SATURATED))
                  for e in self.exts),
            E.All(s[L.storage.idx(st, "owner_refcnt")] != REFCOUNT_SATURATED
                  for st in self.storages),
            E.Implies(self.quiescent(s), lambda: E.All(users_ok(e) for e in self.exts)))

    def accounting(self, s):
        E, L = self.E, self.L
        return E.And(*(s[self.G[f"idx_usage{i}"]] == E.Sum(
            E.If(E.And(s[L.map.idx(m, "mem")] == MAP_ALIVE, s[L.map.idx(m, "cache_idx")] == i),
                 1, 0) for m in self.maps) for i in self.slots))

    def assertions(self, s):
        return s[self.G["obs_assert"]] == 0


# the properties ``check prove`` proves for every workload of a size (no_leak in its
# safety form, Props.no_leak_safety)
PROVE_PROPERTIES = ("no_shared_storage", "no_leak", "cache_consistent", "no_use_after_free",
                    "no_double_free")


# the write-only fields (model/symmetry.py WRITE_ONLY) each property reads; a reduced
# exploration keeps these and may erase the rest
GHOST_READS = {
    "no_use_after_free": ("obs_uaf",), "no_double_free": ("obs_dfree",),
    "clone_isolation": ("obs_read_by", "obs_read_from", "value", "g_writer"),
    "lookup_correct": ("obs_lookup_map", "obs_lookup_got"), "refcount_sane": ("obs_warn",),
    "assertions": ("obs_assert", "ret"),
}


def ghost_reads(names) -> frozenset[str]:
    return frozenset(f for n in names for f in GHOST_READS.get(n, ()))


def prove_properties(model, E=Concrete) -> dict[str, Callable]:
    p = Props(model, E)
    return {n: (p.no_leak_safety if n == "no_leak" else getattr(p, n))
            for n in PROVE_PROPERTIES}


class Why:
    """What is wrong in a violating (concrete) state, for reports."""

    def __init__(self, model):
        self.m, self.p = model, Props(model)
        self.L, self.G = model.layout, model.layout.G
        self.names = model.spec.skbs

    def no_shared_storage(self, s):
        L = self.L
        for st in self.p.storages:
            both = s[L.storage.idx(st, "g_reached")] & self.p.reaching(s, st)
            if both & (both - 1):
                names = [self.names[x] for x in range(len(self.names)) if both >> x & 1]
                return (f"live packets {', '.join(names)} both passed the guard into "
                        f"storage{st} and both still reach it")
        return ""

    def clone_isolation(self, s):
        by, frm = s[self.G["obs_read_by"]], s[self.G["obs_read_from"]]
        return (f"packet {self.names[by - 1]} read a value that packet {self.names[frm - 1]} "
                "created or wrote")

    def no_use_after_free(self, s):
        code = s[self.G["obs_uaf"]]
        if code & 31 == 0:
            return f"KASAN: {_objname(code)} dereferenced"
        return f"KASAN: use-after-free on {_objname(code)}"

    def no_double_free(self, s):
        return f"KASAN: double free of {_objname(s[self.G['obs_dfree']])}"

    def no_leak(self, s):
        L, p, out = self.L, self.p, []
        for e in p.exts:
            if s[L.ext.idx(e, "mem")] == MEM_LIVE and not p.ext_owned(s, e):
                out.append(f"ext{e}")
        for st in p.storages:
            if s[L.storage.idx(st, "mem")] == MEM_LIVE and not p.owned_storage(s, st):
                out.append(f"storage{st}")
        for q in p.selems:
            if s[L.selem.idx(q, "mem")] == MEM_LIVE and not any(
                    p.owned_storage(s, st) and s[L.storage.idx(st, "mem")] == MEM_LIVE
                    and p.in_list(s, st, q) for st in p.storages):
                out.append(f"selem{q}")
        return "allocated but owned by nothing alive: " + ", ".join(out)

    def cache_consistent(self, s):
        L, p = self.L, self.p
        for st in p.storages:
            if not (p.reaching(s, st) and s[L.storage.idx(st, "mem")] == MEM_LIVE
                    and s[L.storage.idx(st, "lock")] == 0):
                continue
            for i in p.slots:
                c = s[L.storage.idx(st, f"cache{i}")]
                if c and not (s[L.selem.idx(c, "spprev")]
                              and s[L.selem.idx(c, "local_storage")] == st):
                    return f"storage{st}.cache[{i}] points at selem{c}, not linked to it"
        return ""

    def lookup_correct(self, s):
        mp = self.m.spec.maps
        want, got = s[self.G["obs_lookup_map"]], s[self.G["obs_lookup_got"]]
        return f"a lookup for map {mp[want - 1]} returned map {mp[got - 1]}'s data"

    def refcount_sane(self, s):
        L, p = self.L, self.p
        if s[self.G["obs_warn"]]:
            return f"refcount_t WARN on {_objname(s[self.G['obs_warn']])}"
        for e in p.exts:
            if s[L.ext.idx(e, "mem")] == MEM_LIVE and s[L.ext.idx(e, "refcnt")] == \
                    REFCOUNT_SATURATED:
                return f"ext{e}.refcnt saturated"
        for st in p.storages:
            if s[L.storage.idx(st, "owner_refcnt")] == REFCOUNT_SATURATED:
                return f"storage{st}.owner_refcnt saturated"
        for e in p.exts:
            if s[L.ext.idx(e, "mem")] != MEM_LIVE:
                continue
            refs = p.users(s, e)
            if refs != s[L.ext.idx(e, "refcnt")]:
                return (f"ext{e}.refcnt is {s[L.ext.idx(e, 'refcnt')]} but {refs} live "
                        "packet(s) use it")
        return ""

    def accounting(self, s):
        L, p = self.L, self.p
        for i in p.slots:
            holders = sum(1 for m in p.maps if s[L.map.idx(m, "mem")] == MAP_ALIVE
                          and s[L.map.idx(m, "cache_idx")] == i)
            if s[self.G[f"idx_usage{i}"]] != holders:
                return (f"cache slot {i}: usage count {s[self.G[f'idx_usage{i}']]}, "
                        f"{holders} live map(s) hold it")
        return ""

    def assertions(self, s):
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
KINDS = {"no_leak": "final", "no_deadlock": "graph"}


def properties_for(model) -> list[Property]:
    p, why = Props(model), Why(model)
    out = []
    for name, meaning in MEANINGS.items():
        kind = KINDS.get(name, "state")
        check = getattr(p, name) if kind != "graph" else None
        explain = getattr(why, name) if kind != "graph" else None
        out.append(Property(name, kind, check, explain, meaning))
    return out


def spec_error_property(model) -> Property:
    """Not a property of the kernel: an op started on a packet another thread already
    freed (SPEC_FORMAT's spec error), found by the same search as the properties."""
    idx = model.layout.G["obs_spec_error"]
    return Property("spec_error", "state", lambda s: s[idx] == 0)


def z3_encodings(model, s) -> dict[str, object]:
    """Each state and final property as a z3 formula over the state bytes ``s`` (a list
    of 8-bit z3 terms), from the same predicates the explicit checker runs.  ``no_leak``
    is the formula a final state must satisfy; the deadlock property has none."""
    from model.expr import Z3

    p = Props(model, Z3)
    return {name: Z3.And(getattr(p, name)(s)) for name in MEANINGS
            if KINDS.get(name) != "graph"}
