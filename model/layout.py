"""State layout: where each kernel field lives in the flat state.

A state is an immutable ``bytes`` object: one byte per field, every field a small
integer (pointers are 1-based slot numbers, 0 is NULL; values are indices into the
spec's value table).  Compact (a million states fit in a few hundred MB), hashable,
and the same vector the z3 encoding talks about (one 8-bit bit-vector per byte).

Objects live in fixed pools ("tables") sized from the spec: skbs, skb_ext, storages
(struct bpf_local_storage), selems (struct bpf_local_storage_elem), maps
(struct bpf_local_storage_map), CPUs (threads) and one global record.  Slot ``i`` of
a table (1-based) owns ``len(fields)`` consecutive bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Memory states (the "mem" field of every table).  A KASAN-like check in the
# kernel view flags any access to an object that is not LIVE.
MEM_NONE = 0  # never allocated
MEM_LIVE = 1
MEM_RCU = 2  # free scheduled (call_rcu / kfree_rcu / call_rcu_tasks_trace)
MEM_FREED = 3  # memory returned to the allocator

# skb_ext ids (bit numbers in active_extensions / present)
SKB_EXT_BPF_STORAGE = 1  # 1 << 0
SKB_EXT_SEC_PATH = 2  # 1 << 1: an unrelated id whose addition forces copy-on-write
EXT_ID_NAMES = {SKB_EXT_BPF_STORAGE: "BPF_STORAGE", SKB_EXT_SEC_PATH: "SEC_PATH"}

# selem->state bits (kernel/bpf/bpf_local_storage.c)
SELEM_MAP_UNLINKED = 1
SELEM_STORAGE_UNLINKED = 2
SELEM_UNLINKED = 3
SELEM_TOFREE = 4

# hlist_node.pprev of a selem's snode / map_node, one byte: 0 is NULL (the node is
# unhashed: hlist_del_init_rcu() / never added), PPREV_HEAD is &head->first (the list
# head: local_storage->list or the map bucket the selem hashes to), and q + 1 is
# &selem_q->...next.
PPREV_HEAD = 1


def pprev_of(q):
    """&selem_q->...next as a pprev value."""
    return q + 1


def pprev_node(pp):
    """The selem whose next field pprev value ``pp`` (> PPREV_HEAD) names."""
    return pp - 1


# refcount_t: REFCOUNT_SATURATED is INT_MIN / 2 (0xc0000000); one byte keeps its top bits.
REFCOUNT_SATURATED = 0xC0

# map lifecycle
MAP_NONE = 0
MAP_ALIVE = 1  # holds its cache_idx
MAP_FREEING = 2  # bpf_local_storage_map_free() has released the cache_idx
MAP_FREED = 3

NBUCKETS = 2  # bpf_local_storage_map_alloc: at least 2 buckets
STACK_DEPTH = 6


@dataclass(frozen=True)
class Table:
    """A pool of ``n`` objects of one kind, each with the same named fields."""

    name: str
    n: int
    fields: tuple[str, ...]
    base: int
    # fields outside kernel memory (allocator state, RCU bookkeeping, ghosts):
    # reading them is not a memory access of the modelled kernel.
    meta: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        object.__setattr__(self, "stride", len(self.fields))
        object.__setattr__(self, "offs", {f: n for n, f in enumerate(self.fields)})
        object.__setattr__(self, "_origin", self.base - len(self.fields))

    @property
    def size(self) -> int:
        return self.n * self.stride

    def off(self, fname: str) -> int:
        return self.offs[fname]

    def idx(self, i: int, fname: str) -> int:
        """Byte index of field ``fname`` of slot ``i`` (1-based)."""
        return self._origin + i * self.stride + self.offs[fname]


THREAD_REGS = (
    # control
    "pc", "sp", *(f"stk{i}" for i in range(STACK_DEPTH)), "opi", "alt", "rcu", "sync", "rv",
    # the op's arguments and result
    "a_skb", "a_map", "a_val", "a_create", "a_new", "ret",
    "err",
    # bpf_skb_storage_get / _delete, bpf_local_storage_lookup, bpf_selem_unlink
    "g_ext", "g_storage", "g_sdata", "l_cacheit", "l_sdata", "s_ls", "s_mls",
    "s_last",
    # bpf_local_storage_update / _alloc
    "u_storage", "u_selem",
    # skb_ext_add / skb_ext_maybe_cow (x_active: old_active where a second context may
    # use the skb, model/skbuff.py)
    "x_id", "x_old", "x_new", "x_active",
    # __skb_ext_put / bpf_skb_storage_free / bpf_local_storage_destroy
    "p_ext", "d_storage", "d_cursor",
    # bpf_selem_unlink_nofail
    "n_selem", "n_ls", "n_sm", "n_bucket", "n_unlink", "n_free", "n_err", "n_pinned",
    # bpf_local_storage_map_free
    "m_bucket", "m_cursor",
    # open world (model/openworld.py): the packet this CPU's program run is on (also
    # in a spec with skb_ownership), and the maps the run has used (bit m-1); 0 in
    # other spec-driven models
    "own", "runmaps",
)
# the registers that hold a pointer, and the table it points into (0 is NULL)
REG_POINTERS = {
    "a_skb": "skb", "a_new": "skb", "a_map": "map", "own": "skb",
    "g_ext": "ext", "x_old": "ext", "x_new": "ext", "p_ext": "ext",
    "g_storage": "storage", "u_storage": "storage", "d_storage": "storage",
    "n_ls": "storage", "s_ls": "storage", "s_mls": "storage",
    "g_sdata": "selem", "l_sdata": "selem", "u_selem": "selem", "n_selem": "selem",
    "d_cursor": "selem", "m_cursor": "selem", "n_sm": "map",
}
# registers that survive the end of an op (everything else is cleared, so that
# states do not differ in dead values)
PERSISTENT_REGS = frozenset({"pc", "sp", "opi", "alt", "rcu", "sync", "own", "runmaps"})

# Observation bytes: written by the step that observes something, cleared at the
# start of every transition.  invariants/ judges them.
OBSERVATIONS = (
    "obs_uaf",  # KASAN: access to memory that is not live (kind<<5 | slot)
    "obs_dfree",  # KASAN: double free (kind<<5 | slot)
    "obs_warn",  # refcount_t WARN (kind<<5 | slot)
    "obs_lookup_map",  # map+1 a lookup was for ...
    "obs_lookup_got",  # ... and map+1 of the sdata it returned (sdata's original map)
    "obs_read_by",  # skb+1 that read a value (get/read) ...
    "obs_read_from",  # ... and skb+1 that created or last wrote it
    "obs_assert",  # global op number + 1 whose assertion failed
    "obs_spec_error",  # global op number + 1 that used a freed packet
    "obs_nofail_warn",  # WARN_ON_ONCE(err && in_map_free) in bpf_selem_unlink_nofail
)

KIND_CODES = {"skb": 1, "ext": 2, "storage": 3, "selem": 4, "map": 5}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}


@dataclass(frozen=True)
class Sizes:
    skbs: int
    exts: int
    storages: int
    selems: int
    maps: int
    threads: int
    cache_slots: int  # slots actually usable: min(cache_size, maps)

    def __post_init__(self):
        # obs codes pack the slot number into 5 bits, masks into one byte
        if max(self.skbs, self.exts, self.storages, self.selems, self.maps) > 31:
            raise ValueError("at most 31 objects of one kind")
        if self.skbs > 8 or self.threads > 8:
            raise ValueError("at most 8 packets and 8 CPUs (bit masks are one byte)")


class Layout:
    """Field offsets for one set of sizes."""

    def __init__(self, sizes: Sizes):
        self.sizes = sizes
        s = sizes
        pos = 0
        tables = {}

        def add(name, n, fields, meta=()):
            nonlocal pos
            t = Table(name, n, tuple(fields), pos, frozenset(meta))
            tables[name] = t
            pos += t.size
            return t

        self.glob = add(
            "glob", 1,
            ["lock_budget", "alloc_budget", *OBSERVATIONS,
             *(f"idx_usage{i}" for i in range(s.cache_slots))],
            meta=["lock_budget", "alloc_budget", *OBSERVATIONS],
        )
        self.skb = add("skb", s.skbs, ["mem", "cloned", "active", "ext"], meta=["mem"])
        self.ext = add("ext", s.exts, ["mem", "refcnt", "present", "storage"], meta=["mem"])
        self.storage = add(
            "storage", s.storages,
            ["mem", "rcuw", "lock", "first", "owner", "owner_refcnt",
             *(f"cache{i}" for i in range(s.cache_slots)), "g_reached", "g_cleared"],
            meta=["mem", "rcuw", "g_reached", "g_cleared"],
        )
        self.selem = add(
            "selem", s.selems,
            ["mem", "rcuw", "local_storage", "smap", "spprev", "snext", "mpprev", "mnext",
             "state", "value", "g_writer", "g_map", "g_ls"],
            meta=["mem", "rcuw", "g_writer", "g_map", "g_ls"],
        )
        self.map = add(
            "map", s.maps,
            ["mem", "cache_idx",
             *(f"b{b}_{f}" for b in range(NBUCKETS) for f in ("first", "lock"))],
            meta=["mem"],
        )
        vp = [f"vp{x}_{m}" for x in range(1, s.skbs + 1) for m in range(1, s.maps + 1)]
        self.thread = add("thread", s.threads, [*THREAD_REGS, *vp], meta=[*THREAD_REGS, *vp])
        self.tables = tables
        self.nbytes = pos
        g = self.glob
        self.G = {f: g.idx(1, f) for f in g.fields}
        self.obs_slice = (self.G[OBSERVATIONS[0]], self.G[OBSERVATIONS[-1]] + 1)
        self.clear_regs = tuple(
            self.thread.off(r) for r in self.thread.fields if r not in PERSISTENT_REGS
        )

    def zero(self) -> bytearray:
        return bytearray(self.nbytes)

    def names(self) -> list[str]:
        """A readable name per byte (used by traces and the z3 encoding)."""
        out = [""] * self.nbytes
        for t in self.tables.values():
            for i in range(1, t.n + 1):
                for f in t.fields:
                    out[t.idx(i, f)] = f"{t.name}{i}.{f}" if t.name != "glob" else f
        return out
