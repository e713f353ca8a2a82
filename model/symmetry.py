"""State reductions for exhaustive exploration of the open world (``check prove``).

``Reduction(model, keep)`` maps a state to a canonical representative; the explorer
stores only representatives (checker/explore.py ``canon``).  Both reductions are exact:
the representative of every successor of ``s`` is the representative of some successor
of ``canon(s)`` and back (tests/test_symmetry.py checks this on reachable states), and
the checked properties have the same value on ``s`` and ``canon(s)``.

* **Write-only fields.**  The value bytes of a selem (``selem->data``), its ghost
  writer, the op's result register ``ret`` and the observation bytes are written by
  steps but never read by a step's control or by another field: only properties and
  reports read them.  Those the checked properties do not read (everything but
  ``keep``) are set to 0.
* **CPU symmetry.**  In the open world every CPU runs the same scheduler over the same
  ops (model/openworld.py), so renaming the CPUs maps behaviours to behaviours.  A
  renaming moves the CPUs' register rows and rewrites every field that names a CPU:
  rqspinlock owners (``storage->lock``, the map buckets' locks: CPU number, 1-based)
  and CPU masks (``rcuw`` of a deferred free, ``sync`` of a CPU in
  synchronize_rcu()).  The representative is the least renaming (as bytes).  In a
  focus world from a spec each CPU may have its own ops; there only CPUs with the same
  ops are renamed.
"""

from __future__ import annotations

from itertools import permutations
from operator import itemgetter

from .layout import NBUCKETS, OBSERVATIONS

# fields whose values steps write but never read (see the module docstring)
WRITE_ONLY = (("selem", "value"), ("selem", "g_writer"), ("thread", "ret"),
              *(("glob", o) for o in OBSERVATIONS))


class Reduction:
    """Canonical representatives of open-world states (callable on ``bytes``)."""

    def __init__(self, model, keep=frozenset()):
        L = model.layout
        n, zero = L.nbytes, L.nbytes  # index ``zero`` is a 0 byte appended to the state
        gone = [(t, f) for t, f in WRITE_ONLY if f not in keep]
        self.erased = tuple(f"{t}.{f}" for t, f in gone)
        erase = [L.tables[t].idx(i, f) for t, f in gone for i in range(1, L.tables[t].n + 1)]
        th = L.thread
        owners = [L.storage.idx(i, "lock") for i in range(1, L.storage.n + 1)]
        owners += [L.map.idx(m, f"b{b}_lock") for m in range(1, L.map.n + 1)
                   for b in range(NBUCKETS)]
        masks = [L.tables[t].idx(i, "rcuw") for t in ("storage", "selem")
                 for i in range(1, L.tables[t].n + 1)]
        masks += [th.idx(t, "sync") for t in range(1, th.n + 1)]
        # a focus world may give each CPU its own ops: only CPUs with the same ops are
        # interchangeable (the identity always is)
        ops = model.size.cpu_ops or ((),) * th.n
        perms = [p for p in permutations(range(1, th.n + 1))
                 if all(ops[p[t] - 1] == ops[t] for t in range(th.n))]
        self.renamings = len(perms)
        self._ways = []
        for p in perms:  # CPU t becomes CPU p[t - 1]
            src = list(range(n))
            for t in range(1, th.n + 1):
                for f in th.fields:
                    src[th.idx(p[t - 1], f)] = th.idx(t, f)
            for i in erase:
                src[i] = zero
            fix = []
            if p != tuple(sorted(p)):
                owner = bytes([0, *p, *range(len(p) + 1, 256)])
                mask = bytes(sum(1 << (p[b] - 1) for b in range(len(p)) if v >> b & 1)
                             | (v & ~((1 << len(p)) - 1)) for v in range(256))
                fix = [(i, owner) for i in owners] + [(i, mask) for i in masks]
            self._ways.append((itemgetter(*src), tuple(fix)))

    @property
    def ways(self) -> tuple:
        """Every CPU renaming this reduction takes a state's minimum over, the identity
        first; each is an argument of :meth:`image`."""
        return tuple(self._ways)

    @staticmethod
    def image(s: bytes, way) -> bytes:
        """``s`` renamed and erased by one way (one CPU renaming)."""
        return Reduction._image(s + b"\0", way)

    @staticmethod
    def _image(s0: bytes, way) -> bytes:
        """:meth:`image` of a state already padded with the 0 byte."""
        get, fix = way
        if not fix:
            return bytes(get(s0))
        b = bytearray(get(s0))
        for i, table in fix:
            v = b[i]
            if v:
                b[i] = table[v]
        return bytes(b)

    def __call__(self, s: bytes) -> bytes:
        s0 = s + b"\0"
        return min(self._image(s0, way) for way in self._ways)

    def describe(self) -> dict:
        return {"cpu_renamings": self.renamings, "erased": list(self.erased)}
