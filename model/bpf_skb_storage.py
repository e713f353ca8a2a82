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
"""

from . import bpf_local_storage as ls
from . import rcu, skbuff
from .errno import ENOENT, EOPNOTSUPP, errname
from .kernel import Proc
from .layout import SKB_EXT_BPF_STORAGE
from .refcount import refcount_read

FILE = "net/core/bpf_skb_storage.c"


def is_skb_storage_shared(k, skb):
    return (skb.active & SKB_EXT_BPF_STORAGE) != 0 and (
        refcount_read(k, k.ext(skb.ext), "refcnt") != 1
    )


def guard_refuses(k) -> bool:
    if k.mut("no-clone-guard"):
        return False
    skb = k.skb(k.reg.a_skb)
    if k.design == "rfc" and not skb.cloned:
        # (a note for the trace only: read without a memory access of the kernel)
        if (skb.active & SKB_EXT_BPF_STORAGE) and k.meta(k.L.ext, skb.ext, "refcnt") != 1:
            k.note("guard passes: skb->cloned == 0 although the ext is shared")
        return False
    if is_skb_storage_shared(k, skb):
        k.note("sharing guard refused: -EOPNOTSUPP")
        return True
    k.trace_note(lambda: skb.cloned and skb.active & SKB_EXT_BPF_STORAGE,
                 lambda: "guard passes: skb->cloned, but the ext's refcnt is 1: no other "
                         "packet holds it now")
    return False


def skb_storage_lookup_storage(k):
    """skb_storage_lookup(): ext = skb_ext_find(skb, BPF_STORAGE); rcu_dereference(
    ext->storage).  Returns the storage (0 when none); remembers the ext."""
    skb = k.skb(k.reg.a_skb)
    if not skb.active & SKB_EXT_BPF_STORAGE:
        return 0
    e = skb.ext
    k.reg.g_ext = e
    st = k.ext(e).storage
    if st != 0:
        ls.reach(k, st)
        k.reg.g_storage = st
    return st


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
    skb = k.skb(k.reg.a_skb)
    if skb.active & SKB_EXT_BPF_STORAGE:
        k.reg.g_ext = skb.ext
        return k.call(ls.update_start, get_updated)
    k.reg.x_id = SKB_EXT_BPF_STORAGE
    k.call(skbuff.skb_ext_add, get_ext_added)


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


# ---------------------------------------------------------------------------------
# bpf_skb_storage_delete(map = a_map, skb = a_skb); reg.ret = 0 or an error code

delete = Proc("bpf_skb_storage_delete", FILE, regs=("g_ext", "g_storage", "g_sdata"))


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
        k.note("no storage: -ENOENT")
        return finish(k, ENOENT)
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
