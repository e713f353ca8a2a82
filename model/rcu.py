"""RCU (kernel/rcu/): read-side sections, deferred frees, grace periods.

BPF programs run inside an RCU read-side section; so do bpf_skb_storage_free() and
map_free's bucket walk.  A deferred free (call_rcu, kfree_rcu, call_rcu_tasks_trace:
one reader kind suffices, SEMANTICS.md section 1) records the CPUs that were readers
when it was *scheduled* (``rcuw``); the memory becomes invalid only once all of them
have left their section.  Leaving a section clears the CPU's bit everywhere.

Grace periods: with ``lazy_rcu`` (the default) no grace-period step exists; instead an
access to a deferred-free object whose readers have all left counts as use after free,
because some interleaving would have ended the grace period just before it (the
KASAN check in kernel.py).  With ``lazy_rcu=False`` the model has an explicit
"grace period ends" step (:func:`grace_period`) that frees every such object; both give
the same verdicts (tests/test_reduction.py).
"""

from .layout import MEM_FREED, MEM_LIVE, MEM_RCU


def readers(k):
    """Bit mask of CPUs inside an RCU read-side section."""
    mask = 0
    for t in range(1, k.L.sizes.threads + 1):
        mask = mask | k._ite(k.regs_of(t).rcu != 0, 1 << (t - 1), 0)
    return mask


def rcu_read_lock(k):
    k.reg.rcu = k.reg.rcu + 1


def rcu_read_unlock(k):
    depth = k.reg.rcu - 1
    k.reg.rcu = depth
    if depth == 0:
        keep = 0xFF ^ (1 << (k.t - 1))
        for table in (k.L.storage, k.L.selem):
            for i in range(1, table.n + 1):
                k.set_meta(table, i, "rcuw", k.meta(table, i, "rcuw") & keep)
        for t in range(1, k.L.sizes.threads + 1):
            r = k.regs_of(t)
            r.sync = r.sync & keep


def _free_check(k, table, i):
    """KASAN double-free check: the object must be live when its free is scheduled."""
    mem = k.meta(table, i, "mem")
    bad = mem != MEM_LIVE
    k.observe_first("obs_dfree", bad, (k.kind_code(table) << 5) | i)
    if bad:
        k.note(f"double free of {table.name}{i}")
    return not bad


def call_rcu(k, table, i):
    """call_rcu / kfree_rcu / call_rcu_tasks_trace: free after the current readers leave."""
    if _free_check(k, table, i):
        k.set_meta(table, i, "mem", MEM_RCU)
        k.set_meta(table, i, "rcuw", readers(k))


def kfree(k, table, i):
    """kfree / kmem_cache_free: the memory is invalid at once."""
    if _free_check(k, table, i):
        k.set_meta(table, i, "mem", MEM_FREED)


def synchronize_rcu_start(k):
    """synchronize_rcu(), first half: remember the readers it must wait for."""
    k.reg.sync = readers(k) & (0xFF ^ (1 << (k.t - 1)))


def synchronize_rcu_wait(k):
    """synchronize_rcu(), second half: returns once those readers have left."""
    if k.reg.sync != 0:
        k.block()


def rcu_barrier(k):
    """rcu_barrier() / rcu_barrier_tasks_trace(): wait for every queued callback.

    One condition over all objects, tested once (over symbolic bytes a test per
    object would fork the execution 2^objects ways)."""
    lazy = k.model.lazy_rcu
    if _any_queued(k, lambda table, i: k.meta(table, i, "rcuw") != 0 if lazy else True):
        k.block()


def _any_queued(k, extra):
    out = False
    for table in (k.L.storage, k.L.selem):
        for i in range(1, table.n + 1):
            out = k._or(out, k._and(k.meta(table, i, "mem") == MEM_RCU, extra(table, i)))
    return out


def grace_period_ready(k) -> bool:
    return bool(_any_queued(k, lambda table, i: k.meta(table, i, "rcuw") == 0))


def grace_period(k):
    """(eager mode only) a grace period ends: callbacks whose readers left run now."""
    for table in (k.L.storage, k.L.selem):
        for i in range(1, table.n + 1):
            if k.meta(table, i, "mem") == MEM_RCU and k.meta(table, i, "rcuw") == 0:
                k.set_meta(table, i, "mem", MEM_FREED)
                k.note(f"{table.name}{i} freed")
