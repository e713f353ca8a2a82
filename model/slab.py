"""Allocation: kmem_cache_alloc / kzalloc / bpf_map_kzalloc with GFP_ATOMIC.

GFP_ATOMIC allocations may fail within the spec's ``alloc_failures`` budget.  A slot
is taken from the object's pool (the lowest never-used slot; pools are sized from the
spec so that they cannot run out).
"""

from .kernel import ModelError
from .layout import MEM_LIVE, MEM_NONE


def alloc(k, table) -> int:
    """Allocate a zeroed object of ``table``'s kind; 0 when the allocation fails."""
    if k.may_fail("alloc_budget"):
        k.note(f"GFP_ATOMIC allocation of a {table.name} failed")
        return 0
    # the lowest never-used slot, as one value (an If-chain over symbolic bytes, where
    # a test per slot would fork the execution once per slot)
    unused = [k.meta(table, i, "mem") == MEM_NONE for i in range(1, table.n + 1)]
    anyfree = False
    for u in unused:
        anyfree = k._or(anyfree, u)
    if not anyfree:
        return k.model.pool_exhausted(k, table)
    i = table.n
    for j in range(table.n - 1, 0, -1):
        i = k._ite(unused[j - 1], j, i)
    k.set_meta(table, i, "mem", MEM_LIVE)
    return i


def pool_exhausted_error(k, table):
    raise ModelError(f"{table.name} pool exhausted (spec sizing bug)")
