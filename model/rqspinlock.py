"""rqspinlock (kernel/bpf/rqspinlock.c): raw_res_spin_lock_irqsave can fail.

The lock word holds 0 (free) or the owning CPU (1-based).  An acquisition returns 0
or an error code; within the spec's ``lock_failures`` budget any acquisition may
time out (-ETIMEDOUT).  Taking a lock this CPU already holds is an AA deadlock that
rqspinlock detects (-EDEADLK).  A lock held by a CPU whose task oopsed is never
released: rqspinlock's waiter gives up after RES_DEF_TIMEOUT (check_timeout(),
-ETIMEDOUT), certainly, so without spending the budget.  Otherwise a held lock makes
the CPU wait (the step is not enabled until the owner releases it; a wait long enough
to time out is what the budget allows).
"""

from .errno import EDEADLK, ETIMEDOUT


def raw_res_spin_lock(k, obj, fname) -> int:
    owner = getattr(obj, fname)
    if owner == k.t:
        k.note(f"rqspinlock: AA deadlock on {obj._t.name}{obj._i}.{fname}: -EDEADLK")
        return EDEADLK
    if owner != 0 and k.outside_ops(owner):
        k.note(f"rqspinlock: {obj._t.name}{obj._i}.{fname} is held by a killed task: "
               "times out (RES_DEF_TIMEOUT): -ETIMEDOUT")
        return ETIMEDOUT
    if k.may_fail("lock_budget"):
        k.note(f"rqspinlock: {obj._t.name}{obj._i}.{fname} timed out: -ETIMEDOUT")
        return ETIMEDOUT
    if owner != 0:
        k.block()
    setattr(obj, fname, k.t)
    return 0


def raw_res_spin_unlock(k, obj, fname):
    setattr(obj, fname, 0)
