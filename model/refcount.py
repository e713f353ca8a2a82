"""refcount_t (include/linux/refcount.h, lib/refcount.c: refcount_warn_saturate).

Not a plain integer: incrementing from 0, decrementing to 0 with refcount_dec, or
touching a saturated counter WARNs once and sets the counter to REFCOUNT_SATURATED,
where it stays (it never reaches 0 again).  A WARN is recorded as the observation
``obs_warn`` naming the object.
"""

from .layout import KIND_CODES, REFCOUNT_SATURATED


def _warn_saturate(k, obj, fname):
    """refcount_warn_saturate(): WARN_ONCE and set the counter to REFCOUNT_SATURATED."""
    k.observe_first("obs_warn", True, (KIND_CODES[obj._t.name] << 5) | obj._i)
    setattr(obj, fname, REFCOUNT_SATURATED)
    k.note(f"refcount_t WARN: {obj._t.name}{obj._i}.{fname} saturated")


def refcount_read(k, obj, fname):
    return getattr(obj, fname)


def refcount_inc(k, obj, fname):
    """__refcount_add(1): REFCOUNT_ADD_UAF on 0, REFCOUNT_ADD_OVF when saturated."""
    old = getattr(obj, fname)
    if old == 0 or old == REFCOUNT_SATURATED:
        _warn_saturate(k, obj, fname)
    else:
        setattr(obj, fname, old + 1)


def refcount_dec(k, obj, fname):
    """__refcount_dec(): old <= 1 (or saturated) is REFCOUNT_DEC_LEAK."""
    old = getattr(obj, fname)
    if old == REFCOUNT_SATURATED or old <= 1:
        _warn_saturate(k, obj, fname)
    else:
        setattr(obj, fname, old - 1)


def refcount_dec_and_test(k, obj, fname) -> bool:
    """__refcount_sub_and_test(1): true when it reaches 0; REFCOUNT_SUB_UAF below 0."""
    old = getattr(obj, fname)
    if old == 1:
        setattr(obj, fname, 0)
        return True
    if old == 0 or old == REFCOUNT_SATURATED:
        _warn_saturate(k, obj, fname)
        return False
    setattr(obj, fname, old - 1)
    return False


def refcount_inc_not_zero(k, obj, fname) -> bool:
    """__refcount_add_not_zero(1): fails on 0; WARNs (and succeeds) when saturated."""
    old = getattr(obj, fname)
    if old == 0:
        return False
    if old == REFCOUNT_SATURATED:
        _warn_saturate(k, obj, fname)
        return True
    setattr(obj, fname, old + 1)
    return True
