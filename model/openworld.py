"""The open world of ``check prove``: every workload of a size.

A spec fixes each CPU's ops; here each CPU, whenever it is between ops, may start *any*
op on *any* packet or map, again and again, without end.  The sizes bound the objects:
at most ``skbs`` packets (packet 1 exists at the start, the others are born from
clone/copy), ``maps`` maps (all loaded at the start; map_free tears one down for good)
and pools of ``exts``/``storages``/``selems`` objects.  Slots are not reused, so a
workload of this size is one that allocates at most that many objects of each kind;
an allocation beyond the pool is simply not taken (the run stops there, which only
removes behaviours of larger workloads).  The steps are the same kernel steps the
spec-driven model runs: only the scheduler differs.

The kernel's rules on who may touch what, as enabling conditions of an op:

* an skb belongs to one context at a time: a CPU starts an op on packet X only if no
  other CPU is inside an op on X (as its argument or as the packet a clone/copy is
  creating) or inside a program run on X;
* a BPF program run is on one packet (its context, ``own``): rcu_read_lock() at its
  first kfunc call, then get/read/write/delete on that packet with any live map, until
  ``end`` (rcu_read_unlock(), its value pointers die);  kernel ops (clone, free, ...)
  run outside program runs;
* a program holds a reference on each map it uses, so bpf_local_storage_map_free(M)
  starts only when no other CPU's run has used M (``runmaps``), and no program uses M
  once it has started (map->mem is no longer MAP_ALIVE);
* clone/copy create the packet in the lowest slot never used.

A CPU that oopses is dead (``opi`` = 1) and never runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import rcu
from .kernel import PC_IDLE, ConcreteView, run_step
from .layout import MAP_ALIVE, MEM_LIVE, MEM_NONE, Sizes
from .ops import OPS, Op, start
from .spec import Spec, Thread
from .system import CHOOSE, STEP, SkbStorageModel

END = 4  # label kind: the program run ends
KIND_CODE = {name: i + 1 for i, name in enumerate(OPS)}
KIND_NAME = tuple(OPS)  # KIND_CODE's inverse (code - 1)
DEAD = 1  # opi of a CPU that oopsed


@dataclass(frozen=True)
class WorldSize:
    skbs: int = 4
    maps: int = 2
    cpus: int = 3
    cache_size: int = 16
    lock_failures: int = 0
    alloc_failures: int = 0
    exts: int | None = None  # pools; None: the defaults below
    storages: int | None = None
    selems: int | None = None
    without: tuple[str, ...] = ()  # op kinds left out of the world (a named restriction)
    # focus worlds only (never a proof): per CPU, the ops (alternatives' texts) it may
    # start; () = any
    cpu_ops: tuple[tuple[str, ...], ...] = ()

    def pools(self) -> tuple[int, int, int]:
        """Default pools: one ext and storage per packet and one selem per packet and
        map, plus one of each to spare (a replacement after a delete or a COW)."""
        return (self.exts if self.exts is not None else self.skbs + 1,
                self.storages if self.storages is not None else self.skbs + 1,
                self.selems if self.selems is not None else self.skbs * self.maps + 1)

    def as_dict(self) -> dict:
        e, s, q = self.pools()
        return {"skbs": self.skbs, "maps": self.maps, "cpus": self.cpus,
                "cache_size": self.cache_size, "lock_failures": self.lock_failures,
                "alloc_failures": self.alloc_failures, "exts": e, "storages": s,
                "selems": q, "without": list(self.without),
                **({"cpu_ops": [list(x) for x in self.cpu_ops]} if self.cpu_ops else {})}


@dataclass(frozen=True)
class Focus:
    """A narrower world for the violation search: only some op kinds, at some sizes,
    and (from a spec) for each CPU only the ops that spec's thread runs, in any order,
    any number of times.

    Its behaviours are a subset of the full world's (fewer ops, fewer objects), so a
    violation found there is one of the full world too; the prover still replays it
    at the full size before it says ``violated``.  It never contributes to a proof.
    """

    ops: tuple[str, ...]
    skbs: int
    maps: int
    cpus: int
    cpu_ops: tuple[tuple[str, ...], ...] = ()
    name: str = ""

    def world(self, size: WorldSize) -> WorldSize:
        keep = set(self.ops) | {"end"}
        return WorldSize(min(self.skbs, size.skbs), min(self.maps, size.maps),
                         min(self.cpus, size.cpus), size.cache_size, size.lock_failures,
                         size.alloc_failures,
                         without=tuple(sorted(set(size.without) | (set(OPS) - keep))),
                         cpu_ops=self.cpu_ops[:size.cpus])

    def text(self) -> str:
        if self.name:
            return f"the ops of {self.name}@{self.skbs}/{self.maps}/{self.cpus}"
        return f"{','.join(self.ops)}@{self.skbs}/{self.maps}/{self.cpus}"


def parse_focus(text: str) -> Focus:
    """``OPS@SKBS/MAPS/CPUS``, e.g. ``get,copy,ext_add,ext_del@2/1/1``."""
    ops_text, sep, sz = text.partition("@")
    ops = tuple(x.strip() for x in ops_text.split(",") if x.strip())
    bad = [o for o in ops if o not in OPS]
    if bad or not ops:
        raise ValueError(f"focus '{text}': unknown op '{bad[0]}'" if bad
                         else f"focus '{text}': no ops")
    try:
        n = [int(x) for x in sz.split("/")] if sep else []
    except ValueError:
        n = []
    if len(n) != 3 or min(n) < 1:
        raise ValueError(f"focus '{text}': expected OPS@SKBS/MAPS/CPUS, e.g. "
                         "get,copy,ext_add,ext_del@2/1/1")
    return Focus(ops, *n)


def focus_from_spec(spec: Spec) -> Focus:
    """The world of a scenario: each CPU runs its thread's ops (named as the open world
    names them: the spec's packets and maps in slot order are P1.., M1..), in any order
    and any number of times, on at most the spec's packets and maps."""
    text = {_key(op): op.text for op in alternatives(len(spec.skbs), len(spec.maps))}
    cpu_ops, kinds = [], set()
    for th in spec.threads:
        ops = [op for entry in th.entries for op in entry if _key(op) in text]
        kinds |= {op.name for op in ops}
        cpu_ops.append(tuple(dict.fromkeys(text[_key(op)] for op in ops)))
    return Focus(tuple(k for k in OPS if k in kinds and k != "end"), len(spec.skbs),
                 len(spec.maps), len(spec.threads), tuple(cpu_ops), Path(spec.file).stem)


def _key(op: Op) -> tuple:
    return (op.name, op.skb, op.map, op.new, op.create)


def alternatives(n_skbs: int, n_maps: int, without=()) -> tuple[Op, ...]:
    """Every op a CPU may start, with its arguments (gid = index)."""
    P = [f"P{x}" for x in range(1, n_skbs + 1)]
    M = [f"M{m}" for m in range(1, n_maps + 1)]
    out: list[Op] = []

    def add(name, text, **kw):
        if name not in without:
            out.append(Op(OPS[name], text, len(out), **kw))

    for x in range(1, n_skbs + 1):
        for m in range(1, n_maps + 1):
            a = f"{P[x - 1]}, {M[m - 1]}"
            add("get", f"get({a})", skb=x, map=m)
            add("get", f"get({a}, create)", skb=x, map=m, create=True)
            add("write", f"write({a}, 1)", skb=x, map=m, val=1)
            add("read", f"read({a})", skb=x, map=m)
            add("delete", f"delete({a})", skb=x, map=m)
        for y in range(1, n_skbs + 1):
            if y != x:
                add("clone", f"clone({P[x - 1]}) -> {P[y - 1]}", skb=x, new=y)
                add("copy", f"copy({P[x - 1]}) -> {P[y - 1]}", skb=x, new=y)
        for name in ("unclone", "ext_add", "ext_del", "scrub", "free"):
            add(name, f"{name}({P[x - 1]})", skb=x)
    for m in range(1, n_maps + 1):
        add("map_free", f"map_free({M[m - 1]})", map=m)
    add("end", "end")
    return tuple(out)


class OpenWorldModel(SkbStorageModel):
    """Every workload of a size (see the module docstring)."""

    def __init__(self, design: str, mutations=(), size: WorldSize = WorldSize(), **kw):
        self.size = size
        self.alts = alternatives(size.skbs, size.maps, size.without)
        self._gid = {_key(o): o.gid for o in self.alts}
        self.cpu_alts = [tuple(o for o in self.alts
                               if not size.cpu_ops or o.name == "end"
                               or o.text in size.cpu_ops[t])
                         for t in range(size.cpus)]
        spec = Spec(
            "<open world>", "open-world", "every workload of a size", design,
            tuple(mutations), size.cache_size, size.lock_failures, size.alloc_failures,
            0, [f"P{x}" for x in range(1, size.skbs + 1)], 1,
            [f"M{m}" for m in range(1, size.maps + 1)], size.maps,
            [Thread(f"cpu{t}", (self.alts,), (True,)) for t in range(size.cpus)], [0, 1])
        # enabled() keeps one context per skb (busy()): the kfuncs' owned-skb cuts hold
        kw.setdefault("one_context_per_skb", True)
        super().__init__(spec, **kw)
        self._bodies = [self.thread_body(t) for t in self.threads]

    def spec_sizes(self, spec: Spec) -> Sizes:
        z = self.size
        e, s, q = z.pools()
        return Sizes(skbs=z.skbs, exts=e, storages=s, selems=q, maps=z.maps,
                     threads=z.cpus, cache_slots=max(1, min(z.cache_size, z.maps)))

    @staticmethod
    def pool_exhausted(k, table):
        k.note(f"{table.name} pool exhausted: beyond this workload size")
        k.block()

    # ---- Next ------------------------------------------------------------------------
    def scheduler(self, t: int):
        """Any enabled op, again and again (see the module docstring)."""

        def run(k):
            r = k.reg
            if r.pc != PC_IDLE:
                if isinstance(k, ConcreteView):
                    k.gid = self._gid_now(k)
                return self._exec(k, t)
            if r.opi == DEAD:
                k.block()
            alts = self.cpu_alts[t - 1]
            op = alts[k.choose(len(alts))]
            k.gid = op.gid
            if not self.enabled(k, t, op):
                k.block()
            if op.name == "end":
                k.kind = END
                r.runmaps = 0
                return self.end_run(k)  # also clears own
            if op.kind.bpf:
                if r.rcu == 0:
                    rcu.rcu_read_lock(k)  # the program run begins
                    r.own = op.skb
                r.runmaps = r.runmaps | (1 << (op.map - 1))
            r.alt = KIND_CODE[op.name]
            start(k, op)
            self._exec(k, t)

        return run

    def _gid_now(self, k) -> int:
        r = k.reg
        name = KIND_NAME[r.alt - 1]
        return self._gid.get((name, r.a_skb, r.a_map, r.a_new, r.a_create), -1)

    def enabled(self, k, t: int, op: Op) -> bool:
        L, r = self.layout, k.reg
        in_run = r.rcu != 0
        if op.name == "end":
            return bool(in_run)
        if in_run:
            if not op.kind.bpf or op.skb != r.own:
                return False
        elif op.skb and self.busy(k, t, op.skb):
            return False
        if op.skb and k.meta(L.skb, op.skb, "mem") != MEM_LIVE:
            return False
        if op.map and k.meta(L.map, op.map, "mem") != MAP_ALIVE:
            return False
        if op.new:
            if k.meta(L.skb, op.new, "mem") != MEM_NONE:
                return False
            for y in range(1, op.new):
                if k.meta(L.skb, y, "mem") == MEM_NONE:
                    return False
        if op.name == "map_free":
            bit = 1 << (op.map - 1)
            for u in self.threads:
                if u != t and (k.regs_of(u).runmaps & bit) != 0:
                    return False
        return True

    def _complete(self, k, t):
        """The op returned: back to idle (no assertions in the open world)."""
        self.clear_regs(k, t)
        k.reg.alt = 0
        k.reg.pc = PC_IDLE

    def _oops(self, k, t):
        super()._oops(k, t)
        k.reg.opi = DEAD
        k.reg.runmaps = 0

    # ---- final states: none (CPUs can always start another op) -----------------------
    def thread_done_expr(self, E, s, t):
        return s[self._opi[t - 1]] == DEAD

    # ---- random walks (checker/walk.py): one successor at a time -----------------------
    def walk_bias(self, rng) -> frozenset[str]:
        """Swarm testing: each walk lets the CPUs start only a random half of the op
        kinds (at least one, and ``end``), so rare mixes come up often."""
        kinds = sorted({o.name for o in self.alts} - {"end"})
        keep = {k for k in kinds if rng.random() < 0.5} or {rng.choice(kinds)}
        return frozenset(keep | {"end"})

    def _prefixes(self, s: bytes, t: int, ops) -> list[tuple[int, ...]]:
        """How CPU ``t`` may go on: its op's next step, or (idle) starting one of the
        ops whose gid is in ``ops`` (the first choice of OpenWorldModel.scheduler)."""
        if s[self._opi[t - 1]] == DEAD:
            return []
        if s[self._pc[t - 1]] != PC_IDLE:
            return [()]
        alts = self.cpu_alts[t - 1]
        return [(i,) for i, o in enumerate(alts) if ops is None or o.gid in ops]

    def random_successor(self, s: bytes, rng, bias=None):
        """A successor of ``s`` drawn at random: a random CPU, then (if it is between
        ops) a random op among the kinds ``bias`` allows and ``enabled`` lets start,
        then a random outcome of that step.  None when no CPU can move."""
        cpus = list(self.threads)
        rng.shuffle(cpus)
        ops = None if bias is None else {o.gid for o in self.alts if o.name in bias}
        for t in cpus:
            prefixes = self._prefixes(s, t, ops)
            rng.shuffle(prefixes)
            k = ConcreteView(self, s, t, []) if prefixes != [()] else None
            for p in prefixes:
                if k is not None and not self.enabled(k, t, self.cpu_alts[t - 1][p[0]]):
                    continue
                out = run_step(self, s, t, self._bodies[t - 1], prefix=p)
                if out:
                    ns, label = rng.choice(out)
                    return label, ns
        return None

    def step_as(self, s: bytes, label):
        """The successor of ``s`` in which the CPU of ``label`` takes the step of the
        same op (the same step codes and notes if it can), or None: how a shortened
        trace (checker/walk.py ``shrink``) is replayed."""
        kind, t, gid, codes, notes = label
        if not 0 <= gid < len(self.alts):
            return None
        out = [x for p in self._prefixes(s, t, {gid})
               for x in run_step(self, s, t, self._bodies[t - 1], prefix=p)
               if x[1][2] == gid]
        same = [x for x in out if x[1][3:] == (codes, notes)]
        if not (same or out):
            return None
        ns, lab = (same or out)[0]
        return lab, ns

    def group_of(self, s: bytes, label) -> tuple[int, bool]:
        """A step's CPU, and whether it starts an op there (the CPU was idle): how a
        shortened trace drops an op with all its steps (checker/walk.py)."""
        t = label[1]
        return t, s[self._pc[t - 1]] == PC_IDLE

    def workload(self, states, labels) -> dict[str, list[str]]:
        """The ops each CPU starts in a trace (states[i] --labels[i]--> states[i + 1]),
        in order, named as a spec names them: the trace as a scenario
        (model/spec_export.py)."""
        out: dict[str, list[str]] = {}
        for s, label in zip(states, labels, strict=False):
            t, starts = self.group_of(s, label)
            if starts:
                out.setdefault(self.thread_name(t), []).append(self.label_parts(label)["op"])
        return out

    def label_parts(self, label) -> dict:
        kind, t, gid, codes, notes = label
        if kind == END:
            return {"thread": self.thread_name(t), "op": "end",
                    "steps": ["end of the BPF program run: rcu_read_unlock()"],
                    "functions": ["BPF program"], "shorts": ["rcu_read_unlock()"],
                    "notes": list(notes)}
        if kind in (STEP, CHOOSE) and 0 <= gid < len(self.alts):
            out = super().label_parts((kind, t, -1, codes, notes))
            out["op"] = self.alts[gid].text
            return out
        return super().label_parts(label)


def build(design: str, mutations=(), size: WorldSize = WorldSize(), **kw) -> OpenWorldModel:
    return OpenWorldModel(design, mutations, size, **kw)
