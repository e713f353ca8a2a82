"""The RFC's net/core/bpf_skb_storage.c (seed 000, patch 1/5).

bpf_skb_storage_get() and bpf_skb_storage_delete() run inside the program's RCU
read-side section.  Both first refuse when the storage may be shared (the "sharing
guard"); the design decides what the guard reads:

* ``rfc`` (as posted): ``skb->cloned && is_skb_storage_shared(skb)``;
* ``rfc-refcnt-guard``: ``is_skb_storage_shared(skb)`` alone, whatever ``cloned`` says;
* ``rfc-fix``: that guard, and (finding 3) the kfunc destroys the storage a data area
  re-activated by skb_ext_add still holds before the NULL (see ``get_ext_added``).

is_skb_storage_shared() is ``skb_ext_exist(skb, SKB_EXT_BPF_STORAGE) &&
refcount_read(&skb->extensions->refcnt) != 1``.

Where the cuts go (SEMANTICS.md section 4).  The guard and skb_storage_lookup() each
read fields of the skb itself (``cloned``, ``active_extensions``, ``extensions``), then
one field of the ext through ``skb->extensions`` (``refcnt``, ``storage``).  Where one
context at a time uses the skb (``model.one_context_per_skb``: the open world, a spec
with ``skb_ownership``, or a spec in which no two threads run ops on one packet)
nothing else writes the skb's fields, so each pair is one step.  Where a second context may use it
(finding 6: a tracing program on an skb another CPU owns) the skb's fields are shared
too, and the kfuncs take the ``*_shared`` route instead: the skb's fields in one step,
the read through ``skb->extensions`` in the next, the create path's second
skb_ext_find() in a step of its own, and skb_ext_add()'s reads of the skb before the
rest of it (``skbuff.skb_ext_add_shared``, which keeps the ``old_active`` it read
for the copy on write).  The steps' effects are the same; only the cuts differ, so the
other CPU can free the ext (skb_ext_reset(), skb_ext_del(), kfree_skb()) between the
two reads, as it can in the kernel.  Two effects are added on that route only:
skb_ext_find()'s read of ``ext->offset[]`` is a checked memory access (``_ext_found``),
and ``scrub``'s skb_ext_reset() puts the ext before it clears ``active_extensions``
(``skbuff.skb_ext_reset_shared``), the kernel's order, so that a find between the two
reads the freed ext; ``free`` does the same before kfree_skbmem()
(``skbuff.kfree_skb_shared``).  Still one step each: the reads of the skb's
fields themselves (skb_ext_find() reads ``active_extensions``, ``extensions`` and
``ext->offset[]``; a skb_ext_del() between the first two leaves a NULL
``skb->extensions`` to dereference, which the model does not show).
"""

from . import bpf_local_storage as ls
from . import rcu, skbuff
from .errno import ENOENT, EOPNOTSUPP, errname
from .kernel import Proc
from .layout import SKB_EXT_BPF_STORAGE
from .refcount import refcount_read

FILE = "net/core/bpf_skb_storage.c"


def _guard_reads_ext(k) -> bool:
    """The sharing guard's reads of the skb itself: does the ext's refcnt decide?
    False when the guard passes without it (no guard, rfc's ``!skb->cloned``, or
    ``!skb_ext_exist(skb, SKB_EXT_BPF_STORAGE)``)."""
    if k.mut("no-clone-guard"):
        return False
    skb = k.skb(k.reg.a_skb)
    if k.design == "rfc" and not skb.cloned:
        # (a note for the trace only: read without a memory access of the kernel)
        if (skb.active & SKB_EXT_BPF_STORAGE) and k.meta(k.L.ext, skb.ext, "refcnt") != 1:
            k.note("guard passes: skb->cloned == 0 although the ext is shared")
        return False
    return (skb.active & SKB_EXT_BPF_STORAGE) != 0


def _guard_refcnt_refuses(k) -> bool:
    """is_skb_storage_shared()'s ``refcount_read(&skb->extensions->refcnt) != 1``."""
    skb = k.skb(k.reg.a_skb)
    if refcount_read(k, k.ext(skb.ext), "refcnt") != 1:
        k.note("sharing guard refused: -EOPNOTSUPP")
        return True
    k.trace_note(lambda: skb.cloned,
                 lambda: "guard passes: skb->cloned, but the ext's refcnt is 1: no other "
                         "packet holds it now")
    return False


def guard_refuses(k) -> bool:
    """The whole sharing guard in one step (one context uses the skb)."""
    return _guard_reads_ext(k) and _guard_refcnt_refuses(k)


def _find_ext(k) -> bool:
    """ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE): remembers it; False when none."""
    skb = k.skb(k.reg.a_skb)
    if not skb.active & SKB_EXT_BPF_STORAGE:
        return False
    k.reg.g_ext = _ext_found(k, skb)
    return True


def _ext_found(k, skb):
    """skb_ext_find()'s ``(void *)ext + (ext->offset[id] << 3)`` on ``skb->extensions``.
    Where a second context may use the skb, the read of ``offset[]`` is a memory
    access of its own: that context's skb_ext_reset() may have freed the ext while the
    skb still has it active.  On an owned skb the active ext is live, so the access is
    left out."""
    e = skb.ext
    if not k.model.one_context_per_skb:
        k.kasan(k.L.ext, e)
    return e


def _deref_storage(k):
    """storage = rcu_dereference(ext->storage) for the ext found: 0 when none."""
    st = k.ext(k.reg.g_ext).storage
    if st != 0:
        ls.reach(k, st)
        k.reg.g_storage = st
    return st


def skb_storage_lookup_storage(k):
    """skb_storage_lookup(): ext = skb_ext_find(skb, BPF_STORAGE); rcu_dereference(
    ext->storage).  Returns the storage (0 when none); remembers the ext."""
    if not _find_ext(k):
        return 0
    return _deref_storage(k)


def finish(k, ret):
    k.reg.ret = ret
    k.ret()


# ---------------------------------------------------------------------------------
# bpf_skb_storage_get(map = a_map, skb = a_skb, value = a_val, flags = a_create)
# reg.ret: 0 for NULL, else 1 + the value the program reads through the pointer

get = Proc("bpf_skb_storage_get", FILE, regs=("g_ext", "g_storage", "g_sdata"))


def _return_sdata(k, q):
    """return sdata->data; the program then reads *value (the op's result)."""
    r = k.reg
    x, m = r.a_skb, r.a_map
    e = k.selem(q)
    v = e.value
    k.set_g("obs_read_by", x)
    k.set_g("obs_read_from", k.meta(k.L.selem, q, "g_writer"))
    k.model.set_value_ptr(k, x, m, q)
    finish(k, v + 1)


def _get_not_found(k):
    """Not found: without F_CREATE return NULL; else skb_ext_find / skb_ext_add."""
    if not k.reg.a_create:
        k.note("not found: NULL (-ENOENT)")
        return finish(k, 0)
    if not k.model.one_context_per_skb:
        return k.goto(get_create_find)
    _get_create(k)


def _get_create(k):
    """ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE); if (!ext) ext = skb_ext_add()."""
    skb = k.skb(k.reg.a_skb)
    if skb.active & SKB_EXT_BPF_STORAGE:
        k.reg.g_ext = _ext_found(k, skb)
        return k.call(ls.update_start, get_updated)
    k.reg.x_id = SKB_EXT_BPF_STORAGE
    add = skbuff.skb_ext_add if k.model.one_context_per_skb else skbuff.skb_ext_add_shared
    k.call(add, get_ext_added)


@get.step("if (skb->cloned && is_skb_storage_shared(skb)) return NULL  /* sharing guard */",
          short="sharing guard (refuse if shared)")
def storage_get(k):
    if guard_refuses(k):
        return finish(k, 0)
    k.goto(get_storage)


@get.step("skb_storage_lookup: ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE); "
          "storage = rcu_dereference(ext->storage)", short="storage = ext->storage")
def get_storage(k):
    if skb_storage_lookup_storage(k) == 0:
        return _get_not_found(k)
    k.reg.l_cacheit = 1
    k.call(ls.lookup_cache, get_looked_up)


@get.step("if (sdata) return sdata->data (program reads *value); else create",
          short="found? return sdata->data : create")
def get_looked_up(k):
    q = k.take_rv()
    if q != 0:
        return _return_sdata(k, q)
    _get_not_found(k)


def _init_storage(k, e):
    """RCU_INIT_POINTER(ext->storage, NULL); bpf_local_storage_update(ext, ...)."""
    k.ext(e).storage = 0
    k.call(ls.update_start, get_updated)


@get.step("if (!ext) return NULL /* ENOMEM */; RCU_INIT_POINTER(ext->storage, NULL) "
          "(rfc-fix: a kept area's storage is bpf_skb_storage_free()d first)",
          short="ext->storage = NULL")
def get_ext_added(k):
    e = k.take_rv()
    if e == 0:
        k.note("skb_ext_add failed: NULL (-ENOMEM)")
        return finish(k, 0)
    k.reg.g_ext = e
    if k.design == "rfc-fix" and k.ext(e).storage != 0:
        # rfc-fix: kept = __skb_ext_exist(skb->extensions, id) before skb_ext_add; a
        # kept area still holds the storage skb_ext_del left (a fresh area or a copy
        # holds NULL): destroy it, as __skb_ext_put would have, before the NULL.  (A
        # kept NULL pointer needs nothing: the RFC's path.)
        k.note("rfc-fix: the data area was kept: bpf_skb_storage_free() its storage")
        k.reg.p_ext = e
        return k.call(skb_storage_free, get_ext_reset)
    _init_storage(k, e)


@get.step("rfc-fix: RCU_INIT_POINTER(ext->storage, NULL) after bpf_skb_storage_free()",
          short="ext->storage = NULL")
def get_ext_reset(k):
    _init_storage(k, k.reg.g_ext)


@get.step("if (IS_ERR(sdata)) return NULL; return sdata->data (program reads *value)",
          short="return sdata->data; *value")
def get_updated(k):
    q = k.take_rv()
    if q == 0:
        k.note(f"bpf_local_storage_update: {errname(k.reg.err)}: NULL")
        return finish(k, 0)
    _return_sdata(k, q)


# bpf_skb_storage_get where a second context may use the skb: the same code, cut finer
SHARED = "(a second context may use the skb: "


@get.step(f"if (skb->cloned && is_skb_storage_shared(skb)) return NULL  /* sharing guard */: "
          f"the skb's own fields, skb_ext_exist() {SHARED}the read of the ext's refcnt, if "
          "it decides, is the next step)", short="sharing guard: the skb's bits")
def storage_get_shared(k):
    if _guard_reads_ext(k):
        return k.goto(storage_get_refcnt)
    k.goto(get_find)


@get.step("is_skb_storage_shared: refcount_read(&skb->extensions->refcnt) != 1: return "
          "NULL  /* sharing guard */", short="sharing guard: ext->refcnt != 1?")
def storage_get_refcnt(k):
    if _guard_refcnt_refuses(k):
        return finish(k, 0)
    k.goto(get_find)


@get.step(f"skb_storage_lookup: ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE) {SHARED}if "
          "one is found, the read of ext->storage is the next step)",
          short="ext = skb_ext_find(skb)")
def get_find(k):
    if not _find_ext(k):
        return _get_not_found(k)
    k.goto(get_deref)


@get.step("skb_storage_lookup: storage = rcu_dereference(ext->storage)",
          short="storage = ext->storage")
def get_deref(k):
    if _deref_storage(k) == 0:
        return _get_not_found(k)
    k.reg.l_cacheit = 1
    k.call(ls.lookup_cache, get_looked_up)


@get.step(f"ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE); if (!ext) ext = skb_ext_add(skb, "
          f"SKB_EXT_BPF_STORAGE) {SHARED}skb_ext_find() reads the skb again)",
          short="create: ext = skb_ext_find(skb)")
def get_create_find(k):
    _get_create(k)


# ---------------------------------------------------------------------------------
# bpf_skb_storage_delete(map = a_map, skb = a_skb); reg.ret = 0 or an error code

delete = Proc("bpf_skb_storage_delete", FILE, regs=("g_ext", "g_storage", "g_sdata"))


def _no_storage(k):
    k.note("no storage: -ENOENT")
    finish(k, ENOENT)


@delete.step("if (skb->cloned && is_skb_storage_shared(skb)) return -EOPNOTSUPP",
             short="sharing guard (refuse if shared)")
def storage_delete(k):
    if guard_refuses(k):
        return finish(k, EOPNOTSUPP)
    k.goto(delete_storage)


@delete.step("skb_storage_lookup: ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE); "
             "storage = rcu_dereference(ext->storage)", short="storage = ext->storage")
def delete_storage(k):
    if skb_storage_lookup_storage(k) == 0:
        return _no_storage(k)
    k.reg.l_cacheit = 0
    k.call(ls.lookup_cache, delete_looked_up)


@delete.step("if (!sdata) return -ENOENT; return bpf_selem_unlink(SELEM(sdata))", local=True,
             short="bpf_selem_unlink(selem)")
def delete_looked_up(k):
    q = k.take_rv()
    if q == 0:
        return finish(k, ENOENT)
    k.reg.g_sdata = q
    k.call(ls.selem_unlink, delete_done)


@delete.step("return bpf_selem_unlink()'s result", local=True, short="return its result")
def delete_done(k):
    finish(k, k.take_rv())


# bpf_skb_storage_delete where a second context may use the skb (as get's above)
@delete.step(f"if (skb->cloned && is_skb_storage_shared(skb)) return -EOPNOTSUPP: the "
             f"skb's own fields, skb_ext_exist() {SHARED}the read of the ext's refcnt, if "
             "it decides, is the next step)", short="sharing guard: the skb's bits")
def storage_delete_shared(k):
    if _guard_reads_ext(k):
        return k.goto(storage_delete_refcnt)
    k.goto(delete_find)


@delete.step("is_skb_storage_shared: refcount_read(&skb->extensions->refcnt) != 1: return "
             "-EOPNOTSUPP", short="sharing guard: ext->refcnt != 1?")
def storage_delete_refcnt(k):
    if _guard_refcnt_refuses(k):
        return finish(k, EOPNOTSUPP)
    k.goto(delete_find)


@delete.step(f"skb_storage_lookup: ext = skb_ext_find(skb, SKB_EXT_BPF_STORAGE) {SHARED}"
             "if one is found, the read of ext->storage is the next step)",
             short="ext = skb_ext_find(skb)")
def delete_find(k):
    if not _find_ext(k):
        return _no_storage(k)
    k.goto(delete_deref)


@delete.step("skb_storage_lookup: storage = rcu_dereference(ext->storage)",
             short="storage = ext->storage")
def delete_deref(k):
    if _deref_storage(k) == 0:
        return _no_storage(k)
    k.reg.l_cacheit = 0
    k.call(ls.lookup_cache, delete_looked_up)


# ---------------------------------------------------------------------------------
# bpf_skb_storage_free(ext = p_ext): called by __skb_ext_put when BPF_STORAGE is present

storage_free = Proc("bpf_skb_storage_free", FILE)


@storage_free.step("rcu_read_lock(); storage = rcu_dereference(ext->storage); "
                   "if (storage) bpf_local_storage_destroy(storage)",
                   short="rcu_read_lock(); destroy(ext->storage)")
def skb_storage_free(k):
    rcu.rcu_read_lock(k)
    st = k.ext(k.reg.p_ext).storage
    if st == 0:
        return k.goto(skb_storage_free_done)
    k.reg.d_storage = st
    k.call(ls.destroy_start, skb_storage_free_done)


@storage_free.step("rcu_read_unlock()", short="rcu_read_unlock()")
def skb_storage_free_done(k):
    rcu.rcu_read_unlock(k)
    k.ret()
